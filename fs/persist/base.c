/* The base: the tree of the commit the view stands on, replaced after a fetch (synced changes
 * dropped, our own committed files adopted into the object cache), and the modification times
 * kept per (path, blob id) in <cache>/mtimes and in the Dataset's manifest (manifest.c), since the
 * Hub stores none (utimens sets them: attr.c). Debug dump and check. Lock held. */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void rentry_free(void *v)
{
    struct persist_rentry *e = v;
    if (e)
        free(e->path);
    free(e);
}

void persist_base_clear(struct persist *p)
{
    persist_map_clear(&p->base_files, rentry_free);
    persist_map_clear(&p->landed, NULL);
}

/* After the base changed: files without unpublished writes re-resolve their source, except
 * one reading a base object (a cached copy or a stream) whose path still names that object or
 * names nothing any more: it goes on with the bytes it has (a file removed remotely stays
 * readable through what was open, as after a local unlink). old: the base before. */
static void pfiles_reset(struct persist *p, struct pmap *old)
{
    for (struct pfile *f = p->files; f; f = f->next) {
        const struct persist_rentry *was, *now;
        if (f->dirty || !f->path)
            continue;
        was = persist_map_get(old, f->path);
        now = persist_map_get(&p->base_files, f->path);
        if (was && !f->work && !f->fd_is_work && (f->fd >= 0 || f->stream) &&
            !persist_map_get(&p->changes, f->path) &&
            (!now || (!strcmp(now->oid, was->oid) && !strcmp(now->lfs_oid, was->lfs_oid))))
            continue;
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        persist_stream_unref(p, f->stream); /* the object may have changed too */
        f->stream = NULL;
        f->fd_is_work = 0;
        f->hash_ok = 0;
        {
            uint64_t id = f->work;
            f->work = 0;
            persist_ovl_release(p, id, f->path);
        }
    }
}

/* The Hub stores no mtimes. A base file's mtime is the time we wrote the version we committed,
 * the time utimens set, or else the time this cache first saw that version; kept per (path,
 * blob id) in <cache>/mtimes, so that it stays put across fetches and remounts and `rsync -a`
 * finds unchanged files unchanged. Losing the file (a crash mid-write) only costs new times:
 * it is written with rename, not fsynced. Lock held. */
static int print_mtimes(FILE *f, void *payload)
{
    struct persist *p = payload;

    fprintf(f, "spacefs-persist-mtimes 2\n");
    for (struct pmap_item *it = persist_map_first(&p->base_files); it;
         it = persist_map_next(&p->base_files, it)) {
        struct persist_rentry *e = it->val;
        persist_time_put(f, e->mtime);
        fprintf(f, " %s ", e->oid);
        persist_put_escaped(f, it->key);
        fputc('\n', f);
    }
    return ferror(f) ? -EIO : 0;
}

void persist_mtimes_save(struct persist *p)
{
    int64_t now = persist_now_ns();
    char *dst = NULL;
    int rc;

    p->mtimes_dirty = 0;
    for (struct pmap_item *it = persist_map_first(&p->base_files); it;
         it = persist_map_next(&p->base_files, it))
        if (!((struct persist_rentry *)it->val)->mtime)
            ((struct persist_rentry *)it->val)->mtime = now;
    if (asprintf(&dst, "%s/mtimes", p->dir) < 0)
        return;
    if ((rc = spacefs_file_replace(dst, 0, print_mtimes, p)) < 0)
        persist_log(p, SPACEFS_WARN, "persist: cannot write %s: %s (file times may change)", dst,
                    strerror(-rc));
    free(dst);
}

/* Sets the base files' mtimes from <cache>/mtimes (same path and blob id); the others get now.
 * Version 1 files hold seconds, version 2 "seconds.nanoseconds" (persist_time_parse reads
 * both). */
static void mtimes_load(struct persist *p)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (asprintf(&path, "%s/mtimes", p->dir) < 0)
        return;
    if ((f = spacefs_file_open_read(path))) {
        while (getline(&line, &cap, f) > 0) {
            char oid[PERSIST_OID_MAX], tbuf[32], *name;
            int64_t t;
            int used = 0;
            struct persist_rentry *e;
            line[strcspn(line, "\n")] = '\0';
            if (sscanf(line, "%31s %64s %n", tbuf, oid, &used) != 2 || !used ||
                persist_time_parse(tbuf, &t) < 0)
                continue;
            name = line + used;
            if (persist_unescape(name) == 0 && (e = persist_map_get(&p->base_files, name)) &&
                !strcmp(e->oid, oid))
                e->mtime = t;
        }
        fclose(f);
    }
    free(line);
    free(path);
    persist_mtimes_save(p);
}

/* A synced change about to be dropped because `head`, our own last commit, is now the base: its
 * overlay file holds exactly the content of the base entry, so it becomes that entry's cached
 * object instead of being deleted (reading right after a sync downloads nothing). Only when
 * nothing writes to the overlay file any more, the sizes (and for LFS a known sha256) agree and
 * it fits the cache. Returns 1 when adopted (*name = its name in objects/, new string). */
