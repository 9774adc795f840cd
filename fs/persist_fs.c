/* persist/ in the filesystem: MOUNT/<ns>/<space>/persist/ is the Space's persist engine (a
 * private Dataset mirrored locally, fs/persist/), opened lazily on first use and kept until
 * unmount; persist.status shows its sync state, persist.repo the Dataset (writable: a per-Space
 * override), `sync` in control waits for the upload. Only Spaces of the token's own namespaces
 * have them. Cache: <cache_root>/<ns>/<space>/ (0700) holds persist.repo (the override) and one
 * engine directory per Dataset, datasets/<dns>/<dname>/ (journal, overlay, objects, git), so a
 * changed override never mixes two Datasets' states. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist_fs.h"

enum { PERS_DIR = 0, PERS_FILE = 1 }; /* kinds: persist/[rest], persist.status/.repo (n->file) */
enum { PF_STATUS = 0, PF_REPO };
static const char *const pers_names[] = {"persist", "persist.status", "persist.repo", NULL};

/* The subtree's state in fs (router_state). Lock order: fs->lock guards it. */
struct pers_root {
    struct pers_ent *list; /* one per Space whose persist/ was touched; see persist_fs.h */
    char *root;            /* cfg.persist.cache_root, copied */
    char *pattern;         /* cfg.persist.repo_pattern, copied */
    int64_t down_ms;       /* a listing on the way to an open persist/ failed then (offline) */
    pthread_t resume;      /* pers_start's thread */
    int resume_started;
    volatile int resume_stop;
};

static struct pers_root *R(struct spacefs_fs *fs)
{
    return *router_state(fs, &spacefs_persist_ops);
}

#define REPO_FILE          "persist.repo"
#define PERS_DOWN_GRACE_MS 30000

int persist_fs_enabled(struct spacefs_fs *fs, const char *ns)
{
    return fs->cfg.persist.remote_new && R(fs) && R(fs)->root && spacefs_ns_is_own(fs, ns);
}

static int pers_writable(struct spacefs_fs *fs, const char *ns)
{
    return spacefs_ns_writable(fs, ns);
}

/* Under fs->lock: an open engine below n (a namespace, or a Space and what is inside). */
static int engine_below_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    size_t len = strlen(n->ns);

    for (pe = R(fs)->list; pe; pe = pe->next)
        if (pe->p && (!n->space[0] ? strncmp(pe->id, n->ns, len) == 0 && pe->id[len] == '/'
                                   : strcmp(pe->id, n->id) == 0))
            return 1;
    return 0;
}

static int pers_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc)
{
    int ok;

    if (rc == -ENOENT)
        return 0;
    pthread_mutex_lock(&fs->lock);
    if ((ok = engine_below_locked(fs, n)))
        R(fs)->down_ms = spacefs_now_ms();
    pthread_mutex_unlock(&fs->lock);
    return ok;
}

static int pers_skip_listing(struct spacefs_fs *fs, const struct node *n)
{
    int skip;

    pthread_mutex_lock(&fs->lock);
    skip = R(fs)->down_ms && spacefs_now_ms() - R(fs)->down_ms < PERS_DOWN_GRACE_MS &&
           engine_below_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return skip;
}

/* ---- the Dataset id ---------------------------------------------------------------------- */
/* The pattern with {ns} and {space} replaced, into out (size bytes); -EINVAL if the result is
 * not a valid Dataset id or does not fit. */
static int repo_expand(char *out, size_t size, const char *pattern, const struct node *n)
{
    size_t len = 0, k;
    const char *p = pattern, *add;

    while (*p) {
        if (strncmp(p, "{ns}", 4) == 0) {
            add = n->ns;
            p += 4;
        } else if (strncmp(p, "{space}", 7) == 0) {
            add = n->space;
            p += 7;
        } else {
            if (len + 1 >= size)
                return -EINVAL;
            out[len++] = *p++;
            continue;
        }
        k = strlen(add);
        if (len + k >= size)
            return -EINVAL;
        memcpy(out + len, add, k);
        len += k;
    }
    out[len] = '\0';
    return spacefs_repo_id_valid(out) ? 0 : -EINVAL;
}

/* The Dataset of n's Space: the override in dir/persist.repo, else the mount's pattern. */
static int repo_current(struct spacefs_fs *fs, const struct node *n, const char *dir, char *out,
                        size_t size)
{
    char *path = spacefs_asprintf("%s/" REPO_FILE, dir), buf[2 * SPACEFS_NAME_MAX + 4];
    FILE *f = path ? fopen(path, "r") : NULL;
    int rc;

    free(path);
    if (f) {
        char *ok = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (ok) {
            buf[strcspn(buf, "\n")] = '\0';
            if (spacefs_repo_id_valid(buf) && strlen(buf) < size) {
                memcpy(out, buf, strlen(buf) + 1);
                return 0;
            }
        }
        spacefs_log(SPACEFS_WARN, "persist %s: ignoring a malformed %s/" REPO_FILE, n->id, dir);
    }
    if ((rc = repo_expand(out, size, R(fs)->pattern, n)) < 0)
        spacefs_log(SPACEFS_ERROR,
                    "persist %s: persist_repo=%s does not give a Dataset id (ns/name) for this "
                    "Space",
                    n->id, R(fs)->pattern);
    return rc;
}

