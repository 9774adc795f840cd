/* Minimal test counters for the client tests: CHECK(cond, name...) prints ok/FAIL lines and
 * check_finish() prints the closing "N passed, N failed" line and returns the exit status. */
#ifndef CLIENT_TEST_CHECK_H
#define CLIENT_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
            printf("ok   - ");                                                                     \
        } else {                                                                                   \
            check_failed++;                                                                        \
            printf("FAIL - %s:%d: ", __FILE__, __LINE__);                                          \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
    } while (0)

static inline int check_finish(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
