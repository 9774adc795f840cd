/* The .spacefs subtree: the mount's own read-only files (who am I, endpoint, a fresh health
 * check, counters, version), each rendered at open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

#ifndef SPACEFS_VERSION
#define SPACEFS_VERSION "0"
#endif

enum meta_file { MF_WHOAMI = 0, MF_ENDPOINT, MF_HEALTH, MF_STATS, MF_VERSION, MF_COUNT };
static const char *const meta_file_names[MF_COUNT] = {"whoami", "endpoint", "health", "stats",
                                                      "version"};
static const char *const meta_root_names[] = {".spacefs", NULL};

static char *render_whoami(struct spacefs_fs *fs)
{
    struct spacefs_whoami w = {0};
    char *orgs = NULL, *s;
    size_t i, len = 1;

    if (spacefs_whoami_get(fs, &w) < 0 || !w.name) {
        spacefs_whoami_clear(&w);
        return spacefs_strdup("name: (anonymous)\norgs:\nrole: none\n");
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
    s = orgs ? spacefs_asprintf("name: %s\norgs: %s\nrole: %s\n", w.name, orgs,
                                w.role ? w.role : "unknown")
             : NULL;
    free(orgs);
    spacefs_whoami_clear(&w);
    return s;
}

/* "state: online|offline", "since: ISO time", "last_error: …" and "outages: N": what the
 * backend knows of the Hub's reachability (always online without a reach hook). */
static char *render_reach(struct spacefs_fs *fs)
{
    struct spacefs_reach r = {1, fs->started, "", 0};
    char when[32];

    if (fs->be.ops->reach)
        fs->be.ops->reach(fs->be.ctx, &r);
    spacefs_format_time(when, sizeof(when), r.since);
    return spacefs_asprintf("state: %s\nsince: %s\nlast_error: %s\noutages: %llu\n",
                            r.online ? "online" : "offline", when,
                            r.last_error[0] ? r.last_error : "none", (unsigned long long)r.outages);
}

/* A fresh call every time, as `hf auth whoami` does: the "test my connection" file; while the
 * Hub is known to be offline the call fails at once. Then the reachability state. */
static char *render_health(struct spacefs_fs *fs)
{
    struct spacefs_whoami w = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st;
    int64_t t0 = spacefs_now_ms(), ms;
    char *s, *r, *both;

    st = fs->be.ops->whoami(fs->be.ctx, &w, &err);
    spacefs_count_call(fs, st);
    ms = spacefs_now_ms() - t0;
    if (st == SPACEFS_OK)
        s = spacefs_asprintf("ok %s %s %lld ms\n", fs->be.ops->endpoint(fs->be.ctx),
                             w.name ? w.name : "?", (long long)ms);
    else
        s = spacefs_asprintf("error %s %s (HTTP %ld) %s after %lld ms\n",
                             fs->be.ops->endpoint(fs->be.ctx), spacefs_status_name(st),
                             err.http_status, err.message, (long long)ms);
    spacefs_whoami_clear(&w);
    r = render_reach(fs);
    both = s && r ? spacefs_asprintf("%s%s", s, r) : NULL;
    free(s);
    free(r);
    return both;
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
    return spacefs_asprintf(
        "requests %llu\nbackend_calls %llu\ncache_hits %llu\ncache_misses %llu\n"
        "errors %llu\nratelimit_remaining %s\nratelimit_reset_seconds %ld\n",
        (unsigned long long)b.requests, (unsigned long long)c.backend_calls,
        (unsigned long long)c.cache_hits, (unsigned long long)c.cache_misses,
        (unsigned long long)c.errors, rl, b.ratelimit_valid ? b.ratelimit_reset_seconds : -1L);
}

/* A file of ours, or one a subtree provides (kind 2). */
static int meta_render(struct spacefs_fs *fs, const struct node *n, char **out, size_t *out_len)
{
    switch (n->kind == 2 ? MF_COUNT : (enum meta_file)n->file) {
    case MF_WHOAMI:
        *out = render_whoami(fs);
        break;
    case MF_ENDPOINT:
        *out = spacefs_asprintf("%s\n", fs->be.ops->endpoint(fs->be.ctx));
        break;
    case MF_HEALTH:
        *out = render_health(fs);
        break;
    case MF_STATS:
        *out = render_stats(fs);
        break;
    case MF_VERSION:
        *out = spacefs_strdup("spacefs " SPACEFS_VERSION "\n");
        break;
    default:
        *out = fs->subtrees[n->file]->meta_render(fs);
    }
    if (!*out)
        return -ENOMEM;
    *out_len = strlen(*out);
    return 0;
}

/* kind 0: the directory; 1: a file of ours (n->file); 2: one a subtree provides (n->file: its
 * index in the table) */
static int meta_parse(struct spacefs_fs *fs, struct node *n, int entry, const char *rest)
{
    size_t i;

    (void)entry;
    if (!rest[0])
        return 0;
    for (i = 0; i < MF_COUNT; i++)
        if (strcmp(meta_file_names[i], rest) == 0) {
            n->kind = 1;
            n->file = (int)i;
            return 0;
        }
    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->meta_name && strcmp(fs->subtrees[i]->meta_name, rest) == 0) {
            n->kind = 2;
            n->file = (int)i;
            return 0;
        }
    return -ENOENT;
}

static int meta_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    router_fill(fs, st, n->kind ? S_IFREG | 0444 : S_IFDIR | 0555, 0, 0);
    return 0;
}

static int meta_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                        void *payload)
{
    size_t i;

    (void)n;
    for (i = 0; i < MF_COUNT; i++)
        if (fn(meta_file_names[i], NULL, payload))
            return 0;
    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->meta_name && fn(fs->subtrees[i]->meta_name, NULL, payload))
            return 0;
    return 0;
}

const struct spacefs_subtree_ops spacefs_meta_ops = {
    .name = ".spacefs",
    .root_names = meta_root_names,
    .parse = meta_parse,
    .getattr = meta_getattr,
    .readdir = meta_readdir,
    .render = meta_render,
};
