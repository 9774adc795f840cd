/* hub_status -> enum spacefs_status, and hub_error -> struct spacefs_error (see hubmap.h). */
#include <stdio.h>
#include <string.h>

#include "hubmap.h"

/* Indexed by hub_status; every status but HUB_OK has a nonzero entry (the fs unit test checks). */
static const enum spacefs_status from_hub[] = {
    [HUB_OK] = SPACEFS_OK,
    [HUB_E_INVALID] = SPACEFS_E_INVALID,
    [HUB_E_BAD_REQUEST] = SPACEFS_E_BAD_REQUEST,
    [HUB_E_AUTH] = SPACEFS_E_AUTH,
    [HUB_E_PAYMENT] = SPACEFS_E_PAYMENT,
    [HUB_E_FORBIDDEN] = SPACEFS_E_FORBIDDEN,
    [HUB_E_NOT_FOUND] = SPACEFS_E_NOT_FOUND,
    [HUB_E_CONFLICT] = SPACEFS_E_CONFLICT,
    [HUB_E_PRECONDITION] = SPACEFS_E_STALE,
    [HUB_E_TOO_BIG] = SPACEFS_E_TOO_BIG,
    [HUB_E_RANGE] = SPACEFS_E_BAD_REQUEST,
    [HUB_E_RATE_LIMITED] = SPACEFS_E_RATE_LIMITED,
    [HUB_E_SERVER] = SPACEFS_E_SERVER,
    [HUB_E_HTTP] = SPACEFS_E_OTHER,
    [HUB_E_TRANSPORT] = SPACEFS_E_TRANSPORT,
    [HUB_E_TIMEOUT] = SPACEFS_E_TIMEOUT,
    [HUB_E_PROTOCOL] = SPACEFS_E_PROTOCOL,
    [HUB_E_NOMEM] = SPACEFS_E_NOMEM,
    [HUB_E_CANCELLED] = SPACEFS_E_CANCELLED,
    [HUB_E_IO] = SPACEFS_E_IO,
    [HUB_E_UNKNOWN_OUTCOME] = SPACEFS_E_UNKNOWN_OUTCOME,
    [HUB_E_OFFLINE] = SPACEFS_E_OFFLINE,
};

enum spacefs_status spacefs_status_from_hub(hub_status st)
{
    if ((unsigned)st < sizeof(from_hub) / sizeof(from_hub[0]))
        return from_hub[st];
    return SPACEFS_E_OTHER;
}

enum spacefs_status spacefs_error_from_hub(struct spacefs_error *err, hub_status st,
                                           const hub_error *he, const char *what)
{
    if (err) {
        memset(err, 0, sizeof(*err));
        if (st != HUB_OK) {
            const char *msg = he && he->message[0] ? he->message : hub_status_str(st);
            err->http_status = he ? he->http_status : 0;
            if (he)
                snprintf(err->code, sizeof(err->code), "%s", he->code);
            if (what)
                snprintf(err->message, sizeof(err->message), "%.64s: %.180s", what, msg);
            else
                snprintf(err->message, sizeof(err->message), "%.*s", (int)sizeof(err->message) - 1,
                         he ? he->message : "");
        }
    }
    return spacefs_status_from_hub(st);
}
