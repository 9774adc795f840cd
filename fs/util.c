/* Small helpers of the fs logic: strings, times, and the backend struct destructors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_internal.h"

char *spacefs_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *spacefs_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

void spacefs_format_time(char *buf, size_t size, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The words a listing repeats for every Space (SDKs, stages, flavors): one shared copy each,
 * so that 100k Spaces do not hold 400k small strings (docs/performance.md, "ls"). */
static const char words[][24] = {"gradio",
                                 "docker",
                                 "static",
                                 "streamlit",
                                 "RUNNING",
                                 "BUILDING",
                                 "STOPPED",
                                 "SLEEPING",
                                 "PAUSED",
                                 "APP_STARTING",
                                 "RUNNING_BUILDING",
                                 "RUNNING_APP_STARTING",
                                 "BUILD_ERROR",
                                 "RUNTIME_ERROR",
                                 "CONFIG_ERROR",
                                 "NO_APP_FILE",
                                 "DELETING",
                                 "cpu-basic",
                                 "cpu-upgrade",
                                 "cpu-xl",
                                 "zero-a10g",
                                 "t4-small",
                                 "t4-medium",
                                 "l4x1",
                                 "l4x4",
                                 "l40sx1",
                                 "l40sx4",
                                 "l40sx8",
                                 "a10g-small",
                                 "a10g-large",
                                 "a10g-largex2",
                                 "a10g-largex4",
                                 "a100-large",
                                 "h100",
                                 "h100x8"};

static int is_word(const char *s)
{
    return s >= words[0] && s < words[0] + sizeof(words);
}

static void free_str(char *s)
{
    if (!is_word(s))
        free(s);
}

void spacefs_word_share(char **s)
{
    size_t i;

    if (!*s || is_word(*s))
        return;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(*s, words[i]) == 0) {
            free(*s);
            *s = (char *)words[i]; /* never written through, never freed (free_str) */
            return;
        }
}

void spacefs_runtime_clear(struct spacefs_runtime *rt)
{
    if (!rt)
        return;
    free_str(rt->stage);
    free_str(rt->hardware_current);
    free_str(rt->hardware_requested);
    free(rt->error_message);
    memset(rt, 0, sizeof(*rt));
}

void spacefs_space_clear(struct spacefs_space *sp)
{
    if (!sp)
        return;
    free(sp->id);
    free_str(sp->sdk);
    free(sp->url);
    spacefs_runtime_clear(&sp->rt);
    memset(sp, 0, sizeof(*sp));
}

void spacefs_spaces_free(struct spacefs_space *spaces, size_t count)
{
    size_t i;

    for (i = 0; spaces && i < count; i++)
        spacefs_space_clear(&spaces[i]);
    free(spaces);
}

void spacefs_strv_free(char **v, size_t count)
{
    size_t i;

    for (i = 0; v && i < count; i++)
        free(v[i]);
    free(v);
}

void spacefs_whoami_clear(struct spacefs_whoami *who)
{
    if (!who)
        return;
    free(who->name);
    free(who->role);
    spacefs_strv_free(who->orgs, who->orgs_count);
    memset(who, 0, sizeof(*who));
}

int spacefs_whoami_set(struct spacefs_whoami *out, const char *name, const char *role,
                       char *const *orgs, size_t orgs_count)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    if ((name && !(out->name = strdup(name))) || (role && !(out->role = strdup(role))) ||
        (orgs_count && !(out->orgs = calloc(orgs_count, sizeof(char *)))))
        goto fail;
    for (i = 0; i < orgs_count; i++, out->orgs_count++)
        if (!(out->orgs[i] = strdup(orgs[i])))
            goto fail;
    return 0;
fail:
    spacefs_whoami_clear(out);
    return -1;
}

void spacefs_kvs_free(struct spacefs_kv *kvs, size_t count)
{
    size_t i;

    for (i = 0; kvs && i < count; i++) {
        free(kvs[i].key);
        if (kvs[i].value) {
            explicit_bzero(kvs[i].value, strlen(kvs[i].value));
            free(kvs[i].value);
        }
    }
    free(kvs);
}
