/* Unit tests of a fresh cache answering lookups before its first fetch (fs/persist/
 * provisional.c) on the fake remote, whose fetch is held at a gate (the clone of the mirror
 * still running): getattr and a read of an LFS file answer from the manifest + one lookup, with
 * the stat the whole view gives afterwards; everything else (a listing, a write, a small file's
 * bytes) waits for the fetch; the fetch landing on a newer commit, or without the file, leaves an
 * open reader its bytes; a cache with local changes from an earlier run asks the API nothing; a
 * failing API call falls back to waiting (one log line); two handles and an object larger than
 * the cache read right; `cp -a` into a name absent at the pinned commit completes without the
 * fetch and lands on the Hub after it, also when the fetch brings a newer commit. Request
 * counts asserted. Prints "N passed, N failed". */
#include "persist.h"
#include "hubclient.h"
#include "remote_fake.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_io.h"

#define MIB  (1 << 20)
#define SIZE (4 * MIB)
#define WAIT                                                                                       \
    5 /* seconds a call that should return at once may take before it counts as blocked            \
       */

static unsigned char *data; /* SIZE bytes of "big.bin" */
static const int64_t MTIME = (int64_t)1700000000 * 1000000000 + 123456789;

/* ---- a log that counts the fallback lines ---- */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fallback;
static void log_fn(enum spacefs_log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    if (strstr(msg, "waiting for the first fetch"))
        log_fallback++;
    pthread_mutex_unlock(&log_lock);
}

/* ---- the gate: every fetch waits while it is closed (the clone still running) ---- */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_closed, fetches_waiting;
static void gate_hook(void *payload, enum persist_fake_op op, int after)
{
    (void)payload;
    if (op != PERSIST_FAKE_FETCH || after)
        return;
    pthread_mutex_lock(&gate_lock);
    fetches_waiting++;
    pthread_cond_broadcast(&gate_cond);
    while (gate_closed)
        pthread_cond_wait(&gate_cond, &gate_lock);
    fetches_waiting--;
    pthread_mutex_unlock(&gate_lock);
}

static void gate_set(int closed)
{
    pthread_mutex_lock(&gate_lock);
    gate_closed = closed;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* The Dataset another machine wrote through spacefs: big.bin (LFS, mode 0600, a set mtime),
 * small.txt (regular), dir/x.bin (LFS), and the manifest that records them. */
static struct persist_fake *fixture(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist_config cfg;
    struct persist *p = NULL;
    struct timespec tv[2];

    static int n;
    char name[32];

    snprintf(name, sizeof(name), "writer%d", n++);
    persist_config_init(&cfg);
    cfg.cache_dir = cache_path(name);
    cfg.no_worker = 1;
    cfg.ttl_ms = 0;
    if (persist_open(&p, &cfg, persist_fake_remote(fk)) < 0) {
        printf("cannot open the writer\n");
        exit(1);
    }
    tv[0].tv_sec = tv[1].tv_sec = MTIME / 1000000000;
    tv[0].tv_nsec = tv[1].tv_nsec = MTIME % 1000000000;
    CHECK(put(p, "big.bin", data, SIZE) == 0 && put(p, "small.txt", "hello", 5) == 0 &&
              persist_mkdir(p, "dir", 0755) == 0 && put(p, "dir/x.bin", data, MIB) == 0 &&
              persist_mkdir(p, "empty", 0700) == 0 && persist_chmod(p, "big.bin", 0600) == 0 &&
              persist_utimens(p, "big.bin", tv) == 0 && persist_sync_now(p) == 0,
          "the fixture is committed");
    persist_close(p, 0);
    return fk;
}

/* A fresh cache with the API on, the worker started, its first fetch held at the gate. */
static struct persist *open_fresh(struct persist_fake *fk, const char *name, uint64_t cache_bytes)
{
    struct persist_config cfg;
    struct persist *p = NULL;
    struct timespec dl;

    persist_config_init(&cfg);
    cfg.cache_dir = cache_path(name);
    cfg.ttl_ms = 0;
    cfg.quiet_ms = 50;
    cfg.min_interval_ms = 0;
    cfg.log = log_fn;
    if (cache_bytes)
        cfg.object_cache_bytes = cache_bytes;
    gate_set(1);
    persist_fake_on_call(fk, gate_hook, NULL);
    persist_fake_set_api(fk, 1);
    if (persist_open(&p, &cfg, persist_fake_remote(fk)) < 0) {
        printf("cannot open %s\n", name);
        exit(1);
    }
    pthread_mutex_lock(&gate_lock); /* the worker is in its first fetch */
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT;
    while (!fetches_waiting && pthread_cond_timedwait(&gate_cond, &gate_lock, &dl) == 0)
        ;
    CHECK(fetches_waiting == 1, "%s: the first fetch runs in the worker", name);
    pthread_mutex_unlock(&gate_lock);
    return p;
}

static void close_fresh(struct persist_fake *fk, struct persist *p)
{
    gate_set(0);
    persist_close(p, 0);
    persist_fake_on_call(fk, NULL, NULL);
    persist_fake_set_api(fk, 0);
}

/* ---- a call in a thread, to tell "returned" from "blocked" ---- */
enum call_kind { CALL_GETATTR, CALL_READDIR, CALL_WRITE, CALL_GET, CALL_FN };
struct call {
    struct persist *p;
    enum call_kind kind;
    const char *path;
    int (*fn)(struct persist *p); /* CALL_FN */
    int rc;
    struct stat st;
    char buf[64];
    int names;
    int done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static int count_name(const char *name, const struct stat *st, void *payload)
{
    (void)name;
    (void)st;
    ((struct call *)payload)->names++;
    return 0;
}

static void *call_main(void *arg)
{
    struct call *c = arg;
    int rc = 0;

    switch (c->kind) {
    case CALL_GETATTR:
        rc = persist_getattr(c->p, c->path, &c->st);
        break;
    case CALL_READDIR:
        rc = persist_readdir(c->p, c->path, count_name, c);
        break;
    case CALL_WRITE:
        rc = put(c->p, c->path, "new", 3);
        break;
    case CALL_GET:
        rc = (int)get(c->p, c->path, c->buf, sizeof(c->buf));
        break;
    case CALL_FN:
        rc = c->fn(c->p);
        break;
    }
    pthread_mutex_lock(&c->lock);
    c->rc = rc;
    c->done = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static pthread_t call_fn_start(struct call *c, struct persist *p, enum call_kind kind,
                               const char *path, int (*fn)(struct persist *p))
{
    pthread_t t;

    memset(c, 0, sizeof(*c));
    c->p = p;
    c->kind = kind;
    c->path = path;
    c->fn = fn;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    pthread_create(&t, NULL, call_main, c);
    return t;
}

static pthread_t call_start(struct call *c, struct persist *p, enum call_kind kind,
                            const char *path)
{
    return call_fn_start(c, p, kind, path, NULL);
}

/* 1 when the call returned within `ms`. */
static int call_wait(struct call *c, int ms)
{
    struct timespec dl;
    int done;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000)
        dl.tv_sec++, dl.tv_nsec -= 1000000000;
    pthread_mutex_lock(&c->lock);
    while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock, &dl) == 0)
        ;
    done = c->done;
    pthread_mutex_unlock(&c->lock);
    return done;
}

