/* The router: every path-based call of fs.h parses its path once and goes to the subtree that
 * owns it (the table below); every handle call goes to the subtree that opened the handle. What
 * no subtree implements gets one default here. See router.h for the subtrees. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

void **router_state(struct spacefs_fs *fs, const struct spacefs_subtree_ops *ops)
{
    size_t i;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i] == ops)
            return &fs->sub_state[i];
    return NULL;
}

void **router_state_named(struct spacefs_fs *fs, const char *name)
{
    size_t i;

    for (i = 0; i < fs->nsub; i++)
        if (strcmp(fs->subtrees[i]->name, name) == 0)
            return &fs->sub_state[i];
    return NULL;
}

int router_init(struct spacefs_fs *fs)
{
    size_t i;
    int rc;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->init && (rc = fs->subtrees[i]->init(fs)) < 0)
            return rc;
    return 0;
}

void router_start(struct spacefs_fs *fs)
{
    size_t i;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->start)
            fs->subtrees[i]->start(fs);
}

void router_shutdown(struct spacefs_fs *fs)
{
    size_t i;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->shutdown)
            fs->subtrees[i]->shutdown(fs);
}

void router_free(struct spacefs_fs *fs)
{
    size_t i;

    router_hidden_free(fs);
    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->free)
            fs->subtrees[i]->free(fs);
}

/* ---- parsing ------------------------------------------------------------------------------ */
/* The next component at *p (advanced past it) into comp; its length, 0 at the end, or -1 when
 * longer than a component may be. */
static int next_comp(const char **p, char comp[COMP_MAX + 1])
{
    size_t len;

    while (**p == '/')
        (*p)++;
    len = strcspn(*p, "/");
    if (len > COMP_MAX)
        return -1;
    memcpy(comp, *p, len);
    comp[len] = '\0';
    *p += len;
    return (int)len;
}

/* The subtree owning `name` at the root (root != 0) or in a Space directory. */
static int owner_parse(struct spacefs_fs *fs, struct node *out, const char *name, const char *rest,
                       int root)
{
    size_t i;
    int j;

    for (i = 0; i < fs->nsub; i++) {
        const char *const *names = root ? fs->subtrees[i]->root_names : fs->subtrees[i]->names;
        for (j = 0; names && names[j]; j++)
            if (strcmp(names[j], name) == 0) {
                out->sub = fs->subtrees[i];
                while (*rest == '/')
                    rest++;
                out->rest = rest;
                return fs->subtrees[i]->parse ? fs->subtrees[i]->parse(fs, out, j, rest) : 0;
            }
    }
    return -ENOENT;
}

int router_parse(struct spacefs_fs *fs, struct node *out, const char *path)
{
    char comp[COMP_MAX + 1];
    const char *p = path;
    int len;

    memset(out, 0, sizeof(*out));
    out->rest = "";
    if (!path) /* a call on a file unlinked while open that has no handle to answer with */
        return -ESTALE;
    out->sub = fs->subtrees[0]; /* the listing */
    out->kind = ROUTER_ROOT;
    if ((len = next_comp(&p, comp)) <= 0)
        return len < 0 ? -ENOENT : 0;
    if (!spacefs_name_valid(comp))
        return owner_parse(fs, out, comp, p, 1);
    memcpy(out->ns, comp, (size_t)len + 1);
    out->kind = ROUTER_NS;
    if ((len = next_comp(&p, comp)) <= 0)
        return len < 0 ? -ENOENT : 0;
    if (!spacefs_name_valid(comp))
        return -ENOENT;
    memcpy(out->space, comp, (size_t)len + 1);
    snprintf(out->id, sizeof(out->id), "%.96s/%.96s", out->ns, out->space);
    out->sub = fs->subtrees[1]; /* the Space */
    out->kind = ROUTER_SPACE;
    if ((len = next_comp(&p, comp)) <= 0)
        return len < 0 ? -ENOENT : 0;
    return owner_parse(fs, out, comp, p, 0);
}

