/* Parsers of everything the Hub sends as JSON (and of its headers: Link, RateLimit,
 * Retry-After, error bodies). Each takes a buffer and fills plain structs; a required field
 * missing or of the wrong type is HUB_E_PROTOCOL, an optional one is treated as absent.
 * jansson rejects invalid UTF-8, NUL escapes, overlong nesting and integers beyond int64. */
#include "internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static json_t *load(const char *buf, size_t len, hub_error *err, const char *what)
{
    json_error_t je;
    json_t *j;
    if (!buf) {
        hub_error_set(err, HUB_E_PROTOCOL, "empty %s response", what);
        return NULL;
    }
    j = json_loadb(buf, len, 0, &je);
    if (!j)
        hub_error_set(err, HUB_E_PROTOCOL, "bad JSON in %s response: %s (line %d)", what, je.text,
                      je.line);
    return j;
}

/* load, and HUB_E_PROTOCOL unless the body is a JSON `type` (JSON_OBJECT or JSON_ARRAY). */
static json_t *load_as(const char *buf, size_t len, hub_error *err, const char *what,
                       json_type type)
{
    json_t *j = load(buf, len, err, what);

    if (j && json_typeof(j) != type) {
        hub_error_set(err, HUB_E_PROTOCOL, "%s: not an %s", what,
                      type == JSON_ARRAY ? "array" : "object");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Optional string member: NULL when absent, null or not a string. Returns -1 on no memory. */
static int opt_str(char **out, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!json_is_string(v))
        return 0;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

static int64_t opt_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9.2e18 && d <= 9.2e18)
            return (int64_t)d;
    }
    return dflt;
}

static int64_t opt_time(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    int64_t t = 0;
    if (json_is_string(v) && hub_parse_iso8601(&t, NULL, json_string_value(v)) == 0)
        return t;
    return 0;
}

/* The string member `key` of each object in the array arr (others skipped) into *out, a new
 * array of *out_count strings; nothing when arr is not a non-empty array. -1 on no memory, the
 * strings copied so far counted for the caller to free. */
static int member_strings(char ***out, size_t *out_count, json_t *arr, const char *key)
{
    size_t i;

    if (!json_is_array(arr) || !json_array_size(arr))
        return 0;
    if (!(*out = calloc(json_array_size(arr), sizeof(char *))))
        return -1;
    for (i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_object_get(json_array_get(arr, i), key);
        if (!json_is_string(v))
            continue;
        if (!((*out)[*out_count] = strdup(json_string_value(v))))
            return -1;
        (*out_count)++;
    }
    return 0;
}

/* ---- whoami ------------------------------------------------------------------------------- */
void hub_whoami_free(hub_whoami *w)
{
    size_t i;
    if (!w)
        return;
    free(w->name);
    free(w->fullname);
    free(w->type);
    free(w->token_role);
    for (i = 0; i < w->orgs_count; i++)
        free(w->orgs[i]);
    free(w->orgs);
    free(w);
}

hub_status hub_parse_whoami(hub_whoami **out, const char *buf, size_t len, hub_error *err)
{
    json_t *j = NULL, *auth, *tok;
    hub_whoami *w = NULL;
    hub_status st = HUB_E_NOMEM;

    *out = NULL;
    j = load(buf, len, err, "whoami");
    if (!j)
        return HUB_E_PROTOCOL;
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "name"))) {
        st = hub_error_set(err, HUB_E_PROTOCOL, "whoami: no \"name\"");
        goto out;
    }
    w = calloc(1, sizeof(*w));
    if (!w || opt_str(&w->name, j, "name") || opt_str(&w->fullname, j, "fullname") ||
        opt_str(&w->type, j, "type"))
        goto nomem;
    auth = json_object_get(j, "auth");
    tok = json_object_get(auth, "accessToken");
    if (json_is_object(tok) && opt_str(&w->token_role, tok, "role"))
        goto nomem;
    if (member_strings(&w->orgs, &w->orgs_count, json_object_get(j, "orgs"), "name") < 0)
        goto nomem;
    *out = w;
    w = NULL;
    st = HUB_OK;
    goto out;
nomem:
    st = hub_error_set(err, HUB_E_NOMEM, "no memory parsing whoami");
out:
    hub_whoami_free(w);
    json_decref(j);
    return st;
}

