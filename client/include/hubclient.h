/* hubclient: the C library spacefs uses to talk to the Hugging Face Hub over HTTP.
 * Plain C structs in and out; no curl, jansson or FUSE type crosses this header.
 * Every function is thread-safe on a shared hub_client unless its comment says otherwise. */
#ifndef HUBCLIENT_H
#define HUBCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status and errors
 *
 * Every call returns a hub_status and, when given a non-NULL hub_error, fills it (never
 * allocating; strings are truncated to fit). The filesystem branches on the status only; the
 * error struct is for messages and logs.
 * ------------------------------------------------------------------------------------------- */
typedef enum hub_status {
    HUB_OK = 0,
    HUB_E_INVALID,      /* bad argument or configuration (no HTTP request was made) */
    HUB_E_BAD_REQUEST,  /* 400 or 422: the Hub refused the request as malformed */
    HUB_E_AUTH,         /* 401: missing or invalid token (also a private repo seen anonymously) */
    HUB_E_PAYMENT,      /* 402: needs a paid plan */
    HUB_E_FORBIDDEN,    /* 403: authenticated but not allowed */
    HUB_E_NOT_FOUND,    /* 404: repo, revision, entry or route not found (see error.code) */
    HUB_E_CONFLICT,     /* 409: already exists / conflicting operation */
    HUB_E_PRECONDITION, /* 412: stale parentCommit (branch moved) */
    HUB_E_TOO_BIG,      /* 413: payload or parameter list too large */
    HUB_E_RANGE,        /* 416: requested range not satisfiable */
    HUB_E_RATE_LIMITED, /* 429 that outlived the retries or the deadline */
    HUB_E_SERVER,       /* 5xx (or 408) that outlived the retries or the deadline */
    HUB_E_HTTP,         /* any other unexpected HTTP status */
    HUB_E_TRANSPORT,    /* connection refused/reset, DNS, TLS, truncated body */
    HUB_E_TIMEOUT,      /* the per-call deadline passed */
    HUB_E_PROTOCOL,     /* the Hub answered something we cannot parse or trust */
    HUB_E_NOMEM,        /* allocation failed or a response exceeded its size cap */
    HUB_E_CANCELLED,    /* a callback or hub_cancel asked to stop */
    HUB_E_IO,           /* local file read/write failed (see error.sys_errno) */
    HUB_E_UNKNOWN_OUTCOME, /* a non-idempotent call (commit, restart) failed in a way that leaves
                              its outcome unknown */
    HUB_E_OFFLINE /* the Hub's origin cannot be reached (connection refused, no connection or TLS
                     handshake within connect_timeout_ms, no answer at all) or is known to be
                     unreachable (hub_client_reach): the call failed at once, without retries and
                     without sending the request */
} hub_status;

#define HUB_ERROR_CODE_MAX    64
#define HUB_ERROR_MESSAGE_MAX 512
#define HUB_ERROR_REQID_MAX   128

typedef struct hub_error {
    hub_status status;                    /* same as the return value */
    long http_status;                     /* last HTTP status seen, 0 if none */
    int sys_errno;                        /* errno for HUB_E_IO, else 0 */
    int attempts;                         /* HTTP attempts made by the call (retries + 1) */
    char code[HUB_ERROR_CODE_MAX];        /* X-Error-Code (RepoNotFound, EntryNotFound, ...) */
    char message[HUB_ERROR_MESSAGE_MAX];  /* X-Error-Message, else JSON "error", else text */
    char request_id[HUB_ERROR_REQID_MAX]; /* X-Request-Id of the last response */
} hub_error;

/* A static English name for a status ("not found"); never NULL. */
const char *hub_status_str(hub_status status);

/* ---------------------------------------------------------------------------------------------
 * Logging: one hook. The library formats the message (printf-style, internally checked with
 * the format attribute) and hands the finished line to the hook. The token never appears in
 * a message; URLs are logged without their query strings.
 * ------------------------------------------------------------------------------------------- */
