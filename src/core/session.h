/*
 * One EE session: base URL + API version + project + token provider + its own
 * curl easy handle (keep-alive). A session belongs to one thread at a time;
 * each worker owns one. Only this module (and auth's token fetches) use curl.
 */
#ifndef EEFETCH_CORE_SESSION_H
#define EEFETCH_CORE_SESSION_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct token_provider;   /* core/auth.h */

struct session_opts {
    const char *endpoint;            /* base URL without version, e.g. "https://earthengine.googleapis.com" */
    const char *version;             /* "v1" (default), "v1beta", "v1alpha" */
    const char *project;             /* sent in the path and as X-Goog-User-Project */
    struct token_provider *auth;     /* NULL: no Authorization header */
    long timeout_ms;                 /* whole-request timeout; 0 = none */
    size_t max_response;             /* bound on a response body; 0 = 256 MiB */
    /* An answer that has started (its first byte arrived) and then brings
     * fewer than low_speed_bytes in any low_speed_s seconds is abandoned
     * (ERR_HTTP, "stalled"). 0: SESSION_LOW_SPEED_BYTES / _S. The wait for
     * the first byte (EE computing) is bounded by timeout_ms only. */
    long low_speed_bytes, low_speed_s;
    /* Polled while a transfer runs (at least once a second): a non-zero
     * answer cancels it and session_post/get return ERR_INTERRUPTED, so a
     * fatal error or a stop elsewhere does not wait for requests in flight.
     * NULL: never cancelled. Called on the session's thread. */
    int (*should_abort)(void *ud);
    void *abort_ud;
};

#define SESSION_LOW_SPEED_BYTES 1024
#define SESSION_LOW_SPEED_S 30

struct http_result {
    long status;                     /* HTTP status, 0 when no answer */
    struct buf body;
    long retry_after_s;              /* Retry-After header, -1 when absent */
    char content_type[128];
    char crc32c[16];                 /* Cloud Storage's x-goog-hash crc32c= (base64), "" when absent */
    char content_range[96];          /* Content-Range header, "" when absent */
};

struct session;

int session_create(const struct session_opts *o, struct session **out, struct errbuf *e);
void session_destroy(struct session *s);

/* POST {endpoint}/{version}/projects/{project}/{path} with a JSON body.
 * path is e.g. "value:compute" or "image:computePixels". Returns 0 when an
 * HTTP answer arrived (any status; res->status says which), ERR_HTTP on a
 * transport failure (message in e), ERR_INTERRUPTED when should_abort
 * cancelled it. res->body is (re)initialised here and
 * must be freed with http_result_free. A 401 refreshes the token once and
 * retries once. */
int session_post(struct session *s, const char *path, const char *json, size_t len,
                 struct http_result *res, struct errbuf *e);
/* The same, writing the answer into res->body's existing buffer (res->body
 * must be initialized: buf_init, buf_init_aligned or kept from an earlier
 * call): callers that make many requests avoid mapping fresh memory for
 * every answer. */
int session_post_reuse(struct session *s, const char *path, const char *json, size_t len,
                       struct http_result *res, struct errbuf *e);
/* GET {endpoint}/{version}/{path}; path may start with "projects/...". */
int session_get(struct session *s, const char *path, struct http_result *res, struct errbuf *e);

/* A request to any URL (Cloud Storage's JSON API lives beside EE's, not
 * under its version; an operation's name is a path of its own). method is
 * "GET", "POST" (with json) or "DELETE". extra_header (e.g. "Range: bytes=0-99"), when
 * not NULL, is sent as well. Same answer, token and 401 rules as
 * session_post; the URL must pass session_check_url's rule. */
int session_request_url(struct session *s, const char *method, const char *url, const char *json, size_t len, const char *extra_header,
                        struct http_result *res, struct errbuf *e);
/* The session's base URL (without a trailing '/') and API version. */
const char *session_base(const struct session *s);
const char *session_version(const struct session *s);

void http_result_free(struct http_result *res);

/* The bound on the body of the session's next answers (decoded: a gzip
 * body counts as it inflates); 0 restores the session's max_response. A
 * larger Content-Length is refused before any of the body is read; a body
 * that grows past it is cut. Both give ERR_LIMIT. The tile engine sets it
 * per request from the tile's expected size. */
void session_set_max_response(struct session *s, size_t max);

/* Where the body of a 200 answer goes instead of res->body: write is given
 * each part as it arrives, in order (decoded, when the answer is
 * compressed), so that a large answer can be consumed without being held
 * whole. A non-zero return from write abandons the transfer, and the
 * request returns 0 with status 200 all the same: the sink knows what was
 * wrong. Answers of any other status (an error body to read) go to
 * res->body as always, and the bound of session_set_max_response holds for
 * a sunk body too (ERR_LIMIT). The sink (copied) serves every request of
 * the session until set again; NULL: none. */
struct session_sink {
    int (*write)(void *ud, const void *data, size_t n);
    void *ud;
};
void session_set_sink(struct session *s, const struct session_sink *sink);

/* Checks that a URL may carry credentials: https anywhere, plain http only
 * for loopback hosts (127.0.0.0/8, ::1, localhost). 0 or ERR_USAGE. */
int session_check_url(const char *url, struct errbuf *e);
/* 1 when the URL's host is 127.0.0.0/8, ::1 or localhost. */
int session_url_is_loopback(const char *url);

/* Hosts never reached through a proxy (loopback plus NO_PROXY), for every
 * curl handle eefetch makes; the first call also runs curl_global_init. */
const char *session_no_proxy(void);

/* Extracts EE's error.message from a JSON error body into out (or copies
 * a prefix of the raw body when it is not EE's shape). */
void session_error_message(const struct http_result *res, char *out, size_t cap);

#endif
