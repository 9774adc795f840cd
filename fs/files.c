/* Open files: a read snapshot taken at open (so one `cat` sees one consistent text), writes
 * that become Hub calls (commands, hardware, sleep time, secret and variable values), and
 * the log files that grow while open. Every handle is direct_io: contents change behind the
 * kernel's back and secret bytes must never reach the page cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "persist_fs.h"

int spacefs_handle_direct_io(const struct spacefs_handle *h)
{
    return h->direct_io;
}

static void handle_free(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    if (!h)
        return;
    if (h->pe || h->ph || h->snap_open)
        pers_release(fs, h);
    if (h->wbuf) {
        explicit_bzero(h->wbuf, h->wcap);
        free(h->wbuf);
    }
    free(h->content);
    logbuf_release(fs, h->lb);
    free(h);
}

static int want_read(int flags)
{
    return (flags & O_ACCMODE) != O_WRONLY;
}

static int want_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY;
}

/* Checks the open mode against the node's mode bits (root included: see the file comment). */
static int check_access(mode_t mode, int flags)
{
    if (want_read(flags) && !(mode & 0400))
        return -EACCES;
    if (want_write(flags) && !(mode & 0200))
        return -EACCES;
    return 0;
}

static int open_content(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct kv_ent *k;

    switch (h->n.kind) {
    case NODE_META_FILE:
        return meta_render(fs, h->n.file, &h->content, &h->content_len);
    case NODE_FILE:
        return space_file_render(fs, &h->n, &h->content, &h->content_len);
    case NODE_LOG:
        return logbuf_open(fs, &h->n, &h->lb);
    case NODE_PFILE:
        return pers_file_render(fs, &h->n, &h->content, &h->content_len);
    case NODE_KV:
        /* variables only (secrets are not readable); the cache was filled by getattr */
        pthread_mutex_lock(&fs->lock);
        k = kv_find_locked(fs, &h->n);
        h->content = k && k->value ? xasprintf("%s\n", k->value) : xstrdup("");
        pthread_mutex_unlock(&fs->lock);
        if (!h->content)
            return -ENOMEM;
        h->content_len = strlen(h->content);
        return 0;
    default:
        return -EISDIR;
    }
}

int spacefs_fs_open(struct spacefs_fs *fs, const char *path, int flags, struct spacefs_handle **out)
{
    struct spacefs_handle *h;
    struct stat st;
    int rc;

    *out = NULL;
    if (!(h = calloc(1, sizeof(*h))))
        return -ENOMEM;
    h->flags = flags;
    h->direct_io = 1;
    if ((rc = node_parse(&h->n, path)) < 0)
        goto out;
    if (h->n.kind == NODE_PERSIST || h->n.kind == NODE_SNAP) {
        rc = pers_open(fs, h, h->n.rest, flags, 0, 0);
        h->n.rest = ""; /* pointed into path */
        goto done;
    }
    if ((rc = spacefs_fs_getattr(fs, path, &st)) < 0)
        goto out;
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    if ((rc = check_access(st.st_mode, flags)) < 0)
        goto out;
    if (h->n.kind == NODE_KV && (flags & O_TRUNC))
        h->created = 1;
    if (want_read(flags) && (rc = open_content(fs, h)) < 0)
        goto out;
done:
    if (rc < 0)
        goto out;
    *out = h;
    h = NULL;
out:
    handle_free(fs, h);
    return rc;
}

int spacefs_fs_create(struct spacefs_fs *fs, const char *path, mode_t mode, int flags,
                      struct spacefs_handle **out)
{
    struct spacefs_handle *h = NULL;
    struct node n;
    int rc;

    *out = NULL;
    if (node_parse(&n, path) == 0 && (n.kind == NODE_PERSIST || n.kind == NODE_SNAP)) {
        if (!(h = calloc(1, sizeof(*h))))
            return -ENOMEM;
        h->n = n;
        h->n.rest = ""; /* points into path */
        h->flags = flags;
        h->direct_io = 1;
        if ((rc = pers_open(fs, h, n.rest, flags, mode, 1)) < 0) {
            handle_free(fs, h);
            return rc;
        }
        *out = h;
        return 0;
    }
    if (node_parse(&n, path) < 0 || n.kind != NODE_KV) {
        /* a new name where only the Hub's own files live */
        struct stat st;
        char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
        if (!dir)
            return -ENOMEM;
        if (slash)
            *slash = '\0';
        rc = spacefs_fs_getattr(fs, slash && dir[0] ? dir : "/", &st);
        free(dir);
        return rc < 0 ? rc : -EACCES;
    }
    if (!ns_is_own(fs, n.ns))
        return -ENOENT;
    if (!spacefs_key_valid(n.key))
        return -EINVAL; /* before any request */
    if ((rc = kv_ensure(fs, &n)) < 0)
        return rc;
    if (!ns_writable(fs, n.ns) || want_read(flags))
        return -EACCES;
    if (!(h = calloc(1, sizeof(*h))))
        return -ENOMEM;
    h->n = n;
    h->flags = flags;
    h->direct_io = 1;
    h->created = 1;
    kv_add_pending(fs, &n);
    *out = h;
    return 0;
}

