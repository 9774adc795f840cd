/* The persist subtree: MOUNT/<ns>/<space>/persist/ is the Space's persist engine (a private
 * Dataset mirrored locally, fs/persist/; the engines: persist_engines.c); persist.status shows
 * its sync state, persist.repo the Dataset (writable: a per-Space override), `sync` in control
 * waits for the upload. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist_fs.h"

enum { PERS_DIR = 0, PERS_FILE = 1 }; /* kinds: persist/[rest], persist.status/.repo (n->file) */
enum { PF_STATUS = 0, PF_REPO };
static const char *const pers_names[] = {"persist", "persist.status", "persist.repo", NULL};

/* A persist/ file (pe, ph) or persist.status/.repo (text). */
struct pers_handle {
    struct pers_ent *pe;
    struct persist_handle *ph;
    struct router_text text;
    int read_seen; /* the access time was handled for this handle (relatime) */
};

struct fill_fix {
    struct spacefs_fs *fs;
    int writable;
    spacefs_fill_fn fn;
    void *payload;
};

/* The engine call `op` on n's path inside persist/ (mkdir, rmdir, unlink, truncate, chmod). */
enum pers_op { OP_MKDIR, OP_RMDIR, OP_UNLINK, OP_TRUNCATE, OP_CHMOD };

/* Owner, and write bits off for a read-only token (the kernel checks them; root included, the
 * mutating calls check again). */
static void fix_stat(struct spacefs_fs *fs, struct stat *st, int writable)
{
    st->st_uid = fs->cfg.uid;
    st->st_gid = fs->cfg.gid;
    if (!writable)
        st->st_mode &= ~(mode_t)0222;
    if (!st->st_mtim.tv_sec && !st->st_mtim.tv_nsec) /* a time nobody set: the mount's start */
        st->st_mtim.tv_sec = fs->started;
    if (!st->st_ctim.tv_sec && !st->st_ctim.tv_nsec)
        st->st_ctim = st->st_mtim;
    if (!st->st_atim.tv_sec && !st->st_atim.tv_nsec)
        st->st_atim = st->st_mtim;
    st->st_blksize = 4096;
}

static int pers_file_render(struct spacefs_fs *fs, const struct node *n, char **out,
                            size_t *out_len)
{
    struct pers_ent *pe;
    char *buf = NULL, repo[SPACEFS_REPO_ID_MAX];
    size_t cap = 2048, len;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (n->file == PF_REPO) {
        if ((rc = persist_fs_repo(fs, n, repo, sizeof(repo))) < 0)
            return rc;
        if (!(*out = spacefs_asprintf("%s\n", repo)))
            return -ENOMEM;
        *out_len = strlen(*out);
        return 0;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    for (;;) {
        if (!(buf = malloc(cap + sizeof(repo) + 8))) {
            rc = -ENOMEM;
            break;
        }
        if ((len = persist_state_text(pe->p, buf, cap)) < cap) {
            snprintf(buf + len, sizeof(repo) + 8, "repo: %s\n", pe->dataset);
            *out = buf;
            *out_len = strlen(buf);
            buf = NULL;
            break;
        }
        free(buf);
        cap = len + 1;
    }
    free(buf);
    persist_fs_put(fs, pe);
    return rc;
}

static int pfile_attr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc;

    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    /* persist.status: its size if the engine is open; `ls -l` of a Space opens nothing */
    if (n->file == PF_REPO || (pe = persist_fs_peek(fs, n))) {
        if ((rc = pers_file_render(fs, n, &text, &len)) < 0 && n->file == PF_REPO) {
            persist_fs_put(fs, pe);
            return rc;
        }
        free(text);
    }
    persist_fs_put(fs, pe);
    router_fill(fs, st, S_IFREG | (n->file == PF_REPO ? 0644 : 0444), len, fs->started);
    fix_stat(fs, st, spacefs_ns_writable(fs, n->ns));
    return 0;
}