static int adopt_committed(struct persist *p, const char *path, const struct pchange *c,
                           char **name)
{
    struct persist_rentry *e = persist_map_get(&p->base_files, path);
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
    struct pmeta *m;
    char **drop = NULL, *adopted = NULL;
    size_t nd = 0;
    int ours = p->last_commit[0] && !strcmp(head, p->last_commit);

    struct pmap old = p->base_files;
    int first = !p->based; /* the first base of this process: times come from the cache file */

    persist_map_init(&p->base_files);
    for (size_t i = 0; i < n; i++) {
        struct persist_rentry *e, *was = persist_map_get(&old, v[i].path);
        if (!strncmp(v[i].path, PERSIST_RESERVED "/", sizeof(PERSIST_RESERVED))) {
            free(v[i].path); /* the manifest and anything else there: never in the view */
            continue;
        }
        e = malloc(sizeof(*e));
        if (!e || persist_map_put(&p->base_files, v[i].path, e) < 0) {
            free(e);
            free(v[i].path);
            continue;
        }
        *e = v[i];
        if (was && !strcmp(was->oid, e->oid)) /* the same version: the same mtime */
            e->mtime = was->mtime;
    }
    free(v);
    if (head != p->base) /* load_base_tree passes p->base itself (overlapping snprintf) */
        snprintf(p->base, sizeof(p->base), "%s", head);
    p->based = p->seen_base = 1;
    p->jfull = 1;
    persist_index_rebuild(p);
    if (!fetched) {
        persist_map_clear(&old, rentry_free);
        mtimes_load(p);
        return;
    }
    persist_map_clear(&p->landed, NULL);
    drop = calloc(p->changes.n + 1, sizeof(*drop));
    for (it = persist_map_first(&p->changes); drop && it; it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if ((c->kind != PC_DIR && c->synced) ||
            (c->kind == PC_WHITEOUT && !persist_map_get(&p->base_files, it->key)))
            drop[nd++] = it->key;
        else if (c->kind == PC_DIR && !c->synced && !persist_map_get(&p->base_files, it->key))
            c->synced = 1;
        else if (c->kind == PC_DIR && c->synced && persist_map_get(&p->base_files, it->key) &&
                 !((m = persist_meta_get(p, it->key)) && m->published)) {
            c->synced = 0; /* the remote put a file where a directory made here and not yet in
                              the Dataset's manifest is: the next commit deletes it, as a mkdir
                              over a remote file does (view.c). A published one was the
                              Dataset's, and the machine that put the file removed it: the
                              manifest's "gone" pass drops it here (manifest.c). */
            persist_journal_touch(p, it->key);
        }
    }
    for (size_t i = 0; i < nd; i++) {
        char *key = strdup(drop[i]);
        if (key && ours) {
            struct pchange *c = persist_map_get(&p->changes, key);
            struct persist_rentry *e = persist_map_get(&p->base_files, key);
            if (c->kind == PC_FILE && e && e->size == c->size)
                e->mtime = c->mtime; /* our version: the time we wrote (or set) */
            adopt_committed(p, key, c, &adopted);
        }
        if (key)
            persist_change_set(p, key, NULL);
        free(key);
    }
    free(drop);
    first ? mtimes_load(p) : persist_mtimes_save(p);
    pfiles_reset(p, &old);
    persist_map_clear(&old, rentry_free);
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
    for (struct pmap_item *it = persist_map_first(&p->base_files); it;
         it = persist_map_next(&p->base_files, it))
        fprintf(f, "  base %s %" PRId64 "\n", it->key, ((struct persist_rentry *)it->val)->size);
    for (struct pmap_item *it = persist_map_first(&p->landed); it;
         it = persist_map_next(&p->landed, it))
        fprintf(f, "  landed %s\n", it->key);
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
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
    struct pmap kept, sub;
    int bad = 0;

    pthread_mutex_lock(&p->lock);
    sub = p->subdirs; /* the link counts, checked against the same rebuild */
    persist_map_init(&p->subdirs);
    if (!p->index_broken) {
        kept = p->below;
        persist_map_init(&p->below);
        persist_index_rebuild(p);
        for (struct pmap_item *it = persist_map_first(&kept); it; it = persist_map_next(&kept, it))
            bad |= persist_map_get(&p->below, it->key) != it->val;
        bad |= kept.n != p->below.n;
        persist_map_clear(&kept, NULL);
    } else
        persist_index_rebuild(p);
    for (struct pmap_item *it = persist_map_first(&sub); it; it = persist_map_next(&sub, it))
        bad |= persist_map_get(&p->subdirs, it->key) != it->val;
    bad |= sub.n != p->subdirs.n;
    persist_map_clear(&sub, NULL);
    pthread_mutex_unlock(&p->lock);
    return bad ? -EIO : 0;
}