/* Empties what snapshots.c cached for pe's engine (the engine is going). */
static void snap_clear(struct pers_ent *pe)
{
    void (*clear)(struct pers_ent *);

    pthread_mutex_lock(&pe->snap_lock);
    clear = pe->snap_clear;
    pthread_mutex_unlock(&pe->snap_lock);
    if (clear)
        clear(pe);
}

/* ---- engines ------------------------------------------------------------------------------ */
static void pers_log(enum spacefs_log_level level, const char *msg, void *payload)
{
    spacefs_log(level, "%s: %s", ((struct pers_ent *)payload)->id, msg);
}

static struct pers_ent *ent_get_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;

    for (pe = R(fs)->list; pe; pe = pe->next)
        if (strcmp(pe->id, n->id) == 0)
            return pe;
    if (!(pe = calloc(1, sizeof(*pe))))
        return NULL;
    pe->id = spacefs_strdup(n->id);
    pe->dir = spacefs_asprintf("%s/%s/%s", R(fs)->root, n->ns, n->space);
    if (!pe->id || !pe->dir) {
        free(pe->id);
        free(pe->dir);
        free(pe);
        return NULL;
    }
    pthread_mutex_init(&pe->snap_lock, NULL);
    pe->next = R(fs)->list;
    R(fs)->list = pe;
    return pe;
}

/* Opens pe's engine (no lock held; pe->opening is ours). */
static int ent_open(struct spacefs_fs *fs, struct pers_ent *pe, const struct node *n)
{
    const struct spacefs_persist_config *pc = &fs->cfg.persist;
    struct persist_remote remote = {0};
    struct persist_config cfg;
    struct persist *p = NULL;
    char repo[sizeof(pe->dataset)], *edir = NULL, *git = NULL;
    int rc;

    if ((rc = spacefs_mkdir_p(pe->dir, 0700)) < 0) {
        spacefs_log(SPACEFS_ERROR, "persist %s: cannot create the cache %s: %s", pe->id, pe->dir,
                    strerror(-rc));
        return rc;
    }
    if ((rc = repo_current(fs, n, pe->dir, repo, sizeof(repo))) < 0)
        return rc;
    if (!(edir = spacefs_asprintf("%s/datasets/%s", pe->dir, repo)) ||
        !(git = spacefs_asprintf("%s/git", edir))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = spacefs_mkdir_p(edir, 0700)) < 0) {
        spacefs_log(SPACEFS_ERROR, "persist %s: cannot create %s: %s", pe->id, edir, strerror(-rc));
        goto out;
    }
    pthread_mutex_lock(&fs->lock);
    memcpy(pe->dataset, repo, sizeof(repo)); /* the log hook names it from now on */
    pthread_mutex_unlock(&fs->lock);
    if ((rc = pc->remote_new(&remote, repo, git, pc->remote_payload)) < 0) {
        spacefs_log(SPACEFS_ERROR, "persist %s: cannot open the mirror of %s: %s", pe->id, repo,
                    strerror(-rc));
        goto out;
    }
    persist_config_init(&cfg);
    cfg.cache_dir = edir;
    cfg.quiet_ms = pc->quiet_ms;
    cfg.min_interval_ms = pc->interval_ms;
    cfg.max_delay_ms = pc->max_delay_ms;
    cfg.ttl_ms = pc->ttl_ms;
    cfg.allow_public = pc->allow_public;
    cfg.log = pers_log;
    cfg.log_payload = pe;
    if ((rc = persist_open(&p, &cfg, remote)) < 0) { /* remote taken, also on failure */
        spacefs_log(SPACEFS_ERROR, "persist %s: cannot open the cache of %s in %s: %s", pe->id,
                    repo, edir, strerror(-rc));
        goto out;
    }
    pthread_mutex_lock(&fs->lock);
    pe->p = p;
    pthread_mutex_unlock(&fs->lock);
    spacefs_log(SPACEFS_INFO, "persist %s: Dataset %s, cache %s", pe->id, repo, edir);
out:
    free(edir);
    free(git);
    return rc;
}

/* The Space of n exists and has persist/. While the Hub is unreachable a Space known from an
 * earlier listing (or with its engine open) still counts: local writes go on offline. */
