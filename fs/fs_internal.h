/* What the subtrees share below the router: struct spacefs_fs, the Hub data cache (cache.c:
 * whoami, namespaces, Spaces, secrets/variables), log buffers, control writes (control.c) and
 * small string helpers (util.c). Not for the FUSE adapter or main. */
#ifndef SPACEFS_FS_INTERNAL_H
#define SPACEFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "fs.h"
#include "common.h"

#define VALUE_MAX (64 * 1024)
#define CMD_MAX   256
#define COMP_MAX  255 /* longest path component */

struct node; /* a parsed path: router.h */
struct spacefs_subtree_ops;

#define ROUTER_SUBTREES_MAX 8

/* ---- cache ---------------------------------------------------------------------------- */
/* A key of a Space's secrets or variables. */
struct kv_ent {
    char *key;
    char *value; /* variables only; wiped on free */
    int pending; /* created locally (open O_CREAT), not yet sent */
};

struct kv_cache {
    int64_t fetched_ms; /* 0: never / invalidated */
    uint64_t gen;       /* bumped by local writes; fetches that raced are not installed */
    struct kv_ent *items;
    size_t count;
};

struct space_ent {
    char *name;
    struct spacefs_space sp; /* sp.rt valid if sp.has_runtime */
    int64_t rt_ms;           /* when rt was fetched; 0 = stale (refetch just this Space) */
    char *runtime_json;      /* cached pretty JSON, with its time */
    int64_t runtime_json_ms;
    char *info_json;
    int64_t info_json_ms;
    struct kv_cache kv[2];
    char *last_action; /* "restart 2025-… ok", for reading control */
    uint64_t stamp;    /* ns generation of the last local write to this Space */
    uint64_t seen;     /* its position in the listing that brought it (the first of twins wins) */
};

#define SPACEFS_NS_MISSES 32

struct ns_ent {
    char *name;
    int own;           /* a namespace of the token (from whoami) */
    int64_t listed_ms; /* 0 never listed; listing older than ttl is refreshed */
    int exists;        /* last listing found something (or own) */
    int fetching;      /* single flight: one listing at a time, others wait on fs->cond */
    uint64_t gen;      /* bumped by local writes to this namespace */
    uint64_t rounds;   /* listings installed */
    int truncated;     /* the last listing stopped at cfg.max_spaces */
    /* names looked up past the cap that the Hub does not know, each for cfg.ttl_ms (a ring) */
    char *miss[SPACEFS_NS_MISSES];
    int64_t miss_ms[SPACEFS_NS_MISSES];
    unsigned miss_next;
    struct space_ent **spaces; /* sorted by name (strcmp), one per name: lookups bsearch */
    size_t count, cap;
    struct ns_ent *next;
};

/* The filesystem.
 * Lock order: fs->lock (cache tree, counters, and what subtrees keep under it: open logs, persist
 * engines), then a log's or a Space's snapshot lock (logs.c, persist_fs.h). Neither is held across
 * a backend call; waiters for a listing in flight sleep on fs->cond. */
struct spacefs_fs {
    struct spacefs_config cfg;
    char *space_sdk;
    struct spacefs_backend be;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* whoami, cached */
    struct spacefs_whoami who;
    int64_t who_ms;
    int who_fetching;
    /* flavor list, cached */
    char **flavors;
    size_t flavors_count;
    int64_t flavors_ms;
    struct ns_ent *nss;
    size_t ns_count;
    void *list_cancel; /* stops every listing (spacefs_fs_interrupt: unmount on a signal) */
    struct spacefs_counters ctr;
    int64_t started; /* unix seconds: mtime of nodes without one */
    const struct spacefs_subtree_ops *const *subtrees; /* the router's table (subtrees.c) */
    size_t nsub;
    void *sub_state[ROUTER_SUBTREES_MAX]; /* each subtree's own (router_state) */
};

/* util.c */
char *spacefs_strdup(const char *s); /* NULL-safe, NULL on NULL or no memory */
char *spacefs_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void spacefs_format_time(char *buf, size_t size, int64_t unix_s);

