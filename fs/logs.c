/* logs/build and logs/run. One follow stream per open log, shared by the handles that have it
 * open. Opening waits until the stream has delivered what the Hub had buffered: the quiet timer
 * starts only once the stream is open (the backend's "open" signal or a first line); then the
 * open returns after QUIET_MS without a line, or after BUSY_MS of continuous output (a Space
 * that logs all the time), or when the stream ends. A stream that fails before opening makes
 * the open fail with its errno; no answer at all within SETTLE_MAX_MS is ETIMEDOUT. Afterwards
 * the stream keeps appending, so the file's size grows and `tail -f` (which polls st_size on
 * FUSE) sees new lines. A stream the Hub closes is reopened with backoff; the replayed lines are
 * skipped by timestamp.
 *
 * Memory is bounded: past cfg.log_cap the oldest whole lines are dropped. Offsets stay those of
 * the whole log (st_size only grows): bytes [0, base) that were dropped read as one filler line,
 * a marker padded with spaces and ending in a newline at base - 1, so successive reads at
 * increasing offsets never repeat or cut a kept line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

enum { LOGS_DIR = 0, LOGS_FILE = 1 }; /* kinds; n->file: enum spacefs_log_kind */
static const char *const logs_names[] = {"logs", NULL};
static const char *const log_names[] = {"build", "run"};

/* A log of one Space being read: shared by the open handles of the same file. */
struct logbuf {
    /* lock order: fs->lock, then lb->lock */
    pthread_mutex_t lock;
    int refs; /* under fs->lock */
    char *id;
    enum spacefs_log_kind kind;
    char *data; /* bytes [base, base+len) of the log */
    size_t len, cap, max;
    uint64_t base;
    int64_t last_ts; /* newest timestamp delivered */
    void *cancel;
    pthread_t thread;
    int thread_started;
    struct spacefs_fs *fs;
    struct logbuf *next;
    /* the stream's state, under lock */
    pthread_cond_t cond; /* with lock: new data, settled, ended */
    int settled;         /* the backlog is in */
    int stop;
    int attempts;           /* streams ended */
    enum spacefs_status st; /* of the last stream that ended */
    struct spacefs_error err;
    int64_t started_ms, opened_ms, last_line_ms; /* opened_ms: stream open or first line */
    int replaying;
    size_t replay_seen;
    size_t lines_at_last_ts;
};

/* The open logs (the subtree's state; under fs->lock). */
static struct logbuf **logs_head(struct spacefs_fs *fs)
{
    return (struct logbuf **)router_state(fs, &spacefs_logs_ops);
}

static void logbuf_release(struct spacefs_fs *fs, struct logbuf *lb);

#define QUIET_MS      400
#define BUSY_MS       2000
#define SETTLE_MAX_MS 15000
#define RECONNECT_MS  1000
#define RECONNECT_MAX 30000

static const char dropped_marker[] = "[spacefs: older lines of this log were dropped (log cap)]";

/* Appends one line. Makes room by dropping whole lines from the front; a line longer than the
 * whole buffer keeps its head. */
static void append_locked(struct logbuf *lb, const char *line, size_t len)
{
    size_t need = len + 1;

    if (need > lb->max) {
        len = lb->max - 1;
        need = lb->max;
    }
    if (lb->len + need > lb->max) {
        size_t drop = lb->len + need - lb->max;
        const char *nl = memchr(lb->data + drop - 1, '\n', lb->len - (drop - 1));
        drop = nl ? (size_t)(nl - lb->data) + 1 : lb->len; /* up to the end of that line */
        memmove(lb->data, lb->data + drop, lb->len - drop);
        lb->len -= drop;
        lb->base += drop;
    }
    if (lb->len + need > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 4096;
        char *d;
        while (cap < lb->len + need)
            cap *= 2;
        if (cap > lb->max)
            cap = lb->max;
        if (!(d = realloc(lb->data, cap)))
            return;
        lb->data = d;
        lb->cap = cap;
    }
    memcpy(lb->data + lb->len, line, len);
    lb->data[lb->len + len] = '\n';
    lb->len += need;
}

