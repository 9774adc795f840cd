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

#define REPO_FILE          "persist.repo"
#define PERS_DOWN_GRACE_MS 30000

int pers_enabled(struct spacefs_fs *fs, const char *ns)
{
    return fs->cfg.persist.remote_new && fs->pers_root && ns_is_own(fs, ns);
}

int pers_writable(struct spacefs_fs *fs, const char *ns)
{
    return ns_writable(fs, ns);
}

/* Under fs->lock: an open engine below n (a namespace, or a Space and what is inside). */
static int engine_below_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    size_t len = strlen(n->ns);

    for (pe = fs->pers; pe; pe = pe->next)
        if (pe->p && (n->kind == NODE_NS ? strncmp(pe->id, n->ns, len) == 0 && pe->id[len] == '/'
                                         : strcmp(pe->id, n->id) == 0))
            return 1;
    return 0;
}

int pers_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc)
{
    int ok;

    if (rc == -ENOENT)
        return 0;
    pthread_mutex_lock(&fs->lock);
    if ((ok = engine_below_locked(fs, n)))
        fs->pers_down_ms = now_ms();
    pthread_mutex_unlock(&fs->lock);
    return ok;
}

int pers_skip_listing(struct spacefs_fs *fs, const struct node *n)
{
    int skip;

    pthread_mutex_lock(&fs->lock);
    skip = fs->pers_down_ms && now_ms() - fs->pers_down_ms < PERS_DOWN_GRACE_MS &&
           engine_below_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return skip;
}

/* mkdir -p with 0700 for what it creates; the last component is chmod'ed to 0700. */
static int mkdirs_0700(const char *path)
{
    char *s = strdup(path), *p;
    int rc = 0;

    if (!s)
        return -ENOMEM;
    for (p = s + 1; *p && !rc; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(s, 0700) < 0 && errno != EEXIST)
            rc = -errno;
        *p = '/';
    }
    if (!rc && mkdir(s, 0700) < 0 && errno != EEXIST)
        rc = -errno;
    if (!rc && chmod(s, 0700) < 0)
        rc = -errno;
    free(s);
    return rc;
}

/* ---- the Dataset id ---------------------------------------------------------------------- */
/* "ns/name" with both parts names the Hub accepts. */
static int repo_valid(const char *id)
{
    const char *slash = strchr(id, '/');
    char ns[NAME_MAX_HF + 2];
    size_t n;

    if (!slash || strchr(slash + 1, '/') || (n = (size_t)(slash - id)) > NAME_MAX_HF)
        return 0;
    memcpy(ns, id, n);
    ns[n] = '\0';
    return name_valid_hf(ns) && name_valid_hf(slash + 1);
}

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
    return repo_valid(out) ? 0 : -EINVAL;
}

/* The Dataset of n's Space: the override in dir/persist.repo, else the mount's pattern. */
static int repo_current(struct spacefs_fs *fs, const struct node *n, const char *dir, char *out,
                        size_t size)
{
    char *path = xasprintf("%s/" REPO_FILE, dir), buf[2 * NAME_MAX_HF + 4];
    FILE *f = path ? fopen(path, "r") : NULL;
    int rc;

    free(path);
    if (f) {
        char *ok = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (ok) {
            buf[strcspn(buf, "\n")] = '\0';
            if (repo_valid(buf) && strlen(buf) < size) {
                memcpy(out, buf, strlen(buf) + 1);
                return 0;
            }
        }
        spacefs_log(SPACEFS_WARN, "persist %s: ignoring a malformed %s/" REPO_FILE, n->id, dir);
    }
    if ((rc = repo_expand(out, size, fs->pers_pattern, n)) < 0)
        spacefs_log(SPACEFS_ERROR,
                    "persist %s: persist_repo=%s does not give a Dataset id (ns/name) for this "
                    "Space",
                    n->id, fs->pers_pattern);
    return rc;
}