typedef enum hub_log_level {
    HUB_LOG_ERROR = 0,
    HUB_LOG_WARN = 1,
    HUB_LOG_INFO = 2,
    HUB_LOG_DEBUG = 3 /* one line per HTTP request: method, path, status, milliseconds */
} hub_log_level;

/* msg is borrowed for the duration of the call. Called from any thread, possibly concurrently. */
typedef void (*hub_log_fn)(hub_log_level level, const char *msg, void *payload);

/* ---------------------------------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------------------------------- */
typedef struct hub_client hub_client; /* opaque; holds the token, the connection pool */

typedef struct hub_options {
    /* Hub base URL. NULL: $HF_ENDPOINT, else https://huggingface.co. Trailing '/' ignored. */
    const char *endpoint;
    /* Token file. NULL: $HF_TOKEN, else the file $HF_TOKEN_PATH, else $HF_HOME/token (HF_HOME
     * defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface). When set, only this
     * file is read (the environment's HF_TOKEN is ignored). A token file another user owns
     * or may write is refused (HUB_E_INVALID); one others may read is used, with a warning
     * logged. A missing default file means anonymous. */
    const char *token_file;
    int anonymous; /* nonzero: send no token at all */

    unsigned backoff_base_ms;    /* first retry delay; 0 = 1000, doubling per retry */
    unsigned backoff_max_ms;     /* cap of one delay; 0 = 8000 */
    unsigned max_retries;        /* retries after the first attempt; 0 = 5; (unsigned)-1 = none */
    unsigned deadline_ms;        /* absolute budget of one call incl. retries; 0 = 120000. Log
                                    follow, downloads and uploads use it per idle period instead. */
    unsigned connect_timeout_ms; /* TCP and TLS set-up of one connection; 0 = 10000. Running out
                                    marks the origin unreachable (see hub_client_reach) */
    unsigned answer_timeout_ms;  /* an idempotent API read (GET/HEAD, not a stream) without an
                                    answer this long probes the origin (a fresh connection,
                                    this limit + 100 ms): unreachable -> HUB_E_OFFLINE, else the
                                    read is sent again without the limit, under the call's
                                    deadline. Other calls waiting this long without an answer
                                    ask the background prober; 0 = 10000 */
    unsigned probe_max_ms;       /* longest pause between two probes of an unreachable origin
                                    (the first comes 1 s after it went, doubling); 0 = 30000 */
    unsigned idle_fresh_ms;      /* a pooled connection idle this long (CLOCK_BOOTTIME, sleep
                                    included) is not reused; 0 = 60000 */
    unsigned page_size;          /* "limit" sent on paginated listings; 0 = server default */
    const char *user_agent;      /* NULL = "spacefs/<version> hubclient" */

    hub_log_fn log;          /* NULL: no logging */
    void *log_payload;       /* passed to log */
    hub_log_level log_level; /* highest level passed to log; HUB_LOG_DEBUG logs each request */
} hub_options;

/* Trust: https is always verified; this only chooses the CAs. Sets the CA file (PEM, one or more
 * certificates) that replaces the system store for every client and mirror made afterwards, in
 * the whole process; NULL or "" goes back to the environment: SSL_CERT_FILE, else
 * REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE (a file), and SSL_CERT_DIR (a hashed directory), else
 * the system store. HUB_E_INVALID when the file cannot be read. Call before making clients. */
hub_status hub_trust_set_ca_file(const char *path, hub_error *err);

/* Fills opts with defaults (all zero/NULL, log_level HUB_LOG_WARN). */
void hub_options_init(hub_options *opts);

/* Creates a client. *out is NULL on failure. opts may be NULL (defaults). Strings in opts are
 * copied. Reads the environment and the token file once, here. Caller frees with
 * hub_client_free. err may be NULL. */
hub_status hub_client_new(hub_client **out, const hub_options *opts, hub_error *err);

/* Frees the client; wipes the token. Accepts NULL. No call may be running on it. */
void hub_client_free(hub_client *client);

/* The endpoint in use (borrowed, valid until hub_client_free). */
const char *hub_client_endpoint(const hub_client *client);

/* Nonzero when a token was loaded. The token itself is never readable through the API. */
int hub_client_has_token(const hub_client *client);

