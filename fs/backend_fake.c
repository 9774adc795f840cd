/* The in-memory Hub for unit tests (see backend_fake.h). One mutex guards everything; scripted
 * delays sleep without it, so a slow call for one Space does not hold up another. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend_fake.h"

#define FAKE_MAX_SPACES 64
#define FAKE_MAX_KV     32
#define FAKE_MAX_LINES  256

struct fake_kv {
    char key[129];
    char *value;
};

struct fake_space {
    char id[200];
    char stage[32];
    char hw[32];
    char hw_req[32];
    int64_t sleep;
    struct fake_kv kv[2][FAKE_MAX_KV];
    char *lines[2][FAKE_MAX_LINES];
    int nlines[2];
};

struct fake_fault {
    enum spacefs_status st;
    long http;
    int count;
};

struct fake_delay {
    char id[200];
    unsigned ms;
};

struct spacefs_fake {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* log lines appended */
    char name[64], role[16], org[64];
    struct fake_space spaces[FAKE_MAX_SPACES];
    int nspaces;
    unsigned page_size;
    unsigned long counts[SPACEFS_FAKE_OP_COUNT];
    struct fake_fault faults[SPACEFS_FAKE_OP_COUNT];
    struct fake_delay delays[SPACEFS_FAKE_OP_COUNT];
    char *last_visit;
    /* a generated namespace (spacefs_fake_bulk) */
    char bulk_ns[64];
    size_t bulk_count, bulk_page, bulk_repeat;
};

struct fake_cancel {
    atomic_int set; /* written by the canceller, read by the following thread */
};

struct spacefs_fake *spacefs_fake_new(void)
{
    struct spacefs_fake *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    spacefs_fake_whoami(f, "alice", "write", "acme");
    f->page_size = 2;
    return f;
}

/* Replaces kv's value (the old one wiped); a NULL value leaves none. */
static void kv_put(struct fake_kv *kv, const char *value, size_t len)
{
    if (kv->value) {
        explicit_bzero(kv->value, strlen(kv->value));
        free(kv->value);
    }
    kv->value = value ? strndup(value, len) : NULL;
}

/* Frees what s holds (its values wiped) and empties it. */
static void space_clear(struct fake_space *s)
{
    int k, j;

    for (k = 0; k < 2; k++) {
        for (j = 0; j < FAKE_MAX_KV; j++)
            kv_put(&s->kv[k][j], NULL, 0);
        for (j = 0; j < s->nlines[k]; j++)
            free(s->lines[k][j]);
    }
    memset(s, 0, sizeof(*s));
}

/* Empties s and names it, in `stage` on `hardware` (requested and current) and `sleep`. */
static void space_init(struct fake_space *s, const char *id, const char *stage,
                       const char *hardware, int64_t sleep)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->stage, sizeof(s->stage), "%s", stage);
    snprintf(s->hw, sizeof(s->hw), "%s", hardware ? hardware : "");
    snprintf(s->hw_req, sizeof(s->hw_req), "%s", hardware ? hardware : "");
    s->sleep = sleep;
}

