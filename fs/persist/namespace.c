/* Namespace operations on the view: attributes, listings, mkdir, rmdir, unlink, rename (a
 * directory rename moves every change below it). Lock held. */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

/* ---- the last hide: libfuse hides an open file (renames it to ".fuse_hidden...") both when it
 * is unlinked and when a rename replaces it, and in the second case before it asks us for that
 * rename. A rename we refuse (RENAME_WHITEOUT) must then put the file back, or its content goes
 * with its last close. The two cases look alike here; they differ in what follows: the rename
 * comes at once, while a later rename onto an unlinked name is preceded by the kernel's lookup
 * of that name (its dentry went with the unlink), which forgets the hide. ------------------- */
static void hide_forget(struct persist *p)
{
    free(p->last_hide.path);
    free(p->last_hide.hidden);
    memset(&p->last_hide, 0, sizeof(p->last_hide));
}

/* np is about to be hidden as `hidden`: what putting it back needs. */
static void hide_remember(struct persist *p, const char *np, const char *hidden)
{
    struct pmeta *m = persist_meta_get(p, np);
    struct stat st;

    hide_forget(p);
    persist_fill_stat(p, np, PERSIST_KIND_FILE, &st);
    p->last_hide.mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (m)
        p->last_hide.meta = *m;
    p->last_hide.path = strdup(np);
    p->last_hide.hidden = strdup(hidden);
    if (!p->last_hide.path || !p->last_hide.hidden)
        hide_forget(p); /* no memory: nothing to put back */
}

/* A rename onto np is refused: if np's open file was hidden for it, it is np again. */
static void hide_undo(struct persist *p, const char *np)
{
    struct pfile *f;
    struct pmeta *m;
    int rc;

    if (!p->last_hide.path || strcmp(p->last_hide.path, np) != 0 ||
        persist_node_kind(p, np) != PERSIST_KIND_NONE ||
        !(f = persist_hidden_find(p, p->last_hide.hidden)) || f->path)
        return;
    /* libfuse's node keeps the hidden name (it renamed it before asking us), so the kernel may
     * stat and open the file by that name until its dentry is looked up again: an alias */
    if ((rc = persist_pfile_relink(p, f, np, p->last_hide.mtime)) == 0) {
        char *to = strdup(np);
        if (!to || persist_map_put(&p->hide_alias, p->last_hide.hidden, to) < 0)
            free(to);
        if ((m = persist_meta_want(p, np)))
            *m = p->last_hide.meta;
        persist_meta_touch(p);
    } else {
        persist_log(p, SPACEFS_ERROR,
                    "persist: %s: a refused rename could not put the open file back (%s); its "
                    "content stays readable through its open descriptors until they close",
                    np, strerror(-rc));
    }
}

int persist_getattr(struct persist *p, const char *path, struct stat *st)
{
    const char *at;
    struct pfile *f;
    char *np;
    int rc, k;

    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if ((rc = persist_prov_learn(p, np, 0)) < 0) /* before the first fetch: from the Hub's API */
        goto out;
    if (p->last_hide.path && !strcmp(p->last_hide.path, np))
        hide_forget(p); /* looked up again: the hide was an unlink's (see hide_forget) */
    if ((at = persist_map_get(&p->hide_alias, np)) && (k = persist_node_kind(p, at))) {
        persist_fill_stat(p, at, k, st); /* see hide_undo */
        if (persist_hidden_find(p, np))
            st->st_nlink++; /* libfuse's node is still hidden while open: it takes one off */
    } else if ((k = persist_node_kind(p, np)) == PERSIST_KIND_NONE &&
               (f = persist_hidden_find(p, np))) {
        persist_detached_stat(p, f, st);
        st->st_nlink = 1; /* libfuse takes one off for its hidden nodes: fstat shows 0 */
    } else if (k == PERSIST_KIND_NONE && !(rc = persist_check_ancestors(p, np)))
        rc = persist_absent(p, np);
    else if (rc == 0)
        persist_fill_stat(p, np, k, st);
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

/* Adds the child name of `key` below `dir` to `names` (if key is below dir). */
static int collect_child(struct pmap *names, const char *key, const char *dir)
{
    const char *rest, *slash;
    char *name;
    int rc;

    if (!persist_path_below(key, dir))
        return 0;
    rest = key + (*dir ? strlen(dir) + 1 : 0);
    slash = strchr(rest, '/');
    if (!(name = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest)))
        return -ENOMEM;
    rc = persist_map_get(names, name) ? 0 : persist_map_put(names, name, name);
    if (rc || persist_map_get(names, name) != name)
        free(name);
    return rc;
}

