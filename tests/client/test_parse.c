/* Unit tests of hubclient's parsers on recorded Hub bodies (hub-api.md, CAS recordings) and on
 * odd and hostile ones: missing fields, wrong types, huge numbers, invalid UTF-8, truncation.
 * No network. Every hostile input must give a clean status, never a crash (run under ASan). */
#include "check.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define S(x) x, strlen(x)

static void test_whoami(void)
{
    hub_whoami *w = NULL;
    hub_error e;
    const char *ok =
        "{\"type\":\"user\",\"name\":\"alice\",\"fullname\":\"Alice\",\"orgs\":[{\"type\":"
        "\"org\",\"name\":\"acme\"},{\"name\":7}],\"auth\":{\"type\":\"access_token\","
        "\"accessToken\":{\"displayName\":\"ci\",\"role\":\"write\"}}}";
    CHECK(hub_parse_whoami(&w, S(ok), &e) == HUB_OK && w, "whoami parses");
    CHECK(w && strcmp(w->name, "alice") == 0 && w->orgs_count == 1 &&
              strcmp(w->orgs[0], "acme") == 0 && strcmp(w->token_role, "write") == 0,
          "whoami fields (a non-string org name is skipped)");
    hub_whoami_free(w);
    CHECK(hub_parse_whoami(&w, S("{\"name\":5}"), &e) == HUB_E_PROTOCOL && !w,
          "whoami: wrong type of name is a protocol error");
    CHECK(hub_parse_whoami(&w, S("[]"), &e) == HUB_E_PROTOCOL && !w, "whoami: array refused");
    CHECK(hub_parse_whoami(&w, S("{\"name\":\"al"), &e) == HUB_E_PROTOCOL && !w,
          "whoami: truncated JSON refused (%s)", e.message);
    CHECK(hub_parse_whoami(&w, S("{\"name\":\"a\xff\xfe\"}"), &e) == HUB_E_PROTOCOL && !w,
          "whoami: invalid UTF-8 refused");
    CHECK(hub_parse_whoami(&w, NULL, 0, &e) == HUB_E_PROTOCOL, "whoami: empty body refused");
}

static void test_runtime(void)
{
    hub_runtime *r = NULL;
    hub_error e;
    const char *cas = "{\"stage\":\"BUILDING\",\"hardware\":{\"current\":null,\"requested\":\"cpu-"
                      "basic\"},\"storage\":null,\"gcTimeout\":172800,\"replicas\":{\"requested\":"
                      "1},\"devMode\":false,\"domains\":[{\"domain\":\"user-tmp-test-space.hf."
                      "space\",\"stage\":\"READY\"}]}";
    CHECK(hub_parse_runtime(&r, S(cas), &e) == HUB_OK && r, "runtime (CAS recording) parses");
    CHECK(r && r->stage == HUB_STAGE_BUILDING && !r->hardware_current &&
              strcmp(r->hardware_requested, "cpu-basic") == 0 && r->gc_timeout == 172800 &&
              r->domains_count == 1,
          "runtime fields");
    hub_runtime_free(r);
    CHECK(hub_parse_runtime(&r, S("{\"stage\":\"SLEEPING\",\"gcTimeout\":null}"), &e) == HUB_OK &&
              r->stage == HUB_STAGE_STOPPED && r->gc_timeout == -1,
          "SLEEPING maps to STOPPED, null gcTimeout = never");
    hub_runtime_free(r);
    CHECK(hub_parse_runtime(&r,
                            S("{\"stage\":\"WARP_DRIVE\",\"hardware\":7,\"gcTimeout\":\"x\","
                              "\"domains\":{}}"),
                            &e) == HUB_OK &&
              r->stage == HUB_STAGE_UNKNOWN && strcmp(r->stage_str, "WARP_DRIVE") == 0 &&
              r->gc_timeout == 0 && !r->hardware_current,
          "unknown stage and wrong types degrade to absent");
    hub_runtime_free(r);
    CHECK(hub_parse_runtime(&r, S("{\"gcTimeout\":99999999999999999999999}"), &e) ==
                  HUB_E_PROTOCOL ||
              (r && r->gc_timeout != 0),
          "huge integer: clean result (%s)", e.message);
    hub_runtime_free(r);
    r = NULL;
    CHECK(hub_parse_runtime(&r, S("\"RUNNING\""), &e) == HUB_E_PROTOCOL && !r,
          "runtime: a bare string refused");
}

