/* hubclient at the real Hub's edges (issue 10), against the emulator configured to show each one
 * (tests/hub/README.md, "The network"): a slow first byte on log streams, LFS
 * multipart signalled per object only, a HEAD on resolve where the CDN compresses and signed
 * storage refuses HEAD, 401/403 on Space operations, and, when run with HUB_TLS=1, trust:
 * refused without the emulator's CA, accepted with it through the environment or ca_file.
 * Started by tests/client/run.sh (HF_ENDPOINT, HF_TOKEN, HUB_ADMIN, HUB_CA when TLS). */
#include "check.h"
#include "harness.h"
#include "hubclient.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *endpoint, *workdir;

static void net(const char *json)
{
    if (admin("POST", "/_hubd/network", json) != 200)
        fprintf(stderr, "admin network %s failed: %s\n", json, admin_body);
}

/* Requests counted for a route since the last stats reset (crude JSON scan, our own format). */
static long route_count(const char *route)
{
    char key[256];
    const char *p;
    admin("GET", "/_hubd/stats", NULL);
    snprintf(key, sizeof(key), "\"%s\": {\"count\": ", route);
    p = strstr(admin_body, key);
    return p ? strtol(p + strlen(key), NULL, 10) : 0;
}

static hub_client *client(const char *token_file, int anonymous, unsigned deadline_ms, hub_error *e)
{
    hub_options o;
    hub_client *c = NULL;
    hub_options_init(&o);
    o.endpoint = endpoint;
    o.token_file = token_file;
    o.anonymous = anonymous;
    o.deadline_ms = deadline_ms;
    o.max_retries = 1;
    o.backoff_base_ms = 100;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    hub_client_new(&c, &o, e);
    return c;
}

/* ---- logs ------------------------------------------------------------------------------------ */
/* Stops a follow at the first line holding the text in payload. */
static int stop_at(const char *line, size_t len, int64_t ts, void *payload)
{
    (void)ts;
    return line && memmem(line, len, payload, strlen(payload)) != NULL;
}

static void test_logs(hub_client *alice)
{
    hub_error e;
    int64_t t0;
    hub_status st;

    admin("POST", "/_hubd/spaces/alice/chat/logs/run", "{\"lines\":[\"edge-line-one\"]}");
    net("{\"log_first_byte_ms\": 2500}");
    t0 = now_ms();
    st = hub_logs_follow(alice, "alice/chat", HUB_LOGS_RUN, stop_at, "edge-line-one", NULL, &e);
    CHECK(st == HUB_E_CANCELLED && strstr(e.message, "line callback"),
          "log stream answering after 2.5 s: its lines are read (%s: %s)", hub_status_str(st),
          e.message);
    CHECK(now_ms() - t0 >= 2500, "  after the slow first byte (%lld ms)",
          (long long)(now_ms() - t0));
    net("{\"log_first_byte_ms\": 0}");
}

