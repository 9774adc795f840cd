/* The backend interface implemented with hubclient: conversions from the client's structs to
 * the fs's plain ones (statuses through hubmap.c). No policy here: caching, checks and errno live
 * in the fs. Secret values are copied only to NUL-terminate them, and wiped. The ops' ctx is
 * the hub_client itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_hub.h"

/* Converts a client status and error; returns the backend status. */
static enum spacefs_status done(hub_status st, const hub_error *he, struct spacefs_error *err)
{
    return spacefs_error_from_hub(err, st, he, NULL);
}

/* dst = a copy of src (NULL stays NULL). 0, or -1 on no memory. */
static int dup_into(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

/* 0, or -1 on no memory (out is then cleared). */
static int runtime_from(struct spacefs_runtime *out, const hub_runtime *rt)
{
    memset(out, 0, sizeof(*out));
    out->sleep_seconds = rt->gc_timeout;
    if (dup_into(&out->stage, rt->stage_str) < 0 ||
        dup_into(&out->hardware_current, rt->hardware_current) < 0 ||
        dup_into(&out->hardware_requested, rt->hardware_requested) < 0 ||
        dup_into(&out->error_message, rt->error_message) < 0) {
        spacefs_runtime_clear(out);
        return -1;
    }
    return 0;
}

/* The app URL: the Hub's `host` when sent; else the runtime's first domain, with the
 * endpoint's scheme (https on the Hub, http on a local emulator); else the documented shape
 * https://<subdomain>.hf.space (hub-api.md section 9). NULL if none is known. */
static char *app_url(const hub_space *sp, const char *endpoint)
{
    const char *scheme = strncmp(endpoint, "http://", 7) == 0 ? "http" : "https";
    char *url = NULL;

    if (sp->host)
        return strdup(sp->host);
    if (sp->has_runtime && sp->runtime.domains_count && sp->runtime.domains[0] &&
        asprintf(&url, "%s://%s", scheme, sp->runtime.domains[0]) >= 0)
        return url;
    if (sp->subdomain && asprintf(&url, "https://%s.hf.space", sp->subdomain) >= 0)
        return url;
    return NULL;
}

/* 0, or -1 on no memory (out is then cleared). */
static int space_from(struct spacefs_space *out, const hub_space *sp, const char *endpoint)
{
    memset(out, 0, sizeof(*out));
    out->is_private = sp->is_private;
    out->last_modified = sp->last_modified;
    out->has_runtime = sp->has_runtime;
    if (dup_into(&out->id, sp->id) < 0 || dup_into(&out->sdk, sp->sdk) < 0)
        goto fail;
    out->url = app_url(sp, endpoint);
    if (!out->url && (sp->host || sp->subdomain || (sp->has_runtime && sp->runtime.domains_count)))
        goto fail;
    if (sp->has_runtime && runtime_from(&out->rt, &sp->runtime) < 0)
        goto fail;
    return 0;
fail:
    spacefs_space_clear(out);
    return -1;
}

static enum spacefs_status h_whoami(void *ctx, struct spacefs_whoami *out,
                                    struct spacefs_error *err)
{
    hub_whoami *w = NULL;
    hub_error he;
    hub_status st;

    memset(out, 0, sizeof(*out));
    st = hub_whoami_get(&w, ctx, &he);
    if (st == HUB_OK && spacefs_whoami_set(out, w->name, w->token_role, w->orgs, w->orgs_count) < 0)
        st = HUB_E_NOMEM;
    hub_whoami_free(w);
    return done(st, &he, err);
}

struct list_acc {
    spacefs_spaces_fn fn;
    void *payload;
    const char *endpoint;
};

/* One page of the listing, converted and handed on as it arrives (the client frees its page
 * after this returns, and the callee took what it keeps). */
static int list_page(hub_space *items, size_t count, void *payload)
{
    struct list_acc *a = payload;
    struct spacefs_space *v = calloc(count + 1, sizeof(*v));
    size_t i;
    int rc = -1;

    if (!v)
        return -1;
    for (i = 0; i < count; i++)
        if (space_from(&v[i], &items[i], a->endpoint) < 0)
            goto out;
    rc = a->fn(v, count, a->payload);
out:
    spacefs_spaces_free(v, count);
    return rc;
}

static enum spacefs_status h_list(void *ctx, const char *author, size_t max, void *cancel,
                                  spacefs_spaces_fn fn, void *payload, int *out_truncated,
                                  struct spacefs_error *err)
{
    struct list_acc a = {fn, payload, hub_client_endpoint(ctx)};
    hub_error he;

    return done(hub_spaces_list_pages(ctx, author, max, list_page, &a, out_truncated, cancel, &he),
                &he, err);
}

static enum spacefs_status h_info(void *ctx, const char *id, char **out_json,
                                  struct spacefs_error *err)
{
    hub_error he;

    *out_json = NULL;
    return done(hub_space_info_get(NULL, out_json, ctx, id, &he), &he, err);
}

static enum spacefs_status h_runtime(void *ctx, const char *id, struct spacefs_runtime *out,
                                     char **out_json, struct spacefs_error *err)
{
    hub_runtime *rt = NULL;
    hub_error he;
    hub_status st;

    if (out_json)
        *out_json = NULL;
    st = hub_space_runtime_get(out ? &rt : NULL, out_json, ctx, id, &he);
    if (st == HUB_OK && out && runtime_from(out, rt) < 0) {
        st = HUB_E_NOMEM;
        if (out_json) {
            free(*out_json);
            *out_json = NULL;
        }
    }
    hub_runtime_free(rt);
    return done(st, &he, err);
}

static enum spacefs_status h_lifecycle(void *ctx, const char *id,
                                       const struct spacefs_lifecycle *lc,
                                       struct spacefs_runtime *out, struct spacefs_error *err)
{
    hub_runtime *rt = NULL;
    hub_error he;
    hub_status st;

    switch (lc->action) {
    case SPACEFS_PAUSE:
        st = hub_space_pause(&rt, ctx, id, &he);
        break;
    case SPACEFS_HARDWARE:
        st = hub_space_hardware_request(&rt, ctx, id, lc->flavor, 0, &he);
        break;
    case SPACEFS_SLEEPTIME:
        st = hub_space_sleeptime_set(&rt, ctx, id, lc->seconds, &he);
        break;
    default:
        st = hub_space_restart(&rt, ctx, id, lc->action == SPACEFS_REBUILD, &he);
    }
    if (out) {
        memset(out, 0, sizeof(*out));
        if (st == HUB_OK && rt && runtime_from(out, rt) < 0)
            st = HUB_E_NOMEM;
    }
    hub_runtime_free(rt);
    return done(st, &he, err);
}

static enum spacefs_status h_flavors(void *ctx, char ***out, size_t *out_count,
                                     struct spacefs_error *err)
{
    hub_hardware_list *l = NULL;
    hub_error he;
    hub_status st;
    size_t i;

    *out = NULL;
    *out_count = 0;
    st = hub_hardware_list_get(&l, ctx, &he);
    if (st == HUB_OK) {
        if (!(*out = calloc(l->count + 1, sizeof(char *))))
            st = HUB_E_NOMEM;
        for (i = 0; *out && i < l->count; i++)
            if (dup_into(&(*out)[*out_count], l->items[i].name) < 0) {
                spacefs_strv_free(*out, *out_count);
                *out = NULL;
                *out_count = 0;
                st = HUB_E_NOMEM;
            } else if ((*out)[*out_count]) {
                (*out_count)++;
            }
    }
    hub_hardware_list_free(l);
    return done(st, &he, err);
}

static enum spacefs_status h_visit(void *ctx, const char *id, const char *url, long *out_http,
                                   struct spacefs_error *err)
{
    hub_error he;
    hub_status st;

    *out_http = 0;
    st = hub_space_visit(out_http, ctx, id, url, &he);
    return done(st, &he, err);
}

static enum spacefs_status h_kv_list(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                     struct spacefs_kv **out, size_t *out_count,
                                     struct spacefs_error *err)
{
    hub_kv_list *l = NULL;
    hub_error he;
    hub_status st;
    size_t i;

    *out = NULL;
    *out_count = 0;
    st = kind == SPACEFS_KV_SECRETS ? hub_secrets_list(&l, ctx, id, &he)
                                    : hub_variables_list(&l, ctx, id, &he);
    if (st == HUB_OK) {
        if (!(*out = calloc(l->count + 1, sizeof(**out))))
            st = HUB_E_NOMEM;
        for (i = 0; *out && i < l->count; i++) {
            (*out_count)++;
            if (dup_into(&(*out)[i].key, l->items[i].key) < 0 ||
                (kind == SPACEFS_KV_VARIABLES &&
                 dup_into(&(*out)[i].value, l->items[i].value ? l->items[i].value : "") < 0)) {
                spacefs_kvs_free(*out, *out_count);
                *out = NULL;
                *out_count = 0;
                st = HUB_E_NOMEM;
            }
        }
    }
    hub_kv_list_free(l);
    return done(st, &he, err);
}

static enum spacefs_status h_kv_set(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                    const char *key, const char *value, size_t len,
                                    struct spacefs_error *err)
{
    hub_error he;
    hub_status st;
    char *v = malloc(len + 1);

    if (!v)
        return done(HUB_E_NOMEM, NULL, err);
    memcpy(v, value, len);
    v[len] = '\0';
    st = kind == SPACEFS_KV_SECRETS ? hub_secret_set(ctx, id, key, v, NULL, &he)
                                    : hub_variable_set(NULL, ctx, id, key, v, NULL, &he);
    explicit_bzero(v, len);
    free(v);
    return done(st, &he, err);
}

static enum spacefs_status h_kv_delete(void *ctx, const char *id, enum spacefs_kv_kind kind,
                                       const char *key, struct spacefs_error *err)
{
    hub_error he;
    hub_status st = kind == SPACEFS_KV_SECRETS ? hub_secret_delete(ctx, id, key, &he)
                                               : hub_variable_delete(NULL, ctx, id, key, &he);

    return done(st, &he, err);
}

static hub_log_kind log_kind(enum spacefs_log_kind k)
{
    return k == SPACEFS_LOG_BUILD ? HUB_LOGS_BUILD : HUB_LOGS_RUN;
}

struct line_tramp {
    spacefs_line_fn fn;
    void *payload;
};

static int on_hub_line(const char *line, size_t len, int64_t ts, void *payload)
{
    struct line_tramp *t = payload;

    return t->fn(line, len, ts, t->payload);
}

static enum spacefs_status h_logs_follow(void *ctx, const char *id, enum spacefs_log_kind kind,
                                         spacefs_line_fn on_line, void *payload, void *cancel,
                                         struct spacefs_error *err)
{
    struct line_tramp t = {on_line, payload};
    hub_error he;

    return done(hub_logs_follow(ctx, id, log_kind(kind), on_hub_line, &t, cancel, &he), &he, err);
}

static void *h_cancel_new(void *ctx)
{
    (void)ctx;
    return hub_cancel_new();
}

static void h_cancel_trigger(void *cancel)
{
    hub_cancel_trigger(cancel);
}

static void h_cancel_free(void *cancel)
{
    hub_cancel_free(cancel);
}

static enum spacefs_status h_create(void *ctx, const char *id, const char *sdk, int is_private,
                                    struct spacefs_error *err)
{
    hub_repo_spec spec = {HUB_REPO_SPACE, id, is_private, sdk, NULL};
    hub_error he;

    return done(hub_repo_create(NULL, ctx, &spec, &he), &he, err);
}

static enum spacefs_status h_delete(void *ctx, const char *id, struct spacefs_error *err)
{
    hub_error he;

    return done(hub_repo_delete(ctx, HUB_REPO_SPACE, id, &he), &he, err);
}

static void h_budget(void *ctx, struct spacefs_budget *out)
{
    hub_stats s;
    hub_ratelimit rl;

    memset(out, 0, sizeof(*out));
    hub_client_stats(ctx, &s);
    hub_client_ratelimit(ctx, &rl);
    out->requests = s.requests;
    out->ratelimit_valid = rl.valid;
    out->ratelimit_remaining = rl.remaining;
    out->ratelimit_reset_seconds = rl.reset_seconds - (long)((int64_t)time(NULL) - rl.observed_at);
    if (out->ratelimit_reset_seconds < 0)
        out->ratelimit_reset_seconds = 0;
}

static const char *h_endpoint(void *ctx)
{
    return hub_client_endpoint(ctx);
}

static void h_reach(void *ctx, struct spacefs_reach *out)
{
    hub_reach r;

    hub_client_reach(ctx, &r);
    memset(out, 0, sizeof(*out));
    out->online = r.online;
    out->since = r.since;
    out->outages = r.outages;
    snprintf(out->last_error, sizeof(out->last_error), "%.255s", r.last_error);
}

static void h_free(void *ctx)
{
    hub_client_free(ctx);
}

static const struct spacefs_backend_ops hub_ops = {
    h_whoami,  h_list,   h_info,      h_runtime,     h_lifecycle,  h_flavors,        h_visit,
    h_kv_list, h_kv_set, h_kv_delete, h_logs_follow, h_cancel_new, h_cancel_trigger, h_cancel_free,
    h_create,  h_delete, h_budget,    h_endpoint,    h_free,       h_reach};

int spacefs_backend_hub_new(struct spacefs_backend *out, hub_client *client)
{
    out->ops = &hub_ops;
    out->ctx = client; /* owned: freed by h_free */
    return 0;
}