static void wait_based(struct persist *p)
{
    struct persist_state s;
    for (int i = 0; i < WAIT * 100; i++) {
        persist_state_get(p, &s);
        if (s.base[0])
            return;
        usleep(10000);
    }
}

/* getattr + head -c 1 of an LFS file before the clone: the manifest, one lookup, the data;
 * the stat is the one the whole view gives once the fetch landed. */
static void test_first_byte(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "first", 0);
    struct persist_handle *h = NULL;
    struct stat st, st2, ds;
    unsigned trees = persist_fake_calls(fk, PERSIST_FAKE_TREE);
    struct call c;
    pthread_t t;
    unsigned char b = 0, *buf;
    long n;

    t = call_start(&c, p, CALL_GETATTR, "big.bin");
    CHECK(call_wait(&c, WAIT * 1000), "getattr answers while the clone runs");
    if (!c.done) /* without the fix: it waits for the fetch */
        gate_set(0);
    pthread_join(t, NULL);
    st = c.st;
    CHECK(c.rc == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_size == SIZE,
          "getattr: a 0600 file of %d bytes (rc %d, mode %o, size %lld)", SIZE, c.rc,
          (unsigned)st.st_mode, (long long)st.st_size);
    CHECK((int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == MTIME,
          "getattr: the manifest's mtime");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ) == 1 &&
              persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == 1,
          "one manifest read, one lookup (%u, %u)", persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ),
          persist_fake_calls(fk, PERSIST_FAKE_LOOKUP));
    CHECK(persist_file_open(p, "big.bin", O_RDONLY, 0, &h) == 0, "open read-only");
    n = h ? persist_read(p, h, &b, 1, 0) : -1;
    CHECK(n == 1 && b == data[0], "the first byte before the clone (%ld)", n);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == 1 &&
              persist_fake_calls(fk, PERSIST_FAKE_TREE) == trees,
          "the open asked nothing more (lookups %u, trees %u)",
          persist_fake_calls(fk, PERSIST_FAKE_LOOKUP),
          persist_fake_calls(fk, PERSIST_FAKE_TREE) - trees);
    CHECK(persist_getattr(p, "dir", &ds) == 0 && S_ISDIR(ds.st_mode) && ds.st_nlink == 1,
          "a directory: nlink 1 (unknown) before the listing");
    CHECK(persist_getattr(p, "dir/x.bin", &ds) == 0 && ds.st_size == MIB, "a file below it");
    CHECK(persist_getattr(p, "missing", &ds) == -ENOENT, "a missing path: ENOENT");
    CHECK(persist_getattr(p, "empty", &ds) == 0 && S_ISDIR(ds.st_mode) &&
              (ds.st_mode & 07777) == 0700,
          "an empty directory (only in the manifest), its mode");
    CHECK(persist_getattr(p, ".spacefs/meta", &ds) == -EPERM, "the manifest stays reserved");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ) == 1, "the manifest was read once");

    gate_set(0);
    wait_based(p);
    CHECK(persist_getattr(p, "big.bin", &st2) == 0 && st2.st_mode == st.st_mode &&
              st2.st_size == st.st_size && st2.st_mtim.tv_sec == st.st_mtim.tv_sec &&
              st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec && st2.st_ino == st.st_ino,
          "after the fetch: the same stat");
    CHECK(persist_getattr(p, "dir", &ds) == 0 && ds.st_nlink == 2, "the directory's real nlink");
    buf = malloc(SIZE);
    n = 0;
    for (long got = 0; h && got < SIZE; got += n)
        if ((n = persist_read(p, h, buf + got, SIZE - (size_t)got, got)) <= 0)
            break;
    CHECK(n > 0 && !memcmp(buf, data, SIZE), "the open handle reads the whole file after it");
    free(buf);
    persist_release(p, h);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* A listing, a write and a small file's bytes wait for the clone. */
