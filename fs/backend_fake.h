/* An in-memory Hub behind the backend interface, for unit tests: Spaces with runtimes,
 * secrets, variables and logs, permissions like the Hub's, per-operation counters, scripted
 * faults and delays. Shipped with the fs like mountpoint-s3's mock_client. */
#ifndef SPACEFS_BACKEND_FAKE_H
#define SPACEFS_BACKEND_FAKE_H

#include "backend.h"

enum spacefs_fake_op {
    SPACEFS_FAKE_WHOAMI = 0,
    SPACEFS_FAKE_LIST, /* counts pages: ceil(N / page size) per listing, at least 1 */
    SPACEFS_FAKE_INFO,
    SPACEFS_FAKE_RUNTIME,
    SPACEFS_FAKE_RESTART,
    SPACEFS_FAKE_PAUSE,
    SPACEFS_FAKE_HARDWARE,
    SPACEFS_FAKE_SLEEPTIME,
    SPACEFS_FAKE_FLAVORS,
    SPACEFS_FAKE_VISIT,
    SPACEFS_FAKE_KV_LIST,
    SPACEFS_FAKE_KV_SET,
    SPACEFS_FAKE_KV_DELETE,
    SPACEFS_FAKE_LOGS_FOLLOW,
    SPACEFS_FAKE_CREATE,
    SPACEFS_FAKE_DELETE,
    SPACEFS_FAKE_OP_COUNT
};

struct spacefs_fake;

/* New, empty fake: whoami "alice" (role write, org "acme"), flavors cpu-basic, cpu-upgrade,
 * t4-small, a10g-large; page size 2. Free with spacefs_fake_free after the fs using it. */
struct spacefs_fake *spacefs_fake_new(void);
void spacefs_fake_free(struct spacefs_fake *f);
/* A backend that borrows f (its free op does nothing). */
struct spacefs_backend spacefs_fake_backend(struct spacefs_fake *f);

void spacefs_fake_whoami(struct spacefs_fake *f, const char *name, const char *role,
                         const char *org);
/* stage e.g. "RUNNING"; sleep -1 never. */
void spacefs_fake_add_space(struct spacefs_fake *f, const char *id, const char *stage,
                            const char *hardware, int64_t sleep);
/* Namespace `ns` lists `count` generated Spaces ns/space-000000 … (RUNNING on cpu-basic, their
 * runtime answers too) in pages of `page`, each page after the first starting with the last
 * `repeat` Spaces of the one before (a listing whose pages shifted while it was read). */
void spacefs_fake_bulk(struct spacefs_fake *f, const char *ns, size_t count, size_t page,
                       size_t repeat);
void spacefs_fake_set_kv(struct spacefs_fake *f, const char *id, int secret, const char *key,
                         const char *value);
/* The stored value of a key (new, free() it) or NULL if absent. */
char *spacefs_fake_get_kv(struct spacefs_fake *f, const char *id, int secret, const char *key);
void spacefs_fake_log_append(struct spacefs_fake *f, const char *id, int run, const char *line);

/* The next `count` calls of op (-1: all) fail with st (and HTTP status http). */
void spacefs_fake_fault(struct spacefs_fake *f, enum spacefs_fake_op op, enum spacefs_status st,
                        long http, int count);
/* Calls of op on Space `id` (NULL: any) sleep ms first (SPACEFS_FAKE_LIST and SPACEFS_FAKE_RUNTIME:
 * after taking their snapshot, so a slow answer is stale). SPACEFS_FAKE_LOGS_FOLLOW: the stream
 * "opens" (on_line with line NULL, as the Hub backend does when the answer's headers arrive) after
 * the delay, then replays the log. */
void spacefs_fake_delay(struct spacefs_fake *f, enum spacefs_fake_op op, const char *id,
                        unsigned ms);
unsigned long spacefs_fake_count(struct spacefs_fake *f, enum spacefs_fake_op op);
unsigned long spacefs_fake_total(struct spacefs_fake *f);
void spacefs_fake_reset_counts(struct spacefs_fake *f);
/* Last visited URL (new, free() it) or NULL. */
char *spacefs_fake_last_visit(struct spacefs_fake *f);

#endif
