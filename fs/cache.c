/* The cache of what the Hub said: whoami, the flavor list, one entry per namespace with its
 * Spaces (listing + runtime), and per Space its JSON documents and secret/variable names.
 *
 * Everything lives under fs->lock, which is never held across a backend call. A listing is
 * single-flight per namespace (others wait on fs->cond). Entries expire after cfg.ttl_ms,
 * negative ones too (a namespace with nothing in it, a missing Space). Local writes bump the
 * namespace's generation and stamp the Space; a listing that started before such a write does
 * not overwrite what the write installed (the sshfs "wrctr" idea).
 *
 * Stale if error (as sshfs and rclone serve their caches): when a refresh fails because the Hub
 * cannot be reached or does not answer properly (spacefs_stale_ok), the last known data is
 * served. While the client knows the Hub is offline that failure costs no network and is quiet
 * (the client logs one line per change of state); after another failure the stale data is
 * trusted for one more ttl, so a failing Hub is not asked again by every operation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define NS_MAX 256 /* namespaces remembered; foreign ones are evicted oldest first */
#define WHO_RETRY_MS                                                                               \
    30000 /* after a failed whoami (not auth), reuse the old identity this long                    \
           */

void spacefs_count_call(struct spacefs_fs *fs, enum spacefs_status st)
{
    pthread_mutex_lock(&fs->lock);
    fs->ctr.backend_calls++;
    if (st != SPACEFS_OK)
        fs->ctr.errors++;
    pthread_mutex_unlock(&fs->lock);
}

int spacefs_stale_ok(enum spacefs_status st)
{
    return st == SPACEFS_E_OFFLINE || st == SPACEFS_E_TRANSPORT || st == SPACEFS_E_TIMEOUT ||
           st == SPACEFS_E_SERVER || st == SPACEFS_E_RATE_LIMITED;
}

void spacefs_serve_stale(struct spacefs_fs *fs, enum spacefs_status st, int64_t *stamp,
                         const char *what, const char *id, const struct spacefs_error *err)
{
    if (st == SPACEFS_E_OFFLINE) /* free to ask again: the first answer after the outage wins */
        return;
    spacefs_call_failed(fs, what, id, st, err);
    *stamp = spacefs_now_ms(); /* a Hub that fails slowly: not again before one more ttl */
}

int spacefs_call_failed(struct spacefs_fs *fs, const char *what, const char *id,
                        enum spacefs_status st, const struct spacefs_error *err)
{
    int e = spacefs_errno_from_status(st);

    (void)fs;
    /* offline: the client said so once when it went; a line per call would flood the log */
    spacefs_log(st == SPACEFS_E_OFFLINE     ? SPACEFS_DEBUG
                : st == SPACEFS_E_NOT_FOUND ? SPACEFS_INFO
                                            : SPACEFS_WARN,
                "%s %s: %s (HTTP %ld%s%s): %s", what, id ? id : "", spacefs_status_name(st),
                err->http_status, err->code[0] ? ", " : "", err->code,
                err->message[0] ? err->message : strerror(e));
    return -e;
}

