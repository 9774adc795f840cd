/* The persist engine's real remote: struct persist_remote_ops over hubclient.h and hubmirror.h.
 * Commits go through the HTTP API (preupload decides regular vs LFS as every Hub client does;
 * LFS objects are hashed and uploaded from the overlay file in constant memory; then one NDJSON
 * commit with parentCommit); reads go through the local git mirror, LFS objects through
 * resolve at the commit that listed them, verified by sha256. */
#include "remote_hub.h"

#include "hubclient.h"
#include "hubmirror.h"
#include "hubmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAMPLE_LEN     512
#define INLINE_MAX     ((int64_t)10 << 20) /* the Hub refuses regular files above 10 MiB */
#define HUB_COMMIT_MAX 256                 /* preupload batch size on the Hub */
#define SIGNED_KEPT    8                   /* signed URLs kept, for that many objects */

/* The signed storage URL of one LFS object, reused by its ranged reads (hub_file_read_range). */
struct signed_slot {
    char oid[PERSIST_OID_MAX]; /* sha256; "" free */
    hub_signed_url url;
    int busy;      /* a read is using a copy; what it brings back replaces url */
    uint64_t used; /* LRU tick */
};

struct hubremote {
    hub_client *client; /* borrowed */
    hub_mirror *mirror;
    char *repo_id;
    pthread_mutex_t lock; /* guards signed[] and tick; a leaf, never held across a request */
    struct signed_slot signed_urls[SIGNED_KEPT];
    uint64_t tick;
};

static enum spacefs_status fail(struct spacefs_error *err, hub_status st, const hub_error *he,
                                const char *what)
{
    return spacefs_error_from_hub(err, st, he, what);
}

static enum spacefs_status r_probe(void *ctx, int *out_exists, int *out_private,
                                   struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    char head[HUB_OID_MAX];
    hub_error he;
    hub_status st;
    int pub = 0;

    *out_exists = *out_private = 0;
    st = hub_repo_head(head, r->client, HUB_REPO_DATASET, r->repo_id, "main", &he);
    if (st == HUB_E_NOT_FOUND && strcmp(he.code, "RevisionNotFound") != 0)
        return SPACEFS_OK; /* no such repository */
    if (st != HUB_OK && st != HUB_E_NOT_FOUND)
        return fail(err, st, &he, "repo head");
    *out_exists = 1;
    st = hub_mirror_probe_public(&pub, r->mirror, &he);
    if (st != HUB_OK)
        return fail(err, st, &he, "visibility probe");
    *out_private = !pub;
    return SPACEFS_OK;
}

static enum spacefs_status r_create(void *ctx, struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    hub_repo_spec spec = {HUB_REPO_DATASET, r->repo_id, 1, NULL, NULL};
    hub_error he;
    hub_status st = hub_repo_create(NULL, r->client, &spec, &he);
    if (st == HUB_E_CONFLICT)
        return SPACEFS_OK; /* created meanwhile by someone else */
    return st == HUB_OK ? SPACEFS_OK : fail(err, st, &he, "create dataset");
}

static enum spacefs_status r_fetch(void *ctx, char out_head[PERSIST_OID_MAX],
                                   struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    hub_error he;
    hub_reach reach;
    hub_status st;

    /* the mirror (libgit2) does not go through the client's calls: while the client knows the
     * Hub cannot be reached, a fetch fails as they do, at once, instead of waiting on libgit2's
     * own connection timeouts */
    hub_client_reach(r->client, &reach);
    if (!reach.online) {
        memset(&he, 0, sizeof(he));
        snprintf(he.message, sizeof(he.message), "%.200s unreachable (%.250s); not sent",
                 hub_client_endpoint(r->client), reach.last_error);
        return fail(err, HUB_E_OFFLINE, &he, NULL);
    }
    st = hub_mirror_fetch(r->mirror, out_head, &he); /* its message starts "fetch: " */
    return st == HUB_OK ? SPACEFS_OK : fail(err, st, &he, NULL);
}

