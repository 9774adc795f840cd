/* hubclient against the Hub emulator (tests/hub/hubd), started by tests/client/run.sh, which
 * passes its URL in HF_ENDPOINT and a sentinel write token for alice in HF_TOKEN. Every call of
 * the public API runs here with debug logging on stderr; run.sh then fails if the token appears
 * in any output. Request counts are asserted through the emulator's /_hubd/stats. */
#include "check.h"
#include "harness.h"
#include "hubclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *endpoint;
static char workdir[512];
static hub_client *alice; /* sentinel write token from the environment */

static void stats_reset(void)
{
    admin("DELETE", "/_hubd/stats", NULL);
    admin("DELETE", "/_hubd/faults", NULL);
}

/* Count of one route. hubd counts a request after sending its response, so read until two
 * reads 30 ms apart agree. */
static long route_count_once(const char *route)
{
    json_t *j;
    long n = 0;
    admin("GET", "/_hubd/stats", NULL);
    j = json_loads(admin_body, 0, NULL);
    n = (long)json_integer_value(
        json_object_get(json_object_get(json_object_get(j, "routes"), route), "count"));
    json_decref(j);
    return n;
}

static long route_count(const char *route)
{
    long a = route_count_once(route), b;
    int i;
    for (i = 0; i < 20; i++) {
        usleep(30000);
        b = route_count_once(route);
        if (a == b)
            break;
        a = b;
    }
    return a;
}

/* Total hits of the fault rules in place (faulted requests are not in the route counters). */
static long fault_hits(void)
{
    json_t *j, *r;
    size_t i;
    long n = 0;
    admin("GET", "/_hubd/faults", NULL);
    j = json_loads(admin_body, 0, NULL);
    json_array_foreach(j, i, r) n += (long)json_integer_value(json_object_get(r, "hits"));
    json_decref(j);
    return n;
}

static void fault(const char *json)
{
    admin("POST", "/_hubd/faults", json);
}

/* ---- clients -----------------------------------------------------------------------------------
 */
static hub_client *client_with(const char *token_file, unsigned deadline_ms, unsigned page)
{
    hub_options o;
    hub_client *c = NULL;
    hub_error e;
    hub_options_init(&o);
    o.token_file = token_file;
    o.backoff_base_ms = 50;
    o.backoff_max_ms = 400;
    o.deadline_ms = deadline_ms ? deadline_ms : 20000;
    o.page_size = page;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    if (hub_client_new(&c, &o, &e) != HUB_OK)
        fprintf(stderr, "client: %s\n", e.message);
    return c;
}

static char captured[1024];

/* A log hook that keeps the last warning, to check what the client told the user. */
static void capture_log(hub_log_level level, const char *msg, void *payload)
{
    (void)payload;
    if (level <= HUB_LOG_WARN)
        snprintf(captured, sizeof(captured), "%s", msg);
}

static char *write_token(const char *name, const char *value, mode_t mode)
{
    static char paths[8][600];
    static int n;
    char *p = paths[n++ % 8];
    int fd;
    snprintf(p, 600, "%s/%s", workdir, name);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, value, strlen(value)) < 0)
            perror("write");
        fchmod(fd, mode);
        close(fd);
    }
    return p;
}

/* ---- configuration ------------------------------------------------------------------------------
 */
static void test_config(void)
{
    hub_options o;
    hub_client *c = NULL;
    hub_error e;
    char home[600];
    const char *saved = getenv("HF_TOKEN");
    char *sentinel = saved ? strdup(saved) : NULL;
    hub_whoami *w = NULL;

    hub_options_init(&o);
    CHECK(hub_client_new(&c, &o, &e) == HUB_OK && strcmp(hub_client_endpoint(c), endpoint) == 0 &&
              hub_client_has_token(c),
          "endpoint from HF_ENDPOINT, token from HF_TOKEN");
    hub_client_free(c);

    o.token_file = write_token("loose", "hf_bob_write\n", 0644);
    o.log = capture_log;
    captured[0] = '\0';
    CHECK(hub_client_new(&c, &o, &e) == HUB_OK && hub_client_has_token(c) &&
              strstr(captured, "readable by group or others (mode 644); run chmod 600"),
          "group/other-readable token file used, with a warning: %s", captured);
    hub_client_free(c);
    c = NULL;
    o.log = NULL;
    o.token_file = write_token("writable", "hf_bob_write\n", 0664);
    CHECK(hub_client_new(&c, &o, &e) == HUB_E_INVALID && !c && strstr(e.message, "chmod 600"),
          "group-writable token file refused: %s", e.message);
    o.token_file = write_token("tight", "  hf_bob_write\r\n", 0600);
    CHECK(hub_client_new(&c, &o, &e) == HUB_OK && hub_whoami_get(&w, c, &e) == HUB_OK &&
              strcmp(w->name, "bob") == 0,
          "explicit token_file wins over HF_TOKEN and is trimmed");
    hub_whoami_free(w);
    hub_client_free(c);
    o.token_file = "/nonexistent/token";
    CHECK(hub_client_new(&c, &o, &e) == HUB_E_INVALID, "missing explicit token file is an error");

    unsetenv("HF_TOKEN");
    snprintf(home, sizeof(home), "%s/hfhome", workdir);
    mkdir(home, 0700);
    setenv("HF_HOME", home, 1);
    write_token("hfhome/token", "hf_alice_read", 0600);
    hub_options_init(&o);
    w = NULL;
    CHECK(hub_client_new(&c, &o, &e) == HUB_OK && hub_whoami_get(&w, c, &e) == HUB_OK &&
              strcmp(w->name, "alice") == 0 && w->token_role && strcmp(w->token_role, "read") == 0,
          "token from $HF_HOME/token");
    hub_whoami_free(w);
    hub_client_free(c);
    setenv("HF_TOKEN_PATH", write_token("alt", "hf_bob_write", 0600), 1);
    w = NULL;
    CHECK(hub_client_new(&c, &o, &e) == HUB_OK && hub_whoami_get(&w, c, &e) == HUB_OK &&
              strcmp(w->name, "bob") == 0,
          "HF_TOKEN_PATH wins over HF_HOME");
    hub_whoami_free(w);
    hub_client_free(c);
    unsetenv("HF_TOKEN_PATH");
    unsetenv("HF_HOME");
    snprintf(home, sizeof(home), "%s/xdg", workdir);
    mkdir(home, 0700);
    setenv("XDG_CACHE_HOME", home, 1);
    CHECK(hub_client_new(&c, &o, &e) == HUB_OK && !hub_client_has_token(c),
          "no token anywhere = anonymous");
    CHECK(hub_whoami_get(&w, c, &e) == HUB_E_AUTH && e.http_status == 401,
          "anonymous whoami is 401 -> HUB_E_AUTH");
    hub_client_free(c);
    unsetenv("XDG_CACHE_HOME");
    if (sentinel) {
        setenv("HF_TOKEN", sentinel, 1);
        free(sentinel);
    }
    o.endpoint = "ftp://example";
    CHECK(hub_client_new(&c, &o, &e) == HUB_E_INVALID, "non-http endpoint refused");
}

/* ---- spaces
 * -------------------------------------------------------------------------------------- */
