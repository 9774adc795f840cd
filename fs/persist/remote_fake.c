/* The in-memory fake Dataset for the persist engine's unit tests (see remote_fake.h). Each
 * commit holds a full snapshot of its files; object ids are content hashes (git blob ids FNV,
 * hex; LFS ids the real sha256), so a copy by oid and a fetch by oid work as on the Hub. */
#include "remote_fake.h"
#include "common.h"
#include "hubclient.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FAKE_LFS_THRESHOLD 64 /* larger files (or ones holding a NUL byte) are LFS objects */

struct ffile {
    char *path;
    unsigned char *data;
    size_t len;
    int is_lfs;
    char oid[PERSIST_OID_MAX];
    char lfs_oid[PERSIST_OID_MAX];
};

struct fcommit {
    char id[PERSIST_OID_MAX];
    char parent[PERSIST_OID_MAX];
    char *summary;
    int64_t time;
    struct ffile *files;
    size_t n;
};

struct fault {
    enum spacefs_status st;
    unsigned count, retry_after_ms;
};

struct persist_fake {
    pthread_mutex_t lock;
    unsigned refs;
    int exists, is_private;
    struct fcommit *commits; /* commits[ncommits-1] is main's head */
    size_t ncommits;
    unsigned calls[PERSIST_FAKE_OPS];
    unsigned hash_reads;     /* LFS PUTs without a digest: remote_hub reads those to hash */
    unsigned sha_mismatches; /* PUTs whose given digest was wrong (refused) */
    uint64_t object_bytes;   /* bytes served by object and object_range calls */
    int corrupt;             /* LFS objects are served with one byte changed (a hostile server) */
    int api;                 /* remotes offer head_read and lookup */
    int lookup_commits;      /* lookup says the commit it answered from (X-Repo-Commit) */
    struct fault faults[PERSIST_FAKE_OPS];
    void (*on_commit)(void *);
    void *on_commit_payload;
    persist_fake_hook_fn on_call;
    void *on_call_payload;
};

static void hash_hex(char *out, size_t digits, const char *salt, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (const char *s = salt; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    for (size_t i = 0; i < digits; i++) {
        h = h * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = "0123456789abcdef"[(h >> 60) & 15];
    }
    out[digits] = '\0';
}

static void ffile_fill(struct persist_fake *f, struct ffile *ff)
{
    ff->is_lfs = (int64_t)ff->len > FAKE_LFS_THRESHOLD || memchr(ff->data, 0, ff->len) != NULL;
    {
        hub_sha256 s;
        hub_sha256_init(&s);
        hub_sha256_update(&s, ff->data, ff->len);
        hub_sha256_hex(&s, ff->lfs_oid);
    }
    hash_hex(ff->oid, 40, ff->is_lfs ? ff->lfs_oid : "blob", ff->data, ff->len);
    if (!ff->is_lfs)
        ff->lfs_oid[0] = '\0';
}

static void commit_clear(struct fcommit *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->files[i].path);
        free(c->files[i].data);
    }
    free(c->files);
    free(c->summary);
}

struct persist_fake *persist_fake_new(void)
{
    struct persist_fake *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->refs = 1;
    f->exists = f->is_private = 1;
    return f;
}