static void test_spaces(void)
{
    hub_space_list list = {0};
    hub_space *s = NULL;
    hub_error e;
    const char *page = "[{\"_id\":\"x\",\"id\":\"alice/chat\",\"sdk\":\"docker\",\"private\":false,"
                       "\"lastModified\":\"2025-03-07T12:24:18.657Z\",\"subdomain\":\"alice-chat\","
                       "\"runtime\":{\"stage\":\"RUNNING\",\"hardware\":{\"current\":\"cpu-basic\","
                       "\"requested\":\"cpu-basic\"},\"gcTimeout\":172800}},"
                       "{\"id\":\"alice/notes\",\"private\":true}]";
    CHECK(hub_parse_space_array(&list, S(page), &e) == HUB_OK && list.count == 2,
          "space page parses");
    CHECK(list.count == 2 && list.items[0].last_modified == 1741350258 &&
              list.items[0].has_runtime && list.items[0].runtime.stage == HUB_STAGE_RUNNING &&
              strcmp(list.items[0].subdomain, "alice-chat") == 0 && list.items[1].is_private &&
              !list.items[1].has_runtime && !list.items[1].sdk,
          "space fields (time %lld)", list.count ? (long long)list.items[0].last_modified : 0LL);
    CHECK(hub_parse_space_array(&list, S("[{\"id\":\"bob/x\"}]"), &e) == HUB_OK && list.count == 3,
          "second page appends");
    CHECK(hub_parse_space_array(&list, S("[{\"sdk\":\"gradio\"}]"), &e) == HUB_E_PROTOCOL &&
              list.count == 3,
          "space without id refused, list unchanged");
    CHECK(hub_parse_space_array(&list, S("[{\"id\":\"../../etc\"}]"), &e) == HUB_E_PROTOCOL,
          "hostile id refused");
    CHECK(hub_parse_space_array(&list, S("{\"id\":\"a/b\"}"), &e) == HUB_E_PROTOCOL,
          "object instead of array refused");
    free(list.items[0].id); /* reuse hub_space_list_free on a heap copy */
    list.items[0].id = strdup("alice/chat");
    {
        hub_space_list *h = malloc(sizeof(*h));
        *h = list;
        hub_space_list_free(h);
    }
    CHECK(hub_parse_space(&s,
                          S("{\"id\":\"a/b\",\"lastModified\":\"not a date\",\"private\":"
                            "\"yes\",\"runtime\":[]}"),
                          &e) == HUB_OK &&
              s->last_modified == 0 && s->is_private == 0 && !s->has_runtime,
          "space info with wrong types degrades");
    hub_space_free(s);
}

static void test_hardware_kv(void)
{
    hub_hardware_list *h = NULL;
    hub_kv_list *kv = NULL;
    hub_error e;
    CHECK(hub_parse_hardware(&h,
                             S("[{\"name\":\"cpu-basic\",\"prettyName\":\"CPU basic\",\"cpu\":"
                               "\"2 vCPU\",\"ram\":\"16 GB\",\"unitCostMicroUSD\":0,"
                               "\"unitCostUSD\":0,\"unitLabel\":\"hour\"},{\"name\":\"t4-"
                               "small\",\"cpu\":4,\"unitCostUSD\":0.4}]"),
                             &e) == HUB_OK &&
              h->count == 2 && strcmp(h->items[1].cpu, "4") == 0 &&
              h->items[1].unit_cost_usd > 0.39,
          "hardware list parses (numeric cpu becomes text)");
    hub_hardware_list_free(h);
    CHECK(hub_parse_hardware(&h, S("[{\"prettyName\":\"x\"}]"), &e) == HUB_E_PROTOCOL && !h,
          "hardware entry without name refused");
    CHECK(hub_parse_kv_map(&kv,
                           S("{\"foo\":{\"value\":\"123\",\"updatedAt\":\"2025-03-07T12:24:18"
                             ".657Z\"},\"BAR\":{\"description\":\"d\"}}"),
                           1, &e) == HUB_OK &&
              kv->count == 2 && strcmp(kv->items[0].key, "BAR") == 0 &&
              strcmp(kv->items[1].value, "123") == 0 && kv->items[1].updated_at == 1741350258,
          "variables map parses, sorted by key");
    hub_kv_list_free(kv);
    CHECK(hub_parse_kv_map(&kv, S("{\"S\":{\"value\":\"leak\"}}"), 0, &e) == HUB_OK &&
              kv->items[0].value == NULL,
          "secret values are never kept");
    hub_kv_list_free(kv);
    CHECK(hub_parse_kv_map(&kv, S("{}"), 1, &e) == HUB_OK && kv->count == 0, "empty map");
    hub_kv_list_free(kv);
    CHECK(hub_parse_kv_map(&kv, S("[1,2]"), 1, &e) == HUB_E_PROTOCOL && !kv, "array refused");
}