/* ---- runtime and spaces ------------------------------------------------------------------ */
static hub_stage stage_from(const char *s)
{
    static const struct {
        const char *name;
        hub_stage stage;
    } tbl[] = {{"NO_APP_FILE", HUB_STAGE_NO_APP_FILE},
               {"CONFIG_ERROR", HUB_STAGE_CONFIG_ERROR},
               {"BUILDING", HUB_STAGE_BUILDING},
               {"BUILD_ERROR", HUB_STAGE_BUILD_ERROR},
               {"APP_STARTING", HUB_STAGE_APP_STARTING},
               {"RUNNING", HUB_STAGE_RUNNING},
               {"RUNNING_BUILDING", HUB_STAGE_RUNNING_BUILDING},
               {"RUNNING_APP_STARTING", HUB_STAGE_RUNNING_APP_STARTING},
               {"RUNTIME_ERROR", HUB_STAGE_RUNTIME_ERROR},
               {"DELETING", HUB_STAGE_DELETING},
               {"STOPPED", HUB_STAGE_STOPPED},
               {"SLEEPING", HUB_STAGE_STOPPED},
               {"PAUSED", HUB_STAGE_PAUSED}};
    size_t i;
    if (!s)
        return HUB_STAGE_UNKNOWN;
    for (i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++)
        if (strcmp(s, tbl[i].name) == 0)
            return tbl[i].stage;
    return HUB_STAGE_UNKNOWN;
}

static void runtime_clear(hub_runtime *r)
{
    size_t i;
    free(r->stage_str);
    free(r->hardware_current);
    free(r->hardware_requested);
    free(r->error_message);
    for (i = 0; i < r->domains_count; i++)
        free(r->domains[i]);
    free(r->domains);
    memset(r, 0, sizeof(*r));
}

void hub_runtime_free(hub_runtime *r)
{
    if (!r)
        return;
    runtime_clear(r);
    free(r);
}

/* Fills r from a runtime object. -1 on no memory. */
static int runtime_fill(hub_runtime *r, json_t *o)
{
    json_t *hw = json_object_get(o, "hardware"), *gc;

    if (opt_str(&r->stage_str, o, "stage") || opt_str(&r->error_message, o, "errorMessage"))
        return -1;
    r->stage = stage_from(r->stage_str);
    if (json_is_object(hw)) {
        if (opt_str(&r->hardware_current, hw, "current") ||
            opt_str(&r->hardware_requested, hw, "requested"))
            return -1;
    } else if (json_is_string(hw)) {
        if (!(r->hardware_current = strdup(json_string_value(hw))))
            return -1;
    }
    gc = json_object_get(o, "gcTimeout");
    if (json_is_null(gc))
        r->gc_timeout = json_object_get(o, "gcTimeout") ? -1 : 0;
    else
        r->gc_timeout = opt_int(o, "gcTimeout", 0);
    return member_strings(&r->domains, &r->domains_count, json_object_get(o, "domains"), "domain");
}

hub_status hub_parse_runtime(hub_runtime **out, const char *buf, size_t len, hub_error *err)
{
    json_t *j;
    hub_runtime *r;
    hub_status st = HUB_OK;

    *out = NULL;
    j = load_as(buf, len, err, "runtime", JSON_OBJECT);
    if (!j)
        return HUB_E_PROTOCOL;
    r = calloc(1, sizeof(*r));
    if (!r || runtime_fill(r, j) < 0) {
        hub_runtime_free(r);
        st = hub_error_set(err, HUB_E_NOMEM, "no memory parsing runtime");
        goto out;
    }
    *out = r;
out:
    json_decref(j);
    return st;
}

void hub_space_clear(hub_space *s)
{
    free(s->id);
    free(s->sdk);
    free(s->sha);
    free(s->subdomain);
    free(s->host);
    runtime_clear(&s->runtime);
    memset(s, 0, sizeof(*s));
}

void hub_space_free(hub_space *s)
{
    if (!s)
        return;
    hub_space_clear(s);
    free(s);
}

void hub_space_list_free(hub_space_list *l)
{
    size_t i;
    if (!l)
        return;
    for (i = 0; i < l->count; i++)
        hub_space_clear(&l->items[i]);
    free(l->items);
    free(l);
}

/* Fills s from one space object; HUB_E_PROTOCOL without a string id. */
static hub_status space_fill(hub_space *s, json_t *o, hub_error *err)
{
    json_t *priv, *rt;
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "id")) ||
        !hub_valid_repo_id(json_string_value(json_object_get(o, "id"))))
        return hub_error_set(err, HUB_E_PROTOCOL, "space without a valid \"id\"");
    if (opt_str(&s->id, o, "id") || opt_str(&s->sdk, o, "sdk") || opt_str(&s->sha, o, "sha") ||
        opt_str(&s->subdomain, o, "subdomain") || opt_str(&s->host, o, "host"))
        goto nomem;
    priv = json_object_get(o, "private");
    s->is_private = json_is_true(priv) ? 1 : 0;
    s->last_modified = opt_time(o, "lastModified");
    rt = json_object_get(o, "runtime");
    if (json_is_object(rt)) {
        s->has_runtime = 1;
        if (runtime_fill(&s->runtime, rt) < 0)
            goto nomem;
    }
    return HUB_OK;
