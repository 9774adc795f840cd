/* spacefs(1): parses the FUSE-style command line, checks the token with one whoami, builds the
 * real Hub client (the only place that sees both hubclient and the filesystem), mounts, and
 * runs the multithreaded FUSE loop until unmounted. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend_hub.h"
#include "common.h"
#include "fuse_ops.h"
#include "hubmirror.h"
#include "remote_hub.h"
#include "safe_dir.h"
#include <fuse_lowlevel.h>

struct options {
    char *endpoint;
    char *token_file;
    char *ttl;
    char *attr_timeout;
    char *space_sdk;
    char *persist_repo;
    char *persist_quiet;
    char *persist_max_delay;
    char *persist_flush;
    char *persist_interval;
    char *persist_ttl;
    char *persist_sync_timeout;
    char *unmount_wait;
    char *cache_dir;
    char *ca_file; /* CAs to trust instead of the system's (hub_trust_set_ca_file) */
    char *source;  /* first non-option when mount(8) passes "source mountpoint" */
    char *fsync;   /* "local" (default) or "hub" */
    char *max_spaces;
    int persist_public;
    int allow_http;
    unsigned timeout;
    unsigned probe_max_ms; /* the ttl, within 1..30 s: fresh again within one ttl of the Hub */
    unsigned page_size;
    int space_public;
    int anonymous;
    int nonopts;
    int bad;
};

enum { KEY_HELP, KEY_VERSION, KEY_TOKEN };

#define SPACEFS_MAX_THREADS 64
#define SPACEFS_CONNECT_MS  1500 /* TCP + TLS set-up; longer: the Hub is offline */
#define SPACEFS_ANSWER_MS   700  /* an API read unanswered this long probes the Hub (1 s) */

/* fuse_daemonize() moves to "/": a relative token path must be made absolute before it, or the
 * background mount would find no token. 0, or -1 with the reason printed. */
static int absolute_path(char **path, const char *what)
{
    char *abs;

    if (!*path || (*path)[0] == '/')
        return 0;
    if (!(abs = realpath(*path, NULL))) {
        fprintf(stderr, "spacefs: %s %s: %s\n", what, *path, strerror(errno));
        return -1;
    }
    free(*path);
    *path = abs;
    return 0;
}

/* The same for a path in the environment (HF_TOKEN_PATH). */
static int absolute_env(const char *name)
{
    char *v = getenv(name) ? strdup(getenv(name)) : NULL;
    int rc = 0;

    if (v && v[0] && v[0] != '/') {
        rc = absolute_path(&v, name);
        if (rc == 0 && setenv(name, v, 1) != 0)
            rc = -1;
    }
    free(v);
    return rc;
}

#define OPT(t, f, v)                                                                               \
    {                                                                                              \
        t, offsetof(struct options, f), v                                                          \
    }
static const struct fuse_opt spec[] = {OPT("endpoint=%s", endpoint, 0),
                                       OPT("token_file=%s", token_file, 0),
                                       OPT("ttl=%s", ttl, 0),
                                       OPT("attr_timeout=%s", attr_timeout, 0),
                                       OPT("timeout=%u", timeout, 0),
                                       OPT("space_sdk=%s", space_sdk, 0),
                                       OPT("space_public", space_public, 1),
                                       OPT("space_private", space_public, 0),
                                       OPT("page_size=%u", page_size, 0),
                                       OPT("anonymous", anonymous, 1),
                                       OPT("persist_repo=%s", persist_repo, 0),
                                       OPT("persist_public", persist_public, 1),
                                       OPT("persist_quiet=%s", persist_quiet, 0),
                                       OPT("persist_max_delay=%s", persist_max_delay, 0),
                                       OPT("persist_flush=%s", persist_flush, 0),
                                       OPT("persist_interval=%s", persist_interval, 0),
                                       OPT("persist_ttl=%s", persist_ttl, 0),
                                       OPT("persist_sync_timeout=%s", persist_sync_timeout, 0),
                                       OPT("unmount_wait=%s", unmount_wait, 0),
                                       OPT("cache_dir=%s", cache_dir, 0),
                                       OPT("allow_http", allow_http, 1),
                                       OPT("ca_file=%s", ca_file, 0),
                                       OPT("fsync=%s", fsync, 0),
                                       OPT("max_spaces=%s", max_spaces, 0),
                                       FUSE_OPT_KEY("token=", KEY_TOKEN),
                                       FUSE_OPT_KEY("-h", KEY_HELP),
                                       FUSE_OPT_KEY("--help", KEY_HELP),
                                       FUSE_OPT_KEY("-V", KEY_VERSION),
                                       FUSE_OPT_KEY("--version", KEY_VERSION),
                                       FUSE_OPT_END};

