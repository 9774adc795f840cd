/* The text of every readable file: a Space's small files from the cached runtime, its JSON
 * documents, and the .spacefs/ files (who am I, endpoint, a fresh health check, counters). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_internal.h"
#include "persist_fs.h"

#ifndef SPACEFS_VERSION
#define SPACEFS_VERSION "0"
#endif

/* The app URL the Hub gave, else the documented shape https://<ns>-<name>.hf.space. */
static char *app_url_locked(const struct space_ent *se, const char *ns)
{
    char *u, *p;

    if (se->sp.url)
        return xstrdup(se->sp.url);
    u = xasprintf("https://%s-%s.hf.space", ns, se->name);
    for (p = u ? u + 8 : NULL; p && *p && strcmp(p, ".hf.space") != 0; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (*p == '_' || *p == '.')
            *p = '-';
    }
    return u;
}

char *space_file_text_locked(struct spacefs_fs *fs, const struct node *n,
                             const struct space_ent *se)
{
    const struct spacefs_runtime *rt = &se->sp.rt;
    char *url, *s = NULL;

    (void)fs;
    switch ((enum space_file)n->file) {
    case SF_STATUS:
        return xasprintf("%s\n", rt->stage ? rt->stage : "UNKNOWN");
    case SF_URL:
        url = app_url_locked(se, n->ns);
        s = url ? xasprintf("%s\n", url) : NULL;
        free(url);
        return s;
    case SF_HARDWARE:
        return xasprintf("%s\n", rt->hardware_current     ? rt->hardware_current
                                 : rt->hardware_requested ? rt->hardware_requested
                                                          : "none");
    case SF_SLEEPTIME:
        if (rt->sleep_seconds > 0)
            return xasprintf("%lld\n", (long long)rt->sleep_seconds);
        return xstrdup("never\n");
    case SF_CONTROL:
        return xstrdup(se->last_action ? se->last_action : "none\n");
    case SF_RUNTIME:
        return xstrdup(se->runtime_json ? se->runtime_json : "");
    case SF_INFO:
        return xstrdup(se->info_json ? se->info_json : "");
    case SF_COUNT:
        break;
    }
    return NULL;
}

int space_file_render(struct spacefs_fs *fs, const struct node *n, char **out, size_t *out_len)
{
    struct space_ent *se;
    char *json = NULL;
    int rc;

    *out = NULL;
    if (n->file == SF_RUNTIME || n->file == SF_INFO) {
        if ((rc = space_json(fs, n, n->file == SF_RUNTIME, &json)) < 0)
            return rc;
        *out = xasprintf("%s%s", json, json[0] && json[strlen(json) - 1] != '\n' ? "\n" : "");
        free(json);
        goto done;
    }
    if ((rc = space_ensure(fs, n)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    se = space_find_locked(fs, n->ns, n->space);
    *out = se ? space_file_text_locked(fs, n, se) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!se)
        return -ENOENT;
done:
    if (!*out)
        return -ENOMEM;
    *out_len = strlen(*out);
    return 0;
}

static char *render_whoami(struct spacefs_fs *fs)
{
    struct spacefs_whoami w = {0};
    char *orgs = NULL, *s;
    size_t i, len = 1;

    if (whoami_get(fs, &w) < 0 || !w.name) {
        spacefs_whoami_clear(&w);
        return xstrdup("name: (anonymous)\norgs:\nrole: none\n");
    }
    for (i = 0; i < w.orgs_count; i++)
        len += strlen(w.orgs[i]) + 1;
    if ((orgs = calloc(1, len))) {
        for (i = 0; i < w.orgs_count; i++) {
            if (i)
                strcat(orgs, " ");
            strcat(orgs, w.orgs[i]);
        }
    }
    s = orgs
            ? xasprintf("name: %s\norgs: %s\nrole: %s\n", w.name, orgs, w.role ? w.role : "unknown")
            : NULL;
    free(orgs);
    spacefs_whoami_clear(&w);
    return s;
}

/* A fresh call every time, as `hf auth whoami` does: the "test my connection" file. */
static char *render_health(struct spacefs_fs *fs)
{
    struct spacefs_whoami w = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    int64_t t0 = now_ms(), ms;
    char *s;

    st = fs->be.ops->whoami(fs->be.ctx, &w, &err);
    count_call(fs, st);
    ms = now_ms() - t0;
    if (st == SPACEFS_OK)
        s = xasprintf("ok %s %s %lld ms\n", fs->be.ops->endpoint(fs->be.ctx), w.name ? w.name : "?",
                      (long long)ms);
    else
        s = xasprintf("error %s %s (HTTP %ld) %s after %lld ms\n", fs->be.ops->endpoint(fs->be.ctx),
                      spacefs_status_name(st), err.http_status, err.message, (long long)ms);
    spacefs_whoami_clear(&w);
    return s;
}

static char *render_stats(struct spacefs_fs *fs)
{
    struct spacefs_counters c;
    struct spacefs_budget b = {0};
    char rl[64] = "unknown";

    spacefs_fs_counters(fs, &c);
    fs->be.ops->budget(fs->be.ctx, &b);
    if (b.ratelimit_valid)
        snprintf(rl, sizeof(rl), "%ld", b.ratelimit_remaining);
    return xasprintf("requests %llu\nbackend_calls %llu\ncache_hits %llu\ncache_misses %llu\n"
                     "errors %llu\nratelimit_remaining %s\nratelimit_reset_seconds %ld\n",
                     (unsigned long long)b.requests, (unsigned long long)c.backend_calls,
                     (unsigned long long)c.cache_hits, (unsigned long long)c.cache_misses,
                     (unsigned long long)c.errors, rl,
                     b.ratelimit_valid ? b.ratelimit_reset_seconds : -1L);
}

int meta_render(struct spacefs_fs *fs, int file, char **out, size_t *out_len)
{
    switch ((enum meta_file)file) {
    case MF_WHOAMI:
        *out = render_whoami(fs);
        break;
    case MF_ENDPOINT:
        *out = xasprintf("%s\n", fs->be.ops->endpoint(fs->be.ctx));
        break;
    case MF_HEALTH:
        *out = render_health(fs);
        break;
    case MF_STATS:
        *out = render_stats(fs);
        break;
    case MF_VERSION:
        *out = xstrdup("spacefs " SPACEFS_VERSION "\n");
        break;
    case MF_PERSIST:
        *out = pers_render_all(fs);
        break;
    default:
        *out = NULL;
        return -ENOENT;
    }
    if (!*out)
        return -ENOMEM;
    *out_len = strlen(*out);
    return 0;
}
