/* Internals shared by the persist engine's files: the path map, changes, open files, the
 * engine struct and its lock. Not for use outside fs/persist/. */
#ifndef SPACEFS_PERSIST_INTERNAL_H
#define SPACEFS_PERSIST_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "hubclient.h" /* hub_sha256 only (library hubsha256) */
#include "persist.h"
#include "common.h"

/* ---- a small string-keyed hash map (chained); values are owned by the caller ------------- */
struct pmap_item {
    char *key; /* owned by the map */
    void *val;
    struct pmap_item *next;
};
struct pmap {
    struct pmap_item **b;
    size_t nb, n;
};
void persist_map_init(struct pmap *m);
void persist_map_clear(struct pmap *m, void (*free_val)(void *)); /* frees items, keys, values */
void *persist_map_get(const struct pmap *m, const char *key);
int persist_map_put(struct pmap *m, const char *key, void *val); /* replaces; 0 or -ENOMEM */
void *persist_map_del(struct pmap *m, const char *key);          /* returns the value */
/* Iteration: for (it = persist_map_first(m); it; it = persist_map_next(m, it)). No put/del
 * meanwhile. */
struct pmap_item *persist_map_first(const struct pmap *m);
struct pmap_item *persist_map_next(const struct pmap *m, struct pmap_item *it);

/* ---- changes ------------------------------------------------------------------------------ */
enum pchange_kind {
    PC_FILE = 0, /* content in overlay/<ovl>, or `ref` (a base object) when ovl == 0 */
    PC_WHITEOUT, /* deleted (the path exists in base) */
    PC_DIR       /* local directory, never committed */
};

struct pchange {
    enum pchange_kind kind;
    uint64_t ovl;              /* overlay id, 0 = none */
    struct persist_rentry ref; /* PC_FILE with ovl == 0: the object (ref.path = source path) */
    int64_t size;
    int64_t mtime; /* ns since the epoch (PERSIST_NS) */
    uint64_t gen;  /* generation of the last modification */
    int synced;    /* committed; still read from here until a fetch makes it the base */
    char sha256[PERSIST_OID_MAX]; /* PC_FILE with ovl: the content's sha256 hex, "" unknown */
};

/* ---- POSIX metadata of a path (manifest.c): what git cannot keep. Times in ns since the epoch,
 * 0 = unknown (defaults: mode 0644 files, 0755 directories; ctime and atime = mtime). ---- */
#define PERSIST_NS        1000000000LL
#define PERSIST_META_PATH ".spacefs/meta" /* the manifest in the Dataset */
#define PERSIST_RESERVED  ".spacefs"      /* top-level name persist/ refuses and hides */
struct pmeta {
    uint32_t mode; /* S_IFREG/S_IFLNK/S_IFDIR | permission bits; 0 = default */
    int64_t mtime; /* directories only (files keep theirs with the change or base entry) */
    int64_t ctime;
    int64_t atime; /* local only: never in the manifest */
    int published; /* a local directory the Dataset's manifest has had: gone from a newer one,
                      another machine removed it */
};

/* A manifest read from the Dataset. */
struct pmanifest_entry {
    char *path;
    char type; /* 'f', 'l', 'd' */
    uint32_t mode;
    int64_t mtime, size; /* size -1 for directories */
};
struct pmanifest {
    struct pmanifest_entry *v;
    size_t n;
};

