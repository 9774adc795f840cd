/* The filesystem's entry points, path based: attributes, directory listings, open/read/write,
 * and the namespace operations (mkdir creates a Space; rmdir and unlink never delete one).
 * Modes say what a file allows and open() enforces them even for root, because writes here
 * are calls to the Hub: 0444 read-only, 0644 writable, 0200 secrets (write-only). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "persist_fs.h"

void spacefs_config_init(struct spacefs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ttl_ms = 5000;
    cfg->whoami_ttl_ms = 600000;
    cfg->flavors_ttl_ms = 3600000;
    cfg->space_sdk = "docker";
    cfg->space_private = 1;
    cfg->uid = getuid();
    cfg->gid = getgid();
    cfg->log_cap = 4 << 20;
    cfg->persist.repo_pattern = "{ns}/{space}-persist";
    cfg->persist.quiet_ms = 2000;
    cfg->persist.interval_ms = 10000;
    cfg->persist.max_delay_ms = 60000;
    cfg->persist.ttl_ms = 30000;
    cfg->persist.sync_timeout_ms = 600000;
    cfg->persist.unmount_wait_ms = 30000;
}

int spacefs_fs_new(struct spacefs_fs **out, const struct spacefs_config *cfg,
                   struct spacefs_backend backend)
{
    struct spacefs_fs *fs;

    *out = NULL;
    fs = calloc(1, sizeof(*fs));
    if (!fs) {
        backend.ops->free(backend.ctx);
        return -ENOMEM;
    }
    fs->cfg = *cfg;
    fs->be = backend;
    fs->space_sdk = strdup(cfg->space_sdk ? cfg->space_sdk : "docker");
    fs->cfg.space_sdk = fs->space_sdk;
    fs->started = (int64_t)time(NULL);
    fs->pers_root = xstrdup(cfg->persist.cache_root);
    fs->pers_pattern =
        xstrdup(cfg->persist.repo_pattern ? cfg->persist.repo_pattern : "{ns}/{space}-persist");
    fs->cfg.persist.cache_root = fs->pers_root;
    fs->cfg.persist.repo_pattern = fs->pers_pattern;
    if (fs->cfg.log_cap < 4096)
        fs->cfg.log_cap = 4096;
    pthread_mutex_init(&fs->lock, NULL);
    pthread_cond_init(&fs->cond, NULL);
    if (!fs->space_sdk || !fs->pers_pattern || (cfg->persist.cache_root && !fs->pers_root)) {
        spacefs_fs_free(fs);
        return -ENOMEM;
    }
    *out = fs;
    return 0;
}

void spacefs_fs_start(struct spacefs_fs *fs)
{
    pers_resume_start(fs);
}

void spacefs_fs_shutdown(struct spacefs_fs *fs)
{
    if (fs)
        pers_shutdown(fs);
}

void spacefs_fs_free(struct spacefs_fs *fs)
{
    if (!fs)
        return;
    pers_free_all(fs); /* the engines' remotes borrow the backend's client */
    while (fs->logs) {
        struct logbuf *lb = fs->logs;
        lb->refs = 1;
        logbuf_release(fs, lb);
    }
    cache_free(fs);
    if (fs->be.ops)
        fs->be.ops->free(fs->be.ctx);
    pthread_cond_destroy(&fs->cond);
    pthread_mutex_destroy(&fs->lock);
    free(fs->space_sdk);
    free(fs->pers_root);
    free(fs->pers_pattern);
    free(fs);
}

void spacefs_fs_counters(struct spacefs_fs *fs, struct spacefs_counters *out)
{
    pthread_mutex_lock(&fs->lock);
    *out = fs->ctr;
    pthread_mutex_unlock(&fs->lock);
}

/* ---- attributes ------------------------------------------------------------------------- */
static void fill(struct spacefs_fs *fs, struct stat *st, mode_t mode, uint64_t size, int64_t mtime)
{
    memset(st, 0, sizeof(*st));
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_uid = fs->cfg.uid;
    st->st_gid = fs->cfg.gid;
    st->st_size = (off_t)size;
    st->st_blksize = 4096;
    st->st_mtime = st->st_ctime = st->st_atime = (time_t)(mtime > 0 ? mtime : time(NULL));
}

