/* Unit tests of the persist engine on the in-memory fake remote: namespace semantics, lazy
 * objects, sync with scripted faults (412/429/5xx/transport/forbidden), coalescing, changes
 * during an upload, crash safety (kill -9 of a writer, then reopen from the journal and from an
 * empty cache), and a seeded random-operation differential checker against a plain directory.
 * Prints "N passed, N failed". PERSIST_SEED=n replays one checker run. */
#include "persist.h"
#include "hubclient.h"
#include "remote_fake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_io.h"

static void rm_rf(const char *path)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "rm -rf %s failed\n", path);
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
    cfg.backoff_base_ms = 10;
    cfg.backoff_max_ms = 50;
    cfg.ttl_ms = 0;
    if (tweak)
        tweak(&cfg);
    rc = persist_open(&p, &cfg, persist_fake_remote(fk));
    if (rc < 0)
        printf("persist_open(%s): %s\n", cache, strerror(-rc));
    return p;
}

static int fake_eq(struct persist_fake *fk, const char *path, const char *want)
{
    void *data;
    size_t len;
    int ok;
    if (persist_fake_read(fk, path, &data, &len) < 0)
        return 0;
    ok = len == strlen(want) && !memcmp(data, want, len);
    free(data);
    return ok;
}

struct names {
    char buf[1024];
};
static int collect(const char *name, const struct stat *st, void *payload)
{
    struct names *n = payload;
    size_t l = strlen(n->buf);
    snprintf(n->buf + l, sizeof(n->buf) - l, "%s%s%s", l ? " " : "", name,
             S_ISDIR(st->st_mode) ? "/" : "");
    return 0;
}
static int cmp_words(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
/* readdir as a sorted space-separated string, dirs with a trailing '/'. */
static const char *ls(struct persist *p, const char *path)
{
    static char out[1024];
    struct names n = {{0}};
    char *words[64], *save = NULL;
    size_t k = 0;
    int rc = persist_readdir(p, path, collect, &n);
    if (rc < 0) {
        snprintf(out, sizeof(out), "error %d", rc);
        return out;
    }
    for (char *w = strtok_r(n.buf, " ", &save); w && k < 64; w = strtok_r(NULL, " ", &save))
        words[k++] = w;
    qsort(words, k, sizeof(*words), cmp_words);
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "", words[i]);
    return out;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_basic(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("basic"), 0, NULL);
    struct persist_state s;
    struct stat st;
    char buf[64], text[1024];
    long n;

    CHECK(put(p, "a.txt", "hello", 5) == 0, "create a.txt");
    CHECK(persist_getattr(p, "/a.txt", &st) == 0 && st.st_size == 5 && S_ISREG(st.st_mode),
          "getattr a.txt");
    n = get(p, "a.txt", buf, sizeof(buf));
    CHECK(n == 5 && !memcmp(buf, "hello", 5), "read back (%ld)", n);
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_PENDING && s.files == 1 && s.bytes == 5, "pending 1 file 5 bytes");
    CHECK(persist_fake_commit_count(fk) == 0, "nothing committed before sync");
    CHECK(persist_sync_now(p) == 0, "sync");
    CHECK(fake_eq(fk, "a.txt", "hello"), "a.txt on the remote");
    CHECK(persist_fake_commit_count(fk) == 1, "one commit");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_CREATE) == 0, "existing repo not created");
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_CLEAN && s.files == 0 && s.last_commit[0] && s.commits == 1,
          "clean after sync");
    persist_state_text(p, text, sizeof(text));
    CHECK(strstr(text, "state: clean\n") && strstr(text, "last_commit: ") &&
              strstr(text, "files: 0\n"),
          "state text");
    CHECK(persist_sync_now(p) == 0 && persist_fake_commit_count(fk) == 1,
          "a second sync commits nothing");
    n = get(p, "a.txt", buf, sizeof(buf));
    CHECK(n == 5 && !memcmp(buf, "hello", 5), "read after the base moved");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_namespace(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    struct stat st;
    char *list;

    persist_fake_write(fk, "notes.txt", "hello", 5);
    persist_fake_write(fk, "db/data.sqlite", "SQLite format 3", 15);
    p = open_engine(fk, cache_path("ns"), 0, NULL);
    CHECK(!strcmp(ls(p, ""), "db/ notes.txt"), "root lists base: %s", ls(p, ""));
    CHECK(put(p, "db/new", "x", 1) == 0, "create in a base dir");
    CHECK(!strcmp(ls(p, "db"), "data.sqlite new"), "merged listing: %s", ls(p, "db"));
    CHECK(persist_unlink(p, "notes.txt") == 0, "unlink base file");
    CHECK(persist_getattr(p, "notes.txt", &st) == -ENOENT, "unlinked is gone");
    CHECK(!strcmp(ls(p, ""), "db/"), "root after unlink: %s", ls(p, ""));
    CHECK(persist_mkdir(p, "empty", 0755) == 0, "mkdir");
    CHECK(persist_mkdir(p, "empty", 0755) == -EEXIST, "mkdir twice");
    CHECK(persist_mkdir(p, "no/such", 0755) == -ENOENT, "mkdir without parent");
    CHECK(persist_getattr(p, "empty", &st) == 0 && S_ISDIR(st.st_mode), "empty dir visible");
    CHECK(persist_rmdir(p, "db") == -ENOTEMPTY, "rmdir non-empty");
    CHECK(persist_unlink(p, "db") == -EISDIR, "unlink a dir");
    CHECK(persist_rmdir(p, "db/new") == -ENOTDIR, "rmdir a file");
    CHECK(persist_file_open(p, "db/new/x", O_CREAT | O_WRONLY, 0644,
                            &(struct persist_handle *){0}) == -ENOTDIR,
          "create under a file");
    CHECK(persist_sync_now(p) == 0, "sync");
    list = persist_fake_list(fk);
    CHECK(list && !strcmp(list, ".spacefs/meta\ndb/data.sqlite\ndb/new\n"), "remote files: %s",
          list);
    free(list);
    CHECK(persist_getattr(p, "empty", &st) == 0, "empty dir survives a sync (local only)");
    persist_close(p, 0);
    p = open_engine(fk, cache_path("ns"), 0, NULL);
    CHECK(persist_getattr(p, "empty", &st) == 0, "empty dir survives a remount");
    CHECK(persist_rmdir(p, "empty") == 0 && persist_getattr(p, "empty", &st) == -ENOENT,
          "rmdir empty");
    /* unlinking the last file of a directory keeps the directory (until rmdir) */
    CHECK(persist_unlink(p, "db/data.sqlite") == 0 && persist_unlink(p, "db/new") == 0,
          "empty db/");
    CHECK(persist_getattr(p, "db", &st) == 0 && S_ISDIR(st.st_mode), "db/ stays after last unlink");
    CHECK(!strcmp(ls(p, "db"), ""), "db/ is empty: %s", ls(p, "db"));
    CHECK(persist_rmdir(p, "db") == 0 && persist_getattr(p, "db", &st) == -ENOENT, "rmdir db");
    CHECK(persist_sync_now(p) == 0, "sync deletes");
    list = persist_fake_list(fk);
    CHECK(list && !strcmp(list, ".spacefs/meta\n"), "remote empty but the manifest: [%s]", list);
    free(list);
    CHECK(persist_mkdir(p, "../x", 0755) == -EINVAL, "dot-dot refused");
    CHECK(persist_mkdir(p, ".git", 0755) == -EPERM, ".git refused");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* Names the Hub refuses (422) are refused when created or renamed to: one such file used to be
 * created fine and then fail every later commit, so no other file reached the Hub. */
static void test_refused_names(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("names"), 0, NULL);
    struct persist_handle *h = NULL;
    static const char *const bad[] = {"a\\b", "cr\r", "lf\nx", "tab\tx", "del\x7f", "d\\/f"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(persist_file_open(p, bad[i], O_WRONLY | O_CREAT, 0644, &h) == -EINVAL,
              "create of a refused name #%zu is EINVAL", i);
        CHECK(persist_mkdir(p, bad[i], 0755) == -EINVAL, "mkdir of a refused name #%zu", i);
    }
    CHECK(put(p, "good", "g", 1) == 0, "a good name");
    CHECK(persist_rename(p, "good", "bad\\name", 0) == -EINVAL, "rename to a refused name");
    CHECK(put(p, "naïve résumé €.txt", "u", 1) == 0, "UTF-8 names are fine");
    CHECK(persist_sync_now(p) == 0 && fake_eq(fk, "good", "g") &&
              fake_eq(fk, "naïve résumé €.txt", "u"),
          "the good files are committed");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* The cache's own files are never opened through a symlink (issue 13: a cache another user could
 * plant links in). A journal that is a link is refused, not read; so is a persist_cache_pending
 * look at it. */
static void test_cache_symlinks(void)
{
    struct persist_fake *fk = persist_fake_new();
    const char *dir = cache_path("links"), *planted = cache_path("planted-journal");
    char link[600];
    struct persist *p;
    FILE *f;

    CHECK(mkdir(dir, 0700) == 0, "cache dir");
    if ((f = fopen(planted, "w"))) {
        fputs("spacefs-persist-journal 2\nbase -\nnext 1\ngen 1\nW 1 0 victim\nend\n", f);
        fclose(f);
    }
    snprintf(link, sizeof(link), "%s/journal", dir);
    CHECK(symlink(planted, link) == 0, "plant a journal link");
    CHECK(persist_cache_pending(dir) == 0, "the link is not read for pending changes");
    p = open_engine(fk, dir, 0, NULL);
    CHECK(p == NULL, "an engine whose journal is a symlink does not open");
    if (p)
        persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_lazy_objects(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    char big[300], buf[400];
    unsigned before;
    long n;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    persist_fake_write(fk, "model.bin", big, sizeof(big));
    CHECK(persist_fake_is_lfs(fk, "model.bin") == 1, "fixture stored as LFS");
    p = open_engine(fk, cache_path("lazy"), 0, NULL);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 0, "nothing downloaded at open");
    n = get(p, "model.bin", buf, sizeof(buf));
    CHECK(n == 300 && !memcmp(buf, big, 300), "read LFS file (%ld)", n);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 1, "downloaded once");
    n = get(p, "model.bin", buf, sizeof(buf));
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 1, "second read from the cache");
    persist_close(p, 0);
    p = open_engine(fk, cache_path("lazy"), 0, NULL);
    before = persist_fake_calls(fk, PERSIST_FAKE_OBJECT);
    n = get(p, "model.bin", buf, sizeof(buf));
    CHECK(n == 300 && persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == before,
          "cache kept across remounts");
    /* renaming a base LFS file copies by object id: nothing downloaded or uploaded */
    CHECK(persist_rename(p, "model.bin", "models/m.bin", 0) == -ENOENT, "rename into missing dir");
    CHECK(persist_mkdir(p, "models", 0755) == 0, "mkdir models");
    CHECK(persist_rename(p, "model.bin", "models/m.bin", 0) == 0, "rename base file");
    CHECK(persist_sync_now(p) == 0, "sync rename");
    CHECK(persist_fake_is_lfs(fk, "models/m.bin") == 1 &&
              persist_fake_is_lfs(fk, "model.bin") == -1,
          "remote renamed");
    n = get(p, "models/m.bin", buf, sizeof(buf));
    CHECK(n == 300 && !memcmp(buf, big, 300), "renamed content");
    /* object fetch failure surfaces as an errno, then works */
    persist_close(p, 0);
    rm_rf(cache_path("lazy"));
    p = open_engine(fk, cache_path("lazy"), 0, NULL);
    persist_fake_fail(fk, PERSIST_FAKE_OBJECT, SPACEFS_E_TRANSPORT, 1, 0);
    n = get(p, "models/m.bin", buf, sizeof(buf));
    CHECK(n == -EIO, "unreachable object read fails (%ld)", n);
    n = get(p, "models/m.bin", buf, sizeof(buf));
    CHECK(n == 300, "then succeeds (%ld)", n);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* FIPS 180-4 known answers, fed in uneven pieces (the SHA-extension path where the CPU has it,
 * else the portable one; HUB_SHA256_PORTABLE=1 forces the portable path). */