static enum spacefs_status r_tree(void *ctx, const char *commit, struct persist_rentry **out,
                                  size_t *out_count, struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    hub_mirror_entry_list *l = NULL;
    struct persist_rentry *v;
    hub_error he;
    hub_status st;
    size_t n = 0;

    *out = NULL;
    *out_count = 0;
    if ((st = hub_mirror_tree_list(&l, r->mirror, commit, &he)) != HUB_OK)
        return fail(err, st, &he, "tree");
    if (!(v = calloc(l->count + 1, sizeof(*v)))) {
        hub_mirror_entry_list_free(l);
        return SPACEFS_E_NOMEM;
    }
    for (size_t i = 0; i < l->count; i++) {
        hub_mirror_entry *e = &l->items[i];
        if (e->is_dir || (e->mode != 0100644 && e->mode != 0100755))
            continue; /* directories are implied; symlinks and submodules are not files here */
        v[n].path = e->path;
        e->path = NULL;
        v[n].size = e->is_lfs ? e->lfs_size : e->size;
        v[n].is_lfs = e->is_lfs;
        snprintf(v[n].oid, sizeof(v[n].oid), "%s", e->oid);
        snprintf(v[n].lfs_oid, sizeof(v[n].lfs_oid), "%s", e->is_lfs ? e->lfs_oid : "");
        snprintf(v[n].commit, sizeof(v[n].commit), "%s", commit);
        n++;
    }
    hub_mirror_entry_list_free(l);
    *out = v;
    *out_count = n;
    return SPACEFS_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    for (size_t off = 0; off < len;) {
        ssize_t n = pwrite(fd, p + off, len - off, (off_t)off);
        if (n < 0)
            return -errno;
        off += (size_t)n;
    }
    return 0;
}

static enum spacefs_status r_object_get(void *ctx, const struct persist_rentry *e, int fd,
                                        struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    char sha[HUB_OID_MAX];
    hub_error he;
    hub_status st;

    if (!e->is_lfs) {
        void *buf;
        size_t len;
        if ((st = hub_mirror_blob_read(&buf, &len, r->mirror, e->oid, 0, &he)) != HUB_OK)
            return fail(err, st, &he, "blob");
        st = write_all(fd, buf, len) < 0 ? HUB_E_IO : HUB_OK;
        free(buf);
        return st == HUB_OK ? SPACEFS_OK : fail(err, st, NULL, "writing the blob");
    }
    st = hub_file_download_fd(NULL, r->client, HUB_REPO_DATASET, r->repo_id,
                              e->commit[0] ? e->commit : "main", e->path, 0, -1, fd, 0, NULL, &he);
    if (st != HUB_OK)
        return fail(err, st, &he, "LFS download");
    if ((st = hub_sha256_fd(sha, fd, e->size, &he)) != HUB_OK)
        return fail(err, st, &he, "hashing the download");
    if (strcmp(sha, e->lfs_oid) != 0) {
        if (err)
            snprintf(err->message, sizeof(err->message), "%s: sha256 mismatch", e->path);
        return SPACEFS_E_OTHER;
    }
    return SPACEFS_OK;
}

/* The slot of oid (found, or the least recently used one taken over). Lock held. */
static struct signed_slot *signed_slot(struct hubremote *r, const char *oid)
{
    struct signed_slot *lru = &r->signed_urls[0];
    for (int i = 0; i < SIGNED_KEPT; i++) {
        struct signed_slot *s = &r->signed_urls[i];
        if (!strcmp(s->oid, oid))
            return s;
        if (s->used < lru->used)
            lru = s;
    }
    hub_signed_url_clear(&lru->url);
    snprintf(lru->oid, sizeof(lru->oid), "%s", oid);
    return lru;
}

static enum spacefs_status r_object_range(void *ctx, const struct persist_rentry *e, int64_t offset,
                                          int64_t length, persist_data_fn on_data, void *payload,
                                          struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    hub_signed_url mine = {0};
    struct signed_slot *slot;
    char *before = NULL;
    hub_error he;
    hub_status st;

    /* Each call works on a copy of the kept URL (readers of one object run in parallel); a URL
     * the call had to resolve anew replaces the kept one. */
    pthread_mutex_lock(&r->lock);
    slot = signed_slot(r, e->lfs_oid);
    slot->used = ++r->tick;
    if (slot->url.url && (mine.url = strdup(slot->url.url)))
        mine.valid_until_ms = slot->url.valid_until_ms;
    pthread_mutex_unlock(&r->lock);
    before = mine.url ? strdup(mine.url) : NULL;
    st = hub_file_read_range(&mine, NULL, r->client, HUB_REPO_DATASET, r->repo_id,
                             e->commit[0] ? e->commit : "main", e->path, offset, length, on_data,
                             payload, NULL, &he);
    if (mine.url && (!before || strcmp(before, mine.url) != 0)) {
        pthread_mutex_lock(&r->lock);
        slot = signed_slot(r, e->lfs_oid);
        hub_signed_url_clear(&slot->url);
        slot->url = mine;
        mine.url = NULL;
        pthread_mutex_unlock(&r->lock);
    }
    free(before);
    hub_signed_url_clear(&mine);
    if (st == HUB_E_CANCELLED)
        return SPACEFS_E_CANCELLED;
    return st == HUB_OK ? SPACEFS_OK : fail(err, st, &he, "LFS range");
}

