/* MOUNT/<ns>/<space>/snapshots/: the Dataset's history as read-only trees, one directory per
 * commit of main reachable from the engine's base, named <UTC YYYY-MM-DDTHH-MM-SSZ>-<7 hex>,
 * newest first. Listings come from the local mirror (the engine fetches every persist_ttl);
 * file contents are fetched per open into an unlinked temp file through the remote (LFS objects
 * downloaded and sha256-checked). Trees of commits never change, so a few are kept, sorted by
 * path: a directory is the range of paths starting with "dir/". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "persist_fs.h"

#define SNAP_COMMITS_MAX 1000
#define SNAP_TREES_MAX   4
#define SNAP_NAME_MAX    40 /* 2025-01-02T03-04-05Z-abcdef0 */

struct snap_tree {
    char commit[PERSIST_OID_MAX];
    struct persist_rentry *v; /* sorted by path */
    size_t n;
    uint64_t used;
    struct snap_tree *next;
};

static void snap_name(char out[SNAP_NAME_MAX], const struct persist_rcommit *c)
{
    time_t t = (time_t)c->time;
    struct tm tm;
    char when[24];

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H-%M-%SZ", &tm);
    snprintf(out, SNAP_NAME_MAX, "%s-%.7s", when, c->id);
}

static void tree_free(struct snap_tree *t)
{
    if (!t)
        return;
    persist_rentries_free(t->v, t->n);
    free(t);
}

void snap_cache_clear(struct pers_ent *pe)
{
    struct snap_tree *t;

    pthread_mutex_lock(&pe->snap_lock);
    while ((t = pe->trees)) {
        pe->trees = t->next;
        tree_free(t);
    }
    persist_rcommits_free(pe->commits, pe->ncommits);
    pe->commits = NULL;
    pe->ncommits = 0;
    pe->snap_head[0] = '\0';
    pthread_mutex_unlock(&pe->snap_lock);
}

static int snap_fail(struct pers_ent *pe, const char *what, enum spacefs_status st,
                     const struct spacefs_error *err)
{
    spacefs_log(SPACEFS_WARN, "snapshots of %s (%s): %s: %s%s%s", pe->id, pe->dataset, what,
                spacefs_status_name(st), err->message[0] ? ": " : "", err->message);
    return -spacefs_errno_from_status(st);
}

/* Makes pe->commits the history of the engine's current base (no lock held on entry). */
static int commits_refresh(struct pers_ent *pe)
{
    struct spacefs_error err = {0};
    struct persist_rcommit *v = NULL;
    struct persist_state s;
    enum spacefs_status st;
    size_t n = 0;
    int same;

    if (!pe->snap.ops)
        return -EIO;
    persist_state_get(pe->p, &s);
    pthread_mutex_lock(&pe->snap_lock);
    same = strcmp(pe->snap_head, s.base) == 0 && (s.base[0] || pe->ncommits == 0);
    pthread_mutex_unlock(&pe->snap_lock);
    if (same)
        return 0;
    if (s.base[0]) {
        st = pe->snap.ops->commits(pe->snap.ctx, s.base, SNAP_COMMITS_MAX, &v, &n, &err);
        if (st != SPACEFS_OK)
            return snap_fail(pe, "listing commits", st, &err);
    }
    pthread_mutex_lock(&pe->snap_lock);
    persist_rcommits_free(pe->commits, pe->ncommits);
    pe->commits = v;
    pe->ncommits = n;
    memcpy(pe->snap_head, s.base, sizeof(pe->snap_head));
    pthread_mutex_unlock(&pe->snap_lock);
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct persist_rentry *)a)->path,
                  ((const struct persist_rentry *)b)->path);
}

/* First index whose path is >= key. */
static size_t lower_bound(const struct snap_tree *t, const char *key)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->v[mid].path, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The tree of `commit`, loaded if needed; returns with pe->snap_lock held on success. */
static int tree_lock(struct pers_ent *pe, const char *commit, struct snap_tree **out)
{
    struct spacefs_error err = {0};
    struct snap_tree *t, **pp, **oldest;
    enum spacefs_status st;
    size_t count = 0;

    *out = NULL;
    for (;;) {
        pthread_mutex_lock(&pe->snap_lock);
        for (t = pe->trees; t; t = t->next)
            if (strcmp(t->commit, commit) == 0) {
                t->used = (uint64_t)spacefs_now_ms();
                *out = t;
                return 0;
            }
        pthread_mutex_unlock(&pe->snap_lock);
        if (!(t = calloc(1, sizeof(*t))))
            return -ENOMEM;
        snprintf(t->commit, sizeof(t->commit), "%s", commit);
        t->used = (uint64_t)spacefs_now_ms();
        st = pe->snap.ops->tree(pe->snap.ctx, commit, &t->v, &t->n, &err);
        if (st != SPACEFS_OK) {
            free(t);
            return snap_fail(pe, "reading a tree", st, &err);
        }
        qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
        pthread_mutex_lock(&pe->snap_lock);
        for (pp = &pe->trees, oldest = NULL; *pp; pp = &(*pp)->next, count++)
            if (!oldest || (*pp)->used < (*oldest)->used)
                oldest = pp;
        if (count >= SNAP_TREES_MAX && oldest) {
            struct snap_tree *old = *oldest;
            *oldest = old->next;
            tree_free(old);
        }
        t->next = pe->trees;
        pe->trees = t;
        pthread_mutex_unlock(&pe->snap_lock);
        /* loop: found at once unless another thread raced (a duplicate is harmless) */
    }
}

