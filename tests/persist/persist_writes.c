/* Unit tests of the write path's local durability and commit pacing on the fake remote: close()
 * makes no disk flush (a kill -9 loses nothing: persist.unit's crash test), fsync(2), fsync of a
 * directory and a namespace change flush what closes left, a utimens is appended unflushed, a
 * file whose bytes a power loss took (its journal line on disk, its overlay file short) is
 * dropped at load instead of read or uploaded cut, a full batch (max_commit_files) commits
 * without waiting for the quiet period and the rest of its burst without min_interval_ms, the
 * content held in memory by one commit is bounded, the parts of a burst are chained without a
 * fetch between them, and waiters return before the fetch that follows a commit. Prints "N passed,
 * N failed". */
#include "persist.h"
#include "hubclient.h"
#include "remote_fake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_io.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_dropped; /* "did not reach the disk" lines */
static void log_fn(enum spacefs_log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    if (strstr(msg, "did not reach the disk"))
        log_dropped++;
    pthread_mutex_unlock(&log_lock);
}

static struct persist *open_engine(struct persist_fake *fk, const char *cache, int worker,
                                   void (*tweak)(struct persist_config *))
{
    struct persist_config cfg;
    struct persist *p = NULL;
    int rc;

    persist_config_init(&cfg);
    cfg.cache_dir = cache;
    cfg.no_worker = !worker;
    cfg.ttl_ms = 0;
    cfg.backoff_base_ms = 10;
    cfg.backoff_max_ms = 50;
    cfg.log = log_fn;
    if (tweak)
        tweak(&cfg);
    rc = persist_open(&p, &cfg, persist_fake_remote(fk));
    if (rc < 0)
        printf("persist_open(%s): %s\n", cache, strerror(-rc));
    return p;
}