nomem:
    return hub_error_set(err, HUB_E_NOMEM, "no memory parsing a space");
}

hub_status hub_parse_space(hub_space **out, const char *buf, size_t len, hub_error *err)
{
    json_t *j;
    hub_space *s;
    hub_status st;

    *out = NULL;
    j = load(buf, len, err, "space");
    if (!j)
        return HUB_E_PROTOCOL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        st = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    st = space_fill(s, j, err);
    if (st != HUB_OK) {
        hub_space_free(s);
        goto out;
    }
    *out = s;
out:
    json_decref(j);
    return st;
}

/* Grows an array of `size`-byte items to hold `want` more. */
static int grow(void **items, size_t count, size_t want, size_t size)
{
    void *n;
    if (want == 0)
        return 0;
    if (want > ((size_t)1 << 28) / size || count > ((size_t)1 << 28) / size - want)
        return -1;
    n = realloc(*items, (count + want) * size);
    if (!n)
        return -1;
    memset((char *)n + count * size, 0, want * size);
    *items = n;
    return 0;
}

hub_status hub_parse_space_array(hub_space_list *list, const char *buf, size_t len, hub_error *err)
{
    json_t *j, *v;
    size_t i;
    hub_status st = HUB_OK;

    j = load_as(buf, len, err, "space list", JSON_ARRAY);
    if (!j)
        return HUB_E_PROTOCOL;
    if (grow((void **)&list->items, list->count, json_array_size(j), sizeof(hub_space)) < 0) {
        st = hub_error_set(err, HUB_E_NOMEM, "no memory for the space list");
        goto out;
    }
    json_array_foreach(j, i, v)
    {
        st = space_fill(&list->items[list->count], v, err);
        if (st != HUB_OK) {
            hub_space_clear(&list->items[list->count]);
            goto out;
        }
        list->count++;
    }
out:
    json_decref(j);
    return st;
}

/* ---- hardware ----------------------------------------------------------------------------- */
void hub_hardware_list_free(hub_hardware_list *l)
{
    size_t i;
    if (!l)
        return;
    for (i = 0; i < l->count; i++) {
        hub_hardware *h = &l->items[i];
        free(h->name);
        free(h->pretty_name);
        free(h->cpu);
        free(h->ram);
        free(h->accelerator);
        free(h->unit_label);
    }
    free(l->items);
    free(l);
}

/* A member that may be a string or a number, as text. */
static int opt_text(char **out, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    char tmp[64];
    *out = NULL;
    if (json_is_string(v))
        return opt_str(out, o, key);
    if (json_is_integer(v))
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(tmp, sizeof(tmp), "%g", json_real_value(v));
    else
        return 0;
    *out = strdup(tmp);
    return *out ? 0 : -1;
}

hub_status hub_parse_hardware(hub_hardware_list **out, const char *buf, size_t len, hub_error *err)
{
    json_t *j, *v;
    hub_hardware_list *l = NULL;
    hub_status st = HUB_OK;
    size_t i;

    *out = NULL;
    j = load_as(buf, len, err, "hardware", JSON_ARRAY);
    if (!j)
        return HUB_E_PROTOCOL;
    l = calloc(1, sizeof(*l));
    if (!l || grow((void **)&l->items, 0, json_array_size(j), sizeof(hub_hardware)) < 0)
        goto nomem;
    json_array_foreach(j, i, v)
    {
        hub_hardware *h = &l->items[l->count];
        json_t *cost;
        if (!json_is_object(v) || !json_is_string(json_object_get(v, "name"))) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "hardware entry without a \"name\"");
            goto out;
        }
        l->count++;
        if (opt_str(&h->name, v, "name") || opt_str(&h->pretty_name, v, "prettyName") ||
            opt_text(&h->cpu, v, "cpu") || opt_text(&h->ram, v, "ram") ||
            opt_text(&h->accelerator, v, "accelerator") || opt_str(&h->unit_label, v, "unitLabel"))
            goto nomem;
        cost = json_object_get(v, "unitCostUSD");
        if (json_is_number(cost))
            h->unit_cost_usd = json_number_value(cost);
        else if (json_is_integer(json_object_get(v, "unitCostMicroUSD")))
            h->unit_cost_usd =
                (double)json_integer_value(json_object_get(v, "unitCostMicroUSD")) / 1e6;
    }
    goto out;