static void test_sha256(void)
{
    static const struct {
        const char *in;
        size_t repeat;
        const char *hex;
    } kat[] = {
        {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        size_t len = strlen(kat[i].in) * kat[i].repeat, off = 0, step = 1;
        char *buf = malloc(len + 1), hex[65];
        hub_sha256 s;
        for (size_t j = 0; j < kat[i].repeat; j++)
            memcpy(buf + j * strlen(kat[i].in), kat[i].in, strlen(kat[i].in));
        hub_sha256_init(&s);
        while (off < len) { /* 1, 2, 4, ... byte pieces, across block boundaries */
            size_t take = len - off < step ? len - off : step;
            hub_sha256_update(&s, buf + off, take);
            off += take;
            step = step < 70000 ? step * 2 + 1 : 1;
        }
        hub_sha256_hex(&s, hex);
        CHECK(strcmp(hex, kat[i].hex) == 0, "sha256 known answer %zu", i);
        free(buf);
    }
}

static void tweak_tiny_cache(struct persist_config *c)
{
    c->object_cache_bytes = 100;
}

/* An object larger than the whole object cache is still readable (the cache keeps the object a
 * reader asked for and evicts the others), and the cache stays bounded otherwise. */
static void test_object_over_cache(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    char big[300], other[300], buf[400];
    long n;

    memset(big, 'b', sizeof(big));
    memset(other, 'o', sizeof(other));
    persist_fake_write(fk, "big.bin", big, sizeof(big));
    persist_fake_write(fk, "other.bin", other, sizeof(other));
    p = open_engine(fk, cache_path("tiny"), 0, tweak_tiny_cache);
    n = get(p, "big.bin", buf, sizeof(buf));
    CHECK(n == 300 && !memcmp(buf, big, 300), "300-byte object through a 100-byte cache (%ld)", n);
    n = get(p, "other.bin", buf, sizeof(buf));
    CHECK(n == 300 && !memcmp(buf, other, 300), "a second one too (%ld)", n);
    n = get(p, "big.bin", buf, sizeof(buf));
    CHECK(n == 300 && !memcmp(buf, big, 300) && persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 3,
          "the first was evicted and is fetched again (%u fetches)",
          persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* ---- hash while writing ---- */

#define HW_SHA "915e53a44c18b19bb06ba5b3f5fcaf1dc4651e8404c63425cfc6174e74659d87"
static char hw_data[1200]; /* hw_data[0..1000) hashes to HW_SHA */

/* Writes hw_data[from, to) to h in `chunk`-sized pieces at their own offsets. */
static int hw_write(struct persist *p, struct persist_handle *h, size_t from, size_t to,
                    size_t chunk)
{
    for (size_t off = from; off < to; off += chunk) {
        size_t n = to - off < chunk ? to - off : chunk;
        if (persist_write(p, h, hw_data + off, n, (int64_t)off) != (long)n)
            return -1;
    }
    return 0;
}

/* 1000 bytes at `path` as LFS on the fake, with the expected sha256 and content. */
static int hw_remote_ok(struct persist_fake *fk, const char *path)
{
    char oid[PERSIST_OID_MAX];
    void *data;
    size_t len;
    int ok;
    if (persist_fake_lfs_oid(fk, path, oid) < 0 || strcmp(oid, HW_SHA) != 0 ||
        persist_fake_read(fk, path, &data, &len) < 0)
        return 0;
    ok = len == 1000 && !memcmp(data, hw_data, 1000);
    free(data);
    return ok;
}

static struct persist_handle *hw_open(struct persist *p, const char *path, int flags)
{
    struct persist_handle *h = NULL;
    int rc = persist_file_open(p, path, flags, 0644, &h);
    if (rc < 0)
        printf("open %s: %s\n", path, strerror(-rc));
    return h;
}

/* A large file written in order is hashed by the engine's hasher thread behind the writer, not
 * by write(): close() hashes at most a short rest (1 MiB) itself, the worker waits for the
 * hasher's digest before the commit (the upload reads nothing to hash it, and the fake checks
 * the digest against the bytes), and the digest follows a rename made right after close().
 * An out-of-order write while the hasher works, or a file removed before its digest is ready,
 * costs correctness nothing. */
#define HB_SIZE  ((size_t)24 << 20)
#define HB_CHUNK ((size_t)1 << 20)

static int hb_write(struct persist *p, const char *path, const char *data, int reorder)
{
    struct persist_handle *h = hw_open(p, path, O_WRONLY | O_CREAT | O_TRUNC);
    int rc = h ? 0 : -1;
    for (size_t off = 0; rc == 0 && off < HB_SIZE; off += HB_CHUNK) {
        if (persist_write(p, h, data + off, HB_CHUNK, (int64_t)off) != (long)HB_CHUNK)
            rc = -1;
        if (reorder && off == HB_SIZE / 2 && persist_write(p, h, data, 4096, 0) != 4096)
            rc = -1; /* rewrites bytes the hasher may have read already */
    }
    if (h && persist_release(p, h) < 0)
        rc = -1;
    return rc;
}

static int hb_remote_ok(struct persist_fake *fk, const char *path, const char *data,
                        const char *sha)
{
    char oid[PERSIST_OID_MAX];
    void *got;
    size_t len;
    int ok;
    if (persist_fake_lfs_oid(fk, path, oid) < 0 || strcmp(oid, sha) != 0 ||
        persist_fake_read(fk, path, &got, &len) < 0)
        return 0;
    ok = len == HB_SIZE && !memcmp(got, data, HB_SIZE);
    free(got);
    return ok;
}

static void test_hash_behind_writer(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("hashb"), 0, NULL);
    char *data = malloc(HB_SIZE), sha[PERSIST_OID_MAX];
    struct persist_state st;
    uint64_t seed = 12345;
    hub_sha256 s;
    unsigned reads;

    CHECK(p && data, "engine, buffer");
    if (!p || !data) {
        free(data);
        persist_close(p, 0);
        persist_fake_unref(fk);
        return;
    }
    for (size_t i = 0; i < HB_SIZE; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        data[i] = (char)(seed >> 56);
    }
    hub_sha256_init(&s);
    hub_sha256_update(&s, data, HB_SIZE);
    hub_sha256_hex(&s, sha);

    CHECK(hb_write(p, "big.bin", data, 0) == 0, "write big.bin in order");
    persist_state_get(p, &st);
    CHECK(st.hashed_inline <= HB_CHUNK, "close() hashed at most 1 MiB itself (%llu)",
          (unsigned long long)st.hashed_inline);
    CHECK(persist_sync_now(p) == 0, "sync");
    persist_state_get(p, &st);
    CHECK(st.hashed_behind + st.hashed_inline == HB_SIZE && st.hashed_behind >= HB_SIZE - HB_CHUNK,
          "the hasher thread took the rest (%llu of %zu)", (unsigned long long)st.hashed_behind,
          HB_SIZE);
    CHECK(hb_remote_ok(fk, "big.bin", data, sha), "big.bin: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == 0, "big.bin: the upload read nothing to hash (%u)",
          persist_fake_hash_reads(fk));

    /* renamed at once: the digest reaches the change under its new name */
    data[0] ^= 1; /* not an object the remote has */
    hub_sha256_init(&s);
    hub_sha256_update(&s, data, HB_SIZE);
    hub_sha256_hex(&s, sha);
    CHECK(hb_write(p, "tmp.bin", data, 0) == 0 && persist_rename(p, "tmp.bin", "moved.bin", 0) == 0,
          "write, rename");
    CHECK(persist_sync_now(p) == 0, "sync");
    CHECK(hb_remote_ok(fk, "moved.bin", data, sha), "moved.bin: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == 0, "moved.bin: the upload read nothing to hash (%u)",
          persist_fake_hash_reads(fk));

    /* removed before the digest is ready: nothing uploaded, nothing waits for it */
    data[0] ^= 2;
    CHECK(hb_write(p, "gone.bin", data, 0) == 0 && persist_unlink(p, "gone.bin") == 0,
          "write, unlink");
    CHECK(persist_sync_now(p) == 0, "sync");
    CHECK(persist_fake_lfs_oid(fk, "gone.bin", sha) < 0, "gone.bin: not on the remote");

    /* an earlier offset rewritten halfway: the running hash is dropped, the upload hashes */
    reads = persist_fake_hash_reads(fk);
    data[0] ^= 4;
    CHECK(hb_write(p, "re.bin", data, 1) == 0, "write re.bin out of order");
    hub_sha256_init(&s);
    hub_sha256_update(&s, data, HB_SIZE);
    hub_sha256_hex(&s, sha);
    CHECK(persist_sync_now(p) == 0, "sync");
    CHECK(hb_remote_ok(fk, "re.bin", data, sha), "re.bin: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == reads + 1, "re.bin: hashed by the upload (%u)",
          persist_fake_hash_reads(fk) - reads);
    CHECK(persist_debug_verify(p) == 0, "engine consistent");
    persist_close(p, 0);
    persist_fake_unref(fk);
    free(data);
}

/* Files written sequentially from offset 0 are hashed as they are written: the upload needs no
 * read to hash them (the fake counts LFS uploads without a digest: remote_hub reads those once
 * more). Random writes, truncates and appends after a reopen upload without one; the digest
 * survives a remount through the journal, and a journal without it (older format) still loads. */
static void test_hash_while_writing(void)
{
    struct persist_fake *fk = persist_fake_new();
    const char *cache = cache_path("hashw");
    struct persist *p = open_engine(fk, cache, 0, NULL);
    struct persist_handle *h;
    char jpath[600], *jtext = NULL;
    FILE *jf;
    size_t jlen = 0;

    for (size_t i = 0; i < sizeof(hw_data); i++)
        hw_data[i] = (char)('a' + i % 26);
    /* sequential, in chunks: no hashing read */
    h = hw_open(p, "seq.bin", O_WRONLY | O_CREAT | O_TRUNC);
    CHECK(h && hw_write(p, h, 0, 1000, 100) == 0, "sequential write");
    CHECK(persist_release(p, h) == 0, "close");
    CHECK(persist_sync_now(p) == 0, "sync");
    CHECK(hw_remote_ok(fk, "seq.bin"), "sequential: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == 0, "sequential: not read to hash (%u)",
          persist_fake_hash_reads(fk));
    /* out of order: hashed at upload */
    h = hw_open(p, "rnd.bin", O_WRONLY | O_CREAT);
    CHECK(h && hw_write(p, h, 500, 1000, 100) == 0 && hw_write(p, h, 0, 500, 100) == 0,
          "random write");
    CHECK(persist_release(p, h) == 0 && persist_sync_now(p) == 0, "close, sync");
    CHECK(hw_remote_ok(fk, "rnd.bin"), "random: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == 1, "random: read to hash (%u)",
          persist_fake_hash_reads(fk));
    /* sequential, then truncated shorter */
    h = hw_open(p, "trunc.bin", O_WRONLY | O_CREAT | O_TRUNC);
    CHECK(h && hw_write(p, h, 0, 1200, 300) == 0 && persist_ftruncate(p, h, 1000) == 0,
          "write, truncate");
    CHECK(persist_release(p, h) == 0 && persist_sync_now(p) == 0, "close, sync");
    CHECK(hw_remote_ok(fk, "trunc.bin"), "truncated: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == 2, "truncated: read to hash (%u)",
          persist_fake_hash_reads(fk));
    /* reopen and append: the copy of the first part was not hashed */
    CHECK(put(p, "app.bin", hw_data, 500) == 0 && persist_sync_now(p) == 0, "first half");
    CHECK(persist_fake_hash_reads(fk) == 2, "first half hashed while written");
    h = hw_open(p, "app.bin", O_WRONLY | O_APPEND);
    CHECK(h && persist_write(p, h, hw_data + 500, 500, 0) == 500, "append");
    CHECK(persist_release(p, h) == 0 && persist_sync_now(p) == 0, "close, sync");
    CHECK(hw_remote_ok(fk, "app.bin"), "appended: content and sha256 on the remote");
    CHECK(persist_fake_hash_reads(fk) == 3, "appended: read to hash (%u)",
          persist_fake_hash_reads(fk));
    /* the digest is in the journal and survives a remount before the upload */
    h = hw_open(p, "jr.bin", O_WRONLY | O_CREAT | O_TRUNC);
    CHECK(h && hw_write(p, h, 0, 1000, 7) == 0 && persist_release(p, h) == 0, "write jr.bin");
    persist_close(p, 0);
    snprintf(jpath, sizeof(jpath), "%s/journal", cache);
    if ((jf = fopen(jpath, "r"))) {
        jtext = calloc(1, 65536);
        jlen = jtext ? fread(jtext, 1, 65535, jf) : 0;
        fclose(jf);
    }
    CHECK(jtext && strstr(jtext, " " HW_SHA " "), "journal records the digest");
    free(jtext);
    jtext = NULL;
    p = open_engine(fk, cache, 0, NULL);
    CHECK(p && persist_sync_now(p) == 0, "reopen, sync");
    CHECK(hw_remote_ok(fk, "jr.bin") && persist_fake_hash_reads(fk) == 3,
          "after a remount: uploaded with the journal's digest (%u)", persist_fake_hash_reads(fk));
    /* a journal without the digest (the older format) loads; the upload hashes the file */
    h = hw_open(p, "old.bin", O_WRONLY | O_CREAT | O_TRUNC);
    CHECK(h && hw_write(p, h, 0, 1000, 1000) == 0 && persist_release(p, h) == 0, "write old");
    persist_close(p, 0);
    if ((jf = fopen(jpath, "r"))) {
        jtext = calloc(1, 65536);
        jlen = jtext ? fread(jtext, 1, 65535, jf) : 0;
        fclose(jf);
    }
    {
        char *at = jtext ? strstr(jtext, " " HW_SHA " ") : NULL;
        CHECK(at != NULL, "digest in the journal");
        if (at && (jf = fopen(jpath, "w"))) {
            fwrite(jtext, 1, (size_t)(at - jtext), jf);
            fputs(at + 65, jf); /* drops " <sha>" */
            fclose(jf);
        }
    }
    free(jtext);
    (void)jlen;
    p = open_engine(fk, cache, 0, NULL);
    CHECK(p && persist_sync_now(p) == 0, "reopen with an old-format journal, sync");
    CHECK(hw_remote_ok(fk, "old.bin") && persist_fake_hash_reads(fk) == 4,
          "old journal: hashed at upload (%u)", persist_fake_hash_reads(fk));
    CHECK(persist_fake_sha_mismatches(fk) == 0, "no wrong digest was ever sent");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_cache_1500(struct persist_config *c)
{
    c->object_cache_bytes = 1500;
}

/* Files in objects/ of a cache (names and total bytes). */
static int objects_count(const char *cache, int64_t *bytes)
{
    char dir[600];
    struct dirent *de;
    struct stat st;
    int n = 0;
    DIR *d;

    *bytes = 0;
    snprintf(dir, sizeof(dir), "%s/objects", cache);
    if (!(d = opendir(dir)))
        return -1;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
            n++, *bytes += st.st_size;
    closedir(d);
    return n;
}

/* What we committed is cached from its overlay file: reading it after the sync downloads
 * nothing, also after a remount; the object cache bound holds (older objects are evicted, a file
 * larger than the cache is not adopted). */
static void test_own_uploads_cached(void)
{
    struct persist_fake *fk = persist_fake_new();
    const char *cache = cache_path("owncache");
    struct persist *p = open_engine(fk, cache, 0, tweak_cache_1500);
    char buf[2100], big[2000];
    int64_t bytes;
    long n;

    for (size_t i = 0; i < sizeof(hw_data); i++)
        hw_data[i] = (char)('a' + i % 26);
    memset(big, 'z', sizeof(big));
    CHECK(put(p, "a.bin", hw_data, 1000) == 0 && put(p, "note.txt", "hello", 5) == 0, "write");
    CHECK(persist_sync_now(p) == 0, "sync");
    CHECK(hw_remote_ok(fk, "a.bin") && fake_eq(fk, "note.txt", "hello"), "on the remote");
    n = get(p, "a.bin", buf, sizeof(buf));
    CHECK(n == 1000 && !memcmp(buf, hw_data, 1000), "read LFS file after sync (%ld)", n);
    n = get(p, "note.txt", buf, sizeof(buf));
    CHECK(n == 5 && !memcmp(buf, "hello", 5), "read regular file after sync (%ld)", n);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 0, "nothing downloaded (%u)",
          persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    persist_close(p, 0);
    p = open_engine(fk, cache, 0, tweak_cache_1500);
    n = get(p, "a.bin", buf, sizeof(buf));
    CHECK(n == 1000 && !memcmp(buf, hw_data, 1000) &&
              persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 0,
          "after a remount too (%ld, %u)", n, persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    /* a second 1000-byte object: the older LFS object is evicted, the new one kept */
    hw_data[0] = 'Z';
    CHECK(put(p, "b.bin", hw_data, 1000) == 0 && persist_sync_now(p) == 0, "write, sync b");
    CHECK(objects_count(cache, &bytes) >= 1 && bytes <= 1500, "cache bounded (%lld bytes)",
          (long long)bytes);
    n = get(p, "b.bin", buf, sizeof(buf));
    CHECK(n == 1000 && !memcmp(buf, hw_data, 1000) &&
              persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 0,
          "b read from the cache (%ld, %u)", n, persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    hw_data[0] = 'a';
    n = get(p, "a.bin", buf, sizeof(buf));
    CHECK(n == 1000 && !memcmp(buf, hw_data, 1000) &&
              persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 1,
          "a was evicted and is downloaded (%ld, %u)", n,
          persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    /* larger than the whole cache: not adopted, downloaded when read */
    CHECK(put(p, "big.bin", big, sizeof(big)) == 0 && persist_sync_now(p) == 0, "write big");
    CHECK(objects_count(cache, &bytes) >= 0 && bytes <= 1500, "big not cached (%lld bytes)",
          (long long)bytes);
    n = get(p, "big.bin", buf, sizeof(buf));
    CHECK(n == 2000 && !memcmp(buf, big, 2000) && persist_fake_calls(fk, PERSIST_FAKE_OBJECT) == 2,
          "big downloaded (%ld, %u)", n, persist_fake_calls(fk, PERSIST_FAKE_OBJECT));
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_rename_dirs(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    char buf[64], *list;
    long n;

    persist_fake_write(fk, "a/x", "base-x", 6);
    persist_fake_write(fk, "a/sub/y", "base-y", 6);
    p = open_engine(fk, cache_path("rdir"), 0, NULL);
    CHECK(put(p, "a/z", "local-z", 7) == 0, "local file in base dir");
    CHECK(persist_mkdir(p, "a/e", 0755) == 0, "local empty dir");
    CHECK(persist_rename(p, "a", "a/b", 0) == -EINVAL, "rename into itself");
    CHECK(put(p, "f", "file", 4) == 0, "a file");
    CHECK(persist_rename(p, "a", "f", 0) == -ENOTDIR, "dir over file");
    CHECK(persist_rename(p, "f", "a", 0) == -EISDIR, "file over dir");
    CHECK(persist_mkdir(p, "full", 0755) == 0 && put(p, "full/q", "q", 1) == 0, "full dir");
    CHECK(persist_rename(p, "a", "full", 0) == -ENOTEMPTY, "over non-empty dir");
    CHECK(persist_rename(p, "f", "g", 1) == 0, "noreplace to a free name");
    CHECK(persist_rename(p, "g", "full/q", 1) == -EEXIST, "noreplace onto a file");
    CHECK(persist_rename(p, "a", "b", 0) == 0, "rename dir");
    CHECK(!strcmp(ls(p, ""), "b/ full/ g"), "root: %s", ls(p, ""));
    CHECK(!strcmp(ls(p, "b"), "e/ sub/ x z"), "b: %s", ls(p, "b"));
    n = get(p, "b/sub/y", buf, sizeof(buf));
    CHECK(n == 6 && !memcmp(buf, "base-y", 6), "moved base content");
    n = get(p, "b/z", buf, sizeof(buf));
    CHECK(n == 7 && !memcmp(buf, "local-z", 7), "moved local content");
    CHECK(persist_sync_now(p) == 0, "sync");
    list = persist_fake_list(fk);
    CHECK(list && !strcmp(list, ".spacefs/meta\nb/sub/y\nb/x\nb/z\nfull/q\ng\n"), "remote: %s",
          list);
    free(list);
    CHECK(put(p, "g", "replaced", 8) == 0 && persist_rename(p, "g", "full/q", 0) == 0,
          "rename over a file");
    n = get(p, "full/q", buf, sizeof(buf));
    CHECK(n == 8 && !memcmp(buf, "replaced", 8), "replaced content");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_open_handles(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("handles"), 0, NULL);
    struct persist_handle *a, *b;
    char buf[64];
    long n;

    CHECK(put(p, "f", "0123456789", 10) == 0, "f");
    CHECK(persist_file_open(p, "f", O_RDWR, 0, &a) == 0, "open a");
    CHECK(persist_file_open(p, "f", O_RDONLY, 0, &b) == 0, "open b");
    CHECK(persist_write(p, a, "AB", 2, 4) == 2, "random write");
    n = persist_read(p, b, buf, sizeof(buf), 0);
    CHECK(n == 10 && !memcmp(buf, "0123AB6789", 10), "other handle sees the write");
    CHECK(persist_rename(p, "f", "g", 0) == 0, "rename while open");
    CHECK(persist_write(p, a, "Z", 1, 10) == 1, "append after rename");
    CHECK(persist_release(p, a) == 0, "close a");
    n = get(p, "g", buf, sizeof(buf));
    CHECK(n == 11 && !memcmp(buf, "0123AB6789Z", 11), "closed content under the new name");
    CHECK(persist_unlink(p, "g") == 0, "unlink while b open");
    n = persist_read(p, b, buf, sizeof(buf), 0);
    CHECK(n == 11, "unlinked file still readable (%ld)", n);
    persist_release(p, b);
    CHECK(persist_truncate(p, "g", 0) == -ENOENT, "truncate missing");
    CHECK(put(p, "t", "abcdef", 6) == 0 && persist_truncate(p, "t", 3) == 0, "truncate");
    n = get(p, "t", buf, sizeof(buf));
    CHECK(n == 3 && !memcmp(buf, "abc", 3), "truncated");
    CHECK(persist_truncate(p, "t", 5) == 0 && get(p, "t", buf, sizeof(buf)) == 5 && buf[4] == 0,
          "extended with zeros");
    CHECK(persist_sync_now(p) == 0, "sync");
    {
        char want[6] = {'a', 'b', 'c', 0, 0, 0};
        void *data = NULL;
        size_t len = 0;
        CHECK(persist_fake_read(fk, "t", &data, &len) == 0 && len == 5 && !memcmp(data, want, 5),
              "t on remote, zero-extended");
        free(data);
    }
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void other_writer_once(void *arg)
{
    static int done;
    if (!done++)
        persist_fake_write(arg, "theirs.txt", "theirs", 6);
}

static void test_stale_parent(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    char buf[64];

    persist_fake_write(fk, "shared.txt", "v1", 2);
    p = open_engine(fk, cache_path("stale"), 0, NULL);
    CHECK(put(p, "mine.txt", "mine", 4) == 0, "local write");
    /* the other writer commits after our fetch, while we upload: our parent is stale */
    persist_fake_on_commit(fk, other_writer_once, fk);
    CHECK(persist_sync_now(p) == 0, "sync through 412");
    persist_fake_on_commit(fk, NULL, NULL);
    CHECK(fake_eq(fk, "mine.txt", "mine") && fake_eq(fk, "theirs.txt", "theirs") &&
              fake_eq(fk, "shared.txt", "v1"),
          "both writers' files survive");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_COMMIT) == 2, "one 412, one success (%u)",
          persist_fake_calls(fk, PERSIST_FAKE_COMMIT));
    CHECK(get(p, "theirs.txt", buf, sizeof(buf)) == 6, "their file visible here");
    /* same file: last writer wins, the other version stays in history */
    CHECK(put(p, "shared.txt", "local", 5) == 0, "local edit of shared");
    persist_fake_write(fk, "shared.txt", "remote", 6);
    CHECK(persist_sync_now(p) == 0, "sync same file");
    CHECK(fake_eq(fk, "shared.txt", "local"), "last writer (us) wins");
    CHECK(persist_fake_commit_count(fk) == 5, "history kept (%u commits)",
          persist_fake_commit_count(fk));
    /* more 412s than retries: an error, kept pending, then fine */
    persist_fake_fail(fk, PERSIST_FAKE_COMMIT, SPACEFS_E_STALE, 100, 0);
    CHECK(put(p, "again", "x", 1) == 0, "again");
    /* the one errno table (docs/filesystem.md, "Errors"): 412 is EEXIST everywhere */
    CHECK(persist_sync_now(p) == -EEXIST, "gives up after stale_retries");
    persist_fake_fail(fk, PERSIST_FAKE_COMMIT, SPACEFS_OK, 0, 0);
    CHECK(persist_sync_now(p) == 0 && fake_eq(fk, "again", "x"), "then commits");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_attempts(struct persist_config *c)
{
    c->fsync_attempts = 3;
}

static void test_faults(void)
{
    static const enum spacefs_status transient[] = {SPACEFS_E_RATE_LIMITED, SPACEFS_E_SERVER,
                                                    SPACEFS_E_TRANSPORT, SPACEFS_E_TIMEOUT};
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("faults"), 0, tweak_attempts);
    struct persist_handle *h;
    struct persist_state s;
    unsigned commits;

    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%zu", i);
        commits = persist_fake_commit_count(fk);
        persist_fake_fail(fk, PERSIST_FAKE_COMMIT, transient[i], 2, 0);
        CHECK(put(p, name, name, strlen(name)) == 0, "write %s", name);
        CHECK(persist_sync_wait(p, 5000) == 0, "wait through 2 x %s",
              spacefs_status_name(transient[i]));
        CHECK(fake_eq(fk, name, name) && persist_fake_commit_count(fk) == commits + 1,
              "arrived once after %s", spacefs_status_name(transient[i]));
    }
    persist_fake_fail(fk, PERSIST_FAKE_COMMIT, SPACEFS_E_FORBIDDEN, 100, 0);
    CHECK(persist_file_open(p, "denied", O_CREAT | O_WRONLY, 0644, &h) == 0, "create");
    CHECK(persist_write(p, h, "d", 1, 0) == 1, "write");
    CHECK(persist_fsync(p, h, 5000) == -EACCES, "fsync fails after the attempts");
    persist_release(p, h);
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_ERROR && s.files == 1 && s.failures >= 3 && s.last_error[0],
          "state error, still pending (%s)", s.last_error);
    persist_fake_fail(fk, PERSIST_FAKE_COMMIT, SPACEFS_OK, 0, 0);
    CHECK(persist_sync_wait(p, 5000) == 0 && fake_eq(fk, "denied", "d"), "arrives later");
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_CLEAN && !s.last_error[0], "clean again");
    /* fetch failing (Hub down) does not stop local work */
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_TRANSPORT, 1000, 0);
    CHECK(put(p, "offline", "o", 1) == 0, "write while the Hub is down");
    CHECK(persist_sync_now(p) == -EIO, "sync fails while down");
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_OK, 0, 0);
    CHECK(persist_sync_now(p) == 0 && fake_eq(fk, "offline", "o"), "uploads when back");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

struct during {
    struct persist *p;
    int fired;
};
static void write_during_commit(void *arg)
{
    struct during *d = arg;
    if (d->fired++)
        return;
    put(d->p, "a", "second", 6);
}

static void test_change_during_upload(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("during"), 0, NULL);
    struct during d = {p, 0};
    struct persist_state s;
    char buf[16];

    CHECK(put(p, "a", "first", 5) == 0, "first version");
    persist_fake_on_commit(fk, write_during_commit, &d);
    CHECK(persist_sync_now(p) == 0, "sync (a second version is written meanwhile)");
    CHECK(fake_eq(fk, "a", "first"), "first version committed");
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_PENDING && s.files == 1, "second version still pending");
    CHECK(get(p, "a", buf, sizeof(buf)) == 6 && !memcmp(buf, "second", 6), "reads the second");
    CHECK(persist_sync_now(p) == 0 && fake_eq(fk, "a", "second"), "second committed next");
    persist_fake_on_commit(fk, NULL, NULL);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

struct gone {
    struct persist *p;
    int fired, rename;
};
static void remove_during_commit(void *arg)
{
    struct gone *g = arg;
    if (g->fired++)
        return;
    if (g->rename)
        persist_rename(g->p, "new.txt", "moved.txt", 0);
    else
        persist_unlink(g->p, "new.txt");
}

/* A file the running commit adds is unlinked (or renamed away) while that commit uploads: once
 * the commit lands and the base is refreshed, the old name must stay gone, locally and on the
 * Hub (the refresh used to bring it back). */
static void test_remove_during_commit(void)
{
    for (int rename = 0; rename < 2; rename++) {
        struct persist_fake *fk = persist_fake_new();
        struct persist *p =
            open_engine(fk, cache_path(rename ? "mv-during" : "rm-during"), 0, NULL);
        struct gone g = {p, 0, rename};
        struct stat st;
        char buf[8];
        const char *what = rename ? "renamed away" : "unlinked";

        CHECK(persist_sync_now(p) == 0, "first sync");
        CHECK(put(p, "new.txt", "new", 3) == 0, "a new file");
        persist_fake_on_commit(fk, remove_during_commit, &g);
        CHECK(persist_sync_now(p) == 0, "commit (the file is %s meanwhile)", what);
        persist_fake_on_commit(fk, NULL, NULL);
        CHECK(persist_getattr(p, "new.txt", &st) == -ENOENT, "%s: gone locally after the commit",
              what);
        CHECK(persist_sync_now(p) == 0 && persist_sync_now(p) == 0, "next rounds");
        CHECK(persist_getattr(p, "new.txt", &st) == -ENOENT && !fake_eq(fk, "new.txt", "new"),
              "%s: gone locally and on the Hub", what);
        if (rename)
            CHECK(get(p, "moved.txt", buf, sizeof(buf)) == 3 && fake_eq(fk, "moved.txt", "new"),
                  "the new name has it, here and on the Hub");
        persist_close(p, 0);
        persist_fake_unref(fk);
    }
}

/* The post-commit refresh fails (the Hub went away right after the commit), the file is
 * rewritten (a newer local version replaces the committed one) and then unlinked; a remount
 * happens in between. The Dataset has the committed version, so the unlink must become a
 * whiteout: once the base catches up the file must not come back. */
static void fail_next_fetch(void *fk)
{
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_SERVER, 1, 0);
}