/* ---- LFS multipart, per object --------------------------------------------------------------- */
static void test_multipart(hub_client *alice)
{
    char path[600];
    static char buf[1500000];
    hub_error e;
    hub_status st;
    size_t i;
    int fd;

    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 2654435761u >> 13);
    snprintf(path, sizeof(path), "%s/mp.bin", workdir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
        CHECK(0, "write the multipart sample");
        return;
    }
    /* the batch reply says "transfer":"basic" while the object carries chunk_size and parts */
    net("{\"lfs_transfer_field\": \"basic\"}");
    admin("DELETE", "/_hubd/stats", NULL);
    st = hub_lfs_upload_fd(alice, HUB_REPO_SPACE, "alice/chat", "main", fd, sizeof(buf), NULL, NULL,
                           &e);
    CHECK(st == HUB_OK, "upload with transfer \"basic\" and chunk_size in the header (%s: %s)",
          hub_status_str(st), st == HUB_OK ? "" : e.message);
    CHECK(route_count("PUT /lfs-storage/multipart/{oid}/{part}") == 4 &&
              route_count("PUT /lfs-storage/objects/{oid}") == 0,
          "  sent as 4 parts of 400000 bytes, as huggingface_hub would");
    net("{\"lfs_transfer_field\": \"omit\"}");
    buf[0] ^= 1;
    if (pwrite(fd, buf, 1, 0) != 1)
        CHECK(0, "rewrite");
    admin("DELETE", "/_hubd/stats", NULL);
    st = hub_lfs_upload_fd(alice, HUB_REPO_SPACE, "alice/chat", "main", fd, sizeof(buf), NULL, NULL,
                           &e);
    CHECK(st == HUB_OK && route_count("PUT /lfs-storage/multipart/{oid}/{part}") == 4,
          "upload with no transfer field at all: multipart by chunk_size (%s)", hub_status_str(st));
    net("{\"lfs_transfer_field\": \"auto\"}");
    /* the parts go up in parallel: with 600 ms per part PUT, 4 parts one after the other would
     * take 2.4 s */
    buf[0] ^= 2;
    if (pwrite(fd, buf, 1, 0) != 1)
        CHECK(0, "rewrite");
    net("{\"lfs_transfer_field\": \"omit\"}");
    admin("POST", "/_hubd/faults",
          "{\"method\": \"PUT\", \"path\": \"^/lfs-storage/multipart/\", \"action\": \"latency\", "
          "\"latency_ms\": 600, \"count\": -1}");
    {
        struct timespec t0, t1;
        double secs;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = hub_lfs_upload_fd(alice, HUB_REPO_SPACE, "alice/chat", "main", fd, sizeof(buf), NULL,
                               NULL, &e);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        CHECK(st == HUB_OK && secs < 1.8,
              "4 parts of 600 ms each uploaded side by side in %.2f s (one after the other: 2.4 s)",
              secs);
    }
    admin("DELETE", "/_hubd/faults", NULL);
    net("{\"lfs_transfer_field\": \"auto\"}");
    close(fd);
}

static int count_bytes(const void *data, size_t len, void *payload)
{
    (void)data;
    *(size_t *)payload += len;
    return 0;
}

/* ---- HEAD on resolve ---------------------------------------------------------------------------
 */