nomem:
    st = hub_error_set(err, HUB_E_NOMEM, "no memory parsing hardware");
out:
    if (st == HUB_OK)
        *out = l;
    else
        hub_hardware_list_free(l);
    json_decref(j);
    return st;
}

/* ---- secrets and variables ---------------------------------------------------------------- */
void hub_kv_list_free(hub_kv_list *l)
{
    size_t i;
    if (!l)
        return;
    for (i = 0; i < l->count; i++) {
        free(l->items[i].key);
        if (l->items[i].value)
            explicit_bzero(l->items[i].value, strlen(l->items[i].value));
        free(l->items[i].value);
        free(l->items[i].description);
    }
    free(l->items);
    free(l);
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const hub_kv *)a)->key, ((const hub_kv *)b)->key);
}

hub_status hub_parse_kv_map(hub_kv_list **out, const char *buf, size_t len, int with_values,
                            hub_error *err)
{
    json_t *j, *v;
    const char *key;
    hub_kv_list *l = NULL;
    hub_status st = HUB_OK;

    *out = NULL;
    j = load_as(buf, len, err, "key/value map", JSON_OBJECT);
    if (!j)
        return HUB_E_PROTOCOL;
    l = calloc(1, sizeof(*l));
    if (!l || grow((void **)&l->items, 0, json_object_size(j), sizeof(hub_kv)) < 0)
        goto nomem;
    json_object_foreach(j, key, v)
    {
        hub_kv *kv = &l->items[l->count];
        if (!*key)
            continue;
        l->count++;
        if (!(kv->key = strdup(key)))
            goto nomem;
        if (json_is_object(v)) {
            if (opt_str(&kv->description, v, "description"))
                goto nomem;
            if (with_values && opt_text(&kv->value, v, "value"))
                goto nomem;
            kv->updated_at = opt_time(v, "updatedAt");
        } else if (with_values && json_is_string(v)) {
            if (!(kv->value = strdup(json_string_value(v))))
                goto nomem;
        }
    }
    if (l->count)
        qsort(l->items, l->count, sizeof(hub_kv), kv_cmp);
    goto out;
nomem:
    st = hub_error_set(err, HUB_E_NOMEM, "no memory parsing a key/value map");
out:
    if (st == HUB_OK)
        *out = l;
    else
        hub_kv_list_free(l);
    json_decref(j);
    return st;
}

/* ---- tree entries -------------------------------------------------------------------------- */
static void entry_clear(hub_entry *e)
{
    free(e->path);
    free(e->oid);
    free(e->lfs_oid);
    free(e->last_commit);
}

void hub_entry_list_free(hub_entry_list *l)
{
    size_t i;
    if (!l)
        return;
    for (i = 0; i < l->count; i++)
        entry_clear(&l->items[i]);
    free(l->items);
    free(l);
}

hub_status hub_parse_entry_array(hub_entry_list *list, const char *buf, size_t len, hub_error *err)
{
    json_t *j, *v;
    size_t i;
    hub_status st = HUB_OK;

    j = load_as(buf, len, err, "tree", JSON_ARRAY);
    if (!j)
        return HUB_E_PROTOCOL;
    if (grow((void **)&list->items, list->count, json_array_size(j), sizeof(hub_entry)) < 0) {
        st = hub_error_set(err, HUB_E_NOMEM, "no memory for the tree");
        goto out;
    }
    json_array_foreach(j, i, v)
    {
        hub_entry *e = &list->items[list->count];
        json_t *type = json_object_get(v, "type"), *path = json_object_get(v, "path"), *lfs, *lc;
        const char *t;
        if (!json_is_string(type) || !json_is_string(path) || !*json_string_value(path)) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "tree entry without \"type\"/\"path\"");
            goto out;
        }
        t = json_string_value(type);
        if (strcmp(t, "file") != 0 && strcmp(t, "directory") != 0)
            continue; /* unknown kinds (submodules...) are skipped */
        list->count++;
        e->is_dir = t[0] == 'd';
        e->size = opt_int(v, "size", 0);
        if (e->size < 0) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "tree entry with a negative size");
            goto out;
        }
        if (opt_str(&e->path, v, "path") || opt_str(&e->oid, v, "oid"))
            goto nomem;
        lfs = json_object_get(v, "lfs");
        if (json_is_object(lfs)) {
            if (opt_str(&e->lfs_oid, lfs, "oid"))
                goto nomem;
            if (!e->lfs_oid && opt_str(&e->lfs_oid, lfs, "sha256"))
                goto nomem;
            e->lfs_pointer_size = opt_int(lfs, "pointerSize", 0);
            if (json_is_integer(json_object_get(lfs, "size")))
                e->size = opt_int(lfs, "size", e->size);
        }
        lc = json_object_get(v, "lastCommit");
        if (json_is_object(lc)) {
            if (opt_str(&e->last_commit, lc, "id"))
                goto nomem;
            e->last_modified = opt_time(lc, "date");
        }
    }
    goto out;
