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

struct spacefs_config {
    unsigned ttl_ms;         /* listings and runtime data; 0 = no caching */
    unsigned whoami_ttl_ms;  /* whoami (rate limited hard on the Hub) */
    unsigned flavors_ttl_ms; /* the Hub's hardware list */
    const char *space_sdk;   /* for mkdir: gradio, docker, static, streamlit */
    int space_private;       /* for mkdir */
    uid_t uid;               /* owner shown on every node */
    gid_t gid;
    size_t log_cap; /* bytes of one log kept in memory */
};

void spacefs_config_init(struct spacefs_config *cfg);

/* Creates the filesystem. `backend` is taken (freed by spacefs_fs_free, also on failure). cfg's
 * strings are copied. */
int spacefs_fs_new(struct spacefs_fs **out, const struct spacefs_config *cfg,
                   struct spacefs_backend backend);
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

/* The single client-status -> errno table. */
int spacefs_errno_from_status(enum spacefs_status st);
const char *spacefs_status_name(enum spacefs_status st);

#endif