static void test_head(hub_client *alice)
{
    static const char blob[] = "weights of the edge test, stored in LFS\n";
    char sha[HUB_OID_MAX], oid[HUB_OID_MAX], path[600];
    hub_commit_op op = {HUB_OP_ADD_LFS, "edge.safetensors", NULL, 0, sha, sizeof(blob) - 1};
    hub_commit_params p = {"edge lfs", NULL, NULL};
    hub_file_meta m;
    hub_error e;
    hub_status st;
    size_t readme_len = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/edge.lfs", workdir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, blob, sizeof(blob) - 1) != (ssize_t)sizeof(blob) - 1 ||
        hub_sha256_fd(sha, fd, sizeof(blob) - 1, &e) != HUB_OK) {
        CHECK(0, "write the LFS sample");
        return;
    }
    st = hub_lfs_upload_fd(alice, HUB_REPO_SPACE, "alice/chat", "main", fd, sizeof(blob) - 1, sha,
                           NULL, &e);
    if (st == HUB_OK)
        st = hub_commit_create(oid, alice, HUB_REPO_SPACE, "alice/chat", "main", &p, &op, 1, &e);
    close(fd);
    CHECK(st == HUB_OK, "an LFS file committed (%s)", hub_status_str(st));

    net("{\"storage_head_403\": true, \"compress\": true}");
    admin("DELETE", "/_hubd/stats", NULL);
    st = hub_file_head(&m, alice, HUB_REPO_SPACE, "alice/chat", "main", "edge.safetensors", &e);
    CHECK(st == HUB_OK && m.is_lfs && m.size == (int64_t)sizeof(blob) - 1 &&
              strcmp(m.etag, sha) == 0,
          "HEAD of an LFS file: size and sha256 from the Hub's 302 (%s, size %lld)",
          hub_status_str(st), (long long)m.size);
    CHECK(route_count("HEAD /lfs-storage/objects/{oid}") == 0,
          "  the absolute redirect to signed storage (403 to HEAD) is not followed");

    st = hub_file_head(&m, alice, HUB_REPO_SPACE, "alice/chat", "main", "README.md", &e);
    readme_len = 0;
    if (hub_file_download(NULL, alice, HUB_REPO_SPACE, "alice/chat", "main", "README.md", 0, -1,
                          count_bytes, &readme_len, NULL, &e) != HUB_OK)
        readme_len = 0;
    CHECK(st == HUB_OK && readme_len > 0 && m.size == (int64_t)readme_len,
          "HEAD of README.md under a compressing CDN: the file's size %zu, not the gzip's "
          "(%lld)",
          readme_len, (long long)m.size);
    net("{\"storage_head_403\": false, \"compress\": false}");

    /* a hostile storage server sends 20 MiB more than the 40-byte object (issue 11, item 9) */
    net("{\"storage_extra_bytes\": 20971520}");
    readme_len = 0;
    st = hub_file_download(&m, alice, HUB_REPO_SPACE, "alice/chat", "main", "edge.safetensors", 0,
                           -1, count_bytes, &readme_len, NULL, &e);
    CHECK(st == HUB_E_PROTOCOL && readme_len <= sizeof(blob) - 1,
          "download to the end: stopped at the Hub's X-Linked-Size, %zu bytes kept (%s: %s)",
          readme_len, hub_status_str(st), e.message);
    readme_len = 0;
    st = hub_file_download(&m, alice, HUB_REPO_SPACE, "alice/chat", "main", "edge.safetensors", 0,
                           (int64_t)sizeof(blob) - 1, count_bytes, &readme_len, NULL, &e);
    CHECK(st == HUB_OK && readme_len == sizeof(blob) - 1,
          "download of the expected size: exactly %zu bytes, the rest not read (%s)", readme_len,
          hub_status_str(st));
    net("{\"storage_extra_bytes\": 0}");
}

/* ---- 401/403 on Space operations: which permission, and how to get it ----------------------- */
static void test_denied(hub_client *alice, hub_client *reader, hub_client *anon)
{
    hub_runtime *rt = NULL;
    hub_kv_list *kv = NULL;
    hub_error e;
    hub_status st;

    st = hub_space_restart(&rt, reader, "alice/chat", 0, &e);
    CHECK(st == HUB_E_FORBIDDEN && strstr(e.message, "no write access to alice/chat") &&
              strstr(e.message, "settings/tokens") && strstr(e.message, "(Hub: You don't") &&
              strlen(e.message) < 256,
          "restart with a read token: 403 says write access is missing and where to get it: %s",
          e.message);
    hub_runtime_free(rt);
    rt = NULL;
    /* an OAuth login token: 401 on restart although whoami works (huggingface_hub#4972) */
    admin("POST", "/_hubd/faults",
          "{\"method\":\"POST\",\"path\":\"/api/spaces/alice/chat/restart$\",\"status\":401,"
          "\"message\":\"Invalid credentials in Authorization header\",\"count\":1}");
    st = hub_space_restart(&rt, alice, "alice/chat", 0, &e);
    CHECK(st == HUB_E_AUTH && strstr(e.message, "lacks a scope") &&
              strstr(e.message, "repo.write") && strlen(e.message) < 256,
          "restart answered 401 despite a token: names the missing scope: %s", e.message);
    hub_runtime_free(rt);
    rt = NULL;
    st = hub_secrets_list(&kv, anon, "alice/chat", &e);
    CHECK(st == HUB_E_AUTH && strstr(e.message, "no token was sent"),
          "secrets without a token: says a token is needed: %s", e.message);
    hub_kv_list_free(kv);
    kv = NULL;
    st = hub_variable_set(&kv, reader, "alice/chat", "EDGE", "1", NULL, &e);
    CHECK(st == HUB_E_FORBIDDEN && strstr(e.message, "no write access"),
          "variable write with a read token: %s", e.message);
    hub_kv_list_free(kv);
    admin("DELETE", "/_hubd/faults", NULL);
}

