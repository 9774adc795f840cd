/* The persist/ engine: a Space's data directory mirrored to a private Dataset. Path-based,
 * FUSE-free functions returning 0 (or a byte count) or a negative errno, ready for the FUSE
 * layer. Local view = base tree (a commit) + changes kept in overlay files and a crash-safe
 * journal; a worker thread commits changes to the Hub (see docs/design.md, "persist/"). */
#ifndef SPACEFS_PERSIST_H
#define SPACEFS_PERSIST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common.h"
#include "remote.h"

struct persist;
struct persist_handle;

typedef void (*persist_log_fn)(enum spacefs_log_level level, const char *msg, void *payload);

struct persist_config {
    const char *cache_dir;       /* this persist/ directory's cache (created 0700) */
    unsigned quiet_ms;           /* commit after this long without a change; default 2000 */
    unsigned flush_ms;           /* what close() acknowledged (on disk for a kill -9 at once)
                                    is flushed for a power loss within this long: after 1 s
                                    without a change, at most this long after it; default
                                    5000; 0 = fsync at every close */
    unsigned min_interval_ms;    /* at most one commit per this; default 10000 */
    unsigned max_delay_ms;       /* commit a change at most this long after it was made, even
                                    while later changes keep the quiet period from passing;
                                    default 60000; 0 = no bound */
    unsigned ttl_ms;             /* fetch remote changes this often; default 30000; 0 = never */
    unsigned backoff_base_ms;    /* first retry delay; default 1000, doubling */
    unsigned backoff_max_ms;     /* cap; default 60000 */
    unsigned fsync_attempts;     /* failed commit attempts after which fsync fails; default 3 */
    unsigned stale_retries;      /* 412 -> fetch -> retry rounds per attempt; default 5 */
    unsigned max_commit_files;   /* files (puts, copies, deletes) per commit; default 1024
                                    (the top of huggingface_hub's commit-size ladder): a
                                    larger burst goes up in several commits, back to back
                                    (each put holds an open file during its commit) */
    uint64_t object_cache_bytes; /* base blobs + LFS objects kept; default 1 GiB */
    int allow_public;            /* write even if the Dataset is public */
    int no_worker;               /* tests: no thread; drive with persist_sync_now */
    persist_log_fn log;          /* NULL: silent */
    void *log_payload;
};

void persist_config_init(struct persist_config *cfg);

/* 1 when the cache directory of an engine (cfg.cache_dir) holds changes not yet committed, read
 * from its journal without opening it: a mount opens those engines at once, so what close()
 * acknowledged before a crash or reboot goes up without anyone looking at persist/. */
int persist_cache_pending(const char *cache_dir);

/* Opens (recovering from the journal) or creates the cache and starts the worker. `remote` is
 * taken (freed by persist_close, also on failure). The first fetch happens in the worker (or
 * persist_sync_now), so opening works offline. *out new. */
int persist_open(struct persist **out, const struct persist_config *cfg,
                 struct persist_remote remote);
/* Unmount: waits up to wait_ms for everything to be committed, stops the worker, frees.
 * What is not committed stays in the journal for the next open. Accepts NULL. */
void persist_close(struct persist *p, unsigned wait_ms);
/* 1 when the engine's cache directory was removed while it was open (`rm -rf ~/.cache/spacefs`
 * under a mount): nothing it writes lands anywhere any more, and the caller should close it and
 * open a new one. One fstat. */
int persist_cache_removed(struct persist *p);

/* ---- namespace (paths are relative to persist/, "" or "/" is the root) -------------------- */
typedef int (*persist_fill_fn)(const char *name, const struct stat *st, void *payload);