static void test_entries(void)
{
    hub_entry_list l = {0};
    hub_error e;
    size_t i;
    const char *t = "[{\"type\":\"file\",\"path\":\"pytorch_model.bin\",\"size\":440473133,\"oid\":"
                    "\"ba5d\",\"lfs\":{\"oid\":\"0974\",\"size\":440473133,\"pointerSize\":134},"
                    "\"xetHash\":\"2d84\"},{\"type\":\"directory\",\"path\":\"sub\",\"oid\":\"t\","
                    "\"size\":0},{\"type\":\"submodule\",\"path\":\"m\"}]";
    CHECK(hub_parse_entry_array(&l, S(t), &e) == HUB_OK && l.count == 2, "tree page parses");
    CHECK(l.count == 2 && l.items[0].size == 440473133 && strcmp(l.items[0].lfs_oid, "0974") == 0 &&
              l.items[0].lfs_pointer_size == 134 && l.items[1].is_dir,
          "tree fields; unknown kinds skipped");
    CHECK(hub_parse_entry_array(&l, S("[{\"type\":\"file\",\"size\":1}]"), &e) == HUB_E_PROTOCOL,
          "entry without path refused");
    CHECK(hub_parse_entry_array(&l, S("[{\"type\":\"file\",\"path\":\"x\",\"size\":-5}]"), &e) ==
              HUB_E_PROTOCOL,
          "negative size refused");
    for (i = 0; i < l.count; i++) {
        free(l.items[i].path);
        free(l.items[i].oid);
        free(l.items[i].lfs_oid);
        free(l.items[i].last_commit);
    }
    free(l.items);
}

static void test_preupload_commit(void)
{
    hub_preupload_list l = {0};
    hub_error e;
    char oid[HUB_OID_MAX];
    hub_commit_brief top[2];
    size_t n;
    CHECK(hub_parse_preupload(&l,
                              S("{\"files\":[{\"path\":\"a.bin\",\"uploadMode\":\"lfs\","
                                "\"shouldIgnore\":false},{\"path\":\"r\",\"uploadMode\":"
                                "\"regular\",\"shouldIgnore\":true,\"oid\":\"abc\"}],"
                                "\"commitOid\":\"x\"}"),
                              &e) == HUB_OK &&
              l.count == 2 && l.items[0].mode == HUB_UPLOAD_LFS && l.items[1].should_ignore &&
              strcmp(l.items[1].oid, "abc") == 0,
          "preupload parses");
    CHECK(hub_parse_preupload(&l, S("{\"files\":[{\"path\":\"a\",\"uploadMode\":\"xet\"}]}"), &e) ==
              HUB_E_PROTOCOL,
          "unknown upload mode refused");
    {
        hub_preupload_list *h = malloc(sizeof(*h));
        *h = l;
        hub_preupload_list_free(h);
    }
    CHECK(hub_parse_commit_result(
              oid,
              S("{\"success\":true,\"commitOid\":"
                "\"0123456789abcdef0123456789abcdef01234567\",\"commitUrl\":\"u\"}"),
              &e) == HUB_OK &&
              strcmp(oid, "0123456789abcdef0123456789abcdef01234567") == 0,
          "commit result parses");
    CHECK(hub_parse_commit_result(oid, S("{\"commitOid\":\"zz\"}"), &e) == HUB_E_PROTOCOL,
          "bad commitOid refused");
    CHECK(hub_parse_commit_list(top, 2, &n,
                                S("[{\"id\":\"1111111111111111111111111111111111111111\",\"title\":"
                                  "\"t\"},{\"id\":\"2222222222222222222222222222222222222222\"},"
                                  "{\"id\":\"3\"}]"),
                                &e) == HUB_OK &&
              n == 2 && strcmp(top[0].title, "t") == 0 && top[1].title[0] == 0,
          "commit list parses the first two");
}

