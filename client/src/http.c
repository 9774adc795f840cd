/* The HTTP engine of hubclient: the client object, its pool of curl handles, and hub_http(),
 * which runs one logical request with auth, manual redirects, retries and logging.
 *
 * Retries: 408, 429, 5xx, timeouts and connection failures are retried with exponential
 * backoff (base doubling, capped) or the server's Retry-After / RateLimit t=, whichever says
 * more, as long as the next attempt can start before the call's deadline. A request whose body
 * bytes already reached the caller is never retried here (downloads resume in files.c).
 *
 * Connections: libcurl does not support sharing the connection cache between concurrent
 * threads, so each pooled easy handle keeps its own live connections (keep-alive) and the
 * share handle carries only the DNS cache and TLS sessions, under one mutex per data kind. */
#include "internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT     "https://huggingface.co"
#define MAX_REDIRECTS        5
#define ERROR_BODY_MAX       65536
#define DEFAULT_STALL_SECOND 30

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;

static void global_init(void)
{
    global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* ---- logging ------------------------------------------------------------------------------ */
/* The part of a URL that may be logged: path without the query (signed URLs carry their
 * signature there), prefixed with the origin when it is not the endpoint's. */
static void url_for_log(char *out, size_t cap, const hub_client *c, const char *url)
{
    const char *p = strstr(url, "://"), *path, *q;
    size_t olen = strlen(c->origin);
    int own = strncasecmp(url, c->endpoint, strlen(c->endpoint)) == 0;

    (void)olen;
    path = p ? strchr(p + 3, '/') : NULL;
    if (!path)
        path = url + strlen(url);
    q = strpbrk(path, "?#");
    if (own)
        snprintf(out, cap, "%.*s%s", (int)(q ? q - path : (long)strlen(path)), path,
                 q ? "?..." : "");
    else
        snprintf(out, cap, "%.*s%s", (int)((q ? q : path + strlen(path)) - url), url,
                 q ? "?..." : "");
}

/* ---- share locks and the handle pool ------------------------------------------------------ */
static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
    hub_client *c = userp;
    (void)h;
    (void)access;
    pthread_mutex_lock(&c->share_locks[(unsigned)data % 8]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
    hub_client *c = userp;
    (void)h;
    pthread_mutex_unlock(&c->share_locks[(unsigned)data % 8]);
}

/* A handle from the pool (or a new one); *out_used_bt is when it last ran (CLOCK_BOOTTIME ms,
 * 0 for a new one). */
static CURL *pool_get(hub_client *c, int64_t *out_used_bt)
{
    CURL *h = NULL;
    *out_used_bt = 0;
    pthread_mutex_lock(&c->pool_lock);
    if (c->pool_count) {
        c->pool_count--;
        h = c->pool[c->pool_count].h;
        *out_used_bt = c->pool[c->pool_count].used_bt;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    return h;
}

static void pool_put(hub_client *c, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&c->pool_lock);
    if (c->pool_count < HUB_POOL_MAX) {
        c->pool[c->pool_count].h = h;
        c->pool[c->pool_count].used_bt = hub_boottime_ms();
        c->pool_count++;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* "scheme://host:port" lowercased, default ports filled in; new string or NULL. */
char *hub_url_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    size_t n, i;

    if (!u)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    n = strlen(scheme) + strlen(host) + strlen(port) + 5;
    out = malloc(n);
    if (!out)
        goto out;
    snprintf(out, n, "%s://%s:%s", scheme, host, port);
    for (i = 0; out[i]; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

/* Nonzero when url's origin is `origin` (as url_origin makes it). */
static int origin_is(const char *origin, const char *url)
{
    char *o = hub_url_origin(url);
    int same = o && strcmp(o, origin) == 0;
    free(o);
    return same;
}

/* ---- client -------------------------------------------------------------------------------- */
hub_status hub_client_new(hub_client **out, const hub_options *opts, hub_error *err)
{
    hub_options defaults;
    hub_client *c = NULL;
    const char *ep;
    size_t n;
    int i;
    hub_status rc = HUB_OK;

    *out = NULL;
    hub_error_clear(err);
    if (!opts) {
        hub_options_init(&defaults);
        opts = &defaults;
    }
    pthread_once(&global_once, global_init);
    if (!global_ok)
        return hub_error_set(err, HUB_E_NOMEM, "curl_global_init failed");
    c = calloc(1, sizeof(*c));
    if (!c)
        return hub_error_set(err, HUB_E_NOMEM, "no memory for the client");
    for (i = 0; i < 8; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_mutex_init(&c->rl_lock, NULL);
    pthread_mutex_init(&c->token_lock, NULL);
    hub_reach_init(c);
    c->log = opts->log;
    c->log_payload = opts->log_payload;
    c->log_level = opts->log_level;
    c->backoff_base_ms = opts->backoff_base_ms ? opts->backoff_base_ms : 1000;
    c->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : 8000;
    c->max_retries = opts->max_retries == (unsigned)-1 ? 0
                     : opts->max_retries               ? opts->max_retries
                                                       : 5;
    c->deadline_ms = opts->deadline_ms ? opts->deadline_ms : 120000;
    c->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000;
    c->answer_timeout_ms = opts->answer_timeout_ms ? opts->answer_timeout_ms : 10000;
    c->probe_max_ms = opts->probe_max_ms ? opts->probe_max_ms : 30000;
    c->idle_fresh_ms = opts->idle_fresh_ms ? opts->idle_fresh_ms : 60000;
    if (c->probe_max_ms < HUB_PROBE_MIN_MS)
        c->probe_max_ms = HUB_PROBE_MIN_MS;
    c->page_size = opts->page_size;

    ep = opts->endpoint;
    if (!ep || !*ep)
        ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = DEFAULT_ENDPOINT;
    if (strncasecmp(ep, "http://", 7) != 0 && strncasecmp(ep, "https://", 8) != 0) {
        rc = hub_error_set(err, HUB_E_INVALID, "endpoint must start with http:// or https://");
        goto out;
    }
    c->endpoint = strdup(ep);
    c->user_agent =
        strdup(opts->user_agent ? opts->user_agent : "spacefs/" SPACEFS_VERSION " hubclient");
    if (!c->endpoint || !c->user_agent) {
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    n = strlen(c->endpoint);
    while (n > 8 && c->endpoint[n - 1] == '/')
        c->endpoint[--n] = '\0';
    c->origin = hub_url_origin(c->endpoint);
    if (!c->origin) {
        rc = hub_error_set(err, HUB_E_INVALID, "cannot parse the endpoint URL");
        goto out;
    }
    if (!opts->anonymous) {
        rc = hub_token_load(&c->token, opts->token_file, err);
        if (rc != HUB_OK)
            goto out;
        c->authed = c->token != NULL;
        if (opts->token_file && !(c->token_file = strdup(opts->token_file))) {
            rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
            goto out;
        }
        if (err && err->message[0]) { /* a warning about the token file's mode */
            hub_log(c, HUB_LOG_WARN, "%s", err->message);
            hub_error_clear(err);
        }
    }
    {
        const char *source = NULL;
        if (hub_trust_locations(&c->ca_file, &c->ca_dir, &source) < 0) {
            rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
            goto out;
        }
        if (c->ca_file || c->ca_dir)
            hub_log(c, HUB_LOG_INFO,
                    "hub: trusting the CAs in %s (from %s) instead of the system's",
                    c->ca_file ? c->ca_file : c->ca_dir, source);
    }
    c->share = curl_share_init();
    if (!c->share) {
        rc = hub_error_set(err, HUB_E_NOMEM, "curl_share_init failed");
        goto out;
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    hub_log(c, HUB_LOG_DEBUG, "hub: endpoint %s, %s", c->origin,
            c->token ? "token loaded" : "anonymous");
    *out = c;
    c = NULL;
out:
    hub_client_free(c);
    return rc;
}

void hub_client_free(hub_client *c)
{
    size_t i;
    if (!c)
        return;
    hub_reach_free(c); /* the prober uses the share handle */
    for (i = 0; i < c->pool_count; i++)
        curl_easy_cleanup(c->pool[i].h);
    if (c->share)
        curl_share_cleanup(c->share);
    hub_token_free(c->token);
    free(c->token_file);
    pthread_mutex_destroy(&c->token_lock);
    free(c->ca_file);
    free(c->ca_dir);
    free(c->endpoint);
    free(c->origin);
    free(c->user_agent);
    for (i = 0; i < 8; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->pool_lock);
    pthread_mutex_destroy(&c->rl_lock);
    free(c);
}

const char *hub_client_endpoint(const hub_client *c)
{
    return c->endpoint;
}

int hub_client_has_token(const hub_client *c)
{
    return c->authed;
}

/* After a 401 to a request that carried the token (of generation `used`): the token file is
 * read again, so that a token replaced on disk (rotated after a leak, `hf auth login` again) is
 * used from then on without a remount, as huggingface_hub reads it at each call. 1 when the
 * request is worth another try with the current token: it changed since `used` was sent, here
 * or in another thread. A file that is gone or empty keeps the old token. (A small file read per
 * refused request: cheap next to the request, and a 401 for a scope the token lacks comes once
 * per call, not in a loop.) */
static int token_reload(hub_client *c, unsigned used)
{
    hub_token *fresh = NULL;
    hub_status st = HUB_OK;
    hub_error e;
    int again, stale, changed = 0, say_error = 0;

    pthread_mutex_lock(&c->token_lock);
    stale = c->token_gen == used;
    pthread_mutex_unlock(&c->token_lock);
    if (stale) /* the file is read without the lock: a slow disk holds up no other request */
        st = hub_token_load(&fresh, c->token_file, &e);
    pthread_mutex_lock(&c->token_lock);
    if (stale && st != HUB_OK && strcmp(e.message, c->token_reload_error) != 0) {
        snprintf(c->token_reload_error, sizeof(c->token_reload_error), "%s", e.message);
        say_error = 1; /* a new token the file cannot give (a mode others may write): once */
    }
    if (stale && c->token_gen == used && st == HUB_OK && fresh &&
        !hub_token_same(fresh, c->token)) {
        hub_token_free(c->token);
        c->token = fresh;
        fresh = NULL;
        c->token_gen++;
        changed = 1;
    }
    again = c->token_gen != used;
    pthread_mutex_unlock(&c->token_lock);
    hub_token_free(fresh);
    if (say_error)
        hub_log(c, HUB_LOG_WARN,
                "hub: the Hub refused the token (401), and the token file cannot be read again: "
                "%s",
                e.message);
    if (changed)
        hub_log(c, HUB_LOG_WARN,
                "hub: the Hub refused the token (401) and the token file holds a new one: using "
                "it from now on");
    return again;
}

void hub_client_ratelimit(const hub_client *c, hub_ratelimit *out)
{
    hub_client *m = (hub_client *)c;
    pthread_mutex_lock(&m->rl_lock);
    *out = c->rl;
    pthread_mutex_unlock(&m->rl_lock);
}

void hub_client_stats(const hub_client *c, hub_stats *out)
{
    out->requests = atomic_load(&c->n_requests);
    out->retries = atomic_load(&c->n_retries);
    out->connections = atomic_load(&c->n_connections);
}

hub_cancel *hub_cancel_new(void)
{
    hub_cancel *k = calloc(1, sizeof(*k));
    if (k)
        atomic_init(&k->flag, 0);
    return k;
}

void hub_cancel_free(hub_cancel *k)
{
    free(k);
}

void hub_cancel_trigger(hub_cancel *k)
{
    if (k)
        atomic_store(&k->flag, 1);
}

int hub_cancel_requested(const hub_cancel *k)
{
    return k ? atomic_load(&((hub_cancel *)k)->flag) : 0;
}

/* ---- one transfer ------------------------------------------------------------------------- */
void hub_resp_init(hub_resp *r)
{
    memset(r, 0, sizeof(*r));
    hub_buf_init(&r->body, 0);
    r->linked_size = r->content_length = r->range_total = r->range_start = -1;
}

void hub_resp_free(hub_resp *r)
{
    hub_buf_free(&r->body);
    free(r->next_url);
    r->next_url = NULL;
    free(r->final_url);
    r->final_url = NULL;
    free(r->location);
    r->location = NULL;
}

/* State of one attempt (one curl_easy_perform). */
typedef struct xfer {
    hub_client *c;
    const hub_req *req;
    hub_resp *resp;
    hub_error *err;
    long status;
    hub_buf errbody; /* body of a non-2xx response */
    char *location;
    long retry_after_ms;
    long rl_remaining, rl_reset;
    int rl_seen;
    int64_t read_pos;   /* upload from fd */
    int64_t last_data;  /* ms, for idle/stall */
    int got_body;       /* a byte of a 2xx body arrived (keep-alives count) */
    int request_sent;   /* the connection was made (or reused) and the request went out */
    int fresh;          /* open a new connection (the pooled ones may have died in a sleep) */
    int unlimited;      /* the origin answered a probe: no answer limit for this call */
    long limit_ms;      /* CURLOPT_TIMEOUT_MS of this attempt, 0 none */
    int answer_limit;   /* limit_ms is answer_timeout_ms, not the deadline */
    const char *origin; /* of the current hop (attempt()'s); NULL unknown */
    int suspected;      /* the prober was asked to probe the origin during this attempt */
    int went_offline;   /* stopped: the prober found the origin unreachable meanwhile */
    int cap_hit, user_stop, cancelled, read_failed;
    int read_errno;
    int token_sent; /* the last hop carried the token, of generation token_gen */
    unsigned token_gen;
} xfer;

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);
    const char *v, *e;
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return 0;
    v = line + k + 1;
    e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *val = v;
    *vlen = (size_t)(e - v);
    return 1;
}

/* Copies a header value without quotes and a W/ prefix. */
static void copy_etag(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= 2 && v[0] == 'W' && v[1] == '/')
        v += 2, n -= 2;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        v++, n -= 2;
    hub_strlcpy(dst, cap, v, n);
}

static int64_t parse_i64(const char *v, size_t n)
{
    int64_t x = 0;
    size_t i;
    if (!n)
        return -1;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (INT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    hub_resp *r = x->resp;
    size_t n = size * nmemb;
    const char *v;
    size_t vl;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->status = x->status;
        r->range_start = -1;
        if (x->err) {
            x->err->code[0] = x->err->message[0] = '\0';
        }
        free(x->location);
        x->location = NULL;
        x->retry_after_ms = -1;
        return n;
    }
    if ((n == 2 && line[0] == '\r' && line[1] == '\n') || (n == 1 && line[0] == '\n')) {
        /* end of the headers: a stream's caller may want to know it is open */
        if (x->status >= 200 && x->status < 300 && x->req->on_open)
            x->req->on_open(x->req->payload);
        return n;
    }
    if (header_is(line, n, "X-Error-Code", &v, &vl) && x->err)
        hub_strlcpy(x->err->code, sizeof(x->err->code), v, vl);
    else if (header_is(line, n, "X-Error-Message", &v, &vl) && x->err)
        hub_strlcpy(x->err->message, sizeof(x->err->message), v, vl);
    else if (header_is(line, n, "X-Request-Id", &v, &vl) && x->err)
        hub_strlcpy(x->err->request_id, sizeof(x->err->request_id), v, vl);
    else if (header_is(line, n, "X-Repo-Commit", &v, &vl) && !r->commit[0])
        hub_strlcpy(r->commit, sizeof(r->commit), v, vl);
    else if (header_is(line, n, "ETag", &v, &vl)) {
        copy_etag(r->etag, sizeof(r->etag), v, vl);
        hub_strlcpy(r->etag_raw, sizeof(r->etag_raw), v, vl);
    } else if (header_is(line, n, "X-Linked-Etag", &v, &vl) && !r->linked_etag[0])
        copy_etag(r->linked_etag, sizeof(r->linked_etag), v, vl);
    else if (header_is(line, n, "X-Linked-Size", &v, &vl) && r->linked_size < 0)
        r->linked_size = parse_i64(v, vl);
    else if (header_is(line, n, "Content-Length", &v, &vl))
        r->content_length = parse_i64(v, vl);
    else if (header_is(line, n, "Content-Range", &v, &vl)) {
        const char *slash = memchr(v, '/', vl), *dash = memchr(v, '-', vl);
        if (vl > 6 && strncasecmp(v, "bytes ", 6) == 0 && dash)
            r->range_start = parse_i64(v + 6, (size_t)(dash - v - 6));
        if (slash)
            r->range_total = parse_i64(slash + 1, vl - (size_t)(slash + 1 - v));
    } else if (header_is(line, n, "Content-Type", &v, &vl))
        hub_strlcpy(r->content_type, sizeof(r->content_type), v, vl);
    else if (header_is(line, n, "Link", &v, &vl)) {
        char *next = hub_parse_link_next(v, vl);
        if (next) {
            free(r->next_url);
            r->next_url = next;
        }
    } else if (header_is(line, n, "Location", &v, &vl)) {
        free(x->location);
        x->location = strndup(v, vl);
    } else if (header_is(line, n, "Retry-After", &v, &vl))
        x->retry_after_ms = hub_parse_retry_after(v, vl);
    else if (header_is(line, n, "RateLimit", &v, &vl)) {
        if (hub_parse_ratelimit(&x->rl_remaining, &x->rl_reset, v, vl) == 0) {
            x->rl_seen = 1;
            pthread_mutex_lock(&x->c->rl_lock);
            x->c->rl.valid = 1;
            x->c->rl.remaining = x->rl_remaining;
            x->c->rl.reset_seconds = x->rl_reset;
            x->c->rl.observed_at = (int64_t)time(NULL);
            if (!x->c->rl.quota)
                x->c->rl.quota = x->c->rl.window_seconds = -1;
            pthread_mutex_unlock(&x->c->rl_lock);
        }
    } else if (header_is(line, n, "RateLimit-Policy", &v, &vl)) {
        long q, w;
        if (hub_parse_ratelimit_policy(&q, &w, v, vl) == 0) {
            pthread_mutex_lock(&x->c->rl_lock);
            x->c->rl.quota = q;
            x->c->rl.window_seconds = w;
            pthread_mutex_unlock(&x->c->rl_lock);
        }
    }
    return n;
}

static int body_is_payload(const xfer *x)
{
    return x->status >= 200 && x->status < 300;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;

    x->last_data = hub_now_ms();
    if (hub_cancel_requested(x->req->cancel)) {
        x->cancelled = 1;
        return 0;
    }
    if (body_is_payload(x))
        x->got_body = 1;
    if (!body_is_payload(x)) {
        /* error or redirect body: keep the start for the message, drop the rest */
        if (x->status >= 400 && x->errbody.len < ERROR_BODY_MAX) {
            size_t take = ERROR_BODY_MAX - x->errbody.len;
            (void)hub_buf_add(&x->errbody, data, take < n ? take : n);
        }
        return n;
    }
    if (x->req->on_data) {
        if (x->req->on_data(data, n, x->req->payload) != 0) {
            x->user_stop = 1;
            return 0;
        }
        x->resp->delivered += (int64_t)n;
        return n;
    }
    if (hub_buf_add(&x->resp->body, data, n) < 0) {
        x->cap_hit = 1;
        return 0;
    }
    return n;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    const hub_req *q = x->req;
    size_t want = size * nmemb;
    int64_t left = q->body_fd_len - x->read_pos;
    ssize_t n;

    if (hub_cancel_requested(q->cancel)) {
        x->cancelled = 1;
        return CURL_READFUNC_ABORT;
    }
    if (left <= 0)
        return 0;
    if ((int64_t)want > left)
        want = (size_t)left;
    do {
        n = pread(q->body_fd, dst, want, q->body_fd_offset + x->read_pos);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        x->read_failed = 1;
        x->read_errno = n < 0 ? errno : 0;
        return CURL_READFUNC_ABORT;
    }
    x->read_pos += n;
    x->last_data = hub_now_ms();
    return (size_t)n;
}

static int on_seek(void *userp, curl_off_t offset, int origin)
{
    xfer *x = userp;
    if (origin != SEEK_SET || offset < 0 || offset > x->req->body_fd_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->read_pos = offset;
    return CURL_SEEKFUNC_OK;
}

static int on_progress(void *userp, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    xfer *x = userp;
    (void)dlt, (void)dln, (void)ult, (void)uln;
    if (hub_cancel_requested(x->req->cancel)) {
        x->cancelled = 1;
        return 1;
    }
    if (x->status == 0 && x->origin && !x->answer_limit && !x->unlimited) {
        /* a write or a stream without an answer and without bytes going out: no limit can cut
         * it (a write may have acted, an upload is answered only at its end), but if the Hub
         * has gone silent the prober finds out and the call stops instead of waiting for its
         * deadline */
        int64_t now = hub_now_ms();
        if (!x->suspected && now - x->last_data >= (int64_t)x->c->answer_timeout_ms) {
            x->suspected = 1;
            hub_reach_suspect(x->c, x->origin);
        }
        if (x->suspected && hub_reach_is_offline(x->c, x->origin, NULL, 0)) {
            x->went_offline = 1;
            return 1;
        }
    }
    return 0;
}

/* The connection is made (or reused) and the request is about to go out. */
static int on_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    xfer *x = userp;
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    x->request_sent = 1;
    return CURL_PREREQFUNC_OK;
}

/* Only a GET or HEAD without a body may be redirected: it carries nothing but the URL. */
static int safe_to_follow(const hub_req *q)
{
    return (strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0) && !q->body &&
           q->body_fd < 0;
}

static hub_status setup(xfer *x, CURL *h, const char *url, int with_auth,
                        struct curl_slist **headers, long timeout_ms)
{
    hub_client *c = x->c;
    const hub_req *q = x->req;
    struct curl_slist *l = NULL, *n;
    char line[256];
    const char *m = q->method;

#define ADDH(s)                                                                                    \
    do {                                                                                           \
        n = curl_slist_append(l, (s));                                                             \
        if (!n)                                                                                    \
            goto nomem;                                                                            \
        l = n;                                                                                     \
    } while (0)

    hub_curl_base(c, h, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, x);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, x->fresh ? 1L : 0L);
    if (q->identity)
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "identity");
    else if (!q->stream)
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    if (q->stream) {
        if (!q->no_stall_limit) {
            long secs = (long)(c->deadline_ms / 1000);
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                             secs > 0 ? (secs < DEFAULT_STALL_SECOND ? secs : DEFAULT_STALL_SECOND)
                                      : 1L);
        }
    } else {
        /* an API read that gets no answer at all within answer_timeout_ms is suspect: the
         * origin is probed (attempt()) rather than waited for until the deadline */
        x->answer_limit =
            !x->unlimited && safe_to_follow(q) && (long)c->answer_timeout_ms < timeout_ms;
        x->limit_ms = x->answer_limit  ? (long)c->answer_timeout_ms
                      : timeout_ms > 0 ? timeout_ms
                                       : 1L;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->limit_ms);
    }

    if (strcmp(m, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (q->body_fd >= 0) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
        if (strcmp(m, "PUT") == 0) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_fd_len);
        } else {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_fd_len);
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
        }
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? (const char *)q->body : "");
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    ADDH("Expect:");
    if (q->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
        ADDH(line);
    } else if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        ADDH("Content-Type:");
    }
    if (q->accept) {
        snprintf(line, sizeof(line), "Accept: %s", q->accept);
        ADDH(line);
    }
    if (q->range) {
        snprintf(line, sizeof(line), "Range: %s", q->range);
        ADDH(line);
    }
    x->token_sent = with_auth; /* of this hop: a 401 from a host we sent nothing is not ours */
    if (with_auth) {
        int bad;
        pthread_mutex_lock(&c->token_lock);
        bad = hub_token_add_header(c->token, &l) < 0;
        x->token_gen = c->token_gen;
        pthread_mutex_unlock(&c->token_lock);
        if (bad)
            goto nomem;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    *headers = l;
    return HUB_OK;
nomem:
    hub_headers_free(l);
    return HUB_E_NOMEM;
#undef ADDH
}

