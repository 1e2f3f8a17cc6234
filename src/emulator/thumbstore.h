/*
 * Thumbnail and map ids (thumbnails.create, maps.create). An id stands for
 * the request body it was created from; getPixels and tile requests look it
 * up and compute the image again (the catalog is deterministic).
 *
 * Bounds: at most THUMB_STORE_MAX ids and THUMB_STORE_BYTES of bodies are
 * held; a new id evicts the oldest ones when either bound would be passed,
 * and ids expire THUMB_TTL_MS after creation (EE: "a few hours").
 * Thread-safe: one mutex, held only to copy bodies in and out.
 */
#ifndef EEFETCH_EMULATOR_THUMBSTORE_H
#define EEFETCH_EMULATOR_THUMBSTORE_H

#include <stddef.h>
#include <stdint.h>

#define THUMB_STORE_MAX 4096
#define THUMB_STORE_BYTES ((size_t)64 << 20)
#define THUMB_TTL_MS ((int64_t)2 * 3600 * 1000)
#define THUMB_ID_LEN 65            /* 32 hex digits, '-', 32 hex digits */

enum { THUMB_KIND_THUMBNAIL = 1, THUMB_KIND_MAP = 2 };

struct thumb_store;

/* ttl_ms <= 0 takes THUMB_TTL_MS. Returns 0 or -1 (out of memory). */
int thumbstore_create(struct thumb_store **out, int64_t ttl_ms);
void thumbstore_destroy(struct thumb_store *s);
/* Stores body under a new random id (written to id_out, THUMB_ID_LEN + 1
 * bytes). Returns 0, or -1 when out of memory or the body is too large. */
int thumbstore_put(struct thumb_store *s, int kind, const char *project, const char *body,
                   size_t len, char *id_out);
/* A malloc'd copy of the body stored under id for this kind and project, or
 * NULL when unknown, expired or evicted. */
char *thumbstore_get(struct thumb_store *s, int kind, const char *project, const char *id);

#endif
