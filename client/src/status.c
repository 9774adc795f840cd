/* Status names and option defaults: the parts of the public API that need no network. */
#include "hubclient.h"

#include <string.h>

const char *hub_status_str(hub_status status)
{
    switch (status) {
    case HUB_OK:
        return "ok";
    case HUB_E_INVALID:
        return "invalid argument or configuration";
    case HUB_E_BAD_REQUEST:
        return "bad request";
    case HUB_E_AUTH:
        return "authentication required or token invalid";
    case HUB_E_PAYMENT:
        return "payment required";
    case HUB_E_FORBIDDEN:
        return "forbidden";
    case HUB_E_NOT_FOUND:
        return "not found";
    case HUB_E_CONFLICT:
        return "conflict";
    case HUB_E_PRECONDITION:
        return "precondition failed (branch moved)";
    case HUB_E_TOO_BIG:
        return "too big";
    case HUB_E_RANGE:
        return "range not satisfiable";
    case HUB_E_RATE_LIMITED:
        return "rate limited";
    case HUB_E_SERVER:
        return "server error";
    case HUB_E_HTTP:
        return "unexpected HTTP status";
    case HUB_E_TRANSPORT:
        return "transport error";
    case HUB_E_TIMEOUT:
        return "timed out";
    case HUB_E_PROTOCOL:
        return "protocol error";
    case HUB_E_NOMEM:
        return "out of memory";
    case HUB_E_CANCELLED:
        return "cancelled";
    case HUB_E_IO:
        return "local I/O error";
    case HUB_E_UNKNOWN_OUTCOME:
        return "outcome unknown";
    case HUB_E_OFFLINE:
        return "the Hub is unreachable";
    }
    return "unknown status";
}

void hub_options_init(hub_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->log_level = HUB_LOG_WARN;
}