/* ---- engines ------------------------------------------------------------------------------ */
static void pers_log(int level, const char *msg, void *payload)
{
    struct pers_ent *pe = payload;

    spacefs_log(level <= 0   ? SPACEFS_ERROR
                : level >= 3 ? SPACEFS_DEBUG
                             : (enum spacefs_log_level)level,
                "%s: %s", pe->id, msg);
}

static struct pers_ent *ent_get_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;

    for (pe = fs->pers; pe; pe = pe->next)
        if (strcmp(pe->id, n->id) == 0)
            return pe;
    if (!(pe = calloc(1, sizeof(*pe))))
        return NULL;
    pe->id = xstrdup(n->id);
    pe->dir = xasprintf("%s/%s/%s", fs->pers_root, n->ns, n->space);
    if (!pe->id || !pe->dir) {
        free(pe->id);
        free(pe->dir);
        free(pe);
        return NULL;
    }
    pthread_mutex_init(&pe->snap_lock, NULL);
    pe->next = fs->pers;
    fs->pers = pe;
    return pe;
}

/* Opens pe's engine (no lock held; pe->opening is ours). */
static int ent_open(struct spacefs_fs *fs, struct pers_ent *pe, const struct node *n)
{
    const struct spacefs_persist_config *pc = &fs->cfg.persist;
    struct persist_remote remote = {0}, snap = {0};
    struct persist_config cfg;
    struct persist *p = NULL;
    char repo[sizeof(pe->dataset)], *edir = NULL, *git = NULL;
    int rc;

    if ((rc = mkdirs_0700(pe->dir)) < 0) {
        spacefs_log(SPACEFS_ERROR, "persist %s: cannot create the cache %s: %s", pe->id, pe->dir,
                    strerror(-rc));
        return rc;
    }
    if ((rc = repo_current(fs, n, pe->dir, repo, sizeof(repo))) < 0)
        return rc;
    if (!(edir = xasprintf("%s/datasets/%s", pe->dir, repo)) ||
        !(git = xasprintf("%s/git", edir))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = mkdirs_0700(edir)) < 0) {
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
    /* snapshots/ reads through a second remote on the same mirror (the engine owns its own) */
    if (pc->remote_new(&snap, repo, git, pc->remote_payload) < 0) {
        spacefs_log(SPACEFS_WARN, "persist %s: snapshots/ unavailable (cannot open the mirror)",
                    pe->id);
        memset(&snap, 0, sizeof(snap));
    }
    pthread_mutex_lock(&fs->lock);
    pe->p = p;
    pe->snap = snap;
    pthread_mutex_unlock(&fs->lock);
    spacefs_log(SPACEFS_INFO, "persist %s: Dataset %s, cache %s", pe->id, repo, edir);
out:
    free(edir);
    free(git);
    return rc;
}

/* The Space of n exists and has persist/. While the Hub is unreachable a Space known from an
 * earlier listing (or with its engine open) still counts: local writes go on offline. */
static int space_check(struct spacefs_fs *fs, const struct node *n)
{
    int rc, found;

    if (!pers_enabled(fs, n->ns))
        return -ENOENT;
    if (pers_skip_listing(fs, n))
        return 0;
    rc = ns_ensure(fs, n->ns);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return pers_offline_ok(fs, n, rc) ? 0 : rc; /* the listing failure was logged there */
    pthread_mutex_lock(&fs->lock);
    found = space_find_locked(fs, n->ns, n->space) != NULL;
    pthread_mutex_unlock(&fs->lock);
    return found ? 0 : -ENOENT;
}

/* pers_get without the Space check (the caller knows the Space has a cache here). */
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

int pers_get(struct spacefs_fs *fs, const struct node *n, struct pers_ent **out)
{
    int rc;

    *out = NULL;
    if ((rc = space_check(fs, n)) < 0)
        return rc;
    return ent_acquire(fs, n, out);
}

void pers_put(struct spacefs_fs *fs, struct pers_ent *pe)
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
    for (pe = fs->pers; pe; pe = pe->next)
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

