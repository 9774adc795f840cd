/* mirror_soak: one hubmirror fetching again and again in one process, printing the resident set
 * size as it goes, so a leak per fetch shows as a slope (tests/realworld/test_soak.sh).
 *   mirror_soak DIR REPO_ID FETCHES [EVERY]
 * Endpoint from HF_ENDPOINT, token from the file in MIRROR_TOKEN_FILE (never argv); the shell
 * command in SOAK_BETWEEN, if any, runs before each fetch (a commit on the Hub). Prints
 * "fetch N rss_kb K" every EVERY fetches (default 10), then "slope_bytes_per_fetch S" measured
 * from the end of the first fifth (warm-up) to the last fetch. */
#include "hubmirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Resident anonymous memory (heap, not the mapped pack files, which the kernel may drop at will
 * and which grow with the repository's history on disk): /proc/self/status RssAnon. */
static long rss_kb(void)
{
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long file_kb(void)
{
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "RssFile: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    hub_mirror_options o = {0};
    hub_mirror *m = NULL;
    hub_error err;
    hub_status st;
    char head[HUB_OID_MAX];
    long n, every, i, warm_rss = 0, warm_at, failures = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: mirror_soak DIR REPO_ID FETCHES [EVERY]\n");
        return 64;
    }
    n = atol(argv[3]);
    every = argc > 4 ? atol(argv[4]) : 10;
    if (n < 5 || every < 1)
        return 64;
    warm_at = n / 5;
    o.dir = argv[1];
    o.repo_id = argv[2];
    o.type = HUB_REPO_DATASET;
    o.token_file = getenv("MIRROR_TOKEN_FILE");
    o.anonymous = !o.token_file || !*o.token_file;
    if ((st = hub_mirror_open(&m, &o, &err)) != HUB_OK) {
        fprintf(stderr, "open: %s: %s\n", hub_status_str(st), err.message);
        return 2;
    }
    for (i = 1; i <= n; i++) {
        /* SOAK_BETWEEN: a shell command run before each fetch (a commit on the Hub, say) */
        if (getenv("SOAK_BETWEEN") && system(getenv("SOAK_BETWEEN")) != 0)
            failures++;
        if ((st = hub_mirror_fetch(m, head, &err)) != HUB_OK) {
            failures++;
            fprintf(stderr, "fetch %ld: %s: %s\n", i, hub_status_str(st), err.message);
        }
        if (i == warm_at)
            warm_rss = rss_kb();
        if (i % every == 0 || i == n)
            printf("fetch %ld rss_kb %ld file_kb %ld\n", i, rss_kb(), file_kb());
        fflush(stdout);
    }
    printf("slope_bytes_per_fetch %ld\n", (rss_kb() - warm_rss) * 1024 / (n - warm_at));
    printf("failures %ld\n", failures);
    hub_mirror_free(m);
    return failures ? 2 : 0;
}
