/* hubmirror: a local bare git mirror of one Hub repository, on libgit2. The token reaches git
 * only through the credentials callback (basic auth, token as password) and is wiped when the
 * mirror is freed. Every libgit2 call on the repository runs under the mirror's lock, so one
 * git_repository is used by one thread at a time. */
#include "hubmirror.h"
#include "internal.h"

#include <curl/curl.h>
#include <dirent.h>
#include <git2.h>

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIRROR_POINTER_MAX   1024 /* blobs larger than this are never LFS pointers */
#define MIRROR_GIT_CACHE_MAX ((ssize_t)4 << 20)
#define MIRROR_MAX_PACKS     16 /* more after a fetch: everything is repacked into one */
#define LFS_VERSION_LINE     "version https://git-lfs.github.com/spec/v1\n"

struct hub_mirror {
    pthread_mutex_t lock; /* serialises every use of repo */
    git_repository *repo; /* NULL until first used: created by the first fetch (lazy) */
    char *dir;            /* the bare repository */
    char *url;            /* <endpoint>/<prefix><id>, never with credentials */
    hub_token *token;     /* NULL = anonymous (the same lookup as hub_client_new); under lock */
    char *token_file;     /* hub_mirror_options.token_file as given (NULL: the usual lookup) */
    int dir_fd;           /* dir, open and flock'ed (exclusive) while the mirror is open */
    /* origin_redirects' last answer (-1 none) and when it was had (hub_now_ms), under lock */
    int redirects;
    int64_t redirects_at_ms;
};

/* How long origin_redirects' answer is trusted: it costs a connection (with TLS and a far Hub,
 * three round trips) and the Hub's answer for info/refs does not change from fetch to fetch. */
#define MIRROR_REDIRECT_CHECK_MS (10 * 60 * 1000)

/* libgit2's CA locations are process-wide and reset when its last user shuts it down: they are
 * set by whoever initialises it first, under this lock (trust.c chooses them). */
static pthread_mutex_t git_init_lock = PTHREAD_MUTEX_INITIALIZER;

/* 0, or -1 with what went wrong in why (libgit2's own words are gone once it shuts down). */
static int git_init_with_trust(char *why, size_t why_len)
{
    char *file = NULL, *dir = NULL;
    int n, rc = 0;

    pthread_mutex_lock(&git_init_lock);
    n = git_libgit2_init();
    /* libgit2 keeps parsed objects in a process-wide cache of up to 256 MiB by default: with a
     * commit every few seconds a months-long mount would fill it. 4 MiB holds what one sync
     * round reads (trees of the head and its parent). */
    if (n == 1)
        rc = git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)MIRROR_GIT_CACHE_MAX);
    if (n == 1 && rc == 0 && hub_trust_locations(&file, &dir, NULL) == 0 && (file || dir))
        rc = git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir);
    if (n < 0 || rc < 0) {
        const git_error *e = git_error_last();
        snprintf(why, why_len, "%s%s%s", e && e->message ? e->message : "failed",
                 file || dir ? "; CA locations: " : "",
                 file  ? file
                 : dir ? dir
                       : "");
        rc = -1;
    }
    if (n >= 0 && rc < 0)
        git_libgit2_shutdown();
    pthread_mutex_unlock(&git_init_lock);
    free(file);
    free(dir);
    return rc;
}

static void git_shutdown_locked(void)
{
    pthread_mutex_lock(&git_init_lock);
    git_libgit2_shutdown();
    pthread_mutex_unlock(&git_init_lock);
}

static pthread_t warm_thread;
static int warm_started, warm_rc = -1;

static void *warm_main(void *arg)
{
    char why[256]; /* a mirror opened later says it again */

    (void)arg;
    warm_rc = git_init_with_trust(why, sizeof(why));
    return NULL;
}

void hub_mirror_warm_start(void)
{
    if (!warm_started && pthread_create(&warm_thread, NULL, warm_main, NULL) == 0)
        warm_started = 1;
}

