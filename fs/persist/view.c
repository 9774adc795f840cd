/* The engine's view: the base tree (a commit) with the changes on top, as paths. Path rules,
 * the directory index (how many visible entries lie below a directory), what a path is now
 * (file, directory, nothing), and setting a change (which the journal records). Lock held. */
#include "persist_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "/a//b/" -> "a/b"; "" is the root. Refuses ".", ".." (EINVAL), ".git" and a top-level
 * ".spacefs" (EPERM) components and
 * names the Hub refuses: control characters (CR, LF, tab …), DEL and backslash (EINVAL). *out new.
 */
int persist_path_norm(const char *in, char **out)
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
            (len == 4 && !memcmp(p, ".git", 4)) ||
            (!w && len == sizeof(PERSIST_RESERVED) - 1 && !memcmp(p, PERSIST_RESERVED, len))) {
            free(s); /* .spacefs at the top holds the metadata manifest: reserved */
            return len <= 2 ? -EINVAL : -EPERM;
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
int persist_path_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (!n)
        return *path != '\0';
    return !strncmp(path, dir, n) && path[n] == '/';
}

struct pfile *persist_pfile_find(struct persist *p, const char *path)
{
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->path && !strcmp(f->path, path))
            return f;
    return NULL;
}

/* A base file shows unless a change sits on its path (a FILE change shows instead). */
int persist_base_visible(struct persist *p, const char *path)
{
    return persist_map_get(&p->base_files, path) && !persist_map_get(&p->changes, path);
}

/* Does `path` itself count: a file or local directory change, or a base file without one? */
static int entry_counts(struct persist *p, const char *path, const struct pchange *c)
{
    return c ? c->kind != PC_WHITEOUT : persist_map_get(&p->base_files, path) != NULL;
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
        n = (uintptr_t)persist_map_get(&p->below, s) + (uintptr_t)(intptr_t)delta;
        if (!n)
            persist_map_del(&p->below, s);
        else if (persist_map_put(&p->below, s, (void *)n) < 0)
            p->index_broken = 1;
    }
    free(s);
}

static void dirs_update(struct persist *p, const char *path);

void persist_index_rebuild(struct persist *p)
{
    persist_map_clear(&p->below, NULL);
    p->index_broken = 0;
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it))
        index_add(p, it->key, entry_counts(p, it->key, it->val));
    for (struct pmap_item *it = persist_map_first(&p->base_files); it;
         it = persist_map_next(&p->base_files, it))
        if (!persist_map_get(&p->changes, it->key))
            index_add(p, it->key, 1);
    /* the link counts: every path and its ancestors, once the index is whole */
    persist_map_clear(&p->dirs, NULL);
    persist_map_clear(&p->subdirs, NULL);
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it))
        dirs_update(p, it->key);
    for (struct pmap_item *it = persist_map_first(&p->base_files); it;
         it = persist_map_next(&p->base_files, it))
        dirs_update(p, it->key);
}

/* Any visible file or local directory strictly below dir? */
int persist_has_visible_below(struct persist *p, const char *dir)
{
    if (!p->index_broken)
        return persist_map_get(&p->below, dir) != NULL;
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if (c->kind != PC_WHITEOUT && persist_path_below(it->key, dir))
            return 1;
    }
    for (struct pmap_item *it = persist_map_first(&p->base_files); it;
         it = persist_map_next(&p->base_files, it))
        if (persist_path_below(it->key, dir) && !persist_map_get(&p->changes, it->key))
            return 1;
    return 0;
}

/* Before the first fetch (provisional.c): a directory a lookup found, which nothing of the
 * partial view may lie below yet. */
int persist_prov_is_dir(struct persist *p, const char *path)
{
    return p->provisional && persist_map_get(&p->prov_dirs, path) != NULL;
}

int persist_node_kind(struct persist *p, const char *path)
{
    struct pchange *c;

    if (!*path)
        return PERSIST_KIND_DIR;
    c = persist_map_get(&p->changes, path);
    if (c && c->kind == PC_FILE)
        return PERSIST_KIND_FILE;
    if (c && c->kind == PC_DIR)
        return PERSIST_KIND_DIR;
    if (!c && persist_map_get(&p->base_files, path))
        return PERSIST_KIND_FILE;
    if (persist_has_visible_below(p, path))
        return PERSIST_KIND_DIR;
    return !c && persist_prov_is_dir(p, path) ? PERSIST_KIND_DIR : PERSIST_KIND_NONE;
}

int persist_writable(struct persist *p)
{
    if (p->vis != VIS_PUBLIC || p->cfg.allow_public)
        return 0;
    if (!p->log_public_once++)
        persist_log(p, SPACEFS_ERROR,
                    "persist: the Dataset is public; refusing to write (EACCES). Make it private "
                    "or allow public persist repos.");
    return -EACCES;
}