/* Upload modes for the PUT ops, as the Hub decides them (preupload, batched by the client). */
static enum spacefs_status preupload(struct hubremote *r, const struct persist_rop *ops, size_t n,
                                     hub_upload_mode *modes, struct spacefs_error *err)
{
    hub_preupload_file *pf = calloc(n + 1, sizeof(*pf));
    unsigned char *samples = malloc((n + 1) * SAMPLE_LEN);
    hub_preupload_list *pl = NULL;
    enum spacefs_status rs = SPACEFS_OK;
    size_t k = 0;
    hub_error he;
    hub_status st;

    if (!pf || !samples) {
        rs = SPACEFS_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ssize_t got;
        modes[i] = HUB_UPLOAD_REGULAR;
        if (ops[i].kind != PERSIST_ROP_PUT || ops[i].size == 0)
            continue; /* empty files are always regular (as huggingface_hub does) */
        got = pread(ops[i].fd, samples + k * SAMPLE_LEN, SAMPLE_LEN, 0);
        if (got < 0) {
            rs = SPACEFS_E_IO;
            goto out;
        }
        pf[k].path = ops[i].path;
        pf[k].sample = samples + k * SAMPLE_LEN;
        pf[k].sample_len = (size_t)got;
        pf[k].size = ops[i].size;
        k++;
    }
    if (!k)
        goto out;
    if ((st = hub_preupload(&pl, r->client, HUB_REPO_DATASET, r->repo_id, "main", pf, k, &he)) !=
        HUB_OK) {
        rs = fail(err, st, &he, "preupload");
        goto out;
    }
    for (size_t j = 0; j < pl->count; j++)
        for (size_t i = 0; i < n; i++)
            if (ops[i].kind == PERSIST_ROP_PUT && !strcmp(ops[i].path, pl->items[j].path))
                modes[i] = pl->items[j].mode;
out:
    hub_preupload_list_free(pl);
    free(samples);
    free(pf);
    return rs;
}

/* Files above the Hub's regular-file limit can only go to LFS, whatever preupload answers (it
 * answers "lfs" for them; "regular" is refused below), so their LFS upload (batch, PUT or parts,
 * verify) need not wait for preupload's answer: one thread uploads them while preupload runs,
 * which takes preupload's round trip off the path of a large file. huggingface_hub and
 * @huggingface/hub send preupload first and then the batch for what it named LFS; the Hub
 * requires no order between them (the batch names the object by its sha256 and size only). */
struct early_lfs {
    struct hubremote *r;
    const struct persist_rop *ops;
    size_t n;
    char (*shas)[HUB_OID_MAX];
    unsigned char *done; /* per op: uploaded */
    hub_status st;
    hub_error he;
    size_t failed; /* the op that failed, when st is not HUB_OK */
};

static int early_lfs_op(const struct persist_rop *op)
{
    return op->kind == PERSIST_ROP_PUT && op->size > INLINE_MAX;
}

/* The LFS object of op (the digest taken while written, else one more read to hash it). */
static hub_status lfs_put(struct hubremote *r, const struct persist_rop *op, char sha[HUB_OID_MAX],
                          hub_error *he)
{
    hub_status st = HUB_OK;
    if (op->sha256[0])
        snprintf(sha, HUB_OID_MAX, "%s", op->sha256);
    else
        st = hub_sha256_fd(sha, op->fd, op->size, he);
    if (st == HUB_OK)
        st = hub_lfs_upload_fd(r->client, HUB_REPO_DATASET, r->repo_id, "main", op->fd, op->size,
                               sha, NULL, he);
    return st;
}

static void *early_lfs_main(void *arg)
{
    struct early_lfs *j = arg;
    for (size_t i = 0; i < j->n && j->st == HUB_OK; i++) {
        if (!early_lfs_op(&j->ops[i]))
            continue;
        if ((j->st = lfs_put(j->r, &j->ops[i], j->shas[i], &j->he)) != HUB_OK)
            j->failed = i;
        else
            j->done[i] = 1;
    }
    return NULL;
}