/* Rate-limit budget announced by the last response carrying a RateLimit header. */
typedef struct hub_ratelimit {
    int valid;           /* 0 until a response carried the header */
    long remaining;      /* r= */
    long reset_seconds;  /* t= (seconds until the window resets, as of observed_at) */
    long quota;          /* q= of RateLimit-Policy, -1 unknown */
    long window_seconds; /* w= of RateLimit-Policy, -1 unknown */
    int64_t observed_at; /* unix seconds */
} hub_ratelimit;
void hub_client_ratelimit(const hub_client *client, hub_ratelimit *out);

/* Reachability of the endpoint's origin (and, inside the client, of every origin it talks to).
 * A connection that cannot be made (refused, DNS, no TCP or TLS set-up within
 * connect_timeout_ms) or a read that gets no answer at all (answer_timeout_ms, then a probe)
 * marks the origin offline, with one log line (warning). While it is offline every call to it
 * fails at once with HUB_E_OFFLINE and sends nothing (except that at most one call a second first
 * probes the origin itself, answer_timeout_ms + 100 ms, unless the prober is probing it); a
 * background thread of the client probes it (GET <endpoint>/api/whoami-v2 without the token, any
 * HTTP answer counts; other origins: a TCP and TLS connection) after 1 s, then doubling up to
 * probe_max_ms, and the first success marks it online again (one log line, info). The clock is
 * CLOCK_BOOTTIME where it matters: a connection idle for a minute of wall time (a laptop that
 * slept) is not reused. */
typedef struct hub_reach {
    int online;    /* 1 reachable (or not tried yet), 0 offline */
    int64_t since; /* unix seconds: the last change, or the client's creation */
    char last_error[HUB_ERROR_MESSAGE_MAX]; /* why it last went offline; "" never */
    uint64_t outages;                       /* times it went offline */
    uint64_t probes;                        /* probes sent (all origins) */
} hub_reach;
void hub_client_reach(const hub_client *client, hub_reach *out);

/* Counters since hub_client_new, for tests and debugging. */
typedef struct hub_stats {
    uint64_t requests;    /* HTTP requests sent (every attempt and redirect hop) */
    uint64_t retries;     /* attempts that were retries */
    uint64_t connections; /* new TCP connections opened (reuse keeps this low) */
} hub_stats;
void hub_client_stats(const hub_client *client, hub_stats *out);

/* Cancellation flag, settable from any thread; long calls (log follow, downloads, uploads)
 * poll it about once per second and on every chunk, and stop with HUB_E_CANCELLED. */
typedef struct hub_cancel hub_cancel;
hub_cancel *hub_cancel_new(void); /* NULL on no memory; free with hub_cancel_free */
void hub_cancel_free(hub_cancel *cancel);
void hub_cancel_trigger(hub_cancel *cancel);
int hub_cancel_requested(const hub_cancel *cancel);

/* ---------------------------------------------------------------------------------------------
 * Repositories
 * ------------------------------------------------------------------------------------------- */
typedef enum hub_repo_type { HUB_REPO_MODEL = 0, HUB_REPO_DATASET, HUB_REPO_SPACE } hub_repo_type;

#define HUB_OID_MAX 65 /* 64 hex digits + NUL (sha256); git sha1s use 41 */

/* ---------------------------------------------------------------------------------------------
 * Account
 * ------------------------------------------------------------------------------------------- */
typedef struct hub_whoami {
    char *name;       /* user name */
    char *fullname;   /* may be NULL */
    char *type;       /* "user", "org", "app"; may be NULL */
    char *token_role; /* "read", "write", "fineGrained"; NULL if not said */
    char **orgs;      /* org names */
    size_t orgs_count;
} hub_whoami;

/* GET /api/whoami-v2. *out is new; free with hub_whoami_free. */
hub_status hub_whoami_get(hub_whoami **out, hub_client *client, hub_error *err);
void hub_whoami_free(hub_whoami *who);

/* ---------------------------------------------------------------------------------------------
 * Spaces
 * ------------------------------------------------------------------------------------------- */