int persist_fs_space_check(struct spacefs_fs *fs, const struct node *n)
{
    int rc, found;

    if (!persist_fs_enabled(fs, n->ns))
        return -ENOENT;
    if (pers_skip_listing(fs, n))
        return 0;
    rc = spacefs_ns_ensure(fs, n->ns);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return pers_offline_ok(fs, n, rc) ? 0 : rc; /* the listing failure was logged there */
    pthread_mutex_lock(&fs->lock);
    found = spacefs_space_find_locked(fs, n->ns, n->space) != NULL;
    pthread_mutex_unlock(&fs->lock);
    return found ? 0 : -ENOENT;
}

/* persist_fs_get without the Space check (the caller knows the Space has a cache here). */
static int ent_acquire(struct spacefs_fs *fs, const struct node *n, struct pers_ent **out)
{
    struct pers_ent *pe;
    int rc;

    *out = NULL;
    pthread_mutex_lock(&fs->lock);
    if (!(pe = ent_get_locked(fs, n))) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOMEM;
    }
    pe->refs++;
    while (pe->opening)
        pthread_cond_wait(&fs->cond, &fs->lock);
    if (pe->p) {
        pthread_mutex_unlock(&fs->lock);
        *out = pe;
        return 0;
    }
    pe->opening = 1;
    pthread_mutex_unlock(&fs->lock);
    rc = ent_open(fs, pe, n);
    pthread_mutex_lock(&fs->lock);
    pe->opening = 0;
    if (rc < 0)
        pe->refs--;
    pthread_cond_broadcast(&fs->cond);
    pthread_mutex_unlock(&fs->lock);
    if (rc == 0)
        *out = pe;
    return rc;
}

int persist_fs_get(struct spacefs_fs *fs, const struct node *n, struct pers_ent **out)
{
    int rc;

    *out = NULL;
    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    return ent_acquire(fs, n, out);
}

void persist_fs_put(struct spacefs_fs *fs, struct pers_ent *pe)
{
    if (!pe)
        return;
    pthread_mutex_lock(&fs->lock);
    pe->refs--;
    pthread_mutex_unlock(&fs->lock);
}

/* The engine if it is open, with a reference (no opening); NULL otherwise. */
static struct pers_ent *pers_peek(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;

    pthread_mutex_lock(&fs->lock);
    for (pe = R(fs)->list; pe; pe = pe->next)
        if (strcmp(pe->id, n->id) == 0)
            break;
    if (pe && (!pe->p || pe->opening))
        pe = NULL;
    if (pe)
        pe->refs++;
    pthread_mutex_unlock(&fs->lock);
    return pe;
}

/* ---- attributes and listings ------------------------------------------------------------- */
/* Owner, and write bits off for a read-only token (the kernel checks them; root included, the
 * mutating calls check again). */
static void fix_stat(struct spacefs_fs *fs, struct stat *st, int writable)
{
    st->st_uid = fs->cfg.uid;
    st->st_gid = fs->cfg.gid;
    if (!writable)
        st->st_mode &= ~(mode_t)0222;
    if (!st->st_mtime)
        st->st_mtime = st->st_ctime = st->st_atime = fs->started;
    st->st_blksize = 4096;
}

static int pers_file_render(struct spacefs_fs *fs, const struct node *n, char **out,
                            size_t *out_len)
{
    struct pers_ent *pe;
    char *buf = NULL, repo[SPACEFS_REPO_ID_MAX];
    size_t cap = 2048, len;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (n->file == PF_REPO) {
        char *dir = spacefs_asprintf("%s/%s/%s", R(fs)->root, n->ns, n->space);
        if (!dir)
            return -ENOMEM;
        rc = repo_current(fs, n, dir, repo, sizeof(repo));
        free(dir);
        if (rc < 0)
            return rc;
        if (!(*out = spacefs_asprintf("%s\n", repo)))
            return -ENOMEM;
        *out_len = strlen(*out);
        return 0;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    for (;;) {
        if (!(buf = malloc(cap + sizeof(repo) + 8))) {
            rc = -ENOMEM;
            break;
        }
        if ((len = persist_state_text(pe->p, buf, cap)) < cap) {
            snprintf(buf + len, sizeof(repo) + 8, "repo: %s\n", pe->dataset);
            *out = buf;
            *out_len = strlen(buf);
            buf = NULL;
            break;
        }
        free(buf);
        cap = len + 1;
    }
    free(buf);
    persist_fs_put(fs, pe);
    return rc;
}

static int pfile_attr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc;

    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    /* persist.status: its size if the engine is open; `ls -l` of a Space opens nothing */
    if (n->file == PF_REPO || (pe = pers_peek(fs, n))) {
        if ((rc = pers_file_render(fs, n, &text, &len)) < 0 && n->file == PF_REPO) {
            persist_fs_put(fs, pe);
            return rc;
        }
        free(text);
    }
    persist_fs_put(fs, pe);
    router_fill(fs, st, S_IFREG | (n->file == PF_REPO ? 0644 : 0444), len, fs->started);
    fix_stat(fs, st, pers_writable(fs, n->ns));
    return 0;
}