int persist_getattr(struct persist *p, const char *path, struct stat *st);
int persist_readdir(struct persist *p, const char *path, persist_fill_fn fill, void *payload);
int persist_mkdir(struct persist *p, const char *path, mode_t mode);
int persist_rmdir(struct persist *p, const char *path);
int persist_unlink(struct persist *p, const char *path);
/* flags: 0 or RENAME_NOREPLACE; any other flag (RENAME_EXCHANGE, RENAME_WHITEOUT) is EINVAL. */
int persist_rename(struct persist *p, const char *from, const char *to, unsigned flags);
int persist_truncate(struct persist *p, const char *path, int64_t size);
/* utimensat(2): tv[0] atime, tv[1] mtime (nanoseconds; UTIME_NOW, UTIME_OMIT; tv NULL: both
 * now). The mtime of files and directories goes to the Dataset's manifest (.spacefs/meta) with
 * the next commit; the atime stays in this cache. ctime becomes now. */
int persist_utimens(struct persist *p, const char *path, const struct timespec tv[2]);
/* chmod(2): the permission bits (07777), kept in the manifest; a symlink is EOPNOTSUPP. */
int persist_chmod(struct persist *p, const char *path, mode_t mode);
/* symlink(2): `path` becomes a link to `target` (stored as a small file holding the target,
 * marked as a link in the manifest). EEXIST, ENOENT (empty target), ENAMETOOLONG (>= 4096). */
int persist_symlink(struct persist *p, const char *target, const char *path);
/* readlink(2): the target into buf, NUL-terminated (cut to size - 1); EINVAL if not a link. */
int persist_readlink(struct persist *p, const char *path, char *buf, size_t size);

/* ---- files ---------------------------------------------------------------------------------- */
/* open(2) flags incl. O_CREAT, O_EXCL, O_TRUNC, O_APPEND. *out new; persist_release frees. */
int persist_file_open(struct persist *p, const char *path, int flags, mode_t mode,
                      struct persist_handle **out);
long persist_read(struct persist *p, struct persist_handle *h, void *buf, size_t size, int64_t off);
long persist_write(struct persist *p, struct persist_handle *h, const void *buf, size_t size,
                   int64_t off);
int persist_ftruncate(struct persist *p, struct persist_handle *h, int64_t size);
/* close(2): publishes what was written, on local disk for a kill -9 of the process at once and
 * for a power loss within cfg.flush_ms (overlay file + journal line, flushed later). */
int persist_flush(struct persist *p, struct persist_handle *h);
/* fsync(2), local: publishes as persist_flush and flushes it to disk (with everything closed
 * before it) before returning. */
int persist_file_sync(struct persist *p, struct persist_handle *h);
/* fsync(2) of a directory, local: everything closed so far flushed to disk. */
int persist_local_sync(struct persist *p);
/* Flushes and frees the handle. */
int persist_release(struct persist *p, struct persist_handle *h);
/* fstat(2) on an open file: by its handle, so a file unlinked or renamed away while open still
 * answers (size of what the handle sees, st_nlink 0 once detached). */
int persist_fgetattr(struct persist *p, struct persist_handle *h, struct stat *st);
/* futimens(2) (as persist_utimens): the file's current path, or, once detached, only what its
 * handles see. */
int persist_futimens(struct persist *p, struct persist_handle *h, const struct timespec tv[2]);
/* fchmod(2): the file's current path; once detached accepted without effect. */
int persist_fchmod(struct persist *p, struct persist_handle *h, mode_t mode);
/* A read through h: the access time moves as relatime moves it (local to this cache). */
int persist_atime_touch(struct persist *p, struct persist_handle *h);
/* fsync(2) with -o fsync=hub: publish as persist_flush, then wait until committed on the Hub
 * (timeout_ms 0 = no limit); the local flush follows in the background, as after a close. */
int persist_fsync(struct persist *p, struct persist_handle *h, unsigned timeout_ms);

/* ---- sync ------------------------------------------------------------------------------------ */
enum persist_sync_state {
    PERSIST_CLEAN = 0,
    PERSIST_PENDING,
    PERSIST_UPLOADING,
    PERSIST_ERROR /* the last attempt failed; retrying */
};