static int on_line(const char *line, size_t len, int64_t ts, void *payload)
{
    struct logbuf *lb = payload;
    int stop;

    pthread_mutex_lock(&lb->lock);
    if ((stop = lb->stop))
        goto out;
    if (!lb->opened_ms)
        lb->opened_ms = spacefs_now_ms();
    if (!line) { /* the stream is open: the quiet timer may start */
        pthread_cond_broadcast(&lb->cond);
        goto out;
    }
    if (lb->replaying && ts > 0) {
        if (ts < lb->last_ts)
            goto out;
        if (ts == lb->last_ts && lb->replay_seen < lb->lines_at_last_ts) {
            lb->replay_seen++;
            goto out;
        }
    }
    lb->replaying = 0;
    append_locked(lb, line, len);
    if (ts > 0 && ts == lb->last_ts) {
        lb->lines_at_last_ts++;
    } else if (ts > 0) {
        lb->last_ts = ts;
        lb->lines_at_last_ts = 1;
    }
    lb->last_line_ms = spacefs_now_ms();
    pthread_cond_broadcast(&lb->cond);
out:
    pthread_mutex_unlock(&lb->lock);
    return stop;
}

static void wait_ms_locked(struct logbuf *lb, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&lb->cond, &lb->lock, &ts);
}

static void *follow_thread(void *arg)
{
    struct logbuf *lb = arg;
    struct spacefs_fs *fs = lb->fs;
    int64_t delay = RECONNECT_MS;

    for (;;) {
        struct spacefs_error err = {0};
        enum spacefs_status st;

        st = fs->be.ops->logs_follow(fs->be.ctx, lb->id, lb->kind, on_line, lb, lb->cancel, &err);
        spacefs_count_call(fs, st);
        pthread_mutex_lock(&lb->lock);
        lb->attempts++;
        lb->st = st;
        lb->err = err;
        pthread_cond_broadcast(&lb->cond);
        if (lb->stop) {
            pthread_mutex_unlock(&lb->lock);
            break;
        }
        if (st != SPACEFS_OK && lb->settled)
            spacefs_call_failed(fs, "follow log of", lb->id, st, &err);
        /* the Hub closed the stream (or it failed): reopen it, skipping what it replays */
        wait_ms_locked(lb, delay);
        delay = delay * 2 > RECONNECT_MAX ? RECONNECT_MAX : delay * 2;
        lb->replaying = 1;
        lb->replay_seen = 0;
        if (lb->stop) {
            pthread_mutex_unlock(&lb->lock);
            break;
        }
        pthread_mutex_unlock(&lb->lock);
    }
    return NULL;
}

static void logbuf_free(struct spacefs_fs *fs, struct logbuf *lb)
{
    if (lb->thread_started) {
        pthread_mutex_lock(&lb->lock);
        lb->stop = 1;
        pthread_cond_broadcast(&lb->cond);
        pthread_mutex_unlock(&lb->lock);
        fs->be.ops->cancel_trigger(lb->cancel);
        pthread_join(lb->thread, NULL);
    }
    if (lb->cancel)
        fs->be.ops->cancel_free(lb->cancel);
    pthread_cond_destroy(&lb->cond);
    pthread_mutex_destroy(&lb->lock);
    free(lb->data);
    free(lb->id);
    free(lb);
}

static struct logbuf *logbuf_new(struct spacefs_fs *fs, const struct node *n)
{
    struct logbuf *lb = calloc(1, sizeof(*lb));
    pthread_condattr_t ca;