nomem:
    st = hub_error_set(err, HUB_E_NOMEM, "no memory parsing the tree");
out:
    json_decref(j);
    return st;
}

/* ---- preupload, commit -------------------------------------------------------------------- */
void hub_preupload_list_free(hub_preupload_list *l)
{
    size_t i;
    if (!l)
        return;
    for (i = 0; i < l->count; i++) {
        free(l->items[i].path);
        free(l->items[i].oid);
    }
    free(l->items);
    free(l);
}

hub_status hub_parse_preupload(hub_preupload_list *list, const char *buf, size_t len,
                               hub_error *err)
{
    json_t *j, *files, *v;
    size_t i;
    hub_status st = HUB_OK;

    j = load(buf, len, err, "preupload");
    if (!j)
        return HUB_E_PROTOCOL;
    files = json_object_get(j, "files");
    if (!json_is_array(files)) {
        st = hub_error_set(err, HUB_E_PROTOCOL, "preupload: no \"files\" array");
        goto out;
    }
    if (grow((void **)&list->items, list->count, json_array_size(files),
             sizeof(hub_preupload_result)) < 0) {
        st = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    json_array_foreach(files, i, v)
    {
        hub_preupload_result *r = &list->items[list->count];
        json_t *mode = json_object_get(v, "uploadMode");
        const char *m = json_string_value(mode);
        if (!json_is_string(json_object_get(v, "path")) || !m ||
            (strcmp(m, "regular") != 0 && strcmp(m, "lfs") != 0)) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "preupload: bad entry %zu", i);
            goto out;
        }
        list->count++;
        r->mode = m[0] == 'l' ? HUB_UPLOAD_LFS : HUB_UPLOAD_REGULAR;
        r->should_ignore = json_is_true(json_object_get(v, "shouldIgnore"));
        if (opt_str(&r->path, v, "path") || opt_str(&r->oid, v, "oid")) {
            st = hub_error_set(err, HUB_E_NOMEM, "no memory");
            goto out;
        }
    }
out:
    json_decref(j);
    return st;
}

static int is_hex_oid(const char *s, size_t minlen)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i >= minlen && i < HUB_OID_MAX;
}

/* The 40-hex object id in member `key` of the object in buf into out_oid (unless NULL). */
static hub_status parse_oid_member(char out_oid[HUB_OID_MAX], const char *buf, size_t len,
                                   const char *what, const char *key, hub_error *err)
{
    json_t *j = load(buf, len, err, what);
    const char *oid;
    hub_status st = HUB_OK;
    if (!j)
        return HUB_E_PROTOCOL;
    oid = json_string_value(json_object_get(j, key));
    if (!oid || !is_hex_oid(oid, 40))
        st = hub_error_set(err, HUB_E_PROTOCOL, "%s: no valid \"%s\"", what, key);
    else if (out_oid)
        snprintf(out_oid, HUB_OID_MAX, "%s", oid);
    json_decref(j);
    return st;
}

hub_status hub_parse_commit_result(char out_oid[HUB_OID_MAX], const char *buf, size_t len,
                                   hub_error *err)
{
    return parse_oid_member(out_oid, buf, len, "commit", "commitOid", err);
}

hub_status hub_parse_repo_sha(char out_oid[HUB_OID_MAX], const char *buf, size_t len,
                              hub_error *err)
{
    return parse_oid_member(out_oid, buf, len, "repo info", "sha", err);
}

hub_status hub_parse_commit_list(hub_commit_brief *out, size_t want, size_t *out_count,
                                 const char *buf, size_t len, hub_error *err)
{
    json_t *j = load_as(buf, len, err, "commit list", JSON_ARRAY), *v;
    size_t i, n = 0;
    hub_status st = HUB_OK;

    *out_count = 0;
    if (!j)
        return HUB_E_PROTOCOL;
    json_array_foreach(j, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *title = json_string_value(json_object_get(v, "title"));
        if (n >= want)
            break;
        if (!id || !is_hex_oid(id, 40)) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "commit list: entry without an id");
            goto out;
        }
        snprintf(out[n].id, sizeof(out[n].id), "%s", id);
        snprintf(out[n].title, sizeof(out[n].title), "%s", title ? title : "");
        n++;
    }
    *out_count = n;