static uint64_t flushes(struct persist *p)
{
    struct persist_state st;
    persist_state_get(p, &st);
    return st.flushes;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The overlay files of a cache, by name, into names[] (at most 8); returns how many. */
static int overlay_files(const char *cache, char names[8][1024])
{
    char dir[512];
    struct dirent *de;
    DIR *d;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/overlay", cache);
    if (!(d = opendir(dir)))
        return 0;
    while ((de = readdir(d)) && n < 8)
        if (de->d_name[0] != '.')
            snprintf(names[n++], sizeof(names[0]), "%s/%s", dir, de->d_name);
    closedir(d);
    return n;
}

/* close() flushes nothing; fsync, fsync of a directory and mkdir flush what closes left. */
static void test_close_unflushed(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("unflushed"), 0, NULL);
    struct persist_handle *h;
    struct timespec tv[2] = {{1000, 0}, {2000, 0}};
    uint64_t f0, f1;
    char buf[16];

    CHECK(p && persist_sync_now(p) == 0, "open");
    CHECK(put(p, "a", "1", 1) == 0, "first close");
    f0 = flushes(p);
    CHECK(put(p, "b", "2", 1) == 0 && put(p, "c", "3", 1) == 0 && put(p, "a", "4", 1) == 0,
          "three more closes");
    CHECK(flushes(p) == f0, "closes made no disk flush (%llu)",
          (unsigned long long)(flushes(p) - f0));
    CHECK(persist_utimens(p, "b", tv) == 0 && flushes(p) == f0, "a utimens makes none either");
    CHECK(get(p, "a", buf, sizeof(buf)) == 1 && buf[0] == '4', "reads see what was closed");
    CHECK(persist_file_open(p, "c", O_RDONLY, 0, &h) == 0, "open c");
    CHECK(persist_file_sync(p, h) == 0, "fsync of a file not written through this handle");
    f1 = flushes(p);
    /* the overlay files of a, b, c (a's earlier one is garbage now) and the journal */
    CHECK(f1 >= f0 + 4, "fsync flushed what the closes left (%llu)", (unsigned long long)(f1 - f0));
    CHECK(persist_file_sync(p, h) == 0 && flushes(p) == f1, "a second fsync: nothing left");
    persist_release(p, h);
    CHECK(put(p, "d", "5", 1) == 0 && persist_local_sync(p) == 0 && flushes(p) >= f1 + 2,
          "fsync of a directory flushes a close");
    f1 = flushes(p);
    CHECK(put(p, "e", "6", 1) == 0 && persist_mkdir(p, "dir", 0755) == 0 && flushes(p) >= f1 + 2,
          "a namespace change flushes the closes before it");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* fsync with -o fsync=hub: the upload starts without a local flush first (success means the Hub
 * has it; the local flush follows as after any close). */
struct hub_fsync_ctx {
    struct persist *p;
    uint64_t at_commit; /* flushes when the commit call started */
    int seen;
};

static void hub_fsync_hook(void *payload, enum persist_fake_op op, int after)
{
    struct hub_fsync_ctx *c = payload;
    if (op == PERSIST_FAKE_COMMIT && !after && !c->seen) {
        c->seen = 1;
        c->at_commit = flushes(c->p);
    }
}

static void test_hub_fsync_no_flush(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("hubfsync"), 0, NULL);
    struct hub_fsync_ctx c = {p, 0, 0};
    struct persist_handle *h;
    uint64_t f0;

    CHECK(p && persist_sync_now(p) == 0, "open");
    CHECK(persist_file_open(p, "a", O_WRONLY | O_CREAT, 0644, &h) == 0 &&
              persist_write(p, h, "data", 4, 0) == 4,
          "write");
    f0 = flushes(p);
    persist_fake_on_call(fk, hub_fsync_hook, &c);
    CHECK(persist_fsync(p, h, 10000) == 0, "fsync (Hub) commits");
    persist_fake_on_call(fk, NULL, NULL);
    CHECK(c.seen && c.at_commit == f0, "no disk flush before the upload (%llu)",
          (unsigned long long)(c.at_commit - f0));
    persist_release(p, h);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_durable_close(struct persist_config *c)
{
    c->flush_ms = 0;
}

/* flush_ms 0: every close flushes, as before. */
static void test_flush_ms_zero(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("durable"), 0, tweak_durable_close);
    uint64_t f0;

    CHECK(p && put(p, "a", "1", 1) == 0, "first close");
    f0 = flushes(p);
    CHECK(put(p, "b", "2", 1) == 0 && flushes(p) >= f0 + 2, "flush_ms 0: a close flushes");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* A power loss after the kernel wrote the journal's lines back but before the overlay file's
 * bytes: at load the file is dropped (the path shows its committed version, or nothing) and
 * nothing cut is uploaded. Simulated by cutting the overlay files of a closed cache. */
static void test_power_loss(void)
{
    struct persist_fake *fk = persist_fake_new();
    const char *cache = cache_path("power");
    struct persist *p = open_engine(fk, cache, 0, NULL);
    char names[8][1024], buf[64];
    void *data = NULL;
    size_t len = 0;
    struct stat st;
    int n;

    CHECK(p && put(p, "old", "committed", 9) == 0 && persist_sync_now(p) == 0, "a commit");
    CHECK(put(p, "old", "rewritten, not flushed", 22) == 0 &&
              put(p, "new", "never on disk", 13) == 0,
          "two closes");
    persist_close(p, 0);
    n = overlay_files(cache, names);
    CHECK(n == 2, "two overlay files (%d)", n);
    for (int i = 0; i < n; i++)
        CHECK(truncate(names[i], 0) == 0, "cut %s", names[i]);
    log_dropped = 0;
    p = open_engine(fk, cache, 0, NULL);
    CHECK(p != NULL, "reopens");
    CHECK(log_dropped == 2, "one log line per dropped file (%d)", log_dropped);
    CHECK(get(p, "old", buf, sizeof(buf)) == 9 && !memcmp(buf, "committed", 9),
          "the rewritten file shows its committed version");
    CHECK(persist_getattr(p, "new", &st) == -ENOENT, "the new file is gone, not empty");
    CHECK(persist_sync_now(p) == 0 && persist_fake_read(fk, "new", &data, &len) == -ENOENT,
          "nothing cut is uploaded");
    free(data);
    data = NULL;
    CHECK(persist_fake_read(fk, "old", &data, &len) == 0 && len == 9, "the Hub keeps the old");
    free(data);
    persist_close(p, 0);
    p = open_engine(fk, cache, 0, NULL);
    CHECK(p && persist_getattr(p, "new", &st) == -ENOENT, "still gone after another remount");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_batches(struct persist_config *c)
{
    c->max_commit_files = 4;
    c->quiet_ms = 60000;        /* writers never pause, as far as the worker knows */
    c->min_interval_ms = 60000; /* and commits are far apart */
    c->max_delay_ms = 0;
}

/* A full batch commits without the quiet period; the rest of its burst is not held back by
 * min_interval_ms once someone waits. */
static void test_full_batch(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("fullbatch"), 1, tweak_batches);
    unsigned before;
    int64_t t0;
    char name[16];
    int ok = 1;

    CHECK(p != NULL, "open");
    before = persist_fake_commit_count(fk);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        ok &= put(p, name, name, strlen(name)) == 0;
    }
    CHECK(ok, "four closes");
    t0 = now_ms();
    while (persist_fake_commit_count(fk) == before && now_ms() - t0 < 5000)
        usleep(10000);
    CHECK(persist_fake_commit_count(fk) == before + 1,
          "a full batch is committed without the quiet period (%lld ms)",
          (long long)(now_ms() - t0));
    CHECK(put(p, "f4", "f4", 2) == 0, "one more");
    t0 = now_ms();
    CHECK(persist_sync_wait(p, 20000) == 0 && now_ms() - t0 < 5000,
          "the rest of the burst follows at once when waited for (%lld ms)",
          (long long)(now_ms() - t0));
    CHECK(persist_fake_commit_count(fk) == before + 2, "two commits (%u)",
          persist_fake_commit_count(fk) - before);
    CHECK(put(p, "g", "g", 1) == 0, "after the burst");
    usleep(300000);
    CHECK(persist_fake_commit_count(fk) == before + 2,
          "a new change waits for the quiet period and min_interval_ms again");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* A burst's commits: the first full batch, a capped one, the rest of it (backlog), and a file
 * closed while that last part uploads: the burst is not over, so a waiter gets it committed at
 * once, not min_interval_ms (60 s) later. */
struct burst_ctx {
    struct persist *p;
    int calls;
};

static void burst_hook(void *payload)
{
    struct burst_ctx *b = payload;
    char name[16];

    b->calls++;
    if (b->calls == 1) { /* while the first batch uploads: a batch and one more */
        for (int i = 4; i < 9; i++) {
            snprintf(name, sizeof(name), "f%d", i);
            put(b->p, name, name, strlen(name));
        }
    } else if (b->calls == 3) { /* while the rest of the capped batch uploads */
        put(b->p, "late", "late", 4);
    }
}

static void test_burst_rest(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("burst"), 1, tweak_batches);
    struct burst_ctx b = {p, 0};
    void *data = NULL;
    size_t len = 0;
    int64_t t0;
    char name[16];
    int ok = 1;

    CHECK(p != NULL, "open");
    persist_fake_on_commit(fk, burst_hook, &b);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        ok &= put(p, name, name, strlen(name)) == 0;
    }
    t0 = now_ms();
    while (b.calls < 3 && now_ms() - t0 < 5000)
        usleep(10000);
    CHECK(ok && b.calls == 3, "a full batch, a capped one, its rest (%d commits)", b.calls);
    usleep(100000);
    t0 = now_ms();
    CHECK(persist_sync_wait(p, 20000) == 0 && now_ms() - t0 < 5000,
          "a file closed during the burst's last part is committed at once when waited for "
          "(%lld ms)",
          (long long)(now_ms() - t0));
    CHECK(persist_fake_read(fk, "late", &data, &len) == 0 && len == 4, "it is on the Hub");
    free(data);
    persist_fake_on_commit(fk, NULL, NULL);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* The parts of a burst go one on top of the other without a fetch between them (the parent of
 * the next is our own commit), a path put by one part and deleted before the next is deleted by
 * it (the base does not show the put yet), a commit by another writer between two parts still
 * fails the next one (412), which fetches and retries, and the fetch after the burst's last part
 * brings the base to the head. */
