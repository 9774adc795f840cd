/* Unit tests of the filesystem logic on the fake backend (label unit): path rules, caches and
 * request budgets, control/hardware/sleeptime parsing, secrets and variables, errno mapping,
 * concurrency and the generation counter, logs; persist/ and snapshots/ on the fake remote; every
 * status through every subtree against the one errno table. No kernel mount. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend_fake.h"
#include "fs.h"
#include "remote_fake.h"

static int passed, failed;

#define CHECK(name, cond)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL - %s (%s:%d)\n", name, __FILE__, __LINE__);                               \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(name, want, got)                                                                  \
    do {                                                                                           \
        long w_ = (long)(want), g_ = (long)(got);                                                  \
        if (w_ == g_) {                                                                            \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL - %s: expected %ld, got %ld (%s:%d)\n", name, w_, g_, __FILE__,           \
                   __LINE__);                                                                      \
        }                                                                                          \
    } while (0)
#define CHECK_STR(name, want, got)                                                                 \
    do {                                                                                           \
        const char *w_ = (want), *g_ = (got);                                                      \
        if (g_ && strcmp(w_, g_) == 0) {                                                           \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL - %s: expected [%s], got [%s] (%s:%d)\n", name, w_, g_ ? g_ : "(null)",   \
                   __FILE__, __LINE__);                                                            \
        }                                                                                          \
    } while (0)

struct env {
    struct spacefs_fake *fake;
    struct spacefs_fs *fs;
};

static void env_open(struct env *e, unsigned ttl_ms)
{
    struct spacefs_config cfg;

    spacefs_config_init(&cfg);
    cfg.ttl_ms = ttl_ms;
    e->fake = spacefs_fake_new();
    spacefs_fake_add_space(e->fake, "alice/chat", "RUNNING", "cpu-basic", 172800);
    spacefs_fake_add_space(e->fake, "alice/notes", "PAUSED", "t4-small", 3600);
    spacefs_fake_add_space(e->fake, "alice/sleepy", "STOPPED", "cpu-basic", -1);
    spacefs_fake_add_space(e->fake, "alice/four", "RUNNING", "cpu-basic", 172800);
    spacefs_fake_add_space(e->fake, "alice/five", "BUILDING", "cpu-basic", 172800);
    spacefs_fake_add_space(e->fake, "acme/dashboard", "RUNNING", NULL, 0);
    spacefs_fake_add_space(e->fake, "gradio/hello", "RUNNING", "cpu-basic", 172800);
    spacefs_fake_set_kv(e->fake, "alice/chat", 1, "OPENAI_API_KEY", "sk-test");
    spacefs_fake_set_kv(e->fake, "alice/chat", 0, "MODEL", "gpt2");
    if (spacefs_fs_new(&e->fs, &cfg, spacefs_fake_backend(e->fake)) < 0)
        abort();
}

static void env_close(struct env *e)
{
    spacefs_fs_free(e->fs);
    spacefs_fake_free(e->fake);
}

/* Reads a whole file through open/read/release; returns -errno or the length. */
static long slurp(struct spacefs_fs *fs, const char *path, char *buf, size_t size)
{
    struct spacefs_handle *h;
    long n, total = 0;
    int rc;

    if ((rc = spacefs_fs_open(fs, path, O_RDONLY, &h)) < 0)
        return rc;
    while ((n = spacefs_fs_read(fs, h, buf + total, size - 1 - (size_t)total, total)) > 0)
        total += n;
    buf[total] = '\0';
    spacefs_fs_release(fs, h);
    return n < 0 ? n : total;
}

/* Writes one buffer as `echo`/`printf` would: open(O_WRONLY|O_TRUNC[|O_CREAT]), write, close. */
static long put(struct spacefs_fs *fs, const char *path, const char *data, int create)
{
    struct spacefs_handle *h;
    long n;
    int rc;

    rc = create ? spacefs_fs_create(fs, path, 0644, O_WRONLY | O_TRUNC, &h)
                : spacefs_fs_open(fs, path, O_WRONLY | O_TRUNC, &h);
    if (rc < 0)
        return rc;
    rc = spacefs_fs_flush(fs, h); /* a shell flushes a dup before writing */
    n = strlen(data) ? spacefs_fs_write(fs, h, data, strlen(data), 0) : 0;
    if (rc == 0)
        rc = spacefs_fs_flush(fs, h); /* close(2): a secret or variable is sent here */
    spacefs_fs_release(fs, h);
    return n < 0 ? n : rc < 0 ? rc : n;
}

struct names {
    char all[1024];
    int count;
};

static int collect(const char *name, const struct stat *st, void *payload)
{
    struct names *n = payload;

    (void)st;
    if (strcmp(name, ".") && strcmp(name, "..")) {
        strcat(n->all, name);
        strcat(n->all, " ");
        n->count++;
    }
    return 0;
}

static void test_paths(void)
{
    struct env e;
    struct stat st;

    env_open(&e, 5000);
    CHECK_EQ("invalid namespace name is ENOENT", -ENOENT, spacefs_fs_getattr(e.fs, "/.Trash", &st));
    CHECK_EQ("bad space name is ENOENT", -ENOENT, spacefs_fs_getattr(e.fs, "/alice/a--b", &st));
    CHECK_EQ("unknown file is ENOENT", -ENOENT, spacefs_fs_getattr(e.fs, "/alice/chat/x/y/z", &st));
    CHECK_EQ("impossible names send nothing", 0, spacefs_fake_total(e.fake));
    CHECK_EQ("root", 0, spacefs_fs_getattr(e.fs, "/", &st));
    CHECK("root is a dir", S_ISDIR(st.st_mode));
    CHECK_EQ(".spacefs/health exists", 0, spacefs_fs_getattr(e.fs, "/.spacefs/health", &st));
    CHECK_EQ("root getattr sends nothing", 0, spacefs_fake_total(e.fake));
    env_close(&e);
}

static void test_root_and_listing_budget(void)
{
    struct env e;
    struct names n = {{0}, 0};
    struct stat st;
    char buf[256], path[128];
    const char *spaces[] = {"chat", "notes", "sleepy", "four", "five"};
    int i;

    env_open(&e, 5000);
    CHECK_EQ("readdir /", 0, spacefs_fs_readdir(e.fs, "/", collect, &n));
    CHECK_STR("root lists own namespaces", ".spacefs alice acme ", n.all);
    CHECK_EQ("root costs one whoami", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_WHOAMI));

    spacefs_fake_reset_counts(e.fake);
    memset(&n, 0, sizeof(n));
    CHECK_EQ("readdir /alice", 0, spacefs_fs_readdir(e.fs, "/alice", collect, &n));
    CHECK_EQ("5 Spaces listed", 5, n.count);
    CHECK_EQ("ls of 5 Spaces at page size 2 costs 3 pages", 3,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_LIST));
    CHECK_EQ("and nothing else", 3, spacefs_fake_total(e.fake));
    /* ls -l: stat of every Space, then cat of every status: all from the cache */
    for (i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "/alice/%s", spaces[i]);
        CHECK_EQ("stat Space", 0, spacefs_fs_getattr(e.fs, path, &st));
        snprintf(path, sizeof(path), "/alice/%s/status", spaces[i]);
        CHECK_EQ("stat status", 0, spacefs_fs_getattr(e.fs, path, &st));
        CHECK("status is read-only 0444", (st.st_mode & 07777) == 0444);
        CHECK("cat status", slurp(e.fs, path, buf, sizeof(buf)) > 0);
        CHECK_EQ("status size is its content", (long)strlen(buf), (long)st.st_size);
    }
    CHECK_EQ("warm stat and cat status cost nothing", 3, spacefs_fake_total(e.fake));
    CHECK_EQ("cat status", 8, slurp(e.fs, "/alice/chat/status", buf, sizeof(buf)));
    CHECK_STR("status is one word", "RUNNING\n", buf);
    slurp(e.fs, "/alice/notes/hardware", buf, sizeof(buf));
    CHECK_STR("hardware", "t4-small\n", buf);
    slurp(e.fs, "/alice/notes/sleeptime", buf, sizeof(buf));
    CHECK_STR("sleeptime", "3600\n", buf);
    slurp(e.fs, "/alice/sleepy/sleeptime", buf, sizeof(buf));
    CHECK_STR("sleeptime never", "never\n", buf);
    slurp(e.fs, "/alice/chat/url", buf, sizeof(buf));
    CHECK_STR("url", "https://chat.fake.space\n", buf);
    slurp(e.fs, "/alice/chat/control", buf, sizeof(buf));
    CHECK_STR("control before any action", "none\n", buf);
    CHECK_EQ("still nothing sent", 3, spacefs_fake_total(e.fake));

    /* JSON files: one request each, then cached */
    CHECK("runtime.json", slurp(e.fs, "/alice/chat/runtime.json", buf, sizeof(buf)) > 0);
    CHECK("runtime.json has the stage", strstr(buf, "\"stage\": \"RUNNING\"") != NULL);
    slurp(e.fs, "/alice/chat/runtime.json", buf, sizeof(buf));
    CHECK_EQ("runtime.json cached", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_RUNTIME));
    CHECK("info.json", slurp(e.fs, "/alice/chat/info.json", buf, sizeof(buf)) > 0);
    CHECK("info.json ends with newline", buf[strlen(buf) - 1] == '\n');
    env_close(&e);
}

