/* The persist subtree's engines, one per Space (persist_fs.h): the registry, the Dataset id
 * (the mount's pattern or the Space's persist.repo override), opening on first use, resuming
 * uploads at mount, switching Datasets, .spacefs/persist and unmount. Only Spaces of the token's
 * own namespaces have them. Cache: <cache_root>/<ns>/<space>/ (0700) holds persist.repo and one
 * engine directory per Dataset, datasets/<dns>/<dname>/ (journal, overlay, objects, git), so a
 * changed override never mixes two Datasets' states. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist_fs.h"

#define REPO_FILE          "persist.repo"
#define PERS_DOWN_GRACE_MS 30000

/* The subtree's state in fs (router_state). Lock order: fs->lock guards it. */
struct pers_root {
    struct pers_ent *list; /* one per Space whose persist/ was touched */
    char *root;            /* cfg.persist.cache_root, copied */
    char *pattern;         /* cfg.persist.repo_pattern, copied */
    int64_t down_ms;       /* a listing on the way to an open persist/ failed then (offline) */
    pthread_t resume;      /* persist_fs_start's thread */
    int resume_started;
    volatile int resume_stop;
};

static struct pers_root *proot(struct spacefs_fs *fs)
{
    void **state = router_state_named(fs, "persist");

    return state ? *state : NULL;
}

int persist_fs_enabled(struct spacefs_fs *fs, const char *ns)
{
    return fs->cfg.persist.remote_new && proot(fs) && proot(fs)->root && spacefs_ns_is_own(fs, ns);
}

/* Under fs->lock: an open engine below n (a namespace, or a Space and what is inside). */
static int engine_below_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    size_t len = strlen(n->ns);

    for (pe = proot(fs)->list; pe; pe = pe->next)
        if (pe->p && (!n->space[0] ? strncmp(pe->id, n->ns, len) == 0 && pe->id[len] == '/'
                                   : strcmp(pe->id, n->id) == 0))
            return 1;
    return 0;
}

int persist_fs_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc)
{
    int ok;

    if (rc == -ENOENT)
        return 0;
    pthread_mutex_lock(&fs->lock);
    if ((ok = engine_below_locked(fs, n)))
        proot(fs)->down_ms = spacefs_now_ms();
    pthread_mutex_unlock(&fs->lock);
    return ok;
}

int persist_fs_skip_listing(struct spacefs_fs *fs, const struct node *n)
{
    int skip;

    pthread_mutex_lock(&fs->lock);
    skip = proot(fs)->down_ms && spacefs_now_ms() - proot(fs)->down_ms < PERS_DOWN_GRACE_MS &&
           engine_below_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return skip;
}

/* ---- the Dataset id -------------------------------------------------------------------------- */
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
    FILE *f = path ? spacefs_file_open_read(path) : NULL;
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
    if ((rc = repo_expand(out, size, proot(fs)->pattern, n)) < 0)
        spacefs_log(SPACEFS_ERROR,
                    "persist %s: persist_repo=%s does not give a Dataset id (ns/name) for this "
                    "Space",
                    n->id, proot(fs)->pattern);
    return rc;
}

int persist_fs_repo(struct spacefs_fs *fs, const struct node *n, char *out, size_t size)
{
    char *dir = spacefs_asprintf("%s/%s/%s", proot(fs)->root, n->ns, n->space);
    int rc = dir ? repo_current(fs, n, dir, out, size) : -ENOMEM;

    free(dir);
    return rc;
}

/* ---- engines --------------------------------------------------------------------------------- */
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

static void pers_log(enum spacefs_log_level level, const char *msg, void *payload)
{
    spacefs_log(level, "%s: %s", ((struct pers_ent *)payload)->id, msg);
}