static void fill_dir(struct spacefs_fs *fs, struct stat *st, mode_t mode)
{
    memset(st, 0, sizeof(*st));
    st->st_mode = S_IFDIR | mode;
    st->st_nlink = 2;
    fix_stat(fs, st, 1);
}

int pers_file_render(struct spacefs_fs *fs, const struct node *n, char **out, size_t *out_len)
{
    struct pers_ent *pe;
    char *buf = NULL, repo[2 * NAME_MAX_HF + 2];
    size_t cap = 2048, len;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (n->file == PF_REPO) {
        char *dir = xasprintf("%s/%s/%s", fs->pers_root, n->ns, n->space);
        if (!dir)
            return -ENOMEM;
        rc = repo_current(fs, n, dir, repo, sizeof(repo));
        free(dir);
        if (rc < 0)
            return rc;
        if (!(*out = xasprintf("%s\n", repo)))
            return -ENOMEM;
        *out_len = strlen(*out);
        return 0;
    }
    if ((rc = pers_get(fs, n, &pe)) < 0)
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
    pers_put(fs, pe);
    return rc;
}

static int pfile_attr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc;

    if ((rc = space_check(fs, n)) < 0)
        return rc;
    /* persist.status: its size if the engine is open; `ls -l` of a Space opens nothing */
    if (n->file == PF_REPO || (pe = pers_peek(fs, n))) {
        if ((rc = pers_file_render(fs, n, &text, &len)) < 0 && n->file == PF_REPO) {
            pers_put(fs, pe);
            return rc;
        }
        free(text);
    }
    pers_put(fs, pe);
    memset(st, 0, sizeof(*st));
    st->st_mode = S_IFREG | (n->file == PF_REPO ? 0644 : 0444);
    st->st_nlink = 1;
    st->st_size = (off_t)len;
    fix_stat(fs, st, pers_writable(fs, n->ns));
    return 0;
}

int pers_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind == NODE_PFILE)
        return pfile_attr(fs, n, st);
    if (!n->rest[0]) {
        if ((rc = space_check(fs, n)) < 0)
            return rc;
        fill_dir(fs, st, n->kind == NODE_PERSIST && pers_writable(fs, n->ns) ? 0755 : 0555);
        return 0;
    }
    if ((rc = pers_get(fs, n, &pe)) < 0)
        return rc;
    if (n->kind == NODE_SNAP) {
        rc = snap_getattr(fs, pe, n->rest, st);
    } else if ((rc = persist_getattr(pe->p, n->rest, st)) == 0) {
        fix_stat(fs, st, pers_writable(fs, n->ns));
    }
    pers_put(fs, pe);
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

int pers_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn, void *payload)
{
    struct fill_fix f = {fs, pers_writable(fs, n->ns), fn, payload};
    struct pers_ent *pe;
    int rc;

    if ((rc = pers_get(fs, n, &pe)) < 0)
        return rc;
    if (n->kind == NODE_SNAP)
        rc = snap_readdir(fs, pe, n->rest, fn, payload);
    else
        rc = persist_readdir(pe->p, n->rest, fill_fixed, &f);
    pers_put(fs, pe);
    return rc;
}

/* ---- namespace operations ---------------------------------------------------------------- */
/* Common checks of a mutating call on n; -1 - n.kind when it is not for the engine. */
static int mutate_begin(struct spacefs_fs *fs, const struct node *n, struct pers_ent **pe)
{
    int rc;

    *pe = NULL;
    if ((rc = space_check(fs, n)) < 0)
        return rc;
    if (n->kind == NODE_SNAP)
        return -EROFS;
    if (n->kind != NODE_PERSIST)
        return -EPERM;
    if (!pers_writable(fs, n->ns))
        return -EACCES;
    return pers_get(fs, n, pe);
}

int pers_mkdir(struct spacefs_fs *fs, const struct node *n, mode_t mode)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind != NODE_PFILE && !n->rest[0])
        return space_check(fs, n) < 0 ? -ENOENT : -EEXIST;
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_mkdir(pe->p, n->rest, mode);
    pers_put(fs, pe);
    return rc;
}