static void test_negative_and_ttl(void)
{
    struct env e;
    struct stat st;

    env_open(&e, 150);
    CHECK_EQ("missing Space", -ENOENT, spacefs_fs_getattr(e.fs, "/alice/nope", &st));
    CHECK_EQ("missing Space again", -ENOENT, spacefs_fs_getattr(e.fs, "/alice/nope", &st));
    CHECK_EQ("negative lookup cached (3 pages once)", 3,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_LIST));
    CHECK_EQ("unknown namespace", -ENOENT, spacefs_fs_getattr(e.fs, "/nobody", &st));
    CHECK_EQ("unknown namespace again", -ENOENT, spacefs_fs_getattr(e.fs, "/nobody", &st));
    CHECK_EQ("negative namespace cached (1 page once)", 4,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_LIST));
    CHECK_EQ("own empty namespace exists", 0, spacefs_fs_getattr(e.fs, "/acme", &st));
    usleep(200 * 1000);
    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("after the ttl", 0, spacefs_fs_getattr(e.fs, "/alice/chat/status", &st));
    CHECK_EQ("a stale listing is refreshed", 3, spacefs_fake_count(e.fake, SPACEFS_FAKE_LIST));
    env_close(&e);
}

static void test_control(void)
{
    struct env e;
    struct stat st;
    char buf[256];

    env_open(&e, 5000);
    CHECK_EQ("stat control", 0, spacefs_fs_getattr(e.fs, "/alice/chat/control", &st));
    CHECK("control is 0644", (st.st_mode & 07777) == 0644);
    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("unknown word is EINVAL", -EINVAL, put(e.fs, "/alice/chat/control", "reboot\n", 0));
    CHECK_EQ("empty is EINVAL", -EINVAL, put(e.fs, "/alice/chat/control", "\n", 0));
    CHECK_EQ("two lines are EINVAL", -EINVAL,
             put(e.fs, "/alice/chat/control", "restart\nrestart\n", 0));
    CHECK_EQ("delete needs the full id", -EINVAL,
             put(e.fs, "/alice/chat/control", "delete alice/notes\n", 0));
    CHECK_EQ("delete alone is EINVAL", -EINVAL, put(e.fs, "/alice/chat/control", "delete\n", 0));
    CHECK_EQ("bad input sends nothing", 0, spacefs_fake_total(e.fake));

    CHECK_EQ("restart", 8, put(e.fs, "/alice/chat/control", "restart\n", 0));
    CHECK_EQ("one restart call", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART));
    slurp(e.fs, "/alice/chat/status", buf, sizeof(buf));
    CHECK_STR("status refreshed by the write", "BUILDING\n", buf);
    CHECK_EQ("without a listing", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_LIST));
    slurp(e.fs, "/alice/chat/control", buf, sizeof(buf));
    CHECK("control shows the last action", strncmp(buf, "restart 20", 10) == 0);
    CHECK("and its result", strstr(buf, " ok BUILDING\n") != NULL);

    CHECK_EQ("printf rebuild", 7, put(e.fs, "/alice/chat/control", "rebuild", 0));
    CHECK_EQ("rebuild is a restart", 2, spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART));
    CHECK_EQ("pause", 6, put(e.fs, "/alice/chat/control", "pause\n", 0));
    slurp(e.fs, "/alice/chat/status", buf, sizeof(buf));
    CHECK_STR("paused", "PAUSED\n", buf);

    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("ping", 5, put(e.fs, "/alice/four/control", "ping\n", 0));
    CHECK_EQ("ping visits", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_VISIT));
    CHECK_EQ("ping never restarts", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART));
    {
        char *u = spacefs_fake_last_visit(e.fake);
        CHECK_STR("the app URL", "https://four.fake.space", u);
        free(u);
    }
    CHECK_EQ("wakeup a sleeping Space", 7, put(e.fs, "/alice/sleepy/control", "wakeup\n", 0));
    CHECK_EQ("by a visit", 2, spacefs_fake_count(e.fake, SPACEFS_FAKE_VISIT));
    CHECK_EQ("not a restart", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART));
    slurp(e.fs, "/alice/sleepy/status", buf, sizeof(buf));
    CHECK_STR("stage read anew after a visit", "APP_STARTING\n", buf);
    CHECK_EQ("wakeup a paused Space", 7, put(e.fs, "/alice/notes/control", "wakeup\n", 0));
    CHECK_EQ("by a restart", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART));

    /* the Hub refuses: the writer gets the errno, control says why */
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_RESTART, SPACEFS_E_FORBIDDEN, 403, 1);
    CHECK_EQ("403 reaches the writer", -EACCES, put(e.fs, "/alice/four/control", "restart\n", 0));
    slurp(e.fs, "/alice/four/control", buf, sizeof(buf));
    CHECK("control shows the failure", strstr(buf, "failed: Permission denied") != NULL);
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_RESTART, SPACEFS_E_RATE_LIMITED, 429, 1);
    CHECK_EQ("429 is EAGAIN", -EAGAIN, put(e.fs, "/alice/four/control", "restart\n", 0));

    /* other namespaces are read-only: mode 0444 and open for writing is EACCES */
    CHECK_EQ("stat foreign control", 0, spacefs_fs_getattr(e.fs, "/gradio/hello/control", &st));
    CHECK("foreign control is 0444", (st.st_mode & 07777) == 0444);
    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("writing it is EACCES", -EACCES, put(e.fs, "/gradio/hello/control", "restart\n", 0));
    CHECK_EQ("and sends nothing", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART));

    CHECK_EQ("delete alice/five", 18, put(e.fs, "/alice/five/control", "delete alice/five\n", 0));
    CHECK_EQ("one delete", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_DELETE));
    CHECK_EQ("gone", -ENOENT, spacefs_fs_getattr(e.fs, "/alice/five", &st));
    env_close(&e);
}

static void test_read_token(void)
{
    struct env e;
    struct stat st;

    env_open(&e, 5000);
    spacefs_fake_whoami(e.fake, "alice", "read", "acme");
    CHECK_EQ("stat", 0, spacefs_fs_getattr(e.fs, "/alice/chat/hardware", &st));
    CHECK("a read token makes hardware 0444", (st.st_mode & 07777) == 0444);
    CHECK_EQ("write is EACCES", -EACCES, put(e.fs, "/alice/chat/control", "restart\n", 0));
    CHECK_EQ("mkdir is EACCES", -EACCES, spacefs_fs_mkdir(e.fs, "/alice/new", 0755));
    CHECK_EQ("nothing sent", 0,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_RESTART) +
                 spacefs_fake_count(e.fake, SPACEFS_FAKE_CREATE));
    env_close(&e);
}

static void test_hardware_sleeptime(void)
{
    struct env e;
    char buf[64];

    env_open(&e, 5000);
    CHECK_EQ("unknown flavor is EINVAL", -EINVAL, put(e.fs, "/alice/chat/hardware", "h100\n", 0));
    CHECK_EQ("bad characters are EINVAL", -EINVAL,
             put(e.fs, "/alice/chat/hardware", "T4 small\n", 0));
    CHECK_EQ("no hardware request sent", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_HARDWARE));
    CHECK_EQ("flavor list fetched once", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_FLAVORS));
    CHECK_EQ("t4-small", 9, put(e.fs, "/alice/chat/hardware", "t4-small\n", 0));
    CHECK_EQ("one hardware request", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_HARDWARE));
    CHECK_EQ("flavor list cached", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_FLAVORS));
    slurp(e.fs, "/alice/chat/hardware", buf, sizeof(buf));
    CHECK_STR("hardware shows it", "t4-small\n", buf);

    CHECK_EQ("sleeptime word", -EINVAL, put(e.fs, "/alice/chat/sleeptime", "soon\n", 0));
    CHECK_EQ("sleeptime negative", -EINVAL, put(e.fs, "/alice/chat/sleeptime", "-5\n", 0));
    CHECK_EQ("sleeptime zero", -EINVAL, put(e.fs, "/alice/chat/sleeptime", "0\n", 0));
    CHECK_EQ("sleeptime junk", -EINVAL, put(e.fs, "/alice/chat/sleeptime", "12x\n", 0));
    CHECK_EQ("no sleeptime request sent", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_SLEEPTIME));
    CHECK_EQ("sleeptime 3600", 5, put(e.fs, "/alice/chat/sleeptime", "3600\n", 0));
    slurp(e.fs, "/alice/chat/sleeptime", buf, sizeof(buf));
    CHECK_STR("sleeptime shows it", "3600\n", buf);
    CHECK_EQ("sleeptime never", 6, put(e.fs, "/alice/chat/sleeptime", "never\n", 0));
    slurp(e.fs, "/alice/chat/sleeptime", buf, sizeof(buf));
    CHECK_STR("sleeptime never shows", "never\n", buf);
    CHECK_EQ("two sleeptime requests", 2, spacefs_fake_count(e.fake, SPACEFS_FAKE_SLEEPTIME));
    env_close(&e);
}

