/* The clock, crash-safe files and the Hub's name rules (see common.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int64_t spacefs_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int spacefs_fresh(int64_t at_ms, unsigned ttl_ms)
{
    return at_ms > 0 && spacefs_now_ms() - at_ms < (int64_t)ttl_ms;
}

int spacefs_mkdir_p(const char *path, mode_t mode)
{
    char *s = strdup(path), *p;
    int rc = 0;

    if (!s)
        return -ENOMEM;
    for (p = s + 1; *p && !rc; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(s, mode) < 0 && errno != EEXIST)
            rc = -errno;
        *p = '/';
    }
    if (!rc && mkdir(s, mode) < 0 && errno != EEXIST)
        rc = -errno;
    if (!rc && chmod(s, mode) < 0)
        rc = -errno;
    free(s);
    return rc;
}

int spacefs_dir_fsync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

FILE *spacefs_file_open_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), e;
    FILE *f;

    if (fd < 0)
        return NULL;
    if (!(f = fdopen(fd, "r"))) {
        e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

int spacefs_file_replace(const char *path, int durable, int (*write)(FILE *f, void *payload),
                         void *payload)
{
    char *tmp = NULL, *dir = NULL, *slash;
    FILE *f = NULL;
    int fd, rc = 0;

    if (!(tmp = malloc(strlen(path) + 5)) || !(dir = strdup(path))) {
        rc = -ENOMEM;
        goto out;
    }
    strcpy(tmp, path);
    strcat(tmp, ".tmp");
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
        !(f = fdopen(fd, "w"))) {
        rc = -errno;
        if (fd >= 0)
            close(fd);
        goto out;
    }
    if ((rc = write(f, payload)) < 0)
        goto out;
    if (fflush(f) != 0 || (durable && fsync(fileno(f)) < 0)) {
        rc = -errno;
        goto out;
    }
    rc = fclose(f) != 0 ? -errno : 0;
    f = NULL;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0 && durable && (slash = strrchr(dir, '/'))) {
        *slash = '\0';
        rc = spacefs_dir_fsync(dir[0] ? dir : "/");
    }
out:
    if (f)
        fclose(f);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

int spacefs_name_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > SPACEFS_NAME_MAX)
        return 0;
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
            return 0;
        if (i > 0 && (c == '-' || c == '.') && s[i - 1] == c)
            return 0;
    }
    return 1;
}

int spacefs_key_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > SPACEFS_KEY_MAX || isdigit((unsigned char)s[0]))
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_'))
            return 0;
    }
    return 1;
}

int spacefs_repo_id_valid(const char *id)
{
    const char *slash = strchr(id, '/');
    char ns[SPACEFS_NAME_MAX + 2];
    size_t n;

    if (!slash || strchr(slash + 1, '/') || (n = (size_t)(slash - id)) > SPACEFS_NAME_MAX)
        return 0;
    memcpy(ns, id, n);
    ns[n] = '\0';
    return spacefs_name_valid(ns) && spacefs_name_valid(slash + 1);
}

int spacefs_hidden_name(const char *path)
{
    static const char prefix[] = ".fuse_hidden";
    const char *base = path ? strrchr(path, '/') : NULL;

    base = base ? base + 1 : path;
    if (!base || strncmp(base, prefix, sizeof(prefix) - 1) ||
        strlen(base) != sizeof(prefix) - 1 + 16)
        return 0;
    for (base += sizeof(prefix) - 1; *base; base++)
        if (!((*base >= '0' && *base <= '9') || (*base >= 'a' && *base <= 'f')))
            return 0;
    return 1;
}

int spacefs_one_word(char *out, size_t size, const char *buf, size_t len)
{
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 0 || len >= size || memchr(buf, '\0', len) || memchr(buf, '\n', len))
        return -EINVAL;
    memcpy(out, buf, len);
    out[len] = '\0';
    return 0;
}
