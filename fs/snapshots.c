/* MOUNT/<ns>/<space>/snapshots/: the Dataset's history as read-only trees, one directory per
 * commit of main reachable from the engine's base, named <UTC YYYY-MM-DDTHH-MM-SSZ>-<7 hex>,
 * newest first. Listings come from the local mirror (the engine fetches every persist_ttl);
 * file contents are fetched per open into an unlinked temp file through the remote (LFS objects
 * downloaded and sha256-checked). Trees of commits never change, so a few are kept, sorted by
 * path: a directory is the range of paths starting with "dir/". Each tree's manifest gives its
 * entries their modes, symlinks, times and empty directories, as persist/ shows them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist_fs.h"

#define SNAP_COMMITS_MAX 1000
#define SNAP_TREES_MAX   4
#define SNAP_NAME_MAX    40 /* 2025-01-02T03-04-05Z-abcdef0 */

struct snap_tree {
    char commit[PERSIST_OID_MAX];
    struct persist_rentry *v; /* sorted by path; an empty directory of the manifest: "dir/" */
    size_t n;
    struct persist_hmeta *meta; /* the commit's manifest, sorted by path (modes, links, times) */
    size_t nmeta;
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
    persist_hmeta_free(t->meta, t->nmeta);
    free(t);
}

static void snap_cache_clear(struct pers_ent *pe)
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

/* Makes pe->commits the history of the engine's current base (no lock held on entry). */
static int commits_refresh(struct pers_ent *pe)
{
    char head[PERSIST_OID_MAX];
    struct persist_rcommit *v = NULL;
    struct persist_state s;
    size_t n = 0;
    int same, rc;

    persist_state_get(pe->p, &s);
    pthread_mutex_lock(&pe->snap_lock);
    same = strcmp(pe->snap_head, s.base) == 0 && (s.base[0] || pe->ncommits == 0);
    pthread_mutex_unlock(&pe->snap_lock);
    if (same)
        return 0;
    if ((rc = persist_history(pe->p, SNAP_COMMITS_MAX, head, &v, &n)) < 0)
        return rc;
    pthread_mutex_lock(&pe->snap_lock);
    pe->snap_clear = snap_cache_clear;
    persist_rcommits_free(pe->commits, pe->ncommits);
    pe->commits = v;
    pe->ncommits = n;
    memcpy(pe->snap_head, head, sizeof(pe->snap_head));
    pthread_mutex_unlock(&pe->snap_lock);
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct persist_rentry *)a)->path,
                  ((const struct persist_rentry *)b)->path);
}

static int meta_cmp(const void *a, const void *b)
{
    return strcmp(((const struct persist_hmeta *)a)->path, ((const struct persist_hmeta *)b)->path);
}

static const struct persist_hmeta *meta_find(const struct snap_tree *t, const char *path)
{
    struct persist_hmeta key = {.path = (char *)path};

    return t->nmeta ? bsearch(&key, t->meta, t->nmeta, sizeof(key), meta_cmp) : NULL;
}

/* The manifest's empty directories become entries "dir/" (a directory is a range of paths). */
static int add_empty_dirs(struct snap_tree *t)
{
    size_t extra = 0, i;
    struct persist_rentry *v;

    for (i = 0; i < t->nmeta; i++)
        extra += t->meta[i].type == 'd';
    if (!extra)
        return 0;
    if (!(v = realloc(t->v, (t->n + extra) * sizeof(*v))))
        return -ENOMEM;
    t->v = v;
    for (i = 0; i < t->nmeta; i++)
        if (t->meta[i].type == 'd') {
            memset(&v[t->n], 0, sizeof(v[t->n]));
            if (!(v[t->n].path = spacefs_asprintf("%s/", t->meta[i].path)))
                return -ENOMEM;
            t->n++;
        }
    return 0;
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
    struct snap_tree *t, **pp, **oldest;
    size_t count = 0;
    int rc;

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
        if ((rc = persist_history_tree(pe->p, commit, &t->v, &t->n)) < 0) {
            free(t);
            return rc;
        }
        /* persist/'s manifest (.spacefs/meta): hidden as there, and applied */
        persist_history_meta(pe->p, t->v, &t->n, &t->meta, &t->nmeta);
        for (size_t i = 0; i < t->n;)
            if (!strncmp(t->v[i].path, ".spacefs/", 9)) {
                free(t->v[i].path);
                t->v[i] = t->v[--t->n];
            } else {
                i++;
            }
        if (t->nmeta)
            qsort(t->meta, t->nmeta, sizeof(*t->meta), meta_cmp);
        if ((rc = add_empty_dirs(t)) < 0) {
            tree_free(t);
            return rc;
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
        pe->snap_clear = snap_cache_clear;
        pthread_mutex_unlock(&pe->snap_lock);
        /* loop: found at once unless another thread raced (a duplicate is harmless) */
    }
}

