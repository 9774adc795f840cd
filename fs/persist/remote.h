/* The persist engine's seam to the Hub: a struct of function pointers plus a context, plain C
 * types only (no git2, curl or jansson). remote_hub.c adapts hubclient.h + hubmirror.h to it;
 * remote_fake.c is the in-memory test double with counters and scripted faults. */
#ifndef SPACEFS_PERSIST_REMOTE_H
#define SPACEFS_PERSIST_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h" /* enum spacefs_status, struct spacefs_error */

#define PERSIST_OID_MAX 65 /* 64 hex + NUL (sha256); git sha1s use 41 */

/* A file of a tree at some commit (directories are implied by paths). */
struct persist_rentry {
    char *path;                    /* repo-relative, '/' separated */
    int64_t size;                  /* the file's real size (LFS: the object's size) */
    char oid[PERSIST_OID_MAX];     /* git blob id (of the pointer for LFS files) */
    int is_lfs;                    /* the blob is an LFS pointer */
    char lfs_oid[PERSIST_OID_MAX]; /* sha256 hex when is_lfs, else "" */
    char commit[PERSIST_OID_MAX];  /* the commit whose tree listed it ("" if unknown) */
    int64_t mtime; /* engine-local (remotes leave it 0): the modification time here, ns */
};

struct persist_rcommit {
    char id[PERSIST_OID_MAX];
    int64_t time; /* unix seconds */
    char *summary;
};

enum persist_rop_kind {
    PERSIST_ROP_PUT = 0, /* content: `size` bytes of fd from offset 0 */
    PERSIST_ROP_COPY,    /* content of an existing object (a renamed base file) */
    PERSIST_ROP_DELETE
};

struct persist_rop {
    enum persist_rop_kind kind;
    const char *path;
    int fd;                           /* PUT: borrowed, read with pread */
    int64_t size;                     /* PUT */
    char sha256[PERSIST_OID_MAX];     /* PUT: the content's sha256 hex if known (no need to
                                         read fd to hash it), else "" */
    const struct persist_rentry *src; /* COPY: borrowed; src->path is the old path */
};

/* Bytes of the current upload sent so far (cumulative). Called from the calling thread. */
typedef void (*persist_progress_fn)(int64_t bytes, void *payload);

/* Receives the bytes of a ranged read in order (borrowed for the call); nonzero stops the read
 * (the call then answers SPACEFS_E_CANCELLED). */
typedef int (*persist_data_fn)(const void *data, size_t len, void *payload);

/* Every call may block on the network (never called with an engine lock held); err may be
 * NULL. Out arrays are malloc'd and owned by the caller (persist_rentries_free, ...). */
struct persist_remote_ops {
    /* Does the repository exist, and is it private? */
    enum spacefs_status (*probe)(void *ctx, int *out_exists, int *out_private,
                                 struct spacefs_error *err);
    /* Creates the repository, private. */
    enum spacefs_status (*create)(void *ctx, struct spacefs_error *err);
    /* Brings the local copy up to date; out_head gets main's head, "" for an empty repo. */
    enum spacefs_status (*fetch)(void *ctx, char out_head[PERSIST_OID_MAX],
                                 struct spacefs_error *err);
    /* Every file of the tree at `commit` (as fetched). */
    enum spacefs_status (*tree)(void *ctx, const char *commit, struct persist_rentry **out,
                                size_t *out_count, struct spacefs_error *err);
    /* Writes the whole content of `e` (blob, or the LFS object) to fd from offset 0, verified
     * (LFS: sha256 and size). */
    enum spacefs_status (*object_get)(void *ctx, const struct persist_rentry *e, int fd,
                                      struct spacefs_error *err);
    /* Hands bytes [offset, offset + length) of the LFS object `e` (e->is_lfs) to on_data, in
     * order and unverified (the engine hashes what it assembles), never more than asked; fewer
     * only on failure. NULL when the remote cannot: whole objects only (object_get). */
    enum spacefs_status (*object_range)(void *ctx, const struct persist_rentry *e, int64_t offset,
                                        int64_t length, persist_data_fn on_data, void *payload,
                                        struct spacefs_error *err);
    /* One commit on main with every op: uploads (LFS where the Hub says so) then commits
     * with parentCommit = `parent` ("" = the repo has no commit yet). STALE when main moved.
     * out_oid gets the new commit. */
    enum spacefs_status (*commit)(void *ctx, const char *parent, const char *summary,
                                  const struct persist_rop *ops, size_t ops_count,
                                  char out_oid[PERSIST_OID_MAX], persist_progress_fn progress,
                                  void *progress_payload, struct spacefs_error *err);
    /* Up to max commits from `head` back (newest first), as fetched. */
    enum spacefs_status (*commits)(void *ctx, const char *head, size_t max,
                                   struct persist_rcommit **out, size_t *out_count,
                                   struct spacefs_error *err);
    /* ---- a fresh cache, while the mirror is cloned: one path at a time from the Hub's API.
     * Both NULL when the remote cannot (then everything waits for the first fetch). ---- */
    /* The whole content of the regular (non-LFS) file `path` at main, at most max_len bytes:
     * *out malloc'd, out_commit the commit it was read at ("" if the Hub did not say).
     * NOT_FOUND when main has no such file (or no main, or no repository). */
    enum spacefs_status (*head_read)(void *ctx, const char *path, size_t max_len,
                                     char out_commit[PERSIST_OID_MAX], void **out, size_t *out_len,
                                     struct spacefs_error *err);
    /* What `path` is at `rev` (a commit, or "" for main): *out_kind 0 nothing there, 1 a file
     * (out filled; out->path malloc'd; out->commit = rev), 2 a directory. out_commit: the
     * commit the answer describes when the remote says it, else "". Called while head_read
     * runs on another thread. */
    enum spacefs_status (*lookup)(void *ctx, const char *rev, const char *path,
                                  struct persist_rentry *out, int *out_kind,
                                  char out_commit[PERSIST_OID_MAX], struct spacefs_error *err);
    void (*free)(void *ctx);
};

struct persist_remote {
    const struct persist_remote_ops *ops; /* borrowed, static */
    void *ctx;                            /* owned; released by ops->free */
};

void persist_rentries_free(struct persist_rentry *v, size_t n);
void persist_rcommits_free(struct persist_rcommit *v, size_t n);

#endif