static void test_lfs(void)
{
    hub_lfs_batch *b = NULL;
    hub_error e;
    const char *oid = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"transfer\":\"multipart\",\"objects\":[{\"oid\":\"%s\",\"size\":40,\"actions\":{"
             "\"upload\":{\"href\":\"http://h/c\",\"header\":{\"chunk_size\":\"16\",\"00003\":"
             "\"http://h/3\",\"00001\":\"http://h/1\",\"00002\":\"http://h/2\"}},\"verify\":{"
             "\"href\":\"http://h/v\"}}}]}",
             oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_OK && b->parts_count == 3 &&
              b->chunk_size == 16 && strcmp(b->parts[0].url, "http://h/1") == 0 && b->has_verify,
          "multipart batch parses, parts sorted");
    hub_lfs_batch_free(b);
    snprintf(
        body, sizeof(body),
        "{\"objects\":[{\"oid\":\"%s\",\"size\":4,\"error\":{\"code\":422,\"message\":\"bad\"}}]}",
        oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_OK && b->error_code == 422,
          "per-object error kept");
    hub_lfs_batch_free(b);
    snprintf(body, sizeof(body), "{\"objects\":[{\"oid\":\"%s\",\"size\":4}]}", oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_OK && !b->has_upload,
          "no actions = already stored");
    hub_lfs_batch_free(b);
    snprintf(body, sizeof(body),
             "{\"transfer\":\"multipart\",\"objects\":[{\"oid\":\"%s\",\"actions\":{\"upload\":{"
             "\"href\":\"x\",\"header\":{\"chunk_size\":\"-1\",\"00001\":\"u\"}}}}]}",
             oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_E_PROTOCOL && !b,
          "negative chunk size refused");
    snprintf(
        body, sizeof(body),
        "{\"transfer\":\"multipart\",\"objects\":[{\"oid\":\"%s\",\"actions\":{\"upload\":{"
        "\"href\":\"x\",\"header\":{\"chunk_size\":\"5\",\"00001\":\"u\",\"00003\":\"u\"}}}}]}",
        oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_E_PROTOCOL && !b,
          "gap in part numbers refused");
    snprintf(body, sizeof(body),
             "{\"transfer\":\"xet\",\"objects\":[{\"oid\":\"%s\",\"actions\":{\"upload\":{\"href\":"
             "\"x\"}}}]}",
             oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_E_PROTOCOL && !b,
          "xet transfer refused (no CAS client)");
    CHECK(hub_parse_lfs_batch(&b, oid, S("{\"objects\":[]}"), &e) == HUB_E_PROTOCOL && !b,
          "object missing from reply refused");
    /* multipart is per object, by chunk_size (huggingface_hub lfs.py, huggingface.js commit.ts),
     * whatever the top-level transfer says or when it is absent (issue 10) */
    snprintf(body, sizeof(body),
             "{\"transfer\":\"basic\",\"objects\":[{\"oid\":\"%s\",\"size\":40,\"actions\":{"
             "\"upload\":{\"href\":\"http://h/c\",\"header\":{\"chunk_size\":\"16\",\"00002\":"
             "\"http://h/2\",\"00001\":\"http://h/1\",\"00003\":\"http://h/3\"}}}}]}",
             oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_OK && b && b->parts_count == 3 &&
              b->chunk_size == 16 && strcmp(b->parts[2].url, "http://h/3") == 0,
          "transfer basic + chunk_size in the object's header: multipart");
    hub_lfs_batch_free(b);
    snprintf(body, sizeof(body),
             "{\"objects\":[{\"oid\":\"%s\",\"size\":40,\"actions\":{\"upload\":{\"href\":"
             "\"http://h/c\",\"header\":{\"chunk_size\":20,\"1\":\"http://h/1\",\"2\":\"http://h/"
             "2\"}}}}]}",
             oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_OK && b && b->parts_count == 2 &&
              b->chunk_size == 20,
          "no transfer field, integer chunk_size: multipart");
    hub_lfs_batch_free(b);
    snprintf(body, sizeof(body),
             "{\"transfer\":\"multipart\",\"objects\":[{\"oid\":\"%s\",\"size\":4,\"actions\":{"
             "\"upload\":{\"href\":\"http://h/put\"}}}]}",
             oid);
    CHECK(hub_parse_lfs_batch(&b, oid, S(body), &e) == HUB_OK && b && b->parts_count == 0 &&
              b->has_upload,
          "transfer multipart, object without chunk_size: a basic PUT");
    hub_lfs_batch_free(b);
}