static int wait_synced(struct spacefs_fs *fs, struct pers_ent *pe, const char *what)
{
    struct persist_state s;
    int rc = persist_sync_wait(pe->p, fs->cfg.persist.sync_timeout_ms);

    if (rc < 0) {
        persist_state_get(pe->p, &s);
        spacefs_log(SPACEFS_WARN, "%s %s: not committed to %s: %s (%s)", what, pe->id, pe->dataset,
                    strerror(-rc), s.last_error[0] ? s.last_error : "no error recorded");
    }
    return rc;
}

static int pers_sync(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (!persist_fs_enabled(fs, n->ns)) {
        spacefs_log(SPACEFS_WARN, "sync %s: no persist/ in this namespace", n->id);
        return -EINVAL;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = wait_synced(fs, pe, "sync");
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_parse(struct spacefs_fs *fs, struct node *n, int entry, const char *rest)
{
    (void)fs;
    if (entry == 0)
        return 0; /* persist/ and below: rest */
    if (rest[0])
        return -ENOENT;
    n->kind = PERS_FILE;
    n->file = entry == 1 ? PF_STATUS : PF_REPO;
    return 0;
}

static int pers_shown(struct spacefs_fs *fs, const struct node *space)
{
    return persist_fs_enabled(fs, space->ns);
}

static int pers_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind == PERS_FILE)
        return pfile_attr(fs, n, st);
    if (!n->rest[0]) {
        struct stat es;
        if ((rc = persist_fs_space_check(fs, n)) < 0)
            return rc;
        router_fill(fs, st, S_IFDIR | (spacefs_ns_writable(fs, n->ns) ? 0755 : 0555), 0,
                    fs->started);
        /* 2 + subdirectories from an open engine; `ls -l` of a Space opens none: 1, "unknown"
         * to find and fts (no leaf optimisation) */
        st->st_nlink = 1;
        if ((pe = persist_fs_peek(fs, n)) && persist_getattr(pe->p, "", &es) == 0)
            st->st_nlink = es.st_nlink;
        persist_fs_put(fs, pe);
        return 0;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    if ((rc = persist_getattr(pe->p, n->rest, st)) == 0)
        fix_stat(fs, st, spacefs_ns_writable(fs, n->ns));
    persist_fs_put(fs, pe);
    return rc;
}

static int fill_fixed(const char *name, const struct stat *st, void *payload)
{
    struct fill_fix *f = payload;
    struct stat s;

    if (!st)
        return f->fn(name, NULL, f->payload);
    s = *st;
    fix_stat(f->fs, &s, f->writable);
    return f->fn(name, &s, f->payload);
}

static int pers_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                        void *payload)
{
    struct fill_fix f = {fs, spacefs_ns_writable(fs, n->ns), fn, payload};
    struct pers_ent *pe;
    int rc;

    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = persist_readdir(pe->p, n->rest, fill_fixed, &f);
    persist_fs_put(fs, pe);
    return rc;
}

/* Common checks of a mutating call on n, then the engine (pair with persist_fs_put). */
static int mutate_begin(struct spacefs_fs *fs, const struct node *n, struct pers_ent **pe)
{
    int rc;

    *pe = NULL;
    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    if (n->kind != PERS_DIR)
        return -EPERM;
    if (!spacefs_ns_writable(fs, n->ns))
        return -EACCES;
    return persist_fs_get(fs, n, pe);
}

