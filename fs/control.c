/* The writable files of a Space: control (restart, rebuild, pause, wakeup, ping, delete),
 * hardware and sleeptime. Input is checked before anything is sent: a word we do not know is
 * EINVAL with no request. The Hub's error reaches the writer as the write(2)'s errno, the log
 * says why, and reading control shows the last action, its time and its result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

/* Remembers "<action> <time> ok|failed: …" for reading control. */
static void record(struct spacefs_fs *fs, const struct node *n, const char *action, int rc,
                   const char *detail)
{
    char when[32], *line;

    spacefs_format_time(when, sizeof(when), (int64_t)time(NULL));
    if (rc == 0)
        line = spacefs_asprintf("%s %s ok%s%s\n", action, when, detail ? " " : "",
                                detail ? detail : "");
    else
        line = spacefs_asprintf("%s %s failed: %s%s%s\n", action, when, strerror(-rc),
                                detail ? ": " : "", detail ? detail : "");
    if (line)
        spacefs_space_set_action(fs, n, line);
    free(line);
}

/* The stage we know for n, fresh; *out new or NULL. */
static int current_stage(struct spacefs_fs *fs, const struct node *n, char **out, char **url)
{
    struct space_ent *se;
    int rc;

    *out = NULL;
    *url = NULL;
    if ((rc = spacefs_space_ensure(fs, n)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    if ((se = spacefs_space_find_locked(fs, n->ns, n->space))) {
        *out = spacefs_strdup(se->sp.rt.stage);
        *url = spacefs_strdup(se->sp.url);
    }
    pthread_mutex_unlock(&fs->lock);
    return se ? 0 : -ENOENT;
}

static int do_visit(struct spacefs_fs *fs, const struct node *n, const char *url, char *detail,
                    size_t dsize)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    long http = 0;

    if (!url) {
        snprintf(detail, dsize, "the Hub gave no app URL");
        return -ENOENT;
    }
    st = fs->be.ops->visit(fs->be.ctx, n->id, url, &http, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK) {
        snprintf(detail, dsize, "%s", err.message[0] ? err.message : spacefs_status_name(st));
        return spacefs_call_failed(fs, "visit app of", n->id, st, &err);
    }
    snprintf(detail, dsize, "HTTP %ld", http);
    spacefs_space_runtime_invalidate(fs, n); /* a visit may wake it: read the stage anew */
    return 0;
}

/* Sends lc for n (what names it in the log). The Hub answers with the new runtime, which
 * refreshes status; without a stage the runtime is read anew. detail (unless NULL) gets the
 * new stage, or why it failed. */
static int lifecycle_call(struct spacefs_fs *fs, const struct node *n,
                          const struct spacefs_lifecycle *lc, const char *what, char *detail,
                          size_t dsize)
{
    struct spacefs_runtime rt = {0};
    struct spacefs_error err = {0};
    enum spacefs_status st = fs->be.ops->lifecycle(fs->be.ctx, n->id, lc, &rt, &err);

    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK) {
        if (detail)
            snprintf(detail, dsize, "%s", err.message[0] ? err.message : spacefs_status_name(st));
        return spacefs_call_failed(fs, what, n->id, st, &err);
    }
    if (detail)
        snprintf(detail, dsize, "%s", rt.stage ? rt.stage : "");
    if (rt.stage)
        spacefs_space_runtime_update(fs, n, &rt);
    else
        spacefs_space_runtime_invalidate(fs, n);
    spacefs_runtime_clear(&rt);
    return 0;
}

/* restart/rebuild/pause */
static int do_lifecycle(struct spacefs_fs *fs, const struct node *n, const char *word, char *detail,
                        size_t dsize)
{
    struct spacefs_lifecycle lc = {SPACEFS_RESTART, NULL, 0};

    if (strcmp(word, "pause") == 0)
        lc.action = SPACEFS_PAUSE;
    else if (strcmp(word, "rebuild") == 0)
        lc.action = SPACEFS_REBUILD;
    return lifecycle_call(fs, n, &lc, word, detail, dsize);
}