static void usage(const char *prog)
{
    printf("usage: %s MOUNTPOINT [-f] [-d] [-o option[,option...]]\n"
           "Mounts the Hugging Face Spaces of your account as files (see spacefs(1)).\n\n"
           "spacefs options:\n"
           "    -o endpoint=URL        Hub endpoint (default $HF_ENDPOINT, else huggingface.co)\n"
           "    -o token_file=PATH     read the token from PATH (default $HF_TOKEN, else\n"
           "                           $HF_TOKEN_PATH, else $HF_HOME/token); never on the "
           "command line\n"
           "    -o anonymous           send no token (public Spaces only, read-only)\n"
           "    -o ca_file=PATH        trust the CAs in PATH (PEM) instead of the system's\n"
           "                           (default $SSL_CERT_FILE, $REQUESTS_CA_BUNDLE,\n"
           "                           $CURL_CA_BUNDLE, $SSL_CERT_DIR); TLS is always verified\n"
           "    -o ttl=SECONDS         cache listings and runtime data (default 5)\n"
           "    -o attr_timeout=SECONDS  the kernel keeps file attributes this long\n"
           "                           (default 1; 0 = ask the daemon at every stat)\n"
           "    -o timeout=SECONDS     deadline of one Hub call, retries included (default 30)\n"
           "    -o space_sdk=SDK       SDK of Spaces made by mkdir: docker (default), gradio,\n"
           "                           static, streamlit\n"
           "    -o space_public        mkdir makes public Spaces (default private)\n"
           "    -o page_size=N         Spaces per listing request (default: the Hub's)\n"
           "    -o max_spaces=N        Spaces listed per namespace, the first the Hub sends\n"
           "                           (default 100000; 0 = no cap); others found by name\n"
           "    -o persist_repo=PATTERN  Dataset behind <ns>/<space>/persist/ (default\n"
           "                           {ns}/{space}-persist; created private on first write)\n"
           "    -o persist_public      allow writing to a public Dataset (default: EACCES)\n"
           "    -o persist_quiet=SECONDS    commit after this long without a change (default 2)\n"
           "    -o persist_interval=SECONDS at most one commit per this (default 10)\n"
           "    -o persist_max_delay=SECONDS  commit a change at most this long after its\n"
           "                           close(), even under a writer that never pauses\n"
           "                           (default 60; 0 = only when quiet)\n"
           "    -o persist_flush=SECONDS  a close()d file reaches the disk (survives a\n"
           "                           power loss) within this (default 5; 0 = before\n"
           "                           close() returns); a kill -9 loses nothing either way\n"
           "    -o persist_ttl=SECONDS      fetch remote changes this often (default 30)\n"
           "    -o persist_sync_timeout=SECONDS  bound of `echo sync > control` (default 600)\n"
           "    -o fsync=local|hub     fsync(2) in persist/ makes the file durable on local\n"
           "                           disk, as close() (local, the default), or waits for\n"
           "                           the commit on the Hub (hub)\n"
           "    -o unmount_wait=SECONDS  at unmount, wait this long for pending uploads\n"
           "                           (default 30; the rest goes up at the next mount)\n"
           "    -o cache_dir=DIR       persist/ caches (default $XDG_CACHE_HOME/spacefs, else\n"
           "                           ~/.cache/spacefs)\n"
           "    -o allow_other         let other users see the mount (modes still apply;\n"
           "                           see umask=, uid=, gid= below and docs/security.md)\n"
           "    -o allow_http          send the token over plain http:// to a host that is\n"
           "                           not this machine (refused by default)\n"
           "    -f                     stay in the foreground, log to stderr\n"
           "    -d                     debug: foreground, log every request\n"
           "    -V, --version          print the version\n\n",
           prog);
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct options *o = data;

    (void)outargs;
    switch (key) {
    case KEY_TOKEN:
        fprintf(stderr, "spacefs: refusing -o token=…: a token on the command line is visible to "
                        "every user in ps(1); use -o token_file=PATH or $HF_TOKEN\n");
        o->bad = 1;
        return 0;
    case KEY_HELP:
        usage(outargs->argv[0]);
        fuse_cmdline_help();
        fuse_lib_help(outargs);
        exit(0);
    case KEY_VERSION:
        printf("spacefs %s (libfuse %s)\n", SPACEFS_VERSION, fuse_pkgversion());
        exit(0);
    case FUSE_OPT_KEY_NONOPT:
        if (o->nonopts++ == 0) {
            free(o->source);
            o->source = strdup(arg); /* the mountpoint, unless another one follows */
            return 0;
        }
        return 1;
    default:
        return 1;
    }
}