/* Classification of one attempt. */
typedef struct outcome {
    hub_status st;
    int retry;    /* worth retrying */
    int clear;    /* surely not acted upon by the server */
    long wait_ms; /* server-requested wait, -1 none */
    int again;    /* the answer limit ran out on a live origin: go on without it, at once */
} outcome;

static outcome classify(xfer *x, CURLcode cc)
{
    outcome o = {HUB_OK, 0, 0, -1, 0};
    hub_error *e = x->err;

    if (cc == CURLE_OK) {
        o.st = hub_status_from_http(x->status);
        if (o.st == HUB_OK)
            return o;
        if (e && !e->message[0] && x->errbody.len)
            hub_parse_error_body(e->message, sizeof(e->message), x->resp->content_type,
                                 x->errbody.data, x->errbody.len);
        if (e && !e->message[0])
            snprintf(e->message, sizeof(e->message), "HTTP %ld", x->status);
        if (x->status == 429 || x->status == 408 || (x->status >= 500 && x->status < 600)) {
            o.retry = 1;
            o.clear = x->status == 429 || x->status == 408;
            o.wait_ms = x->retry_after_ms;
            if (x->status == 429 && x->rl_seen && x->rl_remaining == 0 &&
                x->rl_reset * 1000 > o.wait_ms)
                o.wait_ms = x->rl_reset * 1000;
        }
        return o;
    }
    if (x->cancelled || (cc == CURLE_WRITE_ERROR && x->user_stop)) {
        o.st = hub_error_set(e, HUB_E_CANCELLED, "cancelled");
        return o;
    }
    if (x->cap_hit) {
        o.st = hub_error_set(e, HUB_E_NOMEM, "response larger than %zu bytes", x->resp->body.max);
        return o;
    }
    if (x->read_failed) {
        if (e)
            e->sys_errno = x->read_errno;
        o.st = hub_error_set(e, HUB_E_IO, "reading the upload source failed: %s",
                             strerror(x->read_errno ? x->read_errno : EIO));
        return o;
    }
    switch (cc) {
    case CURLE_OUT_OF_MEMORY:
        o.st = hub_error_set(e, HUB_E_NOMEM, "curl: out of memory");
        return o;
    case CURLE_OPERATION_TIMEDOUT:
        o.st = HUB_E_TIMEOUT;
        o.retry = 1;
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        o.st = HUB_E_TRANSPORT;
        o.retry = o.clear = 1;
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        o.st = HUB_E_TRANSPORT;
        o.retry = 1;
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        o.st = HUB_E_PROTOCOL;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        /* not retried: the answer will not change. Say how to trust a private CA. */
        return (outcome){hub_error_set(e, HUB_E_TRANSPORT,
                                       "%s: the Hub's TLS certificate is not trusted (%s%s); for "
                                       "a private or corporate CA use -o ca_file=PATH or "
                                       "SSL_CERT_FILE",
                                       curl_easy_strerror(cc), x->c->ca_file ? "CA file " : "",
                                       x->c->ca_file ? x->c->ca_file : "system store"),
                         0, 0, -1, 0};
    default:
        o.st = HUB_E_TRANSPORT;
        break;
    }
    hub_error_set(e, o.st, "%s", curl_easy_strerror(cc));
    return o;
}

