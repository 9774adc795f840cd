/* Private interfaces of hubclient: buffers, the HTTP engine, the token, and the parsers.
 * Parsers take a buffer and never touch the network, so tests/client can drive them directly.
 * Nothing here is part of the public API. */
#ifndef HUBCLIENT_INTERNAL_H
#define HUBCLIENT_INTERNAL_H

#include "hubclient.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_FMT(a, b) __attribute__((format(printf, a, b)))

/* ---- growable buffer with a size cap (curl lib/dynbuf.c style) ---------------------------- */
typedef struct hub_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* appends beyond this fail */
    int secret; /* wipe on growth and free */
} hub_buf;

#define HUB_BUF_DEFAULT_MAX ((size_t)64 << 20)

void hub_buf_init(hub_buf *b, size_t max);
int hub_buf_add(hub_buf *b, const void *p, size_t n); /* 0, or -1 on no memory/cap */
int hub_buf_adds(hub_buf *b, const char *s);
int hub_buf_printf(hub_buf *b, const char *fmt, ...) HUB_FMT(2, 3);
/* Percent-encodes s; keep_slash leaves '/' as is (resolve paths). */
int hub_buf_add_urlenc(hub_buf *b, const char *s, int keep_slash);
/* Appends s as a quoted, escaped JSON string. */
int hub_buf_add_json_str(hub_buf *b, const char *s);
int hub_buf_add_json_strn(hub_buf *b, const char *s, size_t n);
int hub_buf_add_base64(hub_buf *b, const void *p, size_t n);
char *hub_buf_steal(hub_buf *b); /* the data (new; "" if empty) or NULL on no memory */
void hub_buf_free(hub_buf *b);

/* Copy at most cap-1 bytes of s (n bytes) into dst, NUL-terminated; control chars become ' '. */
void hub_strlcpy(char *dst, size_t cap, const char *s, size_t n);
/* "2025-03-07T12:24:18.657Z" -> unix seconds (and ms); -1 on a bad string. */
int hub_parse_iso8601(int64_t *out_sec, int64_t *out_ms, const char *s);
int64_t hub_now_ms(void); /* monotonic */

/* ---- errors -------------------------------------------------------------------------------- */
/* Sets err->status and message (printf). Returns status. err may be NULL. */
hub_status hub_error_set(hub_error *err, hub_status status, const char *fmt, ...) HUB_FMT(3, 4);
void hub_error_clear(hub_error *err);
hub_status hub_status_from_http(long http_status);

/* ---- the token (token.c is the only reader of its value) ---------------------------------- */
typedef struct hub_token hub_token;
struct curl_slist;
/* Resolves the token as documented for hub_options.token_file. *out is NULL when anonymous. */
hub_status hub_token_load(hub_token **out, const char *token_file, hub_error *err);
void hub_token_free(hub_token *tok);
/* Whether a and b hold the same value (both non-NULL). */
int hub_token_same(const hub_token *a, const hub_token *b);
/* Appends "Authorization: Bearer <token>" to *list. 0 or -1 on no memory. */
int hub_token_add_header(const hub_token *tok, struct curl_slist **list);
/* libgit2 credentials for the Hub's git over HTTP: basic auth, `user` with the token as the
 * password. Returns libgit2's result (0 or < 0). */
struct git_credential;
int hub_token_git_credential(const hub_token *tok, struct git_credential **out, const char *user);
/* Wipes and frees a header list that may hold the Authorization header. */
void hub_headers_free(struct curl_slist *list);
/* "Authorization: Basic base64(user:token)" in a new string the caller wipes and frees; NULL on
 * no memory. For the git mirror, which cannot wait for a challenge (mirror.c). */
char *hub_token_basic_header(const hub_token *tok, const char *user);
/* Wipes and frees a string from hub_token_basic_header. Accepts NULL. */
void hub_secret_str_free(char *s);

/* trust.c: the CA file and directory to use (new strings, NULL = the system store's), and a
 * static name of where they came from. 0, or -1 on no memory. */
