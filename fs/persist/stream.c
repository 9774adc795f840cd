/* Streaming reads of LFS objects that are not cached yet: a cold read returns as soon as the
 * bytes it needs have arrived. One struct pstream per object being fetched, shared by every
 * open file that reads it: a sparse file objects/.part.<name>.<n> plus the sorted list of the
 * byte ranges present in it, filled by ranged requests (remote.h object_range).
 *
 * The prefetcher follows mountpoint-s3's (mountpoint-s3-fs/src/prefetch.rs and
 * prefetch/backpressure_controller.rs): requests grow while a reader stays sequential and a
 * non-sequential read abandons the readahead and starts again small. Here each handle keeps the
 * offset its last read ended at and a window: a read that starts there doubles the window
 * (PSTREAM_WINDOW_MIN 256 KiB up to PSTREAM_WINDOW_MAX 64 MiB) and asks the stream's readahead
 * thread to fetch up to window bytes past the read, extending it (as the backpressure
 * controller does) only once less than half a window is left ahead of the reader, so requests
 * stay large; any other read resets the window and fetches what it touches plus a small tail
 * (PSTREAM_DEMAND_MIN 64 KiB) in the reader's own thread. Bytes are marked present as each
 * chunk lands, so a reader waiting for the readahead returns mid-request.
 *
 * The sha256 is taken as the bytes land: the request that brings the bytes right after the
 * hashed prefix hashes them from its own buffer once the readers are woken (a sequential
 * download is hashed without being read back: one copy and a thread hand-off less per byte,
 * which is a third of the daemon's CPU on 2 vCPUs). What lands elsewhere (a random read, a
 * second request) is hashed later by a hasher thread per stream, which reads the sparse file
 * back a megabyte at a time once the prefix before it has filled; `hashing` says who holds
 * the digest. Once the whole object has been seen, reads wait for the verdict: a
 * match renames the part file to objects/<name> (a cached object like any other, under the
 * cache's bound); a mismatch deletes it, logs one line and fails that read and every later one
 * of this stream with EIO (a new open fetches anew). Nothing is fetched past the object's size.
 * Bytes are present only once written to the part file, so a write that fails (the cache's disk
 * is full) loses nothing that a read could return: the request stops, the read that needed it
 * fails with EIO, and the stream logs that once, however many reads fail after it.
 * After its last close a stream seen in part stays idle with its ranges for the next open of the
 * same object (PSTREAM_IDLE_MAX of them per engine; all are dropped at persist_close).
 *
 * Locks: p->lock, then s->lock (never the other way round); neither is held across a remote
 * call or a hash of more than one chunk. */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PSTREAM_WINDOW_MIN ((int64_t)256 << 10)
#define PSTREAM_WINDOW_MAX ((int64_t)64 << 20)
#define PSTREAM_DEMAND_MIN ((int64_t)64 << 10)
#define PSTREAM_FETCHES    16 /* requests in flight per object, at most */
#define PSTREAM_IDLE_MAX   4  /* objects seen in part kept after their last close, at most */
#define PSTREAM_HASH_STEP  ((int64_t)1 << 20) /* the hasher reads this much at a time */

struct prange {
    int64_t start, end; /* [start, end) */
};

/* A request in flight: bytes [pos, end) are still to arrive. */
struct pfetch {
    int64_t pos, end;
    int used;
};

struct pstream {
    struct persist *p;       /* borrowed: persist_close joins and frees every stream */
    struct persist_rentry e; /* e.path owned */
    char name[80];           /* "l<sha256>", its name in objects/ once verified */
    char *part;              /* objects/.part.<name>.<n> */
    int fd;                  /* the part file (read-write), -1 after a failure */
    struct pstream *next;    /* p->streams */
    unsigned refs;           /* guarded by p->lock */
    int mapped;              /* findable in p->streams by name (p->lock) */
    uint64_t idle_tick;      /* when refs last fell to 0 (p->lock) */