/* Splits "/a/b/c" into the parent node and the last component. */
static int parse_parent(struct spacefs_fs *fs, struct node *parent, char *last, size_t size,
                        const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc;

    if (!slash || strlen(slash + 1) >= size || !slash[1])
        return -ENOENT;
    snprintf(last, size, "%s", slash + 1);
    if (!(dir = strndup(path, (size_t)(slash - path))))
        return -ENOMEM;
    rc = router_parse(fs, parent, dir);
    free(dir);
    return rc;
}

/* ---- hooks -------------------------------------------------------------------------------- */
int router_offline_ok(struct spacefs_fs *fs, const struct node *n, int rc)
{
    size_t i;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->offline_ok && fs->subtrees[i]->offline_ok(fs, n, rc))
            return 1;
    return 0;
}

int router_skip_listing(struct spacefs_fs *fs, const struct node *n)
{
    size_t i;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->skip_listing && fs->subtrees[i]->skip_listing(fs, n))
            return 1;
    return 0;
}

int router_control(struct spacefs_fs *fs, const struct node *space, const char *word)
{
    size_t i;
    int rc;

    for (i = 0; i < fs->nsub; i++)
        if (fs->subtrees[i]->control && (rc = fs->subtrees[i]->control(fs, space, word)) != -ENOSYS)
            return rc;
    return -ENOSYS;
}

int router_space_entries(struct spacefs_fs *fs, const struct node *space, spacefs_fill_fn fn,
                         void *payload)
{
    size_t i;
    int j;

    for (i = 0; i < fs->nsub; i++) {
        if (fs->subtrees[i] == space->sub || !fs->subtrees[i]->names ||
            (fs->subtrees[i]->shown && !fs->subtrees[i]->shown(fs, space)))
            continue;
        for (j = 0; fs->subtrees[i]->names[j]; j++)
            if (fn(fs->subtrees[i]->names[j], NULL, payload))
                return 1;
    }
    return 0;
}

/* ---- helpers for subtrees ------------------------------------------------------------------ */
void router_fill(struct spacefs_fs *fs, struct stat *st, mode_t mode, uint64_t size, int64_t mtime)
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

int router_want_read(int flags)
{
    return (flags & O_ACCMODE) != O_WRONLY;
}

int router_want_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY;
}

int router_shown_own(struct spacefs_fs *fs, const struct node *space)
{
    return spacefs_ns_is_own(fs, space->ns);
}

int router_open_check(struct spacefs_fs *fs, const struct node *n, int flags)
{
    struct stat st;
    int rc;

    if ((rc = router_getattr(fs, n, &st)) < 0)
        return rc;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if ((router_want_read(flags) && !(st.st_mode & 0400)) ||
        (router_want_write(flags) && !(st.st_mode & 0200)))
        return -EACCES;
    return 0;
}

long router_text_read(const struct router_text *t, char *buf, size_t size, int64_t off)
{
    size_t n;

    if (!t || !t->data)
        return -EBADF;
    if (off < 0 || (uint64_t)off >= t->len)
        return 0;
    n = t->len - (size_t)off;
    if (n > size)
        n = size;
    memcpy(buf, t->data + off, n);
    return (long)n;
}

void router_text_free(struct router_text *t)
{
    if (!t)
        return;
    free(t->data);
    free(t);
}

/* ---- inode numbers ------------------------------------------------------------------------
 * st_ino is ours (use_ino), stable for the life of the mount: persist/ numbers its files and
 * directories in the engine (a counter, moved by renames); everything else is a hash of its
 * path with bit 62 set (the engine's counter never gets there), the root 1. */
uint64_t router_ino(const char *path)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */

    if (!path || !strcmp(path, "/"))
        return 1;
    for (; *path; path++)
        h = (h ^ (unsigned char)*path) * 1099511628211ULL;
    return (h & ((1ULL << 62) - 1)) | (1ULL << 62);
}

/* ---- files unlinked while open --------------------------------------------------------------
 * hard_remove is off: libfuse unlinks a file that is still open by renaming it to
 * ".fuse_hidden%08x%08x" in its directory, asks for that path's attributes when the kernel
 * sends GETATTR/SETATTR without a file handle (fstat, fchmod, futimens), and unlinks it after
 * the last close. A subtree that renames (persist/) serves such names itself; for the others
 * the rename is the unlink, and the name keeps the attributes the file had until then. */