/* Splits "<name>[/sub]" and finds the commit; fills commit id and time. */
static int find_commit(struct pers_ent *pe, const char *rest, char commit[PERSIST_OID_MAX],
                       int64_t *time_out, const char **sub)
{
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest), i;
    char name[SNAP_NAME_MAX];
    int rc;

    *sub = slash ? slash + 1 : "";
    while (**sub == '/')
        (*sub)++;
    if (len >= SNAP_NAME_MAX)
        return -ENOENT;
    if ((rc = commits_refresh(pe)) < 0)
        return rc;
    pthread_mutex_lock(&pe->snap_lock);
    for (i = 0; i < pe->ncommits; i++) {
        snap_name(name, &pe->commits[i]);
        if (strlen(name) == len && strncmp(name, rest, len) == 0) {
            memcpy(commit, pe->commits[i].id, PERSIST_OID_MAX);
            *time_out = pe->commits[i].time;
            break;
        }
    }
    pthread_mutex_unlock(&pe->snap_lock);
    return i < pe->ncommits ? 0 : -ENOENT;
}

static void snap_stat(struct spacefs_fs *fs, struct stat *st, int dir, int64_t size, int64_t mtime)
{
    memset(st, 0, sizeof(*st));
    st->st_mode = dir ? S_IFDIR | 0555 : S_IFREG | 0444;
    st->st_nlink = dir ? 2 : 1;
    st->st_size = (off_t)size;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_blksize = 4096;
    st->st_uid = fs->cfg.uid;
    st->st_gid = fs->cfg.gid;
    st->st_mtime = st->st_ctime = st->st_atime = (time_t)mtime;
}

/* Copies sub into buf without trailing slashes. */
static int clean_sub(char **out, const char *sub)
{
    size_t len = strlen(sub);

    while (len && sub[len - 1] == '/')
        len--;
    return (*out = strndup(sub, len)) ? 0 : -ENOMEM;
}

/* Looks up sub in a locked tree: 1 file (*idx), 2 directory, 0 none. */
static int tree_find(const struct snap_tree *t, const char *sub, size_t *idx)
{
    size_t i, len = strlen(sub);
    char *pre;

    if (!*sub)
        return 2;
    i = lower_bound(t, sub);
    if (i < t->n && strcmp(t->v[i].path, sub) == 0) {
        *idx = i;
        return 1;
    }
    if (!(pre = malloc(len + 2)))
        return 0;
    memcpy(pre, sub, len);
    memcpy(pre + len, "/", 2);
    i = lower_bound(t, pre);
    free(pre);
    return i < t->n && strncmp(t->v[i].path, sub, len) == 0 && t->v[i].path[len] == '/' ? 2 : 0;
}

int snap_getattr(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, struct stat *st)
{
    char commit[PERSIST_OID_MAX], *sub = NULL;
    struct snap_tree *t;
    const char *s;
    int64_t when = 0;
    size_t i = 0;
    int rc, k;

    if ((rc = find_commit(pe, rest, commit, &when, &s)) < 0)
        return rc;
    if ((rc = clean_sub(&sub, s)) < 0)
        return rc;
    if (!*sub) {
        snap_stat(fs, st, 1, 0, when);
        goto out;
    }
    if ((rc = tree_lock(pe, commit, &t)) < 0)
        goto out;
    k = tree_find(t, sub, &i);
    if (k == 1)
        snap_stat(fs, st, 0, t->v[i].size, when);
    else if (k == 2)
        snap_stat(fs, st, 1, 0, when);
    else
        rc = -ENOENT;
    pthread_mutex_unlock(&pe->snap_lock);
out:
    free(sub);
    return rc;
}