static void test_others_wait(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "wait", 0);
    struct call ls, wr, sm, ga;
    pthread_t t1, t2, t3, t4;

    t4 = call_start(&ga, p, CALL_GETATTR, "small.txt");
    CHECK(call_wait(&ga, WAIT * 1000) && ga.rc == 0 && ga.st.st_size == 5,
          "getattr of a small file answers");
    t1 = call_start(&ls, p, CALL_READDIR, "");
    t2 = call_start(&wr, p, CALL_WRITE, "new.txt");
    t3 = call_start(&sm, p, CALL_GET, "small.txt");
    CHECK(!call_wait(&ls, 300) && !call_wait(&wr, 1) && !call_wait(&sm, 1),
          "readdir, a write and a small file's read wait (done %d %d %d)", ls.done, wr.done,
          sm.done);
    gate_set(0);
    CHECK(call_wait(&ls, WAIT * 1000) && call_wait(&wr, WAIT * 1000) && call_wait(&sm, WAIT * 1000),
          "and go on once the fetch landed");
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);
    pthread_join(t4, NULL);
    /* big.bin, small.txt, dir, empty, and new.txt when the write ran first */
    CHECK(ls.rc == 0 && (ls.names == 4 || ls.names == 5), "the whole listing (%d names)", ls.names);
    CHECK(wr.rc == 0, "the write (%d)", wr.rc);
    CHECK(sm.rc == 5 && !memcmp(sm.buf, "hello", 5), "the small file (%d)", sm.rc);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* The fetch lands on a newer commit (another writer), without the file: lookups see the new
 * view, an open reader keeps the bytes it opened. */
static void test_remote_change(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "change", 0);
    struct persist_handle *h = NULL;
    struct persist_state s;
    unsigned char *buf = malloc(SIZE);
    struct stat st;
    long n = 0;

    CHECK(persist_getattr(p, "big.bin", &st) == 0, "getattr before the clone");
    CHECK(persist_file_open(p, "big.bin", O_RDONLY, 0, &h) == 0 &&
              persist_read(p, h, buf, 1, 0) == 1,
          "read before the clone");
    persist_fake_write(fk, "other.txt", "x", 1);
    persist_fake_write(fk, "big.bin", NULL, 0);
    gate_set(0);
    wait_based(p);
    persist_state_get(p, &s);
    CHECK(persist_getattr(p, "big.bin", &st) == -ENOENT, "the deleted path is gone");
    CHECK(persist_getattr(p, "other.txt", &st) == 0, "the new one is there");
    for (long got = 0; h && got < SIZE; got += n)
        if ((n = persist_read(p, h, buf + got, SIZE - (size_t)got, got)) <= 0)
            break;
    CHECK(n > 0 && !memcmp(buf, data, SIZE), "the open reader keeps its bytes (%ld)", n);
    persist_release(p, h);
    free(buf);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* A cache whose journal holds a change from an earlier run (written at a new name before a
 * clone that then failed) asks the API nothing. */
