/* The FUSE adapter: each libfuse callback translates its arguments to one fs.h call and
 * returns its negative errno. No logic lives here but the directory snapshot (below), which is
 * how libfuse wants a big directory listed. The kernel keeps attributes for attr_timeout
 * (-o attr_timeout, default 1 s, as rclone's --attr-timeout and mountpoint-s3's metadata TTL):
 * with default_permissions each path walk checks every directory on the way, and with 0 each
 * of them is a GETATTR (cp -a into persist/ made 17 of them per file). Every handle is
 * direct_io, so reads always reach the daemon whatever size the kernel has cached; the fs
 * caches instead. persist/ files are direct_io too: remote changes replace their content
 * behind the kernel's back (after persist_ttl), and nothing would invalidate a page cache.
 * Writes go in requests of up to 1 MiB (max_write), so big copies are a few thousand requests
 * per GiB. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuse_ops.h"

static struct spacefs_app *app(void)
{
    return fuse_get_context()->private_data;
}

static struct spacefs_fs *fsp(void)
{
    return app()->fs;
}

static struct spacefs_handle *handle(struct fuse_file_info *fi)
{
    return (struct spacefs_handle *)(uintptr_t)fi->fh;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    struct spacefs_app *a = app();

    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    conn->max_write = 1 << 20; /* libfuse's buffer holds 256 pages; the kernel asks for them */
    cfg->entry_timeout = a->entry_timeout;
    cfg->negative_timeout = 0; /* the fs keeps negative entries, with their own ttl */
    cfg->attr_timeout = a->attr_timeout;
    cfg->kernel_cache = 0;
    cfg->direct_io = 1;
    /* A file unlinked while open is renamed to .fuse_hidden* (router.c, persist/namespace.c), so
     * that fstat, fchmod and futimens, which the kernel sends without a file handle, still
     * have a path; st_ino is ours, stable for the life of the mount (router_ino, the engine). */
    cfg->hard_remove = 0;
    cfg->use_ino = 1;
    spacefs_fs_start(a->fs);
    return a;
}

/* libfuse answers a SETATTR with the getattr that follows the change (fuse_lib_setattr), and
 * unlike its GETATTR it does not take one off st_nlink for a hidden node (a file unlinked while
 * open, renamed to .fuse_hidden*; hard_remove is off). The kernel keeps that answer for
 * attr_timeout, so fstat of an unlinked open file would say 1 link instead of 0: the getattr
 * that follows a successful setattr call on this thread takes it off here. libfuse stops at the
 * first failing call of a SETATTR and then asks for no attributes, so the flag follows the last
 * call. */
static __thread int after_setattr;

static int setattr_done(int rc)
{
    after_setattr = rc == 0;
    return rc;
}

static int hidden_name(const char *path)
{
    const char *base = strrchr(path, '/');

    return strncmp(base ? base + 1 : path, ".fuse_hidden", 12) == 0;
}

/* Calls that come with a file handle (ftruncate; getattr when the kernel sends one) answer
 * through it. */
static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    int rc, setattr = after_setattr;

    after_setattr = 0;
    if (fi)
        rc = spacefs_fs_fgetattr(fsp(), handle(fi), path, st);
    else
        rc = spacefs_fs_getattr(fsp(), path, st);
    if (rc == 0 && setattr && st->st_nlink > 0 && hidden_name(path))
        st->st_nlink--;
    return rc;
}

/* A directory is listed once per opendir (and again on rewinddir: a readdir at offset 0) into a
 * snapshot, which readdir hands out from the offset the kernel asks for, as sshfs and rclone
 * list once per opendir. The fs lists in one pass (spacefs_fs_readdir); libfuse's own way of
 * taking such a pass (the filler called with offset 0) keeps a struct stat and a copy of each
 * name until closedir, about 200 bytes per entry (20 MiB for 100k Spaces); passing offsets
 * makes libfuse fill the kernel's buffer directly and stop when it is full, and the snapshot
 * keeps only what readdir returns: the name, the inode number and the type. Entries that
 * change between two readdir calls of one listing cannot be skipped or repeated. */
struct dirsnap {
    char *buf;       /* records, each DIRSNAP_ALIGN-aligned: struct dirent_rec + name + NUL */
    size_t len, cap; /* bytes used, allocated */
    uint32_t *at;    /* at[i]: where record i starts */
    size_t count, cap_at;
    int filled;
};

struct dirent_rec {
    uint64_t ino;
    uint32_t mode; /* S_IFMT bits; 0: no stat (DT_UNKNOWN) */
    uint32_t has_stat;
};

#define DIRSNAP_ALIGN 8
#define DIRSNAP_MAX   ((size_t)UINT32_MAX) /* offsets are 32-bit: about 60 million entries */

static int dirsnap_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 4096 / elem;
    void *q;

    while (n < need)
        n *= 2;
    if (n * elem > DIRSNAP_MAX)
        return -1;
    if (!(q = realloc(*p, n * elem)))
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int dirsnap_add(const char *name, const struct stat *st, void *payload)
{
    struct dirsnap *d = payload;
    size_t nlen = strlen(name) + 1, rlen = sizeof(struct dirent_rec) + nlen;
    struct dirent_rec r = {0, 0, 0};

    rlen = (rlen + DIRSNAP_ALIGN - 1) / DIRSNAP_ALIGN * DIRSNAP_ALIGN;
    if ((d->len + rlen > d->cap && dirsnap_grow((void **)&d->buf, &d->cap, d->len + rlen, 1)) ||
        (d->count == d->cap_at &&
         dirsnap_grow((void **)&d->at, &d->cap_at, d->count + 1, sizeof(*d->at))))
        return 1; /* no memory: the listing ends here, as a full buffer would end it */
    if (st) {
        r.ino = (uint64_t)st->st_ino;
        r.mode = (uint32_t)(st->st_mode & S_IFMT);
        r.has_stat = 1;
    }
    d->at[d->count++] = (uint32_t)d->len;
    memcpy(d->buf + d->len, &r, sizeof(r));
    memcpy(d->buf + d->len + sizeof(r), name, nlen);
    d->len += rlen;
    return 0;
}