static void hub_log_hook(hub_log_level level, const char *msg, void *payload)
{
    (void)payload;
    spacefs_log((enum spacefs_log_level)level, "%s", msg);
}

/* Before the mount, on the user's terminal whatever the log goes to later. */
static void hub_log_terminal(hub_log_level level, const char *msg, void *payload)
{
    (void)payload;
    if (level <= HUB_LOG_WARN)
        fprintf(stderr, "spacefs: %s: %s\n", level == HUB_LOG_ERROR ? "error" : "warning", msg);
}

static int client_new(hub_client **out, const struct options *o, int debug, hub_log_fn log)
{
    hub_options ho;
    hub_error he;
    hub_status st;

    hub_options_init(&ho);
    ho.endpoint = o->endpoint;
    ho.token_file = o->token_file;
    ho.anonymous = o->anonymous;
    ho.deadline_ms = o->timeout * 1000;
    /* offline is a state (docs/filesystem.md, "When the Hub cannot be reached"): a connection
     * not made in 1.5 s, or a read unanswered for 0.7 s whose probe is unanswered for 0.8 s, marks
     * the Hub offline, and cached answers are served while a probe (at most every ttl, 1..30 s)
     * waits for it to come back */
    ho.connect_timeout_ms =
        o->timeout * 1000 < SPACEFS_CONNECT_MS ? o->timeout * 1000 : SPACEFS_CONNECT_MS;
    ho.answer_timeout_ms = SPACEFS_ANSWER_MS;
    ho.probe_max_ms = o->probe_max_ms;
    ho.page_size = o->page_size;
    ho.log = log;
    ho.log_level = debug ? HUB_LOG_DEBUG : HUB_LOG_WARN;
    st = hub_client_new(out, &ho, &he);
    if (st != HUB_OK) {
        fprintf(stderr, "spacefs: cannot set up the Hub client: %s%s%s\n", hub_status_str(st),
                he.message[0] ? ": " : "", he.message);
        return -1;
    }
    return 0;
}

/* One whoami before mounting, so a rejected token fails here, on the user's terminal. Its log
 * (the token file warning) goes to the terminal; in the foreground the mount's client logs it. */
