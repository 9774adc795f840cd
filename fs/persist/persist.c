/* The persist engine's namespace and files: the view is the base tree (a commit) with the
 * changes on top; files are written to overlay files, copy-on-write once published, and made
 * durable at close (fsync overlay file, then the journal). Reads resolve overlay -> base ->
 * object cache -> remote. Everything here runs under p->lock, which is dropped only around
 * remote calls (object downloads). */
#include "persist_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define COPY_CHUNK 65536

void persist_config_init(struct persist_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->quiet_ms = 2000;
    cfg->min_interval_ms = 10000;
    cfg->max_delay_ms = 60000;
    cfg->ttl_ms = 30000;
    cfg->backoff_base_ms = 1000;
    cfg->backoff_max_ms = 60000;
    cfg->fsync_attempts = 3;
    cfg->stale_retries = 5;
    cfg->max_commit_files = 500;
    cfg->object_cache_bytes = (uint64_t)1 << 30;
}

void pchange_free(void *v)
{
    struct pchange *c = v;
    if (!c)
        return;
    free(c->ref.path);
    free(c);
}

static void rentry_free(void *v)
{
    struct persist_rentry *e = v;
    if (e)
        free(e->path);
    free(e);
}

void persist_base_clear(struct persist *p)
{
    pmap_clear(&p->base_files, rentry_free);
    pmap_clear(&p->landed, NULL);
}

int persist_remote_has(struct persist *p, const char *path)
{
    return pmap_get(&p->base_files, path) || pmap_get(&p->landed, path);
}

/* ---- paths ----------------------------------------------------------------------------------- */

/* "/a//b/" -> "a/b"; "" is the root. Refuses ".", ".." (EINVAL), ".git" (EPERM) components and
 * names the Hub refuses: control characters (CR, LF, tab …), DEL and backslash (EINVAL). *out new.
 */
static int path_norm(const char *in, char **out)
{
    size_t n = strlen(in), w = 0;
    char *s = malloc(n + 1);
    const char *p = in;

    *out = NULL;
    if (!s)
        return -ENOMEM;
    while (*p) {
        const char *e;
        size_t len;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        e = strchr(p, '/');
        len = e ? (size_t)(e - p) : strlen(p);
        if ((len == 1 && p[0] == '.') || (len == 2 && !memcmp(p, "..", 2)) ||
            (len == 4 && !memcmp(p, ".git", 4))) {
            free(s);
            return len == 4 ? -EPERM : -EINVAL;
        }
        if (len > 255) {
            free(s);
            return -ENAMETOOLONG;
        }
        for (size_t i = 0; i < len; i++) {
            /* the Hub refuses such paths (422 at preupload and commit), and one file it refuses
             * would fail every later commit: refused here, at create, rename and lookup */
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') {
                free(s);
                return -EINVAL;
            }
        }
        if (w)
            s[w++] = '/';
        memcpy(s + w, p, len);
        w += len;
        p += len;
    }
    s[w] = '\0';
    *out = s;
    return 0;
}

/* Parent of a normalised path (new string; "" for top-level names). */
static char *path_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path)) : strdup("");
}

/* Is `path` strictly below `dir` ("" = root)? */
static int path_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (!n)
        return *path != '\0';
    return !strncmp(path, dir, n) && path[n] == '/';
}

/* ---- the view -------------------------------------------------------------------------------- */

enum { NODE_NONE = 0, NODE_FILE, NODE_DIR };

static struct pfile *pfile_find(struct persist *p, const char *path)
{
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->path && !strcmp(f->path, path))
            return f;
    return NULL;
}

/* A base file shows unless a change sits on its path (a FILE change shows instead). */
static int base_visible(struct persist *p, const char *path)
{
    return pmap_get(&p->base_files, path) && !pmap_get(&p->changes, path);
}

/* ---- the directory index: how many visible entries (files, local directories) lie below
 * each directory, so that "is this a directory, is it empty" costs a lookup, not a scan of
 * every change and base file (that made creating N files O(N^2)). Kept by change_set, rebuilt
 * with the base. If memory runs out it is marked broken and the scan is used. */

/* Does `path` itself count: a file or local directory change, or a base file without one? */
static int entry_counts(struct persist *p, const char *path, const struct pchange *c)
{
    return c ? c->kind != PC_WHITEOUT : pmap_get(&p->base_files, path) != NULL;
}

/* Adds delta to the count of every ancestor of path. */
static void index_add(struct persist *p, const char *path, int delta)
{
    char *s;

    if (!delta || p->index_broken)
        return;
    if (!(s = strdup(path))) {
        p->index_broken = 1;
        return;
    }
    for (char *q = s + strlen(s); q > s; q--) { /* from the parent up: each '/' ends one */
        uintptr_t n;
        if (*q != '/')
            continue;
        *q = '\0';
        n = (uintptr_t)pmap_get(&p->below, s) + (uintptr_t)(intptr_t)delta;
        if (!n)
            pmap_del(&p->below, s);
        else if (pmap_put(&p->below, s, (void *)n) < 0)
            p->index_broken = 1;
    }
    free(s);
}

void persist_index_rebuild(struct persist *p)
{
    pmap_clear(&p->below, NULL);
    p->index_broken = 0;
    for (struct pmap_item *it = pmap_first(&p->changes); it; it = pmap_next(&p->changes, it))
        index_add(p, it->key, entry_counts(p, it->key, it->val));
    for (struct pmap_item *it = pmap_first(&p->base_files); it; it = pmap_next(&p->base_files, it))
        if (!pmap_get(&p->changes, it->key))
            index_add(p, it->key, 1);
}

/* Any visible file or local directory strictly below dir? */
static int has_visible_below(struct persist *p, const char *dir)
{
    if (!p->index_broken)
        return pmap_get(&p->below, dir) != NULL;
    for (struct pmap_item *it = pmap_first(&p->changes); it; it = pmap_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if (c->kind != PC_WHITEOUT && path_below(it->key, dir))
            return 1;
    }
    for (struct pmap_item *it = pmap_first(&p->base_files); it; it = pmap_next(&p->base_files, it))
        if (path_below(it->key, dir) && !pmap_get(&p->changes, it->key))
            return 1;
    return 0;
}

