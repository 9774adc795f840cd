/* The client's reachability state (reach.c) against the emulator with outages switched at run
 * time (POST /_hubd/network on the admin listener): refused -> offline after one attempt, later
 * calls fail at once without a request, writes too; the prober brings it back with backoff; a
 * blackhole (connection accepted, never answered) goes offline after the answer limit and a
 * silent probe; a slow but live Hub is waited for; the endpoint's state is what hub_client_reach
 * shows. Started by tests/client/run.sh (HF_ENDPOINT, HF_TOKEN, HUB_ADMIN). */
#include "check.h"
#include "harness.h"
#include "hubclient.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *endpoint;

static void net(const char *json)
{
    if (admin("POST", "/_hubd/network", json) != 200)
        fprintf(stderr, "admin network %s failed: %s\n", json, admin_body);
}

static hub_client *client(unsigned answer_ms, unsigned connect_ms, unsigned probe_max_ms)
{
    hub_options o;
    hub_client *c = NULL;
    hub_error e;

    hub_options_init(&o);
    o.endpoint = endpoint;
    o.deadline_ms = 20000;
    o.backoff_base_ms = 200;
    o.answer_timeout_ms = answer_ms;
    o.connect_timeout_ms = connect_ms;
    o.probe_max_ms = probe_max_ms;
    o.log = log_hook;
    o.log_level = HUB_LOG_DEBUG;
    if (hub_client_new(&c, &o, &e) != HUB_OK)
        printf("client: %s\n", e.message);
    return c;
}

static uint64_t requests(hub_client *c)
{
    hub_stats s;
    hub_client_stats(c, &s);
    return s.requests;
}

/* Polls hub_client_reach until online == want, up to ms; the time it took, or -1. */
static int64_t wait_state(hub_client *c, int want, int64_t ms)
{
    int64_t t0 = now_ms();
    hub_reach r;
    for (;;) {
        hub_client_reach(c, &r);
        if (r.online == want)
            return now_ms() - t0;
        if (now_ms() - t0 > ms)
            return -1;
        usleep(20000);
    }
}

static void test_refused(void)
{
    hub_client *c = client(700, 1500, 2000);
    hub_space_list *l = NULL;
    hub_kv_list *kv = NULL;
    hub_reach r;
    hub_error e;
    hub_status st;
    uint64_t n0;
    int64_t t0, el, back;

    if (!c)
        return;
    hub_client_reach(c, &r);
    CHECK(r.online == 1 && r.outages == 0 && r.since > 0 && !r.last_error[0],
          "a new client is online, since its creation");
    CHECK(spaces_list(&l, c, "alice", &e) == HUB_OK, "listing while the Hub is up");
    hub_space_list_free(l);
    l = NULL;

    net("{\"outage\":\"refused\"}");
    n0 = requests(c);
    t0 = now_ms();
    st = spaces_list(&l, c, "alice", &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_OFFLINE, "refused: HUB_E_OFFLINE (%s: %s)", hub_status_str(st), e.message);
    /* a kept-alive connection is reset first (one retry), then the new one is refused: never a
     * whole deadline of retries */
    CHECK(el < 1500 && requests(c) - n0 <= 2, "refused: not retried (%lld ms, %llu requests)",
          (long long)el, (unsigned long long)(requests(c) - n0));
    hub_client_reach(c, &r);
    CHECK(r.online == 0 && r.outages == 1 && strstr(r.last_error, "onnect"),
          "offline, saying why: %s", r.last_error);

    n0 = requests(c);
    t0 = now_ms();
    st = spaces_list(&l, c, "alice", &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_OFFLINE && el < 50 && requests(c) == n0,
          "offline: the next read fails at once, nothing sent (%lld ms): %s", (long long)el,
          e.message);
    CHECK(strstr(e.message, "unreachable since") != NULL, "the message says since when: %s",
          e.message);
    t0 = now_ms();
    st = hub_variable_set(&kv, c, "alice/chat", "OFFLINE_K", "v", NULL, &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_OFFLINE && el < 50 && requests(c) == n0,
          "offline: a write fails at once, nothing sent (%lld ms)", (long long)el);
    hub_kv_list_free(kv);
    kv = NULL;

    /* probes back off: 1 s, then 2 s (probe_max_ms) */
    usleep(4600 * 1000);
    hub_client_reach(c, &r);
    CHECK(r.online == 0 && r.probes >= 2 && r.probes <= 4,
          "the prober backs off: %llu probes in 4.6 s (1 s, 2 s, 2 s)",
          (unsigned long long)r.probes);

    net("{\"outage\":\"none\"}");
    back = wait_state(c, 1, 5000);
    CHECK(back >= 0 && back <= 2600, "online again within one probe interval (%lld ms)",
          (long long)back);
    hub_client_reach(c, &r);
    CHECK(r.online == 1 && r.outages == 1 && r.last_error[0], "the last error is kept: %s",
          r.last_error);
    CHECK(spaces_list(&l, c, "alice", &e) == HUB_OK, "and the next listing works");
    hub_space_list_free(l);
    hub_client_free(c);
}