static int check_token(const struct options *o, int foreground)
{
    hub_client *c = NULL;
    hub_whoami *w = NULL;
    hub_error he;
    hub_status st;
    time_t t0;
    int rc = 0;

    if (client_new(&c, o, 0, foreground ? NULL : hub_log_terminal) < 0)
        return -1;
    if (!hub_client_has_token(c)) {
        fprintf(stderr, "spacefs: no token: mounting anonymously (public Spaces, read-only)\n");
        goto out;
    }
    st = hub_whoami_get(&w, c, &he);
    /* a Hub started along with the mount (a boot, a script) may not listen yet: wait for the
     * client's probe up to the call's deadline, as the retries of a refused connection did */
    for (t0 = time(NULL); st == HUB_E_OFFLINE && time(NULL) - t0 < (time_t)o->timeout;) {
        hub_reach r;
        hub_client_reach(c, &r);
        if (r.online)
            st = hub_whoami_get(&w, c, &he);
        else
            usleep(100 * 1000);
    }
    if (st == HUB_E_AUTH) {
        fprintf(stderr, "spacefs: the Hub at %s rejected the token: %s\n", hub_client_endpoint(c),
                he.message);
        rc = -1;
    } else if (st != HUB_OK) {
        fprintf(stderr, "spacefs: warning: cannot reach %s (%s); mounting anyway\n",
                hub_client_endpoint(c), hub_status_str(st));
    }
out:
    hub_whoami_free(w);
    hub_client_free(c);
    return rc;
}

/* Nonzero when the URL's host is this machine (localhost, 127.0.0.0/8, [::1]). */
static int host_is_loopback(const char *url)
{
    const char *h = strstr(url, "://"), *at;
    size_t n;

    h = h ? h + 3 : url;
    n = strcspn(h, "/?#");
    if ((at = memchr(h, '@', n))) /* user:password@host */
        n -= (size_t)(at + 1 - h), h = at + 1;
    if (n >= 5 && strncmp(h, "[::1]", 5) == 0)
        return n == 5 || h[5] == ':';
    n = strcspn(h, ":/?#");
    if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
        (n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0))
        return 1;
    return n >= 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n;
}

/* A token sent over plain http to another machine can be read by anyone on the way: refused
 * unless -o allow_http (or -o anonymous, which sends none). 0, or -1 with the reason printed. */
static int check_endpoint(const struct options *o)
{
    const char *ep = o->endpoint && o->endpoint[0] ? o->endpoint : getenv("HF_ENDPOINT");

    if (o->anonymous || !ep || strncasecmp(ep, "http://", 7) != 0 || host_is_loopback(ep))
        return 0;
    if (o->allow_http) {
        fprintf(stderr,
                "spacefs: warning: %s is plain http: the token crosses the network "
                "unencrypted (-o allow_http)\n",
                ep);
        return 0;
    }
    fprintf(stderr,
            "spacefs: refusing the endpoint %s: plain http to another machine would send the "
            "token unencrypted; use https://, or -o allow_http if the network is trusted\n",
            ep);
    return -1;
}

/* HF_TOKEN is read once, here, then removed from the environment so that no child (and no
 * reader of /proc/PID/environ) inherits it: unsetenv() drops the pointer, and the original
 * "HF_TOKEN=..." bytes, which /proc/PID/environ shows, are wiped. When the token would have
 * come from it (no -o token_file, not anonymous), it moves to a close-on-exec memory file of
 * mode 0600 that the client reads as token_file (persist/ reads it again on first use).
 * 0, or -1 with the reason printed. */
