/* Status names and option defaults: the parts of the public API that need no network. */
#include "hubclient.h"

#include <string.h>

static const char *const status_names[] = {
    [HUB_OK] = "ok",
    [HUB_E_INVALID] = "invalid argument or configuration",
    [HUB_E_BAD_REQUEST] = "bad request",
    [HUB_E_AUTH] = "authentication required or token invalid",
    [HUB_E_PAYMENT] = "payment required",
    [HUB_E_FORBIDDEN] = "forbidden",
    [HUB_E_NOT_FOUND] = "not found",
    [HUB_E_CONFLICT] = "conflict",
    [HUB_E_PRECONDITION] = "precondition failed (branch moved)",
    [HUB_E_TOO_BIG] = "too big",
    [HUB_E_RANGE] = "range not satisfiable",
    [HUB_E_RATE_LIMITED] = "rate limited",
    [HUB_E_SERVER] = "server error",
    [HUB_E_HTTP] = "unexpected HTTP status",
    [HUB_E_TRANSPORT] = "transport error",
    [HUB_E_TIMEOUT] = "timed out",
    [HUB_E_PROTOCOL] = "protocol error",
    [HUB_E_NOMEM] = "out of memory",
    [HUB_E_CANCELLED] = "cancelled",
    [HUB_E_IO] = "local I/O error",
    [HUB_E_UNKNOWN_OUTCOME] = "outcome unknown",
    [HUB_E_OFFLINE] = "the Hub is unreachable",
};

const char *hub_status_str(hub_status status)
{
    if ((unsigned)status < sizeof(status_names) / sizeof(status_names[0]) && status_names[status])
        return status_names[status];
    return "unknown status";
}

void hub_options_init(hub_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->log_level = HUB_LOG_WARN;
}
