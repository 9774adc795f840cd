/* hubmirror: a local bare git mirror of one Hub repository (libgit2 inside, plain C outside).
 * Fetches incrementally over smart HTTP with the token given through a credentials callback
 * (never in a URL, never logged), lists trees with LFS pointers parsed, reads blobs, lists
 * commits. Used by fs/persist (through its remote adapter) and for snapshots. */
#ifndef HUBMIRROR_H
#define HUBMIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "hubclient.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hub_mirror hub_mirror; /* opaque; one git repository, calls serialised inside */

typedef struct hub_mirror_options {
    const char *endpoint;   /* Hub base URL; NULL: $HF_ENDPOINT, else https://huggingface.co */
    hub_repo_type type;     /* which kind of repository */
    const char *repo_id;    /* "ns/name" */
    const char *dir;        /* the bare repository's directory; created (0700) with its parents */
    const char *token_file; /* as hub_options.token_file: NULL = HF_TOKEN, HF_TOKEN_PATH, HF_HOME */
    int anonymous;          /* nonzero: never answer a credentials request */
    hub_log_fn log;         /* NULL: no logging; only what hub_mirror_open repairs */
    void *log_payload;      /* passed to log */
} hub_mirror_options;

/* Opens the bare mirror in opts->dir, creating it when missing. Loads the token once (the same
 * lookup as hub_client_new; buffers wiped). *out new, free with hub_mirror_free. One process
 * owns a mirror while it is open (a flock on opts->dir): another one's open fails with HUB_E_IO
 * and sys_errno EBUSY. The git lock files a killed process left in it are removed, and logged. */
hub_status hub_mirror_open(hub_mirror **out, const hub_mirror_options *opts, hub_error *err);
void hub_mirror_free(hub_mirror *mirror); /* accepts NULL; wipes the token */

/* libgit2's start-up (Debian's, with mbedTLS, parses every CA of the system store: about 0.1 s)
 * done ahead of the first hub_mirror_open, on a thread of its own, and kept for the process until
 * hub_mirror_warm_stop (which joins that thread). Call after hub_trust_set_ca_file. Optional: a
 * mirror opened meanwhile waits for it instead of starting libgit2 a second time. */
void hub_mirror_warm_start(void);
void hub_mirror_warm_stop(void);

/* Fetches every branch (+refs/heads/ * onto refs/heads/ *), incrementally. out_head (may be NULL)
 * receives main's head after the fetch, "" when the repository has no main branch yet. */
hub_status hub_mirror_fetch(hub_mirror *mirror, char out_head[HUB_OID_MAX], hub_error *err);

/* Asks the remote for its refs without credentials: *out_public 1 when that works (the
 * repository is public), 0 when the Hub wants authentication (private or missing). */
hub_status hub_mirror_probe_public(int *out_public, hub_mirror *mirror, hub_error *err);

/* Local head of `branch` (NULL = "main") without network; HUB_E_NOT_FOUND when absent. */
hub_status hub_mirror_head(char out[HUB_OID_MAX], hub_mirror *mirror, const char *branch,
                           hub_error *err);

typedef struct hub_mirror_entry {
    char *path;                /* repo-relative, '/' separated */
    int is_dir;                /* a tree (listed before what it holds) */
    unsigned mode;             /* git mode: 040000, 0100644, 0100755, 0120000 */
    int64_t size;              /* blob size (the pointer's size for LFS files), 0 for trees */
    char oid[HUB_OID_MAX];     /* git object id (sha1 hex) */
    int is_lfs;                /* the blob is a valid LFS pointer */
    char lfs_oid[HUB_OID_MAX]; /* sha256 hex of the LFS object, "" unless is_lfs */
    int64_t lfs_size;          /* the LFS object's size, 0 unless is_lfs */
} hub_mirror_entry;

typedef struct hub_mirror_entry_list {
    hub_mirror_entry *items;
    size_t count;
} hub_mirror_entry_list;
void hub_mirror_entry_list_free(hub_mirror_entry_list *list);

/* Every entry of the tree at `commit` (40 hex, or a branch name), recursively, in git order.
 * *out new. */
hub_status hub_mirror_tree_list(hub_mirror_entry_list **out, hub_mirror *mirror, const char *commit,
                                hub_error *err);

/* Parses an LFS pointer (the three-line v1 format). Returns 1 and fills the outs when `data` is
 * one, else 0. */
int hub_lfs_pointer_parse(char out_oid[HUB_OID_MAX], int64_t *out_size, const void *data,
                          size_t len);

/* A whole blob into memory: *out new (free()), *out_len bytes, NUL-terminated for convenience.
 * Blobs larger than max_len (0 = 64 MiB) are HUB_E_TOO_BIG. */
hub_status hub_mirror_blob_read(void **out, size_t *out_len, hub_mirror *mirror,
                                const char *blob_oid, size_t max_len, hub_error *err);

typedef struct hub_mirror_commit {
    char id[HUB_OID_MAX];
    char parent[HUB_OID_MAX]; /* first parent, "" for a root commit */
    int64_t time;             /* committer time, unix seconds */
    char *summary;            /* first line of the message */
} hub_mirror_commit;

typedef struct hub_mirror_commit_list {
    hub_mirror_commit *items; /* newest first (first-parent order) */
    size_t count;
} hub_mirror_commit_list;
void hub_mirror_commit_list_free(hub_mirror_commit_list *list);

/* Up to `max` (0 = all) commits reachable from `start` (commit id or branch; NULL = "main")
 * following first parents. *out new. */
hub_status hub_mirror_commits_list(hub_mirror_commit_list **out, hub_mirror *mirror,
                                   const char *start, size_t max, hub_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HUBMIRROR_H */
