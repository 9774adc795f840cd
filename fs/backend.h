/* The seam between the filesystem and the Hub: a struct of function pointers plus a context,
 * in plain C types only (like SQLite's sqlite3_io_methods). fs/ calls the Hub only through this;
 * backend_hub.c adapts hubclient to it and backend_fake.c is the in-memory test double. */
#ifndef SPACEFS_BACKEND_H
#define SPACEFS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common.h" /* enum spacefs_status, struct spacefs_error */

/* Everything a backend returns through an out parameter is allocated with malloc and owned by
 * the caller, who frees it with the spacefs_*_clear/_free helpers below. */
struct spacefs_runtime {
    char *stage;              /* "RUNNING"; NULL if unknown */
    char *hardware_current;   /* flavor or NULL */
    char *hardware_requested; /* flavor or NULL */
    int64_t sleep_seconds;    /* gcTimeout: -1 never (null), 0 absent */
    char *error_message;      /* NULL unless the Hub said why it failed */
};

struct spacefs_space {
    char *id;  /* "ns/name" */
    char *sdk; /* may be NULL */
    int is_private;
    int64_t last_modified; /* unix seconds, 0 if absent */
    char *url;             /* app URL, may be NULL */
    int has_runtime;
    struct spacefs_runtime rt;
};

struct spacefs_whoami {
    char *name;
    char *role; /* "read", "write", "fineGrained", or NULL */
    char **orgs;
    size_t orgs_count;
};

enum spacefs_kv_kind { SPACEFS_KV_SECRETS = 0, SPACEFS_KV_VARIABLES };
enum spacefs_log_kind { SPACEFS_LOG_BUILD = 0, SPACEFS_LOG_RUN };

/* A lifecycle call on a Space: a restart (rebuild: a factory one), pause, a hardware request
 * (flavor) or a new sleep time (seconds, -1 never). */
enum spacefs_lifecycle_action {
    SPACEFS_RESTART,
    SPACEFS_REBUILD,
    SPACEFS_PAUSE,
    SPACEFS_HARDWARE,
    SPACEFS_SLEEPTIME
};
struct spacefs_lifecycle {
    enum spacefs_lifecycle_action action;
    const char *flavor;
    int64_t seconds;
};

struct spacefs_kv {
    char *key;
    char *value; /* NULL for secrets */
};

/* Whether the Hub can be reached, as the backend last found out. */
struct spacefs_reach {
    int online;
    int64_t since; /* unix seconds of the last change (or of the mount) */
    char last_error[256];
    uint64_t outages; /* times it went offline */
};

struct spacefs_budget {
    uint64_t requests; /* HTTP requests sent so far */
    int ratelimit_valid;
    long ratelimit_remaining;
    long ratelimit_reset_seconds;
};

/* A log line (borrowed, without newline) and its time in unix ms (0 unknown). Nonzero stops.
 * logs_follow calls it once with line == NULL when the stream has opened (the Hub answered),
 * before any line. */
typedef int (*spacefs_line_fn)(const char *line, size_t len, int64_t ts_ms, void *payload);

/* One page of a listing, in the Hub's order: fn may move members out of the items (leaving
 * them zeroed; the caller frees what is left). 0 goes on, -1 stops with SPACEFS_E_NOMEM. */
typedef int (*spacefs_spaces_fn)(struct spacefs_space *items, size_t count, void *payload);

/* Every function may block on the network for at most the backend's deadline, is called
 * from many threads at once, and returns SPACEFS_OK or an error with err filled (err may be
 * NULL). `id` is always "ns/name". */
