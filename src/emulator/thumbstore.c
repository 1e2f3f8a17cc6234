/*
 * The ids that thumbnails.create and maps.create hand out (thumbstore.h):
 * a small table of request bodies, bounded in count and bytes, with EE's
 * few-hours lifetime, shared by the connection threads under one mutex.
 */
#include "emulator/thumbstore.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct thumb_entry {
    char id[THUMB_ID_LEN + 1];     /* "" = free slot */
    char project[160];
    int kind;
    char *body;
    size_t len;
    int64_t created_ms;
};

struct thumb_store {
    pthread_mutex_t lock;
    struct thumb_entry slots[THUMB_STORE_MAX];
    size_t bytes;                  /* sum of the bodies held */
    int64_t ttl_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int thumbstore_create(struct thumb_store **out, int64_t ttl_ms)
{
    struct thumb_store *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s)
        return -1;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return -1;
    }
    s->ttl_ms = ttl_ms > 0 ? ttl_ms : THUMB_TTL_MS;
    *out = s;
    return 0;
}

void thumbstore_destroy(struct thumb_store *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < THUMB_STORE_MAX; i++)
        free(s->slots[i].body);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void drop(struct thumb_store *s, struct thumb_entry *t)
{
    s->bytes -= t->len;
    free(t->body);
    memset(t, 0, sizeof *t);
}

/* Two random 128-bit halves in hex, the shape of EE's thumbnail ids. */
static int new_id(char *id)
{
    unsigned char r[32];
    int i;

    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    for (i = 0; i < 32; i++)
        sprintf(id + 2 * i + (i >= 16), "%02x", r[i]);
    id[32] = '-';
    id[THUMB_ID_LEN] = '\0';
    return 0;
}

int thumbstore_put(struct thumb_store *s, int kind, const char *project, const char *body,
                   size_t len, char *id_out)
{
    struct thumb_entry *slot = NULL;
    char *copy;
    int64_t now = now_ms();
    int i, rc = 0;

    if (len > THUMB_STORE_BYTES || !(copy = malloc(len + 1)))
        return -1;
    memcpy(copy, body, len);
    copy[len] = '\0';
    pthread_mutex_lock(&s->lock);
    /* Expired entries go first, then the oldest until the new one fits. */
    for (i = 0; i < THUMB_STORE_MAX; i++)
        if (s->slots[i].id[0] && now - s->slots[i].created_ms > s->ttl_ms)
            drop(s, &s->slots[i]);
    for (;;) {
        struct thumb_entry *oldest = NULL;
        slot = NULL;
        for (i = 0; i < THUMB_STORE_MAX; i++) {
            struct thumb_entry *t = &s->slots[i];
            if (!t->id[0]) {
                if (!slot)
                    slot = t;
                continue;
            }
            if (!oldest || t->created_ms < oldest->created_ms)
                oldest = t;
        }
        if (slot && s->bytes + len <= THUMB_STORE_BYTES)
            break;
        if (!oldest) {
            slot = NULL;
            break;
        }
        drop(s, oldest);
    }
    if (!slot || new_id(slot->id) != 0) {
        if (slot)
            slot->id[0] = '\0';
        rc = -1;
        free(copy);
    } else {
        snprintf(slot->project, sizeof slot->project, "%s", project);
        slot->kind = kind;
        slot->body = copy;
        slot->len = len;
        slot->created_ms = now;
        s->bytes += len;
        memcpy(id_out, slot->id, THUMB_ID_LEN + 1);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

char *thumbstore_get(struct thumb_store *s, int kind, const char *project, const char *id)
{
    char *copy = NULL;
    int64_t now = now_ms();
    int i;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < THUMB_STORE_MAX; i++) {
        struct thumb_entry *t = &s->slots[i];
        if (!t->id[0] || strcmp(t->id, id) != 0)
            continue;
        if (now - t->created_ms > s->ttl_ms) {
            drop(s, t);
            break;
        }
        if (t->kind == kind && strcmp(t->project, project) == 0 && (copy = malloc(t->len + 1)))
            memcpy(copy, t->body, t->len + 1);
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return copy;
}