static void test_headers(void)
{
    char msg[64];
    char *next;
    long r, t;
    hub_parse_error_body(msg, sizeof(msg), "application/json",
                         S("{\"error\":\"You already created this space repo\",\"url\":\"x\"}"));
    CHECK(strcmp(msg, "You already created this space repo") == 0, "error body: error string");
    hub_parse_error_body(msg, sizeof(msg), "application/json", S("{\"error\":[\"first\",\"2\"]}"));
    CHECK(strcmp(msg, "first") == 0, "error body: error array");
    hub_parse_error_body(msg, sizeof(msg), NULL, S("{\"errors\":[{\"message\":\"m\"}]}"));
    CHECK(strcmp(msg, "m") == 0, "error body: errors[].message");
    hub_parse_error_body(msg, sizeof(msg), "text/plain", S("plain\r\ntext"));
    CHECK(strcmp(msg, "plain  text") == 0, "error body: plain text, control chars blanked");
    hub_parse_error_body(msg, sizeof(msg), "text/html", S("<html>"));
    CHECK(msg[0] == 0, "error body: HTML ignored");
    hub_parse_error_body(msg, 8, "application/json", S("{\"error\":\"a very long message\"}"));
    CHECK(strlen(msg) == 7, "error body: truncated to the buffer");

    next = hub_parse_link_next(
        S("<https://huggingface.co/api/spaces?cursor=abc&limit=2>; rel=\"next\""));
    CHECK(next && strcmp(next, "https://huggingface.co/api/spaces?cursor=abc&limit=2") == 0,
          "Link rel=next");
    free(next);
    next = hub_parse_link_next(S("<http://a/p1>; rel=\"prev\", <http://a/p3>; rel=\"next\""));
    CHECK(next && strcmp(next, "http://a/p3") == 0, "Link with prev and next");
    free(next);
    CHECK(hub_parse_link_next(S("<javascript:x>; rel=\"next\"")) == NULL,
          "Link to a non-http URL ignored");
    CHECK(hub_parse_link_next(S("<http://a/x; rel=\"next\"")) == NULL, "unterminated Link");

    CHECK(hub_parse_ratelimit(&r, &t, S("\"api\";r=0;t=55")) == 0 && r == 0 && t == 55,
          "RateLimit r=0;t=55");
    CHECK(hub_parse_ratelimit(&r, &t, S("\"api\";r=99999999999999999;t=1")) < 0,
          "RateLimit huge number refused");
    CHECK(hub_parse_ratelimit(&r, &t, S("garbage")) < 0, "RateLimit garbage refused");
    CHECK(hub_parse_retry_after(S("3")) == 3000, "Retry-After seconds");
    CHECK(hub_parse_retry_after(S("Wed, 21 Oct 2015 07:28:00 GMT")) == 0,
          "Retry-After date in the past = now");
    CHECK(hub_parse_retry_after(S("soon")) == -1, "Retry-After garbage");
    CHECK(hub_parse_retry_after(S("99999999999999999999")) == -1, "Retry-After huge");
}

typedef struct lines {
    char text[4096];
    int n;
    int stop_after;
} lines;

