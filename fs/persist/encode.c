/* The engine's text files (journal, mtimes, <cache>/meta, the Dataset's manifest) write paths
 * and times the same way: a path %XX-escaped (controls, space, '%', DEL) so that it is one
 * field, a time in ns since the epoch as "S.NNNNNNNNN"; the clock those times come from and the
 * timespec stat gives them as. Leaf helpers: nothing here calls the rest of persist/. */
#include "persist_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- paths --------------------------------------------------------------------------------- */
void persist_put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == '%' || c == 0x7f)
            fprintf(f, "%%%02X", c);
        else
            fputc(c, f);
    }
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* Exactly two hex digits after each '%' and never %00: a '%' at the end of the string (a
 * damaged manifest from the Dataset) made the old sscanf("%2X") step past the NUL. */
int persist_unescape(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '%') {
            int hi = hex_digit(s[1]), lo = hi < 0 ? -1 : hex_digit(s[2]);
            if (lo < 0 || (hi | lo) == 0)
                return -EINVAL;
            *w++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return 0;
}

/* ---- times --------------------------------------------------------------------------------- */
int64_t persist_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * PERSIST_NS + ts.tv_nsec;
}

void persist_time_put(FILE *f, int64_t ns)
{
    int64_t s = ns / PERSIST_NS, r = ns % PERSIST_NS;
    if (r < 0) /* before 1970: the seconds round down, the nanoseconds stay positive */
        s--, r += PERSIST_NS;
    fprintf(f, "%" PRId64 ".%09" PRId64, s, r);
}

/* "S" (seconds, as older caches wrote) or "S.NNNNNNNNN" -> ns; -EINVAL if neither. */
int persist_time_parse(const char *s, int64_t *out)
{
    char *end;
    long long sec, nsec = 0;

    errno = 0;
    sec = strtoll(s, &end, 10);
    if (end == s || errno || sec > INT64_MAX / PERSIST_NS - 1 || sec < INT64_MIN / PERSIST_NS + 1)
        return -EINVAL;
    if (*end == '.') {
        const char *d = end + 1;
        if (strlen(d) != 9 || strspn(d, "0123456789") != 9)
            return -EINVAL;
        nsec = strtoll(d, &end, 10);
    }
    if (*end)
        return -EINVAL;
    *out = (int64_t)sec * PERSIST_NS + nsec;
    return 0;
}

void persist_stat_time(struct timespec *ts, int64_t ns)
{
    int64_t s = ns / PERSIST_NS, r = ns % PERSIST_NS;
    if (r < 0)
        s--, r += PERSIST_NS;
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)r;
}