static struct pers_ent *ent_get_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;

    for (pe = proot(fs)->list; pe; pe = pe->next)
        if (strcmp(pe->id, n->id) == 0)
            return pe;
    if (!(pe = calloc(1, sizeof(*pe))))
        return NULL;
    pe->id = spacefs_strdup(n->id);
    pe->dir = spacefs_asprintf("%s/%s/%s", proot(fs)->root, n->ns, n->space);
    if (!pe->id || !pe->dir) {
        free(pe->id);
        free(pe->dir);
        free(pe);
        return NULL;
    }
    pthread_mutex_init(&pe->snap_lock, NULL);
    pe->next = proot(fs)->list;
    proot(fs)->list = pe;
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
    if ((rc = pc->remote_new(&remote, repo, git, pc->remote_payload)) < 0)
        goto out; /* logged there, with the reason */
    persist_config_init(&cfg);
    cfg.cache_dir = edir;
    cfg.quiet_ms = pc->quiet_ms;
    cfg.min_interval_ms = pc->interval_ms;
    cfg.max_delay_ms = pc->max_delay_ms;
    cfg.flush_ms = pc->flush_ms;
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
    if (persist_fs_skip_listing(fs, n))
        return 0;
    rc = spacefs_ns_ensure(fs, n->ns);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return persist_fs_offline_ok(fs, n, rc) ? 0 : rc; /* the listing failure was logged there */
    pthread_mutex_lock(&fs->lock);
    found = spacefs_space_find_locked(fs, n->ns, n->space) != NULL;
    pthread_mutex_unlock(&fs->lock);
    return found ? 0 : -ENOENT;
}

/* persist_fs_get without the Space check (the caller knows the Space has a cache here). */
static int override_store(const char *dir, const char *repo);