    pthread_mutex_t lock; /* after p->lock; guards everything below */
    pthread_cond_t cond;  /* bytes arrived, a request ended, the state changed */
    struct prange *have;  /* sorted, disjoint, not adjacent */
    size_t nhave, caphave;
    struct pfetch fetch[PSTREAM_FETCHES];
    hub_sha256 hash;      /* whoever set `hashing` updates it; the verdict reads it */
    int64_t hashed;       /* hash covers [0, hashed) */
    int hashing;          /* a sink or the hasher is updating `hash` outside the lock */
    pthread_cond_t hcond; /* the hasher: a step's worth of prefix arrived, or stop */
    pthread_t hasher;
    int hasher_started;
    int state; /* 0 filling, 1 verified (the part file is objects/<name>), < 0 -errno */
    int stop;  /* persist_close: the readahead ends */
    /* the readahead: a thread fetching [ra_pos, ra_end) for the handle `ra_owner` */
    int ra_running, ra_joinable;
    pthread_t ra_thread;
    int64_t ra_pos, ra_end;
    uint64_t ra_gen; /* bumped when the readahead is moved: its request in flight stops */
    const void *ra_owner;
    int ra_err;      /* the readahead's last failure (-errno), 0 none */
    int disk_logged; /* a failed write to the part file was logged: once per stream */
    int64_t wake_at; /* the least end a waiting reader needs, INT64_MAX none (atomic: the sinks
                      * read it outside the lock to flush as soon as it is covered) */
};

/* ---- the map of present ranges (s->lock held) -------------------------------------------- */

/* The first byte >= off that is not present (s->e.size when none). */
static int64_t first_missing(const struct pstream *s, int64_t off)
{
    for (size_t i = 0; i < s->nhave && s->have[i].start <= off; i++)
        if (s->have[i].end > off)
            off = s->have[i].end;
    return off < s->e.size ? off : s->e.size;
}

/* The start of the first present range after `off` (s->e.size when none). */
static int64_t next_present(const struct pstream *s, int64_t off)
{
    for (size_t i = 0; i < s->nhave; i++)
        if (s->have[i].start > off)
            return s->have[i].start;
    return s->e.size;
}