int persist_readdir(struct persist *p, const char *path, persist_fill_fn fill, void *payload)
{
    struct pmap names;
    struct pmap_item *it;
    char *np, *child = NULL;
    int rc, k;

    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    persist_map_init(&names);
    pthread_mutex_lock(&p->lock);
    /* before the first fetch: only lookups and new names go on (provisional.c) */
    if ((rc = persist_await_base_unless_local(p, np, NULL)) < 0 ||
        (rc = persist_names_known(p)) < 0) /* a listing would miss the Dataset's names */
        goto out;
    k = persist_node_kind(p, np);
    if (k != PERSIST_KIND_DIR) {
        rc = k == PERSIST_KIND_NONE ? -ENOENT : -ENOTDIR;
        goto out;
    }
    for (it = persist_map_first(&p->changes); it && !rc; it = persist_map_next(&p->changes, it))
        rc = collect_child(&names, it->key, np);
    for (it = persist_map_first(&p->base_files); it && !rc;
         it = persist_map_next(&p->base_files, it))
        rc = collect_child(&names, it->key, np);
    for (it = persist_map_first(&names); it && !rc; it = persist_map_next(&names, it)) {
        struct stat st;
        free(child);
        if (asprintf(&child, "%s%s%s", np, *np ? "/" : "", it->key) < 0) {
            child = NULL;
            rc = -ENOMEM;
            break;
        }
        if ((k = persist_node_kind(p, child)) == PERSIST_KIND_NONE)
            continue;
        persist_fill_stat(p, child, k, &st);
        if (fill(it->key, &st, payload))
            break;
    }
out:
    pthread_mutex_unlock(&p->lock);
    persist_map_clear(&names, free);
    free(child);
    free(np);
    return rc;
}

int persist_mkdir(struct persist *p, const char *path, mode_t mode)
{
    struct pchange *c;
    char *np;
    int rc;

    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    /* before the first fetch: only lookups and new names go on (provisional.c) */
    if ((rc = persist_await_base_unless_local(p, np, NULL)) < 0 ||
        (rc = persist_check_ancestors(p, np)) < 0 || (rc = persist_writable(p)) < 0)
        goto out;
    if (persist_node_kind(p, np) != PERSIST_KIND_NONE) {
        rc = -EEXIST;
        goto out;
    }
    if ((rc = persist_names_known(p)) < 0 || (rc = persist_parent_is_dir(p, np)) < 0)
        goto out;
    if (!(c = persist_dir_change(p, np))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = persist_change_set(p, np, c)) == 0) {
        struct pmeta *m = persist_meta_want(p, np);
        if (m) {
            m->mode = S_IFDIR | (mode & 07777);
            m->mtime = m->ctime = persist_now_ns();
        }
        persist_parent_touch(p, np);
        persist_meta_touch(p);
        rc = persist_journal_write(p);
    }
    persist_changed(p);
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

/* unlink(2) of np (lock held); `hidden`: the open file's name from now on (see
 * spacefs_hidden_name), NULL for a plain unlink. */
