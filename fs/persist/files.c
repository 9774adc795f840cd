/* Open files: one struct pfile per path shared by its handles, reading from the best content
 * source (overlay -> object cache -> remote), writing to a working overlay file, copy-on-write
 * once published at close: the overlay file and a journal line, in the page cache at once (a
 * kill -9 of the daemon loses nothing), flushed to disk by fsync(2), by the next durable journal
 * write or by the worker within flush_ms (journal.c). Lock held, dropped only around remote
 * calls (object downloads). */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#define COPY_CHUNK 65536
/* Opens the object `e` read-only, downloading it first if it is not cached. Lock held; it is
 * dropped during a download (*dropped set), so callers must re-check what they looked up. */
static int object_open(struct persist *p, const struct persist_rentry *e, const char *path,
                       int *out_fd, int *dropped)
{
    struct persist_rentry copy;
    char *s;
    int fd, rc;

    if (!(s = persist_obj_path(p, e)))
        return -ENOMEM;
    fd = open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(s);
    if (fd >= 0) {
        futimens(fd, NULL); /* LRU */
        *out_fd = fd;
        return 0;
    }
    copy = *e;
    if (!(copy.path = strdup(e->path ? e->path : path)))
        return -ENOMEM;
    *dropped = 1;
    pthread_mutex_unlock(&p->lock);
    rc = persist_obj_fetch(p, &copy);
    pthread_mutex_lock(&p->lock);
    free(copy.path);
    return rc ? rc : 1; /* 1: fetched, open it again */
}

/* The object behind the visible file `path` (a base file or a renamed one), NULL if its
 * content is an overlay file or it is not a file. */
static const struct persist_rentry *path_object(struct persist *p, const char *path)
{
    struct pchange *c = persist_map_get(&p->changes, path);
    if (c)
        return c->kind == PC_FILE && !c->ovl ? &c->ref : NULL;
    return persist_map_get(&p->base_files, path);
}

/* Opens the content source of the visible file `path` read-only (the overlay file, or the
 * object, downloaded first if needed). Lock held; it is dropped while an object downloads, so
 * the lookup is repeated afterwards. */
static int source_open(struct persist *p, const char *path, int *out_fd)
{
    for (int round = 0; round < 4; round++) {
        struct pchange *c = persist_map_get(&p->changes, path);
        const struct persist_rentry *e;
        int rc, dropped = 0;

        if (c && c->kind == PC_FILE && c->ovl) {
            char *s = persist_ovl_path(p, c->ovl);
            int fd;
            if (!s)
                return -ENOMEM;
            fd = open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            free(s);
            if (fd < 0)
                return -errno;
            *out_fd = fd;
            return 0;
        }
        if (!(e = path_object(p, path)))
            return -ENOENT;
        if ((rc = object_open(p, e, path, out_fd, &dropped)) <= 0)
            return rc;
    }
    return -EIO;
}

/* Opens the content source of f read-only: its path's, or, once detached, what it pinned. */
static int pfile_source(struct persist *p, struct pfile *f, int *out_fd)
{
    if (f->path)
        return source_open(p, f->path, out_fd);
    for (int round = 0; f->pin.path && round < 4; round++) {
        int rc, dropped = 0;
        if ((rc = object_open(p, &f->pin, f->pin.path, out_fd, &dropped)) <= 0)
            return rc;
    }
    return f->pin.path ? -EIO : -ENOENT;
}

static int copy_fd(int dst, int src)
{
    off_t in = 0, out = 0;
    char buf[COPY_CHUNK];
    ssize_t n;

    if (ioctl(dst, FICLONE, src) == 0)
        return 0;
    for (;;) {
        n = copy_file_range(src, &in, dst, &out, (size_t)1 << 30, 0);
        if (n == 0)
            return 0;
        if (n < 0)
            break;
    }
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -errno;
    for (in = 0;; in += n) {
        n = pread(src, buf, sizeof(buf), in);
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (pwrite(dst, buf, (size_t)n, in) != n)
            return -EIO;
    }
}

