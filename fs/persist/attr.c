/* A path's attributes: what stat(2) shows (its kind and mode from the metadata, manifest.c;
 * size; times in ns; link count from the view's directory counts and inode number, view.c), and
 * what changes them without a change of content: utimens, chmod and relatime's atime. Lock held,
 * except by the persist.h calls, which take it. */
#include "persist_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t file_size(struct persist *p, const char *path)
{
    struct pfile *f = persist_pfile_find(p, path);
    struct pchange *c = persist_map_get(&p->changes, path);
    struct persist_rentry *e;

    if (f && f->work)
        return f->size;
    if (c)
        return c->size;
    e = persist_map_get(&p->base_files, path);
    return e ? e->size : 0;
}

void persist_fill_stat(struct persist *p, const char *path, int kind, struct stat *st)
{
    struct pchange *c = persist_map_get(&p->changes, path);
    struct persist_rentry *e = c ? NULL : persist_map_get(&p->base_files, path);
    struct pmeta *m = persist_meta_get(p, path);
    int64_t mtime;

    memset(st, 0, sizeof(*st));
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mode = persist_meta_mode(p, path, kind);
    st->st_ino = (ino_t)persist_ino(p, path);
    if (kind == PERSIST_KIND_DIR) {
        mtime = m ? m->mtime : 0;
        st->st_nlink = 2 + (nlink_t)(uintptr_t)persist_map_get(&p->subdirs, path);
        if (p->provisional)   /* before the first fetch the subdirectories are not all known: */
            st->st_nlink = 1; /* "unknown" to find and fts, as persist/ of an unopened engine */
    } else {
        mtime = c && c->kind == PC_FILE ? c->mtime : e ? e->mtime : 0;
        st->st_nlink = 1;
        st->st_size = file_size(p, path);
        st->st_blocks = (st->st_size + 511) / 512;
    }
    /* ctime: the last change of metadata or content (never before the mtime a write set);
     * atime: as relatime keeps it (persist_atime_touch), else the mtime */
    persist_stat_time(&st->st_mtim, mtime);
    persist_stat_time(&st->st_ctim, m && m->ctime > mtime ? m->ctime : mtime);
    persist_stat_time(&st->st_atim, m && m->atime ? m->atime : mtime);
}

/* One time of utimensat(2): UTIME_NOW, UTIME_OMIT (INT64_MIN) or the time in ns. */
static int64_t ts_ns(const struct timespec *tv, int64_t now)
{
    if (!tv || tv->tv_nsec == UTIME_NOW)
        return now;
    if (tv->tv_nsec == UTIME_OMIT)
        return INT64_MIN;
    return (int64_t)tv->tv_sec * PERSIST_NS + tv->tv_nsec;
}

/* The start of utimens and chmod: path normalised into *np, the lock taken, the base awaited
 * unless the name is local (before the first fetch only lookups and new names go on,
 * provisional.c), the ancestors checked, *kind the node's. 0 with the lock held; -errno with it
 * released and nothing to free. */