struct chain_ctx {
    struct persist *p;
    struct persist_fake *fk;
    volatile int commits, fetches_between; /* fetches between the first and second part */
    volatile int unlinked, remote_written;
    atomic_int closed; /* the ten files are closed: the worker's first probe may go on */
    char victim[16];   /* a file the first part put, unlinked right after it */
};

static void chain_hook(void *payload, enum persist_fake_op op, int after)
{
    struct chain_ctx *c = payload;

    /* The visibility probe comes before the first commit's snapshot: held until every file is
     * closed, so that the snapshot is capped at max_commit_files and the burst is what is
     * tested (a worker that counted 4 pending before the 5th close sent a whole, uncapped
     * snapshot, and with nobody waiting yet the fetch after it was right). */
    for (int i = 0; op == PERSIST_FAKE_PROBE && !after && !atomic_load(&c->closed) && i < 1000; i++)
        usleep(10 * 1000);

    if (op == PERSIST_FAKE_FETCH && !after && c->commits == 1)
        c->fetches_between++;
    if (op != PERSIST_FAKE_COMMIT || !after)
        return;
    c->commits++;
    if (c->commits == 1) { /* on the Hub; the base does not show it yet */
        for (int i = 0; i < 10 && !c->victim[0]; i++) {
            void *data = NULL;
            size_t len;
            snprintf(c->victim, sizeof(c->victim), "f%d", i);
            if (persist_fake_read(c->fk, c->victim, &data, &len) != 0)
                c->victim[0] = '\0';
            free(data);
        }
        c->unlinked = c->victim[0] && persist_unlink(c->p, c->victim) == 0;
    } else if (c->commits == 2) {
        c->remote_written = persist_fake_write(c->fk, "remote", "r", 1) == 0;
    }
}