struct hidden {
    struct spacefs_fs *fs;
    char *path;
    struct stat st;
    struct hidden *next;
};
static pthread_mutex_t hidden_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hidden *hidden_list;

/* The hidden name's attributes (st may be NULL); remove: forget it. 0 or -ENOENT. */
static int hidden_find(struct spacefs_fs *fs, const char *path, struct stat *st, int remove)
{
    struct hidden **pp, *h;
    int rc = -ENOENT;

    if (!spacefs_hidden_name(path))
        return -ENOENT;
    pthread_mutex_lock(&hidden_lock);
    for (pp = &hidden_list; (h = *pp); pp = &h->next) {
        if (h->fs != fs || strcmp(h->path, path))
            continue;
        if (st)
            *st = h->st;
        if (remove) {
            *pp = h->next;
            free(h->path);
            free(h);
        }
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&hidden_lock);
    return rc;
}

static int hide_generic(struct spacefs_fs *fs, const char *from, const char *to)
{
    struct hidden *h = calloc(1, sizeof(*h));
    int rc;

    if (!h || !(h->path = strdup(to))) {
        free(h);
        return -ENOMEM;
    }
    if ((rc = spacefs_fs_getattr(fs, from, &h->st)) < 0 || (rc = spacefs_fs_unlink(fs, from)) < 0) {
        free(h->path);
        free(h);
        return rc;
    }
    h->fs = fs;
    h->st.st_nlink = 1; /* libfuse takes one off for its hidden nodes */
    pthread_mutex_lock(&hidden_lock);
    h->next = hidden_list;
    hidden_list = h;
    pthread_mutex_unlock(&hidden_lock);
    return 0;
}

void router_hidden_free(struct spacefs_fs *fs)
{
    struct hidden **pp = &hidden_list, *h;

    pthread_mutex_lock(&hidden_lock);
    while ((h = *pp)) {
        if (h->fs != fs) {
            pp = &h->next;
            continue;
        }
        *pp = h->next;
        free(h->path);
        free(h);
    }
    pthread_mutex_unlock(&hidden_lock);
}

/* ---- paths -------------------------------------------------------------------------------- */
/* A change to n in a read-only subtree. */
static int read_only(struct spacefs_fs *fs, const struct node *n)
{
    struct stat st;
    int rc = router_getattr(fs, n, &st);

    return rc < 0 ? rc : -EROFS;
}

/* The prologue of a change to path: 1 when path is a hidden name (hidden: its attributes are
 * kept, the change is done), else 0 with n parsed in a subtree that changes, or -errno (EROFS
 * on what exists in a read-only one). */
static int parse_change(struct spacefs_fs *fs, struct node *n, const char *path, int hidden)
{
    int rc;

    if (hidden && hidden_find(fs, path, NULL, 0) == 0)
        return 1;
    if ((rc = router_parse(fs, n, path)) < 0)
        return rc;
    return n->sub->read_only ? read_only(fs, n) : 0;
}

int router_getattr(struct spacefs_fs *fs, const struct node *n, struct stat *st)
{
    return n->sub->getattr ? n->sub->getattr(fs, n, st) : -ENOENT;
}

int spacefs_fs_getattr(struct spacefs_fs *fs, const char *path, struct stat *st)
{
    struct node n;
    int rc;

    if (hidden_find(fs, path, st, 0) == 0)
        return 0;
    if ((rc = router_parse(fs, &n, path)) < 0 || (rc = router_getattr(fs, &n, st)) < 0)
        return rc;
    if (!st->st_ino)
        st->st_ino = (ino_t)router_ino(path);
    return 0;
}

/* readdir's entries get the inode numbers getattr gives (d_ino); "." and ".." stay unknown. */
struct ino_fill {
    const char *dir;
    spacefs_fill_fn fn;
    void *payload;
};