/* cache.c. Functions named *_locked need fs->lock held; the others take it themselves and may
 * call the backend with it released. */
int spacefs_whoami_get(struct spacefs_fs *fs, struct spacefs_whoami *out); /* deep copy */
int spacefs_ns_writable(struct spacefs_fs *fs, const char *ns);            /* 1 own + write role */
int spacefs_ns_is_own(struct spacefs_fs *fs, const char *ns);
/* Makes sure ns's listing is fresh; -ENOENT if no such namespace. */
int spacefs_ns_ensure(struct spacefs_fs *fs, const char *ns);
/* Under fs->lock: the entry, or NULL. */
struct ns_ent *spacefs_ns_find_locked(struct spacefs_fs *fs, const char *ns);
struct space_ent *spacefs_space_find_locked(struct spacefs_fs *fs, const char *ns,
                                            const char *space);
/* Makes sure ns's listing is fresh and, if it stopped at cfg.max_spaces without this Space,
 * looks the Space up by name (one runtime request); 0 does not promise that it exists. */
int spacefs_space_known(struct spacefs_fs *fs, const struct node *n);
/* Makes sure the Space exists and its runtime is fresh; -ENOENT if not. */
int spacefs_space_ensure(struct spacefs_fs *fs, const struct node *n);
/* Records a runtime the Hub answered with (rt taken), bumping the generation. */
void spacefs_space_runtime_update(struct spacefs_fs *fs, const struct node *n,
                                  struct spacefs_runtime *rt);
void spacefs_space_runtime_invalidate(struct spacefs_fs *fs, const struct node *n);
void spacefs_space_set_action(struct spacefs_fs *fs, const struct node *n, const char *line);
void spacefs_space_add_local(struct spacefs_fs *fs, const char *ns, const char *space);
void spacefs_space_remove_local(struct spacefs_fs *fs, const char *ns, const char *space);
/* Cached JSON of a Space ("info" or "runtime"); *out new. */
int spacefs_space_json(struct spacefs_fs *fs, const struct node *n, int runtime, char **out);
int spacefs_flavor_known(struct spacefs_fs *fs, const char *flavor); /* 1, 0 or -errno */
void spacefs_kv_ent_clear(struct kv_ent *k);                         /* wipes the value */
void spacefs_kv_entries_free(struct kv_ent *items, size_t count);
void spacefs_cache_free(struct spacefs_fs *fs);
/* Counts a backend call and its failure (errors logged by the caller). */
void spacefs_count_call(struct spacefs_fs *fs, enum spacefs_status st);
/* 1 when a failed refresh may serve the last known data (the Hub unreachable or failing). */
int spacefs_stale_ok(enum spacefs_status st);
/* The last known data is served after such a failure of `what` (a call_failed line, unless
 * offline: the client said so once). *stamp keeps its value while offline, so the first call
 * after the outage refreshes; after another failure it is now: trusted for one more ttl. */
void spacefs_serve_stale(struct spacefs_fs *fs, enum spacefs_status st, int64_t *stamp,
                         const char *what, const char *id, const struct spacefs_error *err);
/* Logs a failed call once with context and returns its negative errno. */
int spacefs_call_failed(struct spacefs_fs *fs, const char *what, const char *id,
                        enum spacefs_status st, const struct spacefs_error *err);

/* control.c */
int spacefs_control_execute(struct spacefs_fs *fs, const struct node *n, const char *buf,
                            size_t len);
int spacefs_hardware_write(struct spacefs_fs *fs, const struct node *n, const char *buf,
                           size_t len);
int spacefs_sleeptime_write(struct spacefs_fs *fs, const struct node *n, const char *buf,
                            size_t len);
/* router.c: the subtrees' init, start, shutdown and free hooks, in table order. */
int router_init(struct spacefs_fs *fs);
void router_start(struct spacefs_fs *fs);
void router_shutdown(struct spacefs_fs *fs);
void router_free(struct spacefs_fs *fs);

#endif
