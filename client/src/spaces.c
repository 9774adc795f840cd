/* Account and Space calls: whoami, listing (paginated), info, runtime, lifecycle (restart,
 * pause, hardware, sleep time), hardware flavors, secrets, variables, repo create/delete,
 * and visiting the app URL. Each builds a URL, runs hub_http, and hands the body to parse.c. */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAGES 100000

static hub_status nomem(hub_error *err)
{
    return hub_error_set(err, HUB_E_NOMEM, "no memory");
}

static hub_status bad_id(hub_error *err, const char *id)
{
    (void)id;
    return hub_error_set(err, HUB_E_INVALID, "invalid repo id (want \"namespace/name\")");
}

/* "<endpoint><path>" (new), NULL on no memory. */
static char *endpoint_url(hub_client *c, const char *path)
{
    hub_buf b;

    hub_buf_init(&b, 0);
    if (hub_buf_adds(&b, c->endpoint) < 0 || hub_buf_adds(&b, path) < 0) {
        hub_buf_free(&b);
        return NULL;
    }
    return hub_buf_steal(&b);
}

/* "<endpoint>/api/<type>s/<id><suffix>", then rev percent-encoded unless NULL (new), NULL on no
 * memory. */
static char *repo_url(hub_client *c, hub_repo_type type, const char *id, const char *suffix,
                      const char *rev)
{
    hub_buf b;

    hub_buf_init(&b, 0);
    if (hub_buf_add_repo_api(&b, c, type, id) < 0 || hub_buf_adds(&b, suffix) < 0 ||
        (rev && hub_buf_add_urlenc(&b, rev, 0) < 0)) {
        hub_buf_free(&b);
        return NULL;
    }
    return hub_buf_steal(&b);
}

static char *space_url(hub_client *c, const char *id, const char *suffix)
{
    return repo_url(c, HUB_REPO_SPACE, id, suffix, NULL);
}

/* A JSON call (hub_req_json) with the retry policy `retry` on url (taken: freed here; NULL is
 * no memory) into resp, which the caller has initialised and frees (HUB_OK only on 2xx). */
static hub_status call(hub_client *c, const char *method, char *url, const char *body,
                       size_t body_len, hub_retry_mode retry, hub_resp *resp, hub_error *err)
{
    hub_req q;
    hub_status st;

    if (!url)
        return nomem(err);
    hub_req_json(&q, method, url, body, body_len);
    q.retry = retry;
    st = hub_http(c, &q, resp, err);
    free(url);
    return st;
}

hub_status hub_whoami_get(hub_whoami **out, hub_client *c, hub_error *err)
{
    hub_resp resp;
    hub_status st;

    *out = NULL;
    hub_error_clear(err);
    hub_resp_init(&resp);
    st = call(c, "GET", endpoint_url(c, "/api/whoami-v2"), NULL, 0, HUB_RETRY_ALL, &resp, err);
    if (st == HUB_OK)
        st = hub_parse_whoami(out, resp.body.data, resp.body.len, err);
    hub_resp_free(&resp);
    return st;
}

/* Every page of the listing, handed to fn one at a time and freed after it, so memory holds one
 * page, never the whole namespace. Pagination follows the Link header's rel="next" as
 * huggingface_hub's `paginate` (utils/_pagination.py) does; `max` stops early as its `islice`
 * over list_spaces(limit=…) does, without asking for the pages past it. */
/* One page: a JSON GET, stoppable through `cancel`. */
static hub_status get_page(hub_client *c, const char *url, hub_cancel *cancel, hub_resp *resp,
                           hub_error *err)
{
    hub_req q;

    hub_req_json(&q, "GET", url, NULL, 0);
    q.cancel = cancel;
    return hub_http(c, &q, resp, err);
}

