//! The live status page (`/`, HTML rendered on the server, reloaded by the
//! browser every 2 s) and its JSON twin (`/api/status`).
#![forbid(unsafe_code)]

use std::fmt::Write;

use crate::wire::constants::{BRAC_VIDEOCALL_FLAGS_AUDIO, BRAC_VIDEOCALL_FLAGS_VIDEO};

use super::Snapshot;

/// Text safe inside HTML.
fn h(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A JSON string literal.
fn j(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// A call's flags in words: `audio+video`, `audio`, … and the value.
pub fn flags_text(flags: u32) -> String {
    let mut kinds = Vec::new();
    if flags & BRAC_VIDEOCALL_FLAGS_AUDIO != 0 {
        kinds.push("audio");
    }
    if flags & BRAC_VIDEOCALL_FLAGS_VIDEO != 0 {
        kinds.push("video");
    }
    if kinds.is_empty() {
        format!("0x{flags:x}")
    } else {
        format!("{} (0x{flags:x})", kinds.join("+"))
    }
}

fn age(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}.{}s", s, ms % 1000 / 100)
    }
}

/// The status page.
pub fn html(s: &Snapshot) -> String {
    let c = &s.core;
    let mut o = String::with_capacity(16 * 1024);
    o.push_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>anychat-server status</title><style>\
         body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\
         table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}\
         th{background:#eee}.up{color:#080}.down{color:#a00}.muted{color:#777}</style></head><body>\n",
    );
    let _ = writeln!(o, "<h1>anychat-server</h1>");
    let business = if c.business_linked {
        "<span class=\"up\" id=\"business\">linked</span>".to_string()
    } else {
        "<span class=\"down\" id=\"business\">not linked</span>".to_string()
    };
    let _ = writeln!(
        o,
        "<p>Up {}; <b id=\"users-online\">{}</b> users online, {} connections; calls: {} in progress, {} ringing, \
         {} waiting for the business server. Business server: {business} ({} questions waiting).</p>",
        age(s.uptime_secs * 1000),
        c.users_online,
        s.connections,
        c.calls_active,
        c.calls_ringing,
        c.calls_vetting,
        c.business_questions
    );
    let _ = writeln!(o, "<h2>Calls in progress</h2>");
    if c.calls.is_empty() {
        o.push_str("<p class=\"muted\">none</p>\n");
    } else {
        o.push_str(
            "<table id=\"calls\"><tr><th>call</th><th>caller</th><th>callee</th><th>state</th><th>flags</th>\
             <th>age</th><th>talking</th><th>room</th></tr>\n",
        );
        for k in &c.calls {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{} ({})</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                k.call_id,
                h(&k.caller_name),
                k.caller,
                h(&k.callee_name),
                k.callee,
                k.state,
                flags_text(k.flags),
                age(k.age_ms),
                k.talk_ms.map(age).unwrap_or_default(),
                k.room.map(|r| r.to_string()).unwrap_or_default()
            );
        }
        o.push_str("</table>\n");
    }
    let _ = writeln!(o, "<h2>Users online</h2>");
    if c.users.is_empty() {
        o.push_str("<p class=\"muted\">none</p>\n");
    } else {
        o.push_str("<table id=\"users\"><tr><th>id</th><th>name</th><th>address</th><th>room</th><th>call</th></tr>\n");
        for u in &c.users {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                u.id,
                h(&u.name),
                h(&u.addr),
                u.room.map(|r| r.to_string()).unwrap_or_default(),
                u.call.map(|r| r.to_string()).unwrap_or_default()
            );
        }
        o.push_str("</table>\n");
        if c.users.len() < c.users_online {
            let _ = writeln!(o, "<p class=\"muted\">first {} of {} listed</p>", c.users.len(), c.users_online);
        }
    }
    let _ = writeln!(o, "<h2>Rooms</h2>");
    if c.rooms.is_empty() {
        o.push_str("<p class=\"muted\">none</p>\n");
    } else {
        o.push_str("<table id=\"rooms\"><tr><th>room</th><th>name</th><th>members</th><th>call</th></tr>\n");
        for r in &c.rooms {
            let members: Vec<String> = r.members.iter().map(u32::to_string).collect();
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.id,
                h(&r.name),
                members.join(", "),
                r.call.map(|r| r.to_string()).unwrap_or_default()
            );
        }
        o.push_str("</table>\n");
    }
    let total: u64 = s.metrics.calls.iter().sum();
    let _ = writeln!(
        o,
        "<p class=\"muted\">{total} call attempts ended since start; figures at <a href=\"/metrics\">/metrics</a>, \
         this page as JSON at <a href=\"/api/status\">/api/status</a>.</p>\n</body></html>"
    );
    o
}

/// The status as JSON.
pub fn json(s: &Snapshot) -> String {
    let c = &s.core;
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "{{\"at_ms\":{},\"uptime_secs\":{},\"connections\":{},\"users_online\":{},\
         \"calls_vetting\":{},\"calls_ringing\":{},\"calls_active\":{},\
         \"business\":{{\"linked\":{},\"questions\":{}}},\"users\":[",
        s.at_ms,
        s.uptime_secs,
        s.connections,
        c.users_online,
        c.calls_vetting,
        c.calls_ringing,
        c.calls_active,
        c.business_linked,
        c.business_questions
    );
    for (i, u) in c.users.iter().enumerate() {
        let _ = write!(
            o,
            "{}{{\"id\":{},\"name\":{},\"addr\":{},\"room\":{},\"call\":{},\"since_ms\":{}}}",
            if i > 0 { "," } else { "" },
            u.id,
            j(&u.name),
            j(&u.addr),
            opt(u.room),
            opt(u.call),
            u.since_ms
        );
    }
    o.push_str("],\"calls\":[");
    for (i, k) in c.calls.iter().enumerate() {
        let _ = write!(
            o,
            "{}{{\"call_id\":{},\"caller\":{},\"caller_name\":{},\"callee\":{},\"callee_name\":{},\"flags\":{},\
             \"state\":{},\"room\":{},\"age_ms\":{},\"talk_ms\":{}}}",
            if i > 0 { "," } else { "" },
            k.call_id,
            k.caller,
            j(&k.caller_name),
            k.callee,
            j(&k.callee_name),
            k.flags,
            j(k.state),
            opt(k.room),
            k.age_ms,
            opt(k.talk_ms)
        );
    }
    o.push_str("],\"rooms\":[");
    for (i, r) in c.rooms.iter().enumerate() {
        let members: Vec<String> = r.members.iter().map(u32::to_string).collect();
        let _ = write!(
            o,
            "{}{{\"id\":{},\"name\":{},\"members\":[{}],\"call\":{}}}",
            if i > 0 { "," } else { "" },
            r.id,
            j(&r.name),
            members.join(","),
            opt(r.call)
        );
    }
    o.push_str("]}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(h("<a&\"b'>"), "&lt;a&amp;&quot;b&#39;&gt;");
        assert_eq!(j("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(flags_text(BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO), "audio+video (0x3)");
    }
}