out:
    json_decref(j);
    return st;
}

hub_status hub_parse_create_repo(char **out_url, const char *buf, size_t len, hub_error *err)
{
    json_t *j = load(buf, len, err, "create repo");
    const char *url;
    hub_status st = HUB_OK;
    *out_url = NULL;
    if (!j)
        return HUB_E_PROTOCOL;
    url = json_string_value(json_object_get(j, "url"));
    if (!url)
        st = hub_error_set(err, HUB_E_PROTOCOL, "create repo: no \"url\"");
    else if (!(*out_url = strdup(url)))
        st = hub_error_set(err, HUB_E_NOMEM, "no memory");
    json_decref(j);
    return st;
}

hub_status hub_parse_space_jwt(hub_buf *out, const char *buf, size_t len, hub_error *err)
{
    json_t *j = buf ? json_loadb(buf, len, 0, NULL) : NULL;
    json_t *t = json_object_get(j, "token");
    const char *v = json_string_value(t);
    size_t n = v ? json_string_length(t) : 0, i;
    hub_status st = HUB_OK;

    /* a JWT is three base64url parts; anything else would change the URL it is put in. The
     * messages never quote the body: it holds the token. */
    for (i = 0; i < n; i++)
        if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
              (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_' || v[i] == '.'))
            break;
    if (!j || !v || n == 0 || i < n || n > 8192)
        st = hub_error_set(err, HUB_E_PROTOCOL, "Space JWT response without a usable \"token\"");
    else if (hub_buf_add(out, v, n) < 0)
        st = hub_error_set(err, HUB_E_NOMEM, "no memory");
    if (v)
        explicit_bzero((char *)v, n); /* jansson's copy of the token */
    json_decref(j);
    return st;
}

hub_status hub_json_pretty(char **out, const char *buf, size_t len, hub_error *err)
{
    json_t *j = load(buf, len, err, "JSON");
    char *s;
    size_t n;
    *out = NULL;
    if (!j)
        return HUB_E_PROTOCOL;
    s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s)
        return hub_error_set(err, HUB_E_NOMEM, "no memory");
    /* a trailing newline, as text files have */
    n = strlen(s);
    *out = malloc(n + 2);
    if (!*out) {
        free(s);
        return hub_error_set(err, HUB_E_NOMEM, "no memory");
    }
    memcpy(*out, s, n);
    (*out)[n] = '\n';
    (*out)[n + 1] = '\0';
    free(s);
    return HUB_OK;
}

/* ---- LFS batch ---------------------------------------------------------------------------- */
static void action_clear(hub_lfs_action *a)
{
    size_t i;
    free(a->href);
    for (i = 0; i < a->headers_count; i++)
        free(a->headers[i]);
    free(a->headers);
}

void hub_lfs_batch_free(hub_lfs_batch *b)
{
    size_t i;
    if (!b)
        return;
    free(b->transfer);
    action_clear(&b->upload);
    action_clear(&b->verify);
    for (i = 0; i < b->parts_count; i++)
        free(b->parts[i].url);
    free(b->parts);
    free(b);
}

static int part_cmp(const void *a, const void *b)
{
    uint32_t x = ((const hub_lfs_part *)a)->number, y = ((const hub_lfs_part *)b)->number;
    return x < y ? -1 : x > y;
}

static int is_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Reads an action; for multipart collects numeric header keys as parts. -1 no memory, -2 bad. */
static int action_fill(hub_lfs_batch *b, hub_lfs_action *a, json_t *o, int multipart)
{
    json_t *hdr = json_object_get(o, "header"), *v;
    const char *k;
    if (!json_is_string(json_object_get(o, "href")))
        return -2;
    if (opt_str(&a->href, o, "href"))
        return -1;
    if (!json_is_object(hdr))
        return 0;
    if (grow((void **)&a->headers, 0, json_object_size(hdr), sizeof(char *)) < 0)
        return -1;
    json_object_foreach(hdr, k, v)
    {
        const char *s = json_string_value(v);
        if (multipart && strcmp(k, "chunk_size") == 0) {
            char *end = NULL;
            long long cs = json_is_integer(v) ? (long long)json_integer_value(v)
                           : s                ? strtoll(s, &end, 10)
                                              : -1;
            if ((end && *end) || cs <= 0)
                return -2;
            b->chunk_size = cs;
            continue;
        }
        if (!s)
            continue;
        if (multipart && is_digits(k)) {
            unsigned long num = strtoul(k, NULL, 10);
            if (num == 0 || num > 100000 || strlen(k) > 9)
                return -2;
            if (grow((void **)&b->parts, b->parts_count, 1, sizeof(hub_lfs_part)) < 0)
                return -1;
            b->parts[b->parts_count].number = (uint32_t)num;
            if (!(b->parts[b->parts_count].url = strdup(s)))
                return -1;
            b->parts_count++;
        } else {
            size_t n = strlen(k) + strlen(s) + 3;
            if (strpbrk(k, "\r\n:") || strpbrk(s, "\r\n"))
                return -2;
            a->headers[a->headers_count] = malloc(n);
            if (!a->headers[a->headers_count])
                return -1;
            snprintf(a->headers[a->headers_count], n, "%s: %s", k, s);
            a->headers_count++;
        }
    }
    return 0;
}