static void test_remove_after_commit(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("rm-after"), 0, NULL);
    struct stat st;

    CHECK(persist_sync_now(p) == 0, "first sync");
    CHECK(put(p, "a.txt", "one", 3) == 0, "a new file");
    persist_fake_on_commit(fk, fail_next_fetch, fk); /* the refresh after the commit fails */
    CHECK(persist_sync_now(p) == 0 && fake_eq(fk, "a.txt", "one"), "committed; refresh failed");
    persist_fake_on_commit(fk, NULL, NULL);
    CHECK(put(p, "a.txt", "two", 3) == 0, "rewritten before the base caught up");
    persist_close(p, 0);
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_SERVER, 1000, 0); /* still down */
    p = open_engine(fk, cache_path("rm-after"), 0, NULL);
    CHECK(persist_unlink(p, "a.txt") == 0, "unlinked after the remount, still offline");
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_OK, 0, 0);
    CHECK(persist_sync_now(p) == 0 && persist_sync_now(p) == 0, "the Hub is back: sync");
    CHECK(persist_getattr(p, "a.txt", &st) == -ENOENT, "still gone locally");
    CHECK(!fake_eq(fk, "a.txt", "one") && !fake_eq(fk, "a.txt", "two"), "and on the Hub");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* A remount while the Hub is unreachable shows the files of the journal's base (the base id
 * used to be lost at open: every file of it vanished until the next successful fetch). */
