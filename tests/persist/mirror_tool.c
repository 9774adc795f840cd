/* mirror_tool: a small command line over hubmirror.h for tests/persist/test_mirror.sh.
 *   mirror_tool DIR REPO_ID fetch|fetch2|probe|head|tree [REV]|blob OID|commits [MAX]|hold
 * (fetch2: two fetches by one mirror, as a mount's refreshes are; hold: keeps the mirror open,
 * prints "held", and waits for the end of stdin). What the open repairs is logged to stderr.
 * Endpoint from HF_ENDPOINT, token from the file in MIRROR_TOKEN_FILE (never argv). */
#include "hubmirror.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The mirror's flock, through this definition (the executable's symbol wins over libc's for the
 * library linked into it): with MIRROR_NO_FLOCK set it fails as on a filesystem without flock
 * (NFS without lockd: ENOLCK). */
int flock(int fd, int op)
{
    if (getenv("MIRROR_NO_FLOCK")) {
        errno = ENOLCK;
        return -1;
    }
    return (int)syscall(SYS_flock, fd, op);
}

static void log_stderr(hub_log_level level, const char *msg, void *payload)
{
    (void)payload;
    fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

static int fail(hub_status st, const hub_error *err)
{
    fprintf(stderr, "error: %s: %s\n", hub_status_str(st), err->message);
    return 2;
}

int main(int argc, char **argv)
{
    hub_mirror_options o = {0};
    hub_mirror *m = NULL;
    hub_error err;
    hub_status st;
    char head[HUB_OID_MAX];
    int rc = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: mirror_tool DIR REPO_ID CMD [ARG]\n");
        return 64;
    }
    o.dir = argv[1];
    o.repo_id = argv[2];
    o.type = HUB_REPO_DATASET;
    o.token_file = getenv("MIRROR_TOKEN_FILE");
    if (o.token_file && !*o.token_file)
        o.token_file = NULL;
    o.anonymous = !o.token_file;
    o.log = log_stderr;
    if ((st = hub_mirror_open(&m, &o, &err)) != HUB_OK)
        return fail(st, &err);
    if (!strcmp(argv[3], "fetch") || !strcmp(argv[3], "fetch2")) {
        if ((st = hub_mirror_fetch(m, head, &err)) != HUB_OK ||
            (!strcmp(argv[3], "fetch2") && (st = hub_mirror_fetch(m, head, &err)) != HUB_OK))
            rc = fail(st, &err);
        else
            printf("%s\n", head[0] ? head : "(empty)");
    } else if (!strcmp(argv[3], "probe")) {
        int pub;
        if ((st = hub_mirror_probe_public(&pub, m, &err)) != HUB_OK)
            rc = fail(st, &err);
        else
            printf("%s\n", pub ? "public" : "private");
    } else if (!strcmp(argv[3], "head")) {
        if ((st = hub_mirror_head(head, m, NULL, &err)) != HUB_OK)
            rc = fail(st, &err);
        else
            printf("%s\n", head);
    } else if (!strcmp(argv[3], "tree")) {
        hub_mirror_entry_list *l;
        if ((st = hub_mirror_tree_list(&l, m, argc > 4 ? argv[4] : "main", &err)) != HUB_OK) {
            rc = fail(st, &err);
        } else {
            for (size_t i = 0; i < l->count; i++) {
                hub_mirror_entry *e = &l->items[i];
                printf("%s %06o %" PRId64 " %s %s %" PRId64 " %s\n", e->is_dir ? "dir" : "file",
                       e->mode, e->size, e->oid, e->is_lfs ? e->lfs_oid : "-", e->lfs_size,
                       e->path);
            }
            hub_mirror_entry_list_free(l);
        }
    } else if (!strcmp(argv[3], "blob") && argc > 4) {
        void *buf;
        size_t len;
        if ((st = hub_mirror_blob_read(&buf, &len, m, argv[4], 0, &err)) != HUB_OK) {
            rc = fail(st, &err);
        } else {
            fwrite(buf, 1, len, stdout);
            free(buf);
        }
    } else if (!strcmp(argv[3], "commits")) {
        hub_mirror_commit_list *l;
        size_t max = argc > 4 ? (size_t)strtoul(argv[4], NULL, 10) : 0;
        if ((st = hub_mirror_commits_list(&l, m, NULL, max, &err)) != HUB_OK) {
            rc = fail(st, &err);
        } else {
            for (size_t i = 0; i < l->count; i++)
                printf("%s %s %" PRId64 " %s\n", l->items[i].id,
                       l->items[i].parent[0] ? l->items[i].parent : "-", l->items[i].time,
                       l->items[i].summary);
            hub_mirror_commit_list_free(l);
        }
    } else if (!strcmp(argv[3], "hold")) {
        printf("held\n");
        fflush(stdout);
        while (getchar() != EOF)
            ;
    } else {
        fprintf(stderr, "unknown command %s\n", argv[3]);
        rc = 64;
    }
    hub_mirror_free(m);
    return rc;
}