int pers_rmdir(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind == NODE_PFILE)
        return -ENOTDIR;
    if (!n->rest[0])
        return -EBUSY; /* persist/ and snapshots/ themselves */
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_rmdir(pe->p, n->rest);
    pers_put(fs, pe);
    return rc;
}

int pers_unlink(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind != NODE_PFILE && !n->rest[0])
        return -EISDIR;
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_unlink(pe->p, n->rest);
    pers_put(fs, pe);
    return rc;
}

int pers_truncate(struct spacefs_fs *fs, const struct node *n, int64_t size)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind == NODE_PFILE) {
        if ((rc = space_check(fs, n)) < 0)
            return rc;
        if (n->file != PF_REPO || !pers_writable(fs, n->ns))
            return -EACCES;
        return size == 0 ? 0 : -EINVAL; /* "> persist.repo" before the write */
    }
    if (!n->rest[0])
        return -EISDIR;
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_truncate(pe->p, n->rest, size);
    pers_put(fs, pe);
    return rc;
}

int pers_rename(struct spacefs_fs *fs, const struct node *from, const struct node *to,
                unsigned flags)
{
    struct pers_ent *pe;
    int rc;

    if (from->kind != NODE_PERSIST || to->kind != NODE_PERSIST || strcmp(from->id, to->id) != 0)
        return -EXDEV; /* mv copies instead: between Spaces, from snapshots/, to elsewhere */
    if (!from->rest[0] || !to->rest[0])
        return -EBUSY;
    if ((rc = mutate_begin(fs, from, &pe)) < 0)
        return rc;
    rc = persist_rename(pe->p, from->rest, to->rest, flags);
    pers_put(fs, pe);
    return rc;
}

int pers_setattr(struct spacefs_fs *fs, const struct node *n)
{
    struct stat st;
    int rc;

    if ((rc = pers_getattr(fs, n, &st)) < 0)
        return rc;
    if (n->kind == NODE_SNAP)
        return -EROFS;
    if (n->kind == NODE_PFILE)
        return -EPERM;
    /* modes and owners are not stored; persist/ itself too (rsync -a src/ persist/ sets them) */
    return pers_writable(fs, n->ns) ? 0 : -EACCES;
}

int pers_utimens(struct spacefs_fs *fs, const struct node *n, int64_t mtime)
{
    struct pers_ent *pe;
    int rc = pers_setattr(fs, n); /* ENOENT, EROFS in snapshots/, EACCES read-only */

    if (rc < 0 || n->kind != NODE_PERSIST || !n->rest[0] || mtime < 0)
        return rc == -EPERM ? 0 : rc; /* persist.status & co keep no time: touch succeeds */
    if ((rc = mutate_begin(fs, n, &pe)) < 0)
        return rc;
    rc = persist_utimens(pe->p, n->rest, mtime);
    pers_put(fs, pe);
    return rc;
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

int pers_sync(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (!pers_enabled(fs, n->ns)) {
        spacefs_log(SPACEFS_WARN, "sync %s: no persist/ in this namespace", n->id);
        return -EINVAL;
    }
    if ((rc = pers_get(fs, n, &pe)) < 0)
        return rc;
    rc = wait_synced(fs, pe, "sync");
    pers_put(fs, pe);
    return rc;
}

int pers_fsyncdir(struct spacefs_fs *fs, const struct node *n)
{
    struct pers_ent *pe;
    int rc;

    if (n->kind != NODE_PERSIST)
        return 0;
    if ((rc = pers_get(fs, n, &pe)) < 0)
        return rc;
    rc = wait_synced(fs, pe, "fsync");
    pers_put(fs, pe);
    return rc;
}

/* ---- files --------------------------------------------------------------------------------- */
int pers_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, int flags,
              mode_t mode, int create)
{
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) || create;
    int rc;

    if (!rest[0])
        return space_check(fs, &h->n) < 0 ? -ENOENT : -EISDIR;
    if (h->n.kind == NODE_SNAP) {
        if (writes)
            return space_check(fs, &h->n) < 0 ? -ENOENT : -EROFS;
        if ((rc = pers_get(fs, &h->n, &h->pe)) < 0)
            return rc;
        if ((rc = snap_open(fs, h->pe, rest, &h->snap_fd)) == 0)
            h->snap_open = 1;
        pers_put(fs, h->pe); /* the temp file does not need the engine */
        h->pe = NULL;
        return rc;
    }
    if (writes && space_check(fs, &h->n) == 0 && !pers_writable(fs, h->n.ns))
        return -EACCES;
    if ((rc = pers_get(fs, &h->n, &h->pe)) < 0)
        return rc;
    if ((rc = persist_file_open(h->pe->p, rest, flags | (create ? O_CREAT : 0), mode, &h->ph)) <
        0) {
        pers_put(fs, h->pe);
        h->pe = NULL;
        h->ph = NULL;
    }
    return rc;
}