static void test_secrets_variables(void)
{
    struct spacefs_handle *h;
    struct env e;
    struct stat st;
    struct names n = {{0}, 0};
    char buf[256], *v;

    env_open(&e, 5000);
    CHECK_EQ("list secrets", 0, spacefs_fs_readdir(e.fs, "/alice/chat/secrets", collect, &n));
    CHECK_STR("secret names", "OPENAI_API_KEY ", n.all);
    CHECK_EQ("stat secret", 0, spacefs_fs_getattr(e.fs, "/alice/chat/secrets/OPENAI_API_KEY", &st));
    CHECK("secret is 0200", (st.st_mode & 07777) == 0200);
    CHECK_EQ("secret size 0", 0, st.st_size);
    CHECK_EQ("reading a secret is EACCES", -EACCES,
             spacefs_fs_open(e.fs, "/alice/chat/secrets/OPENAI_API_KEY", O_RDONLY, &h));
    CHECK_EQ("read-write too", -EACCES,
             spacefs_fs_open(e.fs, "/alice/chat/secrets/OPENAI_API_KEY", O_RDWR, &h));

    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("invalid name is EINVAL", -EINVAL,
             put(e.fs, "/alice/chat/secrets/bad-name", "x\n", 1));
    CHECK_EQ("digit first is EINVAL", -EINVAL, put(e.fs, "/alice/chat/secrets/1KEY", "x\n", 1));
    CHECK_EQ("invalid names send nothing", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));

    CHECK_EQ("echo value > secrets/NEW", 7, put(e.fs, "/alice/chat/secrets/NEW", "s3cr3t\n", 1));
    v = spacefs_fake_get_kv(e.fake, "alice/chat", 1, "NEW");
    CHECK_STR("one trailing newline stripped", "s3cr3t", v);
    free(v);
    CHECK_EQ("printf keeps it exact", 5, put(e.fs, "/alice/chat/secrets/NEW", "a\n\nb\n", 0));
    v = spacefs_fake_get_kv(e.fake, "alice/chat", 1, "NEW");
    CHECK_STR("only one newline stripped", "a\n\nb", v);
    free(v);
    CHECK_EQ("new secret listed", 0, spacefs_fs_getattr(e.fs, "/alice/chat/secrets/NEW", &st));
    CHECK_EQ("rm secret", 0, spacefs_fs_unlink(e.fs, "/alice/chat/secrets/NEW"));
    CHECK_EQ("gone from the fake", 0,
             (long)(intptr_t)spacefs_fake_get_kv(e.fake, "alice/chat", 1, "NEW"));
    CHECK_EQ("gone from the cache", -ENOENT,
             spacefs_fs_getattr(e.fs, "/alice/chat/secrets/NEW", &st));
    CHECK_EQ("rm missing is ENOENT", -ENOENT, spacefs_fs_unlink(e.fs, "/alice/chat/secrets/NEW"));

    spacefs_fake_fault(e.fake, SPACEFS_FAKE_KV_SET, SPACEFS_E_FORBIDDEN, 403, 1);
    CHECK_EQ("403 on set reaches the writer", -EACCES,
             put(e.fs, "/alice/chat/secrets/OTHER", "x\n", 1));
    CHECK_EQ("failed create leaves no entry", -ENOENT,
             spacefs_fs_getattr(e.fs, "/alice/chat/secrets/OTHER", &st));

    CHECK_EQ("cat variable", 5, slurp(e.fs, "/alice/chat/variables/MODEL", buf, sizeof(buf)));
    CHECK_STR("value and newline", "gpt2\n", buf);
    CHECK_EQ("stat variable", 0, spacefs_fs_getattr(e.fs, "/alice/chat/variables/MODEL", &st));
    CHECK_EQ("variable size", 5, st.st_size);
    CHECK("variable is 0644", (st.st_mode & 07777) == 0644);
    CHECK_EQ("echo > variable", 7, put(e.fs, "/alice/chat/variables/MODEL", "llama3\n", 0));
    slurp(e.fs, "/alice/chat/variables/MODEL", buf, sizeof(buf));
    CHECK_STR("round trip", "llama3\n", buf);
    CHECK_EQ("empty value by : >", 0, put(e.fs, "/alice/chat/variables/EMPTY", "", 1));
    v = spacefs_fake_get_kv(e.fake, "alice/chat", 0, "EMPTY");
    CHECK_STR("empty variable set", "", v);
    free(v);
    CHECK_EQ("foreign namespaces have no secrets", -ENOENT,
             spacefs_fs_getattr(e.fs, "/gradio/hello/secrets", &st));
    env_close(&e);
}

/* Issue 11 item 8: a value written in several write(2) calls goes to the Hub once, whole, at
 * close (flush); a value past VALUE_MAX is EFBIG at write and nothing is sent; the Hub's error
 * is close's. */
static void test_kv_whole_values(void)
{
    struct spacefs_handle *h;
    struct env e;
    char *v, *big;
    int i;

    env_open(&e, 5000);
    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("open", 0,
             spacefs_fs_create(e.fs, "/alice/chat/secrets/MULTI", 0644, O_WRONLY | O_TRUNC, &h));
    CHECK_EQ("flush of the shell's dup sends nothing", 0, spacefs_fs_flush(e.fs, h));
    CHECK_EQ("write 1", 3, spacefs_fs_write(e.fs, h, "abc", 3, 0));
    CHECK_EQ("write 2", 3, spacefs_fs_write(e.fs, h, "def", 3, 3));
    CHECK_EQ("write 3", 4, spacefs_fs_write(e.fs, h, "ghi\n", 4, 6));
    CHECK_EQ("nothing sent by the writes", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));
    CHECK_EQ("close sends", 0, spacefs_fs_flush(e.fs, h));
    spacefs_fs_release(e.fs, h);
    CHECK_EQ("one request", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));
    v = spacefs_fake_get_kv(e.fake, "alice/chat", 1, "MULTI");
    CHECK_STR("the whole value", "abcdefghi", v);
    free(v);

    /* too big: EFBIG at the write that crosses the limit, nothing sent, the old value stays */
    spacefs_fake_reset_counts(e.fake);
    big = calloc(1, 4096);
    memset(big, 'x', 4096);
    CHECK_EQ("open", 0,
             spacefs_fs_open(e.fs, "/alice/chat/variables/MODEL", O_WRONLY | O_TRUNC, &h));
    for (i = 0; i < 16; i++)
        CHECK_EQ("4 KiB write", 4096, spacefs_fs_write(e.fs, h, big, 4096, (int64_t)i * 4096));
    CHECK_EQ("past 64 KiB is EFBIG", -EFBIG, spacefs_fs_write(e.fs, h, "y", 1, 65536));
    CHECK_EQ("close says EFBIG", -EFBIG, spacefs_fs_flush(e.fs, h));
    spacefs_fs_release(e.fs, h);
    CHECK_EQ("nothing sent", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));
    v = spacefs_fake_get_kv(e.fake, "alice/chat", 0, "MODEL");
    CHECK_STR("the Hub keeps the old value", "gpt2", v);
    free(v);
    free(big);

    /* fsync(2) sends what was written so far, whole; the close after it sends nothing more */
    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("open", 0,
             spacefs_fs_open(e.fs, "/alice/chat/variables/MODEL", O_WRONLY | O_TRUNC, &h));
    CHECK_EQ("write", 3, spacefs_fs_write(e.fs, h, "ab\n", 3, 0));
    CHECK_EQ("fsync sends", 0, spacefs_fs_fsync(e.fs, h));
    CHECK_EQ("one request", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));
    CHECK_EQ("close", 0, spacefs_fs_flush(e.fs, h));
    spacefs_fs_release(e.fs, h);
    CHECK_EQ("still one", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));
    v = spacefs_fake_get_kv(e.fake, "alice/chat", 0, "MODEL");
    CHECK_STR("the value", "ab", v);
    free(v);

    /* the Hub's error at send is close's */
    spacefs_fake_reset_counts(e.fake);
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_KV_SET, SPACEFS_E_FORBIDDEN, 403, 1);
    CHECK_EQ("open", 0,
             spacefs_fs_open(e.fs, "/alice/chat/variables/MODEL", O_WRONLY | O_TRUNC, &h));
    CHECK_EQ("write", 2, spacefs_fs_write(e.fs, h, "v\n", 2, 0));
    CHECK_EQ("close is EACCES", -EACCES, spacefs_fs_flush(e.fs, h));
    spacefs_fs_release(e.fs, h);
    CHECK_EQ("one attempt, not retried at release", 1,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_KV_SET));
    env_close(&e);
}

