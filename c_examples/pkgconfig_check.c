/* Built by tests/install.rs against an installed prefix with
 * `pkg-config --cflags --libs anychatcore anychatserversdk`: proves the
 * installed headers compile and -lanychatcore / -lanychatserversdk link and load. */
#include <stdio.h>
#include "anychat.h"
#include "anychatserver.h"

int main(void) {
    DWORD main_ver = 0, sub_ver = 0;
    char build[64];
    if (BRAC_GetSDKVersion(&main_ver, &sub_ver, build, sizeof build) != 0) return 1;
    if (BRAS_GetSDKVersion(&main_ver, &sub_ver, build, sizeof build) != 0) return 2;
    /* Nothing initialised yet: the vendor's "not initialised" code. */
    if (BRAC_Logout() != GV_ERR_NOTINIT) return 3;
    printf("linked %s %u.%u\n", build, main_ver, sub_ver);
    return 0;
}