static void test_blackhole(void)
{
    hub_client *c = client(500, 1000, 1000);
    hub_space_list *l = NULL;
    hub_runtime *rt = NULL;
    hub_reach r;
    hub_error e;
    hub_status st;
    int64_t t0, el, back;
    uint64_t n0;

    if (!c)
        return;
    CHECK(spaces_list(&l, c, "alice", &e) == HUB_OK, "blackhole: warm connection");
    hub_space_list_free(l);
    l = NULL;
    net("{\"outage\":\"blackhole\"}");
    t0 = now_ms();
    st = spaces_list(&l, c, "alice", &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_OFFLINE, "blackhole: HUB_E_OFFLINE (%s: %s)", hub_status_str(st), e.message);
    CHECK(el >= 450 && el < 2000, "after the answer limit and a silent probe (%lld ms)",
          (long long)el);
    hub_client_reach(c, &r);
    CHECK(r.online == 0 && strstr(r.last_error, "no answer"), "offline: %s", r.last_error);
    n0 = requests(c);
    t0 = now_ms();
    st = hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_OFFLINE && el < 50 && requests(c) == n0,
          "blackhole: the next call fails at once (%lld ms)", (long long)el);
    hub_runtime_free(rt);
    rt = NULL;
    net("{\"outage\":\"none\"}");
    back = wait_state(c, 1, 5000);
    CHECK(back >= 0, "blackhole: online again (%lld ms)", (long long)back);
    CHECK(hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e) == HUB_OK, "and answered");
    hub_runtime_free(rt);
    hub_client_free(c);
}

/* A write sent just as the Hub goes silent: no answer limit may cut it (it may have acted), but
 * the prober is asked, finds the Hub silent, and the write stops: HUB_E_OFFLINE for an idempotent
 * one, HUB_E_UNKNOWN_OUTCOME for a restart, in seconds rather than the 20 s deadline. */
static void test_blackhole_write(void)
{
    hub_client *c = client(500, 1000, 1000);
    hub_kv_list *kv = NULL;
    hub_runtime *rt = NULL;
    hub_reach r;
    hub_error e;
    hub_status st;
    int64_t t0, el;

    if (!c)
        return;
    CHECK(hub_variables_list(&kv, c, "alice/chat", &e) == HUB_OK, "write: warm connection");
    hub_kv_list_free(kv);
    kv = NULL;
    net("{\"outage\":\"blackhole\"}");
    t0 = now_ms();
    st = hub_variable_set(&kv, c, "alice/chat", "BH_K", "v", NULL, &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_OFFLINE && el < 4000,
          "a variable set into a blackhole: HUB_E_OFFLINE in %lld ms (%s: %s)", (long long)el,
          hub_status_str(st), e.message);
    hub_client_reach(c, &r);
    CHECK(r.online == 0, "write: offline now (%s)", r.last_error);
    hub_kv_list_free(kv);
    net("{\"outage\":\"none\"}");
    CHECK(wait_state(c, 1, 5000) >= 0, "write: online again");
    hub_client_free(c);

    c = client(500, 1000, 1000);
    if (!c)
        return;
    CHECK(hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e) == HUB_OK, "restart: warm");
    hub_runtime_free(rt);
    rt = NULL;
    net("{\"outage\":\"blackhole\"}");
    t0 = now_ms();
    st = hub_space_restart(&rt, c, "alice/chat", 0, &e);
    el = now_ms() - t0;
    CHECK(st == HUB_E_UNKNOWN_OUTCOME && el < 4000,
          "a restart into a blackhole may have run: HUB_E_UNKNOWN_OUTCOME in %lld ms (%s)",
          (long long)el, hub_status_str(st));
    hub_runtime_free(rt);
    net("{\"outage\":\"none\"}");
    hub_client_free(c);
}