static mode_t space_file_mode(int writable, int file)
{
    if (file == SF_HARDWARE || file == SF_SLEEPTIME || file == SF_CONTROL)
        return S_IFREG | (writable ? 0644 : 0444);
    return S_IFREG | 0444;
}

static mode_t kv_mode(int writable, enum spacefs_kv_kind kind)
{
    if (kind == SPACEFS_KV_SECRETS)
        return S_IFREG | (writable ? 0200 : 0000);
    return S_IFREG | (writable ? 0644 : 0444);
}

/* Attributes of a node inside a Space (the Space is known to exist and be fresh). */
static int space_child_attr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    int writable = ns_writable(fs, n->ns), own = ns_is_own(fs, n->ns), rc = 0;
    struct space_ent *se;
    struct kv_ent *k;
    int64_t mtime;
    char *text;

    if ((n->kind == NODE_KV_DIR || n->kind == NODE_KV || n->kind == NODE_LOGS_DIR ||
         n->kind == NODE_LOG) &&
        !own)
        return -ENOENT; /* owner-only Hub APIs: not shown in other namespaces */
    if (n->kind == NODE_KV) {
        if (!name_valid_key(n->key))
            return -ENOENT;
        if ((rc = kv_ensure(fs, n)) < 0)
            return rc;
    }
    pthread_mutex_lock(&fs->lock);
    if (!(se = space_find_locked(fs, n->ns, n->space))) {
        rc = -ENOENT;
        goto out;
    }
    mtime = se->sp.last_modified;
    switch (n->kind) {
    case NODE_SPACE:
        fill(fs, st, S_IFDIR | 0555, 0, mtime);
        break;
    case NODE_FILE:
        text = space_file_text_locked(fs, n, se);
        fill(fs, st, space_file_mode(writable, n->file), text ? strlen(text) : 0, mtime);
        free(text);
        break;
    case NODE_KV_DIR:
        fill(fs, st, S_IFDIR | (writable ? 0755 : 0555), 0, mtime);
        break;
    case NODE_KV:
        if (!(k = kv_find_locked(fs, n))) {
            rc = -ENOENT;
            break;
        }
        fill(fs, st, kv_mode(writable, n->kv), k->value ? strlen(k->value) + 1 : 0, mtime);
        break;
    case NODE_LOGS_DIR:
        fill(fs, st, S_IFDIR | 0555, 0, mtime);
        break;
    case NODE_LOG:
        break; /* filled below, without fs->lock */
    default:
        rc = -ENOENT;
    }
out:
    pthread_mutex_unlock(&fs->lock);
    if (rc == 0 && n->kind == NODE_LOG)
        fill(fs, st, S_IFREG | 0444, logbuf_size(fs, n), 0);
    return rc;
}

static int node_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    int rc;

    switch (n->kind) {
    case NODE_ROOT:
    case NODE_META_DIR:
        fill(fs, st, S_IFDIR | 0555, 0, 0);
        return 0;
    case NODE_META_FILE:
        fill(fs, st, S_IFREG | 0444, 0, 0);
        return 0;
    case NODE_PERSIST:
    case NODE_SNAP:
    case NODE_PFILE:
        return pers_getattr(fs, n, st);
    case NODE_NS:
        if (!pers_skip_listing(fs, n) && (rc = ns_ensure(fs, n->ns)) < 0 &&
            !pers_offline_ok(fs, n, rc))
            return rc;
        fill(fs, st, S_IFDIR | (ns_writable(fs, n->ns) ? 0755 : 0555), 0, 0);
        return 0;
    case NODE_FILE:
        if (n->file == SF_STATUS || n->file == SF_HARDWARE || n->file == SF_SLEEPTIME) {
            if ((rc = space_ensure(fs, n)) < 0) /* sizes come from the runtime */
                return rc;
            return space_child_attr(fs, n, st);
        }
        /* fall through */
    default:
        if (n->kind == NODE_SPACE && pers_skip_listing(fs, n))
            return space_child_attr(fs, n, st); /* the Hub is down: the listing we had */
        if ((rc = ns_ensure(fs, n->ns)) < 0 &&
            !(n->kind == NODE_SPACE && pers_offline_ok(fs, n, rc)))
            return rc;
        return space_child_attr(fs, n, st);
    }
}