/* ---- waiting for the upload -------------------------------------------------------------- */
static int wait_synced(struct spacefs_fs *fs, struct pers_ent *pe, const char *what)
{
    struct persist_state s;
    int rc = persist_sync_wait(pe->p, fs->cfg.persist.sync_timeout_ms);

    if (rc < 0) {
        persist_state_get(pe->p, &s);
        spacefs_log(SPACEFS_WARN, "%s %s: not committed to %s: %s (%s)", what, pe->id, pe->dataset,
                    strerror(-rc), s.last_error[0] ? s.last_error : "no error recorded");
    }
    return rc;
}

static int pers_sync(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (!persist_fs_enabled(fs, n->ns)) {
        spacefs_log(SPACEFS_WARN, "sync %s: no persist/ in this namespace", n->id);
        return -EINVAL;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = wait_synced(fs, pe, "sync");
    persist_fs_put(fs, pe);
    return rc;
}

/* ---- persist.repo ---------------------------------------------------------------------------- */
static int print_repo(FILE *f, void *payload)
{
    return fprintf(f, "%s\n", (const char *)payload) < 0 ? -EIO : 0;
}

static int override_store(const char *dir, const char *repo)
{
    char *path = spacefs_asprintf("%s/" REPO_FILE, dir);
    int rc = path ? spacefs_mkdir_p(dir, 0700) : -ENOMEM;

    if (rc == 0)
        rc = spacefs_file_replace(path, 1, print_repo, (void *)repo);
    free(path);
    return rc;
}

/* Puts a detached engine back (the caller keeps its reference). */
static void engine_restore(struct spacefs_fs *fs, struct pers_ent *pe, struct persist *p)
{
    pthread_mutex_lock(&fs->lock);
    pe->p = p;
    pe->opening = 0;
    pthread_cond_broadcast(&fs->cond);
    pthread_mutex_unlock(&fs->lock);
}

/* Takes pe's engine away for a new Dataset if nothing is pending and nobody else uses it; the
 * caller closes *old (after opening the new one, so libgit2 is never shut down meanwhile: its
 * shutdown drops the thread-local state of live FUSE threads) or puts it back. pe->opening is
 * then ours. */
static int engine_detach(struct spacefs_fs *fs, struct pers_ent *pe, struct persist **old)
{
    struct persist_state s;

    persist_state_get(pe->p, &s);
    if (s.files)
        return -EBUSY;
    pthread_mutex_lock(&fs->lock);
    if (pe->refs != 1 || pe->opening) { /* open files or calls in flight */
        pthread_mutex_unlock(&fs->lock);
        return -EBUSY;
    }
    *old = pe->p;
    pe->p = NULL;
    pe->opening = 1; /* nobody opens it again before the override is stored */
    pthread_mutex_unlock(&fs->lock);
    persist_state_get(*old, &s);
    if (s.files) { /* a change slipped in before we took it away */
        engine_restore(fs, pe, *old);
        return -EBUSY;
    }
    snap_clear(pe);
    return 0;
}

static int pers_repo_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len)
{
    char repo[SPACEFS_REPO_ID_MAX], cur[SPACEFS_REPO_ID_MAX], *dir = NULL;
    struct persist *old = NULL;
    struct pers_ent *pe;
    int rc;

    if (spacefs_one_word(repo, sizeof(repo), buf, len) < 0 || !spacefs_repo_id_valid(repo))
        return -EINVAL; /* nothing stored, nothing sent */
    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    if (!pers_writable(fs, n->ns))
        return -EACCES;
    if (!(dir = spacefs_asprintf("%s/%s/%s", R(fs)->root, n->ns, n->space)))
        return -ENOMEM;
    if (repo_current(fs, n, dir, cur, sizeof(cur)) == 0 && strcmp(cur, repo) == 0)
        goto out; /* already in use */
    if ((pe = pers_peek(fs, n)) && (rc = engine_detach(fs, pe, &old)) < 0) {
        spacefs_log(SPACEFS_WARN,
                    "persist.repo of %s: busy (changes not committed to %s yet, or files open); "
                    "`echo sync > control` and close them first",
                    n->id, pe->dataset);
        persist_fs_put(fs, pe);
        goto out;
    }
    if ((rc = override_store(dir, repo)) < 0) {
        spacefs_log(SPACEFS_ERROR, "persist.repo of %s: cannot store it in %s: %s", n->id, dir,
                    strerror(-rc));
        if (old)
            engine_restore(fs, pe, old);
        persist_fs_put(fs, pe);
        goto out;
    }
    spacefs_log(SPACEFS_INFO, "persist %s: Dataset is now %s", n->id, repo);
    if (!pe)
        goto out;
    ent_open(fs, pe, n); /* the new one (errors logged; retried on next use) */
    persist_close(old, 0);
    pthread_mutex_lock(&fs->lock);
    pe->opening = 0;
    pe->refs--;
    pthread_cond_broadcast(&fs->cond);
    pthread_mutex_unlock(&fs->lock);
out:
    free(dir);
    return rc;
}

