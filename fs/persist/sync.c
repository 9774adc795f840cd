/* The persist engine's sync loop. One worker thread per persist/ directory:
 * it fetches remote changes every ttl_ms, and commits every unsynced change in one commit once
 * the quiet period has passed (or an fsync waits) and min_interval_ms since the last commit.
 * The snapshot of changes is taken under the lock, the upload runs without it, and only
 * changes whose generation did not move meanwhile are marked synced. 412 -> fetch -> retry;
 * transient failures back off exponentially (at least the Hub's Retry-After); nothing is
 * ever dropped. */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PERSIST_FLUSH_QUIET_MS      1000 /* writers paused this long: flush what close() left */
#define PERSIST_INLINE_MAX          ((int64_t)10 << 20) /* larger files always go as LFS */
#define PERSIST_COMMIT_INLINE_BYTES ((int64_t)16 << 20)

/* ---- helpers (lock held) ----------------------------------------------------------------- */

static int unsynced_upto(struct persist *p, uint64_t gen)
{
    if (p->meta_dirty_gen && p->meta_dirty_gen <= gen)
        return 1; /* metadata the manifest must carry (manifest.c) */
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if (!c->synced && c->gen <= gen)
            return 1;
    }
    return 0;
}

/* A whole commit's worth (max_commit_files) is pending: it goes without waiting for writers to
 * pause, as huggingface_hub's upload pipeline commits each batch once it is full; a long copy
 * is uploaded while it runs. */
static int full_commit_pending(struct persist *p)
{
    size_t n = 0;

    if (!p->cfg.max_commit_files || p->changes.n < p->cfg.max_commit_files)
        return 0;
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it))
        if (!((struct pchange *)it->val)->synced && ++n >= p->cfg.max_commit_files)
            return 1;
    return 0;
}

static void set_error(struct persist *p, const char *what, enum spacefs_status st,
                      const struct spacefs_error *rerr)
{
    int n = snprintf(p->last_error, sizeof(p->last_error), "%s: %s", what, spacefs_status_name(st));
    if (rerr && rerr->message[0] && n > 0 && (size_t)n + 2 < sizeof(p->last_error))
        snprintf(p->last_error + n, sizeof(p->last_error) - (size_t)n, ": %.*s",
                 (int)(sizeof(p->last_error) - (size_t)n - 3), rerr->message);
}

/* Records a failed attempt and plans the next one. */
static int attempt_failed(struct persist *p, int err, unsigned retry_after_ms)
{
    uint64_t delay = p->cfg.backoff_base_ms;
    for (unsigned i = 1; i < p->failures + 1 && delay < p->cfg.backoff_max_ms; i++)
        delay *= 2;
    if (delay > p->cfg.backoff_max_ms)
        delay = p->cfg.backoff_max_ms;
    if (retry_after_ms > delay)
        delay = retry_after_ms;
    /* the client knows the Hub cannot be reached and sent nothing: trying again costs nothing
     * (it probes the Hub at most once a second), so the Hub's return is noticed within a second
     * instead of after the backoff that the outage built up */
    if (err == EHOSTUNREACH && delay > p->cfg.backoff_base_ms)
        delay = p->cfg.backoff_base_ms;
    p->failures++;
    p->failed_attempts++;
    /* one line per outage, not one a second: the client logs when the Hub comes back */
    if (err != EHOSTUNREACH || p->last_errno != EHOSTUNREACH)
        persist_log(p, SPACEFS_WARN, "persist: %s (attempt %u; next in %" PRIu64 " ms)",
                    p->last_error, p->failures, delay);
    p->last_errno = err;
    p->next_attempt_ms = spacefs_now_ms() + (int64_t)delay;
    return -err;
}

