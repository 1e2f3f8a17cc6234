/*
 * backoff_request (core/backoff.c), the retried one-shot request of the
 * credential check, getInfo and the algorithm list, against a small
 * libmicrohttpd server in this file whose answers are scripted per
 * request: transient answers are asked again until one is not, at most
 * BACKOFF_QUERY_TRIES requests in all; any other answer ends it at once; a
 * Retry-After is waited for; body NULL is a GET.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/auth.h"
#include "core/backoff.h"
#include "core/session.h"
#include "util/timeutil.h"

/* The status of each answer in turn (0 ends the script: 200 from then on)
 * and a Retry-After for the first one, when retry_after is set. */
static int script[16];
static const char *retry_after;
static int requests;
static char method[16];

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *m,
                              const char *version, const char *data, size_t *size, void **state)
{
    static const char err[] = "{\"error\":{\"code\":503,\"message\":\"Try again.\",\"status\":\"UNAVAILABLE\"}}";
    struct MHD_Response *r;
    int status, n;
    enum MHD_Result ret;

    (void)cls;
    (void)url;
    (void)version;
    (void)data;
    if (*state == NULL) {
        *state = (void *)1;
        return MHD_YES;
    }
    if (*size) {
        *size = 0;
        return MHD_YES;
    }
    n = __atomic_fetch_add(&requests, 1, __ATOMIC_SEQ_CST);
    snprintf(method, sizeof method, "%s", m);
    status = n < 16 && script[n] ? script[n] : 200;
    r = status == 200 ? MHD_create_response_from_buffer(12, (void *)"{\"result\":1}", MHD_RESPMEM_PERSISTENT)
                      : MHD_create_response_from_buffer(sizeof err - 1, (void *)err, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json; charset=UTF-8");
    if (n == 0 && retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void play(const int *statuses, size_t n, const char *ra)
{
    memset(script, 0, sizeof script);
    memcpy(script, statuses, n * sizeof *statuses);
    retry_after = ra;
    requests = 0;
    method[0] = '\0';
}

int main(void)
{
    struct MHD_Daemon *d;
    struct session_opts o;
    struct session *s = NULL;
    struct token_provider *tp = NULL;
    struct http_result res;
    struct errbuf e;
    char base[64];
    int64_t t0;

    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, NULL,
                         MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    CHECK(d != NULL);
    if (!d)
        return CHECK_DONE();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    memset(&o, 0, sizeof o);
    CHECK(auth_static_create("test-token-123456", &tp, &e) == 0);
    o.endpoint = base;
    o.project = "p";
    o.auth = tp;
    if (session_create(&o, &s, &e) != 0) {
        CHECK(!"session_create");
        goto out;
    }

    /* Two transient answers, then the answer. */
    play((const int[]){503, 502}, 2, NULL);
    CHECK(backoff_request(s, "value:compute", "{}", 2, &res, &e) == 0);
    CHECK(res.status == 200 && requests == 3 && strcmp(method, "POST") == 0);
    http_result_free(&res);

    /* Not transient: returned at once, as it is. */
    play((const int[]){404}, 1, NULL);
    CHECK(backoff_request(s, "value:compute", "{}", 2, &res, &e) == 0);
    CHECK(res.status == 404 && requests == 1);
    http_result_free(&res);
    play((const int[]){501, 503}, 2, NULL);
    CHECK(backoff_request(s, "algorithms", NULL, 0, &res, &e) == 0);
    CHECK(res.status == 501 && requests == 1 && strcmp(method, "GET") == 0);
    http_result_free(&res);

    /* Retry-After: 2 is longer than the first retry's jitter (at most
     * 0.5 s): it is waited for. */
    play((const int[]){429}, 1, "2");
    t0 = time_mono_ms();
    CHECK(backoff_request(s, "value:compute", "{}", 2, &res, &e) == 0);
    CHECK(res.status == 200 && requests == 2);
    CHECK(time_mono_ms() - t0 >= 2000);
    http_result_free(&res);

    /* Transient every time: the last answer after BACKOFF_QUERY_TRIES
     * requests (and at most the five spans, 15.5 s, of waiting). */
    play((const int[]){503, 503, 503, 503, 503, 503, 503, 503}, 8, NULL);
    t0 = time_mono_ms();
    CHECK(backoff_request(s, "value:compute", "{}", 2, &res, &e) == 0);
    CHECK(res.status == 503 && requests == BACKOFF_QUERY_TRIES);
    CHECK(time_mono_ms() - t0 < 15500 + 5000);
    http_result_free(&res);

out:
    session_destroy(s);
    auth_destroy(tp);
    MHD_stop_daemon(d);
    return CHECK_DONE();
}
