/* A 300 MiB LFS object through hubclient in constant memory: write a patterned file, upload it
 * (the emulator answers with the multipart transfer above 64 MiB), commit the pointer, download
 * it through the resolve redirect while hashing, and assert the peak RSS of this process. */
#include "check.h"
#include "hubclient.h"
#include "internal.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SIZE_MIB      300
#define RSS_LIMIT_MIB 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static atomic_int part_puts; /* the parts go up on several threads, each logging its PUT */
static void log_hook(hub_log_level level, const char *msg, void *payload)
{
    (void)payload;
    if (strstr(msg, "PUT ") && strstr(msg, "/lfs-storage/multipart/") && strstr(msg, "-> 200"))
        atomic_fetch_add(&part_puts, 1);
    fprintf(stderr, "[hubclient %d] %s\n", (int)level, msg);
}

typedef struct sink {
    hub_sha256 sha;
    int64_t bytes;
} sink;

static int hash_data(const void *d, size_t n, void *p)
{
    sink *s = p;
    hub_sha256_update(&s->sha, d, n);
    s->bytes += (int64_t)n;
    return 0;
}

int main(void)
{
    const char *work = getenv("CLIENT_TEST_WORK");
    char path[600], sha[HUB_OID_MAX], got[HUB_OID_MAX], head[HUB_OID_MAX], commit[HUB_OID_MAX];
    static char chunk[1 << 20];
    int64_t size = (int64_t)SIZE_MIB << 20, off;
    hub_client *c = NULL;
    hub_options o;
    hub_error e;
    hub_file_meta m;
    sink s;
    unsigned char dig[32];
    uint32_t x = 12345;
    double t;
    int fd;
    size_t i;

    if (!work) {
        fprintf(stderr, "run through tests/client/run.sh\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/big.bin", work);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    for (off = 0; off < size; off += (int64_t)sizeof(chunk)) {
        for (i = 0; i < sizeof(chunk); i += 4) {
            x = x * 1664525u + 1013904223u;
            memcpy(chunk + i, &x, 4);
        }
        if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
            break;
    }
    CHECK(lseek(fd, 0, SEEK_END) == size, "wrote a %d MiB file", SIZE_MIB);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

    hub_options_init(&o);
    o.backoff_base_ms = 100;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    if (hub_client_new(&c, &o, &e) != HUB_OK) {
        CHECK(0, "client: %s", e.message);
        return check_finish();
    }
    {
        hub_repo_spec spec = {HUB_REPO_MODEL, "alice/big-model", 1, NULL, NULL};
        CHECK(hub_repo_create(NULL, c, &spec, &e) == HUB_OK, "created alice/big-model (%s)",
              e.message);
    }
    t = now_s();
    CHECK(hub_sha256_fd(sha, fd, size, &e) == HUB_OK, "sha256 %.16s... in %.1f s", sha,
          now_s() - t);
    t = now_s();
    CHECK(hub_lfs_upload_fd(c, HUB_REPO_MODEL, "alice/big-model", "main", fd, size, sha, NULL,
                            &e) == HUB_OK,
          "uploaded %d MiB (multipart) in %.1f s (%s)", SIZE_MIB, now_s() - t, e.message);
    CHECK(atomic_load(&part_puts) == (SIZE_MIB + 15) / 16, "multipart: %d part PUTs of 16 MiB",
          atomic_load(&part_puts));
    {
        hub_commit_op op = {HUB_OP_ADD_LFS, "big.bin", NULL, 0, sha, size};
        hub_commit_params p = {"add big.bin", NULL, NULL};
        CHECK(hub_repo_head(head, c, HUB_REPO_MODEL, "alice/big-model", "main", &e) == HUB_OK,
              "repo head");
        p.parent_commit = head;
        CHECK(hub_commit_create(commit, c, HUB_REPO_MODEL, "alice/big-model", "main", &p, &op, 1,
                                &e) == HUB_OK,
              "committed the pointer (%s)", e.message);
    }
    memset(&s, 0, sizeof(s));
    hub_sha256_init(&s.sha);
    t = now_s();
    CHECK(hub_file_download(&m, c, HUB_REPO_MODEL, "alice/big-model", "main", "big.bin", 0, -1,
                            hash_data, &s, NULL, &e) == HUB_OK &&
              s.bytes == size,
          "downloaded %lld bytes in %.1f s (%s)", (long long)s.bytes, now_s() - t, e.message);
    hub_sha256_final(&s.sha, dig);
    hub_hex(got, dig, 32);
    CHECK(strcmp(got, sha) == 0 && m.size == size && strcmp(m.etag, sha) == 0,
          "downloaded bytes hash to the uploaded sha256");
    CHECK(peak_rss_mib() < RSS_LIMIT_MIB, "peak RSS %ld MiB < %d MiB", peak_rss_mib(),
          RSS_LIMIT_MIB);
    hub_client_free(c);
    close(fd);
    unlink(path);
    return check_finish();
}
