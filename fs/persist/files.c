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
/* The hasher reads and hashes this much at a time, and is woken once a writer is that far ahead
 * of it; close() hashes a rest up to HASH_INLINE itself (a small file never waits for it). */
#define HASH_CHUNK  ((int64_t)1 << 20)
#define HASH_INLINE ((int64_t)1 << 20)

/* ---- the hasher: the sha256 of a file written in order, taken behind the writer ------------
 * persist_write used to hash every write under the engine's lock: a 1 MiB write spent 0.7 ms of
 * CPU in sha256 (more than the pwrite), and cp waited for it. Now the writer only notes how far the
 * file has grown, and one thread per engine reads the appended bytes back from the page cache
 * and hashes them, without the lock, while the writer goes on. The digest is needed only by an
 * LFS upload (the batch names the object by it): close() finishes a short rest itself, else the
 * hasher hands the digest to the change when done, and the worker waits for it before a
 * commit. Without the thread (it could not start), close() hashes what is left itself. */

static void phash_unlink(struct persist *p, struct phash *h)
{
    struct phash **pp;
    for (pp = &p->hashes; *pp && *pp != h; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = h->next;
    if (h->fd >= 0)
        close(h->fd);
    free(h);
}

/* f's running hash is given up (an out-of-order write, a new working copy, the last close). */
static void phash_drop(struct persist *p, struct pfile *f)
{
    struct phash *h = f->ph;
    f->ph = NULL;
    if (!h)
        return;
    h->dead = 1;
    if (!h->busy) /* else the hasher frees it after its chunk */
        phash_unlink(p, h);
}

/* Reads [h->hashed, upto) of h's file (open as fd) into its digest (the caller holds the lock,
 * or the hasher owns h while busy). */
static int phash_feed(struct phash *h, int fd, int64_t upto, char *buf, size_t cap)
{
    while (h->hashed < upto) {
        size_t want = (size_t)(upto - h->hashed < (int64_t)cap ? upto - h->hashed : (int64_t)cap);
        ssize_t n = pread(fd, buf, want, h->hashed);
        if (n <= 0)
            return n < 0 ? -errno : -EIO; /* shorter than written: not the bytes we saw */
        hub_sha256_update(&h->ctx, buf, (size_t)n);
        h->hashed += n;
    }
    return 0;
}

/* The digest of a published hash goes to the change that names its overlay file, if any still
 * does (renamed: under its new path; replaced or removed: nobody wants it). Lock held. */
static void phash_deliver(struct persist *p, struct phash *h)
{
    char hex[PERSIST_OID_MAX];

    hub_sha256_hex(&h->ctx, hex);
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if (c->kind == PC_FILE && c->ovl == h->ovl && !c->sha256[0] && c->size == h->size) {
            memcpy(c->sha256, hex, sizeof(c->sha256));
            persist_journal_touch(p, it->key); /* the next journal write records it */
        }
    }
}

static void *hasher_main(void *arg)
{
    struct persist *p = arg;
    /* read 64 KiB at a time: the copy stays in the CPU's cache for the hash (256 MiB from the
     * page cache: 0.24 s of CPU against 0.39 s with 1 MiB reads, see hub_sha256_fd) */
    char *buf = malloc(COPY_CHUNK);

    pthread_mutex_lock(&p->lock);
    while (!p->hasher_stop) {
        struct phash *h, *pick = NULL;
        int64_t upto, from;
        int rc;

        /* published first (the worker may be waiting), then a writer a chunk ahead */
        for (h = p->hashes; h; h = h->next) {
            if (h->dead || h->busy || h->hashed >= h->size || h->fd < 0)
                continue;
            if (h->published) {
                pick = h;
                break;
            }
            if (!pick && h->size - h->hashed >= HASH_CHUNK)
                pick = h;
        }
        if (!pick || !buf) {
            pthread_cond_wait(&p->hcond, &p->lock);
            continue;
        }
        h = pick;
        upto = h->published ? h->size : h->hashed + (h->size - h->hashed) / HASH_CHUNK * HASH_CHUNK;
        if (upto - h->hashed > 8 * HASH_CHUNK) /* let close() see progress between chunks */
            upto = h->hashed + 8 * HASH_CHUNK;
        h->busy = 1;
        pthread_mutex_unlock(&p->lock);
        from = h->hashed;
        rc = phash_feed(h, h->fd, upto, buf, COPY_CHUNK);
        pthread_mutex_lock(&p->lock);
        p->hashed_behind += (uint64_t)(h->hashed - from);
        h->busy = 0;
        if (rc < 0)
            h->dead = 1;
        if (h->dead) {
            if (h->published) /* the upload hashes the file itself */
                pthread_cond_broadcast(&p->done);
            phash_unlink(p, h);
        } else if (h->published && h->hashed == h->size) {
            phash_deliver(p, h);
            phash_unlink(p, h);
            pthread_cond_broadcast(&p->done); /* persist_hash_wait */
        }
    }
    pthread_mutex_unlock(&p->lock);
    free(buf);
    return NULL;
}