long pers_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size, int64_t off)
{
    ssize_t n;

    (void)fs;
    if (h->ph)
        return persist_read(h->pe->p, h->ph, buf, size, off);
    if (!h->snap_open)
        return -EBADF;
    n = pread(h->snap_fd, buf, size, (off_t)off);
    return n < 0 ? -errno : (long)n;
}

long pers_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                int64_t off)
{
    (void)fs;
    return h->ph ? persist_write(h->pe->p, h->ph, buf, size, off) : -EBADF;
}

int pers_flush(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    (void)fs;
    return h->ph ? persist_flush(h->pe->p, h->ph) : 0;
}

int pers_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t size)
{
    (void)fs;
    return h->ph ? persist_ftruncate(h->pe->p, h->ph, size) : -EBADF;
}

int pers_fsync(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    int rc;

    if (!h->ph)
        return 0;
    if ((rc = persist_fsync(h->pe->p, h->ph, fs->cfg.persist.sync_timeout_ms)) < 0)
        spacefs_log(SPACEFS_WARN, "fsync in %s: not committed to %s: %s", h->pe->id, h->pe->dataset,
                    strerror(-rc));
    return rc;
}

int pers_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, struct stat *st)
{
    int rc;

    if (!h->ph)
        return -EBADF;
    if ((rc = persist_fgetattr(h->pe->p, h->ph, st)) == 0)
        fix_stat(fs, st, pers_writable(fs, h->n.ns));
    return rc;
}

int pers_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    if (!h->ph)
        return h->snap_open ? -EROFS : -EBADF;
    /* modes and owners are not stored (as pers_setattr) */
    return pers_writable(fs, h->n.ns) ? 0 : -EACCES;
}

int pers_futimens(struct spacefs_fs *fs, struct spacefs_handle *h, int64_t mtime)
{
    int rc = pers_fsetattr(fs, h);

    return rc < 0 ? rc : persist_futimens(h->pe->p, h->ph, mtime);
}

void pers_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    int rc;

    if (h->ph && (rc = persist_release(h->pe->p, h->ph)) < 0)
        spacefs_log(SPACEFS_WARN, "persist %s: close failed: %s", h->pe->id, strerror(-rc));
    h->ph = NULL;
    if (h->snap_open)
        close(h->snap_fd);
    h->snap_open = 0;
    pers_put(fs, h->pe);
    h->pe = NULL;
}

/* ---- persist.repo ---------------------------------------------------------------------------- */
static int override_store(const char *dir, const char *repo)
{
    char *path = xasprintf("%s/" REPO_FILE, dir), *tmp = xasprintf("%s/" REPO_FILE ".tmp", dir);
    int fd = -1, rc = 0;
    size_t len = strlen(repo);

    if (!path || !tmp) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = mkdirs_0700(dir)) < 0)
        goto out;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        write(fd, repo, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0 ||
        rename(tmp, path) < 0)
        rc = -errno ? -errno : -EIO;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    free(tmp);
    return rc;
}

