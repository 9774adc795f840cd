/* Unit tests of streaming reads (fs/persist/stream.c) on the fake remote, with the bytes the
 * fake served counted: head -c 1 fetches a small range, random 4 KiB reads fetch at most 64x
 * what they read, a sequential read fetches each byte once in growing requests and leaves the
 * verified object in the cache, a server that sends the wrong bytes gets EIO once the whole
 * object is seen (one log line, nothing cached), a full disk fails reads but never returns other
 * bytes, two readers share what was fetched, a read
 * waiting on the network does not block another file, and a file being written reads its own
 * bytes. Prints "N passed, N failed". */
#include "persist.h"
#include "hubclient.h"
#include "remote_fake.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "harness.h"

#define MIB  (1 << 20)
#define SIZE (4 * MIB)

static unsigned char *data; /* SIZE bytes of "big.bin" */
static char oid[PERSIST_OID_MAX];

/* ---- a log that counts lines ---- */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_sha_lines, log_fetch_lines;
static void log_fn(enum spacefs_log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    if (strstr(msg, "sha256"))
        log_sha_lines++;
    if (strstr(msg, "cannot fetch"))
        log_fetch_lines++;
    pthread_mutex_unlock(&log_lock);
}

static struct persist *open_engine(struct persist_fake *fk, const char *cache)
{
    struct persist_config cfg;
    struct persist *p = NULL;
    int rc;

    persist_config_init(&cfg);
    cfg.cache_dir = cache;
    cfg.no_worker = 1;
    cfg.ttl_ms = 0;
    cfg.log = log_fn;
    rc = persist_open(&p, &cfg, persist_fake_remote(fk));
    if (rc < 0 || persist_sync_now(p) < 0)
        printf("persist_open(%s): %s\n", cache, strerror(-rc));
    return p;
}

static struct persist_fake *fixture(void)
{
    struct persist_fake *fk = persist_fake_new();
    persist_fake_write(fk, "big.bin", data, SIZE);
    persist_fake_write(fk, "small.txt", "hello", 5);
    persist_fake_lfs_oid(fk, "big.bin", oid);
    return fk;
}

/* objects/ of a cache: 1 when the verified object is there with the right size; *parts gets
 * the number of part files left. */
static int cached(const char *cache, int *parts)
{
    char path[700];
    struct stat st;
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "%s/objects", cache);
    *parts = 0;
    if ((d = opendir(path))) {
        while ((de = readdir(d)))
            *parts += strncmp(de->d_name, ".part.", 6) == 0;
        closedir(d);
    }
    snprintf(path, sizeof(path), "%s/objects/l%s", cache, oid);
    return stat(path, &st) == 0 && st.st_size == SIZE;
}

static struct persist_handle *hopen(struct persist *p, const char *path, int flags)
{
    struct persist_handle *h = NULL;
    int rc = persist_file_open(p, path, flags, 0644, &h);
    if (rc < 0)
        printf("open %s: %s\n", path, strerror(-rc));
    return h;
}

/* head -c 1: one small range, nothing cached yet. */
static void test_first_byte(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("first"));
    struct persist_handle *h = hopen(p, "big.bin", O_RDONLY);
    unsigned char c = 0;
    uint64_t got;
    int parts;
    long n;

    n = persist_read(p, h, &c, 1, 0);
    got = persist_fake_object_bytes(fk);
    CHECK(n == 1 && c == data[0], "one byte read (%ld)", n);
    /* the readahead asks for 256 KiB past the read's end; the read returns with the first chunk,
     * so the count is taken while the rest may still arrive */
    CHECK(got > 0 && got <= 256 * 1024 + 1, "head -c 1 fetched %llu bytes (at most 256 KiB + 1)",
          (unsigned long long)got);
    CHECK(!cached(cache_path("first"), &parts), "not cached: not seen whole");
    persist_release(p, h);
    persist_close(p, 0);
    cached(cache_path("first"), &parts);
    CHECK(parts == 0, "no part file left after close (%d)", parts);
    persist_fake_unref(fk);
}

