/* The spacefs filesystem logic, path based and free of FUSE types so that unit tests can drive
 * it on the fake backend without a kernel mount. Every function returns 0 (or a byte count)
 * or a negative errno. fuse_ops.c is the thin adapter from libfuse's callbacks to these. */
#ifndef SPACEFS_FS_H
#define SPACEFS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "backend.h"

struct spacefs_fs;
struct spacefs_handle;
struct persist_remote;

/* Builds the persist engine's remote for the Dataset `repo_id` ("ns/name") with its git mirror
 * in `git_dir`; main supplies it (fs/persist/remote_hub.c over the real client). *out new
 * (taken by persist_open). 0, or -errno with the reason logged (one line). */
typedef int (*spacefs_persist_remote_fn)(struct persist_remote *out, const char *repo_id,
                                         const char *git_dir, void *payload);

/* MOUNT/<ns>/<space>/persist/, snapshots/, persist.status, persist.repo (see persist_fs.c). */
struct spacefs_persist_config {
    spacefs_persist_remote_fn remote_new; /* NULL: no persist/ at all */
    void *remote_payload;                 /* borrowed; outlives the fs */
    const char *cache_root;   /* <cache_dir>/<endpoint host_port>; copied; NULL: no persist/ */
    const char *repo_pattern; /* Dataset id with {ns} and {space}; default "{ns}/{space}-persist" */
    int allow_public;         /* write to a public Dataset */
    unsigned quiet_ms;        /* engine: commit after this long without a change */
    unsigned interval_ms;     /* engine: at most one commit per this */
    unsigned max_delay_ms;    /* engine: commit a change at most this long after its close */
    unsigned flush_ms;        /* engine: a closed file on disk within this (0: at close) */
    unsigned ttl_ms;          /* engine: fetch remote changes this often */
    unsigned sync_timeout_ms; /* `echo sync > control` (and fsync(2) with fsync_hub) */
    int fsync_hub;            /* fsync(2) waits for the commit on the Hub (-o fsync=hub);
                                 default 0: fsync makes the file durable locally, as close() */
    unsigned unmount_wait_ms; /* spacefs_fs_shutdown: bounded wait for pending uploads */
};

struct spacefs_config {
    unsigned ttl_ms;         /* listings and runtime data; 0 = no caching */
    unsigned whoami_ttl_ms;  /* whoami (rate limited hard on the Hub) */
    unsigned flavors_ttl_ms; /* the Hub's hardware list */
    const char *space_sdk;   /* for mkdir: gradio, docker, static, streamlit */
    int space_private;       /* for mkdir */
    uid_t uid;               /* owner shown on every node */
    gid_t gid;
    size_t log_cap;    /* bytes of one log kept in memory */
    size_t max_spaces; /* Spaces kept per namespace listing (the first ones the Hub sends);
                          0 = no cap. Default SPACEFS_MAX_SPACES */
    struct spacefs_persist_config persist;
};

#define SPACEFS_MAX_SPACES 100000

void spacefs_config_init(struct spacefs_config *cfg);

/* Creates the filesystem. `backend` is taken (freed by spacefs_fs_free, also on failure). cfg's
 * strings are copied. */
int spacefs_fs_new(struct spacefs_fs **out, const struct spacefs_config *cfg,
                   struct spacefs_backend backend);
/* Once mounted: background work that needs no visitor (persist/ engines with changes left by an
 * earlier mount start uploading). Stopped by spacefs_fs_shutdown. */
void spacefs_fs_start(struct spacefs_fs *fs);
/* Unmount: closes every persist engine, waiting up to persist.unmount_wait_ms for each to upload
 * what is pending (the rest stays in its journal for the next mount). Idempotent; free calls it
 * too. */
void spacefs_fs_shutdown(struct spacefs_fs *fs);
/* A signal asked to unmount: listings in flight stop within about a second (EINTR) and later
 * ones fail at once, so that no worker thread holds up the exit. Async-signal-safe. */
void spacefs_fs_interrupt(struct spacefs_fs *fs);
void spacefs_fs_free(struct spacefs_fs *fs);

/* Counters shown in .spacefs/stats. */
struct spacefs_counters {
    uint64_t backend_calls;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t errors;
};
void spacefs_fs_counters(struct spacefs_fs *fs, struct spacefs_counters *out);