hub_status hub_parse_lfs_batch(hub_lfs_batch **out, const char *oid, const char *buf, size_t len,
                               hub_error *err)
{
    json_t *j, *objs, *o = NULL, *v, *actions, *e;
    hub_lfs_batch *b = NULL;
    hub_status st = HUB_OK;
    size_t i;
    int rc, multipart = 0;

    *out = NULL;
    j = load(buf, len, err, "LFS batch");
    if (!j)
        return HUB_E_PROTOCOL;
    objs = json_object_get(j, "objects");
    if (!json_is_array(objs)) {
        st = hub_error_set(err, HUB_E_PROTOCOL, "LFS batch: no \"objects\"");
        goto out;
    }
    json_array_foreach(objs, i, v)
    {
        const char *voi = json_string_value(json_object_get(v, "oid"));
        if (voi && strcmp(voi, oid) == 0) {
            o = v;
            break;
        }
    }
    if (!o) {
        st = hub_error_set(err, HUB_E_PROTOCOL, "LFS batch: object %.16s... not in the reply", oid);
        goto out;
    }
    b = calloc(1, sizeof(*b));
    if (!b || opt_str(&b->transfer, j, "transfer"))
        goto nomem;
    snprintf(b->oid, sizeof(b->oid), "%s", oid);
    b->size = opt_int(o, "size", -1);
    e = json_object_get(o, "error");
    if (json_is_object(e)) {
        const char *m = json_string_value(json_object_get(e, "message"));
        b->error_code = (long)opt_int(e, "code", 500);
        snprintf(b->error_message, sizeof(b->error_message), "%s", m ? m : "LFS object error");
        goto out;
    }
    /* The reply's "transfer" names the adapter for the whole batch, but huggingface_hub (lfs.py
     * lfs_upload) and huggingface.js (commit.ts) decide per object: multipart iff the upload
     * action's header has chunk_size. The Hub may say "basic" (or nothing) next to such objects. */
    if (b->transfer && strcmp(b->transfer, "multipart") != 0 && strcmp(b->transfer, "basic") != 0) {
        st = hub_error_set(err, HUB_E_PROTOCOL, "LFS batch: unsupported transfer \"%.32s\"",
                           b->transfer);
        goto out;
    }
    actions = json_object_get(o, "actions");
    if (json_is_object(actions)) {
        json_t *up = json_object_get(actions, "upload"), *ver = json_object_get(actions, "verify");
        if (json_is_object(up)) {
            json_t *h = json_object_get(up, "header");
            multipart = json_is_object(h) && json_object_get(h, "chunk_size") != NULL;
            b->has_upload = 1;
            if ((rc = action_fill(b, &b->upload, up, multipart)) != 0)
                goto bad;
        }
        if (json_is_object(ver)) {
            b->has_verify = 1;
            if ((rc = action_fill(b, &b->verify, ver, 0)) != 0)
                goto bad;
        }
    }
    if (multipart && b->has_upload) {
        size_t k;
        if (b->chunk_size <= 0 || !b->parts_count) {
            st = hub_error_set(err, HUB_E_PROTOCOL, "LFS multipart without chunk_size or parts");
            goto out;
        }
        qsort(b->parts, b->parts_count, sizeof(hub_lfs_part), part_cmp);
        for (k = 0; k < b->parts_count; k++)
            if (b->parts[k].number != k + 1) {
                st = hub_error_set(err, HUB_E_PROTOCOL, "LFS multipart parts not 1..n");
                goto out;
            }
    }
    goto out;
bad:
    if (rc == -1)
        goto nomem;
    st = hub_error_set(err, HUB_E_PROTOCOL, "LFS batch: malformed action");
    goto out;
nomem:
    st = hub_error_set(err, HUB_E_NOMEM, "no memory parsing the LFS batch reply");
out:
    if (st == HUB_OK)
        *out = b;
    else
        hub_lfs_batch_free(b);
    json_decref(j);
    return st;
}

