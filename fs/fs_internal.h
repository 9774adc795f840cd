/* Internal structures of the filesystem logic shared by its .c files: parsed paths, the cache
 * of namespaces and Spaces, log buffers, open handles. Not for the FUSE adapter or main. */
#ifndef SPACEFS_FS_INTERNAL_H
#define SPACEFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "fs.h"
#include "fslog.h"

#define NAME_MAX_HF 96  /* the Hub's limit for a namespace or repo name */
#define KEY_MAX     128 /* longest secret/variable name we accept */
#define VALUE_MAX   (64 * 1024)
#define CMD_MAX     256
#define COMP_MAX    255 /* longest path component */

/* ---- paths ---------------------------------------------------------------------------- */
enum node_kind {
    NODE_ROOT = 0,
    NODE_META_DIR,  /* /.spacefs */
    NODE_META_FILE, /* /.spacefs/<file> */
    NODE_NS,        /* /<ns> */
    NODE_SPACE,     /* /<ns>/<space> */
    NODE_FILE,      /* /<ns>/<space>/<file> */
    NODE_KV_DIR,    /* /<ns>/<space>/secrets, variables */
    NODE_KV,        /* /<ns>/<space>/secrets/<KEY> */
    NODE_LOGS_DIR,  /* /<ns>/<space>/logs */
    NODE_LOG,       /* /<ns>/<space>/logs/<kind> */
    NODE_PERSIST,   /* /<ns>/<space>/persist[/<rest>] (rest "" is persist/ itself) */
    NODE_SNAP,      /* /<ns>/<space>/snapshots[/<rest>] */
    NODE_PFILE      /* /<ns>/<space>/persist.status, persist.repo (file: enum persist_file) */
};

enum persist_file { PF_STATUS = 0, PF_REPO, PF_COUNT };

enum space_file {
    SF_STATUS = 0,
    SF_RUNTIME,
    SF_INFO,
    SF_URL,
    SF_HARDWARE,
    SF_SLEEPTIME,
    SF_CONTROL,
    SF_COUNT
};
enum meta_file {
    MF_WHOAMI = 0,
    MF_ENDPOINT,
    MF_HEALTH,
    MF_STATS,
    MF_VERSION,
    MF_PERSIST,
    MF_COUNT
};

/* A parsed path. Names are bounded by validation, so fixed arrays are fine on the stack. */
struct node {
    enum node_kind kind;
    char ns[NAME_MAX_HF + 1];
    char space[NAME_MAX_HF + 1];
    char id[2 * NAME_MAX_HF + 2]; /* "ns/space" */
    int file;                     /* enum space_file / meta_file */
    enum spacefs_kv_kind kv;
    enum spacefs_log_kind log;
    char key[COMP_MAX + 1];
    const char *rest; /* NODE_PERSIST/NODE_SNAP: below the directory, no leading '/'; borrowed
                         from the parsed path (valid while it is); "" for the directory */
};

extern const char *const space_file_names[SF_COUNT];
extern const char *const persist_file_names[PF_COUNT];
extern const char *const meta_file_names[MF_COUNT];
extern const char *const log_names[2];
extern const char *const kv_names[2];

/* 0 with *out filled, or -ENOENT (also for names the Hub could never have; no network). */
int node_parse(struct node *out, const char *path);
int name_valid_hf(const char *s);  /* namespace / repo name */
int name_valid_key(const char *s); /* secret / variable name */

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
    uint64_t seen;     /* listing round that last saw it */
};

struct ns_ent {
    char *name;
    int own;           /* a namespace of the token (from whoami) */
    int64_t listed_ms; /* 0 never listed; listing older than ttl is refreshed */
    int exists;        /* last listing found something (or own) */
    int fetching;      /* single flight: one listing at a time, others wait on fs->cond */
    uint64_t gen;      /* bumped by local writes to this namespace */
    uint64_t rounds;   /* listings installed */
    struct space_ent **spaces;
    size_t count, cap;
    struct ns_ent *next;
};

/* A log of one Space being read: shared by the open handles of the same file. */
struct logbuf {
    /* lock order: fs->lock, then lb->lock */
    pthread_mutex_t lock;
    int refs; /* under fs->lock */
    char *id;
    enum spacefs_log_kind kind;
    char *data; /* bytes [base, base+len) of the log */
    size_t len, cap, max;
    uint64_t base;
    int64_t last_ts;    /* newest timestamp delivered */
    size_t dup_at_last; /* lines at last_ts in the backlog, skipped once when following */
    void *cancel;
    pthread_t thread;
    int thread_started;
    struct spacefs_fs *fs;
    struct logbuf *next;
};

/* The filesystem.
 * Lock order: fs->lock (cache tree, counters, log list), then logbuf->lock. Neither is held across
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
    struct logbuf *logs;
    struct spacefs_counters ctr;
    struct pers_ent *pers; /* one per Space whose persist/ was touched; see persist_fs.h */
    char *pers_root;       /* cfg.persist.cache_root, copied */
    pthread_t pers_resume; /* pers_resume_start's thread */
    int pers_resume_started;
    volatile int pers_resume_stop;
    char *pers_pattern;   /* cfg.persist.repo_pattern, copied */
    int64_t started;      /* unix seconds: mtime of nodes without one */
    int64_t pers_down_ms; /* a listing on the way to an open persist/ failed then (offline) */
};