/* ---- open files: one per path, shared by its handles ----------------------------------- */
struct pfile {
    char *path;     /* NULL once unlinked */
    unsigned refs;  /* handles */
    int fd;         /* -1, the read source (read-only) or the working overlay file */
    int fd_is_work; /* fd is overlay/<work> and writable */
    uint64_t work;  /* overlay id of the working copy, 0 if none */
    int dirty;      /* written since the last publish */
    int64_t size;
    /* hash_ok: the working copy was written in order from offset 0 (a new or truncated-to-empty
     * file), and `ph` (hasher.c) hashes it behind the writer; any other write or truncate clears
     * it (the upload then hashes the file itself). */
    struct phash *ph;
    int hash_ok;
    int64_t mtime; /* ns; while dirty: the last write's or utimens' time (the next publish
                      takes it), 0 none */
    /* Detached (path NULL) without an fd: the object its content is, downloaded on first use
     * (pin.path NULL: none). */
    struct persist_rentry pin;
    /* An LFS object not cached yet, read by ranges as it arrives (stream.c); a reference, NULL
     * none. fd, when >= 0, wins (a local copy: the working overlay file, a cached object). */
    struct pstream *stream;
    uint64_t ino; /* its inode number once detached (attached: the path's, p->inos) */
    mode_t mode;  /* its mode once detached (fchmod changes it), 0 before */
    /* Detached by a rename onto a hidden name (libfuse's ".fuse_hidden<16 hex>", when a file is
     * unlinked while open): that path answers getattr, utimens and unlink until the last close;
     * never listed, never committed. NULL: none. */
    char *hidden;
    struct pfile *next;
};

/* The sha256 of a working copy written in order, taken by the engine's hasher thread behind
 * the writer (hasher.c): the writer only appends `size`; close() finishes a short rest itself or
 * leaves the digest to the hasher, which gives it to the change of `ovl` (the worker waits for
 * it before a commit). In p->hashes; fields under p->lock, but `ctx` is the hasher's alone
 * while `busy`. */
struct phash {
    struct phash *next;
    uint64_t ovl;
    int fd;         /* its own read descriptor of overlay/<ovl> */
    hub_sha256 ctx; /* covers [0, hashed) */
    int64_t hashed;
    int64_t size;  /* bytes appended in order so far; final once published */
    int busy;      /* the hasher reads and hashes a chunk without the lock */
    int dead;      /* dropped (an out-of-order write, a new working copy): freed when idle */
    int published; /* a change names ovl and takes the digest when the hasher is done */
};

/* A handle's reading pattern, for the readahead (stream.c). */
struct persist_readstate {
    int64_t next;   /* where the last read ended */
    int64_t window; /* readahead past a sequential read, 0 after a seek */
};

struct persist_handle {
    struct pfile *f;
    int flags;
    struct persist_readstate rs;
};

/* ---- the engine -------------------------------------------------------------------------- */
enum persist_visibility { VIS_UNKNOWN = 0, VIS_MISSING, VIS_PRIVATE, VIS_PUBLIC };

/* Lock order: p->lock only (one lock). It is never held across a remote call; local disk I/O
 * (overlay writes, journal fsync) happens under it. cond wakes the worker; done wakes waiters. */
struct persist {
    struct persist_config cfg;
    char *dir; /* cache dir */
    struct persist_remote remote;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* worker: something changed / stop */
    pthread_cond_t done; /* waiters: a sync round ended */
    pthread_t worker;
    int worker_started;
    int stop;

