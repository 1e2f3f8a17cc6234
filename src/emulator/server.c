/*
 * The emulator's HTTP layer: a libmicrohttpd daemon with one thread per
 * connection (so a request sleeping for its modelled server time never
 * delays another), keep-alive, EE routing, the auth hook, the per-project
 * concurrency quota, fault injection, latency and the request log.
 * Handlers (handlers.h) never see the socket.
 */
#include "emulator/emu.h"

#include <arpa/inet.h>
#include <gdal.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "emulator/assets.h"
#include "emulator/discovery.h"
#include "emulator/export.h"
#include "emulator/faults.h"
#include "emulator/handlers.h"
#include "emulator/reqlog.h"
#include "emulator/router.h"
#include "emulator/thumbstore.h"
#include "util/ee.h"
#include "util/log.h"
#include "util/timeutil.h"

/* EE's request payload limit (ee-api.md §5). */
#define EMU_MAX_PAYLOAD 10485760u
/* Deeply nested expressions are legal; json-c's default depth (32) is not enough. */
/* Stack of each connection's thread. Rendering walks an image's node tree
 * recursively, and a chain of thousands of calls (many named values, legal
 * in EE) makes a tree that tall: render_check_depth bounds the height
 * (RENDER_MAX_DEPTH) to what this stack holds, sanitizer builds included.
 * Only the pages a request touches are ever committed. */
#define EMU_THREAD_STACK ((size_t)64 << 20)

struct emu {
    struct MHD_Daemon *daemon;
    struct emu_config cfg;            /* string fields point at the copies below */
    char *bind, *request_log, *projects, *credentials_dir, *bucket_dir;
    struct catalog *cat;
    struct emu_auth *auth;
    struct discovery *disc;           /* the REST discovery document and its method table */
    struct emu_ctx ctx;
    struct thumb_store *thumbs;       /* thumbnail and map ids */
    struct export_queue *exports;     /* batch export tasks and their workers */
    struct quota quota;
    int quota_ready;
    struct reqlog *log;
    struct buf algorithms;            /* the rendered algorithms.list answer */
    int port;
    char base_url[96];
    atomic_uint_fast64_t requests;    /* request counter for the fault generator */
    atomic_int stopping;
};

/* Per-request state, kept by MHD between callbacks. */
struct conn_req {
    struct emu *s;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    struct route rt;
    enum route_result match;
    struct buf body;
    int oversize;                     /* body passed EMU_MAX_PAYLOAD: discarded */
    double t0;                        /* arrival, monotonic ms */
    int quota_held;
    int preflight;                    /* a browser's CORS preflight (OPTIONS) */
    char quota_project[ROUTE_MAX_PROJECT];   /* whose concurrency slot is held */
};

/* A truncated body: Content-Length promises len bytes, only cut are sent.
 * The bytes are data, or (data NULL) the file fd from offset off. */
struct trunc_body {
    char *data;
    size_t len, cut;
    int fd;
    uint64_t off;
};

/* Monotonic milliseconds with sub-millisecond resolution, for the log. */
static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void emu_config_default(struct emu_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bind = "127.0.0.1";
    cfg->concurrency_limit = EE_CONCURRENT_QUOTA;
    cfg->token_lifetime_s = 3600;
    cfg->export_running_limit = 2;
    cfg->export_pending_limit = 3000;
}

int emu_port(const struct emu *s)
{
    return s ? s->port : 0;
}

const char *emu_base_url(const struct emu *s)
{
    return s ? s->base_url : "";
}

/* ---- request helpers handed to handlers ---------------------------------------------- */

