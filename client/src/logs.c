/* Space logs over Server-Sent Events: an incremental parser of `data: {"data","timestamp"}`
 * lines (keep-alives and other fields ignored, over-long lines dropped), and following a log
 * until cancelled. */
#include "internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SSE_LINE_MAX ((size_t)1 << 20)

void hub_sse_init(hub_sse *s, hub_log_line_fn on_line, void *payload)
{
    memset(s, 0, sizeof(*s));
    hub_buf_init(&s->line, SSE_LINE_MAX);
    s->on_line = on_line;
    s->payload = payload;
}

void hub_sse_free(hub_sse *s)
{
    hub_buf_free(&s->line);
}

/* Delivers each line of an event's text (a trailing newline ends the last line). */
static int deliver(hub_sse *s, const char *text, size_t n, int64_t ts)
{
    while (n) {
        const char *nl = memchr(text, '\n', n);
        size_t len = nl ? (size_t)(nl - text) : n;
        size_t shown = len && text[len - 1] == '\r' ? len - 1 : len;
        char *copy = strndup(text, shown);
        int rc;
        if (!copy)
            return 0; /* drop the line rather than fail the stream */
        rc = s->on_line(copy, shown, ts, s->payload);
        free(copy);
        if (rc)
            return -1;
        if (!nl)
            break;
        n -= len + 1;
        text += len + 1;
    }
    return 0;
}

static int handle_line(hub_sse *s, const char *line, size_t n)
{
    json_t *j, *d;
    int64_t ts = 0;
    int rc = 0;

    if (n && line[n - 1] == '\r')
        n--;
    if (n < 5 || memcmp(line, "data:", 5) != 0)
        return 0; /* blank separators, comments, event:/id:/retry: fields */
    line += 5;
    n -= 5;
    if (n && *line == ' ')
        line++, n--;
    if (!n || *line != '{')
        return 0; /* keep-alive */
    j = json_loadb(line, n, 0, NULL);
    if (!j)
        return 0;
    d = json_object_get(j, "data");
    if (json_is_string(d)) {
        json_t *t = json_object_get(j, "timestamp");
        if (json_is_string(t))
            hub_parse_iso8601(NULL, &ts, json_string_value(t));
        s->events++;
        rc = deliver(s, json_string_value(d), json_string_length(d), ts);
    }
    json_decref(j);
    return rc;
}

int hub_sse_feed(hub_sse *s, const char *data, size_t len)
{
    while (len && !s->stopped) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (!s->overlong && hub_buf_add(&s->line, data, take) < 0) {
            s->overlong = 1;
            s->line.len = 0;
        }
        if (nl) {
            if (!s->overlong && handle_line(s, s->line.data ? s->line.data : "", s->line.len))
                s->stopped = 1;
            s->line.len = 0;
            s->overlong = 0;
            take++;
        }
        data += take;
        len -= take;
    }
    return s->stopped ? -1 : 0;
}

int hub_sse_finish(hub_sse *s)
{
    if (!s->stopped && !s->overlong && s->line.len && handle_line(s, s->line.data, s->line.len))
        s->stopped = 1;
    s->line.len = 0;
    return s->stopped ? -1 : 0;
}

static int sse_sink(const void *data, size_t len, void *payload)
{
    return hub_sse_feed(payload, data, len) < 0 ? 1 : 0;
}

/* The stream is open (2xx headers in): followers hear it as a line NULL, before any line. */
static void sse_opened(void *payload)
{
    hub_sse *s = payload;

    if (!s->stopped && s->on_line(NULL, 0, 0, s->payload))
        s->stopped = 1;
}

static hub_status logs_run(hub_client *c, const char *id, hub_log_kind kind, hub_sse *sse,
                           hub_cancel *cancel, hub_error *err)
{
    hub_buf url;
    hub_resp resp;
    hub_req q;
    hub_status st;

    if (!hub_valid_repo_id(id))
        return hub_error_set(err, HUB_E_INVALID, "invalid repo id");
    hub_buf_init(&url, 0);
    hub_resp_init(&resp);
    if (hub_buf_add_repo_api(&url, c, HUB_REPO_SPACE, id) < 0 ||
        hub_buf_adds(&url, kind == HUB_LOGS_BUILD ? "/logs/build" : "/logs/run") < 0) {
        st = hub_error_set(err, HUB_E_NOMEM, "no memory");
        goto out;
    }
    memset(&q, 0, sizeof(q));
    q.method = "GET";
    q.url = url.data;
    q.body_fd = -1;
    q.accept = "text/event-stream";
    q.follow = 1;
    q.stream = 1;
    q.no_stall_limit = 1;
    q.cancel = cancel;
    q.on_data = sse_sink;
    q.on_open = sse_opened;
    q.payload = sse;
    st = hub_http(c, &q, &resp, err);
    if (st == HUB_OK && hub_sse_finish(sse) < 0)
        st = hub_error_set(err, HUB_E_CANCELLED, "stopped by the line callback");
    if (st == HUB_E_CANCELLED && sse->stopped)
        hub_error_set(err, HUB_E_CANCELLED, "stopped by the line callback");
out:
    hub_resp_free(&resp);
    hub_buf_free(&url);
    return st;
}

hub_status hub_logs_follow(hub_client *c, const char *space_id, hub_log_kind kind,
                           hub_log_line_fn on_line, void *payload, hub_cancel *cancel,
                           hub_error *err)
{
    hub_sse sse;
    hub_status st;

    hub_error_clear(err);
    if (!on_line)
        return hub_error_set(err, HUB_E_INVALID, "no line callback");
    hub_sse_init(&sse, on_line, payload);
    st = logs_run(c, space_id, kind, &sse, cancel, err);
    hub_sse_free(&sse);
    return st;
}
