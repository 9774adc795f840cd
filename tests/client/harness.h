/* What the client tests against the emulator share: a log hook that prints the client's lines, a
 * monotonic clock, and admin(): a call to the emulator's test-only admin routes (no token) at
 * `admin_base`, the body kept in admin_body. Each test sets admin_base before its first call. */
#ifndef CLIENT_TEST_HARNESS_H
#define CLIENT_TEST_HARNESS_H

#include "hubclient.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
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

#endif