static int do_delete(struct spacefs_fs *fs, const struct node *n, char *detail, size_t dsize)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;

    st = fs->be.ops->delete_space(fs->be.ctx, n->id, &err);
    spacefs_count_call(fs, st);
    if (st != SPACEFS_OK) {
        snprintf(detail, dsize, "%s", err.message[0] ? err.message : spacefs_status_name(st));
        return spacefs_call_failed(fs, "delete", n->id, st, &err);
    }
    spacefs_log(SPACEFS_INFO, "deleted Space %s", n->id);
    spacefs_space_remove_local(fs, n->ns, n->space);
    return 0;
}

int spacefs_control_execute(struct spacefs_fs *fs, const struct node *n, const char *buf,
                            size_t len)
{
    char cmd[CMD_MAX], detail[SPACEFS_ERR_MSG_MAX] = "";
    char *stage = NULL, *url = NULL;
    int rc;

    if (spacefs_one_word(cmd, sizeof(cmd), buf, len) < 0)
        return -EINVAL;
    if (strncmp(cmd, "delete ", 7) == 0) {
        /* the deliberate way: the full id typed again, as a confirmation */
        if (strcmp(cmd + 7, n->id) != 0)
            return -EINVAL;
        rc = do_delete(fs, n, detail, sizeof(detail));
        if (rc < 0)
            record(fs, n, "delete", rc, detail);
        return rc;
    }
    if (strcmp(cmd, "restart") == 0 || strcmp(cmd, "rebuild") == 0 || strcmp(cmd, "pause") == 0) {
        rc = do_lifecycle(fs, n, cmd, detail, sizeof(detail));
    } else if (strcmp(cmd, "ping") == 0) {
        if ((rc = current_stage(fs, n, &stage, &url)) == 0)
            rc = do_visit(fs, n, url, detail, sizeof(detail));
    } else if (strcmp(cmd, "wakeup") == 0) {
        /* paused Spaces only wake by a restart; sleeping ones by a visit (gentler: no rebuild) */
        if ((rc = current_stage(fs, n, &stage, &url)) == 0) {
            if (stage && strcmp(stage, "PAUSED") == 0)
                rc = do_lifecycle(fs, n, "restart", detail, sizeof(detail));
            else
                rc = do_visit(fs, n, url, detail, sizeof(detail));
        }
    } else if ((rc = router_control(fs, n, cmd)) == -ENOSYS) {
        return -EINVAL; /* no subtree knows the word either */
    }
    record(fs, n, cmd, rc, detail[0] ? detail : NULL);
    free(stage);
    free(url);
    return rc;
}

int spacefs_hardware_write(struct spacefs_fs *fs, const struct node *n, const char *buf, size_t len)
{
    char flavor[64];
    struct spacefs_lifecycle lc = {SPACEFS_HARDWARE, flavor, 0};
    size_t i;
    int rc;

    if (spacefs_one_word(flavor, sizeof(flavor), buf, len) < 0)
        return -EINVAL;
    for (i = 0; flavor[i]; i++)
        if (!((flavor[i] >= 'a' && flavor[i] <= 'z') || (flavor[i] >= '0' && flavor[i] <= '9') ||
              flavor[i] == '-'))
            return -EINVAL;
    if ((rc = spacefs_flavor_known(fs, flavor)) <= 0) {
        if (rc == 0)
            spacefs_log(SPACEFS_WARN, "hardware %s: unknown flavor '%s'", n->id, flavor);
        return rc == 0 ? -EINVAL : rc;
    }
    return lifecycle_call(fs, n, &lc, "request hardware for", NULL, 0);
}

int spacefs_sleeptime_write(struct spacefs_fs *fs, const struct node *n, const char *buf,
                            size_t len)
{
    struct spacefs_lifecycle lc = {SPACEFS_SLEEPTIME, NULL, 0};
    char word[32], *end;
    long long secs;

    if (spacefs_one_word(word, sizeof(word), buf, len) < 0)
        return -EINVAL;
    if (strcmp(word, "never") == 0) {
        secs = -1;
    } else {
        if (word[0] < '0' || word[0] > '9')
            return -EINVAL;
        errno = 0;
        secs = strtoll(word, &end, 10);
        if (errno || *end || secs <= 0)
            return -EINVAL;
    }
    lc.seconds = (int64_t)secs;
    return lifecycle_call(fs, n, &lc, "set sleep time of", NULL, 0);
}