typedef enum hub_stage {
    HUB_STAGE_UNKNOWN = 0, /* absent or a value this library does not know (see stage string) */
    HUB_STAGE_NO_APP_FILE,
    HUB_STAGE_CONFIG_ERROR,
    HUB_STAGE_BUILDING,
    HUB_STAGE_BUILD_ERROR,
    HUB_STAGE_APP_STARTING,
    HUB_STAGE_RUNNING,
    HUB_STAGE_RUNNING_BUILDING,
    HUB_STAGE_RUNNING_APP_STARTING,
    HUB_STAGE_RUNTIME_ERROR,
    HUB_STAGE_DELETING,
    HUB_STAGE_STOPPED, /* asleep; "SLEEPING" maps here too */
    HUB_STAGE_PAUSED
} hub_stage;

typedef struct hub_runtime {
    hub_stage stage;
    char *stage_str;          /* as sent; NULL if absent */
    char *hardware_current;   /* flavor or NULL */
    char *hardware_requested; /* flavor or NULL */
    int64_t gc_timeout;       /* sleep time in seconds; -1 = never (null); 0 = absent */
    char *error_message;      /* NULL unless the Hub said why it failed */
    char **domains;           /* runtime.domains[].domain */
    size_t domains_count;
} hub_runtime;

typedef struct hub_space {
    char *id;              /* "ns/name"; never NULL */
    char *sdk;             /* NULL if absent */
    int is_private;        /* 0/1 */
    int64_t last_modified; /* unix seconds; 0 if absent */
    char *sha;             /* head commit; NULL if absent */
    char *subdomain;       /* NULL if absent */
    char *host;            /* app URL ("https://x.hf.space"); NULL if absent */
    int has_runtime;       /* 1 when the runtime member below was sent */
    hub_runtime runtime;
} hub_space;

typedef struct hub_space_list {
    hub_space *items;
    size_t count;
} hub_space_list;

void hub_space_list_free(hub_space_list *list);

/* One page of a listing: items borrowed for the call (a callback may move members out and set
 * them to NULL). Return 0 to go on, -1 to stop with HUB_E_NOMEM. */
typedef int (*hub_space_page_fn)(hub_space *items, size_t count, void *payload);
/* Every Space of namespace `author` (expand=sdk,private,lastModified,runtime,subdomain,sha), one
 * request and one page at a time (memory holds one page): fn gets each page in order.
 * max > 0 stops after max Spaces, without requesting the pages past them; *out_truncated (may
 * be NULL) is then 1 if the Hub had more. `cancel` (may be NULL) stops it between pages and
 * during a page's transfer (HUB_E_CANCELLED). */
hub_status hub_spaces_list_pages(hub_client *client, const char *author, size_t max,
                                 hub_space_page_fn fn, void *payload, int *out_truncated,
                                 hub_cancel *cancel, hub_error *err);

/* GET /api/spaces/{id}. *out is new (free with hub_space_free). If out_json is non-NULL it
 * receives the response pretty-printed (new, free()). Either out may be NULL. */
hub_status hub_space_info_get(hub_space **out, char **out_json, hub_client *client,
                              const char *space_id, hub_error *err);
void hub_space_free(hub_space *space);

/* GET /api/spaces/{id}/runtime. *out is new (free with hub_runtime_free); out_json as above. */
hub_status hub_space_runtime_get(hub_runtime **out, char **out_json, hub_client *client,
                                 const char *space_id, hub_error *err);
void hub_runtime_free(hub_runtime *runtime);

/* Lifecycle calls. Each returns the runtime the Hub answers with in *out when out is non-NULL
 * (new, free with hub_runtime_free). Pause, hardware and sleep time are idempotent and retried
 * like reads. A restart is retried only when it surely did not run (429, 408, refused
 * connection); after a failure that may have reached the Hub (5xx, timeout, reset, cut-off
 * reply) it returns HUB_E_UNKNOWN_OUTCOME rather than restart twice. */
hub_status hub_space_restart(hub_runtime **out, hub_client *client, const char *space_id,
                             int factory, hub_error *err);