int spacefs_fs_getattr(struct spacefs_fs *fs, const char *path, struct stat *st)
{
    struct node n;
    int rc;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    return node_getattr(fs, &n, st);
}

/* ---- directories ------------------------------------------------------------------------ */
static int fill_child(struct spacefs_fs *fs, const struct node *dir, const char *name,
                      spacefs_fill_fn fn, void *payload)
{
    struct node c = *dir;
    struct stat st;
    int i;

    /* children's attributes come from the cache the listing just refreshed: no network */
    switch (dir->kind) {
    case NODE_NS:
        c.kind = NODE_SPACE;
        snprintf(c.space, sizeof(c.space), "%s", name);
        snprintf(c.id, sizeof(c.id), "%s/%s", c.ns, c.space);
        break;
    case NODE_SPACE:
        c.kind = NODE_FILE;
        for (i = 0; i < SF_COUNT; i++)
            if (strcmp(space_file_names[i], name) == 0)
                c.file = i;
        break;
    default:
        return fn(name, NULL, payload);
    }
    if (node_getattr(fs, &c, &st) < 0)
        return fn(name, NULL, payload);
    return fn(name, &st, payload);
}

static int list_names(char ***out, size_t *count, struct spacefs_fs *fs, const struct node *n)
{
    struct ns_ent *e;
    struct kv_cache *kc;
    struct space_ent *se;
    char **v = NULL;
    size_t i, c = 0;

    pthread_mutex_lock(&fs->lock);
    if (n->kind == NODE_NS) {
        e = ns_find_locked(fs, n->ns);
        c = e ? e->count : 0;
        v = calloc(c + 1, sizeof(char *));
        for (i = 0; v && i < c; i++)
            v[i] = xstrdup(e->spaces[i]->name);
    } else {
        se = space_find_locked(fs, n->ns, n->space);
        kc = se ? &se->kv[n->kv] : NULL;
        c = kc ? kc->count : 0;
        v = calloc(c + 1, sizeof(char *));
        for (i = 0; v && i < c; i++)
            v[i] = xstrdup(kc->items[i].key);
    }
    pthread_mutex_unlock(&fs->lock);
    if (!v)
        return -ENOMEM;
    *out = v;
    *count = c;
    return 0;
}

static int readdir_root(struct spacefs_fs *fs, spacefs_fill_fn fn, void *payload)
{
    struct spacefs_whoami w = {0};
    size_t i;
    int rc;

    if ((rc = whoami_get(fs, &w)) < 0)
        return rc;
    if (!fn(".spacefs", NULL, payload) && w.name && !fn(w.name, NULL, payload))
        for (i = 0; i < w.orgs_count; i++)
            if (fn(w.orgs[i], NULL, payload))
                break;
    spacefs_whoami_clear(&w);
    return 0;
}