void hub_mirror_warm_stop(void)
{
    if (!warm_started)
        return;
    pthread_join(warm_thread, NULL);
    warm_started = 0;
    if (warm_rc == 0)
        git_shutdown_locked();
    warm_rc = -1;
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* Maps the last libgit2 error (after return code rc) to a status and fills err. */
/* The local errno a libgit2 message ends in, when it is one of the disk's (libgit2 appends
 * strerror to its OS errors; ENOENT: the cache removed under the mount), else 0. Asked only for
 * errors outside the network, TLS and HTTP classes: connect() too can say EACCES. */
static int local_errno(const char *msg)
{
    static const int local[] = {ENOSPC, EDQUOT, EROFS, EACCES, ENOENT};

    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (strstr(msg, strerror(local[i])))
            return local[i];
    return 0;
}

static hub_status mirror_git_error(hub_error *err, int rc, hub_status fallback, const char *what)
{
    const git_error *e = git_error_last();
    const char *msg = e && e->message ? e->message : "unknown libgit2 error";
    hub_status st = fallback;
    const char *code;
    long http = 0;
    int sys = 0;

    /* libgit2 1.5 says "unexpected http status code: %d"; the status is read from there only
     * (a bare "404" search also matched paths and ports: a cache under 127.0.0.1_42951 turned
     * a missing directory into "rate limited") */
    if ((code = strstr(msg, "status code: ")))
        http = strtol(code + 13, NULL, 10);
    if (rc == GIT_ENOTFOUND)
        st = HUB_E_NOT_FOUND;
    else if (rc == GIT_EAUTH || http == 401 || strstr(msg, "authentication required") ||
             strstr(msg, "authentication replays"))
        st = HUB_E_AUTH, http = 401;
    else if (http == 403)
        st = HUB_E_FORBIDDEN;
    else if (http == 404)
        st = HUB_E_NOT_FOUND;
    else if (http == 429)
        st = HUB_E_RATE_LIMITED;
    else if (http >= 500 && http < 600)
        st = HUB_E_SERVER;
    else if (e && e->klass != GIT_ERROR_NET && e->klass != GIT_ERROR_SSL &&
             e->klass != GIT_ERROR_HTTP && (sys = local_errno(msg)))
        st = HUB_E_IO; /* a full disk is not a network error */
    else if (e && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_HTTP ||
                   e->klass == GIT_ERROR_SSL || e->klass == GIT_ERROR_OS))
        st = fallback == HUB_E_PROTOCOL ? HUB_E_TRANSPORT : fallback;
    hub_error_clear(err);
    hub_error_set(err, st, "%s: %s", what, msg);
    if (err) {
        err->http_status = http;
        err->sys_errno = sys;
    }
    return st;
}

/* ---- open / free ----------------------------------------------------------------------------- */

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdirs_0700(const char *dir)
{
    char *p, *s = strdup(dir);
    int rc = 0;

    if (!s)
        return -ENOMEM;
    for (p = s + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(s, 0700) < 0 && errno != EEXIST)
            rc = -errno;
        *p = '/';
        if (rc)
            goto out;
    }
    if (mkdir(s, 0700) < 0 && errno != EEXIST)
        rc = -errno;
out:
    free(s);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* Removes the files named *.lock in dir and, depth-first, in the directories below it except
 * objects/ (git writes none there); path is dir relative to the mirror, for the log. Returns
 * how many it removed. */
static int stale_locks_sweep(const char *dir, const char *path, const hub_mirror_options *opts)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        char full[4096], rel[1024];
        struct stat st;

        if (e->d_name[0] == '.' || (!path[0] && strcmp(e->d_name, "objects") == 0))
            continue;
        if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir, e->d_name) >= sizeof(full) ||
            (size_t)snprintf(rel, sizeof(rel), "%s%s%s", path, path[0] ? "/" : "", e->d_name) >=
                sizeof(rel) ||
            lstat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            n += stale_locks_sweep(full, rel, opts);
        } else if (ends_with(e->d_name, ".lock") && unlink(full) == 0) {
            n++;
            if (opts->log) {
                char msg[1200];
                snprintf(msg, sizeof(msg),
                         "mirror of %s: removed the stale lock %s (a process stopped in the "
                         "middle of a git write)",
                         opts->repo_id, rel);
                opts->log(HUB_LOG_WARN, msg, opts->log_payload);
            }
        }
    }
    closedir(d);
    return n;
}

/* Takes the mirror's directory for this process: an exclusive flock on the directory itself,
 * which the kernel releases when the process ends, however it ends. A second process (the same
 * cache mounted twice) is refused with EBUSY rather than racing this one over refs and packs.
 * Holding it proves every git lock file in the directory stale (git's lockfile protocol: write
 * X.lock, rename it over X; a kill in between leaves X.lock, and git then refuses to write X
 * until someone removes it), so they are removed here, as git's own message asks a person to. */