static int node_kind(struct persist *p, const char *path)
{
    struct pchange *c;

    if (!*path)
        return NODE_DIR;
    c = pmap_get(&p->changes, path);
    if (c && c->kind == PC_FILE)
        return NODE_FILE;
    if (c && c->kind == PC_DIR)
        return NODE_DIR;
    if (!c && pmap_get(&p->base_files, path))
        return NODE_FILE;
    return has_visible_below(p, path) ? NODE_DIR : NODE_NONE;
}

static int64_t file_size(struct persist *p, const char *path)
{
    struct pfile *f = pfile_find(p, path);
    struct pchange *c = pmap_get(&p->changes, path);
    struct persist_rentry *e;

    if (f && f->work)
        return f->size;
    if (c)
        return c->size;
    e = pmap_get(&p->base_files, path);
    return e ? e->size : 0;
}

static int writable(struct persist *p)
{
    if (p->vis != VIS_PUBLIC || p->cfg.allow_public)
        return 0;
    if (!p->log_public_once++)
        persist_log(p, 0,
                    "persist: the Dataset is public; refusing to write (EACCES). Make it private "
                    "or allow public persist repos.");
    return -EACCES;
}

static void changed(struct persist *p)
{
    p->last_change_ms = persist_now_ms();
    if (!p->pending_since_ms)
        p->pending_since_ms = p->last_change_ms;
    pthread_cond_broadcast(&p->cond);
}

/* Sets the change of `path` (taking c; any previous change is freed and its overlay file
 * deleted unless still used). */
static int change_set(struct persist *p, const char *path, struct pchange *c);

/* Overlay file `id` lost a user: if nothing uses it any more, it is deleted after the next
 * journal write (until then the journal on disk may still name it; a crash must find it). An
 * id is used by at most one change (a rename moves it) and by the open files writing to it;
 * `path` is the only path whose change may still hold it (NULL: none), so this is O(open
 * files), not O(changes). */
static void ovl_release(struct persist *p, uint64_t id, const char *path)
{
    struct pchange *c = path ? pmap_get(&p->changes, path) : NULL;

    if (!id || (c && c->ovl == id))
        return;
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->work == id)
            return;
    persist_ovl_garbage(p, id);
}

static int change_set(struct persist *p, const char *path, struct pchange *c)
{
    struct pchange *old = pmap_del(&p->changes, path);
    int rc = 0, before = entry_counts(p, path, old);

    persist_journal_touch(p, path);
    if (c) {
        c->gen = ++p->gen;
        if (!c->mtime)
            c->mtime = (int64_t)time(NULL);
        if ((rc = pmap_put(&p->changes, path, c)) < 0) {
            pchange_free(c);
            c = NULL;
        }
    }
    index_add(p, path, entry_counts(p, path, c) - before);
    if (old) {
        uint64_t id = old->ovl;
        pchange_free(old);
        ovl_release(p, id, path);
    }
    return rc;
}

/* May the remote have a file at `path`? In the base; put by a commit of ours that the base
 * does not show yet (even if a newer local version replaced the committed one since); the
 * current change is synced (a journal from before a restart) or in the commit uploading right
 * now (the lock is released meanwhile); or a whiteout or an unsynced local directory sits
 * there (an earlier answer was yes).
 * A yes costs little: a delete of a path the remote lacks is dropped at the next refresh or
 * commit. A wrong no loses a delete: the file comes back with the next fetch. */
static int remote_may_have(struct persist *p, const char *path)
{
    struct pchange *cur = pmap_get(&p->changes, path);

    return persist_remote_has(p, path) ||
           (cur && cur->kind == PC_FILE && (cur->synced || p->uploading)) ||
           (cur && (cur->kind == PC_WHITEOUT || (cur->kind == PC_DIR && !cur->synced)));
}

/* Removes the file at `path` from the view: a whiteout when the remote may have it. */
static int remove_file(struct persist *p, const char *path)
{
    struct pchange *c = NULL;

    if (remote_may_have(p, path)) {
        if (!(c = calloc(1, sizeof(*c))))
            return -ENOMEM;
        c->kind = PC_WHITEOUT;
    }
    return change_set(p, path, c);
}

/* A new local-directory change for `path`. Where the remote may have a file it is unsynced:
 * the commit must delete that file. */
static struct pchange *dir_change(struct persist *p, const char *path)
{
    struct pchange *c = calloc(1, sizeof(*c));
    if (c) {
        c->kind = PC_DIR;
        c->synced = !remote_may_have(p, path);
    }
    return c;
}

/* After something left `dir`, keep it as a local directory if it would vanish. */
static int keep_dir(struct persist *p, const char *dir)
{
    struct pchange *c;
    if (!*dir || node_kind(p, dir) != NODE_NONE)
        return 0;
    if (!(c = dir_change(p, dir)))
        return -ENOMEM;
    return change_set(p, dir, c);
}

static int keep_parent(struct persist *p, const char *path)
{
    char *parent = path_parent(path);
    int rc = parent ? keep_dir(p, parent) : -ENOMEM;
    free(parent);
    return rc;
}

/* Every ancestor of path must be a directory: -ENOENT / -ENOTDIR as path resolution says. */
static int check_ancestors(struct persist *p, const char *path)
{
    char *s = strdup(path);
    int rc = 0;

    if (!s)
        return -ENOMEM;
    for (char *q = strchr(s, '/'); q && !rc; q = strchr(q + 1, '/')) {
        int k;
        *q = '\0';
        k = node_kind(p, s);
        *q = '/';
        rc = k == NODE_NONE ? -ENOENT : k == NODE_FILE ? -ENOTDIR : 0;
    }
    free(s);
    return rc;
}

static int parent_is_dir(struct persist *p, const char *path)
{
    return check_ancestors(p, path);
}

/* ---- content sources ------------------------------------------------------------------------ */

/* Opens the object `e` read-only, downloading it first if it is not cached. Lock held; it is
 * dropped during a download (*dropped set), so callers must re-check what they looked up. */