/* ---- unmount --------------------------------------------------------------------------------- */
static void *close_one(void *arg)
{
    struct pers_ent *pe = arg;
    struct persist *p = pe->p;

    pe->p = NULL;
    persist_close(p, pe->close_wait_ms);
    return NULL;
}

static void resume_stop(struct spacefs_fs *fs);

static void pers_shutdown(struct spacefs_fs *fs)
{
    struct pers_ent *pe;
    size_t n = 0, i;
    pthread_t *t;

    if (!R(fs))
        return;
    resume_stop(fs);
    /* every engine waits for its uploads at the same time: the bound is one unmount_wait */
    pthread_mutex_lock(&fs->lock);
    for (pe = R(fs)->list; pe; pe = pe->next)
        n++;
    pthread_mutex_unlock(&fs->lock);
    t = calloc(n + 1, sizeof(*t));
    i = 0;
    for (pe = R(fs)->list; pe; pe = pe->next, i++) {
        snap_clear(pe);
        pe->close_wait_ms = fs->cfg.persist.unmount_wait_ms;
        pe->closing = 0;
        if (!pe->p)
            continue;
        if (t && pthread_create(&t[i], NULL, close_one, pe) == 0)
            pe->closing = 1;
        else
            close_one(pe);
    }
    i = 0;
    for (pe = R(fs)->list; pe; pe = pe->next, i++)
        if (pe->closing)
            pthread_join(t[i], NULL);
    free(t);
}

static void pers_free(struct spacefs_fs *fs)
{
    struct pers_ent *pe;

    if (!R(fs))
        return;
    pers_shutdown(fs);
    while ((pe = R(fs)->list)) {
        R(fs)->list = pe->next;
        pthread_mutex_destroy(&pe->snap_lock);
        free(pe->id);
        free(pe->dir);
        free(pe);
    }
    free(R(fs)->root);
    free(R(fs)->pattern);
    free(R(fs));
    *router_state(fs, &spacefs_persist_ops) = NULL;
}

static int pers_init(struct spacefs_fs *fs)
{
    const struct spacefs_persist_config *pc = &fs->cfg.persist;
    struct pers_root *r = calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    *router_state(fs, &spacefs_persist_ops) = r;
    r->root = spacefs_strdup(pc->cache_root);
    r->pattern = spacefs_strdup(pc->repo_pattern ? pc->repo_pattern : "{ns}/{space}-persist");
    fs->cfg.persist.cache_root = r->root;
    fs->cfg.persist.repo_pattern = r->pattern;
    return !r->pattern || (pc->cache_root && !r->root) ? -ENOMEM : 0;
}

/* ---- paths -------------------------------------------------------------------------------- */
static int pers_parse(struct spacefs_fs *fs, struct node *n, int entry, const char *rest)
{
    (void)fs;
    if (entry == 0)
        return 0; /* persist/ and below: rest */
    if (rest[0])
        return -ENOENT;
    n->kind = PERS_FILE;
    n->file = entry == 1 ? PF_STATUS : PF_REPO;
    return 0;
}

static int pers_shown(struct spacefs_fs *fs, const struct node *space)
{
    return persist_fs_enabled(fs, space->ns);
}

static int pers_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind == PERS_FILE)
        return pfile_attr(fs, n, st);
    if (!n->rest[0]) {
        if ((rc = persist_fs_space_check(fs, n)) < 0)
            return rc;
        router_fill(fs, st, S_IFDIR | (pers_writable(fs, n->ns) ? 0755 : 0555), 0, fs->started);
        return 0;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    if ((rc = persist_getattr(pe->p, n->rest, st)) == 0)
        fix_stat(fs, st, pers_writable(fs, n->ns));
    persist_fs_put(fs, pe);
    return rc;
}

struct fill_fix {
    struct spacefs_fs *fs;
    int writable;
    spacefs_fill_fn fn;
    void *payload;
};

static int fill_fixed(const char *name, const struct stat *st, void *payload)
{
    struct fill_fix *f = payload;
    struct stat s;

    if (!st)
        return f->fn(name, NULL, f->payload);
    s = *st;
    fix_stat(f->fs, &s, f->writable);
    return f->fn(name, &s, f->payload);
}

static int pers_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                        void *payload)
{
    struct fill_fix f = {fs, pers_writable(fs, n->ns), fn, payload};
    struct pers_ent *pe;
    int rc;

    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = persist_readdir(pe->p, n->rest, fill_fixed, &f);
    persist_fs_put(fs, pe);
    return rc;
}

