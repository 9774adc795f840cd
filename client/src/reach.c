/* Reachability of the origins the client talks to: offline is a state, not a timeout.
 *
 * hub_http() asks before every hop whether the URL's origin is offline, and then fails at once
 * (HUB_E_OFFLINE) without sending anything. An origin goes offline when a connection to it cannot
 * be made (refused, DNS, no TCP/TLS set-up within connect_timeout_ms) or a read gets no answer at
 * all and a probe on a fresh connection gets none either (http.c). One background thread per
 * client, started on the first outage, probes each offline origin after 1 s, then doubling up to
 * probe_max_ms; the first probe that gets an answer, or any real answer from the origin, marks it
 * online. Each change is one log line, never one per call. The circuit breaker of
 * resilience libraries, with the half-open trial done by the prober rather than by a caller. */
#include "internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t hub_boottime_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void format_utc(char *out, size_t cap, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(out, cap, "?");
}

void hub_reach_init(hub_client *c)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&c->reach.lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->reach.cond, &ca);
    pthread_condattr_destroy(&ca);
    c->reach.created = (int64_t)time(NULL);
}

void hub_reach_free(hub_client *c)
{
    int join;

    pthread_mutex_lock(&c->reach.lock);
    c->reach.stopping = 1;
    join = c->reach.prober_started;
    pthread_cond_broadcast(&c->reach.cond);
    pthread_mutex_unlock(&c->reach.lock);
    if (join)
        pthread_join(c->reach.prober, NULL);
    pthread_cond_destroy(&c->reach.cond);
    pthread_mutex_destroy(&c->reach.lock);
}

/* The entry of origin, made if needed (the least recently used online one is replaced when
 * the table is full); NULL when every slot is an offline origin. Under reach.lock. */
static hub_origin_state *entry_locked(hub_client *c, const char *origin, int create)
{
    hub_reach_table *t = &c->reach;
    hub_origin_state *victim = NULL;
    size_t i;

    for (i = 0; i < t->count; i++)
        if (strcmp(t->items[i].origin, origin) == 0) {
            t->items[i].used_ms = hub_now_ms();
            return &t->items[i];
        }
    if (!create || strlen(origin) >= HUB_ORIGIN_MAX)
        return NULL;
    if (t->count < HUB_REACH_MAX) {
        victim = &t->items[t->count++];
    } else {
        for (i = 0; i < t->count; i++) {
            hub_origin_state *e = &t->items[i];
            if (e->offline || e->probing || strcmp(e->origin, c->origin) == 0)
                continue;
            if (!victim || e->used_ms < victim->used_ms)
                victim = e;
        }
        if (!victim)
            return NULL;
    }
    memset(victim, 0, sizeof(*victim));
    snprintf(victim->origin, sizeof(victim->origin), "%s", origin);
    victim->since = t->created;
    victim->used_ms = hub_now_ms();
    return victim;
}

int hub_reach_is_offline(hub_client *c, const char *origin, char *msg, size_t cap)
{
    hub_origin_state *e;
    int off = 0;

    if (!origin)
        return 0;
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, origin, 0);
    if (e && e->offline) {
        char when[32];
        off = 1;
        format_utc(when, sizeof(when), e->since);
        if (msg)
            snprintf(msg, cap, "%s unreachable since %s (%s); not sent", origin, when,
                     e->last_error);
    }
    pthread_mutex_unlock(&c->reach.lock);
    return off;
}

static void *prober_main(void *arg);

#define HUB_TRIAL_EVERY_MS 1000 /* while offline, a caller probes at most this often */

int hub_reach_gate(hub_client *c, const char *origin, unsigned limit_ms, char *msg, size_t cap)
{
    hub_origin_state *e;
    int off = 0, trial = 0;

    if (!origin)
        return 0;
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, origin, 0);
    if (e && e->offline) {
        off = 1;
        if (!e->probing && hub_now_ms() - e->probe_ms >= HUB_TRIAL_EVERY_MS) {
            trial = 1;
            e->probing = 1;
            e->probe_ms = hub_now_ms();
        }
    }
    pthread_mutex_unlock(&c->reach.lock);
    if (trial) {
        if (hub_reach_probe(c, origin, limit_ms)) {
            hub_reach_answered(c, origin);
            off = 0;
        }
        pthread_mutex_lock(&c->reach.lock);
        if ((e = entry_locked(c, origin, 0)))
            e->probing = 0;
        pthread_mutex_unlock(&c->reach.lock);
    }
    return off && hub_reach_is_offline(c, origin, msg, cap);
}