void persist_fake_unref(struct persist_fake *f)
{
    unsigned left;
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    left = --f->refs;
    pthread_mutex_unlock(&f->lock);
    if (left)
        return;
    for (size_t i = 0; i < f->ncommits; i++)
        commit_clear(&f->commits[i]);
    free(f->commits);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void persist_fake_set_repo(struct persist_fake *f, int exists, int is_private)
{
    pthread_mutex_lock(&f->lock);
    f->exists = exists;
    f->is_private = is_private;
    pthread_mutex_unlock(&f->lock);
}

void persist_fake_delete_repo(struct persist_fake *f)
{
    pthread_mutex_lock(&f->lock);
    f->exists = 0;
    for (size_t i = 0; i < f->ncommits; i++)
        commit_clear(&f->commits[i]);
    f->ncommits = 0; /* a repository made again starts from nothing */
    pthread_mutex_unlock(&f->lock);
}

void persist_fake_fail(struct persist_fake *f, enum persist_fake_op op, enum spacefs_status st,
                       unsigned count, unsigned retry_after_ms)
{
    pthread_mutex_lock(&f->lock);
    f->faults[op].st = st;
    f->faults[op].count = count;
    f->faults[op].retry_after_ms = retry_after_ms;
    pthread_mutex_unlock(&f->lock);
}

void persist_fake_on_commit(struct persist_fake *f, void (*fn)(void *), void *payload)
{
    pthread_mutex_lock(&f->lock);
    f->on_commit = fn;
    f->on_commit_payload = payload;
    pthread_mutex_unlock(&f->lock);
}

void persist_fake_on_call(struct persist_fake *f, persist_fake_hook_fn fn, void *payload)
{
    pthread_mutex_lock(&f->lock);
    f->on_call = fn;
    f->on_call_payload = payload;
    pthread_mutex_unlock(&f->lock);
}

/* Runs the on_call hook, if any (without the fake's lock). */
static void call_hook(struct persist_fake *f, enum persist_fake_op op, int after)
{
    persist_fake_hook_fn fn;
    void *payload;
    pthread_mutex_lock(&f->lock);
    fn = f->on_call;
    payload = f->on_call_payload;
    pthread_mutex_unlock(&f->lock);
    if (fn)
        fn(payload, op, after);
}

/* A counter of f read under its lock. */
static unsigned counter(struct persist_fake *f, const unsigned *c)
{
    unsigned n;
    pthread_mutex_lock(&f->lock);
    n = *c;
    pthread_mutex_unlock(&f->lock);
    return n;
}

unsigned persist_fake_calls(struct persist_fake *f, enum persist_fake_op op)
{
    return counter(f, &f->calls[op]);
}

unsigned persist_fake_commit_count(struct persist_fake *f)
{
    unsigned n;
    pthread_mutex_lock(&f->lock);
    n = (unsigned)f->ncommits;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* Counts the call and applies a scripted fault. Lock held. */
static enum spacefs_status enter(struct persist_fake *f, enum persist_fake_op op,
                                 struct spacefs_error *err)
{
    struct fault *ft = &f->faults[op];
    f->calls[op]++;
    if (!ft->count)
        return SPACEFS_OK;
    ft->count--;
    if (err) {
        err->retry_after_ms = ft->retry_after_ms;
        snprintf(err->message, sizeof(err->message), "scripted fault");
    }
    return ft->st;
}

static struct fcommit *head(struct persist_fake *f)
{
    return f->ncommits ? &f->commits[f->ncommits - 1] : NULL;
}

static struct fcommit *find_commit(struct persist_fake *f, const char *id)
{
    for (size_t i = 0; i < f->ncommits; i++)
        if (!strcmp(f->commits[i].id, id))
            return &f->commits[i];
    return NULL;
}

static struct ffile *find_file(struct fcommit *c, const char *path)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (!strcmp(c->files[i].path, path))
            return &c->files[i];
    return NULL;
}

/* Starts a new commit as a copy of the head (lock held). */
static struct fcommit *commit_begin(struct persist_fake *f, const char *summary)
{
    struct fcommit *nc, *h;
    struct fcommit *v = realloc(f->commits, (f->ncommits + 1) * sizeof(*v));
    if (!v)
        return NULL;
    f->commits = v;
    h = head(f);
    nc = &f->commits[f->ncommits];
    memset(nc, 0, sizeof(*nc));
    if (h) {
        snprintf(nc->parent, sizeof(nc->parent), "%s", h->id);
        nc->files = calloc(h->n + 1, sizeof(*nc->files));
        for (size_t i = 0; nc->files && i < h->n; i++) {
            nc->files[i] = h->files[i];
            nc->files[i].path = strdup(h->files[i].path);
            nc->files[i].data = malloc(h->files[i].len + 1);
            memcpy(nc->files[i].data, h->files[i].data, h->files[i].len);
        }
        nc->n = h->n;
    }
    nc->summary = strdup(summary);
    nc->time = (int64_t)time(NULL);
    return nc;
}

static void commit_end(struct persist_fake *f, struct fcommit *nc)
{
    char salt[32];
    snprintf(salt, sizeof(salt), "commit%zu", f->ncommits);
    hash_hex(nc->id, 40, salt, nc->parent, strlen(nc->parent));
    f->ncommits++;
}

static int put_file(struct persist_fake *f, struct fcommit *c, const char *path,
                    unsigned char *data, size_t len)
{
    struct ffile *ff = find_file(c, path);
    if (!ff) {
        struct ffile *v = realloc(c->files, (c->n + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        c->files = v;
        ff = &c->files[c->n++];
        memset(ff, 0, sizeof(*ff));
        ff->path = strdup(path);
    } else {
        free(ff->data);
    }
    ff->data = data;
    ff->len = len;
    ffile_fill(f, ff);
    return 0;
}

static int del_file(struct fcommit *c, const char *path)
{
    struct ffile *ff = find_file(c, path);
    if (!ff)
        return -ENOENT;
    free(ff->path);
    free(ff->data);
    *ff = c->files[--c->n];
    return 0;
}

/* ---- ops --------------------------------------------------------------------------------- */

static enum spacefs_status f_probe(void *ctx, int *out_exists, int *out_private,
                                   struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    call_hook(f, PERSIST_FAKE_PROBE, 0);
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_PROBE, err)) == SPACEFS_OK) {
        *out_exists = f->exists;
        *out_private = f->is_private;
    }
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_PROBE, 1);
    return st;
}