static void test_journal(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "journal", 0);
    struct persist_config cfg;
    unsigned heads, lookups;
    struct call c;
    pthread_t t;

    CHECK(persist_getattr(p, "local.txt", &c.st) == -ENOENT && put(p, "local.txt", "mine", 4) == 0,
          "an earlier run wrote at a new name before its clone");
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_OFFLINE, 1000, 0); /* offline then */
    gate_set(0);
    for (int i = 0; i < WAIT * 100 && persist_getattr(p, "small.txt", &c.st) == 0; i++)
        usleep(10 * 1000); /* answered from the API until the clone failed */
    CHECK(persist_getattr(p, "small.txt", &c.st) == -EHOSTUNREACH,
          "the clone failed offline: a name of the Dataset is EHOSTUNREACH, not ENOENT");
    close_fresh(fk, p);
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_OK, 0, 0);
    persist_config_init(&cfg);
    cfg.cache_dir = cache_path("journal");
    cfg.ttl_ms = 0;
    cfg.log = log_fn;
    persist_fake_set_api(fk, 1);
    heads = persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ);
    lookups = persist_fake_calls(fk, PERSIST_FAKE_LOOKUP);
    p = NULL;
    CHECK(persist_open(&p, &cfg, persist_fake_remote(fk)) == 0, "reopened with the API on");
    t = call_start(&c, p, CALL_GETATTR, "big.bin");
    CHECK(call_wait(&c, WAIT * 1000) && c.rc == 0 && c.st.st_size == SIZE, "getattr (%d)", c.rc);
    pthread_join(t, NULL);
    CHECK(persist_getattr(p, "local.txt", &c.st) == 0 && c.st.st_size == 4, "the local change");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ) == heads &&
              persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == lookups,
          "no API call with local changes pending");
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* The Hub's API fails: one log line, the lookup waits for the fetch and answers from it. */
static void test_api_fails(enum persist_fake_op op)
{
    struct persist_fake *fk = fixture();
    struct persist *p;
    struct call c, c2;
    pthread_t t, t2;

    persist_fake_fail(fk, op, SPACEFS_E_SERVER, 1, 0);
    p = open_fresh(fk, op == PERSIST_FAKE_LOOKUP ? "fail-lookup" : "fail-head", 0);
    log_fallback = 0;
    t = call_start(&c, p, CALL_GETATTR, "big.bin");
    CHECK(!call_wait(&c, 300), "a failed API call: the getattr waits for the fetch");
    t2 = call_start(&c2, p, CALL_GETATTR, "small.txt");
    CHECK(!call_wait(&c2, 100), "and so does the next one");
    gate_set(0);
    CHECK(call_wait(&c, WAIT * 1000) && c.rc == 0 && c.st.st_size == SIZE &&
              call_wait(&c2, WAIT * 1000) && c2.rc == 0,
          "then answers from the fetched view");
    pthread_join(t, NULL);
    pthread_join(t2, NULL);
    CHECK(log_fallback == 1, "one log line (%d)", log_fallback);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* A Hub that does not say which commit paths-info answered from: the first lookup is asked
 * again at the manifest's commit (2 lookups); one that does: 1, beside the manifest's read. */
static void test_commit_header(int api)
{
    struct persist_fake *fk = fixture();
    struct persist *p;
    struct stat st;

    p = open_fresh(fk, api == 1 ? "header" : "no-header", 0);
    persist_fake_set_api(fk, api); /* the remote was made before: what its calls answer */
    CHECK(persist_getattr(p, "big.bin", &st) == 0 && st.st_size == SIZE, "getattr");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == (unsigned)api &&
              persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ) == 1,
          "api %d: %u lookups (want %d), %u manifest reads", api,
          persist_fake_calls(fk, PERSIST_FAKE_LOOKUP), api,
          persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ));
    CHECK(persist_getattr(p, "small.txt", &st) == 0 &&
              persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == (unsigned)api + 1,
          "a later lookup: one request");
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* A commit lands between the manifest's read and the first lookup: the lookup saw the newer
 * commit, so it is asked again at the manifest's, and the read returns that commit's bytes. */
static struct persist_fake *race_fk;
static int race_state; /* 0 armed, 1 the manifest read, 2 the commit landed */
static void race_hook(void *payload, enum persist_fake_op op, int after)
{
    (void)payload;
    gate_hook(NULL, op, after);
    pthread_mutex_lock(&gate_lock);
    if (op == PERSIST_FAKE_HEAD_READ && after && race_state == 0)
        race_state = 1, pthread_cond_broadcast(&gate_cond);
    if (op == PERSIST_FAKE_LOOKUP && !after && race_state < 2) {
        while (race_state == 0)
            pthread_cond_wait(&gate_cond, &gate_lock);
        race_state = 2;
        pthread_mutex_unlock(&gate_lock);
        persist_fake_write(race_fk, "big.bin", "rewritten by another machine, now LFS?\0", 40);
        return;
    }
    pthread_mutex_unlock(&gate_lock);
}

static void test_race(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "race", 0);
    struct persist_handle *h = NULL;
    unsigned char b[4] = {0};
    struct stat st;

    race_fk = fk;
    race_state = 0;
    persist_fake_on_call(fk, race_hook, NULL);
    CHECK(persist_getattr(p, "big.bin", &st) == 0 && st.st_size == SIZE,
          "the size at the manifest's commit (%lld)", (long long)st.st_size);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == 2, "asked again there (%u lookups)",
          persist_fake_calls(fk, PERSIST_FAKE_LOOKUP));
    CHECK(persist_file_open(p, "big.bin", O_RDONLY, 0, &h) == 0 &&
              persist_read(p, h, b, 4, 0) == 4 && !memcmp(b, data, 4),
          "the bytes of that commit");
    persist_release(p, h);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* The same file opened twice, in a cache smaller than the object: both read it whole. */
