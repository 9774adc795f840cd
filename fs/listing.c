/* The listing subtree: the root of the mount (the token's namespaces and .spacefs) and one
 * directory per namespace (its Spaces, all pages of the listing). mkdir in a namespace creates a
 * Space; namespaces themselves are accounts and orgs, never made here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static int listing_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    int rc;

    if (n->kind == ROUTER_ROOT) {
        router_fill(fs, st, S_IFDIR | 0555, 0, 0);
        return 0;
    }
    if (!router_skip_listing(fs, n) && (rc = spacefs_ns_ensure(fs, n->ns)) < 0 &&
        !router_offline_ok(fs, n, rc))
        return rc;
    router_fill(fs, st, S_IFDIR | (spacefs_ns_writable(fs, n->ns) ? 0755 : 0555), 0, 0);
    return 0;
}

static int readdir_root(struct spacefs_fs *fs, spacefs_fill_fn fn, void *payload)
{
    struct spacefs_whoami w = {0};
    size_t i;
    int rc;

    if ((rc = spacefs_whoami_get(fs, &w)) < 0)
        return rc;
    if (!fn(".spacefs", NULL, payload) && w.name && !fn(w.name, NULL, payload))
        for (i = 0; i < w.orgs_count; i++)
            if (fn(w.orgs[i], NULL, payload))
                break;
    spacefs_whoami_clear(&w);
    return 0;
}

/* Copies up to `max` names of ns's Spaces that sort after `after` ("" = from the first).
 * Lock held. */
static size_t names_after_locked(struct spacefs_fs *fs, const char *ns, const char *after,
                                 char **out, size_t max)
{
    struct ns_ent *e = spacefs_ns_find_locked(fs, ns);
    size_t lo = 0, hi = e ? e->count : 0, n;

    while (after[0] && lo < hi) { /* the first name > after: the array is sorted */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(e->spaces[mid]->name, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (n = 0; e && lo + n < e->count && n < max; n++)
        out[n] = spacefs_strdup(e->spaces[lo + n]->name);
    return n;
}

#define READDIR_BATCH 256

/* The namespace's Spaces in name order, a batch at a time: the lock is held only to copy a
 * batch of names (a huge namespace never holds it long, nor doubles its memory), and entries
 * added or removed between batches cannot make a name appear twice. */
static int listing_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                           void *payload)
{
    char path[2 * SPACEFS_NAME_MAX + 4], last[COMP_MAX + 1] = "";
    char *names[READDIR_BATCH];
    struct node c;
    struct stat st;
    size_t i, count;
    int stop = 0, last_set;

    if (n->kind == ROUTER_ROOT)
        return readdir_root(fs, fn, payload);
    do {
        last_set = 0;
        pthread_mutex_lock(&fs->lock);
        count = names_after_locked(fs, n->ns, last, names, READDIR_BATCH);
        pthread_mutex_unlock(&fs->lock);
        /* the Spaces' attributes come from the cache the listing just refreshed: no network */
        for (i = 0; i < count; i++) {
            if (!names[i] || stop) /* (no memory for a name: skipped, as before) */
                continue;
            snprintf(path, sizeof(path), "/%s/%s", n->ns, names[i]);
            stop =
                fn(names[i],
                   router_parse(fs, &c, path) < 0 || router_getattr(fs, &c, &st) < 0 ? NULL : &st,
                   payload);
        }
        for (i = count; i-- > 0;)
            if (names[i] && !last_set) {
                snprintf(last, sizeof(last), "%s", names[i]);
                last_set = 1;
            }
        for (i = 0; i < count; i++)
            free(names[i]);
    } while (count == READDIR_BATCH && !stop && last_set);
    return 0;
}

static int listing_mkdir_child(struct spacefs_fs *fs, const struct node *dir, const char *name,
                               mode_t mode)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    char *id;
    int rc;

    (void)mode;
    if (dir->kind == ROUTER_ROOT)
        return -EPERM; /* namespaces are accounts and orgs, not made here */
    if ((rc = spacefs_ns_ensure(fs, dir->ns)) < 0)
        return rc;
    if (!spacefs_name_valid(name))
        return -EINVAL;
    if (!spacefs_ns_writable(fs, dir->ns))
        return -EACCES;
    if (!(id = spacefs_asprintf("%s/%s", dir->ns, name)))
        return -ENOMEM;
    st = fs->be.ops->create_space(fs->be.ctx, id, fs->cfg.space_sdk, fs->cfg.space_private, &err);
    spacefs_count_call(fs, st);
    if (st == SPACEFS_OK) {
        spacefs_log(SPACEFS_INFO, "created Space %s (%s, %s)", id, fs->cfg.space_sdk,
                    fs->cfg.space_private ? "private" : "public");
        spacefs_space_add_local(fs, dir->ns, name);
    } else {
        rc = spacefs_call_failed(fs, "create Space", id, st, &err);
        if (st == SPACEFS_E_PAYMENT)
            spacefs_log(SPACEFS_WARN,
                        "creating %s needs a paid plan (HTTP 402): try -o space_sdk=static", id);
    }
    free(id);
    return rc;
}

const struct spacefs_subtree_ops spacefs_listing_ops = {
    .name = "listing",
    .getattr = listing_getattr,
    .readdir = listing_readdir,
    .mkdir_child = listing_mkdir_child,
};