int hub_trust_locations(char **out_file, char **out_dir, const char **out_source);

/* ---- reachability (reach.c) ----------------------------------------------------------------- */
#define HUB_REACH_MAX    8 /* origins remembered; the endpoint's is never evicted */
#define HUB_ORIGIN_MAX   160
#define HUB_PROBE_MIN_MS 1000

typedef struct hub_origin_state {
    char origin[HUB_ORIGIN_MAX]; /* "scheme://host:port" as url_origin makes it */
    int offline;
    int probing;           /* the prober is probing it now */
    int suspect;           /* online, but a call waits without an answer: probe it now */
    int64_t suspect_ms;    /* monotonic: when it was last probed as a suspect */
    int64_t asked_ms;      /* monotonic: when a call asked for the suspect probe */
    int64_t answer_ms;     /* monotonic: the last answer of any request to it */
    int64_t probe_ms;      /* monotonic: when the last probe (prober's or a caller's) began */
    int64_t since;         /* unix seconds of the last change */
    int64_t next_probe_ms; /* monotonic */
    unsigned backoff_ms;
    char last_error[HUB_ERROR_MESSAGE_MAX];
    uint64_t outages;
    int64_t used_ms; /* monotonic: last lookup, for eviction */
} hub_origin_state;

/* Lock order: reach_lock is a leaf, never held across a network call. */
typedef struct hub_reach_table {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* the prober waits on it (CLOCK_MONOTONIC) */
    hub_origin_state items[HUB_REACH_MAX];
    size_t count;
    int64_t created; /* unix seconds */
    uint64_t probes;
    unsigned setup_ms; /* moving average of making a connection (DNS, TCP, TLS); 0 unknown */
    pthread_t prober;
    int prober_started, stopping;
} hub_reach_table;

/* ---- client -------------------------------------------------------------------------------- */
#define HUB_POOL_MAX 16

typedef struct hub_pooled {
    void *h;         /* CURL* */
    int64_t used_bt; /* CLOCK_BOOTTIME ms of its last transfer */
} hub_pooled;

/* Lock order: pool_lock, rl_lock and the share locks are leaves; never held together and never
 * across a network call (the share locks are taken by libcurl inside a transfer, briefly). */
struct hub_client {
    char *endpoint; /* no trailing '/' */
    char *origin;   /* "scheme://host:port" of endpoint, lowercased */
    char *user_agent;
    /* token: NULL = anonymous, fixed at creation (authed says which, read without a lock);
     * else replaced by token_reload when the Hub refuses it and its file holds another one.
     * token_lock guards token, token_gen and token_reload_error; a leaf, never held across a
     * call, a file read or a log line. */
    hub_token *token;
    int authed;
    char *token_file;   /* hub_options.token_file as given (NULL: the usual lookup) */
    unsigned token_gen; /* bumped at each replacement */
    char token_reload_error[HUB_ERROR_MESSAGE_MAX]; /* the last reload failure, said once */
    pthread_mutex_t token_lock;
    char *ca_file, *ca_dir; /* CAs trusted instead of the system store's (trust.c); NULL = its */
    unsigned backoff_base_ms, backoff_max_ms, max_retries, deadline_ms, connect_timeout_ms;
    unsigned answer_timeout_ms, probe_max_ms, idle_fresh_ms;
    unsigned page_size;
    hub_log_fn log;
    void *log_payload;
    hub_log_level log_level;

    void *share; /* CURLSH*: DNS cache and TLS sessions */
    pthread_mutex_t share_locks[8];
    pthread_mutex_t pool_lock;
    hub_pooled pool[HUB_POOL_MAX]; /* idle CURL* handles; each keeps its own live connections */
    size_t pool_count;
    hub_reach_table reach;

    pthread_mutex_t rl_lock;
    hub_ratelimit rl;

    atomic_uint_fast64_t n_requests, n_retries, n_connections;
};

struct hub_cancel {
    atomic_int flag;
};

void hub_log(hub_client *c, hub_log_level level, const char *fmt, ...) HUB_FMT(3, 4);