static int engine_op(struct spacefs_fs *fs, const struct node *n, enum pers_op op, int64_t arg)
{
    struct pers_ent *pe;
    int rc;

    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    switch (op) {
    case OP_MKDIR:
        rc = persist_mkdir(pe->p, n->rest, (mode_t)arg);
        break;
    case OP_RMDIR:
        rc = persist_rmdir(pe->p, n->rest);
        break;
    case OP_UNLINK:
        rc = persist_unlink(pe->p, n->rest);
        break;
    case OP_TRUNCATE:
        rc = persist_truncate(pe->p, n->rest, arg);
        break;
    case OP_CHMOD:
        rc = persist_chmod(pe->p, n->rest, (mode_t)arg);
        break;
    }
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_mkdir(struct spacefs_fs *fs, const struct node *n, mode_t mode)
{
    if (n->kind == PERS_DIR && !n->rest[0])
        return persist_fs_space_check(fs, n) < 0 ? -ENOENT : -EEXIST;
    return engine_op(fs, n, OP_MKDIR, mode);
}

static int pers_rmdir(struct spacefs_fs *fs, const struct node *n)
{
    if (n->kind == PERS_FILE)
        return -ENOTDIR;
    if (!n->rest[0])
        return -EBUSY; /* persist/ itself */
    return engine_op(fs, n, OP_RMDIR, 0);
}

static int pers_unlink(struct spacefs_fs *fs, const struct node *n)
{
    if (n->kind == PERS_DIR && !n->rest[0])
        return -EISDIR;
    return engine_op(fs, n, OP_UNLINK, 0);
}

static int pers_truncate(struct spacefs_fs *fs, const struct node *n, int64_t size)
{
    int rc;

    if (n->kind == PERS_FILE) {
        if ((rc = persist_fs_space_check(fs, n)) < 0)
            return rc;
        if (n->file != PF_REPO || !spacefs_ns_writable(fs, n->ns))
            return -EACCES;
        return size == 0 ? 0 : -EINVAL; /* "> persist.repo" before the write */
    }
    if (!n->rest[0])
        return -EISDIR;
    return engine_op(fs, n, OP_TRUNCATE, size);
}

static int pers_rename(struct spacefs_fs *fs, const struct node *from, const struct node *to,
                       unsigned flags)
{
    struct pers_ent *pe;
    int rc;

    if (from->kind != PERS_DIR || to->kind != PERS_DIR || strcmp(from->id, to->id) != 0)
        return -EXDEV; /* mv copies instead: between Spaces, to persist.status */
    if (!from->rest[0] || !to->rest[0])
        return -EBUSY;
    if ((rc = mutate_begin(fs, from, &pe)) < 0)
        return rc;
    rc = persist_rename(pe->p, from->rest, to->rest, flags);
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_setattr(struct spacefs_fs *fs, const struct node *n)
{
    struct stat st;
    int rc;

    if ((rc = pers_getattr(fs, n, &st)) < 0)
        return rc;
    if (n->kind == PERS_FILE)
        return -EPERM;
    /* modes and owners are not stored; persist/ itself too (rsync -a src/ persist/ sets them) */
    return spacefs_ns_writable(fs, n->ns) ? 0 : -EACCES;
}

static int pers_utimens(struct spacefs_fs *fs, const struct node *n, const struct timespec tv[2])
{
    struct pers_ent *pe;
    int rc = pers_setattr(fs, n); /* ENOENT, EACCES read-only */

    if (rc < 0 || n->kind != PERS_DIR || !n->rest[0])
        return rc == -EPERM ? 0 : rc; /* persist.status & co keep no time: touch succeeds */
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_utimens(pe->p, n->rest, tv);
    persist_fs_put(fs, pe);
    return rc;
}

/* chmod: the engine keeps the permission bits below persist/; persist/ itself and the files
 * beside it behave as setattr (accepted and ignored; EPERM). */
static int pers_chmod(struct spacefs_fs *fs, const struct node *n, mode_t mode)
{
    int rc = pers_setattr(fs, n);

    if (rc < 0 || n->kind != PERS_DIR || !n->rest[0])
        return rc;
    return engine_op(fs, n, OP_CHMOD, mode);
}

static int pers_symlink(struct spacefs_fs *fs, const struct node *n, const char *target)
{
    struct pers_ent *pe;
    struct stat st;
    int rc;

    if (n->kind != PERS_DIR || !n->rest[0])
        return pers_getattr(fs, n, &st) == 0 ? -EEXIST : -EPERM;
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_symlink(pe->p, target, n->rest);
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_readlink(struct spacefs_fs *fs, const struct node *n, char *buf, size_t size)
{
    struct pers_ent *pe;
    struct stat st;
    int rc;

    if (n->kind != PERS_DIR || !n->rest[0])
        return (rc = pers_getattr(fs, n, &st)) < 0 ? rc : -EINVAL;
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = persist_readlink(pe->p, n->rest, buf, size);
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_fsyncdir(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind != PERS_DIR)
        return 0;
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    /* mkdir, unlink and rename are in the journal (fdatasync'ed) when they return; files
     * closed without fsync are flushed now */
    rc = persist_local_sync(pe->p);
    if (rc == 0 && fs->cfg.persist.fsync_hub)
        rc = wait_synced(fs, pe, "fsync");
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_control(struct spacefs_fs *fs, const struct node *space, const char *word)
{
    /* sync: blocks until every change made before it is committed on the Hub */
    return strcmp(word, "sync") == 0 ? pers_sync(fs, space) : -ENOSYS;
}

static int pers_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, mode_t mode,
                     int create)
{
    int writes = router_want_write(h->flags) || (h->flags & O_TRUNC) || create;
    struct pers_handle *ph;
    int rc;

    if (h->n.kind == PERS_FILE && create)
        return -ENOSYS;
    if (h->n.kind == PERS_FILE && (rc = router_open_check(fs, &h->n, h->flags)) < 0)
        return rc;
    if (h->n.kind == PERS_DIR && !rest[0])
        return persist_fs_space_check(fs, &h->n) < 0 ? -ENOENT : -EISDIR;
    if (h->n.kind == PERS_DIR && writes && persist_fs_space_check(fs, &h->n) == 0 &&
        !spacefs_ns_writable(fs, h->n.ns))
        return -EACCES;
    if (!(ph = calloc(1, sizeof(*ph))))
        return -ENOMEM;
    if (h->n.kind == PERS_FILE) {
        rc = router_want_read(h->flags) ? pers_file_render(fs, &h->n, &ph->text.data, &ph->text.len)
                                        : 0;
    } else if ((rc = persist_fs_get(fs, &h->n, &ph->pe)) == 0 &&
               (rc = persist_file_open(ph->pe->p, rest, h->flags | (create ? O_CREAT : 0), mode,
                                       &ph->ph)) < 0) {
        persist_fs_put(fs, ph->pe);
    }
    if (rc < 0) {
        free(ph->text.data);
        free(ph);
        return rc;
    }
    h->state = ph;
    return 0;
}

static struct persist_handle *eh(struct spacefs_handle *h) /* the engine's handle or NULL */
{
    return ((struct pers_handle *)h->state)->ph;
}

static struct persist *engine(struct spacefs_handle *h)
{
    return ((struct pers_handle *)h->state)->pe->p;
}

static long pers_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                      int64_t off)
{
    (void)fs;
    struct pers_handle *ph = h->state;

    if (!eh(h))
        return router_text_read(&ph->text, buf, size, off);
    if (!ph->read_seen) { /* relatime: once per open is as often as it can move */
        ph->read_seen = 1;
        persist_atime_touch(engine(h), eh(h));
    }
    return persist_read(engine(h), eh(h), buf, size, off);
}

static long pers_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf,
                       size_t size, int64_t off)
{
    int rc;

    if (eh(h))
        return persist_write(engine(h), eh(h), buf, size, off);
    if (h->n.file != PF_REPO)
        return -EBADF;
    rc = persist_fs_repo_write(fs, &h->n, buf, size);
    return rc < 0 ? rc : (long)size;
}

/* close(2) is the acknowledgement: content and journal on disk */
static int pers_flush(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    (void)fs;
    return eh(h) ? persist_flush(engine(h), eh(h)) : 0;
}

static int pers_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t size)
{
    if (!eh(h))
        return pers_truncate(fs, &h->n, size);
    return persist_ftruncate(engine(h), eh(h), size);
}