/* A fresh cache whose first fetch failed does not know what the Dataset holds: a name it does
 * not have may well be there. Answering ENOENT would make a restore (`cp persist/app.db .`, `[ -f
 * persist/app.db ] || init`) find nothing and start afresh, and the new file would then replace
 * the Dataset's at the next commit (a local write wins). Such a name fails with the fetch's errno
 * instead (EHOSTUNREACH offline, EIO for a broken answer), as a never-fetched Space file does;
 * what was written here stays readable and writable. While the Hub's API answers lookups for the
 * first fetch (provisional.c) and once any base was loaded, the view is the answer. */
int persist_names_known(struct persist *p)
{
    return p->seen_base || p->provisional || !p->last_errno ? 0 : -p->last_errno;
}

int persist_absent(struct persist *p, const char *path)
{
    int rc = spacefs_hidden_name(path) ? 0 : persist_names_known(p); /* libfuse's: never remote */
    return rc < 0 ? rc : -ENOENT;
}

void persist_changed(struct persist *p)
{
    p->last_change_ms = spacefs_now_ms();
    if (!p->pending_since_ms)
        p->pending_since_ms = p->last_change_ms;
    pthread_cond_broadcast(&p->cond);
}

/* Overlay file `id` lost a user: if nothing uses it any more, it is deleted after the next
 * journal write (until then the journal on disk may still name it; a crash must find it). An
 * id is used by at most one change (a rename moves it) and by the open files writing to it;
 * `path` is the only path whose change may still hold it (NULL: none), so this is O(open
 * files), not O(changes). */
void persist_ovl_release(struct persist *p, uint64_t id, const char *path)
{
    struct pchange *c = path ? persist_map_get(&p->changes, path) : NULL;

    if (!id || (c && c->ovl == id))
        return;
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->work == id)
            return;
    persist_ovl_garbage(p, id);
}

int persist_change_set(struct persist *p, const char *path, struct pchange *c)
{
    struct pchange *old = persist_map_del(&p->changes, path);
    int rc = 0, before = entry_counts(p, path, old);

    persist_journal_touch(p, path);
    if (c) {
        c->gen = ++p->gen;
        if (!c->mtime)
            c->mtime = persist_now_ns();
        if ((rc = persist_map_put(&p->changes, path, c)) < 0) {
            persist_change_free(c);
            c = NULL;
        }
    }
    index_add(p, path, entry_counts(p, path, c) - before);
    dirs_update(p, path);
    if (old) {
        uint64_t id = old->ovl;
        persist_change_free(old);
        persist_ovl_release(p, id, path);
    }
    return rc;
}

/* Does the remote have `path` as far as we know: in the base, or put by a commit of ours that
 * the base does not show yet (the landed set)? */
static int remote_has(struct persist *p, const char *path)
{
    return persist_map_get(&p->base_files, path) || persist_map_get(&p->landed, path);
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
    struct pchange *cur = persist_map_get(&p->changes, path);

    return remote_has(p, path) || (cur && cur->kind == PC_FILE && (cur->synced || p->uploading)) ||
           (cur && (cur->kind == PC_WHITEOUT || (cur->kind == PC_DIR && !cur->synced)));
}

/* Removes the file at `path` from the view: a whiteout when the remote may have it. */
int persist_remove_file(struct persist *p, const char *path)
{
    struct pchange *c = NULL;

    if (remote_may_have(p, path)) {
        if (!(c = calloc(1, sizeof(*c))))
            return -ENOMEM;
        c->kind = PC_WHITEOUT;
    }
    return persist_change_set(p, path, c);
}

/* A new local-directory change for `path`. Where the remote may have a file it is unsynced:
 * the commit must delete that file. */
struct pchange *persist_dir_change(struct persist *p, const char *path)
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
    if (!*dir || persist_node_kind(p, dir) != PERSIST_KIND_NONE)
        return 0;
    if (!(c = persist_dir_change(p, dir)))
        return -ENOMEM;
    return persist_change_set(p, dir, c);
}

int persist_keep_parent(struct persist *p, const char *path)
{
    char *parent = path_parent(path);
    int rc = parent ? keep_dir(p, parent) : -ENOMEM;
    free(parent);
    return rc;
}

/* Every ancestor of path must be a directory: -ENOENT / -ENOTDIR as path resolution says. */
int persist_check_ancestors(struct persist *p, const char *path)
{
    char *s = strdup(path);
    int rc = 0;

    if (!s)
        return -ENOMEM;
    for (char *q = strchr(s, '/'); q && !rc; q = strchr(q + 1, '/')) {
        int k;
        *q = '\0';
        k = persist_node_kind(p, s);
        *q = '/';
        rc = k == PERSIST_KIND_NONE ? persist_absent(p, s) : k == PERSIST_KIND_FILE ? -ENOTDIR : 0;
    }
    free(s);
    return rc;
}

int persist_parent_is_dir(struct persist *p, const char *path)
{
    return persist_check_ancestors(p, path);
}