/* Random 4 KiB reads fetch what they touch plus a small tail: <= 64x, never the whole file. */
static void test_random_reads(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("random"));
    struct persist_handle *h = hopen(p, "big.bin", O_RDONLY);
    unsigned char buf[4096];
    unsigned seed = 7;
    int ok = 1, reads = 32;
    uint64_t got;

    for (int i = 0; i < reads; i++) {
        int64_t off = (int64_t)(rand_r(&seed) % (SIZE / 4096 - 1) + 1) * 4096;
        long n = persist_read(p, h, buf, sizeof(buf), off);
        if (n != 4096 || memcmp(buf, data + off, 4096) != 0)
            ok = 0;
    }
    got = persist_fake_object_bytes(fk);
    CHECK(ok, "random reads return the right bytes");
    CHECK(got <= (uint64_t)reads * 4096 * 64, "fetched %.1fx the bytes read (<= 64x)",
          (double)got / (reads * 4096.0));
    CHECK(got < SIZE, "never the whole file (%llu bytes)", (unsigned long long)got);
    persist_release(p, h);
    /* closed and opened again: what was fetched is still there */
    h = hopen(p, "big.bin", O_RDONLY);
    seed = 7;
    ok = 1;
    for (int i = 0; i < reads; i++) {
        int64_t off = (int64_t)(rand_r(&seed) % (SIZE / 4096 - 1) + 1) * 4096;
        long n = persist_read(p, h, buf, sizeof(buf), off);
        if (n != 4096 || memcmp(buf, data + off, 4096) != 0)
            ok = 0;
    }
    CHECK(ok && persist_fake_object_bytes(fk) == got,
          "the same reads after a reopen fetch nothing (%llu more bytes)",
          (unsigned long long)(persist_fake_object_bytes(fk) - got));
    persist_release(p, h);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* cat: every byte fetched once, requests growing, the object verified into the cache; the next
 * open reads it without a request. */
static void test_sequential(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("seq"));
    struct persist_handle *h = hopen(p, "big.bin", O_RDONLY);
    unsigned char *buf = malloc(128 * 1024);
    unsigned calls;
    int ok = 1, parts;
    int64_t off = 0;
    long n;

    while ((n = persist_read(p, h, buf, 128 * 1024, off)) > 0) {
        if (memcmp(buf, data + off, (size_t)n) != 0)
            ok = 0;
        off += n;
    }
    calls = persist_fake_calls(fk, PERSIST_FAKE_OBJECT);
    CHECK(n == 0 && off == SIZE && ok, "the whole file read back (%lld, %ld)", (long long)off, n);
    CHECK(persist_fake_object_bytes(fk) == SIZE, "each byte fetched once (%llu)",
          (unsigned long long)persist_fake_object_bytes(fk));
    CHECK(calls >= 3 && calls <= 12, "requests grow with the readahead (%u for 4 MiB)", calls);
    persist_release(p, h);
    CHECK(cached(cache_path("seq"), &parts) && parts == 0, "verified object cached (%d parts)",
          parts);
    h = hopen(p, "big.bin", O_RDONLY);
    n = persist_read(p, h, buf, 4096, SIZE - 4096);
    CHECK(n == 4096 && !memcmp(buf, data + SIZE - 4096, 4096) &&
              persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == calls,
          "a second open reads the cache (%u requests)",
          persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    persist_release(p, h);
    persist_close(p, 0);
    free(buf);
    persist_fake_unref(fk);
}

/* A server that sends other bytes than the object id says: the reads before the end may
 * succeed, the one after the whole object was seen fails with EIO (and so do later ones), one
 * log line, nothing cached; a new open fetches anew. */
