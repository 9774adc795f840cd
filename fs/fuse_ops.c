/* The FUSE adapter: each libfuse callback translates its arguments to one fs.h call and
 * returns its negative errno. No logic lives here. Attribute timeouts are zero (sizes of open
 * logs grow; runtime files change) and every handle is direct_io; the fs caches instead.
 * persist/ files are direct_io too: remote changes replace their content behind the kernel's
 * back (after persist_ttl), and nothing would invalidate a page cache. Writes go in requests of
 * up to 1 MiB (max_write), so big copies are a few thousand requests per GiB. */
#include <errno.h>
#include <stdint.h>
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
    cfg->attr_timeout = 0;
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

/* Calls that come with a file handle (ftruncate; getattr when the kernel sends one) answer
 * through it. */
static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    if (fi)
        return spacefs_fs_fgetattr(fsp(), handle(fi), path, st);
    return spacefs_fs_getattr(fsp(), path, st);
}

struct fill_ctx {
    void *buf;
    fuse_fill_dir_t filler;
};

static int fill_one(const char *name, const struct stat *st, void *payload)
{
    struct fill_ctx *c = payload;

    return c->filler(c->buf, name, st, 0, 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    struct fill_ctx c = {buf, filler};

    (void)off;
    (void)fi;
    (void)flags;
    return spacefs_fs_readdir(fsp(), path, fill_one, &c);
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
        return spacefs_fs_ftruncate(fsp(), handle(fi), path, size);
    return spacefs_fs_truncate(fsp(), path, size);
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
        return spacefs_fs_fsetattr(fsp(), handle(fi), path);
    return spacefs_fs_setattr(fsp(), path);
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
        return spacefs_fs_futimens(fsp(), handle(fi), path, tv);
    return spacefs_fs_utimens(fsp(), path, tv);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    if (fi)
        return spacefs_fs_fchmod(fsp(), handle(fi), path, mode);
    return spacefs_fs_chmod(fsp(), path, mode);
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
    .readdir = op_readdir,
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
