/* Uploads: preupload (which files go to LFS), LFS batch uploads streamed from a file
 * descriptor (basic PUT, or HF multipart: PUTs of the chunks, 5 at a time, then a completion
 * POST), and the NDJSON commit with parentCommit.
 *
 * A commit is never retried blindly: after an unclear failure (5xx, reset, timeout) the branch's
 * newest commits are read. If the head is still parentCommit the commit did not land and is
 * sent again; if the head is a commit with our summary right on top of parentCommit it landed
 * and its id is returned; anything else means the branch moved (HUB_E_PRECONDITION). */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREUPLOAD_BATCH 256
#define LFS_CT          "application/vnd.git-lfs+json"

static hub_status nomem(hub_error *err)
{
    return hub_error_set(err, HUB_E_NOMEM, "no memory");
}

static hub_status check_repo(hub_error *err, const char *repo_id)
{
    if (!hub_valid_repo_id(repo_id))
        return hub_error_set(err, HUB_E_INVALID, "invalid repo id");
    return HUB_OK;
}

/* ---- preupload ------------------------------------------------------------------------------ */
hub_status hub_preupload(hub_preupload_list **out, hub_client *c, hub_repo_type type,
                         const char *repo_id, const char *rev, const hub_preupload_file *files,
                         size_t files_count, hub_error *err)
{
    hub_preupload_list *list = NULL;
    hub_buf url, body;
    hub_resp resp;
    hub_status st = HUB_OK;
    size_t start, i;

    *out = NULL;
    hub_error_clear(err);
    if (check_repo(err, repo_id) != HUB_OK)
        return HUB_E_INVALID;
    for (i = 0; i < files_count; i++)
        if (!files[i].path || !*files[i].path || files[i].size < 0 || files[i].sample_len > 512 ||
            (files[i].sample_len && !files[i].sample))
            return hub_error_set(err, HUB_E_INVALID, "invalid preupload file %zu", i);
    hub_buf_init(&url, 0);
    hub_buf_init(&body, 0);
    hub_resp_init(&resp);
    list = calloc(1, sizeof(*list));
    if (!list || hub_buf_add_repo_api(&url, c, type, repo_id) < 0 ||
        hub_buf_adds(&url, "/preupload/") < 0 ||
        hub_buf_add_urlenc(&url, rev ? rev : "main", 0) < 0)
        goto nomem;
    for (start = 0; start < files_count; start += PREUPLOAD_BATCH) {
        size_t end = start + PREUPLOAD_BATCH < files_count ? start + PREUPLOAD_BATCH : files_count;
        body.len = 0;
        if (hub_buf_adds(&body, "{\"files\":[") < 0)
            goto nomem;
        for (i = start; i < end; i++) {
            if ((i > start && hub_buf_adds(&body, ",") < 0) ||
                hub_buf_adds(&body, "{\"path\":") < 0 ||
                hub_buf_add_json_str(&body, files[i].path) < 0 ||
                hub_buf_adds(&body, ",\"sample\":\"") < 0 ||
                hub_buf_add_base64(&body, files[i].sample, files[i].sample_len) < 0 ||
                hub_buf_printf(&body, "\",\"size\":%lld}", (long long)files[i].size) < 0)
                goto nomem;
        }
        if (hub_buf_adds(&body, "]}") < 0)
            goto nomem;
        hub_resp_free(&resp);
        hub_resp_init(&resp);
        st = hub_call_json(c, "POST", url.data, body.data, body.len, &resp, err);
        if (st != HUB_OK)
            goto out;
        st = hub_parse_preupload(list, resp.body.data, resp.body.len, err);
        if (st != HUB_OK)
            goto out;
    }
    *out = list;
    list = NULL;
    goto out;
nomem:
    st = nomem(err);
out:
    hub_preupload_list_free(list);
    hub_resp_free(&resp);
    hub_buf_free(&url);
    hub_buf_free(&body);
    return st;
}