static void test_mkdir_rmdir(void)
{
    struct env e;
    struct stat st;

    env_open(&e, 5000);
    spacefs_fs_getattr(e.fs, "/alice", &st);
    spacefs_fake_reset_counts(e.fake);
    CHECK_EQ("invalid name", -EINVAL, spacefs_fs_mkdir(e.fs, "/alice/bad--name", 0755));
    CHECK_EQ("invalid name 2", -EINVAL, spacefs_fs_mkdir(e.fs, "/alice/with space", 0755));
    CHECK_EQ("no namespace creation", -EPERM, spacefs_fs_mkdir(e.fs, "/newns", 0755));
    CHECK_EQ("foreign namespace", -EACCES, spacefs_fs_mkdir(e.fs, "/gradio/mine", 0755));
    CHECK_EQ("none sent", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_CREATE));
    CHECK_EQ("mkdir", 0, spacefs_fs_mkdir(e.fs, "/alice/fresh", 0755));
    CHECK_EQ("one create", 1, spacefs_fake_count(e.fake, SPACEFS_FAKE_CREATE));
    CHECK_EQ("visible at once", 0, spacefs_fs_getattr(e.fs, "/alice/fresh", &st));
    CHECK_EQ("status", 0, spacefs_fs_getattr(e.fs, "/alice/fresh/status", &st));
    CHECK_EQ("409 is EEXIST", -EEXIST, spacefs_fs_mkdir(e.fs, "/alice/chat", 0755));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_CREATE, SPACEFS_E_PAYMENT, 402, 1);
    CHECK_EQ("402 is EDQUOT", -EDQUOT, spacefs_fs_mkdir(e.fs, "/alice/paid", 0755));
    CHECK_EQ("rmdir a Space is EPERM", -EPERM, spacefs_fs_rmdir(e.fs, "/alice/chat"));
    CHECK_EQ("rm status is EPERM", -EPERM, spacefs_fs_unlink(e.fs, "/alice/chat/status"));
    CHECK_EQ("rmdir secrets is EPERM", -EPERM, spacefs_fs_rmdir(e.fs, "/alice/chat/secrets"));
    CHECK_EQ("nothing deleted", 0, spacefs_fake_count(e.fake, SPACEFS_FAKE_DELETE));
    CHECK_EQ("still there", 0, spacefs_fs_getattr(e.fs, "/alice/chat", &st));
    env_close(&e);
}

static void test_errors(void)
{
    struct env e;
    struct stat st;

    env_open(&e, 0);
    spacefs_fs_getattr(e.fs, "/", &st);
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LIST, SPACEFS_E_TRANSPORT, 0, 1);
    CHECK_EQ("dead network is EIO", -EIO, spacefs_fs_getattr(e.fs, "/alice/chat", &st));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LIST, SPACEFS_E_TIMEOUT, 0, 1);
    CHECK_EQ("deadline is ETIMEDOUT", -ETIMEDOUT, spacefs_fs_getattr(e.fs, "/alice/chat", &st));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LIST, SPACEFS_E_SERVER, 503, 1);
    CHECK_EQ("5xx is EIO", -EIO, spacefs_fs_getattr(e.fs, "/alice/chat", &st));
    CHECK_EQ("recovers", 0, spacefs_fs_getattr(e.fs, "/alice/chat", &st));
    CHECK_EQ("errno table: 404", ENOENT, spacefs_errno_from_status(SPACEFS_E_NOT_FOUND));
    CHECK_EQ("errno table: 401", EACCES, spacefs_errno_from_status(SPACEFS_E_AUTH));
    CHECK_EQ("errno table: protocol", EIO, spacefs_errno_from_status(SPACEFS_E_PROTOCOL));
    env_close(&e);
}

struct slow_arg {
    struct spacefs_fs *fs;
    long rc;
};

static void *slow_reader(void *p)
{
    struct slow_arg *a = p;
    char buf[512];

    a->rc = slurp(a->fs, "/alice/notes/runtime.json", buf, sizeof(buf));
    return NULL;
}

static int64_t ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_concurrency(void)
{
    struct slow_arg a;
    struct env e;
    struct stat st;
    pthread_t t;
    char buf[64];
    int64_t t0;

    env_open(&e, 5000);
    spacefs_fs_getattr(e.fs, "/alice/chat/status", &st);
    spacefs_fake_delay(e.fake, SPACEFS_FAKE_RUNTIME, "alice/notes", 1000);
    a.fs = e.fs;
    pthread_create(&t, NULL, slow_reader, &a);
    usleep(100 * 1000);
    t0 = ms_now();
    CHECK_EQ("other Space while one is slow", 8,
             slurp(e.fs, "/alice/chat/status", buf, sizeof(buf)));
    CHECK_EQ("other Space's JSON while one is slow", 0,
             slurp(e.fs, "/alice/chat/runtime.json", buf, sizeof(buf)) < 0);
    CHECK("not blocked by the slow call", ms_now() - t0 < 500);
    pthread_join(t, NULL);
    CHECK("slow call finished", a.rc > 0);
    env_close(&e);
}

struct gen_arg {
    struct spacefs_fs *fs;
    char status[32];
};

static void *stale_lister(void *p)
{
    struct gen_arg *a = p;
    struct stat st;

    spacefs_fs_getattr(a->fs, "/alice/chat/status", &st);
    return NULL;
}

static void test_generation(void)
{
    struct spacefs_handle *h;
    struct gen_arg a;
    struct env e;
    struct stat st;
    pthread_t t;
    char buf[64];

    env_open(&e, 200);
    spacefs_fs_getattr(e.fs, "/alice/chat/status", &st);
    CHECK_EQ("open control", 0, spacefs_fs_open(e.fs, "/alice/chat/control", O_WRONLY, &h));
    usleep(250 * 1000); /* listing expired */
    spacefs_fake_delay(e.fake, SPACEFS_FAKE_LIST, NULL, 400);
    a.fs = e.fs;
    pthread_create(&t, NULL, stale_lister, &a); /* snapshots RUNNING, returns 400 ms later */
    usleep(100 * 1000);
    CHECK_EQ("restart during the listing", 8, spacefs_fs_write(e.fs, h, "restart\n", 8, 0));
    spacefs_fs_release(e.fs, h);
    pthread_join(t, NULL);
    spacefs_fake_delay(e.fake, SPACEFS_FAKE_LIST, NULL, 0);
    slurp(e.fs, "/alice/chat/status", buf, sizeof(buf));
    CHECK_STR("the stale listing did not undo the restart", "BUILDING\n", buf);
    env_close(&e);
}

static void *stale_json_reader(void *arg)
{
    struct gen_arg *a = arg;
    char buf[1024];

    slurp(a->fs, "/alice/chat/runtime.json", buf, sizeof(buf));
    return NULL;
}

static void *stale_status_reader(void *arg)
{
    struct gen_arg *a = arg;
    char buf[64];

    slurp(a->fs, "/alice/chat/status", buf, sizeof(buf));
    return NULL;
}

/* A runtime GET that began before a restart must not overwrite the BUILDING the restart
 * installed (spacefs_space_ensure and runtime.json, like listings, check the generation). */
static void test_generation_runtime(void)
{
    struct spacefs_handle *h;
    struct gen_arg a;
    struct env e;
    pthread_t t;
    char buf[512];
    int json;

    for (json = 0; json < 2; json++) {
        env_open(&e, 5000);
        slurp(e.fs, "/alice/chat/status", buf, sizeof(buf));
        CHECK_EQ("ping (invalidates the runtime)", 5,
                 put(e.fs, "/alice/chat/control", "ping\n", 0));
        spacefs_fake_delay(e.fake, SPACEFS_FAKE_RUNTIME, "alice/chat", 400);
        a.fs = e.fs;
        pthread_create(&t, NULL, json ? stale_json_reader : stale_status_reader, &a);
        usleep(100 * 1000); /* the GET has snapshotted RUNNING and returns 300 ms later */
        CHECK_EQ("open control", 0, spacefs_fs_open(e.fs, "/alice/chat/control", O_WRONLY, &h));
        CHECK_EQ("restart during the runtime GET", 8, spacefs_fs_write(e.fs, h, "restart\n", 8, 0));
        spacefs_fs_release(e.fs, h);
        pthread_join(t, NULL);
        spacefs_fake_delay(e.fake, SPACEFS_FAKE_RUNTIME, NULL, 0);
        spacefs_fake_reset_counts(e.fake);
        slurp(e.fs, "/alice/chat/status", buf, sizeof(buf));
        CHECK_STR(json ? "a stale runtime.json GET did not undo the restart"
                       : "a stale runtime GET did not undo the restart",
                  "BUILDING\n", buf);
        env_close(&e);
    }
}

/* During an outage whoami is asked once, then the known identity is reused for a while: three
 * getattrs cost one whoami call, not three (each would pay a whole deadline). */