static enum spacefs_status f_create(void *ctx, struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_CREATE, err)) == SPACEFS_OK) {
        f->exists = 1;
        f->is_private = 1;
    }
    pthread_mutex_unlock(&f->lock);
    return st;
}

static enum spacefs_status f_fetch(void *ctx, char out_head[PERSIST_OID_MAX],
                                   struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    call_hook(f, PERSIST_FAKE_FETCH, 0);
    pthread_mutex_lock(&f->lock);
    st = enter(f, PERSIST_FAKE_FETCH, err);
    if (st == SPACEFS_OK && !f->exists)
        st = SPACEFS_E_NOT_FOUND;
    if (st == SPACEFS_OK)
        snprintf(out_head, PERSIST_OID_MAX, "%s", head(f) ? head(f)->id : "");
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_FETCH, 1);
    return st;
}

static enum spacefs_status f_tree(void *ctx, const char *commit, struct persist_rentry **out,
                                  size_t *out_count, struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    struct fcommit *c;

    *out = NULL;
    *out_count = 0;
    call_hook(f, PERSIST_FAKE_TREE, 0);
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_TREE, err)) != SPACEFS_OK)
        goto out;
    if (!(c = find_commit(f, commit))) {
        st = SPACEFS_E_NOT_FOUND;
        goto out;
    }
    if (!(*out = calloc(c->n + 1, sizeof(**out)))) {
        st = SPACEFS_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct persist_rentry *e = &(*out)[i];
        e->path = strdup(c->files[i].path);
        e->size = (int64_t)c->files[i].len;
        e->is_lfs = c->files[i].is_lfs;
        memcpy(e->oid, c->files[i].oid, sizeof(e->oid));
        memcpy(e->lfs_oid, c->files[i].lfs_oid, sizeof(e->lfs_oid));
    }
    *out_count = c->n;
out:
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_TREE, 1);
    return st;
}