/* Puts a detached engine back (the caller keeps its reference). */
static void engine_restore(struct spacefs_fs *fs, struct pers_ent *pe, struct persist *p,
                           struct persist_remote snap)
{
    pthread_mutex_lock(&fs->lock);
    pe->p = p;
    pe->snap = snap;
    pe->opening = 0;
    pthread_cond_broadcast(&fs->cond);
    pthread_mutex_unlock(&fs->lock);
}

/* Takes pe's engine away for a new Dataset if nothing is pending and nobody else uses it; the
 * caller closes *old (after opening the new one, so libgit2 is never shut down meanwhile: its
 * shutdown drops the thread-local state of live FUSE threads) or puts it back. pe->opening is
 * then ours. */
static int engine_detach(struct spacefs_fs *fs, struct pers_ent *pe, struct persist **old,
                         struct persist_remote *old_snap)
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
    *old_snap = pe->snap;
    pe->p = NULL;
    memset(&pe->snap, 0, sizeof(pe->snap));
    pe->opening = 1; /* nobody opens it again before the override is stored */
    pthread_mutex_unlock(&fs->lock);
    persist_state_get(*old, &s);
    if (s.files) { /* a change slipped in before we took it away */
        engine_restore(fs, pe, *old, *old_snap);
        return -EBUSY;
    }
    snap_cache_clear(pe);
    return 0;
}