void spacefs_fake_free(struct spacefs_fake *f)
{
    int i;

    if (!f)
        return;
    for (i = 0; i < f->nspaces; i++)
        space_clear(&f->spaces[i]);
    free(f->last_visit);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void spacefs_fake_whoami(struct spacefs_fake *f, const char *name, const char *role,
                         const char *org)
{
    pthread_mutex_lock(&f->lock);
    snprintf(f->name, sizeof(f->name), "%s", name ? name : "");
    snprintf(f->role, sizeof(f->role), "%s", role ? role : "");
    snprintf(f->org, sizeof(f->org), "%s", org ? org : "");
    pthread_mutex_unlock(&f->lock);
}

static struct fake_space *find(struct spacefs_fake *f, const char *id)
{
    int i;

    for (i = 0; i < f->nspaces; i++)
        if (strcmp(f->spaces[i].id, id) == 0)
            return &f->spaces[i];
    return NULL;
}

void spacefs_fake_add_space(struct spacefs_fake *f, const char *id, const char *stage,
                            const char *hardware, int64_t sleep)
{
    pthread_mutex_lock(&f->lock);
    if (f->nspaces < FAKE_MAX_SPACES)
        space_init(&f->spaces[f->nspaces++], id, stage, hardware, sleep);
    pthread_mutex_unlock(&f->lock);
}

void spacefs_fake_bulk(struct spacefs_fake *f, const char *ns, size_t count, size_t page,
                       size_t repeat)
{
    pthread_mutex_lock(&f->lock);
    snprintf(f->bulk_ns, sizeof(f->bulk_ns), "%s", ns);
    f->bulk_count = count;
    f->bulk_page = page ? page : 1;
    f->bulk_repeat = repeat < f->bulk_page ? repeat : f->bulk_page - 1;
    pthread_mutex_unlock(&f->lock);
}

static struct fake_kv *kv_slot(struct fake_space *s, int k, const char *key, int create)
{
    int j;

    for (j = 0; j < FAKE_MAX_KV; j++)
        if (s->kv[k][j].key[0] && strcmp(s->kv[k][j].key, key) == 0)
            return &s->kv[k][j];
    for (j = 0; create && j < FAKE_MAX_KV; j++)
        if (!s->kv[k][j].key[0]) {
            snprintf(s->kv[k][j].key, sizeof(s->kv[k][j].key), "%s", key);
            return &s->kv[k][j];
        }
    return NULL;
}

void spacefs_fake_set_kv(struct spacefs_fake *f, const char *id, int secret, const char *key,
                         const char *value)
{
    struct fake_space *s;
    struct fake_kv *kv;

    pthread_mutex_lock(&f->lock);
    if ((s = find(f, id)) && (kv = kv_slot(s, secret ? 0 : 1, key, 1)))
        kv_put(kv, value, strlen(value));
    pthread_mutex_unlock(&f->lock);
}

char *spacefs_fake_get_kv(struct spacefs_fake *f, const char *id, int secret, const char *key)
{
    struct fake_space *s;
    struct fake_kv *kv;
    char *v = NULL;

    pthread_mutex_lock(&f->lock);
    if ((s = find(f, id)) && (kv = kv_slot(s, secret ? 0 : 1, key, 0)))
        v = strdup(kv->value ? kv->value : "");
    pthread_mutex_unlock(&f->lock);
    return v;
}

void spacefs_fake_log_append(struct spacefs_fake *f, const char *id, int run, const char *line)
{
    struct fake_space *s;

    pthread_mutex_lock(&f->lock);
    if ((s = find(f, id)) && s->nlines[run] < FAKE_MAX_LINES)
        s->lines[run][s->nlines[run]++] = strdup(line);
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

void spacefs_fake_fault(struct spacefs_fake *f, enum spacefs_fake_op op, enum spacefs_status st,
                        long http, int count)
{
    pthread_mutex_lock(&f->lock);
    f->faults[op].st = st;
    f->faults[op].http = http;
    f->faults[op].count = count;
    pthread_mutex_unlock(&f->lock);
}

void spacefs_fake_delay(struct spacefs_fake *f, enum spacefs_fake_op op, const char *id,
                        unsigned ms)
{
    pthread_mutex_lock(&f->lock);
    snprintf(f->delays[op].id, sizeof(f->delays[op].id), "%s", id ? id : "");
    f->delays[op].ms = ms;
    pthread_mutex_unlock(&f->lock);
}

unsigned long spacefs_fake_count(struct spacefs_fake *f, enum spacefs_fake_op op)
{
    unsigned long n;

    pthread_mutex_lock(&f->lock);
    n = f->counts[op];
    pthread_mutex_unlock(&f->lock);
    return n;
}

unsigned long spacefs_fake_total(struct spacefs_fake *f)
{
    unsigned long n = 0;
    int i;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < SPACEFS_FAKE_OP_COUNT; i++)
        n += f->counts[i];
    pthread_mutex_unlock(&f->lock);
    return n;
}

void spacefs_fake_reset_counts(struct spacefs_fake *f)
{
    pthread_mutex_lock(&f->lock);
    memset(f->counts, 0, sizeof(f->counts));
    pthread_mutex_unlock(&f->lock);
}

char *spacefs_fake_last_visit(struct spacefs_fake *f)
{
    char *v;

    pthread_mutex_lock(&f->lock);
    v = f->last_visit ? strdup(f->last_visit) : NULL;
    pthread_mutex_unlock(&f->lock);
    return v;
}

/* ---- the backend ops -------------------------------------------------------------------- */
static void set_err(struct spacefs_error *err, long http, const char *msg)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->http_status = http;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

/* Sleeps op's scripted delay if it applies to id, without f->lock (held on entry and exit). */
static void scripted_delay(struct spacefs_fake *f, enum spacefs_fake_op op, const char *id)
{
    unsigned ms = f->delays[op].ms;

    if (!ms || (f->delays[op].id[0] && (!id || strcmp(f->delays[op].id, id))))
        return;
    pthread_mutex_unlock(&f->lock);
    usleep(ms * 1000);
    pthread_mutex_lock(&f->lock);
}

/* Counts the call, applies a scripted delay and fault. Returns with f->lock held. */
static enum spacefs_status enter_d(struct spacefs_fake *f, enum spacefs_fake_op op, const char *id,
                                   unsigned long weight, struct spacefs_error *err, int delay)
{
    pthread_mutex_lock(&f->lock);
    f->counts[op] += weight;
    if (delay)
        scripted_delay(f, op, id);
    if (f->faults[op].count != 0) {
        if (f->faults[op].count > 0)
            f->faults[op].count--;
        set_err(err, f->faults[op].http, "scripted fault");
        return f->faults[op].st;
    }
    return SPACEFS_OK;
}

static enum spacefs_status enter(struct spacefs_fake *f, enum spacefs_fake_op op, const char *id,
                                 unsigned long weight, struct spacefs_error *err)
{
    return enter_d(f, op, id, weight, err, 1);
}

static enum spacefs_status leave(struct spacefs_fake *f, enum spacefs_status st)
{
    pthread_mutex_unlock(&f->lock);
    return st;
}

static int may_write(struct spacefs_fake *f, const char *id)
{
    size_t n = strlen(f->name), o = strlen(f->org);

    if (strcmp(f->role, "read") == 0)
        return 0;
    return (n && !strncmp(id, f->name, n) && id[n] == '/') ||
           (o && !strncmp(id, f->org, o) && id[o] == '/');
}

static void runtime_of(struct spacefs_runtime *rt, const struct fake_space *s)
{
    memset(rt, 0, sizeof(*rt));
    rt->stage = strdup(s->stage);
    rt->hardware_current = s->hw[0] ? strdup(s->hw) : NULL;
    rt->hardware_requested = s->hw_req[0] ? strdup(s->hw_req) : NULL;
    rt->sleep_seconds = s->sleep;
}

static char *runtime_json(const struct fake_space *s)
{
    char *out = NULL;

    if (asprintf(&out,
                 "{\n  \"stage\": \"%s\",\n  \"hardware\": {\n    \"current\": \"%s\",\n"
                 "    \"requested\": \"%s\"\n  },\n  \"gcTimeout\": %lld\n}",
                 s->stage, s->hw, s->hw_req, (long long)s->sleep) < 0)
        return NULL;
    return out;
}

static enum spacefs_status f_whoami(void *ctx, struct spacefs_whoami *out,
                                    struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    enum spacefs_status st = enter(f, SPACEFS_FAKE_WHOAMI, NULL, 1, err);
    char *orgs[1] = {f->org};

    memset(out, 0, sizeof(*out));
    if (st == SPACEFS_OK && spacefs_whoami_set(out, f->name, f->role, orgs, f->org[0] ? 1 : 0) < 0)
        st = SPACEFS_E_NOMEM;
    return leave(f, st);
}

/* The bulk namespace's listing: page k starts at k * (page - repeat), so each page after the
 * first repeats the last `repeat` Spaces of the one before; stops after max entries (0: all).
 * Lock held; *out_pages gets the pages it took. */
static int bulk_list(struct spacefs_fake *f, size_t max, struct spacefs_space **out,
                     size_t *out_count, size_t *out_pages, int *out_truncated)
{
    size_t start = 0, step = f->bulk_page - f->bulk_repeat, n = 0, cap = 0, i;
    struct spacefs_space *v = NULL;

    *out_pages = 0;
    for (;;) {
        size_t end = start + f->bulk_page < f->bulk_count ? start + f->bulk_page : f->bulk_count;
        if (max && n >= max) {
            *out_truncated = 1;
            break;
        }
        ++*out_pages;
        for (i = start; i < end && (!max || n < max); i++) {
            if (n == cap) {
                struct spacefs_space *nv;
                cap = cap ? cap * 2 : 1024;
                if (!(nv = realloc(v, cap * sizeof(*v))))
                    goto nomem;
                v = nv;
            }
            memset(&v[n], 0, sizeof(v[n]));
            if (asprintf(&v[n].id, "%s/space-%06zu", f->bulk_ns, i) < 0) {
                v[n].id = NULL;
                goto nomem;
            }
            n++;
            v[n - 1].sdk = strdup("gradio");
            v[n - 1].has_runtime = 1;
            v[n - 1].rt.stage = strdup("RUNNING");
            v[n - 1].rt.hardware_current = strdup("cpu-basic");
        }
        if (i < end)
            *out_truncated = 1;
        if (end >= f->bulk_count || i < end)
            break;
        start += step;
    }
    *out = v;
    *out_count = n;
    return 0;
nomem:
    spacefs_spaces_free(v, n);
    return -1;
}

/* The whole listing as one array (*out new), as the Hub would send it over its pages. */
static enum spacefs_status list_all(struct spacefs_fake *f, const char *author, size_t max,
                                    void *cancel, struct spacefs_space **out, size_t *out_count,
                                    int *out_truncated, struct spacefs_error *err)
{
    size_t n = 0, alen = strlen(author), pages;
    enum spacefs_status st;
    int i;

    *out = NULL;
    *out_count = 0;
    *out_truncated = 0;
    pthread_mutex_lock(&f->lock);
    if (f->bulk_count && !strcmp(author, f->bulk_ns)) {
        i = bulk_list(f, max, out, out_count, &pages, out_truncated);
        pthread_mutex_unlock(&f->lock);
        if (i < 0)
            return SPACEFS_E_NOMEM;
        if ((st = enter_d(f, SPACEFS_FAKE_LIST, NULL, pages, err, 0)) == SPACEFS_OK)
            goto delay;
        spacefs_spaces_free(*out, *out_count);
        *out = NULL;
        *out_count = 0;
        return leave(f, st);
    }
    for (i = 0; i < f->nspaces; i++)
        n += !strncmp(f->spaces[i].id, author, alen) && f->spaces[i].id[alen] == '/';
    if (max && n > max) {
        n = max;
        *out_truncated = 1;
    }
    pages = n == 0 ? 1 : (n + f->page_size - 1) / f->page_size;
    pthread_mutex_unlock(&f->lock);
    if ((st = enter_d(f, SPACEFS_FAKE_LIST, NULL, pages, err, 0)) != SPACEFS_OK)
        return leave(f, st);
    *out = calloc(n + 1, sizeof(**out));
    for (i = 0; *out && i < f->nspaces && *out_count < n; i++) {
        struct fake_space *s = &f->spaces[i];
        struct spacefs_space *sp;
        if (strncmp(s->id, author, alen) || s->id[alen] != '/')
            continue;
        sp = &(*out)[(*out_count)++];
        sp->id = strdup(s->id);
        sp->sdk = strdup("docker");
        sp->last_modified = 1700000000;
        if (asprintf(&sp->url, "https://%s.fake.space", s->id + alen + 1) < 0)
            sp->url = NULL;
        sp->has_runtime = 1;
        runtime_of(&sp->rt, s);
    }
delay:
    /* the delay comes after the snapshot: a slow listing returns what was true when it began;
     * `cancel` ends it early, like the Hub backend between pages */
    if (f->delays[SPACEFS_FAKE_LIST].ms) {
        unsigned ms = f->delays[SPACEFS_FAKE_LIST].ms, slept;
        pthread_mutex_unlock(&f->lock);
        for (slept = 0;
             slept < ms && !(cancel && atomic_load(&((struct fake_cancel *)cancel)->set));
             slept += 10)
            usleep(10 * 1000);
        pthread_mutex_lock(&f->lock);
    }
    if (cancel && atomic_load(&((struct fake_cancel *)cancel)->set)) {
        spacefs_spaces_free(*out, *out_count);
        *out = NULL;
        *out_count = 0;
        return leave(f, SPACEFS_E_CANCELLED);
    }
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_list(void *ctx, const char *author, size_t max, void *cancel,
                                  spacefs_spaces_fn fn, void *payload, int *out_truncated,
                                  struct spacefs_error *err)
{
    struct spacefs_space *v = NULL;
    size_t n = 0;
    enum spacefs_status st = list_all(ctx, author, max, cancel, &v, &n, out_truncated, err);

    if (st == SPACEFS_OK && n && fn(v, n, payload) < 0)
        st = SPACEFS_E_NOMEM;
    spacefs_spaces_free(v, n);
    return st;
}

static enum spacefs_status f_info(void *ctx, const char *id, char **out_json,
                                  struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    enum spacefs_status st = enter(f, SPACEFS_FAKE_INFO, id, 1, err);
    struct fake_space *s;

    *out_json = NULL;
    if (st != SPACEFS_OK)
        return leave(f, st);
    if (!(s = find(f, id)))
        return leave(f, SPACEFS_E_NOT_FOUND);
    if (asprintf(out_json, "{\n  \"id\": \"%s\",\n  \"sdk\": \"docker\"\n}", s->id) < 0)
        return leave(f, SPACEFS_E_NOMEM);
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_runtime(void *ctx, const char *id, struct spacefs_runtime *out,
                                     char **out_json, struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    enum spacefs_status st = enter_d(f, SPACEFS_FAKE_RUNTIME, id, 1, err, 0);
    struct fake_space *s;

    if (st != SPACEFS_OK)
        return leave(f, st);
    if (!(s = find(f, id))) {
        size_t idx, blen = strlen(f->bulk_ns);
        char tail;
        if (!f->bulk_count || strncmp(id, f->bulk_ns, blen) || id[blen] != '/' ||
            sscanf(id + blen + 1, "space-%zu%c", &idx, &tail) != 1 || idx >= f->bulk_count)
            return leave(f, SPACEFS_E_NOT_FOUND);
        if (out) {
            memset(out, 0, sizeof(*out));
            out->stage = strdup("RUNNING");
            out->hardware_current = strdup("cpu-basic");
        }
        if (out_json)
            *out_json = strdup("{\n  \"stage\": \"RUNNING\"\n}");
        return leave(f, SPACEFS_OK);
    }
    if (out)
        runtime_of(out, s);
    if (out_json)
        *out_json = runtime_json(s);
    /* the delay comes after the snapshot: a slow GET returns what was true when it began */
    scripted_delay(f, SPACEFS_FAKE_RUNTIME, id);
    return leave(f, SPACEFS_OK);
}

/* Shared by the lifecycle calls: checks and returns the Space, lock held. */
static enum spacefs_status lifecycle(struct spacefs_fake *f, enum spacefs_fake_op op,
                                     const char *id, struct fake_space **out,
                                     struct spacefs_error *err)
{
    enum spacefs_status st = enter(f, op, id, 1, err);

    *out = NULL;
    if (st != SPACEFS_OK)
        return st;
    if (!(*out = find(f, id)))
        return SPACEFS_E_NOT_FOUND;
    if (!may_write(f, id)) {
        set_err(err, 403, "You don't have the rights to manage this Space");
        *out = NULL;
        return SPACEFS_E_FORBIDDEN;
    }
    return SPACEFS_OK;
}

static enum spacefs_status f_lifecycle(void *ctx, const char *id,
                                       const struct spacefs_lifecycle *lc,
                                       struct spacefs_runtime *out, struct spacefs_error *err)
{
    static const enum spacefs_fake_op ops[] = {[SPACEFS_RESTART] = SPACEFS_FAKE_RESTART,
                                               [SPACEFS_REBUILD] = SPACEFS_FAKE_RESTART,
                                               [SPACEFS_PAUSE] = SPACEFS_FAKE_PAUSE,
                                               [SPACEFS_HARDWARE] = SPACEFS_FAKE_HARDWARE,
                                               [SPACEFS_SLEEPTIME] = SPACEFS_FAKE_SLEEPTIME};
    struct spacefs_fake *f = ctx;
    struct fake_space *s;
    enum spacefs_status st = lifecycle(f, ops[lc->action], id, &s, err);

    if (st != SPACEFS_OK)
        return leave(f, st);
    switch (lc->action) {
    case SPACEFS_RESTART:
    case SPACEFS_REBUILD:
        snprintf(s->stage, sizeof(s->stage), "BUILDING");
        break;
    case SPACEFS_PAUSE:
        snprintf(s->stage, sizeof(s->stage), "PAUSED");
        break;
    case SPACEFS_HARDWARE:
        snprintf(s->hw_req, sizeof(s->hw_req), "%s", lc->flavor);
        snprintf(s->hw, sizeof(s->hw), "%s", lc->flavor);
        break;
    case SPACEFS_SLEEPTIME:
        s->sleep = lc->seconds;
        break;
    }
    if (out)
        runtime_of(out, s);
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_flavors(void *ctx, char ***out, size_t *out_count,
                                     struct spacefs_error *err)
{
    static const char *const names[] = {"cpu-basic", "cpu-upgrade", "t4-small", "a10g-large"};
    struct spacefs_fake *f = ctx;
    enum spacefs_status st = enter(f, SPACEFS_FAKE_FLAVORS, NULL, 1, err);
    size_t i;

    *out = NULL;
    *out_count = 0;
    if (st != SPACEFS_OK)
        return leave(f, st);
    if ((*out = calloc(4, sizeof(char *))))
        for (i = 0; i < 4; i++)
            (*out)[(*out_count)++] = strdup(names[i]);
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_visit(void *ctx, const char *id, const char *url, long *out_http,
                                   struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    enum spacefs_status st = enter(f, SPACEFS_FAKE_VISIT, NULL, 1, err);
    int i;

    if (st != SPACEFS_OK)
        return leave(f, st);
    free(f->last_visit);
    f->last_visit = strdup(url);
    *out_http = 200;
    for (i = 0; i < f->nspaces; i++) {
        const char *name = strchr(f->spaces[i].id, '/') + 1;
        char *u = NULL;
        if (asprintf(&u, "https://%s.fake.space", name) >= 0 && strcmp(u, url) == 0 &&
            strcmp(f->spaces[i].stage, "STOPPED") == 0)
            snprintf(f->spaces[i].stage, sizeof(f->spaces[i].stage), "APP_STARTING");
        free(u);
    }
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_kv_list(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                     struct spacefs_kv **out, size_t *out_count,
                                     struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    struct fake_space *s;
    enum spacefs_status st = lifecycle(f, SPACEFS_FAKE_KV_LIST, id, &s, err);
    int j;

    *out = NULL;
    *out_count = 0;
    if (st != SPACEFS_OK)
        return leave(f, st);
    *out = calloc(FAKE_MAX_KV, sizeof(**out));
    for (j = 0; *out && j < FAKE_MAX_KV; j++) {
        struct fake_kv *kv = &s->kv[kind][j];
        if (!kv->key[0])
            continue;
        (*out)[*out_count].key = strdup(kv->key);
        if (kind == SPACEFS_KV_VARIABLES)
            (*out)[*out_count].value = strdup(kv->value ? kv->value : "");
        (*out_count)++;
    }
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_kv_set(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                    const char *key, const char *value, size_t len,
                                    struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    struct fake_space *s;
    enum spacefs_status st = lifecycle(f, SPACEFS_FAKE_KV_SET, id, &s, err);
    struct fake_kv *kv;

    if (st != SPACEFS_OK)
        return leave(f, st);
    if (!(kv = kv_slot(s, kind, key, 1)))
        return leave(f, SPACEFS_E_TOO_BIG);
    kv_put(kv, value, len);
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_kv_delete(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                       const char *key, struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    struct fake_space *s;
    enum spacefs_status st = lifecycle(f, SPACEFS_FAKE_KV_DELETE, id, &s, err);
    struct fake_kv *kv;

    if (st == SPACEFS_OK && (kv = kv_slot(s, kind, key, 0))) {
        kv_put(kv, NULL, 0);
        kv->key[0] = '\0';
    }
    return leave(f, st);
}

/* Like the Hub's SSE stream: replays the log, then waits for new lines until cancelled. Line
 * i carries timestamp 1000 + i so that a reconnect can be deduplicated. */
static enum spacefs_status f_logs_follow(void *ctx, const char *id, enum spacefs_log_kind kind,
                                         spacefs_line_fn on_line, void *payload, void *cancel,
                                         struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    struct fake_cancel *c = cancel;
    struct fake_space *s;
    enum spacefs_status st = lifecycle(f, SPACEFS_FAKE_LOGS_FOLLOW, id, &s, err);
    int next = 0;

    if (st != SPACEFS_OK)
        return leave(f, st);
    /* the stream is open (as the Hub backend says when its headers arrive) */
    pthread_mutex_unlock(&f->lock);
    if (on_line(NULL, 0, 0, payload))
        return SPACEFS_E_CANCELLED;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        struct timespec ts;
        while (next < s->nlines[kind]) {
            char *line = strdup(s->lines[kind][next]);
            int stop;
            next++;
            pthread_mutex_unlock(&f->lock);
            stop = line ? on_line(line, strlen(line), 1000 + next - 1, payload) : 0;
            free(line);
            pthread_mutex_lock(&f->lock);
            if (stop)
                return leave(f, SPACEFS_E_CANCELLED);
        }
        if (atomic_load(&c->set))
            return leave(f, SPACEFS_E_CANCELLED);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    }
}

static void *f_cancel_new(void *ctx)
{
    struct fake_cancel *c = calloc(1, sizeof(*c));

    (void)ctx;
    if (c)
        atomic_init(&c->set, 0);
    return c;
}

static void f_cancel_trigger(void *cancel)
{
    atomic_store(&((struct fake_cancel *)cancel)->set, 1);
}

static void f_cancel_free(void *cancel)
{
    free(cancel);
}

static enum spacefs_status f_create(void *ctx, const char *id, const char *sdk, int is_private,
                                    struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    enum spacefs_status st = enter(f, SPACEFS_FAKE_CREATE, id, 1, err);
    struct fake_space *s;

    (void)sdk;
    (void)is_private;
    if (st != SPACEFS_OK)
        return leave(f, st);
    if (!may_write(f, id))
        return leave(f, SPACEFS_E_FORBIDDEN);
    if (find(f, id)) {
        set_err(err, 409, "You already created this space repo");
        return leave(f, SPACEFS_E_CONFLICT);
    }
    if (f->nspaces == FAKE_MAX_SPACES)
        return leave(f, SPACEFS_E_TOO_BIG);
    s = &f->spaces[f->nspaces++];
    space_init(s, id, "BUILDING", NULL, 172800);
    snprintf(s->hw_req, sizeof(s->hw_req), "cpu-basic"); /* requested, none running yet */
    return leave(f, SPACEFS_OK);
}

static enum spacefs_status f_delete(void *ctx, const char *id, struct spacefs_error *err)
{
    struct spacefs_fake *f = ctx;
    struct fake_space *s;
    enum spacefs_status st = lifecycle(f, SPACEFS_FAKE_DELETE, id, &s, err);

    if (st == SPACEFS_OK) {
        size_t i = (size_t)(s - f->spaces);
        space_clear(s);
        memmove(s, s + 1, (size_t)(f->nspaces - 1 - (int)i) * sizeof(*s));
        f->nspaces--;
    }
    return leave(f, st);
}

static void f_budget(void *ctx, struct spacefs_budget *out)
{
    struct spacefs_fake *f = ctx;

    memset(out, 0, sizeof(*out));
    out->requests = spacefs_fake_total(f);
    out->ratelimit_valid = 1;
    out->ratelimit_remaining = 1000;
    out->ratelimit_reset_seconds = 300;
}

static const char *f_endpoint(void *ctx)
{
    (void)ctx;
    return "fake://hub";
}

static void f_free(void *ctx)
{
    (void)ctx; /* borrowed: the test frees it */
}

static const struct spacefs_backend_ops fake_ops = {
    f_whoami,      f_list,       f_info,           f_runtime,     f_lifecycle,
    f_flavors,     f_visit,      f_kv_list,        f_kv_set,      f_kv_delete,
    f_logs_follow, f_cancel_new, f_cancel_trigger, f_cancel_free, f_create,
    f_delete,      f_budget,     f_endpoint,       f_free,        NULL};

struct spacefs_backend spacefs_fake_backend(struct spacefs_fake *f)
{
    struct spacefs_backend b = {&fake_ops, f};

    return b;
}