/* Common checks of a mutating call on n, then the engine (pair with persist_fs_put). */
static int mutate_begin(struct spacefs_fs *fs, const struct node *n, struct pers_ent **pe)
{
    int rc;

    *pe = NULL;
    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    if (n->kind != PERS_DIR)
        return -EPERM;
    if (!pers_writable(fs, n->ns))
        return -EACCES;
    return persist_fs_get(fs, n, pe);
}

/* The engine call `op` on n's path inside persist/ (mkdir, rmdir, unlink, truncate, utimens). */
enum pers_op { OP_MKDIR, OP_RMDIR, OP_UNLINK, OP_TRUNCATE, OP_UTIMENS };

static int engine_op(struct spacefs_fs *fs, const struct node *n, enum pers_op op, int64_t arg)
{
    struct pers_ent *pe;
    int rc;

    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    switch (op) {
    case OP_MKDIR:
        rc = persist_mkdir(pe->p, n->rest, (mode_t)arg);
        break;
    case OP_RMDIR:
        rc = persist_rmdir(pe->p, n->rest);
        break;
    case OP_UNLINK:
        rc = persist_unlink(pe->p, n->rest);
        break;
    case OP_TRUNCATE:
        rc = persist_truncate(pe->p, n->rest, arg);
        break;
    case OP_UTIMENS:
        rc = persist_utimens(pe->p, n->rest, arg);
        break;
    }
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_mkdir(struct spacefs_fs *fs, const struct node *n, mode_t mode)
{
    if (n->kind == PERS_DIR && !n->rest[0])
        return persist_fs_space_check(fs, n) < 0 ? -ENOENT : -EEXIST;
    return engine_op(fs, n, OP_MKDIR, mode);
}

static int pers_rmdir(struct spacefs_fs *fs, const struct node *n)
{
    if (n->kind == PERS_FILE)
        return -ENOTDIR;
    if (!n->rest[0])
        return -EBUSY; /* persist/ itself */
    return engine_op(fs, n, OP_RMDIR, 0);
}

static int pers_unlink(struct spacefs_fs *fs, const struct node *n)
{
    if (n->kind == PERS_DIR && !n->rest[0])
        return -EISDIR;
    return engine_op(fs, n, OP_UNLINK, 0);
}

static int pers_truncate(struct spacefs_fs *fs, const struct node *n, int64_t size)
{
    int rc;

    if (n->kind == PERS_FILE) {
        if ((rc = persist_fs_space_check(fs, n)) < 0)
            return rc;
        if (n->file != PF_REPO || !pers_writable(fs, n->ns))
            return -EACCES;
        return size == 0 ? 0 : -EINVAL; /* "> persist.repo" before the write */
    }
    if (!n->rest[0])
        return -EISDIR;
    return engine_op(fs, n, OP_TRUNCATE, size);
}

static int pers_rename(struct spacefs_fs *fs, const struct node *from, const struct node *to,
                       unsigned flags)
{
    struct pers_ent *pe;
    int rc;

    if (from->kind != PERS_DIR || to->kind != PERS_DIR || strcmp(from->id, to->id) != 0)
        return -EXDEV; /* mv copies instead: between Spaces, to persist.status */
    if (!from->rest[0] || !to->rest[0])
        return -EBUSY;
    if ((rc = mutate_begin(fs, from, &pe)) < 0)
        return rc;
    rc = persist_rename(pe->p, from->rest, to->rest, flags);
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_setattr(struct spacefs_fs *fs, const struct node *n)
{
    struct stat st;
    int rc;

    if ((rc = pers_getattr(fs, n, &st)) < 0)
        return rc;
    if (n->kind == PERS_FILE)
        return -EPERM;
    /* modes and owners are not stored; persist/ itself too (rsync -a src/ persist/ sets them) */
    return pers_writable(fs, n->ns) ? 0 : -EACCES;
}

static int pers_utimens(struct spacefs_fs *fs, const struct node *n, int64_t mtime)
{
    int rc = pers_setattr(fs, n); /* ENOENT, EACCES read-only */

    if (rc < 0 || n->kind != PERS_DIR || !n->rest[0] || mtime < 0)
        return rc == -EPERM ? 0 : rc; /* persist.status & co keep no time: touch succeeds */
    return engine_op(fs, n, OP_UTIMENS, mtime);
}

static int pers_fsyncdir(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind != PERS_DIR)
        return 0;
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = wait_synced(fs, pe, "fsync");
    persist_fs_put(fs, pe);
    return rc;
}

static int pers_control(struct spacefs_fs *fs, const struct node *space, const char *word)
{
    /* sync: blocks until every change made before it is committed on the Hub */
    return strcmp(word, "sync") == 0 ? pers_sync(fs, space) : -ENOSYS;
}

/* ---- files -------------------------------------------------------------------------------- */
/* A persist/ file (pe, ph) or persist.status/.repo (text). */
struct pers_handle {
    struct pers_ent *pe;
    struct persist_handle *ph;
    struct router_text text;
};

static int pers_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, mode_t mode,
                     int create)
{
    int writes = router_want_write(h->flags) || (h->flags & O_TRUNC) || create;
    struct pers_handle *ph;
    int rc;

    if (h->n.kind == PERS_FILE && create)
        return -ENOSYS;
    if (h->n.kind == PERS_FILE && (rc = router_open_check(fs, &h->n, h->flags)) < 0)
        return rc;
    if (h->n.kind == PERS_DIR && !rest[0])
        return persist_fs_space_check(fs, &h->n) < 0 ? -ENOENT : -EISDIR;
    if (h->n.kind == PERS_DIR && writes && persist_fs_space_check(fs, &h->n) == 0 &&
        !pers_writable(fs, h->n.ns))
        return -EACCES;
    if (!(ph = calloc(1, sizeof(*ph))))
        return -ENOMEM;
    if (h->n.kind == PERS_FILE) {
        rc = router_want_read(h->flags) ? pers_file_render(fs, &h->n, &ph->text.data, &ph->text.len)
                                        : 0;
    } else if ((rc = persist_fs_get(fs, &h->n, &ph->pe)) == 0 &&
               (rc = persist_file_open(ph->pe->p, rest, h->flags | (create ? O_CREAT : 0), mode,
                                       &ph->ph)) < 0) {
        persist_fs_put(fs, ph->pe);
    }
    if (rc < 0) {
        free(ph->text.data);
        free(ph);
        return rc;
    }
    h->state = ph;
    return 0;
}