/* Any stored file with that object id (lock held). */
static struct ffile *find_object(struct persist_fake *f, const struct persist_rentry *e)
{
    for (size_t i = f->ncommits; i-- > 0;)
        for (size_t j = 0; j < f->commits[i].n; j++) {
            struct ffile *ff = &f->commits[i].files[j];
            if (e->is_lfs ? !strcmp(ff->lfs_oid, e->lfs_oid) && ff->is_lfs
                          : !strcmp(ff->oid, e->oid))
                return ff;
        }
    return NULL;
}

static enum spacefs_status f_object_get(void *ctx, const struct persist_rentry *e, int fd,
                                        struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    struct ffile *ff;

    call_hook(f, PERSIST_FAKE_OBJECT, 0);
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_OBJECT, err)) != SPACEFS_OK)
        goto out;
    if (!(ff = find_object(f, e)))
        st = SPACEFS_E_NOT_FOUND;
    else if (pwrite(fd, ff->data, ff->len, 0) != (ssize_t)ff->len)
        st = SPACEFS_E_IO;
    else if (f->corrupt && ff->is_lfs && ff->len && pwrite(fd, "\x5a", 1, 0) != 1)
        st = SPACEFS_E_IO;
    if (st == SPACEFS_OK)
        f->object_bytes += ff->len;
out:
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_OBJECT, 1);
    return st;
}

#define RANGE_CHUNK 16384 /* bytes per on_data call, as a network read would hand them */

static enum spacefs_status f_object_range(void *ctx, const struct persist_rentry *e, int64_t offset,
                                          int64_t length, persist_data_fn fn, void *payload,
                                          struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    unsigned char *copy = NULL;
    struct ffile *ff;
    size_t len = 0;

    call_hook(f, PERSIST_FAKE_OBJECT, 0);
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_OBJECT, err)) != SPACEFS_OK)
        goto out;
    if (!(ff = find_object(f, e)) || !ff->is_lfs) {
        st = SPACEFS_E_NOT_FOUND;
        goto out;
    }
    if (offset < 0 || length <= 0 || offset >= (int64_t)ff->len) {
        st = SPACEFS_E_BAD_REQUEST; /* 416 */
        goto out;
    }
    len = (size_t)((int64_t)ff->len - offset < length ? (int64_t)ff->len - offset : length);
    if (!(copy = malloc(len))) {
        st = SPACEFS_E_NOMEM;
        goto out;
    }
    memcpy(copy, ff->data + offset, len);
    if (f->corrupt && offset == 0)
        copy[0] = 0x5a;
out:
    pthread_mutex_unlock(&f->lock);
    for (size_t at = 0; st == SPACEFS_OK && at < len; at += RANGE_CHUNK) {
        size_t n = len - at < RANGE_CHUNK ? len - at : RANGE_CHUNK;
        pthread_mutex_lock(&f->lock);
        f->object_bytes += n;
        pthread_mutex_unlock(&f->lock);
        if (fn(copy + at, n, payload) != 0)
            st = SPACEFS_E_CANCELLED;
    }
    free(copy);
    call_hook(f, PERSIST_FAKE_OBJECT, 1);
    return st;
}

