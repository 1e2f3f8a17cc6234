/* Quotas and fault injection (see faults.h). */
#include "emulator/faults.h"

#include <stdio.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fault_rng_init(struct fault_rng *r, uint64_t seed, uint64_t request_no)
{
    /* Mix seed and request number so neighbouring requests are unrelated. */
    uint64_t x = seed ^ 0x6a09e667f3bcc909ULL;
    r->state = splitmix64(&x) ^ (request_no * 0xd1b54a32d192ed03ULL);
}

uint64_t fault_rng_next(struct fault_rng *r)
{
    return splitmix64(&r->state);
}

double fault_rng_uniform(struct fault_rng *r)
{
    return (double)(fault_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

void fault_draw(const struct emu_config *cfg, uint64_t request_no, struct fault_plan *out)
{
    struct fault_rng r;
    double u429, u500, u503, ureset, utrunc, ucut;

    fault_rng_init(&r, cfg->seed, request_no);
    u429 = fault_rng_uniform(&r);
    u500 = fault_rng_uniform(&r);
    u503 = fault_rng_uniform(&r);
    ureset = fault_rng_uniform(&r);
    utrunc = fault_rng_uniform(&r);
    ucut = fault_rng_uniform(&r);

    out->kind = FAULT_NONE;
    out->cut = 0.1 + 0.8 * ucut;
    if (u429 < cfg->p_429)
        out->kind = FAULT_429;
    else if (u500 < cfg->p_500)
        out->kind = FAULT_500;
    else if (u503 < cfg->p_503)
        out->kind = FAULT_503;
    else if (ureset < cfg->p_reset)
        out->kind = FAULT_RESET;
    else if (utrunc < cfg->p_truncate)
        out->kind = FAULT_TRUNCATE;
}

const char *fault_name(enum fault_kind k)
{
    switch (k) {
    case FAULT_429: return "429";
    case FAULT_500: return "500";
    case FAULT_503: return "503";
    case FAULT_RESET: return "reset";
    case FAULT_TRUNCATE: return "truncate";
    case FAULT_NONE: break;
    }
    return NULL;
}

int quota_init(struct quota *q)
{
    memset(q, 0, sizeof *q);
    return pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : -1;
}

void quota_destroy(struct quota *q)
{
    pthread_mutex_destroy(&q->lock);
}

static struct quota_slot *quota_find(struct quota *q, const char *project, int create)
{
    int i;

    for (i = 0; i < q->nslots; i++)
        if (strcmp(q->slots[i].project, project) == 0)
            return &q->slots[i];
    if (!create)
        return NULL;
    /* Reuse an idle slot before growing, so many projects over time fit. */
    for (i = 0; i < q->nslots; i++)
        if (q->slots[i].inflight == 0)
            break;
    if (i == q->nslots) {
        if (q->nslots == QUOTA_MAX_PROJECTS)
            return NULL;
        q->nslots++;
    }
    snprintf(q->slots[i].project, sizeof q->slots[i].project, "%s", project);
    q->slots[i].inflight = 0;
    return &q->slots[i];
}

int quota_acquire(struct quota *q, const char *project, int limit)
{
    struct quota_slot *s;
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    s = quota_find(q, project, 1);
    if (!s)
        rc = -1;   /* more distinct busy projects than slots: treat as over quota */
    else if (limit > 0 && s->inflight >= limit)
        rc = -1;
    else
        s->inflight++;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void quota_release(struct quota *q, const char *project)
{
    struct quota_slot *s;

    pthread_mutex_lock(&q->lock);
    s = quota_find(q, project, 0);
    if (s && s->inflight > 0)
        s->inflight--;
    pthread_mutex_unlock(&q->lock);
}
