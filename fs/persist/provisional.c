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
 * metadata from an earlier run never starts provisional.
 *
 * Writes before the clone: a name a lookup found absent at the pinned commit (p->prov_absent,
 * recorded only below a directory the view knows) can be created, and everything at or below it
 * created, written, renamed, removed, listed and given times and modes without the first fetch
 * (persist_prov_local): nothing of the base can be there, so these are ordinary local changes
 * against the pinned commit, journalled as any (a kill -9 loses none of them; the next mount
 * finds a journal without a base and fetches first, as after an offline write). `mkdir new; cp
 * -a src/. new/` into a fresh mount does not wait for the clone: lookups below `new` ask the Hub
 * nothing. The worker's commit still waits for the base (it needs the parent commit's tree).
 * When the first fetch lands on a newer commit than the pinned one, its base goes under these
 * changes as any fetch goes under pending local changes: a local file wins over the remote file
 * at its path, a local directory merges with a remote one, and a local directory where the
 * remote now has a file deletes that file in the next commit (base.c). The first manifest is
 * applied as for a cache without local metadata (so its empty directories appear), except for
 * the metadata of these local paths and their parents, which stays local
 * (persist_first_manifest_apply, also when the first fetch that works is a later one). */
#include "persist_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The first fetch (the clone: a pack of every version of every small file) holds back while
 * lookups are being answered, so that it does not compete with them for the link (and, on the
 * emulator, for its CPU): it starts once no lookup has been in flight for PROV_IDLE_MS, at the
 * latest PROV_HOLD_MS after the engine opened, and at once when anyone waits for it or the API
 * failed. */
#define PROV_IDLE_MS 20
#define PROV_HOLD_MS 250

void persist_prov_begin(struct persist *p)
{
    const struct persist_remote_ops *o = p->remote.ops;

    p->provisional = !p->cfg.no_worker && !p->based && !p->changes.n && !p->meta.n && o &&
                     o->lookup && o->head_read;
    p->prov_open_ms = p->prov_last_ms = spacefs_now_ms();
}

int64_t persist_prov_fetch_at(struct persist *p)
{
    int64_t at;

    if (!p->provisional || p->prov_waiting || p->prov_state == PROV_FAILED)
        return 0;
    at = p->prov_busy ? spacefs_now_ms() + PROV_IDLE_MS : p->prov_last_ms + PROV_IDLE_MS;
    return at < p->prov_open_ms + PROV_HOLD_MS ? at : p->prov_open_ms + PROV_HOLD_MS;
}

int persist_await_base(struct persist *p)
{
    if (!p->provisional)
        return 0;
    p->prov_waiting++;
    pthread_cond_broadcast(&p->cond); /* the worker: no more holding back */
    while (p->provisional)
        pthread_cond_wait(&p->done, &p->lock);
    p->prov_waiting--;
    /* The first fetch failed while this call waited: the partial view is gone
     * (persist_prov_end), and answering from the empty one would contradict what the lookups
     * said (a listing's ENOENT of a directory stat called one makes cp -r skip it and exit 0).
     * The call fails with the fetch's errno; later calls see the cache as a failed first fetch
     * leaves it, as without this file. */
    return p->seen_base ? 0 : -(p->last_errno ? p->last_errno : EIO);
}

