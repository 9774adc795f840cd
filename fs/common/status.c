/* The one table from a Hub call's status to errno, for every subtree of the filesystem and the
 * persist engine (docs/filesystem.md, "Errors and deadlines", shows the same table). */
#include <errno.h>

#include "common.h"

static const struct {
    const char *name;
    int err;
} table[SPACEFS_STATUS_COUNT] = {
    [SPACEFS_OK] = {"ok", 0},
    [SPACEFS_E_INVALID] = {"invalid argument", EINVAL},
    [SPACEFS_E_BAD_REQUEST] = {"bad request", EINVAL},
    [SPACEFS_E_AUTH] = {"not authenticated", EACCES},
    [SPACEFS_E_PAYMENT] = {"payment required", EDQUOT},
    [SPACEFS_E_FORBIDDEN] = {"forbidden", EACCES},
    [SPACEFS_E_NOT_FOUND] = {"not found", ENOENT},
    [SPACEFS_E_CONFLICT] = {"conflict", EEXIST},
    [SPACEFS_E_STALE] = {"stale parent commit", EEXIST},
    [SPACEFS_E_TOO_BIG] = {"too big", EFBIG},
    [SPACEFS_E_RATE_LIMITED] = {"rate limited", EAGAIN},
    [SPACEFS_E_SERVER] = {"server error", EIO},
    [SPACEFS_E_TRANSPORT] = {"network error", EIO},
    [SPACEFS_E_TIMEOUT] = {"timed out", ETIMEDOUT},
    [SPACEFS_E_UNKNOWN_OUTCOME] = {"unknown outcome", EIO},
    [SPACEFS_E_PROTOCOL] = {"protocol error", EIO},
    [SPACEFS_E_NOMEM] = {"out of memory", ENOMEM},
    [SPACEFS_E_IO] = {"local I/O error", EIO},
    [SPACEFS_E_CANCELLED] = {"cancelled", EINTR},
    [SPACEFS_E_OFFLINE] = {"Hub unreachable", EHOSTUNREACH},
    [SPACEFS_E_OTHER] = {"unexpected error", EIO},
};

int spacefs_errno_from_status(enum spacefs_status st)
{
    return (unsigned)st < SPACEFS_STATUS_COUNT ? table[st].err : EIO;
}

const char *spacefs_status_name(enum spacefs_status st)
{
    return (unsigned)st < SPACEFS_STATUS_COUNT ? table[st].name : "unexpected error";
}