static const char *req_query(const struct emu_request *q, const char *key)
{
    const struct conn_req *cr = q->conn;
    return MHD_lookup_connection_value(cr->conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *req_header(const struct emu_request *q, const char *name)
{
    const struct conn_req *cr = q->conn;
    return MHD_lookup_connection_value(cr->conn, MHD_HEADER_KIND, name);
}

/* ---- answering ----------------------------------------------------------------------- */

static ssize_t trunc_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct trunc_body *t = cls;
    size_t n;

    if (pos >= t->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;   /* closes the connection mid-body */
    n = t->cut - (size_t)pos;
    if (n > max)
        n = max;
    if (!t->data) {
        ssize_t got = pread(t->fd, out, n, (off_t)(t->off + pos));
        return got > 0 ? got : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    memcpy(out, t->data + pos, n);
    return (ssize_t)n;
}

static void trunc_free(void *cls)
{
    struct trunc_body *t = cls;
    free(t->data);
    if (!t->data && t->fd >= 0)
        close(t->fd);
    free(t);
}

/* ---- CORS ---------------------------------------------------------------------------- */

/* The JS client in a web page sends Authorization and other non-simple
 * headers, so the browser asks first (a preflight: OPTIONS with Origin and
 * Access-Control-Request-Method, no credentials) and then reads an answer
 * only if it names the page's origin. EE's front end answers any origin;
 * so does the emulator. */
#define CORS_METHODS "DELETE,GET,HEAD,PATCH,POST,PUT"
#define CORS_HEADERS "authorization,content-type,x-goog-api-client,x-goog-user-project"
/* EE's response headers the JS client reads, besides the safelisted ones. */
#define CORS_EXPOSE                                                                     \
    "Content-Disposition,Retry-After,X-Earth-Engine-Computation-Profile,"                \
    "X-Earth-Engine-Quota-Status,X-Earth-Engine-Init-Message,Content-Range,x-goog-hash,"       \
    "x-goog-generation"

static int is_preflight(struct MHD_Connection *conn, const char *method)
{
    return strcmp(method, "OPTIONS") == 0 &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin") &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_ACCESS_CONTROL_REQUEST_METHOD);
}

/* Adds the CORS headers a request with an Origin gets (none without one). */
static void cors_headers(const struct conn_req *cr, struct MHD_Response *resp)
{
    const char *origin = MHD_lookup_connection_value(cr->conn, MHD_HEADER_KIND, "Origin");
    const char *asked;

    if (!origin)
        return;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    if (!cr->preflight) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_EXPOSE_HEADERS, CORS_EXPOSE);
        return;
    }
    /* Whatever headers the page asks for may be sent, as EE allows. */
    asked = MHD_lookup_connection_value(cr->conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_ACCESS_CONTROL_REQUEST_HEADERS);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_HEADERS,
                            asked && *asked ? asked : CORS_HEADERS);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_MAX_AGE, "3600");
}

