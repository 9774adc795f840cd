/* Repo files: tree listing (all pages), paths-info (batched), and resolve downloads with Range,
 * redirects to LFS storage, and resumption of interrupted transfers from the last byte
 * delivered (a server that ignores Range is handled by skipping bytes already delivered). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAGES      100000
#define PATHS_PER_CALL 500
#define MAX_RESUMES    5

static hub_status nomem(hub_error *err)
{
    return hub_error_set(err, HUB_E_NOMEM, "no memory");
}

/* Rejects paths that could escape their segment ("..", empty segments, control chars). */
static int valid_path(const char *p, int allow_empty)
{
    const char *seg;
    size_t i;
    if (!p || !*p)
        return allow_empty;
    if (p[0] == '/' || strlen(p) > 4096)
        return 0;
    for (i = 0; p[i]; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    for (seg = p; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
        size_t n = strchr(seg, '/') ? (size_t)(strchr(seg, '/') - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
    }
    return 1;
}

hub_status hub_tree_list(hub_entry_list **out, hub_client *c, hub_repo_type type,
                         const char *repo_id, const char *rev, const char *path, int recursive,
                         hub_error *err)
{
    hub_entry_list *list = NULL;
    hub_buf url;
    hub_resp resp;
    char *next = NULL;
    hub_status st = HUB_OK;
    int pages = 0;
    char sep = '?';

    *out = NULL;
    hub_error_clear(err);
    if (!hub_valid_repo_id(repo_id) || !valid_path(path, 1))
        return hub_error_set(err, HUB_E_INVALID, "invalid repo id or path");
    hub_buf_init(&url, 0);
    hub_resp_init(&resp);
    list = calloc(1, sizeof(*list));
    if (!list || hub_buf_add_repo_api(&url, c, type, repo_id) < 0 ||
        hub_buf_adds(&url, "/tree/") < 0 || hub_buf_add_urlenc(&url, rev ? rev : "main", 0) < 0)
        goto nomem;
    if (path && *path && (hub_buf_adds(&url, "/") < 0 || hub_buf_add_urlenc(&url, path, 1) < 0))
        goto nomem;
    if (recursive) {
        if (hub_buf_adds(&url, "?recursive=true") < 0)
            goto nomem;
        sep = '&';
    }
    if (c->page_size && hub_buf_printf(&url, "%climit=%u", sep, c->page_size) < 0)
        goto nomem;
    if (!(next = hub_buf_steal(&url)))
        goto nomem;
    while (next) {
        if (++pages > MAX_PAGES) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "too many pages");
            goto out;
        }
        hub_resp_free(&resp);
        hub_resp_init(&resp);
        st = hub_call_json(c, "GET", next, NULL, 0, &resp, err);
        if (st != HUB_OK)
            goto out;
        st = hub_parse_entry_array(list, resp.body.data, resp.body.len, err);
        if (st != HUB_OK)
            goto out;
        free(next);
        next = resp.next_url;
        resp.next_url = NULL;
    }
    *out = list;
    list = NULL;
    goto out;
nomem:
    st = nomem(err);
out:
    free(next);
    hub_entry_list_free(list);
    hub_resp_free(&resp);
    hub_buf_free(&url);
    return st;
}

hub_status hub_paths_info(hub_entry_list **out, hub_client *c, hub_repo_type type,
                          const char *repo_id, const char *rev, const char *const *paths,
                          size_t paths_count, hub_error *err)
{
    return hub_paths_info_at(out, NULL, c, type, repo_id, rev, paths, paths_count, err);
}