static int read_whole(void **out, int fd, int64_t size)
{
    char *buf = malloc((size_t)size + 1);
    int64_t off = 0;
    *out = NULL;
    if (!buf)
        return -ENOMEM;
    while (off < size) {
        ssize_t n = pread(fd, buf + off, (size_t)(size - off), off);
        if (n <= 0) {
            free(buf);
            return n < 0 ? -errno : -EIO;
        }
        off += n;
    }
    *out = buf;
    return 0;
}

static enum spacefs_status r_commit(void *ctx, const char *parent, const char *summary,
                                    const struct persist_rop *ops, size_t n,
                                    char out_oid[PERSIST_OID_MAX], persist_progress_fn progress,
                                    void *payload, struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    hub_commit_op *hops = calloc(n + 1, sizeof(*hops));
    hub_upload_mode *modes = calloc(n + 1, sizeof(*modes));
    char(*shas)[HUB_OID_MAX] = calloc(n + 1, sizeof(*shas));
    void **bufs = calloc(n + 1, sizeof(*bufs));
    unsigned char *done = calloc(n + 1, 1);
    hub_commit_params params = {summary, NULL, parent[0] ? parent : NULL};
    enum spacefs_status rs = SPACEFS_OK;
    struct early_lfs early = {r, ops, n, shas, done, HUB_OK, {0}, 0};
    pthread_t early_th;
    int early_on = 0;
    int64_t sent = 0;
    hub_error he;
    hub_status st;

    if (!hops || !modes || !shas || !bufs || !done) {
        rs = SPACEFS_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && !early_on; i++)
        if (early_lfs_op(&ops[i])) /* without the thread, the loop below uploads them */
            early_on = pthread_create(&early_th, NULL, early_lfs_main, &early) == 0;
    rs = preupload(r, ops, n, modes, err);
    if (early_on) {
        pthread_join(early_th, NULL);
        if (rs == SPACEFS_OK && early.st != HUB_OK)
            rs = fail(err, early.st, &early.he, ops[early.failed].path);
    }
    if (rs != SPACEFS_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct persist_rop *op = &ops[i];
        hub_commit_op *h = &hops[i];
        h->path = op->path;
        if (op->kind == PERSIST_ROP_DELETE) {
            h->kind = HUB_OP_DELETE_FILE;
        } else if (op->kind == PERSIST_ROP_COPY && op->src->is_lfs) {
            h->kind = HUB_OP_ADD_LFS; /* a copy by object id: nothing to upload */
            h->lfs_oid = op->src->lfs_oid;
            h->lfs_size = op->src->size;
        } else if (op->kind == PERSIST_ROP_COPY) {
            size_t len;
            if ((st = hub_mirror_blob_read(&bufs[i], &len, r->mirror, op->src->oid, 0, &he)) !=
                HUB_OK) {
                rs = fail(err, st, &he, "reading a renamed blob");
                goto out;
            }
            h->kind = HUB_OP_ADD_FILE;
            h->content = bufs[i];
            h->content_len = len;
        } else if (modes[i] == HUB_UPLOAD_LFS) {
            if (!done[i] && (st = lfs_put(r, op, shas[i], &he)) != HUB_OK) {
                rs = fail(err, st, &he, op->path);
                goto out;
            }
            h->kind = HUB_OP_ADD_LFS;
            h->lfs_oid = shas[i];
            h->lfs_size = op->size;
            sent += op->size;
        } else {
            if (op->size > INLINE_MAX) {
                if (err)
                    snprintf(err->message, sizeof(err->message),
                             "%s: the Hub wants a regular file above 10 MiB", op->path);
                rs = SPACEFS_E_BAD_REQUEST;
                goto out;
            }
            if (read_whole(&bufs[i], op->fd, op->size) < 0) {
                rs = SPACEFS_E_IO;
                goto out;
            }
            h->kind = HUB_OP_ADD_FILE;
            h->content = bufs[i];
            h->content_len = (size_t)op->size;
            sent += op->size;
        }
        if (progress)
            progress(sent, payload);
    }
    st = hub_commit_create(out_oid, r->client, HUB_REPO_DATASET, r->repo_id, "main", &params, hops,
                           n, &he);
    if (st != HUB_OK)
        rs = fail(err, st, &he, "commit");
out:
    for (size_t i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(done);
    free(shas);
    free(modes);
    free(hops);
    return rs;
}

static enum spacefs_status r_commits(void *ctx, const char *head, size_t max,
                                     struct persist_rcommit **out, size_t *out_count,
                                     struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    hub_mirror_commit_list *l = NULL;
    hub_error he;
    hub_status st;

    *out = NULL;
    *out_count = 0;
    if ((st = hub_mirror_commits_list(&l, r->mirror, head, max, &he)) != HUB_OK)
        return fail(err, st, &he, "commits");
    if (!(*out = calloc(l->count + 1, sizeof(**out)))) {
        hub_mirror_commit_list_free(l);
        return SPACEFS_E_NOMEM;
    }
    for (size_t i = 0; i < l->count; i++) {
        snprintf((*out)[i].id, sizeof((*out)[i].id), "%s", l->items[i].id);
        (*out)[i].time = l->items[i].time;
        (*out)[i].summary = l->items[i].summary;
        l->items[i].summary = NULL;
    }
    *out_count = l->count;
    hub_mirror_commit_list_free(l);
    return SPACEFS_OK;
}

struct membuf {
    char *data;
    size_t len, max;
};

static int membuf_add(const void *data, size_t len, void *payload)
{
    struct membuf *b = payload;
    char *n;

    if (len > b->max - b->len)
        return 1; /* larger than asked for: stop */
    if (!(n = realloc(b->data, b->len + len + 1)))
        return 1;
    memcpy(n + b->len, data, len);
    b->data = n;
    b->len += len;
    return 0;
}

static enum spacefs_status r_head_read(void *ctx, const char *path, size_t max_len,
                                       char out_commit[PERSIST_OID_MAX], void **out,
                                       size_t *out_len, struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    struct membuf b = {NULL, 0, max_len};
    hub_file_meta meta;
    hub_error he;
    hub_status st;

    *out = NULL;
    *out_len = 0;
    out_commit[0] = '\0';
    memset(&meta, 0, sizeof(meta));
    st = hub_file_download(&meta, r->client, HUB_REPO_DATASET, r->repo_id, "main", path, 0, -1,
                           membuf_add, &b, NULL, &he);
    if (st == HUB_E_CANCELLED) { /* stopped by membuf_add */
        free(b.data);
        if (err)
            snprintf(err->message, sizeof(err->message), "%s: larger than %zu bytes", path,
                     max_len);
        return SPACEFS_E_OTHER;
    }
    if (st != HUB_OK) {
        free(b.data);
        return fail(err, st, &he, "download");
    }
    if (!b.data && !(b.data = calloc(1, 1)))
        return SPACEFS_E_NOMEM;
    snprintf(out_commit, PERSIST_OID_MAX, "%s", meta.commit);
    *out = b.data;
    *out_len = b.len;
    return SPACEFS_OK;
}

/* The HEAD of resolve that runs beside a lookup's paths-info: for an LFS file the Hub's 302
 * carries the signed storage URL (as huggingface_hub's get_hf_file_metadata reads it), so the
 * first range of a read that follows goes straight to storage instead of resolving again. */
struct locate_job {
    struct hubremote *r;
    const char *rev, *path;
    hub_file_meta meta;
    hub_signed_url url;
    hub_status st;
};

static void *locate_main(void *arg)
{
    struct locate_job *j = arg;
    hub_error he;
    j->st = hub_file_locate(&j->meta, &j->url, j->r->client, HUB_REPO_DATASET, j->r->repo_id,
                            j->rev, j->path, &he);
    return NULL;
}

/* The storage URL the locate found, kept for the object paths-info named (the signed URL is
 * the object's, whatever commit named it: the 302's X-Linked-Etag must be that sha256). */
static void locate_keep(struct hubremote *r, struct locate_job *j, const struct persist_rentry *e)
{
    struct signed_slot *slot;

    if (j->st != HUB_OK || !j->url.url || !e->is_lfs || strcmp(j->meta.etag, e->lfs_oid) != 0)
        return;
    pthread_mutex_lock(&r->lock);
    slot = signed_slot(r, e->lfs_oid);
    slot->used = ++r->tick;
    if (!slot->url.url) {
        slot->url = j->url;
        j->url.url = NULL;
    }
    pthread_mutex_unlock(&r->lock);
}

static enum spacefs_status r_lookup(void *ctx, const char *rev, const char *path,
                                    struct persist_rentry *out, int *out_kind,
                                    char out_commit[PERSIST_OID_MAX], struct spacefs_error *err)
{
    struct hubremote *r = ctx;
    const char *paths[1] = {path};
    hub_entry_list *l = NULL;
    char commit[HUB_OID_MAX];
    /* st stays "cancelled" when the thread could not start: nothing located */
    struct locate_job job = {r, rev[0] ? rev : "main", path, {0}, {0}, HUB_E_CANCELLED};
    pthread_t locator;
    int located;
    hub_error he;
    hub_status st;

    memset(out, 0, sizeof(*out));
    *out_kind = 0;
    out_commit[0] = '\0';
    located = pthread_create(&locator, NULL, locate_main, &job) == 0;
    st = hub_paths_info_at(&l, commit, r->client, HUB_REPO_DATASET, r->repo_id,
                           rev[0] ? rev : "main", paths, 1, &he);
    if (located)
        pthread_join(locator, NULL);
    if (st == HUB_OK)
        snprintf(out_commit, PERSIST_OID_MAX, "%s", commit);
    if (st != HUB_OK) {
        hub_signed_url_clear(&job.url);
        return fail(err, st, &he, "paths-info");
    }
    for (size_t i = 0; i < l->count; i++) {
        hub_entry *e = &l->items[i];
        if (strcmp(e->path, path) != 0)
            continue;
        if (e->is_dir) {
            *out_kind = 2;
            break;
        }
        if (!e->oid || !(out->path = strdup(path))) {
            hub_entry_list_free(l);
            hub_signed_url_clear(&job.url);
            if (!e->oid) {
                if (err)
                    snprintf(err->message, sizeof(err->message), "%s: no oid", path);
                return SPACEFS_E_OTHER;
            }
            return SPACEFS_E_NOMEM;
        }
        *out_kind = 1;
        out->size = e->size;
        out->is_lfs = e->lfs_oid != NULL;
        snprintf(out->oid, sizeof(out->oid), "%s", e->oid);
        snprintf(out->lfs_oid, sizeof(out->lfs_oid), "%s", e->lfs_oid ? e->lfs_oid : "");
        snprintf(out->commit, sizeof(out->commit), "%s", rev);
        locate_keep(r, &job, out);
        break;
    }
    hub_entry_list_free(l);
    hub_signed_url_clear(&job.url);
    return SPACEFS_OK;
}

static void r_free(void *ctx)
{
    struct hubremote *r = ctx;
    if (!r)
        return;
    hub_mirror_free(r->mirror);
    for (int i = 0; i < SIGNED_KEPT; i++)
        hub_signed_url_clear(&r->signed_urls[i].url);
    pthread_mutex_destroy(&r->lock);
    free(r->repo_id);
    free(r);
}

static const struct persist_remote_ops hub_ops = {
    .probe = r_probe,
    .create = r_create,
    .fetch = r_fetch,
    .tree = r_tree,
    .object_get = r_object_get,
    .object_range = r_object_range,
    .commit = r_commit,
    .commits = r_commits,
    .head_read = r_head_read,
    .lookup = r_lookup,
    .free = r_free,
};

static void mirror_log(hub_log_level level, const char *msg, void *payload)
{
    const struct persist_hub_options *opts = payload;

    opts->log((enum spacefs_log_level)level, msg, opts->log_payload);
}

int persist_remote_hub_new(struct persist_remote *out, const struct persist_hub_options *opts,
                           struct spacefs_error *err)
{
    struct hubremote *r = calloc(1, sizeof(*r));
    hub_mirror_options mo = {0};
    hub_error he;
    hub_status st;

    out->ops = NULL;
    out->ctx = NULL;
    if (!r || !(r->repo_id = strdup(opts->repo_id))) {
        free(r);
        return -ENOMEM;
    }
    r->client = opts->client;
    pthread_mutex_init(&r->lock, NULL);
    mo.endpoint = hub_client_endpoint(opts->client);
    mo.type = HUB_REPO_DATASET;
    mo.repo_id = opts->repo_id;
    mo.dir = opts->git_dir;
    mo.token_file = opts->token_file;
    mo.anonymous = opts->anonymous;
    if (opts->log) {
        mo.log = mirror_log;
        mo.log_payload = (void *)opts;
    }
    if ((st = hub_mirror_open(&r->mirror, &mo, &he)) != HUB_OK) {
        fail(err, st, &he, "opening the mirror");
        r_free(r);
        if (st == HUB_E_IO && he.sys_errno > 0)
            return -he.sys_errno; /* EBUSY: another process has it */
        return -spacefs_errno_from_status(spacefs_status_from_hub(st));
    }
    out->ops = &hub_ops;
    out->ctx = r;
    return 0;
}
