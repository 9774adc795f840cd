/* The persist engine's interleaving checker: a seeded random-operation differential test (the
 * engine on the fake remote against a plain directory, the same operations on both, outcomes and
 * whole trees compared) that also runs operations *inside* the engine's sync rounds. The fake
 * calls a hook before and after each fetch, tree, object and commit call; there the engine has
 * dropped its lock, as it does while the Hub answers, and the hook runs more operations: writes
 * through handles kept open across rounds, truncates, closes, unlinks, renames, directories.
 * Everything is single-threaded and deterministic: a seed replays a run exactly.
 *
 * Also in the mix: another writer committing to r/ (the engine then meets 412s), transient
 * faults on fetch and commit, fsync through open handles, remounts on the same cache, and (odd
 * seeds) commits of at most three files, so that a burst goes up in parts. At the end
 * every change is committed and a mount from an empty cache must equal the model, file by file.
 *
 *   persist_race [--seed S] [--seeds N] [--ops N] [--trace] [--paranoid]
 * Prints every divergence with the seed and the last operations; exits 1 on any. */
#include "persist.h"
#include "remote_fake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_HANDLES 5
#define MAX_FILE    (96 * 1024)
#define LOG_KEEP    24

static const char *const DIRS[] = {"d0", "d1", "d0/e"};
static const char *const FILES[] = {"f0", "f1", "d0/f0", "d0/f1", "d1/f0", "d0/e/f0", "d0/e/f1"};
#define NDIRS  (sizeof(DIRS) / sizeof(DIRS[0]))
#define NFILES (sizeof(FILES) / sizeof(FILES[0]))

struct handle {
    struct persist_handle *ph;
    int fd; /* the model's */
    char name[64];
};

struct run {
    uint64_t rng;
    unsigned seed;
    struct persist_fake *fk;
    struct persist *p;
    char cache[512], model[512];
    struct handle h[MAX_HANDLES];
    int nh;
    int depth;      /* > 0 inside a hook */
    int faults;     /* faults were injected: fsync may fail */
    unsigned other; /* other-writer files so far */
    int bad;
    int trace;
    int paranoid; /* compare after every operation, also inside hooks */
    long step;
    char log[LOG_KEEP][160];
    unsigned nlog;
    unsigned char buf[MAX_FILE + 1], buf2[MAX_FILE + 1];
};

static uint64_t rnd(struct run *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

static unsigned below(struct run *r, unsigned n)
{
    return (unsigned)(rnd(r) % n);
}

static void note(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct run *r, const char *fmt, ...)
{
    va_list ap;
    char *s = r->log[r->nlog++ % LOG_KEEP];
    int n = snprintf(s, 160, "%ld%s ", r->step, r->depth ? "h" : "");
    va_start(ap, fmt);
    vsnprintf(s + n, 160 - (size_t)n, fmt, ap);
    va_end(ap);
    if (r->trace)
        printf("  %s\n", s);
}

static void diverged(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diverged(struct run *r, const char *fmt, ...)
{
    va_list ap;
    if (r->bad++)
        return;
    printf("DIVERGENCE (seed %u, step %ld): ", r->seed, r->step);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\nlast operations (h = inside a sync round):\n");
    for (unsigned i = r->nlog > LOG_KEEP ? r->nlog - LOG_KEEP : 0; i < r->nlog; i++)
        printf("  %s\n", r->log[i % LOG_KEEP]);
    if (r->p && r->trace) {
        printf("engine state:\n");
        fflush(stdout);
        persist_debug_dump(r->p, stdout);
    }
}

static void mpath(const struct run *r, char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", r->model, rel);
}

static const char *pick_file(struct run *r)
{
    return below(r, 20) ? FILES[below(r, NFILES)] : DIRS[below(r, NDIRS)];
}

static const char *pick_dir(struct run *r)
{
    return below(r, 20) ? DIRS[below(r, NDIRS)] : FILES[below(r, NFILES)];
}

static void same(struct run *r, const char *what, long model, long engine)
{
    char *s = r->log[(r->nlog + LOG_KEEP - 1) % LOG_KEEP];
    size_t n = strlen(s);
    if (model < 0 && n + 20 < 160) /* the log line of the operation gets its error */
        snprintf(s + n, 160 - n, " (%s)", strerrorname_np((int)-model));
    if (r->trace && model < 0)
        printf("    -> %s\n", strerrorname_np((int)-model));
    if (model != engine)
        diverged(r, "%s: model %ld (%s), persist %ld (%s)", what, model,
                 model < 0 ? strerror((int)-model) : "ok", engine,
                 engine < 0 ? strerror((int)-engine) : "ok");
}

/* ---- comparing trees ------------------------------------------------------------------------ */

static long engine_read_all(struct run *r, const char *rel, unsigned char *out)
{
    struct persist_handle *h;
    long n = 0, total = 0;
    int rc = persist_file_open(r->p, rel, O_RDONLY, 0, &h);
    if (rc < 0)
        return rc;
    while (total < MAX_FILE + 1 &&
           (n = persist_read(r->p, h, out + total, (size_t)(MAX_FILE + 1 - total), total)) > 0)
        total += n;
    persist_release(r->p, h);
    return n < 0 ? n : total;
}

struct listing {
    char names[64][256];
    int dir[64];
    int n;
};

static int fill(const char *name, const struct stat *st, void *payload)
{
    struct listing *l = payload;
    if (l->n < 64) {
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
        l->dir[l->n++] = S_ISDIR(st->st_mode);
    }
    return 0;
}

static int find_name(const struct listing *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], name))
            return i;
    return -1;
}