hub_status hub_space_pause(hub_runtime **out, hub_client *client, const char *space_id,
                           hub_error *err);
/* sleep_seconds: also set the sleep time; 0 = leave it out of the request. */
hub_status hub_space_hardware_request(hub_runtime **out, hub_client *client, const char *space_id,
                                      const char *flavor, int64_t sleep_seconds, hub_error *err);
/* seconds: -1 = never sleep. */
hub_status hub_space_sleeptime_set(hub_runtime **out, hub_client *client, const char *space_id,
                                   int64_t seconds, hub_error *err);

typedef struct hub_hardware {
    char *name;           /* "cpu-basic" */
    char *pretty_name;    /* may be NULL */
    char *cpu;            /* may be NULL ("2 vCPU") */
    char *ram;            /* may be NULL ("16 GB") */
    char *accelerator;    /* may be NULL */
    double unit_cost_usd; /* per unit_label; 0 if absent */
    char *unit_label;     /* "hour"; may be NULL */
} hub_hardware;
typedef struct hub_hardware_list {
    hub_hardware *items;
    size_t count;
} hub_hardware_list;

/* GET /api/spaces/hardware. *out new; free with hub_hardware_list_free. */
hub_status hub_hardware_list_get(hub_hardware_list **out, hub_client *client, hub_error *err);
void hub_hardware_list_free(hub_hardware_list *list);

/* Secrets and variables share one shape. For secrets, value is always NULL. */
typedef struct hub_kv {
    char *key;
    char *value;        /* variables only; NULL for secrets */
    char *description;  /* NULL if absent */
    int64_t updated_at; /* unix seconds; 0 if absent */
} hub_kv;
typedef struct hub_kv_list {
    hub_kv *items; /* sorted by key */
    size_t count;
} hub_kv_list;
void hub_kv_list_free(hub_kv_list *list);

/* Secret names (values are never readable). *out new. */
hub_status hub_secrets_list(hub_kv_list **out, hub_client *client, const char *space_id,
                            hub_error *err);
/* value is borrowed; the library wipes its own copies of it. description may be NULL. */
hub_status hub_secret_set(hub_client *client, const char *space_id, const char *key,
                          const char *value, const char *description, hub_error *err);
/* Deleting a missing key succeeds (as on the Hub). */
hub_status hub_secret_delete(hub_client *client, const char *space_id, const char *key,
                             hub_error *err);

/* Variables; set/delete hand back the whole new map in *out when out is non-NULL. */
hub_status hub_variables_list(hub_kv_list **out, hub_client *client, const char *space_id,
                              hub_error *err);
hub_status hub_variable_set(hub_kv_list **out, hub_client *client, const char *space_id,
                            const char *key, const char *value, const char *description,
                            hub_error *err);
hub_status hub_variable_delete(hub_kv_list **out, hub_client *client, const char *space_id,
                               const char *key, hub_error *err);

/* ---------------------------------------------------------------------------------------------
 * Logs (Server-Sent Events of {"data","timestamp"})
 * ------------------------------------------------------------------------------------------- */
typedef enum hub_log_kind { HUB_LOGS_BUILD = 0, HUB_LOGS_RUN } hub_log_kind;

/* One log line (text without its trailing newline, borrowed for the call) and its timestamp
 * (unix milliseconds, 0 if absent). Return nonzero to stop following (HUB_E_CANCELLED). */
typedef int (*hub_log_line_fn)(const char *line, size_t len, int64_t timestamp_ms, void *payload);

/* Follows the log, delivering lines until the Hub closes the stream (HUB_OK), the callback
 * returns nonzero or `cancel` (may be NULL) is triggered (HUB_E_CANCELLED). Blocks. When the
 * Hub's answer opens the stream (2xx headers received), on_line is called once with line NULL
 * (len 0, timestamp 0) before any line, so a caller can tell "open, nothing yet" from "no
 * answer yet"; it happens again after each reconnect. */
hub_status hub_logs_follow(hub_client *client, const char *space_id, hub_log_kind kind,
                           hub_log_line_fn on_line, void *payload, hub_cancel *cancel,
                           hub_error *err);