static enum spacefs_status f_commit(void *ctx, const char *parent, const char *summary,
                                    const struct persist_rop *ops, size_t n,
                                    char out_oid[PERSIST_OID_MAX], persist_progress_fn progress,
                                    void *payload, struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    struct fcommit *nc = NULL;
    int64_t sent = 0;
    void (*hook)(void *);
    void *hook_payload;

    call_hook(f, PERSIST_FAKE_COMMIT, 0);
    pthread_mutex_lock(&f->lock);
    hook = f->on_commit;
    hook_payload = f->on_commit_payload;
    pthread_mutex_unlock(&f->lock);
    if (hook)
        hook(hook_payload); /* e.g. the test writes while "uploading" */
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_COMMIT, err)) != SPACEFS_OK)
        goto out;
    if (!f->exists) {
        st = SPACEFS_E_NOT_FOUND;
        goto out;
    }
    if (strcmp(parent, head(f) ? head(f)->id : "") != 0) {
        st = SPACEFS_E_STALE;
        snprintf(err->message, sizeof(err->message), "The branch was updated");
        goto out;
    }
    if (!(nc = commit_begin(f, summary))) {
        st = SPACEFS_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && st == SPACEFS_OK; i++) {
        const struct persist_rop *op = &ops[i];
        unsigned char *data = NULL;
        size_t len = 0;
        if (op->kind == PERSIST_ROP_DELETE) {
            if (del_file(nc, op->path) < 0) {
                st = SPACEFS_E_NOT_FOUND;
                snprintf(err->message, sizeof(err->message), "delete %s: no such file", op->path);
            }
            continue;
        }
        if (op->kind == PERSIST_ROP_PUT) {
            len = (size_t)op->size;
            data = malloc(len + 1);
            if (!data || pread(op->fd, data, len, 0) != (ssize_t)len) {
                free(data);
                st = SPACEFS_E_IO;
                snprintf(err->message, sizeof(err->message), "put %s: cannot read %zu bytes",
                         op->path, len);
                continue;
            }
            if (op->sha256[0]) { /* the Hub would store the object under the given id */
                hub_sha256 s;
                char hex[PERSIST_OID_MAX];
                hub_sha256_init(&s);
                hub_sha256_update(&s, data, len);
                hub_sha256_hex(&s, hex);
                if (strcmp(hex, op->sha256) != 0) {
                    free(data);
                    f->sha_mismatches++;
                    st = SPACEFS_E_BAD_REQUEST;
                    snprintf(err->message, sizeof(err->message), "put %s: sha256 mismatch",
                             op->path);
                    continue;
                }
            } else if ((int64_t)len > FAKE_LFS_THRESHOLD || memchr(data, 0, len)) {
                f->hash_reads++; /* an LFS upload: remote_hub hashes the file first */
            }
        } else {
            struct ffile *src = find_object(f, op->src);
            if (!src || !(data = malloc(src->len + 1))) {
                st = SPACEFS_E_NOT_FOUND;
                snprintf(err->message, sizeof(err->message), "copy %s: no object", op->path);
                continue;
            }
            memcpy(data, src->data, src->len);
            len = src->len;
        }
        sent += (int64_t)len;
        if (progress)
            progress(sent, payload);
        if (put_file(f, nc, op->path, data, len) < 0) {
            free(data);
            st = SPACEFS_E_NOMEM;
        }
    }
    if (st != SPACEFS_OK) {
        commit_clear(nc);
        goto out;
    }
    commit_end(f, nc);
    snprintf(out_oid, PERSIST_OID_MAX, "%s", nc->id);
out:
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_COMMIT, 1);
    return st;
}

static enum spacefs_status f_commits(void *ctx, const char *headid, size_t max,
                                     struct persist_rcommit **out, size_t *out_count,
                                     struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    struct fcommit *c;
    size_t n = 0;

    *out = NULL;
    *out_count = 0;
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_COMMITS, err)) != SPACEFS_OK)
        goto out;
    if (!(*out = calloc(f->ncommits + 1, sizeof(**out)))) {
        st = SPACEFS_E_NOMEM;
        goto out;
    }
    for (c = find_commit(f, headid); c && (!max || n < max);
         c = c->parent[0] ? find_commit(f, c->parent) : NULL) {
        memcpy((*out)[n].id, c->id, sizeof(c->id));
        (*out)[n].time = c->time;
        (*out)[n].summary = strdup(c->summary ? c->summary : "");
        n++;
    }
    *out_count = n;
out:
    pthread_mutex_unlock(&f->lock);
    return st;
}

