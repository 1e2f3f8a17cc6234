/*
 * The offline Earth Engine REST emulator: public entry points used by
 * `eefetch serve`, by `--emulator` (in-process on a loopback port) and by tests.
 */
#ifndef EEFETCH_EMULATOR_EMU_H
#define EEFETCH_EMULATOR_EMU_H

#include <stdint.h>

#include "util/err.h"

#define EMU_MAX_ASSETS 16

struct emu_config {
    const char *bind;            /* default "127.0.0.1" */
    int port;                    /* 0 = pick a free port */
    uint64_t seed;               /* makes every random fault reproducible */

    /* Quotas and server time (docs/emulator.md documents each knob). */
    int concurrency_limit;       /* per project; beyond it 429; default 40 */
    double latency_base_ms;      /* per request */
    double latency_per_mib_ms;   /* per MiB of response */
    double latency_per_image_ms; /* per image read or reduced */
    int64_t memory_limit_bytes;  /* work above it: "User memory limit exceeded."; 0 = off */

    /* Faults, as probabilities per request in [0,1]. */
    double p_500, p_503, p_reset, p_truncate;
    double p_429;                /* random 429 bursts, on top of the concurrency limit */

    const char *request_log;     /* JSON-lines log path, or NULL */

    /* Batch exports and Cloud Storage (src/emulator/export.c, storage.c). */
    const char *bucket_dir;      /* bucket b is bucket_dir/b/; NULL: exports fail */
    int export_running_limit;    /* RUNNING tasks per project (default 2) */
    int export_pending_limit;    /* PENDING tasks per project before 429 (default 3000) */
    double export_queue_ms;      /* least time a task stays PENDING (default 0) */
    double export_ms_per_mpixel; /* modelled running time per million pixels (default 0) */
    double p_export_fail;        /* probability that a task FAILS (seeded) */

    /* --catalog-until: collection members acquired at or after
     * catalog_until_ms (epoch ms, the day after the given date) do not
     * exist, as if the server were queried on that date. */
    int has_catalog_until;
    int64_t catalog_until_ms;

    /* Local GeoTIFF assets: "users/me/dem=path.tif". */
    const char *assets[EMU_MAX_ASSETS];
    int nassets;

    /* Authentication (see src/emulator/auth_server.c). */
    int require_auth;            /* 1: every EE route needs a valid bearer token */
    int token_lifetime_s;        /* default 3600 */
    const char *projects;        /* comma-separated registered projects; NULL = any */
    const char *credentials_dir; /* where trusted keys live / are written */
};

struct emu;

/* Fills cfg with defaults. */
void emu_config_default(struct emu_config *cfg);

/* Starts the server threads. On success *out is running and emu_port() gives
 * the bound port. */
int emu_start(const struct emu_config *cfg, struct emu **out, struct errbuf *e);
int emu_port(const struct emu *s);
/* Base URL, e.g. "http://127.0.0.1:PORT" (no version suffix). */
const char *emu_base_url(const struct emu *s);
void emu_stop(struct emu *s);
/* Writes credentials this running server trusts into dir (serve
 * --write-credentials; see emu_auth_write_credentials in handlers.h). */
int emu_write_credentials(struct emu *s, const char *dir, struct errbuf *e);

/* `eefetch serve ...`: runs until SIGINT/SIGTERM. Returns an exit status. */
int emulator_cmd_serve(int argc, char **argv);

#endif
