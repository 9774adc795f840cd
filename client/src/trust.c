/* Which certificate authorities the client trusts for https endpoints, for libcurl and for the
 * libgit2 mirror alike. Verification is always on; what can change is only the set of CAs:
 * -o ca_file= (hub_trust_set_ca_file), else the variables curl, requests and OpenSSL users set
 * (docs/client.md, "Trust"), else the system store. */
#include "internal.h"

#include <curl/curl.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t trust_lock = PTHREAD_MUTEX_INITIALIZER;
static char *trust_file; /* set by hub_trust_set_ca_file; outlives every client */

hub_status hub_trust_set_ca_file(const char *path, hub_error *err)
{
    char *copy = NULL;

    hub_error_clear(err);
    if (path && *path) {
        if (access(path, R_OK) != 0)
            return hub_error_set(err, HUB_E_INVALID, "CA file %s: %s", path, strerror(errno));
        copy = strdup(path);
        if (!copy)
            return hub_error_set(err, HUB_E_NOMEM, "no memory");
    }
    pthread_mutex_lock(&trust_lock);
    free(trust_file);
    trust_file = copy;
    pthread_mutex_unlock(&trust_lock);
    return HUB_OK;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL; /* an empty value never means "do not verify" here */
}

int hub_trust_locations(char **out_file, char **out_dir, const char **out_source)
{
    const char *file = NULL, *dir = NULL, *source = "the system store";

    *out_file = *out_dir = NULL;
    pthread_mutex_lock(&trust_lock);
    if (trust_file) {
        *out_file = strdup(trust_file);
        pthread_mutex_unlock(&trust_lock);
        if (out_source)
            *out_source = "ca_file";
        return *out_file ? 0 : -1;
    }
    pthread_mutex_unlock(&trust_lock);
    /* OpenSSL's own pair first, then what requests (huggingface_hub < 1.0) and curl(1) read */
    if ((file = env("SSL_CERT_FILE")))
        source = "SSL_CERT_FILE";
    else if ((file = env("REQUESTS_CA_BUNDLE")))
        source = "REQUESTS_CA_BUNDLE";
    else if ((file = env("CURL_CA_BUNDLE")))
        source = "CURL_CA_BUNDLE";
    if ((dir = env("SSL_CERT_DIR")) && !file)
        source = "SSL_CERT_DIR";
    if ((file && !(*out_file = strdup(file))) || (dir && !(*out_dir = strdup(dir)))) {
        free(*out_file);
        *out_file = NULL;
        return -1;
    }
    if (out_source)
        *out_source = source;
    return 0;
}

/* url on the curl handle h, over http(s) only, without signals, https always verified (whatever
 * the environment says; only the CAs can change) against ca_file/ca_dir, NULL: the system's. */
void hub_curl_https(void *h, const char *url, const char *user_agent, const char *ca_file,
                    const char *ca_dir)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, user_agent);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file || ca_dir) {
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, ca_dir);
    }
}

/* Sets up h for one attempt at `url` as every connection of the client (hub_http's and the
 * prober's): its share handle, its user agent and CAs. */
void hub_curl_base(hub_client *c, void *curl, const char *url)
{
    curl_easy_setopt(curl, CURLOPT_SHARE, (CURLSH *)c->share);
    hub_curl_https(curl, url, c->user_agent, c->ca_file, c->ca_dir);
}