/* A new overlay file (empty); *out_fd open read-write. */
static int ovl_create(struct persist *p, uint64_t *out_id, int *out_fd)
{
    uint64_t id = p->next_ovl++;
    char *s = persist_ovl_path(p, id);
    int fd;

    if (!s)
        return -ENOMEM;
    fd = open(s, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(s);
    if (fd < 0)
        return -errno;
    *out_id = id;
    *out_fd = fd;
    return 0;
}

/* Makes f's fd a private working copy (copy-on-write of the published content, or an empty
 * file when `empty`). */
static int pfile_make_work(struct persist *p, struct pfile *f, int empty)
{
    uint64_t id = 0;
    int fd = -1, src = -1, rc;

    if (f->work && (f->dirty || !f->path)) { /* private already: write in place */
        if (empty && ftruncate(f->fd, 0) < 0)
            return -errno;
        if (empty) {
            f->size = 0;
            persist_hash_start(p, f, f->work);
        }
        return 0;
    }
    if (!empty) {
        if (f->fd >= 0) {
            src = dup(f->fd);
            if (src < 0)
                return -errno;
        } else if ((rc = pfile_source(p, f, &src)) < 0) {
            return rc;
        }
    }
    if ((rc = ovl_create(p, &id, &fd)) < 0)
        goto out;
    if (src >= 0 && (rc = copy_fd(fd, src)) < 0) {
        close(fd);
        goto out;
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->fd_is_work = 1;
    persist_stream_unref(p, f->stream); /* reads go to the working copy from now on */
    f->stream = NULL;
    {
        uint64_t old = f->work;
        f->work = id;
        persist_ovl_release(p, old, f->path);
    }
    f->size = empty ? 0 : (src >= 0 ? lseek(fd, 0, SEEK_END) : 0);
    f->dirty = 1;
    /* A copy of earlier content was never hashed here: only an empty start can be. */
    if (empty || (src < 0 && f->size == 0))
        persist_hash_start(p, f, id);
    else
        persist_hash_drop(p, f), f->hash_ok = 0;
out:
    if (src >= 0)
        close(src);
    return rc;
}

/* Publishes f's working copy: point the change at it and append to the journal. `durable`
 * (fsync(2), or flush_ms 0): on disk before it returns, with everything published before it;
 * else the page cache holds both until the next durable point (journal.c). */
static int pfile_publish(struct persist *p, struct pfile *f, int durable)
{
    struct pchange *c;
    int rc;

    durable = durable || !p->cfg.flush_ms;
    if (!f->dirty || !f->path)
        return durable ? persist_journal_sync(p, 0) : 0;
    if (persist_cache_removed(p)) { /* its overlay file and the journal went with the cache */
        persist_log(p, SPACEFS_ERROR,
                    "persist: %s: the cache was removed while the file was open; what was "
                    "written to it is lost (EIO)",
                    f->path);
        return -EIO;
    }
    if (!durable && persist_ovl_unflushed(p, f->work) < 0)
        durable = 1; /* no memory for the note: flush it now */
    if (durable) {
        if (fsync(f->fd) < 0)
            return -errno;
        p->flushes++;
    }
    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->kind = PC_FILE;
    c->ovl = f->work;
    c->size = f->size;
    c->mtime = f->mtime;           /* the last write or utimens (a new file: its creation) */
    persist_hash_publish(p, f, c); /* the digest now, or from the hasher before the upload */
    if ((rc = persist_change_set(p, f->path, c)) < 0)
        return rc;
    f->dirty = 0;
    rc = durable ? persist_journal_write(p) : persist_journal_write_lazy(p);
    persist_changed(p);
    return rc;
}

static void pfile_unref(struct persist *p, struct pfile *f)
{
    struct pfile **pp;
    uint64_t id;

    if (--f->refs)
        return;
    for (pp = &p->files; *pp != f; pp = &(*pp)->next)
        ;
    *pp = f->next;
    persist_hash_drop(p, f); /* published at close already, or never will be */
    if (f->fd >= 0)
        close(f->fd);
    persist_stream_unref(p, f->stream);
    id = f->work;
    f->work = 0;
    persist_ovl_release(p, id, f->path);
    free(f->path);
    free(f->pin.path);
    free(f->hidden); /* its last close: the hidden name goes too */
    free(f);
}

/* Detaches f from its path (unlinked, or replaced by a rename): its handles keep reading and
 * writing the content it had. Without an open fd that content is pinned now: the overlay file
 * or cached object is opened (an unlinked file stays readable), or the object's entry is kept
 * to download it on first read. Lock held; never dropped here. */
void persist_pfile_detach(struct persist *p, struct pfile *f)
{
    const struct persist_rentry *e;

    if (f->fd < 0 && f->path) {
        struct pchange *c = persist_map_get(&p->changes, f->path);
        if (c && c->kind == PC_FILE && c->ovl) {
            char *s = persist_ovl_path(p, c->ovl);
            f->fd = s ? open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
            f->fd_is_work = 0;
            free(s);
        } else if ((e = path_object(p, f->path))) {
            char *s = persist_obj_path(p, e);
            f->fd = s ? open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
            f->fd_is_work = 0;
            free(s);
            if (f->fd < 0 && (f->pin.path = strdup(e->path ? e->path : f->path))) {
                char *keep = f->pin.path;
                f->pin = *e;
                f->pin.path = keep;
            }
        }
    }
    if (f->path) { /* fstat keeps answering with them */
        f->ino = persist_ino(p, f->path);
        f->mode = persist_meta_mode(p, f->path, PERSIST_KIND_FILE);
    }
    free(f->path);
    f->path = NULL;
}

/* Attaches the detached f at `path` again (free now): a rename that libfuse hid f's name for was
 * refused (namespace.c). Its content is published there as a private working copy, with `mtime`
 * unless it was written since; its inode number comes back with it. Lock held. */
int persist_pfile_relink(struct persist *p, struct pfile *f, const char *path, int64_t mtime)
{
    int rc;

    if (f->path)
        return -EBUSY;
    if (!(f->path = strdup(path)))
        return -ENOMEM;
    if ((rc = pfile_make_work(p, f, 0)) < 0) { /* a copy unless f's is private already */
        free(f->path);
        f->path = NULL;
        return rc;
    }
    if (!f->mtime)
        f->mtime = mtime;
    f->dirty = 1;
    if (persist_map_put(&p->inos, path, (void *)(uintptr_t)f->ino) < 0)
        persist_map_del(&p->inos, path); /* no memory: a new number */
    return pfile_publish(p, f, 1);       /* as the namespace change it undoes: on disk */
}

static struct pfile *pfile_get(struct persist *p, const char *path)
{
    struct pfile *f = persist_pfile_find(p, path);
    if (f) {
        f->refs++;
        return f;
    }
    if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path))) {
        free(f);
        return NULL;
    }
    f->fd = -1;
    f->refs = 1;
    f->next = p->files;
    p->files = f;
    return f;
}

