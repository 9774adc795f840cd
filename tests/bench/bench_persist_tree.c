/* Namespace speed of the persist engine on a large tree (the fake remote, no FUSE, no network):
 * what `ls -R` and `find -ls` cost on persist/ with many files, as local changes (before a
 * commit) and as a base tree (after a mount from an empty cache). Prints figures; asserts none.
 *
 *   bench_persist_tree [--files N] [--dirs D]      (defaults 20000 files in 400 directories) */
#include "persist.h"
#include "remote_fake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct walk {
    struct persist *p;
    long entries, stats;
};

static int walk_dir(struct walk *w, const char *dir);

struct names {
    char (*v)[64];
    int *is_dir;
    int n, cap;
};

static int collect(const char *name, const struct stat *st, void *payload)
{
    struct names *n = payload;
    if (n->n == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 64;
        n->v = realloc(n->v, (size_t)n->cap * sizeof(*n->v));
        n->is_dir = realloc(n->is_dir, (size_t)n->cap * sizeof(*n->is_dir));
        if (!n->v || !n->is_dir)
            return 1;
    }
    snprintf(n->v[n->n], sizeof(n->v[0]), "%s", name);
    n->is_dir[n->n++] = S_ISDIR(st->st_mode);
    return 0;
}

/* readdir, then stat every entry, recursively (find -ls). */
static int walk_dir(struct walk *w, const char *dir)
{
    struct names n = {0};
    int rc = persist_readdir(w->p, dir, collect, &n);
    for (int i = 0; i < n.n && rc == 0; i++) {
        char child[512];
        struct stat st;
        snprintf(child, sizeof(child), "%s%s%s", dir, *dir ? "/" : "", n.v[i]);
        rc = persist_getattr(w->p, child, &st);
        w->stats++;
        w->entries++;
        if (rc == 0 && n.is_dir[i])
            rc = walk_dir(w, child);
    }
    free(n.v);
    free(n.is_dir);
    return rc;
}

static void measure(struct persist *p, const char *what, long files)
{
    struct walk w = {p, 0, 0};
    double t = now_s();
    int rc = walk_dir(&w, "");
    t = now_s() - t;
    printf("%-44s %6ld entries in %7.3f s  (%8.0f entries/s)%s\n", what, w.entries, t,
           (double)w.entries / t, rc ? "  FAILED" : "");
    (void)files;
}

static struct persist *engine(struct persist_fake *fk, const char *cache)
{
    struct persist_config cfg;
    struct persist *p = NULL;
    persist_config_init(&cfg);
    cfg.cache_dir = cache;
    cfg.no_worker = 1;
    cfg.ttl_ms = 0;
    if (persist_open(&p, &cfg, persist_fake_remote(fk)) < 0) {
        fprintf(stderr, "persist_open failed\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    long files = 20000, dirs = 400;
    char root[256], cache[300], cmd[400];
    struct persist_fake *fk = persist_fake_new();
    struct persist *p;
    double t;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--files"))
            files = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dirs"))
            dirs = strtol(argv[i + 1], NULL, 10);
    }
    snprintf(root, sizeof(root), "%s/persist-tree.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root))
        return 1;
    snprintf(cache, sizeof(cache), "%s/a", root);
    p = engine(fk, cache);
    t = now_s();
    for (long d = 0; d < dirs; d++) {
        char path[64];
        snprintf(path, sizeof(path), "g%ld", d % 20);
        persist_mkdir(p, path, 0755);
        snprintf(path, sizeof(path), "g%ld/d%ld", d % 20, d);
        persist_mkdir(p, path, 0755);
    }
    for (long i = 0; i < files; i++) {
        struct persist_handle *h;
        char path[64];
        snprintf(path, sizeof(path), "g%ld/d%ld/f%ld", (i % dirs) % 20, i % dirs, i);
        if (persist_file_open(p, path, O_WRONLY | O_CREAT, 0644, &h) == 0) {
            persist_write(p, h, path, strlen(path), 0);
            persist_release(p, h);
        }
    }
    printf("%ld files in %ld directories created in %.2f s\n", files, dirs, now_s() - t);
    measure(p, "find -ls, all local changes (not committed)", files);
    t = now_s();
    {
        struct persist_state st;
        int rounds = 0;
        do {
            if (persist_sync_now(p) < 0)
                break;
            persist_state_get(p, &st);
            rounds++;
        } while (st.state != PERSIST_CLEAN);
        printf("committed in %d commits (at most 500 files each): %.2f s%s%s\n", rounds,
               now_s() - t, st.last_error[0] ? ", error: " : "", st.last_error);
    }
    persist_close(p, 0);
    snprintf(cache, sizeof(cache), "%s/b", root);
    p = engine(fk, cache);
    measure(p, "find -ls, a base tree (empty cache)", files);
    persist_close(p, 0);
    persist_fake_unref(fk);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}
