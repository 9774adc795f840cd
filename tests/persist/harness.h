/* What the persist engine's unit tests share: pass/fail counters and CHECK(), the scratch
 * directory `root` each test makes, and cache_path(), a path below it (four buffers in turn, so
 * a call's result survives the next three calls). */
#ifndef PERSIST_TEST_HARNESS_H
#define PERSIST_TEST_HARNESS_H

#include <stdio.h>

static int passed, failed;
static char root[256];

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static char *cache_path(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, name);
    return buf[i];
}

#endif