/* Compares the directory `rel` and everything below. files_only: directories holding no file
 * may be missing on the engine's side (git keeps no empty directory); skip_r: the other writer's
 * r/ at the root is not compared (the view shows it only after a fetch). */
static void compare_tree(struct run *r, const char *rel, int files_only, int skip_r)
{
    struct listing m = {0}, e = {0};
    char mp[1024];
    struct dirent *de;
    DIR *d;
    int rc;

    mpath(r, mp, sizeof(mp), rel);
    if (!(d = opendir(mp))) {
        diverged(r, "model dir %s cannot be read", rel);
        return;
    }
    while ((de = readdir(d)) && m.n < 64) {
        struct stat st;
        char full[1400];
        if (de->d_name[0] == '.')
            continue;
        snprintf(full, sizeof(full), "%s/%s", mp, de->d_name);
        if (lstat(full, &st) < 0)
            continue;
        snprintf(m.names[m.n], sizeof(m.names[0]), "%s", de->d_name);
        m.dir[m.n++] = S_ISDIR(st.st_mode);
    }
    closedir(d);
    if ((rc = persist_readdir(r->p, rel, fill, &e)) < 0) {
        diverged(r, "readdir(%s): %s", rel, strerror(-rc));
        return;
    }
    for (int i = 0; i < e.n && !r->bad; i++) {
        if (skip_r && !*rel && !strcmp(e.names[i], "r"))
            continue;
        if (find_name(&m, e.names[i]) < 0)
            diverged(r, "%s%s%s exists in persist only", rel, *rel ? "/" : "", e.names[i]);
    }
    for (int i = 0; i < m.n && !r->bad; i++) {
        char child[512];
        int k = find_name(&e, m.names[i]);
        if (skip_r && !*rel && !strcmp(m.names[i], "r"))
            continue;
        snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", m.names[i]);
        if (k < 0) {
            if (!(files_only && m.dir[i]))
                diverged(r, "%s exists in the model only", child);
            continue;
        }
        if (m.dir[i] != e.dir[k]) {
            diverged(r, "%s is a %s in persist", child, e.dir[k] ? "directory" : "file");
            continue;
        }
        if (m.dir[i]) {
            compare_tree(r, child, files_only, skip_r);
        } else {
            char full[1024];
            int fd;
            long a, b = -1;
            struct stat st;
            mpath(r, full, sizeof(full), child);
            if ((fd = open(full, O_RDONLY)) >= 0) {
                b = pread(fd, r->buf2, MAX_FILE + 1, 0);
                close(fd);
            }
            a = engine_read_all(r, child, r->buf);
            if (persist_getattr(r->p, child, &st) < 0 || st.st_size != b)
                diverged(r, "%s: size %lld in persist, %ld in the model", child,
                         (long long)st.st_size, b);
            else if (a != b || memcmp(r->buf, r->buf2, (size_t)b) != 0) {
                long first = 0;
                while (first < a && first < b && r->buf[first] == r->buf2[first])
                    first++;
                diverged(r,
                         "%s differs: %ld bytes read from persist, %ld in the model, first "
                         "differing byte %ld",
                         child, a, b, first);
            }
        }
    }
}