/* The options every transfer of c sets on `curl` (a CURL*) for url: the share handle, http(s)
 * only, no signals, the user agent, TLS verified against c's CAs. */
void hub_curl_base(hub_client *c, void *curl, const char *url);
/* The same without a client (the mirror's check): http(s) only, no signals, user_agent, TLS
 * verified against ca_file/ca_dir (NULL: the system's). */
void hub_curl_https(void *curl, const char *url, const char *user_agent, const char *ca_file,
                    const char *ca_dir);
/* "scheme://host:port" of url, lowercased, default ports filled in (http.c); new or NULL. */
char *hub_url_origin(const char *url);
int64_t hub_boottime_ms(void); /* CLOCK_BOOTTIME: runs on while the machine sleeps */

/* reach.c: the reachability of each origin (hub_client_reach in hubclient.h). */
void hub_reach_init(hub_client *c);
void hub_reach_free(hub_client *c); /* stops and joins the prober */
/* 1 when `origin` is offline; then why (the last error and since when) goes to msg. */
int hub_reach_is_offline(hub_client *c, const char *origin, char *msg, size_t cap);
/* Before a request to origin: 0 go on; 1 it is offline (why in msg): fail at once. While it is
 * offline, at most one caller a second (HUB_TRIAL_EVERY_MS) first probes it itself (limit_ms):
 * a caller that needs the Hub now (persist/'s upload after an fsync) must not fail on a state
 * the prober has not refreshed yet. */
int hub_reach_gate(hub_client *c, const char *origin, unsigned limit_ms, char *msg, size_t cap);
/* The origin could not be reached: offline (one log line on the change), prober started. */
void hub_reach_failed(hub_client *c, const char *origin, const char *why);
/* The origin answered: online again (one log line on the change). */
void hub_reach_answered(hub_client *c, const char *origin);
/* 1 when any request to origin got an answer at or after since_ms (monotonic): the Hub is
 * alive, however slow one call is. */
int hub_reach_answered_since(hub_client *c, const char *origin, int64_t since_ms);
/* A call to origin waits without an answer: the prober probes it now (unless it did lately);
 * no answer marks it offline. Never blocks. */
void hub_reach_suspect(hub_client *c, const char *origin);
/* One probe now (a fresh connection, limit_ms in all): 1 reachable, 0 not. */
int hub_reach_probe(hub_client *c, const char *origin, unsigned limit_ms);
/* After a transfer on `curl` (a CURL*) that made a connection: how long making it took feeds
 * the estimate below. */
void hub_reach_note_setup(hub_client *c, void *curl);
/* The estimate of making a connection (ms), 0 while none has been made. */
unsigned hub_reach_setup_ms(hub_client *c);
/* The limit of a probe on a fresh connection: answer_timeout_ms + 100 on a near Hub; on a far
 * one (two set-ups' worth plus a round trip), or connect_timeout_ms while nothing is known. */
unsigned hub_reach_probe_limit(hub_client *c);

/* ---- HTTP engine --------------------------------------------------------------------------- */
typedef enum hub_retry_mode {
    HUB_RETRY_ALL = 0, /* 408, 429, 5xx, timeouts, resets */
    HUB_RETRY_CLEAR,   /* only failures where the request surely did not act: 408, 429, refused */
    HUB_RETRY_NONE
} hub_retry_mode;