static int attr_begin(struct persist *p, const char *path, char **np, int *kind)
{
    int rc;

    if ((rc = persist_path_norm(path, np)) < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if ((rc = persist_await_base_unless_local(p, *np, NULL)) < 0 ||
        (rc = persist_check_ancestors(p, *np)) < 0) {
        pthread_mutex_unlock(&p->lock);
        free(*np);
        return rc;
    }
    *kind = persist_node_kind(p, *np);
    return 0;
}

int persist_utimens(struct persist *p, const char *path, const struct timespec tv[2])
{
    int64_t now = persist_now_ns(), atime = ts_ns(tv ? &tv[0] : NULL, now),
            mtime = ts_ns(tv ? &tv[1] : NULL, now);
    struct persist_rentry *e;
    struct pchange *c;
    struct pmeta *m;
    struct pfile *f;
    char *np;
    int rc, k;

    if (tv && ((tv[0].tv_nsec != UTIME_NOW && tv[0].tv_nsec != UTIME_OMIT &&
                (tv[0].tv_nsec < 0 || tv[0].tv_nsec >= PERSIST_NS)) ||
               (tv[1].tv_nsec != UTIME_NOW && tv[1].tv_nsec != UTIME_OMIT &&
                (tv[1].tv_nsec < 0 || tv[1].tv_nsec >= PERSIST_NS))))
        return -EINVAL;
    if ((rc = attr_begin(p, path, &np, &k)) < 0)
        return rc;
    if (k == PERSIST_KIND_NONE) {
        if ((f = persist_hidden_find(p, np)) && mtime != INT64_MIN)
            f->mtime = mtime; /* futimens(2) of a file unlinked while open (libfuse's name) */
        rc = f ? 0 : persist_absent(p, np);
        goto out;
    }
    if ((rc = persist_writable(p)) < 0)
        goto out;
    if (atime == INT64_MIN && mtime == INT64_MIN)
        goto out; /* both omitted: nothing changes, not even ctime */
    if (!*np)
        goto out; /* persist/ itself keeps no time */
    if (!(m = persist_meta_want(p, np))) {
        rc = -ENOMEM;
        goto out;
    }
    m->ctime = now;
    if (atime != INT64_MIN)
        m->atime = atime;
    p->meta_local_dirty = 1;
    if (mtime == INT64_MIN)
        goto out;
    persist_meta_touch(p);
    if (k == PERSIST_KIND_DIR) {
        m->mtime = mtime;
        goto out;
    }
    if ((f = persist_pfile_find(p, np)) &&
        f->dirty) /* written, not closed: applied when published */
        f->mtime = mtime;
    c = persist_map_get(&p->changes, np);
    if (c && c->mtime != mtime) {
        c->mtime = mtime;
        persist_journal_touch(p, np);
        rc = persist_journal_write_lazy(p); /* a lost time is harmless: the next write syncs */
    } else if (!c && (e = persist_map_get(&p->base_files, np)) && e->mtime != mtime) {
        e->mtime = mtime; /* saved by the worker, not here: touching N files is not N rewrites */
        p->mtimes_dirty = 1;
    }
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

int persist_chmod(struct persist *p, const char *path, mode_t mode)
{
    struct pmeta *m;
    char *np;
    int rc, k;

    if ((rc = attr_begin(p, path, &np, &k)) < 0)
        return rc;
    if (k == PERSIST_KIND_NONE) {
        /* fchmod(2) of a file unlinked while open (libfuse's hidden name): its handles see it */
        struct pfile *f = persist_hidden_find(p, np);
        if (f)
            f->mode = (f->mode ? f->mode & S_IFMT : S_IFREG) | (mode & 07777);
        rc = f ? 0 : persist_absent(p, np);
        goto out;
    }
    if ((rc = persist_writable(p)) < 0 || !*np) /* persist/ itself: its mode is the mount's */
        goto out;
    if (!(m = persist_meta_want(p, np))) {
        rc = -ENOMEM;
        goto out;
    }
    if (k == PERSIST_KIND_FILE && S_ISLNK(m->mode)) {
        rc = -EOPNOTSUPP; /* as Linux: a symlink's mode is always 0777 */
        goto out;
    }
    m->mode = (k == PERSIST_KIND_DIR ? S_IFDIR : S_IFREG) | (mode & 07777);
    m->ctime = persist_now_ns();
    persist_meta_touch(p);
out:
    pthread_mutex_unlock(&p->lock);
    free(np);
    return rc;
}

int persist_fchmod(struct persist *p, struct persist_handle *h, mode_t mode)
{
    char *path = NULL;
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    if (h->f->path && !(path = strdup(h->f->path)))
        rc = -ENOMEM;
    pthread_mutex_unlock(&p->lock);
    if (path) /* detached: no path keeps a mode any more; accepted */
        rc = persist_chmod(p, path, mode);
    free(path);
    return rc;
}

/* relatime: the access time moves when it is not after the last modification or change, or
 * is a day old. Local to this cache (a read is no reason for a commit). */
int persist_atime_touch(struct persist *p, struct persist_handle *h)
{
    struct persist_rentry *e;
    struct pchange *c;
    struct pmeta *m;
    int64_t now = persist_now_ns(), mtime;

    pthread_mutex_lock(&p->lock);
    if (!h->f->path || !(m = persist_meta_want(p, h->f->path)))
        goto out;
    c = persist_map_get(&p->changes, h->f->path);
    e = persist_map_get(&p->base_files, h->f->path);
    mtime = c ? c->mtime : e ? e->mtime : 0;
    if (!m->atime || m->atime <= mtime || m->atime <= m->ctime ||
        now - m->atime >= 86400 * PERSIST_NS) {
        m->atime = now;
        p->meta_local_dirty = 1;
    }
out:
    pthread_mutex_unlock(&p->lock);
    return 0;
}