static int object_open(struct persist *p, const struct persist_rentry *e, const char *path,
                       int *out_fd, int *dropped)
{
    struct persist_rentry copy;
    char *s;
    int fd, rc;

    if (!(s = persist_obj_path(p, e)))
        return -ENOMEM;
    fd = open(s, O_RDONLY | O_CLOEXEC);
    free(s);
    if (fd >= 0) {
        futimens(fd, NULL); /* LRU */
        *out_fd = fd;
        return 0;
    }
    copy = *e;
    if (!(copy.path = strdup(e->path ? e->path : path)))
        return -ENOMEM;
    *dropped = 1;
    pthread_mutex_unlock(&p->lock);
    rc = persist_obj_fetch(p, &copy);
    pthread_mutex_lock(&p->lock);
    free(copy.path);
    return rc ? rc : 1; /* 1: fetched, open it again */
}

/* The object behind the visible file `path` (a base file or a renamed one), NULL if its
 * content is an overlay file or it is not a file. */
static const struct persist_rentry *path_object(struct persist *p, const char *path)
{
    struct pchange *c = pmap_get(&p->changes, path);
    if (c)
        return c->kind == PC_FILE && !c->ovl ? &c->ref : NULL;
    return pmap_get(&p->base_files, path);
}

/* Opens the content source of the visible file `path` read-only (the overlay file, or the
 * object, downloaded first if needed). Lock held; it is dropped while an object downloads, so
 * the lookup is repeated afterwards. */
static int source_open(struct persist *p, const char *path, int *out_fd)
{
    for (int round = 0; round < 4; round++) {
        struct pchange *c = pmap_get(&p->changes, path);
        const struct persist_rentry *e;
        int rc, dropped = 0;

        if (c && c->kind == PC_FILE && c->ovl) {
            char *s = persist_ovl_path(p, c->ovl);
            int fd;
            if (!s)
                return -ENOMEM;
            fd = open(s, O_RDONLY | O_CLOEXEC);
            free(s);
            if (fd < 0)
                return -errno;
            *out_fd = fd;
            return 0;
        }
        if (!(e = path_object(p, path)))
            return -ENOENT;
        if ((rc = object_open(p, e, path, out_fd, &dropped)) <= 0)
            return rc;
    }
    return -EIO;
}

/* Opens the content source of f read-only: its path's, or, once detached, what it pinned. */
static int pfile_source(struct persist *p, struct pfile *f, int *out_fd)
{
    if (f->path)
        return source_open(p, f->path, out_fd);
    for (int round = 0; f->pin.path && round < 4; round++) {
        int rc, dropped = 0;
        if ((rc = object_open(p, &f->pin, f->pin.path, out_fd, &dropped)) <= 0)
            return rc;
    }
    return f->pin.path ? -EIO : -ENOENT;
}

/* ---- open files ------------------------------------------------------------------------------ */

static int copy_fd(int dst, int src)
{
    off_t in = 0, out = 0;
    char buf[COPY_CHUNK];
    ssize_t n;

    if (ioctl(dst, FICLONE, src) == 0)
        return 0;
    for (;;) {
        n = copy_file_range(src, &in, dst, &out, (size_t)1 << 30, 0);
        if (n == 0)
            return 0;
        if (n < 0)
            break;
    }
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -errno;
    for (in = 0;; in += n) {
        n = pread(src, buf, sizeof(buf), in);
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (pwrite(dst, buf, (size_t)n, in) != n)
            return -EIO;
    }
}

