/* The router: a path is parsed once (router.c) into a struct node naming the subtree that owns
 * it, and every call goes to that subtree through its ops table. Generic code (router.c) knows
 * no subtree; a subtree knows only itself. The subtrees, in the table of router.c:
 *   listing.c    /, /<ns>                    accounts and namespaces
 *   meta.c       /.spacefs/...               the mount's own files
 *   space.c      /<ns>/<space>, its files    status, runtime.json, control, ...
 *   kv.c         secrets/, variables/
 *   logs.c       logs/
 *   persist_fs.c persist/, persist.status, persist.repo
 *   snapshots.c  snapshots/
 * An open file is {ops, state}: the subtree that opened it and its own state. */
#ifndef SPACEFS_ROUTER_H
#define SPACEFS_ROUTER_H

#include "fs_internal.h"

struct spacefs_subtree_ops;

/* A parsed path. Names are bounded by validation, so fixed arrays are fine on the stack. */
struct node {
    const struct spacefs_subtree_ops *sub; /* the owner */
    int kind; /* the owner's: which of its nodes; the router itself gives the listing ROUTER_ROOT
                 and ROUTER_NS, and the Space directory (the space subtree) ROUTER_SPACE */
    char ns[SPACEFS_NAME_MAX + 1];
    char space[SPACEFS_NAME_MAX + 1];
    char id[SPACEFS_REPO_ID_MAX]; /* "ns/space" */
    int file;                     /* the owner's: which file */
    char key[COMP_MAX + 1];       /* the owner's: a name below its directory */
    const char *rest; /* below the owner's directory in a Space, no leading '/'; borrowed from
                         the parsed path (valid while it is); "" for the directory itself */
};

enum { ROUTER_ROOT = 0, ROUTER_NS = 1, ROUTER_SPACE = 0 };

/* An open file. */
struct spacefs_handle {
    const struct spacefs_subtree_ops *ops; /* the subtree that opened it */
    struct node n;                         /* its path when opened (n.rest is "") */
    int flags;                             /* open(2) flags */
    void *state;                           /* the subtree's; freed by ops->release */
};

/* What a subtree implements. NULL members get the router's default (router.c: EPERM for changes,
 * EBADF for handle calls it cannot serve). Every call returns 0 (or a byte count) or -errno. */
struct spacefs_subtree_ops {
    const char *name;
    /* Names this subtree owns inside a Space directory (NULL-terminated, or NULL: none), which
     * of them a Space lists (shown; NULL: all), and the node of one of them: `entry` indexes
     * names, `rest` is what follows it ("" for the entry itself); -ENOENT if not a path here. */
    const char *const *names;
    const char *const *root_names; /* the same at the root of the mount */
    int (*shown)(struct spacefs_fs *fs, const struct node *space);
    int (*parse)(struct spacefs_fs *fs, struct node *n, int entry, const char *rest);
    /* Nothing here changes: the router answers EROFS to every change of what exists. */
    int read_only;
    /* Paths */
    int (*getattr)(struct spacefs_fs *fs, const struct node *n, struct stat *st);
    int (*readdir)(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn, void *payload);
    /* mkdir of n itself; mkdir_child: of `name` in directory n when n itself is not one */
    int (*mkdir)(struct spacefs_fs *fs, const struct node *n, mode_t mode);
    int (*mkdir_child)(struct spacefs_fs *fs, const struct node *dir, const char *name,
                       mode_t mode);
    int (*rmdir)(struct spacefs_fs *fs, const struct node *n);
    int (*unlink)(struct spacefs_fs *fs, const struct node *n);
    int (*truncate)(struct spacefs_fs *fs, const struct node *n, int64_t size);
    /* from and to both of this subtree */
    int (*rename)(struct spacefs_fs *fs, const struct node *from, const struct node *to,
                  unsigned flags);
    int (*setattr)(struct spacefs_fs *fs, const struct node *n);
    /* chmod: NULL = setattr; utimens: tv as utimensat(2), NULL = now */
    int (*chmod)(struct spacefs_fs *fs, const struct node *n, mode_t mode);
    int (*utimens)(struct spacefs_fs *fs, const struct node *n, const struct timespec tv[2]);
    /* symlink: n becomes a link to target; readlink: NUL-terminated into buf (cut) */
    int (*symlink)(struct spacefs_fs *fs, const struct node *n, const char *target);
    int (*readlink)(struct spacefs_fs *fs, const struct node *n, char *buf, size_t size);
    int (*fsyncdir)(struct spacefs_fs *fs, const struct node *n);
    /* open (create: O_CREAT of a new name) fills h->state */
    int (*open)(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, mode_t mode,
                int create);
    /* Instead of open, read and release: a file of the Hub's whose text (*out new) is rendered
     * when it is opened for reading; the router checks the open (router_open_check) and serves
     * the text (h->state is a struct router_text). */
    int (*render)(struct spacefs_fs *fs, const struct node *n, char **out, size_t *out_len);
    /* Handles (h->ops is this subtree) */
    long (*read)(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                 int64_t off);
    long (*write)(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                  int64_t off);
    int (*flush)(struct spacefs_fs *fs, struct spacefs_handle *h);
    int (*ftruncate)(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t size);
    int (*fsync)(struct spacefs_fs *fs, struct spacefs_handle *h);
    int (*fgetattr)(struct spacefs_fs *fs, struct spacefs_handle *h, struct stat *st);
    int (*fsetattr)(struct spacefs_fs *fs, struct spacefs_handle *h);
    int (*fchmod)(struct spacefs_fs *fs, struct spacefs_handle *h, mode_t mode);
    int (*futimens)(struct spacefs_fs *fs, struct spacefs_handle *h, const struct timespec tv[2]);
    void (*release)(struct spacefs_fs *fs, struct spacefs_handle *h);
    /* Hooks. offline_ok: a listing on the way to n (a namespace or Space) failed with rc; 1 keeps
     * n usable (this subtree works offline below it). skip_listing: 1 to use the listing we
     * have. control: a word written to a Space's control file; -ENOSYS when not this subtree's.
     * init, start, shutdown (unmount, bounded wait) and free: the subtree's state in fs, which
     * router_state gives. */
    int (*offline_ok)(struct spacefs_fs *fs, const struct node *n, int rc);
    int (*skip_listing)(struct spacefs_fs *fs, const struct node *n);
    int (*control)(struct spacefs_fs *fs, const struct node *space, const char *word);
    /* A file of .spacefs/ this subtree provides: its name and its text (new string). */
    const char *meta_name;
    char *(*meta_render)(struct spacefs_fs *fs);
    int (*init)(struct spacefs_fs *fs);
    void (*start)(struct spacefs_fs *fs); /* once mounted: background work (spacefs_fs_start) */
    void (*shutdown)(struct spacefs_fs *fs);
    void (*free)(struct spacefs_fs *fs);
};