static struct persist_handle *eh(struct spacefs_handle *h) /* the engine's handle or NULL */
{
    return ((struct pers_handle *)h->state)->ph;
}

static struct persist *engine(struct spacefs_handle *h)
{
    return ((struct pers_handle *)h->state)->pe->p;
}

static long pers_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                      int64_t off)
{
    (void)fs;
    if (!eh(h))
        return router_text_read(&((struct pers_handle *)h->state)->text, buf, size, off);
    return persist_read(engine(h), eh(h), buf, size, off);
}

static long pers_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf,
                       size_t size, int64_t off)
{
    int rc;

    if (eh(h))
        return persist_write(engine(h), eh(h), buf, size, off);
    if (h->n.file != PF_REPO)
        return -EBADF;
    rc = pers_repo_write(fs, &h->n, buf, size);
    return rc < 0 ? rc : (long)size;
}

/* close(2) is the acknowledgement: content and journal on disk */
static int pers_flush(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    (void)fs;
    return eh(h) ? persist_flush(engine(h), eh(h)) : 0;
}

static int pers_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t size)
{
    if (!eh(h))
        return pers_truncate(fs, &h->n, size);
    return persist_ftruncate(engine(h), eh(h), size);
}

static int pers_fsync(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct pers_ent *pe = ((struct pers_handle *)h->state)->pe;
    int rc;

    if (!eh(h))
        return 0;
    if ((rc = persist_fsync(pe->p, eh(h), fs->cfg.persist.sync_timeout_ms)) < 0)
        spacefs_log(SPACEFS_WARN, "fsync in %s: not committed to %s: %s", pe->id, pe->dataset,
                    strerror(-rc));
    return rc;
}

static int pers_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, struct stat *st)
{
    int rc;

    if (!eh(h))
        return pers_getattr(fs, &h->n, st);
    if ((rc = persist_fgetattr(engine(h), eh(h), st)) == 0)
        fix_stat(fs, st, pers_writable(fs, h->n.ns));
    return rc;
}

static int pers_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    if (!eh(h))
        return pers_setattr(fs, &h->n);
    /* modes and owners are not stored (as pers_setattr) */
    return pers_writable(fs, h->n.ns) ? 0 : -EACCES;
}

static int pers_futimens(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t mtime)
{
    int rc;

    if (!eh(h))
        return pers_utimens(fs, &h->n, mtime);
    rc = pers_fsetattr(fs, h);
    return rc < 0 ? rc : persist_futimens(engine(h), eh(h), mtime);
}

static void pers_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct pers_handle *ph = h->state;
    int rc;

    if (ph->ph && (rc = persist_release(ph->pe->p, ph->ph)) < 0)
        spacefs_log(SPACEFS_WARN, "persist %s: close failed: %s", ph->pe->id, strerror(-rc));
    persist_fs_put(fs, ph->pe);
    free(ph->text.data);
    free(ph);
}