static void prov_busy(struct persist *p, int delta)
{
    p->prov_busy += delta;
    p->prov_last_ms = spacefs_now_ms();
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

/* The manifest's download (head_read) on a thread of its own, beside the first lookup. */
struct head_job {
    struct persist *p;
    enum spacefs_status st;
    struct spacefs_error err;
    char rev[PERSIST_OID_MAX];
    void *data;
    size_t len;
};

static void *head_main(void *arg)
{
    struct head_job *j = arg;

    j->st = j->p->remote.ops->head_read(j->p->remote.ctx, PERSIST_META_PATH, PERSIST_MANIFEST_LIMIT,
                                        j->rev, &j->data, &j->len, &j->err);
    return NULL;
}

/* One lookup of np, without the lock: the first one also reads the manifest at main, at the
 * same time (one round trip instead of two), and pins the commit it was read at for every later
 * lookup and read: when the lookup's own answer does not say it came from that commit, it is
 * asked again there. Lock held (dropped inside); 0 and the answer, or -EAGAIN when the
 * provisional answers are off. */
static int prov_lookup(struct persist *p, const char *np, struct persist_rentry *e, int *kind)
{
    struct spacefs_error rerr = {0};
    char rev[PERSIST_OID_MAX], seen[PERSIST_OID_MAX] = "";
    struct head_job job = {p, SPACEFS_OK, {0}, "", NULL, 0};
    struct pmanifest *mf = NULL;
    enum spacefs_status st;
    pthread_t t;
    int first, threaded = 0;

    memset(e, 0, sizeof(*e));
    *kind = 0;
    while (p->provisional && p->prov_state == PROV_LOADING)
        pthread_cond_wait(&p->done, &p->lock);
    if (!p->provisional || p->prov_state == PROV_FAILED)
        return -EAGAIN;
    first = p->prov_state == PROV_NONE;
    if (first)
        p->prov_state = PROV_LOADING;
    snprintf(rev, sizeof(rev), "%s", p->prov_rev);
    prov_busy(p, 1);
    pthread_mutex_unlock(&p->lock);
    if (first)
        threaded = pthread_create(&t, NULL, head_main, &job) == 0;
    st = p->remote.ops->lookup(p->remote.ctx, rev, np, e, kind, seen, &rerr);
    if (first) {
        if (threaded)
            pthread_join(t, NULL);
        else
            head_main(&job);
        if (job.st == SPACEFS_OK && !(mf = persist_manifest_parse_mem(job.data, job.len))) {
            job.st = SPACEFS_E_OTHER;
            snprintf(job.err.message, sizeof(job.err.message), "not a spacefs manifest");
        }
        if (job.st == SPACEFS_E_NOT_FOUND) /* no manifest: file defaults */
            job.st = SPACEFS_OK;
        /* the commit everything is pinned to: the manifest's, else the one the lookup saw */
        snprintf(rev, sizeof(rev), "%s", job.rev[0] ? job.rev : seen);
        if (job.st == SPACEFS_OK && st == SPACEFS_OK && rev[0] && strcmp(rev, seen) != 0) {
            free(e->path); /* not known to describe that commit: asked again there */
            st = p->remote.ops->lookup(p->remote.ctx, rev, np, e, kind, seen, &rerr);
        }
        free(job.data);
    }
    pthread_mutex_lock(&p->lock);
    prov_busy(p, -1);
    if (first) {
        if (!p->provisional) { /* the first fetch ended meanwhile (persist_prov_end) */
            persist_manifest_free(mf);
            mf = NULL;
        } else if (job.st != SPACEFS_OK) {
            prov_fail(p, "reading " PERSIST_META_PATH " for a first lookup", job.st, &job.err);
            persist_manifest_free(mf);
        } else {
            p->prov_state = PROV_READY;
            p->prov_mf = mf;
            snprintf(p->prov_rev, sizeof(p->prov_rev), "%s", rev);
        }
        pthread_cond_broadcast(&p->done);
    }
    if (st != SPACEFS_OK && p->provisional)
        prov_fail(p, "paths-info", st, &rerr);
    if (st != SPACEFS_OK || p->prov_state != PROV_READY) {
        free(e->path);
        e->path = NULL;
        return -EAGAIN;
    }
    snprintf(e->commit, sizeof(e->commit), "%s", p->prov_rev);
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

static int prov_manifest_dir(struct persist *p, const char *path)
{
    for (size_t i = 0; p->prov_mf && i < p->prov_mf->n; i++)
        if (p->prov_mf->v[i].type == 'd' && !strcmp(p->prov_mf->v[i].path, path))
            return 1;
    return 0;
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

int persist_prov_learn(struct persist *p, const char *np, int data)
{
    struct persist_rentry e, *b;
    int kind = 0, k;

    if (!p->provisional || !*np)
        return 0;
    if (!strcmp(np, PERSIST_RESERVED) ||
        !strncmp(np, PERSIST_RESERVED "/", sizeof(PERSIST_RESERVED)))
        return 0;                       /* never in the view (the manifest) */
    p->prov_last_ms = spacefs_now_ms(); /* an open after its lookup: the read follows */
    k = persist_node_kind(p, np);
    if (k == PERSIST_KIND_NONE && persist_prov_local(p, np))
        return 0; /* absent at the pinned commit: only local changes can be there */
    if (k == PERSIST_KIND_NONE) {
        if (prov_lookup(p, np, &e, &kind) < 0)
            return persist_await_base(p);
        if (!p->provisional) { /* the first fetch landed meanwhile: the view is whole */
            free(e.path);
            return 0;
        }
        if (kind == 0 && prov_manifest_dir(p, np))
            kind = 2; /* an empty directory: git does not have it, the manifest does */
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
        } else if (kind == 0 && persist_node_kind(p, np) == PERSIST_KIND_NONE &&
                   persist_parent_is_dir(p, np) == 0) {
            persist_map_put(&p->prov_absent, np, p); /* no memory: it waits, as before */
        }
        free(e.path);
        k = persist_node_kind(p, np);
    }
    /* a small file's bytes come from the mirror; a symlink's target too */
    if (data && k == PERSIST_KIND_FILE && (b = persist_map_get(&p->base_files, np)) &&
        (!b->is_lfs || (persist_meta_mode(p, np, k) & S_IFMT) != S_IFREG))
        return persist_await_base(p);
    return 0;
}

int persist_prov_local(struct persist *p, const char *np)
{
    char *s;
    int hit = 0;

    if (!p->provisional || !*np)
        return 0;
    if (spacefs_hidden_name(np)) /* libfuse's name for a file unlinked while open */
        return 1;
    if (!p->prov_absent.n)
        return 0;
    if (persist_map_get(&p->prov_absent, np))
        return 1;
    if (!(s = strdup(np)))
        return 0;
    for (char *q = strrchr(s, '/'); q && !hit; q = strrchr(s, '/')) {
        *q = '\0'; /* each ancestor */
        hit = persist_map_get(&p->prov_absent, s) != NULL;
    }
    free(s);
    return hit;
}

int persist_await_base_unless_local(struct persist *p, const char *np, const char *np2)
{
    if (!p->provisional || (persist_prov_local(p, np) && (!np2 || persist_prov_local(p, np2))))
        return 0;
    return persist_await_base(p);
}

static void meta_keep_one(struct persist *p, struct pmap *kept, const char *path)
{
    struct pmeta *m, *have = persist_meta_get(p, path);

    if (!have || persist_map_get(kept, path) || !(m = malloc(sizeof(*m))))
        return;
    *m = *have;
    if (persist_map_put(kept, path, m) < 0)
        free(m);
}

/* Copies of the metadata made before the first base (path -> struct pmeta *): that of the paths
 * changed here (before a base, every change is at a name absent at the pinned commit, or an
 * earlier run's) and of their parent directories (their mtime moved). */
static void meta_keep(struct persist *p, struct pmap *kept)
{
    persist_map_init(kept);
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
        const char *slash = strrchr(it->key, '/');
        char *parent = slash ? strndup(it->key, (size_t)(slash - it->key)) : NULL;
        meta_keep_one(p, kept, it->key);
        if (parent)
            meta_keep_one(p, kept, parent);
        free(parent);
    }
}

static void meta_restore(struct persist *p, struct pmap *kept)
{
    struct pmeta *m;

    for (struct pmap_item *it = persist_map_first(kept); it; it = persist_map_next(kept, it))
        if ((m = persist_meta_want(p, it->key)))
            *m = *(struct pmeta *)it->val;
    persist_map_clear(kept, free);
}

void persist_first_manifest_apply(struct persist *p, const struct pmanifest *mf)
{
    uint64_t dirty = p->meta_dirty_gen;
    struct pmap kept;

    meta_keep(p, &kept);
    p->meta_dirty_gen = 0; /* the cache has no metadata of its own yet but what is kept */
    persist_manifest_apply(p, mf);
    p->meta_dirty_gen = dirty;
    meta_restore(p, &kept);
}

void persist_prov_end(struct persist *p)
{
    struct pmap kept;

    if (!p->provisional)
        return;
    if (!p->based) { /* the first fetch failed: no partial base stays, the local changes do */
        meta_keep(p, &kept);
        persist_base_clear(p);
        persist_map_clear(&p->meta, free);
        meta_restore(p, &kept);
        persist_index_rebuild(p);
    }
    p->provisional = 0;
    persist_map_clear(&p->prov_absent, NULL);
    persist_map_clear(&p->prov_dirs, NULL);
    persist_manifest_free(p->prov_mf);
    p->prov_mf = NULL;
    p->prov_state = PROV_NONE;
    pthread_cond_broadcast(&p->done);
}
