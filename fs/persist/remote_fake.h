/* The in-memory test double of struct persist_remote_ops: a Dataset as a list of commits (full
 * snapshots), per-operation call counters, scripted faults, a hook run during a commit, and
 * writes by "another writer". Thread-safe. */
#ifndef SPACEFS_PERSIST_REMOTE_FAKE_H
#define SPACEFS_PERSIST_REMOTE_FAKE_H

#include "remote.h"

enum persist_fake_op {
    PERSIST_FAKE_PROBE = 0,
    PERSIST_FAKE_CREATE,
    PERSIST_FAKE_FETCH,
    PERSIST_FAKE_TREE,
    PERSIST_FAKE_OBJECT,
    PERSIST_FAKE_COMMIT,
    PERSIST_FAKE_COMMITS,
    PERSIST_FAKE_HEAD_READ, /* the API calls a fresh cache makes before its first fetch */
    PERSIST_FAKE_LOOKUP,
    PERSIST_FAKE_OPS
};

struct persist_fake;

/* A new fake (refcount 1): the Dataset exists, private, with no commit. Files larger than 64
 * bytes (or holding a NUL byte) are stored as LFS. */
struct persist_fake *persist_fake_new(void);
void persist_fake_unref(struct persist_fake *f);
/* A remote for persist_open; takes a reference (dropped by ops->free). */
struct persist_remote persist_fake_remote(struct persist_fake *f);

/* on: remotes made from now on offer head_read and lookup (the Hub's resolve and paths-info),
 * so a fresh cache answers lookups before its first fetch; off (default): they do not. 1: the
 * lookup says which commit it answered from (as X-Repo-Commit), 2: it does not. */
void persist_fake_set_api(struct persist_fake *f, int on);
void persist_fake_set_repo(struct persist_fake *f, int exists, int is_private);
/* Someone deletes the repository on the Hub: gone, with its history. */
void persist_fake_delete_repo(struct persist_fake *f);
/* PERSIST_FAKE_OBJECT counts whole-object gets and ranged reads (object_range) alike: each is
 * one GET of the object. */
/* The next `count` calls of `op` fail with `st` (before doing anything). */
void persist_fake_fail(struct persist_fake *f, enum persist_fake_op op, enum spacefs_status st,
                       unsigned count, unsigned retry_after_ms);
/* Called (without the fake's lock) at the start of every commit call. */
void persist_fake_on_commit(struct persist_fake *f, void (*fn)(void *), void *payload);
/* Called (without the fake's lock) around every probe, fetch, tree, object and commit call: with
 * after = 0 before the call does anything, with after = 1 once it took effect (a commit is on
 * main) and before it returns. Tests run their own operations in these windows, where the engine
 * has dropped its lock. */
typedef void (*persist_fake_hook_fn)(void *payload, enum persist_fake_op op, int after);
void persist_fake_on_call(struct persist_fake *f, persist_fake_hook_fn fn, void *payload);
unsigned persist_fake_calls(struct persist_fake *f, enum persist_fake_op op);
unsigned persist_fake_commit_count(struct persist_fake *f); /* commits on main */

/* Another writer: a commit putting (data != NULL) or deleting (data NULL) one file. */
int persist_fake_write(struct persist_fake *f, const char *path, const void *data, size_t len);
/* The file at main's head: 0 and *out new (malloc; len in *out_len), or -ENOENT. */
int persist_fake_read(struct persist_fake *f, const char *path, void **out, size_t *out_len);
/* Paths at main's head, '\n'-separated and sorted, new string. */
char *persist_fake_list(struct persist_fake *f);
/* Is `path` stored as LFS at the head? -1 when missing. */
int persist_fake_is_lfs(struct persist_fake *f, const char *path);
/* The LFS object id (sha256 hex) of `path` at the head: 0, or -ENOENT (missing or regular). */
int persist_fake_lfs_oid(struct persist_fake *f, const char *path, char out[PERSIST_OID_MAX]);
/* LFS PUTs that came without a sha256 (the Hub adapter reads the file once more to hash
 * those), and PUTs whose sha256 did not match their content (refused with BAD_REQUEST). */
unsigned persist_fake_hash_reads(struct persist_fake *f);
unsigned persist_fake_sha_mismatches(struct persist_fake *f);
/* Bytes of objects served so far (whole objects and ranges). */
uint64_t persist_fake_object_bytes(struct persist_fake *f);
/* on: LFS objects are served with their first byte changed (a hostile server: the sha256 of
 * what arrives does not match the object id). */
void persist_fake_set_corrupt(struct persist_fake *f, int on);

#endif