hub_status hub_spaces_list_pages(hub_client *c, const char *author, size_t max,
                                 hub_space_page_fn fn, void *payload, int *out_truncated,
                                 hub_cancel *cancel, hub_error *err)
{
    static const char *const expand[] = {"sdk",     "private",   "lastModified",
                                         "runtime", "subdomain", "sha"};
    hub_space_list page = {0};
    hub_buf url;
    hub_resp resp;
    char *next = NULL;
    hub_status st = HUB_OK;
    size_t i, total = 0;
    int pages = 0;

    if (out_truncated)
        *out_truncated = 0;
    hub_error_clear(err);
    hub_buf_init(&url, 0);
    hub_resp_init(&resp);
    if (!author || !*author || strchr(author, '/'))
        return hub_error_set(err, HUB_E_INVALID, "invalid namespace");
    if (hub_buf_printf(&url, "%s/api/spaces?author=", c->endpoint) < 0 ||
        hub_buf_add_urlenc(&url, author, 0) < 0)
        goto nomem;
    for (i = 0; i < sizeof(expand) / sizeof(expand[0]); i++)
        if (hub_buf_printf(&url, "&expand=%s", expand[i]) < 0)
            goto nomem;
    if (c->page_size && hub_buf_printf(&url, "&limit=%u", c->page_size) < 0)
        goto nomem;
    next = hub_buf_steal(&url);
    if (!next)
        goto nomem;
    while (next) {
        if (max && total >= max) { /* more pages exist: the cap is reached */
            if (out_truncated)
                *out_truncated = 1;
            break;
        }
        if (hub_cancel_requested(cancel)) {
            st = hub_error_set(err, HUB_E_CANCELLED, "cancelled");
            goto out;
        }
        if (++pages > MAX_PAGES) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "more than %d pages", MAX_PAGES);
            goto out;
        }
        hub_resp_free(&resp);
        hub_resp_init(&resp);
        st = get_page(c, next, cancel, &resp, err);
        if (st != HUB_OK)
            goto out;
        st = hub_parse_space_array(&page, resp.body.data, resp.body.len, err);
        hub_buf_free(&resp.body); /* the page's JSON is parsed: do not keep both */
        if (st != HUB_OK)
            goto out;
        if (max && page.count > max - total) {
            if (out_truncated)
                *out_truncated = 1;
            while (page.count > max - total)
                hub_space_clear(&page.items[--page.count]);
        }
        if (page.count && fn(page.items, page.count, payload) < 0)
            goto nomem;
        total += page.count;
        for (i = 0; i < page.count; i++)
            hub_space_clear(&page.items[i]);
        page.count = 0;
        free(next);
        next = resp.next_url;
        resp.next_url = NULL;
    }
    goto out;
nomem:
    st = nomem(err);
out:
    for (i = 0; i < page.count; i++)
        hub_space_clear(&page.items[i]);
    free(page.items);
    free(next);
    hub_resp_free(&resp);
    hub_buf_free(&url);
    return st;
}

hub_status hub_space_info_get(hub_space **out, char **out_json, hub_client *c, const char *space_id,
                              hub_error *err)
{
    hub_resp resp;
    hub_space *s = NULL;
    hub_status st;

    if (out)
        *out = NULL;
    if (out_json)
        *out_json = NULL;
    hub_error_clear(err);
    if (!hub_valid_repo_id(space_id))
        return bad_id(err, space_id);
    hub_resp_init(&resp);
    st = call(c, "GET", space_url(c, space_id, ""), NULL, 0, HUB_RETRY_ALL, &resp, err);
    if (st == HUB_OK)
        st = hub_parse_space(&s, resp.body.data, resp.body.len, err);
    if (st == HUB_OK && out_json)
        st = hub_json_pretty(out_json, resp.body.data, resp.body.len, err);
    if (st == HUB_OK && out) {
        *out = s;
        s = NULL;
    }
    hub_space_free(s);
    hub_resp_free(&resp);
    return st;
}

/* A 401/403 on a Space operation becomes one sentence (the fs logs it as is, in 256 bytes): which
 * permission the token lacks and where to get one. A 401 despite a token is a scope an OAuth or
 * fine-grained token lacks (restart, hardware and sleep time answer 401 to `hf auth login`
 * tokens: huggingface_hub#4972), or an expired token; a 403 is a token without write access. */
static void explain_denied(hub_client *c, hub_status st, hub_error *err, const char *id, int write)
{
    const char *access = write ? "write" : "read", *scope = write ? "write" : "content.read";
    char ns[HUB_ERROR_CODE_MAX], hub[HUB_ERROR_MESSAGE_MAX];
    size_t n = strcspn(id, "/");

    if (!err || (st != HUB_E_AUTH && st != HUB_E_FORBIDDEN))
        return;
    snprintf(ns, sizeof(ns), "%.*s", (int)(n < sizeof(ns) ? n : sizeof(ns) - 1), id);
    snprintf(hub, sizeof(hub), "%s", err->message); /* the Hub's words go last */
    if (st == HUB_E_AUTH && !hub_client_has_token(c))
        snprintf(err->message, sizeof(err->message),
                 "no token was sent; this needs %s access to %s (a member of %s): "
                 "%s/settings/tokens (Hub: %.120s)",
                 access, id, ns, c->endpoint, hub);
    else if (st == HUB_E_AUTH)
        snprintf(err->message, sizeof(err->message),
                 "the token lacks a scope or expired; use a write token, or a fine-grained one "
                 "with repo.%s on %s, not an OAuth login: %s/settings/tokens (Hub: %.120s)",
                 scope, id, c->endpoint, hub);
    else
        snprintf(err->message, sizeof(err->message),
                 "the token has no %s access to %s; use a write token of a member of %s, or a "
                 "fine-grained one with repo.%s: %s/settings/tokens (Hub: %.120s)",
                 access, id, ns, scope, c->endpoint, hub);
}