/* ---- LFS ------------------------------------------------------------------------------------ */
static int valid_sha256(const char *s)
{
    size_t i;
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

/* A PUT of [off, off+len) of fd to a signed URL (no token), retried as any idempotent call. */
static hub_status put_slice(hub_client *c, const char *url, int fd, int64_t off, int64_t len,
                            hub_cancel *cancel, hub_resp *resp, hub_error *err)
{
    hub_req q;
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.url = url;
    q.body_fd = fd;
    q.body_fd_offset = off;
    q.body_fd_len = len;
    q.no_auth = 1;
    q.stream = 1;
    q.cancel = cancel;
    q.max_body = 1 << 20;
    return hub_http(c, &q, resp, err);
}

static hub_status lfs_post(hub_client *c, const char *url, const hub_buf *body, int no_auth,
                           hub_resp *resp, hub_error *err)
{
    hub_req q;
    memset(&q, 0, sizeof(q));
    q.method = "POST";
    q.url = url;
    q.body = body->data;
    q.body_len = body->len;
    q.body_fd = -1;
    q.content_type = LFS_CT;
    q.accept = LFS_CT;
    q.no_auth = no_auth;
    q.max_body = 4 << 20;
    return hub_http(c, &q, resp, err);
}

/* Multipart parts go up this many at a time (@huggingface/hub's MULTIPART_PARALLEL_UPLOAD, 5,
 * in src/lib/commit.ts): each PUT streams its slice of fd with pread, so memory stays constant. */
#ifndef MULTIPART_PARALLEL /* -DMULTIPART_PARALLEL=1 builds the sequential upload, for A/B runs */
#define MULTIPART_PARALLEL 5
#endif

/* Parts shared by the upload threads; `lock` guards next, failed and the first error. */
typedef struct parts_job {
    hub_client *c;
    const hub_lfs_batch *b;
    int fd;
    int64_t size;
    hub_cancel *cancel;
    pthread_mutex_t lock;
    size_t next;
    int failed;
    hub_status st;
    hub_error err;
    char (*etags)[128]; /* per part, the ETag as sent */
} parts_job;

static void *parts_worker(void *arg)
{
    parts_job *j = arg;
    for (;;) {
        hub_resp resp;
        hub_error err;
        hub_status st;
        int64_t off, len;
        size_t i;

        pthread_mutex_lock(&j->lock);
        i = j->next++;
        if (j->failed || i >= j->b->parts_count) {
            pthread_mutex_unlock(&j->lock);
            return NULL;
        }
        pthread_mutex_unlock(&j->lock);
        off = (int64_t)i * j->b->chunk_size;
        len = j->size - off < j->b->chunk_size ? j->size - off : j->b->chunk_size;
        hub_resp_init(&resp);
        hub_error_clear(&err);
        st = put_slice(j->c, j->b->parts[i].url, j->fd, off, len, j->cancel, &resp, &err);
        if (st == HUB_OK && !resp.etag_raw[0])
            st = hub_error_set(&err, HUB_E_PROTOCOL, "LFS part %zu: no ETag in the reply", i + 1);
        if (st == HUB_OK)
            snprintf(j->etags[i], sizeof(j->etags[i]), "%s", resp.etag_raw);
        hub_resp_free(&resp);
        if (st != HUB_OK) {
            pthread_mutex_lock(&j->lock);
            if (!j->failed) { /* the first failure is the one reported */
                j->failed = 1;
                j->st = st;
                j->err = err;
            }
            pthread_mutex_unlock(&j->lock);
            return NULL;
        }
    }
}

static hub_status lfs_multipart(hub_client *c, const hub_lfs_batch *b, int fd, int64_t size,
                                hub_cancel *cancel, hub_error *err)
{
    hub_buf body;
    hub_resp resp;
    hub_status st = HUB_OK;
    int64_t want = (size + b->chunk_size - 1) / b->chunk_size;
    pthread_t th[MULTIPART_PARALLEL];
    size_t i, started = 0;
    parts_job j;

    if ((int64_t)b->parts_count != want)
        return hub_error_set(err, HUB_E_PROTOCOL,
                             "LFS multipart: %zu part URLs for %lld chunks of %lld bytes",
                             b->parts_count, (long long)want, (long long)b->chunk_size);
    memset(&j, 0, sizeof(j));
    j.c = c;
    j.b = b;
    j.fd = fd;
    j.size = size;
    j.cancel = cancel;
    if (!(j.etags = calloc(b->parts_count + 1, sizeof(*j.etags))))
        return nomem(err);
    pthread_mutex_init(&j.lock, NULL);
    hub_buf_init(&body, 0);
    hub_resp_init(&resp);
    /* up to MULTIPART_PARALLEL threads take the parts in order; this one is the first */
    for (i = 1; i < MULTIPART_PARALLEL && i < b->parts_count; i++)
        if (pthread_create(&th[started], NULL, parts_worker, &j) == 0)
            started++;
    parts_worker(&j);
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (j.failed) {
        st = j.st;
        if (err)
            *err = j.err;
        goto out;
    }
    if (hub_buf_adds(&body, "{\"oid\":\"") < 0 || hub_buf_adds(&body, b->oid) < 0 ||
        hub_buf_adds(&body, "\",\"parts\":[") < 0)
        goto nomem;
    for (i = 0; i < b->parts_count; i++)
        if ((i && hub_buf_adds(&body, ",") < 0) ||
            hub_buf_printf(&body, "{\"partNumber\":%u,\"etag\":", b->parts[i].number) < 0 ||
            hub_buf_add_json_str(&body, j.etags[i]) < 0 || hub_buf_adds(&body, "}") < 0)
            goto nomem;
    if (hub_buf_adds(&body, "]}") < 0)
        goto nomem;
    st = lfs_post(c, b->upload.href, &body, 1, &resp, err);
    goto out;
nomem:
    st = nomem(err);
out:
    pthread_mutex_destroy(&j.lock);
    free(j.etags);
    hub_resp_free(&resp);
    hub_buf_free(&body);
    return st;
}

hub_status hub_lfs_upload_fd(hub_client *c, hub_repo_type type, const char *repo_id,
                             const char *rev, int fd, int64_t size, const char *sha256,
                             hub_cancel *cancel, hub_error *err)
{
    char oid[HUB_OID_MAX];
    hub_buf url, body;
    hub_resp resp;
    hub_lfs_batch *b = NULL;
    hub_status st;

    hub_error_clear(err);
    if (check_repo(err, repo_id) != HUB_OK)
        return HUB_E_INVALID;
    if (fd < 0 || size < 0)
        return hub_error_set(err, HUB_E_INVALID, "bad file descriptor or size");
    if (sha256) {
        if (!valid_sha256(sha256))
            return hub_error_set(err, HUB_E_INVALID, "sha256 must be 64 lowercase hex digits");
        snprintf(oid, sizeof(oid), "%s", sha256);
    } else if ((st = hub_sha256_fd(oid, fd, size, err)) != HUB_OK) {
        return st;
    }
    hub_buf_init(&url, 0);
    hub_buf_init(&body, 0);
    hub_resp_init(&resp);
    if (hub_buf_printf(&url, "%s/%s%s.git/info/lfs/objects/batch", c->endpoint,
                       hub_repo_type_prefix(type), repo_id) < 0 ||
        hub_buf_printf(&body,
                       "{\"operation\":\"upload\",\"transfers\":[\"basic\",\"multipart\"],"
                       "\"objects\":[{\"oid\":\"%s\",\"size\":%lld}],\"hash_algo\":\"sha256\"",
                       oid, (long long)size) < 0 ||
        (rev && strncmp(rev, "refs/pr/", 8) != 0 &&
         (hub_buf_adds(&body, ",\"ref\":{\"name\":") < 0 || hub_buf_add_json_str(&body, rev) < 0 ||
          hub_buf_adds(&body, "}") < 0)) ||
        hub_buf_adds(&body, "}") < 0) {
        st = nomem(err);
        goto out;
    }
    st = lfs_post(c, url.data, &body, 0, &resp, err);
    if (st != HUB_OK)
        goto out;
    st = hub_parse_lfs_batch(&b, oid, resp.body.data, resp.body.len, err);
    if (st != HUB_OK)
        goto out;
    if (b->error_code) {
        st = hub_status_from_http(b->error_code);
        if (st == HUB_OK)
            st = HUB_E_PROTOCOL;
        if (err) {
            err->http_status = b->error_code;
            hub_strlcpy(err->message, sizeof(err->message), b->error_message,
                        strlen(b->error_message));
        }
        hub_error_set(err, st, NULL);
        goto out;
    }
    if (!b->has_upload) {
        hub_log(c, HUB_LOG_DEBUG, "hub: LFS object %.12s already stored", oid);
        goto out;
    }
    if (b->parts_count) {
        st = lfs_multipart(c, b, fd, size, cancel, err);
    } else {
        hub_resp_free(&resp);
        hub_resp_init(&resp);
        st = put_slice(c, b->upload.href, fd, 0, size, cancel, &resp, err);
    }
    if (st != HUB_OK || !b->has_verify)
        goto out;
    body.len = 0;
    if (hub_buf_printf(&body, "{\"oid\":\"%s\",\"size\":%lld}", oid, (long long)size) < 0) {
        st = nomem(err);
        goto out;
    }
    hub_resp_free(&resp);
    hub_resp_init(&resp);
    st = lfs_post(c, b->verify.href, &body, 0, &resp, err);
out:
    hub_lfs_batch_free(b);
    hub_resp_free(&resp);
    hub_buf_free(&url);
    hub_buf_free(&body);
    return st;
}

/* ---- commit --------------------------------------------------------------------------------- */
static int add_op(hub_buf *b, const hub_commit_op *op)
{
    static const char *const keys[] = {"file", "lfsFile", "deletedFile", "deletedFolder"};
    if (hub_buf_printf(b, "{\"key\":\"%s\",\"value\":{\"path\":", keys[op->kind]) < 0 ||
        hub_buf_add_json_str(b, op->path) < 0)
        return -1;
    switch (op->kind) {
    case HUB_OP_ADD_FILE:
        if (hub_buf_adds(b, ",\"content\":\"") < 0 ||
            hub_buf_add_base64(b, op->content, op->content_len) < 0 ||
            hub_buf_adds(b, "\",\"encoding\":\"base64\"") < 0)
            return -1;
        break;
    case HUB_OP_ADD_LFS:
        if (hub_buf_printf(b, ",\"algo\":\"sha256\",\"oid\":\"%s\",\"size\":%lld", op->lfs_oid,
                           (long long)op->lfs_size) < 0)
            return -1;
        break;
    default:
        break;
    }
    return hub_buf_adds(b, "}}\n");
}

static hub_status commit_body(hub_buf *b, const hub_commit_params *p, const hub_commit_op *ops,
                              size_t n, hub_error *err)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const hub_commit_op *op = &ops[i];
        if (!op->path || !*op->path || op->kind > HUB_OP_DELETE_FOLDER ||
            (op->kind == HUB_OP_ADD_FILE && op->content_len && !op->content) ||
            (op->kind == HUB_OP_ADD_LFS &&
             (!op->lfs_oid || !valid_sha256(op->lfs_oid) || op->lfs_size < 0)))
            return hub_error_set(err, HUB_E_INVALID, "invalid commit operation %zu", i);
    }
    if (hub_buf_adds(b, "{\"key\":\"header\",\"value\":{\"summary\":") < 0 ||
        hub_buf_add_json_str(b, p->summary) < 0 || hub_buf_adds(b, ",\"description\":") < 0 ||
        hub_buf_add_json_str(b, p->description ? p->description : "") < 0)
        return nomem(err);
    if (p->parent_commit && (hub_buf_adds(b, ",\"parentCommit\":") < 0 ||
                             hub_buf_add_json_str(b, p->parent_commit) < 0))
        return nomem(err);
    if (hub_buf_adds(b, "}}\n") < 0)
        return nomem(err);
    for (i = 0; i < n; i++)
        if (add_op(b, &ops[i]) < 0)
            return hub_error_set(err, HUB_E_NOMEM, "commit payload too large or no memory");
    return HUB_OK;
}

