/* A path's attributes as stat(2) shows them: its kind and mode (the metadata, manifest.c), size,
 * times in ns, link count (the view's directory counts) and inode number (view.c). Lock held. */
#include "persist_internal.h"

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