/* Fetch and make the head the base (drops the lock around the remote calls). */
static int refresh(struct persist *p)
{
    struct spacefs_error rerr = {0};
    struct persist_rentry *v = NULL;
    struct pmanifest *mf = NULL;
    char head[PERSIST_OID_MAX] = "", msha[PERSIST_OID_MAX] = "";
    enum spacefs_status st;
    size_t n = 0;
    int same, ours = 0, first;

    p->refresh_now = 0;
    p->tip[0] = '\0'; /* whatever the fetch brings is the next parent */
    pthread_mutex_unlock(&p->lock);
    st = p->remote.ops->fetch(p->remote.ctx, head, &rerr);
    pthread_mutex_lock(&p->lock);
    if (st == SPACEFS_E_NOT_FOUND) { /* the Dataset does not exist (yet, or any more): an
                                        empty base, and the next commit creates it again */
        if (p->vis != VIS_MISSING && p->base[0])
            persist_log(p, SPACEFS_WARN,
                        "persist: the Dataset is gone from the Hub (deleted?); the view follows, "
                        "and the next change creates it again, private");
        p->vis = VIS_MISSING;
        head[0] = '\0';
        st = SPACEFS_OK;
    }
    if (st != SPACEFS_OK)
        goto fail;
    same = p->based && !strcmp(head, p->base);
    if (same)
        goto done;
    ours = p->last_commit[0] && !strcmp(head, p->last_commit) && p->based;
    if (head[0]) {
        pthread_mutex_unlock(&p->lock);
        st = p->remote.ops->tree(p->remote.ctx, head, &v, &n, &rerr);
        if (st == SPACEFS_OK) /* our own commit: its manifest is the one we built */
            mf = persist_manifest_fetch(p, v, &n, msha, ours);
        pthread_mutex_lock(&p->lock);
        if (st != SPACEFS_OK)
            goto fail;
    }
    first = !p->seen_base;
    persist_base_replace(p, head, v, n, 1);
    if (!ours) { /* the first base: under what was written before it (provisional.c) */
        first ? persist_first_manifest_apply(p, mf) : persist_manifest_apply(p, mf);
        snprintf(p->manifest_sha, sizeof(p->manifest_sha), "%s", msha);
    }
    persist_manifest_free(mf);
    if (p->mtimes_dirty) /* the manifest's times, before the journal names the base: a kill */
        persist_mtimes_save(p); /* after it must not leave the base with the clone's "now" */
    persist_journal_write(p);
done:
    if (p->cfg.ttl_ms)
        p->next_refresh_ms = spacefs_now_ms() + p->cfg.ttl_ms;
    return 0;
fail:
    set_error(p, "fetch", st, &rerr);
    p->refresh_now = 1;
    return attempt_failed(p, spacefs_errno_from_status(st), rerr.retry_after_ms);
}

/* The Dataset must exist and be private (or allowed public) before we commit. Without `create`
 * (the early probe below) a missing Dataset is left to the commit, which creates it. */
static int check_visibility(struct persist *p, int create)
{
    struct spacefs_error rerr = {0};
    enum spacefs_status st;
    int exists = 0, priv = 0;

    if (p->vis == VIS_PRIVATE || (p->vis == VIS_PUBLIC && p->cfg.allow_public))
        return 0;
    pthread_mutex_unlock(&p->lock);
    st = p->remote.ops->probe(p->remote.ctx, &exists, &priv, &rerr);
    if (st == SPACEFS_OK && !exists && !create) {
        pthread_mutex_lock(&p->lock);
        p->vis = VIS_MISSING;
        return 0;
    }
    if (st == SPACEFS_OK && !exists) {
        st = p->remote.ops->create(p->remote.ctx, &rerr);
        if (st == SPACEFS_OK)
            exists = priv = 1;
    }
    pthread_mutex_lock(&p->lock);
    if (st != SPACEFS_OK) {
        set_error(p, exists ? "probe" : "creating the Dataset", st, &rerr);
        return attempt_failed(p, spacefs_errno_from_status(st), rerr.retry_after_ms);
    }
    p->vis = priv ? VIS_PRIVATE : VIS_PUBLIC;
    if (p->vis == VIS_PUBLIC && !p->cfg.allow_public) {
        snprintf(p->last_error, sizeof(p->last_error),
                 "the Dataset is public; persist/ refuses to write to it");
        persist_log(p, SPACEFS_ERROR,
                    "persist: the Dataset is public; nothing is committed (EACCES)");
        return attempt_failed(p, EACCES, 0);
    }
    return 0;
}