static void test_whoami_spaces(void)
{
    hub_whoami *w = NULL;
    hub_space_list *l = NULL;
    hub_space *s = NULL;
    hub_runtime *r = NULL;
    hub_hardware_list *hw = NULL;
    hub_error e;
    char *json = NULL, *url = NULL;
    hub_client *paged;
    hub_repo_spec spec = {HUB_REPO_SPACE, NULL, 0, "static", NULL};
    char id[64];
    int i, found = 0;
    size_t k;

    CHECK(hub_whoami_get(&w, alice, &e) == HUB_OK && strcmp(w->name, "alice") == 0 &&
              w->orgs_count == 1 && strcmp(w->orgs[0], "acme") == 0,
          "whoami: alice, member of acme");
    hub_whoami_free(w);

    for (i = 1; i <= 4; i++) {
        snprintf(id, sizeof(id), "alice/page-%d", i);
        spec.id = id;
        CHECK(hub_repo_create(&url, alice, &spec, &e) == HUB_OK && url && strstr(url, id),
              "create static Space %s -> %s", id, url ? url : e.message);
        free(url);
        url = NULL;
    }
    CHECK(hub_repo_create(&url, alice, &spec, &e) == HUB_E_CONFLICT && e.http_status == 409,
          "creating it again: 409 conflict (%s)", e.message);

    paged = client_with(NULL, 0, 2);
    stats_reset();
    CHECK(spaces_list(&l, paged, "alice", &e) == HUB_OK && l->count == 6,
          "list alice's Spaces over pages: %zu", l ? l->count : 0);
    CHECK(route_count("GET /api/spaces") == 3, "6 Spaces at limit=2 took exactly 3 requests (%ld)",
          route_count("GET /api/spaces"));
    for (k = 0; l && k < l->count; k++)
        if (strcmp(l->items[k].id, "alice/chat") == 0 && l->items[k].has_runtime &&
            l->items[k].sdk && strcmp(l->items[k].sdk, "docker") == 0 && l->items[k].subdomain &&
            l->items[k].last_modified > 0 && l->items[k].runtime.hardware_requested)
            found = 1;
    CHECK(found, "listing has sdk, runtime, subdomain, lastModified in one request");
    hub_space_list_free(l);
    hub_client_free(paged);

    CHECK(hub_space_info_get(&s, &json, alice, "alice/chat", &e) == HUB_OK && s->sha && json &&
              strstr(json, "\n  \"id\": \"alice/chat\""),
          "space info + pretty JSON");
    hub_space_free(s);
    free(json);
    json = NULL;
    CHECK(hub_space_info_get(&s, NULL, alice, "alice/nope", &e) == HUB_E_NOT_FOUND &&
              strcmp(e.code, "RepoNotFound") == 0 && e.request_id[0],
          "missing Space: 404 RepoNotFound with a request id");
    CHECK(hub_space_runtime_get(&r, &json, alice, "alice/chat", &e) == HUB_OK && r->stage_str &&
              json && strstr(json, "\"stage\""),
          "runtime + JSON (stage %s)", r ? r->stage_str : "-");
    hub_runtime_free(r);
    free(json);
    CHECK(hub_space_restart(&r, alice, "alice/chat", 0, &e) == HUB_OK &&
              r->stage == HUB_STAGE_BUILDING,
          "restart -> BUILDING");
    hub_runtime_free(r);
    CHECK(hub_space_restart(&r, alice, "alice/chat", 1, &e) == HUB_OK &&
              r->stage == HUB_STAGE_BUILDING,
          "factory restart -> BUILDING");
    hub_runtime_free(r);
    CHECK(hub_space_pause(&r, alice, "alice/chat", &e) == HUB_OK && r->stage == HUB_STAGE_PAUSED,
          "pause -> PAUSED");
    hub_runtime_free(r);
    CHECK(hub_space_hardware_request(&r, alice, "alice/notes", "t4-medium", 7200, &e) == HUB_OK &&
              r->hardware_requested && strcmp(r->hardware_requested, "t4-medium") == 0,
          "hardware request -> requested t4-medium (%s)", e.message);
    hub_runtime_free(r);
    CHECK(hub_space_sleeptime_set(&r, alice, "alice/notes", 900, &e) == HUB_OK &&
              r->gc_timeout == 900,
          "sleep time 900 s");
    hub_runtime_free(r);
    CHECK(hub_space_sleeptime_set(NULL, alice, "alice/chat", 900, &e) == HUB_E_BAD_REQUEST &&
              e.message[0],
          "sleep time on cpu-basic: 400 bad request (%s)", e.message);
    CHECK(hub_space_restart(NULL, alice, "acme/dashboard", 0, &e) == HUB_E_BAD_REQUEST,
          "restart of a static Space: 400");
    CHECK(hub_space_restart(NULL, alice, "alice/chat", 0, &e) == HUB_OK, "restart again");
    CHECK(hub_hardware_list_get(&hw, alice, &e) == HUB_OK && hw->count > 3 &&
              strcmp(hw->items[0].name, "cpu-basic") == 0,
          "hardware flavors: %zu", hw ? hw->count : 0);
    hub_hardware_list_free(hw);
    CHECK(hub_repo_delete(alice, HUB_REPO_SPACE, "alice/page-4", &e) == HUB_OK,
          "delete a Space repo");
    CHECK(hub_space_info_get(NULL, NULL, alice, "alice/page-4", &e) == HUB_E_NOT_FOUND,
          "deleted Space is gone");
}

static void test_secrets_variables(void)
{
    hub_kv_list *l = NULL;
    hub_error e;
    size_t i;
    int seen = 0;
    CHECK(hub_secret_set(alice, "alice/chat", "DB_PASSWORD", "s3cr3t-sentinel-value", "db", &e) ==
              HUB_OK,
          "set a secret");
    CHECK(hub_secrets_list(&l, alice, "alice/chat", &e) == HUB_OK, "list secret names");
    for (i = 0; l && i < l->count; i++)
        if (strcmp(l->items[i].key, "DB_PASSWORD") == 0 && !l->items[i].value)
            seen = 1;
    CHECK(seen, "the new secret is listed, without a value");
    hub_kv_list_free(l);
    CHECK(hub_secret_delete(alice, "alice/chat", "DB_PASSWORD", &e) == HUB_OK &&
              hub_secret_delete(alice, "alice/chat", "NEVER_SET", &e) == HUB_OK,
          "delete a secret; deleting a missing one is fine");
    CHECK(hub_variable_set(&l, alice, "alice/chat", "TEMPERATURE", "0.7", NULL, &e) == HUB_OK &&
              l->count >= 2,
          "set a variable, map returned");
    hub_kv_list_free(l);
    l = NULL;
    seen = 0;
    CHECK(hub_variables_list(&l, alice, "alice/chat", &e) == HUB_OK, "get variables");
    for (i = 0; l && i < l->count; i++)
        if (strcmp(l->items[i].key, "TEMPERATURE") == 0 && strcmp(l->items[i].value, "0.7") == 0)
            seen = 1;
    CHECK(seen, "variable value read back");
    hub_kv_list_free(l);
    l = NULL;
    CHECK(hub_variable_delete(&l, alice, "alice/chat", "TEMPERATURE", &e) == HUB_OK && l,
          "delete a variable");
    for (i = 0; l && i < l->count; i++)
        CHECK(strcmp(l->items[i].key, "TEMPERATURE") != 0, "deleted variable absent");
    hub_kv_list_free(l);
    CHECK(hub_secret_set(alice, "alice/chat", "bad key", "v", NULL, &e) == HUB_E_INVALID,
          "invalid key refused before any request");
}