hub_status hub_paths_info_at(hub_entry_list **out, char out_commit[HUB_OID_MAX], hub_client *c,
                             hub_repo_type type, const char *repo_id, const char *rev,
                             const char *const *paths, size_t paths_count, hub_error *err)
{
    hub_entry_list *list = NULL;
    hub_buf url, body;
    hub_resp resp;
    hub_status st = HUB_OK;
    size_t i, start;

    *out = NULL;
    if (out_commit)
        out_commit[0] = '\0';
    hub_error_clear(err);
    if (!hub_valid_repo_id(repo_id))
        return hub_error_set(err, HUB_E_INVALID, "invalid repo id");
    for (i = 0; i < paths_count; i++)
        if (!valid_path(paths[i], 0))
            return hub_error_set(err, HUB_E_INVALID, "invalid path");
    hub_buf_init(&url, 0);
    hub_buf_init(&body, 0);
    hub_resp_init(&resp);
    list = calloc(1, sizeof(*list));
    if (!list || hub_buf_add_repo_api(&url, c, type, repo_id) < 0 ||
        hub_buf_adds(&url, "/paths-info/") < 0 ||
        hub_buf_add_urlenc(&url, rev ? rev : "main", 0) < 0)
        goto nomem;
    for (start = 0; start < paths_count; start += PATHS_PER_CALL) {
        size_t end = start + PATHS_PER_CALL < paths_count ? start + PATHS_PER_CALL : paths_count;
        body.len = 0;
        if (hub_buf_adds(&body, "{\"paths\":[") < 0)
            goto nomem;
        for (i = start; i < end; i++)
            if ((i > start && hub_buf_adds(&body, ",") < 0) ||
                hub_buf_add_json_str(&body, paths[i]) < 0)
                goto nomem;
        if (hub_buf_adds(&body, "],\"expand\":false}") < 0)
            goto nomem;
        hub_resp_free(&resp);
        hub_resp_init(&resp);
        st = hub_call_json(c, "POST", url.data, body.data, body.len, &resp, err);
        if (st != HUB_OK)
            goto out;
        st = hub_parse_entry_array(list, resp.body.data, resp.body.len, err);
        if (st != HUB_OK)
            goto out;
        if (out_commit)
            snprintf(out_commit, HUB_OID_MAX, "%s", resp.commit);
    }
    *out = list;
    list = NULL;
    goto out;
nomem:
    st = nomem(err);
out:
    hub_entry_list_free(list);
    hub_resp_free(&resp);
    hub_buf_free(&url);
    hub_buf_free(&body);
    return st;
}

/* ---- downloads ----------------------------------------------------------------------------- */
typedef struct dl {
    hub_resp *resp;
    int64_t pos;  /* absolute offset of the next byte the caller wants */
    int64_t end;  /* exclusive; -1 = to the end */
    int64_t seen; /* bytes of the current response seen */
    hub_data_fn on_data;
    void *payload;
    int stop;
    int full; /* everything asked for arrived and the server kept sending: stopped, fine */
    int over; /* past the size the Hub announced (X-Linked-Size): stopped, an error */
} dl;

static int dl_data(const void *data, size_t len, void *payload)
{
    dl *d = payload;
    const char *p = data;
    int64_t base = d->resp->status == 206 && d->resp->range_start >= 0 ? d->resp->range_start : 0;
    int64_t abs = base + d->seen, skip = 0;
    size_t n = len;

    d->seen += (int64_t)len;
    if (abs < d->pos) {
        skip = d->pos - abs;
        if (skip >= (int64_t)len)
            return 0;
        p += skip;
        n -= (size_t)skip;
        abs = d->pos;
    }
    if (abs > d->pos)
        return 1; /* a gap: the server sent something other than asked */
    /* Bounded by what was asked, else by the size the Hub announced for the file: a server that
     * sends more (ignoring Range, or lying in Content-Length) is cut off at once, not stored
     * until a checksum rejects it (issue 11, item 9). */
    if (d->end < 0 && d->resp->linked_size >= 0 && abs + (int64_t)n > d->resp->linked_size) {
        d->over = 1;
        return 1;
    }
    if (d->end >= 0 && abs + (int64_t)n > d->end) {
        n = d->end > abs ? (size_t)(d->end - abs) : 0;
        d->full = 1;
    }
    if (n && d->on_data(p, n, d->payload) != 0) {
        d->stop = 1;
        return 1;
    }
    d->pos += (int64_t)n;
    return d->full; /* nothing more is wanted: stop reading */
}