static int on_line(const char *line, size_t len, int64_t ts, void *payload)
{
    lines *l = payload;
    (void)ts;
    strncat(l->text, line, len);
    strcat(l->text, "|");
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void test_sse(void)
{
    hub_sse s;
    lines l = {{0}, 0, 0};
    const char *stream =
        "data: {\"data\":\"hello\\n\",\"timestamp\":\"2025-03-07T12:24:18.657Z\"}\n\n"
        "data:\n\n: comment\nevent: x\n"
        "data: {\"data\":\"two\\nlines\\n\",\"timestamp\":\"x\"}\r\n\r\n"
        "data: not json\n"
        "data: {\"data\":5}\n"
        "data: {\"data\":\"tail\"}";
    size_t i, n = strlen(stream);
    hub_sse_init(&s, on_line, &l);
    for (i = 0; i < n; i += 7) /* fed in odd-sized pieces */
        hub_sse_feed(&s, stream + i, n - i < 7 ? n - i : 7);
    hub_sse_finish(&s);
    CHECK(strcmp(l.text, "hello|two|lines|tail|") == 0, "SSE lines: [%s]", l.text);
    hub_sse_free(&s);

    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    hub_sse_init(&s, on_line, &l);
    CHECK(hub_sse_feed(&s, S("data: {\"data\":\"a\\nb\\n\"}\n")) < 0 && l.n == 1,
          "SSE callback stop is honoured");
    hub_sse_free(&s);

    memset(&l, 0, sizeof(l));
    hub_sse_init(&s, on_line, &l);
    {
        size_t big = (2u << 20);
        char *junk = malloc(big);
        memset(junk, 'x', big);
        memcpy(junk, "data: {\"data\":\"", 15);
        hub_sse_feed(&s, junk, big);
        free(junk);
    }
    hub_sse_feed(&s, S("\ndata: {\"data\":\"after\"}\n"));
    CHECK(strcmp(l.text, "after|") == 0, "SSE over-long line dropped, stream continues");
    hub_sse_free(&s);
}

/* hub_status_str's table has a name for every status, each its own; anything else is unknown.
 * load_as: a body of the wrong JSON type is a protocol error naming what was expected. */
static void test_status_names(void)
{
    hub_runtime *r = NULL;
    hub_entry_list el = {0};
    hub_error e;
    int a, b;

    for (a = HUB_OK; a <= HUB_E_OFFLINE; a++) {
        CHECK(strcmp(hub_status_str((hub_status)a), "unknown status") != 0, "status %d has a name",
              a);
        for (b = HUB_OK; b < a; b++)
            CHECK(strcmp(hub_status_str((hub_status)a), hub_status_str((hub_status)b)) != 0,
                  "statuses %d and %d have different names", a, b);
    }
    CHECK(strcmp(hub_status_str((hub_status)(HUB_E_OFFLINE + 1)), "unknown status") == 0,
          "a status past the last is unknown");
    CHECK(strcmp(hub_status_str((hub_status)-1), "unknown status") == 0,
          "a negative status is unknown");
    CHECK(hub_parse_runtime(&r, S("[]"), &e) == HUB_E_PROTOCOL && !r &&
              strcmp(e.message, "runtime: not an object") == 0,
          "runtime: an array is refused (%s)", e.message);
    CHECK(hub_parse_entry_array(&el, S("{}"), &e) == HUB_E_PROTOCOL && el.count == 0 &&
              strcmp(e.message, "tree: not an array") == 0,
          "tree: an object is refused (%s)", e.message);
    CHECK(hub_parse_entry_array(&el, S("[1"), &e) == HUB_E_PROTOCOL && el.count == 0,
          "tree: bad JSON is refused (%s)", e.message);
}

static void test_misc(void)
{
    hub_sha256 s;
    unsigned char d[32];
    char hex[65];
    hub_buf b;
    int64_t t;
    char *pretty = NULL;
    hub_error e;

    hub_sha256_init(&s);
    hub_sha256_update(&s, "abc", 3);
    hub_sha256_final(&s, d);
    hub_hex(hex, d, 32);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
          "sha256(abc)");
    hub_sha256_init(&s);
    {
        char m[1000];
        int i;
        memset(m, 'a', sizeof(m));
        for (i = 0; i < 1000; i++)
            hub_sha256_update(&s, m, sizeof(m));
    }
    hub_sha256_final(&s, d);
    hub_hex(hex, d, 32);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "sha256(a x 1e6)");
    hub_buf_init(&b, 0);
    hub_buf_add_base64(&b, "foob", 4);
    CHECK(strcmp(b.data, "Zm9vYg==") == 0, "base64");
    b.len = 0;
    hub_buf_add_json_str(&b, "a\"b\\\n\x01\r\t\x7f\xc3\xa9");
    CHECK(strcmp(b.data, "\"a\\\"b\\\\\\n\\u0001\\r\\t\\u007f\xc3\xa9\"") == 0,
          "JSON string escaping (UTF-8 kept): %s", b.data);
    b.len = 0;
    hub_buf_add_urlenc(&b, "refs/pr/1 x", 0);
    CHECK(strcmp(b.data, "refs%2Fpr%2F1%20x") == 0, "revision encoding");
    hub_buf_free(&b);
    hub_buf_init(&b, 8);
    CHECK(hub_buf_add(&b, "123456789", 9) < 0 && hub_buf_add(&b, "12345678", 8) == 0,
          "buffer cap enforced");
    hub_buf_free(&b);
    CHECK(hub_parse_iso8601(&t, NULL, "2022-03-02T23:29:04.000Z") == 0 && t == 1646263744,
          "ISO-8601");
    CHECK(hub_parse_iso8601(&t, NULL, "2022-13-02T23:29:04Z") < 0, "ISO-8601 bad month");
    CHECK(hub_valid_repo_id("alice/chat") && hub_valid_repo_id("gpt2") &&
              !hub_valid_repo_id("a/b/c") && !hub_valid_repo_id("a/..") &&
              !hub_valid_repo_id("a/b?x") && !hub_valid_repo_id("/a"),
          "repo id validation");
    CHECK(hub_json_pretty(&pretty, S("{\"b\":1,\"a\":[1]}"), &e) == HUB_OK &&
              strstr(pretty, "\n  \"b\": 1") && pretty[strlen(pretty) - 1] == '\n',
          "pretty JSON keeps order, ends with newline");
    free(pretty);
    CHECK(hub_status_from_http(401) == HUB_E_AUTH && hub_status_from_http(403) == HUB_E_FORBIDDEN &&
              hub_status_from_http(404) == HUB_E_NOT_FOUND &&
              hub_status_from_http(409) == HUB_E_CONFLICT &&
              hub_status_from_http(412) == HUB_E_PRECONDITION &&
              hub_status_from_http(429) == HUB_E_RATE_LIMITED &&
              hub_status_from_http(422) == HUB_E_BAD_REQUEST &&
              hub_status_from_http(402) == HUB_E_PAYMENT &&
              hub_status_from_http(413) == HUB_E_TOO_BIG &&
              hub_status_from_http(503) == HUB_E_SERVER,
          "HTTP status classes");
}

