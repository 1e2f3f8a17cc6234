/*
 * One EE session over libcurl: a single easy handle reused for every request
 * (keep-alive), the project headers, and the bearer token from the shared
 * token provider. The token only ever lives in a header list that is freed
 * right after the transfer; it is never formatted into a message.
 */
#include "core/session.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/auth.h"
#include "util/ee.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DEFAULT_MAX_RESPONSE ((size_t)256 << 20)

struct session {
    CURL *curl;
    char *base;        /* endpoint without trailing '/' */
    char *version;
    char *project;
    struct token_provider *auth;
    size_t max_default;     /* session_opts.max_response */
    size_t max_response;    /* the bound of the next answers (session_set_max_response) */
    long low_speed_bytes, low_speed_s;
    int (*should_abort)(void *ud);
    void *abort_ud;
    int aborted;       /* the current transfer was cancelled by should_abort */
    const char *extra_header;   /* session_request_url's, for the current transfer */
    struct session_sink sink;   /* session_set_sink's; write NULL: none */
    int delete;                 /* session_request_url's DELETE */
    char curl_err[CURL_ERROR_SIZE];
    /* Per-transfer state filled by the callbacks. */
    struct http_result *cur;
    long cur_status;            /* of the header block being received */
    int sink_refused;           /* the sink's write failed: transfer abandoned */
    int overflow;
    unsigned long long refused_length;  /* a Content-Length over the bound, refused unread */
    /* Low-speed watch: bytes of the answer so far (headers and body), and
     * the window that must bring low_speed_bytes within low_speed_s. */
    int started, stalled;
    curl_off_t header_bytes, body_bytes;
    curl_off_t window_bytes;
    int64_t window_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static char no_proxy[1024];

static void curl_init_once(void)
{
    const char *env = getenv("NO_PROXY");

    if (!env || !*env)
        env = getenv("no_proxy");
    /* Loopback never goes through a proxy; the user's NO_PROXY still counts
     * (CURLOPT_NOPROXY replaces the variable, so both are listed). */
    snprintf(no_proxy, sizeof no_proxy, "localhost,127.0.0.1,::1%s%s", env && *env ? "," : "",
             env && *env ? env : "");
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *session_no_proxy(void)
{
    pthread_once(&curl_once, curl_init_once);
    return no_proxy;
}

/* Loopback hosts may use plain http (the emulator); anything else must be
 * https so that a token never crosses a network in clear text. */
static int host_is_loopback(const char *host, size_t n)
{
    char h[256];
    unsigned a, b, c, d;
    char extra;

    if (n == 0 || n >= sizeof h)
        return 0;
    memcpy(h, host, n);
    h[n] = '\0';
    if (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
        return 1;
    if (sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 && b < 256 &&
        c < 256 && d < 256)
        return 1;
    return 0;
}

/* 1 when the host of an http:// or https:// URL is a loopback address. */
int session_url_is_loopback(const char *url)
{
    const char *host, *end;

    if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return 0;
    if (*host == '[') {
        end = strchr(host, ']');
        end = end ? end + 1 : host + strlen(host);
    } else {
        end = host + strcspn(host, ":/?#");
    }
    return host_is_loopback(host, (size_t)(end - host));
}

/* Checks the scheme of an endpoint: https anywhere, http only on loopback. */
int session_check_url(const char *url, struct errbuf *e)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return 0;
    if (strncasecmp(url, "http://", 7) != 0)
        return err_set(e, ERR_USAGE, "endpoint '%s' must start with https:// (or http:// on loopback)",
                       url);
    if (!session_url_is_loopback(url))
        return err_set(e, ERR_USAGE,
                       "refusing plain http:// for non-loopback endpoint '%s': tokens would be sent "
                       "unencrypted; use https:// (plain http is allowed only for 127.0.0.0/8, ::1 "
                       "and localhost)",
                       url);
    return 0;
}

/* curl's progress callback (called at least once a second, also while the
 * server is silent): cancels a transfer on request, and abandons an answer
 * that has started but then trickles. curl's own CURLOPT_LOW_SPEED_* would
 * also count the wait for the first byte, which is EE computing the tile
 * (legitimately long for a heavy expression); only the request timeout
 * bounds that. */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct session *s = ud;
    curl_off_t got;
    int64_t now;

    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    if (s->should_abort && s->should_abort(s->abort_ud)) {
        s->aborted = 1;
        return 1; /* CURLE_ABORTED_BY_CALLBACK */
    }
    if (!s->started)
        return 0;
    /* dlnow counts the body as it came over the wire (before decoding). */
    got = s->header_bytes + (dlnow > s->body_bytes ? dlnow : s->body_bytes);
    now = time_mono_ms();
    if (s->window_ms == 0 || got - s->window_bytes >= (curl_off_t)s->low_speed_bytes) {
        s->window_ms = now;
        s->window_bytes = got;
    } else if (now - s->window_ms >= (int64_t)s->low_speed_s * 1000) {
        s->stalled = 1;
        return 1;
    }
    return 0;
}

int session_create(const struct session_opts *o, struct session **out, struct errbuf *e)
{
    struct session *s = NULL;
    const char *endpoint = o->endpoint ? o->endpoint : EE_ENDPOINT;
    size_t n;
    int rc;

    *out = NULL;
    rc = session_check_url(endpoint, e);
    if (rc)
        return rc;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return err_set(e, ERR_HTTP, "curl initialisation failed: %s", curl_easy_strerror(curl_init_rc));

    s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_NOMEM, "out of memory");
    s->base = strdup(endpoint);
    s->version = strdup(o->version && *o->version ? o->version : "v1");
    s->project = strdup(o->project ? o->project : "");
    if (!s->base || !s->version || !s->project) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    n = strlen(s->base);
    while (n > 0 && s->base[n - 1] == '/')
        s->base[--n] = '\0';
    s->auth = o->auth;
    s->max_default = o->max_response ? o->max_response : DEFAULT_MAX_RESPONSE;
    s->max_response = s->max_default;
    s->low_speed_bytes = o->low_speed_bytes > 0 ? o->low_speed_bytes : SESSION_LOW_SPEED_BYTES;
    s->low_speed_s = o->low_speed_s > 0 ? o->low_speed_s : SESSION_LOW_SPEED_S;

