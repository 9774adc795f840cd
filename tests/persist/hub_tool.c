/* hub_tool: drives the persist engine with the real Hub remote, for test_remote_hub.sh.
 *   hub_tool CACHE REPO_ID CMD [ARGS] [-- CMD [ARGS]]...
 * CMDs: put PATH LOCALFILE | cat PATH | pread PATH OFFSET LENGTH | ls PATH | rm PATH | mv A B |
 *       mkdir P | sync | state | run SHELL-COMMAND (between two reads, e.g. the emulator's clock)
 * Endpoint from HF_ENDPOINT; the token from the 0600 file in PERSIST_TOKEN_FILE (never argv).
 * No worker thread: sync happens at `sync`. Exit 0 when every command succeeded. */
#include "hubclient.h"
#include "persist.h"
#include "remote_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static int list_one(const char *name, const struct stat *st, void *payload)
{
    printf("%s%s %lld\n", name, S_ISDIR(st->st_mode) ? "/" : "", (long long)st->st_size);
    return 0;
}

static int put_file(struct persist *p, const char *path, const char *local)
{
    struct persist_handle *h;
    char *buf = malloc(CHUNK);
    int fd = open(local, O_RDONLY), rc;
    int64_t off = 0;
    ssize_t n;

    if (!buf || fd < 0) {
        free(buf);
        return -EIO;
    }
    rc = persist_file_open(p, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &h);
    while (rc == 0 && (n = read(fd, buf, CHUNK)) > 0) {
        long w = persist_write(p, h, buf, (size_t)n, off);
        if (w != n)
            rc = w < 0 ? (int)w : -EIO;
        off += n;
    }
    if (h && rc == 0)
        rc = persist_release(p, h);
    close(fd);
    free(buf);
    return rc;
}

static int cat_file(struct persist *p, const char *path)
{
    struct persist_handle *h;
    char *buf = malloc(CHUNK);
    int64_t off = 0;
    long n = 0;
    int rc = buf ? persist_file_open(p, path, O_RDONLY, 0, &h) : -ENOMEM;

    while (rc == 0 && (n = persist_read(p, h, buf, CHUNK, off)) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        off += n;
    }
    if (rc == 0) {
        persist_release(p, h);
        rc = n < 0 ? (int)n : 0;
    }
    free(buf);
    return rc;
}

/* LENGTH bytes of PATH from OFFSET to stdout, one read through a handle of its own. */
static int pread_file(struct persist *p, const char *path, const char *off, const char *len)
{
    struct persist_handle *h;
    size_t n = (size_t)strtoull(len, NULL, 10);
    char *buf = malloc(n + 1);
    int rc = buf ? persist_file_open(p, path, O_RDONLY, 0, &h) : -ENOMEM;
    long got;

    if (rc == 0) {
        got = persist_read(p, h, buf, n, strtoll(off, NULL, 10));
        if (got > 0)
            fwrite(buf, 1, (size_t)got, stdout);
        rc = got < 0 ? (int)got : 0;
        persist_release(p, h);
    }
    free(buf);
    return rc;
}

static void log_line(enum spacefs_log_level level, const char *msg, void *payload)
{
    fprintf(stderr, "[%d] %s\n", level, msg);
}

int main(int argc, char **argv)
{
    struct persist_hub_options ho = {0};
    struct persist_config cfg;
    struct persist_remote remote;
    struct spacefs_error rerr = {0};
    struct persist *p = NULL;
    hub_options opts;
    hub_client *client = NULL;
    hub_error he;
    char gitdir[4096];
    int rc = 0, i;

    if (argc < 4) {
        fprintf(stderr, "usage: hub_tool CACHE REPO_ID CMD [ARGS]...\n");
        return 64;
    }
    hub_options_init(&opts);
    opts.token_file = getenv("PERSIST_TOKEN_FILE");
    opts.backoff_base_ms = 50;
    opts.backoff_max_ms = 200;
    if (hub_client_new(&client, &opts, &he) != HUB_OK) {
        fprintf(stderr, "client: %s\n", he.message);
        return 2;
    }
    snprintf(gitdir, sizeof(gitdir), "%s/git", argv[1]);
    ho.client = client;
    ho.repo_id = argv[2];
    ho.git_dir = gitdir;
    ho.token_file = opts.token_file;
    if ((rc = persist_remote_hub_new(&remote, &ho, &rerr)) < 0) {
        fprintf(stderr, "remote: %s\n", rerr.message);
        hub_client_free(client);
        return 2;
    }
    persist_config_init(&cfg);
    cfg.cache_dir = argv[1];
    cfg.no_worker = 1;
    cfg.log = log_line;
    if ((rc = persist_open(&p, &cfg, remote)) < 0) {
        fprintf(stderr, "open: %s\n", strerror(-rc));
        hub_client_free(client);
        return 2;
    }
    for (i = 3; i < argc && rc == 0; i++) {
        const char *cmd = argv[i], *a = i + 1 < argc ? argv[i + 1] : "",
                   *b = i + 2 < argc ? argv[i + 2] : "";
        if (!strcmp(cmd, "--"))
            continue;
        if (!strcmp(cmd, "put"))
            rc = put_file(p, a, b), i += 2;
        else if (!strcmp(cmd, "cat"))
            rc = cat_file(p, a), i++;
        else if (!strcmp(cmd, "pread"))
            rc = pread_file(p, a, b, i + 3 < argc ? argv[i + 3] : "0"), i += 3;
        else if (!strcmp(cmd, "run")) {
            fflush(stdout);
            rc = system(a) == 0 ? 0 : -EIO, i++;
        } else if (!strcmp(cmd, "ls"))
            rc = persist_readdir(p, a, list_one, NULL), i++;
        else if (!strcmp(cmd, "rm"))
            rc = persist_unlink(p, a), i++;
        else if (!strcmp(cmd, "mv"))
            rc = persist_rename(p, a, b, 0), i += 2;
        else if (!strcmp(cmd, "mkdir"))
            rc = persist_mkdir(p, a, 0755), i++;
        else if (!strcmp(cmd, "sync"))
            rc = persist_sync_now(p);
        else if (!strcmp(cmd, "state")) {
            char text[2048];
            persist_state_text(p, text, sizeof(text));
            fputs(text, stdout);
        } else {
            fprintf(stderr, "unknown command %s\n", cmd);
            rc = -EINVAL;
        }
        if (rc < 0)
            fprintf(stderr, "%s %s: %s\n", cmd, a, strerror(-rc));
    }
    fflush(stdout);
    persist_close(p, 0);
    hub_client_free(client);
    return rc < 0 ? 1 : 0;
}
