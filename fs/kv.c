/* Secrets and variables of a Space: the cached list of names (and variable values), and the
 * write path. A value is sent to the Hub by the write(2) that delivers it, so that its error
 * reaches the writer; one trailing newline is stripped. Secret bytes live only in the handle's
 * buffer, which is wiped whenever it is freed or grown, and never in the page cache. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"

static void kv_ent_clear(struct kv_ent *k)
{
    free(k->key);
    if (k->value) {
        explicit_bzero(k->value, strlen(k->value));
        free(k->value);
    }
    memset(k, 0, sizeof(*k));
}

void kv_entries_free(struct kv_ent *items, size_t count)
{
    size_t i;

    for (i = 0; items && i < count; i++)
        kv_ent_clear(&items[i]);
    free(items);
}

static struct kv_cache *kv_cache_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct space_ent *se = space_find_locked(fs, n->ns, n->space);

    return se ? &se->kv[n->kv] : NULL;
}

struct kv_ent *kv_find_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct kv_cache *kc = kv_cache_locked(fs, n);
    size_t i;

    for (i = 0; kc && i < kc->count; i++)
        if (strcmp(kc->items[i].key, n->key) == 0)
            return &kc->items[i];
    return NULL;
}

/* Replaces kc's entries with the fetched ones, keeping local pending names. */
static int kv_install_locked(struct kv_cache *kc, struct spacefs_kv *kvs, size_t count)
{
    struct kv_ent *items;
    size_t i, n = 0, pend = 0;

    for (i = 0; i < kc->count; i++)
        pend += kc->items[i].pending;
    items = calloc(count + pend + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    for (i = 0; i < count; i++) {
        items[n].key = kvs[i].key;
        items[n].value = kvs[i].value;
        kvs[i].key = kvs[i].value = NULL;
        n++;
    }
    for (i = 0; i < kc->count; i++) {
        size_t j;
        int dup = 0;
        if (!kc->items[i].pending)
            continue;
        for (j = 0; j < count && !dup; j++)
            dup = strcmp(items[j].key, kc->items[i].key) == 0;
        if (!dup) {
            items[n++] = kc->items[i];
            memset(&kc->items[i], 0, sizeof(kc->items[i]));
        }
    }
    kv_entries_free(kc->items, kc->count);
    kc->items = items;
    kc->count = n;
    return 0;
}

int kv_ensure(struct spacefs_fs *fs, const struct node *n)
{
    struct spacefs_error err = {0};
    struct spacefs_kv *kvs = NULL;
    enum spacefs_status st;
    struct kv_cache *kc;
    size_t count = 0;
    uint64_t gen0;
    int rc;

    if ((rc = ns_ensure(fs, n->ns)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    if (!(kc = kv_cache_locked(fs, n))) {
        rc = -ENOENT;
        goto out_locked;
    }
    if (spacefs_fresh(kc->fetched_ms, fs->cfg.ttl_ms)) {
        fs->ctr.cache_hits++;
        goto out_locked;
    }
    fs->ctr.cache_misses++;
    gen0 = kc->gen;
    pthread_mutex_unlock(&fs->lock);

    st = fs->be.ops->kv_list(fs->be.ctx, n->id, n->kv, &kvs, &count, &err);
    count_call(fs, st);
    if (st != SPACEFS_OK)
        return call_failed(fs,
                           n->kv == SPACEFS_KV_SECRETS ? "list secrets of" : "list variables of",
                           n->id, st, &err);

    pthread_mutex_lock(&fs->lock);
    kc = kv_cache_locked(fs, n);
    if (kc && kc->gen == gen0) {
        if ((rc = kv_install_locked(kc, kvs, count)) == 0)
            kc->fetched_ms = spacefs_now_ms();
    }
out_locked:
    pthread_mutex_unlock(&fs->lock);
    spacefs_kvs_free(kvs, count);
    return rc;
}

void kv_add_pending(struct spacefs_fs *fs, const struct node *n)
{
    struct kv_cache *kc;
    struct kv_ent *v;

    pthread_mutex_lock(&fs->lock);
    if ((kc = kv_cache_locked(fs, n)) && !kv_find_locked(fs, n)) {
        v = realloc(kc->items, (kc->count + 1) * sizeof(*v));
        if (v) {
            kc->items = v;
            memset(&v[kc->count], 0, sizeof(*v));
            if ((v[kc->count].key = strdup(n->key))) {
                v[kc->count].pending = 1;
                kc->count++;
                kc->gen++;
            }
        }
    }
    pthread_mutex_unlock(&fs->lock);
}

static void kv_remove_locked(struct kv_cache *kc, struct kv_ent *k)
{
    size_t i = (size_t)(k - kc->items);

    kv_ent_clear(k);
    kc->items[i] = kc->items[--kc->count];
}

void kv_drop_pending(struct spacefs_fs *fs, const struct node *n)
{
    struct kv_cache *kc;
    struct kv_ent *k;

    pthread_mutex_lock(&fs->lock);
    if ((kc = kv_cache_locked(fs, n)) && (k = kv_find_locked(fs, n)) && k->pending) {
        kv_remove_locked(kc, k);
        kc->gen++;
    }
    pthread_mutex_unlock(&fs->lock);
}

void kv_record(struct spacefs_fs *fs, const struct node *n, const char *value, size_t len,
               int deleted)
{
    struct kv_cache *kc;
    struct kv_ent *k;

    pthread_mutex_lock(&fs->lock);
    if (!(kc = kv_cache_locked(fs, n)))
        goto out;
    kc->gen++;
    k = kv_find_locked(fs, n);
    if (deleted) {
        if (k)
            kv_remove_locked(kc, k);
        goto out;
    }
    if (!k) {
        struct kv_ent *v = realloc(kc->items, (kc->count + 1) * sizeof(*v));
        if (!v)
            goto out;
        kc->items = v;
        k = &v[kc->count];
        memset(k, 0, sizeof(*k));
        if (!(k->key = strdup(n->key)))
            goto out;
        kc->count++;
    }
    k->pending = 0;
    if (n->kv == SPACEFS_KV_VARIABLES) {
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, value, len);
            copy[len] = '\0';
        }
        if (k->value) {
            explicit_bzero(k->value, strlen(k->value));
            free(k->value);
        }
        k->value = copy;
    }
out:
    pthread_mutex_unlock(&fs->lock);
}