static int build_resolve_url(hub_buf *url, hub_client *c, hub_repo_type type, const char *repo_id,
                             const char *rev, const char *path)
{
    return hub_buf_printf(url, "%s/%s%s/resolve/", c->endpoint, hub_repo_type_prefix(type),
                          repo_id) < 0 ||
                   hub_buf_add_urlenc(url, rev ? rev : "main", 0) < 0 ||
                   hub_buf_adds(url, "/") < 0 || hub_buf_add_urlenc(url, path, 1) < 0
               ? -1
               : 0;
}

static void fill_meta(hub_file_meta *m, const hub_resp *r)
{
    if (!m)
        return;
    memset(m, 0, sizeof(*m));
    m->http_status = r->status;
    snprintf(m->commit, sizeof(m->commit), "%s", r->commit);
    snprintf(m->etag, sizeof(m->etag), "%s", r->linked_etag[0] ? r->linked_etag : r->etag);
    m->size = r->linked_size >= 0   ? r->linked_size
              : r->range_total >= 0 ? r->range_total
              : r->status == 200    ? r->content_length
                                    : -1;
    m->is_lfs = r->linked_size >= 0 || r->redirected;
}

/* GETs `url` from byte `offset`, `length` bytes (-1 = to the end) into on_data, resuming an
 * interrupted transfer with Range from the last byte delivered. no_auth: a signed URL (no
 * token). *out_final (may be NULL) gets the URL that answered after a redirect (new, or NULL);
 * *out_delivered the bytes handed to on_data. */
static hub_status download_url(hub_client *c, const char *url, int no_auth, const char *path,
                               int64_t offset, int64_t length, hub_data_fn on_data, void *payload,
                               hub_cancel *cancel, hub_file_meta *out_meta, char **out_final,
                               int64_t *out_delivered, hub_error *err)
{
    hub_resp resp;
    hub_req q;
    dl d;
    char range[64];
    hub_status st = HUB_OK;
    int resumes = 0;

    hub_resp_init(&resp);
    memset(&d, 0, sizeof(d));
    d.resp = &resp;
    d.pos = offset;
    d.end = length >= 0 ? offset + length : -1;
    d.on_data = on_data;
    d.payload = payload;
    for (;;) {
        memset(&q, 0, sizeof(q));
        q.method = "GET";
        q.url = url;
        q.no_auth = no_auth;
        q.body_fd = -1;
        q.follow = 1;
        q.stream = 1;
        q.cancel = cancel;
        q.on_data = dl_data;
        q.payload = &d;
        if (d.pos > 0 || d.end >= 0) {
            if (d.end >= 0)
                snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)d.pos,
                         (long long)d.end - 1);
            else
                snprintf(range, sizeof(range), "bytes=%lld-", (long long)d.pos);
            q.range = range;
        }
        d.seen = 0;
        resp.delivered = 0;
        st = hub_http(c, &q, &resp, err);
        if (d.stop)
            st = hub_error_set(err, HUB_E_CANCELLED, "the data callback asked to stop");
        else if (d.over)
            st = hub_error_set(err, HUB_E_PROTOCOL,
                               "%s: the server sent more than the %lld bytes the Hub announced; "
                               "stopped",
                               path, (long long)resp.linked_size);
        else if (d.full) {
            hub_error_clear(err);
            st = HUB_OK;
        }
        if (st == HUB_OK && d.end >= 0 && d.pos < d.end && d.end != -1) {
            /* short body (file smaller than asked): report what the file has */
            if (resp.range_total >= 0 && d.pos >= resp.range_total)
                break;
        }
        if ((st == HUB_E_TRANSPORT || st == HUB_E_TIMEOUT) && resp.delivered > 0 &&
            resumes < MAX_RESUMES) {
            resumes++;
            hub_log(c, HUB_LOG_INFO, "hub: download interrupted at byte %lld; resuming",
                    (long long)d.pos);
            continue;
        }
        break;
    }
    fill_meta(out_meta, &resp);
    if (out_final) {
        *out_final = resp.final_url;
        resp.final_url = NULL;
    }
    if (out_delivered)
        *out_delivered = d.pos - offset;
    hub_resp_free(&resp);
    return st;
}

