/* The sha256 ceiling of the benchmark suite (bench_suite.py): hashes a file with the client's own
 * implementation (hub_sha256_fd, the code the upload path uses), prints the hex digest and the
 * seconds it took. Usage: bench_sha256 FILE */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hubclient.h"

int main(int argc, char **argv)
{
    char hex[HUB_OID_MAX];
    hub_error err = {0};
    struct stat st;
    struct timespec t0, t1;
    int fd, rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: bench_sha256 FILE\n");
        return 2;
    }
    fd = open(argv[1], O_RDONLY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hub_sha256_fd(hex, fd, (int64_t)st.st_size, &err) != HUB_OK) {
        fprintf(stderr, "bench_sha256: %s\n", err.message);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s %.6f\n", hex,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