static void test_whoami_outage(void)
{
    struct spacefs_config cfg;
    struct env e;
    struct stat st;

    spacefs_config_init(&cfg);
    cfg.ttl_ms = 1;
    cfg.whoami_ttl_ms = 50;
    e.fake = spacefs_fake_new();
    spacefs_fake_add_space(e.fake, "alice/chat", "RUNNING", "cpu-basic", 172800);
    if (spacefs_fs_new(&e.fs, &cfg, spacefs_fake_backend(e.fake)) < 0)
        abort();
    CHECK_EQ("getattr before the outage", 0, spacefs_fs_getattr(e.fs, "/alice/chat/status", &st));
    usleep(100 * 1000); /* whoami expired */
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_WHOAMI, SPACEFS_E_SERVER, 503, -1);
    spacefs_fake_reset_counts(e.fake);
    spacefs_fs_getattr(e.fs, "/alice/chat/status", &st);
    usleep(60 * 1000); /* past whoami_ttl again: only the retry interval holds it back */
    spacefs_fs_getattr(e.fs, "/alice/chat", &st);
    spacefs_fs_getattr(e.fs, "/alice", &st);
    CHECK_EQ("three getattrs in an outage: 1 whoami call", 1,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_WHOAMI));
    CHECK_EQ("and the identity is still known (own namespace)", 0755 | S_IFDIR,
             spacefs_fs_getattr(e.fs, "/alice", &st) == 0 ? (long)st.st_mode : -1L);
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_WHOAMI, SPACEFS_OK, 0, 0);
    env_close(&e);
}

static void test_logs(void)
{
    struct spacefs_handle *h;
    struct env e;
    struct stat st;
    char buf[256];
    long n;
    int i;

    env_open(&e, 5000);
    spacefs_fake_log_append(e.fake, "alice/chat", 1, "line one");
    spacefs_fake_log_append(e.fake, "alice/chat", 1, "line two");
    CHECK_EQ("cat logs/run", 18, slurp(e.fs, "/alice/chat/logs/run", buf, sizeof(buf)));
    CHECK_STR("buffered lines", "line one\nline two\n", buf);
    CHECK_EQ("open for tail -f", 0, spacefs_fs_open(e.fs, "/alice/chat/logs/run", O_RDONLY, &h));
    if (!h) {
        env_close(&e);
        return;
    }
    spacefs_fs_getattr(e.fs, "/alice/chat/logs/run", &st);
    CHECK_EQ("size while open", 18, st.st_size);
    spacefs_fake_log_append(e.fake, "alice/chat", 1, "line three");
    for (i = 0; i < 40; i++) {
        spacefs_fs_getattr(e.fs, "/alice/chat/logs/run", &st);
        if (st.st_size > 18)
            break;
        usleep(50 * 1000);
    }
    CHECK_EQ("size grows with new lines", 29, st.st_size);
    n = spacefs_fs_read(e.fs, h, buf, sizeof(buf) - 1, 18);
    buf[n > 0 ? n : 0] = '\0';
    CHECK_STR("the new line", "line three\n", buf);
    spacefs_fs_release(e.fs, h);
    CHECK_EQ("build log empty", 0, slurp(e.fs, "/alice/chat/logs/build", buf, sizeof(buf)));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LOGS_FOLLOW, SPACEFS_E_FORBIDDEN, 403, -1);
    CHECK_EQ("forbidden log", -EACCES, slurp(e.fs, "/alice/notes/logs/run", buf, sizeof(buf)));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LOGS_FOLLOW, SPACEFS_OK, 0, 0);
    env_close(&e);
}

/* A log over the cap: reading it in small chunks at increasing offsets gives every kept line
 * exactly once, in order, none cut; the dropped part reads as one marker line. */
static void test_log_cap(void)
{
    struct spacefs_config cfg;
    struct spacefs_handle *h = NULL;
    struct env e;
    static char all[16384];
    char line[64], *p, *nl;
    long n, total = 0;
    int i, next = -1, ok = 1, markers = 0, kept = 0;

    spacefs_config_init(&cfg);
    cfg.log_cap = 4096;
    e.fake = spacefs_fake_new();
    spacefs_fake_add_space(e.fake, "alice/chat", "RUNNING", "cpu-basic", 172800);
    for (i = 0; i < 240; i++) { /* 31 bytes a line: 7440 bytes */
        snprintf(line, sizeof(line), "line %04d xxxxxxxxxxxxxxxxxxxx", i);
        spacefs_fake_log_append(e.fake, "alice/chat", 1, line);
    }
    if (spacefs_fs_new(&e.fs, &cfg, spacefs_fake_backend(e.fake)) < 0)
        abort();
    CHECK_EQ("open the capped log", 0, spacefs_fs_open(e.fs, "/alice/chat/logs/run", O_RDONLY, &h));
    while (h && total < (long)sizeof(all) - 100 &&
           (n = spacefs_fs_read(e.fs, h, all + total, 100, total)) > 0)
        total += n;
    all[total] = '\0';
    for (p = all; *p; p = nl + 1) {
        int num = -1;
        char tail[64] = "";
        if (!(nl = strchr(p, '\n'))) {
            ok = 0; /* a last line without its newline: cut */
            break;
        }
        *nl = '\0';
        if (strncmp(p, "[spacefs:", 9) == 0 && p == all) {
            markers++;
            continue;
        }
        if (sscanf(p, "line %4d %63s", &num, tail) != 2 || strlen(p) != 30 ||
            strcmp(tail, "xxxxxxxxxxxxxxxxxxxx") != 0 || (next >= 0 && num != next)) {
            printf("  bad line at offset %ld: [%.40s]\n", (long)(p - all), p);
            ok = 0;
        }
        next = num + 1;
        kept++;
    }
    CHECK("every kept line once, in order, none cut", ok);
    CHECK_EQ("the newest line is the last one", 240, next);
    CHECK("the log was capped (older lines dropped, one marker line)",
          markers == 1 && kept > 100 && kept < 240);
    CHECK("total bytes = the whole log's size", total == 240 * 31);
    if (h)
        spacefs_fs_release(e.fs, h);
    env_close(&e);
}

struct drip_arg {
    struct spacefs_fake *fake;
    int ms, count;
};

static void *drip(void *arg)
{
    struct drip_arg *d = arg;
    int i;

    for (i = 0; i < d->count; i++) {
        spacefs_fake_log_append(d->fake, "alice/chat", 1, "busy");
        usleep((useconds_t)d->ms * 1000);
    }
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opening a log waits for the stream's answer, not a fixed 400 ms: a slow answer still gives
 * the backlog, a failing one the error; a Space that logs all the time does not hold the open
 * for 15 s. */
static void test_log_settle(void)
{
    struct drip_arg d;
    struct env e;
    pthread_t t;
    char buf[4096];
    int64_t t0;
    long n;

    env_open(&e, 5000);
    spacefs_fake_log_append(e.fake, "alice/chat", 1, "backlog one");
    spacefs_fake_log_append(e.fake, "alice/chat", 1, "backlog two");
    spacefs_fake_delay(e.fake, SPACEFS_FAKE_LOGS_FOLLOW, "alice/chat", 1000);
    n = slurp(e.fs, "/alice/chat/logs/run", buf, sizeof(buf));
    CHECK_EQ("a stream answering after 1 s: cat gets the backlog", 24, n);
    CHECK_STR("  the backlog", "backlog one\nbacklog two\n", n > 0 ? buf : "");
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LOGS_FOLLOW, SPACEFS_E_SERVER, 503, -1);
    CHECK_EQ("a stream failing after 1 s (503): cat gets EIO, not an empty file", -EIO,
             slurp(e.fs, "/alice/chat/logs/build", buf, sizeof(buf)));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_LOGS_FOLLOW, SPACEFS_OK, 0, 0);
    spacefs_fake_delay(e.fake, SPACEFS_FAKE_LOGS_FOLLOW, NULL, 0);
    env_close(&e);

    env_open(&e, 5000);
    d.fake = e.fake;
    d.ms = 100;
    d.count = 60;
    pthread_create(&t, NULL, drip, &d); /* a line every 100 ms for 6 s */
    usleep(200 * 1000);
    t0 = mono_ms();
    n = slurp(e.fs, "/alice/chat/logs/run", buf, sizeof(buf));
    CHECK("a Space logging every 100 ms: the open returns what is buffered within ~2 s",
          n > 0 && mono_ms() - t0 < 3000);
    pthread_join(t, NULL);
    env_close(&e);
}

static void test_meta(void)
{
    struct env e;
    char buf[512];

    env_open(&e, 5000);
    slurp(e.fs, "/.spacefs/whoami", buf, sizeof(buf));
    CHECK_STR("whoami", "name: alice\norgs: acme\nrole: write\n", buf);
    spacefs_fake_reset_counts(e.fake);
    slurp(e.fs, "/.spacefs/health", buf, sizeof(buf));
    CHECK("health ok", strncmp(buf, "ok fake://hub alice ", 20) == 0);
    slurp(e.fs, "/.spacefs/health", buf, sizeof(buf));
    CHECK_EQ("health makes a fresh call each read", 2,
             spacefs_fake_count(e.fake, SPACEFS_FAKE_WHOAMI));
    spacefs_fake_fault(e.fake, SPACEFS_FAKE_WHOAMI, SPACEFS_E_TRANSPORT, 0, 1);
    slurp(e.fs, "/.spacefs/health", buf, sizeof(buf));
    CHECK("health reports the failure", strncmp(buf, "error fake://hub network error", 30) == 0);
    slurp(e.fs, "/.spacefs/stats", buf, sizeof(buf));
    CHECK("stats count cache hits", strstr(buf, "cache_hits ") != NULL);
    CHECK("stats show the rate-limit budget", strstr(buf, "ratelimit_remaining 1000") != NULL);
    slurp(e.fs, "/.spacefs/endpoint", buf, sizeof(buf));
    CHECK_STR("endpoint", "fake://hub\n", buf);
    env_close(&e);
}