static void test_hostile(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("hostile"));
    struct persist_handle *h = hopen(p, "big.bin", O_RDONLY), *h2;
    unsigned char *buf = malloc(128 * 1024);
    int64_t off = 0;
    int parts;
    long n = 0;

    persist_fake_set_corrupt(fk, 1);
    log_sha_lines = 0;
    while (off < SIZE && (n = persist_read(p, h, buf, 128 * 1024, off)) > 0)
        off += n;
    CHECK(n == -EIO, "a read fails with EIO (%ld at %lld)", n, (long long)off);
    CHECK(persist_fake_object_bytes(fk) <= SIZE, "the download bounded by the size (%llu)",
          (unsigned long long)persist_fake_object_bytes(fk));
    n = persist_read(p, h, buf, 4096, 0);
    CHECK(n == -EIO, "and the next read too (%ld)", n);
    CHECK(log_sha_lines == 1, "one log line (%d)", log_sha_lines);
    CHECK(!cached(cache_path("hostile"), &parts) && parts == 0, "evicted (%d parts)", parts);
    persist_fake_set_corrupt(fk, 0);
    h2 = hopen(p, "big.bin", O_RDONLY); /* while the first handle is still open */
    n = persist_read(p, h2, buf, 4096, 0);
    CHECK(n == 4096 && !memcmp(buf, data, 4096), "a new open beside it fetches anew (%ld)", n);
    persist_release(p, h2);
    persist_release(p, h);
    h = hopen(p, "big.bin", O_RDONLY);
    off = 0;
    while ((n = persist_read(p, h, buf, 128 * 1024, off)) > 0 &&
           !memcmp(buf, data + off, (size_t)n))
        off += n;
    CHECK(n == 0 && off == SIZE, "a new open fetches anew (%ld at %lld)", n, (long long)off);
    persist_release(p, h);
    CHECK(cached(cache_path("hostile"), &parts), "then it is cached");
    persist_close(p, 0);
    free(buf);
    persist_fake_unref(fk);
}

/* The cache's disk is full while a cold read fills the part file (RLIMIT_FSIZE at 1 MiB: a
 * write past it fails with EFBIG, as ENOSPC would): every read returns the right bytes or fails
 * with EIO, never other bytes; one log line for the stream, however many reads fail; nothing is
 * cached; with room again a new open reads it all and caches it, leaving no part file. */
static void test_full_disk(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("full"));
    struct persist_handle *h = hopen(p, "big.bin", O_RDONLY);
    unsigned char *buf = malloc(128 * 1024);
    struct rlimit old, lim;
    int wrong = 0, errs = 0, reads = 0, parts;
    long n, first_err = 0;
    int64_t off = 0;

    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = MIB;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    log_fetch_lines = 0;
    for (off = 0; off < SIZE; off += 128 * 1024, reads++) {
        n = persist_read(p, h, buf, 128 * 1024, off);
        if (n < 0) {
            errs++;
            first_err = first_err ? first_err : n;
        } else if (n != 128 * 1024 || memcmp(buf, data + off, (size_t)n) != 0) {
            wrong++;
        }
    }
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(!wrong, "no read returned other bytes (%d of %d)", wrong, reads);
    CHECK(errs > 0 && first_err == -EIO, "reads past the limit fail with EIO (%d, first %s)", errs,
          strerror((int)-first_err));
    CHECK(log_fetch_lines == 1, "one log line (%d for %d failed reads)", log_fetch_lines, errs);
    persist_release(p, h);
    CHECK(!cached(cache_path("full"), &parts), "nothing cached (its part kept for the next open)");
    h = hopen(p, "big.bin", O_RDONLY);
    for (off = 0;
         (n = persist_read(p, h, buf, 128 * 1024, off)) > 0 && !memcmp(buf, data + off, (size_t)n);)
        off += n;
    CHECK(n == 0 && off == SIZE, "with room again a new open reads it all (%ld at %lld)", n,
          (long long)off);
    persist_release(p, h);
    CHECK(cached(cache_path("full"), &parts) && parts == 0, "and caches it (%d parts left)", parts);
    persist_close(p, 0);
    free(buf);
    persist_fake_unref(fk);
}

/* ---- concurrency ---- */
struct reader {
    struct persist *p;
    const char *path;
    int64_t from, to;
    int ok;
};

static void *read_span(void *arg)
{
    struct reader *r = arg;
    struct persist_handle *h = hopen(r->p, r->path, O_RDONLY);
    unsigned char *buf = malloc(64 * 1024);
    r->ok = h != NULL;
    for (int64_t off = r->from; h && off < r->to; off += 64 * 1024) {
        long n = persist_read(r->p, h, buf, 64 * 1024, off);
        if (n != 64 * 1024 || memcmp(buf, data + off, 64 * 1024) != 0)
            r->ok = 0;
    }
    persist_release(r->p, h);
    free(buf);
    return NULL;
}