static void sleep_ms(long ms, hub_cancel *cancel)
{
    while (ms > 0 && !hub_cancel_requested(cancel)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* A Location without scheme or authority ("/new/path"): the same origin by construction. */
static int location_is_relative(const char *loc)
{
    const char *p;
    if (!loc || (loc[0] == '/' && loc[1] == '/'))
        return 0;
    for (p = loc; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == ':')
            return 0; /* a scheme */
    return 1;
}

/* After an attempt that got no HTTP answer: is the origin unreachable? Connection failures say
 * so at once; an answer limit that ran out on a made connection asks a probe first, so a slow
 * Hub is waited for and only a silent one (a blackhole) goes offline. 1 offline (why filled),
 * 0 not, -1 reachable and the attempt should go on without its answer limit. */
static int unreachable(hub_client *c, CURL *h, xfer *x, CURLcode cc, const char *origin, char *why,
                       size_t cap)
{
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
        cc == CURLE_COULDNT_RESOLVE_PROXY) {
        snprintf(why, cap, "%s", curl_easy_strerror(cc));
        return 1;
    }
    if (cc != CURLE_OPERATION_TIMEDOUT)
        return 0;
    if (!x->request_sent) {
        /* no TCP or TLS set-up within connect_timeout_ms (or the answer limit): unless the
         * call's own deadline cut it short, the origin cannot be reached */
        long conn_limit = (long)c->connect_timeout_ms;
        if (x->limit_ms && x->limit_ms < conn_limit) {
            unsigned setup = hub_reach_setup_ms(c);
            if (!x->answer_limit)
                return 0; /* the call's deadline cut it short */
            /* the answer limit cut the set-up short: on a far Hub (connections take more than
             * a third of it) or one not met yet, that is a slow link; wait for it once */
            if (!setup || 3 * (long)setup > x->limit_ms)
                return -1;
            conn_limit = x->limit_ms;
        }
        snprintf(why, cap, "no connection within %ld ms", conn_limit);
        return 1;
    }
    if (!x->answer_limit)
        return 0;
    if (x->status > 0)
        return -1; /* headers came: slow, not silent */
    {
        /* making a new connection ate most of the limit: the answer itself was hardly waited
         * for (a far Hub: 300 ms round trips make a TLS connection take 600-900 ms) */
        curl_off_t total = 0, sent = 0;
        if (curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &sent) == CURLE_OK && sent > 0 &&
            (total - sent) / 1000 < (curl_off_t)c->answer_timeout_ms / 2)
            return -1;
    }
    /* a fresh connection answering a cheap call; on a near Hub its limit keeps the whole wait
     * of a read that meets a silent Hub under 2 s with the fs's 0.7 s answer limit */
    if (hub_reach_probe(c, origin, hub_reach_probe_limit(c)))
        return -1;
    if (hub_reach_answered_since(c, origin, x->last_data))
        return -1; /* another request got an answer meanwhile: a loaded Hub, not a silent one */
    snprintf(why, cap, "no answer within %u ms, nor to a probe", c->answer_timeout_ms);
    return 1;
}