/* Runs a call answered by a runtime object. Idempotent calls (GET, pause, hardware, sleep time:
 * a second one ends in the same state) retry every temporary failure; a restart is retried only
 * when it surely did not run (429, 408, refused), and a failure that may have reached the Hub
 * is HUB_E_UNKNOWN_OUTCOME: a blind retry after a lost reply would restart the Space twice. */
static hub_status runtime_call(hub_runtime **out, char **out_json, hub_client *c, const char *id,
                               const char *method, const char *suffix, const char *body,
                               hub_retry_mode retry, hub_error *err)
{
    hub_resp resp;
    hub_runtime *r = NULL;
    hub_status st;

    if (out)
        *out = NULL;
    if (out_json)
        *out_json = NULL;
    hub_error_clear(err);
    if (!hub_valid_repo_id(id))
        return bad_id(err, id);
    hub_resp_init(&resp);
    st =
        call(c, method, space_url(c, id, suffix), body, body ? strlen(body) : 0, retry, &resp, err);
    explain_denied(c, st, err, id, strcmp(method, "GET") != 0);
    if (st != HUB_OK && retry != HUB_RETRY_ALL && resp.unclear) {
        st = hub_error_set(err, HUB_E_UNKNOWN_OUTCOME,
                           "%s %s: %s (HTTP %ld) after the request may have reached the Hub; "
                           "not retried (it is not idempotent): check the Space's status",
                           method, suffix, hub_status_str(st), resp.status);
        goto out;
    }
    if (st != HUB_OK || (!out && !out_json))
        goto out;
    st = hub_parse_runtime(&r, resp.body.data, resp.body.len, err);
    if (st == HUB_OK && out_json)
        st = hub_json_pretty(out_json, resp.body.data, resp.body.len, err);
    if (st == HUB_OK && out) {
        *out = r;
        r = NULL;
    }
out:
    hub_runtime_free(r);
    hub_resp_free(&resp);
    return st;
}

hub_status hub_space_runtime_get(hub_runtime **out, char **out_json, hub_client *c,
                                 const char *space_id, hub_error *err)
{
    return runtime_call(out, out_json, c, space_id, "GET", "/runtime", NULL, HUB_RETRY_ALL, err);
}

hub_status hub_space_restart(hub_runtime **out, hub_client *c, const char *space_id, int factory,
                             hub_error *err)
{
    return runtime_call(out, NULL, c, space_id, "POST",
                        factory ? "/restart?factory=true" : "/restart", NULL, HUB_RETRY_CLEAR, err);
}

hub_status hub_space_pause(hub_runtime **out, hub_client *c, const char *space_id, hub_error *err)
{
    return runtime_call(out, NULL, c, space_id, "POST", "/pause", NULL, HUB_RETRY_ALL, err);
}

hub_status hub_space_hardware_request(hub_runtime **out, hub_client *c, const char *space_id,
                                      const char *flavor, int64_t sleep_seconds, hub_error *err)
{
    hub_buf body;
    hub_status st;

    hub_error_clear(err);
    if (out)
        *out = NULL;
    if (!flavor || !*flavor)
        return hub_error_set(err, HUB_E_INVALID, "no hardware flavor");
    hub_buf_init(&body, 4096);
    if (hub_buf_adds(&body, "{\"flavor\":") < 0 || hub_buf_add_json_str(&body, flavor) < 0 ||
        (sleep_seconds &&
         hub_buf_printf(&body, ",\"sleepTimeSeconds\":%lld", (long long)sleep_seconds) < 0) ||
        hub_buf_adds(&body, "}") < 0) {
        hub_buf_free(&body);
        return nomem(err);
    }
    st = runtime_call(out, NULL, c, space_id, "POST", "/hardware", body.data, HUB_RETRY_ALL, err);
    hub_buf_free(&body);
    return st;
}