typedef struct hub_req {
    const char *method; /* GET POST PUT DELETE HEAD */
    const char *url;    /* absolute */
    const char *content_type;
    const char *accept;
    const void *body; /* in-memory body (body_len bytes), or */
    size_t body_len;
    int body_fd; /* >= 0: stream body_fd_len bytes from body_fd_offset with pread */
    int64_t body_fd_offset, body_fd_len;
    const char *range; /* "bytes=0-99" or NULL */
    int no_auth;       /* never send the token (signed URLs) */
    int follow;        /* follow redirects (manually; token only to the endpoint origin) */
    int relative_only; /* with follow: only relative Locations (a renamed repo), never an
                          absolute one (signed storage, which answers 403 to HEAD) */
    int identity;      /* Accept-Encoding: identity (sizes as stored), else all curl decodes */
    hub_retry_mode retry;
    int gone_ok; /* a delete: a 404 on a retry after an unclear failure means an earlier attempt
                    did it (HUB_OK) */
    hub_data_fn on_data;            /* 2xx body goes here instead of resp->body */
    void (*on_open)(void *payload); /* called when a 2xx response's headers are in (streams) */
    void *payload;
    size_t max_body; /* cap of resp->body; 0 = HUB_BUF_DEFAULT_MAX */
    hub_cancel *cancel;
    int stream;         /* no overall timeout; stall detection only (downloads, uploads, logs) */
    int no_stall_limit; /* with stream: no stall detection at all (log follow) */
} hub_req;

typedef struct hub_resp {
    long status;
    hub_buf body;
    char *next_url; /* Link rel="next" (new) */
    char commit[HUB_OID_MAX];
    char etag[HUB_OID_MAX + 2];
    char etag_raw[128]; /* ETag exactly as sent (multipart part receipts) */
    char linked_etag[HUB_OID_MAX + 2];
    int64_t linked_size;    /* -1 */
    int64_t content_length; /* -1 */
    int64_t range_total;    /* from Content-Range, -1 */
    int64_t range_start;    /* first byte of a 206 body, -1 */
    int redirected;         /* a redirect was followed */
    char *final_url;        /* the URL that answered, when a redirect was followed (new) */
    char *location;         /* where a redirect that was not followed points, absolute (new) */
    char content_type[96];
    int64_t delivered; /* bytes handed to on_data */
    int unclear;       /* the call failed in a way that may have reached the server (5xx, timeout,
                          reset, cut-off reply): a write may or may not have happened */
} hub_resp;

void hub_resp_init(hub_resp *r);
void hub_resp_free(hub_resp *r);
/* Runs the request with retries, redirects, auth and logging. HUB_OK only for 2xx (and 3xx
 * when not following). On failure err holds the details. */
hub_status hub_http(hub_client *c, const hub_req *req, hub_resp *resp, hub_error *err);

/* URL helpers. Paths are "/api/..."; the result is "<endpoint><path>". */
const char *hub_repo_type_plural(hub_repo_type t); /* "models" */
const char *hub_repo_type_prefix(hub_repo_type t); /* "", "datasets/", "spaces/" */
/* "/api/{type}s/{id}" into b (id segments kept, each encoded). */
int hub_buf_add_repo_api(hub_buf *b, const hub_client *c, hub_repo_type t, const char *id);
int hub_valid_repo_id(const char *id);

/* q for a JSON call: method, url, optional JSON body (content type set when there is one),
 * Accept JSON, redirects followed, every temporary failure retried; the rest zero. */
void hub_req_json(hub_req *q, const char *method, const char *url, const char *body,
                  size_t body_len);
/* Simple JSON call (hub_req_json); the response body stays in resp. */
hub_status hub_call_json(hub_client *c, const char *method, const char *url, const char *body,
                         size_t body_len, hub_resp *resp, hub_error *err);

/* ---- parsers (parse.c): buffer in, plain structs out; HUB_E_PROTOCOL on anything odd ------ */
hub_status hub_parse_whoami(hub_whoami **out, const char *buf, size_t len, hub_error *err);
hub_status hub_parse_space(hub_space **out, const char *buf, size_t len, hub_error *err);
/* Appends the elements of a JSON array of spaces to list. */
hub_status hub_parse_space_array(hub_space_list *list, const char *buf, size_t len, hub_error *err);
/* Frees the members of one Space and zeroes it (the struct itself is the caller's). */
void hub_space_clear(hub_space *s);
hub_status hub_parse_runtime(hub_runtime **out, const char *buf, size_t len, hub_error *err);
hub_status hub_parse_hardware(hub_hardware_list **out, const char *buf, size_t len, hub_error *err);
/* {"KEY":{"value"?,"description"?,"updatedAt"?}}; with_values 0 ignores values (secrets). */
hub_status hub_parse_kv_map(hub_kv_list **out, const char *buf, size_t len, int with_values,
                            hub_error *err);