struct snap {
    struct persist_rop *ops;
    struct persist_rentry *srcs; /* COPY sources (paths owned) */
    char **paths;                /* owned */
    uint64_t *gens;
    size_t n;
    int capped;   /* more unsynced changes than max_commit_files: some were left out */
    uint64_t gen; /* p->gen when taken */
    char meta_sha[PERSIST_OID_MAX]; /* the manifest it carries, "" none */
};

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->ops[i].kind == PERSIST_ROP_PUT && s->ops[i].fd >= 0)
            close(s->ops[i].fd);
        free(s->srcs[i].path);
        free(s->paths[i]);
    }
    free(s->ops);
    free(s->srcs);
    free(s->paths);
    free(s->gens);
    memset(s, 0, sizeof(*s));
}

/* The unsynced changes as remote ops, at most max_commit_files of them and at most
 * PERSIST_COMMIT_INLINE_BYTES of files that may go inline (the commit holds their content in
 * memory, base64 in its body; huggingface_hub's upload pipeline budgets 100 MB per commit,
 * REGULAR_CONTENT_BYTES_BUDGET): deletes first, then puts and copies. What does not fit stays
 * pending for the next commit, which follows at once. */
static int snap_take(struct persist *p, struct snap *s)
{
    size_t cap = p->changes.n + 1,
           max = p->cfg.max_commit_files ? p->cfg.max_commit_files : SIZE_MAX;
    int64_t inline_bytes = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    s->gen = p->gen;
    s->ops = calloc(cap, sizeof(*s->ops));
    s->srcs = calloc(cap, sizeof(*s->srcs));
    s->paths = calloc(cap, sizeof(*s->paths));
    s->gens = calloc(cap, sizeof(*s->gens));
    if (!s->ops || !s->srcs || !s->paths || !s->gens)
        return -ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        for (struct pmap_item *it = persist_map_first(&p->changes); it;
             it = persist_map_next(&p->changes, it)) {
            struct pchange *c = it->val;
            struct persist_rop *op = &s->ops[s->n];
            int is_delete = c->kind != PC_FILE;
            int64_t inl = !is_delete && c->ovl && c->size <= PERSIST_INLINE_MAX ? c->size : 0;
            if (c->synced || is_delete != (pass == 0))
                continue;
            if (s->n == max || (s->n && inline_bytes + inl > PERSIST_COMMIT_INLINE_BYTES)) {
                s->capped = 1;
                return 0;
            }
            inline_bytes += inl;
            if (is_delete && !persist_map_get(&p->base_files, it->key) &&
                !persist_map_get(&p->landed, it->key)) {
                c->synced = 1; /* nothing to delete remotely */
                persist_journal_touch(p, it->key);
                continue;
            }
            op->fd = -1;
            if (!(s->paths[s->n] = strdup(it->key)))
                return -ENOMEM;
            op->path = s->paths[s->n];
            s->gens[s->n] = c->gen;
            s->n++;
            if (is_delete) {
                op->kind = PERSIST_ROP_DELETE;
            } else if (c->ovl) {
                char *path = persist_ovl_path(p, c->ovl);
                op->kind = PERSIST_ROP_PUT;
                op->fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
                free(path);
                if (op->fd < 0)
                    return -errno;
                op->size = c->size;
                memcpy(op->sha256, c->sha256, sizeof(op->sha256));
            } else {
                op->kind = PERSIST_ROP_COPY;
                s->srcs[s->n - 1] = c->ref;
                if (!(s->srcs[s->n - 1].path = strdup(c->ref.path ? c->ref.path : "")))
                    return -ENOMEM;
                op->src = &s->srcs[s->n - 1];
            }
        }
    }
    /* The manifest (modes, times, symlinks, directories) goes with the files it describes, in
     * the same commit; a burst cut at max_commit_files sends it with its last part. */
    if (!s->capped && (s->n || p->meta_dirty_gen)) {
        struct persist_rop *op = &s->ops[s->n];
        if ((rc = persist_manifest_build(p, &op->fd, &op->size, s->meta_sha)) < 0)
            return rc;
        if (rc == 1) { /* the Dataset has this one */
            s->meta_sha[0] = '\0';
            p->meta_dirty_gen = 0;
            p->meta_local_dirty = 1;
            return 0;
        }
        op->kind = PERSIST_ROP_PUT;
        memcpy(op->sha256, s->meta_sha, sizeof(op->sha256));
        if (!(s->paths[s->n] = strdup(PERSIST_META_PATH))) {
            close(op->fd);
            op->fd = -1;
            return -ENOMEM;
        }
        op->path = s->paths[s->n];
        s->gens[s->n] = 0;
        s->n++;
    }
    return 0;
}