/* ---- resuming uploads at mount ------------------------------------------------------------ */
/* Opens the engine of one cached Space if its journal holds uncommitted changes. */
static void resume_space(struct spacefs_fs *fs, const char *ns, const char *space)
{
    struct pers_ent *pe;
    struct node n;
    char repo[sizeof(pe->dataset)], *dir = NULL, *edir = NULL;

    memset(&n, 0, sizeof(n));
    n.sub = &spacefs_persist_ops;
    n.kind = PERS_DIR;
    n.rest = "";
    if (!spacefs_name_valid(ns) || !spacefs_name_valid(space) || !persist_fs_enabled(fs, ns))
        return;
    snprintf(n.ns, sizeof(n.ns), "%s", ns);
    snprintf(n.space, sizeof(n.space), "%s", space);
    snprintf(n.id, sizeof(n.id), "%s/%s", ns, space);
    if (!(dir = spacefs_asprintf("%s/%s/%s", R(fs)->root, ns, space)) ||
        repo_current(fs, &n, dir, repo, sizeof(repo)) < 0 ||
        !(edir = spacefs_asprintf("%s/datasets/%s", dir, repo)) || !persist_cache_pending(edir))
        goto out;
    spacefs_log(SPACEFS_INFO, "persist %s: changes from an earlier mount are pending; uploading",
                n.id);
    if (ent_acquire(fs, &n, &pe) == 0) /* the engine stays open until unmount */
        persist_fs_put(fs, pe);
out:
    free(dir);
    free(edir);
}

/* Walks <cache_root>/<ns>/<space>/ once: what close() acknowledged before a crash, a reboot or
 * an unmount that could not wait goes up without anyone touching persist/. */
static void *resume_main(void *arg)
{
    struct spacefs_fs *fs = arg;
    DIR *top, *sub;
    struct dirent *a, *b;

    if (!(top = opendir(R(fs)->root)))
        return NULL;
    while ((a = readdir(top)) && !R(fs)->resume_stop) {
        char *path = a->d_name[0] == '.' ? NULL : spacefs_asprintf("%s/%s", R(fs)->root, a->d_name);
        if (!path || !(sub = opendir(path))) {
            free(path);
            continue;
        }
        while ((b = readdir(sub)) && !R(fs)->resume_stop)
            if (b->d_name[0] != '.')
                resume_space(fs, a->d_name, b->d_name);
        closedir(sub);
        free(path);
    }
    closedir(top);
    return NULL;
}

static void pers_start(struct spacefs_fs *fs)
{
    if (!fs->cfg.persist.remote_new || !R(fs) || !R(fs)->root || R(fs)->resume_started)
        return;
    if (pthread_create(&R(fs)->resume, NULL, resume_main, fs) == 0)
        R(fs)->resume_started = 1;
}

static void resume_stop(struct spacefs_fs *fs)
{
    if (!R(fs) || !R(fs)->resume_started)
        return;
    R(fs)->resume_stop = 1;
    pthread_join(R(fs)->resume, NULL);
    R(fs)->resume_started = 0;
}

static char *pers_render_all(struct spacefs_fs *fs)
{
    static const char *const names[] = {"clean", "pending", "uploading", "error"};
    struct persist_state s;
    struct pers_ent *pe;
    char *out = spacefs_strdup(""), *next;

    pthread_mutex_lock(&fs->lock);
    for (pe = R(fs)->list; pe && out; pe = pe->next) {
        if (!pe->p || pe->opening)
            continue;
        persist_state_get(pe->p, &s);
        next = spacefs_asprintf("%s%s %s files %llu bytes %llu dataset %s%s%s\n", out, pe->id,
                                names[s.state], (unsigned long long)s.files,
                                (unsigned long long)s.bytes, pe->dataset,
                                s.last_error[0] ? " error " : "", s.last_error);
        free(out);
        out = next;
    }
    pthread_mutex_unlock(&fs->lock);
    return out;
}

const struct spacefs_subtree_ops spacefs_persist_ops = {
    .name = "persist",
    .names = pers_names,
    .shown = pers_shown,
    .parse = pers_parse,
    .getattr = pers_getattr,
    .readdir = pers_readdir,
    .mkdir = pers_mkdir,
    .rmdir = pers_rmdir,
    .unlink = pers_unlink,
    .truncate = pers_truncate,
    .rename = pers_rename,
    .setattr = pers_setattr,
    .utimens = pers_utimens,
    .fsyncdir = pers_fsyncdir,
    .open = pers_open,
    .read = pers_read,
    .write = pers_write,
    .flush = pers_flush,
    .ftruncate = pers_ftruncate,
    .fsync = pers_fsync,
    .fgetattr = pers_fgetattr,
    .fsetattr = pers_fsetattr,
    .futimens = pers_futimens,
    .release = pers_release,
    .offline_ok = pers_offline_ok,
    .skip_listing = pers_skip_listing,
    .control = pers_control,
    .meta_name = "persist",
    .meta_render = pers_render_all,
    .init = pers_init,
    .start = pers_start,
    .shutdown = pers_shutdown,
    .free = pers_free,
};
