/* The real remote of the persist engine: struct persist_remote_ops over hubclient.h (preupload,
 * LFS upload, NDJSON commit with parentCommit, repo create/head, resolve downloads) and
 * hubmirror.h (the local bare mirror: fetch, trees, blobs, commits). */
#ifndef SPACEFS_PERSIST_REMOTE_HUB_H
#define SPACEFS_PERSIST_REMOTE_HUB_H

#include "remote.h"

struct hub_client;

struct persist_hub_options {
    struct hub_client *client; /* borrowed; must outlive the remote */
    const char *repo_id;       /* the Dataset, "ns/name" */
    const char *git_dir;       /* where the bare mirror lives (created 0700) */
    const char *token_file;    /* as hub_options.token_file (NULL: the usual lookup) */
    int anonymous;             /* no token for git either */
    /* what opening the mirror repaired (stale git locks); NULL: silent */
    void (*log)(enum spacefs_log_level level, const char *msg, void *payload);
    void *log_payload;
};

/* *out is a remote for persist_open (which takes it). 0 or -errno; logs nothing secret. */
int persist_remote_hub_new(struct persist_remote *out, const struct persist_hub_options *opts,
                           struct spacefs_error *err);

#endif