/* Two readers of the same file at once share what was fetched. */
static void test_shared(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("shared"));
    struct reader a = {p, "big.bin", 0, SIZE, 0}, b = {p, "big.bin", 0, SIZE, 0};
    pthread_t ta, tb;
    int parts;

    pthread_create(&ta, NULL, read_span, &a);
    pthread_create(&tb, NULL, read_span, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.ok && b.ok, "both readers read the right bytes");
    CHECK(persist_fake_object_bytes(fk) <= SIZE + SIZE / 4,
          "the second rides on the first's fetches (%llu bytes for a %d-byte file)",
          (unsigned long long)persist_fake_object_bytes(fk), SIZE);
    CHECK(cached(cache_path("shared"), &parts), "cached once");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* A read waiting for the network does not hold up a read of another file. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_closed, gate_waiting;
static void gate_hook(void *payload, enum persist_fake_op op, int after)
{
    (void)payload;
    if (op != PERSIST_FAKE_OBJECT || after)
        return;
    pthread_mutex_lock(&gate_lock);
    if (gate_waiting++ == 0) { /* the first request (the big file's) waits at the gate */
        pthread_cond_broadcast(&gate_cond);
        while (gate_closed)
            pthread_cond_wait(&gate_cond, &gate_lock);
    }
    pthread_mutex_unlock(&gate_lock);
}

static void test_no_blocking(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("block"));
    struct reader a = {p, "big.bin", 0, 256 * 1024, 0};
    struct persist_handle *h;
    struct timespec dl;
    char buf[16];
    pthread_t ta;
    long n;

    gate_closed = 1;
    gate_waiting = 0;
    persist_fake_on_call(fk, gate_hook, NULL);
    pthread_create(&ta, NULL, read_span, &a);
    pthread_mutex_lock(&gate_lock);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    while (!gate_waiting && pthread_cond_timedwait(&gate_cond, &gate_lock, &dl) == 0)
        ;
    pthread_mutex_unlock(&gate_lock);
    CHECK(gate_waiting, "the big read is on the network");
    h = hopen(p, "small.txt", O_RDONLY);
    n = persist_read(p, h, buf, sizeof(buf), 0);
    CHECK(n == 5 && !memcmp(buf, "hello", 5), "another file reads meanwhile (%ld)", n);
    persist_release(p, h);
    pthread_mutex_lock(&gate_lock);
    gate_closed = 0;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    pthread_join(ta, NULL);
    CHECK(a.ok, "the big read completes");
    persist_fake_on_call(fk, NULL, NULL);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* A file opened for writing reads its own bytes, not the object's. */
static void test_write_then_read(void)
{
    struct persist_fake *fk = fixture();
    struct persist *p = open_engine(fk, cache_path("write"));
    struct persist_handle *h = hopen(p, "big.bin", O_RDWR);
    unsigned char buf[8];
    long n;

    n = persist_read(p, h, buf, 8, 1000);
    CHECK(n == 8 && !memcmp(buf, data + 1000, 8), "streamed read (%ld)", n);
    n = persist_write(p, h, "LOCAL", 5, 1000);
    CHECK(n == 5, "write over it (%ld)", n);
    n = persist_read(p, h, buf, 8, 1000);
    CHECK(n == 8 && !memcmp(buf, "LOCAL", 5) && !memcmp(buf + 5, data + 1005, 3),
          "the local bytes are read (%ld)", n);
    n = persist_read(p, h, buf, 8, SIZE - 8);
    CHECK(n == 8 && !memcmp(buf, data + SIZE - 8, 8), "and the rest of the copy (%ld)", n);
    persist_release(p, h);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

int main(void)
{
    unsigned seed = 12;
    snprintf(root, sizeof(root), "%s/persist-stream.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (unsigned char)rand_r(&seed);
    test_first_byte();
    test_random_reads();
    test_sequential();
    test_hostile();
    test_full_disk();
    test_shared();
    test_no_blocking();
    test_write_then_read();
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