/* subtrees.c: the table (fs->subtrees points at it; router.c reaches the subtrees only so).
 * [0] owns / and /<ns>, [1] /<ns>/<space>; the others are found by their names. */
extern const struct spacefs_subtree_ops *const spacefs_subtrees[];
extern const size_t spacefs_subtrees_count;
extern const struct spacefs_subtree_ops spacefs_listing_ops, spacefs_meta_ops, spacefs_space_ops,
    spacefs_kv_ops, spacefs_logs_ops, spacefs_persist_ops, spacefs_snapshots_ops;

/* 0 with *out filled, or -ENOENT (also for names the Hub could never have; no network). */
int router_parse(struct spacefs_fs *fs, struct node *out, const char *path);
int router_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st);
/* The subtrees' hooks, asked in table order (see struct spacefs_subtree_ops). */
int router_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc);
int router_skip_listing(struct spacefs_fs *fs, const struct node *n);
int router_control(struct spacefs_fs *fs, const struct node *space, const char *word);
/* Lists the entries the other subtrees show in a Space directory; nonzero when fn stopped. */
int router_space_entries(struct spacefs_fs *fs, const struct node *space, spacefs_fill_fn fn,
                         void *payload);

/* The subtree's slot for its state in fs (NULL until its init sets it). */
void **router_state(struct spacefs_fs *fs, const struct spacefs_subtree_ops *ops);
/* The same by the subtree's name (for a subtree's files that do not hold its ops table). */
void **router_state_named(struct spacefs_fs *fs, const char *name);

/* Inode numbers outside persist/: 1 for "/", else a hash of the path with bit 62 set. */
uint64_t router_ino(const char *path);
/* Files unlinked while open (spacefs_hidden_name): a subtree with rename serves their renames
 * itself (persist/); for the others the router does. */
void router_hidden_free(struct spacefs_fs *fs); /* router_free: the names left of fs */

/* Helpers for subtrees. */
void router_fill(struct spacefs_fs *fs, struct stat *st, mode_t mode, uint64_t size, int64_t mtime);
/* open(2) of a file served by the Hub: exists, not a directory, its mode bits allow flags
 * (root included: writes here are calls to the Hub). */
int router_open_check(struct spacefs_fs *fs, const struct node *n, int flags);
int router_want_read(int flags);
int router_want_write(int flags);
/* `shown` of the subtrees on owner-only Hub APIs (secrets, variables, logs): the Space is in one
 * of the token's own namespaces. */
int router_shown_own(struct spacefs_fs *fs, const struct node *space);
/* A text snapshot served by read (h->state of render's files; variables, persist.status). */
struct router_text {
    char *data;
    size_t len;
};
long router_text_read(const struct router_text *t, char *buf, size_t size, int64_t off);
void router_text_free(struct router_text *t); /* accepts NULL */

#endif