static int pers_fsync(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct pers_ent *pe = ((struct pers_handle *)h->state)->pe;
    int rc;

    if (!eh(h))
        return 0;
    /* The contract (docs/filesystem.md, "Durability"): fsync makes the file durable on local
     * disk, as close() does, and the upload follows; waiting for the Hub is `echo sync`, or
     * every fsync with -o fsync=hub. */
    if (!fs->cfg.persist.fsync_hub) {
        if ((rc = persist_file_sync(pe->p, eh(h))) < 0)
            spacefs_log(SPACEFS_WARN, "fsync in %s: %s", pe->id, strerror(-rc));
        return rc;
    }
    if ((rc = persist_fsync(pe->p, eh(h), fs->cfg.persist.sync_timeout_ms)) < 0)
        spacefs_log(SPACEFS_WARN, "fsync in %s: not committed to %s: %s", pe->id, pe->dataset,
                    strerror(-rc));
    return rc;
}

static int pers_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, struct stat *st)
{
    int rc;

    if (!eh(h))
        return pers_getattr(fs, &h->n, st);
    if ((rc = persist_fgetattr(engine(h), eh(h), st)) == 0)
        fix_stat(fs, st, spacefs_ns_writable(fs, h->n.ns));
    return rc;
}

static int pers_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    if (!eh(h))
        return pers_setattr(fs, &h->n);
    /* modes and owners are not stored (as pers_setattr) */
    return spacefs_ns_writable(fs, h->n.ns) ? 0 : -EACCES;
}

