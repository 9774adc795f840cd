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

void spacefs_runtime_clear(struct spacefs_runtime *rt)
{
    if (!rt)
        return;
    free(rt->stage);
    free(rt->hardware_current);
    free(rt->hardware_requested);
    free(rt->error_message);
    memset(rt, 0, sizeof(*rt));
}

void spacefs_space_clear(struct spacefs_space *sp)
{
    if (!sp)
        return;
    free(sp->id);
    free(sp->sdk);
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