int spacefs_fs_readdir(struct spacefs_fs *fs, const char *path, spacefs_fill_fn fn, void *payload)
{
    struct node n;
    struct stat st;
    char **names = NULL;
    size_t count = 0, i;
    int rc, own;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    if ((rc = node_getattr(fs, &n, &st)) < 0)
        return rc;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (fn(".", NULL, payload) || fn("..", NULL, payload))
        return 0;
    switch (n.kind) {
    case NODE_ROOT:
        return readdir_root(fs, fn, payload);
    case NODE_META_DIR:
        for (i = 0; i < MF_COUNT; i++)
            if (fn(meta_file_names[i], NULL, payload))
                break;
        return 0;
    case NODE_SPACE:
        own = ns_is_own(fs, n.ns);
        for (i = 0; i < SF_COUNT; i++)
            if (fill_child(fs, &n, space_file_names[i], fn, payload))
                return 0;
        if (own && (fn("secrets", NULL, payload) || fn("variables", NULL, payload) ||
                    fn("logs", NULL, payload)))
            return 0;
        if (pers_enabled(fs, n.ns) && !fn("persist", NULL, payload) &&
            !fn("snapshots", NULL, payload))
            for (i = 0; i < PF_COUNT; i++)
                if (fn(persist_file_names[i], NULL, payload))
                    break;
        return 0;
    case NODE_PERSIST:
    case NODE_SNAP:
        return pers_readdir(fs, &n, fn, payload);
    case NODE_LOGS_DIR:
        if (!fn(log_names[0], NULL, payload))
            fn(log_names[1], NULL, payload);
        return 0;
    case NODE_KV_DIR:
        if ((rc = kv_ensure(fs, &n)) < 0)
            return rc;
        break;
    default:
        break;
    }
    if ((rc = list_names(&names, &count, fs, &n)) < 0)
        return rc;
    for (i = 0; i < count; i++)
        if (names[i] && fill_child(fs, &n, names[i], fn, payload))
            break;
    spacefs_strv_free(names, count);
    return 0;
}

/* ---- namespace operations --------------------------------------------------------------- */
static int is_pers(const struct node *n)
{
    return n->kind == NODE_PERSIST || n->kind == NODE_SNAP || n->kind == NODE_PFILE;
}

/* Splits "/a/b/c" into the parent node and the last component. */
static int parse_parent(struct node *parent, char *last, size_t size, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc;

    if (!slash || strlen(slash + 1) >= size || !slash[1])
        return -ENOENT;
    snprintf(last, size, "%s", slash + 1);
    if (!(dir = strndup(path, (size_t)(slash - path))))
        return -ENOMEM;
    rc = node_parse(parent, dir);
    free(dir);
    return rc;
}

int spacefs_fs_mkdir(struct spacefs_fs *fs, const char *path, mode_t mode)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct node parent;
    char name[COMP_MAX + 1], *id;
    int rc;

    if (node_parse(&parent, path) == 0 && is_pers(&parent))
        return pers_mkdir(fs, &parent, mode);
    if ((rc = parse_parent(&parent, name, sizeof(name), path)) < 0)
        return rc;
    if (parent.kind == NODE_ROOT)
        return -EPERM; /* namespaces are accounts and orgs, not made here */
    if (parent.kind != NODE_NS)
        return -EACCES;
    if ((rc = ns_ensure(fs, parent.ns)) < 0)
        return rc;
    if (!name_valid_hf(name))
        return -EINVAL;
    if (!ns_writable(fs, parent.ns))
        return -EACCES;
    if (!(id = xasprintf("%s/%s", parent.ns, name)))
        return -ENOMEM;
    st = fs->be.ops->create_space(fs->be.ctx, id, fs->cfg.space_sdk, fs->cfg.space_private, &err);
    count_call(fs, st);
    if (st == SPACEFS_OK) {
        spacefs_log(SPACEFS_INFO, "created Space %s (%s, %s)", id, fs->cfg.space_sdk,
                    fs->cfg.space_private ? "private" : "public");
        space_add_local(fs, parent.ns, name);
    } else {
        rc = call_failed(fs, "create Space", id, st, &err);
        if (st == SPACEFS_E_PAYMENT)
            spacefs_log(SPACEFS_WARN,
                        "creating %s needs a paid plan (HTTP 402): try "
                        "-o space_sdk=static",
                        id);
    }
    free(id);
    return rc;
}