static hub_status own_dir(hub_mirror *m, const hub_mirror_options *opts, hub_error *err)
{
    hub_status rc;
    int e;

    m->dir_fd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->dir_fd < 0) {
        e = errno;
        rc = hub_error_set(err, HUB_E_IO, "cannot open the mirror %s: %s", m->dir, strerror(e));
        if (err)
            err->sys_errno = e;
        return rc;
    }
    if (flock(m->dir_fd, LOCK_EX | LOCK_NB) == 0) {
        stale_locks_sweep(m->dir, "", opts);
        return HUB_OK;
    }
    if ((e = errno) != EWOULDBLOCK) {
        /* a filesystem without flock (NFS without lockd: ENOLCK; NFS turns a directory's flock
         * into a write lock, which a read-only descriptor cannot take: EBADF). Go on as before
         * locking existed: nothing is swept, and a second mount on this cache is not caught. */
        if (opts->log) {
            char msg[1200];
            snprintf(msg, sizeof(msg),
                     "mirror of %s: cannot lock %s (%s): a second mount sharing this cache "
                     "would not be noticed, and git locks a killed run left are not cleared",
                     opts->repo_id, m->dir, strerror(e));
            opts->log(HUB_LOG_WARN, msg, opts->log_payload);
        }
        return HUB_OK;
    }
    rc = hub_error_set(err, HUB_E_IO,
                       "the mirror %s is in use by another process (is its cache directory used "
                       "by another mount?)",
                       m->dir);
    if (err)
        err->sys_errno = EBUSY;
    return rc;
}

