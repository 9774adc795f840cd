/* The wiring between the filesystem and the persist engine (fs/persist/): one engine per Space,
 * opened lazily on first use of persist/, snapshots/ or persist.status and kept until unmount,
 * plus the snapshots/ reader. Internal to fs/ (fs.c, files.c and control.c dispatch here). */
#ifndef SPACEFS_PERSIST_FS_H
#define SPACEFS_PERSIST_FS_H

#include "fs_internal.h"
#include "persist.h"

struct snap_tree;

/* A Space's persist state. Entries live until spacefs_fs_free; the engine inside may be closed
 * and reopened (persist.repo override).
 * Lock order: fs->lock, then pe->snap_lock, then the engine's own lock. fs->lock guards every
 * field but the snapshot caches; no lock is held across an engine or remote call. */
struct pers_ent {
    char *id;  /* "ns/space" */
    char *dir; /* <cache_root>/<ns>/<space> (0700): persist.repo and datasets/<ns>/<name>/ */
    char dataset[2 * NAME_MAX_HF + 2]; /* the Dataset in use, once opened */
    struct persist *p;
    struct persist_remote snap; /* a second remote on the same mirror, for snapshots/ */
    int refs;                   /* calls in flight and open handles using p */
    int opening;                /* single flight: others wait on fs->cond */
    unsigned close_wait_ms;     /* pers_shutdown */
    int closing;
    pthread_mutex_t snap_lock; /* the snapshot caches below */
    char snap_head[PERSIST_OID_MAX];
    struct persist_rcommit *commits; /* of snap_head, newest first */
    size_t ncommits;
    struct snap_tree *trees; /* a few trees of recently read commits */
    struct pers_ent *next;
};

int pers_enabled(struct spacefs_fs *fs, const char *ns); /* persist/ shown for ns */
/* At mount: a thread opens the engine of every cached Space with uncommitted changes, so they
 * upload without anyone touching persist/ (joined by pers_shutdown). */
void pers_resume_start(struct spacefs_fs *fs);
/* .spacefs/persist: one line per open engine, "ns/space state files N bytes N dataset D
 * [error ...]"; new string. */
char *pers_render_all(struct spacefs_fs *fs);
int pers_writable(struct spacefs_fs *fs, const char *ns);
/* A listing failed with rc: 1 when n (a namespace or Space) leads to an open persist engine
 * and rc is not ENOENT, so the path to persist/ stays usable while the Hub is unreachable. */
int pers_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc);
/* 1 when n leads to an open engine and a listing failed within the last PERS_DOWN_GRACE_MS:
 * skip the listing (each attempt costs the client's whole deadline while the Hub is down). */
int pers_skip_listing(struct spacefs_fs *fs, const struct node *n);

/* The engine of n's Space, opened if needed, with a reference: pair with pers_put. */
int pers_get(struct spacefs_fs *fs, const struct node *n, struct pers_ent **out);
void pers_put(struct spacefs_fs *fs, struct pers_ent *pe);

/* NODE_PERSIST, NODE_SNAP and NODE_PFILE. */
int pers_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st);
int pers_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn, void *payload);
int pers_mkdir(struct spacefs_fs *fs, const struct node *n, mode_t mode);
int pers_rmdir(struct spacefs_fs *fs, const struct node *n);
int pers_unlink(struct spacefs_fs *fs, const struct node *n);
int pers_truncate(struct spacefs_fs *fs, const struct node *n, int64_t size);
int pers_rename(struct spacefs_fs *fs, const struct node *from, const struct node *to,
                unsigned flags);
int pers_setattr(struct spacefs_fs *fs, const struct node *n);
int pers_utimens(struct spacefs_fs *fs, const struct node *n, int64_t mtime);
int pers_fsyncdir(struct spacefs_fs *fs, const struct node *n);

/* Files: h->n is parsed (its rest pointer is not kept: `rest` is passed again). */
int pers_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, int flags,
              mode_t mode, int create);
long pers_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
               int64_t off);
long pers_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                int64_t off);
int pers_flush(struct spacefs_fs *fs, struct spacefs_handle *h);
int pers_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t size);
int pers_fsync(struct spacefs_fs *fs, struct spacefs_handle *h);
/* fstat, fchmod/fchown and futimens on a persist/ handle: by the handle, so a file unlinked
 * while open (libfuse passes no path then) still answers. -EBADF for other handles. */
int pers_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, struct stat *st);
int pers_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h);
int pers_futimens(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t mtime);
void pers_release(struct spacefs_fs *fs, struct spacefs_handle *h);

/* control: `sync` waits until everything changed before it is committed. */
int pers_sync(struct spacefs_fs *fs, const struct node *n);
/* persist.repo written: a new Dataset id for this Space. */
int pers_repo_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len);
/* Text of persist.status / persist.repo; *out new. */
int pers_file_render(struct spacefs_fs *fs, const struct node *n, char **out, size_t *out_len);

void pers_shutdown(struct spacefs_fs *fs);
void pers_free_all(struct spacefs_fs *fs);

/* snapshots.c: snapshots/ of an open engine (pe held). rest: "" or "<name>[/path]". */
int snap_getattr(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, struct stat *st);
int snap_readdir(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, spacefs_fill_fn fn,
                 void *payload);
/* The content of a snapshot file in an unlinked temp file; *out_fd new. */
int snap_open(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, int *out_fd);
void snap_cache_clear(struct pers_ent *pe); /* pe->snap_lock not held */

#endif