static int ino_fill(const char *name, const struct stat *st, void *payload)
{
    struct ino_fill *f = payload;
    struct stat s;
    char *child;

    if (st && st->st_ino)
        return f->fn(name, st, f->payload);
    if (st)
        s = *st;
    else
        memset(&s, 0, sizeof(s)); /* no type: DT_UNKNOWN */
    if (!(child = spacefs_asprintf("%s/%s", strcmp(f->dir, "/") ? f->dir : "", name)))
        return f->fn(name, st, f->payload);
    s.st_ino = (ino_t)router_ino(child);
    free(child);
    return f->fn(name, &s, f->payload);
}

int spacefs_fs_readdir(struct spacefs_fs *fs, const char *path, spacefs_fill_fn fn, void *payload)
{
    struct ino_fill f = {path, fn, payload};
    struct node n;
    struct stat st;
    int rc;

    if ((rc = router_parse(fs, &n, path)) < 0 || (rc = router_getattr(fs, &n, &st)) < 0)
        return rc;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (fn(".", NULL, payload) || fn("..", NULL, payload))
        return 0;
    return n.sub->readdir ? n.sub->readdir(fs, &n, ino_fill, &f) : 0;
}

int spacefs_fs_mkdir(struct spacefs_fs *fs, const char *path, mode_t mode)
{
    struct node n;
    char name[COMP_MAX + 1];
    int rc;

    if ((rc = router_parse(fs, &n, path)) == 0 && n.sub->read_only) {
        rc = read_only(fs, &n);
        return rc == -EROFS ? -EEXIST : rc == -ENOENT ? -EROFS : rc;
    }
    if (rc == 0 && n.sub->mkdir)
        return n.sub->mkdir(fs, &n, mode);
    if ((rc = parse_parent(fs, &n, name, sizeof(name), path)) < 0)
        return rc;
    return n.sub->mkdir_child ? n.sub->mkdir_child(fs, &n, name, mode) : -EACCES;
}

int spacefs_fs_rmdir(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if ((rc = parse_change(fs, &n, path, 0)) < 0)
        return rc;
    return n.sub->rmdir ? n.sub->rmdir(fs, &n) : -EPERM;
}

int spacefs_fs_unlink(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if (hidden_find(fs, path, NULL, 1) == 0)
        return 0; /* libfuse's unlink after the last close */
    if ((rc = parse_change(fs, &n, path, 0)) < 0)
        return rc;
    return n.sub->unlink ? n.sub->unlink(fs, &n) : -EPERM;
}

int spacefs_fs_truncate(struct spacefs_fs *fs, const char *path, int64_t size)
{
    struct node n;
    struct stat st;
    int rc;

    if ((rc = parse_change(fs, &n, path, 0)) < 0)
        return rc;
    if (n.sub->truncate)
        return n.sub->truncate(fs, &n, size);
    if ((rc = router_getattr(fs, &n, &st)) < 0)
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

    if ((rc = router_parse(fs, &a, from)) < 0)
        return rc;
    if (!a.sub->rename && spacefs_hidden_name(to) && !flags)
        return hide_generic(fs, from, to); /* libfuse hides an open file it unlinks */
    if ((rc = router_parse(fs, &b, to)) < 0)
        return a.sub->rename ? -EXDEV : rc;
    if (a.sub == b.sub && a.sub->rename)
        return a.sub->rename(fs, &a, &b, flags);
    if (a.sub->rename || b.sub->rename || a.sub->read_only)
        return -EXDEV; /* mv copies instead */
    return -EPERM;     /* Spaces, secrets and the Hub's files are not renamed */
}

int spacefs_fs_fsyncdir(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if ((rc = router_parse(fs, &n, path)) < 0)
        return rc;
    return n.sub->fsyncdir ? n.sub->fsyncdir(fs, &n) : 0;
}

int spacefs_fs_utimens(struct spacefs_fs *fs, const char *path, const struct timespec tv[2])
{
    struct node n;
    struct stat st;
    int rc;

    if ((rc = parse_change(fs, &n, path, 1)) != 0)
        return rc < 0 ? rc : 0;
    /* times are the Hub's: touch is a no-op that succeeds on what exists */
    return n.sub->utimens ? n.sub->utimens(fs, &n, tv) : router_getattr(fs, &n, &st);
}

