/* Unit test of hubmap.c's table from hub_status to enum spacefs_status: every client status
 * has an entry (a status added to hubclient.h without one would read as SPACEFS_OK), and the
 * entries that are not one-to-one by name are what docs/filesystem.md's error table says. */
#include <stdio.h>

#include "hubmap.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL - ");                                                                     \
            printf(__VA_ARGS__);                                                                   \
            printf(" (%s:%d)\n", __FILE__, __LINE__);                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    int s;

    CHECK(spacefs_status_from_hub(HUB_OK) == SPACEFS_OK, "HUB_OK is SPACEFS_OK");
    for (s = HUB_E_INVALID; s <= HUB_E_OFFLINE; s++)
        CHECK(spacefs_status_from_hub((hub_status)s) != SPACEFS_OK &&
                  (unsigned)spacefs_status_from_hub((hub_status)s) < SPACEFS_STATUS_COUNT,
              "%s maps to an error", hub_status_str((hub_status)s));
    CHECK(spacefs_status_from_hub(HUB_E_RANGE) == SPACEFS_E_BAD_REQUEST, "416 is a bad request");
    CHECK(spacefs_status_from_hub(HUB_E_PRECONDITION) == SPACEFS_E_STALE, "412 is stale");
    CHECK(spacefs_status_from_hub(HUB_E_HTTP) == SPACEFS_E_OTHER, "another HTTP status is other");
    CHECK(spacefs_status_from_hub(HUB_E_OFFLINE) == SPACEFS_E_OFFLINE, "offline stays offline");
    CHECK(spacefs_status_from_hub((hub_status)(HUB_E_OFFLINE + 1)) == SPACEFS_E_OTHER,
          "a status past the table is other");
    CHECK(spacefs_status_from_hub((hub_status)-1) == SPACEFS_E_OTHER, "a negative status is other");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