static void progress_cb(int64_t bytes, void *payload)
{
    struct persist *p = payload;
    pthread_mutex_lock(&p->lock);
    p->uploaded = bytes;
    pthread_mutex_unlock(&p->lock);
}

static void summary_make(char *buf, size_t cap, const struct snap *s)
{
    size_t puts = 0, dels = 0, files = s->n - (s->meta_sha[0] ? 1 : 0);
    for (size_t i = 0; i < files; i++)
        s->ops[i].kind == PERSIST_ROP_DELETE ? dels++ : puts++;
    if (files == 0)
        snprintf(buf, cap, "persist: update file metadata");
    else if (files == 1)
        snprintf(buf, cap, "persist: %s %s", dels ? "delete" : "update", s->ops[0].path);
    else
        snprintf(buf, cap, "persist: update %zu files, delete %zu", puts, dels);
}

/* One commit of every unsynced change, with 412 -> fetch -> retry. */
static int commit_changes(struct persist *p)
{
    struct spacefs_error rerr;
    char parent[PERSIST_OID_MAX], oid[PERSIST_OID_MAX], summary[256];
    enum spacefs_status st = SPACEFS_OK;
    struct snap s;
    int64_t started;
    int rc = 0, s_capped;

    for (unsigned stale = 0;; stale++) {
        persist_hash_wait(p); /* the digests of closed files the hasher still takes (hasher.c) */
        if ((rc = snap_take(p, &s)) < 0 || s.n == 0) {
            snap_free(&s);
            if (rc < 0)
                snprintf(p->last_error, sizeof(p->last_error), "snapshot: %s", strerror(-rc));
            return rc < 0 ? attempt_failed(p, -rc, 0) : 0;
        }
        snprintf(parent, sizeof(parent), "%s", p->tip[0] ? p->tip : p->base);
        summary_make(summary, sizeof(summary), &s);
        memset(&rerr, 0, sizeof(rerr));
        oid[0] = '\0';
        p->uploading = 1;
        p->uploaded = 0;
        started = spacefs_now_ms();
        pthread_mutex_unlock(&p->lock);
        st = p->remote.ops->commit(p->remote.ctx, parent, summary, s.ops, s.n, oid, progress_cb, p,
                                   &rerr);
        pthread_mutex_lock(&p->lock);
        p->uploading = 0;
        if (st == SPACEFS_OK) {
            for (size_t i = 0; i < s.n; i++) {
                struct pchange *c = persist_map_get(&p->changes, s.paths[i]);
                if (c && c->gen == s.gens[i] && s.gens[i])
                    c->synced = 1; /* changed meanwhile: stays pending */
                if (s.ops[i].kind == PERSIST_ROP_DELETE)
                    persist_map_del(&p->landed, s.paths[i]);
                else if (persist_map_put(&p->landed, s.paths[i], &p->landed) < 0)
                    p->based = 0; /* out of memory: refresh before anything else */
            }
            p->backlog = s_capped = s.capped;
            if (s.meta_sha[0]) {
                memcpy(p->manifest_sha, s.meta_sha, sizeof(p->manifest_sha));
                if (p->meta_dirty_gen && p->meta_dirty_gen <= s.gen)
                    p->meta_dirty_gen = 0; /* later metadata changes: the next commit */
                persist_meta_published(p, s.gen);
                persist_meta_save(p); /* no longer pending for the next mount either */
            }
            /* what is still pending changed after the snapshot, so after `started` */
            p->pending_since_ms = unsynced_upto(p, UINT64_MAX) ? started : 0;
            snap_free(&s);
            p->jfull = 1; /* synced flags and the landed set: the whole journal */
            p->commits++;
            snprintf(p->last_commit, sizeof(p->last_commit), "%s", oid);
            p->last_commit_time = (int64_t)time(NULL);
            p->last_commit_ms = spacefs_now_ms();
            p->failures = 0;
            p->last_error[0] = '\0';
            p->next_attempt_ms = 0;
            persist_log(p, SPACEFS_INFO, "persist: committed %s", oid);
            /* the changes are on the Hub: waiters (fsync=hub, `echo sync`) return now, not
             * after the journal's rewrite (which first flushes the overlay files it names: a
             * 64 MiB file just uploaded took 0.12 s) nor after the fetch below, which only
             * catches the mirror up (the landed set covers the paths until it has). The flush
             * runs without the lock, so a woken waiter returns meanwhile; a crash before the
             * rewrite leaves the journal as it was before this commit, as it always could. */
            pthread_cond_broadcast(&p->done);
            persist_journal_sync(p, 1);
            persist_journal_write(p);
            /* The rest of a burst goes on top of this commit without fetching it first (a
             * fetch of a large Dataset takes seconds, and the rest would wait for it): the
             * next parent is our own commit, and a remote change meanwhile still fails that
             * commit (412), which fetches and retries as below. The fetch after the burst's
             * last part brings the mirror to the Hub's head. So do the changes made while this
             * commit uploaded when someone waits for them (`echo sync` at the end of a copy). */
            if (s_capped || (p->urgent && unsynced_upto(p, UINT64_MAX))) {
                snprintf(p->tip, sizeof(p->tip), "%s", oid);
                return 0;
            }
            /* The commit stands; if the base cannot catch up now, the next round refreshes
             * before it commits (a whiteout judged against the old base would be lost). */
            if (refresh(p) < 0)
                p->failures = 0, p->next_attempt_ms = 0, p->based = 0;
            return 0;
        }
        snap_free(&s);
        set_error(p, "commit", st, &rerr);
        if (st == SPACEFS_E_NOT_FOUND)
            p->vis = VIS_UNKNOWN; /* deleted since it was probed: the retry probes, creates it */
        if ((st != SPACEFS_E_STALE && st != SPACEFS_E_CONFLICT) || stale >= p->cfg.stale_retries)
            break;
        persist_log(p, SPACEFS_INFO, "persist: the Dataset moved (412); fetching and retrying");
        p->based = 0;
        if ((rc = refresh(p)) < 0)
            return rc;
    }
    return attempt_failed(p, spacefs_errno_from_status(st), rerr.retry_after_ms);
}

