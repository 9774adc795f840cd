/* What the client tests against the emulator share: a log hook that prints the client's lines, a
 * monotonic clock, and admin(): a call to the emulator's test-only admin routes (no token) at
 * `admin_base`, the body kept in admin_body. Each test sets admin_base before its first call. */
#ifndef CLIENT_TEST_HARNESS_H
#define CLIENT_TEST_HARNESS_H

#include "hubclient.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *admin_base;
static char admin_body[1 << 20];
static size_t admin_len;

static void log_hook(hub_log_level level, const char *msg, void *payload)
{
    (void)payload;
    fprintf(stderr, "[hubclient %d] %s\n", (int)level, msg);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t admin_write(char *d, size_t s, size_t n, void *u)
{
    (void)u;
    if (admin_len + s * n < sizeof(admin_body)) {
        memcpy(admin_body + admin_len, d, s * n);
        admin_len += s * n;
        admin_body[admin_len] = 0;
    }
    return s * n;
}

/* METHOD admin_base + path with an optional JSON body; the HTTP status, 0 on no answer. */
static long admin(const char *method, const char *path, const char *json)
{
    CURL *h = curl_easy_init();
    char url[1024];
    long code = 0;
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");

    snprintf(url, sizeof(url), "%s%s", admin_base, path);
    admin_len = 0;
    admin_body[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, admin_write);
    if (json)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return code;
}

/* spaces_list's page callback: moves the page's items to the end of the list. */
static int list_append(hub_space *items, size_t count, void *payload)
{
    hub_space_list *list = payload;
    hub_space *v = realloc(list->items, (list->count + count) * sizeof(*v));

    if (!v)
        return -1;
    list->items = v;
    memcpy(v + list->count, items, count * sizeof(*v));
    memset(items, 0, count * sizeof(*items));
    list->count += count;
    return 0;
}

/* Every Space of `author` in one list (all pages; *out new, hub_space_list_free). */
static hub_status spaces_list(hub_space_list **out, hub_client *c, const char *author,
                              hub_error *err)
{
    hub_space_list *list = calloc(1, sizeof(*list));
    hub_status st = list ? hub_spaces_list_pages(c, author, 0, list_append, list, NULL, NULL, err)
                         : HUB_E_NOMEM;

    *out = NULL;
    if (st == HUB_OK)
        *out = list;
    else
        hub_space_list_free(list);
    return st;
}

#endif