hub_status hub_space_sleeptime_set(hub_runtime **out, hub_client *c, const char *space_id,
                                   int64_t seconds, hub_error *err)
{
    char body[64];
    if (seconds < -1)
        return hub_error_set(err, HUB_E_INVALID, "sleep time must be >= -1");
    snprintf(body, sizeof(body), "{\"seconds\":%lld}", (long long)seconds);
    return runtime_call(out, NULL, c, space_id, "POST", "/sleeptime", body, HUB_RETRY_ALL, err);
}

hub_status hub_hardware_list_get(hub_hardware_list **out, hub_client *c, hub_error *err)
{
    hub_resp resp;
    hub_status st;

    *out = NULL;
    hub_error_clear(err);
    hub_resp_init(&resp);
    st =
        call(c, "GET", endpoint_url(c, "/api/spaces/hardware"), NULL, 0, HUB_RETRY_ALL, &resp, err);
    if (st == HUB_OK)
        st = hub_parse_hardware(out, resp.body.data, resp.body.len, err);
    hub_resp_free(&resp);
    return st;
}

/* ---- secrets and variables ---------------------------------------------------------------- */
static int valid_key(const char *k)
{
    size_t i;
    if (!k || !*k || strlen(k) > 256)
        return 0;
    for (i = 0; k[i]; i++)
        if ((unsigned char)k[i] <= 0x20 || k[i] == '/' || k[i] == 0x7f)
            return 0;
    return 1;
}

/* method on /secrets or /variables with an optional body; parse the map when out. */
static hub_status kv_call(hub_kv_list **out, hub_client *c, const char *id, const char *which,
                          const char *method, hub_buf *body, int with_values, hub_error *err)
{
    hub_resp resp;
    hub_status st;

    if (out)
        *out = NULL;
    if (!hub_valid_repo_id(id))
        return bad_id(err, id);
    hub_resp_init(&resp);
    st = call(c, method, space_url(c, id, which), body ? body->data : NULL, body ? body->len : 0,
              HUB_RETRY_ALL, &resp, err);
    explain_denied(c, st, err, id, strcmp(method, "GET") != 0);
    if (st == HUB_OK && out)
        st = hub_parse_kv_map(out, resp.body.data, resp.body.len, with_values, err);
    if (resp.body.data && !with_values)
        explicit_bzero(resp.body.data, resp.body.len);
    hub_resp_free(&resp);
    return st;
}

/* {"key":K[,"value":V][,"description":D]} in a secret (wiped) buffer. */
static int kv_body(hub_buf *b, const char *key, const char *value, const char *description)
{
    hub_buf_init(b, 1 << 20);
    b->secret = 1;
    if (hub_buf_adds(b, "{\"key\":") < 0 || hub_buf_add_json_str(b, key) < 0)
        return -1;
    if (value && (hub_buf_adds(b, ",\"value\":") < 0 || hub_buf_add_json_str(b, value) < 0))
        return -1;
    if (description &&
        (hub_buf_adds(b, ",\"description\":") < 0 || hub_buf_add_json_str(b, description) < 0))
        return -1;
    return hub_buf_adds(b, "}");
}

/* Sets (POST) or deletes (DELETE) key in `which`; the map the Hub answers goes to out. */
static hub_status kv_change(hub_kv_list **out, hub_client *c, const char *id, const char *which,
                            const char *method, const char *key, const char *value,
                            const char *description, hub_error *err)
{
    int vars = strcmp(which, "/variables") == 0, set = strcmp(method, "POST") == 0;
    hub_buf body;
    hub_status st;

    hub_error_clear(err);
    if (out)
        *out = NULL;
    if (!valid_key(key) || (set && !value))
        return hub_error_set(err, HUB_E_INVALID, "invalid %s key%s", vars ? "variable" : "secret",
                             set ? " or value" : "");
    if (kv_body(&body, key, value, description) < 0)
        st = nomem(err);
    else
        st = kv_call(out, c, id, which, method, &body, vars, err);
    hub_buf_free(&body);
    return st;
}

hub_status hub_secrets_list(hub_kv_list **out, hub_client *c, const char *space_id, hub_error *err)
{
    hub_error_clear(err);
    return kv_call(out, c, space_id, "/secrets", "GET", NULL, 0, err);
}

hub_status hub_secret_set(hub_client *c, const char *space_id, const char *key, const char *value,
                          const char *description, hub_error *err)
{
    return kv_change(NULL, c, space_id, "/secrets", "POST", key, value, description, err);
}

