/* The space subtree: a Space's directory and its small files (status, runtime.json, info.json,
 * url, hardware, sleeptime, control), rendered from the cache at open so one `cat` sees one
 * consistent text; writes to hardware, sleeptime and control are calls to the Hub (control.c).
 * Modes say what a file allows and open() enforces them even for root, because writes here
 * are calls to the Hub: 0444 read-only, 0644 writable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

/* The files of a Space (control.c writes three of them). */
enum space_file {
    SF_STATUS = 0,
    SF_RUNTIME,
    SF_INFO,
    SF_URL,
    SF_HARDWARE,
    SF_SLEEPTIME,
    SF_CONTROL,
    SF_COUNT
};

enum { SPACE_FILE = 1 }; /* kinds: ROUTER_SPACE (the directory), SPACE_FILE (n->file) */

static const char *const space_file_names[SF_COUNT + 1] = {
    "status", "runtime.json", "info.json", "url", "hardware", "sleeptime", "control", NULL};

/* The writable files (0644 for a token that may write) and what a write to them does, a call to
 * the Hub (control.c); the others are read-only (0444). */
static int (*const space_file_writers[SF_COUNT])(struct spacefs_fs *fs, const struct node *n,
                                                 const char *buf, size_t len) = {
    [SF_HARDWARE] = spacefs_hardware_write,
    [SF_SLEEPTIME] = spacefs_sleeptime_write,
    [SF_CONTROL] = spacefs_control_execute,
};

/* The app URL the Hub gave, else the documented shape https://<ns>-<name>.hf.space. */
static char *app_url_locked(const struct space_ent *se, const char *ns)
{
    char *u, *p;

    if (se->sp.url)
        return spacefs_strdup(se->sp.url);
    u = spacefs_asprintf("https://%s-%s.hf.space", ns, se->name);
    for (p = u ? u + 8 : NULL; p && *p && strcmp(p, ".hf.space") != 0; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (*p == '_' || *p == '.')
            *p = '-';
    }
    return u;
}

static char *space_file_text_locked(struct spacefs_fs *fs, const struct node *n,
                                    const struct space_ent *se)
{
    const struct spacefs_runtime *rt = &se->sp.rt;
    char *url, *s = NULL;

    (void)fs;
    switch ((enum space_file)n->file) {
    case SF_STATUS:
        return spacefs_asprintf("%s\n", rt->stage ? rt->stage : "UNKNOWN");
    case SF_URL:
        url = app_url_locked(se, n->ns);
        s = url ? spacefs_asprintf("%s\n", url) : NULL;
        free(url);
        return s;
    case SF_HARDWARE:
        return spacefs_asprintf("%s\n", rt->hardware_current     ? rt->hardware_current
                                        : rt->hardware_requested ? rt->hardware_requested
                                                                 : "none");
    case SF_SLEEPTIME:
        if (rt->sleep_seconds > 0)
            return spacefs_asprintf("%lld\n", (long long)rt->sleep_seconds);
        return spacefs_strdup("never\n");
    case SF_CONTROL:
        return spacefs_strdup(se->last_action ? se->last_action : "none\n");
    case SF_RUNTIME:
        return spacefs_strdup(se->runtime_json ? se->runtime_json : "");
    case SF_INFO:
        return spacefs_strdup(se->info_json ? se->info_json : "");
    case SF_COUNT:
        break;
    }
    return NULL;
}

