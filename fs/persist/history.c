/* The Dataset's history for snapshots/: commits reachable from the engine's base and the trees
 * and files of any of them, read through the engine's own remote (its mirror), without the
 * engine's lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "persist_internal.h"

static int history_fail(struct persist *p, const char *what, enum spacefs_status st,
                        const struct spacefs_error *err)
{
    persist_log(p, SPACEFS_WARN, "persist: snapshots: %s: %s%s%s", what, spacefs_status_name(st),
                err->message[0] ? ": " : "", err->message);
    return -spacefs_errno_from_status(st);
}

int persist_history(struct persist *p, size_t max, char head[PERSIST_OID_MAX],
                    struct persist_rcommit **out, size_t *out_count)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    int rc;

    *out = NULL;
    *out_count = 0;
    pthread_mutex_lock(&p->lock);
    rc = persist_await_base(p); /* before the first fetch: only lookups go on (provisional.c) */
    memcpy(head, p->base, PERSIST_OID_MAX);
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        return rc;
    if (!head[0])
        return 0; /* no commit yet */
    st = p->remote.ops->commits(p->remote.ctx, head, max, out, out_count, &err);
    return st == SPACEFS_OK ? 0 : history_fail(p, "listing commits", st, &err);
}

int persist_history_tree(struct persist *p, const char *commit, struct persist_rentry **out,
                         size_t *out_count)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;

    *out = NULL;
    *out_count = 0;
    st = p->remote.ops->tree(p->remote.ctx, commit, out, out_count, &err);
    return st == SPACEFS_OK ? 0 : history_fail(p, "reading a tree", st, &err);
}

int persist_history_read(struct persist *p, const struct persist_rentry *e, int fd)
{
    struct spacefs_error err = {0};
    enum spacefs_status st = p->remote.ops->object_get(p->remote.ctx, e, fd, &err);

    return st == SPACEFS_OK ? 0 : history_fail(p, e->path, st, &err);
}

void persist_history_meta(struct persist *p, struct persist_rentry *v, size_t *n,
                          struct persist_hmeta **out, size_t *out_count)
{
    char sha[PERSIST_OID_MAX];
    struct pmanifest *m = persist_manifest_fetch(p, v, n, sha, 0);
    size_t i, k = 0;

    *out = NULL;
    *out_count = 0;
    if (m && m->n && (*out = calloc(m->n, sizeof(**out)))) {
        for (i = 0; i < m->n; i++) {
            struct persist_hmeta *h = &(*out)[k];
            if (!(h->path = strdup(m->v[i].path)))
                continue; /* no memory: that path keeps the defaults */
            h->type = m->v[i].type;
            h->mode = m->v[i].mode & 07777;
            h->mtime = m->v[i].mtime;
            h->size = m->v[i].size;
            k++;
        }
        *out_count = k;
    }
    persist_manifest_free(m);
}

void persist_hmeta_free(struct persist_hmeta *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].path);
    free(v);
}