/* GET the Space's app URL (the "host" from space info, e.g. "https://x.hf.space"), which wakes
 * a sleeping Space. The response body is discarded; *out_status gets the HTTP status. The token
 * is never sent to the app URL (nor to any host a redirect points at). For a private Space the
 * Hub's app proxy answers an anonymous visitor 404, so, as gradio's clients do, when a token is
 * loaded and space_id ("ns/name") is given, the Space's JWT is fetched first from the endpoint
 * (GET /api/spaces/{id}/jwt, with the token) and the app URL is visited with ?__sign=<jwt>. A
 * 401/403/404 on the JWT route means a plain visit (a public Space still wakes). space_id NULL
 * or no token: a plain visit. The JWT never appears in logs or error messages. */
hub_status hub_space_visit(long *out_status, hub_client *client, const char *space_id,
                           const char *url, hub_error *err);

/* ---------------------------------------------------------------------------------------------
 * Creating and deleting repos
 * ------------------------------------------------------------------------------------------- */
typedef struct hub_repo_spec {
    hub_repo_type type;
    const char *id; /* "ns/name" */
    int is_private;
    const char *sdk;      /* spaces: "gradio", "docker", "static", "streamlit" (required) */
    const char *hardware; /* spaces: optional flavor */
} hub_repo_spec;

/* POST /api/repos/create. *out_url (may be NULL) receives the repo URL (new, free()). */
hub_status hub_repo_create(char **out_url, hub_client *client, const hub_repo_spec *spec,
                           hub_error *err);
/* DELETE /api/repos/delete. Retried like a read; a 404 on a retry after a failure that may have
 * reached the Hub means the earlier attempt deleted it: HUB_OK. */
hub_status hub_repo_delete(hub_client *client, hub_repo_type type, const char *repo_id,
                           hub_error *err);

/* ---------------------------------------------------------------------------------------------
 * Files: tree, paths-info, download
 * ------------------------------------------------------------------------------------------- */
typedef struct hub_entry {
    char *path; /* repo-relative */
    int is_dir;
    int64_t size;             /* real size (LFS: the object's size); 0 for directories */
    char *oid;                /* git blob/tree sha1; NULL if absent */
    char *lfs_oid;            /* sha256 of an LFS file, else NULL */
    int64_t lfs_pointer_size; /* 0 unless LFS */
    char *last_commit;        /* lastCommit.id when expanded, else NULL */
    int64_t last_modified;    /* lastCommit.date (unix s) when expanded, else 0 */
} hub_entry;
typedef struct hub_entry_list {
    hub_entry *items;
    size_t count;
} hub_entry_list;
void hub_entry_list_free(hub_entry_list *list);

/* GET /api/{type}s/{id}/tree/{rev}[/{path}] over all pages. rev NULL = "main"; path NULL or ""
 * = root. *out new. */
hub_status hub_tree_list(hub_entry_list **out, hub_client *client, hub_repo_type type,
                         const char *repo_id, const char *rev, const char *path, int recursive,
                         hub_error *err);

/* POST /api/{type}s/{id}/paths-info/{rev}: entries for those of `paths` that exist. */
hub_status hub_paths_info(hub_entry_list **out, hub_client *client, hub_repo_type type,
                          const char *repo_id, const char *rev, const char *const *paths,
                          size_t paths_count, hub_error *err);
/* The same; out_commit gets the commit the answer describes when the Hub says it (X-Repo-Commit
 * of the last request), else "". */
hub_status hub_paths_info_at(hub_entry_list **out, char out_commit[HUB_OID_MAX], hub_client *client,
                             hub_repo_type type, const char *repo_id, const char *rev,
                             const char *const *paths, size_t paths_count, hub_error *err);

typedef struct hub_file_meta {
    long http_status;           /* 200, 206 */
    char commit[HUB_OID_MAX];   /* X-Repo-Commit; "" if absent */
    char etag[HUB_OID_MAX + 2]; /* X-Linked-Etag else ETag, without quotes or W/ */
    int64_t size;               /* whole file size, -1 unknown */
    int is_lfs;                 /* the Hub redirected to LFS storage / sent X-Linked-Size */
} hub_file_meta;