static void compare_dir(struct run *r, const char *rel, int files_only, int skip_r)
{
    r->depth++; /* no hook runs while we compare (reads may fetch objects) */
    compare_tree(r, rel, files_only, skip_r);
    r->depth--;
}

/* ---- operations ---------------------------------------------------------------------------- */

static void fill_data(struct run *r, size_t len)
{
    int text = below(r, 3) == 0; /* text (a git blob in the fake when small) or binary */
    for (size_t i = 0; i < len; i++)
        r->buf[i] = text ? (unsigned char)('a' + below(r, 26)) : (unsigned char)rnd(r);
}

static void handle_close(struct run *r, int i)
{
    int rc = persist_release(r->p, r->h[i].ph);
    note(r, "close %s", r->h[i].name);
    close(r->h[i].fd);
    same(r, "close", 0, rc);
    r->h[i] = r->h[--r->nh];
}

static void close_all(struct run *r)
{
    while (r->nh)
        handle_close(r, r->nh - 1);
}

static void op_open(struct run *r)
{
    const char *rel = pick_file(r);
    int flags = O_RDWR, fd, rc;
    struct persist_handle *ph = NULL;
    char mp[1024];

    if (r->nh == MAX_HANDLES) {
        handle_close(r, (int)below(r, (unsigned)r->nh));
        return;
    }
    if (below(r, 3))
        flags |= O_CREAT;
    if (!below(r, 6))
        flags |= O_TRUNC;
    if (!below(r, 8))
        flags |= O_APPEND;
    mpath(r, mp, sizeof(mp), rel);
    fd = open(mp, flags, 0644);
    rc = persist_file_open(r->p, rel, flags, 0644, &ph);
    note(r, "open %s%s%s%s", rel, flags & O_CREAT ? " creat" : "", flags & O_TRUNC ? " trunc" : "",
         flags & O_APPEND ? " append" : "");
    same(r, "open", fd < 0 ? -errno : 0, rc);
    if (fd >= 0 && rc == 0) {
        struct handle *h = &r->h[r->nh++];
        h->ph = ph;
        h->fd = fd;
        snprintf(h->name, sizeof(h->name), "%s", rel);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        persist_release(r->p, ph);
}

static void op_handle(struct run *r, int top)
{
    int i, what = (int)below(r, 100);
    struct handle *h;

    if (!r->nh) {
        op_open(r);
        return;
    }
    i = (int)below(r, (unsigned)r->nh);
    h = &r->h[i];
    if (what < 45) { /* write */
        size_t len = below(r, 4) ? below(r, 3000) : below(r, 40000);
        int64_t off = below(r, 2) ? below(r, 2000) : below(r, MAX_FILE - 40000);
        long a, b;
        struct stat st;
        if (fstat(h->fd, &st) == 0 && (fcntl(h->fd, F_GETFL) & O_APPEND) &&
            st.st_size + (off_t)len > MAX_FILE)
            len = 0;
        fill_data(r, len);
        a = pwrite(h->fd, r->buf, len, off);
        if (a < 0)
            a = -errno;
        b = persist_write(r->p, h->ph, r->buf, len, off);
        note(r, "write %s off=%" PRId64 " len=%zu", h->name, off, len);
        same(r, "write", a, b);
    } else if (what < 60) { /* read */
        size_t len = below(r, 20000);
        int64_t off = below(r, MAX_FILE);
        long a = pread(h->fd, r->buf2, len, off), b;
        if (a < 0)
            a = -errno;
        b = persist_read(r->p, h->ph, r->buf, len, off);
        note(r, "read %s off=%" PRId64 " len=%zu", h->name, off, len);
        same(r, "read", a, b);
        if (a == b && a > 0 && memcmp(r->buf, r->buf2, (size_t)a))
            diverged(r, "read %s: different bytes", h->name);
    } else if (what < 72) { /* truncate */
        int64_t size = below(r, 3) ? below(r, 3000) : below(r, MAX_FILE);
        int a = ftruncate(h->fd, size) < 0 ? -errno : 0;
        int b = persist_ftruncate(r->p, h->ph, size);
        note(r, "ftruncate %s %" PRId64, h->name, size);
        same(r, "ftruncate", a, b);
    } else if (what < 80) { /* flush (what close(2) does while another fd stays open) */
        note(r, "flush %s", h->name);
        same(r, "flush", 0, persist_flush(r->p, h->ph));
    } else if (what < 85 && top) { /* fsync: waits for the commit (sync rounds run hooks) */
        int rc;
        note(r, "fsync %s", h->name);
        rc = persist_fsync(r->p, h->ph, 0);
        if (!r->faults)
            same(r, "fsync", 0, rc);
    } else {
        handle_close(r, i);
    }
}

/* Open handles follow their file: keep their labels (for the log) on the file's path. */
static void relabel(struct run *r, const char *from, const char *to)
{
    size_t n = strlen(from);
    for (int i = 0; i < r->nh; i++) {
        char *name = r->h[i].name, tmp[64];
        if (to && !strcmp(name, to))
            snprintf(name, sizeof(r->h[i].name), "(replaced %s)", to);
        else if (!strncmp(name, from, n) && (name[n] == '\0' || name[n] == '/')) {
            snprintf(tmp, sizeof(tmp), "%s%s%s", to ? "" : "(unlinked ", to ? to : from,
                     to ? name + n : ")");
            snprintf(name, sizeof(r->h[i].name), "%s", tmp);
        }
    }
}

static void op_namespace(struct run *r)
{
    int what = (int)below(r, 100), a, b;
    char ma[1024], mb[1024];
    const char *x, *y;

    if (what < 30) {
        x = pick_file(r);
        mpath(r, ma, sizeof(ma), x);
        a = unlink(ma) < 0 ? -errno : 0;
        b = persist_unlink(r->p, x);
        note(r, "unlink %s", x);
        same(r, "unlink", a, b);
        if (!a && !b)
            relabel(r, x, NULL);
    } else if (what < 60) {
        int dirs = below(r, 3) == 0;
        x = dirs ? pick_dir(r) : pick_file(r);
        y = dirs ? pick_dir(r) : pick_file(r);
        mpath(r, ma, sizeof(ma), x);
        mpath(r, mb, sizeof(mb), y);
        a = rename(ma, mb) < 0 ? -errno : 0;
        b = persist_rename(r->p, x, y, 0);
        note(r, "rename %s %s", x, y);
        same(r, "rename", a, b);
        if (!a && !b && strcmp(x, y))
            relabel(r, x, y);
    } else if (what < 75) {
        x = pick_dir(r);
        mpath(r, ma, sizeof(ma), x);
        a = mkdir(ma, 0755) < 0 ? -errno : 0;
        b = persist_mkdir(r->p, x, 0755);
        note(r, "mkdir %s", x);
        same(r, "mkdir", a, b);
    } else if (what < 85) {
        x = pick_dir(r);
        mpath(r, ma, sizeof(ma), x);
        a = rmdir(ma) < 0 ? -errno : 0;
        b = persist_rmdir(r->p, x);
        note(r, "rmdir %s", x);
        same(r, "rmdir", a, b);
    } else {
        struct stat ms, ps;
        x = below(r, 2) ? pick_file(r) : pick_dir(r);
        mpath(r, ma, sizeof(ma), x);
        a = stat(ma, &ms) < 0 ? -errno : 0;
        b = persist_getattr(r->p, x, &ps);
        note(r, "stat %s", x);
        same(r, "stat", a, b);
        if (!a && !b &&
            (S_ISDIR(ms.st_mode) != S_ISDIR(ps.st_mode) ||
             (!S_ISDIR(ms.st_mode) && ms.st_size != ps.st_size)))
            diverged(r, "stat %s: size %lld in persist, %lld in the model", x,
                     (long long)ps.st_size, (long long)ms.st_size);
    }
}

/* One local operation (what a hook runs, too). */
static void op_local(struct run *r, int top)
{
    unsigned what = below(r, 100);
    if (what < 15)
        op_open(r);
    else if (what < 70)
        op_handle(r, top);
    else
        op_namespace(r);
}

static const char *const OPNAMES[] = {"probe",  "create", "fetch",  "tree",
                                      "object", "commit", "commits"};

static void hook(void *payload, enum persist_fake_op op, int after)
{
    struct run *r = payload;
    unsigned n;
    if (r->depth || !r->p || below(r, 3) == 0)
        return;
    r->depth++;
    note(r, "-- %s %s", after ? "after" : "before", OPNAMES[op]);
    n = 1 + below(r, 4);
    for (unsigned i = 0; i < n && !r->bad; i++) {
        op_local(r, 0);
        if (r->paranoid && !r->bad)
            compare_dir(r, "", 0, 1);
    }
    if (!r->bad)
        compare_dir(r, "", 0, 1);
    r->depth--;
}

/* The other writer puts r/<k> (the engine meets a moved branch: 412, refresh). */
static void op_other_writer(struct run *r)
{
    char path[32];
    size_t len = 1 + below(r, 200);
    fill_data(r, len);
    snprintf(path, sizeof(path), "r/%u", r->other++ % 4);
    note(r, "other writer puts %s (%zu bytes)", path, len);
    persist_fake_write(r->fk, path, r->buf, len);
}

/* Copies the other writer's r/ from the fake's head into the model. */
static void model_take_r(struct run *r)
{
    char mp[1024], path[32];
    for (unsigned k = 0; k < 4; k++) {
        void *data;
        size_t len;
        snprintf(path, sizeof(path), "r/%u", k);
        if (persist_fake_read(r->fk, path, &data, &len) == 0) {
            int fd;
            mpath(r, mp, sizeof(mp), "r");
            mkdir(mp, 0755);
            mpath(r, mp, sizeof(mp), path);
            fd = open(mp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || write(fd, data, len) != (ssize_t)len)
                diverged(r, "model: cannot write %s", path);
            if (fd >= 0)
                close(fd);
            free(data);
        }
    }
}

static void engine_log(enum spacefs_log_level level, const char *msg, void *payload)
{
    note(payload, "engine: %s", msg);
    (void)level;
}

static struct persist *engine_open(struct run *r, const char *cache)
{
    struct persist_config cfg;
    struct persist *p = NULL;
    int rc;

    persist_config_init(&cfg);
    cfg.cache_dir = cache;
    cfg.no_worker = 1;
    cfg.ttl_ms = 0;
    cfg.backoff_base_ms = 1;
    cfg.backoff_max_ms = 2;
    cfg.fsync_attempts = 20;
    cfg.stale_retries = 5;
    cfg.max_commit_files = r->seed % 2 ? 3 : 0; /* odd seeds: small commits, several per burst */
    cfg.log = engine_log;
    cfg.log_payload = r;
    if ((rc = persist_open(&p, &cfg, persist_fake_remote(r->fk))) < 0)
        diverged(r, "persist_open(%s): %s", cache, strerror(-rc));
    return p;
}

static void inject_fault(struct run *r)
{
    /* No tree faults: the Hub remote reads trees from its local git mirror (offline too). */
    static const enum persist_fake_op ops[] = {PERSIST_FAKE_FETCH, PERSIST_FAKE_COMMIT};
    static const enum spacefs_status sts[] = {SPACEFS_E_SERVER, SPACEFS_E_RATE_LIMITED,
                                              SPACEFS_E_TRANSPORT, SPACEFS_E_TIMEOUT};
    enum persist_fake_op op = ops[below(r, 2)];
    enum spacefs_status st = sts[below(r, 4)];
    unsigned count = 1 + below(r, 2);
    note(r, "fault: the next %u %s calls fail (%s)", count, OPNAMES[op], spacefs_status_name(st));
    persist_fake_fail(r->fk, op, st, count, 0);
    r->faults = 1;
}

/* Commits everything and waits for the fake's head to be the base. */
static int settle(struct run *r)
{
    struct persist_state st;
    for (int i = 0; i < 50; i++) {
        int rc = persist_sync_now(r->p);
        persist_state_get(r->p, &st);
        if (rc == 0 && st.state == PERSIST_CLEAN)
            return 0;
    }
    diverged(r, "not clean after 50 sync rounds: %s", st.last_error);
    return -1;
}

static int run_one(unsigned seed, long ops, const char *root, int trace, int paranoid)
{
    struct run *r = calloc(1, sizeof(*r));
    int bad;

    if (!r)
        return 1;
    r->seed = seed;
    r->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed * 0x2545f4914f6cdd1dULL);
    if (!r->rng)
        r->rng = 1;
    r->trace = trace;
    r->paranoid = paranoid;
    snprintf(r->cache, sizeof(r->cache), "%s/cache-%u", root, seed);
    snprintf(r->model, sizeof(r->model), "%s/model-%u", root, seed);
    mkdir(r->model, 0700);
    r->fk = persist_fake_new();
    persist_fake_on_call(r->fk, hook, r);
    r->p = engine_open(r, r->cache);
    for (r->step = 0; r->step < ops && !r->bad && r->p; r->step++) {
        unsigned what = below(r, 1000);
        if (what < 880) {
            op_local(r, 1);
        } else if (what < 950) {
            int rc;
            note(r, "sync round");
            if (r->trace)
                persist_debug_dump(r->p, stdout);
            rc = persist_sync_now(r->p);
            if (rc == 0 && !r->bad) { /* the fetch at its start saw the other writer's files */
                model_take_r(r);
                compare_dir(r, "", 0, 0);
            }
        } else if (what < 970) {
            op_other_writer(r);
        } else if (what < 990) {
            inject_fault(r);
        } else {
            note(r, "remount on the same cache");
            if (r->trace)
                persist_debug_dump(r->p, stdout);
            close_all(r);
            persist_close(r->p, 0);
            r->p = NULL;
            r->p = engine_open(r, r->cache);
        }
        if (!r->bad && r->p)
            compare_dir(r, "", 0, 1);
        if (!r->bad && r->p && persist_debug_verify(r->p) < 0)
            diverged(r, "the engine's directory index differs from a rebuild");
    }
    if (r->p && !r->bad) {
        note(r, "end: close all, sync until clean");
        close_all(r);
        r->depth++; /* no more operations in hooks */
        if (settle(r) == 0) {
            model_take_r(r);
            compare_dir(r, "", 0, 0);
        }
    }
    if (r->p) {
        while (r->nh) { /* after a divergence: let go of the handles without checking */
            persist_release(r->p, r->h[--r->nh].ph);
            close(r->h[r->nh].fd);
        }
        persist_close(r->p, 0);
        r->p = NULL;
    }
    if (!r->bad) { /* the Dataset alone: a mount from an empty cache */
        char empty[600];
        snprintf(empty, sizeof(empty), "%s-empty", r->cache);
        note(r, "mount from an empty cache");
        persist_fake_on_call(r->fk, NULL, NULL);
        r->p = engine_open(r, empty);
        if (r->p) {
            persist_sync_now(r->p);
            compare_dir(r, "", 1, 0);
            persist_close(r->p, 0);
        }
    }
    persist_fake_unref(r->fk);
    bad = r->bad;
    free(r);
    return bad;
}

