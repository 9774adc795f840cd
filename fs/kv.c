/* Secrets and variables of a Space: the cached list of names (and variable values), and the
 * write path. write(2) only collects the value (EFBIG past VALUE_MAX); it is sent whole, once,
 * when a descriptor that wrote is closed (flush: the error is close(2)'s) or at the last close,
 * never a prefix; one trailing newline is stripped. Secret bytes live only in the handle's
 * buffer, which is wiped whenever it is freed or grown, and never in the page cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

enum { KV_DIR = 0, KV_KEY = 1 }; /* kinds; n->file: enum spacefs_kv_kind */
static const char *const kv_names[] = {"secrets", "variables", NULL};

static struct kv_cache *kv_cache_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct space_ent *se = spacefs_space_find_locked(fs, n->ns, n->space);

    return se ? &se->kv[n->file] : NULL;
}

static struct kv_ent *kv_find_locked(struct spacefs_fs *fs, const struct node *n)
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
    spacefs_kv_entries_free(kc->items, kc->count);
    kc->items = items;
    kc->count = n;
    return 0;
}

static int kv_ensure(struct spacefs_fs *fs, const struct node *n)
{
    struct spacefs_error err = {0};
    struct spacefs_kv *kvs = NULL;
    enum spacefs_status st;
    struct kv_cache *kc;
    size_t count = 0;
    uint64_t gen0;
    int rc;

    if ((rc = spacefs_ns_ensure(fs, n->ns)) < 0)
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

    st = fs->be.ops->kv_list(fs->be.ctx, n->id, (enum spacefs_kv_kind)n->file, &kvs, &count, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK && spacefs_stale_ok(st)) {
        pthread_mutex_lock(&fs->lock);
        if ((kc = kv_cache_locked(fs, n)) && kc->fetched_ms) { /* the last known names */
            spacefs_serve_stale(fs, st, &kc->fetched_ms, "list keys of (serving the last list)",
                                n->id, &err);
            goto out_locked;
        }
        pthread_mutex_unlock(&fs->lock);
    }
    if (st != SPACEFS_OK)
        return spacefs_call_failed(
            fs, n->file == SPACEFS_KV_SECRETS ? "list secrets of" : "list variables of", n->id, st,
            &err);

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

/* A new entry for key at the end of kc, or NULL on no memory. */
static struct kv_ent *kv_append_locked(struct kv_cache *kc, const char *key)
{
    struct kv_ent *v = realloc(kc->items, (kc->count + 1) * sizeof(*v));

    if (!v)
        return NULL;
    kc->items = v;
    memset(&v[kc->count], 0, sizeof(*v));
    if (!(v[kc->count].key = strdup(key)))
        return NULL;
    return &v[kc->count++];
}

static void kv_add_pending(struct spacefs_fs *fs, const struct node *n)
{
    struct kv_cache *kc;
    struct kv_ent *k;

    pthread_mutex_lock(&fs->lock);
    if ((kc = kv_cache_locked(fs, n)) && !kv_find_locked(fs, n) &&
        (k = kv_append_locked(kc, n->key))) {
        k->pending = 1;
        kc->gen++;
    }
    pthread_mutex_unlock(&fs->lock);
}

static void kv_remove_locked(struct kv_cache *kc, struct kv_ent *k)
{
    size_t i = (size_t)(k - kc->items);

    spacefs_kv_ent_clear(k);
    kc->items[i] = kc->items[--kc->count];
}

static void kv_drop_pending(struct spacefs_fs *fs, const struct node *n)
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

static void kv_record(struct spacefs_fs *fs, const struct node *n, const char *value, size_t len,
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
    if (!k && !(k = kv_append_locked(kc, n->key)))
        goto out;
    k->pending = 0;
    if (n->file == SPACEFS_KV_VARIABLES) {
        char *copy = strndup(value, len); /* kv_send refuses a value holding a NUL */
        if (k->value) {
            explicit_bzero(k->value, strlen(k->value));
            free(k->value);
        }
        k->value = copy;
    }
out:
    pthread_mutex_unlock(&fs->lock);
}

/* ---- the subtree ---------------------------------------------------------------------------- */
struct kv_handle {
    struct router_text text; /* variables: the value read */
    char *wbuf;              /* the value being written; wiped */
    size_t wlen, wcap;
    int wrote;     /* a value was sent */
    int attempted; /* a write or send was tried (release sends no empty value) */
    int dirty;     /* written since the last send: flush or release sends the whole buffer */
    int broken;    /* a write failed (EFBIG, ENOMEM): the buffer is a prefix, never sent */
    int created;   /* O_CREAT/O_TRUNC: an empty value is sent at release if nothing was written */
};

static int kv_parse(struct spacefs_fs *fs, struct node *n, int entry, const char *rest)
{
    (void)fs;
    n->file = entry;
    if (!rest[0])
        return 0;
    if (strchr(rest, '/') || strlen(rest) >= sizeof(n->key))
        return -ENOENT;
    n->kind = KV_KEY;
    snprintf(n->key, sizeof(n->key), "%s", rest);
    return 0;
}

static int kv_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    int rc, writable;
    struct space_ent *se;
    struct kv_ent *k;
    mode_t mode;

    if ((rc = spacefs_ns_ensure(fs, n->ns)) < 0)
        return rc;
    if (!spacefs_ns_is_own(fs, n->ns))
        return -ENOENT;
    writable = spacefs_ns_writable(fs, n->ns);
    if (n->kind == KV_KEY && (!spacefs_key_valid(n->key) || (rc = kv_ensure(fs, n)) < 0))
        return rc < 0 ? rc : -ENOENT;
    pthread_mutex_lock(&fs->lock);
    if (!(se = spacefs_space_find_locked(fs, n->ns, n->space))) {
        rc = -ENOENT;
    } else if (n->kind == KV_DIR) {
        router_fill(fs, st, S_IFDIR | (writable ? 0755 : 0555), 0, se->sp.last_modified);
    } else if (!(k = kv_find_locked(fs, n))) {
        rc = -ENOENT;
    } else {
        if (n->file == SPACEFS_KV_SECRETS)
            mode = S_IFREG | (writable ? 0200 : 0000);
        else
            mode = S_IFREG | (writable ? 0644 : 0444);
        router_fill(fs, st, mode, k->value ? strlen(k->value) + 1 : 0, se->sp.last_modified);
    }
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int kv_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                      void *payload)
{
    struct space_ent *se;
    struct kv_cache *kc;
    char **v;
    size_t i, c;
    int rc;

    if ((rc = kv_ensure(fs, n)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    se = spacefs_space_find_locked(fs, n->ns, n->space);
    kc = se ? &se->kv[n->file] : NULL;
    c = kc ? kc->count : 0;
    v = calloc(c + 1, sizeof(char *));
    for (i = 0; v && i < c; i++)
        v[i] = spacefs_strdup(kc->items[i].key);
    pthread_mutex_unlock(&fs->lock);
    if (!v)
        return -ENOMEM;
    for (i = 0; i < c; i++)
        if (v[i] && fn(v[i], NULL, payload))
            break;
    spacefs_strv_free(v, c);
    return 0;
}

static int kv_unlink(struct spacefs_fs *fs, const struct node *n)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct kv_ent *k;
    int rc, pending;

    if (n->kind != KV_KEY)
        return -EPERM;
    if (!spacefs_key_valid(n->key))
        return -ENOENT;
    if (!spacefs_ns_writable(fs, n->ns))
        return -EACCES;
    if ((rc = kv_ensure(fs, n)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    k = kv_find_locked(fs, n);
    pending = k && k->pending;
    pthread_mutex_unlock(&fs->lock);
    if (!k)
        return -ENOENT;
    if (pending) {
        kv_drop_pending(fs, n);
        return 0;
    }
    st = fs->be.ops->kv_delete(fs->be.ctx, n->id, (enum spacefs_kv_kind)n->file, n->key, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK)
        return spacefs_call_failed(
            fs, n->file == SPACEFS_KV_SECRETS ? "delete secret of" : "delete variable of", n->id,
            st, &err);
    kv_record(fs, n, NULL, 0, 1);
    return 0;
}

static int kv_open(struct spacefs_fs *fs, struct spacefs_handle *h, const char *rest, mode_t mode,
                   int create)
{
    struct kv_handle *kh;
    struct kv_ent *k;
    int rc;

    (void)rest;
    (void)mode;
    if (create) {
        if (h->n.kind != KV_KEY || !spacefs_ns_is_own(fs, h->n.ns))
            return h->n.kind != KV_KEY ? -ENOSYS : -ENOENT;
        if (!spacefs_key_valid(h->n.key))
            return -EINVAL; /* before any request */
        if ((rc = kv_ensure(fs, &h->n)) < 0)
            return rc;
        if (!spacefs_ns_writable(fs, h->n.ns) || router_want_read(h->flags))
            return -EACCES;
    } else if ((rc = router_open_check(fs, &h->n, h->flags)) < 0) {
        return rc;
    }
    if (!(kh = calloc(1, sizeof(*kh))))
        return -ENOMEM;
    h->state = kh;
    kh->created = create || (h->flags & O_TRUNC);
    if (create) {
        kv_add_pending(fs, &h->n);
    } else if (router_want_read(h->flags)) {
        /* variables only (secrets are not readable); the cache was filled by getattr */
        pthread_mutex_lock(&fs->lock);
        k = kv_find_locked(fs, &h->n);
        kh->text.data = k && k->value ? spacefs_asprintf("%s\n", k->value) : spacefs_strdup("");
        pthread_mutex_unlock(&fs->lock);
        if (!kh->text.data) {
            free(kh);
            h->state = NULL;
            return -ENOMEM;
        }
        kh->text.len = strlen(kh->text.data);
    }
    return 0;
}

static long kv_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                    int64_t off)
{
    (void)fs;
    return router_text_read(&((struct kv_handle *)h->state)->text, buf, size, off);
}

/* Appends to the handle's value buffer; growing copies and wipes the old block. */
static int wbuf_append(struct kv_handle *kh, const char *buf, size_t size)
{
    if (kh->wlen + size > VALUE_MAX)
        return -EFBIG;
    if (size == 0)
        return 0;
    if (kh->wlen + size > kh->wcap) {
        size_t cap = kh->wcap ? kh->wcap : 256;
        char *n;
        while (cap < kh->wlen + size)
            cap *= 2;
        if (!(n = malloc(cap)))
            return -ENOMEM;
        if (kh->wbuf) {
            memcpy(n, kh->wbuf, kh->wlen);
            explicit_bzero(kh->wbuf, kh->wcap);
            free(kh->wbuf);
        }
        kh->wbuf = n;
        kh->wcap = cap;
    }
    memcpy(kh->wbuf + kh->wlen, buf, size);
    kh->wlen += size;
    return 0;
}

/* Sends the value written so far, less one trailing newline. */
static int kv_send(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct kv_handle *kh = h->state;
    struct spacefs_error err = {0};
    enum spacefs_status st;
    size_t len = kh->wlen;

    if (len > 0 && kh->wbuf[len - 1] == '\n')
        len--;
    if (len > 0 && memchr(kh->wbuf, '\0', len))
        return -EINVAL;
    st = fs->be.ops->kv_set(fs->be.ctx, h->n.id, (enum spacefs_kv_kind)h->n.file, h->n.key,
                            len ? kh->wbuf : "", len, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK) {
        if (!kh->wrote)
            kv_drop_pending(fs, &h->n);
        kh->attempted = 1;
        return spacefs_call_failed(
            fs, h->n.file == SPACEFS_KV_SECRETS ? "set secret of" : "set variable of", h->n.id, st,
            &err);
    }
    kh->wrote = 1;
    kv_record(fs, &h->n, len ? kh->wbuf : "", len, 0);
    return 0;
}

static long kv_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                     int64_t off)
{
    struct kv_handle *kh = h->state;
    int rc;

    (void)fs;
    (void)off; /* a whole value per open; offsets do not address anything */
    kh->attempted = 1;
    if (kh->broken)
        return -EFBIG;
    if ((rc = wbuf_append(kh, buf, size)) < 0) {
        kh->broken = 1; /* refused locally, nothing sent: the Hub keeps its value */
        spacefs_log(SPACEFS_WARN, "%s %s of %s: a value is at most %d bytes: refused (EFBIG)",
                    h->n.file == SPACEFS_KV_SECRETS ? "secret" : "variable", h->n.key, h->n.id,
                    VALUE_MAX);
        return rc;
    }
    kh->dirty = 1;
    return (long)size;
}

/* close(2) of a descriptor: what it wrote goes to the Hub now, whole, and the Hub's error is
 * close's. A shell's "> file" closes a duplicate before the first write: nothing to send yet. */
static int kv_flush(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct kv_handle *kh = h->state;

    if (!kh || !kh->dirty || kh->broken)
        return kh && kh->broken ? -EFBIG : 0;
    kh->dirty = 0;
    return kv_send(fs, h);
}

static void kv_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct kv_handle *kh = h->state;

    if (!kh)
        return;
    /* Written but not flushed (no close(2) came, e.g. the writer was killed): sent now; and
     * ": > variables/K" or "touch secrets/NEW": created or truncated, never written: the empty
     * value. Errors here can only be logged. */
    if (kh->dirty && !kh->broken)
        kv_send(fs, h);
    else if (kh->created && !kh->attempted && router_want_write(h->flags))
        kv_send(fs, h);
    else if (kh->broken && !kh->wrote)
        kv_drop_pending(fs, &h->n);
    if (kh->wbuf) {
        explicit_bzero(kh->wbuf, kh->wcap);
        free(kh->wbuf);
    }
    free(kh->text.data);
    free(kh);
}

const struct spacefs_subtree_ops spacefs_kv_ops = {
    .name = "kv",
    .names = kv_names,
    .shown = router_shown_own,
    .parse = kv_parse,
    .getattr = kv_getattr,
    .readdir = kv_readdir,
    .unlink = kv_unlink,
    .open = kv_open,
    .read = kv_read,
    .write = kv_write,
    .flush = kv_flush,
    .fsync = kv_flush, /* fsync(2): sent now, whole, with the Hub's answer */
    .release = kv_release,
};