static int token_env_take(struct options *o)
{
    char *val = getenv("HF_TOKEN"), *entry;
    size_t len, n;
    int fd = -1, rc = -1;

    if (!val)
        return 0;
    entry = val - strlen("HF_TOKEN=");
    len = strlen(entry);
    n = strlen(val);
    if (!o->token_file && !o->anonymous && n > 0) {
        fd = memfd_create("spacefs-token", MFD_CLOEXEC);
        if (fd < 0 || fchmod(fd, 0600) < 0 || write(fd, val, n) != (ssize_t)n ||
            asprintf(&o->token_file, "/proc/self/fd/%d", fd) < 0) {
            fprintf(stderr, "spacefs: cannot keep HF_TOKEN in memory: %s\n", strerror(errno));
            o->token_file = NULL;
            goto out;
        }
        fd = -1; /* stays open for the life of the process */
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    unsetenv("HF_TOKEN");
    explicit_bzero(entry, len);
    return rc;
}

/* persist/: the engine's remote for one Dataset, over the same client as the backend. */
struct persist_factory {
    hub_client *client; /* borrowed from the backend, which outlives every engine */
    const char *token_file;
    int anonymous;
};

static void persist_remote_log(enum spacefs_log_level level, const char *msg, void *payload)
{
    (void)payload;
    spacefs_log(level, "persist: %s", msg);
}

static int persist_remote_new(struct persist_remote *out, const char *repo_id, const char *git_dir,
                              void *payload)
{
    struct persist_factory *f = payload;
    struct persist_hub_options ho = {0};
    struct spacefs_error err = {0};
    int rc;

    ho.client = f->client;
    ho.repo_id = repo_id;
    ho.git_dir = git_dir;
    ho.token_file = f->token_file;
    ho.anonymous = f->anonymous;
    ho.log = persist_remote_log;
    if ((rc = persist_remote_hub_new(out, &ho, &err)) < 0)
        spacefs_log(SPACEFS_ERROR, "persist %s: %s", repo_id,
                    err.message[0] ? err.message : strerror(-rc));
    return rc;
}

/* The cache base, absolute (the daemon changes to /): cache_dir, $XDG_CACHE_HOME/spacefs or
 * ~/.cache/spacefs. NULL when there is none (no $HOME): then no persist/. */
static char *cache_base(const char *opt)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char cwd[4096], *s = NULL;

    if (opt && opt[0] != '/') {
        if (!getcwd(cwd, sizeof(cwd)))
            return NULL;
        return asprintf(&s, "%s/%s", cwd, opt) < 0 ? NULL : s;
    }
    if (opt)
        return strdup(opt);
    if (xdg && xdg[0] == '/')
        return asprintf(&s, "%s/spacefs", xdg) < 0 ? NULL : s;
    if (home && home[0] == '/')
        return asprintf(&s, "%s/.cache/spacefs", home) < 0 ? NULL : s;
    return NULL;
}

/* base + "/" + the endpoint's host and port ("huggingface.co", "127.0.0.1_8080"). */
static char *cache_root(const char *base, const char *endpoint)
{
    const char *h = strstr(endpoint, "://");
    char *s = NULL, *p;

    h = h ? h + 3 : endpoint;
    if (asprintf(&s, "%s/%.*s", base, (int)strcspn(h, "/?#"), h) < 0)
        return NULL;
    for (p = s + strlen(base) + 1; *p; p++)
        if (*p == ':' || *p == '@')
            *p = '_';
    return s;
}

/* Seconds (fractions allowed, at most a day) into ms; sets *bad on a malformed value. */
static void parse_secs(const char *name, const char *s, unsigned *out_ms, int *bad)
{
    char *end;
    double v;

    if (!s)
        return;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || v < 0 || v > 86400) {
        fprintf(stderr, "spacefs: bad %s '%s' (seconds, e.g. 5 or 0.5)\n", name, s);
        *bad = 1;
        return;
    }
    *out_ms = (unsigned)(v * 1000);
}

static const char *const sdks[] = {"docker", "gradio", "static", "streamlit"};

static int sdk_valid(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(sdks) / sizeof(sdks[0]); i++)
        if (strcmp(s, sdks[i]) == 0)
            return 1;
    return 0;
}

/* SIGTERM, SIGINT, SIGHUP: libfuse's handler ends the loop, which then joins the worker
 * threads; first stop the listings in flight, or a worker in a huge listing would hold up the
 * exit for as long as the listing takes. */
static struct spacefs_fs *signal_fs;
static struct sigaction signal_prev[3];
static const int signal_nums[3] = {SIGTERM, SIGINT, SIGHUP};

static void on_exit_signal(int sig)
{
    int i;

    spacefs_fs_interrupt(signal_fs);
    for (i = 0; i < 3; i++)
        if (signal_nums[i] == sig && !(signal_prev[i].sa_flags & SA_SIGINFO) &&
            signal_prev[i].sa_handler != SIG_DFL && signal_prev[i].sa_handler != SIG_IGN)
            signal_prev[i].sa_handler(sig);
}