hub_status hub_file_download(hub_file_meta *out_meta, hub_client *c, hub_repo_type type,
                             const char *repo_id, const char *rev, const char *path, int64_t offset,
                             int64_t length, hub_data_fn on_data, void *payload, hub_cancel *cancel,
                             hub_error *err)
{
    hub_buf url;
    hub_status st;

    if (out_meta)
        memset(out_meta, 0, sizeof(*out_meta));
    hub_error_clear(err);
    if (!hub_valid_repo_id(repo_id) || !valid_path(path, 0) || !on_data || offset < 0 ||
        length < -1)
        return hub_error_set(err, HUB_E_INVALID, "invalid download arguments");
    if (length == 0)
        return hub_file_head(out_meta, c, type, repo_id, rev, path, err);
    hub_buf_init(&url, 0);
    if (build_resolve_url(&url, c, type, repo_id, rev, path) < 0)
        st = nomem(err);
    else
        st = download_url(c, url.data, 0, path, offset, length, on_data, payload, cancel, out_meta,
                          NULL, NULL, err);
    hub_buf_free(&url);
    return st;
}

/* ---- ranges through a kept signed URL -------------------------------------------------------- */
#define SIGNED_REUSE_MAX_MS 600000 /* reuse a signed URL for 10 minutes at most */
#define SIGNED_MARGIN_S     30     /* and stop 30 s before it says it expires */

void hub_signed_url_clear(hub_signed_url *s)
{
    if (!s)
        return;
    free(s->url);
    s->url = NULL;
    s->valid_until_ms = 0;
}

/* The value of query parameter `name` in url as a number, -1 if absent or not a number. */
static int64_t query_num(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t n = strlen(name);
    for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
        int64_t v = 0;
        const char *d;
        if (strncmp(p + 1, name, n) != 0 || p[1 + n] != '=')
            continue;
        for (d = p + 2 + n; *d >= '0' && *d <= '9' && v < INT64_MAX / 10 - 9; d++)
            v = v * 10 + (*d - '0');
        return d > p + 2 + n ? v : -1;
    }
    return -1;
}

/* Unix seconds at which a signed URL stops working, -1 when it does not say: S3's X-Amz-Date
 * (YYYYMMDDTHHMMSSZ) + X-Amz-Expires, CloudFront's Expires, the emulator's X-Expires. */
static int64_t signed_expiry(const char *url)
{
    const char *d = strstr(url, "X-Amz-Date=");
    int64_t v;
    if (d && (v = query_num(url, "X-Amz-Expires")) >= 0) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (sscanf(d + 11, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            return (int64_t)timegm(&tm) + v;
        }
    }
    if ((v = query_num(url, "Expires")) >= 0)
        return v;
    return query_num(url, "X-Expires");
}

/* A storage answer that means "this URL no longer works" (expired or revoked signature). */
static int signed_refused(hub_status st, const hub_error *err)
{
    long http = err ? err->http_status : 0;
    return st == HUB_E_AUTH || st == HUB_E_FORBIDDEN || st == HUB_E_NOT_FOUND ||
           st == HUB_E_BAD_REQUEST || (st == HUB_E_HTTP && http == 410);
}