typedef enum { CHECK_NOT_LANDED, CHECK_LANDED, CHECK_MOVED, CHECK_UNKNOWN } check_result;

/* After an unclear failure: did the commit land? */
static check_result commit_check(hub_client *c, hub_repo_type type, const char *repo_id,
                                 const char *branch, const hub_commit_params *p,
                                 char out_oid[HUB_OID_MAX])
{
    hub_commit_brief top[2];
    size_t n = 0;
    hub_buf url;
    hub_resp resp;
    hub_error e;
    check_result r = CHECK_UNKNOWN;
    size_t plen = strlen(p->parent_commit);

    hub_buf_init(&url, 0);
    hub_resp_init(&resp);
    if (hub_buf_add_repo_api(&url, c, type, repo_id) < 0 || hub_buf_adds(&url, "/commits/") < 0 ||
        hub_buf_add_urlenc(&url, branch, 0) < 0 || hub_buf_adds(&url, "?limit=2") < 0)
        goto out;
    if (hub_call_json(c, "GET", url.data, NULL, 0, &resp, &e) != HUB_OK ||
        hub_parse_commit_list(top, 2, &n, resp.body.data, resp.body.len, &e) != HUB_OK || !n)
        goto out;
    if (strncmp(top[0].id, p->parent_commit, plen) == 0)
        r = CHECK_NOT_LANDED;
    else if (n == 2 && strncmp(top[1].id, p->parent_commit, plen) == 0 &&
             strcmp(top[0].title, p->summary) == 0) {
        r = CHECK_LANDED;
        if (out_oid)
            snprintf(out_oid, HUB_OID_MAX, "%s", top[0].id);
    } else
        r = CHECK_MOVED;
out:
    hub_log(c, HUB_LOG_INFO, "hub: commit check after an unclear failure: %s",
            r == CHECK_NOT_LANDED ? "not landed, retrying"
            : r == CHECK_LANDED   ? "landed"
            : r == CHECK_MOVED    ? "branch moved"
                                  : "unknown");
    hub_resp_free(&resp);
    hub_buf_free(&url);
    return r;
}

