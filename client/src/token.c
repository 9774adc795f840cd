/* The Hub token: found as huggingface_hub finds it (HF_TOKEN, HF_TOKEN_PATH, $HF_HOME/token),
 * kept in one opaque object, read only to build the Authorization header, wiped when freed. */
#include "internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <git2.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 4096

struct hub_token {
    char *value;
    size_t len;
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims `s` (n bytes) and makes the token; *out NULL when it is empty. */
static hub_status token_make(hub_token **out, const char *s, size_t n, hub_error *err)
{
    hub_token *t;
    size_t i;

    *out = NULL;
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    if (!n)
        return HUB_OK;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
            return hub_error_set(err, HUB_E_INVALID,
                                 "the token contains spaces or control characters");
    t = calloc(1, sizeof(*t));
    if (!t || !(t->value = malloc(n + 1))) {
        free(t);
        return hub_error_set(err, HUB_E_NOMEM, "no memory for the token");
    }
    memcpy(t->value, s, n);
    t->value[n] = '\0';
    t->len = n;
    *out = t;
    return HUB_OK;
}

/* Reads a token file. missing_ok: a file that does not exist means anonymous. */
static hub_status token_read_file(hub_token **out, const char *path, int missing_ok, hub_error *err)
{
    char buf[TOKEN_FILE_MAX];
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd, loose;
    hub_status rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok)
            return HUB_OK;
        if (err)
            err->sys_errno = errno;
        return hub_error_set(err, HUB_E_INVALID, "cannot open token file %s: %s", path,
                             strerror(errno));
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = hub_error_set(err, HUB_E_INVALID, "token file %s is not a regular file", path);
        goto out;
    }
    /* Who could have replaced it decides: a file another user owns or may write is refused
     * (its token would send this user's writes, persist/ backups included, to their account).
     * One that others may only read is used with a warning, left in err->message for the
     * caller to log, as ssh and git treat their own configuration: huggingface_hub wrote the
     * token 0644 for years, refusing it now protects nothing already read and locks users out. */
    if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        rc = hub_error_set(err, HUB_E_INVALID,
                           "token file %s is owned by uid %u or writable by group or others "
                           "(mode %03o); refusing it: run chown %u %s && chmod 600 %s",
                           path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777),
                           (unsigned)geteuid(), path, path);
        goto out;
    }
    loose = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    while (len < sizeof(buf)) {
        n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = hub_error_set(err, HUB_E_INVALID, "cannot read token file %s: %s", path,
                               strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == sizeof(buf)) {
        rc = hub_error_set(err, HUB_E_INVALID, "token file %s is too large", path);
        goto out;
    }
    rc = token_make(out, buf, len, err);
    if (rc == HUB_OK && *out && loose && err)
        snprintf(err->message, sizeof(err->message),
                 "token file %s is readable by group or others (mode %03o); run chmod 600 %s", path,
                 (unsigned)(st.st_mode & 0777), path);
out:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s) {
        memcpy(s, a, la);
        s[la] = '/';
        memcpy(s + la + 1, b, lb + 1);
    }
    return s;
}

/* $HF_HOME/token with HF_HOME's defaults. New string or NULL (no memory / no home). */
static char *default_token_path(void)
{
    const char *home = getenv("HF_HOME"), *xdg, *user;
    char *tmp, *path;

    if (home && *home)
        return join(home, "token");
    xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg)
        tmp = join(xdg, "huggingface");
    else {
        user = getenv("HOME");
        if (!user || !*user)
            return NULL;
        tmp = join(user, ".cache/huggingface");
    }
    if (!tmp)
        return NULL;
    path = join(tmp, "token");
    free(tmp);
    return path;
}

hub_status hub_token_load(hub_token **out, const char *token_file, hub_error *err)
{
    const char *env;
    char *path = NULL;
    hub_status rc;

    *out = NULL;
    if (token_file)
        return token_read_file(out, token_file, 0, err);
    env = getenv("HF_TOKEN");
    if (env && *env) {
        rc = token_make(out, env, strlen(env), err);
        if (rc != HUB_OK || *out)
            return rc;
    }
    env = getenv("HF_TOKEN_PATH");
    if (env && *env)
        return token_read_file(out, env, 1, err);
    path = default_token_path();
    if (!path)
        return HUB_OK; /* no home directory: anonymous */
    rc = token_read_file(out, path, 1, err);
    free(path);
    return rc;
}

void hub_token_free(hub_token *tok)
{
    if (!tok)
        return;
    explicit_bzero(tok->value, tok->len);
    free(tok->value);
    free(tok);
}

int hub_token_same(const hub_token *a, const hub_token *b)
{
    return a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
}

int hub_token_add_header(const hub_token *tok, struct curl_slist **list)
{
    static const char prefix[] = "Authorization: Bearer ";
    hub_buf b;
    struct curl_slist *n;

    hub_buf_init(&b, 0);
    b.secret = 1;
    if (hub_buf_add(&b, prefix, sizeof(prefix) - 1) < 0 ||
        hub_buf_add(&b, tok->value, tok->len) < 0) {
        hub_buf_free(&b);
        return -1;
    }
    n = curl_slist_append(*list, b.data);
    hub_buf_free(&b);
    if (!n)
        return -1;
    *list = n;
    return 0;
}

int hub_token_git_credential(const hub_token *tok, struct git_credential **out, const char *user)
{
    return git_credential_userpass_plaintext_new(out, user, tok->value);
}

void hub_headers_free(struct curl_slist *list)
{
    struct curl_slist *p;
    for (p = list; p; p = p->next)
        if (p->data && strncasecmp(p->data, "authorization:", 14) == 0)
            explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(list);
}

char *hub_token_basic_header(const hub_token *tok, const char *user)
{
    static const char prefix[] = "Authorization: Basic ";
    hub_buf cred, line;
    char *out = NULL;

    hub_buf_init(&cred, 0);
    hub_buf_init(&line, 0);
    cred.secret = line.secret = 1;
    if (hub_buf_adds(&cred, user) == 0 && hub_buf_add(&cred, ":", 1) == 0 &&
        hub_buf_add(&cred, tok->value, tok->len) == 0 &&
        hub_buf_add(&line, prefix, sizeof(prefix) - 1) == 0 &&
        hub_buf_add_base64(&line, cred.data, cred.len) == 0)
        out = strdup(line.data);
    hub_buf_free(&cred);
    hub_buf_free(&line);
    return out;
}

void hub_secret_str_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}