static int have_add(struct pstream *s, int64_t start, int64_t end)
{
    size_t i = 0, j;

    while (i < s->nhave && s->have[i].end < start)
        i++;
    j = i;
    while (j < s->nhave && s->have[j].start <= end) {
        if (s->have[j].start < start)
            start = s->have[j].start;
        if (s->have[j].end > end)
            end = s->have[j].end;
        j++;
    }
    if (j > i) { /* merged with have[i, j): keep one slot */
        s->have[i].start = start;
        s->have[i].end = end;
        memmove(&s->have[i + 1], &s->have[j], (s->nhave - j) * sizeof(*s->have));
        s->nhave -= j - i - 1;
        return 0;
    }
    if (s->nhave == s->caphave) {
        size_t cap = s->caphave ? s->caphave * 2 : 16;
        struct prange *v = realloc(s->have, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->have = v;
        s->caphave = cap;
    }
    memmove(&s->have[i + 1], &s->have[i], (s->nhave - i) * sizeof(*s->have));
    s->have[i].start = start;
    s->have[i].end = end;
    s->nhave++;
    return 0;
}

/* Is byte `off` going to arrive from a request in flight? */
static int in_flight(const struct pstream *s, int64_t off)
{
    for (int i = 0; i < PSTREAM_FETCHES; i++)
        if (s->fetch[i].used && s->fetch[i].pos <= off && off < s->fetch[i].end)
            return 1;
    return 0;
}

static struct pfetch *fetch_slot(struct pstream *s)
{
    for (int i = 0; i < PSTREAM_FETCHES; i++)
        if (!s->fetch[i].used)
            return &s->fetch[i];
    return NULL;
}

/* ---- receiving bytes ----------------------------------------------------------------------- */

/* What one request brings is gathered in `buf` and written to the part file a batch at a time
 * (fewer writes, locks and wake-ups), sooner once the bytes a waiting reader needs are in. */
#define PSTREAM_BATCH ((size_t)256 << 10)

struct sink {
    struct pstream *s;
    struct pfetch *f;
    uint64_t gen;       /* readahead: stop when s->ra_gen moves; demand: UINT64_MAX */
    int err;            /* -errno of a local failure */
    int disk;           /* it was a write to the part file (a full disk) */
    unsigned char *buf; /* PSTREAM_BATCH bytes, NULL: write every chunk as it comes */
    size_t fill;        /* bytes in buf, for [f->pos, f->pos + fill) */
};

static int write_at(struct sink *k, const void *data, size_t len, int64_t at)
{
    const char *p = data;
    for (size_t off = 0; off < len;) {
        ssize_t n = pwrite(k->s->fd, p + off, len - off, at + (int64_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            k->err = n < 0 ? -errno : -EIO;
            k->disk = 1;
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

/* Wakes the hasher when a step's worth of prefix is waiting for it, or all of it. s->lock held. */
static void hasher_kick(struct pstream *s)
{
    int64_t prefix = first_missing(s, s->hashed);
    if (!s->hashing && (prefix - s->hashed >= PSTREAM_HASH_STEP || prefix == s->e.size))
        pthread_cond_signal(&s->hcond);
}

/* Marks [f->pos, f->pos + len) present (written already from `data`) and wakes who waits; the
 * bytes right after the hashed prefix are hashed here, from `data`, after the readers are woken
 * (a sequential download is hashed as it lands, without reading it back). Nonzero: stop. */
static int landed(struct sink *k, const void *data, size_t len)
{
    struct pstream *s = k->s;
    int64_t at = k->f->pos;
    int stop, here;

    pthread_mutex_lock(&s->lock);
    if (have_add(s, at, at + (int64_t)len) < 0)
        k->err = -ENOMEM;
    k->f->pos = at + (int64_t)len;
    here = !k->err && !s->hashing && s->hashed == at && s->state == 0;
    if (here)
        s->hashing = 1;
    else
        hasher_kick(s);
    __atomic_store_n(&s->wake_at, INT64_MAX, __ATOMIC_RELAXED); /* who still waits says again */
    pthread_cond_broadcast(&s->cond);
    stop = k->err || s->stop || s->state < 0 || (k->gen != UINT64_MAX && k->gen != s->ra_gen);
    pthread_mutex_unlock(&s->lock);
    if (here) {
        hub_sha256_update(&s->hash, data, len);
        pthread_mutex_lock(&s->lock);
        s->hashed += (int64_t)len;
        s->hashing = 0;
        hasher_kick(s); /* the rest of a prefix that grew meanwhile, or the verdict */
        pthread_mutex_unlock(&s->lock);
    }
    return stop;
}

/* Writes out what buf holds. Nonzero: stop. */
static int sink_flush(struct sink *k)
{
    size_t n = k->fill;
    if (!n)
        return 0;
    k->fill = 0;
    if (write_at(k, k->buf, n, k->f->pos) < 0)
        return 1;
    return landed(k, k->buf, n);
}

static int sink_data(const void *data, size_t len, void *payload)
{
    struct sink *k = payload;
    int64_t wake;

    if ((int64_t)(k->fill + len) > k->f->end - k->f->pos) { /* never past what was asked */
        k->err = -EIO;
        return 1;
    }
    if (!k->buf || len > PSTREAM_BATCH) {
        if (sink_flush(k) || write_at(k, data, len, k->f->pos) < 0)
            return 1;
        return landed(k, data, len);
    }
    if (k->fill + len > PSTREAM_BATCH && sink_flush(k))
        return 1;
    memcpy(k->buf + k->fill, data, len);
    k->fill += len;
    if (k->fill >= PSTREAM_BATCH)
        return sink_flush(k);
    /* a waiting reader whose bytes are all here gets them now (wake_at is read without the
     * lock: at worst they wait for the end of the batch) */
    wake = __atomic_load_n(&k->s->wake_at, __ATOMIC_RELAXED);
    if (wake > k->f->pos && k->f->pos + (int64_t)k->fill >= (wake < k->f->end ? wake : k->f->end))
        return sink_flush(k);
    return 0;
}

/* Fetches [start, end) into the part file. s->lock held; dropped during the request. The slot
 * is registered (readers wait for it instead of asking again) and released before returning.
 * 0, 1 when stopped by a move of the readahead, or -errno. */
static int fetch_range(struct pstream *s, int64_t start, int64_t end, uint64_t gen)
{
    struct spacefs_error err = {0};
    struct sink k = {s, NULL, gen, 0, 0, NULL, 0};
    enum spacefs_status st;
    struct persist *p = s->p;
    int rc = 0, quiet = 0;

    while (!(k.f = fetch_slot(s)))
        pthread_cond_wait(&s->cond, &s->lock);
    k.f->used = 1;
    k.f->pos = start;
    k.f->end = end;
    pthread_mutex_unlock(&s->lock);
    k.buf = end - start > (int64_t)PSTREAM_BATCH ? malloc(PSTREAM_BATCH) : NULL;
    st = p->remote.ops->object_range(p->remote.ctx, &s->e, start, end - start, sink_data, &k, &err);
    if (sink_flush(&k) && st == SPACEFS_OK && !k.err)
        st = SPACEFS_E_CANCELLED; /* stopped with the last batch */
    free(k.buf);
    pthread_mutex_lock(&s->lock);
    if (k.disk) { /* the cache's disk (full, read-only, ...): the read fails with EIO */
        rc = -EIO;
        quiet = s->disk_logged;
        s->disk_logged = 1;
    } else if (k.err) {
        rc = k.err;
    } else if (st == SPACEFS_E_CANCELLED && (s->stop || s->state != 0 || gen != s->ra_gen)) {
        rc = 1;
    } else if (st != SPACEFS_OK) {
        rc = -spacefs_errno_from_status(st);
    } else if (k.f->pos != end) {
        snprintf(err.message, sizeof(err.message), "the server sent %lld of %lld bytes",
                 (long long)(k.f->pos - start), (long long)(end - start));
        st = SPACEFS_E_PROTOCOL;
        rc = -EIO;
    }
    k.f->used = 0;
    pthread_cond_broadcast(&s->cond);
    if (rc < 0 && !quiet) {
        pthread_mutex_unlock(&s->lock);
        persist_log(p, SPACEFS_WARN, "persist: cannot fetch %s (bytes %lld-%lld): %s %s", s->e.path,
                    (long long)start, (long long)end - 1,
                    k.err ? strerror(-k.err) : spacefs_status_name(st),
                    k.disk ? "(writing it to the cache; its reads fail with EIO, logged once)"
                           : err.message);
        pthread_mutex_lock(&s->lock);
    }
    return rc;
}

/* ---- hashing and the verdict --------------------------------------------------------------- */

/* The verdict once all of the object is hashed. s->lock held; dropped while renaming. */
static void verdict(struct pstream *s)
{
    struct persist *p = s->p;
    char hex[PERSIST_OID_MAX], *dst = NULL;
    int ok;

    hub_sha256_hex(&s->hash, hex);
    ok = strcmp(hex, s->e.lfs_oid) == 0;
    pthread_mutex_unlock(&s->lock);
    if (!ok) {
        unlink(s->part);
        persist_log(p, SPACEFS_ERROR,
                    "persist: %s: the downloaded object's sha256 is %s, not %s; evicted (EIO)",
                    s->e.path, hex, s->e.lfs_oid);
    } else if (asprintf(&dst, "%s/objects/%s", p->dir, s->name) >= 0 && rename(s->part, dst) == 0) {
        futimens(s->fd, NULL); /* most recently used */
        persist_obj_evict(p, s->name);
    } else {
        ok = -1; /* not cached, but the bytes are right: readers go on from the part file */
    }
    pthread_mutex_lock(&s->lock);
    if (ok == 1) {
        free(s->part);
        s->part = dst;
        dst = NULL;
    }
    s->state = ok ? 1 : -EIO;
    pthread_cond_broadcast(&s->cond);
    free(dst);
}

/* Hashes the prefix as it fills, a step at a time, then gives the verdict. */
static void *hash_main(void *arg)
{
    struct pstream *s = arg;
    unsigned char *buf = malloc((size_t)PSTREAM_HASH_STEP);

    pthread_mutex_lock(&s->lock);
    while (!s->stop && s->state == 0) {
        int64_t upto = first_missing(s, s->hashed), at = s->hashed, n;
        ssize_t got;
        if (s->hashing || (upto - at < PSTREAM_HASH_STEP && upto != s->e.size)) {
            pthread_cond_wait(&s->hcond, &s->lock); /* a sink is hashing, or too little yet */
            continue;
        }
        if (s->hashed == s->e.size) {
            verdict(s);
            break;
        }
        n = upto - at < PSTREAM_HASH_STEP ? upto - at : PSTREAM_HASH_STEP;
        s->hashing = 1;
        pthread_mutex_unlock(&s->lock);
        got = buf ? pread(s->fd, buf, (size_t)n, at) : -1;
        if (got > 0)
            hub_sha256_update(&s->hash, buf, (size_t)got);
        pthread_mutex_lock(&s->lock);
        s->hashing = 0;
        if (got <= 0) {
            s->state = -EIO;
            pthread_cond_broadcast(&s->cond);
            break;
        }
        s->hashed += got;
    }
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return NULL;
}

/* ---- the readahead thread ------------------------------------------------------------------ */

static void *ra_main(void *arg)
{
    struct pstream *s = arg;

    pthread_mutex_lock(&s->lock);
    while (!s->stop && s->state == 0) {
        int64_t start = first_missing(s, s->ra_pos), end;
        uint64_t gen = s->ra_gen;
        int rc;

        while (start < s->ra_end && in_flight(s, start)) { /* a reader asked for it already */
            for (int i = 0; i < PSTREAM_FETCHES; i++)
                if (s->fetch[i].used && s->fetch[i].pos <= start && start < s->fetch[i].end)
                    start = first_missing(s, s->fetch[i].end);
        }
        if (start >= s->ra_end)
            break;
        end = next_present(s, start);
        if (end > s->ra_end)
            end = s->ra_end;
        rc = fetch_range(s, start, end, gen);
        if (rc < 0) {
            s->ra_err = rc;
            break;
        }
        if (gen == s->ra_gen)
            s->ra_pos = end;
    }
    /* last, under the lock: a reader that sees 0 may join this thread while holding it */
    s->ra_running = 0;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Makes the readahead fetch [from, to) for `owner` next. s->lock held. */
static void ra_want(struct pstream *s, const void *owner, int64_t from, int64_t to)
{
    if (to > s->e.size)
        to = s->e.size;
    if (s->ra_running && s->ra_owner == owner && from >= s->ra_pos && from <= s->ra_end) {
        if (to > s->ra_end)
            s->ra_end = to;
        return;
    }
    if (s->ra_running && s->ra_owner != owner)
        return; /* another reader's stream: this one fetches on demand */
    if (s->ra_running)
        s->ra_gen++; /* the reader moved: the request in flight stops */
    s->ra_owner = owner;
    s->ra_pos = from;
    s->ra_end = to;
    s->ra_err = 0;
    if (s->ra_running || s->stop)
        return;
    if (s->ra_joinable) {
        pthread_join(s->ra_thread, NULL); /* it finished: ra_running is 0 */
        s->ra_joinable = 0;
    }
    if (pthread_create(&s->ra_thread, NULL, ra_main, s) == 0)
        s->ra_running = s->ra_joinable = 1;
}

/* ---- the engine's side --------------------------------------------------------------------- */

static void stream_free(struct pstream *s)
{
    if (s->ra_joinable)
        pthread_join(s->ra_thread, NULL);
    if (s->hasher_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_signal(&s->hcond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->hasher, NULL);
    }
    if (s->fd >= 0)
        close(s->fd);
    if (s->part && (s->state != 1 || strstr(s->part, "/.part.")))
        unlink(s->part); /* an object not seen whole, refused or not renamed is not kept */
    free(s->part);
    free(s->e.path);
    free(s->have);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->hcond);
    free(s);
}

int persist_stream_get(struct persist *p, const struct persist_rentry *e, const char *path,
                       struct pstream **out)
{
    static unsigned long seq;
    struct pstream *s;
    char name[80];

    *out = NULL;
    snprintf(name, sizeof(name), "l%s", e->lfs_oid);
    for (s = p->streams; s; s = s->next)
        if (s->mapped && !strcmp(s->name, name)) {
            pthread_mutex_lock(&s->lock);
            if (s->state < 0)
                s->mapped = 0; /* refused: later opens start over */
            pthread_mutex_unlock(&s->lock);
            if (s->mapped) {
                s->refs++;
                *out = s;
                return 0;
            }
        }
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    s->p = p;
    s->fd = -1;
    s->e = *e;
    memcpy(s->name, name, sizeof(name));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->hcond, NULL);
    s->wake_at = INT64_MAX;
    hub_sha256_init(&s->hash);
    if (!(s->e.path = strdup(e->path ? e->path : path)) ||
        asprintf(&s->part, "%s/objects/.part.%s.%lu", p->dir, name,
                 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED)) < 0) {
        s->part = NULL;
        stream_free(s);
        return -ENOMEM;
    }
    s->fd = open(s->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->fd < 0) {
        int rc = -errno;
        free(s->part);
        s->part = NULL;
        stream_free(s);
        return rc;
    }
    if (pthread_create(&s->hasher, NULL, hash_main, s) != 0) {
        stream_free(s);
        return -EAGAIN;
    }
    s->hasher_started = 1;
    s->refs = 1;
    s->mapped = 1;
    s->next = p->streams;
    p->streams = s;
    *out = s;
    return 0;
}

void persist_stream_ref(struct pstream *s)
{
    s->refs++;
}

/* Takes s out of p->streams, lets a verdict that is due arrive, stops its threads, frees it. */
static void stream_release(struct persist *p, struct pstream *s)
{
    struct pstream **pp;

    for (pp = &p->streams; *pp && *pp != s; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = s->next;
    pthread_mutex_lock(&s->lock);
    while (s->state == 0 && s->hasher_started && first_missing(s, 0) == s->e.size)
        pthread_cond_wait(&s->cond, &s->lock); /* seen whole: the verdict caches it */
    s->stop = 1;
    s->ra_gen++;
    pthread_mutex_unlock(&s->lock);
    stream_free(s); /* joins the readahead, which stops at its next chunk, and the hasher */
}

void persist_stream_unref(struct persist *p, struct pstream *s)
{
    static uint64_t tick;
    struct pstream *it, *oldest;
    int keep, idle = 0;

    if (!s || --s->refs)
        return;
    /* An object seen in part stays idle (its ranges kept, its readahead stopped) for the next
     * open of it, up to PSTREAM_IDLE_MAX of them, least recently closed dropped first. */
    pthread_mutex_lock(&s->lock);
    keep = s->mapped && s->state == 0 && first_missing(s, 0) < s->e.size;
    if (keep) {
        s->ra_end = s->ra_pos; /* nothing more to fetch: the readahead ends */
        s->ra_gen++;
        s->idle_tick = ++tick;
    }
    pthread_mutex_unlock(&s->lock);
    if (!keep) {
        stream_release(p, s);
        return;
    }
    for (it = p->streams; it; it = it->next)
        idle += !it->refs;
    while (idle-- > PSTREAM_IDLE_MAX) {
        oldest = NULL;
        for (it = p->streams; it; it = it->next)
            if (!it->refs && (!oldest || it->idle_tick < oldest->idle_tick))
                oldest = it;
        stream_release(p, oldest);
    }
}

void persist_streams_close(struct persist *p)
{
    while (p->streams)
        stream_release(p, p->streams);
}

int persist_stream_refused(struct pstream *s)
{
    int v;
    pthread_mutex_lock(&s->lock);
    v = s->state < 0;
    pthread_mutex_unlock(&s->lock);
    return v;
}

/* Waits for more bytes to land (s->lock held): the sinks flush as soon as [.., need) is in. */
static void wait_bytes(struct pstream *s, int64_t need)
{
    if (need < __atomic_load_n(&s->wake_at, __ATOMIC_RELAXED))
        __atomic_store_n(&s->wake_at, need, __ATOMIC_RELAXED);
    pthread_cond_wait(&s->cond, &s->lock);
}

long persist_stream_read(struct pstream *s, struct persist_readstate *rs, void *buf, size_t size,
                         int64_t off)
{
    int64_t end, m;
    int waited_ra = 0;
    long rc = 0;

    if (off < 0)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    if (s->state < 0) {
        rc = s->state;
        goto out;
    }
    if (off >= s->e.size || size == 0)
        goto out;
    end = off + (int64_t)size < s->e.size ? off + (int64_t)size : s->e.size;
    /* sequential: this read starts where the handle's last one ended */
    if (off == rs->next) {
        rs->window = rs->window ? rs->window * 2 : PSTREAM_WINDOW_MIN;
        if (rs->window > PSTREAM_WINDOW_MAX)
            rs->window = PSTREAM_WINDOW_MAX;
    } else {
        rs->window = 0;
    }
    rs->next = end;
    if (rs->window && first_missing(s, off) < s->e.size) {
        int64_t ahead = s->ra_running && s->ra_owner == rs ? s->ra_end - end : 0;
        if (!s->ra_running || s->ra_owner != rs || ahead < rs->window / 2)
            ra_want(s, rs, first_missing(s, off), end + rs->window);
    }
    while ((m = first_missing(s, off)) < end) {
        int64_t dend;
        if (s->state < 0) {
            rc = s->state;
            goto out;
        }
        if (s->ra_running && s->ra_owner == rs && s->ra_pos <= m && m < s->ra_end) {
            waited_ra = 1;
            wait_bytes(s, end);
            continue;
        }
        if (waited_ra && !s->ra_running && s->ra_err) {
            rc = s->ra_err; /* the readahead this read waited for failed: so does the read */
            goto out;
        }
        if (in_flight(s, m)) {
            wait_bytes(s, end);
            continue;
        }
        /* nobody is bringing byte m: fetch it here, with a small tail (or the window) */
        dend = m + (rs->window > PSTREAM_DEMAND_MIN ? rs->window : PSTREAM_DEMAND_MIN);
        if (dend < end)
            dend = end;
        if (dend > s->e.size)
            dend = s->e.size;
        if (next_present(s, m) >= end && next_present(s, m) < dend)
            dend = next_present(s, m);
        if ((rc = fetch_range(s, m, dend, UINT64_MAX)) < 0) {
            if (first_missing(s, off) < end)
                goto out;
            rc = 0; /* another request brought it meanwhile */
        }
    }
    while (s->state == 0 && first_missing(s, 0) == s->e.size) /* seen whole: the verdict */
        pthread_cond_wait(&s->cond, &s->lock);
    if (s->state < 0) { /* the whole object was seen and refused */
        rc = s->state;
        goto out;
    }
    pthread_mutex_unlock(&s->lock);
    rc = pread(s->fd, buf, (size_t)(end - off), off);
    return rc < 0 ? -errno : rc;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
