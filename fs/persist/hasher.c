/* The sha256 of a file written in order, taken behind the writer. persist_write used to hash
 * every write under the engine's lock: a 1 MiB write spent 0.7 ms of CPU in sha256 (more than
 * the pwrite), and cp waited for it. Now the writer only notes how far the file has grown
 * (persist_hash_wrote), and one thread per engine reads the appended bytes back from the page
 * cache and hashes them, without the lock, while the writer goes on. The digest is needed only
 * by an LFS upload (the batch names the object by it): close() finishes a short rest itself, else
 * the hasher hands the digest to the change when done, and the worker waits for it before a
 * commit (persist_hash_wait). Without the thread (it could not start), close() hashes what is
 * left itself. Lock held in every function here unless said otherwise. */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_CHUNK 65536
/* The hasher reads and hashes this much at a time, and is woken once a writer is that far ahead
 * of it; close() hashes a rest up to HASH_INLINE itself (a small file never waits for it). */
#define HASH_CHUNK  ((int64_t)1 << 20)
#define HASH_INLINE ((int64_t)1 << 20)

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
void persist_hash_drop(struct persist *p, struct pfile *f)
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
    persist_hash_drop(p, f);
    return -1;
}

/* A running hash for f's working copy `id`, empty so far; the hasher starts on first use.
 * Without memory f has none: the upload hashes the file. */
void persist_hash_start(struct persist *p, struct pfile *f, uint64_t id)
{
    struct phash *h;

    persist_hash_drop(p, f);
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
void persist_hash_publish(struct persist *p, struct pfile *f, struct pchange *c)
{
    struct phash *h = f->ph;
    char buf[COPY_CHUNK];

    if (!h)
        return;
    if (!f->hash_ok || h->dead || h->size != f->size) {
        persist_hash_drop(p, f);
        return;
    }
    if (!h->busy &&
        (h->size - h->hashed <= HASH_INLINE || p->hasher_state != 1 || phash_own_fd(p, f) < 0)) {
        if (!f->ph) /* no descriptor for the hasher: given up */
            return;
        p->hashed_inline += (uint64_t)(h->size - h->hashed);
        if (phash_feed(h, h->fd >= 0 ? h->fd : f->fd, h->size, buf, sizeof(buf)) == 0)
            hub_sha256_hex(&h->ctx, c->sha256);
        persist_hash_drop(p, f);
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

void persist_hash_wrote(struct persist *p, struct pfile *f, int64_t off, long n)
{
    if (f->hash_ok && f->ph && off == f->size) {
        f->ph->size = off + n;
        if (f->ph->size - f->ph->hashed >= HASH_CHUNK && !f->ph->busy && p->hasher_state == 1 &&
            phash_own_fd(p, f) == 0)
            pthread_cond_signal(&p->hcond);
    } else {
        f->hash_ok = 0;
        persist_hash_drop(p, f);
    }
}
