/* libFuzzer target for hubclient's parsers: every JSON/header/SSE parser gets the same input.
 * Built only with clang (-fsanitize=fuzzer); run: client_fuzz_parse -max_total_time=60 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static int sink_line(const char *line, size_t len, int64_t ts, void *payload)
{
    (void)line, (void)len, (void)ts, (void)payload;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *b = (const char *)data;
    hub_error e;
    hub_whoami *w = NULL;
    hub_space *s = NULL;
    hub_space_list sl = {0};
    hub_runtime *r = NULL;
    hub_hardware_list *hw = NULL;
    hub_kv_list *kv = NULL;
    hub_entry_list *el = calloc(1, sizeof(*el));
    hub_preupload_list *pl = calloc(1, sizeof(*pl));
    hub_lfs_batch *lb = NULL;
    hub_commit_brief cb[2];
    char oid[HUB_OID_MAX], msg[128], *p = NULL;
    size_t n;
    long x, y;
    hub_sse sse;

    hub_parse_whoami(&w, b, size, &e);
    hub_whoami_free(w);
    hub_parse_space(&s, b, size, &e);
    hub_space_free(s);
    hub_parse_space_array(&sl, b, size, &e);
    {
        hub_space_list *h = malloc(sizeof(*h));
        *h = sl;
        hub_space_list_free(h);
    }
    hub_parse_runtime(&r, b, size, &e);
    hub_runtime_free(r);
    hub_parse_hardware(&hw, b, size, &e);
    hub_hardware_list_free(hw);
    hub_parse_kv_map(&kv, b, size, 1, &e);
    hub_kv_list_free(kv);
    hub_parse_entry_array(el, b, size, &e);
    hub_entry_list_free(el);
    hub_parse_preupload(pl, b, size, &e);
    hub_preupload_list_free(pl);
    hub_parse_lfs_batch(&lb, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", b,
                        size, &e);
    hub_lfs_batch_free(lb);
    hub_parse_commit_result(oid, b, size, &e);
    hub_parse_commit_list(cb, 2, &n, b, size, &e);
    hub_parse_error_body(msg, sizeof(msg), "application/json", b, size);
    free(hub_parse_link_next(b, size));
    hub_parse_ratelimit(&x, &y, b, size);
    hub_parse_retry_after(b, size < 63 ? size : 63);
    if (hub_json_pretty(&p, b, size, &e) == HUB_OK)
        free(p);
    hub_sse_init(&sse, sink_line, NULL);
    hub_sse_feed(&sse, b, size);
    hub_sse_finish(&sse);
    hub_sse_free(&sse);
    return 0;
}