hub_status hub_secret_delete(hub_client *c, const char *space_id, const char *key, hub_error *err)
{
    return kv_change(NULL, c, space_id, "/secrets", "DELETE", key, NULL, NULL, err);
}

hub_status hub_variables_list(hub_kv_list **out, hub_client *c, const char *space_id,
                              hub_error *err)
{
    hub_error_clear(err);
    return kv_call(out, c, space_id, "/variables", "GET", NULL, 1, err);
}

hub_status hub_variable_set(hub_kv_list **out, hub_client *c, const char *space_id, const char *key,
                            const char *value, const char *description, hub_error *err)
{
    return kv_change(out, c, space_id, "/variables", "POST", key, value, description, err);
}

hub_status hub_variable_delete(hub_kv_list **out, hub_client *c, const char *space_id,
                               const char *key, hub_error *err)
{
    return kv_change(out, c, space_id, "/variables", "DELETE", key, NULL, NULL, err);
}

/* ---- repos ----------------------------------------------------------------------------------- */
static const char *type_singular(hub_repo_type t)
{
    return t == HUB_REPO_SPACE ? "space" : t == HUB_REPO_DATASET ? "dataset" : "model";
}

/* "name" and "organization" members from an id. */
static int add_name_org(hub_buf *b, const char *id)
{
    const char *slash = strchr(id, '/');
    if (!slash)
        return hub_buf_adds(b, "\"name\":") < 0 || hub_buf_add_json_str(b, id) < 0 ||
                       hub_buf_adds(b, ",\"organization\":null") < 0
                   ? -1
                   : 0;
    return hub_buf_adds(b, "\"name\":") < 0 || hub_buf_add_json_str(b, slash + 1) < 0 ||
                   hub_buf_adds(b, ",\"organization\":") < 0 ||
                   hub_buf_add_json_strn(b, id, (size_t)(slash - id)) < 0
               ? -1
               : 0;
}

hub_status hub_repo_create(char **out_url, hub_client *c, const hub_repo_spec *spec, hub_error *err)
{
    hub_buf body;
    hub_resp resp;
    hub_req q;
    char *url = NULL;
    hub_status st;

    if (out_url)
        *out_url = NULL;
    hub_error_clear(err);
    if (!spec || !hub_valid_repo_id(spec->id))
        return bad_id(err, spec ? spec->id : NULL);
    if (spec->type == HUB_REPO_SPACE && (!spec->sdk || !*spec->sdk))
        return hub_error_set(err, HUB_E_INVALID, "a Space needs an sdk");
    hub_buf_init(&body, 0);
    hub_resp_init(&resp);
    if (!(url = endpoint_url(c, "/api/repos/create")) || hub_buf_adds(&body, "{") < 0 ||
        add_name_org(&body, spec->id) < 0 ||
        hub_buf_printf(&body, ",\"type\":\"%s\",\"private\":%s", type_singular(spec->type),
                       spec->is_private ? "true" : "false") < 0 ||
        (spec->sdk &&
         (hub_buf_adds(&body, ",\"sdk\":") < 0 || hub_buf_add_json_str(&body, spec->sdk) < 0)) ||
        (spec->hardware && (hub_buf_adds(&body, ",\"hardware\":") < 0 ||
                            hub_buf_add_json_str(&body, spec->hardware) < 0)) ||
        hub_buf_adds(&body, "}") < 0) {
        st = nomem(err);
        goto out;
    }
    /* creation is not idempotent: a blind retry after a lost reply would answer 409 */
    hub_req_json(&q, "POST", url, body.data, body.len);
    q.follow = 0;
    q.retry = HUB_RETRY_CLEAR;
    st = hub_http(c, &q, &resp, err);
    if (st == HUB_OK && out_url)
        st = hub_parse_create_repo(out_url, resp.body.data, resp.body.len, err);
out:
    hub_resp_free(&resp);
    free(url);
    hub_buf_free(&body);
    return st;
}

hub_status hub_repo_delete(hub_client *c, hub_repo_type type, const char *repo_id, hub_error *err)
{
    hub_buf body;
    hub_resp resp;
    hub_req q;
    char *url = NULL;
    hub_status st;

    hub_error_clear(err);
    if (!hub_valid_repo_id(repo_id))
        return bad_id(err, repo_id);
    hub_buf_init(&body, 0);
    hub_resp_init(&resp);
    if (!(url = endpoint_url(c, "/api/repos/delete")) || hub_buf_adds(&body, "{") < 0 ||
        add_name_org(&body, repo_id) < 0 ||
        hub_buf_printf(&body, ",\"type\":\"%s\"}", type_singular(type)) < 0) {
        st = nomem(err);
        goto out;
    }
    /* retried like any idempotent call, but a retry after an unclear failure (the first
     * attempt may have deleted it) that answers 404 means done */
    hub_req_json(&q, "DELETE", url, body.data, body.len);
    q.gone_ok = 1;
    st = hub_http(c, &q, &resp, err);
out:
    hub_resp_free(&resp);
    free(url);
    hub_buf_free(&body);
    return st;
}