/* Runs one attempt, following redirects. The token goes only to the endpoint's origin; every
 * hop decides anew, so a redirect to any other host is sent without it. */
static outcome attempt(hub_client *c, CURL *h, xfer *x, int64_t deadline)
{
    const char *url = x->req->url;
    char *owned = NULL;
    char logurl[512];
    int hop;
    outcome o = {HUB_OK, 0, 0, -1, 0};

    for (hop = 0;; hop++) {
        struct curl_slist *headers = NULL;
        int auth = c->authed && !x->req->no_auth && origin_is(c->origin, url);
        int64_t t0 = hub_now_ms();
        long nconn = 0;
        CURLcode cc;
        hub_status s;
        char *origin = hub_url_origin(url);
        char why[HUB_ERROR_MESSAGE_MAX];
        int down;

        if (origin && hub_reach_gate(c, origin, hub_reach_probe_limit(c), why, sizeof(why))) {
            /* known unreachable: nothing is sent; the prober finds out when it is back */
            o = (outcome){hub_error_set(x->err, HUB_E_OFFLINE, "%s", why), 0, 1, -1, 0};
            free(origin);
            break;
        }
        x->request_sent = 0;
        x->limit_ms = 0;
        x->answer_limit = 0;
        x->origin = origin;
        x->suspected = x->went_offline = 0;
        s = setup(x, h, url, auth, &headers, (long)(deadline - t0));
        if (s != HUB_OK) {
            o.st = hub_error_set(x->err, s, "no memory for request headers");
            free(origin);
            break;
        }
        x->status = 0;
        x->read_pos = 0;
        x->last_data = t0;
        x->got_body = 0;
        x->errbody.len = 0;
        atomic_fetch_add(&c->n_requests, 1);
        cc = curl_easy_perform(h);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        hub_headers_free(headers);
        if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
            atomic_fetch_add(&c->n_connections, (uint64_t)nconn);
        if (x->err)
            x->err->http_status = x->status;
        url_for_log(logurl, sizeof(logurl), c, url);
        if (cc == CURLE_OK)
            hub_log(c, HUB_LOG_DEBUG, "hub: %s %s -> %ld (%lld ms)", x->req->method, logurl,
                    x->status, (long long)(hub_now_ms() - t0));
        else
            hub_log(c, HUB_LOG_DEBUG, "hub: %s %s -> %s (%lld ms)", x->req->method, logurl,
                    curl_easy_strerror(cc), (long long)(hub_now_ms() - t0));
        x->origin = NULL;
        if (cc == CURLE_OK || x->status > 0 || x->got_body) {
            hub_reach_answered(c, origin);
            if (origin_is(c->origin, url))
                hub_reach_note_setup(c, h);
            down = 0;
        } else if (x->went_offline) {
            /* the prober found the origin silent while this call waited: it may have acted
             * (hub_http marks the response unclear) */
            snprintf(why, sizeof(why), "no answer, and the Hub stopped answering probes");
            down = 2;
        } else {
            down = unreachable(c, h, x, cc, origin, why, sizeof(why));
            if (down > 0)
                hub_reach_failed(c, origin, why);
        }
        free(origin);
        origin = NULL;
        if (down > 0) {
            o = (outcome){hub_error_set(x->err, HUB_E_OFFLINE, "%s", why), 0, !x->request_sent, -1,
                          0};
            break;
        }
        if (down < 0) {
            o = (outcome){hub_error_set(x->err, HUB_E_TIMEOUT, "slow answer"), 0, 0, -1, 1};
            break;
        }
        o = classify(x, cc);
        if (o.st != HUB_OK || x->status < 300 || x->status >= 400 || x->status == 304)
            break;
        if (!safe_to_follow(x->req)) {
            /* a redirect of a write: following it would re-send the body (a secret value, a
             * commit) to wherever Location points, and its 2xx would look like our success */
            o.st = hub_error_set(x->err, HUB_E_PROTOCOL,
                                 "the Hub answered %s %s with a redirect (HTTP %ld); not following "
                                 "it: the request is not re-sent elsewhere",
                                 x->req->method, logurl, x->status);
            break;
        }
        if (!x->req->follow || (x->req->relative_only && !location_is_relative(x->location))) {
            char *to = NULL; /* kept for the caller (files.c: an LFS file's signed URL) */
            if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &to) == CURLE_OK && to) {
                free(x->resp->location);
                x->resp->location = strdup(to);
            }
            break;
        }
        if (hop >= MAX_REDIRECTS) {
            o.st = hub_error_set(x->err, HUB_E_PROTOCOL, "too many redirects");
            break;
        }
        {
            char *next = NULL;
            if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next) {
                o.st = hub_error_set(x->err, HUB_E_PROTOCOL, "redirect without Location");
                break;
            }
            free(owned);
            owned = strdup(next);
            if (!owned) {
                o.st = hub_error_set(x->err, HUB_E_NOMEM, "no memory");
                break;
            }
            url = owned;
            x->resp->redirected = 1;
        }
    }
    x->resp->status = x->status;
    if (owned && o.st == HUB_OK) { /* where the answer came from (files.c reuses signed URLs) */
        free(x->resp->final_url);
        x->resp->final_url = owned;
        owned = NULL;
    }
    free(owned);
    return o;
}