/* Queues r's body; takes the body buffer (or the file). Returns MHD's result. */
static enum MHD_Result send_answer(struct conn_req *cr, struct emu_response *r,
                                   const struct fault_plan *fp, const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t len = r->body.len;
    char *data = len && !r->has_file ? buf_steal(&r->body, &len) : NULL;
    int i;

    if (r->has_file) {
        int fd = r->fd;
        r->has_file = 0;   /* the response (or trunc_free) closes fd from here on */
        if (fp->kind == FAULT_TRUNCATE && r->fd_len > 0) {
            struct trunc_body *t = calloc(1, sizeof *t);
            if (!t) {
                close(fd);
                return MHD_NO;
            }
            t->fd = fd;
            t->off = r->fd_off;
            t->len = (size_t)r->fd_len;
            t->cut = (size_t)((double)r->fd_len * fp->cut);
            resp = MHD_create_response_from_callback(t->len, 64 * 1024, trunc_read, t,
                                                     trunc_free);
            if (!resp)
                trunc_free(t);
        } else if (r->fd_len == 0) {
            close(fd);
            resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        } else {
            resp = MHD_create_response_from_fd_at_offset64(r->fd_len, fd, r->fd_off);
            if (!resp)
                close(fd);
        }
    } else if (fp->kind == FAULT_TRUNCATE && len > 0) {
        struct trunc_body *t = calloc(1, sizeof *t);
        if (!t) {
            free(data);
            return MHD_NO;
        }
        t->data = data;
        t->fd = -1;
        t->len = len;
        t->cut = (size_t)((double)len * fp->cut);
        resp = MHD_create_response_from_callback(len, 64 * 1024, trunc_read, t, trunc_free);
        if (!resp)
            trunc_free(t);
    } else if (data) {
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(data);
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type[0] ? r->content_type : "application/octet-stream");
    if (r->status == 429)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    for (i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    cors_headers(cr, resp);
    ret = MHD_queue_response(cr->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The message of an EE error body, for the request log. */
static void error_message(const struct emu_response *r, char *out, size_t cap)
{
    json_object *top, *err, *msg;

    out[0] = '\0';
    if (r->status < 400 || !r->body.data)
        return;
    top = json_tokener_parse(r->body.data);
    if (top && json_object_object_get_ex(top, "error", &err) &&
        json_object_object_get_ex(err, "message", &msg))
        snprintf(out, cap, "%s", json_object_get_string(msg));
    json_object_put(top);
}

static void log_request(struct conn_req *cr, uint64_t id, const struct emu_response *r,
                        const struct fault_plan *fp, json_object *body)
{
    struct reqlog_entry en;
    char msg[512];

    if (log_get_level() <= LOG_DEBUG)
        log_debug("emulator: #%llu %s %s -> %d, %zu bytes, %.1f ms%s%s",
                  (unsigned long long)id, cr->method, cr->path,
                  fp->kind == FAULT_RESET ? 0 : r->status, r->body.len, mono_ms() - cr->t0,
                  fp->kind != FAULT_NONE ? ", fault " : "",
                  fp->kind != FAULT_NONE ? fault_name(fp->kind) : "");
    if (!cr->s->log)
        return;
    error_message(r, msg, sizeof msg);
    memset(&en, 0, sizeof en);
    en.id = id;
    en.method = cr->method;
    en.path = cr->path;
    en.route = router_name(cr->rt.kind);
    en.project = cr->rt.project[0] ? cr->rt.project : NULL;
    en.billed = cr->quota_project[0] ? cr->quota_project : NULL;
    en.asset = cr->rt.asset[0] ? cr->rt.asset : NULL;
    en.status = fp->kind == FAULT_RESET ? 0 : r->status;
    en.bytes = r->has_file ? (int64_t)r->fd_len : (int64_t)r->body.len;
    en.sent_bytes = fp->kind == FAULT_RESET ? 0
                    : fp->kind == FAULT_TRUNCATE ? (int64_t)((double)en.bytes * fp->cut)
                                                 : en.bytes;
    en.ms = mono_ms() - cr->t0;
    en.fault = fault_name(fp->kind);
    en.request = body;
    en.message = msg[0] ? msg : NULL;
    reqlog_write(cr->s->log, &en);
}

/* Sleeps ms in short steps so that emu_stop is never held up for long. */
static void sleep_interruptible(struct emu *s, double ms)
{
    int64_t end = time_mono_ms() + (int64_t)ms;

    while (!atomic_load(&s->stopping)) {
        int64_t left = end - time_mono_ms();
        if (left <= 0)
            break;
        time_sleep_ms(left < 20 ? left : 20);
    }
}

/* Parses an EE POST body. Fills r with EE's 400 and returns -1 on bad JSON. */
static int parse_body(struct conn_req *cr, json_object **out, struct emu_response *r)
{
    json_tokener *tok;
    json_object *obj;
    enum json_tokener_error jerr;
    size_t end, i;

    *out = NULL;
    if (cr->body.len == 0) {
        *out = json_object_new_object();   /* an empty body is an empty request */
        return *out ? 0 : (emu_error(r, 500, "An internal error has occurred."), -1);
    }
    tok = json_tokener_new_ex(EMU_JSON_DEPTH);
    if (!tok) {
        emu_error(r, 500, "An internal error has occurred.");
        return -1;
    }
    obj = json_tokener_parse_ex(tok, cr->body.data, (int)cr->body.len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue) {
        emu_error(r, 400, "Invalid JSON payload received. Unexpected end of input at offset %zu.",
                  cr->body.len);
        return -1;
    }
    if (jerr == json_tokener_error_depth) {
        /* Only an expression nests this deep; EE names its limit. */
        emu_error(r, 400, "Expression nesting is too deep (more than 100 levels).");
        return -1;
    }
    if (jerr != json_tokener_success) {
        emu_error(r, 400, "Invalid JSON payload received. %s at offset %zu.",
                  json_tokener_error_desc(jerr), end ? end - 1 : 0);
        return -1;
    }
    for (i = end; i < cr->body.len; i++)
        if (!strchr(" \t\r\n", cr->body.data[i])) {
            json_object_put(obj);
            emu_error(r, 400, "Invalid JSON payload received. Unexpected token after the "
                              "value at offset %zu.", i);
            return -1;
        }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        emu_error(r, 400, "Invalid JSON payload received. Expected an object at offset 0.");
        return -1;
    }
    *out = obj;
    return 0;
}

static int call_route(struct emu *s, const struct emu_request *q, struct emu_response *r,
                      enum route_kind kind)
{
    switch (kind) {
    case ROUTE_TOKEN: return handle_token(&s->ctx, q, r);
    case ROUTE_METADATA_TOKEN: return handle_metadata_token(&s->ctx, q, r);
    case ROUTE_ALGORITHMS:
        r->status = 200;
        snprintf(r->content_type, sizeof r->content_type, "application/json; charset=UTF-8");
        if (buf_append(&r->body, s->algorithms.data, s->algorithms.len) != 0)
            emu_error(r, 500, "An internal error has occurred.");
        return 0;
    case ROUTE_COMPUTE_PIXELS: return handle_compute_pixels(&s->ctx, q, r);
    case ROUTE_VALUE_COMPUTE: return handle_value_compute(&s->ctx, q, r);
    case ROUTE_GET_PIXELS: return handle_get_pixels(&s->ctx, q, r);
    case ROUTE_ASSET_GET: return handle_asset_get(&s->ctx, q, r);
    case ROUTE_LIST_IMAGES: return handle_list_images(&s->ctx, q, r);
    case ROUTE_LIST_ASSETS: return handle_list_assets(&s->ctx, q, r);
    case ROUTE_THUMB_CREATE: return handle_thumbnail_create(&s->ctx, q, r);
    case ROUTE_THUMB_PIXELS: return handle_thumbnail_pixels(&s->ctx, q, r);
    case ROUTE_MAP_CREATE: return handle_map_create(&s->ctx, q, r);
    case ROUTE_MAP_TILE: return handle_map_tile(&s->ctx, q, r);
    case ROUTE_IMAGE_EXPORT: return handle_image_export(&s->ctx, q, r);
    case ROUTE_OPERATION_GET: return handle_operation_get(&s->ctx, q, r);
    case ROUTE_OPERATION_LIST: return handle_operation_list(&s->ctx, q, r);
    case ROUTE_OPERATION_CANCEL: return handle_operation_cancel(&s->ctx, q, r);
    case ROUTE_STORAGE_LIST: return handle_storage_list(&s->ctx, q, r);
    case ROUTE_STORAGE_GET:
    case ROUTE_STORAGE_MEDIA: return handle_storage_get(&s->ctx, q, r);
    case ROUTE_STORAGE_DELETE: return handle_storage_delete(&s->ctx, q, r);
    case ROUTE_DISCOVERY: return handle_discovery(&s->ctx, q, r);
    case ROUTE_UNIMPLEMENTED: return handle_unimplemented(&s->ctx, q, r);
    case ROUTE_NONE: break;
    }
    emu_error(r, 404, "Method not found.");
    return 0;
}

/* The project a request is billed to, as EE does: X-Goog-User-Project when
 * the client sends it (getPixels paths name earthengine-public, the caller's
 * project comes in the header), else the project in the path. */
static void quota_project(const struct conn_req *cr, char *out, size_t cap)
{
    const char *h = MHD_lookup_connection_value(cr->conn, MHD_HEADER_KIND, "X-Goog-User-Project");
    snprintf(out, cap, "%s", h && *h ? h : cr->rt.project);
}

/* Answers one complete request (body received). */
static enum MHD_Result dispatch(struct conn_req *cr)
{
    struct emu *s = cr->s;
    struct emu_request q;
    struct emu_response r;
    struct fault_plan fp = {FAULT_NONE, 0.0};
    json_object *body = NULL;
    const char *allow = NULL;
    uint64_t id = atomic_fetch_add(&s->requests, 1);
    int handled = 0;
    int64_t started_ms = 0;
    enum MHD_Result ret;

    memset(&r, 0, sizeof r);
    buf_init(&r.body, 0);
    memset(&q, 0, sizeof q);
    q.method = cr->method;
    q.path = cr->path;
    q.method_id = cr->rt.method_id[0] ? cr->rt.method_id : NULL;
    q.version = cr->rt.version[0] ? cr->rt.version : NULL;
    q.project = cr->rt.project[0] ? cr->rt.project : NULL;
    q.asset = cr->rt.asset[0] ? cr->rt.asset : NULL;
    q.verb = cr->rt.verb[0] ? cr->rt.verb : NULL;
    q.body = cr->body.data;
    q.body_len = cr->body.len;
    q.query = req_query;
    q.header = req_header;
    q.conn = cr;

    cr->preflight = is_preflight(cr->conn, cr->method);
    if (cr->preflight) {
        /* Before any route, auth, quota or fault: the browser sends no
         * credentials here and only reads the headers. */
        r.status = 200;
        snprintf(r.content_type, sizeof r.content_type, "text/plain; charset=UTF-8");
    } else if (cr->match == ROUTE_NOT_FOUND) {
        emu_error(&r, 404, "The requested URL %s was not found on this server.", cr->path);
    } else if (cr->match == ROUTE_BAD_METHOD) {
        allow = cr->rt.method;
        emu_error(&r, 405, "Method %s is not allowed on %s; use %s.", cr->method, cr->path,
                  cr->rt.method);
    } else if (cr->oversize) {
        emu_error(&r, 400, "Request payload size exceeds the limit: %u bytes.", EMU_MAX_PAYLOAD);
    } else if (!cr->rt.ee) {
        /* Token endpoints: no auth check, quota or faults. */
        if (call_route(s, &q, &r, cr->rt.kind) < 0 && r.status < 400)
            emu_error(&r, 500, "An internal error has occurred.");
    } else if (!cr->rt.open && emu_auth_check(&s->ctx, &q, &r) != 0) {
        if (r.status < 400)
            emu_error(&r, 401, "Request is missing required authentication credential.");
    } else if (strcmp(cr->method, "POST") == 0 && parse_body(cr, &body, &r) != 0) {
        /* r holds the 400 */
    } else {
        q.json = body;
        fault_draw(&s->cfg, id, &fp);
        /* Cloud Storage has its own quotas, not EE's concurrency limit. */
        if (!cr->rt.storage)
            quota_project(cr, cr->quota_project, sizeof cr->quota_project);
        if (!cr->rt.storage &&
            quota_acquire(&s->quota, cr->quota_project, s->cfg.concurrency_limit) != 0) {
            fp.kind = FAULT_429;
            emu_error(&r, 429, "Too many concurrent requests for project '%s' (limit %d). "
                               "Quota exceeded; retry later.",
                      cr->quota_project, s->cfg.concurrency_limit);
        } else {
            cr->quota_held = !cr->rt.storage;   /* released when MHD reports completion */
            if (fp.kind == FAULT_429) {
                emu_error(&r, 429, "Quota exceeded for quota metric 'Concurrent requests' and "
                                   "limit 'Concurrent requests per project' of service "
                                   "'earthengine.googleapis.com' for consumer 'project:%s'.",
                          cr->quota_project);
            } else if (fp.kind == FAULT_500) {
                sleep_interruptible(s, s->cfg.latency_base_ms);
                emu_error(&r, 500, "An internal error has occurred.");
            } else if (fp.kind == FAULT_503) {
                sleep_interruptible(s, s->cfg.latency_base_ms);
                emu_error(&r, 503, "The service is currently unavailable.");
            } else {
                handled = 1;
                started_ms = time_mono_ms();
                if (call_route(s, &q, &r, cr->rt.kind) < 0 && r.status < 400)
                    emu_error(&r, 500, "An internal error has occurred.");
            }
        }
    }
    if (r.status == 0)
        emu_error(&r, 500, "An internal error has occurred.");

    if (handled) {
        /* The model is the whole server time: computing the answer counts
         * toward it, and only the rest is slept. */
        double mib = (double)r.body.len / (1024.0 * 1024.0);
        double model = s->cfg.latency_base_ms + s->cfg.latency_per_mib_ms * mib +
                       s->cfg.latency_per_image_ms * (double)r.work_images;
        double spent = (double)(time_mono_ms() - started_ms);
        if (model > spent)
            sleep_interruptible(s, model - spent);
    }
    /* Faults of the transport only make sense for an answer that exists. */
    if (fp.kind == FAULT_TRUNCATE && (r.has_file ? r.fd_len : r.body.len) == 0)
        fp.kind = FAULT_RESET;

    log_request(cr, id, &r, &fp, body);
    if (fp.kind == FAULT_RESET) {
        ret = MHD_NO;   /* MHD closes the connection without an answer */
        if (r.has_file)
            close(r.fd);
    } else {
        ret = send_answer(cr, &r, &fp, allow);
    }
    buf_free(&r.body);
    json_object_put(body);
    return ret;
}

/* ---- MHD callbacks -------------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct emu *s = cls;
    struct conn_req *cr = *con_cls;

    if (!cr) {
        const char *clen;

        cr = calloc(1, sizeof *cr);
        if (!cr)
            return MHD_NO;
        cr->s = s;
        cr->conn = conn;
        cr->t0 = mono_ms();
        snprintf(cr->method, sizeof cr->method, "%s", method);
        cr->path = strdup(url);
        /* The body buffer may hold exactly the limit; one byte more is refused. */
        buf_init(&cr->body, EMU_MAX_PAYLOAD);
        *con_cls = cr;
        if (!cr->path)
            return MHD_NO;
        cr->match = router_match(cr->method, cr->path, &cr->rt);
        /* objects.get with alt=media is a download: named so in the log. */
        if (cr->match == ROUTE_OK && cr->rt.kind == ROUTE_STORAGE_GET) {
            const char *alt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "alt");
            if (alt && strcmp(alt, "media") == 0)
                cr->rt.kind = ROUTE_STORAGE_MEDIA;
        }
        /* A method of the discovery document that no route serves (a path the
         * router does not know, or DELETE/PATCH on an asset it only reads)
         * gets a 400 naming it, not a 404 or 405 the client cannot explain. */
        if (cr->match != ROUTE_OK) {
            struct route alt;
            enum route_result m = discovery_route(s->disc, cr->method, cr->path, &alt);
            if (m == ROUTE_OK || (m == ROUTE_BAD_METHOD && cr->match == ROUTE_NOT_FOUND)) {
                cr->rt = alt;
                cr->match = m;
            }
        }
        clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (clen && strtoull(clen, NULL, 10) > EMU_MAX_PAYLOAD) {
            const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_EXPECT);
            cr->oversize = 1;   /* read and discard: never buffer past the limit */
            /* A client waiting for "100 Continue" gets the refusal instead and
             * never sends the body (MHD then closes the connection). */
            if (expect && strcasecmp(expect, "100-continue") == 0)
                return dispatch(cr);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!cr->oversize && buf_append(&cr->body, upload_data, *upload_size) != 0) {
            cr->oversize = 1;
            buf_free(&cr->body);
            buf_init(&cr->body, EMU_MAX_PAYLOAD);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(cr);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct emu *s = cls;
    struct conn_req *cr = *con_cls;

    if (!cr)
        return;
    if (cr->quota_held)
        quota_release(&s->quota, cr->quota_project);
    buf_free(&cr->body);
    free(cr->path);
    free(cr);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("emulator (microhttpd): %s", msg);
}