/* Receives downloaded bytes in order (borrowed for the call). Return nonzero to stop. */
typedef int (*hub_data_fn)(const void *data, size_t len, void *payload);

/* GET /{prefix}{id}/resolve/{rev}/{path} from byte `offset`, `length` bytes (-1 = to the end).
 * Redirects (to LFS storage) are followed; the token goes only to the endpoint's origin.
 * Interrupted transfers resume with Range from the last byte delivered. out_meta may be NULL.
 * `cancel` may be NULL. */
hub_status hub_file_download(hub_file_meta *out_meta, hub_client *client, hub_repo_type type,
                             const char *repo_id, const char *rev, const char *path, int64_t offset,
                             int64_t length, hub_data_fn on_data, void *payload, hub_cancel *cancel,
                             hub_error *err);
/* Same, writing with pwrite() to fd at file offset `fd_offset + (byte - offset)`. */
hub_status hub_file_download_fd(hub_file_meta *out_meta, hub_client *client, hub_repo_type type,
                                const char *repo_id, const char *rev, const char *path,
                                int64_t offset, int64_t length, int fd, int64_t fd_offset,
                                hub_cancel *cancel, hub_error *err);
/* A signed storage URL kept between ranged reads of one file (hub_file_read_range). Owned by
 * the caller; one call at a time per value; zero-initialise, release with hub_signed_url_clear. */
typedef struct hub_signed_url {
    char *url;              /* NULL: none yet (never logged: it is a credential) */
    int64_t valid_until_ms; /* CLOCK_MONOTONIC milliseconds */
} hub_signed_url;
void hub_signed_url_clear(hub_signed_url *s); /* frees the URL; the value can be reused */

/* Bytes [offset, offset + length) of a file (length >= 1) into on_data, for many ranges of one
 * file: the first call GETs resolve with Range and follows the redirect to storage once, keeping
 * the final signed URL in *cache; later calls send their Range there directly (no resolve
 * request, no token) while it is valid: until the expiry the URL carries (X-Amz-Date +
 * X-Amz-Expires, Expires, X-Expires) less 30 s, 10 minutes at most. A signed URL that storage
 * refuses before sending a byte (401, 403, 404, 400, 410: expired or revoked) is dropped and
 * resolve is asked again, once. Files served without a redirect (regular files) always go
 * through resolve. */
hub_status hub_file_read_range(hub_signed_url *cache, hub_file_meta *out_meta, hub_client *client,
                               hub_repo_type type, const char *repo_id, const char *rev,
                               const char *path, int64_t offset, int64_t length,
                               hub_data_fn on_data, void *payload, hub_cancel *cancel,
                               hub_error *err);
/* HEAD of the same URL (no body): commit, etag, size. Follows relative redirects only (an LFS
 * file's answer is the Hub's 302 itself) and asks for identity encoding. */
hub_status hub_file_head(hub_file_meta *out_meta, hub_client *client, hub_repo_type type,
                         const char *repo_id, const char *rev, const char *path, hub_error *err);

/* ---------------------------------------------------------------------------------------------
 * Uploads and commits
 * ------------------------------------------------------------------------------------------- */
typedef struct hub_preupload_file {
    const char *path;
    const void *sample; /* first min(size, 512) bytes; borrowed */
    size_t sample_len;
    int64_t size;
} hub_preupload_file;

typedef enum hub_upload_mode { HUB_UPLOAD_REGULAR = 0, HUB_UPLOAD_LFS } hub_upload_mode;

typedef struct hub_preupload_result {
    char *path;
    hub_upload_mode mode;
    int should_ignore;
    char *oid; /* existing file's oid (sha1 for regular, sha256 for LFS) or NULL */
} hub_preupload_result;
typedef struct hub_preupload_list {
    hub_preupload_result *items; /* same order as the Hub's answer */
    size_t count;
} hub_preupload_list;
void hub_preupload_list_free(hub_preupload_list *list);