/* One directory entry; return nonzero to stop. */
typedef int (*spacefs_fill_fn)(const char *name, const struct stat *st, void *payload);

int spacefs_fs_getattr(struct spacefs_fs *fs, const char *path, struct stat *st);
int spacefs_fs_readdir(struct spacefs_fs *fs, const char *path, spacefs_fill_fn fill,
                       void *payload);
/* open(2) flags; O_CREAT through spacefs_fs_create. *out is new (release it). */
int spacefs_fs_open(struct spacefs_fs *fs, const char *path, int flags,
                    struct spacefs_handle **out);
int spacefs_fs_create(struct spacefs_fs *fs, const char *path, mode_t mode, int flags,
                      struct spacefs_handle **out);
/* Returns bytes read or -errno. */
long spacefs_fs_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                     int64_t off);
/* Returns bytes taken or -errno. */
long spacefs_fs_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                      int64_t off);
int spacefs_fs_flush(struct spacefs_fs *fs, struct spacefs_handle *h);
void spacefs_fs_release(struct spacefs_fs *fs, struct spacefs_handle *h);
/* Nonzero: bypass the page cache for this handle (dynamic content, secrets). */
int spacefs_handle_direct_io(const struct spacefs_handle *h);

int spacefs_fs_truncate(struct spacefs_fs *fs, const char *path, int64_t size);
int spacefs_fs_unlink(struct spacefs_fs *fs, const char *path);
int spacefs_fs_mkdir(struct spacefs_fs *fs, const char *path, mode_t mode);
int spacefs_fs_rmdir(struct spacefs_fs *fs, const char *path);
/* rename(2) within one persist/ directory; EXDEV between persist/ and anything else. flags: 0,
 * RENAME_NOREPLACE; others (RENAME_EXCHANGE, RENAME_WHITEOUT) EINVAL. */
int spacefs_fs_rename(struct spacefs_fs *fs, const char *from, const char *to, unsigned flags);
/* ftruncate(2) on an open handle (path: as truncate(2) for handles outside persist/). */
int spacefs_fs_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                         int64_t size);
/* fsync(2): in persist/, makes the file durable on local disk (as close() does), or, with
 * persist.fsync_hub, returns once it is committed on the Hub; elsewhere nothing. */
int spacefs_fs_fsync(struct spacefs_fs *fs, struct spacefs_handle *h);
/* fsync(2) on a directory: with persist.fsync_hub, persist/ waits until everything is
 * committed; else nothing (persist/'s namespace changes are durable when they return). */
int spacefs_fs_fsyncdir(struct spacefs_fs *fs, const char *path);
/* chown: accepted and ignored in persist/ (owners are the mount's, so cp -a, rsync -a, tar x
 * work); EROFS in snapshots/, EPERM elsewhere. */
int spacefs_fs_setattr(struct spacefs_fs *fs, const char *path);
/* chmod: persist/ keeps the permission bits; elsewhere as spacefs_fs_setattr. */
int spacefs_fs_chmod(struct spacefs_fs *fs, const char *path, mode_t mode);
/* utimensat: tv as utimensat(2) (NULL: now). persist/ keeps the times (nanoseconds); elsewhere
 * times are the Hub's and touch is a no-op that succeeds on what exists. */
int spacefs_fs_utimens(struct spacefs_fs *fs, const char *path, const struct timespec tv[2]);
/* symlink(2) and readlink(2) (persist/ only; EPERM elsewhere / EINVAL: not a link), link(2):
 * refused with EPERM everywhere (no hard links). */
int spacefs_fs_symlink(struct spacefs_fs *fs, const char *target, const char *path);
int spacefs_fs_readlink(struct spacefs_fs *fs, const char *path, char *buf, size_t size);
int spacefs_fs_link(struct spacefs_fs *fs, const char *from, const char *to);
/* The same on an open handle (when the kernel sends one: ftruncate, some fstat). path may be
 * NULL; persist/ handles answer from the handle itself. */
int spacefs_fs_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                        struct stat *st);
int spacefs_fs_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path);
int spacefs_fs_fchmod(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                      mode_t mode);
int spacefs_fs_futimens(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                        const struct timespec tv[2]);

#endif