static void test_twice_small_cache(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "twice", MIB);
    struct persist_handle *a = NULL, *b = NULL;
    unsigned char *ba = malloc(SIZE), *bb = malloc(SIZE);
    long na = 0, nb = 0;

    CHECK(persist_file_open(p, "big.bin", O_RDONLY, 0, &a) == 0 &&
              persist_file_open(p, "big.bin", O_RDONLY, 0, &b) == 0,
          "opened twice before the clone");
    for (long got = 0; a && b && got < SIZE; got += 65536) {
        na = persist_read(p, a, ba + got, 65536, got);
        nb = persist_read(p, b, bb + got, 65536, got);
        if (na != 65536 || nb != 65536)
            break;
        if (got == SIZE / 2)
            gate_set(0); /* the fetch lands half way */
    }
    CHECK(na == 65536 && nb == 65536 && !memcmp(ba, data, SIZE) && !memcmp(bb, data, SIZE),
          "both handles read the whole object (%ld %ld)", na, nb);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == 1, "one lookup for both (%u)",
          persist_fake_calls(fk, PERSIST_FAKE_LOOKUP));
    CHECK(persist_fake_object_bytes(fk) <= (uint64_t)SIZE + MIB,
          "the bytes fetched once, about (%llu)",
          (unsigned long long)persist_fake_object_bytes(fk));
    persist_release(p, a);
    persist_release(p, b);
    free(ba);
    free(bb);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* ---- writes before the clone: cp -a into a name absent at the pinned commit ---- */
#define NCOPY 40
static const int64_t CP_MTIME = (int64_t)1600000000 * 1000000000 + 5;

static void copy_content(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "file %d of the copy\n", i);
}

static int count_names(const char *name, const struct stat *st, void *payload)
{
    (void)name;
    (void)st;
    (*(int *)payload)++;
    return 0;
}

/* What `cp -a src new` asks of persist/ once the kernel's lookup of "new" said ENOENT: mkdir,
 * a lookup of each name below, create + write + close, times and modes; then what rsync and
 * editors add: a temporary file renamed into place, a file removed, a symlink, a listing. */
static int copy_in(struct persist *p)
{
    struct timespec tv[2] = {{CP_MTIME / 1000000000, CP_MTIME % 1000000000},
                             {CP_MTIME / 1000000000, CP_MTIME % 1000000000}};
    char path[64], buf[64];
    struct stat st;
    int rc, names = 0;

    if ((rc = persist_mkdir(p, "new", 0755)) < 0)
        return rc;
    if (persist_getattr(p, "new/sub", &st) != -ENOENT)
        return -EEXIST;
    if ((rc = persist_mkdir(p, "new/sub", 0750)) < 0)
        return rc;
    for (int i = 0; i < NCOPY; i++) {
        snprintf(path, sizeof(path), "new/sub/f%d", i);
        if (persist_getattr(p, path, &st) != -ENOENT)
            return -EEXIST;
        copy_content(i, buf, sizeof(buf));
        if ((rc = put(p, path, buf, strlen(buf))) < 0 || (rc = persist_utimens(p, path, tv)) < 0 ||
            (rc = persist_chmod(p, path, 0640)) < 0)
            return rc;
    }
    if ((rc = put(p, "new/.g.tmp", "renamed", 7)) < 0 ||
        (rc = persist_rename(p, "new/.g.tmp", "new/g", 0)) < 0 ||
        (rc = put(p, "new/sub/gone", "x", 1)) < 0 || (rc = persist_unlink(p, "new/sub/gone")) < 0 ||
        (rc = persist_symlink(p, "sub/f0", "new/link")) < 0 ||
        (rc = persist_readdir(p, "new/sub", count_names, &names)) < 0 ||
        (rc = persist_utimens(p, "new/sub", tv)) < 0)
        return rc;
    return names == NCOPY ? 0 : -EIO;
}

/* copy_in on a thread while the clone is held: it must return without the clone; its rc. The
 * gate opens when it did not return (without writes before the clone, every write waits). */
static int copy_in_before_clone(struct persist *p)
{
    struct call c;
    pthread_t t = call_fn_start(&c, p, CALL_FN, NULL, copy_in);

    CHECK(call_wait(&c, WAIT * 1000), "cp -a into it returns while the clone is held");
    if (!c.done)
        gate_set(0);
    pthread_join(t, NULL);
    return c.rc;
}

static int fake_has(struct persist_fake *fk, const char *path, const char *want)
{
    void *got = NULL;
    size_t len = 0;
    int ok = persist_fake_read(fk, path, &got, &len) == 0 && len == strlen(want) &&
             !memcmp(got, want, len);
    free(got);
    return ok;
}

/* Whether the manifest at main's head has a line ending in `tail`. */
static int fake_manifest_has(struct persist_fake *fk, const char *tail)
{
    void *got = NULL;
    size_t len = 0;
    char *text;
    int ok = 0;

    if (persist_fake_read(fk, ".spacefs/meta", &got, &len) == 0 && (text = malloc(len + 1))) {
        memcpy(text, got, len);
        text[len] = '\0';
        ok = strstr(text, tail) != NULL;
        free(text);
    }
    free(got);
    return ok;
}