int spacefs_fs_chmod(struct spacefs_fs *fs, const char *path, mode_t mode)
{
    struct node n;
    int rc;

    if ((rc = parse_change(fs, &n, path, 1)) != 0)
        return rc < 0 ? rc : 0;
    if (n.sub->chmod)
        return n.sub->chmod(fs, &n, mode);
    return n.sub->setattr ? n.sub->setattr(fs, &n) : -EPERM;
}

int spacefs_fs_symlink(struct spacefs_fs *fs, const char *target, const char *path)
{
    struct node n;
    struct stat st;
    int rc;

    if ((rc = router_parse(fs, &n, path)) < 0)
        return rc;
    if (n.sub->read_only)
        return router_getattr(fs, &n, &st) == 0 ? -EEXIST : -EROFS;
    return n.sub->symlink ? n.sub->symlink(fs, &n, target) : -EPERM;
}

int spacefs_fs_readlink(struct spacefs_fs *fs, const char *path, char *buf, size_t size)
{
    struct node n;
    struct stat st;
    int rc;

    if ((rc = router_parse(fs, &n, path)) < 0)
        return rc;
    if (n.sub->readlink)
        return n.sub->readlink(fs, &n, buf, size);
    return (rc = router_getattr(fs, &n, &st)) < 0 ? rc : -EINVAL;
}

/* No subtree has hard links: persist/ keeps one path per file in a Dataset that has no way
 * to say two paths are one file (docs/filesystem.md). */
int spacefs_fs_link(struct spacefs_fs *fs, const char *from, const char *to)
{
    struct node a, b;
    struct stat st;
    int rc;

    if ((rc = router_parse(fs, &a, from)) < 0 || (rc = router_getattr(fs, &a, &st)) < 0)
        return rc;
    if ((rc = router_parse(fs, &b, to)) < 0)
        return rc;
    if (router_getattr(fs, &b, &st) == 0)
        return -EEXIST;
    return b.sub->read_only ? -EROFS : -EPERM;
}

int spacefs_fs_setattr(struct spacefs_fs *fs, const char *path)
{
    struct node n;
    int rc;

    if ((rc = parse_change(fs, &n, path, 1)) != 0)
        return rc < 0 ? rc : 0;
    return n.sub->setattr ? n.sub->setattr(fs, &n) : -EPERM;
}

/* ---- files -------------------------------------------------------------------------------- */
/* open of a subtree's file served by render: its text when opened for reading */
static int text_open(struct spacefs_fs *fs, struct spacefs_handle *h, int create)
{
    struct router_text *t;
    int rc;

    if (create)
        return -ENOSYS;
    if ((rc = router_open_check(fs, &h->n, h->flags)) < 0)
        return rc;
    if (!(t = calloc(1, sizeof(*t))))
        return -ENOMEM;
    if (router_want_read(h->flags) && (rc = h->ops->render(fs, &h->n, &t->data, &t->len)) < 0) {
        router_text_free(t);
        return rc;
    }
    h->state = t;
    return 0;
}

/* open(2) and creat(2). A subtree's open answers -ENOSYS to a create it does not serve. */
static int handle_open(struct spacefs_fs *fs, const char *path, int flags, mode_t mode, int create,
                       struct spacefs_handle **out)
{
    struct spacefs_handle *h;
    const char *rest;
    struct stat st;
    char *dir, *slash;
    int rc;