/* The engine's flock, through this definition (the executable's own symbol wins over libc's
 * for the engine's objects linked into it): flock_errno set makes every call fail as on a
 * filesystem without flock (NFS without lockd answers ENOLCK). */
static int flock_errno;
int flock(int fd, int op)
{
    if (flock_errno) {
        errno = flock_errno;
        return -1;
    }
    return (int)syscall(SYS_flock, fd, op);
}

static char owned_log[512];
static void owned_log_fn(enum spacefs_log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    snprintf(owned_log, sizeof(owned_log), "%s", msg);
}
static void tweak_owned_log(struct persist_config *cfg)
{
    cfg->log = owned_log_fn;
}

static int plant(const char *dir, const char *name, size_t len)
{
    char path[1200], *buf = calloc(1, len ? len : 1);
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ok = buf && (f = fopen(path, "w")) && fwrite(buf, 1, len, f) == len && fclose(f) == 0;
    free(buf);
    return ok;
}

/* One engine owns a cache directory (a second one, as from another process given the same
 * cache_dir, gets EBUSY and a line saying why), and its open removes the unfinished downloads a
 * killed run left in objects/ (sparse .part files of streamed LFS objects, .tmp files of
 * whole-object fetches), which nothing else ever would: they are hidden from eviction. */
static void test_cache_owned(void)
{
    struct persist_fake *fk = persist_fake_new();
    const char *cache = cache_path("owned");
    char objects[1100], path[1200];
    struct persist *p, *q;
    struct stat st;

    p = open_engine(fk, cache, 0, NULL);
    CHECK(p != NULL, "open");
    persist_close(p, 0);
    snprintf(objects, sizeof(objects), "%s/objects", cache);
    CHECK(plant(objects, ".part.l0123.0", 300000) && plant(objects, ".tmp.4242.7", 1000) &&
              plant(objects, "lkeep", 10),
          "a killed run's leftovers planted");
    owned_log[0] = '\0';
    p = open_engine(fk, cache, 0, tweak_owned_log);
    snprintf(path, sizeof(path), "%s/.part.l0123.0", objects);
    CHECK(p && stat(path, &st) < 0 && errno == ENOENT, "the .part file is removed at open");
    snprintf(path, sizeof(path), "%s/.tmp.4242.7", objects);
    CHECK(stat(path, &st) < 0 && errno == ENOENT, "the .tmp file too");
    snprintf(path, sizeof(path), "%s/lkeep", objects);
    CHECK(stat(path, &st) == 0, "a cached object stays");
    CHECK(strstr(owned_log, "removed 2 unfinished downloads") != NULL, "one line says so");

    owned_log[0] = '\0';
    q = open_engine(fk, cache, 0, tweak_owned_log);
    CHECK(q == NULL, "a second engine on the same cache is refused");
    CHECK(strstr(owned_log, "in use by another process") != NULL, "... saying why");
    persist_close(p, 0);
    q = open_engine(fk, cache, 0, NULL);
    CHECK(q != NULL, "once the first is closed it opens");
    persist_close(q, 0);

    /* a filesystem without flock: the engine opens as before locks, says what it cannot do,
     * and removes nothing */
    CHECK(plant(objects, ".part.l0456.0", 1000), "another leftover");
    flock_errno = ENOLCK;
    owned_log[0] = '\0';
    p = open_engine(fk, cache, 0, tweak_owned_log);
    flock_errno = 0;
    CHECK(p != NULL, "no flock: the engine still opens");
    CHECK(strstr(owned_log, "cannot lock") != NULL, "... with one line saying what it cannot do");
    snprintf(path, sizeof(path), "%s/.part.l0456.0", objects);
    CHECK(stat(path, &st) == 0, "... and removes nothing");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_offline_remount(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("offline"), 0, NULL);
    struct persist_state s;
    char buf[8];

    CHECK(put(p, "kept.txt", "kept", 4) == 0 && persist_sync_now(p) == 0, "committed");
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_CLEAN && s.base[0], "clean, with a base");
    persist_close(p, 0);
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_TRANSPORT, 3, 0);
    p = open_engine(fk, cache_path("offline"), 0, NULL);
    persist_state_get(p, &s);
    CHECK(s.base[0] != '\0', "the base survives the remount (%s)", s.base[0] ? s.base : "none");
    CHECK(get(p, "kept.txt", buf, sizeof(buf)) == 4 && !memcmp(buf, "kept", 4),
          "its files show offline");
    persist_close(p, 0);
    p = open_engine(fk, cache_path("offline"), 0, NULL);
    CHECK(get(p, "kept.txt", buf, sizeof(buf)) == 4, "and after a second offline remount");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* A handle opened but not read yet keeps the file's content when the file is unlinked or
 * replaced by a rename (its content used to be looked up by path on first read: ENOENT). */