hub_status hub_repo_head(char out_oid[HUB_OID_MAX], hub_client *c, hub_repo_type type,
                         const char *repo_id, const char *rev, hub_error *err)
{
    hub_resp resp;
    hub_status st;

    out_oid[0] = '\0';
    hub_error_clear(err);
    if (!hub_valid_repo_id(repo_id))
        return bad_id(err, repo_id);
    hub_resp_init(&resp);
    st = call(c, "GET", repo_url(c, type, repo_id, "/revision/", rev ? rev : "main"), NULL, 0,
              HUB_RETRY_ALL, &resp, err);
    if (st == HUB_OK)
        st = hub_parse_repo_sha(out_oid, resp.body.data, resp.body.len, err);
    hub_resp_free(&resp);
    return st;
}

static int discard(const void *data, size_t len, void *payload)
{
    (void)data, (void)len, (void)payload;
    return 0;
}

/* The Space's JWT (GET /api/spaces/{id}/jwt, the token sent to the endpoint only) into jwt, a
 * secret buffer. As gradio's clients do (client/js/src/helpers/init_helpers.ts get_jwt). */
static hub_status space_jwt(hub_buf *jwt, hub_client *c, const char *space_id, hub_error *err)
{
    hub_resp resp;
    hub_status st;

    hub_resp_init(&resp);
    resp.body.secret = 1; /* the reply holds the JWT */
    st = call(c, "GET", space_url(c, space_id, "/jwt"), NULL, 0, HUB_RETRY_ALL, &resp, err);
    if (st == HUB_OK)
        st = hub_parse_space_jwt(jwt, resp.body.data, resp.body.len, err);
    hub_resp_free(&resp);
    return st;
}

hub_status hub_space_visit(long *out_status, hub_client *c, const char *space_id, const char *url,
                           hub_error *err)
{
    hub_req q;
    hub_resp resp;
    hub_buf signed_url;
    hub_status st = HUB_OK;

    if (out_status)
        *out_status = 0;
    hub_error_clear(err);
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strchr(url, '#'))
        return hub_error_set(err, HUB_E_INVALID, "the app URL must be http(s), without fragment");
    if (space_id && !hub_valid_repo_id(space_id))
        return bad_id(err, space_id);
    hub_buf_init(&signed_url, 0);
    signed_url.secret = 1; /* it carries the JWT */
    hub_resp_init(&resp);
    if (space_id && hub_client_has_token(c)) {
        hub_buf jwt;
        hub_buf_init(&jwt, 0);
        jwt.secret = 1;
        st = space_jwt(&jwt, c, space_id, err);
        if (st == HUB_OK &&
            (hub_buf_adds(&signed_url, url) < 0 ||
             hub_buf_adds(&signed_url, strchr(url, '?') ? "&__sign=" : "?__sign=") < 0 ||
             hub_buf_add(&signed_url, jwt.data, jwt.len) < 0))
            st = nomem(err);
        hub_buf_free(&jwt);
        if (st == HUB_E_AUTH || st == HUB_E_FORBIDDEN || st == HUB_E_NOT_FOUND) {
            /* no JWT for this token: a public Space still wakes for an anonymous visit */
            hub_log(c, HUB_LOG_INFO, "hub: no Space JWT for %s (%s); visiting without it", space_id,
                    hub_status_str(st));
            hub_error_clear(err);
            st = HUB_OK;
        } else if (st != HUB_OK) {
            goto out;
        }
    }
    memset(&q, 0, sizeof(q));
    q.method = "GET";
    q.url = signed_url.len ? signed_url.data : url;
    q.body_fd = -1;
    q.follow = 1;
    q.no_auth = 1; /* the token never goes to the app host, even one on the endpoint's origin */
    q.on_data = discard;
    st = hub_http(c, &q, &resp, err);
    if (out_status)
        *out_status = resp.status;
out:
    hub_resp_free(&resp);
    hub_buf_free(&signed_url);
    return st;
}