static int exit_signals_chain(struct spacefs_fs *fs)
{
    struct sigaction sa;
    int i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_exit_signal;
    sigemptyset(&sa.sa_mask);
    signal_fs = fs;
    for (i = 0; i < 3; i++)
        if (sigaction(signal_nums[i], &sa, &signal_prev[i]) < 0)
            return -1;
    return 0;
}

static void exit_signals_unchain(void)
{
    int i;

    for (i = 0; i < 3; i++)
        sigaction(signal_nums[i], &signal_prev[i], NULL);
}

/* Whether the mount on top at `mnt` is a fuse.spacefs one, by /proc/self/mountinfo (absolute;
 * mountinfo writes space, tab, newline and backslash as \ooo; the last entry at a path is the
 * one on top). */
static int mount_is_spacefs(const char *mnt)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL, *sep;
    size_t cap = 0;
    int found = 0;

    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0) { /* the last entry at mnt is the one on top */
        /* id parent major:minor root MOUNTPOINT options ... - FSTYPE source super-options */
        char *tok, *save = NULL, *point = NULL;
        int i = 0;
        for (tok = strtok_r(line, " ", &save); tok && i < 4; tok = strtok_r(NULL, " ", &save))
            i++;
        point = tok;
        if (!point || !(sep = strstr(save ? save : "", " - ")))
            continue;
        for (char *r = point, *w = point; (*w = *r); w++, r++)
            if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                r[3] >= '0' && r[3] <= '7') {
                *w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                r += 3;
            }
        if (strcmp(point, mnt) == 0)
            found = strncmp(sep + 3, "fuse.spacefs ", 13) == 0;
    }
    free(line);
    fclose(f);
    return found;
}

/* A spacefs that was killed leaves its mount behind, answering ENOTCONN ("Transport endpoint
 * is not connected") until someone runs fusermount3 -u, and libfuse refuses to mount there:
 * a restart after a crash would fail until a person stepped in. Nothing serves such a mount
 * and nothing in it can be lost (what close() acknowledged is in the cache), so a dead spacefs
 * mount at our mountpoint is detached first, as that person would, with one line saying so.
 * Any other filesystem's mount is left alone. */
static void stale_mount_clear(const char *mnt)
{
    char *argv[] = {"fusermount3", "-u", "-z", "--", (char *)mnt, NULL};
    extern char **environ;
    struct statfs st;
    int status;
    pid_t pid;

    /* statfs, not stat: the kernel answers stat from its cache for a while after the kill */
    if (statfs(mnt, &st) == 0 || errno != ENOTCONN || !mount_is_spacefs(mnt))
        return;
    fprintf(stderr,
            "spacefs: %s was left mounted by a spacefs that is gone (killed?); "
            "unmounting it first\n",
            mnt);
    if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0)
        return; /* libfuse's own error follows */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