/* ---- whoami ----------------------------------------------------------------------------- */
int spacefs_whoami_get(struct spacefs_fs *fs, struct spacefs_whoami *out)
{
    struct spacefs_whoami w = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    int rc = 0;

    pthread_mutex_lock(&fs->lock);
    while (fs->who_fetching)
        pthread_cond_wait(&fs->cond, &fs->lock);
    if (spacefs_fresh(fs->who_ms, fs->cfg.whoami_ttl_ms)) {
        if (out) /* internal ownership checks are not counted as hits */
            fs->ctr.cache_hits++;
        goto copy;
    }
    fs->ctr.cache_misses++;
    fs->who_fetching = 1;
    pthread_mutex_unlock(&fs->lock);

    st = fs->be.ops->whoami(fs->be.ctx, &w, &err);
    spacefs_count_call(fs, st);

    pthread_mutex_lock(&fs->lock);
    fs->who_fetching = 0;
    pthread_cond_broadcast(&fs->cond);
    if (st == SPACEFS_OK) {
        spacefs_whoami_clear(&fs->who);
        fs->who = w;
        fs->who_ms = spacefs_now_ms();
    } else if (st == SPACEFS_E_AUTH) {
        /* anonymous or a rejected token: no namespaces of our own, remembered like a hit */
        spacefs_whoami_clear(&fs->who);
        fs->who_ms = spacefs_now_ms();
        spacefs_call_failed(fs, "whoami", NULL, st, &err);
    } else if (!fs->who.name) {
        rc = spacefs_call_failed(fs, "whoami", NULL, st, &err);
        goto out;
    } else {
        /* the Hub is unreachable but we know who we are: keep the old answer, and do not ask
         * again for WHO_RETRY_MS, or every operation of an outage would pay a whole deadline
         * for whoami before its own call */
        spacefs_call_failed(fs, "whoami (keeping the known identity)", NULL, st, &err);
        fs->who_ms = spacefs_now_ms() - (int64_t)fs->cfg.whoami_ttl_ms + WHO_RETRY_MS;
    }
copy:
    if (out &&
        spacefs_whoami_set(out, fs->who.name, fs->who.role, fs->who.orgs, fs->who.orgs_count) < 0)
        rc = -ENOMEM;
out:
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int own_locked(const struct spacefs_fs *fs, const char *ns)
{
    size_t i;

    if (fs->who.name && strcmp(fs->who.name, ns) == 0)
        return 1;
    for (i = 0; i < fs->who.orgs_count; i++)
        if (strcmp(fs->who.orgs[i], ns) == 0)
            return 1;
    return 0;
}

/* 1 when ns is the token's user or one of its orgs; with `write`, and the token may write. */
static int ns_access(struct spacefs_fs *fs, const char *ns, int write)
{
    int ok;

    if (spacefs_whoami_get(fs, NULL) < 0)
        return 0;
    pthread_mutex_lock(&fs->lock);
    ok = own_locked(fs, ns) && !(write && fs->who.role && strcmp(fs->who.role, "read") == 0);
    pthread_mutex_unlock(&fs->lock);
    return ok;
}

int spacefs_ns_is_own(struct spacefs_fs *fs, const char *ns)
{
    return ns_access(fs, ns, 0);
}

int spacefs_ns_writable(struct spacefs_fs *fs, const char *ns)
{
    return ns_access(fs, ns, 1);
}

/* ---- namespaces and Spaces -------------------------------------------------------------- */
/* A new entry with its name in the same allocation (a listing of 100k Spaces keeps 100k of
 * them: one allocation each instead of two). NULL: no memory. */
static struct space_ent *space_ent_new(const char *name, size_t len)
{
    struct space_ent *se = calloc(1, sizeof(*se) + len + 1);

    if (se) {
        se->name = (char *)(se + 1);
        memcpy(se->name, name, len);
    }
    return se;
}

static void space_ent_free(struct space_ent *se)
{
    int k;

    if (!se)
        return;
    spacefs_space_clear(&se->sp);
    free(se->runtime_json);
    free(se->info_json);
    for (k = 0; k < 2; k++)
        spacefs_kv_entries_free(se->kv[k].items, se->kv[k].count);
    free(se->last_action);
    free(se);
}

static void ns_ent_free(struct ns_ent *e)
{
    size_t i;

    for (i = 0; i < SPACEFS_NS_MISSES; i++)
        free(e->miss[i]);
    for (i = 0; i < e->count; i++)
        space_ent_free(e->spaces[i]);
    free(e->spaces);
    free(e->name);
    free(e);
}

struct ns_ent *spacefs_ns_find_locked(struct spacefs_fs *fs, const char *ns)
{
    struct ns_ent *e;

    for (e = fs->nss; e; e = e->next)
        if (strcmp(e->name, ns) == 0)
            return e;
    return NULL;
}

static void ns_evict_locked(struct spacefs_fs *fs)
{
    struct ns_ent **pp, **victim = NULL;

    for (pp = &fs->nss; *pp; pp = &(*pp)->next) {
        struct ns_ent *e = *pp;
        if (e->own || e->fetching)
            continue;
        if (!victim || e->listed_ms < (*victim)->listed_ms)
            victim = pp;
    }
    if (victim) {
        struct ns_ent *e = *victim;
        *victim = e->next;
        ns_ent_free(e);
        fs->ns_count--;
    }
}

static struct ns_ent *ns_get_locked(struct spacefs_fs *fs, const char *ns)
{
    struct ns_ent *e = spacefs_ns_find_locked(fs, ns);

    if (e)
        return e;
    if (fs->ns_count >= NS_MAX)
        ns_evict_locked(fs);
    e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(ns))) {
        free(e);
        return NULL;
    }
    e->next = fs->nss;
    fs->nss = e;
    fs->ns_count++;
    return e;
}