/* The Space JWT reply (hub_space_visit): only a base64url token is accepted, and no error
 * message quotes the body (it carries the token). */
static void test_space_jwt(void)
{
    static const char *bad[] = {"{}",
                                "{\"token\":null}",
                                "{\"token\":\"\"}",
                                "{\"token\":42}",
                                "[\"a.b.c\"]",
                                "{\"token\":\"a.b.c&x=1\"}",
                                "{\"token\":\"a.b c\"}",
                                "{\"token\":\"a.b.c#f\"}",
                                "{\"token\":\"a.b.c\\u0000\"}",
                                "{\"token\":\"a.b.c",
                                "not json SECRETJWT"};
    hub_buf b;
    hub_error e;
    size_t i;
    const char *ok = "{\"token\":\"eyJh.eyJz-_.c2ln\",\"accessToken\":null}";

    hub_buf_init(&b, 0);
    CHECK(hub_parse_space_jwt(&b, ok, strlen(ok), &e) == HUB_OK && b.len == 16 &&
              memcmp(b.data, "eyJh.eyJz-_.c2ln", 16) == 0,
          "JWT reply parsed");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b.len = 0;
        memset(&e, 0, sizeof(e));
        CHECK(hub_parse_space_jwt(&b, bad[i], strlen(bad[i]), &e) == HUB_E_PROTOCOL && b.len == 0 &&
                  !strstr(e.message, "a.b") && !strstr(e.message, "SECRETJWT"),
              "JWT reply refused without quoting it: %s", bad[i]);
    }
    hub_buf_free(&b);
}

int main(void)
{
    test_whoami();
    test_runtime();
    test_spaces();
    test_hardware_kv();
    test_entries();
    test_preupload_commit();
    test_lfs();
    test_headers();
    test_sse();
    test_status_names();
    test_misc();
    test_space_jwt();
    return check_finish();
}