    s->curl = curl_easy_init();
    if (!s->curl) {
        rc = err_set(e, ERR_HTTP, "curl_easy_init failed");
        goto fail;
    }
    /* Worker threads: no signals for timeouts. */
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(s->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(s->curl, CURLOPT_NOPROXY, no_proxy);
    curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "eefetch/" EEFETCH_VERSION);
    curl_easy_setopt(s->curl, CURLOPT_ACCEPT_ENCODING, "");
    if (o->timeout_ms > 0)
        curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    s->should_abort = o->should_abort;
    s->abort_ud = o->abort_ud;
    curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    *out = s;
    return 0;

fail:
    session_destroy(s);
    return rc;
}

void session_destroy(struct session *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    free(s->base);
    free(s->version);
    free(s->project);
    free(s);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct session *s = ud;
    size_t n = size * nmemb;

    s->body_bytes += (curl_off_t)n;
    if (s->sink.write && s->cur_status == 200) {
        if ((unsigned long long)s->body_bytes > s->max_response) {
            s->overflow = 1;
            return 0;
        }
        if (s->sink.write(s->sink.ud, p, n) != 0) {
            s->sink_refused = 1;
            return 0;
        }
        return n;
    }
    if (buf_append(&s->cur->body, p, n) != 0) {
        s->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Value of "Name: value" when the header line is `name`, else NULL; the
 * value is trimmed into out. */
static const char *header_value(const char *line, size_t n, const char *name, char *out,
                                size_t cap)
{
    size_t nl = strlen(name), len;
    const char *v, *end;

    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    v = line + nl + 1;
    end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    len = (size_t)(end - v);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return out;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct session *s = ud;
    size_t n = size * nmemb;
    char v[256];

    s->started = 1;
    s->header_bytes += (curl_off_t)n;
    /* A status line starts a new header block (e.g. after 100 Continue). */
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        s->cur_status = sp ? strtol(sp + 1, NULL, 10) : 0;
        s->cur->retry_after_s = -1;
        s->cur->content_type[0] = '\0';
        s->cur->crc32c[0] = '\0';
        s->cur->content_range[0] = '\0';
        return n;
    }
    if (header_value(p, n, "x-goog-hash", v, sizeof v)) {
        /* "crc32c=AAAAAA==" or "crc32c=...,md5=..." (one header per hash
         * or several in one) */
        const char *c = strstr(v, "crc32c=");
        if (c) {
            size_t k = strcspn(c + 7, ", ");
            if (k < sizeof s->cur->crc32c) {
                memcpy(s->cur->crc32c, c + 7, k);
                s->cur->crc32c[k] = '\0';
            }
        }
        return n;
    }
    if (header_value(p, n, "Content-Range", s->cur->content_range, sizeof s->cur->content_range))
        return n;
    if (header_value(p, n, "Retry-After", v, sizeof v)) {
        char *end;
        long secs = strtol(v, &end, 10);
        if (end != v && *end == '\0' && secs >= 0) {
            s->cur->retry_after_s = secs;
        } else {
            time_t when = curl_getdate(v, NULL);
            time_t now = time(NULL);
            if (when != (time_t)-1)
                s->cur->retry_after_s = when > now ? (long)(when - now) : 0;
        }
    } else if (header_value(p, n, "Content-Type", s->cur->content_type,
                            sizeof s->cur->content_type)) {
        /* stored in place */
    } else if (header_value(p, n, "Content-Length", v, sizeof v)) {
        /* A body over the bound is refused before a byte of it is read.
         * Under it, a hint only (a compressed body decodes larger, and is
         * cut at the bound as it inflates): one allocation of the right
         * size instead of doubling up to twice of it. */
        char *end;
        unsigned long long cl = strtoull(v, &end, 10);
        if (end != v && *end == '\0' && cl > s->max_response) {
            s->refused_length = cl;
            s->overflow = 1;
            return 0; /* aborts the transfer */
        }
        if (end != v && *end == '\0' && cl > 0 && !(s->sink.write && s->cur_status == 200))
            (void)buf_reserve(&s->cur->body, (size_t)cl);
    }
    return n;
}

/* One transfer with the current token. */
static int perform(struct session *s, const char *url, const char *json, size_t len,
                   const char *token, struct http_result *res, struct errbuf *e)
{
    struct curl_slist *h = NULL, *t;
    struct buf line;
    CURLcode cc;
    int rc = 0;

    buf_reset(&res->body);
    res->status = 0;
    res->retry_after_s = -1;
    res->content_type[0] = '\0';
    res->crc32c[0] = '\0';
    res->content_range[0] = '\0';
    s->cur = res;
    s->overflow = 0;
    s->cur_status = 0;
    s->sink_refused = 0;
    s->refused_length = 0;
    s->aborted = 0;
    s->started = s->stalled = 0;
    s->header_bytes = s->body_bytes = s->window_bytes = 0;
    s->window_ms = 0;
    s->curl_err[0] = '\0';

    buf_init(&line, 0);
    if (token && *token) {
        if (buf_printf(&line, "Authorization: Bearer %s", token) != 0 ||
            !(t = curl_slist_append(h, line.data)))
            goto nomem;
        h = t;
    }
    if (*s->project) {
        buf_reset(&line);
        if (buf_printf(&line, "X-Goog-User-Project: %s", s->project) != 0 ||
            !(t = curl_slist_append(h, line.data)))
            goto nomem;
        h = t;
    }
    if (json) {
        if (!(t = curl_slist_append(h, "Content-Type: application/json")))
            goto nomem;
        h = t;
    }
    if (s->extra_header) {
        if (!(t = curl_slist_append(h, s->extra_header)))
            goto nomem;
        h = t;
    }
    /* No "Expect: 100-continue" round trip for large POST bodies. */
    if (!(t = curl_slist_append(h, "Expect:")))
        goto nomem;
    h = t;

    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s);
    if (json) {
        curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(s->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, s->delete ? "DELETE" : NULL);

    cc = curl_easy_perform(s->curl);
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (s->aborted) {
        rc = err_set(e, ERR_INTERRUPTED, "%s: cancelled", url);
        res->status = 0;
    } else if (s->overflow && s->refused_length) {
        rc = err_set(e, ERR_LIMIT, "answer from %s larger than %zu bytes (Content-Length %llu): refused unread",
                     url, s->max_response, s->refused_length);
    } else if (s->overflow) {
        rc = err_set(e, ERR_LIMIT, "answer from %s larger than %zu bytes: cut there", url, s->max_response);
    } else if (s->stalled) {
        rc = err_set(e, ERR_HTTP, "%s: the answer stalled (fewer than %ld bytes in %ld s): abandoned", url,
                     s->low_speed_bytes, s->low_speed_s);
        res->status = 0;
    } else if (s->sink_refused) {
        /* The sink stopped it: an answer all the same, the sink's to judge. */
        res->status = 200;
    } else if (cc != CURLE_OK) {
        rc = err_set(e, ERR_HTTP, "%s: %s", url, s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
        res->status = 0;
    }
    goto done;

nomem:
    rc = err_set(e, ERR_NOMEM, "out of memory");
done:
    /* Drop the header list (with the token) before anything else can see it. */
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (line.data)
        memset(line.data, 0, line.cap);
    buf_free(&line);
    s->cur = NULL;
    return rc;
}

/* Runs a request; on 401 with a token, invalidates that token once and retries. */
static int request(struct session *s, const char *url, const char *json, size_t len,
                   struct http_result *res, int reuse, struct errbuf *e)
{
    char token[AUTH_TOKEN_MAX];
    uint64_t gen = 0;
    int rc, attempt;

    if (reuse) {
        /* the caller's buffer, possibly empty, keeps its storage kind */
        buf_reset(&res->body);
        res->body.max = s->max_response;
    } else {
        buf_init(&res->body, s->max_response);
    }
    res->status = 0;
    res->retry_after_s = -1;
    res->content_type[0] = '\0';
    token[0] = '\0';

    for (attempt = 0; attempt < 2; attempt++) {
        if (s->auth) {
            rc = auth_token_get(s->auth, token, sizeof token, &gen, e);
            if (rc)
                goto done;
        }
        rc = perform(s, url, json, len, token, res, e);
        if (rc || res->status != 401 || !s->auth || attempt == 1)
            break;
        log_debug("HTTP 401 from %s: refreshing the access token once", url);
        rc = auth_token_invalidate(s->auth, gen, e);
        if (rc)
            goto done;
    }
done:
    memset(token, 0, sizeof token);
    return rc;
}

static int post(struct session *s, const char *path, const char *json, size_t len, struct http_result *res,
                int reuse, struct errbuf *e)
{
    struct buf url;
    int rc;

    if (!*s->project) {
        if (!reuse)
            buf_init(&res->body, s->max_response);
        res->status = 0;
        return err_set(e, ERR_USAGE, "no project set for %s", path);
    }
    buf_init(&url, 0);
    if (buf_printf(&url, "%s/%s/projects/%s/%s", s->base, s->version, s->project, path) != 0) {
        buf_free(&url);
        if (!reuse)
            buf_init(&res->body, s->max_response);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = request(s, url.data, json ? json : "", json ? len : 0, res, reuse, e);
    buf_free(&url);
    return rc;
}

int session_post(struct session *s, const char *path, const char *json, size_t len,
                 struct http_result *res, struct errbuf *e)
{
    return post(s, path, json, len, res, 0, e);
}

int session_post_reuse(struct session *s, const char *path, const char *json, size_t len,
                       struct http_result *res, struct errbuf *e)
{
    return post(s, path, json, len, res, 1, e);
}

int session_get(struct session *s, const char *path, struct http_result *res, struct errbuf *e)
{
    struct buf url;
    int rc;

    buf_init(&url, 0);
    if (buf_printf(&url, "%s/%s/%s", s->base, s->version, path) != 0) {
        buf_free(&url);
        buf_init(&res->body, s->max_response);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = request(s, url.data, NULL, 0, res, 0, e);
    buf_free(&url);
    return rc;
}

int session_request_url(struct session *s, const char *method, const char *url, const char *json, size_t len, const char *extra_header,
                        struct http_result *res, struct errbuf *e)
{
    int rc;

    if ((rc = session_check_url(url, e)) != 0) {
        buf_init(&res->body, s->max_response);
        res->status = 0;
        return rc;
    }
    s->extra_header = extra_header;
    s->delete = method && strcmp(method, "DELETE") == 0;
    if (method && strcmp(method, "POST") == 0 && !json)
        json = "{}";
    rc = request(s, url, json, json ? (len ? len : strlen(json)) : 0, res, 0, e);
    s->extra_header = NULL;
    s->delete = 0;
    return rc;
}

const char *session_base(const struct session *s) { return s->base; }
const char *session_version(const struct session *s) { return s->version; }

void session_set_sink(struct session *s, const struct session_sink *sink)
{
    if (sink)
        s->sink = *sink;
    else
        memset(&s->sink, 0, sizeof s->sink);
}

void session_set_max_response(struct session *s, size_t max)
{
    s->max_response = max ? max : s->max_default;
}

void http_result_free(struct http_result *res)
{
    buf_free(&res->body);
}

void session_error_message(const struct http_result *res, char *out, size_t cap)
{
    json_object *top = NULL, *err, *msg;
    const char *raw = res->body.data ? res->body.data : "";
    size_t n;

    if (!cap)
        return;
    out[0] = '\0';
    if (res->body.len)
        top = json_tokener_parse(raw);
    if (top && json_object_object_get_ex(top, "error", &err)) {
        if (json_object_is_type(err, json_type_object) &&
            json_object_object_get_ex(err, "message", &msg)) {
            snprintf(out, cap, "%s", json_object_get_string(msg));
            goto done;
        }
        /* OAuth shape: {"error":"invalid_grant","error_description":"..."} */
        if (json_object_is_type(err, json_type_string)) {
            if (json_object_object_get_ex(top, "error_description", &msg))
                snprintf(out, cap, "%s: %s", json_object_get_string(err),
                         json_object_get_string(msg));
            else
                snprintf(out, cap, "%s", json_object_get_string(err));
            goto done;
        }
    }
    /* Not EE's shape: a printable prefix of the body, or the status. */
    if (res->body.len) {
        n = res->body.len < cap - 1 ? res->body.len : cap - 1;
        for (size_t i = 0; i < n; i++)
            out[i] = isprint((unsigned char)raw[i]) ? raw[i] : ' ';
        out[n] = '\0';
    } else {
        snprintf(out, cap, "HTTP %ld", res->status);
    }
done:
    json_object_put(top);
    log_redact(out, cap);
}