/* ---- start / stop ---------------------------------------------------------------------- */

static int copy_config(struct emu *s, const struct emu_config *cfg, struct errbuf *e)
{
    s->cfg = *cfg;
    s->bind = dup_or_null(cfg->bind ? cfg->bind : "127.0.0.1");
    s->request_log = dup_or_null(cfg->request_log);
    s->projects = dup_or_null(cfg->projects);
    s->credentials_dir = dup_or_null(cfg->credentials_dir);
    s->bucket_dir = dup_or_null(cfg->bucket_dir);
    if (!s->bind || (cfg->request_log && !s->request_log) || (cfg->projects && !s->projects) ||
        (cfg->credentials_dir && !s->credentials_dir) || (cfg->bucket_dir && !s->bucket_dir))
        return err_set(e, ERR_NOMEM, "out of memory");
    s->cfg.bucket_dir = s->bucket_dir;
    s->cfg.bind = s->bind;
    s->cfg.request_log = s->request_log;
    s->cfg.projects = s->projects;
    s->cfg.credentials_dir = s->credentials_dir;
    s->cfg.nassets = 0;   /* the assets are loaded into the catalog at start */
    return 0;
}

static int add_local_assets(struct emu *s, const struct emu_config *cfg, struct errbuf *e)
{
    int i;

    for (i = 0; i < cfg->nassets && i < EMU_MAX_ASSETS; i++) {
        char id[512];
        const char *eq = strchr(cfg->assets[i], '=');
        size_t n = eq ? (size_t)(eq - cfg->assets[i]) : 0;

        if (!eq || n == 0 || n >= sizeof id || eq[1] == '\0')
            return err_set(e, ERR_USAGE, "--asset wants ID=PATH, got '%s'", cfg->assets[i]);
        memcpy(id, cfg->assets[i], n);
        id[n] = '\0';
        if (catalog_add_local(s->cat, id, eq + 1, e) != 0)
            return err_prefix(e, ERR_USAGE, "--asset %s: ", id);
    }
    return 0;
}