static void prober_start_locked(hub_client *c)
{
    if (!c->reach.prober_started && !c->reach.stopping &&
        pthread_create(&c->reach.prober, NULL, prober_main, c) == 0)
        c->reach.prober_started = 1;
    pthread_cond_broadcast(&c->reach.cond);
}

#define HUB_SUSPECT_EVERY_MS 5000  /* a live but slow origin is probed at most this often */
#define HUB_PROBE_PATIENT_MS 10000 /* limit of a probe of an origin that is offline */

void hub_reach_suspect(hub_client *c, const char *origin)
{
    hub_origin_state *e;

    if (!origin)
        return;
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, origin, 1);
    if (e && !e->offline && !e->suspect &&
        (!e->suspect_ms || hub_now_ms() - e->suspect_ms >= HUB_SUSPECT_EVERY_MS)) {
        e->suspect = 1;
        e->asked_ms = hub_now_ms();
        prober_start_locked(c);
    }
    pthread_mutex_unlock(&c->reach.lock);
}

void hub_reach_failed(hub_client *c, const char *origin, const char *why)
{
    hub_origin_state *e;
    int changed = 0;

    if (!origin)
        return;
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, origin, 1);
    if (e && !e->offline) {
        changed = 1;
        e->offline = 1;
        e->outages++;
        e->since = (int64_t)time(NULL);
        e->backoff_ms = HUB_PROBE_MIN_MS;
        e->probe_ms = hub_now_ms(); /* the failure was as good as a probe */
        e->next_probe_ms = e->probe_ms + e->backoff_ms;
        snprintf(e->last_error, sizeof(e->last_error), "%s", why ? why : "unreachable");
        e->suspect = 0;
        prober_start_locked(c);
    }
    pthread_mutex_unlock(&c->reach.lock);
    if (changed)
        hub_log(c, HUB_LOG_WARN,
                "hub: %s is unreachable (%s): calls to it fail at once until a probe gets an "
                "answer (every 1 s, up to every %u s)",
                origin, why ? why : "?", c->probe_max_ms / 1000);
}

void hub_reach_answered(hub_client *c, const char *origin)
{
    hub_origin_state *e;
    int64_t was = 0, now = (int64_t)time(NULL);

    if (!origin)
        return;
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, origin, 1);
    if (e)
        e->answer_ms = hub_now_ms();
    if (e && e->offline) {
        was = e->since;
        e->offline = 0;
        e->since = now;
    }
    pthread_mutex_unlock(&c->reach.lock);
    if (was)
        hub_log(c, HUB_LOG_WARN, "hub: %s is reachable again (after %lld s offline)", origin,
                (long long)(now - was));
}

int hub_reach_answered_since(hub_client *c, const char *origin, int64_t since_ms)
{
    hub_origin_state *e;
    int yes;

    if (!origin)
        return 0;
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, origin, 0);
    yes = e && e->answer_ms >= since_ms;
    pthread_mutex_unlock(&c->reach.lock);
    return yes;
}

void hub_client_reach(const hub_client *client, hub_reach *out)
{
    hub_client *c = (hub_client *)client;
    hub_origin_state *e;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->reach.lock);
    e = entry_locked(c, c->origin, 0);
    out->online = !(e && e->offline);
    out->since = e ? e->since : c->reach.created;
    if (e) {
        snprintf(out->last_error, sizeof(out->last_error), "%s", e->last_error);
        out->outages = e->outages;
    }
    out->probes = c->reach.probes;
    pthread_mutex_unlock(&c->reach.lock);
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d, (void)u;
    return s * n;
}

/* The client is being freed: a probe in flight stops (its thread is joined). */
static int probe_progress(void *userp, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    hub_client *c = userp;
    int stop;
    (void)a, (void)b, (void)c2, (void)d;
    pthread_mutex_lock(&c->reach.lock);
    stop = c->reach.stopping;
    pthread_mutex_unlock(&c->reach.lock);
    return stop;
}

int hub_reach_probe(hub_client *c, const char *origin, unsigned limit_ms)
{
    CURL *h = curl_easy_init();
    char url[HUB_ORIGIN_MAX + 64];
    int own = strcmp(origin, c->origin) == 0, ok = 0;
    long code = 0;
    CURLcode cc;

    if (!h)
        return 0;
    pthread_mutex_lock(&c->reach.lock);
    c->reach.probes++;
    pthread_mutex_unlock(&c->reach.lock);
    /* the Hub: a cheap API call without the token (a 401 is an answer); elsewhere (an app
     * host, storage) only a connection, which wakes nothing */
    snprintf(url, sizeof(url), "%s%s", own ? c->endpoint : origin, own ? "/api/whoami-v2" : "/");
    hub_curl_base(c, h, url);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)limit_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)limit_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, probe_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    if (!own)
        curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        ok = !own || (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0);
    if (ok && own)
        hub_reach_note_setup(c, h);
    hub_log(c, HUB_LOG_DEBUG, "hub: probe %s -> %s", origin,
            ok ? "answered" : curl_easy_strerror(cc));
    curl_easy_cleanup(h);
    return ok;
}