hub_status hub_file_read_range(hub_signed_url *cache, hub_file_meta *out_meta, hub_client *c,
                               hub_repo_type type, const char *repo_id, const char *rev,
                               const char *path, int64_t offset, int64_t length,
                               hub_data_fn on_data, void *payload, hub_cancel *cancel,
                               hub_error *err)
{
    hub_buf url;
    hub_status st;
    char *final = NULL;
    int64_t got = 0, now = hub_now_ms();

    if (out_meta)
        memset(out_meta, 0, sizeof(*out_meta));
    hub_error_clear(err);
    if (!cache || !hub_valid_repo_id(repo_id) || !valid_path(path, 0) || !on_data || offset < 0 ||
        length < 1)
        return hub_error_set(err, HUB_E_INVALID, "invalid range arguments");
    if (cache->url && now < cache->valid_until_ms) {
        st = download_url(c, cache->url, 1, path, offset, length, on_data, payload, cancel,
                          out_meta, NULL, &got, err);
        if (st == HUB_OK || got > 0 || !signed_refused(st, err))
            return st;
        hub_log(c, HUB_LOG_INFO, "hub: %s: the signed URL was refused (HTTP %ld); resolving again",
                path, err ? err->http_status : 0L);
        hub_error_clear(err);
    }
    hub_signed_url_clear(cache);
    hub_buf_init(&url, 0);
    if (build_resolve_url(&url, c, type, repo_id, rev, path) < 0) {
        hub_buf_free(&url);
        return nomem(err);
    }
    st = download_url(c, url.data, 0, path, offset, length, on_data, payload, cancel, out_meta,
                      &final, NULL, err);
    hub_buf_free(&url);
    if (st == HUB_OK && final && strchr(final, '?')) {
        /* a signed storage URL (its signature is in the query): later ranges go there */
        int64_t exp = signed_expiry(final), left_ms = SIGNED_REUSE_MAX_MS;
        if (exp >= 0 && (exp - (int64_t)time(NULL) - SIGNED_MARGIN_S) * 1000 < left_ms)
            left_ms = (exp - (int64_t)time(NULL) - SIGNED_MARGIN_S) * 1000;
        if (left_ms > 0) {
            cache->url = final;
            cache->valid_until_ms = now + left_ms;
            final = NULL;
        }
    }
    free(final);
    return st;
}

typedef struct fdsink {
    int fd;
    int64_t at;
    int err;
} fdsink;

static int fd_write(const void *data, size_t len, void *payload)
{
    fdsink *s = payload;
    const char *p = data;
    while (len) {
        ssize_t n = pwrite(s->fd, p, len, s->at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            s->err = n < 0 ? errno : EIO;
            return 1;
        }
        p += n;
        len -= (size_t)n;
        s->at += n;
    }
    return 0;
}

hub_status hub_file_download_fd(hub_file_meta *out_meta, hub_client *c, hub_repo_type type,
                                const char *repo_id, const char *rev, const char *path,
                                int64_t offset, int64_t length, int fd, int64_t fd_offset,
                                hub_cancel *cancel, hub_error *err)
{
    fdsink s = {fd, fd_offset, 0};
    hub_status st;
    if (fd < 0 || fd_offset < 0)
        return hub_error_set(err, HUB_E_INVALID, "bad file descriptor");
    st = hub_file_download(out_meta, c, type, repo_id, rev, path, offset, length, fd_write, &s,
                           cancel, err);
    if (s.err) {
        if (err)
            err->sys_errno = s.err;
        st = hub_error_set(err, HUB_E_IO, "writing the download failed: %s", strerror(s.err));
    }
    return st;
}

hub_status hub_file_head(hub_file_meta *out_meta, hub_client *c, hub_repo_type type,
                         const char *repo_id, const char *rev, const char *path, hub_error *err)
{
    hub_buf url;
    hub_resp resp;
    hub_req q;
    hub_status st;

    if (out_meta)
        memset(out_meta, 0, sizeof(*out_meta));
    hub_error_clear(err);
    if (!hub_valid_repo_id(repo_id) || !valid_path(path, 0))
        return hub_error_set(err, HUB_E_INVALID, "invalid repo id or path");
    hub_buf_init(&url, 0);
    hub_resp_init(&resp);
    if (build_resolve_url(&url, c, type, repo_id, rev, path) < 0) {
        st = nomem(err);
        goto out;
    }
    memset(&q, 0, sizeof(q));
    q.method = "HEAD";
    q.url = url.data;
    q.body_fd = -1;
    /* as huggingface_hub's get_hf_file_metadata: relative redirects only (a renamed repo; the
     * signed storage URL of an LFS file answers 403 to HEAD and the 302 already carries
     * X-Linked-Size and X-Linked-Etag), and no compression, so Content-Length is the size */
    q.follow = 1;
    q.relative_only = 1;
    q.identity = 1;
    st = hub_http(c, &q, &resp, err);
    fill_meta(out_meta, &resp);
out:
    hub_resp_free(&resp);
    hub_buf_free(&url);
    return st;
}
