/* The Spaces' persist engines (persist_engines.c), shared by the persist subtree (persist_fs.c)
 * and the snapshots subtree (snapshots.c): one per Space, opened lazily on first use of persist/,
 * snapshots/ or persist.status and kept until unmount. */
#ifndef SPACEFS_PERSIST_FS_H
#define SPACEFS_PERSIST_FS_H

#include "persist.h"
#include "router.h"

struct snap_tree;

/* A Space's persist state. Entries live until spacefs_fs_free; the engine inside may be closed
 * and reopened (persist.repo override).
 * Lock order: fs->lock, then pe->snap_lock, then the engine's own lock. fs->lock guards every
 * field but the snapshot caches; no lock is held across an engine or remote call. */
struct pers_ent {
    char *id;  /* "ns/space" */
    char *dir; /* <cache_root>/<ns>/<space> (0700): persist.repo and datasets/<ns>/<name>/ */
    char dataset[SPACEFS_REPO_ID_MAX]; /* the Dataset in use, once opened */
    struct persist *p;
    int refs;               /* calls in flight and open handles using p */
    int opening;            /* single flight: others wait on fs->cond */
    unsigned close_wait_ms; /* pers_shutdown */
    int closing;
    pthread_mutex_t snap_lock; /* the snapshot caches below (snapshots.c) */
    char snap_head[PERSIST_OID_MAX];
    struct persist_rcommit *commits; /* of snap_head, newest first */
    size_t ncommits;
    struct snap_tree *trees; /* a few trees of recently read commits */
    /* set by snapshots.c once it caches anything: empties the caches when the engine goes
     * (pe->snap_lock not held) */
    void (*snap_clear)(struct pers_ent *pe);
    struct pers_ent *next;
};

int persist_fs_enabled(struct spacefs_fs *fs, const char *ns); /* persist/ shown for ns */
/* The Space of n exists and has persist/ (also while the Hub is unreachable, for a Space known
 * from an earlier listing or with its engine open). 0 or -errno. */
int persist_fs_space_check(struct spacefs_fs *fs, const struct node *n);
/* The engine of n's Space, opened if needed, with a reference: pair with persist_fs_put. */
int persist_fs_get(struct spacefs_fs *fs, const struct node *n, struct pers_ent **out);
void persist_fs_put(struct spacefs_fs *fs, struct pers_ent *pe);
/* The engine if it is open, with a reference (no opening); NULL otherwise. */
struct pers_ent *persist_fs_peek(struct spacefs_fs *fs, const struct node *n);
/* The Dataset id n's Space uses (its persist.repo, else the mount's pattern). 0 or -errno. */
int persist_fs_repo(struct spacefs_fs *fs, const struct node *n, char *out, size_t size);
/* persist.repo written: a new Dataset id for this Space (EBUSY while changes are pending). */
int persist_fs_repo_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len);
/* The subtree's hooks (struct spacefs_subtree_ops, persist_fs.c's table). */
int persist_fs_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc);
int persist_fs_skip_listing(struct spacefs_fs *fs, const struct node *n);
char *persist_fs_render_all(struct spacefs_fs *fs); /* .spacefs/persist */
int persist_fs_init(struct spacefs_fs *fs);
void persist_fs_start(struct spacefs_fs *fs);
void persist_fs_shutdown(struct spacefs_fs *fs);
void persist_fs_free(struct spacefs_fs *fs);

#endif