static int fake_missing(struct persist_fake *fk, const char *path)
{
    void *got = NULL;
    size_t len = 0;
    int rc = persist_fake_read(fk, path, &got, &len);

    free(got);
    return rc == -ENOENT;
}

/* The copy's files at main's head: how many have the content copy_in wrote. */
static int fake_copy_count(struct persist_fake *fk)
{
    char path[64], buf[64];
    int n = 0;

    for (int i = 0; i < NCOPY; i++) {
        snprintf(path, sizeof(path), "new/sub/f%d", i);
        copy_content(i, buf, sizeof(buf));
        n += fake_has(fk, path, buf);
    }
    return n;
}

/* cp -a into a fresh mount while the clone is held: the copy completes without it, asking the
 * Hub nothing below the new name; nothing is committed until the base lands; a write to a
 * base file still waits; then one sync puts everything on the Hub, with the modes, times and
 * symlink in the manifest, and the Dataset's empty directory survives. */
static void test_local_writes(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "local", 0);
    unsigned commits = persist_fake_commit_count(fk);
    struct persist_config cfg;
    struct persist_state s;
    struct call w;
    struct stat st;
    pthread_t t2;
    int rc;

    CHECK(persist_getattr(p, "new", &st) == -ENOENT, "new: absent at the pinned commit");
    CHECK((rc = copy_in_before_clone(p)) == 0, "the copy (rc %d)", rc);
    persist_state_get(p, &s);
    CHECK(!s.base[0] && persist_fake_commit_count(fk) == commits && fetches_waiting == 1,
          "nothing committed before the base (commits %u, base '%s')",
          persist_fake_commit_count(fk) - commits, s.base);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_LOOKUP) == 1 &&
              persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ) == 1,
          "below the absent name the Hub is asked nothing (%u lookups, %u manifest reads)",
          persist_fake_calls(fk, PERSIST_FAKE_LOOKUP),
          persist_fake_calls(fk, PERSIST_FAKE_HEAD_READ));
    CHECK(persist_getattr(p, "new/sub/f3", &st) == 0 && (st.st_mode & 07777) == 0640 &&
              (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == CP_MTIME,
          "a copied file's mode and mtime, before the clone");
    t2 = call_start(&w, p, CALL_WRITE, "small.txt");
    CHECK(!call_wait(&w, 300), "a write to a file of the base still waits for the clone");
    gate_set(0);
    CHECK(call_wait(&w, WAIT * 1000) && w.rc == 0, "and goes on once it landed (%d)", w.rc);
    pthread_join(t2, NULL);
    CHECK(persist_sync_wait(p, 20000) == 0, "synced");
    CHECK(fake_copy_count(fk) == NCOPY && fake_has(fk, "new/g", "renamed") &&
              fake_has(fk, "new/link", "sub/f0") && fake_has(fk, "small.txt", "new"),
          "every file on the Hub (%d of %d copied)", fake_copy_count(fk), NCOPY);
    CHECK(fake_missing(fk, "new/sub/gone") && fake_missing(fk, "new/.g.tmp"),
          "nothing removed or renamed away is");
    CHECK(persist_getattr(p, "empty", &st) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0700,
          "the Dataset's empty directory is there after the first fetch");
    close_fresh(fk, p);

    /* another cache reads it all back from the Dataset: the manifest carried it */
    persist_config_init(&cfg);
    cfg.cache_dir = cache_path("local-check");
    cfg.no_worker = 1;
    cfg.ttl_ms = 0;
    p = NULL;
    CHECK(persist_open(&p, &cfg, persist_fake_remote(fk)) == 0, "a second cache");
    CHECK(persist_getattr(p, "new/sub/f3", &st) == 0 && (st.st_mode & 07777) == 0640 &&
              (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == CP_MTIME,
          "there: a copied file's mode and mtime (%o)", (unsigned)st.st_mode);
    CHECK(persist_getattr(p, "new/sub", &st) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0750 && st.st_mtim.tv_sec == CP_MTIME / 1000000000,
          "there: the directory's mode and mtime (%o)", (unsigned)st.st_mode);
    CHECK(persist_getattr(p, "new/link", &st) == 0 && S_ISLNK(st.st_mode), "there: the symlink");
    CHECK(persist_getattr(p, "empty", &st) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0700,
          "there: the empty directory, still 0700");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* The clone lands on a newer commit where another machine wrote below the new name and put a
 * file where this one made a directory: a local file wins over the remote one at its path, the
 * directories merge, and the remote file under the local directory is deleted by the commit. */
static void test_local_writes_newer(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "newer", 0);
    char buf[64];
    struct stat st;
    int rc;

    CHECK(persist_getattr(p, "new", &st) == -ENOENT && persist_getattr(p, "clash", &st) == -ENOENT,
          "new and clash: absent at the pinned commit");
    persist_fake_write(fk, "new/sub/f0", "theirs", 6);
    persist_fake_write(fk, "new/theirs.txt", "t", 1);
    persist_fake_write(fk, "clash", "a file", 6);
    CHECK((rc = copy_in_before_clone(p)) == 0 && persist_mkdir(p, "clash", 0755) == 0 &&
              put(p, "clash/a", "mine", 4) == 0,
          "the copy, and a directory where the remote has a file now (rc %d)", rc);
    gate_set(0);
    CHECK(persist_sync_wait(p, 20000) == 0, "synced");
    copy_content(0, buf, sizeof(buf));
    CHECK(fake_has(fk, "new/sub/f0", buf), "the local file won over the newer remote one");
    CHECK(fake_copy_count(fk) == NCOPY && fake_has(fk, "new/theirs.txt", "t"),
          "the directories merged");
    CHECK(fake_has(fk, "clash/a", "mine") && fake_missing(fk, "clash"),
          "the remote file where the local directory is: deleted");
    CHECK(persist_getattr(p, "clash", &st) == 0 && S_ISDIR(st.st_mode) &&
              persist_getattr(p, "new/theirs.txt", &st) == 0,
          "the view shows both");
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* The first fetch fails (the Hub answers the clone with a 500): a listing that waited for it
 * fails with the fetch's errno instead of answering ENOENT from the empty view for a directory
 * a lookup just said exists (cp -r skips a directory that vanishes that way, and exits 0: a
 * silent empty restore). Once the worker's retry lands, the directory lists again. */
static void test_first_fetch_fails(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "fetch-fails", 0);
    struct call ls;
    struct stat st;
    pthread_t t;
    int rc = -1;

    CHECK(persist_getattr(p, "dir", &st) == 0 && S_ISDIR(st.st_mode), "dir before the clone");
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_SERVER, 1, 0);
    t = call_start(&ls, p, CALL_READDIR, "dir");
    CHECK(!call_wait(&ls, 300), "the listing waits for the clone");
    gate_set(0);
    CHECK(call_wait(&ls, WAIT * 1000), "and returns when the clone fails");
    pthread_join(t, NULL);
    CHECK(ls.rc == -EIO,
          "the listing fails with EIO, not ENOENT from an empty view (rc %d, %d names)", ls.rc,
          ls.names);
    for (int i = 0; i < WAIT * 10 && rc != 0; i++) { /* the worker retries after its backoff */
        usleep(100 * 1000);
        t = call_start(&ls, p, CALL_READDIR, "dir");
        rc = call_wait(&ls, WAIT * 1000) ? ls.rc : -ETIMEDOUT;
        pthread_join(t, NULL);
    }
    CHECK(rc == 0 && ls.names == 1, "after the retry the directory lists (rc %d, %d names)", rc,
          ls.names);
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* Written before the clone, and the clone fails: the early files stay readable and writable (they
 * are local changes, journalled as any); names the view does not have, listings and new names
 * fail with the fetch's errno while the Dataset is unknown; the worker's retry bases the engine,
 * brings the Dataset's manifest and puts the copy on the Hub. */
static void test_local_writes_fetch_fails(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "local-fails", 0);
    struct call ls;
    struct stat st;
    char buf[64], want[64];
    pthread_t t;
    int rc, names = 0;

    copy_content(3, want, sizeof(want));
    CHECK(persist_getattr(p, "new", &st) == -ENOENT && persist_getattr(p, "dir", &st) == 0,
          "new absent, dir there, at the pinned commit");
    CHECK((rc = copy_in_before_clone(p)) == 0, "the copy (rc %d)", rc);
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_SERVER, 1000, 0); /* until cleared */
    t = call_start(&ls, p, CALL_READDIR, "dir");
    CHECK(!call_wait(&ls, 300), "a listing of a base directory waits for the clone");
    gate_set(0);
    CHECK(call_wait(&ls, WAIT * 1000) && ls.rc == -EIO, "and fails with the clone's EIO (rc %d)",
          ls.rc);
    pthread_join(t, NULL);
    CHECK(persist_getattr(p, "new/sub/f3", &st) == 0 && (st.st_mode & 07777) == 0640 &&
              get(p, "new/sub/f3", buf, sizeof(buf)) == (long)strlen(want) &&
              !memcmp(buf, want, strlen(want)),
          "the early writes are still there after the failed clone");
    /* what the Dataset holds is unknown now: its names fail with the fetch's errno, not ENOENT
     * (a restore would find nothing and start afresh), and so do new names and listings */
    CHECK(persist_getattr(p, "small.txt", &st) == -EIO && persist_getattr(p, "gone", &st) == -EIO,
          "a name the view does not have: EIO, not ENOENT");
    CHECK(persist_readdir(p, "new/sub", count_names, &names) == -EIO &&
              persist_readdir(p, "", count_names, &names) == -EIO,
          "a listing: EIO (it would miss the Dataset's names)");
    CHECK(put(p, "small.txt", "clobber", 7) == -EIO && persist_mkdir(p, "new2", 0755) == -EIO &&
              persist_rename(p, "new/g", "small.txt", 0) == -EIO,
          "creating a name: EIO (it would replace the Dataset's file)");
    CHECK(put(p, "new/g", "again", 5) == 0, "a file written here is still writable");
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_OK, 0, 0); /* the Hub answers again */
    CHECK(persist_sync_wait(p, 20000) == 0, "the retry lands and the copy is synced");
    CHECK(fake_copy_count(fk) == NCOPY && fake_has(fk, "new/g", "again") &&
              fake_has(fk, "new/link", "sub/f0") && fake_has(fk, "small.txt", "hello"),
          "every file on the Hub, the Dataset's untouched (%d of %d copied)", fake_copy_count(fk),
          NCOPY);
    CHECK(persist_getattr(p, "gone", &st) == -ENOENT &&
              persist_readdir(p, "", count_names, &names) == 0,
          "once based, a missing name is ENOENT again and listings work");
    CHECK(persist_getattr(p, "empty", &st) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0700 && persist_getattr(p, "big.bin", &st) == 0 &&
              (st.st_mode & 07777) == 0600 && st.st_mtim.tv_sec == MTIME / 1000000000,
          "the first base that worked (not the clone) brought the manifest: the empty directory, "
          "big.bin's mode and mtime");
    CHECK(fake_manifest_has(fk, " - empty\n"),
          "the Dataset's manifest still has the empty directory");
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