/* An open file. */
struct spacefs_handle {
    struct node n;
    int flags;
    int direct_io;
    char *content; /* snapshot served by read (not for secrets) */
    size_t content_len;
    char *wbuf; /* secret/variable value being written; wiped */
    size_t wlen, wcap;
    int wrote;     /* a value was sent */
    int attempted; /* a write or send was tried (flush sends nothing more) */
    int created;   /* O_CREAT/O_TRUNC: an empty value is sent at flush if nothing was written */
    struct logbuf *lb;
    struct pers_ent *pe;       /* persist/ and snapshots/ files: the Space's engine (a ref) */
    struct persist_handle *ph; /* persist/: the engine's handle */
    int snap_fd;               /* snapshots/: the object's content (unlinked temp file) */
    int snap_open;             /* snap_fd is open */
};

/* util.c */
int64_t now_ms(void);
char *xstrdup(const char *s); /* NULL-safe, NULL on NULL or no memory */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void format_time(char *buf, size_t size, int64_t unix_s);
int fresh(const struct spacefs_fs *fs, int64_t at_ms, unsigned ttl_ms);

/* cache.c. Functions named *_locked need fs->lock held; the others take it themselves and may
 * call the backend with it released. */
int whoami_get(struct spacefs_fs *fs, struct spacefs_whoami *out); /* deep copy */
int ns_writable(struct spacefs_fs *fs, const char *ns);            /* 1 own + write role */
int ns_is_own(struct spacefs_fs *fs, const char *ns);
/* Makes sure ns's listing is fresh; -ENOENT if no such namespace. */
int ns_ensure(struct spacefs_fs *fs, const char *ns);
/* Under fs->lock: the entry, or NULL. */
struct ns_ent *ns_find_locked(struct spacefs_fs *fs, const char *ns);
struct space_ent *space_find_locked(struct spacefs_fs *fs, const char *ns, const char *space);
/* Makes sure the Space exists and its runtime is fresh; -ENOENT if not. */
int space_ensure(struct spacefs_fs *fs, const struct node *n);
/* Records a runtime the Hub answered with (rt taken), bumping the generation. */
void space_runtime_update(struct spacefs_fs *fs, const struct node *n, struct spacefs_runtime *rt);
void space_runtime_invalidate(struct spacefs_fs *fs, const struct node *n);
void space_set_action(struct spacefs_fs *fs, const struct node *n, const char *line);
void space_add_local(struct spacefs_fs *fs, const char *ns, const char *space);
void space_remove_local(struct spacefs_fs *fs, const char *ns, const char *space);
/* Cached JSON of a Space ("info" or "runtime"); *out new. */
int space_json(struct spacefs_fs *fs, const struct node *n, int runtime, char **out);
int flavor_known(struct spacefs_fs *fs, const char *flavor); /* 1, 0 or -errno */
/* Secrets/variables. */
int kv_ensure(struct spacefs_fs *fs, const struct node *n);
struct kv_ent *kv_find_locked(struct spacefs_fs *fs, const struct node *n);
void kv_add_pending(struct spacefs_fs *fs, const struct node *n);
void kv_drop_pending(struct spacefs_fs *fs, const struct node *n);
void kv_record(struct spacefs_fs *fs, const struct node *n, const char *value, size_t len,
               int deleted);
void kv_entries_free(struct kv_ent *items, size_t count);
void cache_free(struct spacefs_fs *fs);
/* Counts a backend call and its failure (errors logged by the caller). */
void count_call(struct spacefs_fs *fs, enum spacefs_status st);
void count_hit(struct spacefs_fs *fs, int hit);
/* Logs a failed call once with context and returns its negative errno. */
int call_failed(struct spacefs_fs *fs, const char *what, const char *id, enum spacefs_status st,
                const struct spacefs_error *err);

/* control.c */
int control_execute(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len);
int hardware_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len);
int sleeptime_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len);
/* Copies buf into out (NUL-terminated, at most size-1 bytes) without one trailing newline;
 * -EINVAL if it does not fit or holds a NUL or another newline. */
int one_word(char *out, size_t size, const char *buf, size_t len);

/* logs.c */
int logbuf_open(struct spacefs_fs *fs, const struct node *n, struct logbuf **out);
void logbuf_release(struct spacefs_fs *fs, struct logbuf *lb);
long logbuf_read(struct logbuf *lb, char *buf, size_t size, int64_t off);
/* Current size of the log of n if it is open, else 0. */
uint64_t logbuf_size(struct spacefs_fs *fs, const struct node *n);

/* render.c: content of .spacefs files and of a Space's files; *out new. */
int meta_render(struct spacefs_fs *fs, int file, char **out, size_t *out_len);
/* space file content; *out new. */
int space_file_render(struct spacefs_fs *fs, const struct node *n, char **out, size_t *out_len);
/* Under fs->lock, no network: what a Space file holds now (JSON files: what is cached). */
char *space_file_text_locked(struct spacefs_fs *fs, const struct node *n,
                             const struct space_ent *se);

#endif