hub_status hub_parse_entry_array(hub_entry_list *list, const char *buf, size_t len, hub_error *err);
hub_status hub_parse_preupload(hub_preupload_list *list, const char *buf, size_t len,
                               hub_error *err);
hub_status hub_parse_commit_result(char out_oid[HUB_OID_MAX], const char *buf, size_t len,
                                   hub_error *err);
/* Commit list: ids and titles of the first `want` commits. */
typedef struct hub_commit_brief {
    char id[HUB_OID_MAX];
    char title[256];
} hub_commit_brief;
hub_status hub_parse_commit_list(hub_commit_brief *out, size_t want, size_t *out_count,
                                 const char *buf, size_t len, hub_error *err);
hub_status hub_parse_repo_sha(char out_oid[HUB_OID_MAX], const char *buf, size_t len,
                              hub_error *err);
hub_status hub_parse_create_repo(char **out_url, const char *buf, size_t len, hub_error *err);
/* {"token": "<jwt>"} of GET /api/spaces/{id}/jwt -> the JWT appended to out (a secret buffer).
 * Error messages never quote the body. */
hub_status hub_parse_space_jwt(hub_buf *out, const char *buf, size_t len, hub_error *err);
/* Pretty-prints a JSON document (new string). */
hub_status hub_json_pretty(char **out, const char *buf, size_t len, hub_error *err);

/* LFS batch reply, one object. */
typedef struct hub_lfs_part {
    uint32_t number;
    char *url;
} hub_lfs_part;
typedef struct hub_lfs_action {
    char *href;
    char **headers; /* "Name: value" lines, headers_count of them (basic transfer) */
    size_t headers_count;
} hub_lfs_action;
typedef struct hub_lfs_batch {
    char *transfer; /* "basic", "multipart", NULL = basic */
    char oid[HUB_OID_MAX];
    int64_t size;
    int has_upload, has_verify;
    hub_lfs_action upload, verify;
    int64_t chunk_size;  /* multipart */
    hub_lfs_part *parts; /* sorted by number */
    size_t parts_count;
    long error_code; /* per-object error, 0 if none */
    char error_message[256];
} hub_lfs_batch;
hub_status hub_parse_lfs_batch(hub_lfs_batch **out, const char *oid, const char *buf, size_t len,
                               hub_error *err);
void hub_lfs_batch_free(hub_lfs_batch *b);

/* Error body -> message (JSON error/error_description/errors[]/message, or plain text). */
void hub_parse_error_body(char *msg, size_t cap, const char *content_type, const char *buf,
                          size_t len);
/* Link header -> the rel="next" URL (new) or NULL. */
char *hub_parse_link_next(const char *value, size_t len);
/* RateLimit / RateLimit-Policy header values; return 0 when parsed. */
int hub_parse_ratelimit(long *out_remaining, long *out_reset, const char *value, size_t len);
int hub_parse_ratelimit_policy(long *out_quota, long *out_window, const char *value, size_t len);
/* Retry-After (seconds or HTTP date) -> milliseconds from now; -1 if unparsable. */
long hub_parse_retry_after(const char *value, size_t len);

/* SSE log stream parser: feed bytes, get lines. */
typedef struct hub_sse {
    hub_buf line; /* current partial line, capped */
    int overlong; /* dropping the rest of an over-long line */
    hub_log_line_fn on_line;
    void *payload;
    int stopped; /* on_line asked to stop */
    int64_t events;
} hub_sse;
void hub_sse_init(hub_sse *s, hub_log_line_fn on_line, void *payload);
/* Returns 0, or -1 when on_line asked to stop. */
int hub_sse_feed(hub_sse *s, const char *data, size_t len);
int hub_sse_finish(hub_sse *s); /* flushes a last line without '\n' */
void hub_sse_free(hub_sse *s);

/* sha256: hub_sha256_* are public (hubclient.h) */
void hub_hex(char *out, const unsigned char *p, size_t n);

#endif