int persist_sync_round(struct persist *p, int force, int commit)
{
    int rc = 0;

    if (force || p->refresh_now || !p->based ||
        (p->cfg.ttl_ms && spacefs_now_ms() >= p->next_refresh_ms))
        rc = refresh(p);
    persist_prov_end(p); /* the first fetch ended: lookups see the whole view (provisional.c) */
    if (rc == 0 && commit && unsynced_upto(p, UINT64_MAX)) {
        rc = check_visibility(p, 1);
        if (rc == 0)
            rc = commit_changes(p);
    }
    if (rc == 0 && !unsynced_upto(p, UINT64_MAX))
        p->urgent = 0;
    p->rounds++;
    pthread_cond_broadcast(&p->done);
    return rc;
}

/* ---- the worker -------------------------------------------------------------------------- */

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* While changes keep coming, the worker looks at them this often instead of at each one: every
 * change broadcasts p->cond (persist_changed), and a copy of N small files made 4N wake-ups of
 * the worker, each taking the engine's lock from the writers, and counted the pending changes
 * for a full commit each time (O(N^2) over the copy). Then it sleeps on wcond, which only a
 * waiter, persist_refresh and stop signal (worker_kick). */
#define PERSIST_FULL_CHECK_MS 50

static void worker_kick(struct persist *p)
{
    pthread_cond_broadcast(&p->cond);
    if (p->wcond_ok)
        pthread_cond_broadcast(&p->wcond);
}

