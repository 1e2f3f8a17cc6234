/*
 * Quotas and injected faults: the per-project concurrency limit and the
 * random failures of `eefetch serve --fail-*`. Every random choice comes from
 * a per-request generator derived from (seed, request number), so a run with
 * the same seed and the same request order fails the same requests.
 */
#ifndef EEFETCH_EMULATOR_FAULTS_H
#define EEFETCH_EMULATOR_FAULTS_H

#include <pthread.h>
#include <stdint.h>

#include "emulator/emu.h"

enum fault_kind {
    FAULT_NONE = 0,
    FAULT_429,        /* quota: over the concurrency limit, or a random 429 burst */
    FAULT_500,
    FAULT_503,
    FAULT_RESET,      /* connection closed without an answer */
    FAULT_TRUNCATE,   /* Content-Length promised, part of the body sent, then closed */
};

struct fault_plan {
    enum fault_kind kind;
    double cut;       /* FAULT_TRUNCATE: fraction of the body sent, in [0.1, 0.9) */
};

/* A small deterministic generator (splitmix64). */
struct fault_rng {
    uint64_t state;
};

void fault_rng_init(struct fault_rng *r, uint64_t seed, uint64_t request_no);
uint64_t fault_rng_next(struct fault_rng *r);
/* Uniform in [0, 1). */
double fault_rng_uniform(struct fault_rng *r);

/* Draws the request's fault from cfg's probabilities (always the same number
 * of draws, so one knob does not shift another's choices). */
void fault_draw(const struct emu_config *cfg, uint64_t request_no, struct fault_plan *out);

const char *fault_name(enum fault_kind k);

/* In-flight request counts per project. */
#define QUOTA_MAX_PROJECTS 256

struct quota_slot {
    char project[160];
    int inflight;
};

struct quota {
    pthread_mutex_t lock;
    int nslots;
    struct quota_slot slots[QUOTA_MAX_PROJECTS];
};

int quota_init(struct quota *q);
void quota_destroy(struct quota *q);
/* Takes a slot for project: 0, or -1 when `limit` requests are already in
 * flight (limit <= 0 means no limit). */
int quota_acquire(struct quota *q, const char *project, int limit);
void quota_release(struct quota *q, const char *project);

#endif