/* Splits "<name>[/sub]" and finds the commit; fills commit id and time, and *sub (new) with the
 * path below it, without leading or trailing slashes. */
static int find_commit(struct pers_ent *pe, const char *rest, char commit[PERSIST_OID_MAX],
                       int64_t *time_out, char **sub)
{
    const char *slash = strchr(rest, '/'), *below = slash ? slash + 1 : "";
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest), i, blen;
    char name[SNAP_NAME_MAX];
    int rc;

    *sub = NULL;
    while (*below == '/')
        below++;
    for (blen = strlen(below); blen && below[blen - 1] == '/';)
        blen--;
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
    if (i == pe->ncommits)
        return -ENOENT;
    return (*sub = strndup(below, blen)) ? 0 : -ENOMEM;
}

static void snap_stat(struct spacefs_fs *fs, struct stat *st, int dir, int64_t size, int64_t mtime)
{
    router_fill(fs, st, dir ? S_IFDIR | 0555 : S_IFREG | 0444, (uint64_t)size,
                mtime ? mtime : fs->started);
    st->st_blocks = (st->st_size + 511) / 512;
}

/* path's attributes in a tree: the manifest's type, mode and time where it has them (a file's
 * time only while its size is the recorded one), else the read-only defaults and `when`. */
static void tree_stat(struct spacefs_fs *fs, const struct snap_tree *t, const char *path, int dir,
                      int64_t size, int64_t when, struct stat *st)
{
    const struct persist_hmeta *m = meta_find(t, path);

    snap_stat(fs, st, dir, size, when);
    if (!m || (m->type == 'd') != dir)
        return;
    st->st_mode = (m->type == 'd'   ? S_IFDIR
                   : m->type == 'l' ? S_IFLNK
                                    : S_IFREG) |
                  (m->type == 'l' ? 0777 : m->mode);
    if (m->mtime && (dir || m->size == size)) {
        st->st_mtim.tv_sec = (time_t)(m->mtime / 1000000000);
        st->st_mtim.tv_nsec = (long)(m->mtime % 1000000000);
        st->st_atim = st->st_mtim;
    }
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

static int snap_getattr(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest,
                        struct stat *st)
{
    char commit[PERSIST_OID_MAX], *sub = NULL;
    struct snap_tree *t;
    int64_t when = 0;
    size_t i = 0;
    int rc, k;

    if ((rc = find_commit(pe, rest, commit, &when, &sub)) < 0)
        return rc;
    if (!*sub) {
        snap_stat(fs, st, 1, 0, when);
        goto out;
    }
    if ((rc = tree_lock(pe, commit, &t)) < 0)
        goto out;
    k = tree_find(t, sub, &i);
    if (k)
        tree_stat(fs, t, sub, k == 2, k == 1 ? t->v[i].size : 0, when, st);
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
        names[i] = spacefs_strdup(name);
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

static int snap_readdir(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest,
                        spacefs_fill_fn fn, void *payload)
{
    char commit[PERSIST_OID_MAX], *sub = NULL, *pre = NULL, *last = NULL;
    struct snap_tree *t;
    int64_t when = 0;
    size_t i, plen;
    int rc;

    if (!rest[0])
        return list_commits(fs, pe, fn, payload);
    if ((rc = find_commit(pe, rest, commit, &when, &sub)) < 0)
        return rc;
    if (!(pre = spacefs_asprintf("%s%s", sub, *sub ? "/" : ""))) {
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
        char *full;
        if (!clen || (last && strlen(last) == clen && strncmp(last, child, clen) == 0))
            continue; /* the directory itself ("dir/"), or more below one already listed */
        if (!(name = strndup(child, clen)) || !(full = strndup(t->v[i].path, plen + clen))) {
            free(name);
            rc = -ENOMEM;
            break;
        }
        free(last);
        last = name;
        tree_stat(fs, t, full, slash != NULL, slash ? 0 : t->v[i].size, when, &st);
        free(full);
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
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd >= 0 ? fd : -errno;
    if (!(tmpl = spacefs_asprintf("%s/snapshot.XXXXXX", dir)))
        return -ENOMEM;
    if ((fd = mkstemp(tmpl)) >= 0)
        unlink(tmpl);
    free(tmpl);
    return fd >= 0 ? fd : -errno;
}

static int snap_open(struct spacefs_fs *fs, struct pers_ent *pe, const char *rest, int *out_fd)
{
    char commit[PERSIST_OID_MAX], *sub = NULL;
    struct persist_rentry e;
    struct snap_tree *t;
    int64_t when = 0;
    size_t i = 0;
    int rc, k, fd = -1;

    (void)fs;
    *out_fd = -1;
    memset(&e, 0, sizeof(e));
    if ((rc = find_commit(pe, rest, commit, &when, &sub)) < 0)
        return rc;
    if ((rc = tree_lock(pe, commit, &t)) < 0)
        goto out;
    k = tree_find(t, sub, &i);
    if (k == 1) {
        e = t->v[i];
        e.path = spacefs_strdup(t->v[i].path); /* a copy: the tree may go while we download */
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
    if ((rc = persist_history_read(pe->p, &e, fd)) < 0)
        goto out;
    *out_fd = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    free(e.path);
    free(sub);
    return rc;
}

/* ---- the subtree ---------------------------------------------------------------------------- */
static const char *const snapshots_names[] = {"snapshots", NULL};

static int snapshots_shown(struct spacefs_fs *fs, const struct node *space)
{
    return persist_fs_enabled(fs, space->ns);
}

static int snapshots_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    struct pers_ent *pe;
    int rc;

    if (!n->rest[0]) {
        if ((rc = persist_fs_space_check(fs, n)) < 0)
            return rc;
        snap_stat(fs, st, 1, 0, fs->started);
        return 0;
    }
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = snap_getattr(fs, pe, n->rest, st);
    persist_fs_put(fs, pe);
    return rc;
}

static int snapshots_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                             void *payload)
{
    struct pers_ent *pe;
    int rc;

    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    rc = snap_readdir(fs, pe, n->rest, fn, payload);
    persist_fs_put(fs, pe);
    return rc;
}

/* Changes are EROFS (the router: read_only); open for writing too. */
static int read_only(struct spacefs_fs *fs, const struct node *n)
{
    int rc = persist_fs_space_check(fs, n);

    return rc < 0 ? rc : -EROFS;
}

/* A snapshot file: its content in an unlinked temp file (h->state: the fd + 1). */
static int snapshots_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest,
                          mode_t mode, int create)
{
    int writes = router_want_write(h->flags) || (h->flags & O_TRUNC) || create;
    struct pers_ent *pe;
    int rc, fd;

    (void)mode;
    if (!rest[0])
        return persist_fs_space_check(fs, &h->n) < 0 ? -ENOENT : -EISDIR;
    if (writes)
        return read_only(fs, &h->n);
    if ((rc = persist_fs_get(fs, &h->n, &pe)) < 0)
        return rc;
    rc = snap_open(fs, pe, rest, &fd);
    persist_fs_put(fs, pe); /* the temp file does not need the engine */
    if (rc == 0)
        h->state = (void *)(intptr_t)(fd + 1);
    return rc;
}

static int fd_of(const struct spacefs_handle *h)
{
    return (int)(intptr_t)h->state - 1;
}

static long snapshots_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                           int64_t off)
{
    ssize_t n = pread(fd_of(h), buf, size, (off_t)off);

    (void)fs;
    return n < 0 ? -errno : (long)n;
}