    /* guarded by lock */
    char base[PERSIST_OID_MAX];
    struct pmap base_files; /* path -> struct persist_rentry * */
    struct pmap changes;    /* path -> struct pchange * */
    /* Paths our commits put since the base was last replaced: the remote has them although the
     * base does not show it yet (the refresh after a commit runs without the lock). */
    struct pmap landed; /* path -> (void *)1 */
    struct pmap below;  /* directory -> (uintptr_t) visible entries below it (view.c) */
    int index_broken;   /* below is not trustworthy (no memory): scan instead */
    /* Directory link counts (view.c): dirs = every directory of the view (path -> 1), subdirs =
     * directory -> (uintptr_t) its direct subdirectories; kept in step with every change. */
    struct pmap dirs, subdirs;
    /* Inode numbers (view.c): path -> (uintptr_t) number, assigned on first use, moved by a
     * rename, dropped by unlink/rmdir; unique in the process for the life of the engine. */
    struct pmap inos;
    int mtimes_dirty; /* a base file's time was set: <cache>/mtimes is behind */
    struct pmap meta; /* path -> struct pmeta * (manifest.c) */
    /* generation of the first metadata change no commit carries yet (0: none): the next commit
     * sends a new manifest */
    uint64_t meta_dirty_gen;
    int meta_local_dirty;               /* <cache>/meta is behind */
    char manifest_sha[PERSIST_OID_MAX]; /* sha256 of the Dataset's manifest, "" none */
    struct pfile *files;
    /* hasher.c: running hashes and the thread that takes them (started on first use); hcond
     * wakes it, p->done tells the worker that a published digest is ready */
    struct phash *hashes;
    pthread_t hasher;
    pthread_cond_t hcond;
    int hasher_state; /* 0 none, 1 running, -1 could not start (close() hashes inline) */
    int hasher_stop;
    uint64_t hashed_inline;  /* bytes close() hashed itself (struct persist_state) */
    uint64_t hashed_behind;  /* bytes the hasher thread hashed (struct persist_state) */
    struct pstream *streams; /* LFS objects being fetched by ranges (stream.c) */
    uint64_t next_ovl;
    uint64_t gen;
    int64_t last_change_ms; /* monotonic */
    /* monotonic: no unsynced change is older than this (0: none pending); bounds the delay of a
       commit under a writer that never pauses (cfg.max_delay_ms) */
    int64_t pending_since_ms;
    enum persist_visibility vis;
    int early_probed; /* the worker probed vis at the first change (sync.c) */
    int based;        /* base was loaded from a fetch or the journal */
    int seen_base;    /* this process has had a base (set with based, never cleared) */
    int base_none;    /* the journal's base: the Dataset had no commit (or did not exist) */
    /* The last hide of an open file (libfuse renames it to a hidden name before an unlink or a
     * rename onto it): what a refused rename onto `path` puts back (namespace.c). Cleared by the
     * next rename or a getattr of `path`, which an unlink's later rename onto it is preceded by. */
    struct {
        char *path, *hidden;
        int64_t mtime;
        struct pmeta meta;
    } last_hide;
    /* hidden name -> path (char *): files a refused rename put back, which the kernel may still
     * reach by their hidden name until its dentry times out; kept for the engine's life (one
     * entry per such rename, a rare event) */
    struct pmap hide_alias;

    /* sync state, guarded by lock */
    int uploading;
    int64_t uploaded;
    int urgent;  /* an fsync or wait wants a commit now */
    int backlog; /* the last commit was cut at max_commit_files: the next follows at once */
    int burst;   /* the last commit was full (max_commit_files): the rest of that burst is not
                    held back by min_interval_ms */
    int refresh_now;
    pthread_cond_t wcond; /* the worker's sleep while changes keep coming (sync.c) */
    int wcond_ok;
    char tip[PERSIST_OID_MAX]; /* our own commit the base does not show yet, made on top of it
                                  (the part of a burst before the rest; sync.c): the parent of
                                  the next commit; "" none */
    int64_t last_commit_ms;    /* monotonic, 0 none */
    int64_t next_attempt_ms;
    int64_t next_refresh_ms;
    unsigned failures;
    int last_errno;
    uint64_t rounds; /* sync rounds finished (success or not) */
    char last_commit[PERSIST_OID_MAX];
    int64_t last_commit_time;
    char last_error[256];
    uint64_t commits;
    int log_public_once;
    uint64_t failed_attempts; /* commit attempts that failed, since open */
    uint64_t *garbage;        /* overlay ids to delete after the next journal write */
    /* journal.c: what the file lacks. jdirty: paths whose change changed since the last write
     * (appended as lines); jfull: write the whole journal next time; jfd: open for appending. */
    struct pmap jdirty;
    int jfull;
    int jfd;
    int dir_fd; /* engine.c: the cache directory, flock'ed (exclusive) while the engine is open */
    size_t jappended; /* lines appended since the whole journal was written */
    size_t ngarbage, capgarbage;
    /* journal.c: what close() left to the page cache (survives a kill, not yet a power loss):
     * overlay files published without fsync, and lazy journal lines (jlazy). The next durable
     * journal write, an fsync, or the worker within flush_ms makes them durable (overlay files
     * first, then the journal). unflushed_since_ms: monotonic, 0 none pending. */
    uint64_t *unflushed;
    size_t nunflushed, capunflushed;
    uint64_t flush_gen; /* bumped by every flush of the whole list under the lock */
    int jlazy;
    int64_t unflushed_since_ms;
    uint64_t flushes; /* fsync/fdatasync calls made for durability (tests count them) */