static void test_detached_handles(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("detached"), 0, NULL);
    struct persist_handle *a = NULL, *b = NULL, *c = NULL;
    char buf[16];

    CHECK(put(p, "base.bin", "base-content", 12) == 0 && put(p, "local", "local", 5) == 0 &&
              put(p, "other", "other", 5) == 0 && persist_sync_now(p) == 0,
          "three files, committed");
    CHECK(put(p, "local", "LOCAL", 5) == 0, "local has an overlay version");
    persist_close(p, 0);
    p = open_engine(fk, cache_path("detached-empty"), 0, NULL); /* objects not cached */
    CHECK(persist_file_open(p, "base.bin", O_RDONLY, 0, &a) == 0 &&
              persist_file_open(p, "other", O_RDWR, 0, &c) == 0,
          "open two base files, read nothing");
    CHECK(put(p, "local", "LOCAL", 5) == 0 && persist_file_open(p, "local", O_RDONLY, 0, &b) == 0,
          "open an overlay file");
    CHECK(persist_unlink(p, "base.bin") == 0 && persist_unlink(p, "local") == 0 &&
              persist_rename(p, "local2", "other", 0) == -ENOENT && put(p, "x", "new", 3) == 0 &&
              persist_rename(p, "x", "other", 0) == 0,
          "unlink two, replace the third by a rename");
    CHECK(persist_read(p, a, buf, sizeof(buf), 0) == 12 && !memcmp(buf, "base-content", 12),
          "the unlinked base file reads its content (downloaded now)");
    CHECK(persist_read(p, b, buf, sizeof(buf), 0) == 5 && !memcmp(buf, "LOCAL", 5),
          "the unlinked overlay file reads its content");
    CHECK(persist_write(p, c, "O", 1, 0) == 1 && persist_read(p, c, buf, sizeof(buf), 0) == 5 &&
              !memcmp(buf, "Other", 5),
          "the replaced file is written from its own content");
    CHECK(get(p, "other", buf, sizeof(buf)) == 3 && !memcmp(buf, "new", 3),
          "the path has the renamed file");
    persist_release(p, a);
    persist_release(p, b);
    persist_release(p, c);
    CHECK(get(p, "other", buf, sizeof(buf)) == 3, "closing the detached handles changes nothing");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* utimensat with the mtime in seconds and ns (the atime left alone). */
static int set_mtime(struct persist *p, const char *path, int64_t sec, long nsec)
{
    struct timespec tv[2] = {{0, UTIME_OMIT}, {(time_t)sec, nsec}};
    return persist_utimens(p, path, tv);
}

/* Modification times: set by utimens, kept through the commit, the fetch and a remount (the Hub
 * stores none), so rsync -a sees unchanged files as unchanged; a new version from another writer
 * gets a new time. */