static enum spacefs_status f_head_read(void *ctx, const char *path, size_t max_len,
                                       char out_commit[PERSIST_OID_MAX], void **out,
                                       size_t *out_len, struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    enum spacefs_status st;
    struct ffile *ff;

    *out = NULL;
    *out_len = 0;
    out_commit[0] = '\0';
    call_hook(f, PERSIST_FAKE_HEAD_READ, 0);
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_HEAD_READ, err)) != SPACEFS_OK)
        goto out;
    if (!f->exists || !head(f) || !(ff = find_file(head(f), path))) {
        st = SPACEFS_E_NOT_FOUND;
        goto out;
    }
    if (ff->len > max_len) {
        st = SPACEFS_E_OTHER;
        goto out;
    }
    if (!(*out = malloc(ff->len + 1))) {
        st = SPACEFS_E_NOMEM;
        goto out;
    }
    memcpy(*out, ff->data, ff->len);
    *out_len = ff->len;
    snprintf(out_commit, PERSIST_OID_MAX, "%s", head(f)->id);
out:
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_HEAD_READ, 1);
    return st;
}

static enum spacefs_status f_lookup(void *ctx, const char *rev, const char *path,
                                    struct persist_rentry *out, int *out_kind,
                                    char out_commit[PERSIST_OID_MAX], struct spacefs_error *err)
{
    struct persist_fake *f = ctx;
    size_t plen = strlen(path);
    enum spacefs_status st;
    struct fcommit *c;
    struct ffile *ff;

    memset(out, 0, sizeof(*out));
    *out_kind = 0;
    out_commit[0] = '\0';
    call_hook(f, PERSIST_FAKE_LOOKUP, 0);
    pthread_mutex_lock(&f->lock);
    if ((st = enter(f, PERSIST_FAKE_LOOKUP, err)) != SPACEFS_OK)
        goto out;
    if (!f->exists || !(c = rev[0] ? find_commit(f, rev) : head(f))) {
        st = f->exists && !rev[0] ? SPACEFS_OK : SPACEFS_E_NOT_FOUND; /* empty: nothing there */
        goto out;
    }
    if (f->lookup_commits)
        snprintf(out_commit, PERSIST_OID_MAX, "%s", c->id);
    if ((ff = find_file(c, path))) {
        if (!(out->path = strdup(path))) {
            st = SPACEFS_E_NOMEM;
            goto out;
        }
        *out_kind = 1;
        out->size = (int64_t)ff->len;
        out->is_lfs = ff->is_lfs;
        memcpy(out->oid, ff->oid, sizeof(out->oid));
        memcpy(out->lfs_oid, ff->lfs_oid, sizeof(out->lfs_oid));
        snprintf(out->commit, sizeof(out->commit), "%s", rev);
        goto out;
    }
    for (size_t i = 0; i < c->n; i++)
        if (!strncmp(c->files[i].path, path, plen) && c->files[i].path[plen] == '/')
            *out_kind = 2;
out:
    pthread_mutex_unlock(&f->lock);
    call_hook(f, PERSIST_FAKE_LOOKUP, 1);
    return st;
}

static void f_free(void *ctx)
{
    persist_fake_unref(ctx);
}

static const struct persist_remote_ops fake_ops = {
    .probe = f_probe,
    .create = f_create,
    .fetch = f_fetch,
    .tree = f_tree,
    .object_get = f_object_get,
    .object_range = f_object_range,
    .commit = f_commit,
    .commits = f_commits,
    .free = f_free,
};

static const struct persist_remote_ops fake_api_ops = {
    .probe = f_probe,
    .create = f_create,
    .fetch = f_fetch,
    .tree = f_tree,
    .object_get = f_object_get,
    .object_range = f_object_range,
    .commit = f_commit,
    .commits = f_commits,
    .head_read = f_head_read,
    .lookup = f_lookup,
    .free = f_free,
};