void hub_reach_note_setup(hub_client *c, void *curl)
{
    curl_off_t us = 0;
    long made = 0;
    unsigned ms;

    if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &made) != CURLE_OK || made <= 0 ||
        curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &us) != CURLE_OK || us <= 0)
        return;
    ms = us / 1000 > 0 ? (unsigned)(us / 1000) : 1;
    if (ms > c->connect_timeout_ms)
        ms = c->connect_timeout_ms;
    pthread_mutex_lock(&c->reach.lock);
    c->reach.setup_ms = c->reach.setup_ms ? (3 * c->reach.setup_ms + ms) / 4 : ms;
    pthread_mutex_unlock(&c->reach.lock);
}

unsigned hub_reach_setup_ms(hub_client *c)
{
    unsigned ms;
    pthread_mutex_lock(&c->reach.lock);
    ms = c->reach.setup_ms;
    pthread_mutex_unlock(&c->reach.lock);
    return ms;
}

unsigned hub_reach_probe_limit(hub_client *c)
{
    unsigned near = c->answer_timeout_ms + 100, setup = hub_reach_setup_ms(c), far;

    if (!setup)
        return near > c->connect_timeout_ms ? near : c->connect_timeout_ms;
    far = 2 * setup + 200; /* a TLS set-up is about two round trips; then the request's */
    return far > near ? far : near;
}

/* The origin to probe next: a suspect at once, else the offline one due first. NULL if none.
 * Under reach.lock. */
static hub_origin_state *next_locked(hub_client *c)
{
    hub_origin_state *best = NULL;
    size_t i;

    for (i = 0; i < c->reach.count; i++) {
        hub_origin_state *e = &c->reach.items[i];
        if (e->suspect && !e->offline) {
            e->next_probe_ms = 0;
            return e;
        }
        if (e->offline && (!best || e->next_probe_ms < best->next_probe_ms))
            best = e;
    }
    return best;
}

static void *prober_main(void *arg)
{
    hub_client *c = arg;
    hub_reach_table *t = &c->reach;

    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        hub_origin_state *e = next_locked(c);
        int64_t now = hub_now_ms();
        char origin[HUB_ORIGIN_MAX];
        unsigned limit;
        int ok, suspect;
        int64_t asked = 0;

        if (!e) {
            pthread_cond_wait(&t->cond, &t->lock);
            continue;
        }
        if (e->next_probe_ms > now) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (e->next_probe_ms - now) / 1000;
            ts.tv_nsec += ((e->next_probe_ms - now) % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&t->cond, &t->lock, &ts);
            continue;
        }
        if (e->probing) { /* a caller's trial is under way */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 100000000L;
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&t->cond, &t->lock, &ts);
            continue;
        }
        snprintf(origin, sizeof(origin), "%s", e->origin);
        e->probing = 1;
        e->probe_ms = now;
        suspect = e->suspect && !e->offline;
        asked = e->asked_ms;
        /* a suspect is probed as briefly as a caller would wait (a silent Hub must be found
         * out fast); an offline origin patiently: nobody waits for that probe, and any answer,
         * however slow, proves the Hub is back (a loaded Hub must not stay "offline") */
        limit = c->connect_timeout_ms > c->answer_timeout_ms ? c->connect_timeout_ms
                                                             : c->answer_timeout_ms;
        if (!suspect)
            limit = limit > HUB_PROBE_PATIENT_MS ? limit : HUB_PROBE_PATIENT_MS;
        pthread_mutex_unlock(&t->lock);
        ok = hub_reach_probe(c, origin, limit);
        if (ok)
            hub_reach_answered(c, origin);
        else if (suspect && !hub_reach_answered_since(c, origin, asked))
            /* nothing else got an answer meanwhile either: silent, not slow */
            hub_reach_failed(c, origin, "a call got no answer, nor did a probe");
        pthread_mutex_lock(&t->lock);
        e = entry_locked(c, origin, 0);
        if (e) {
            e->probing = 0;
            if (suspect) { /* hub_reach_failed set the first pause if it went offline */
                e->suspect = 0;
                e->suspect_ms = hub_now_ms();
            } else if (e->offline) {
                e->backoff_ms =
                    e->backoff_ms * 2 > c->probe_max_ms ? c->probe_max_ms : e->backoff_ms * 2;
                e->next_probe_ms = hub_now_ms() + e->backoff_ms;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}
