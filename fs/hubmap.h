/* The one map from hubclient's statuses and errors to the filesystem's (common.h), used by both
 * adapters over hubclient: backend_hub.c (Spaces) and persist/remote_hub.c (Datasets). */
#ifndef SPACEFS_HUBMAP_H
#define SPACEFS_HUBMAP_H

#include "common.h"
#include "hubclient.h"

enum spacefs_status spacefs_status_from_hub(hub_status st);
/* err (may be NULL) from a failed call's hub_error (may be NULL); returns the mapped status.
 * `what` (may be NULL) prefixes the message. */
enum spacefs_status spacefs_error_from_hub(struct spacefs_error *err, hub_status st,
                                           const hub_error *he, const char *what);

#endif