    /* provisional.c: a fresh cache before its first fetch answers single paths from the Hub's
     * API; prov_state says how far the manifest got, prov_rev is the commit it was read at
     * ("" main), prov_dirs the directories looked up (path -> p). */
    int provisional;
    enum { PROV_NONE = 0, PROV_LOADING, PROV_READY, PROV_FAILED } prov_state;
    char prov_rev[PERSIST_OID_MAX];
    struct pmanifest *prov_mf;
    struct pmap prov_dirs;
    /* paths a lookup found absent at prov_rev (path -> p): a name there or below it is created
     * and written without waiting for the first fetch (persist_prov_local) */
    struct pmap prov_absent;
    /* monotonic ms: the engine opened provisional, the last lookup began or ended; lookups in
     * flight; callers waiting for the first fetch (persist_prov_fetch_at) */
    int64_t prov_open_ms, prov_last_ms;
    unsigned prov_busy, prov_waiting;
};

void persist_log(struct persist *p, enum spacefs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* encode.c: how the engine's text files write paths and times; the clock (no engine, no lock) */
void persist_put_escaped(FILE *f, const char *s); /* %XX for controls, space and '%' */
int persist_unescape(char *s);                    /* in place; 0 or -EINVAL */
int64_t persist_now_ns(void);
void persist_time_put(FILE *f, int64_t ns);          /* "S.NNNNNNNNN" */
int persist_time_parse(const char *s, int64_t *out); /* "S" or "S.NNNNNNNNN"; 0 or -EINVAL */
void persist_stat_time(struct timespec *ts, int64_t ns);

/* journal.c (lock held) */
int persist_journal_write(struct persist *p);
/* The same without waiting for the disk: what it appends survives a kill of the process at once
 * and a power loss from the next persist_journal_write on (for changes whose loss is harmless:
 * a time). */
int persist_journal_write_lazy(struct persist *p);
/* Overlay file `id` was published without fsync: the next durable point flushes it (0, or
 * -ENOMEM: the caller flushes it itself). */
int persist_ovl_unflushed(struct persist *p, uint64_t id);
/* Makes everything close() acknowledged durable against a power loss: the overlay files, then
 * the journal. Lock held; with `unlock`, the overlay files are flushed without it (the worker). */
int persist_journal_sync(struct persist *p, int unlock);
/* The change of `path` was set or modified in place: the next write records it. Call it for
 * every change of p->changes; anything else the journal holds (the base, the landed set) sets
 * p->jfull instead. */
void persist_journal_touch(struct persist *p, const char *path);
int persist_journal_load(struct persist *p); /* 0, or -ENOENT when there is none */
/* Does <cache_dir>/journal hold a change no commit carries yet: 1 or 0; < 0 when there is no
 * journal to read. No engine, no lock (persist_cache_pending). */
int persist_journal_pending(const char *cache_dir);
char *persist_ovl_path(const struct persist *p, uint64_t id); /* new string */
void persist_overlay_gc(struct persist *p);
void persist_ovl_garbage(struct persist *p, uint64_t id); /* deleted after the next journal write */

/* What a path of the view is now. */
enum { PERSIST_KIND_NONE = 0, PERSIST_KIND_FILE, PERSIST_KIND_DIR };

/* view.c (lock held): paths ("a/b", normalised: *out new), the view, the directory index, changes
 * (persist_change_set takes c, NULL removes; the journal records it) */
int persist_path_norm(const char *in, char **out);
int persist_path_below(const char *path, const char *dir);
struct pfile *persist_pfile_find(struct persist *p, const char *path);
int persist_base_visible(struct persist *p, const char *path);
int persist_has_visible_below(struct persist *p, const char *dir);
void persist_index_rebuild(struct persist *p); /* the directory index, from scratch */
int persist_node_kind(struct persist *p, const char *path);
int persist_prov_is_dir(struct persist *p, const char *path);
int persist_writable(struct persist *p);
/* Whether a name the view does not have is absent: 0, or (before this process had any base, and
 * after its first fetch failed) that fetch's negative errno. persist_absent: what a lookup of
 * `path`, which the view does not have, answers: -ENOENT or that (-ENOENT for libfuse's hidden
 * names, which are never the Dataset's). */
int persist_names_known(struct persist *p);
int persist_absent(struct persist *p, const char *path);
void persist_changed(struct persist *p);
void persist_ovl_release(struct persist *p, uint64_t id, const char *path);
int persist_change_set(struct persist *p, const char *path, struct pchange *c);
int persist_remove_file(struct persist *p, const char *path);
struct pchange *persist_dir_change(struct persist *p, const char *path);
int persist_keep_parent(struct persist *p, const char *path);
int persist_check_ancestors(struct persist *p, const char *path);
int persist_parent_is_dir(struct persist *p, const char *path);
uint64_t persist_ino(struct persist *p, const char *path); /* assigned on first use */
void persist_ino_drop(struct persist *p, const char *path);
/* A rename moved `from` (a file, or a directory and everything below it) to `to`. */
void persist_ino_move(struct persist *p, const char *from, const char *to, int dir);
/* The open file answering to a libfuse hidden name (spacefs_hidden_name), or NULL. */
struct pfile *persist_hidden_find(struct persist *p, const char *path);
/* The attributes of a detached file (nlink 0) from what its handles see. */
void persist_detached_stat(struct persist *p, struct pfile *f, struct stat *st);
void persist_nlink_free(struct persist *p); /* dirs, subdirs and inos (close) */

/* attr.c (lock held) */
void persist_fill_stat(struct persist *p, const char *path, int kind, struct stat *st);

/* hasher.c (lock held): the sha256 of a working copy written in order, behind the writer.
 * start: a running hash for f's new working copy `id`; wrote: n bytes written at off (appended
 * in order, or the hash is given up); publish: close() gives the digest to c now or when the
 * hasher is done; drop: f's running hash is given up. wait (the lock dropped while waiting): the
 * digests of published files are ready (the worker, before it takes a commit's snapshot). stop:
 * at close, after the worker; frees every running hash. */
void persist_hash_start(struct persist *p, struct pfile *f, uint64_t id);
void persist_hash_wrote(struct persist *p, struct pfile *f, int64_t off, long n);
void persist_hash_publish(struct persist *p, struct pfile *f, struct pchange *c);
void persist_hash_drop(struct persist *p, struct pfile *f);
void persist_hash_wait(struct persist *p);
void persist_hasher_stop(struct persist *p);

/* files.c (lock held): an open file whose path went away keeps its content for its handles */
void persist_pfile_detach(struct persist *p, struct pfile *f);
int persist_pfile_relink(struct persist *p, struct pfile *f, const char *path, int64_t mtime);

/* base.c (lock held) */
void persist_base_replace(struct persist *p, const char *head, struct persist_rentry *v, size_t n,
                          int fetched);      /* takes v */
void persist_mtimes_save(struct persist *p); /* <cache>/mtimes, rewritten whole */
void persist_base_clear(struct persist *p);

/* manifest.c (lock held unless said) */
struct pmeta *persist_meta_get(struct persist *p, const char *path);  /* borrowed or NULL */
struct pmeta *persist_meta_want(struct persist *p, const char *path); /* created; NULL: ENOMEM */
void persist_meta_drop(struct persist *p, const char *path);
void persist_meta_move(struct persist *p, const char *from, const char *to, int dir);
void persist_meta_touch(struct persist *p);
void persist_parent_touch(struct persist *p, const char *path);
void persist_meta_created(struct persist *p, const char *path, mode_t mode);
uint32_t persist_meta_mode(struct persist *p, const char *path, int kind);
void persist_meta_save(struct persist *p);
void persist_meta_load(struct persist *p);
void persist_meta_prune(struct persist *p);
void persist_meta_check(struct persist *p);
int persist_meta_pending(const char *cache_dir); /* no engine, no lock */
void persist_meta_published(struct persist *p, uint64_t gen);
int persist_manifest_build(struct persist *p, int *out_fd, int64_t *out_size,
                           char sha[PERSIST_OID_MAX]);
struct pmanifest *persist_manifest_fetch(struct persist *p, struct persist_rentry *v, size_t *n,
                                         char sha[PERSIST_OID_MAX], int skip); /* no lock */
void persist_manifest_apply(struct persist *p, const struct pmanifest *mf);
void persist_manifest_free(struct pmanifest *m);
/* A manifest's text parsed (NULL: not one); unreadable lines are skipped. */
struct pmanifest *persist_manifest_parse_mem(const void *data, size_t len);
#define PERSIST_MANIFEST_LIMIT ((int64_t)64 << 20) /* larger: ignored (hostile or broken) */

/* provisional.c (lock held; see there) */
void persist_prov_begin(struct persist *p); /* at open: a fresh cache starts provisional */
/* Waits (lock dropped) until the first fetch ended, when the engine is provisional: 0, or the
 * fetch's -errno when it failed meanwhile (the caller fails with it). */
int persist_await_base(struct persist *p);
/* Makes the partial view know the normalised path np (a lookup through the Hub's API, lock
 * dropped), or waits for the first fetch when it cannot; data: the caller reads the file's
 * bytes next (only an LFS file's come without the mirror). 0: go on with the view; or what
 * persist_await_base returned when it had to wait. */
int persist_prov_learn(struct persist *p, const char *np, int data);
/* Is np (normalised) at or below a path a lookup found absent at the pinned commit? Everything
 * there is local: created and written before the first fetch, without waiting for it. */
int persist_prov_local(struct persist *p, const char *np);
/* persist_await_base, unless every path given (NULL ends the list) is persist_prov_local: 0, or
 * the failed first fetch's errno. */
int persist_await_base_unless_local(struct persist *p, const char *np, const char *np2);
/* The manifest of the cache's first base, applied under the changes made before it (early
 * writes, an earlier run's): as for a cache without metadata (the Dataset's empty directories
 * appear), except for the metadata of the changed paths and their parents (sync.c's refresh). */
void persist_first_manifest_apply(struct persist *p, const struct pmanifest *mf);
/* The first fetch ended (p->based says whether it worked): the view is the engine's again. */
void persist_prov_end(struct persist *p);
/* When the worker may start the first fetch (monotonic ms; 0: now). */
int64_t persist_prov_fetch_at(struct persist *p);

/* util.c */
void persist_change_free(void *c);

/* objects.c */
char *persist_obj_path(struct persist *p, const struct persist_rentry *e); /* new string */
int persist_obj_fetch(struct persist *p, const struct persist_rentry *e);  /* without the lock */
int persist_obj_adopt(struct persist *p, const struct persist_rentry *e, const char *src);
/* Evicts least recently used objects down to the bound, never `keep` (a name in objects/). */
void persist_obj_evict(struct persist *p, const char *keep);
/* Removes the downloads a process that ended mid-way left in objects/ (.part.*, .tmp.*); only
 * while nobody reads (at open, the cache directory held). Logs what it freed. */
void persist_obj_sweep_partial(struct persist *p);

/* stream.c: cold LFS objects read by ranges as they arrive. get/ref/unref/close with p->lock
 * held; read without it (it blocks on the network). */
struct pstream;
int persist_stream_get(struct persist *p, const struct persist_rentry *e, const char *path,
                       struct pstream **out); /* a reference (found or new) */
void persist_stream_ref(struct pstream *s);
void persist_stream_unref(struct persist *p, struct pstream *s); /* accepts NULL */
void persist_streams_close(struct persist *p);                   /* persist_close */
int persist_stream_refused(struct pstream *s); /* failed (e.g. sha256 mismatch): EIO */
long persist_stream_read(struct pstream *s, struct persist_readstate *rs, void *buf, size_t size,
                         int64_t off);

/* sync.c */
int persist_worker_start(struct persist *p);
void persist_worker_stop(struct persist *p);
/* One round: fetch if forced or due, commit if `commit` and anything is unsynced. Lock held;
 * dropped around remote calls. */
int persist_sync_round(struct persist *p, int force, int commit);

#endif