/* ---- error classes ------------------------------------------------------------------------------
 */
static void test_errors(void)
{
    hub_client *bad = client_with(write_token("bad", "hf_not_a_real_token", 0600), 0, 0);
    hub_client *reader = client_with(write_token("reader", "hf_alice_read", 0600), 0, 0);
    hub_client *carol = client_with(write_token("carol", "hf_carol_write", 0600), 0, 0);
    hub_whoami *w = NULL;
    hub_error e;
    hub_repo_spec spec = {HUB_REPO_SPACE, "bob/intruder", 0, "static", NULL};
    hub_repo_spec paid = {HUB_REPO_SPACE, "carol/app", 0, "docker", NULL};
    hub_entry_list *el = NULL;
    const char *paths[] = {"README.md"};

    CHECK(hub_whoami_get(&w, bad, &e) == HUB_E_AUTH && e.http_status == 401 && e.message[0],
          "401 invalid token -> HUB_E_AUTH (%s)", e.message);
    CHECK(hub_secret_set(reader, "alice/chat", "K", "v", NULL, &e) == HUB_E_FORBIDDEN &&
              e.http_status == 403,
          "403 read token writing -> HUB_E_FORBIDDEN");
    CHECK(hub_repo_create(NULL, alice, &spec, &e) == HUB_E_FORBIDDEN,
          "403 creating in bob's namespace");
    CHECK(hub_repo_create(NULL, carol, &paid, &e) == HUB_E_PAYMENT && e.http_status == 402,
          "402 docker Space without a plan -> HUB_E_PAYMENT (%s)", e.message);
    CHECK(hub_tree_list(&el, alice, HUB_REPO_SPACE, "alice/chat", "no-such-branch", NULL, 0, &e) ==
                  HUB_E_NOT_FOUND &&
              strcmp(e.code, "RevisionNotFound") == 0,
          "404 RevisionNotFound");
    stats_reset();
    fault("{\"method\":\"POST\",\"path\":\"/paths-info/\",\"status\":413,\"count\":1}");
    CHECK(hub_paths_info(&el, alice, HUB_REPO_SPACE, "alice/chat", NULL, paths, 1, &e) ==
                  HUB_E_TOO_BIG &&
              e.attempts == 1,
          "413 -> HUB_E_TOO_BIG, not retried");
    fault("{\"method\":\"GET\",\"path\":\"/api/whoami-v2\",\"status\":418,\"count\":1}");
    CHECK(hub_whoami_get(&w, alice, &e) == HUB_E_HTTP && e.http_status == 418,
          "unexpected status -> HUB_E_HTTP");
    hub_client_free(bad);
    hub_client_free(reader);
    hub_client_free(carol);
}

/* ---- retries
 * ------------------------------------------------------------------------------------- */
static void test_retries(void)
{
    hub_whoami *w = NULL;
    hub_hardware_list *hw = NULL;
    hub_error e;
    hub_ratelimit rl;
    hub_client *fast;
    int64_t t0;

    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"^/api/whoami-v2$\",\"status\":429,\"retry_after\":1,"
          "\"count\":1}");
    t0 = now_ms();
    CHECK(hub_whoami_get(&w, alice, &e) == HUB_OK && e.attempts == 2,
          "429 with Retry-After: retried, succeeded");
    CHECK(now_ms() - t0 >= 950, "Retry-After: 1 honoured (%lld ms)", (long long)(now_ms() - t0));
    CHECK(route_count("GET /api/whoami-v2") == 2, "exactly 2 requests for 429+retry");
    hub_whoami_free(w);
    w = NULL;

    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"^/api/spaces/hardware$\",\"status\":503,\"count\":2}");
    CHECK(hub_hardware_list_get(&hw, alice, &e) == HUB_OK && e.attempts == 3,
          "503 twice: third attempt succeeds");
    CHECK(route_count("GET /api/spaces/hardware") == 3, "exactly 3 requests for 2x503+ok");
    hub_hardware_list_free(hw);
    hw = NULL;

    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"^/api/spaces/"
          "hardware$\",\"action\":\"reset\",\"count\":2}");
    CHECK(hub_hardware_list_get(&hw, alice, &e) == HUB_OK && e.attempts >= 2,
          "connection reset twice: retried (%d attempts; curl itself retries a reset on a reused "
          "connection once)",
          e.attempts);
    CHECK(fault_hits() == 2 && route_count("GET /api/spaces/hardware") == 3,
          "2 reset requests, then 1 answered: 3 requests (%ld hits)", fault_hits());
    hub_hardware_list_free(hw);
    hw = NULL;

    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"^/api/spaces/hardware$\",\"action\":\"truncate\","
          "\"count\":1}");
    CHECK(hub_hardware_list_get(&hw, alice, &e) == HUB_OK && e.attempts == 2,
          "truncated body: retried");
    hub_hardware_list_free(hw);
    hw = NULL;

    fast = client_with(NULL, 600, 0);
    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"^/api/spaces/hardware$\",\"status\":503,\"count\":-1}");
    t0 = now_ms();
    CHECK(hub_hardware_list_get(&hw, fast, &e) == HUB_E_SERVER && e.http_status == 503,
          "503 forever: HUB_E_SERVER after %d attempts", e.attempts);
    CHECK(now_ms() - t0 < 1500, "gave up within the 600 ms deadline (%lld ms)",
          (long long)(now_ms() - t0));
    stats_reset();
    fault(
        "{\"method\":\"GET\",\"path\":\"^/api/spaces/hardware$\",\"status\":429,\"retry_after\":5,"
        "\"count\":-1}");
    t0 = now_ms();
    CHECK(hub_hardware_list_get(&hw, fast, &e) == HUB_E_RATE_LIMITED && e.attempts == 1 &&
              now_ms() - t0 < 1000,
          "429 with Retry-After beyond the deadline: HUB_E_RATE_LIMITED at once");
    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"^/api/spaces/hardware$\",\"action\":\"stall\","
          "\"stall_seconds\":3,\"count\":1}");
    t0 = now_ms();
    CHECK(hub_hardware_list_get(&hw, fast, &e) == HUB_E_TIMEOUT, "stalled server: HUB_E_TIMEOUT");
    CHECK(now_ms() - t0 < 1500, "timeout respects the deadline (%lld ms)",
          (long long)(now_ms() - t0));
    hub_client_free(fast);
    stats_reset();

    admin("POST", "/_hubd/ratelimit", "{\"bucket\":\"api\",\"quota\":3,\"window\":2}");
    {
        hub_client *c = client_with(NULL, 10000, 0);
        int i, ok = 1;
        /* start just after a window boundary (fixed windows on the emulator's clock), so that
         * the fourth request surely falls in the same window as the first three */
        if (admin("GET", "/_hubd/clock", NULL) == 200) {
            const char *p = strstr(admin_body, "\"now\": ");
            double now = p ? strtod(p + 7, NULL) : 0, into = now - 2.0 * (double)(long)(now / 2.0);
            usleep((useconds_t)((2.0 - into + 0.05) * 1e6));
        }
        for (i = 0; i < 3; i++)
            ok &= hub_hardware_list_get(&hw, c, &e) == HUB_OK, hub_hardware_list_free(hw),
                hw = NULL;
        hub_client_ratelimit(c, &rl);
        CHECK(ok && rl.valid && rl.remaining == 0 && rl.quota == 3,
              "RateLimit budget readable: r=%ld q=%ld t=%ld", rl.remaining, rl.quota,
              rl.reset_seconds);
        t0 = now_ms();
        CHECK(hub_hardware_list_get(&hw, c, &e) == HUB_OK && e.attempts == 2,
              "quota exhausted: 429 r=0;t=N waited out, then ok (%d attempts)", e.attempts);
        CHECK(now_ms() - t0 >= 200, "waited %lld ms for the window", (long long)(now_ms() - t0));
        hub_hardware_list_free(hw);
        hw = NULL;
        hub_client_free(c);
    }
    admin("POST", "/_hubd/ratelimit", "{\"bucket\":\"api\",\"quota\":100000,\"window\":300}");
}