/* ---- error bodies and headers ------------------------------------------------------------- */
void hub_parse_error_body(char *msg, size_t cap, const char *content_type, const char *buf,
                          size_t len)
{
    json_t *j, *e;
    const char *s = NULL;
    msg[0] = '\0';
    if (!buf || !len || !cap)
        return;
    if (content_type && strncasecmp(content_type, "text/html", 9) == 0)
        return;
    j = json_loadb(buf, len, 0, NULL);
    if (!j) {
        if (content_type && strncasecmp(content_type, "application/json", 16) == 0)
            return;
        hub_strlcpy(msg, cap, buf, len);
        return;
    }
    e = json_object_get(j, "error");
    if (json_is_string(e))
        s = json_string_value(e);
    else if (json_is_array(e) && json_is_string(json_array_get(e, 0)))
        s = json_string_value(json_array_get(e, 0));
    if (!s) {
        json_t *errs = json_object_get(j, "errors");
        s = json_string_value(json_object_get(json_array_get(errs, 0), "message"));
    }
    if (!s)
        s = json_string_value(json_object_get(j, "message"));
    if (s) {
        const char *d = json_string_value(json_object_get(j, "error_description"));
        if (d)
            snprintf(msg, cap, "%s: %s", s, d);
        else
            hub_strlcpy(msg, cap, s, strlen(s));
    }
    json_decref(j);
}

char *hub_parse_link_next(const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *lt, *gt, *end;
        size_t rest = len - i;
        lt = memchr(v + i, '<', rest);
        if (!lt)
            return NULL;
        gt = memchr(lt, '>', len - (size_t)(lt - v));
        if (!gt)
            return NULL;
        end = memchr(gt, ',', len - (size_t)(gt - v));
        if (!end)
            end = v + len;
        {
            /* params between gt and end: look for rel="next" or rel=next */
            size_t plen = (size_t)(end - gt);
            char params[256];
            hub_strlcpy(params, sizeof(params), gt + 1, plen - 1);
            if (strstr(params, "rel=\"next\"") || strstr(params, "rel=next")) {
                size_t ulen = (size_t)(gt - lt - 1);
                if ((ulen > 8 && strncasecmp(lt + 1, "https://", 8) == 0) ||
                    (ulen > 7 && strncasecmp(lt + 1, "http://", 7) == 0))
                    return strndup(lt + 1, ulen);
                return NULL;
            }
        }
        i = (size_t)(end - v) + 1;
    }
    return NULL;
}

/* Finds ";name=" in a structured header value and reads a non-negative integer. */
static int sf_param(long *out, const char *v, size_t len, char name)
{
    size_t i;
    for (i = 0; i + 2 < len; i++) {
        if (v[i] == ';' && v[i + 1] == name && v[i + 2] == '=') {
            long x = 0;
            size_t k = i + 3;
            if (k >= len || v[k] < '0' || v[k] > '9')
                return -1;
            for (; k < len && v[k] >= '0' && v[k] <= '9'; k++) {
                if (x > 100000000L)
                    return -1;
                x = x * 10 + (v[k] - '0');
            }
            *out = x;
            return 0;
        }
    }
    return -1;
}

int hub_parse_ratelimit(long *out_remaining, long *out_reset, const char *v, size_t len)
{
    long r, t;
    if (sf_param(&r, v, len, 'r') < 0 || sf_param(&t, v, len, 't') < 0)
        return -1;
    *out_remaining = r;
    *out_reset = t;
    return 0;
}

int hub_parse_ratelimit_policy(long *out_quota, long *out_window, const char *v, size_t len)
{
    long q, w;
    if (sf_param(&q, v, len, 'q') < 0 || sf_param(&w, v, len, 'w') < 0)
        return -1;
    *out_quota = q;
    *out_window = w;
    return 0;
}

long hub_parse_retry_after(const char *v, size_t len)
{
    char tmp[64];
    size_t i;
    long secs = 0;
    time_t t;
    if (!len || len >= sizeof(tmp))
        return -1;
    for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
        if (secs > 86400L * 7)
            return -1;
        secs = secs * 10 + (v[i] - '0');
    }
    if (i == len)
        return secs * 1000;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    t = curl_getdate(tmp, NULL);
    if (t < 0)
        return -1;
    t -= time(NULL);
    return t > 0 ? (long)t * 1000 : 0;
}