/* A Hub that answers slowly but answers: the read is sent again without the answer limit (the
 * first attempt was given up after it) and waited for; the origin stays online. */
static void test_slow(void)
{
    hub_client *c = client(300, 1000, 1000);
    hub_runtime *rt = NULL;
    hub_reach r;
    hub_error e;
    hub_status st;
    int64_t t0, el;

    if (!c)
        return;
    admin("POST", "/_hubd/faults",
          "{\"method\":\"GET\",\"path\":\"^/api/spaces/alice/chat/runtime$\",\"action\":"
          "\"latency\",\"latency_ms\":1200,\"count\":2}");
    t0 = now_ms();
    st = hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e);
    el = now_ms() - t0;
    CHECK(st == HUB_OK && el >= 1100, "slow: a 1.2 s answer is waited for (%lld ms, %s)",
          (long long)el, hub_status_str(st));
    hub_client_reach(c, &r);
    CHECK(r.online == 1 && r.outages == 0 && r.probes == 1,
          "slow: one probe answered, still online (%llu probes)", (unsigned long long)r.probes);
    hub_runtime_free(rt);
    admin("DELETE", "/_hubd/faults", NULL);
    hub_client_free(c);
}

/* A Hub that comes back loaded (its answers slower than the limits a caller waits): the prober
 * of an offline origin is patient, so the origin does not stay "offline" for good. */
static void test_back_slow(void)
{
    hub_client *c = client(300, 500, 1000);
    hub_space_list *l = NULL;
    hub_error e;
    int64_t back;

    if (!c)
        return;
    net("{\"outage\":\"refused\"}");
    CHECK(spaces_list(&l, c, "alice", &e) == HUB_E_OFFLINE, "back slow: offline");
    admin("POST", "/_hubd/faults",
          "{\"method\":\"GET\",\"path\":\"^/api/whoami-v2$\",\"action\":\"latency\","
          "\"latency_ms\":1500,\"count\":-1}");
    net("{\"outage\":\"none\"}");
    back = wait_state(c, 1, 8000);
    CHECK(back >= 0,
          "back slow: a probe answered in 1.5 s (limits 0.3/0.5 s) brings it online "
          "(%lld ms)",
          (long long)back);
    admin("DELETE", "/_hubd/faults", NULL);
    hub_client_free(c);
}

/* After a pause (a laptop that slept) the pooled connection is not trusted: a new one is made. */
static void test_idle_fresh(void)
{
    hub_options o;
    hub_client *c = NULL;
    hub_runtime *rt = NULL;
    hub_stats s0, s1, s2;
    hub_error e;

    hub_options_init(&o);
    o.endpoint = endpoint;
    o.idle_fresh_ms = 800;
    if (hub_client_new(&c, &o, &e) != HUB_OK)
        return;
    CHECK(hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e) == HUB_OK, "idle: first call");
    hub_runtime_free(rt);
    rt = NULL;
    hub_client_stats(c, &s0);
    CHECK(hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e) == HUB_OK, "idle: at once");
    hub_runtime_free(rt);
    rt = NULL;
    hub_client_stats(c, &s1);
    CHECK(s1.connections == s0.connections, "idle: a call right after reuses the connection");
    usleep(1100 * 1000);
    CHECK(hub_space_runtime_get(&rt, NULL, c, "alice/chat", &e) == HUB_OK, "idle: after 1.1 s");
    hub_runtime_free(rt);
    hub_client_stats(c, &s2);
    CHECK(s2.connections == s1.connections + 1,
          "idle: after idle_fresh_ms a new connection is made (%llu -> %llu)",
          (unsigned long long)s1.connections, (unsigned long long)s2.connections);
    hub_client_free(c);
}

int main(void)
{
    endpoint = getenv("HF_ENDPOINT");
    admin_base = getenv("HUB_ADMIN");
    if (!endpoint || !admin_base) {
        printf("HF_ENDPOINT and HUB_ADMIN are needed (run.sh)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_refused();
    test_blackhole();
    test_blackhole_write();
    test_slow();
    test_idle_fresh();
    test_back_slow();
    net("{\"outage\":\"none\"}");
    curl_global_cleanup();
    return check_finish();
}