static void *worker_main(void *arg)
{
    struct persist *p = arg;
    int64_t full_checked_ms = 0;

    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->mtimes_dirty)
            persist_mtimes_save(p);
        /* <cache>/meta is rewritten whole: once writers pause, not at every wake (cp -a of
           N files would rewrite it N times), and after each commit (sync.c) */
        if (p->meta_local_dirty && spacefs_now_ms() - p->last_change_ms >= p->cfg.quiet_ms)
            persist_meta_save(p);
        int64_t now = spacefs_now_ms(), wake = now + 60000, commit_at, refresh_at, flush_at;
        int pending = unsynced_upto(p, UINT64_MAX), full = 0, busy;

        /* what close() left in the page cache goes to disk once writers pause for a second, at
           the latest flush_ms after the first of it (journal.c) */
        flush_at = INT64_MAX;
        if (p->unflushed_since_ms) {
            flush_at = p->last_change_ms + PERSIST_FLUSH_QUIET_MS;
            if (p->unflushed_since_ms + p->cfg.flush_ms < flush_at)
                flush_at = p->unflushed_since_ms + p->cfg.flush_ms;
        }
        if (now >= flush_at) {
            persist_journal_sync(p, 1);
            continue;
        }
        if (flush_at < wake)
            wake = flush_at;

        if (!pending)
            p->pending_since_ms = 0;
        else if (!p->pending_since_ms)
            p->pending_since_ms = now; /* recovered from the journal */

        refresh_at = p->refresh_now || !p->based ? now
                     : p->cfg.ttl_ms             ? p->next_refresh_ms
                                                 : INT64_MAX;
        refresh_at = max64(refresh_at, p->next_attempt_ms);
        refresh_at = max64(refresh_at, persist_prov_fetch_at(p)); /* lookups first */
        commit_at = INT64_MAX;
        if (pending) {
            /* the rest of a burst cut at max_commit_files follows at once: min_interval_ms
             * spaces bursts, not the parts of one */
            if (now - full_checked_ms >= PERSIST_FULL_CHECK_MS || p->urgent) {
                full = full_commit_pending(p);
                full_checked_ms = now;
            } else if (p->changes.n >= p->cfg.max_commit_files && p->cfg.max_commit_files &&
                       full_checked_ms + PERSIST_FULL_CHECK_MS < wake) {
                wake = full_checked_ms + PERSIST_FULL_CHECK_MS; /* count again then */
            }
            commit_at = p->urgent || p->backlog || full ? now : p->last_change_ms + p->cfg.quiet_ms;
            if (p->cfg.max_delay_ms && p->pending_since_ms + p->cfg.max_delay_ms < commit_at)
                commit_at = p->pending_since_ms + p->cfg.max_delay_ms; /* a steady writer */
            if (p->last_commit_ms && !p->backlog && !p->burst)
                commit_at = max64(commit_at, p->last_commit_ms + p->cfg.min_interval_ms);
            commit_at = max64(commit_at, p->next_attempt_ms);
        }
        /* The visibility probe of a mount's first commit (two requests) goes out with the first
         * change, while the writer still writes, instead of in front of that commit, where an
         * fsync=hub or `echo sync` after a copy waited for it. A mount that never writes never
         * probes; a missing Dataset is still created by the commit. */
        if (pending && p->based && !p->early_probed && p->vis != VIS_MISSING &&
            now >= p->next_attempt_ms && now < commit_at && now < refresh_at) {
            p->early_probed = 1;
            check_visibility(p, 0);
            continue;
        }
        if (now >= refresh_at || now >= commit_at) {
            uint64_t commits = p->commits;
            int part = full || p->backlog; /* of a burst: full, or the rest of a capped one */
            persist_sync_round(p, 0, now >= commit_at);
            if (p->commits != commits)         /* what follows a part belongs to the burst too; a */
                p->burst = part || p->backlog; /* commit for any other reason ends it */
            continue;
        }
        if (refresh_at < wake)
            wake = refresh_at;
        if (commit_at < wake)
            wake = commit_at;
        /* changes are coming: look again in PERSIST_FULL_CHECK_MS, not at each of them */
        busy = p->wcond_ok && pending && !p->urgent &&
               now - p->last_change_ms < PERSIST_FLUSH_QUIET_MS;
        if (busy && now + PERSIST_FULL_CHECK_MS < wake)
            wake = now + PERSIST_FULL_CHECK_MS;
        {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = ts.tv_nsec + (wake - now) * 1000000LL;
            ts.tv_sec += ns / 1000000000LL;
            ts.tv_nsec = ns % 1000000000LL;
            pthread_cond_timedwait(busy ? &p->wcond : &p->cond, &p->lock, &ts);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int persist_worker_start(struct persist *p)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_condattr_init(&ca) == 0) { /* timed waits use CLOCK_MONOTONIC, as p->cond's */
        p->wcond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                      pthread_cond_init(&p->wcond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    rc = pthread_create(&p->worker, NULL, worker_main, p);
    if (rc) {
        if (p->wcond_ok)
            pthread_cond_destroy(&p->wcond);
        p->wcond_ok = 0;
        return -rc;
    }
    p->worker_started = 1;
    return 0;
}

void persist_worker_stop(struct persist *p)
{
    if (!p->worker_started)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    worker_kick(p);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->worker, NULL);
    p->worker_started = 0;
    if (p->wcond_ok)
        pthread_cond_destroy(&p->wcond);
    p->wcond_ok = 0;
}