long spacefs_fs_read(struct spacefs_fs *fs, struct spacefs_handle *h, char *buf, size_t size,
                     int64_t off)
{
    size_t n;

    if (h->ph || h->snap_open)
        return pers_read(fs, h, buf, size, off);
    if (h->lb)
        return logbuf_read(h->lb, buf, size, off);
    if (!h->content)
        return -EBADF;
    if (off < 0 || (uint64_t)off >= h->content_len)
        return 0;
    n = h->content_len - (size_t)off;
    if (n > size)
        n = size;
    memcpy(buf, h->content + off, n);
    return (long)n;
}

/* Appends to the handle's value buffer; growing copies and wipes the old block. */
static int wbuf_append(struct spacefs_handle *h, const char *buf, size_t size)
{
    if (h->wlen + size > VALUE_MAX)
        return -EFBIG;
    if (size == 0)
        return 0;
    if (h->wlen + size > h->wcap) {
        size_t cap = h->wcap ? h->wcap : 256;
        char *n;
        while (cap < h->wlen + size)
            cap *= 2;
        if (!(n = malloc(cap)))
            return -ENOMEM;
        if (h->wbuf) {
            memcpy(n, h->wbuf, h->wlen);
            explicit_bzero(h->wbuf, h->wcap);
            free(h->wbuf);
        }
        h->wbuf = n;
        h->wcap = cap;
    }
    memcpy(h->wbuf + h->wlen, buf, size);
    h->wlen += size;
    return 0;
}

/* Sends the value written so far, less one trailing newline. */
static int kv_send(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    struct spacefs_error err = {0};
    enum spacefs_status st;
    size_t len = h->wlen;

    if (len > 0 && h->wbuf[len - 1] == '\n')
        len--;
    if (len > 0 && memchr(h->wbuf, '\0', len))
        return -EINVAL;
    st = fs->be.ops->kv_set(fs->be.ctx, h->n.id, h->n.kv, h->n.key, len ? h->wbuf : "", len, &err);
    count_call(fs, st);
    if (st != SPACEFS_OK) {
        if (!h->wrote)
            kv_drop_pending(fs, &h->n);
        h->attempted = 1;
        return call_failed(fs, h->n.kv == SPACEFS_KV_SECRETS ? "set secret of" : "set variable of",
                           h->n.id, st, &err);
    }
    h->wrote = 1;
    kv_record(fs, &h->n, len ? h->wbuf : "", len, 0);
    return 0;
}

long spacefs_fs_write(struct spacefs_fs *fs, struct spacefs_handle *h, const char *buf, size_t size,
                      int64_t off)
{
    int rc;

    if (h->ph)
        return pers_write(fs, h, buf, size, off);
    (void)off; /* a command or a whole value per open; offsets do not address anything */
    if (!want_write(h->flags))
        return -EBADF;
    if (h->n.kind == NODE_KV) {
        h->attempted = 1;
        if ((rc = wbuf_append(h, buf, size)) < 0 || (rc = kv_send(fs, h)) < 0)
            return rc;
        return (long)size;
    }
    if (h->n.kind == NODE_PFILE && h->n.file == PF_REPO) {
        rc = pers_repo_write(fs, &h->n, buf, size);
        return rc < 0 ? rc : (long)size;
    }
    if (h->n.kind != NODE_FILE)
        return -EBADF;
    switch (h->n.file) {
    case SF_CONTROL:
        rc = control_execute(fs, &h->n, buf, size);
        break;
    case SF_HARDWARE:
        rc = hardware_write(fs, &h->n, buf, size);
        break;
    case SF_SLEEPTIME:
        rc = sleeptime_write(fs, &h->n, buf, size);
        break;
    default:
        rc = -EBADF;
    }
    return rc < 0 ? rc : (long)size;
}

int spacefs_fs_flush(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    /* persist/: close(2) is the acknowledgement (content and journal on disk). Elsewhere
     * nothing: a shell's "> file" closes a duplicate of the descriptor, and so flushes, before
     * the first write. Values are sent by write(2); see release for the empty value. */
    if (h->ph)
        return pers_flush(fs, h);
    return 0;
}

int spacefs_fs_ftruncate(struct spacefs_fs *fs, struct spacefs_handle *h, const char *path,
                         int64_t size)
{
    if (h->ph)
        return pers_ftruncate(fs, h, size);
    if (h->snap_open)
        return -EROFS;
    return path ? spacefs_fs_truncate(fs, path, size) : -EBADF;
}

int spacefs_fs_fsync(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    return h->ph ? pers_fsync(fs, h) : 0;
}

void spacefs_fs_release(struct spacefs_fs *fs, struct spacefs_handle *h)
{
    /* ": > variables/K" or "touch secrets/NEW": created or truncated, never written: the
     * empty value, sent at the last close (its errors can only be logged). */
    if (h && h->n.kind == NODE_KV && h->created && !h->attempted && want_write(h->flags))
        kv_send(fs, h);
    handle_free(fs, h);
}
