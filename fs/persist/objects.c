/* The object cache of the persist engine: base blobs and LFS objects materialised on first
 * read under objects/<g|l><oid>, downloaded through the remote into a temp file, checked for
 * size, renamed into place; bounded by bytes, least recently used (mtime, touched on open)
 * evicted first. A file we committed enters the cache from its overlay file (persist_obj_adopt),
 * so reading it after the commit downloads nothing. */
#include "persist_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- objects (base blobs and LFS objects, cached) ------------------------------------------- */

char *persist_obj_path(struct persist *p, const struct persist_rentry *e)
{
    char *s = NULL;
    if (asprintf(&s, "%s/objects/%s%s", p->dir, e->is_lfs ? "l" : "g",
                 e->is_lfs ? e->lfs_oid : e->oid) < 0)
        return NULL;
    return s;
}

/* Evicts least recently used objects until the cache fits its bound, never `keep` (the object
 * just fetched for a reader: one object larger than the whole bound must still be readable, so
 * the cache may exceed the bound by that one object until the next eviction). */
void persist_obj_evict(struct persist *p, const char *keep)
{
    char *dir = NULL;
    struct dirent *de;
    DIR *d;
    struct ent {
        int64_t t, size;
        char name[80];
    } *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct stat kst;

    if (asprintf(&dir, "%s/objects", p->dir) < 0 || !(d = opendir(dir)))
        goto out;
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || strlen(de->d_name) >= 80 ||
            (keep && strcmp(de->d_name, keep) == 0) || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
            continue;
        if (n == cap) {
            struct ent *nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[n].t = st.st_mtim.tv_sec;
        v[n].size = st.st_size;
        memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1); /* < 80, checked above */
        total += (uint64_t)st.st_size;
        n++;
    }
    if (keep && fstatat(dirfd(d), keep, &kst, 0) == 0)
        total += (uint64_t)kst.st_size;
    while (total > p->cfg.object_cache_bytes && n) {
        size_t oldest = 0;
        for (size_t i = 1; i < n; i++)
            if (v[i].t < v[oldest].t)
                oldest = i;
        unlinkat(dirfd(d), v[oldest].name, 0);
        total -= (uint64_t)v[oldest].size;
        v[oldest] = v[--n];
    }
    closedir(d);
out:
    free(v);
    free(dir);
}

void persist_obj_sweep_partial(struct persist *p)
{
    char *dir = NULL;
    struct dirent *de;
    uint64_t bytes = 0;
    unsigned n = 0;
    DIR *d;

    if (asprintf(&dir, "%s/objects", p->dir) < 0 || !(d = opendir(dir))) {
        free(dir);
        return;
    }
    while ((de = readdir(d))) {
        struct stat st;
        if ((strncmp(de->d_name, ".part.", 6) && strncmp(de->d_name, ".tmp.", 5)) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            unlinkat(dirfd(d), de->d_name, 0) < 0)
            continue;
        n++;
        bytes += (uint64_t)st.st_blocks * 512; /* .part files are sparse: what the disk held */
    }
    closedir(d);
    free(dir);
    if (n)
        persist_log(p, SPACEFS_INFO,
                    "persist: removed %u unfinished download%s (%.1f MiB) an earlier run left in "
                    "the object cache",
                    n, n == 1 ? "" : "s", (double)bytes / (1 << 20));
}

/* Downloads e into the object cache. Called WITHOUT the lock. */
int persist_obj_fetch(struct persist *p, const struct persist_rentry *e)
{
    struct spacefs_error rerr = {0};
    enum spacefs_status st;
    char *dst = persist_obj_path(p, e), *tmp = NULL;
    struct stat sb;
    int fd = -1, rc = 0;

    static unsigned long seq;
    if (!dst || asprintf(&tmp, "%s/objects/.tmp.%d.%lu", p->dir, (int)getpid(),
                         __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED)) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        rc = -errno;
        goto out;
    }
    st = p->remote.ops->object_get(p->remote.ctx, e, fd, &rerr);
    if (st != SPACEFS_OK) {
        persist_log(p, SPACEFS_WARN, "persist: cannot fetch %s: %s %s", e->path,
                    spacefs_status_name(st), rerr.message);
        rc = -spacefs_errno_from_status(st);
        goto out;
    }
    if (fstat(fd, &sb) < 0 || sb.st_size != e->size) {
        persist_log(p, SPACEFS_ERROR, "persist: %s: fetched %lld bytes, expected %lld", e->path,
                    (long long)sb.st_size, (long long)e->size);
        rc = -EIO;
        goto out;
    }
    if (rename(tmp, dst) < 0)
        rc = -errno;
out:
    if (fd >= 0)
        close(fd);
    if (rc && tmp)
        unlink(tmp);
    free(tmp);
    if (!rc)
        persist_obj_evict(p, strrchr(dst, '/') + 1);
    free(dst);
    return rc;
}

/* Makes the overlay file `src` (immutable, fsynced, just committed as `e`) the cached object of
 * e: a hard link, so that a crash before the journal stops naming the overlay file leaves both
 * names valid; the overlay name is deleted with the usual garbage after the journal write (a
 * rename in two steps). Marked most recently used. Lock held; no eviction here (the caller
 * evicts once). 0, or -errno (e.g. EXDEV, EPERM: it is downloaded on the next read instead). */
int persist_obj_adopt(struct persist *p, const struct persist_rentry *e, const char *src)
{
    char *dst = persist_obj_path(p, e);
    int rc = 0;

    if (!dst)
        return -ENOMEM;
    if (link(src, dst) < 0 && errno != EEXIST) /* EEXIST: the same content is cached already */
        rc = -errno;
    if (!rc)
        utimensat(AT_FDCWD, dst, NULL, 0);
    free(dst);
    return rc;
}