/* ---- files, uploads, commits ---------------------------------------------------------------- */
typedef struct membuf {
    char data[4096];
    size_t len;
} membuf;

static int to_mem(const void *d, size_t n, void *p)
{
    membuf *m = p;
    if (m->len + n >= sizeof(m->data))
        return 1;
    memcpy(m->data + m->len, d, n);
    m->len += n;
    m->data[m->len] = 0;
    return 0;
}

static void test_files(void)
{
    char head[HUB_OID_MAX], oid[HUB_OID_MAX], stale[HUB_OID_MAX];
    hub_error e;
    hub_commit_params p = {"add files", "from hubclient tests", NULL};
    hub_commit_op ops[8];
    char names[8][32];
    hub_entry_list *el = NULL;
    hub_client *paged = client_with(NULL, 0, 2);
    hub_file_meta m;
    membuf mb = {{0}, 0};
    const char *want[] = {"dir/f0.txt", "dir/f3.txt", "missing.txt"};
    hub_preupload_list *pl = NULL;
    hub_preupload_file pf[2] = {{"small.txt", "hi", 2, 2}, {"model.bin", "\0\1\2", 3, 20 << 20}};
    int i, fd;
    char path[600];
    static char blob[1 << 20];

    CHECK(hub_repo_head(head, alice, HUB_REPO_SPACE, "alice/chat", "main", &e) == HUB_OK &&
              strlen(head) == 40,
          "branch head %.12s", head);
    snprintf(stale, sizeof(stale), "%s", head);
    memset(ops, 0, sizeof(ops));
    for (i = 0; i < 6; i++) {
        snprintf(names[i], sizeof(names[i]), "dir/f%d.txt", i);
        ops[i].kind = HUB_OP_ADD_FILE;
        ops[i].path = names[i];
        ops[i].content = names[i];
        ops[i].content_len = strlen(names[i]);
    }
    p.parent_commit = head;
    CHECK(hub_commit_create(oid, alice, HUB_REPO_SPACE, "alice/chat", "main", &p, ops, 6, &e) ==
                  HUB_OK &&
              strlen(oid) == 40 && strcmp(oid, head) != 0,
          "commit 6 files with parentCommit -> %.12s (%s)", oid, e.message);
    CHECK(hub_commit_create(NULL, alice, HUB_REPO_SPACE, "alice/chat", "main", &p, ops, 1, &e) ==
                  HUB_E_PRECONDITION &&
              e.http_status == 412,
          "stale parentCommit: 412 -> HUB_E_PRECONDITION");
    {
        hub_commit_op bad = {HUB_OP_ADD_FILE, "..\\ddd", "x", 1, NULL, 0};
        hub_commit_params np = {"bad path", NULL, NULL};
        CHECK(hub_commit_create(NULL, alice, HUB_REPO_SPACE, "alice/chat", "main", &np, &bad, 1,
                                &e) == HUB_E_BAD_REQUEST,
              "bad path: %ld -> HUB_E_BAD_REQUEST", e.http_status);
    }

    stats_reset();
    CHECK(hub_tree_list(&el, paged, HUB_REPO_SPACE, "alice/chat", NULL, "dir", 0, &e) == HUB_OK &&
              el->count == 6,
          "tree of dir/: %zu entries", el ? el->count : 0);
    CHECK(route_count("GET /api/spaces/{ns}/{name}/tree/{rev}/{path*}") == 3,
          "6 entries at limit=2: 3 pages (%ld requests)",
          route_count("GET /api/spaces/{ns}/{name}/tree/{rev}/{path*}"));
    hub_entry_list_free(el);
    el = NULL;
    CHECK(hub_tree_list(&el, alice, HUB_REPO_SPACE, "alice/chat", NULL, NULL, 1, &e) == HUB_OK &&
              el->count >= 9,
          "recursive tree from the root: %zu", el ? el->count : 0);
    hub_entry_list_free(el);
    el = NULL;
    CHECK(hub_paths_info(&el, alice, HUB_REPO_SPACE, "alice/chat", "main", want, 3, &e) == HUB_OK &&
              el->count == 2 && el->items[0].size == 10,
          "paths-info: 2 of 3 exist");
    hub_entry_list_free(el);

    CHECK(hub_file_download(&m, alice, HUB_REPO_SPACE, "alice/chat", NULL, "dir/f3.txt", 0, -1,
                            to_mem, &mb, NULL, &e) == HUB_OK &&
              strcmp(mb.data, "dir/f3.txt") == 0 && strcmp(m.commit, oid) == 0 && m.size == 10 &&
              m.etag[0],
          "download whole file, X-Repo-Commit and ETag");
    mb.len = 0;
    CHECK(hub_file_download(&m, alice, HUB_REPO_SPACE, "alice/chat", NULL, "dir/f3.txt", 4, 3,
                            to_mem, &mb, NULL, &e) == HUB_OK &&
              strcmp(mb.data, "f3.") == 0 && m.http_status == 206 && m.size == 10,
          "ranged download bytes 4-6: [%s]", mb.data);
    CHECK(hub_file_head(&m, alice, HUB_REPO_SPACE, "alice/chat", NULL, "nope.txt", &e) ==
                  HUB_E_NOT_FOUND &&
              strcmp(e.code, "EntryNotFound") == 0,
          "HEAD missing file: EntryNotFound");

    CHECK(hub_preupload(&pl, alice, HUB_REPO_SPACE, "alice/chat", NULL, pf, 2, &e) == HUB_OK &&
              pl->count == 2 && pl->items[0].mode == HUB_UPLOAD_REGULAR &&
              pl->items[1].mode == HUB_UPLOAD_LFS,
          "preupload: small regular, 20 MiB lfs");
    hub_preupload_list_free(pl);

    /* LFS basic upload (1 MiB, under the multipart threshold), commit, download through the
     * redirect */
    for (i = 0; i < (int)sizeof(blob); i++)
        blob[i] = (char)(i * 7 + (i >> 9));
    snprintf(path, sizeof(path), "%s/blob.bin", workdir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, blob, sizeof(blob)) == (ssize_t)sizeof(blob), "wrote 1 MiB file");
    {
        char sha[HUB_OID_MAX];
        hub_commit_op lop = {HUB_OP_ADD_LFS, "weights.bin", NULL, 0, sha, sizeof(blob)};
        hub_commit_params lp = {"add weights", NULL, oid};
        stats_reset();
        CHECK(hub_sha256_fd(sha, fd, sizeof(blob), &e) == HUB_OK, "sha256 of the file %.12s", sha);
        CHECK(hub_lfs_upload_fd(alice, HUB_REPO_SPACE, "alice/chat", "main", fd, sizeof(blob), sha,
                                NULL, &e) == HUB_OK,
              "LFS basic upload (%s)", e.message);
        CHECK(route_count("PUT /lfs-storage/objects/{oid}") == 1, "one basic PUT");
        CHECK(hub_lfs_upload_fd(alice, HUB_REPO_SPACE, "alice/chat", "main", fd, sizeof(blob), NULL,
                                NULL, &e) == HUB_OK &&
                  route_count("PUT /lfs-storage/objects/{oid}") == 1,
              "second upload: already stored, no PUT");
        CHECK(hub_commit_create(oid, alice, HUB_REPO_SPACE, "alice/chat", "main", &lp, &lop, 1,
                                &e) == HUB_OK,
              "commit the LFS pointer");
        {
            static char back[1 << 20];
            int out;
            snprintf(path, sizeof(path), "%s/back.bin", workdir);
            out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
            CHECK(hub_file_download_fd(&m, alice, HUB_REPO_SPACE, "alice/chat", "main",
                                       "weights.bin", 0, -1, out, 0, NULL, &e) == HUB_OK &&
                      m.is_lfs && m.size == (int64_t)sizeof(blob) && strcmp(m.etag, sha) == 0,
                  "LFS download through the redirect: size %lld, etag = sha256", (long long)m.size);
            CHECK(pread(out, back, sizeof(back), 0) == (ssize_t)sizeof(back) &&
                      memcmp(back, blob, sizeof(blob)) == 0,
                  "downloaded bytes match");
            stats_reset();
            fault("{\"method\":\"GET\",\"path\":\"^/lfs-storage/objects/\",\"action\":\"truncate\","
                  "\"count\":1}");
            CHECK(hub_file_download_fd(&m, alice, HUB_REPO_SPACE, "alice/chat", "main",
                                       "weights.bin", 0, -1, out, 0, NULL, &e) == HUB_OK &&
                      pread(out, back, sizeof(back), 0) == (ssize_t)sizeof(back) &&
                      memcmp(back, blob, sizeof(blob)) == 0,
                  "truncated download resumed with Range, bytes match (%s)", e.message);
            CHECK(fault_hits() == 1 && route_count("GET /lfs-storage/objects/{oid}") == 2,
                  "one truncated storage response, one resumed request: 2 requests");
            close(out);
        }
    }
    close(fd);

    /* commit retry logic */
    {
        hub_commit_op op = {HUB_OP_ADD_FILE, "retry.txt", "one", 3, NULL, 0};
        hub_commit_params cp = {"retry commit", NULL, oid};
        char before[HUB_OID_MAX];
        snprintf(before, sizeof(before), "%s", oid);
        stats_reset();
        fault("{\"method\":\"POST\",\"path\":\"/commit/\",\"status\":503,\"count\":1}");
        CHECK(hub_commit_create(oid, alice, HUB_REPO_SPACE, "alice/chat", "main", &cp, &op, 1,
                                &e) == HUB_OK &&
                  strcmp(oid, before) != 0,
              "503 on commit: checked head, then retried");
        CHECK(route_count("POST /api/spaces/{ns}/{name}/commit/{rev}") == 2 &&
                  route_count("GET /api/spaces/{ns}/{name}/commits/{rev}") == 1,
              "2 commit POSTs and 1 commit-list check");

        cp.summary = "landed but reply lost";
        cp.parent_commit = oid;
        snprintf(before, sizeof(before), "%s", oid);
        stats_reset();
        fault("{\"method\":\"POST\",\"path\":\"/commit/\",\"action\":\"truncate\",\"count\":1}");
        CHECK(hub_commit_create(oid, alice, HUB_REPO_SPACE, "alice/chat", "main", &cp, &op, 1,
                                &e) == HUB_OK &&
                  strcmp(oid, before) != 0,
              "reply lost after the commit landed: found it, no second commit");
        CHECK(fault_hits() == 1 && route_count("POST /api/spaces/{ns}/{name}/commit/{rev}") == 1,
              "exactly one commit POST: the truncated one");
        CHECK(hub_repo_head(head, alice, HUB_REPO_SPACE, "alice/chat", NULL, &e) == HUB_OK &&
                  strcmp(head, oid) == 0,
              "head is that commit");

        cp.parent_commit = NULL;
        cp.summary = "no parent";
        stats_reset();
        fault("{\"method\":\"POST\",\"path\":\"/commit/\",\"status\":502,\"count\":1}");
        CHECK(hub_commit_create(NULL, alice, HUB_REPO_SPACE, "alice/chat", "main", &cp, &op, 1,
                                &e) == HUB_E_UNKNOWN_OUTCOME &&
                  route_count("POST /api/spaces/{ns}/{name}/commit/{rev}") == 1,
              "unclear failure without parentCommit: not retried, HUB_E_UNKNOWN_OUTCOME");
        stats_reset();
        fault("{\"method\":\"POST\",\"path\":\"/commit/\",\"status\":429,\"retry_after\":0,"
              "\"count\":1}");
        CHECK(hub_commit_create(NULL, alice, HUB_REPO_SPACE, "alice/chat", "main", &cp, &op, 1,
                                &e) == HUB_OK &&
                  route_count("POST /api/spaces/{ns}/{name}/commit/{rev}") == 2,
              "429 on commit (surely not applied): retried");
    }
    hub_client_free(paged);
}

