/* safe_dir: the owner and mode checks on the cache directory's path (see safe_dir.h). Walks the
 * path from / down with lstat, so a symlink planted by another user is seen, never followed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_dir.h"

#define SAFE_DIR_MAX_LINKS 16

static int refuse(char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *msg, size_t msg_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Owner and mode of one existing component (st from lstat, not a symlink). */
static int check_dir(const char *path, const struct stat *st, int last, char *msg, size_t msg_len)
{
    uid_t me = getuid();

    if (!S_ISDIR(st->st_mode))
        return refuse(msg, msg_len, "%s is not a directory", path);
    if (st->st_uid != me && (last || st->st_uid != 0))
        return refuse(msg, msg_len,
                      "%s is owned by uid %u, not by you (uid %u): that user could read or swap "
                      "the cached files; use a directory of your own",
                      path, (unsigned)st->st_uid, (unsigned)me);
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st->st_mode & S_ISVTX)))
        return refuse(msg, msg_len,
                      "%s is writable by group or others (mode %04o): they could replace what is "
                      "inside; run chmod go-w %s",
                      path, (unsigned)(st->st_mode & 07777), path);
    return 0;
}

/* Walks `path` (absolute, normalised below) component by component. */
static int walk(const char *path, int depth, char *msg, size_t msg_len)
{
    char *cur = NULL, *copy = NULL, *tok, *save = NULL, *target = NULL, *next = NULL;
    struct stat st;
    size_t len = 0;
    int rc = -1;

    if (path[0] != '/')
        return refuse(msg, msg_len, "%s is not an absolute path", path);
    if (depth > SAFE_DIR_MAX_LINKS)
        return refuse(msg, msg_len, "%s: too many symbolic links", path);
    if (!(copy = strdup(path)) || !(cur = calloc(1, strlen(path) + 2)))
        goto nomem;
    for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        const char *rest = save && *save ? save : NULL;
        int last = !rest || strspn(rest, "/") == strlen(rest);

        if (strcmp(tok, "..") == 0) {
            refuse(msg, msg_len, "%s: use a path without .. components", path);
            goto out;
        }
        cur[len++] = '/';
        memcpy(cur + len, tok, strlen(tok) + 1);
        len += strlen(tok);
        if (lstat(cur, &st) < 0 && errno == ENOENT) {
            if (mkdir(cur, 0700) < 0 && errno != EEXIST) {
                refuse(msg, msg_len, "cannot create %s: %s", cur, strerror(errno));
                goto out;
            }
        }
        if (lstat(cur, &st) < 0) {
            refuse(msg, msg_len, "%s: %s", cur, strerror(errno));
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            if (st.st_uid != 0 && st.st_uid != getuid()) {
                refuse(msg, msg_len,
                       "%s is a symbolic link owned by uid %u, not by you or root: that user "
                       "chooses where the cache goes; remove it or use another cache_dir",
                       cur, (unsigned)st.st_uid);
                goto out;
            }
            /* go on from the link's resolved target with what follows the link: every
             * component of the target is checked the same way */
            if (!(target = realpath(cur, NULL))) {
                refuse(msg, msg_len, "%s: %s", cur, strerror(errno));
                goto out;
            }
            if (asprintf(&next, "%s/%s", target, rest ? rest : "") < 0) {
                next = NULL;
                goto nomem;
            }
            rc = walk(next, depth + 1, msg, msg_len);
            goto out;
        }
        if (check_dir(cur, &st, last, msg, msg_len) < 0)
            goto out;
    }
    rc = 0;
    goto out;
nomem:
    refuse(msg, msg_len, "no memory");
out:
    free(next);
    free(target);
    free(cur);
    free(copy);
    return rc;
}

/* "/a/./b//c/." -> "/a/b/c": the "." components go, so the last component is the real one. */
static char *normalize(const char *path)
{
    char *out = malloc(strlen(path) + 2), *o = out;
    const char *p = path;

    if (!out)
        return NULL;
    while (*p) {
        size_t n;
        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n && !(n == 1 && p[0] == '.')) {
            *o++ = '/';
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    if (o == out)
        *o++ = '/';
    *o = '\0';
    return out;
}

int spacefs_safe_dir_prepare(const char *path, char *msg, size_t msg_len)
{
    char *norm;
    int rc;

    if (path[0] != '/')
        return refuse(msg, msg_len, "%s is not an absolute path", path);
    if (!(norm = normalize(path)))
        return refuse(msg, msg_len, "no memory");
    rc = walk(norm, 0, msg, msg_len);
    free(norm);
    return rc;
}