struct persist_remote persist_fake_remote(struct persist_fake *f)
{
    struct persist_remote r = {&fake_ops, f};
    pthread_mutex_lock(&f->lock);
    f->refs++;
    if (f->api)
        r.ops = &fake_api_ops;
    pthread_mutex_unlock(&f->lock);
    return r;
}

void persist_fake_set_api(struct persist_fake *f, int on)
{
    pthread_mutex_lock(&f->lock);
    f->api = on != 0;
    f->lookup_commits = on == 1; /* 2: a Hub that does not say which commit paths-info saw */
    pthread_mutex_unlock(&f->lock);
}

/* ---- test helpers -------------------------------------------------------------------------- */

int persist_fake_write(struct persist_fake *f, const char *path, const void *data, size_t len)
{
    struct fcommit *nc;
    int rc = 0;

    pthread_mutex_lock(&f->lock);
    if (!(nc = commit_begin(f, data ? "other writer: put" : "other writer: delete"))) {
        rc = -ENOMEM;
        goto out;
    }
    if (data) {
        unsigned char *copy = malloc(len + 1);
        if (!copy) {
            rc = -ENOMEM;
        } else {
            memcpy(copy, data, len);
            if ((rc = put_file(f, nc, path, copy, len)) < 0)
                free(copy);
        }
    } else {
        rc = del_file(nc, path);
    }
    if (rc < 0)
        commit_clear(nc);
    else
        commit_end(f, nc);
out:
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int persist_fake_read(struct persist_fake *f, const char *path, void **out, size_t *out_len)
{
    struct ffile *ff;
    int rc = -ENOENT;

    *out = NULL;
    *out_len = 0;
    pthread_mutex_lock(&f->lock);
    if ((ff = find_file(head(f), path))) {
        rc = -ENOMEM;
        if ((*out = malloc(ff->len + 1))) {
            memcpy(*out, ff->data, ff->len);
            *out_len = ff->len;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *persist_fake_list(struct persist_fake *f)
{
    struct fcommit *c;
    char **v, *s = NULL;
    size_t n, total = 1, off = 0;

    pthread_mutex_lock(&f->lock);
    c = head(f);
    n = c ? c->n : 0;
    v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        v[i] = c->files[i].path;
        total += strlen(v[i]) + 1;
    }
    if (v) {
        qsort(v, n, sizeof(*v), cmp_str);
        if ((s = malloc(total))) {
            s[0] = '\0';
            for (size_t i = 0; i < n; i++)
                off += (size_t)sprintf(s + off, "%s\n", v[i]);
        }
    }
    pthread_mutex_unlock(&f->lock);
    free(v);
    return s;
}

int persist_fake_is_lfs(struct persist_fake *f, const char *path)
{
    struct ffile *ff;
    int rc;
    pthread_mutex_lock(&f->lock);
    ff = find_file(head(f), path);
    rc = ff ? ff->is_lfs : -1;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

unsigned persist_fake_hash_reads(struct persist_fake *f)
{
    return counter(f, &f->hash_reads);
}

unsigned persist_fake_sha_mismatches(struct persist_fake *f)
{
    return counter(f, &f->sha_mismatches);
}

int persist_fake_lfs_oid(struct persist_fake *f, const char *path, char out[PERSIST_OID_MAX])
{
    struct ffile *ff;
    int rc = -ENOENT;
    pthread_mutex_lock(&f->lock);
    ff = head(f) ? find_file(head(f), path) : NULL;
    if (ff && ff->is_lfs) {
        memcpy(out, ff->lfs_oid, PERSIST_OID_MAX);
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

uint64_t persist_fake_object_bytes(struct persist_fake *f)
{
    uint64_t n;
    pthread_mutex_lock(&f->lock);
    n = f->object_bytes;
    pthread_mutex_unlock(&f->lock);
    return n;
}

void persist_fake_set_corrupt(struct persist_fake *f, int on)
{
    pthread_mutex_lock(&f->lock);
    f->corrupt = on;
    pthread_mutex_unlock(&f->lock);
}