/* ---- waiting and state ---------------------------------------------------------------- */
int persist_sync_wait(struct persist *p, unsigned timeout_ms)
{
    int64_t deadline = timeout_ms ? spacefs_now_ms() + timeout_ms : INT64_MAX;
    uint64_t target, failed0;
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    target = p->gen;
    failed0 = p->failed_attempts;
    /* Someone is waiting (fsync, `echo sync`): try now instead of sleeping out the backoff that
     * earlier failures built up; later failures in this wait back off again as usual. */
    if (unsynced_upto(p, target))
        p->next_attempt_ms = 0;
    while (unsynced_upto(p, target)) {
        int64_t now = spacefs_now_ms();
        struct timespec ts;
        if (p->failed_attempts - failed0 >= p->cfg.fsync_attempts) {
            rc = -(p->last_errno ? p->last_errno : EIO);
            break;
        }
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        if (!p->worker_started) {
            persist_sync_round(p, 0, 1);
            continue;
        }
        p->urgent = 1;
        worker_kick(p);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        {
            int64_t step = deadline - now < 1000 ? deadline - now : 1000;
            int64_t ns = ts.tv_nsec + step * 1000000LL;
            ts.tv_sec += ns / 1000000000LL;
            ts.tv_nsec = ns % 1000000000LL;
        }
        pthread_cond_timedwait(&p->done, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int persist_sync_now(struct persist *p)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    rc = persist_sync_round(p, 1, 1);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void persist_refresh(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    p->refresh_now = 1;
    worker_kick(p);
    pthread_mutex_unlock(&p->lock);
}

void persist_state_get(struct persist *p, struct persist_state *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        if (c->synced)
            continue;
        out->files++;
        if (c->kind == PC_FILE)
            out->bytes += (uint64_t)c->size;
    }
    if (p->meta_dirty_gen)
        out->files++; /* the manifest */
    out->state = p->uploading  ? PERSIST_UPLOADING
                 : !out->files ? PERSIST_CLEAN
                 : p->failures ? PERSIST_ERROR
                               : PERSIST_PENDING;
    out->uploaded = p->uploaded;
    snprintf(out->base, sizeof(out->base), "%s", p->base);
    snprintf(out->last_commit, sizeof(out->last_commit), "%s", p->last_commit);
    out->last_commit_time = p->last_commit_time;
    snprintf(out->last_error, sizeof(out->last_error), "%s", p->last_error);
    out->failures = p->failures;
    if (p->next_attempt_ms) {
        int64_t d = p->next_attempt_ms - spacefs_now_ms();
        out->next_attempt_ms = d > 0 ? d : 0;
    }
    out->commits = p->commits;
    out->flushes = p->flushes;
    out->hashed_inline = p->hashed_inline;
    out->hashed_behind = p->hashed_behind;
    pthread_mutex_unlock(&p->lock);
}

size_t persist_state_text(struct persist *p, char *buf, size_t cap)
{
    static const char *const names[] = {"clean", "pending", "uploading", "error"};
    struct persist_state s;
    int n;

    persist_state_get(p, &s);
    n = snprintf(buf, cap,
                 "state: %s\nfiles: %" PRIu64 "\nbytes: %" PRIu64 "\nuploaded: %" PRId64
                 "\nbase: %s\nlast_commit: %s\nlast_commit_time: %" PRId64
                 "\nlast_error: %s\nfailures: %u\nnext_attempt_in_ms: %" PRId64
                 "\ncommits: %" PRIu64 "\n",
                 names[s.state], s.files, s.bytes, s.uploaded, s.base[0] ? s.base : "-",
                 s.last_commit[0] ? s.last_commit : "-", s.last_commit_time,
                 s.last_error[0] ? s.last_error : "-", s.failures, s.next_attempt_ms, s.commits);
    return n < 0 ? 0 : (size_t)n;
}