struct persist_state {
    enum persist_sync_state state;
    uint64_t files;                    /* changes not committed yet */
    uint64_t bytes;                    /* their bytes */
    int64_t uploaded;                  /* bytes sent by the running upload */
    char base[PERSIST_OID_MAX];        /* commit the view is based on, "" if none */
    char last_commit[PERSIST_OID_MAX]; /* our last commit, "" if none yet */
    int64_t last_commit_time;          /* unix seconds, 0 if none */
    char last_error[256];              /* "" if the last attempt succeeded */
    unsigned failures;                 /* consecutive failed attempts */
    int64_t next_attempt_ms;           /* ms from now until the next attempt, 0 if none planned */
    uint64_t commits;                  /* commits made since open */
    uint64_t flushes; /* fsync/fdatasync calls made for local durability since open */
    /* bytes of sha256 taken by close() itself since open; the rest of a file written in order
     * is hashed by the engine's hasher thread behind the writer, never by write() */
    uint64_t hashed_inline;
    uint64_t hashed_behind; /* bytes the hasher thread hashed behind writers since open */
};

void persist_state_get(struct persist *p, struct persist_state *out);
/* The state as "key: value" lines into buf (NUL-terminated); returns the length it needs. */
size_t persist_state_text(struct persist *p, char *buf, size_t cap);
/* Waits until every change made before the call is committed: 0, -ETIMEDOUT, or the error of
 * the last attempt once fsync_attempts attempts failed. timeout_ms 0 = no limit. */
int persist_sync_wait(struct persist *p, unsigned timeout_ms);
/* Tests without worker: one round of the worker's loop now (refresh + commit if anything is
 * unsynced, ignoring quiet period and interval). Returns 0 or -errno of the failure. */
int persist_sync_now(struct persist *p);
/* Ask the worker to fetch remote changes now (as if the TTL expired). */
void persist_refresh(struct persist *p);
/* ---- history (history.c): what snapshots/ shows -----------------------------------------------
 */
/* Up to max commits from the current base back (newest first); head gets the base ("" and no
 * commits when there is none). *out new (persist_rcommits_free). 0 or -errno (logged). */
int persist_history(struct persist *p, size_t max, char head[PERSIST_OID_MAX],
                    struct persist_rcommit **out, size_t *out_count);
/* Every file of the tree at `commit`; *out new (persist_rentries_free). 0 or -errno. */
int persist_history_tree(struct persist *p, const char *commit, struct persist_rentry **out,
                         size_t *out_count);
/* The whole content of a file of such a tree to fd from offset 0 (LFS: verified). 0 or -errno. */
int persist_history_read(struct persist *p, const struct persist_rentry *e, int fd);
/* The POSIX metadata such a tree's manifest (.spacefs/meta) records, taken out of v (which then
 * holds only content): one entry per path, type 'f' file, 'l' symlink (its content is the
 * target), 'd' directory (empty ones exist only here); mode is the permission bits, mtime ns,
 * size the file's size when it was recorded (a file of another size was rewritten by another
 * client since: its time is not the recorded one). *out new (persist_hmeta_free), NULL and 0
 * when the tree has no readable manifest (logged). */
struct persist_hmeta {
    char *path;
    char type;
    uint32_t mode;
    int64_t mtime, size;
};
void persist_history_meta(struct persist *p, struct persist_rentry *v, size_t *n,
                          struct persist_hmeta **out, size_t *out_count);
void persist_hmeta_free(struct persist_hmeta *v, size_t n);

/* Debugging: the base, every base file and every change, one per line, to `out` (a FILE *). */
void persist_debug_dump(struct persist *p, void *out);
/* Debugging: checks the engine's derived state (the directory index) against a rebuild from
 * scratch: 0, or -EIO when they differ. */
int persist_debug_verify(struct persist *p);

#endif