int persist_file_open(struct persist *p, const char *path, int flags, mode_t mode,
                      struct persist_handle **out)
{
    struct persist_handle *h = NULL;
    int acc = flags & O_ACCMODE, rc, k;
    struct pfile *f = NULL;
    char *np = NULL;
    const char *at;

    *out = NULL;
    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    /* before the first fetch: an LFS file reads at once, a name absent at the pinned commit is
     * created and written at once, the rest waits (provisional.c) */
    rc = acc == O_RDONLY && !(flags & (O_CREAT | O_TRUNC))
             ? persist_prov_learn(p, np, 1)
             : persist_await_base_unless_local(p, np, NULL);
    if (rc < 0)
        goto out;
    if ((at = persist_map_get(&p->hide_alias, np))) { /* see persist_hidden_alias */
        free(np);
        if (!(np = strdup(at))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if (!*np) {
        rc = -EISDIR;
        goto out;
    }
    if ((rc = persist_check_ancestors(p, np)) < 0)
        goto out;
    if ((acc != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) && (rc = persist_writable(p)) < 0)
        goto out;
    k = persist_node_kind(p, np);
    if (k == PERSIST_KIND_DIR) {
        rc = -EISDIR;
        goto out;
    }
    if (k == PERSIST_KIND_FILE && (flags & O_CREAT) && (flags & O_EXCL)) {
        rc = -EEXIST;
        goto out;
    }
    if (k == PERSIST_KIND_NONE) {
        struct pchange *c;
        uint64_t id = 0;
        int fd = -1;
        if (!(flags & O_CREAT)) {
            rc = persist_absent(p, np);
            goto out;
        }
        if ((rc = persist_names_known(p)) < 0 || (rc = persist_parent_is_dir(p, np)) < 0 ||
            (rc = ovl_create(p, &id, &fd)) < 0)
            goto out;
        if (!(c = calloc(1, sizeof(*c))) || !(f = pfile_get(p, np))) {
            free(c);
            close(fd);
            rc = -ENOMEM;
            goto out;
        }
        /* The new file is its own working copy, dirty so that close() publishes it even
         * when nothing is written. */
        f->fd = fd;
        f->fd_is_work = 1;
        f->work = id;
        f->dirty = 1;
        persist_hash_start(p, f, id);
        c->kind = PC_FILE;
        c->ovl = id;
        if ((rc = persist_change_set(p, np, c)) < 0)
            goto out;
        f->mtime = c->mtime; /* closing without a write keeps the creation time */
        persist_meta_created(p, np, mode);
        persist_changed(p);
    } else if (!(f = pfile_get(p, np))) {
        rc = -ENOMEM;
        goto out;
    } else if (f->stream && f->fd < 0 && persist_stream_refused(f->stream)) {
        persist_stream_unref(p, f->stream); /* wrong bytes were served: a new open fetches anew */
        f->stream = NULL;
    }
    if (!(h = calloc(1, sizeof(*h)))) {
        rc = -ENOMEM;
        goto out;
    }
    h->f = f;
    h->flags = flags;
    if ((flags & O_TRUNC) && acc != O_RDONLY && (rc = pfile_make_work(p, f, 1)) < 0)
        goto out;
    *out = h;
    h = NULL;
    f = NULL;
out:
    if (f)
        pfile_unref(p, f);
    pthread_mutex_unlock(&p->lock);
    free(h);
    free(np);
    return rc;
}

/* Gives f a content source for reading: a local file (overlay, cached object, a blob fetched
 * whole) in f->fd, or, for an LFS object not cached yet, a stream that fetches what is read.
 * Lock held; dropped while a whole object downloads (then another thread may have attached a
 * source meanwhile: the fd wins). */
static int pfile_attach(struct persist *p, struct pfile *f)
{
    const struct persist_rentry *e = NULL;
    int fd, rc;

    if (f->path) {
        struct pchange *c = persist_map_get(&p->changes, f->path);
        if (!(c && c->kind == PC_FILE && c->ovl))
            e = path_object(p, f->path);
    } else if (f->pin.path) {
        e = &f->pin;
    }
    if (e && e->is_lfs && p->remote.ops->object_range) {
        char *s = persist_obj_path(p, e);
        if (!s)
            return -ENOMEM;
        fd = open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        rc = fd < 0 ? -errno : 0;
        free(s);
        if (fd >= 0) {
            futimens(fd, NULL); /* LRU */
            f->fd = fd;
            f->fd_is_work = 0;
            return 0;
        }
        if (rc != -ENOENT)
            return rc;
        return persist_stream_get(p, e, f->path ? f->path : e->path, &f->stream);
    }
    if ((rc = pfile_source(p, f, &fd)) < 0)
        return rc;
    if (f->fd >= 0) /* another thread opened it while the lock was dropped */
        close(fd);
    else
        f->fd = fd, f->fd_is_work = 0;
    return 0;
}

long persist_read(struct persist *p, struct persist_handle *h, void *buf, size_t size, int64_t off)
{
    struct pfile *f = h->f;
    struct pstream *s;
    long rc;

    if ((h->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    pthread_mutex_lock(&p->lock);
    if (f->fd < 0 && !f->stream && (rc = pfile_attach(p, f)) < 0)
        goto out;
    if (f->fd >= 0) { /* local bytes: a working copy being written wins over any stream */
        rc = pread(f->fd, buf, size, off);
        if (rc < 0)
            rc = -errno;
        goto out;
    }
    /* a cold LFS object: wait for the bytes without the engine's lock (other files go on) */
    s = f->stream;
    persist_stream_ref(s);
    pthread_mutex_unlock(&p->lock);
    rc = persist_stream_read(s, &h->rs, buf, size, off);
    pthread_mutex_lock(&p->lock);
    persist_stream_unref(p, s);
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

long persist_write(struct persist *p, struct persist_handle *h, const void *buf, size_t size,
                   int64_t off)
{
    struct pfile *f = h->f;
    long rc;

    if ((h->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    pthread_mutex_lock(&p->lock);
    if ((rc = persist_writable(p)) < 0 || (rc = pfile_make_work(p, f, 0)) < 0)
        goto out;
    if (h->flags & O_APPEND)
        off = f->size;
    rc = pwrite(f->fd, buf, size, off);
    if (rc < 0) {
        rc = -errno;
        f->hash_ok = 0;
        persist_hash_drop(p, f);
        goto out;
    }
    if (rc > 0) /* hashed behind the writer (hasher.c): only bytes appended right at the end */
        persist_hash_wrote(p, f, off, rc);
    if (rc > 0 && off + rc > f->size) /* an empty write does not extend the file */
        f->size = off + rc;
    f->dirty = 1;
    f->mtime = persist_now_ns(); /* the time of the write, not of the close */
    persist_changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_ftruncate(struct persist *p, struct persist_handle *h, int64_t size)
{
    struct pfile *f = h->f;
    int rc;

    if ((h->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (size < 0)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    if ((rc = persist_writable(p)) < 0 || (rc = pfile_make_work(p, f, size == 0)) < 0)
        goto out;
    if (ftruncate(f->fd, size) < 0) {
        rc = -errno;
        f->hash_ok = 0;
        persist_hash_drop(p, f);
        goto out;
    }
    if (size != f->size) { /* shrunk: the digest covers cut bytes; grown: zeros were not hashed */
        f->hash_ok = 0;
        persist_hash_drop(p, f);
    }
    f->size = size;
    f->dirty = 1;
    f->mtime = persist_now_ns(); /* the time of the write, not of the close */
    persist_changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_flush(struct persist *p, struct persist_handle *h)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    rc = pfile_publish(p, h->f, 0);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_file_sync(struct persist *p, struct persist_handle *h)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    rc = pfile_publish(p, h->f, 1);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_release(struct persist *p, struct persist_handle *h)
{
    int rc;
    if (!h)
        return 0;
    pthread_mutex_lock(&p->lock);
    rc = pfile_publish(p, h->f, 0);
    pfile_unref(p, h->f);
    pthread_mutex_unlock(&p->lock);
    free(h);
    return rc;
}

int persist_local_sync(struct persist *p)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    rc = persist_journal_sync(p, 0);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_fsync(struct persist *p, struct persist_handle *h, unsigned timeout_ms)
{
    /* no local flush first: success means committed on the Hub, and the upload need not wait
     * for the disk (the worker flushes as after any close) */
    int rc = persist_flush(p, h);
    return rc < 0 ? rc : persist_sync_wait(p, timeout_ms);
}

int persist_truncate(struct persist *p, const char *path, int64_t size)
{
    struct persist_handle *h;
    int rc = persist_file_open(p, path, O_WRONLY, 0, &h);
    if (rc < 0)
        return rc;
    rc = persist_ftruncate(p, h, size);
    if (rc == 0)
        rc = persist_release(p, h);
    else
        persist_release(p, h);
    return rc;
}

/* detached: what its handles read and write; no name links to it any more */
void persist_detached_stat(struct persist *p, struct pfile *f, struct stat *st)
{
    struct stat fst;

    (void)p;
    memset(st, 0, sizeof(*st));
    st->st_ino = (ino_t)f->ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mode = f->mode ? f->mode : S_IFREG | 0644;
    st->st_nlink = 0;
    if (f->work)
        st->st_size = f->size;
    else if (f->fd >= 0 && fstat(f->fd, &fst) == 0)
        st->st_size = fst.st_size;
    else if (f->pin.path)
        st->st_size = f->pin.size;
    persist_stat_time(&st->st_mtim, f->mtime ? f->mtime : f->pin.mtime);
    st->st_ctim = st->st_atim = st->st_mtim;
    st->st_blocks = (st->st_size + 511) / 512;
}

int persist_fgetattr(struct persist *p, struct persist_handle *h, struct stat *st)
{
    struct pfile *f = h->f;

    pthread_mutex_lock(&p->lock);
    if (f->path) {
        persist_fill_stat(p, f->path, PERSIST_KIND_FILE, st);
        if (f->dirty && f->mtime)
            persist_stat_time(&st->st_mtim, f->mtime);
        goto out;
    }
    persist_detached_stat(p, f, st);
out:
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int persist_futimens(struct persist *p, struct persist_handle *h, const struct timespec tv[2])
{
    char *path = NULL;
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    if (h->f->path && !(path = strdup(h->f->path)))
        rc = -ENOMEM;
    else if (!h->f->path && (!tv || tv[1].tv_nsec != UTIME_OMIT)) /* detached: only its */
        h->f->mtime = !tv || tv[1].tv_nsec == UTIME_NOW           /* handles see it */
                          ? persist_now_ns()
                          : (int64_t)tv[1].tv_sec * PERSIST_NS + tv[1].tv_nsec;
    pthread_mutex_unlock(&p->lock);
    if (path)
        rc = persist_utimens(p, path, tv);
    free(path);
    return rc;
}