/* ---- trust (HUB_TLS=1 runs) ------------------------------------------------------------------ */
static void test_trust(const char *ca)
{
    static const char *vars[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                                 "CURL_CA_BUNDLE"};
    hub_space_list *l = NULL;
    hub_client *c;
    hub_error e;
    hub_status st;
    size_t i;

    CHECK(strncmp(endpoint, "https://", 8) == 0, "endpoint is https: %s", endpoint);
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    c = client(NULL, 1, 5000, &e);
    st = c ? spaces_list(&l, c, "alice", &e) : HUB_E_INVALID;
    CHECK(st == HUB_E_TRANSPORT && strstr(e.message, "not trusted") && strstr(e.message, "ca_file"),
          "without the emulator's CA: refused, saying how to trust it: %s", e.message);
    hub_space_list_free(l);
    l = NULL;
    hub_client_free(c);
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        if (strcmp(vars[i], "SSL_CERT_DIR") == 0)
            continue;
        setenv(vars[i], ca, 1);
        c = client(NULL, 1, 5000, &e);
        st = c ? spaces_list(&l, c, "alice", &e) : HUB_E_INVALID;
        CHECK(st == HUB_OK, "with %s=<the CA>: accepted (%s)", vars[i], hub_status_str(st));
        hub_space_list_free(l);
        l = NULL;
        hub_client_free(c);
        unsetenv(vars[i]);
    }
    setenv("CURL_CA_BUNDLE", "", 1); /* empty never turns verification off */
    c = client(NULL, 1, 5000, &e);
    st = c ? spaces_list(&l, c, "alice", &e) : HUB_E_INVALID;
    CHECK(st == HUB_E_TRANSPORT, "CURL_CA_BUNDLE=\"\" does not disable verification (%s)",
          hub_status_str(st));
    hub_space_list_free(l);
    l = NULL;
    hub_client_free(c);
    unsetenv("CURL_CA_BUNDLE");
    CHECK(hub_trust_set_ca_file("/nonexistent/ca.pem", &e) == HUB_E_INVALID,
          "ca_file that cannot be read: refused at once (%s)", e.message);
    CHECK(hub_trust_set_ca_file(ca, &e) == HUB_OK, "ca_file set");
    c = client(NULL, 1, 5000, &e);
    st = c ? spaces_list(&l, c, "alice", &e) : HUB_E_INVALID;
    CHECK(st == HUB_OK, "with ca_file (no environment): accepted (%s)", hub_status_str(st));
    hub_space_list_free(l);
    hub_client_free(c);
    hub_trust_set_ca_file(NULL, &e);
    setenv("SSL_CERT_FILE", ca, 1);
}

int main(void)
{
    hub_client *alice, *reader, *anon;
    const char *ca = getenv("HUB_CA");
    char readfile[600];
    hub_error e;
    int fd;

    endpoint = getenv("HF_ENDPOINT");
    admin_base = getenv("HUB_ADMIN");
    workdir = getenv("CLIENT_TEST_WORK");
    if (!endpoint || !admin_base || !workdir) {
        printf("HF_ENDPOINT, HUB_ADMIN and CLIENT_TEST_WORK are needed (run.sh)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (ca)
        test_trust(ca);
    snprintf(readfile, sizeof(readfile), "%s/read-token", workdir);
    fd = open(readfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "hf_alice_read", 13) != 13) {
        printf("cannot write %s\n", readfile);
        return 2;
    }
    close(fd);
    alice = client(NULL, 0, 20000, &e);
    reader = client(readfile, 0, 20000, &e);
    anon = client(NULL, 1, 20000, &e);
    if (!alice || !reader || !anon) {
        printf("client creation failed: %s\n", e.message);
        CHECK(0, "three clients");
        goto out;
    }
    test_logs(alice);
    test_multipart(alice);
    test_head(alice);
    test_denied(alice, reader, anon);
out:
    hub_client_free(alice);
    hub_client_free(reader);
    hub_client_free(anon);
    curl_global_cleanup();
    return check_finish();
}
