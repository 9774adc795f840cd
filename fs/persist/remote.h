/* The persist engine's seam to the Hub: a struct of function pointers plus a context, plain C
 * types only (no git2, curl or jansson). remote_hub.c adapts hubclient.h + hubmirror.h to it;
 * remote_fake.c is the in-memory test double with counters and scripted faults. */
#ifndef SPACEFS_PERSIST_REMOTE_H
#define SPACEFS_PERSIST_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#define PERSIST_OID_MAX 65 /* 64 hex + NUL (sha256); git sha1s use 41 */

enum persist_rstatus {
    PERSIST_R_OK = 0,
    PERSIST_R_INVALID,         /* bad argument or configuration; nothing was sent */
    PERSIST_R_NOT_FOUND,       /* repo, revision or object missing */
    PERSIST_R_AUTH,            /* 401 */
    PERSIST_R_FORBIDDEN,       /* 403 */
    PERSIST_R_BAD_REQUEST,     /* 400/422: the Hub refused the content */
    PERSIST_R_STALE,           /* 412: parentCommit is not the branch head any more */
    PERSIST_R_RATE_LIMITED,    /* 429 */
    PERSIST_R_SERVER,          /* 5xx */
    PERSIST_R_TRANSPORT,       /* connection refused/reset, DNS, TLS */
    PERSIST_R_TIMEOUT,         /* deadline passed */
    PERSIST_R_UNKNOWN_OUTCOME, /* a commit may or may not have landed */
    PERSIST_R_NOMEM,
    PERSIST_R_IO, /* local file error */
    PERSIST_R_OTHER
};

struct persist_rerror {
    long http_status;        /* 0 if none */
    unsigned retry_after_ms; /* the Hub's hint for 429/503, 0 if none */
    char message[256];
};

/* A file of a tree at some commit (directories are implied by paths). */
struct persist_rentry {
    char *path;                    /* repo-relative, '/' separated */
    int64_t size;                  /* the file's real size (LFS: the object's size) */
    char oid[PERSIST_OID_MAX];     /* git blob id (of the pointer for LFS files) */
    int is_lfs;                    /* the blob is an LFS pointer */
    char lfs_oid[PERSIST_OID_MAX]; /* sha256 hex when is_lfs, else "" */
    char commit[PERSIST_OID_MAX];  /* the commit whose tree listed it ("" if unknown) */
    int64_t mtime; /* engine-local (remotes leave it 0): the file's modification time here */
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

/* Every call may block on the network (never called with an engine lock held); err may be
 * NULL. Out arrays are malloc'd and owned by the caller (persist_rentries_free, ...). */
struct persist_remote_ops {
    /* Does the repository exist, and is it private? */
    enum persist_rstatus (*probe)(void *ctx, int *out_exists, int *out_private,
                                  struct persist_rerror *err);
    /* Creates the repository, private. */
    enum persist_rstatus (*create)(void *ctx, struct persist_rerror *err);
    /* Brings the local copy up to date; out_head gets main's head, "" for an empty repo. */
    enum persist_rstatus (*fetch)(void *ctx, char out_head[PERSIST_OID_MAX],
                                  struct persist_rerror *err);
    /* Every file of the tree at `commit` (as fetched). */
    enum persist_rstatus (*tree)(void *ctx, const char *commit, struct persist_rentry **out,
                                 size_t *out_count, struct persist_rerror *err);
    /* Writes the whole content of `e` (blob, or the LFS object) to fd from offset 0, verified
     * (LFS: sha256 and size). */
    enum persist_rstatus (*object_get)(void *ctx, const struct persist_rentry *e, int fd,
                                       struct persist_rerror *err);
    /* One commit on main with every op: uploads (LFS where the Hub says so) then commits
     * with parentCommit = `parent` ("" = the repo has no commit yet). STALE when main moved.
     * out_oid gets the new commit. */
    enum persist_rstatus (*commit)(void *ctx, const char *parent, const char *summary,
                                   const struct persist_rop *ops, size_t ops_count,
                                   char out_oid[PERSIST_OID_MAX], persist_progress_fn progress,
                                   void *progress_payload, struct persist_rerror *err);
    /* Up to max commits from `head` back (newest first), as fetched. */
    enum persist_rstatus (*commits)(void *ctx, const char *head, size_t max,
                                    struct persist_rcommit **out, size_t *out_count,
                                    struct persist_rerror *err);
    void (*free)(void *ctx);
};

struct persist_remote {
    const struct persist_remote_ops *ops; /* borrowed, static */
    void *ctx;                            /* owned; released by ops->free */
};

void persist_rentries_free(struct persist_rentry *v, size_t n);
void persist_rcommits_free(struct persist_rcommit *v, size_t n);
const char *persist_rstatus_name(enum persist_rstatus st);
/* The one table from remote status to errno (EIO for the unexpected). */
int persist_errno_from_rstatus(enum persist_rstatus st);
/* Temporary failures worth retrying with backoff. */
int persist_rstatus_transient(enum persist_rstatus st);

#endif