/* ---- directory link counts ------------------------------------------------------------------
 * A directory's st_nlink is 2 + its direct subdirectories (find and du use it to skip stat on
 * leaves). A change at `path` can make path or any of its ancestors start or stop being a
 * directory (an implicit one exists while something lies below it), so each of them is checked
 * against p->dirs and its parent's count in p->subdirs adjusted: O(depth), as the index. */
static void subdirs_add(struct persist *p, const char *dir, int delta)
{
    const char *slash = strrchr(dir, '/');
    char *parent = slash ? strndup(dir, (size_t)(slash - dir)) : strdup("");
    uintptr_t n;

    if (!parent)
        return;
    n = (uintptr_t)persist_map_get(&p->subdirs, parent) + (uintptr_t)(intptr_t)delta;
    if (!n)
        persist_map_del(&p->subdirs, parent);
    else
        persist_map_put(&p->subdirs, parent, (void *)n); /* no memory: a wrong count, no harm */
    free(parent);
}

static void dirs_update(struct persist *p, const char *path)
{
    char *s = strdup(path);
    size_t len;

    if (!s)
        return;
    for (len = strlen(s); len > 0;) {
        int is = persist_node_kind(p, s) == PERSIST_KIND_DIR, was = !!persist_map_get(&p->dirs, s);
        char *slash;
        if (is && !was && persist_map_put(&p->dirs, s, (void *)1) == 0)
            subdirs_add(p, s, 1);
        else if (!is && was) {
            persist_map_del(&p->dirs, s);
            subdirs_add(p, s, -1);
        }
        if (!(slash = strrchr(s, '/')))
            break;
        *slash = '\0';
        len = (size_t)(slash - s);
    }
    free(s);
}

/* ---- inode numbers ---------------------------------------------------------------------------
 * One counter for the process: numbers are unique across engines and never reused while the
 * mount lives. The router numbers the rest of the mount with 1 (the root) and hashes of paths
 * with bit 62 set, so the two never meet. */
static _Atomic uint64_t ino_next = 16;

uint64_t persist_ino(struct persist *p, const char *path)
{
    uint64_t ino = (uintptr_t)persist_map_get(&p->inos, path);

    if (!ino) {
        ino = atomic_fetch_add(&ino_next, 1);
        persist_map_put(&p->inos, path, (void *)(uintptr_t)ino); /* no memory: not kept */
    }
    return ino;
}

void persist_ino_drop(struct persist *p, const char *path)
{
    persist_map_del(&p->inos, path);
}

void persist_ino_move(struct persist *p, const char *from, const char *to, int dir)
{
    size_t n = 0, cap = 0, flen = strlen(from);
    struct pmap_item *it;
    char **keys = NULL;
    void *v;

    if (!dir) {
        if ((v = persist_map_del(&p->inos, from)) && persist_map_put(&p->inos, to, v) < 0)
            persist_map_del(&p->inos, to);
        else if (!v)
            persist_map_del(&p->inos, to);
        return;
    }
    /* the directory and everything below it: collect first (no put/del while iterating) */
    for (it = persist_map_first(&p->inos); it; it = persist_map_next(&p->inos, it)) {
        if (strcmp(it->key, from) && !persist_path_below(it->key, from) && strcmp(it->key, to) &&
            !persist_path_below(it->key, to))
            continue;
        if (n == cap) {
            char **nk = realloc(keys, (cap = cap ? cap * 2 : 16) * sizeof(*keys));
            if (!nk)
                break;
            keys = nk;
        }
        if ((keys[n] = strdup(it->key)))
            n++;
    }
    for (size_t i = 0; i < n; i++) /* what `to` held is gone (it was an empty directory) */
        if (!strcmp(keys[i], to) || persist_path_below(keys[i], to))
            persist_map_del(&p->inos, keys[i]);
    for (size_t i = 0; i < n; i++) {
        char *dst = NULL;
        if (strcmp(keys[i], from) && !persist_path_below(keys[i], from))
            continue;
        v = persist_map_del(&p->inos, keys[i]);
        if (v && asprintf(&dst, "%s%s", to, keys[i] + flen) >= 0)
            persist_map_put(&p->inos, dst, v);
        free(dst);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

void persist_nlink_free(struct persist *p)
{
    persist_map_clear(&p->dirs, NULL);
    persist_map_clear(&p->subdirs, NULL);
    persist_map_clear(&p->inos, NULL);
}

/* ---- hidden names ----------------------------------------------------------------------------
 * With hard_remove off, libfuse unlinks a file that is still open by renaming it to
 * ".fuse_hidden%08x%08x" in its directory and unlinks that name after the last close; stat,
 * chmod and utimens on the open file reach us by that path (the kernel sends them without a
 * file handle). persist_rename treats a rename of an open file onto such a name as an unlink
 * that keeps the name answering for the open file (struct pfile's hidden). */
struct pfile *persist_hidden_find(struct persist *p, const char *path)
{
    if (!spacefs_hidden_name(path))
        return NULL;
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->hidden && !strcmp(f->hidden, path))
            return f;
    return NULL;
}