hub_status hub_http(hub_client *c, const hub_req *req, hub_resp *resp, hub_error *err)
{
    int64_t start = hub_now_ms(), deadline = start + c->deadline_ms;
    unsigned tries;
    int unclear = 0;  /* an attempt failed in a way that may have reached the server */
    int reloaded = 0; /* retried once with a new token from the token file */
    int64_t used_bt = 0;
    CURL *h = pool_get(c, &used_bt);
    xfer x;
    outcome o = {HUB_OK, 0, 0, -1, 0};

    memset(&x, 0, sizeof(x));
    x.c = c;
    x.req = req;
    x.resp = resp;
    x.err = err;
    hub_buf_init(&x.errbody, ERROR_BODY_MAX);
    /* a handle idle for a minute of wall time, sleeps included, may hold connections that died
     * while the machine slept (NAT, Wi-Fi): a request sent on one would wait for an answer that
     * never comes, so the first call after a pause opens a new one */
    x.fresh = used_bt && hub_boottime_ms() - used_bt > (int64_t)c->idle_fresh_ms;
    if (req->max_body)
        resp->body.max = req->max_body;
    if (!h)
        return hub_error_set(err, HUB_E_NOMEM, "curl_easy_init failed");
    for (tries = 0;; tries++) {
        long delay;
        if (err) {
            err->attempts = (int)tries + 1;
            err->code[0] = err->message[0] = '\0';
        }
        resp->body.len = 0;
        x.token_sent = 0;
        o = attempt(c, h, &x, deadline);
        x.fresh = 0;
        if (o.st == HUB_E_AUTH && x.token_sent && !reloaded && resp->delivered == 0 &&
            token_reload(c, x.token_gen)) {
            reloaded = 1; /* refused, and the token file holds a new token: once more with it */
            tries--;
            continue;
        }
        if (o.again) {
            /* the origin answered a probe: this read is slow, not lost; go on without the
             * answer limit under the call's deadline */
            hub_log(c, HUB_LOG_INFO,
                    "hub: %s: no answer within %u ms but the Hub answers a "
                    "probe; waiting up to the deadline",
                    req->method, c->answer_timeout_ms);
            x.unlimited = 1;
            atomic_fetch_add(&c->n_retries, 1);
            tries--;
            continue;
        }
        if (o.st == HUB_E_NOT_FOUND && req->gone_ok && unclear) {
            /* the earlier attempt that failed unclearly did delete it */
            hub_log(c, HUB_LOG_INFO, "hub: %s: 404 after an unclear failure: already done",
                    req->method);
            hub_error_clear(err);
            if (err)
                err->attempts = (int)tries + 1;
            o.st = HUB_OK;
        }
        if (o.st != HUB_OK && o.retry && !o.clear)
            unclear = 1;
        if (o.st == HUB_OK || !o.retry || resp->delivered > 0)
            break;
        if (req->retry == HUB_RETRY_NONE || (req->retry == HUB_RETRY_CLEAR && !o.clear))
            break;
        if (tries >= c->max_retries)
            break;
        delay = (long)c->backoff_base_ms << (tries < 16 ? tries : 16);
        if (delay > (long)c->backoff_max_ms)
            delay = (long)c->backoff_max_ms;
        if (o.wait_ms > delay)
            delay = o.wait_ms;
        /* streams too: no byte has reached the caller yet, so the wait before the next attempt
         * is bounded by the call's deadline (a Retry-After of days gives up at once) */
        if (hub_now_ms() + delay >= deadline) {
            hub_log(c, HUB_LOG_INFO,
                    "hub: %s: giving up, next retry in %ld ms is past the deadline", req->method,
                    delay);
            break;
        }
        hub_log(c, HUB_LOG_INFO, "hub: %s failed (%s, HTTP %ld); retry %u in %ld ms", req->method,
                hub_status_str(o.st), resp->status, tries + 1, delay);
        sleep_ms(delay, req->cancel);
        if (hub_cancel_requested(req->cancel)) {
            o.st = hub_error_set(err, HUB_E_CANCELLED, "cancelled");
            break;
        }
        atomic_fetch_add(&c->n_retries, 1);
    }
    free(x.location);
    hub_buf_free(&x.errbody);
    pool_put(c, h);
    resp->unclear = o.st != HUB_OK && (unclear || (o.st == HUB_E_OFFLINE && x.went_offline));
    if (err)
        err->status = o.st;
    return o.st;
}

void hub_req_json(hub_req *q, const char *method, const char *url, const char *body,
                  size_t body_len)
{
    memset(q, 0, sizeof(*q));
    q->method = method;
    q->url = url;
    q->body = body;
    q->body_len = body_len;
    q->body_fd = -1;
    q->accept = "application/json";
    if (body)
        q->content_type = "application/json";
    q->follow = 1;
}

hub_status hub_call_json(hub_client *c, const char *method, const char *url, const char *body,
                         size_t body_len, hub_resp *resp, hub_error *err)
{
    hub_req q;

    hub_req_json(&q, method, url, body, body_len);
    return hub_http(c, &q, resp, err);
}