static int run(struct fuse_args *args, struct options *o)
{
    struct fuse_cmdline_opts co = {0};
    struct spacefs_config cfg;
    struct spacefs_backend be;
    struct spacefs_app app = {0};
    struct persist_factory pf = {0};
    hub_client *client = NULL;
    struct fuse *fuse = NULL;
    char *base = NULL, *root = NULL;
    int rc = 1, mounted = 0, bad = 0;
    unsigned attr_ms = 1000; /* -o attr_timeout: as rclone's --attr-timeout */

    spacefs_config_init(&cfg);
    parse_secs("ttl", o->ttl, &cfg.ttl_ms, &bad);
    parse_secs("attr_timeout", o->attr_timeout, &attr_ms, &bad);
    if (o->space_sdk && !sdk_valid(o->space_sdk)) {
        fprintf(stderr, "spacefs: bad space_sdk '%s' (docker, gradio, static, streamlit)\n",
                o->space_sdk);
        return 1;
    }
    o->probe_max_ms = cfg.ttl_ms < 1000 ? 1000 : cfg.ttl_ms > 30000 ? 30000 : cfg.ttl_ms;
    cfg.space_sdk = o->space_sdk ? o->space_sdk : "docker";
    cfg.space_private = !o->space_public;
    parse_secs("persist_quiet", o->persist_quiet, &cfg.persist.quiet_ms, &bad);
    parse_secs("persist_interval", o->persist_interval, &cfg.persist.interval_ms, &bad);
    parse_secs("persist_max_delay", o->persist_max_delay, &cfg.persist.max_delay_ms, &bad);
    parse_secs("persist_flush", o->persist_flush, &cfg.persist.flush_ms, &bad);
    parse_secs("persist_ttl", o->persist_ttl, &cfg.persist.ttl_ms, &bad);
    parse_secs("persist_sync_timeout", o->persist_sync_timeout, &cfg.persist.sync_timeout_ms, &bad);
    parse_secs("unmount_wait", o->unmount_wait, &cfg.persist.unmount_wait_ms, &bad);
    if (o->persist_repo && (!strchr(o->persist_repo, '/') || strlen(o->persist_repo) > 200)) {
        fprintf(stderr,
                "spacefs: bad persist_repo '%s' (a Dataset id ns/name with {ns} and "
                "{space}, e.g. {ns}/{space}-persist)\n",
                o->persist_repo);
        bad = 1;
    }
    if (o->fsync && strcmp(o->fsync, "local") && strcmp(o->fsync, "hub")) {
        fprintf(stderr, "spacefs: bad fsync '%s' (local or hub)\n", o->fsync);
        bad = 1;
    }
    cfg.persist.fsync_hub = o->fsync && !strcmp(o->fsync, "hub");
    if (o->max_spaces) {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(o->max_spaces, &end, 10);
        if (errno || end == o->max_spaces || *end || o->max_spaces[0] == '-' || v > SIZE_MAX) {
            fprintf(stderr, "spacefs: bad max_spaces '%s' (a count, 0 = no cap)\n", o->max_spaces);
            bad = 1;
        } else {
            cfg.max_spaces = (size_t)v;
        }
    }
    if (bad)
        return 1;
    if (o->persist_repo)
        cfg.persist.repo_pattern = o->persist_repo;
    cfg.persist.allow_public = o->persist_public;
    if (!o->anonymous && !(base = cache_base(o->cache_dir)))
        fprintf(stderr, "spacefs: no cache directory ($HOME unset; try -o cache_dir=DIR): no "
                        "persist/\n");
    if (base) {
        char why[512];
        if (spacefs_safe_dir_prepare(base, why, sizeof(why)) < 0) {
            fprintf(stderr, "spacefs: refusing the cache directory %s: %s\n", base, why);
            goto out;
        }
    }
    if (check_endpoint(o) < 0)
        goto out;
    app.entry_timeout = cfg.ttl_ms / 1000.0;
    app.attr_timeout = attr_ms / 1000.0;
    if (fuse_parse_cmdline(args, &co) != 0)
        goto out;
    if (!co.mountpoint) {
        fprintf(stderr, "spacefs: no mountpoint (see spacefs --help)\n");
        goto out;
    }
    spacefs_log_setup(co.debug ? SPACEFS_DEBUG : SPACEFS_WARN, !co.foreground);
    if (check_token(o, co.foreground) < 0)
        goto out;
    stale_mount_clear(co.mountpoint);
    fuse_opt_add_arg(args, "-odefault_permissions,fsname=spacefs,subtype=spacefs");
    if (!(fuse = fuse_new(args, &spacefs_fuse_ops, sizeof(spacefs_fuse_ops), &app)))
        goto out;
    if (fuse_mount(fuse, co.mountpoint) != 0)
        goto out;
    mounted = 1;
    if (fuse_daemonize(co.foreground) != 0)
        goto out;
    /* after the fork: the client's threads and connections belong to this process */
    if (client_new(&client, o, co.debug, hub_log_hook) < 0) {
        spacefs_log(SPACEFS_ERROR, "cannot set up the filesystem");
        goto out;
    }
    if (base && (root = cache_root(base, hub_client_endpoint(client)))) {
        hub_mirror_warm_start(); /* persist/'s first use need not wait for libgit2 to start */
        pf.client = client;
        pf.token_file = o->token_file;
        pf.anonymous = o->anonymous;
        cfg.persist.remote_new = persist_remote_new;
        cfg.persist.remote_payload = &pf;
        cfg.persist.cache_root = root;
    }
    if (spacefs_backend_hub_new(&be, client) < 0 || spacefs_fs_new(&app.fs, &cfg, be) < 0) {
        spacefs_log(SPACEFS_ERROR, "cannot set up the filesystem");
        goto out;
    }
    if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
        goto out;
    if (exit_signals_chain(app.fs) < 0) {
        fuse_remove_signal_handlers(fuse_get_session(fuse));
        goto out;
    }
    spacefs_log(SPACEFS_INFO, "mounted on %s", co.mountpoint);
    if (co.singlethread) {
        rc = fuse_loop(fuse);
    } else {
        /* libfuse's default cap is 10 workers; a Hub call can hold one for its whole deadline,
         * so a few slow Spaces would starve the rest of the mount */
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        if (!lc)
            goto out;
        fuse_loop_cfg_set_max_threads(lc, SPACEFS_MAX_THREADS);
        fuse_loop_cfg_set_clone_fd(lc, co.clone_fd);
        rc = fuse_loop_mt(fuse, lc);
        fuse_loop_cfg_destroy(lc);
    }
    rc = rc ? 1 : 0;
    exit_signals_unchain();
    fuse_remove_signal_handlers(fuse_get_session(fuse));
out:
    if (mounted)
        fuse_unmount(fuse);
    if (fuse)
        fuse_destroy(fuse);
    spacefs_fs_free(app.fs);
    hub_mirror_warm_stop();
    free(co.mountpoint);
    free(base);
    free(root);
    return rc;
}