/* ---- persist/ and snapshots/ on the fake remote -------------------------------------------- */
struct penv {
    struct env e;
    struct persist_fake *pf;
    char root[64];
    int fsync_hub; /* set before penv_open: -o fsync=hub */
};

static int fake_remote_new(struct persist_remote *out, const char *repo_id, const char *git_dir,
                           void *payload)
{
    (void)repo_id;
    (void)git_dir;
    *out = persist_fake_remote(payload);
    return 0;
}

static void penv_open(struct penv *pe)
{
    struct spacefs_config cfg;

    spacefs_config_init(&cfg);
    cfg.ttl_ms = 0;
    snprintf(pe->root, sizeof(pe->root), "/tmp/spacefs-unit-XXXXXX");
    if (!mkdtemp(pe->root))
        abort();
    pe->pf = persist_fake_new();
    cfg.persist.remote_new = fake_remote_new;
    cfg.persist.remote_payload = pe->pf;
    cfg.persist.cache_root = pe->root;
    cfg.persist.quiet_ms = 0;
    cfg.persist.interval_ms = 0;
    cfg.persist.unmount_wait_ms = 5000;
    cfg.persist.fsync_hub = pe->fsync_hub;
    pe->e.fake = spacefs_fake_new();
    spacefs_fake_add_space(pe->e.fake, "alice/chat", "RUNNING", "cpu-basic", 172800);
    spacefs_fake_set_kv(pe->e.fake, "alice/chat", 0, "MODEL", "gpt2");
    spacefs_fake_log_append(pe->e.fake, "alice/chat", 0, "step 1");
    if (spacefs_fs_new(&pe->e.fs, &cfg, spacefs_fake_backend(pe->e.fake)) < 0)
        abort();
}

static void penv_close(struct penv *pe)
{
    char cmd[128];

    env_close(&pe->e);
    persist_fake_unref(pe->pf);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", pe->root);
    if (system(cmd) != 0)
        printf("warning: %s failed\n", cmd);
}

/* Polls persist.status until the engine's base is its last commit (the fetch after a commit):
 * 0, or -ETIMEDOUT. */
static int wait_based(struct spacefs_fs *fs, const char *status)
{
    char buf[4096], base[80], last[80];
    const char *b, *l;
    int i;

    for (i = 0; i < 500; i++, usleep(10000)) {
        if (slurp(fs, status, buf, sizeof(buf)) < 0 || !(b = strstr(buf, "base: ")) ||
            !(l = strstr(buf, "last_commit: ")))
            continue;
        sscanf(b + 6, "%79s", base);
        sscanf(l + 13, "%79s", last);
        if (strcmp(base, last) == 0)
            return 0;
    }
    return -ETIMEDOUT;
}

/* Polls getattr until path exists (the engine's worker fetches after it opens): 0 or -errno. */
static int wait_exists(struct spacefs_fs *fs, const char *path)
{
    struct stat st;
    int rc = -ENOENT, i;

    for (i = 0; i < 500 && (rc = spacefs_fs_getattr(fs, path, &st)) == -ENOENT; i++)
        usleep(10000);
    return rc;
}

static int count_dir(struct spacefs_fs *fs, const char *path, struct names *n)
{
    memset(n, 0, sizeof(*n));
    return spacefs_fs_readdir(fs, path, collect, n);
}