int pers_repo_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len)
{
    char repo[2 * NAME_MAX_HF + 2], cur[2 * NAME_MAX_HF + 2], *dir = NULL;
    struct persist_remote old_snap = {0};
    struct persist *old = NULL;
    struct pers_ent *pe;
    int rc;

    if (one_word(repo, sizeof(repo), buf, len) < 0 || !repo_valid(repo))
        return -EINVAL; /* nothing stored, nothing sent */
    if ((rc = space_check(fs, n)) < 0)
        return rc;
    if (!pers_writable(fs, n->ns))
        return -EACCES;
    if (!(dir = xasprintf("%s/%s/%s", fs->pers_root, n->ns, n->space)))
        return -ENOMEM;
    if (repo_current(fs, n, dir, cur, sizeof(cur)) == 0 && strcmp(cur, repo) == 0)
        goto out; /* already in use */
    if ((pe = pers_peek(fs, n)) && (rc = engine_detach(fs, pe, &old, &old_snap)) < 0) {
        spacefs_log(SPACEFS_WARN,
                    "persist.repo of %s: busy (changes not committed to %s yet, or files open); "
                    "`echo sync > control` and close them first",
                    n->id, pe->dataset);
        pers_put(fs, pe);
        goto out;
    }
    if ((rc = override_store(dir, repo)) < 0) {
        spacefs_log(SPACEFS_ERROR, "persist.repo of %s: cannot store it in %s: %s", n->id, dir,
                    strerror(-rc));
        if (old)
            engine_restore(fs, pe, old, old_snap);
        pers_put(fs, pe);
        goto out;
    }
    spacefs_log(SPACEFS_INFO, "persist %s: Dataset is now %s", n->id, repo);
    if (!pe)
        goto out;
    ent_open(fs, pe, n); /* the new one (errors logged; retried on next use) */
    persist_close(old, 0);
    if (old_snap.ops)
        old_snap.ops->free(old_snap.ctx);
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

/* ---- resuming uploads at mount ------------------------------------------------------------ */
/* Opens the engine of one cached Space if its journal holds uncommitted changes. */
static void resume_space(struct spacefs_fs *fs, const char *ns, const char *space)
{
    struct pers_ent *pe;
    struct node n;
    char repo[sizeof(pe->dataset)], *dir = NULL, *edir = NULL;

    memset(&n, 0, sizeof(n));
    n.kind = NODE_PERSIST;
    n.rest = "";
    if (!name_valid_hf(ns) || !name_valid_hf(space) || !pers_enabled(fs, ns))
        return;
    snprintf(n.ns, sizeof(n.ns), "%s", ns);
    snprintf(n.space, sizeof(n.space), "%s", space);
    snprintf(n.id, sizeof(n.id), "%s/%s", ns, space);
    if (!(dir = xasprintf("%s/%s/%s", fs->pers_root, ns, space)) ||
        repo_current(fs, &n, dir, repo, sizeof(repo)) < 0 ||
        !(edir = xasprintf("%s/datasets/%s", dir, repo)) || !persist_cache_pending(edir))
        goto out;
    spacefs_log(SPACEFS_INFO, "persist %s: changes from an earlier mount are pending; uploading",
                n.id);
    if (ent_acquire(fs, &n, &pe) == 0) /* the engine stays open until unmount */
        pers_put(fs, pe);
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

    if (!(top = opendir(fs->pers_root)))
        return NULL;
    while ((a = readdir(top)) && !fs->pers_resume_stop) {
        char *path = a->d_name[0] == '.' ? NULL : xasprintf("%s/%s", fs->pers_root, a->d_name);
        if (!path || !(sub = opendir(path))) {
            free(path);
            continue;
        }
        while ((b = readdir(sub)) && !fs->pers_resume_stop)
            if (b->d_name[0] != '.')
                resume_space(fs, a->d_name, b->d_name);
        closedir(sub);
        free(path);
    }
    closedir(top);
    return NULL;
}

void pers_resume_start(struct spacefs_fs *fs)
{
    if (!fs->cfg.persist.remote_new || !fs->pers_root || fs->pers_resume_started)
        return;
    if (pthread_create(&fs->pers_resume, NULL, resume_main, fs) == 0)
        fs->pers_resume_started = 1;
}

static void resume_stop(struct spacefs_fs *fs)
{
    if (!fs->pers_resume_started)
        return;
    fs->pers_resume_stop = 1;
    pthread_join(fs->pers_resume, NULL);
    fs->pers_resume_started = 0;
}

char *pers_render_all(struct spacefs_fs *fs)
{
    static const char *const names[] = {"clean", "pending", "uploading", "error"};
    struct persist_state s;
    struct pers_ent *pe;
    char *out = xstrdup(""), *next;

    pthread_mutex_lock(&fs->lock);
    for (pe = fs->pers; pe && out; pe = pe->next) {
        if (!pe->p || pe->opening)
            continue;
        persist_state_get(pe->p, &s);
        next = xasprintf("%s%s %s files %llu bytes %llu dataset %s%s%s\n", out, pe->id,
                         names[s.state], (unsigned long long)s.files, (unsigned long long)s.bytes,
                         pe->dataset, s.last_error[0] ? " error " : "", s.last_error);
        free(out);
        out = next;
    }
    pthread_mutex_unlock(&fs->lock);
    return out;
}

void pers_shutdown(struct spacefs_fs *fs)
{
    struct pers_ent *pe;
    size_t n = 0, i;
    pthread_t *t;

    resume_stop(fs);

    /* every engine waits for its uploads at the same time: the bound is one unmount_wait */
    pthread_mutex_lock(&fs->lock);
    for (pe = fs->pers; pe; pe = pe->next)
        n++;
    pthread_mutex_unlock(&fs->lock);
    t = calloc(n + 1, sizeof(*t));
    i = 0;
    for (pe = fs->pers; pe; pe = pe->next, i++) {
        if (pe->snap.ops)
            pe->snap.ops->free(pe->snap.ctx);
        memset(&pe->snap, 0, sizeof(pe->snap));
        snap_cache_clear(pe);
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
    for (pe = fs->pers; pe; pe = pe->next, i++)
        if (pe->closing)
            pthread_join(t[i], NULL);
    free(t);
}

void pers_free_all(struct spacefs_fs *fs)
{
    resume_stop(fs);
    struct pers_ent *pe;

    pers_shutdown(fs);
    while ((pe = fs->pers)) {
        fs->pers = pe->next;
        pthread_mutex_destroy(&pe->snap_lock);
        free(pe->id);
        free(pe->dir);
        free(pe);
    }
}