/* Cheap checks first, so that a bad option fails before the catalog is built. */
static int check_config(const struct emu_config *cfg, const char *bind, struct errbuf *e)
{
    unsigned char addr[sizeof(struct in6_addr)];
    int i;

    if (cfg->port < 0 || cfg->port > 65535)
        return err_set(e, ERR_USAGE, "port %d is out of range", cfg->port);
    if (inet_pton(AF_INET, bind, addr) != 1 && inet_pton(AF_INET6, bind, addr) != 1)
        return err_set(e, ERR_USAGE, "--bind wants a numeric IP address, got '%s'", bind);
    if (cfg->nassets < 0 || cfg->nassets > EMU_MAX_ASSETS)
        return err_set(e, ERR_USAGE, "at most %d local assets", EMU_MAX_ASSETS);
    for (i = 0; i < cfg->nassets; i++) {
        const char *eq = cfg->assets[i] ? strchr(cfg->assets[i], '=') : NULL;
        if (!eq || eq == cfg->assets[i] || eq[1] == '\0')
            return err_set(e, ERR_USAGE, "--asset wants ID=PATH, got '%s'",
                           cfg->assets[i] ? cfg->assets[i] : "");
    }
    return 0;
}

static int start_daemon(struct emu *s, struct errbuf *e)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    int v6 = 0;

    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (s->cfg.port < 0 || s->cfg.port > 65535)
        return err_set(e, ERR_USAGE, "port %d is out of range", s->cfg.port);
    if (inet_pton(AF_INET, s->bind, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->cfg.port);
        sa = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->bind, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->cfg.port);
        sa = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
        v6 = 1;
    } else {
        return err_set(e, ERR_USAGE, "--bind wants a numeric IP address, got '%s'", s->bind);
    }
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,   /* first, so it sees every message */
        MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
        MHD_OPTION_THREAD_STACK_SIZE, EMU_THREAD_STACK,
        MHD_OPTION_END);
    if (!s->daemon)
        return err_set(e, ERR_IO, "cannot listen on %s port %d (address in use or not local?)",
                       s->bind, s->cfg.port);
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : s->cfg.port;
    snprintf(s->base_url, sizeof s->base_url, v6 ? "http://[%s]:%d" : "http://%s:%d", s->bind,
             s->port);
    return 0;
}