static int space_file_render(struct spacefs_fs *fs, const struct node *n, char **out,
                             size_t *out_len)
{
    struct space_ent *se;
    char *json = NULL;
    int rc;

    *out = NULL;
    if (n->file == SF_RUNTIME || n->file == SF_INFO) {
        if ((rc = spacefs_space_json(fs, n, n->file == SF_RUNTIME, &json)) < 0)
            return rc;
        *out =
            spacefs_asprintf("%s%s", json, json[0] && json[strlen(json) - 1] != '\n' ? "\n" : "");
        free(json);
        goto done;
    }
    if ((rc = spacefs_space_ensure(fs, n)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    se = spacefs_space_find_locked(fs, n->ns, n->space);
    *out = se ? space_file_text_locked(fs, n, se) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!se)
        return -ENOENT;
done:
    if (!*out)
        return -ENOMEM;
    *out_len = strlen(*out);
    return 0;
}

/* ---- attributes --------------------------------------------------------------------------- */
static int space_parse(struct spacefs_fs *fs, struct node *n, int entry, const char *rest)
{
    (void)fs;
    if (rest[0])
        return -ENOENT;
    n->kind = SPACE_FILE;
    n->file = entry;
    return 0;
}

/* Under fs->lock with the Space fresh: its directory or a file's attributes. */
static int attr_locked(struct spacefs_fs *fs, const struct node *n, struct stat *st, int writable)
{
    struct space_ent *se = spacefs_space_find_locked(fs, n->ns, n->space);
    mode_t mode = S_IFREG | 0444;
    char *text;

    if (!se)
        return -ENOENT;
    if (n->kind == ROUTER_SPACE) {
        router_fill(fs, st, S_IFDIR | 0555, 0, se->sp.last_modified);
        return 0;
    }
    if (writable && space_file_writers[n->file])
        mode = S_IFREG | 0644;
    text = space_file_text_locked(fs, n, se);
    router_fill(fs, st, mode, text ? strlen(text) : 0, se->sp.last_modified);
    free(text);
    return 0;
}

static int space_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    int rc, writable;

    if (n->kind == SPACE_FILE &&
        (n->file == SF_STATUS || n->file == SF_HARDWARE || n->file == SF_SLEEPTIME)) {
        if ((rc = spacefs_space_ensure(fs, n)) < 0) /* sizes come from the runtime */
            return rc;
    } else if (!(n->kind == ROUTER_SPACE && router_skip_listing(fs, n))) {
        /* (the Hub is down and a subtree works offline: the listing we had) */
        if ((rc = spacefs_space_known(fs, n)) < 0 &&
            !(n->kind == ROUTER_SPACE && router_offline_ok(fs, n, rc)))
            return rc;
    }
    writable = spacefs_ns_writable(fs, n->ns);
    pthread_mutex_lock(&fs->lock);
    rc = attr_locked(fs, n, st, writable);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int space_readdir(struct spacefs_fs *fs, const struct node *n, spacefs_fill_fn fn,
                         void *payload)
{
    struct node c = *n;
    struct stat st;
    int i;

    /* the files' attributes come from the cache getattr just refreshed */
    c.kind = SPACE_FILE;
    for (i = 0; i < SF_COUNT; i++) {
        c.file = i;
        if (fn(space_file_names[i], space_getattr(fs, &c, &st) < 0 ? NULL : &st, payload))
            return 0;
    }
    router_space_entries(fs, n, fn, payload);
    return 0;
}

static int space_rmdir(struct spacefs_fs *fs, const struct node *n)
{
    (void)fs;
    if (n->kind == ROUTER_SPACE)
        spacefs_log(SPACEFS_WARN,
                    "rmdir %s: Spaces are not deleted by rmdir; write 'delete %s' to its control "
                    "file to delete it",
                    n->id, n->id);
    return -EPERM;
}

/* ---- files -------------------------------------------------------------------------------- */
/* A command or a whole value per write; offsets do not address anything. */
static long space_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf,
                        size_t size, int64_t off)
{
    int rc;

    (void)off;
    if (!space_file_writers[h->n.file])
        return -EBADF;
    rc = space_file_writers[h->n.file](fs, &h->n, buf, size);
    return rc < 0 ? rc : (long)size;
}

const struct spacefs_subtree_ops spacefs_space_ops = {
    .name = "space",
    .names = space_file_names,
    .parse = space_parse,
    .getattr = space_getattr,
    .readdir = space_readdir,
    .rmdir = space_rmdir,
    .render = space_file_render,
    .write = space_write,
};
