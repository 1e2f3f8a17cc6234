/*
 * Cloud Storage reads for batch exports (docs/export.md): listing the
 * objects under a prefix and downloading one object with parallel ranged
 * reads, checked against its size and CRC32C before it is renamed into
 * place. Speaks the JSON API (/storage/v1/b/{bucket}/o...) with the same
 * credentials as Earth Engine; the emulator serves it at its own base.
 */
#ifndef EEFETCH_CORE_GCS_H
#define EEFETCH_CORE_GCS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/session.h"
#include "util/err.h"

#define GCS_ENDPOINT "https://storage.googleapis.com"
#define GCS_RANGE_BYTES ((size_t)8 << 20)   /* bytes per ranged read */
#define GCS_CONNECTIONS 4                   /* ranged reads of one object at once */
#define GCS_MAX_RETRIES 6                   /* transient failures per range */

struct gcs_object {
    char name[1024];
    uint64_t size;
    char crc32c[16];     /* base64, as the JSON API gives it; "" when absent */
};

/* The JSON API's base for an EE endpoint: Google's storage host for
 * Google's EE endpoints, else the endpoint itself (the emulator serves
 * both). Returns 0 or -1 when out does not hold it. */
int gcs_base_for(const char *ee_endpoint, char *out, size_t cap);

/* Splits "gs://bucket/prefix" (prefix may be empty; a trailing '/' is
 * kept off). 0 or ERR_USAGE with what is wrong. */
int gcs_parse_uri(const char *uri, char *bucket, size_t bcap, char *prefix, size_t pcap, struct errbuf *e);

/* Percent-encodes s for a URL path segment or query value (everything but
 * unreserved characters). 0 or -1 when out is too small. */
int gcs_urlencode(const char *s, char *out, size_t cap);

/* Every object whose name starts with prefix, all pages. *out is malloc'd
 * (free it); ERR_SERVER / ERR_HTTP / ERR_PARSE with the answer's message. */
int gcs_list(struct session *s, const char *base, const char *bucket, const char *prefix, struct gcs_object **out,
             size_t *n, struct errbuf *e);

struct gcs_get_opts {
    const struct session_opts *so;   /* each connection makes its own session */
    const char *base;
    int connections;                 /* 0: GCS_CONNECTIONS */
    size_t range_bytes;              /* 0: GCS_RANGE_BYTES */
    int backoff_ms;                  /* the back-off's base; 0: BACKOFF_GCS_BASE_MS (backoff.h) */
    volatile sig_atomic_t *stop;     /* may be NULL */
    uint64_t *bytes;                 /* may be NULL: bytes received, added atomically */
};

/* Downloads obj to dest: ranges are written into dest.partial at their
 * offsets and recorded in dest.ranges once durable, so a later call
 * (after a kill or a stop) fetches only the ranges still missing. The
 * whole file is then checked (size and CRC32C when obj has one), fsync'd
 * and renamed to dest. A range cut short is continued from where it
 * stopped. 0, ERR_INTERRUPTED, or an error naming the object. */
int gcs_download(const struct gcs_get_opts *o, const char *bucket, const struct gcs_object *obj, const char *dest,
                 struct errbuf *e);

/* Deletes one object (204/200, or 404: already gone). */
int gcs_delete(struct session *s, const char *base, const char *bucket, const char *name, struct errbuf *e);

#endif