int emu_start(const struct emu_config *cfg, struct emu **out, struct errbuf *e)
{
    struct emu *s;
    int rc;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_NOMEM, "out of memory");
    /* Encoders and local assets use GDAL drivers: register them before any
     * server thread exists. */
    GDALAllRegister();
    buf_init(&s->algorithms, 0);
    atomic_init(&s->requests, 0);
    atomic_init(&s->stopping, 0);
    rc = copy_config(s, cfg, e);
    if (rc == 0)
        rc = check_config(cfg, s->bind, e);
    if (rc == 0 && s->request_log)
        rc = reqlog_open(s->request_log, &s->log, e);
    if (rc == 0 && quota_init(&s->quota) != 0)
        rc = err_set(e, ERR_INTERNAL, "cannot create the quota lock");
    if (rc == 0)
        s->quota_ready = 1;
    if (rc == 0)
        rc = catalog_create_until(&s->cat,
                                  cfg->has_catalog_until ? cfg->catalog_until_ms : CATALOG_ALL, e);
    if (rc == 0)
        rc = add_local_assets(s, cfg, e);
    if (rc == 0)
        rc = emu_auth_create(&s->cfg, &s->auth, e);
    if (rc == 0)
        rc = algorithms_render(&s->algorithms, e);
    if (rc == 0 && thumbstore_create(&s->thumbs, 0) != 0)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = discovery_create(&s->disc, e);
    if (rc == 0)
        rc = export_create(&s->cfg, s->cat, &s->exports, e);
    if (rc == 0) {
        s->ctx.thumbs = s->thumbs;
        s->ctx.exports = s->exports;
        s->ctx.cat = s->cat;
        s->ctx.cfg = &s->cfg;
        s->ctx.auth = s->auth;
        s->ctx.base_url = s->base_url;   /* filled by start_daemon, before any request */
        rc = start_daemon(s, e);
    }
    if (rc != 0) {
        emu_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

int emu_write_credentials(struct emu *s, const char *dir, struct errbuf *e)
{
    return emu_auth_write_credentials(s->auth, dir, s->base_url, e);
}

void emu_stop(struct emu *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);   /* joins every connection thread */
    export_destroy(s->exports);       /* before the catalog its workers read */
    reqlog_close(s->log);
    if (s->auth)
        emu_auth_destroy(s->auth);
    if (s->cat)
        catalog_destroy(s->cat);
    thumbstore_destroy(s->thumbs);
    if (s->quota_ready)
        quota_destroy(&s->quota);
    buf_free(&s->algorithms);
    discovery_destroy(s->disc);
    free(s->bind);
    free(s->request_log);
    free(s->projects);
    free(s->credentials_dir);
    free(s->bucket_dir);
    free(s);
}
