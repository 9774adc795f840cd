/* Whole-file put and get through the persist engine's handles, for the engine unit tests that
 * write bytes (persist_unit.c, persist_writes.c; persist_meta_unit.c has its own put with a
 * mode). */
#ifndef PERSIST_TEST_HARNESS_IO_H
#define PERSIST_TEST_HARNESS_IO_H

#include <fcntl.h>

#include "persist.h"

/* path := data (created 0644 or truncated), closed: 0 or -errno. */
static int put(struct persist *p, const char *path, const void *data, size_t len)
{
    struct persist_handle *h;
    int rc = persist_file_open(p, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &h);
    long n;
    if (rc < 0)
        return rc;
    n = persist_write(p, h, data, len, 0);
    rc = persist_release(p, h);
    return n < 0 ? (int)n : rc;
}

/* The whole file into buf (cap bytes); returns the length or -errno. */
static long get(struct persist *p, const char *path, char *buf, size_t cap)
{
    struct persist_handle *h;
    long n = 0, total = 0;
    int rc = persist_file_open(p, path, O_RDONLY, 0, &h);
    if (rc < 0)
        return rc;
    while ((size_t)total < cap &&
           (n = persist_read(p, h, buf + total, cap - (size_t)total, total)) > 0)
        total += n;
    persist_release(p, h);
    return n < 0 ? n : total;
}

#endif
