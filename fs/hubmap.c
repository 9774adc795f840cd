/* hub_status -> enum spacefs_status, and hub_error -> struct spacefs_error (see hubmap.h). */
#include <stdio.h>
#include <string.h>

#include "hubmap.h"

enum spacefs_status spacefs_status_from_hub(hub_status st)
{
    switch (st) {
    case HUB_OK:
        return SPACEFS_OK;
    case HUB_E_INVALID:
        return SPACEFS_E_INVALID;
    case HUB_E_BAD_REQUEST:
    case HUB_E_RANGE:
        return SPACEFS_E_BAD_REQUEST;
    case HUB_E_AUTH:
        return SPACEFS_E_AUTH;
    case HUB_E_PAYMENT:
        return SPACEFS_E_PAYMENT;
    case HUB_E_FORBIDDEN:
        return SPACEFS_E_FORBIDDEN;
    case HUB_E_NOT_FOUND:
        return SPACEFS_E_NOT_FOUND;
    case HUB_E_CONFLICT:
        return SPACEFS_E_CONFLICT;
    case HUB_E_PRECONDITION:
        return SPACEFS_E_STALE;
    case HUB_E_TOO_BIG:
        return SPACEFS_E_TOO_BIG;
    case HUB_E_RATE_LIMITED:
        return SPACEFS_E_RATE_LIMITED;
    case HUB_E_SERVER:
        return SPACEFS_E_SERVER;
    case HUB_E_TRANSPORT:
        return SPACEFS_E_TRANSPORT;
    case HUB_E_TIMEOUT:
        return SPACEFS_E_TIMEOUT;
    case HUB_E_UNKNOWN_OUTCOME:
        return SPACEFS_E_UNKNOWN_OUTCOME;
    case HUB_E_PROTOCOL:
        return SPACEFS_E_PROTOCOL;
    case HUB_E_NOMEM:
        return SPACEFS_E_NOMEM;
    case HUB_E_IO:
        return SPACEFS_E_IO;
    case HUB_E_CANCELLED:
        return SPACEFS_E_CANCELLED;
    case HUB_E_OFFLINE:
        return SPACEFS_E_OFFLINE;
    case HUB_E_HTTP:
        break;
    }
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
