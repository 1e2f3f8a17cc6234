/*
 * The contract between the HTTP layer (server.c: routing, auth, quotas,
 * faults, logging) and the endpoint handlers. A handler reads a parsed
 * request and fills a response; it never touches the socket.
 */
#ifndef EEFETCH_EMULATOR_HANDLERS_H
#define EEFETCH_EMULATOR_HANDLERS_H

/* The deepest JSON body the server parses (the depth limit of EE's expressions
 * is checked separately, at 100 levels). */
#define EMU_JSON_DEPTH 512

#include <json-c/json.h>
#include <stdint.h>

#include "emulator/catalog.h"
#include "emulator/emu.h"
#include "util/buf.h"

struct emu_auth;   /* token state, src/emulator/auth_server.c; internally locked */
struct thumb_store; /* thumbnail and map ids, src/emulator/thumbstore.c; internally locked */
struct export_queue; /* batch export tasks, src/emulator/export.c; internally locked */

/* Shared state handlers may use; only `auth` and `thumbs` are mutable (and
 * thread-safe). */
struct emu_ctx {
    const struct catalog *cat;
    const struct emu_config *cfg;
    struct emu_auth *auth;
    struct thumb_store *thumbs;
    struct export_queue *exports;
    const char *base_url;   /* "http://127.0.0.1:PORT", where the server listens */
};

struct emu_request {
    const char *method;    /* "GET", "POST" */
    const char *path;      /* decoded path, no query string */
    const char *version;   /* "v1", "v1beta", "v1alpha" */
    const char *project;   /* from the path; may be NULL for non-project routes */
    const char *asset;     /* asset id after ".../assets/" (without :verb) */
    const char *verb;      /* custom verb after ':' or NULL */
    const char *method_id; /* discovery method id of an unimplemented route, or NULL */
    const char *body;      /* raw body (NUL-terminated) or NULL */
    size_t body_len;
    json_object *json;     /* parsed body for POST, or NULL */
    /* Query parameter / header look-ups (NULL when absent). */
    const char *(*query)(const struct emu_request *r, const char *key);
    const char *(*header)(const struct emu_request *r, const char *name);
    void *conn;            /* server private */
};

#define EMU_MAX_HEADERS 6

struct emu_response {
    int status;                /* HTTP status */
    char content_type[64];
    struct buf body;
    /* Extra response headers (emu_add_header). */
    struct {
        char name[40];
        char value[200];
    } headers[EMU_MAX_HEADERS];
    int nheaders;
    /* A body read from a file instead of `body` (has_file; the server closes
     * fd): fd_len bytes from offset fd_off. */
    int has_file, fd;
    uint64_t fd_off, fd_len;
    /* Work accounting for the latency and memory models. */
    int64_t work_images;       /* images read or reduced */
    int64_t work_bytes;        /* bytes of pixels computed */
};

/* Fills r with EE's JSON error body {"error":{"code","message","status"}}.
 * The status name follows the HTTP code (400 INVALID_ARGUMENT, ...). */
void emu_error(struct emu_response *r, int http, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a response header (ignored past EMU_MAX_HEADERS). */
void emu_add_header(struct emu_response *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fills r with a JSON body (takes ownership of obj). */
void emu_json(struct emu_response *r, int http, json_object *obj);
/* Checks the optional "workloadTag" of a request body against EE's rule
 * (a string matching ([a-z0-9]|[a-z0-9][-_a-z0-9]{0,61}[a-z0-9]); empty is
 * allowed and ignored). Returns 0, or fills r with a 400 and returns -1. */
int emu_check_workload_tag(json_object *body, struct emu_response *r);
/* The canonical status name for an HTTP code. */
const char *emu_status_name(int http);

/* Pixel and value endpoints (src/emulator/handlers_*.c). */
int handle_compute_pixels(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r);
int handle_get_pixels(const struct emu_ctx *c, const struct emu_request *q,
                      struct emu_response *r);
int handle_value_compute(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r);

/* Thumbnails and maps (src/emulator/handlers_thumbs.c). The id of
 * getPixels and tiles is in q->asset; tiles' "z/x/y" in q->verb. */
int handle_thumbnail_create(const struct emu_ctx *c, const struct emu_request *q,
                            struct emu_response *r);
int handle_thumbnail_pixels(const struct emu_ctx *c, const struct emu_request *q,
                            struct emu_response *r);
int handle_map_create(const struct emu_ctx *c, const struct emu_request *q,
                      struct emu_response *r);
int handle_map_tile(const struct emu_ctx *c, const struct emu_request *q,
                    struct emu_response *r);

/* Names of the algorithms the evaluator implements (NULL-terminated), used to
 * filter the served algorithm list. */
const char *const *eval_function_names(void);

/* Authentication (src/emulator/auth_server.c).
 * emu_auth_check returns 0 when the request may proceed, or fills r (401/403)
 * and returns -1. handle_token serves POST /token (both OAuth grants);
 * handle_metadata_token serves the metadata-server token path. */
int emu_auth_create(const struct emu_config *cfg, struct emu_auth **out, struct errbuf *e);
void emu_auth_destroy(struct emu_auth *a);
/* `serve --write-credentials DIR`: writes a service-account key, an
 * authorized_user file and an EE credentials file that this server trusts,
 * pointing their token URIs at base_url. */
int emu_auth_write_credentials(struct emu_auth *a, const char *dir, const char *base_url,
                               struct errbuf *e);
int emu_auth_check(const struct emu_ctx *c, const struct emu_request *q,
                   struct emu_response *r);
int handle_token(const struct emu_ctx *c, const struct emu_request *q,
                 struct emu_response *r);
int handle_metadata_token(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r);

#endif