int spacefs_fs_rmdir(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    if (is_pers(&n))
        return pers_rmdir(fs, &n);
    if (n.kind == NODE_SPACE) {
        spacefs_log(SPACEFS_WARN,
                    "rmdir %s: Spaces are not deleted by rmdir; write 'delete %s' to its control "
                    "file to delete it",
                    n.id, n.id);
        return -EPERM;
    }
    return -EPERM;
}

int spacefs_fs_unlink(struct spacefs_fs *fs, const char *path)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    struct kv_ent *k;
    struct node n;
    int rc, pending;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    if (is_pers(&n))
        return pers_unlink(fs, &n);
    if (n.kind != NODE_KV)
        return -EPERM;
    if (!name_valid_key(n.key))
        return -ENOENT;
    if (!ns_writable(fs, n.ns))
        return -EACCES;
    if ((rc = kv_ensure(fs, &n)) < 0)
        return rc;
    pthread_mutex_lock(&fs->lock);
    k = kv_find_locked(fs, &n);
    pending = k && k->pending;
    pthread_mutex_unlock(&fs->lock);
    if (!k)
        return -ENOENT;
    if (pending) {
        kv_drop_pending(fs, &n);
        return 0;
    }
    st = fs->be.ops->kv_delete(fs->be.ctx, n.id, n.kv, n.key, &err);
    count_call(fs, st);
    if (st != SPACEFS_OK)
        return call_failed(fs,
                           n.kv == SPACEFS_KV_SECRETS ? "delete secret of" : "delete variable of",
                           n.id, st, &err);
    kv_record(fs, &n, NULL, 0, 1);
    return 0;
}

int spacefs_fs_truncate(struct spacefs_fs *fs, const char *path, int64_t size)
{
    struct stat st;
    struct node n;
    int rc;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    if (is_pers(&n))
        return pers_truncate(fs, &n, size);
    if ((rc = node_getattr(fs, &n, &st)) < 0)
        return rc;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (!(st.st_mode & 0200))
        return -EACCES;
    /* writing replaces the whole value or is a command: truncating to 0 is what ">" does */
    return size == 0 ? 0 : -EINVAL;
}

int spacefs_fs_rename(struct spacefs_fs *fs, const char *from, const char *to, unsigned flags)
{
    struct node a, b;
    int rc;

    if ((rc = node_parse(&a, from)) < 0)
        return rc;
    if ((rc = node_parse(&b, to)) < 0)
        return is_pers(&a) ? -EXDEV : rc;
    if (is_pers(&a) || is_pers(&b))
        return pers_rename(fs, &a, &b, flags);
    return -EPERM; /* Spaces, secrets and the Hub's files are not renamed */
}

int spacefs_fs_fsyncdir(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    return is_pers(&n) ? pers_fsyncdir(fs, &n) : 0;
}

int spacefs_fs_utimens(struct spacefs_fs *fs, const char *path, int64_t mtime)
{
    struct node n;
    struct stat st;
    int rc;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    return is_pers(&n) ? pers_utimens(fs, &n, mtime) : spacefs_fs_getattr(fs, path, &st);
}

int spacefs_fs_setattr(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if ((rc = node_parse(&n, path)) < 0)
        return rc;
    return is_pers(&n) ? pers_setattr(fs, &n) : -EPERM;
}

/* ---- the same on an open handle ------------------------------------------------------------ */
int spacefs_fs_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                        struct stat *st)
{
    if (h->ph)
        return pers_fgetattr(fs, h, st);
    if (path)
        return spacefs_fs_getattr(fs, path, st);
    return is_pers(&h->n) ? -ESTALE : node_getattr(fs, &h->n, st);
}

int spacefs_fs_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path)
{
    if (h->ph || h->snap_open)
        return pers_fsetattr(fs, h);
    return path ? spacefs_fs_setattr(fs, path) : -EPERM;
}

int spacefs_fs_futimens(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                        int64_t mtime)
{
    struct stat st;

    if (h->ph || h->snap_open)
        return pers_futimens(fs, h, mtime);
    return path ? spacefs_fs_utimens(fs, path, mtime) : spacefs_fs_fgetattr(fs, h, NULL, &st);
}