static void test_mtimes(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("mtimes"), 0, NULL);
    const int64_t t1 = 1577836800, t2 = 1262304000; /* 2020-01-01, 2010-01-01 */
    struct stat st;
    int64_t theirs;

    CHECK(put(p, "a.txt", "a", 1) == 0 && set_mtime(p, "a.txt", t1, 0) == 0, "write, utimens");
    CHECK(persist_getattr(p, "a.txt", &st) == 0 && st.st_mtime == t1, "the time is set");
    CHECK(persist_sync_now(p) == 0 && persist_getattr(p, "a.txt", &st) == 0 && st.st_mtime == t1,
          "kept through the commit and the fetch (%lld)", (long long)st.st_mtime);
    CHECK(set_mtime(p, "a.txt", t2, 0) == 0 && persist_getattr(p, "a.txt", &st) == 0 &&
              st.st_mtime == t2,
          "utimens on a committed file");
    CHECK(persist_rename(p, "a.txt", "b.txt", 0) == 0 && persist_getattr(p, "b.txt", &st) == 0 &&
              st.st_mtime == t2,
          "a rename keeps it");
    CHECK(persist_sync_now(p) == 0, "sync");
    persist_close(p, 0);
    p = open_engine(fk, cache_path("mtimes"), 0, NULL);
    CHECK(persist_getattr(p, "b.txt", &st) == 0 && st.st_mtime == t2, "kept across a remount");
    CHECK(set_mtime(p, "b.txt", t1, 0) == 0, "utimens on a base file");
    persist_close(p, 0);
    p = open_engine(fk, cache_path("mtimes"), 0, NULL);
    CHECK(persist_getattr(p, "b.txt", &st) == 0 && st.st_mtime == t1,
          "saved at unmount, kept across the remount (%lld)", (long long)st.st_mtime);
    persist_fake_write(fk, "b.txt", "theirs", 6);
    persist_fake_write(fk, "c.txt", "new", 3);
    CHECK(persist_sync_now(p) == 0 && persist_getattr(p, "b.txt", &st) == 0 && st.st_mtime > t2 &&
              st.st_size == 6,
          "another writer's version: a new time (%lld)", (long long)st.st_mtime);
    theirs = st.st_mtime;
    CHECK(persist_getattr(p, "c.txt", &st) == 0 && st.st_mtime >= theirs - 5,
          "a new remote file: the time it was first seen");
    CHECK(persist_mkdir(p, "d", 0755) == 0 && set_mtime(p, "d", t1, 0) == 0,
          "utimens on a directory");
    CHECK(persist_getattr(p, "d", &st) == 0 && st.st_mtime == t1, "a directory keeps its time");
    CHECK(set_mtime(p, "missing", t1, 0) == -ENOENT, "and on nothing is ENOENT");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* The journal grows by appended lines (no rewrite per close), replays them at open, ignores a
 * last line cut by a crash, and still loads version 1 journals. */
static void test_journal_append(void)
{
    struct persist_fake *fk = persist_fake_new();
    const char *cache = cache_path("journal");
    struct persist *p = open_engine(fk, cache, 0, NULL);
    char jpath[600], buf[16];
    struct stat st0, st1;
    FILE *f;

    snprintf(jpath, sizeof(jpath), "%s/journal", cache);
    CHECK(put(p, "a", "1", 1) == 0 && stat(jpath, &st0) == 0, "first close writes the journal");
    CHECK(put(p, "b", "2", 1) == 0 && put(p, "a", "3", 1) == 0 && persist_unlink(p, "b") == 0 &&
              persist_mkdir(p, "d", 0755) == 0 && persist_rename(p, "a", "d/a", 0) == 0,
          "more changes");
    CHECK(stat(jpath, &st1) == 0 && st1.st_ino == st0.st_ino && st1.st_size > st0.st_size,
          "appended to the same file (inode %lu -> %lu)", (unsigned long)st0.st_ino,
          (unsigned long)st1.st_ino);
    persist_close(p, 0);
    f = fopen(jpath, "a");
    fputs("F 99 0 0 5 77 half-writ", f); /* a line cut by a crash: no newline */
    fclose(f);
    p = open_engine(fk, cache, 0, NULL);
    CHECK(p != NULL, "reopens with a torn last line");
    CHECK(get(p, "d/a", buf, sizeof(buf)) == 1 && buf[0] == '3', "replayed: the rename");
    CHECK(get(p, "a", buf, sizeof(buf)) == -ENOENT && get(p, "b", buf, sizeof(buf)) == -ENOENT &&
              get(p, "half-writ", buf, sizeof(buf)) == -ENOENT,
          "replayed: the unlink, and nothing from the torn line");
    CHECK(persist_sync_now(p) == 0 && fake_eq(fk, "d/a", "3") && !fake_eq(fk, "a", "3"),
          "the replayed state commits");
    persist_close(p, 0);
    f = fopen(jpath, "w"); /* a version 1 journal, as older spacefs wrote it */
    fprintf(f, "spacefs-persist-journal 1\nbase -\nnext 500\ngen 3\nD 3 0 v1dir\nend\n");
    fclose(f);
    p = open_engine(fk, cache_path("journal"), 0, NULL);
    CHECK(p && persist_getattr(p, "v1dir", &st0) == 0 && S_ISDIR(st0.st_mode),
          "a version 1 journal loads");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void dir_over_uploading_file(void *arg)
{
    static int fired;
    struct persist *p = arg;
    if (fired++)
        return;
    persist_unlink(p, "d0/f0");         /* the file the running commit puts */
    persist_rename(p, "x", "d0/f0", 0); /* a directory takes its place */
}

/* A file the running commit adds is unlinked and a directory renamed onto its path while the
 * commit uploads: the next commit must delete the file, or the Dataset would hold both d0/f0
 * and d0/f0/inner (the directory's change used to replace the whiteout and drop the delete). */
static void test_dir_over_uploading_file(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("dir-over"), 0, NULL);
    struct stat st;
    char *list;

    CHECK(persist_sync_now(p) == 0, "first sync");
    CHECK(persist_mkdir(p, "d0", 0755) == 0 && put(p, "d0/f0", "file", 4) == 0 &&
              persist_mkdir(p, "x", 0755) == 0 && put(p, "x/inner", "in", 2) == 0,
          "d0/f0 and x/inner");
    persist_fake_on_commit(fk, dir_over_uploading_file, p);
    CHECK(persist_sync_now(p) == 0, "the commit of d0/f0 (meanwhile: unlinked, x renamed there)");
    persist_fake_on_commit(fk, NULL, NULL);
    CHECK(persist_sync_now(p) == 0 && persist_sync_now(p) == 0, "next rounds");
    CHECK(persist_getattr(p, "d0/f0", &st) == 0 && S_ISDIR(st.st_mode), "d0/f0 is a directory");
    list = persist_fake_list(fk);
    CHECK(list && strstr(list, "d0/f0/inner") && !strstr(list, "d0/f0\n"),
          "the Hub has d0/f0/inner and no file d0/f0 (%s)", list ? list : "?");
    free(list);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_small_commits(struct persist_config *c)
{
    c->max_commit_files = 3;
}

/* A burst larger than max_commit_files goes up in several commits (each put holds an open file
 * during its commit; 20000 files in one commit ran out of file descriptors and never synced). */
static void test_commit_batches(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("batches"), 0, tweak_small_commits);
    struct persist_state st;
    unsigned before;
    char name[16];
    int ok = 1;

    CHECK(persist_sync_now(p) == 0, "first sync");
    before = persist_fake_commit_count(fk);
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "b%d", i);
        ok &= put(p, name, name, strlen(name)) == 0;
    }
    CHECK(ok && persist_sync_now(p) == 0, "eight files, one round");
    persist_state_get(p, &st);
    CHECK(persist_fake_commit_count(fk) == before + 1 && st.state == PERSIST_PENDING &&
              st.files == 5,
          "one commit of three; five pending (%llu)", (unsigned long long)st.files);
    CHECK(persist_sync_wait(p, 10000) == 0, "sync_wait commits the rest");
    persist_state_get(p, &st);
    CHECK(persist_fake_commit_count(fk) == before + 3 && st.state == PERSIST_CLEAN,
          "in three commits in all (%u)", persist_fake_commit_count(fk) - before);
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "b%d", i);
        ok &= fake_eq(fk, name, name);
    }
    CHECK(ok, "every file is on the Hub");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_visibility(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    struct persist_handle *h;

    persist_fake_set_repo(fk, 0, 0);
    p = open_engine(fk, cache_path("vis"), 0, NULL);
    CHECK(put(p, "x", "x", 1) == 0, "write while the Dataset is missing");
    CHECK(persist_sync_now(p) == 0, "sync creates it");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_CREATE) == 1 && fake_eq(fk, "x", "x"),
          "created, committed");
    persist_close(p, 0);
    persist_fake_unref(fk);

    fk = persist_fake_new();
    persist_fake_set_repo(fk, 1, 0);
    persist_fake_write(fk, "pub", "p", 1);
    p = open_engine(fk, cache_path("vis-pub"), 0, NULL);
    CHECK(put(p, "y", "y", 1) == 0, "first write (visibility not known yet)");
    CHECK(persist_sync_now(p) == -EACCES, "public Dataset refused");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_COMMIT) == 0, "nothing committed");
    CHECK(persist_file_open(p, "z", O_CREAT | O_WRONLY, 0644, &h) == -EACCES, "create refused");
    CHECK(persist_mkdir(p, "d", 0755) == -EACCES, "mkdir refused");
    CHECK(persist_file_open(p, "pub", O_RDONLY, 0, &h) == 0, "reads still work");
    persist_release(p, h);
    persist_close(p, 0);
    persist_fake_unref(fk);

    /* Deleted on the Hub while mounted, after its visibility was known: the next change creates
     * it again (private) instead of failing "not found" until the next mount. Both ways: the
     * fetch sees it gone first, or the commit does. */
    for (int fetch_first = 1; fetch_first >= 0; fetch_first--) {
        fk = persist_fake_new();
        p = open_engine(fk, cache_path(fetch_first ? "vis-del-f" : "vis-del-c"), 0, NULL);
        CHECK(put(p, "a", "a", 1) == 0 && persist_sync_now(p) == 0 && fake_eq(fk, "a", "a"),
              "committed (the Dataset is known private)");
        persist_fake_delete_repo(fk);
        if (fetch_first)
            CHECK(persist_sync_now(p) == 0 && persist_file_open(p, "a", O_RDONLY, 0, &h) == -ENOENT,
                  "the fetch sees it gone: so does the view");
        CHECK(put(p, "b", "b", 1) == 0, "a write after the deletion");
        CHECK(persist_sync_now(p) == 0, "%s: sync creates the Dataset again",
              fetch_first ? "fetch first" : "commit first");
        CHECK(persist_fake_calls(fk, PERSIST_FAKE_CREATE) == 1 && fake_eq(fk, "b", "b"),
              "created again, and the write is on it");
        persist_close(p, 0);
        persist_fake_unref(fk);
    }
}

static void tweak_worker(struct persist_config *c)
{
    c->quiet_ms = 150;
    c->min_interval_ms = 400;
}

static void tweak_slow_backoff(struct persist_config *c)
{
    c->quiet_ms = 50;
    c->min_interval_ms = 50;
    c->backoff_base_ms = 2000;
    c->backoff_max_ms = 60000;
}