static int pers_fchmod(struct spacefs_fs *fs, struct spacefs_handle *h, mode_t mode)
{
    int rc;

    if (!eh(h))
        return pers_chmod(fs, &h->n, mode);
    if ((rc = pers_fsetattr(fs, h)) < 0)
        return rc;
    return persist_fchmod(engine(h), eh(h), mode);
}

static int pers_futimens(struct spacefs_fs *fs, struct spacefs_handle *h,
                         const struct timespec tv[2])
{
    int rc;

    if (!eh(h))
        return pers_utimens(fs, &h->n, tv);
    rc = pers_fsetattr(fs, h);
    return rc < 0 ? rc : persist_futimens(engine(h), eh(h), tv);
}

static void pers_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct pers_handle *ph = h->state;
    int rc;

    if (ph->ph && (rc = persist_release(ph->pe->p, ph->ph)) < 0)
        spacefs_log(SPACEFS_WARN, "persist %s: close failed: %s", ph->pe->id, strerror(-rc));
    persist_fs_put(fs, ph->pe);
    free(ph->text.data);
    free(ph);
}

const struct spacefs_subtree_ops spacefs_persist_ops = {
    .name = "persist",
    .names = pers_names,
    .shown = pers_shown,
    .parse = pers_parse,
    .getattr = pers_getattr,
    .readdir = pers_readdir,
    .mkdir = pers_mkdir,
    .rmdir = pers_rmdir,
    .unlink = pers_unlink,
    .truncate = pers_truncate,
    .rename = pers_rename,
    .setattr = pers_setattr,
    .chmod = pers_chmod,
    .utimens = pers_utimens,
    .symlink = pers_symlink,
    .readlink = pers_readlink,
    .fsyncdir = pers_fsyncdir,
    .open = pers_open,
    .read = pers_read,
    .write = pers_write,
    .flush = pers_flush,
    .ftruncate = pers_ftruncate,
    .fsync = pers_fsync,
    .fgetattr = pers_fgetattr,
    .fsetattr = pers_fsetattr,
    .fchmod = pers_fchmod,
    .futimens = pers_futimens,
    .release = pers_release,
    .offline_ok = persist_fs_offline_ok,
    .skip_listing = persist_fs_skip_listing,
    .control = pers_control,
    .meta_name = "persist",
    .meta_render = persist_fs_render_all,
    .init = persist_fs_init,
    .start = persist_fs_start,
    .shutdown = persist_fs_shutdown,
    .free = persist_fs_free,
};