/* POST /api/{type}s/{id}/preupload/{rev} (batched by 256 internally). rev NULL = "main". */
hub_status hub_preupload(hub_preupload_list **out, hub_client *client, hub_repo_type type,
                         const char *repo_id, const char *rev, const hub_preupload_file *files,
                         size_t files_count, hub_error *err);

/* Streamed SHA-256 (FIPS 180-4), for LFS object ids: any amount of data in constant memory. Uses
 * the x86 SHA extensions when the CPU has them (set HUB_SHA256_PORTABLE=1 to force the portable
 * code). A caller-owned value; no allocation, nothing to free. */
typedef struct hub_sha256 {
    uint32_t h[8];
    uint64_t bytes; /* hashed so far */
    unsigned char block[64];
    size_t fill;
} hub_sha256;
void hub_sha256_init(hub_sha256 *s);
void hub_sha256_update(hub_sha256 *s, const void *data, size_t n);
/* Finishes s (it cannot be updated afterwards) and writes the 32-byte digest. */
void hub_sha256_final(hub_sha256 *s, unsigned char out[32]);
/* The digest of what was fed so far, 64 lowercase hex digits + NUL; s is left as it was (a copy
 * is finished), so hashing can go on. */
void hub_sha256_hex(const hub_sha256 *s, char out[65]);

/* sha256 of the `size` bytes of fd from offset 0 (pread; constant memory), as 64 lowercase hex
 * digits in out. */
hub_status hub_sha256_fd(char out[HUB_OID_MAX], int fd, int64_t size, hub_error *err);

/* Uploads `size` bytes of fd (from offset 0, read with pread) as an LFS object: batch request,
 * then basic PUT or multipart PUTs + completion, then verify if asked. sha256 may be NULL (it is
 * computed first). Memory use is constant whatever the size. Nothing is sent when the Hub
 * already has the object. `cancel` may be NULL. */
hub_status hub_lfs_upload_fd(hub_client *client, hub_repo_type type, const char *repo_id,
                             const char *rev, int fd, int64_t size, const char *sha256,
                             hub_cancel *cancel, hub_error *err);

typedef enum hub_op_kind {
    HUB_OP_ADD_FILE = 0, /* regular file, content inline (base64 in the commit) */
    HUB_OP_ADD_LFS,      /* LFS pointer to an object already uploaded */
    HUB_OP_DELETE_FILE,
    HUB_OP_DELETE_FOLDER
} hub_op_kind;

typedef struct hub_commit_op {
    hub_op_kind kind;
    const char *path;
    const void *content; /* ADD_FILE: bytes (borrowed), content_len of them */
    size_t content_len;
    const char *lfs_oid; /* ADD_LFS: sha256 hex */
    int64_t lfs_size;    /* ADD_LFS */
} hub_commit_op;

typedef struct hub_commit_params {
    const char *summary;       /* required, non-empty */
    const char *description;   /* may be NULL */
    const char *parent_commit; /* may be NULL; with it the Hub answers 412 if the branch moved */
} hub_commit_params;

/* POST /api/{type}s/{id}/commit/{branch} (NDJSON). On success out_oid gets the new commit's
 * sha (may be NULL). Never retried blindly: after an unclear failure (5xx, reset, timeout) the
 * branch's commit list is read; with parent_commit set it retries only if the head is still
 * parent_commit, and succeeds without retrying if the head is a commit with this summary whose
 * parent is parent_commit. Without parent_commit an unclear failure is HUB_E_UNKNOWN_OUTCOME. */
hub_status hub_commit_create(char out_oid[HUB_OID_MAX], hub_client *client, hub_repo_type type,
                             const char *repo_id, const char *branch,
                             const hub_commit_params *params, const hub_commit_op *ops,
                             size_t ops_count, hub_error *err);

/* Head commit of a branch (GET /api/{type}s/{id}/revision/{rev}, "sha"). */
hub_status hub_repo_head(char out_oid[HUB_OID_MAX], hub_client *client, hub_repo_type type,
                         const char *repo_id, const char *rev, hub_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HUBCLIENT_H */