/* libfuse's unlink of an open file (a free hidden name looked up, the file renamed to it, removed
 * at the last close), and `mv x y` onto an open y (y hidden first, then x renamed onto y), on files
 * written before a clone that failed: they work while the Dataset is unknown. */
static void test_unknown_hidden(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_fresh(fk, "unknown-hidden", 0);
    static const char h1[] = "new/sub/.fuse_hidden0000000000000001",
                      h2[] = "new/sub/.fuse_hidden0000000000000002";
    struct persist_handle *a = NULL, *b = NULL;
    char buf[64], want[64];
    struct stat st;
    int rc;

    CHECK(persist_getattr(p, "new", &st) == -ENOENT, "new: absent at the pinned commit");
    CHECK((rc = copy_in_before_clone(p)) == 0, "the copy (rc %d)", rc);
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_SERVER, 1000, 0);
    gate_set(0);
    for (int i = 0; i < WAIT * 100 && persist_getattr(p, "small.txt", &st) != -EIO; i++)
        usleep(10 * 1000);
    CHECK(persist_getattr(p, "small.txt", &st) == -EIO, "the clone failed: the Dataset unknown");
    CHECK(persist_file_open(p, "new/sub/f1", O_RDONLY, 0, &a) == 0 &&
              persist_file_open(p, "new/sub/f2", O_RDONLY, 0, &b) == 0,
          "two files written before the clone, open");
    CHECK(persist_getattr(p, h1, &st) == -ENOENT, "a hidden name is free (ENOENT, not EIO)");
    CHECK(persist_rename(p, "new/sub/f1", h1, 0) == 0, "rm of the open f1: hidden");
    CHECK(persist_getattr(p, h2, &st) == -ENOENT && persist_rename(p, "new/sub/f2", h2, 0) == 0 &&
              persist_rename(p, "new/sub/f3", "new/sub/f2", 0) == 0,
          "mv f3 f2 while f2 is open: hidden, then renamed onto");
    copy_content(2, want, sizeof(want));
    CHECK(persist_read(p, b, buf, sizeof(buf), 0) == (long)strlen(want) &&
              !memcmp(buf, want, strlen(want)),
          "the open f2 still reads its bytes");
    persist_release(p, a);
    persist_release(p, b);
    CHECK(persist_unlink(p, h1) == -ENOENT && persist_unlink(p, h2) == -ENOENT,
          "libfuse's unlinks of the hidden names after the last close take nothing (ENOENT)");
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_OK, 0, 0);
    CHECK(persist_sync_wait(p, 20000) == 0, "the retry lands and the copy is synced");
    copy_content(3, want, sizeof(want));
    CHECK(fake_missing(fk, "new/sub/f1") && fake_missing(fk, "new/sub/f3") &&
              fake_has(fk, "new/sub/f2", want) && fake_missing(fk, h1) && fake_missing(fk, h2),
          "on the Hub: f1 removed, f3 as f2, no hidden name");
    close_fresh(fk, p);
    persist_fake_unref(fk);
}

int main(void)
{
    unsigned seed = 7;
    snprintf(root, sizeof(root), "%s/persist-prov.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (unsigned char)rand_r(&seed);
    test_first_byte();
    test_others_wait();
    test_remote_change();
    test_journal();
    test_api_fails(PERSIST_FAKE_HEAD_READ);
    test_api_fails(PERSIST_FAKE_LOOKUP);
    test_twice_small_cache();
    test_commit_header(1);
    test_commit_header(2);
    test_race();
    test_local_writes();
    test_local_writes_newer();
    test_first_fetch_fails();
    test_local_writes_fetch_fails();
    test_unknown_hidden();
    if (!failed) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            printf("cannot remove %s\n", root);
    } else {
        printf("kept %s\n", root);
    }
    free(data);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