struct spacefs_backend_ops {
    enum spacefs_status (*whoami)(void *ctx, struct spacefs_whoami *out, struct spacefs_error *err);
    /* The Spaces of `author`, page by page to fn (nothing kept in between), with runtime when
     * the Hub sends it; max > 0 stops after max Spaces without asking for later pages, and
     * *out_truncated is then 1 if the Hub had more. A name may come twice (pages shift while they
     * are read). `cancel` (from cancel_new, may be NULL) stops it within about a second
     * (CANCELLED). */
    enum spacefs_status (*list_spaces)(void *ctx, const char *author, size_t max, void *cancel,
                                       spacefs_spaces_fn fn, void *payload, int *out_truncated,
                                       struct spacefs_error *err);
    /* GET /api/spaces/{id}, pretty-printed JSON. */
    enum spacefs_status (*space_info)(void *ctx, const char *id, char **out_json,
                                      struct spacefs_error *err);
    /* GET …/runtime; out and out_json may each be NULL. */
    enum spacefs_status (*runtime)(void *ctx, const char *id, struct spacefs_runtime *out,
                                   char **out_json, struct spacefs_error *err);
    /* out (may be NULL) receives the runtime the Hub answers with. */
    enum spacefs_status (*lifecycle)(void *ctx, const char *id, const struct spacefs_lifecycle *lc,
                                     struct spacefs_runtime *out, struct spacefs_error *err);
    enum spacefs_status (*list_flavors)(void *ctx, char ***out, size_t *out_count,
                                        struct spacefs_error *err);
    /* GET the app URL of Space `id` (a private Space's app is reached with a short-lived,
     * Space-scoped credential, never the token); *out_http gets the HTTP status. */
    enum spacefs_status (*visit)(void *ctx, const char *id, const char *url, long *out_http,
                                 struct spacefs_error *err);
    enum spacefs_status (*kv_list)(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                   struct spacefs_kv **out, size_t *out_count,
                                   struct spacefs_error *err);
    /* value is borrowed, value_len bytes (no NUL needed); backends wipe their own copies. */
    enum spacefs_status (*kv_set)(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                  const char *key, const char *value, size_t value_len,
                                  struct spacefs_error *err);
    enum spacefs_status (*kv_delete)(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                     const char *key, struct spacefs_error *err);
    /* Blocks delivering new lines until the stream ends, on_line returns nonzero, or `cancel`
     * (from cancel_new) is triggered (then SPACEFS_E_CANCELLED within about a second). */
    enum spacefs_status (*logs_follow)(void *ctx, const char *id, enum spacefs_log_kind kind,
                                       spacefs_line_fn on_line, void *payload, void *cancel,
                                       struct spacefs_error *err);
    void *(*cancel_new)(void *ctx); /* NULL on no memory */
    void (*cancel_trigger)(void *cancel);
    void (*cancel_free)(void *cancel);
    enum spacefs_status (*create_space)(void *ctx, const char *id, const char *sdk, int is_private,
                                        struct spacefs_error *err);
    enum spacefs_status (*delete_space)(void *ctx, const char *id, struct spacefs_error *err);
    void (*budget)(void *ctx, struct spacefs_budget *out);
    const char *(*endpoint)(void *ctx); /* borrowed, valid until free */
    void (*free)(void *ctx);
    /* May be NULL (always online). While offline every call fails at once, SPACEFS_E_OFFLINE. */
    void (*reach)(void *ctx, struct spacefs_reach *out);
};

struct spacefs_backend {
    const struct spacefs_backend_ops *ops; /* borrowed, static */
    void *ctx;                             /* owned by the backend; released by ops->free */
};

/* Helpers for the out structs above (accept NULL / zeroed structs). */
/* Points *s (malloc'd) at the one shared copy of a word listings repeat ("RUNNING",
 * "cpu-basic", "gradio" …) and frees it; a shared word is never freed by the clear functions
 * below, so the strings of these structs must only be released through them. */
void spacefs_word_share(char **s);
void spacefs_runtime_clear(struct spacefs_runtime *rt);
void spacefs_space_clear(struct spacefs_space *sp);
void spacefs_spaces_free(struct spacefs_space *spaces, size_t count);
void spacefs_whoami_clear(struct spacefs_whoami *who);
/* *out = copies of name and role (NULL stays NULL) and of the orgs. 0, or -1 on no memory (out
 * then cleared). */
int spacefs_whoami_set(struct spacefs_whoami *out, const char *name, const char *role,
                       char *const *orgs, size_t orgs_count);
void spacefs_kvs_free(struct spacefs_kv *kvs, size_t count); /* wipes values */
void spacefs_strv_free(char **v, size_t count);

#endif