static int snapshots_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, struct stat *st)
{
    struct stat f;

    if (fstat(fd_of(h), &f) < 0)
        return -errno;
    snap_stat(fs, st, 0, (int64_t)f.st_size, fs->started);
    return 0;
}

/* A symlink of the manifest: its content (what any other client of the Dataset sees) is the
 * target. */
static int snapshots_readlink(struct spacefs_fs *fs, const struct node *n, char *buf, size_t size)
{
    struct pers_ent *pe;
    struct stat st;
    ssize_t got = 0;
    int rc, fd = -1;

    if (!n->rest[0] || !size)
        return -EINVAL;
    if ((rc = persist_fs_get(fs, n, &pe)) < 0)
        return rc;
    if ((rc = snap_getattr(fs, pe, n->rest, &st)) == 0 && !S_ISLNK(st.st_mode))
        rc = -EINVAL;
    if (rc == 0)
        rc = snap_open(fs, pe, n->rest, &fd);
    persist_fs_put(fs, pe);
    if (rc == 0 && (got = pread(fd, buf, size - 1, 0)) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        buf[got] = '\0';
    return rc;
}

static void snapshots_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    (void)fs;
    close(fd_of(h));
}

const struct spacefs_subtree_ops spacefs_snapshots_ops = {
    .name = "snapshots",
    .names = snapshots_names,
    .shown = snapshots_shown,
    .read_only = 1,
    .getattr = snapshots_getattr,
    .readdir = snapshots_readdir,
    .open = snapshots_open,
    .read = snapshots_read,
    .fgetattr = snapshots_fgetattr,
    .readlink = snapshots_readlink,
    .release = snapshots_release,
};