static struct dirsnap *dirsnap(struct fuse_file_info *fi)
{
    return (struct dirsnap *)(uintptr_t)fi->fh;
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
    struct dirsnap *d = calloc(1, sizeof(*d));

    (void)path;
    if (!d)
        return -ENOMEM;
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
    struct dirsnap *d = dirsnap(fi);

    (void)path;
    if (d) {
        free(d->buf);
        free(d->at);
        free(d);
    }
    return 0;
}

/* The offset given with entry i is i + 1, where the next readdir starts. */
static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    struct dirsnap *d = dirsnap(fi);
    size_t i;
    int rc;

    (void)flags;
    if (!d)
        return -EBADF;
    if (off == 0 || !d->filled) { /* opendir or rewinddir: list (again) */
        d->len = d->count = 0;
        d->filled = 0;
        if ((rc = spacefs_fs_readdir(fsp(), path, dirsnap_add, d)) < 0)
            return rc;
        d->filled = 1;
    }
    for (i = off > 0 ? (size_t)off : 0; i < d->count; i++) {
        const struct dirent_rec *r = (const struct dirent_rec *)(d->buf + d->at[i]);
        struct stat st;

        memset(&st, 0, sizeof(st));
        st.st_ino = (ino_t)r->ino;
        st.st_mode = (mode_t)r->mode;
        if (filler(buf, (const char *)(r + 1), r->has_stat ? &st : NULL, (off_t)(i + 1), 0))
            break; /* the kernel's buffer is full */
    }
    return 0;
}

static void set_handle(struct fuse_file_info *fi, struct spacefs_handle *h)
{
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = spacefs_handle_direct_io(h) ? 1 : 0;
    fi->keep_cache = 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    struct spacefs_handle *h;
    int rc = spacefs_fs_open(fsp(), path, fi->flags, &h);

    if (rc == 0)
        set_handle(fi, h);
    return rc;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct spacefs_handle *h;
    int rc = spacefs_fs_create(fsp(), path, mode, fi->flags, &h);

    if (rc == 0)
        set_handle(fi, h);
    return rc;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    return (int)spacefs_fs_read(fsp(), handle(fi), buf, size, off);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)path;
    return (int)spacefs_fs_write(fsp(), handle(fi), buf, size, off);
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    return spacefs_fs_flush(fsp(), handle(fi));
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    spacefs_fs_release(fsp(), handle(fi));
    return 0;
}

static void op_destroy(void *private_data)
{
    struct spacefs_app *a = private_data;

    spacefs_fs_shutdown(a->fs); /* persist/: bounded wait for pending uploads */
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    if (fi)
        return setattr_done(spacefs_fs_ftruncate(fsp(), handle(fi), path, size));
    return setattr_done(spacefs_fs_truncate(fsp(), path, size));
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
    return spacefs_fs_rename(fsp(), from, to, flags);
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path;
    (void)datasync;
    return spacefs_fs_fsync(fsp(), handle(fi));
}

static int op_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    (void)fi;
    return spacefs_fs_fsyncdir(fsp(), path);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    (void)uid;
    (void)gid;
    if (fi)
        return setattr_done(spacefs_fs_fsetattr(fsp(), handle(fi), path));
    return setattr_done(spacefs_fs_setattr(fsp(), path));
}

static int op_unlink(const char *path)
{
    return spacefs_fs_unlink(fsp(), path);
}

static int op_mkdir(const char *path, mode_t mode)
{
    return spacefs_fs_mkdir(fsp(), path, mode);
}

static int op_rmdir(const char *path)
{
    return spacefs_fs_rmdir(fsp(), path);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    if (fi)
        return setattr_done(spacefs_fs_futimens(fsp(), handle(fi), path, tv));
    return setattr_done(spacefs_fs_utimens(fsp(), path, tv));
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    if (fi)
        return setattr_done(spacefs_fs_fchmod(fsp(), handle(fi), path, mode));
    return setattr_done(spacefs_fs_chmod(fsp(), path, mode));
}

static int op_symlink(const char *target, const char *path)
{
    return spacefs_fs_symlink(fsp(), target, path);
}

static int op_readlink(const char *path, char *buf, size_t size)
{
    return spacefs_fs_readlink(fsp(), path, buf, size);
}

static int op_link(const char *from, const char *to)
{
    return spacefs_fs_link(fsp(), from, to);
}

const struct fuse_operations spacefs_fuse_ops = {
    .init = op_init,
    .getattr = op_getattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .truncate = op_truncate,
    .unlink = op_unlink,
    .mkdir = op_mkdir,
    .rmdir = op_rmdir,
    .utimens = op_utimens,
    .chmod = op_chmod,
    .chown = op_chown,
    .symlink = op_symlink,
    .readlink = op_readlink,
    .link = op_link,
    .rename = op_rename,
    .fsync = op_fsync,
    .fsyncdir = op_fsyncdir,
    .destroy = op_destroy,
};