    if (!lb)
        return NULL;
    pthread_mutex_init(&lb->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->cond, &ca);
    pthread_condattr_destroy(&ca);
    lb->fs = fs;
    lb->kind = (enum spacefs_log_kind)n->file;
    lb->max = fs->cfg.log_cap;
    lb->refs = 1;
    lb->id = strdup(n->id);
    lb->cancel = fs->be.ops->cancel_new(fs->be.ctx);
    if (!lb->id || !lb->cancel) {
        logbuf_free(fs, lb);
        return NULL;
    }
    lb->started_ms = spacefs_now_ms();
    if (pthread_create(&lb->thread, NULL, follow_thread, lb) != 0) {
        logbuf_free(fs, lb);
        return NULL;
    }
    lb->thread_started = 1;
    return lb;
}

/* Waits until the backlog is in (see the top of the file). 0, or the negative errno of a
 * stream that failed before delivering anything. */
static int logbuf_settle(struct spacefs_fs *fs, struct logbuf *lb)
{
    enum spacefs_status st = SPACEFS_OK;
    struct spacefs_error err;
    int rc = 0, timed_out = 0;

    pthread_mutex_lock(&lb->lock);
    while (!lb->settled) {
        int64_t now = spacefs_now_ms();
        int64_t last = lb->last_line_ms > lb->opened_ms ? lb->last_line_ms : lb->opened_ms;
        int failed = lb->attempts > 0 && lb->st != SPACEFS_OK && lb->len == 0 && lb->base == 0;

        if (failed) {
            st = lb->st;
            err = lb->err;
            lb->attempts = 0; /* a later open waits for the next stream's answer */
            break;
        }
        if (lb->attempts > 0 || (lb->opened_ms && now - last >= QUIET_MS) ||
            (lb->opened_ms && now - lb->opened_ms >= BUSY_MS)) {
            lb->settled = 1;
            pthread_cond_broadcast(&lb->cond);
            break;
        }
        if (!lb->opened_ms && now - lb->started_ms >= SETTLE_MAX_MS) {
            timed_out = 1; /* no answer at all yet; a later open waits again */
            lb->started_ms = now;
            break;
        }
        wait_ms_locked(lb, 50);
    }
    pthread_mutex_unlock(&lb->lock);
    if (st != SPACEFS_OK) {
        rc = spacefs_call_failed(fs, "read log of", lb->id, st, &err);
    } else if (timed_out) {
        spacefs_log(SPACEFS_WARN, "read log of %s: no answer from the Hub in %d s", lb->id,
                    SETTLE_MAX_MS / 1000);
        rc = -ETIMEDOUT;
    }
    return rc;
}

static int logbuf_open(struct spacefs_fs *fs, const struct node *n, struct logbuf **out)
{
    struct logbuf *lb, *mine = NULL;
    int rc;

    *out = NULL;
    pthread_mutex_lock(&fs->lock);
    for (lb = *logs_head(fs); lb; lb = lb->next)
        if ((int)lb->kind == n->file && strcmp(lb->id, n->id) == 0)
            break;
    if (lb) {
        lb->refs++;
    } else if ((mine = logbuf_new(fs, n))) {
        mine->next = *logs_head(fs);
        *logs_head(fs) = lb = mine;
    }
    pthread_mutex_unlock(&fs->lock);
    if (!lb)
        return -ENOMEM;
    if ((rc = logbuf_settle(fs, lb)) < 0) {
        logbuf_release(fs, lb);
        return rc;
    }
    *out = lb;
    return 0;
}

static void logbuf_release(struct spacefs_fs *fs, struct logbuf *lb)
{
    struct logbuf **pp;
    int last;

    if (!lb)
        return;
    pthread_mutex_lock(&fs->lock);
    last = --lb->refs == 0;
    if (last)
        for (pp = logs_head(fs); *pp; pp = &(*pp)->next)
            if (*pp == lb) {
                *pp = lb->next;
                break;
            }
    pthread_mutex_unlock(&fs->lock);
    if (last)
        logbuf_free(fs, lb); /* joins the follow thread: no lock held */
}

/* Byte i (< base) of the dropped region: the marker, spaces, a newline at base - 1. */
static char filler_at(uint64_t i, uint64_t base)
{
    if (i + 1 == base)
        return '\n';
    return i < sizeof(dropped_marker) - 1 ? dropped_marker[i] : ' ';
}

