/*
 * core/session against a small libmicrohttpd server in this file: URL
 * layout, headers, bounded bodies, Retry-After, EE error messages, the
 * plain-http refusal and transport errors.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/auth.h"
#include "core/session.h"

struct seen {
    char url[512];
    char method[16];
    char auth[256];
    char project[128];
    char ctype[128];
    char ua[128];
    char body[4096];
};

static struct seen last;
static char upload[4096];
static size_t upload_len;

/* A session_sink that keeps what it is given, or refuses after `refuse_after` calls. */
struct sunk {
    char data[128];
    size_t total;
    int calls, refuse_after;
};

static int sink_write(void *ud, const void *data, size_t n)
{
    struct sunk *k = ud;
    size_t used = k->total < sizeof k->data - 1 ? k->total : sizeof k->data - 1;
    size_t room = sizeof k->data - 1 - used;

    memcpy(k->data + used, data, n < room ? n : room);
    k->total += n;
    k->calls++;
    return k->refuse_after && k->calls >= k->refuse_after;
}

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, cap, "%s", v ? v : "");
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    struct MHD_Response *r;
    const char *body = "{\"result\":3}";
    char *big = NULL;
    int status = 200;
    enum MHD_Result ret;

    (void)cls;
    (void)version;
    if (*state == NULL) {
        *state = (void *)1;
        upload_len = 0;
        return MHD_YES;
    }
    if (*size) {
        size_t n = *size < sizeof upload - 1 - upload_len ? *size : sizeof upload - 1 - upload_len;
        memcpy(upload + upload_len, data, n);
        upload_len += n;
        *size = 0;
        return MHD_YES;
    }
    upload[upload_len] = '\0';
    memset(&last, 0, sizeof last);
    snprintf(last.url, sizeof last.url, "%s", url);
    snprintf(last.method, sizeof last.method, "%s", method);
    snprintf(last.body, sizeof last.body, "%s", upload);
    copy_header(c, "Authorization", last.auth, sizeof last.auth);
    copy_header(c, "X-Goog-User-Project", last.project, sizeof last.project);
    copy_header(c, "Content-Type", last.ctype, sizeof last.ctype);
    copy_header(c, "User-Agent", last.ua, sizeof last.ua);

    if (strstr(url, "/big")) {
        big = malloc(100000);
        if (!big)
            return MHD_NO;
        memset(big, 'x', 99999);
        big[99999] = '\0';
        body = big;
    } else if (strstr(url, "/busy")) {
        status = 429;
        body = "{\"error\":{\"code\":429,\"message\":\"Too many requests.\",\"status\":\"RESOURCE_EXHAUSTED\"}}";
    } else if (strstr(url, "/oauth")) {
        status = 400;
        body = "{\"error\":\"invalid_grant\",\"error_description\":\"Bad thing.\"}";
    } else if (strstr(url, "/html")) {
        status = 502;
        body = "<html>bad gateway</html>";
    }
    r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    free(big);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json; charset=UTF-8");
    if (status == 429)
        MHD_add_response_header(r, "Retry-After", "7");
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