static void test_persist_subtree(void)
{
    struct penv pe;
    struct names n;
    struct stat st;
    char buf[256], snap[128] = "/alice/chat/snapshots/";
    unsigned objects, commits, trees, ncommits;
    void *data = NULL;
    size_t len = 0;

    pe.fsync_hub = 1;
    penv_open(&pe);
    persist_fake_write(pe.pf, "notes/a.txt", "hello\n", 6);
    CHECK_EQ("persist/: a file another writer committed appears", 0,
             wait_exists(pe.e.fs, "/alice/chat/persist/notes/a.txt"));
    CHECK_EQ("persist/: read it", 6, slurp(pe.e.fs, "/alice/chat/persist/notes/a.txt", buf, 256));
    CHECK_STR("persist/: its content", "hello\n", buf);
    objects = persist_fake_calls(pe.pf, PERSIST_FAKE_OBJECT);
    CHECK_EQ("persist/: one object download", 1, objects);
    slurp(pe.e.fs, "/alice/chat/persist/notes/a.txt", buf, 256);
    CHECK_EQ("persist/: a second read downloads nothing", objects,
             persist_fake_calls(pe.pf, PERSIST_FAKE_OBJECT));
    CHECK_EQ("persist/: write a new file", 3, put(pe.e.fs, "/alice/chat/persist/b.txt", "new", 1));
    CHECK_EQ("persist/: fsync of persist/ waits for the commit (fsync=hub)", 0,
             spacefs_fs_fsyncdir(pe.e.fs, "/alice/chat/persist"));
    CHECK_EQ("persist/: the commit becomes the base", 0,
             wait_based(pe.e.fs, "/alice/chat/persist.status"));
    /* the other writer's commit, then ours (put's early flush may make it two: quiet_ms 0) */
    ncommits = persist_fake_commit_count(pe.pf);
    CHECK("persist/: the commit is on main", ncommits >= 2);
    CHECK_EQ("persist/: b.txt is committed", 0, persist_fake_read(pe.pf, "b.txt", &data, &len));
    CHECK("persist/: with its content", len == 3 && memcmp(data, "new", 3) == 0);
    free(data);
    CHECK_EQ("persist/: rename out of persist/ is EXDEV", -EXDEV,
             spacefs_fs_rename(pe.e.fs, "/alice/chat/persist/b.txt", "/alice/chat/control", 0));
    CHECK_EQ("persist.status: readable", 0,
             spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist.status", &st));

    /* snapshots/: one directory per commit, listed from the engine's history */
    CHECK_EQ("snapshots/: listed", 0, count_dir(pe.e.fs, "/alice/chat/snapshots", &n));
    CHECK_EQ("snapshots/: one per commit", ncommits, n.count);
    commits = persist_fake_calls(pe.pf, PERSIST_FAKE_COMMITS);
    count_dir(pe.e.fs, "/alice/chat/snapshots", &n);
    CHECK_EQ("snapshots/: a second listing asks nothing", commits,
             persist_fake_calls(pe.pf, PERSIST_FAKE_COMMITS));
    /* the oldest snapshot (listed last) holds notes/a.txt only */
    n.all[strlen(n.all) - 1] = '\0'; /* the trailing space */
    strcat(snap, strrchr(n.all, ' ') ? strrchr(n.all, ' ') + 1 : n.all);
    strcat(snap, "/notes/a.txt");
    CHECK_EQ("snapshots/: a file of the first commit", 6, slurp(pe.e.fs, snap, buf, 256));
    CHECK_STR("snapshots/: its content", "hello\n", buf);
    trees = persist_fake_calls(pe.pf, PERSIST_FAKE_TREE);
    CHECK_EQ("snapshots/: the tree is kept", 0, spacefs_fs_getattr(pe.e.fs, snap, &st));
    CHECK_EQ("snapshots/: no second tree listing", trees,
             persist_fake_calls(pe.pf, PERSIST_FAKE_TREE));
    CHECK_EQ("snapshots/: read-only", -EROFS, spacefs_fs_unlink(pe.e.fs, snap));
    penv_close(&pe);
}

static int names_has(struct spacefs_fs *fs, const char *dir, const char *name)
{
    struct names n;
    char want[96];

    memset(&n, 0, sizeof(n));
    count_dir(fs, dir, &n);
    snprintf(want, sizeof(want), "%s ", name);
    return strstr(n.all, want) != NULL;
}

/* Issue 11 items 2 and 4 through the router: libfuse's hidden names (hard_remove off) and
 * inode numbers. */
/* spacefs_hidden_name: libfuse's ".fuse_hidden" + 16 lowercase hex digits, last component only. */
static void test_hidden_names(void)
{
    CHECK("a hidden name", spacefs_hidden_name("/a/b/.fuse_hidden0000000200000001"));
    CHECK("without a directory", spacefs_hidden_name(".fuse_hidden00000002000000ff"));
    CHECK("NULL is not one", !spacefs_hidden_name(NULL));
    CHECK("15 digits are not", !spacefs_hidden_name("/a/.fuse_hidden000000020000000"));
    CHECK("17 digits are not", !spacefs_hidden_name("/a/.fuse_hidden000000020000000011"));
    CHECK("upper-case hex is not", !spacefs_hidden_name("/a/.fuse_hidden00000002000000FF"));
    CHECK("another prefix is not", !spacefs_hidden_name("/a/.fuse_hiddeX0000000200000001"));
    CHECK("a hidden directory above is not",
          !spacefs_hidden_name("/a/.fuse_hidden0000000200000001/b"));
    CHECK("the prefix alone is not", !spacefs_hidden_name("/a/.fuse_hidden"));
}

static void test_hidden_and_inodes(void)
{
    static const char *hid = "/alice/chat/persist/d/.fuse_hidden0000000200000001";
    struct spacefs_handle *h;
    struct stat st, st2;
    struct penv pe;
    uint64_t ino;

    penv_open(&pe);
    CHECK_EQ("mkdir", 0, spacefs_fs_mkdir(pe.e.fs, "/alice/chat/persist/d", 0755));
    CHECK_EQ("create", 0,
             spacefs_fs_create(pe.e.fs, "/alice/chat/persist/d/t", 0644, O_RDWR | O_TRUNC, &h));
    CHECK_EQ("write", 5, spacefs_fs_write(pe.e.fs, h, "hello", 5, 0));
    CHECK_EQ("stat", 0, spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/d/t", &st));
    ino = (uint64_t)st.st_ino;
    CHECK_EQ("the hidden candidate does not exist", -ENOENT, spacefs_fs_getattr(pe.e.fs, hid, &st));
    CHECK_EQ("libfuse hides the open file", 0,
             spacefs_fs_rename(pe.e.fs, "/alice/chat/persist/d/t", hid, 0));
    CHECK_EQ("its name is gone", -ENOENT,
             spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/d/t", &st));
    CHECK_EQ("the hidden name answers (fstat)", 0, spacefs_fs_getattr(pe.e.fs, hid, &st));
    CHECK("with the open file's size, inode and one link",
          st.st_size == 5 && (uint64_t)st.st_ino == ino && st.st_nlink == 1);
    CHECK_EQ("a write through the handle", 3, spacefs_fs_write(pe.e.fs, h, "abc", 3, 5));
    spacefs_fs_getattr(pe.e.fs, hid, &st);
    CHECK_EQ("is seen by fstat", 8, st.st_size);
    CHECK_EQ("fchmod", 0, spacefs_fs_chmod(pe.e.fs, hid, 0600));
    spacefs_fs_getattr(pe.e.fs, hid, &st);
    CHECK("fstat shows the mode", (st.st_mode & 07777) == 0600);
    CHECK_EQ(
        "futimens", 0,
        spacefs_fs_utimens(pe.e.fs, hid, (struct timespec[2]){{1300000000, 0}, {1300000000, 0}}));
    spacefs_fs_getattr(pe.e.fs, hid, &st);
    CHECK_EQ("the time is kept", 1300000000, (long)st.st_mtime);
    CHECK("not listed",
          !names_has(pe.e.fs, "/alice/chat/persist/d", ".fuse_hidden0000000200000001"));
    CHECK_EQ("the directory can go", 0, spacefs_fs_rmdir(pe.e.fs, "/alice/chat/persist/d"));
    spacefs_fs_release(pe.e.fs, h);
    CHECK_EQ("after the last close the name is gone", -ENOENT,
             spacefs_fs_getattr(pe.e.fs, hid, &st));
    CHECK_EQ("libfuse's unlink of it then", -ENOENT, spacefs_fs_unlink(pe.e.fs, hid));
    CHECK_EQ("a hidden name of a file nobody has open is an ordinary rename", 1,
             put(pe.e.fs, "/alice/chat/persist/u", "u", 1));
    CHECK_EQ("rename", 0,
             spacefs_fs_rename(pe.e.fs, "/alice/chat/persist/u",
                               "/alice/chat/persist/.fuse_hidden0000000300000001", 0));
    CHECK("listed", names_has(pe.e.fs, "/alice/chat/persist", ".fuse_hidden0000000300000001"));

    /* inode numbers: stable, moved by renames, new for a new file; the rest of the mount too */
    CHECK_EQ("mkdir", 0, spacefs_fs_mkdir(pe.e.fs, "/alice/chat/persist/a", 0755));
    CHECK_EQ("mkdir", 0, spacefs_fs_mkdir(pe.e.fs, "/alice/chat/persist/a/b", 0755));
    CHECK_EQ("file", 1, put(pe.e.fs, "/alice/chat/persist/a/b/f", "f", 1));
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/a/b/f", &st);
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/a/b/f", &st2);
    CHECK("same number twice", st.st_ino == st2.st_ino && st.st_ino != 0);
    CHECK_EQ("rename the directory", 0,
             spacefs_fs_rename(pe.e.fs, "/alice/chat/persist/a", "/alice/chat/persist/z", 0));
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/z/b/f", &st2);
    CHECK("the file below keeps it", st.st_ino == st2.st_ino);
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/z", &st2);
    CHECK_EQ("z: 2 + one subdirectory", 3, (long)st2.st_nlink);
    spacefs_fs_unlink(pe.e.fs, "/alice/chat/persist/z/b/f");
    put(pe.e.fs, "/alice/chat/persist/z/b/f", "g", 1);
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/persist/z/b/f", &st2);
    CHECK("a new file there has another number", st.st_ino != st2.st_ino);
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/status", &st);
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/status", &st2);
    CHECK("status: a stable number", st.st_ino == st2.st_ino && st.st_ino != 0);
    spacefs_fs_getattr(pe.e.fs, "/alice/chat/control", &st2);
    CHECK("control: another", st.st_ino != st2.st_ino);
    spacefs_fs_getattr(pe.e.fs, "/", &st);
    CHECK_EQ("the root is 1", 1, (long)st.st_ino);

    /* elsewhere (variables/): the router hides by unlinking and keeps the attributes */
    CHECK_EQ("open a variable", 0,
             spacefs_fs_open(pe.e.fs, "/alice/chat/variables/MODEL", O_RDONLY, &h));
    CHECK_EQ("hidden: unlinked on the Hub", 0,
             spacefs_fs_rename(pe.e.fs, "/alice/chat/variables/MODEL",
                               "/alice/chat/variables/.fuse_hidden0000000400000001", 0));
    CHECK_EQ("one delete", 1, spacefs_fake_count(pe.e.fake, SPACEFS_FAKE_KV_DELETE));
    CHECK_EQ(
        "the hidden name answers", 0,
        spacefs_fs_getattr(pe.e.fs, "/alice/chat/variables/.fuse_hidden0000000400000001", &st));
    CHECK_EQ("gone from the listing", -ENOENT,
             spacefs_fs_getattr(pe.e.fs, "/alice/chat/variables/MODEL", &st));
    spacefs_fs_release(pe.e.fs, h);
    CHECK_EQ("libfuse's unlink after the last close", 0,
             spacefs_fs_unlink(pe.e.fs, "/alice/chat/variables/.fuse_hidden0000000400000001"));
    CHECK_EQ(
        "then nothing", -ENOENT,
        spacefs_fs_getattr(pe.e.fs, "/alice/chat/variables/.fuse_hidden0000000400000001", &st));
    penv_close(&pe);
}

/* Every status through every subtree: each answers the errno of the one table. */
/* fsync(2) by default: durable locally as close(), no wait for the Hub, so it returns at once
 * while every commit fails; with fsync=hub it waits and fails with the commit's errno. */
static void test_fsync_contract(void)
{
    struct spacefs_handle *h = NULL;
    struct penv pe = {0};
    int64_t t0;
    int rc;

    for (pe.fsync_hub = 0; pe.fsync_hub <= 1; pe.fsync_hub++) {
        penv_open(&pe);
        persist_fake_fail(pe.pf, PERSIST_FAKE_COMMIT, SPACEFS_E_SERVER, 1000, 0);
        CHECK_EQ("fsync: create", 0,
                 spacefs_fs_create(pe.e.fs, "/alice/chat/persist/db.sqlite", 0644,
                                   O_WRONLY | O_CREAT, &h));
        CHECK_EQ("fsync: write", 5, spacefs_fs_write(pe.e.fs, h, "hello", 5, 0));
        t0 = ms_now();
        rc = spacefs_fs_fsync(pe.e.fs, h);
        if (!pe.fsync_hub) {
            CHECK_EQ("fsync (local): succeeds while the Hub refuses every commit", 0, rc);
            CHECK("fsync (local): returns without waiting for a commit", ms_now() - t0 < 1000);
            CHECK_EQ("fsync of persist/ (local): no wait either", 0,
                     spacefs_fs_fsyncdir(pe.e.fs, "/alice/chat/persist"));
        } else {
            CHECK_EQ("fsync (hub): the commit's errno", -EIO, rc);
        }
        CHECK_EQ("fsync: nothing committed", 0, persist_fake_commit_count(pe.pf));
        spacefs_fs_release(pe.e.fs, h);
        penv_close(&pe);
    }
}

static int count_sorted(const char *name, const struct stat *st, void *payload)
{
    struct {
        char last[64];
        long count, unsorted;
    } *c = payload;

    (void)st;
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    if (c->count && strcmp(c->last, name) >= 0)
        c->unsorted++;
    snprintf(c->last, sizeof(c->last), "%s", name);
    c->count++;
    return 0;
}

/* A namespace of 300,000 Spaces whose pages shifted while read (each page repeats 10 names of
 * the one before): one entry per name, every page requested once, and installed by a sort and
 * a merge. The old install compared every name with every other (25k Spaces took 1.6 s, 100k
 * 32 s): at 300k it would outlast this test's ctest timeout many times over. */
static void test_big_namespace(void)
{
    struct spacefs_config cfg;
    struct spacefs_fs *fs = NULL;
    struct spacefs_fake *fake;
    struct stat st;
    struct {
        char last[64];
        long count, unsorted;
    } c = {{0}, 0, 0};

    spacefs_config_init(&cfg);
    cfg.ttl_ms = 60000;
    cfg.max_spaces = 0;
    fake = spacefs_fake_new();
    spacefs_fake_bulk(fake, "big", 300000, 1000, 10);
    if (spacefs_fs_new(&fs, &cfg, spacefs_fake_backend(fake)) < 0)
        abort();
    CHECK_EQ("big: readdir", 0, spacefs_fs_readdir(fs, "/big", count_sorted, &c));
    CHECK_EQ("big: every name once (twins from shifted pages dropped)", 300000, c.count);
    CHECK_EQ("big: in name order", 0, c.unsorted);
    /* page k starts at k * 990: ceil((300000 - 10) / 990) pages */
    CHECK_EQ("big: each page requested once", 304, spacefs_fake_count(fake, SPACEFS_FAKE_LIST));
    CHECK_EQ("big: stat of a Space from the cache", 0,
             spacefs_fs_getattr(fs, "/big/space-299999", &st));
    CHECK_EQ("big: a missing name is ENOENT", -ENOENT,
             spacefs_fs_getattr(fs, "/big/space-300000", &st));
    CHECK_EQ("big: without a listing request", 304, spacefs_fake_count(fake, SPACEFS_FAKE_LIST));
    CHECK_EQ("big: nor a runtime request", 0, spacefs_fake_count(fake, SPACEFS_FAKE_RUNTIME));
    spacefs_fs_free(fs);

    /* the cap: the first 25,000 entries the Hub sends (25 pages of 1000), one log line; a
     * Space past the cap is found by name with one runtime request */
    spacefs_config_init(&cfg);
    cfg.ttl_ms = 60000;
    cfg.max_spaces = 25000;
    spacefs_fake_reset_counts(fake);
    if (spacefs_fs_new(&fs, &cfg, spacefs_fake_backend(fake)) < 0)
        abort();
    memset(&c, 0, sizeof(c));
    CHECK_EQ("cap: readdir", 0, spacefs_fs_readdir(fs, "/big", count_sorted, &c));
    CHECK_EQ("cap: pages up to the cap, none after", 25,
             spacefs_fake_count(fake, SPACEFS_FAKE_LIST));
    /* 25000 entries, 24 pages of them starting with 10 twins */
    CHECK_EQ("cap: the first 25000 entries the Hub sent, twins once", 25000 - 240, c.count);
    CHECK_EQ("cap: a Space past the cap is found by name", 0,
             spacefs_fs_getattr(fs, "/big/space-200000", &st));
    CHECK_EQ("cap: with one runtime request", 1, spacefs_fake_count(fake, SPACEFS_FAKE_RUNTIME));
    CHECK_EQ("cap: then cached", 0, spacefs_fs_getattr(fs, "/big/space-200000/status", &st));
    CHECK_EQ("cap: no second request", 1, spacefs_fake_count(fake, SPACEFS_FAKE_RUNTIME));
    CHECK_EQ("cap: a name the Hub does not know is ENOENT", -ENOENT,
             spacefs_fs_getattr(fs, "/big/space-900000", &st));
    CHECK_EQ("cap: with one runtime request", 2, spacefs_fake_count(fake, SPACEFS_FAKE_RUNTIME));
    CHECK_EQ("cap: and ENOENT again", -ENOENT, spacefs_fs_getattr(fs, "/big/space-900000", &st));
    CHECK_EQ("cap: from the negative cache", 2, spacefs_fake_count(fake, SPACEFS_FAKE_RUNTIME));
    spacefs_fs_free(fs);
    spacefs_fake_free(fake);
}

static void test_errno_table(void)
{
    static const char *const subtrees[] = {"listing", "space file", "control",   "variables",
                                           "logs",    "persist/",   "snapshots/"};
    struct penv pe;
    struct names n;
    char buf[256], what[96];
    int st, i;
    long got;

    for (st = SPACEFS_E_INVALID; st < SPACEFS_STATUS_COUNT; st++) {
        int want = -spacefs_errno_from_status((enum spacefs_status)st);
        CHECK("errno table: every status has an errno", want < 0);
        CHECK("errno table: every status has a name",
              strcmp(spacefs_status_name((enum spacefs_status)st), "unexpected error") != 0 ||
                  st == SPACEFS_E_OTHER);
        for (i = 0; i < (int)(sizeof(subtrees) / sizeof(subtrees[0])); i++) {
            pe.fsync_hub = 0;
            penv_open(&pe);
            if (i >= 5) { /* the engine's first fetch, then a fault on its next call */
                persist_fake_write(pe.pf, "a.txt", "hello\n", 6);
                wait_exists(pe.e.fs, "/alice/chat/persist/a.txt");
            }
            switch (i) {
            case 0:
                spacefs_fake_fault(pe.e.fake, SPACEFS_FAKE_LIST, st, 0, -1);
                got = spacefs_fs_getattr(pe.e.fs, "/alice/chat", &(struct stat){0});
                break;
            case 1:
                spacefs_fs_getattr(pe.e.fs, "/alice/chat", &(struct stat){0});
                spacefs_fake_fault(pe.e.fake, SPACEFS_FAKE_INFO, st, 0, -1);
                got = slurp(pe.e.fs, "/alice/chat/info.json", buf, sizeof(buf));
                break;
            case 2:
                spacefs_fake_fault(pe.e.fake, SPACEFS_FAKE_RESTART, st, 0, -1);
                got = put(pe.e.fs, "/alice/chat/control", "restart\n", 0);
                break;
            case 3:
                spacefs_fs_getattr(pe.e.fs, "/alice/chat", &(struct stat){0});
                spacefs_fake_fault(pe.e.fake, SPACEFS_FAKE_KV_LIST, st, 0, -1);
                got = count_dir(pe.e.fs, "/alice/chat/variables", &n);
                break;
            case 4:
                spacefs_fs_getattr(pe.e.fs, "/alice/chat", &(struct stat){0});
                spacefs_fake_fault(pe.e.fake, SPACEFS_FAKE_LOGS_FOLLOW, st, 0, -1);
                got = slurp(pe.e.fs, "/alice/chat/logs/build", buf, sizeof(buf));
                break;
            case 5:
                persist_fake_fail(pe.pf, PERSIST_FAKE_OBJECT, (enum spacefs_status)st, 100, 0);
                got = slurp(pe.e.fs, "/alice/chat/persist/a.txt", buf, sizeof(buf));
                break;
            default:
                persist_fake_fail(pe.pf, PERSIST_FAKE_COMMITS, (enum spacefs_status)st, 100, 0);
                got = count_dir(pe.e.fs, "/alice/chat/snapshots", &n);
                break;
            }
            snprintf(what, sizeof(what), "errno table: %s through %s",
                     spacefs_status_name((enum spacefs_status)st), subtrees[i]);
            CHECK_EQ(what, want, got);
            penv_close(&pe);
        }
    }
}

/* spacefs_whoami_set: NULLs stay NULL, no orgs no array, every org copied. */
static void test_whoami_set(void)
{
    char *orgs[] = {"acme", "beta"};
    struct spacefs_whoami w;

    CHECK_EQ("whoami_set: empty", 0, spacefs_whoami_set(&w, NULL, NULL, NULL, 0));
    CHECK("whoami_set: NULLs stay NULL", !w.name && !w.role && !w.orgs && !w.orgs_count);
    spacefs_whoami_clear(&w);
    CHECK_EQ("whoami_set: full", 0, spacefs_whoami_set(&w, "alice", "read", orgs, 2));
    CHECK_STR("whoami_set: name", "alice", w.name);
    CHECK_STR("whoami_set: role", "read", w.role);
    CHECK_EQ("whoami_set: orgs", 2, w.orgs_count);
    CHECK("whoami_set: copies", w.orgs && w.orgs[1] != orgs[1] && !strcmp(w.orgs[1], "beta"));
    spacefs_whoami_clear(&w);
    CHECK("whoami_clear empties", !w.name && !w.orgs_count);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    test_paths();
    test_root_and_listing_budget();
    test_negative_and_ttl();
    test_control();
    test_read_token();
    test_hardware_sleeptime();
    test_secrets_variables();
    test_kv_whole_values();
    test_hidden_names();
    test_hidden_and_inodes();
    test_mkdir_rmdir();
    test_errors();
    test_concurrency();
    test_generation();
    test_generation_runtime();
    test_whoami_outage();
    test_logs();
    test_log_cap();
    test_log_settle();
    test_meta();
    test_persist_subtree();
    test_fsync_contract();
    test_big_namespace();
    test_errno_table();
    test_whoami_set();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