static int list_commits(struct spacefs_fs *fs, struct pers_ent *pe, spacefs_fill_fn fn,
                        void *payload)
{
    char **names = NULL, name[SNAP_NAME_MAX];
    int64_t *times = NULL;
    size_t n, i;
    int rc;

    if ((rc = commits_refresh(pe)) < 0)
        return rc;
    pthread_mutex_lock(&pe->snap_lock);
    n = pe->ncommits;
    names = calloc(n + 1, sizeof(*names));
    times = calloc(n + 1, sizeof(*times));
    for (i = 0; names && times && i < n; i++) {
        snap_name(name, &pe->commits[i]);
        names[i] = xstrdup(name);
        times[i] = pe->commits[i].time;
    }
    pthread_mutex_unlock(&pe->snap_lock);
    if (!names || !times) {
        rc = -ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) { /* filled without the lock: the filler is the kernel's buffer */
        struct stat st;
        snap_stat(fs, &st, 1, 0, times[i]);
        if (names[i] && fn(names[i], &st, payload))
            break;
    }
out:
    spacefs_strv_free(names, n);
    free(times);
    return rc;
}

int snap_readdir(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, spacefs_fill_fn fn,
                 void *payload)
{
    char commit[PERSIST_OID_MAX], *sub = NULL, *pre = NULL, *last = NULL;
    struct snap_tree *t;
    const char *s;
    int64_t when = 0;
    size_t i, plen;
    int rc;

    if (!rest[0])
        return list_commits(fs, pe, fn, payload);
    if ((rc = find_commit(pe, rest, commit, &when, &s)) < 0)
        return rc;
    if ((rc = clean_sub(&sub, s)) < 0)
        return rc;
    if (!(pre = xasprintf("%s%s", sub, *sub ? "/" : ""))) {
        rc = -ENOMEM;
        goto out;
    }
    plen = strlen(pre);
    if ((rc = tree_lock(pe, commit, &t)) < 0)
        goto out;
    if (tree_find(t, sub, &i) != 2) {
        rc = *sub && tree_find(t, sub, &i) == 1 ? -ENOTDIR : -ENOENT;
        goto unlock;
    }
    for (i = lower_bound(t, pre); i < t->n && strncmp(t->v[i].path, pre, plen) == 0; i++) {
        const char *child = t->v[i].path + plen, *slash = strchr(child, '/');
        size_t clen = slash ? (size_t)(slash - child) : strlen(child);
        struct stat st;
        char *name;
        if (last && strlen(last) == clen && strncmp(last, child, clen) == 0)
            continue; /* more below a directory already listed */
        if (!(name = strndup(child, clen))) {
            rc = -ENOMEM;
            break;
        }
        free(last);
        last = name;
        snap_stat(fs, &st, slash != NULL, slash ? 0 : t->v[i].size, when);
        if (fn(name, &st, payload))
            break;
    }
unlock:
    pthread_mutex_unlock(&pe->snap_lock);
out:
    free(last);
    free(pre);
    free(sub);
    return rc;
}

/* An unlinked temp file in dir. */
static int temp_fd(const char *dir)
{
    char *tmpl;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd >= 0 ? fd : -errno;
    if (!(tmpl = xasprintf("%s/snapshot.XXXXXX", dir)))
        return -ENOMEM;
    if ((fd = mkstemp(tmpl)) >= 0)
        unlink(tmpl);
    free(tmpl);
    return fd >= 0 ? fd : -errno;
}

int snap_open(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, int *out_fd)
{
    char commit[PERSIST_OID_MAX], *sub = NULL;
    struct spacefs_error err = {0};
    struct persist_rentry e;
    enum spacefs_status st;
    struct snap_tree *t;
    const char *s;
    int64_t when = 0;
    size_t i = 0;
    int rc, k, fd = -1;

    (void)fs;
    *out_fd = -1;
    memset(&e, 0, sizeof(e));
    if ((rc = find_commit(pe, rest, commit, &when, &s)) < 0)
        return rc;
    if ((rc = clean_sub(&sub, s)) < 0)
        return rc;
    if ((rc = tree_lock(pe, commit, &t)) < 0)
        goto out;
    k = tree_find(t, sub, &i);
    if (k == 1) {
        e = t->v[i];
        e.path = xstrdup(t->v[i].path); /* a copy: the tree may go while we download */
    }
    pthread_mutex_unlock(&pe->snap_lock);
    if (k != 1) {
        rc = k == 2 ? -EISDIR : -ENOENT;
        goto out;
    }
    if (!e.path) {
        rc = -ENOMEM;
        goto out;
    }
    if ((fd = temp_fd(pe->dir)) < 0) {
        rc = fd;
        spacefs_log(SPACEFS_ERROR, "snapshots of %s: no temp file in %s: %s", pe->id, pe->dir,
                    strerror(-rc));
        goto out;
    }
    if ((st = pe->snap.ops->object_get(pe->snap.ctx, &e, fd, &err)) != SPACEFS_OK) {
        rc = snap_fail(pe, e.path, st, &err);
        goto out;
    }
    *out_fd = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    free(e.path);
    free(sub);
    return rc;
}