/* The string options (spec's "=%s" entries, so a new one is never forgotten) and the source. */
static void options_free(struct options *o)
{
    size_t i;

    for (i = 0; spec[i].templ; i++)
        if (strstr(spec[i].templ, "=%s"))
            free(*(char **)((char *)o + spec[i].offset));
    free(o->source);
}

/* -o ca_file: for the client and the persist/ mirror alike, before either is made. */
static int trust_set(const char *ca_file)
{
    hub_error he;

    if (hub_trust_set_ca_file(ca_file, &he) == HUB_OK)
        return 0;
    fprintf(stderr, "spacefs: %s\n", he.message);
    return -1;
}

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct options o = {0};
    int rc = 1;

    o.timeout = 30;
    if (fuse_opt_parse(&args, &o, spec, opt_proc) != 0 || o.bad)
        goto out;
    /* one non-option is the mountpoint; with two (mount(8): "source mountpoint") the first,
     * a label like "spacefs", was dropped and the second kept */
    if (o.nonopts == 1)
        fuse_opt_add_arg(&args, o.source);
    if (o.timeout == 0)
        o.timeout = 30;
    /* The process holds the token and secret values in memory: no core dumps of it, and no
     * ptrace or /proc/PID/mem reads by other processes of the same user. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    {
        /* Open files: FUSE handles, connections, and persist/ commits (one per file put, up
         * to persist's max_commit_files per Space): the hard limit, not the shell's 1024. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (token_env_take(&o) == 0 && absolute_path(&o.token_file, "token_file") == 0 &&
        absolute_env("HF_TOKEN_PATH") == 0 && absolute_path(&o.ca_file, "ca_file") == 0 &&
        absolute_env("SSL_CERT_FILE") == 0 && absolute_env("SSL_CERT_DIR") == 0 &&
        absolute_env("REQUESTS_CA_BUNDLE") == 0 && absolute_env("CURL_CA_BUNDLE") == 0 &&
        trust_set(o.ca_file) == 0)
        rc = run(&args, &o);
out:
    fuse_opt_free_args(&args);
    options_free(&o);
    return rc;
}