/* A new overlay file (empty); *out_fd open read-write. */
static int ovl_create(struct persist *p, uint64_t *out_id, int *out_fd)
{
    uint64_t id = p->next_ovl++;
    char *s = persist_ovl_path(p, id);
    int fd;

    if (!s)
        return -ENOMEM;
    fd = open(s, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    free(s);
    if (fd < 0)
        return -errno;
    *out_id = id;
    *out_fd = fd;
    return 0;
}

/* Makes f's fd a private working copy (copy-on-write of the published content, or an empty
 * file when `empty`). */
static int pfile_make_work(struct persist *p, struct pfile *f, int empty)
{
    uint64_t id;
    int fd, src = -1, rc;

    if (f->work && (f->dirty || !f->path)) { /* private already: write in place */
        if (empty && ftruncate(f->fd, 0) < 0)
            return -errno;
        if (empty) {
            f->size = 0;
            hub_sha256_init(&f->hash);
            f->hash_ok = 1;
        }
        return 0;
    }
    if (!empty) {
        if (f->fd >= 0) {
            src = dup(f->fd);
            if (src < 0)
                return -errno;
        } else if ((rc = pfile_source(p, f, &src)) < 0) {
            return rc;
        }
    }
    if ((rc = ovl_create(p, &id, &fd)) < 0)
        goto out;
    if (src >= 0 && (rc = copy_fd(fd, src)) < 0) {
        close(fd);
        goto out;
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->fd_is_work = 1;
    {
        uint64_t old = f->work;
        f->work = id;
        ovl_release(p, old, f->path);
    }
    f->size = empty ? 0 : (src >= 0 ? lseek(fd, 0, SEEK_END) : 0);
    f->dirty = 1;
    /* A copy of earlier content was never hashed here: only an empty start can be. */
    hub_sha256_init(&f->hash);
    f->hash_ok = empty || (src < 0 && f->size == 0);
out:
    if (src >= 0)
        close(src);
    return rc;
}

/* Publishes f's working copy: fsync it, point the change at it, write the journal. */
static int pfile_publish(struct persist *p, struct pfile *f)
{
    struct pchange *c;
    int rc;

    if (!f->dirty || !f->path)
        return 0;
    if (fsync(f->fd) < 0)
        return -errno;
    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->kind = PC_FILE;
    c->ovl = f->work;
    c->size = f->size;
    c->mtime = f->mtime; /* set by utimens since the last write, else now (change_set) */
    if (f->hash_ok && f->hash.bytes == (uint64_t)f->size)
        hub_sha256_hex(&f->hash, c->sha256);
    if ((rc = change_set(p, f->path, c)) < 0)
        return rc;
    f->dirty = 0;
    rc = persist_journal_write(p);
    changed(p);
    return rc;
}

static void pfile_unref(struct persist *p, struct pfile *f)
{
    struct pfile **pp;
    uint64_t id;

    if (--f->refs)
        return;
    for (pp = &p->files; *pp != f; pp = &(*pp)->next)
        ;
    *pp = f->next;
    if (f->fd >= 0)
        close(f->fd);
    id = f->work;
    f->work = 0;
    ovl_release(p, id, f->path);
    free(f->path);
    free(f->pin.path);
    free(f);
}

/* Detaches f from its path (unlinked, or replaced by a rename): its handles keep reading and
 * writing the content it had. Without an open fd that content is pinned now: the overlay file
 * or cached object is opened (an unlinked file stays readable), or the object's entry is kept
 * to download it on first read. Lock held; never dropped here. */
static void pfile_detach(struct persist *p, struct pfile *f)
{
    const struct persist_rentry *e;

    if (f->fd < 0 && f->path) {
        struct pchange *c = pmap_get(&p->changes, f->path);
        if (c && c->kind == PC_FILE && c->ovl) {
            char *s = persist_ovl_path(p, c->ovl);
            f->fd = s ? open(s, O_RDONLY | O_CLOEXEC) : -1;
            f->fd_is_work = 0;
            free(s);
        } else if ((e = path_object(p, f->path))) {
            char *s = persist_obj_path(p, e);
            f->fd = s ? open(s, O_RDONLY | O_CLOEXEC) : -1;
            f->fd_is_work = 0;
            free(s);
            if (f->fd < 0 && (f->pin.path = strdup(e->path ? e->path : f->path))) {
                char *keep = f->pin.path;
                f->pin = *e;
                f->pin.path = keep;
            }
        }
    }
    free(f->path);
    f->path = NULL;
}

static struct pfile *pfile_get(struct persist *p, const char *path)
{
    struct pfile *f = pfile_find(p, path);
    if (f) {
        f->refs++;
        return f;
    }
    if (!(f = calloc(1, sizeof(*f))) || !(f->path = strdup(path))) {
        free(f);
        return NULL;
    }
    f->fd = -1;
    f->refs = 1;
    f->next = p->files;
    p->files = f;
    return f;
}

/* After the base changed: files without unpublished writes re-resolve their source. */
void persist_pfiles_reset(struct persist *p)
{
    for (struct pfile *f = p->files; f; f = f->next) {
        if (f->dirty || !f->path)
            continue;
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        f->fd_is_work = 0;
        f->hash_ok = 0;
        {
            uint64_t id = f->work;
            f->work = 0;
            ovl_release(p, id, f->path);
        }
    }
}

/* ---- public: files --------------------------------------------------------------------------- */

int persist_file_open(struct persist *p, const char *path, int flags, mode_t mode,
                      struct persist_handle **out)
{
    struct persist_handle *h = NULL;
    int acc = flags & O_ACCMODE, rc, k;
    struct pfile *f = NULL;
    char *np = NULL;

    *out = NULL;
    if ((rc = path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if (!*np) {
        rc = -EISDIR;
        goto out;
    }
    if ((rc = check_ancestors(p, np)) < 0)
        goto out;
    if ((acc != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) && (rc = writable(p)) < 0)
        goto out;
    k = node_kind(p, np);
    if (k == NODE_DIR) {
        rc = -EISDIR;
        goto out;
    }
    if (k == NODE_FILE && (flags & O_CREAT) && (flags & O_EXCL)) {
        rc = -EEXIST;
        goto out;
    }
    if (k == NODE_NONE) {
        struct pchange *c;
        uint64_t id;
        int fd;
        if (!(flags & O_CREAT)) {
            rc = -ENOENT;
            goto out;
        }
        if ((rc = parent_is_dir(p, np)) < 0 || (rc = ovl_create(p, &id, &fd)) < 0)
            goto out;
        if (!(c = calloc(1, sizeof(*c))) || !(f = pfile_get(p, np))) {
            free(c);
            close(fd);
            rc = -ENOMEM;
            goto out;
        }
        /* The new file is its own working copy, dirty so that close() publishes it even
         * when nothing is written. */
        f->fd = fd;
        f->fd_is_work = 1;
        f->work = id;
        f->dirty = 1;
        hub_sha256_init(&f->hash);
        f->hash_ok = 1;
        c->kind = PC_FILE;
        c->ovl = id;
        if ((rc = change_set(p, np, c)) < 0)
            goto out;
        changed(p);
    } else if (!(f = pfile_get(p, np))) {
        rc = -ENOMEM;
        goto out;
    }
    if (!(h = calloc(1, sizeof(*h)))) {
        rc = -ENOMEM;
        goto out;
    }
    h->f = f;
    h->flags = flags;
    if ((flags & O_TRUNC) && acc != O_RDONLY && (rc = pfile_make_work(p, f, 1)) < 0)
        goto out;
    *out = h;
    h = NULL;
    f = NULL;
out:
    if (f)
        pfile_unref(p, f);
    pthread_mutex_unlock(&p->lock);
    free(h);
    free(np);
    (void)mode;
    return rc;
}

long persist_read(struct persist *p, struct persist_handle *h, void *buf, size_t size, int64_t off)
{
    struct pfile *f = h->f;
    long rc;
    int fd;

    if ((h->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    pthread_mutex_lock(&p->lock);
    if (f->fd < 0) {
        if ((rc = pfile_source(p, f, &fd)) < 0)
            goto out;
        if (f->fd >= 0) /* another thread opened it while the lock was dropped */
            close(fd);
        else
            f->fd = fd, f->fd_is_work = 0;
    }
    rc = pread(f->fd, buf, size, off);
    if (rc < 0)
        rc = -errno;
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

long persist_write(struct persist *p, struct persist_handle *h, const void *buf, size_t size,
                   int64_t off)
{
    struct pfile *f = h->f;
    long rc;

    if ((h->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    pthread_mutex_lock(&p->lock);
    if ((rc = writable(p)) < 0 || (rc = pfile_make_work(p, f, 0)) < 0)
        goto out;
    if (h->flags & O_APPEND)
        off = f->size;
    rc = pwrite(f->fd, buf, size, off);
    if (rc < 0) {
        rc = -errno;
        f->hash_ok = 0;
        goto out;
    }
    /* Hash while writing: only bytes appended right at the end of a hashed prefix. */
    if (f->hash_ok && rc > 0 && off == f->size)
        hub_sha256_update(&f->hash, buf, (size_t)rc);
    else if (rc > 0)
        f->hash_ok = 0;
    if (rc > 0 && off + rc > f->size) /* an empty write does not extend the file */
        f->size = off + rc;
    f->dirty = 1;
    f->mtime = 0;
    changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_ftruncate(struct persist *p, struct persist_handle *h, int64_t size)
{
    struct pfile *f = h->f;
    int rc;

    if ((h->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (size < 0)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    if ((rc = writable(p)) < 0 || (rc = pfile_make_work(p, f, size == 0)) < 0)
        goto out;
    if (ftruncate(f->fd, size) < 0) {
        rc = -errno;
        f->hash_ok = 0;
        goto out;
    }
    if (size != f->size)
        f->hash_ok = 0; /* shrunk: the digest covers cut bytes; grown: zeros were not hashed */
    f->size = size;
    f->dirty = 1;
    f->mtime = 0;
    changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_flush(struct persist *p, struct persist_handle *h)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    rc = pfile_publish(p, h->f);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_release(struct persist *p, struct persist_handle *h)
{
    int rc;
    if (!h)
        return 0;
    pthread_mutex_lock(&p->lock);
    rc = pfile_publish(p, h->f);
    pfile_unref(p, h->f);
    pthread_mutex_unlock(&p->lock);
    free(h);
    return rc;
}

int persist_fsync(struct persist *p, struct persist_handle *h, unsigned timeout_ms)
{
    int rc = persist_flush(p, h);
    return rc < 0 ? rc : persist_sync_wait(p, timeout_ms);
}

int persist_truncate(struct persist *p, const char *path, int64_t size)
{
    struct persist_handle *h;
    int rc = persist_file_open(p, path, O_WRONLY, 0, &h);
    if (rc < 0)
        return rc;
    rc = persist_ftruncate(p, h, size);
    if (rc == 0)
        rc = persist_release(p, h);
    else
        persist_release(p, h);
    return rc;
}

/* ---- public: namespace ----------------------------------------------------------------------- */

static void fill_stat(struct persist *p, const char *path, int kind, struct stat *st)
{
    struct pchange *c = pmap_get(&p->changes, path);
    struct persist_rentry *e = c ? NULL : pmap_get(&p->base_files, path);
    memset(st, 0, sizeof(*st));
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mtime = c ? c->mtime : e ? e->mtime : 0;
    if (kind == NODE_DIR) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0644;
        st->st_nlink = 1;
        st->st_size = file_size(p, path);
        st->st_blocks = (st->st_size + 511) / 512;
    }
}

int persist_getattr(struct persist *p, const char *path, struct stat *st)
{
    char *np;
    int rc, k;

    if ((rc = path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    k = node_kind(p, np);
    if (k == NODE_NONE && !(rc = check_ancestors(p, np)))
        rc = -ENOENT;
    else
        fill_stat(p, np, k, st);
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

int persist_fgetattr(struct persist *p, struct persist_handle *h, struct stat *st)
{
    struct pfile *f = h->f;
    struct stat fst;

    pthread_mutex_lock(&p->lock);
    if (f->path) {
        fill_stat(p, f->path, NODE_FILE, st);
        if (f->dirty && f->mtime)
            st->st_mtime = f->mtime;
        goto out;
    }
    /* detached: what its handles read and write; no name links to it any more */
    memset(st, 0, sizeof(*st));
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 0;
    if (f->work)
        st->st_size = f->size;
    else if (f->fd >= 0 && fstat(f->fd, &fst) == 0)
        st->st_size = fst.st_size;
    else if (f->pin.path)
        st->st_size = f->pin.size;
    st->st_mtime = f->mtime ? f->mtime : f->pin.mtime;
    st->st_blocks = (st->st_size + 511) / 512;
out:
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int persist_futimens(struct persist *p, struct persist_handle *h, int64_t mtime)
{
    char *path = NULL;
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    if (h->f->path && !(path = strdup(h->f->path)))
        rc = -ENOMEM;
    else if (!h->f->path && mtime >= 0)
        h->f->mtime = mtime; /* detached: nothing to record, but its handles see it */
    pthread_mutex_unlock(&p->lock);
    if (path && mtime >= 0)
        rc = persist_utimens(p, path, mtime);
    free(path);
    return rc;
}

/* Adds the child name of `key` below `dir` to `names` (if key is below dir). */
static int collect_child(struct pmap *names, const char *key, const char *dir)
{
    const char *rest, *slash;
    char *name;
    int rc;

    if (!path_below(key, dir))
        return 0;
    rest = key + (*dir ? strlen(dir) + 1 : 0);
    slash = strchr(rest, '/');
    if (!(name = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest)))
        return -ENOMEM;
    rc = pmap_get(names, name) ? 0 : pmap_put(names, name, name);
    if (rc || pmap_get(names, name) != name)
        free(name);
    return rc;
}

int persist_readdir(struct persist *p, const char *path, persist_fill_fn fill, void *payload)
{
    struct pmap names;
    struct pmap_item *it;
    char *np, *child = NULL;
    int rc, k;

    if ((rc = path_norm(path, &np)) < 0)
        return rc;
    pmap_init(&names);
    pthread_mutex_lock(&p->lock);
    k = node_kind(p, np);
    if (k != NODE_DIR) {
        rc = k == NODE_NONE ? -ENOENT : -ENOTDIR;
        goto out;
    }
    for (it = pmap_first(&p->changes); it && !rc; it = pmap_next(&p->changes, it))
        rc = collect_child(&names, it->key, np);
    for (it = pmap_first(&p->base_files); it && !rc; it = pmap_next(&p->base_files, it))
        rc = collect_child(&names, it->key, np);
    for (it = pmap_first(&names); it && !rc; it = pmap_next(&names, it)) {
        struct stat st;
        free(child);
        if (asprintf(&child, "%s%s%s", np, *np ? "/" : "", it->key) < 0) {
            child = NULL;
            rc = -ENOMEM;
            break;
        }
        if ((k = node_kind(p, child)) == NODE_NONE)
            continue;
        fill_stat(p, child, k, &st);
        if (fill(it->key, &st, payload))
            break;
    }
out:
    pthread_mutex_unlock(&p->lock);
    pmap_clear(&names, free);
    free(child);
    free(np);
    return rc;
}

int persist_mkdir(struct persist *p, const char *path, mode_t mode)
{
    struct pchange *c;
    char *np;
    int rc;

    if ((rc = path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if ((rc = check_ancestors(p, np)) < 0 || (rc = writable(p)) < 0)
        goto out;
    if (node_kind(p, np) != NODE_NONE) {
        rc = -EEXIST;
        goto out;
    }
    if ((rc = parent_is_dir(p, np)) < 0)
        goto out;
    if (!(c = dir_change(p, np))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = change_set(p, np, c)) == 0)
        rc = persist_journal_write(p);
    changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    (void)mode;
    return rc;
}

/* unlink(2) (dir 0) and rmdir(2) (dir 1). */
static int remove_entry(struct persist *p, const char *path, int dir)
{
    struct pfile *f;
    char *np;
    int rc, k;

    if ((rc = path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if (!*np) {
        rc = dir ? -EBUSY : -EISDIR;
        goto out;
    }
    if ((rc = check_ancestors(p, np)) < 0 || (rc = writable(p)) < 0)
        goto out;
    if ((k = node_kind(p, np)) != (dir ? NODE_DIR : NODE_FILE)) {
        rc = k == NODE_NONE ? -ENOENT : dir ? -ENOTDIR : -EISDIR;
        goto out;
    }
    if (dir && has_visible_below(p, np)) {
        rc = -ENOTEMPTY;
        goto out;
    }
    if (!dir && (f = pfile_find(p, np))) /* open handles keep reading and writing, unlinked */
        pfile_detach(p, f);
    /* a directory has a change only when it is local (a whiteout if a base file hid under it) */
    rc = dir && !pmap_get(&p->changes, np) ? 0 : remove_file(p, np);
    if (rc == 0 && (rc = keep_parent(p, np)) == 0)
        rc = persist_journal_write(p);
    changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

int persist_rmdir(struct persist *p, const char *path)
{
    return remove_entry(p, path, 1);
}

int persist_unlink(struct persist *p, const char *path)
{
    return remove_entry(p, path, 0);
}

/* Moves the visible file `from` to `to` (which is free or a file being replaced). */
static int move_file(struct persist *p, const char *from, const char *to)
{
    struct pchange *src = pmap_get(&p->changes, from), *c;
    struct persist_rentry *e;
    struct pfile *f;
    int rc;

    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->kind = PC_FILE;
    if (src) {
        c->ovl = src->ovl;
        c->size = src->size;
        memcpy(c->sha256, src->sha256, sizeof(c->sha256));
        c->ref = src->ref;
        c->ref.path = src->ref.path ? strdup(src->ref.path) : NULL;
        c->mtime = src->mtime;
        if (src->ref.path && !c->ref.path) {
            free(c);
            return -ENOMEM;
        }
    } else {
        e = pmap_get(&p->base_files, from);
        c->ref = *e;
        c->size = e->size;
        c->mtime = e->mtime;
        if (!(c->ref.path = strdup(from))) {
            free(c);
            return -ENOMEM;
        }
    }
    if ((f = pfile_find(p, to)))
        pfile_detach(p, f);
    if ((rc = change_set(p, to, c)) < 0)
        return rc;
    if (src)
        src->ovl = 0; /* now owned by `to`; do not delete it with the old change */
    if ((f = pfile_find(p, from))) {
        char *s = strdup(to);
        if (!s)
            return -ENOMEM;
        free(f->path);
        f->path = s;
    }
    return remove_file(p, from);
}

static int move_dir(struct persist *p, const char *from, const char *to)
{
    size_t n = 0, cap = 0, flen = strlen(from);
    char **v = NULL;
    struct pmap_item *it;
    int rc = 0;

    /* Collect every visible file and local directory below `from`, then move each. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        struct pmap *m = pass ? &p->base_files : &p->changes;
        for (it = pmap_first(m); it && !rc; it = pmap_next(m, it)) {
            if (!path_below(it->key, from))
                continue;
            if (pass ? !base_visible(p, it->key) : ((struct pchange *)it->val)->kind == PC_WHITEOUT)
                continue;
            if (n == cap) {
                char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
                if (!nv) {
                    rc = -ENOMEM;
                    break;
                }
                v = nv;
            }
            if (!(v[n] = strdup(it->key)))
                rc = -ENOMEM;
            else
                n++;
        }
    }
    for (size_t i = 0; i < n && !rc; i++) {
        char *dst = NULL;
        struct pchange *c = pmap_get(&p->changes, v[i]);
        if (asprintf(&dst, "%s%s", to, v[i] + flen) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (c && c->kind == PC_DIR) {
            struct pchange *d = dir_change(p, dst);
            if (!d)
                rc = -ENOMEM;
            else if ((rc = change_set(p, dst, d)) == 0)
                rc = remove_file(p, v[i]);
        } else {
            rc = move_file(p, v[i], dst);
        }
        free(dst);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    if (!rc && pmap_get(&p->changes, from)) { /* the directory itself was local */
        struct pchange *d = dir_change(p, to);
        if (!d)
            return -ENOMEM;
        if ((rc = remove_file(p, from)) == 0)
            rc = change_set(p, to, d);
    }
    if (!rc && node_kind(p, to) == NODE_NONE) {
        struct pchange *d = dir_change(p, to);
        if (!d)
            return -ENOMEM;
        rc = change_set(p, to, d);
    }
    return rc;
}

int persist_rename(struct persist *p, const char *from, const char *to, unsigned flags)
{
    char *nf = NULL, *nt = NULL;
    int rc, kf, kt;

    if (flags & ~1u) /* RENAME_EXCHANGE, RENAME_WHITEOUT: not implemented, so refused */
        return -EINVAL;
    if ((rc = path_norm(from, &nf)) < 0 || (rc = path_norm(to, &nt)) < 0)
        goto done;
    pthread_mutex_lock(&p->lock);
    if ((rc = writable(p)) < 0)
        goto out;
    if (!*nf || !*nt) {
        rc = -EBUSY;
        goto out;
    }
    if ((rc = check_ancestors(p, nf)) < 0 || (rc = check_ancestors(p, nt)) < 0)
        goto out;
    if ((kf = node_kind(p, nf)) == NODE_NONE) {
        rc = -ENOENT;
        goto out;
    }
    if (!strcmp(nf, nt))
        goto out;
    if (path_below(nt, nf)) {
        rc = -EINVAL;
        goto out;
    }
    if (path_below(nf, nt)) { /* onto an ancestor: it is not empty */
        rc = -ENOTEMPTY;
        goto out;
    }
    if ((rc = parent_is_dir(p, nt)) < 0)
        goto out;
    kt = node_kind(p, nt);
    if (kt != NODE_NONE && (flags & 1 /* RENAME_NOREPLACE */)) {
        rc = -EEXIST;
        goto out;
    }
    if (kf == NODE_FILE && kt == NODE_DIR) {
        rc = -EISDIR;
        goto out;
    }
    if (kf == NODE_DIR && kt == NODE_FILE) {
        rc = -ENOTDIR;
        goto out;
    }
    if (kt == NODE_DIR) {
        if (has_visible_below(p, nt)) {
            rc = -ENOTEMPTY;
            goto out;
        }
        if (pmap_get(&p->changes, nt) && (rc = remove_file(p, nt)) < 0)
            goto out;
    }
    rc = kf == NODE_FILE ? move_file(p, nf, nt) : move_dir(p, nf, nt);
    if (!rc)
        rc = keep_parent(p, nf);
    if (!rc)
        rc = persist_journal_write(p);
    changed(p);
out:
    pthread_mutex_unlock(&p->lock);
done:
    free(nf);
    free(nt);
    return rc;
}

/* ---- modification times ---------------------------------------------------------------------- */

/* The Hub stores no mtimes. A base file's mtime is the time we wrote the version we committed,
 * the time utimens set, or else the time this cache first saw that version; kept per (path,
 * blob id) in <cache>/mtimes, so that it stays put across fetches and remounts and `rsync -a`
 * finds unchanged files unchanged. Losing the file (a crash mid-write) only costs new times:
 * it is written with rename, not fsynced. Lock held. */
void persist_mtimes_save(struct persist *p)
{
    int64_t now = (int64_t)time(NULL);
    char *tmp = NULL, *dst = NULL;
    FILE *f = NULL;
    int fd, ok;

    p->mtimes_dirty = 0;
    for (struct pmap_item *it = pmap_first(&p->base_files); it; it = pmap_next(&p->base_files, it))
        if (!((struct persist_rentry *)it->val)->mtime)
            ((struct persist_rentry *)it->val)->mtime = now;
    if (asprintf(&tmp, "%s/mtimes.tmp", p->dir) < 0 || asprintf(&dst, "%s/mtimes", p->dir) < 0)
        goto out;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        goto out;
    if (!(f = fdopen(fd, "w"))) {
        close(fd);
        goto out;
    }
    fprintf(f, "spacefs-persist-mtimes 1\n");
    for (struct pmap_item *it = pmap_first(&p->base_files); it;
         it = pmap_next(&p->base_files, it)) {
        struct persist_rentry *e = it->val;
        fprintf(f, "%" PRId64 " %s ", e->mtime, e->oid);
        persist_put_escaped(f, it->key);
        fputc('\n', f);
    }
    ok = fclose(f) == 0;
    if (ok)
        ok = rename(tmp, dst) == 0;
    if (!ok)
        persist_log(p, 1, "persist: cannot write %s: %s (file times may change)", dst,
                    strerror(errno));
out:
    free(tmp);
    free(dst);
}

/* Sets the base files' mtimes from <cache>/mtimes (same path and blob id); the others get now. */
static void mtimes_load(struct persist *p)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (asprintf(&path, "%s/mtimes", p->dir) < 0)
        return;
    if ((f = fopen(path, "re"))) {
        while (getline(&line, &cap, f) > 0) {
            char oid[PERSIST_OID_MAX], *name;
            long long t;
            int used = 0;
            struct persist_rentry *e;
            line[strcspn(line, "\n")] = '\0';
            if (sscanf(line, "%lld %64s %n", &t, oid, &used) != 2 || !used)
                continue;
            name = line + used;
            if (persist_unescape(name) == 0 && (e = pmap_get(&p->base_files, name)) &&
                !strcmp(e->oid, oid))
                e->mtime = t;
        }
        fclose(f);
    }
    free(line);
    free(path);
    persist_mtimes_save(p);
}

int persist_utimens(struct persist *p, const char *path, int64_t mtime)
{
    struct persist_rentry *e;
    struct pchange *c;
    struct pfile *f;
    char *np;
    int rc, k;

    if ((rc = path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if ((rc = check_ancestors(p, np)) < 0)
        goto out;
    if ((k = node_kind(p, np)) == NODE_NONE) {
        rc = -ENOENT;
        goto out;
    }
    if (k == NODE_DIR || (rc = writable(p)) < 0) /* directories' times are not kept */
        goto out;
    if ((f = pfile_find(p, np)) && f->dirty) /* written, not closed: applied when published */
        f->mtime = mtime;
    c = pmap_get(&p->changes, np);
    if (c && c->mtime != mtime) {
        c->mtime = mtime;
        persist_journal_touch(p, np);
        rc = persist_journal_write(p);
    } else if (!c && (e = pmap_get(&p->base_files, np)) && e->mtime != mtime) {
        e->mtime = mtime; /* saved by the worker, not here: touching N files is not N rewrites */
        p->mtimes_dirty = 1;
    }
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

/* ---- base ------------------------------------------------------------------------------------ */

/* A synced change about to be dropped because `head`, our own last commit, is now the base: its
 * overlay file holds exactly the content of the base entry, so it becomes that entry's cached
 * object instead of being deleted (reading right after a sync downloads nothing). Only when
 * nothing writes to the overlay file any more, the sizes (and for LFS a known sha256) agree and
 * it fits the cache. Returns 1 when adopted (*name = its name in objects/, new string). */
static int adopt_committed(struct persist *p, const char *path, const struct pchange *c,
                           char **name)
{
    struct persist_rentry *e = pmap_get(&p->base_files, path);
    struct stat st;
    char *src, *dst;
    int rc;

    if (c->kind != PC_FILE || !c->synced || !c->ovl || !e || e->size != c->size ||
        (uint64_t)c->size > p->cfg.object_cache_bytes ||
        (e->is_lfs && c->sha256[0] && strcmp(c->sha256, e->lfs_oid) != 0))
        return 0;
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->work == c->ovl && (f->dirty || !f->path))
            return 0; /* still being written (a new file's first version, or unlinked) */
    if (!(src = persist_ovl_path(p, c->ovl)))
        return 0;
    rc = stat(src, &st) == 0 && st.st_size == c->size && persist_obj_adopt(p, e, src) == 0;
    free(src);
    if (!rc || !(dst = persist_obj_path(p, e)))
        return 0;
    free(*name);
    *name = strdup(strrchr(dst, '/') + 1);
    free(dst);
    return 1;
}

/* Replaces the base with the tree of `head` (taking v). `fetched`: head is main's head as just
 * fetched, so it has every commit of ours: the landed set empties, synced changes are dropped
 * (their content is in the new base, or a later remote write won; when the new base is our own
 * last commit their overlay files become cached objects), whiteouts of paths the new base lacks
 * are dropped; local directories stay. Otherwise (the journal's base at open) only the files are
 * loaded. Lock held. */
void persist_base_replace(struct persist *p, const char *head, struct persist_rentry *v, size_t n,
                          int fetched)
{
    struct pmap_item *it;
    char **drop = NULL, *adopted = NULL;
    size_t nd = 0;
    int ours = p->last_commit[0] && !strcmp(head, p->last_commit);

    struct pmap old = p->base_files;
    int first = !p->based; /* the first base of this process: times come from the cache file */

    pmap_init(&p->base_files);
    for (size_t i = 0; i < n; i++) {
        struct persist_rentry *e = malloc(sizeof(*e)), *was = pmap_get(&old, v[i].path);
        if (!e || pmap_put(&p->base_files, v[i].path, e) < 0) {
            free(e);
            free(v[i].path);
            continue;
        }
        *e = v[i];
        if (was && !strcmp(was->oid, e->oid)) /* the same version: the same mtime */
            e->mtime = was->mtime;
    }
    free(v);
    pmap_clear(&old, rentry_free);
    if (head != p->base) /* load_base_tree passes p->base itself (overlapping snprintf) */
        snprintf(p->base, sizeof(p->base), "%s", head);
    p->based = 1;
    p->jfull = 1;
    persist_index_rebuild(p);
    if (!fetched) {
        mtimes_load(p);
        return;
    }
    pmap_clear(&p->landed, NULL);
    drop = calloc(p->changes.n + 1, sizeof(*drop));
    for (it = pmap_first(&p->changes); drop && it; it = pmap_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if ((c->kind != PC_DIR && c->synced) ||
            (c->kind == PC_WHITEOUT && !pmap_get(&p->base_files, it->key)))
            drop[nd++] = it->key;
        else if (c->kind == PC_DIR && !c->synced && !pmap_get(&p->base_files, it->key))
            c->synced = 1;
    }
    for (size_t i = 0; i < nd; i++) {
        char *key = strdup(drop[i]);
        if (key && ours) {
            struct pchange *c = pmap_get(&p->changes, key);
            struct persist_rentry *e = pmap_get(&p->base_files, key);
            if (c->kind == PC_FILE && e && e->size == c->size)
                e->mtime = c->mtime; /* our version: the time we wrote (or set) */
            adopt_committed(p, key, c, &adopted);
        }
        if (key)
            change_set(p, key, NULL);
        free(key);
    }
    free(drop);
    first ? mtimes_load(p) : persist_mtimes_save(p);
    persist_pfiles_reset(p);
    if (adopted) /* one eviction for all; the last one adopted is kept whatever its size */
        persist_obj_evict(p, adopted);
    free(adopted);
}

void persist_debug_dump(struct persist *p, void *out)
{
    static const char kinds[] = "FWD";
    FILE *f = out;

    pthread_mutex_lock(&p->lock);
    fprintf(f, "base %s (%s), gen %" PRIu64 "\n", p->base[0] ? p->base : "-",
            p->based ? "loaded" : "not loaded", p->gen);
    for (struct pmap_item *it = pmap_first(&p->base_files); it; it = pmap_next(&p->base_files, it))
        fprintf(f, "  base %s %" PRId64 "\n", it->key, ((struct persist_rentry *)it->val)->size);
    for (struct pmap_item *it = pmap_first(&p->landed); it; it = pmap_next(&p->landed, it))
        fprintf(f, "  landed %s\n", it->key);
    for (struct pmap_item *it = pmap_first(&p->changes); it; it = pmap_next(&p->changes, it)) {
        struct pchange *c = it->val;
        fprintf(f, "  change %c %s gen %" PRIu64 "%s size %" PRId64 " ovl %" PRIu64 "\n",
                kinds[c->kind], it->key, c->gen, c->synced ? " synced" : "", c->size, c->ovl);
    }
    for (struct pfile *pf = p->files; pf; pf = pf->next)
        fprintf(f, "  open %s refs %u fd %d work %" PRIu64 "%s size %" PRId64 "\n",
                pf->path ? pf->path : "(detached)", pf->refs, pf->fd, pf->work,
                pf->dirty ? " dirty" : "", pf->size);
    pthread_mutex_unlock(&p->lock);
}

int persist_debug_verify(struct persist *p)
{
    struct pmap kept;
    int bad = 0;

    pthread_mutex_lock(&p->lock);
    if (!p->index_broken) {
        kept = p->below;
        pmap_init(&p->below);
        persist_index_rebuild(p);
        for (struct pmap_item *it = pmap_first(&kept); it; it = pmap_next(&kept, it))
            bad |= pmap_get(&p->below, it->key) != it->val;
        bad |= kept.n != p->below.n;
        pmap_clear(&kept, NULL);
    }
    pthread_mutex_unlock(&p->lock);
    return bad ? -EIO : 0;
}