int main(int argc, char **argv)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid(), seeds = 8;
    long ops = 2500;
    int trace = 0, paranoid = 0, bad = 0, explicit_seed = 0, explicit_seeds = 0;
    char root[256], cmd[300];
    struct timespec t0, t1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = (unsigned)strtoul(argv[++i], NULL, 10), explicit_seed = 1;
        else if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = (unsigned)strtoul(argv[++i], NULL, 10), explicit_seeds = 1;
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            ops = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--trace"))
            trace = 1;
        else if (!strcmp(argv[i], "--paranoid"))
            paranoid = 1;
        else {
            fprintf(stderr, "usage: %s [--seed S] [--seeds N] [--ops N] [--trace] [--paranoid]\n",
                    argv[0]);
            return 2;
        }
    }
    if (explicit_seed && !explicit_seeds)
        seeds = 1;
    snprintf(root, sizeof(root), "%s/persist-race.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned s = 0; s < seeds; s++) {
        int b = run_one(seed + s, ops, root, trace, paranoid);
        if (b)
            printf("FAIL seed %u (replay: persist_race --seed %u)\n", seed + s, seed + s);
        bad += b != 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%u seeds from %u, %ld operations each: %d failed (%.1f s)\n", seeds, seed, ops, bad,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (!bad) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", root);
    } else {
        printf("kept %s\n", root);
    }
    return bad ? 1 : 0;
}