/* After failures the worker backs off (here 2 s, 4 s, ...); an explicit sync (fsync, `echo sync
 * > control`) when the Hub is back must try at once, not sleep out the backoff. */
static void test_sync_skips_backoff(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("backoff"), 1, tweak_slow_backoff);
    struct persist_state s = {0};
    struct timespec t0, t1;
    double secs;
    int rc;

    persist_fake_fail(fk, PERSIST_FAKE_COMMIT, SPACEFS_E_TRANSPORT, 2, 0);
    CHECK(put(p, "b", "b", 1) == 0, "write while commits fail");
    for (int i = 0; i < 100 && s.failures < 2; i++) {
        usleep(100 * 1000);
        persist_state_get(p, &s);
    }
    CHECK(s.failures >= 2 && s.next_attempt_ms > 2000, "two failures, next attempt in %lld ms",
          (long long)s.next_attempt_ms);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = persist_sync_wait(p, 1500);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(rc == 0 && fake_eq(fk, "b", "b"), "the sync tried at once (%s after %.2f s)",
          strerror(-rc), secs);
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void tweak_max_delay(struct persist_config *c)
{
    c->quiet_ms = 300;
    c->min_interval_ms = 100;
    c->max_delay_ms = 700;
}

/* A writer that closes a file every 50 ms never leaves a quiet period; max_delay_ms still
 * commits each change within that bound of its close (issue: 0 commits in 40 s of saving
 * every second). Without the bound this writer gets no commit until it stops. */
static void test_max_delay(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("maxdelay"), 1, tweak_max_delay);
    struct timespec t0, t1;
    unsigned during;
    double secs;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 50; i++) { /* 2.5 s of steady writes */
        char v[16];
        snprintf(v, sizeof(v), "state %d", i);
        put(p, "app.db", v, strlen(v));
        usleep(50 * 1000);
    }
    during = persist_fake_commit_count(fk);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(during >= 2, "commits while the writer never paused: %u in %.1f s (max delay 0.7 s)",
          during, secs);
    CHECK(during <= 6, "but not one per close: %u commits for 50 closes", during);
    CHECK(persist_sync_wait(p, 5000) == 0 && fake_eq(fk, "app.db", "state 49"),
          "the last state is committed");
    persist_close(p, 0);
    persist_fake_unref(fk);
}

/* The visibility probe of a mount's first commit goes out with the first change, inside the
 * quiet period, not in front of the commit: the commit that follows does not probe again, and a
 * mount that does not write does not probe at all. */
static void tweak_quiet_long(struct persist_config *c)
{
    c->quiet_ms = 60000;
    c->min_interval_ms = 0;
}

static void test_early_probe(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("earlyprobe"), 1, tweak_quiet_long);
    unsigned probes = 0;

    CHECK(p != NULL, "engine");
    if (!p) {
        persist_fake_unref(fk);
        return;
    }
    CHECK(persist_sync_wait(p, 5000) == 0, "first fetch");
    usleep(100 * 1000);
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_PROBE) == 0, "no write, no probe (%u)",
          persist_fake_calls(fk, PERSIST_FAKE_PROBE));
    CHECK(put(p, "first", "one", 3) == 0, "put first");
    for (int i = 0; i < 200 && !(probes = persist_fake_calls(fk, PERSIST_FAKE_PROBE)); i++)
        usleep(10 * 1000);
    CHECK(probes == 1, "probed with the first change (%u)", probes);
    CHECK(persist_fake_commit_count(fk) == 0, "inside the quiet period: no commit yet");
    CHECK(persist_sync_wait(p, 5000) == 0 && fake_eq(fk, "first", "one"), "committed");
    CHECK(persist_fake_calls(fk, PERSIST_FAKE_PROBE) == 1, "the commit did not probe again (%u)",
          persist_fake_calls(fk, PERSIST_FAKE_PROBE));
    persist_close(p, 0);
    persist_fake_unref(fk);
}

static void test_worker_coalescing(void)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p = open_engine(fk, cache_path("worker"), 1, tweak_worker);
    struct persist_state s;
    struct timespec t0, t1;
    double secs;

    CHECK(persist_mkdir(p, "burst", 0755) == 0, "mkdir burst");
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "burst/%d", i);
        CHECK(put(p, name, name, strlen(name)) == 0, "put %s", name);
    }
    usleep(50 * 1000);
    CHECK(persist_fake_commit_count(fk) == 0, "nothing committed inside the quiet period");
    CHECK(persist_sync_wait(p, 5000) == 0, "wait until clean");
    CHECK(persist_fake_commit_count(fk) == 1, "20 files, one commit (%u)",
          persist_fake_commit_count(fk));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    put(p, "next", "n", 1);
    CHECK(persist_sync_wait(p, 5000) == 0, "second wait");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(persist_fake_commit_count(fk) == 2, "second commit");
    CHECK(secs >= 0.3, "min interval respected even when waiting (%.3f s)", secs);
    persist_state_get(p, &s);
    CHECK(s.state == PERSIST_CLEAN, "clean");
    /* a remote change shows after a refresh */
    persist_fake_write(fk, "remote-new", "r", 1);
    persist_refresh(p);
    for (int i = 0; i < 100 && persist_getattr(p, "remote-new", &(struct stat){0}) != 0; i++)
        usleep(10 * 1000);
    CHECK(persist_getattr(p, "remote-new", &(struct stat){0}) == 0, "remote file appears");
    put(p, "at-close", "c", 1);
    persist_close(p, 3000); /* unmount waits */
    CHECK(fake_eq(fk, "at-close", "c"), "unmount committed the last change");
    persist_fake_unref(fk);
}

/* ---- crash test: a writer acknowledges each closed file, is killed -9, we verify ----------- */

static void crash_writer(const char *cache, int ack_fd, unsigned seed)
{
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    char data[512];

    /* The Hub answered the first fetch (a cache that never had one refuses new names: it cannot
     * know the Dataset has none there), then became unreachable: nothing ever syncs. */
    p = open_engine(fk, cache, 0, NULL);
    if (!p)
        _exit(3);
    persist_fake_fail(fk, PERSIST_FAKE_FETCH, SPACEFS_E_TRANSPORT, 1000000, 0);
    persist_fake_fail(fk, PERSIST_FAKE_COMMIT, SPACEFS_E_TRANSPORT, 1000000, 0);
    srand(seed);
    for (unsigned i = 0;; i++) {
        char name[32], line[64];
        struct persist_handle *h;
        size_t len = (size_t)(rand() % (int)sizeof(data));
        int k = rand() % 40;
        for (size_t j = 0; j < len; j++)
            data[j] = (char)('a' + (i + j) % 26);
        snprintf(name, sizeof(name), "dir%d/f%d", k % 4, k);
        snprintf(line, sizeof(line), "dir%d", k % 4);
        persist_mkdir(p, line, 0755);
        if (persist_file_open(p, name, O_WRONLY | O_CREAT | O_TRUNC, 0644, &h) < 0)
            _exit(4);
        /* write in two halves, so a kill can land between them */
        persist_write(p, h, data, len / 2, 0);
        persist_write(p, h, data + len / 2, len - len / 2, (int64_t)(len / 2));
        if (persist_release(p, h) < 0)
            _exit(5);
        snprintf(line, sizeof(line), "%s %zu %u\n", name, len, i);
        if (write(ack_fd, line, strlen(line)) < 0)
            _exit(6);
    }
}

/* Every acked file holds its acked version. One exception: the kill may land after the next
 * iteration's close() made its version durable and before its ack, so that iteration's file
 * (replayed from the writer's seed) may hold that newer version instead. */
static int verify_acked(struct persist *p, char acked[40][64], size_t *lens, unsigned *iters,
                        unsigned seed)
{
    int bad = 0, next_k;
    unsigned last = 0;
    size_t next_len;
    char buf[600], want[512];

    for (int k = 0; k < 40; k++)
        if (acked[k][0] && iters[k] > last)
            last = iters[k];
    srand(seed); /* the writer's sequence: len, then k, per iteration */
    for (unsigned i = 0;; i++) {
        next_len = (size_t)(rand() % 512);
        next_k = rand() % 40;
        if (i == last + 1)
            break;
    }
    for (int k = 0; k < 40; k++) {
        long n;
        if (!acked[k][0])
            continue;
        n = get(p, acked[k], buf, sizeof(buf));
        for (int pass = 0; pass < 2; pass++) {
            size_t len = pass ? next_len : lens[k];
            unsigned it = pass ? last + 1 : iters[k];
            for (size_t j = 0; j < len; j++)
                want[j] = (char)('a' + (it + j) % 26);
            if (n == (long)len && !memcmp(buf, want, len))
                break;
            if (pass || k != next_k) {
                printf("  %s: got %ld bytes, want %zu (iteration %u)\n", acked[k], n, lens[k],
                       iters[k]);
                bad++;
                break;
            }
        }
    }
    return bad;
}

static void test_crash(void)
{
    for (unsigned round = 0; round < 5; round++) {
        char cache[512], acked[40][64] = {{0}}, line[128];
        size_t lens[40] = {0}, total = 0;
        unsigned iters[40] = {0};
        int pfd[2], status;
        pid_t pid;
        FILE *in;
        struct persist_fake *fk;
        struct persist *p;

        snprintf(cache, sizeof(cache), "%s/crash%u", root, round);
        if (pipe(pfd) < 0)
            return;
        pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            crash_writer(cache, pfd[1], 1000 + round);
        }
        close(pfd[1]);
        in = fdopen(pfd[0], "r");
        /* let it write a while (acked lines), then kill -9 at an arbitrary point */
        while (total < 150u + round * 100u && fgets(line, sizeof(line), in)) {
            char name[64];
            size_t len;
            unsigned it;
            int k;
            if (sscanf(line, "%63s %zu %u", name, &len, &it) != 3)
                continue;
            k = atoi(strrchr(name, 'f') + 1);
            snprintf(acked[k], sizeof(acked[k]), "%s", name);
            lens[k] = len;
            iters[k] = it;
            total++;
        }
        kill(pid, SIGKILL);
        /* acks already in the pipe were acknowledged before the kill */
        while (fgets(line, sizeof(line), in)) {
            char name[64];
            size_t len;
            unsigned it;
            if (sscanf(line, "%63s %zu %u", name, &len, &it) == 3) {
                int k = atoi(strrchr(name, 'f') + 1);
                snprintf(acked[k], sizeof(acked[k]), "%s", name);
                lens[k] = len;
                iters[k] = it;
            }
        }
        fclose(in);
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status), "writer killed (round %u, %zu acks)", round, total);
        { /* the cache as the kill left it, kept for a look when a check below fails */
            char cmd[1200];
            snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s-killed'", cache, cache);
            if (system(cmd) != 0)
                printf("  could not copy %s\n", cache);
        }
        fk = persist_fake_new();
        p = open_engine(fk, cache, 0, NULL);
        CHECK(p != NULL, "reopen after kill -9");
        if (!p)
            continue;
        CHECK(verify_acked(p, acked, lens, iters, 1000 + round) == 0,
              "every acked file intact after kill -9");
        CHECK(persist_sync_now(p) == 0, "recovered changes upload");
        persist_close(p, 0);
        snprintf(cache, sizeof(cache), "%s/crash%u-empty", root, round);
        p = open_engine(fk, cache, 0, NULL);
        CHECK(p && verify_acked(p, acked, lens, iters, 1000 + round) == 0,
              "again from an empty cache");
        persist_close(p, 0);
        persist_fake_unref(fk);
    }
}