    *out = NULL;
    if (!(h = calloc(1, sizeof(*h))))
        return -ENOMEM;
    h->flags = flags;
    if ((rc = router_parse(fs, &h->n, path)) == -ENOENT && create)
        rc = -ENOSYS; /* a name nobody owns: below */
    else if (rc == 0 && (h->n.sub->open || h->n.sub->render)) {
        h->ops = h->n.sub;
        rest = h->n.rest;
        h->n.rest = ""; /* points into path */
        rc = h->ops->open ? h->ops->open(fs, h, rest, mode, create) : text_open(fs, h, create);
        if (rc == 0) {
            *out = h;
            return 0;
        }
    } else if (rc == 0 && create) {
        rc = -ENOSYS;
    } else if (rc == 0) { /* directories of the Hub's */
        rc = router_getattr(fs, &h->n, &st);
        rc = rc < 0 ? rc : S_ISDIR(st.st_mode) ? -EISDIR : -EACCES;
    }
    free(h);
    if (rc != -ENOSYS)
        return rc;
    /* a new name where only the Hub's own files live */
    if (!(dir = strdup(path)))
        return -ENOMEM;
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    rc = spacefs_fs_getattr(fs, slash && dir[0] ? dir : "/", &st);
    free(dir);
    return rc < 0 ? rc : -EACCES;
}

int spacefs_fs_open(struct spacefs_fs *fs, const char *path, int flags, struct spacefs_handle **out)
{
    return handle_open(fs, path, flags, 0, 0, out);
}

int spacefs_fs_create(struct spacefs_fs *fs, const char *path, mode_t mode, int flags,
                      struct spacefs_handle **out)
{
    return handle_open(fs, path, flags, mode, 1, out);
}

int spacefs_handle_direct_io(const struct spacefs_handle *h)
{
    (void)h;
    return 1; /* contents change behind the kernel's back; secrets never reach the page cache */
}

long spacefs_fs_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                     int64_t off)
{
    if (h->ops->read)
        return h->ops->read(fs, h, buf, size, off);
    return h->ops->render ? router_text_read(h->state, buf, size, off) : -EBADF;
}

long spacefs_fs_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                      int64_t off)
{
    if (!h->ops->write || !router_want_write(h->flags))
        return -EBADF;
    return h->ops->write(fs, h, buf, size, off);
}

int spacefs_fs_flush(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    /* Outside persist/ nothing: a shell's "> file" closes a duplicate of the descriptor, and so
     * flushes, before the first write. */
    return h->ops->flush ? h->ops->flush(fs, h) : 0;
}

int spacefs_fs_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                         int64_t size)
{
    if (h->ops->read_only)
        return -EROFS;
    if (h->ops->ftruncate)
        return h->ops->ftruncate(fs, h, size);
    return path ? spacefs_fs_truncate(fs, path, size) : -EBADF;
}

int spacefs_fs_fsync(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    return h->ops->fsync ? h->ops->fsync(fs, h) : 0;
}

int spacefs_fs_fgetattr(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                        struct stat *st)
{
    int rc;

    if (h->ops->fgetattr)
        rc = h->ops->fgetattr(fs, h, st);
    else
        rc = path ? spacefs_fs_getattr(fs, path, st) : router_getattr(fs, &h->n, st);
    if (rc == 0 && !st->st_ino && path)
        st->st_ino = (ino_t)router_ino(path);
    return rc;
}

int spacefs_fs_fsetattr(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path)
{
    if (h->ops->read_only)
        return -EROFS;
    if (h->ops->fsetattr)
        return h->ops->fsetattr(fs, h);
    return path ? spacefs_fs_setattr(fs, path) : -EPERM;
}

int spacefs_fs_fchmod(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                      mode_t mode)
{
    if (h->ops->read_only)
        return -EROFS;
    if (h->ops->fchmod)
        return h->ops->fchmod(fs, h, mode);
    return spacefs_fs_fsetattr(fs, h, path);
}

int spacefs_fs_futimens(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                        const struct timespec tv[2])
{
    struct stat st;

    if (h->ops->read_only)
        return -EROFS;
    if (h->ops->futimens)
        return h->ops->futimens(fs, h, tv);
    return path ? spacefs_fs_utimens(fs, path, tv) : spacefs_fs_fgetattr(fs, h, NULL, &st);
}

void spacefs_fs_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    if (!h)
        return;
    if (h->ops->release)
        h->ops->release(fs, h);
    else if (h->ops->render)
        router_text_free(h->state);
    free(h);
}
