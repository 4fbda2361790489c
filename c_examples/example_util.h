/*
 * example_util.h: small helpers shared by the C examples (printing one line
 * per event, names of notifications and video-call events).
 */
#ifndef ANYCHAT_EXAMPLE_UTIL_H
#define ANYCHAT_EXAMPLE_UTIL_H

#include <stdarg.h>
#include <stdio.h>

#include "anychat.h"

/* One line per event on stdout, flushed at once (a test reads it). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    flockfile(stdout); /* keep a line whole between threads */
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    funlockfile(stdout);
    va_end(ap);
}

static inline const char *notify_name(DWORD msg) {
    switch (msg) {
    case WM_GV_CONNECT: return "CONNECT";
    case WM_GV_LOGINSYSTEM: return "LOGINSYSTEM";
    case WM_GV_ENTERROOM: return "ENTERROOM";
    case WM_GV_USERATROOM: return "USERATROOM";
    case WM_GV_LINKCLOSE: return "LINKCLOSE";
    case WM_GV_ONLINEUSER: return "ONLINEUSER";
    default: return "OTHER";
    }
}

static inline const char *event_name(DWORD ev) {
    switch (ev) {
    case BRAC_VIDEOCALL_EVENT_REQUEST: return "REQUEST";
    case BRAC_VIDEOCALL_EVENT_REPLY: return "REPLY";
    case BRAC_VIDEOCALL_EVENT_START: return "START";
    case BRAC_VIDEOCALL_EVENT_FINISH: return "FINISH";
    default: return "UNKNOWN";
    }
}

#endif