static void test_burst_chained(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("chain"), 1, tweak_batches);
    struct chain_ctx c = {0};
    struct persist_state st;
    struct stat sb;
    char name[16], want[24], *list = NULL;
    void *data = NULL;
    size_t len = 0;
    int64_t t0;
    int ok = 1;

    CHECK(p != NULL, "open");
    if (!p)
        return;
    c.p = p;
    c.fk = fk;
    persist_fake_on_call(fk, chain_hook, &c);
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        ok &= put(p, name, name, strlen(name)) == 0;
    }
    atomic_store(&c.closed, 1);
    CHECK(ok, "ten closes");
    CHECK(persist_sync_wait(p, 20000) == 0, "synced");
    CHECK(c.commits >= 3 && c.fetches_between == 0,
          "the second part went on top of the first without a fetch (%d commits, %d fetches "
          "between)",
          c.commits, c.fetches_between);
    CHECK(c.unlinked && c.remote_written, "the hooks ran");
    CHECK(persist_fake_read(fk, c.victim, &data, &len) == -ENOENT,
          "%s, unlinked after the part that put it, is deleted on the Hub", c.victim);
    free(data);
    data = NULL;
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        if (strcmp(name, c.victim) && persist_fake_read(fk, name, &data, &len) != 0)
            ok = 0;
        free(data);
        data = NULL;
    }
    CHECK(ok, "the other nine are there");
    CHECK(persist_fake_read(fk, "remote", &data, &len) == 0 && len == 1,
          "the other writer's file is kept (412, fetch, retry)");
    free(data);
    t0 = now_ms();
    do {
        persist_state_get(p, &st);
        if (!strcmp(st.base, st.last_commit))
            break;
        usleep(10000);
    } while (now_ms() - t0 < 5000);
    CHECK(st.last_commit[0] && !strcmp(st.base, st.last_commit),
          "the fetch after the burst brings the base to the head (%s, %s)", st.base,
          st.last_commit);
    CHECK(persist_getattr(p, "remote", &sb) == 0 && persist_getattr(p, c.victim, &sb) == -ENOENT,
          "the view has the other writer's file and not %s", c.victim);
    list = persist_fake_list(fk);
    snprintf(want, sizeof(want), "%s\n", c.victim);
    CHECK(list && !strstr(list, want), "the Hub's list: %s", list ? list : "-");
    free(list);
    persist_fake_on_call(fk, NULL, NULL);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_unbounded(struct persist_config *c)
{
    c->max_commit_files = 0;
}

/* One commit holds at most 16 MiB of files that may go inline: three of 7 MiB go in two. */
static void test_inline_budget(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("budget"), 0, tweak_unbounded);
    size_t len = (size_t)7 << 20;
    char *big = malloc(len);
    unsigned before;
    int ok = 1;

    CHECK(p && big && persist_sync_now(p) == 0, "open");
    if (!p || !big) {
        free(big);
        return;
    }
    memset(big, 'x', len);
    before = persist_fake_commit_count(fk);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "big%d", i);
        big[0] = (char)('0' + i);
        ok &= put(p, name, big, len) == 0;
    }
    CHECK(ok && persist_sync_wait(p, 20000) == 0, "three files of 7 MiB synced");
    CHECK(persist_fake_commit_count(fk) == before + 2, "in two commits (%u)",
          persist_fake_commit_count(fk) - before);
    free(big);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* Waiters return once the commit is on the Hub, not after the fetch that follows it: the fetch
 * is held (up to 2 s) and the waiter must return meanwhile, within 400 ms of the hold, five times
 * in a row (a waiter also re-checks once a second by itself, so one round could pass by chance;
 * five cannot, but for a 1% chance). */
struct fetch_gate {
    struct persist_fake *fk;
    volatile unsigned commits0;
    volatile int waiter_returned, held;
    volatile int64_t held_at, latency_ms; /* -1: no fetch was held */
};

