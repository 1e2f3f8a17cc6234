/*
 * Batch exports (projects.image.export) and their long-running operations
 * (projects.operations get/list/cancel), plus the Cloud Storage JSON API
 * over the local bucket folder they write into (storage.c).
 *
 * Tasks wait in a bounded per-server queue and run on background worker
 * threads owned by the queue: PENDING -> RUNNING -> SUCCEEDED / FAILED /
 * CANCELLED (CANCELLING while a running task stops). docs/emulator.md,
 * "Batch export and Cloud Storage", documents states, timings and files.
 */
#ifndef EEFETCH_EMULATOR_EXPORT_H
#define EEFETCH_EMULATOR_EXPORT_H

#include "emulator/handlers.h"

/* EE's backlog limit of pending tasks per project (ee-api.md §5). */
#define EXPORT_PENDING_CAP 3000
/* EE's default maxPixels. */
#define EXPORT_DEFAULT_MAX_PIXELS 100000000LL
/* Worker threads at most (the per-project RUNNING limit sets how many run). */
#define EXPORT_MAX_WORKERS 16

struct export_queue;

/* Starts the queue's workers (cfg->export_running_limit of them, at least
 * one). cat and cfg must outlive the queue. */
int export_create(const struct emu_config *cfg, const struct catalog *cat,
                  struct export_queue **out, struct errbuf *e);
/* Stops the workers (a running task is abandoned between strips) and frees
 * every task. */
void export_destroy(struct export_queue *q);

int handle_image_export(const struct emu_ctx *c, const struct emu_request *q,
                        struct emu_response *r);
/* The operation id is in q->asset; list takes pageSize, pageToken. */
int handle_operation_get(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r);
int handle_operation_list(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r);
int handle_operation_cancel(const struct emu_ctx *c, const struct emu_request *q,
                            struct emu_response *r);

/* Cloud Storage JSON API (storage.c): q->project holds the bucket, q->asset
 * the object name ("" for the listing), q->verb "media" for downloads. */
int handle_storage_list(const struct emu_ctx *c, const struct emu_request *q,
                        struct emu_response *r);
int handle_storage_get(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r);
int handle_storage_delete(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r);

/* Bucket names as Cloud Storage allows them (3-63 of [a-z0-9._-], starting
 * and ending with a letter or digit); the emulator also refuses "..". */
int storage_bucket_name_ok(const char *b);
/* Object names: 1-1024 bytes, no "." or ".." segment, no empty segment
 * at the start, no segment starting with ".eefetch-" (the emulator's
 * temporary files). */
int storage_object_name_ok(const char *name);
/* Prefix of the emulator's temporary files in a bucket folder; listings
 * never show them. */
#define STORAGE_TMP_PREFIX ".eefetch-"

#endif
