/* The real backend: spacefs's backend interface on top of hubclient. Only main.c and
 * backend_hub.c include hubclient.h. */
#ifndef SPACEFS_BACKEND_HUB_H
#define SPACEFS_BACKEND_HUB_H

#include "backend.h"
#include "hubclient.h"
#include "hubmap.h"

/* Wraps `client` (taken: freed by the backend's free op; ctx is the client itself). 0. */
int spacefs_backend_hub_new(struct spacefs_backend *out, hub_client *client);

#endif