static void gate_hook(void *payload, enum persist_fake_op op, int after)
{
    struct fetch_gate *g = payload;

    if (op != PERSIST_FAKE_FETCH || after || g->held ||
        persist_fake_commit_count(g->fk) <= g->commits0)
        return;
    g->held_at = now_ms();
    __atomic_store_n(&g->held, 1, __ATOMIC_RELEASE); /* held_at first: the waiter reads both */
    while (!g->waiter_returned && now_ms() - g->held_at < 2000)
        usleep(2000);
}

static void tweak_quick(struct persist_config *c)
{
    c->quiet_ms = 50;
    c->min_interval_ms = 0;
}

static void test_wake_before_fetch(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("wake"), 1, tweak_quick);
    struct fetch_gate g = {0};
    int64_t worst = 0;

    CHECK(p != NULL, "open");
    g.fk = fk;
    persist_fake_on_call(fk, gate_hook, &g);
    for (int round = 0; round < 5; round++) {
        char name[16];
        g.commits0 = persist_fake_commit_count(fk);
        g.waiter_returned = 0;
        g.latency_ms = -1;
        g.held = 0;
        snprintf(name, sizeof(name), "w%d", round);
        CHECK(put(p, name, name, strlen(name)) == 0 && persist_sync_wait(p, 20000) == 0, "sync %d",
              round);
        {
            int64_t t_ret = now_ms(), t0 = t_ret;
            g.waiter_returned = 1;
            while (!g.held && now_ms() - t0 < 2000) /* it may have returned before the fetch */
                usleep(1000);
            g.latency_ms = !g.held ? -1 : t_ret > g.held_at ? t_ret - g.held_at : 0;
        }
        CHECK(g.held && g.latency_ms >= 0 && g.latency_ms < 2000,
              "round %d: the waiter returned while the fetch after the commit was held (%lld ms)",
              round, (long long)g.latency_ms);
        if (g.latency_ms > worst)
            worst = g.latency_ms;
        usleep(50000); /* the held fetch ends before the next round arms the gate */
    }
    CHECK(worst < 400, "at once, not at the waiter's next once-a-second check (worst %lld ms)",
          (long long)worst);
    persist_close(p, 0);
    persist_fake_on_call(fk, NULL, NULL);
    persist_fake_unref(fk);
}

/* A change made while a commit uploads, with someone waiting (`echo sync` at the end of a copy
 * whose last files closed during the commit): the next commit goes on top of ours at once, not
 * after a fetch. */
struct late_ctx {
    struct persist *p;
    volatile int commits, fetches_between, late;
};

static void late_hook(void *payload, enum persist_fake_op op, int after)
{
    struct late_ctx *c = payload;

    if (op == PERSIST_FAKE_FETCH && !after && c->commits == 1)
        c->fetches_between++;
    if (op != PERSIST_FAKE_COMMIT)
        return;
    if (!after && !c->late) /* the snapshot is taken: this one waits for the next commit */
        c->late = put(c->p, "late", "late", 4) == 0;
    if (after)
        c->commits++;
}

static void test_urgent_chained(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("late"), 1, tweak_quick);
    struct late_ctx c = {0};
    void *data = NULL;
    size_t len = 0;

    CHECK(p != NULL, "open");
    if (!p)
        return;
    CHECK(persist_sync_wait(p, 20000) == 0, "the first fetch");
    c.p = p;
    persist_fake_on_call(fk, late_hook, &c);
    CHECK(put(p, "a", "a", 1) == 0 && persist_sync_wait(p, 20000) == 0, "a synced");
    CHECK(c.late, "a file closed during that commit");
    CHECK(persist_sync_wait(p, 20000) == 0, "and synced too");
    CHECK(c.commits == 2 && c.fetches_between == 0,
          "it went on top of the first commit without a fetch (%d commits, %d fetches between)",
          c.commits, c.fetches_between);
    CHECK(persist_fake_read(fk, "late", &data, &len) == 0 && len == 4, "it is on the Hub");
    free(data);
    persist_fake_on_call(fk, NULL, NULL);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

int main(void)
{
    snprintf(root, sizeof(root), "%s/persist-writes.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_close_unflushed();
    test_flush_ms_zero();
    test_hub_fsync_no_flush();
    test_power_loss();
    test_full_batch();
    test_burst_rest();
    test_burst_chained();
    test_inline_budget();
    test_wake_before_fetch();
    test_urgent_chained();
    if (!failed) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            printf("could not remove %s\n", root);
    } else {
        printf("kept %s\n", root);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
