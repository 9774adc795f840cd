/* The libfuse high-level operations table for spacefs: a thin translation to fs.h. */
#ifndef SPACEFS_FUSE_OPS_H
#define SPACEFS_FUSE_OPS_H

#define FUSE_USE_VERSION 312 /* fuse_loop_cfg_* (libfuse 3.12+) */
#include <fuse.h>

#include "fs.h"

/* What fuse_new's user_data points to; fs is set before the loop starts. */
struct spacefs_app {
    struct spacefs_fs *fs;
    double entry_timeout; /* seconds: the cache ttl */
    double attr_timeout;  /* seconds the kernel keeps attributes (-o attr_timeout) */
};

extern const struct fuse_operations spacefs_fuse_ops;

#endif