/* The hasher's own descriptor of f's working copy, taken once the writer is a chunk ahead (a
 * small file is hashed by close() from f's descriptor and never needs one). 0, or -1: without
 * it, f's hash is given up (the upload hashes the file). */
static int phash_own_fd(struct persist *p, struct pfile *f)
{
    if (f->ph->fd >= 0)
        return 0;
    if ((f->ph->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0)) >= 0)
        return 0;
    f->hash_ok = 0;
    phash_drop(p, f);
    return -1;
}

/* A running hash for f's working copy `id`, empty so far; the hasher starts on first use.
 * Without memory f has none: the upload hashes the file. */
static void phash_start(struct persist *p, struct pfile *f, uint64_t id)
{
    struct phash *h;

    phash_drop(p, f);
    f->hash_ok = 0;
    if (p->hasher_state == 0) {
        p->hasher_state = -1;
        if (pthread_cond_init(&p->hcond, NULL) == 0) {
            if (pthread_create(&p->hasher, NULL, hasher_main, p) == 0)
                p->hasher_state = 1;
            else
                pthread_cond_destroy(&p->hcond);
        }
    }
    if (!(h = calloc(1, sizeof(*h))))
        return;
    h->fd = -1;
    h->ovl = id;
    hub_sha256_init(&h->ctx);
    h->next = p->hashes;
    p->hashes = h;
    f->ph = h;
    f->hash_ok = 1;
}

/* close(): the digest of f's working copy into c->sha256 when it is ready or the rest is
 * short; else the hasher delivers it later (phash_deliver). Lock held, never dropped. */
static void phash_publish(struct persist *p, struct pfile *f, struct pchange *c)
{
    struct phash *h = f->ph;
    char buf[COPY_CHUNK];

    if (!h)
        return;
    if (!f->hash_ok || h->dead || h->size != f->size) {
        phash_drop(p, f);
        return;
    }
    if (!h->busy &&
        (h->size - h->hashed <= HASH_INLINE || p->hasher_state != 1 || phash_own_fd(p, f) < 0)) {
        if (!f->ph) /* no descriptor for the hasher: given up */
            return;
        p->hashed_inline += (uint64_t)(h->size - h->hashed);
        if (phash_feed(h, h->fd >= 0 ? h->fd : f->fd, h->size, buf, sizeof(buf)) == 0)
            hub_sha256_hex(&h->ctx, c->sha256);
        phash_drop(p, f);
        return;
    }
    h->published = 1; /* its size is final: a later write makes a new working copy */
    f->ph = NULL;
    pthread_cond_signal(&p->hcond);
}

void persist_hash_wait(struct persist *p)
{
    for (;;) {
        struct phash *h;
        for (h = p->hashes; h && !(h->published && !h->dead); h = h->next)
            ;
        if (!h || p->stop || p->hasher_state != 1)
            return;
        pthread_cond_wait(&p->done, &p->lock);
    }
}

void persist_hasher_stop(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->hasher_state == 1) {
        p->hasher_stop = 1;
        pthread_cond_broadcast(&p->hcond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->hasher, NULL);
        pthread_mutex_lock(&p->lock);
        pthread_cond_destroy(&p->hcond);
    }
    p->hasher_state = -1;
    while (p->hashes) {
        for (struct pfile *f = p->files; f; f = f->next)
            if (f->ph == p->hashes)
                f->ph = NULL;
        phash_unlink(p, p->hashes);
    }
    pthread_mutex_unlock(&p->lock);
}

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
            phash_start(p, f, f->work);
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
        phash_start(p, f, id);
    else
        phash_drop(p, f), f->hash_ok = 0;
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
    c->mtime = f->mtime;    /* the last write or utimens (a new file: its creation) */
    phash_publish(p, f, c); /* the digest now, or from the hasher before the upload */
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
    phash_drop(p, f); /* published at close already, or never will be */
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
    /* before the first fetch: an LFS file reads at once, the rest waits (provisional.c) */
    rc = acc == O_RDONLY && !(flags & (O_CREAT | O_TRUNC)) ? persist_prov_learn(p, np, 1)
                                                           : persist_await_base(p);
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
            rc = -ENOENT;
            goto out;
        }
        if ((rc = persist_parent_is_dir(p, np)) < 0 || (rc = ovl_create(p, &id, &fd)) < 0)
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
        phash_start(p, f, id);
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
        phash_drop(p, f);
        goto out;
    }
    /* Hashed behind the writer (the hasher above): only bytes appended right at the end. */
    if (f->hash_ok && f->ph && rc > 0 && off == f->size) {
        f->ph->size = off + rc;
        if (f->ph->size - f->ph->hashed >= HASH_CHUNK && !f->ph->busy && p->hasher_state == 1 &&
            phash_own_fd(p, f) == 0)
            pthread_cond_signal(&p->hcond);
    } else if (rc > 0) {
        f->hash_ok = 0;
        phash_drop(p, f);
    }
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
        phash_drop(p, f);
        goto out;
    }
    if (size != f->size) { /* shrunk: the digest covers cut bytes; grown: zeros were not hashed */
        f->hash_ok = 0;
        phash_drop(p, f);
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
