/* A fresh cache answers one path at a time from the Hub's API while its first fetch (the clone
 * of the Dataset's git mirror) runs in the worker: `head -c 1 persist/file` right after a mount
 * costs a download of the manifest, one paths-info and the data's first range, not the clone.
 *
 * While p->provisional is set the view is partial: base_files holds only the files looked up so
 * far (as paths-info described them, at the commit the manifest was read at), p->prov_dirs the
 * directories, p->meta what the manifest says of them. getattr and a read-only open of an LFS
 * file learn their path into it (persist_prov_learn); every other call waits for the first
 * fetch (persist_await_base): listings, writes, renames, symlinks, small files (their bytes come
 * from the mirror). The first fetch replaces the partial base with the whole one as any refresh
 * does (base.c: an open file keeps the object it was reading when its path still names it or
 * names nothing any more); if it fails, the partial base goes and the engine is where a failed
 * first fetch leaves it (persist_prov_end). A cache with a base, with local changes or local
 * metadata from an earlier run never starts provisional. */
#include "persist_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void persist_prov_begin(struct persist *p)
{
    const struct persist_remote_ops *o = p->remote.ops;

    p->provisional = !p->cfg.no_worker && !p->based && !p->changes.n && !p->meta.n && o &&
                     o->lookup && o->head_read;
}

void persist_await_base(struct persist *p)
{
    while (p->provisional)
        pthread_cond_wait(&p->done, &p->lock);
}

static void prov_fail(struct persist *p, const char *what, enum spacefs_status st,
                      const struct spacefs_error *err)
{
    if (p->prov_state == PROV_FAILED)
        return;
    p->prov_state = PROV_FAILED;
    persist_log(p, SPACEFS_WARN, "persist: %s: %s%s%s; waiting for the first fetch instead", what,
                spacefs_status_name(st), err && err->message[0] ? ": " : "",
                err ? err->message : "");
}

/* The manifest at main, once (the commit it came from pins every later lookup). Lock held,
 * dropped around the download; 0 when ready, -EAGAIN when the provisional answers are off. */
static int prov_manifest(struct persist *p)
{
    struct spacefs_error rerr = {0};
    char rev[PERSIST_OID_MAX] = "";
    struct pmanifest *mf = NULL;
    enum spacefs_status st;
    size_t len = 0;
    void *data = NULL;

    while (p->provisional && p->prov_state == PROV_LOADING)
        pthread_cond_wait(&p->done, &p->lock);
    if (!p->provisional || p->prov_state == PROV_FAILED)
        return -EAGAIN;
    if (p->prov_state == PROV_READY)
        return 0;
    p->prov_state = PROV_LOADING;
    pthread_mutex_unlock(&p->lock);
    st = p->remote.ops->head_read(p->remote.ctx, PERSIST_META_PATH, PERSIST_MANIFEST_LIMIT, rev,
                                  &data, &len, &rerr);
    if (st == SPACEFS_OK && !(mf = persist_manifest_parse_mem(data, len)))
        st = SPACEFS_E_OTHER, snprintf(rerr.message, sizeof(rerr.message), "not a manifest");
    free(data);
    pthread_mutex_lock(&p->lock);
    if (st == SPACEFS_E_NOT_FOUND) /* no manifest (or no Dataset): defaults, at main */
        st = SPACEFS_OK, rev[0] = '\0';
    if (st != SPACEFS_OK) {
        prov_fail(p, "reading " PERSIST_META_PATH " for a first lookup", st, &rerr);
        pthread_cond_broadcast(&p->done);
        return -EAGAIN;
    }
    p->prov_state = PROV_READY;
    p->prov_mf = mf;
    snprintf(p->prov_rev, sizeof(p->prov_rev), "%s", rev);
    pthread_cond_broadcast(&p->done);
    return 0;
}