static int unclear(hub_status st)
{
    return st == HUB_E_SERVER || st == HUB_E_TRANSPORT || st == HUB_E_TIMEOUT;
}

hub_status hub_commit_create(char out_oid[HUB_OID_MAX], hub_client *c, hub_repo_type type,
                             const char *repo_id, const char *branch,
                             const hub_commit_params *params, const hub_commit_op *ops,
                             size_t ops_count, hub_error *err)
{
    hub_buf url, body;
    hub_resp resp;
    hub_req q;
    hub_status st;
    hub_commit_params local;
    char parent[HUB_OID_MAX];
    unsigned attempt;
    int64_t deadline = hub_now_ms() + c->deadline_ms;
    long delay = (long)c->backoff_base_ms;

    hub_error_clear(err);
    if (!params || !params->summary || !*params->summary)
        return hub_error_set(err, HUB_E_INVALID, "a commit needs a summary");
    /* copied first: out_oid may alias params->parent_commit (commit on top of the last one) */
    local = *params;
    if (params->parent_commit) {
        size_t n = strlen(params->parent_commit);
        if (n < 5 || n >= sizeof(parent)) {
            if (out_oid)
                out_oid[0] = '\0';
            return hub_error_set(err, HUB_E_INVALID, "parentCommit must be 5 to 64 hex digits");
        }
        memcpy(parent, params->parent_commit, n + 1);
        local.parent_commit = parent;
    }
    params = &local;
    if (out_oid)
        out_oid[0] = '\0';
    if (check_repo(err, repo_id) != HUB_OK)
        return HUB_E_INVALID;
    if (!branch)
        branch = "main";
    hub_buf_init(&url, 0);
    hub_buf_init(&body, HUB_BUF_DEFAULT_MAX * 4);
    hub_resp_init(&resp);
    if (hub_buf_add_repo_api(&url, c, type, repo_id) < 0 || hub_buf_adds(&url, "/commit/") < 0 ||
        hub_buf_add_urlenc(&url, branch, 0) < 0) {
        st = nomem(err);
        goto out;
    }
    st = commit_body(&body, params, ops, ops_count, err);
    if (st != HUB_OK)
        goto out;
    for (attempt = 0;; attempt++) {
        check_result cr;
        memset(&q, 0, sizeof(q));
        q.method = "POST";
        q.url = url.data;
        q.body = body.data;
        q.body_len = body.len;
        q.body_fd = -1;
        q.content_type = "application/x-ndjson";
        q.accept = "application/json";
        q.retry = HUB_RETRY_CLEAR; /* 429/408/refused: the commit surely did not run */
        hub_resp_free(&resp);
        hub_resp_init(&resp);
        st = hub_http(c, &q, &resp, err);
        if (st == HUB_OK) {
            st = hub_parse_commit_result(out_oid, resp.body.data, resp.body.len, err);
            goto out;
        }
        if (!unclear(st))
            goto out;
        if (!params->parent_commit) {
            st = hub_error_set(err, HUB_E_UNKNOWN_OUTCOME,
                               "commit failed with an unclear error (%s) and no parentCommit to "
                               "check against",
                               hub_status_str(st));
            goto out;
        }
        cr = commit_check(c, type, repo_id, branch, params, out_oid);
        if (cr == CHECK_LANDED) {
            hub_error_clear(err);
            st = HUB_OK;
            goto out;
        }
        if (cr == CHECK_MOVED) {
            st = hub_error_set(err, HUB_E_PRECONDITION,
                               "the branch moved while the commit's outcome was unclear");
            goto out;
        }
        if (cr == CHECK_UNKNOWN) {
            st = hub_error_set(err, HUB_E_UNKNOWN_OUTCOME,
                               "commit failed and its outcome could not be checked");
            goto out;
        }
        if (attempt >= c->max_retries || hub_now_ms() + delay >= deadline)
            goto out;
        {
            struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        delay = delay * 2 > (long)c->backoff_max_ms ? (long)c->backoff_max_ms : delay * 2;
        atomic_fetch_add(&c->n_retries, 1);
    }
out:
    hub_resp_free(&resp);
    hub_buf_free(&url);
    hub_buf_free(&body);
    return st;
}