static int ent_acquire(struct spacefs_fs *fs, const struct node *n, struct pers_ent **out)
{
    struct persist *old = NULL;
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
    if (pe->p && pe->refs == 1 && persist_cache_removed(pe->p)) {
        /* Its cache was removed under the mount (`rm -rf ~/.cache/spacefs` to free space) and
         * nobody else uses it: a new engine, on a new cache, from the Hub. What the old one
         * had not uploaded went with the removed files. With files open (or calls in flight)
         * it goes on until they are done. */
        old = pe->p;
        pe->p = NULL;
        spacefs_log(SPACEFS_WARN,
                    "persist %s: its cache %s was removed while mounted; starting a new one "
                    "from the Hub (changes not uploaded before went with it)",
                    pe->id, pe->dir);
    }
    if (pe->p) {
        pthread_mutex_unlock(&fs->lock);
        *out = pe;
        return 0;
    }
    pe->opening = 1;
    pthread_mutex_unlock(&fs->lock);
    if (old) { /* stopped before the new one creates the directory its paths name again; the
                  daemon's warm libgit2 reference (hub_mirror_warm_start) keeps libgit2 up */
        char def[sizeof(pe->dataset)];
        snap_clear(pe);
        persist_close(old, 0);
        /* a persist.repo override lived in the removed directory: the user's choice, kept */
        if (repo_expand(def, sizeof(def), proot(fs)->pattern, n) == 0 && pe->dataset[0] &&
            strcmp(def, pe->dataset) != 0 && override_store(pe->dir, pe->dataset) < 0)
            spacefs_log(SPACEFS_ERROR, "persist %s: cannot store persist.repo %s again in %s",
                        pe->id, pe->dataset, pe->dir);
    }
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
struct pers_ent *persist_fs_peek(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;

    pthread_mutex_lock(&fs->lock);
    for (pe = proot(fs)->list; pe; pe = pe->next)
        if (strcmp(pe->id, n->id) == 0)
            break;
    if (pe && (!pe->p || pe->opening))
        pe = NULL;
    if (pe)
        pe->refs++;
    pthread_mutex_unlock(&fs->lock);
    return pe;
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

int persist_fs_repo_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len)
{
    char repo[SPACEFS_REPO_ID_MAX], cur[SPACEFS_REPO_ID_MAX], *dir = NULL;
    struct persist *old = NULL;
    struct pers_ent *pe;
    int rc;

    if (spacefs_one_word(repo, sizeof(repo), buf, len) < 0 || !spacefs_repo_id_valid(repo))
        return -EINVAL; /* nothing stored, nothing sent */
    if ((rc = persist_fs_space_check(fs, n)) < 0)
        return rc;
    if (!spacefs_ns_writable(fs, n->ns))
        return -EACCES;
    if (!(dir = spacefs_asprintf("%s/%s/%s", proot(fs)->root, n->ns, n->space)))
        return -ENOMEM;
    if (repo_current(fs, n, dir, cur, sizeof(cur)) == 0 && strcmp(cur, repo) == 0)
        goto out; /* already in use */
    if ((pe = persist_fs_peek(fs, n)) && (rc = engine_detach(fs, pe, &old)) < 0) {
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
static void resume_stop(struct spacefs_fs *fs);

static void *close_one(void *arg)
{
    struct pers_ent *pe = arg;
    struct persist *p = pe->p;

    pe->p = NULL;
    persist_close(p, pe->close_wait_ms);
    return NULL;
}

void persist_fs_shutdown(struct spacefs_fs *fs)
{
    struct pers_ent *pe;
    size_t n = 0, i;
    pthread_t *t;

    if (!proot(fs))
        return;
    resume_stop(fs);
    /* every engine waits for its uploads at the same time: the bound is one unmount_wait */
    pthread_mutex_lock(&fs->lock);
    for (pe = proot(fs)->list; pe; pe = pe->next)
        n++;
    pthread_mutex_unlock(&fs->lock);
    t = calloc(n + 1, sizeof(*t));
    i = 0;
    for (pe = proot(fs)->list; pe; pe = pe->next, i++) {
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
    for (pe = proot(fs)->list; pe; pe = pe->next, i++)
        if (pe->closing)
            pthread_join(t[i], NULL);
    free(t);
}

void persist_fs_free(struct spacefs_fs *fs)
{
    struct pers_ent *pe;

    if (!proot(fs))
        return;
    persist_fs_shutdown(fs);
    while ((pe = proot(fs)->list)) {
        proot(fs)->list = pe->next;
        pthread_mutex_destroy(&pe->snap_lock);
        free(pe->id);
        free(pe->dir);
        free(pe);
    }
    free(proot(fs)->root);
    free(proot(fs)->pattern);
    free(proot(fs));
    *router_state_named(fs, "persist") = NULL;
}

int persist_fs_init(struct spacefs_fs *fs)
{
    const struct spacefs_persist_config *pc = &fs->cfg.persist;
    struct pers_root *r = calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    *router_state_named(fs, "persist") = r;
    r->root = spacefs_strdup(pc->cache_root);
    r->pattern = spacefs_strdup(pc->repo_pattern ? pc->repo_pattern : "{ns}/{space}-persist");
    fs->cfg.persist.cache_root = r->root;
    fs->cfg.persist.repo_pattern = r->pattern;
    return !r->pattern || (pc->cache_root && !r->root) ? -ENOMEM : 0;
}

/* ---- resuming uploads at mount --------------------------------------------------------------- */
/* Opens the engine of one cached Space if its journal holds uncommitted changes. */
static void resume_space(struct spacefs_fs *fs, const char *ns, const char *space)
{
    struct pers_ent *pe;
    struct node n;
    char repo[sizeof(pe->dataset)], *dir = NULL, *edir = NULL;

    memset(&n, 0, sizeof(n));
    n.kind = 0; /* persist/ itself */
    n.rest = "";
    if (!spacefs_name_valid(ns) || !spacefs_name_valid(space) || !persist_fs_enabled(fs, ns))
        return;
    snprintf(n.ns, sizeof(n.ns), "%s", ns);
    snprintf(n.space, sizeof(n.space), "%s", space);
    snprintf(n.id, sizeof(n.id), "%s/%s", ns, space);
    if (!(dir = spacefs_asprintf("%s/%s/%s", proot(fs)->root, ns, space)) ||
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

    if (!(top = opendir(proot(fs)->root)))
        return NULL;
    while ((a = readdir(top)) && !proot(fs)->resume_stop) {
        char *path =
            a->d_name[0] == '.' ? NULL : spacefs_asprintf("%s/%s", proot(fs)->root, a->d_name);
        if (!path || !(sub = opendir(path))) {
            free(path);
            continue;
        }
        while ((b = readdir(sub)) && !proot(fs)->resume_stop)
            if (b->d_name[0] != '.')
                resume_space(fs, a->d_name, b->d_name);
        closedir(sub);
        free(path);
    }
    closedir(top);
    return NULL;
}

void persist_fs_start(struct spacefs_fs *fs)
{
    if (!fs->cfg.persist.remote_new || !proot(fs) || !proot(fs)->root || proot(fs)->resume_started)
        return;
    if (pthread_create(&proot(fs)->resume, NULL, resume_main, fs) == 0)
        proot(fs)->resume_started = 1;
}

static void resume_stop(struct spacefs_fs *fs)
{
    if (!proot(fs) || !proot(fs)->resume_started)
        return;
    proot(fs)->resume_stop = 1;
    pthread_join(proot(fs)->resume, NULL);
    proot(fs)->resume_started = 0;
}

char *persist_fs_render_all(struct spacefs_fs *fs)
{
    static const char *const names[] = {"clean", "pending", "uploading", "error"};
    struct persist_state s;
    struct pers_ent *pe;
    char *out = spacefs_strdup(""), *next;

    pthread_mutex_lock(&fs->lock);
    for (pe = proot(fs)->list; pe && out; pe = pe->next) {
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