hub_status hub_mirror_open(hub_mirror **out, const hub_mirror_options *opts, hub_error *err)
{
    hub_mirror *m = NULL;
    const char *endpoint;
    char why[256];
    size_t n, elen;
    hub_status rc;
    int r;

    hub_error_clear(err);
    *out = NULL;
    if (!opts || !opts->dir || !opts->repo_id || !strchr(opts->repo_id, '/'))
        return hub_error_set(err, HUB_E_INVALID, "mirror: dir and an ns/name repo id are needed");
    endpoint = opts->endpoint ? opts->endpoint : getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint)
        endpoint = "https://huggingface.co";
    if (git_init_with_trust(why, sizeof(why)) < 0)
        return hub_error_set(err, HUB_E_INVALID, "libgit2 init: %s", why);
    m = calloc(1, sizeof(*m));
    if (!m) {
        git_shutdown_locked();
        return hub_error_set(err, HUB_E_NOMEM, "no memory");
    }
    pthread_mutex_init(&m->lock, NULL);
    m->redirects = -1;
    m->dir_fd = -1;
    elen = strlen(endpoint);
    while (elen && endpoint[elen - 1] == '/')
        elen--;
    n = elen + strlen(opts->repo_id) + 16;
    if (!(m->url = malloc(n))) {
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    snprintf(m->url, n, "%.*s/%s%s", (int)elen, endpoint, hub_repo_type_prefix(opts->type),
             opts->repo_id);
    if (opts->token_file && !(m->token_file = strdup(opts->token_file))) {
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    if (!opts->anonymous && (rc = hub_token_load(&m->token, opts->token_file, err)) != HUB_OK)
        goto out;
    if ((r = mkdirs_0700(opts->dir)) < 0) {
        rc = hub_error_set(err, HUB_E_IO, "cannot create %s: %s", opts->dir, strerror(-r));
        if (err)
            err->sys_errno = -r;
        goto out;
    }
    chmod(opts->dir, 0700);
    if (!(m->dir = strdup(opts->dir))) {
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    if ((rc = own_dir(m, opts, err)) != HUB_OK)
        goto out;
    /* An existing mirror opens now (a broken one fails here); a new one is created by its first
     * use, the fetch, which runs in the persist worker: creating it (a dozen files and
     * directories) is not on the way of a fresh mount's first lookup. */
    r = git_repository_open_bare(&m->repo, opts->dir);
    if (r < 0 && r != GIT_ENOTFOUND) {
        rc = mirror_git_error(err, r, HUB_E_IO, "opening the mirror");
        goto out;
    }
    *out = m;
    m = NULL;
    rc = HUB_OK;
out:
    hub_mirror_free(m);
    return rc;
}

/* Whether m's directory was removed while open (its link count is 0; the cache removed under
 * the mount). */
static int dir_removed(hub_mirror *m)
{
    struct stat st;

    return m->dir_fd >= 0 && fstat(m->dir_fd, &st) == 0 && st.st_nlink == 0;
}

/* m->repo, created on first use (lock held): 0 or a libgit2 error. */
static int repo_get(hub_mirror *m)
{
    int r;

    if (m->repo)
        return 0;
    if (dir_removed(m)) { /* init would create the removed path again, parents and all */
        git_error_set_str(GIT_ERROR_OS, "the mirror's directory was removed: No such file or "
                                        "directory");
        return -1;
    }
    r = git_repository_open_bare(&m->repo, m->dir);
    if (r == GIT_ENOTFOUND)
        r = git_repository_init(&m->repo, m->dir, 1);
    if (r < 0)
        m->repo = NULL;
    return r;
}

void hub_mirror_free(hub_mirror *m)
{
    if (!m)
        return;
    git_repository_free(m->repo);
    if (m->dir_fd >= 0)
        close(m->dir_fd); /* and with it the flock */
    free(m->dir);
    hub_token_free(m->token);
    free(m->token_file);
    free(m->url);
    pthread_mutex_destroy(&m->lock);
    free(m);
    git_shutdown_locked();
}

/* ---- network --------------------------------------------------------------------------------- */

struct cred_state {
    hub_mirror *m;
    int calls;
};

/* Nonzero when urls a and b have the same scheme, host and port (hub_url_origin: any userinfo
 * ignored, case-insensitive, default ports filled in). */
static int same_origin(const char *a, const char *b)
{
    char *oa = hub_url_origin(a), *ob = hub_url_origin(b);
    int same = oa && ob && strcmp(oa, ob) == 0;

    free(oa);
    free(ob);
    return same;
}

/* Answers the Hub's 401 once with basic auth, token as password; a second request means the
 * token was refused, and we stop instead of looping. libgit2 follows redirects, so the token
 * is given only when the host asking is the mirror's own origin. */
static int cred_cb(git_credential **out, const char *url, const char *username_from_url,
                   unsigned int allowed_types, void *payload)
{
    struct cred_state *cs = payload;

    if (cs->m->token && url && !same_origin(url, cs->m->url)) {
        git_error_set_str(GIT_ERROR_HTTP,
                          "a host other than the Hub asked for credentials; none given");
        return GIT_EAUTH;
    }
    if (!cs->m->token || cs->calls++ > 0 || !(allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
        git_error_set_str(GIT_ERROR_HTTP, cs->m->token ? "the Hub refused the token (401)"
                                                       : "the Hub wants a token (401)");
        return GIT_EAUTH;
    }
    return hub_token_git_credential(cs->m->token, out, "hf_user");
}

/* The remote of one network operation. Anonymous and without url.<base>.insteadOf rewriting: the
 * mirror talks to its endpoint, and in libgit2 1.5 that rewriting leaks a pcre2 match block per
 * remote (LeakSanitizer, issue 10: 20 KiB per fetch in a daemon that fetches for months). */
static int remote_new(git_remote **out, hub_mirror *m)
{
    git_remote_create_options o;

    git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    o.repository = m->repo;
    o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    return git_remote_create_with_opts(out, m->url, &o);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    (void)userp;
    return size * nmemb;
}

/* Whether the mirror's info/refs answers with a redirect, asked anonymously with libcurl (same
 * CAs, same proxy environment): 1 yes, 0 no, -1 could not tell. libgit2 1.5 sends custom headers
 * to wherever it is redirected on the same host, whatever the port, so the token header is only
 * added when this says 0 (see conn_setup). */
static int origin_redirects(const hub_mirror *m)
{
    char *url = NULL, *file = NULL, *dir = NULL;
    CURL *h = curl_easy_init();
    long status = 0;
    int rc = -1;

    if (!h || hub_trust_locations(&file, &dir, NULL) < 0 ||
        asprintf(&url, "%s/info/refs?service=git-upload-pack", m->url) < 0) {
        url = NULL;
        goto out;
    }
    hub_curl_https(h, url, "git/2.0 (spacefs hubmirror)", file, dir);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(h) == CURLE_OK &&
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        rc = status >= 300 && status < 400;
out:
    free(url);
    free(file);
    free(dir);
    curl_easy_cleanup(h);
    return rc;
}

/* Connection settings shared by fetch and probe: the proxy from the environment (http_proxy,
 * https_proxy, no_proxy, as libcurl reads them), no redirect to another host at any stage, and,
 * with a token, its Basic header sent at once: the Hub may answer 401 without a challenge, after
 * which libgit2 never asks for credentials. That header must never reach another origin: libgit2
 * refuses redirects to other hosts (GIT_REMOTE_REDIRECT_NONE) and the header is left out when the
 * origin redirects at all (origin_redirects, asked again every MIRROR_REDIRECT_CHECK_MS).
 * *auth_header is new (hub_secret_str_free). */
static int conn_setup(git_proxy_options *proxy, git_remote_redirect_t *redirects,
                      git_strarray *headers, char **auth_header, hub_mirror *m)
{
    git_proxy_options_init(proxy, GIT_PROXY_OPTIONS_VERSION);
    proxy->type = GIT_PROXY_AUTO;
    *redirects = GIT_REMOTE_REDIRECT_NONE;
    *auth_header = NULL;
    headers->strings = NULL;
    headers->count = 0;
    if (m && m->token && /* the caller holds m->lock */
        (m->redirects < 0 || hub_now_ms() - m->redirects_at_ms >= MIRROR_REDIRECT_CHECK_MS)) {
        m->redirects = origin_redirects(m);
        m->redirects_at_ms = hub_now_ms();
    }
    if (!m || !m->token || m->redirects != 0)
        return 0; /* a redirect (or no answer): credentials only on the Hub's challenge */
    *auth_header = hub_token_basic_header(m->token, "hf_user");
    if (!*auth_header)
        return -1;
    headers->strings = auth_header;
    headers->count = 1;
    return 0;
}

static int read_head(char out[HUB_OID_MAX], git_repository *repo, const char *branch)
{
    char ref[256];
    git_oid oid;
    int rc;

    snprintf(ref, sizeof(ref), "refs/heads/%s", branch ? branch : "main");
    rc = git_reference_name_to_id(&oid, repo, ref);
    if (rc == 0)
        git_oid_tostr(out, HUB_OID_MAX, &oid);
    return rc;
}

/* ---- repacking --------------------------------------------------------------------------------
 * Every fetch that brings objects writes one more pack, and libgit2 keeps each one open and
 * mapped: a mount committing every few seconds for months would run out of descriptors and
 * memory. Past MIRROR_MAX_PACKS, everything reachable from the refs goes into one new pack, the
 * old packs are deleted, and the repository is reopened so that libgit2 lets go of them. Runs
 * under the mirror's lock, like every other use of the repository. */
static int is_pack_file(const char *name, const char *keep)
{
    if (strncmp(name, "pack-", 5) != 0 || (keep && strncmp(name + 5, keep, strlen(keep)) == 0))
        return 0;
    return ends_with(name, ".pack") || ends_with(name, ".idx") || ends_with(name, ".rev");
}

/* Number of pack files in dir, and with keep != NULL, deletes those not named pack-<keep>.*. */
static int packs_sweep(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (!keep) {
            n += strncmp(e->d_name, "pack-", 5) == 0 && ends_with(e->d_name, ".pack");
        } else if (is_pack_file(e->d_name, keep)) {
            char path[4096];
            if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
                n += unlink(path) == 0;
        }
    }
    closedir(d);
    return n;
}

static void repack_if_needed(hub_mirror *m)
{
    git_packbuilder *pb = NULL;
    git_revwalk *walk = NULL;
    git_repository *fresh = NULL;
    char gitdir[4096], packdir[4200], *keep = NULL;
    int r;

    snprintf(gitdir, sizeof(gitdir), "%s", git_repository_path(m->repo));
    snprintf(packdir, sizeof(packdir), "%sobjects/pack", gitdir);
    if (packs_sweep(packdir, NULL) <= MIRROR_MAX_PACKS)
        return;
    r = git_revwalk_new(&walk, m->repo);
    if (r == 0)
        r = git_revwalk_push_glob(walk, "refs/*");
    if (r == 0)
        r = git_packbuilder_new(&pb, m->repo);
    if (r == 0)
        r = git_packbuilder_insert_walk(pb, walk);
    if (r == 0)
        r = git_packbuilder_write(pb, NULL, 0, NULL, NULL);
    if (r == 0 && git_packbuilder_name(pb))
        keep = strdup(git_packbuilder_name(pb));
    /* reopen first: the old packs stay readable to the old handle until it is freed */
    if (keep && git_repository_open_bare(&fresh, gitdir) == 0) {
        git_repository_free(m->repo);
        m->repo = fresh;
        packs_sweep(packdir, keep);
    }
    free(keep);
    git_packbuilder_free(pb);
    git_revwalk_free(walk);
#ifdef __GLIBC__
    /* the repack's peak grows with the history; hand the freed pages back (glibc keeps them) */
    malloc_trim(0);
#endif
}

/* One fetch, m->lock held. */
static hub_status fetch_locked(hub_mirror *m, char out_head[HUB_OID_MAX], hub_error *err)
{
    git_fetch_options fo;
    git_remote_connect_options co;
    char *spec = "+refs/heads/*:refs/heads/*";
    git_strarray specs = {&spec, 1};
    struct cred_state cs = {m, 0};
    git_remote *remote = NULL;
    char *auth = NULL;
    hub_status rc = HUB_OK;
    int r;

    hub_error_clear(err);
    if (out_head)
        out_head[0] = '\0';
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.callbacks.credentials = cred_cb;
    fo.callbacks.payload = &cs;
    fo.prune = GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    fo.update_fetchhead = 0; /* nobody reads FETCH_HEAD: one file write less per fetch */
    if (conn_setup(&fo.proxy_opts, &fo.follow_redirects, &fo.custom_headers, &auth, m) < 0) {
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    /* Connected first, with options we own: libgit2 1.5's git_remote_fetch leaks its copy of
     * the options (our Authorization header among them) when it fails to connect. */
    git_remote_connect_options_init(&co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
    co.callbacks = fo.callbacks;
    co.proxy_opts = fo.proxy_opts;
    co.follow_redirects = fo.follow_redirects;
    co.custom_headers = fo.custom_headers;
    r = repo_get(m);
    if (r == 0)
        r = remote_new(&remote, m);
    if (r == 0)
        r = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co);
    if (r == 0)
        r = git_remote_fetch(remote, &specs, &fo, NULL);
    if (r < 0) {
        rc = mirror_git_error(err, r, HUB_E_TRANSPORT, "fetch");
        goto out;
    }
    git_remote_free(remote);
    remote = NULL;
    repack_if_needed(m);
    if (out_head && read_head(out_head, m->repo, "main") < 0)
        out_head[0] = '\0';
out:
    git_remote_free(remote);
    hub_secret_str_free(auth);
    return rc;
}

/* After the Hub refused the token: the token file again (m->lock held). 1 when it holds another
 * token, now m's (the client does the same for its requests: http.c token_reload). */
static int token_reload(hub_mirror *m)
{
    hub_token *fresh = NULL;
    hub_error e;

    if (!m->token || hub_token_load(&fresh, m->token_file, &e) != HUB_OK || !fresh ||
        hub_token_same(fresh, m->token)) {
        hub_token_free(fresh);
        return 0;
    }
    hub_token_free(m->token);
    m->token = fresh;
    return 1;
}

hub_status hub_mirror_fetch(hub_mirror *m, char out_head[HUB_OID_MAX], hub_error *err)
{
    hub_status rc;

    pthread_mutex_lock(&m->lock);
    if (dir_removed(m)) { /* nothing to fetch into (and libgit2 1.5 leaks on that path) */
        pthread_mutex_unlock(&m->lock);
        rc = hub_error_set(err, HUB_E_IO, "fetch: the mirror %s was removed", m->dir);
        if (err)
            err->sys_errno = ENOENT;
        return rc;
    }
    rc = fetch_locked(m, out_head, err);
    if (rc == HUB_E_AUTH && token_reload(m)) /* a token rotated on disk: once more with it */
        rc = fetch_locked(m, out_head, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

hub_status hub_mirror_probe_public(int *out_public, hub_mirror *m, hub_error *err)
{
    git_remote_connect_options co;
    git_remote *remote = NULL;
    char *auth = NULL;
    hub_status rc = HUB_OK, st;
    hub_error tmp;
    int r;

    hub_error_clear(err);
    *out_public = 0;
    git_remote_connect_options_init(&co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
    pthread_mutex_lock(&m->lock);
    /* anonymous on purpose (is the repo public?): the proxy and redirect rules, no header */
    (void)conn_setup(&co.proxy_opts, &co.follow_redirects, &co.custom_headers, &auth, NULL);
    r = repo_get(m);
    if (r == 0)
        r = remote_new(&remote, m);
    if (r == 0)
        r = git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &co);
    if (r == 0) {
        *out_public = 1;
        goto out;
    }
    st = mirror_git_error(&tmp, r, HUB_E_TRANSPORT, "probe");
    if (st != HUB_E_AUTH && st != HUB_E_NOT_FOUND) {
        rc = st;
        if (err)
            *err = tmp;
    }
out:
    if (remote)
        git_remote_disconnect(remote);
    git_remote_free(remote);
    hub_secret_str_free(auth);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

hub_status hub_mirror_head(char out[HUB_OID_MAX], hub_mirror *m, const char *branch, hub_error *err)
{
    hub_status rc = HUB_OK;
    int r;

    hub_error_clear(err);
    out[0] = '\0';
    pthread_mutex_lock(&m->lock);
    r = repo_get(m);
    if (r == 0)
        r = read_head(out, m->repo, branch);
    if (r < 0)
        rc = mirror_git_error(err, r, HUB_E_NOT_FOUND, "head");
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- trees ----------------------------------------------------------------------------------- */

int hub_lfs_pointer_parse(char out_oid[HUB_OID_MAX], int64_t *out_size, const void *data,
                          size_t len)
{
    const char *p = data, *end = p + len, *nl;
    int have_oid = 0, have_size = 0;
    size_t vl = strlen(LFS_VERSION_LINE);

    if (len < vl || len > MIRROR_POINTER_MAX || memcmp(p, LFS_VERSION_LINE, vl) != 0)
        return 0;
    for (p += vl; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return 0;
        if (nl - p == 4 + 7 + 64 && memcmp(p, "oid sha256:", 11) == 0) {
            for (int i = 0; i < 64; i++) {
                char c = p[11 + i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                    return 0;
                out_oid[i] = c;
            }
            out_oid[64] = '\0';
            have_oid = 1;
        } else if (nl - p > 5 && memcmp(p, "size ", 5) == 0) {
            int64_t v = 0;
            for (const char *q = p + 5; q < nl; q++) {
                if (*q < '0' || *q > '9' || v > (INT64_MAX - 9) / 10)
                    return 0;
                v = v * 10 + (*q - '0');
            }
            *out_size = v;
            have_size = 1;
        }
    }
    return have_oid && have_size;
}

void hub_mirror_entry_list_free(hub_mirror_entry_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].path);
    free(list->items);
    free(list);
}

struct walk_state {
    hub_mirror_entry_list *list;
    size_t cap;
    git_repository *repo;
    git_odb *odb;
    int failed; /* a libgit2 error code or -ENOMEM */
};

static int entry_fill_blob(hub_mirror_entry *e, struct walk_state *ws, const git_oid *oid)
{
    git_object_t type;
    size_t len;
    git_blob *blob = NULL;
    int rc;

    rc = git_odb_read_header(&len, &type, ws->odb, oid);
    if (rc < 0)
        return rc;
    e->size = (int64_t)len;
    if (len > MIRROR_POINTER_MAX)
        return 0;
    rc = git_blob_lookup(&blob, ws->repo, oid);
    if (rc < 0)
        return rc;
    e->is_lfs = hub_lfs_pointer_parse(e->lfs_oid, &e->lfs_size, git_blob_rawcontent(blob),
                                      (size_t)git_blob_rawsize(blob));
    if (!e->is_lfs)
        e->lfs_oid[0] = '\0', e->lfs_size = 0;
    git_blob_free(blob);
    return 0;
}

static int walk_cb(const char *root, const git_tree_entry *te, void *payload)
{
    struct walk_state *ws = payload;
    hub_mirror_entry *e;
    const char *name = git_tree_entry_name(te);
    git_object_t type = git_tree_entry_type(te);
    size_t n;

    if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
        return 0; /* submodules (commits) are not files */
    if (ws->list->count == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 64;
        hub_mirror_entry *items = realloc(ws->list->items, cap * sizeof(*items));
        if (!items)
            return ws->failed = -ENOMEM, -1;
        ws->list->items = items;
        ws->cap = cap;
    }
    e = &ws->list->items[ws->list->count];
    memset(e, 0, sizeof(*e));
    n = strlen(root) + strlen(name) + 1;
    if (!(e->path = malloc(n)))
        return ws->failed = -ENOMEM, -1;
    snprintf(e->path, n, "%s%s", root, name);
    ws->list->count++;
    e->mode = (unsigned)git_tree_entry_filemode(te);
    git_oid_tostr(e->oid, sizeof(e->oid), git_tree_entry_id(te));
    if (type == GIT_OBJECT_TREE) {
        e->is_dir = 1;
        return 0;
    }
    if ((ws->failed = entry_fill_blob(e, ws, git_tree_entry_id(te))) < 0)
        return -1;
    return 0;
}

hub_status hub_mirror_tree_list(hub_mirror_entry_list **out, hub_mirror *m, const char *commit,
                                hub_error *err)
{
    struct walk_state ws = {0};
    git_object *obj = NULL;
    git_tree *tree = NULL;
    hub_status rc = HUB_OK;
    int r;

    hub_error_clear(err);
    *out = NULL;
    if (!(ws.list = calloc(1, sizeof(*ws.list))))
        return hub_error_set(err, HUB_E_NOMEM, "no memory");
    pthread_mutex_lock(&m->lock);
    if ((r = repo_get(m)) < 0) {
        rc = mirror_git_error(err, r, HUB_E_IO, "opening the mirror");
        goto out;
    }
    ws.repo = m->repo;
    if ((r = git_revparse_single(&obj, m->repo, commit)) < 0 ||
        (r = git_object_peel((git_object **)&tree, obj, GIT_OBJECT_TREE)) < 0 ||
        (r = git_repository_odb(&ws.odb, m->repo)) < 0) {
        rc = mirror_git_error(err, r, HUB_E_NOT_FOUND, "tree");
        goto out;
    }
    r = git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &ws);
    if (ws.failed == -ENOMEM)
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory listing the tree");
    else if (r < 0)
        rc = mirror_git_error(err, ws.failed ? ws.failed : r, HUB_E_PROTOCOL, "tree walk");
    if (rc == HUB_OK) {
        *out = ws.list;
        ws.list = NULL;
    }
out:
    git_odb_free(ws.odb);
    git_tree_free(tree);
    git_object_free(obj);
    pthread_mutex_unlock(&m->lock);
    hub_mirror_entry_list_free(ws.list);
    return rc;
}

/* ---- blobs ----------------------------------------------------------------------------------- */

static int blob_lookup(git_blob **out, git_repository *repo, const char *hex)
{
    git_oid oid;
    int r = git_oid_fromstrp(&oid, hex);
    return r < 0 ? r : git_blob_lookup(out, repo, &oid);
}

hub_status hub_mirror_blob_read(void **out, size_t *out_len, hub_mirror *m, const char *blob_oid,
                                size_t max_len, hub_error *err)
{
    git_blob *blob = NULL;
    hub_status rc = HUB_OK;
    size_t len;
    char *buf;
    int r;

    hub_error_clear(err);
    *out = NULL;
    *out_len = 0;
    if (!max_len)
        max_len = (size_t)64 << 20;
    pthread_mutex_lock(&m->lock);
    if ((r = repo_get(m)) < 0 || (r = blob_lookup(&blob, m->repo, blob_oid)) < 0) {
        rc = mirror_git_error(err, r, HUB_E_NOT_FOUND, "blob");
        goto out;
    }
    len = (size_t)git_blob_rawsize(blob);
    if (len > max_len) {
        rc = hub_error_set(err, HUB_E_TOO_BIG, "blob %s is %zu bytes (cap %zu)", blob_oid, len,
                           max_len);
        goto out;
    }
    if (!(buf = malloc(len + 1))) {
        rc = hub_error_set(err, HUB_E_NOMEM, "no memory for a %zu-byte blob", len);
        goto out;
    }
    memcpy(buf, git_blob_rawcontent(blob), len);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
out:
    git_blob_free(blob);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- commits --------------------------------------------------------------------------------- */

void hub_mirror_commit_list_free(hub_mirror_commit_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].summary);
    free(list->items);
    free(list);
}

hub_status hub_mirror_commits_list(hub_mirror_commit_list **out, hub_mirror *m, const char *start,
                                   size_t max, hub_error *err)
{
    hub_mirror_commit_list *list = calloc(1, sizeof(*list));
    git_object *obj = NULL;
    git_commit *c = NULL, *parent = NULL;
    hub_status rc = HUB_OK;
    size_t cap = 0;
    int r;

    hub_error_clear(err);
    *out = NULL;
    if (!list)
        return hub_error_set(err, HUB_E_NOMEM, "no memory");
    pthread_mutex_lock(&m->lock);
    if ((r = repo_get(m)) < 0 ||
        (r = git_revparse_single(&obj, m->repo, start ? start : "main")) < 0 ||
        (r = git_object_peel((git_object **)&c, obj, GIT_OBJECT_COMMIT)) < 0) {
        rc = mirror_git_error(err, r, HUB_E_NOT_FOUND, "commits");
        goto out;
    }
    while (c && (!max || list->count < max)) {
        hub_mirror_commit *hc;
        const char *summary = git_commit_summary(c);
        if (list->count == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            hub_mirror_commit *items = realloc(list->items, ncap * sizeof(*items));
            if (!items) {
                rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
                goto out;
            }
            list->items = items;
            cap = ncap;
        }
        hc = &list->items[list->count];
        memset(hc, 0, sizeof(*hc));
        git_oid_tostr(hc->id, sizeof(hc->id), git_commit_id(c));
        hc->time = (int64_t)git_commit_time(c);
        if (!(hc->summary = strdup(summary ? summary : ""))) {
            rc = hub_error_set(err, HUB_E_NOMEM, "no memory");
            goto out;
        }
        list->count++;
        parent = NULL;
        if (git_commit_parentcount(c) > 0) {
            git_oid_tostr(hc->parent, sizeof(hc->parent), git_commit_parent_id(c, 0));
            if ((r = git_commit_parent(&parent, c, 0)) < 0) {
                rc = mirror_git_error(err, r, HUB_E_PROTOCOL, "commit parent");
                goto out;
            }
        }
        git_commit_free(c);
        c = parent;
    }
    *out = list;
    list = NULL;
out:
    git_commit_free(c);
    git_object_free(obj);
    pthread_mutex_unlock(&m->lock);
    hub_mirror_commit_list_free(list);
    return rc;
}