static int unlink_locked(struct persist *p, const char *np, const char *hidden)
{
    struct pfile *f = persist_pfile_find(p, np);
    char *h = NULL;
    int rc;

    if (hidden && (!f || !(h = strdup(hidden))))
        return f ? -ENOMEM : -EINVAL;
    if (f) { /* open handles keep reading and writing, unlinked */
        persist_pfile_detach(p, f);
        if (h) {
            free(f->hidden);
            f->hidden = h;
        }
    }
    persist_ino_drop(p, np); /* a new file there is another file */
    rc = persist_remove_file(p, np);
    if (rc == 0 && (rc = persist_keep_parent(p, np)) == 0) {
        persist_meta_drop(p, np);
        persist_parent_touch(p, np);
        persist_meta_touch(p);
        rc = persist_journal_write(p);
    }
    persist_changed(p);
    return rc;
}

/* unlink(2) (dir 0) and rmdir(2) (dir 1). */
static int remove_entry(struct persist *p, const char *path, int dir)
{
    struct pfile *f;
    char *np;
    int rc, k;

    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    /* before the first fetch: only lookups and new names go on (provisional.c) */
    if ((rc = persist_await_base_unless_local(p, np, NULL)) < 0)
        goto out;
    if (!dir && (f = persist_hidden_find(p, np)) && persist_node_kind(p, np) == PERSIST_KIND_NONE) {
        free(f->hidden); /* libfuse's unlink after the last close, or someone's rm */
        f->hidden = NULL;
        goto out;
    }
    if (!*np) {
        rc = dir ? -EBUSY : -EISDIR;
        goto out;
    }
    if ((rc = persist_check_ancestors(p, np)) < 0 || (rc = persist_writable(p)) < 0)
        goto out;
    if ((k = persist_node_kind(p, np)) != (dir ? PERSIST_KIND_DIR : PERSIST_KIND_FILE)) {
        rc = k == PERSIST_KIND_NONE ? persist_absent(p, np) : dir ? -ENOTDIR : -EISDIR;
        goto out;
    }
    if (dir && persist_has_visible_below(p, np)) {
        rc = -ENOTEMPTY;
        goto out;
    }
    if (!dir) {
        rc = unlink_locked(p, np, NULL);
        goto out;
    }
    persist_ino_drop(p, np);
    /* a directory has a change only when it is local (a whiteout if a base file hid under it) */
    rc = !persist_map_get(&p->changes, np) ? 0 : persist_remove_file(p, np);
    if (rc == 0 && (rc = persist_keep_parent(p, np)) == 0) {
        persist_meta_drop(p, np);
        persist_parent_touch(p, np);
        persist_meta_touch(p);
        rc = persist_journal_write(p);
    }
    persist_changed(p);
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
    struct pchange *src = persist_map_get(&p->changes, from), *c;
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
        e = persist_map_get(&p->base_files, from);
        c->ref = *e;
        c->size = e->size;
        c->mtime = e->mtime;
        if (!(c->ref.path = strdup(from))) {
            free(c);
            return -ENOMEM;
        }
    }
    if ((f = persist_pfile_find(p, to)))
        persist_pfile_detach(p, f);
    if ((rc = persist_change_set(p, to, c)) < 0)
        return rc;
    if (src)
        src->ovl = 0; /* now owned by `to`; do not delete it with the old change */
    if ((f = persist_pfile_find(p, from))) {
        char *s = strdup(to);
        if (!s)
            return -ENOMEM;
        free(f->path);
        f->path = s;
    }
    return persist_remove_file(p, from);
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
        for (it = persist_map_first(m); it && !rc; it = persist_map_next(m, it)) {
            if (!persist_path_below(it->key, from))
                continue;
            if (pass ? !persist_base_visible(p, it->key)
                     : ((struct pchange *)it->val)->kind == PC_WHITEOUT)
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
        struct pchange *c = persist_map_get(&p->changes, v[i]);
        if (asprintf(&dst, "%s%s", to, v[i] + flen) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (c && c->kind == PC_DIR) {
            struct pchange *d = persist_dir_change(p, dst);
            if (!d)
                rc = -ENOMEM;
            else if ((rc = persist_change_set(p, dst, d)) == 0)
                rc = persist_remove_file(p, v[i]);
        } else {
            rc = move_file(p, v[i], dst);
        }
        free(dst);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    if (!rc && persist_map_get(&p->changes, from)) { /* the directory itself was local */
        struct pchange *d = persist_dir_change(p, to);
        if (!d)
            return -ENOMEM;
        if ((rc = persist_remove_file(p, from)) == 0)
            rc = persist_change_set(p, to, d);
    }
    if (!rc && persist_node_kind(p, to) == PERSIST_KIND_NONE) {
        struct pchange *d = persist_dir_change(p, to);
        if (!d)
            return -ENOMEM;
        rc = persist_change_set(p, to, d);
    }
    return rc;
}

int persist_rename(struct persist *p, const char *from, const char *to, unsigned flags)
{
    char *nf = NULL, *nt = NULL;
    int rc, kf, kt, just_hidden; /* just_hidden: nt is the open file libfuse hid for this rename */

    if ((rc = persist_path_norm(from, &nf)) < 0 || (rc = persist_path_norm(to, &nt)) < 0)
        goto done;
    pthread_mutex_lock(&p->lock);
    /* before the first fetch: only lookups and new names go on (provisional.c) */
    if ((rc = persist_await_base_unless_local(p, nf, nt)) < 0)
        goto out;
    just_hidden = p->last_hide.path && !strcmp(p->last_hide.path, nt);
    if (flags & ~1u) { /* RENAME_EXCHANGE, RENAME_WHITEOUT: not implemented, so refused */
        hide_undo(p, nt);
        hide_forget(p);
        rc = -EINVAL;
        goto out;
    }
    hide_forget(p);
    if ((rc = persist_writable(p)) < 0)
        goto out;
    if (!*nf || !*nt) {
        rc = -EBUSY;
        goto out;
    }
    if ((rc = persist_check_ancestors(p, nf)) < 0 || (rc = persist_check_ancestors(p, nt)) < 0)
        goto out;
    if ((kf = persist_node_kind(p, nf)) == PERSIST_KIND_NONE) {
        rc = persist_absent(p, nf);
        goto out;
    }
    if (!strcmp(nf, nt))
        goto out;
    if (persist_path_below(nt, nf)) {
        rc = -EINVAL;
        goto out;
    }
    if (persist_path_below(nf, nt)) { /* onto an ancestor: it is not empty */
        rc = -ENOTEMPTY;
        goto out;
    }
    if ((rc = persist_parent_is_dir(p, nt)) < 0)
        goto out;
    kt = persist_node_kind(p, nt);
    if (kf == PERSIST_KIND_FILE && kt == PERSIST_KIND_NONE && spacefs_hidden_name(nt) &&
        persist_pfile_find(p, nf) && !persist_hidden_find(p, nt)) {
        hide_remember(p, nf, nt);
        rc = unlink_locked(p, nf, nt); /* libfuse hides a file unlinked while open */
        goto out;
    }
    if (kt != PERSIST_KIND_NONE && (flags & 1 /* RENAME_NOREPLACE */)) {
        rc = -EEXIST;
        goto out;
    }
    if (kt == PERSIST_KIND_NONE && !just_hidden && (rc = persist_names_known(p)) < 0)
        goto out; /* the Dataset may have a file there, which this would replace */
    if (kf == PERSIST_KIND_FILE && kt == PERSIST_KIND_DIR) {
        rc = -EISDIR;
        goto out;
    }
    if (kf == PERSIST_KIND_DIR && kt == PERSIST_KIND_FILE) {
        rc = -ENOTDIR;
        goto out;
    }
    if (kt == PERSIST_KIND_DIR) {
        if (persist_has_visible_below(p, nt)) {
            rc = -ENOTEMPTY;
            goto out;
        }
        if (persist_map_get(&p->changes, nt) && (rc = persist_remove_file(p, nt)) < 0)
            goto out;
    }
    rc = kf == PERSIST_KIND_FILE ? move_file(p, nf, nt) : move_dir(p, nf, nt);
    if (!rc) {
        persist_ino_move(p, nf, nt, kf == PERSIST_KIND_DIR);
        rc = persist_keep_parent(p, nf);
    }
    for (struct pfile *f = p->files; !rc && kf == PERSIST_KIND_DIR && f; f = f->next) {
        char *s = NULL; /* hidden names below the directory move with it (libfuse's paths do) */
        if (f->hidden && persist_path_below(f->hidden, nf) &&
            asprintf(&s, "%s%s", nt, f->hidden + strlen(nf)) >= 0) {
            free(f->hidden);
            f->hidden = s;
        }
    }
    if (!rc) {
        struct pmeta *m;
        persist_meta_move(p, nf, nt, kf == PERSIST_KIND_DIR);
        if ((m = persist_meta_want(p, nt)))
            m->ctime = persist_now_ns(); /* as Linux: rename changes the inode's ctime */
        persist_parent_touch(p, nf);
        persist_parent_touch(p, nt);
        persist_meta_touch(p);
        rc = persist_journal_write(p);
    }
    persist_changed(p);
out:
    pthread_mutex_unlock(&p->lock);
done:
    free(nf);
    free(nt);
    return rc;
}

/* symlink(2): a small file holding the target (what any other client of the Dataset sees) that
 * the manifest marks as a link. */
int persist_symlink(struct persist *p, const char *target, const char *path)
{
    struct persist_handle *h;
    size_t len = strlen(target);
    struct pmeta *m;
    char *np;
    long w;
    int rc;

    if (!len)
        return -ENOENT;
    if (len >= 4096)
        return -ENAMETOOLONG;
    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    if ((rc = persist_file_open(p, np, O_WRONLY | O_CREAT | O_EXCL, 0777, &h)) < 0)
        goto done;
    w = persist_write(p, h, target, len, 0);
    pthread_mutex_lock(&p->lock);
    persist_await_base_unless_local(p, np, NULL); /* before the first fetch (provisional.c) */
    if ((m = persist_meta_want(p, np)))
        m->mode = S_IFLNK | 0777;
    else if (w >= 0)
        w = -ENOMEM;
    pthread_mutex_unlock(&p->lock);
    rc = persist_release(p, h);
    if (w < 0 || (size_t)w != len) {
        persist_unlink(p, np); /* never leave a half link behind */
        rc = w < 0 ? (int)w : -EIO;
    }
done:
    free(np);
    return rc;
}

/* readlink(2): the target, NUL-terminated, cut to size - 1 bytes. */
int persist_readlink(struct persist *p, const char *path, char *buf, size_t size)
{
    struct persist_handle *h;
    struct pmeta *m;
    char *np;
    long n = 0;
    int rc, k;

    if (!size)
        return -EINVAL;
    if ((rc = persist_path_norm(path, &np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    /* before the first fetch: only lookups and new names go on (provisional.c) */
    rc = persist_await_base_unless_local(p, np, NULL);
    k = persist_node_kind(p, np);
    m = persist_meta_get(p, np);
    rc = rc < 0                                            ? rc
         : k == PERSIST_KIND_NONE                          ? persist_absent(p, np)
         : k == PERSIST_KIND_FILE && m && S_ISLNK(m->mode) ? 0
                                                           : -EINVAL;
    pthread_mutex_unlock(&p->lock);
    if (rc == 0 && (rc = persist_file_open(p, np, O_RDONLY, 0, &h)) == 0) {
        n = persist_read(p, h, buf, size - 1, 0);
        persist_release(p, h);
        rc = n < 0 ? (int)n : 0;
    }
    buf[n > 0 ? n : 0] = '\0';
    free(np);
    return rc;
}