static long logbuf_read(struct logbuf *lb, char *buf, size_t size, int64_t off)
{
    uint64_t o = off < 0 ? 0 : (uint64_t)off;
    size_t n = 0;

    pthread_mutex_lock(&lb->lock);
    while (n < size && o < lb->base)
        buf[n++] = filler_at(o++, lb->base);
    if (n < size && o < lb->base + lb->len) {
        size_t k = (size_t)(lb->base + lb->len - o);
        if (k > size - n)
            k = size - n;
        memcpy(buf + n, lb->data + (o - lb->base), k);
        n += k;
    }
    pthread_mutex_unlock(&lb->lock);
    return (long)n;
}

static uint64_t logbuf_size(struct spacefs_fs *fs, const struct node *n)
{
    struct logbuf *lb;
    uint64_t size = 0;

    pthread_mutex_lock(&fs->lock);
    for (lb = *logs_head(fs); lb; lb = lb->next)
        if ((int)lb->kind == n->file && strcmp(lb->id, n->id) == 0) {
            pthread_mutex_lock(&lb->lock);
            size = lb->base + lb->len;
            pthread_mutex_unlock(&lb->lock);
            break;
        }
    pthread_mutex_unlock(&fs->lock);
    return size;
}

/* ---- the subtree ---------------------------------------------------------------------------- */
static int logs_parse(struct spacefs_fs *fs, struct node *n, int entry, const char *rest)
{
    (void)fs;
    (void)entry;
    if (!rest[0])
        return 0;
    for (n->file = 0; n->file < 2; n->file++)
        if (strcmp(rest, log_names[n->file]) == 0) {
            n->kind = LOGS_FILE;
            return 0;
        }
    return -ENOENT;
}

static int logs_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct space_ent *se;
    int64_t mtime = 0;
    int rc;

    if ((rc = spacefs_ns_ensure(fs, n->ns)) < 0)
        return rc;
    if (!spacefs_ns_is_own(fs, n->ns))
        return -ENOENT;
    pthread_mutex_lock(&fs->lock);
    if ((se = spacefs_space_find_locked(fs, n->ns, n->space)))
        mtime = se->sp.last_modified;
    pthread_mutex_unlock(&fs->lock);
    if (!se)
        return -ENOENT;
    if (n->kind == LOGS_DIR)
        router_fill(fs, st, S_IFDIR | 0555, 0, mtime);
    else
        router_fill(fs, st, S_IFREG | 0444, logbuf_size(fs, n), 0);
    return 0;
}

static int logs_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                        void *payload)
{
    (void)fs;
    (void)n;
    if (!fn(log_names[0], NULL, payload))
        fn(log_names[1], NULL, payload);
    return 0;
}

static int logs_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, mode_t mode,
                     int create)
{
    struct logbuf *lb = NULL;
    int rc;

    (void)rest;
    (void)mode;
    if (create)
        return -ENOSYS;
    if ((rc = router_open_check(fs, &h->n, h->flags)) < 0 || (rc = logbuf_open(fs, &h->n, &lb)) < 0)
        return rc;
    h->state = lb;
    return 0;
}

static long logs_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                      int64_t off)
{
    (void)fs;
    return logbuf_read(h->state, buf, size, off);
}

static void logs_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    logbuf_release(fs, h->state);
}

static void logs_free(struct spacefs_fs *fs)
{
    while (*logs_head(fs)) {
        struct logbuf *lb = *logs_head(fs);
        lb->refs = 1;
        logbuf_release(fs, lb);
    }
}

const struct spacefs_subtree_ops spacefs_logs_ops = {
    .name = "logs",
    .names = logs_names,
    .shown = router_shown_own,
    .parse = logs_parse,
    .getattr = logs_getattr,
    .readdir = logs_readdir,
    .open = logs_open,
    .read = logs_read,
    .release = logs_release,
    .free = logs_free,
};