/* What the manifest says of a learned path, as persist_manifest_apply would say it. */
static void prov_meta(struct persist *p, const char *path, int kind, struct persist_rentry *b)
{
    const struct pmanifest_entry *me = NULL;
    struct pmeta *m;

    for (size_t i = 0; p->prov_mf && i < p->prov_mf->n && !me; i++)
        if (!strcmp(p->prov_mf->v[i].path, path))
            me = &p->prov_mf->v[i];
    if (b && !b->mtime) /* as the first base does for a file it has no time for: now */
        b->mtime = persist_now_ns();
    if (!me || (kind == 2) != (me->type == 'd') || !(m = persist_meta_want(p, path)))
        return;
    m->mode = (me->type == 'd' ? S_IFDIR : me->type == 'l' ? S_IFLNK : S_IFREG) | me->mode;
    m->published = me->type == 'd';
    if (me->type == 'd')
        m->mtime = me->mtime;
    else if (b && b->size == me->size && me->mtime)
        b->mtime = me->mtime;
}

static int prov_dir_add(struct persist *p, const char *path)
{
    char *s = strdup(path), *slash;

    if (!s)
        return -ENOMEM;
    for (;;) { /* the directory and its ancestors */
        if (persist_map_put(&p->prov_dirs, s, p) < 0) {
            free(s);
            return -ENOMEM;
        }
        if (!(slash = strrchr(s, '/')))
            break;
        *slash = '\0';
    }
    free(s);
    return 0;
}

int persist_prov_is_dir(struct persist *p, const char *path)
{
    return p->provisional && persist_map_get(&p->prov_dirs, path) != NULL;
}

int persist_prov_learn(struct persist *p, const char *np, int data)
{
    struct spacefs_error rerr = {0};
    struct persist_rentry e, *b;
    enum spacefs_status st;
    int kind = 0, k;

    if (!p->provisional || !*np)
        return 0;
    if (!strcmp(np, PERSIST_RESERVED) ||
        !strncmp(np, PERSIST_RESERVED "/", sizeof(PERSIST_RESERVED)))
        return 0; /* never in the view (the manifest) */
    k = persist_node_kind(p, np);
    if (k == PERSIST_KIND_NONE) {
        char rev[PERSIST_OID_MAX];
        if (prov_manifest(p) < 0) {
            persist_await_base(p);
            return 0;
        }
        snprintf(rev, sizeof(rev), "%s", p->prov_rev);
        pthread_mutex_unlock(&p->lock);
        st = p->remote.ops->lookup(p->remote.ctx, rev, np, &e, &kind, &rerr);
        pthread_mutex_lock(&p->lock);
        if (st != SPACEFS_OK) {
            prov_fail(p, "paths-info for a first lookup", st, &rerr);
            persist_await_base(p);
            return 0;
        }
        if (!p->provisional) { /* the first fetch landed meanwhile: the view is whole */
            free(e.path);
            return 0;
        }
        if (kind == 1 && !persist_map_get(&p->base_files, np) && (b = malloc(sizeof(*b)))) {
            *b = e;
            e.path = NULL;
            if (persist_map_put(&p->base_files, b->path, b) < 0) {
                free(b->path);
                free(b);
            } else {
                prov_meta(p, np, 1, b);
                persist_index_rebuild(p);
            }
        } else if (kind == 2 && !persist_map_get(&p->prov_dirs, np) && prov_dir_add(p, np) == 0) {
            prov_meta(p, np, 2, NULL);
            persist_index_rebuild(p);
        }
        free(e.path);
        k = persist_node_kind(p, np);
    }
    /* a small file's bytes come from the mirror; a symlink's target too */
    if (data && k == PERSIST_KIND_FILE && (b = persist_map_get(&p->base_files, np)) &&
        (!b->is_lfs || (persist_meta_mode(p, np, k) & S_IFMT) != S_IFREG))
        persist_await_base(p);
    return 0;
}

void persist_prov_end(struct persist *p)
{
    if (!p->provisional)
        return;
    p->provisional = 0;
    if (!p->based) { /* the first fetch failed: no partial base stays */
        persist_base_clear(p);
        persist_map_clear(&p->meta, free);
        persist_index_rebuild(p);
    }
    persist_map_clear(&p->prov_dirs, NULL);
    persist_manifest_free(p->prov_mf);
    p->prov_mf = NULL;
    p->prov_state = PROV_NONE;
    pthread_cond_broadcast(&p->done);
}