static int name_cmp(const void *key, const void *elem)
{
    return strcmp(key, (*(struct space_ent *const *)elem)->name);
}

/* The position of `space` in e's sorted array, or where it would go (*found 0). */
static size_t space_pos_locked(const struct ns_ent *e, const char *space, int *found)
{
    size_t lo = 0, hi = e ? e->count : 0;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(space, e->spaces[mid]->name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static struct space_ent **space_slot_locked(struct ns_ent *e, const char *space)
{
    return e && e->count ? bsearch(space, e->spaces, e->count, sizeof(*e->spaces), name_cmp) : NULL;
}

struct space_ent *spacefs_space_find_locked(struct spacefs_fs *fs, const char *ns,
                                            const char *space)
{
    struct space_ent **slot = space_slot_locked(spacefs_ns_find_locked(fs, ns), space);

    return slot ? *slot : NULL;
}

/* A local insert (mkdir, a lookup past the cap): rare, so a memmove keeps the array sorted. */
static struct space_ent *space_insert_locked(struct ns_ent *e, const char *name)
{
    struct space_ent *se;
    size_t pos;
    int found;

    pos = space_pos_locked(e, name, &found);
    if (found)
        return e->spaces[pos];
    if (e->count == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        struct space_ent **v = realloc(e->spaces, cap * sizeof(*v));
        if (!v)
            return NULL;
        e->spaces = v;
        e->cap = cap;
    }
    if (!(se = space_ent_new(name, strlen(name))))
        return NULL;
    memmove(&e->spaces[pos + 1], &e->spaces[pos], (e->count - pos) * sizeof(*e->spaces));
    e->spaces[pos] = se;
    e->count++;
    return se;
}

static void space_remove_at_locked(struct ns_ent *e, size_t i)
{
    space_ent_free(e->spaces[i]);
    memmove(&e->spaces[i], &e->spaces[i + 1], (e->count - i - 1) * sizeof(*e->spaces));
    e->count--;
}

static int ent_order(const void *a, const void *b)
{
    const struct space_ent *x = *(struct space_ent *const *)a;
    const struct space_ent *y = *(struct space_ent *const *)b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->seen > y->seen) - (x->seen < y->seen);
}

/* A listing made ready for installing, without the lock: one entry per name, sorted. */
struct ns_prepared {
    struct space_ent **v;
    size_t count, cap;
    size_t twins; /* names the Hub sent more than once (pages that shifted while read) */
};

static void prepared_free(struct space_ent **v, size_t count)
{
    size_t i;

    for (i = 0; v && i < count; i++)
        space_ent_free(v[i]);
    free(v);
}

/* The listing's pages as they arrive (list_spaces's callback): each Space is moved into an
 * entry at once, so a listing never exists twice in memory. */
static int ns_prepare_page(struct spacefs_space *items, size_t count, void *payload)
{
    struct ns_prepared *pr = payload;
    int64_t now = spacefs_now_ms();
    size_t i;

    if (pr->count + count > pr->cap) {
        size_t cap = pr->cap ? pr->cap : 1024;
        struct space_ent **v;
        while (cap < pr->count + count)
            cap *= 2;
        if (!(v = realloc(pr->v, cap * sizeof(*v))))
            return -1;
        pr->v = v;
        pr->cap = cap;
    }
    for (i = 0; i < count; i++) {
        const char *slash = items[i].id ? strchr(items[i].id, '/') : NULL;
        const char *name = slash ? slash + 1 : items[i].id;
        struct space_ent *se;
        if (!items[i].id)
            continue;
        if (!(se = space_ent_new(name, strlen(name))))
            return -1;
        se->sp = items[i];
        memset(&items[i], 0, sizeof(items[i]));
        spacefs_word_share(&se->sp.sdk);
        spacefs_word_share(&se->sp.rt.stage);
        spacefs_word_share(&se->sp.rt.hardware_current);
        spacefs_word_share(&se->sp.rt.hardware_requested);
        se->rt_ms = se->sp.has_runtime ? now : 0;
        se->seen = pr->count;
        pr->v[pr->count++] = se;
    }
    return 0;
}

/* Sorts the entries by name and keeps the first of twins: O(n log n) and one pass, never a
 * name against every name. */
static void ns_prepare_finish(struct ns_prepared *pr)
{
    size_t i, n = 0;

    if (!pr->count)
        return;
    qsort(pr->v, pr->count, sizeof(*pr->v), ent_order);
    for (i = 0; i < pr->count; i++) {
        if (n && strcmp(pr->v[n - 1]->name, pr->v[i]->name) == 0) {
            space_ent_free(pr->v[i]);
            pr->twins++;
            continue;
        }
        pr->v[n++] = pr->v[i];
    }
    pr->count = n;
}

/* Installs a prepared listing fetched while the generation was gen0, in one merge of two sorted
 * arrays (linear, under the lock): an entry the Hub lists keeps its cached documents, and its
 * listing data unless it was written locally since gen0 (stamp > gen0); a Space the Hub no longer
 * lists is dropped unless it was created locally since then. What is left over goes to *garbage
 * (freed by the caller after the lock). -ENOMEM leaves e as it was. */
static int ns_install_locked(struct ns_ent *e, struct ns_prepared *pr, uint64_t gen0,
                             struct ns_prepared *garbage)
{
    size_t i = 0, j = 0, k = 0, g = 0, total = e->count + pr->count;
    struct space_ent **merged, **gv;

    merged = malloc((total + 1) * sizeof(*merged));
    gv = malloc((total + 1) * sizeof(*gv));
    if (!merged || !gv) {
        free(merged);
        free(gv);
        return -ENOMEM;
    }
    while (i < e->count || j < pr->count) {
        struct space_ent *old = i < e->count ? e->spaces[i] : NULL;
        struct space_ent *nw = j < pr->count ? pr->v[j] : NULL;
        int c = !old ? 1 : !nw ? -1 : strcmp(old->name, nw->name);
        if (c < 0) { /* no longer listed */
            if (old->stamp > gen0)
                merged[k++] = old;
            else
                gv[g++] = old;
            i++;
        } else if (c > 0) { /* new */
            merged[k++] = nw;
            j++;
        } else { /* both: keep the entry (its caches), take the Hub's data */
            if (old->stamp <= gen0) {
                struct spacefs_space tmp = old->sp;
                old->sp = nw->sp;
                nw->sp = tmp;
                old->rt_ms = nw->rt_ms;
            }
            merged[k++] = old;
            gv[g++] = nw;
            i++, j++;
        }
    }
    free(e->spaces);
    e->spaces = merged;
    e->count = k;
    e->cap = total + 1;
    e->rounds++;
    free(pr->v);
    memset(pr, 0, sizeof(*pr));
    garbage->v = gv;
    garbage->count = g;
    return 0;
}

int spacefs_ns_ensure(struct spacefs_fs *fs, const char *ns)
{
    struct ns_prepared pr = {0}, garbage = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct ns_ent *e;
    uint64_t gen0;
    int own, rc = 0, truncated = 0;

    own = spacefs_ns_is_own(fs, ns); /* before the lock: may call whoami */
    pthread_mutex_lock(&fs->lock);
    for (;;) {
        if (!(e = ns_get_locked(fs, ns))) {
            rc = -ENOMEM;
            goto out;
        }
        e->own = own;
        if (spacefs_fresh(e->listed_ms, fs->cfg.ttl_ms)) {
            fs->ctr.cache_hits++;
            rc = e->exists ? 0 : -ENOENT;
            goto out;
        }
        if (!e->fetching)
            break;
        pthread_cond_wait(&fs->cond, &fs->lock);
    }
    fs->ctr.cache_misses++;
    e->fetching = 1;
    gen0 = e->gen;
    pthread_mutex_unlock(&fs->lock);

    /* fetched and sorted without the lock; only the merge below holds it */
    st = fs->be.ops->list_spaces(fs->be.ctx, ns, fs->cfg.max_spaces, fs->list_cancel,
                                 ns_prepare_page, &pr, &truncated, &err);
    spacefs_count_call(fs, st);
    if (st == SPACEFS_OK)
        ns_prepare_finish(&pr);

    pthread_mutex_lock(&fs->lock);
    e = spacefs_ns_find_locked(fs, ns); /* a fetching entry is never evicted */
    e->fetching = 0;
    pthread_cond_broadcast(&fs->cond);
    if (st != SPACEFS_OK && e->listed_ms && spacefs_stale_ok(st)) {
        spacefs_serve_stale(fs, st, &e->listed_ms, "list Spaces of (serving the last listing)", ns,
                            &err);
        rc = e->exists ? 0 : -ENOENT;
        goto out;
    }
    if (st == SPACEFS_OK && ns_install_locked(e, &pr, gen0, &garbage) < 0)
        st = SPACEFS_E_NOMEM;
    if (st != SPACEFS_OK) {
        rc = spacefs_call_failed(fs, "list Spaces of", ns, st, &err);
        goto out;
    }
    if (truncated && !e->truncated)
        spacefs_log(SPACEFS_WARN,
                    "namespace %s has more than %zu Spaces: listing the first %zu "
                    "(-o max_spaces=N); others are found by name",
                    ns, fs->cfg.max_spaces, fs->cfg.max_spaces);
    if (pr.twins)
        spacefs_log(SPACEFS_DEBUG, "listing of %s: %zu Spaces sent twice, kept once", ns, pr.twins);
    e->truncated = truncated;
    e->listed_ms = spacefs_now_ms();
    e->exists = own || e->count > 0;
    rc = e->exists ? 0 : -ENOENT;
out:
    pthread_mutex_unlock(&fs->lock);
    prepared_free(pr.v, pr.count);
    prepared_free(garbage.v, garbage.count); /* the old entries, freed without the lock */
    return rc;
}

/* Installs *rt (taken: emptied) as se's runtime, fresh from now. */
static void runtime_take_locked(struct space_ent *se, struct spacefs_runtime *rt)
{
    spacefs_runtime_clear(&se->sp.rt);
    se->sp.rt = *rt;
    memset(rt, 0, sizeof(*rt));
    se->sp.has_runtime = 1;
    se->rt_ms = spacefs_now_ms();
}

/* The namespace's generation (bumped by local writes), 0 if it is not cached. */
static uint64_t ns_gen_locked(struct spacefs_fs *fs, const char *ns)
{
    struct ns_ent *e = spacefs_ns_find_locked(fs, ns);

    return e ? e->gen : 0;
}

/* A name looked up past the cap that the Hub did not know within ttl (lock held). */
static int miss_fresh_locked(struct spacefs_fs *fs, const struct ns_ent *e, const char *space)
{
    unsigned i;

    for (i = 0; i < SPACEFS_NS_MISSES; i++)
        if (e->miss[i] && !strcmp(e->miss[i], space) &&
            spacefs_fresh(e->miss_ms[i], fs->cfg.ttl_ms))
            return 1;
    return 0;
}

/* A Space of a namespace whose listing stopped at the cap, found by name: its runtime answers
 * for it, and it joins the cache as if created locally; a 404 is remembered for ttl (a ring of
 * SPACEFS_NS_MISSES names), so repeated lookups of a missing name cost one request. */
static int space_lookup(struct spacefs_fs *fs, const struct node *n)
{
    struct spacefs_runtime rt = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct space_ent *se;
    struct ns_ent *e;
    int missing;

    pthread_mutex_lock(&fs->lock);
    missing = (e = spacefs_ns_find_locked(fs, n->ns)) && miss_fresh_locked(fs, e, n->space);
    if (missing)
        fs->ctr.cache_hits++;
    pthread_mutex_unlock(&fs->lock);
    if (missing)
        return -ENOENT;
    st = fs->be.ops->runtime(fs->be.ctx, n->id, &rt, NULL, &err);
    spacefs_count_call(fs, st);
    if (st == SPACEFS_E_NOT_FOUND) {
        char *name = spacefs_strdup(n->space);
        pthread_mutex_lock(&fs->lock);
        if (name && (e = spacefs_ns_find_locked(fs, n->ns))) {
            unsigned k = e->miss_next++ % SPACEFS_NS_MISSES;
            free(e->miss[k]);
            e->miss[k] = name;
            e->miss_ms[k] = spacefs_now_ms();
            name = NULL;
        }
        pthread_mutex_unlock(&fs->lock);
        free(name);
    }
    if (st != SPACEFS_OK)
        return spacefs_call_failed(fs, "runtime of", n->id, st, &err);
    pthread_mutex_lock(&fs->lock);
    if ((e = spacefs_ns_find_locked(fs, n->ns)) && (se = space_insert_locked(e, n->space))) {
        if (!se->sp.id)
            se->sp.id = spacefs_strdup(n->id);
        se->stamp = ++e->gen;
        runtime_take_locked(se, &rt);
    }
    pthread_mutex_unlock(&fs->lock);
    spacefs_runtime_clear(&rt);
    return 0;
}

int spacefs_space_known(struct spacefs_fs *fs, const struct node *n)
{
    struct ns_ent *e;
    int rc, past_cap;

    if ((rc = spacefs_ns_ensure(fs, n->ns)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    past_cap =
        (e = spacefs_ns_find_locked(fs, n->ns)) && e->truncated && !space_slot_locked(e, n->space);
    pthread_mutex_unlock(&fs->lock);
    return past_cap ? space_lookup(fs, n) : 0;
}

int spacefs_space_ensure(struct spacefs_fs *fs, const struct node *n)
{
    struct spacefs_runtime rt = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct space_ent *se;
    struct ns_ent *e;
    uint64_t gen0;
    int rc;

    if ((rc = spacefs_ns_ensure(fs, n->ns)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    se = spacefs_space_find_locked(fs, n->ns, n->space);
    if (!se && (e = spacefs_ns_find_locked(fs, n->ns)) && e->truncated) {
        pthread_mutex_unlock(&fs->lock);
        return space_lookup(fs, n); /* past the cap: by name */
    }
    if (!se || (se->sp.has_runtime && spacefs_fresh(se->rt_ms, fs->cfg.ttl_ms))) {
        pthread_mutex_unlock(&fs->lock);
        return se ? 0 : -ENOENT;
    }
    fs->ctr.cache_misses++;
    gen0 = ns_gen_locked(fs, n->ns);
    pthread_mutex_unlock(&fs->lock);

    /* listed, but its runtime was invalidated by an action or it was just created */
    st = fs->be.ops->runtime(fs->be.ctx, n->id, &rt, NULL, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK && spacefs_stale_ok(st)) {
        int have;
        pthread_mutex_lock(&fs->lock);
        se = spacefs_space_find_locked(fs, n->ns, n->space);
        if ((have = se && se->sp.has_runtime)) /* the last known runtime */
            spacefs_serve_stale(fs, st, &se->rt_ms, "runtime of (serving the last one)", n->id,
                                &err);
        pthread_mutex_unlock(&fs->lock);
        if (have)
            return 0;
    }
    if (st != SPACEFS_OK)
        return spacefs_call_failed(fs, "runtime of", n->id, st, &err);
    pthread_mutex_lock(&fs->lock);
    /* a local write since the GET began (a restart's BUILDING) is newer than its answer */
    if ((se = spacefs_space_find_locked(fs, n->ns, n->space)) && se->stamp <= gen0) {
        runtime_take_locked(se, &rt);
    }
    pthread_mutex_unlock(&fs->lock);
    spacefs_runtime_clear(&rt);
    return se ? 0 : -ENOENT;
}

/* Stamps a Space as written locally now; returns its entry (NULL if not cached). */
static struct space_ent *space_touch_locked(struct spacefs_fs *fs, const struct node *n)
{
    struct ns_ent *e = spacefs_ns_find_locked(fs, n->ns);
    struct space_ent **slot = space_slot_locked(e, n->space);

    if (!slot)
        return NULL;
    (*slot)->stamp = ++e->gen;
    return *slot;
}

void spacefs_space_runtime_update(struct spacefs_fs *fs, const struct node *n,
                                  struct spacefs_runtime *rt)
{
    struct space_ent *se;

    pthread_mutex_lock(&fs->lock);
    if ((se = space_touch_locked(fs, n))) {
        runtime_take_locked(se, rt);
        se->runtime_json_ms = 0;
    }
    pthread_mutex_unlock(&fs->lock);
    spacefs_runtime_clear(rt);
}

void spacefs_space_runtime_invalidate(struct spacefs_fs *fs, const struct node *n)
{
    struct space_ent *se;

    pthread_mutex_lock(&fs->lock);
    if ((se = space_touch_locked(fs, n))) {
        se->rt_ms = 0;
        se->runtime_json_ms = 0;
        se->info_json_ms = 0;
    }
    pthread_mutex_unlock(&fs->lock);
}

void spacefs_space_set_action(struct spacefs_fs *fs, const struct node *n, const char *line)
{
    struct space_ent *se;
    char *copy = spacefs_strdup(line);

    pthread_mutex_lock(&fs->lock);
    if ((se = spacefs_space_find_locked(fs, n->ns, n->space))) {
        free(se->last_action);
        se->last_action = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&fs->lock);
    free(copy);
}

void spacefs_space_add_local(struct spacefs_fs *fs, const char *ns, const char *space)
{
    struct ns_ent *e;
    struct space_ent *se;

    pthread_mutex_lock(&fs->lock);
    if ((e = ns_get_locked(fs, ns)) && !space_slot_locked(e, space) &&
        (se = space_insert_locked(e, space))) {
        se->sp.id = spacefs_asprintf("%s/%s", ns, space);
        se->stamp = ++e->gen;
        e->exists = 1;
    }
    pthread_mutex_unlock(&fs->lock);
}

void spacefs_space_remove_local(struct spacefs_fs *fs, const char *ns, const char *space)
{
    struct ns_ent *e;
    size_t i;
    int found;

    pthread_mutex_lock(&fs->lock);
    if ((e = spacefs_ns_find_locked(fs, ns))) {
        e->gen++;
        i = space_pos_locked(e, space, &found);
        if (found)
            space_remove_at_locked(e, i);
        e->listed_ms = 0; /* the next look relists */
    }
    pthread_mutex_unlock(&fs->lock);
}

int spacefs_space_json(struct spacefs_fs *fs, const struct node *n, int runtime, char **out)
{
    struct spacefs_runtime rt = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct space_ent *se;
    char *json = NULL;
    uint64_t gen0;
    int rc;

    *out = NULL;
    if ((rc = spacefs_ns_ensure(fs, n->ns)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    se = spacefs_space_find_locked(fs, n->ns, n->space);
    if (!se) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    if (spacefs_fresh(runtime ? se->runtime_json_ms : se->info_json_ms, fs->cfg.ttl_ms)) {
        fs->ctr.cache_hits++;
        *out = spacefs_strdup(runtime ? se->runtime_json : se->info_json);
        pthread_mutex_unlock(&fs->lock);
        return *out ? 0 : -ENOMEM;
    }
    fs->ctr.cache_misses++;
    gen0 = ns_gen_locked(fs, n->ns);
    pthread_mutex_unlock(&fs->lock);

    if (runtime)
        st = fs->be.ops->runtime(fs->be.ctx, n->id, &rt, &json, &err);
    else
        st = fs->be.ops->space_info(fs->be.ctx, n->id, &json, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK && spacefs_stale_ok(st)) {
        pthread_mutex_lock(&fs->lock);
        se = spacefs_space_find_locked(fs, n->ns, n->space);
        if (se && (runtime ? se->runtime_json : se->info_json)) { /* the last known document */
            spacefs_serve_stale(fs, st, runtime ? &se->runtime_json_ms : &se->info_json_ms,
                                runtime ? "runtime of (serving the last one)"
                                        : "info of (serving the last one)",
                                n->id, &err);
            *out = spacefs_strdup(runtime ? se->runtime_json : se->info_json);
            pthread_mutex_unlock(&fs->lock);
            return *out ? 0 : -ENOMEM;
        }
        pthread_mutex_unlock(&fs->lock);
    }
    if (st != SPACEFS_OK)
        return spacefs_call_failed(fs, runtime ? "runtime of" : "info of", n->id, st, &err);

    pthread_mutex_lock(&fs->lock);
    /* the caller gets what it asked for; the cache keeps what a local write since installed */
    if ((se = spacefs_space_find_locked(fs, n->ns, n->space)) && se->stamp <= gen0) {
        char **slot = runtime ? &se->runtime_json : &se->info_json;
        free(*slot);
        *slot = spacefs_strdup(json);
        if (runtime) {
            runtime_take_locked(se, &rt);
            se->runtime_json_ms = se->rt_ms;
        } else {
            se->info_json_ms = spacefs_now_ms();
        }
    }
    pthread_mutex_unlock(&fs->lock);
    spacefs_runtime_clear(&rt);
    *out = json;
    return 0;
}

int spacefs_flavor_known(struct spacefs_fs *fs, const char *flavor)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    char **list = NULL;
    size_t count = 0, i;
    int found = 0;

    pthread_mutex_lock(&fs->lock);
    if (!spacefs_fresh(fs->flavors_ms, fs->cfg.flavors_ttl_ms)) {
        fs->ctr.cache_misses++;
        pthread_mutex_unlock(&fs->lock);
        st = fs->be.ops->list_flavors(fs->be.ctx, &list, &count, &err);
        spacefs_count_call(fs, st);
        if (st != SPACEFS_OK)
            return spacefs_call_failed(fs, "list flavors", NULL, st, &err);
        pthread_mutex_lock(&fs->lock);
        spacefs_strv_free(fs->flavors, fs->flavors_count);
        fs->flavors = list;
        fs->flavors_count = count;
        fs->flavors_ms = spacefs_now_ms();
    } else {
        fs->ctr.cache_hits++;
    }
    for (i = 0; i < fs->flavors_count && !found; i++)
        found = strcmp(fs->flavors[i], flavor) == 0;
    pthread_mutex_unlock(&fs->lock);
    return found;
}

void spacefs_cache_free(struct spacefs_fs *fs)
{
    while (fs->nss) {
        struct ns_ent *e = fs->nss;
        fs->nss = e->next;
        ns_ent_free(e);
    }
    spacefs_strv_free(fs->flavors, fs->flavors_count);
    spacefs_whoami_clear(&fs->who);
}

void spacefs_fs_counters(struct spacefs_fs *fs, struct spacefs_counters *out)
{
    pthread_mutex_lock(&fs->lock);
    *out = fs->ctr;
    pthread_mutex_unlock(&fs->lock);
}

/* ---- secrets and variables: entries ---------------------------------------------------- */
void spacefs_kv_ent_clear(struct kv_ent *k)
{
    free(k->key);
    if (k->value) {
        explicit_bzero(k->value, strlen(k->value));
        free(k->value);
    }
    memset(k, 0, sizeof(*k));
}

void spacefs_kv_entries_free(struct kv_ent *items, size_t count)
{
    size_t i;

    for (i = 0; items && i < count; i++)
        spacefs_kv_ent_clear(&items[i]);
    free(items);
}