/* ---- differential checker ------------------------------------------------------------------ */

struct model {
    char dir[512];
};

static void mpath(char *out, size_t cap, const struct model *m, const char *rel)
{
    snprintf(out, cap, "%s/%s", m->dir, rel);
}

static const char *rand_path(unsigned *seed, char *buf, size_t cap)
{
    static const char *const names[] = {"a", "b", "c", "d", "big.bin"};
    int depth = rand_r(seed) % 3;
    buf[0] = '\0';
    for (int i = 0; i <= depth; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? "/" : "",
                 names[rand_r(seed) % 5]);
    return buf;
}

/* Compares the whole tree (files only when files_only). Returns mismatches. */
static int tree_compare(struct persist *p, const struct model *m, const char *rel, int files_only,
                        unsigned seed);

struct walk {
    struct persist *p;
    const struct model *m;
    const char *rel;
    int files_only;
    unsigned seed;
    int bad;
};

static int walk_fill(const char *name, const struct stat *st, void *payload)
{
    struct walk *w = payload;
    char rel[512], mp[1024];
    struct stat mst;
    snprintf(rel, sizeof(rel), "%s%s%s", w->rel, *w->rel ? "/" : "", name);
    mpath(mp, sizeof(mp), w->m, rel);
    if (stat(mp, &mst) < 0) {
        printf("  seed %u: %s exists in persist only\n", w->seed, rel);
        w->bad++;
    } else if (S_ISDIR(mst.st_mode) != S_ISDIR(st->st_mode)) {
        printf("  seed %u: %s type differs\n", w->seed, rel);
        w->bad++;
    }
    return 0;
}

static int tree_compare(struct persist *p, const struct model *m, const char *rel, int files_only,
                        unsigned seed)
{
    char mp[1024], child[512];
    struct dirent *de;
    int bad = 0;
    DIR *d;

    mpath(mp, sizeof(mp), m, rel);
    if (!(d = opendir(mp)))
        return 1;
    while ((de = readdir(d))) {
        struct stat mst, pst;
        char full[1400];
        if (de->d_name[0] == '.')
            continue;
        snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        snprintf(full, sizeof(full), "%s/%s", mp, de->d_name);
        if (stat(full, &mst) < 0)
            continue;
        if (S_ISDIR(mst.st_mode)) {
            if (persist_getattr(p, child, &pst) < 0) {
                if (!files_only) {
                    printf("  seed %u: dir %s missing\n", seed, child);
                    bad++;
                }
                continue;
            }
            bad += tree_compare(p, m, child, files_only, seed);
        } else {
            static char a[70000], b[70000];
            long n = get(p, child, a, sizeof(a));
            int fd = open(full, O_RDONLY);
            ssize_t k = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
            if (fd >= 0)
                close(fd);
            if (persist_getattr(p, child, &pst) < 0 || pst.st_size != mst.st_size) {
                printf("  seed %u: %s size differs\n", seed, child);
                bad++;
            }
            if (n != k || memcmp(a, b, (size_t)k) != 0) {
                printf("  seed %u: %s differs (%ld vs %zd bytes)\n", seed, child, n, k);
                bad++;
            }
        }
    }
    closedir(d);
    if (!files_only) {
        struct walk w = {p, m, rel, files_only, seed, 0};
        persist_readdir(p, rel, walk_fill, &w);
        bad += w.bad;
    }
    return bad;
}

static int neg_errno(int r)
{
    return r < 0 ? -errno : 0;
}

static int run_checker(unsigned seed, int ops, int *out_ops_done)
{
    struct persist_fake *fk = persist_fake_new();
    struct model m;
    struct persist *p;
    char cache[512], a[256], b[256], ma[1024], mb[1024];
    static char data[66000];
    int bad = 0, i;
    const unsigned seed0 = seed;

    snprintf(m.dir, sizeof(m.dir), "%s/model-%u", root, seed);
    snprintf(cache, sizeof(cache), "%s/diff-%u", root, seed);
    mkdir(m.dir, 0700);
    p = open_engine(fk, cache, 0, NULL);
    for (i = 0; i < ops && !bad; i++) {
        int op = rand_r(&seed) % 100, rp = 0, rm = 0;
        rand_path(&seed, a, sizeof(a));
        rand_path(&seed, b, sizeof(b));
        mpath(ma, sizeof(ma), &m, a);
        mpath(mb, sizeof(mb), &m, b);
        if (op < 30) { /* write at a random offset (create or not, truncate or not) */
            int flags =
                O_WRONLY | (rand_r(&seed) % 4 ? O_CREAT : 0) | (rand_r(&seed) % 3 ? 0 : O_TRUNC);
            size_t len = (size_t)(rand_r(&seed) % 300);
            int64_t off = rand_r(&seed) % 200;
            struct persist_handle *h;
            int fd;
            if (strstr(a, "big") && rand_r(&seed) % 2)
                len = 1000 + (size_t)(rand_r(&seed) % 60000);
            for (size_t j = 0; j < len; j++)
                data[j] = (char)(rand_r(&seed) & 0xff);
            fd = open(ma, flags, 0644);
            rm = fd < 0 ? -errno : 0;
            rp = persist_file_open(p, a, flags, 0644, &h);
            if (fd >= 0) {
                if (pwrite(fd, data, len, off) != (ssize_t)len)
                    rm = -EIO;
                close(fd);
            }
            if (rp == 0) {
                long n = persist_write(p, h, data, len, off);
                if (n != (long)len)
                    rp = n < 0 ? (int)n : -EIO;
                persist_release(p, h);
            }
        } else if (op < 38) {
            int64_t sz = rand_r(&seed) % 400;
            rm = neg_errno(truncate(ma, sz));
            rp = persist_truncate(p, a, sz);
        } else if (op < 50) {
            rm = neg_errno(unlink(ma));
            rp = persist_unlink(p, a);
        } else if (op < 62) {
            rm = neg_errno(mkdir(ma, 0755));
            rp = persist_mkdir(p, a, 0755);
        } else if (op < 70) {
            rm = neg_errno(rmdir(ma));
            rp = persist_rmdir(p, a);
        } else if (op < 85) {
            rm = neg_errno(rename(ma, mb));
            rp = persist_rename(p, a, b, 0);
        } else if (op < 93) {
            struct stat ms, ps;
            rm = neg_errno(stat(ma, &ms));
            rp = persist_getattr(p, a, &ps);
            if (!rm && !rp &&
                (S_ISDIR(ms.st_mode) != S_ISDIR(ps.st_mode) ||
                 (!S_ISDIR(ms.st_mode) && ms.st_size != ps.st_size))) {
                printf("  seed-run: stat %s differs (size %lld vs %lld)\n", a,
                       (long long)ms.st_size, (long long)ps.st_size);
                bad++;
            }
        } else if (op < 97) {
            rp = persist_sync_now(p);
            if (rp) {
                struct persist_state st;
                persist_state_get(p, &st);
                printf("  sync failed: %s\n", st.last_error);
            }
        } else if (op < 99) {
            persist_close(p, 0);
            p = open_engine(fk, cache, 0, NULL);
        } else {
            bad += tree_compare(p, &m, "", 0, seed0);
        }
        if (rm != rp) {
            printf("  op %d (%d) on %s -> %s: model %d, persist %d\n", i, op, a, b, rm, rp);
            bad++;
        }
        if (getenv("PERSIST_TRACE"))
            printf("  op %d (%d) %s -> %s: %d %d\n", i, op, a, b, rm, rp);
        if (getenv("PERSIST_PARANOID") && !bad && (bad = tree_compare(p, &m, "", 0, seed0)))
            printf("  after op %d (%d) on %s -> %s (model %d)\n", i, op, a, b, rm);
    }
    bad += tree_compare(p, &m, "", 0, seed0);
    /* everything committed, then a mount from an empty cache has the same files */
    if (persist_sync_now(p) != 0)
        bad++;
    persist_close(p, 0);
    snprintf(cache, sizeof(cache), "%s/diff-empty", root);
    rm_rf(cache);
    p = open_engine(fk, cache, 0, NULL);
    bad += tree_compare(p, &m, "", 1, seed0);
    persist_close(p, 0);
    persist_fake_unref(fk);
    *out_ops_done = i;
    return bad;
}

static void test_differential(void)
{
    const char *env = getenv("PERSIST_SEED");
    unsigned seeds = env ? 1 : 6,
             base = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    int total = 0;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned s = 0; s < seeds; s++) {
        unsigned seed = base + s;
        int done = 0, bad = run_checker(seed, 1000, &done);
        total += done;
        CHECK(bad == 0,
              "differential checker, seed %u (replay: PERSIST_SEED=%u), failed after %d ops", seed,
              seed, done);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("differential: %d ops over %u seeds from %u in %.2f s\n", total, seeds, base,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int main(void)
{
    snprintf(root, sizeof(root), "%s/persist-unit.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_basic();
    test_namespace();
    test_refused_names();
    test_cache_symlinks();
    test_lazy_objects();
    test_rename_dirs();
    test_open_handles();
    test_stale_parent();
    test_faults();
    test_change_during_upload();
    test_visibility();
    test_sha256();
    test_remove_during_commit();
    test_remove_after_commit();
    test_offline_remount();
    test_cache_owned();
    test_detached_handles();
    test_mtimes();
    test_journal_append();
    test_commit_batches();
    test_dir_over_uploading_file();
    test_object_over_cache();
    test_hash_while_writing();
    test_hash_behind_writer();
    test_own_uploads_cached();
    test_worker_coalescing();
    test_early_probe();
    test_max_delay();
    test_sync_skips_backoff();
    test_crash();
    test_differential();
    if (!failed)
        rm_rf(root);
    else
        printf("kept %s\n", root);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