int main(void)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct session_opts o;
    struct session *s = NULL;
    struct token_provider *tp = NULL;
    struct http_result res;
    struct errbuf e;
    char base[64], msg[512];
    int port, rc;

    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         answer, NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    CHECK(d != NULL);
    if (!d)
        return CHECK_DONE();
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", port);

    /* Plain http is refused for anything but loopback. */
    memset(&o, 0, sizeof o);
    o.endpoint = "http://example.com";
    o.project = "p";
    rc = session_create(&o, &s, &e);
    CHECK(rc == ERR_USAGE && s == NULL);
    CHECK(strstr(e.msg, "refusing plain http://") != NULL);
    o.endpoint = "http://127.0.0.1.example.com:80";
    CHECK(session_create(&o, &s, &e) == ERR_USAGE);
    o.endpoint = "ftp://127.0.0.1/";
    CHECK(session_create(&o, &s, &e) == ERR_USAGE);
    CHECK(session_check_url("http://localhost:8080/token", &e) == 0);
    CHECK(session_check_url("http://[::1]:8080/token", &e) == 0);
    CHECK(session_check_url("http://127.9.9.9/token", &e) == 0);
    CHECK(session_check_url("https://oauth2.googleapis.com/token", &e) == 0);
    CHECK(session_check_url("http://10.0.0.1/token", &e) == ERR_USAGE);

    /* A POST with a fixed token: path, headers, body. */
    CHECK(auth_static_create("test-token-123456", &tp, &e) == 0);
    o.endpoint = base;   /* the trailing slash is dropped */
    o.version = "v1alpha";
    o.project = "my-project";
    o.auth = tp;
    o.max_response = 50000;
    rc = session_create(&o, &s, &e);
    CHECK(rc == 0);
    if (rc)
        goto out;
    rc = session_post(s, "value:compute", "{\"expression\":1}", 16, &res, &e);
    CHECK(rc == 0);
    CHECK(res.status == 200);
    CHECK_STR(res.body.data, "{\"result\":3}");
    CHECK_STR(res.content_type, "application/json; charset=UTF-8");
    CHECK(res.retry_after_s == -1);
    CHECK_STR(last.url, "/v1alpha/projects/my-project/value:compute");
    CHECK_STR(last.method, "POST");
    CHECK_STR(last.auth, "Bearer test-token-123456");
    CHECK_STR(last.project, "my-project");
    CHECK_STR(last.ctype, "application/json");
    CHECK(strncmp(last.ua, "eefetch/", 8) == 0);
    CHECK_STR(last.body, "{\"expression\":1}");
    http_result_free(&res);

    /* Asset paths keep their slashes. */
    rc = session_post(s, "assets/USGS/SRTMGL1_003:getPixels", "{}", 2, &res, &e);
    CHECK(rc == 0);
    CHECK_STR(last.url, "/v1alpha/projects/my-project/assets/USGS/SRTMGL1_003:getPixels");
    http_result_free(&res);

    /* GET with a path of its own. */
    rc = session_get(s, "projects/earthengine-public/assets/X", &res, &e);
    CHECK(rc == 0 && res.status == 200);
    CHECK_STR(last.url, "/v1alpha/projects/earthengine-public/assets/X");
    CHECK_STR(last.method, "GET");
    http_result_free(&res);

    /* 429 with Retry-After and EE's error message. */
    rc = session_get(s, "busy", &res, &e);
    CHECK(rc == 0 && res.status == 429);
    CHECK(res.retry_after_s == 7);
    session_error_message(&res, msg, sizeof msg);
    CHECK_STR(msg, "Too many requests.");
    http_result_free(&res);

    /* Retry-After does not leak into the next answer on the same handle. */
    rc = session_get(s, "ok", &res, &e);
    CHECK(rc == 0 && res.status == 200 && res.retry_after_s == -1);
    http_result_free(&res);

    /* OAuth-shaped and non-JSON error bodies. */
    rc = session_get(s, "oauth", &res, &e);
    session_error_message(&res, msg, sizeof msg);
    CHECK_STR(msg, "invalid_grant: Bad thing.");
    http_result_free(&res);
    rc = session_get(s, "html", &res, &e);
    CHECK(res.status == 502);
    session_error_message(&res, msg, sizeof msg);
    CHECK_STR(msg, "<html>bad gateway</html>");
    http_result_free(&res);

    /* The body bound holds. */
    rc = session_get(s, "big", &res, &e);
    CHECK(rc == ERR_LIMIT);
    CHECK(strstr(e.msg, "larger than 50000 bytes") != NULL);
    http_result_free(&res);

    /* The session survives a failed transfer. */
    rc = session_get(s, "ok", &res, &e);
    CHECK(rc == 0 && res.status == 200);
    http_result_free(&res);

    /* A sink takes a 200 answer's body as it arrives, and nothing else. */
    {
        struct sunk k;
        struct session_sink sink = {sink_write, &k};
        memset(&k, 0, sizeof k);
        session_set_sink(s, &sink);
        rc = session_get(s, "ok", &res, &e);
        CHECK(rc == 0 && res.status == 200 && res.body.len == 0);
        CHECK_STR(k.data, "{\"result\":3}");
        http_result_free(&res);
        /* An error answer goes to the body, to be read. */
        memset(&k, 0, sizeof k);
        rc = session_get(s, "busy", &res, &e);
        CHECK(rc == 0 && res.status == 429 && k.calls == 0);
        session_error_message(&res, msg, sizeof msg);
        CHECK_STR(msg, "Too many requests.");
        http_result_free(&res);
        /* The bound holds for a sunk body; under it, its Content-Length
         * reserves no buffer (the body never comes there). */
        rc = session_get(s, "big", &res, &e);
        CHECK(rc == ERR_LIMIT && strstr(e.msg, "larger than 50000 bytes") != NULL && k.calls == 0);
        http_result_free(&res);
        session_set_max_response(s, 200000);
        rc = session_get(s, "big", &res, &e);
        CHECK(rc == 0 && res.status == 200 && k.total == 99999 && res.body.cap == 0);
        http_result_free(&res);
        /* A sink that refuses stops the transfer: still an answer, the
         * sink's to judge. */
        memset(&k, 0, sizeof k);
        k.refuse_after = 1;
        rc = session_get(s, "big", &res, &e);
        CHECK(rc == 0 && res.status == 200 && k.calls == 1 && k.total < 99999);
        http_result_free(&res);
        session_set_max_response(s, 0);
        session_set_sink(s, NULL);
        rc = session_get(s, "ok", &res, &e);
        CHECK(rc == 0 && res.status == 200);
        CHECK_STR(res.body.data, "{\"result\":3}");
        http_result_free(&res);
    }

    session_destroy(s);
    s = NULL;

    /* A transport failure carries curl's message, never the token. */
    MHD_stop_daemon(d);
    d = NULL;
    o.endpoint = base;
    rc = session_create(&o, &s, &e);
    CHECK(rc == 0);
    if (rc == 0) {
        rc = session_get(s, "ok", &res, &e);
        CHECK(rc == ERR_HTTP);
        CHECK(res.status == 0);
        CHECK(strstr(e.msg, "127.0.0.1") != NULL);
        CHECK(strstr(e.msg, "test-token-123456") == NULL);
        http_result_free(&res);
    }
out:
    session_destroy(s);
    auth_destroy(tp);
    if (d)
        MHD_stop_daemon(d);
    return CHECK_DONE();
}