/* ---- logs and the app URL ---------------------------------------------------------------------
 */
typedef struct follow {
    hub_cancel *cancel;
    pthread_mutex_t lock;
    int got_marker;
    int lines;
    int opened; /* calls with line NULL: the stream opened */
    hub_status st;
} follow;

static int follow_line(const char *line, size_t len, int64_t ts, void *payload)
{
    follow *f = payload;
    (void)ts;
    pthread_mutex_lock(&f->lock);
    if (!line) { /* the stream is open */
        f->opened++;
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    f->lines++;
    if (memmem(line, len, "marker-after-start-42", 21))
        f->got_marker = 1;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static void *follow_thread(void *arg)
{
    follow *f = arg;
    hub_error e;
    f->st = hub_logs_follow(alice, "alice/chat", HUB_LOGS_RUN, follow_line, f, f->cancel, &e);
    return NULL;
}

static void test_logs_visit(void)
{
    hub_error e;
    follow f;
    pthread_t th;
    int i, got = 0;
    long status = 0;
    hub_space *s = NULL;
    hub_runtime *r = NULL;
    char url[512];

    memset(&f, 0, sizeof(f));
    pthread_mutex_init(&f.lock, NULL);
    f.cancel = hub_cancel_new();
    pthread_create(&th, NULL, follow_thread, &f);
    usleep(400000);
    admin("POST", "/_hubd/spaces/alice/chat/logs/run", "{\"lines\":[\"marker-after-start-42\"]}");
    for (i = 0; i < 100 && !got; i++) {
        usleep(50000);
        pthread_mutex_lock(&f.lock);
        got = f.got_marker;
        pthread_mutex_unlock(&f.lock);
    }
    CHECK(got, "log follow received a line produced after it started");
    pthread_mutex_lock(&f.lock);
    CHECK(f.opened == 1, "log follow said once that the stream opened (%d)", f.opened);
    pthread_mutex_unlock(&f.lock);
    hub_cancel_trigger(f.cancel);
    pthread_join(th, NULL);
    CHECK(f.st == HUB_E_CANCELLED, "follow ends with HUB_E_CANCELLED when cancelled");
    hub_cancel_free(f.cancel);
    pthread_mutex_destroy(&f.lock);

    CHECK(hub_space_info_get(&s, NULL, alice, "gradio/hello-world", &e) == HUB_OK && s->host,
          "app host: %s", s && s->host ? s->host : "-");
    admin("POST", "/_hubd/spaces/gradio/hello-world/sleep", NULL);
    CHECK(hub_space_runtime_get(&r, NULL, alice, "gradio/hello-world", &e) == HUB_OK &&
              r->stage == HUB_STAGE_STOPPED,
          "Space asleep (STOPPED)");
    hub_runtime_free(r);
    r = NULL;
    snprintf(url, sizeof(url), "%s", s && s->host ? s->host : "http://invalid");
    CHECK(hub_space_visit(&status, alice, "gradio/hello-world", url, &e) == HUB_OK && status == 200,
          "visiting the app URL wakes it (503 Retry-After retried, then %ld)", status);
    CHECK(hub_space_runtime_get(&r, NULL, alice, "gradio/hello-world", &e) == HUB_OK &&
              r->stage == HUB_STAGE_RUNNING,
          "Space RUNNING after the visit");
    hub_runtime_free(r);
    hub_space_free(s);
}

/* ---- redirects never carry the token to another origin --------------------------------------- */
typedef struct mini {
    int fd;
    int port;
    int expect;         /* connections to serve (one request each), then stop */
    char seen[16][160]; /* "path auth=0|1" */
    int n;
} mini;

static void *mini_serve(void *arg)
{
    mini *m = arg;
    int k;
    for (k = 0; k < m->expect; k++) {
        char req[8192], resp[512], path[128] = "", *q;
        const char *base;
        ssize_t got = 0, n;
        int sign, c = accept(m->fd, NULL, NULL);
        if (c < 0)
            break;
        while (got < (ssize_t)sizeof(req) - 1 &&
               (n = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
            got += n;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[got > 0 ? got : 0] = 0;
        sscanf(req, "%*s %127s", path);
        q = strchr(path, '?');
        /* the query is not recorded (it may carry a Space JWT), only whether __sign came */
        sign = q && strstr(q, "__sign=") != NULL;
        if (q)
            *q = '\0';
        base = strrchr(path, '/') ? strrchr(path, '/') : path;
        snprintf(m->seen[m->n % 16], sizeof(m->seen[0]), "%s auth=%d%s", path,
                 strcasestr(req, "\nAuthorization:") != NULL, sign ? " sign" : "");
        m->n++;
        if (strcmp(base, "/secrets") == 0)
            snprintf(resp, sizeof(resp),
                     "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://localhost:%d/catch\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     m->port);
        else if (strcmp(base, "/hop") == 0)
            snprintf(resp, sizeof(resp),
                     "HTTP/1.1 302 Found\r\nLocation: http://localhost:%d/land\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     m->port);
        else if (strcmp(base, "/hop-sibling") == 0)
            snprintf(resp, sizeof(resp),
                     "HTTP/1.1 302 Found\r\nLocation: http://y.app.localhost:%d/land-sibling\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     m->port);
        else if (strcmp(base, "/rel") == 0)
            snprintf(resp, sizeof(resp),
                     "HTTP/1.1 302 Found\r\nLocation: /same\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
        else
            snprintf(resp, sizeof(resp),
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                     "Connection: close\r\n\r\nok");
        if (write(c, resp, strlen(resp)) < 0)
            perror("write");
        close(c);
    }
    return NULL;
}

/* Starts the recording server on 127.0.0.1 (a random port) for `expect` connections. */
static void mini_start(mini *m, pthread_t *th, int expect)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);

    memset(m, 0, sizeof(*m));
    memset(&a, 0, sizeof(a));
    m->expect = expect;
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(m->fd, (struct sockaddr *)&a, sizeof(a));
    listen(m->fd, 8);
    {
        /* accept gives up after 3 s: a connection that should never come does not hang it */
        struct timeval tv = {3, 0};
        setsockopt(m->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    getsockname(m->fd, (struct sockaddr *)&a, &al);
    m->port = ntohs(a.sin_port);
    pthread_create(th, NULL, mini_serve, m);
}

/* The line the server recorded for `path`, or "-" if that path never arrived. */
static const char *mini_seen(const mini *m, const char *path)
{
    int i;
    size_t n = strlen(path);
    for (i = 0; i < m->n && i < 16; i++)
        if (strncmp(m->seen[i], path, n) == 0 && m->seen[i][n] == ' ')
            return m->seen[i];
    return "-";
}

static int discard_data(const void *d, size_t n, void *p)
{
    (void)d, (void)n, (void)p;
    return 0;
}

static void test_redirect_auth(void)
{
    mini m;
    pthread_t th;
    hub_options o;
    hub_client *c = NULL;
    hub_error e;
    char ep[64], url[128];
    long status;

    mini_start(&m, &th, 6);

    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", m.port);
    hub_options_init(&o);
    o.endpoint = ep;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    hub_client_new(&c, &o, &e);
    CHECK(hub_file_download(NULL, c, HUB_REPO_MODEL, "x/y", "main", "hop", 0, -1, discard_data,
                            NULL, NULL, &e) == HUB_OK,
          "cross-origin redirect followed");
    CHECK(hub_file_download(NULL, c, HUB_REPO_MODEL, "x/y", "main", "rel", 0, -1, discard_data,
                            NULL, NULL, &e) == HUB_OK,
          "same-origin relative redirect followed");
    snprintf(url, sizeof(url), "%s/app-on-endpoint", ep);
    CHECK(hub_space_visit(&status, c, NULL, url, &e) == HUB_OK && status == 200,
          "app URL on the endpoint's own origin visited");
    pthread_join(th, NULL);
    close(m.fd);
    CHECK(m.n == 5 && strcmp(m.seen[0], "/x/y/resolve/main/hop auth=1") == 0 &&
              strcmp(m.seen[1], "/land auth=0") == 0,
          "token sent to the endpoint, NOT to the other origin: [%s] [%s]", m.seen[0], m.seen[1]);
    CHECK(strcmp(m.seen[2], "/x/y/resolve/main/rel auth=1") == 0 &&
              strcmp(m.seen[3], "/same auth=1") == 0,
          "same-origin redirect keeps the token: [%s] [%s]", m.seen[2], m.seen[3]);
    CHECK(strcmp(mini_seen(&m, "/app-on-endpoint"), "/app-on-endpoint auth=0") == 0,
          "a Space app visit never carries the token, even on the endpoint's origin [%s]",
          mini_seen(&m, "/app-on-endpoint"));
    hub_client_free(c);
}

/* A write answered with a redirect is not followed: its body (here a secret value) is never
 * re-sent to the Location, and the call fails instead of reporting the catcher's 200. */
static void test_write_redirect(void)
{
    mini m;
    pthread_t th;
    hub_options o;
    hub_client *c = NULL;
    hub_error e;
    hub_status st;
    char ep[64];

    mini_start(&m, &th, 2); /* the POST, and the catcher if the client (wrongly) went there */
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", m.port);
    hub_options_init(&o);
    o.endpoint = ep;
    o.deadline_ms = 5000;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    hub_client_new(&c, &o, &e);
    st = hub_secret_set(c, "alice/chat", "API_KEY", "s3cr3t-sentinel-value", NULL, &e);
    CHECK(st == HUB_E_PROTOCOL && e.http_status == 307 && strstr(e.message, "redirect"),
          "POST answered 307: HUB_E_PROTOCOL, not success (%s, HTTP %ld: %s)", hub_status_str(st),
          e.http_status, e.message);
    pthread_join(th, NULL); /* the accept loop gives up after 3 s without the second connection */
    close(m.fd);
    CHECK(m.n == 1 && strcmp(mini_seen(&m, "/api/spaces/alice/chat/secrets"),
                             "/api/spaces/alice/chat/secrets auth=1") == 0,
          "only the POST arrived (%d requests)", m.n);
    CHECK(strcmp(mini_seen(&m, "/catch"), "-") == 0, "the redirect target received nothing [%s]",
          mini_seen(&m, "/catch"));
    hub_client_free(c);
}

/* ---- the token never goes to Space app hosts ------------------------------------------------ */
static hub_client *client_opts(int anonymous)
{
    hub_options o;
    hub_client *c = NULL;
    hub_error e;
    hub_options_init(&o);
    o.anonymous = anonymous;
    o.backoff_base_ms = 50;
    o.backoff_max_ms = 400;
    o.deadline_ms = 20000;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    if (hub_client_new(&c, &o, &e) != HUB_OK)
        fprintf(stderr, "client: %s\n", e.message);
    return c;
}

/* A server on another origin (names under *.localhost resolve to 127.0.0.1 in curl) records
 * whether an Authorization header or a __sign parameter reached it. The endpoint is the
 * emulator, which hands out the Space JWT. */
static void test_app_token_hosts(void)
{
    mini m;
    pthread_t th;
    hub_client *anon = client_opts(1);
    hub_error e;
    char url[160];
    long status;

    CHECK(anon != NULL, "anonymous client");
    if (!anon)
        return;
    stats_reset();
    mini_start(&m, &th, 6);
    snprintf(url, sizeof(url), "http://x.hf.space.localhost:%d/sub", m.port);
    CHECK(hub_space_visit(&status, alice, "alice/chat", url, &e) == HUB_OK && status == 200,
          "visit with a token and a Space id");
    snprintf(url, sizeof(url), "http://x.hf.space.localhost:%d/hop-sibling?a=1", m.port);
    CHECK(hub_space_visit(&status, alice, "alice/chat", url, &e) == HUB_OK && status == 200,
          "visit of an app that redirects to another host");
    snprintf(url, sizeof(url), "http://x.hf.space.localhost:%d/anon", m.port);
    CHECK(hub_space_visit(&status, anon, "alice/chat", url, &e) == HUB_OK, "anonymous visit");
    snprintf(url, sizeof(url), "http://x.hf.space.localhost:%d/noid", m.port);
    CHECK(hub_space_visit(&status, alice, NULL, url, &e) == HUB_OK, "visit without a Space id");
    pthread_join(th, NULL);
    close(m.fd);
    CHECK(strcmp(mini_seen(&m, "/sub"), "/sub auth=0 sign") == 0,
          "the app host gets the Space JWT (__sign) and NO Authorization header [%s]",
          mini_seen(&m, "/sub"));
    CHECK(strcmp(mini_seen(&m, "/hop-sibling"), "/hop-sibling auth=0 sign") == 0 &&
              strcmp(mini_seen(&m, "/land-sibling"), "/land-sibling auth=0") == 0,
          "a redirect target gets neither [%s] [%s]", mini_seen(&m, "/hop-sibling"),
          mini_seen(&m, "/land-sibling"));
    CHECK(strcmp(mini_seen(&m, "/anon"), "/anon auth=0") == 0 &&
              strcmp(mini_seen(&m, "/noid"), "/noid auth=0") == 0,
          "no token or no Space id: a plain visit [%s] [%s]", mini_seen(&m, "/anon"),
          mini_seen(&m, "/noid"));
    CHECK(route_count("GET /api/spaces/{ns}/{name}/jwt") == 2,
          "one JWT request per visit with a token and an id (%ld)",
          route_count("GET /api/spaces/{ns}/{name}/jwt"));
    hub_client_free(anon);
}

static hub_stage stage_of(const char *id)
{
    hub_runtime *r = NULL;
    hub_error e;
    hub_stage st = HUB_STAGE_UNKNOWN;
    if (hub_space_runtime_get(&r, NULL, alice, id, &e) == HUB_OK)
        st = r->stage;
    hub_runtime_free(r);
    return st;
}

/* A private Space's app on the emulator: anonymous visitors get 404 and do not wake it; a
 * visit with the token fetches the Space's JWT from the endpoint and passes it as __sign (the
 * app host never sees the token), which wakes it. */
static void test_private_app(void)
{
    hub_runtime *r = NULL;
    hub_client *anon = client_opts(1);
    hub_error e;
    char url[256] = "";
    long status = 0;
    hub_status st;
    int i;

    CHECK(anon != NULL, "anonymous client");
    if (!anon)
        return;
    /* alice/notes is private and paused in the fixture: restart it, wait for RUNNING */
    hub_space_restart(NULL, alice, "alice/notes", 0, &e);
    for (i = 0; i < 100 && stage_of("alice/notes") != HUB_STAGE_RUNNING; i++)
        usleep(100000);
    CHECK(stage_of("alice/notes") == HUB_STAGE_RUNNING, "private alice/notes RUNNING");
    CHECK(admin("POST", "/_hubd/spaces/alice/notes/sleep", NULL) == 200 &&
              stage_of("alice/notes") == HUB_STAGE_STOPPED,
          "private alice/notes put to sleep (STOPPED)");
    if (hub_space_runtime_get(&r, NULL, alice, "alice/notes", &e) == HUB_OK && r->domains_count)
        snprintf(url, sizeof(url), "http://%s/", r->domains[0]);
    hub_runtime_free(r);
    CHECK(strstr(url, "alice-notes.localhost:") != NULL, "app URL from runtime.domains: %s", url);

    stats_reset();
    st = hub_space_visit(&status, anon, "alice/notes", url, &e);
    CHECK(st == HUB_E_NOT_FOUND && status == 404, "an anonymous visit: %s, HTTP %ld",
          hub_status_str(st), status);
    CHECK(stage_of("alice/notes") == HUB_STAGE_STOPPED, "and the private Space stays asleep");
    CHECK(route_count("GET /api/spaces/{ns}/{name}/jwt") == 0, "no JWT asked for anonymously");

    stats_reset();
    st = hub_space_visit(&status, alice, "alice/notes", url, &e);
    CHECK(st == HUB_OK && status == 200, "with the token, via the Space JWT: %s, HTTP %ld",
          hub_status_str(st), status);
    CHECK(stage_of("alice/notes") == HUB_STAGE_RUNNING, "and wakes the private Space (RUNNING)");
    CHECK(route_count("GET /api/spaces/{ns}/{name}/jwt") == 1, "one JWT request");
    CHECK(route_count("POST /api/spaces/{ns}/{name}/restart") == 0, "no restart was sent");
    hub_client_free(anon);
}

/* ---- calls that are not idempotent are not retried after the Hub may have acted ------------- */
static void test_not_idempotent(void)
{
    hub_runtime *r = NULL;
    hub_repo_spec spec = {HUB_REPO_SPACE, "alice/doomed", 1, "static", NULL};
    hub_space *sp = NULL;
    hub_error e;
    hub_status st;
    long hits;

    stats_reset();
    fault("{\"method\":\"POST\",\"path\":\"/restart$\",\"action\":\"truncate\",\"count\":1}");
    st = hub_space_restart(&r, alice, "alice/chat", 0, &e);
    hits = fault_hits();
    CHECK(st == HUB_E_UNKNOWN_OUTCOME && e.attempts == 1,
          "restart whose reply was cut off: HUB_E_UNKNOWN_OUTCOME, not retried (%s, %d attempts)",
          hub_status_str(st), e.attempts);
    CHECK(hits == 1 && route_count("POST /api/spaces/{ns}/{name}/restart") == 1,
          "exactly 1 restart POST reached the Hub (fault hits %ld, counted %ld)", hits,
          route_count("POST /api/spaces/{ns}/{name}/restart"));
    hub_runtime_free(r);
    r = NULL;

    stats_reset();
    fault("{\"method\":\"POST\",\"path\":\"/restart$\",\"status\":429,\"retry_after\":0,"
          "\"count\":1}");
    CHECK(hub_space_restart(&r, alice, "alice/chat", 0, &e) == HUB_OK && e.attempts == 2 && r,
          "restart answered 429 (surely not run): retried, ok (%d attempts)", e.attempts);
    hub_runtime_free(r);
    r = NULL;

    stats_reset();
    fault("{\"method\":\"POST\",\"path\":\"/pause$\",\"action\":\"truncate\",\"count\":1}");
    CHECK(hub_space_pause(&r, alice, "alice/chat", &e) == HUB_OK && e.attempts == 2,
          "pause (idempotent) with a cut-off reply: retried, ok");
    hub_runtime_free(r);
    r = NULL;
    hub_space_restart(NULL, alice, "alice/chat", 0, &e); /* leave it running for later tests */

    CHECK(hub_repo_create(NULL, alice, &spec, &e) == HUB_OK, "alice/doomed created");
    stats_reset();
    fault("{\"method\":\"DELETE\",\"path\":\"^/api/repos/delete$\",\"action\":\"truncate\","
          "\"count\":1}");
    st = hub_repo_delete(alice, HUB_REPO_SPACE, "alice/doomed", &e);
    CHECK(st == HUB_OK && e.attempts == 2,
          "delete whose reply was cut off: the retry's 404 means done, HUB_OK (%s, %d attempts)",
          hub_status_str(st), e.attempts);
    CHECK(hub_space_info_get(&sp, NULL, alice, "alice/doomed", &e) == HUB_E_NOT_FOUND,
          "and the Space is gone");
    hub_space_free(sp);
    stats_reset();
    CHECK(hub_repo_delete(alice, HUB_REPO_SPACE, "alice/doomed", &e) == HUB_E_NOT_FOUND,
          "a plain delete of a missing repo is still HUB_E_NOT_FOUND");
    stats_reset();
}

static int ignore_line(const char *line, size_t len, int64_t ts, void *payload)
{
    (void)line, (void)len, (void)ts, (void)payload;
    return 0;
}

/* A stream (log follow) answered 503 with Retry-After: 3600 under a short deadline gives up at
 * once instead of sleeping an hour. */
static void test_stream_retry_after(void)
{
    hub_client *fast = client_with(NULL, 800, 0);
    hub_error e;
    hub_status st;
    int64_t t0;

    stats_reset();
    fault("{\"method\":\"GET\",\"path\":\"/logs/run$\",\"status\":503,\"retry_after\":3600,"
          "\"count\":-1}");
    t0 = now_ms();
    st = hub_logs_follow(fast, "alice/chat", HUB_LOGS_RUN, ignore_line, NULL, NULL, &e);
    CHECK(st == HUB_E_SERVER && e.http_status == 503,
          "log follow answered 503 Retry-After 3600: HUB_E_SERVER (%s)", hub_status_str(st));
    CHECK(now_ms() - t0 < 2000, "returned within the 800 ms deadline (%lld ms)",
          (long long)(now_ms() - t0));
    stats_reset();
    hub_client_free(fast);
}

/* ---- threads share one client ------------------------------------------------------------------
 */
static int thread_fail;
static void *hammer(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 20; i++) {
        hub_hardware_list *hw = NULL;
        hub_runtime *r = NULL;
        hub_error e;
        if (hub_hardware_list_get(&hw, alice, &e) != HUB_OK ||
            hub_space_runtime_get(&r, NULL, alice, "alice/chat", &e) != HUB_OK)
            __atomic_add_fetch(&thread_fail, 1, __ATOMIC_RELAXED);
        hub_hardware_list_free(hw);
        hub_runtime_free(r);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[8];
    hub_stats before, after;
    int i;
    hub_client_stats(alice, &before);
    for (i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    hub_client_stats(alice, &after);
    CHECK(thread_fail == 0, "8 threads x 40 calls on one client: no failure");
    CHECK(after.requests - before.requests == 320 && after.connections - before.connections <= 16,
          "320 requests over %llu new connections (keep-alive reuse)",
          (unsigned long long)(after.connections - before.connections));
}

int main(void)
{
    endpoint = admin_base = getenv("HF_ENDPOINT");
    if (!endpoint || !getenv("HF_TOKEN") || !getenv("CLIENT_TEST_WORK")) {
        fprintf(stderr, "run through tests/client/run.sh (needs HF_ENDPOINT, HF_TOKEN)\n");
        return 2;
    }
    snprintf(workdir, sizeof(workdir), "%s", getenv("CLIENT_TEST_WORK"));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_config();
    alice = client_with(NULL, 0, 0);
    if (!alice)
        return 1;
    test_whoami_spaces();
    test_secrets_variables();
    test_errors();
    test_retries();
    test_files();
    test_logs_visit();
    test_redirect_auth();
    test_write_redirect();
    test_app_token_hosts();
    test_private_app();
    test_not_idempotent();
    test_stream_retry_after();
    test_threads();
    hub_client_free(alice);
    curl_global_cleanup();
    return check_finish();
}
