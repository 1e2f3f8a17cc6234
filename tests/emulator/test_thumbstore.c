/*
 * The thumbnail/map id table (src/emulator/thumbstore.c): look-ups by kind
 * and project, expiry, eviction by count and by bytes, and many threads
 * creating and reading ids at once.
 */
#include "emulator/thumbstore.h"

#include "../unit/check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_lookup(void)
{
    struct thumb_store *s;
    char id[THUMB_ID_LEN + 1], id2[THUMB_ID_LEN + 1], *b;

    CHECK(thumbstore_create(&s, 0) == 0);
    CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p1", "{\"a\":1}", 7, id) == 0);
    CHECK(strlen(id) == THUMB_ID_LEN && id[32] == '-');
    CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p1", "{\"a\":1}", 7, id2) == 0);
    CHECK(strcmp(id, id2) != 0);   /* every create gets a new id */
    b = thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p1", id);
    CHECK_STR(b, "{\"a\":1}");
    free(b);
    CHECK(thumbstore_get(s, THUMB_KIND_MAP, "p1", id) == NULL);        /* other kind */
    CHECK(thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p2", id) == NULL);  /* other project */
    CHECK(thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p1", "nope") == NULL);
    thumbstore_destroy(s);
}

static void test_expiry(void)
{
    struct thumb_store *s;
    char id[THUMB_ID_LEN + 1], *b;

    CHECK(thumbstore_create(&s, 100) == 0);
    CHECK(thumbstore_put(s, THUMB_KIND_MAP, "p", "x", 1, id) == 0);
    b = thumbstore_get(s, THUMB_KIND_MAP, "p", id);
    CHECK(b != NULL);
    free(b);
    sleep_ms(250);
    CHECK(thumbstore_get(s, THUMB_KIND_MAP, "p", id) == NULL);
    thumbstore_destroy(s);
}

static void test_bounds(void)
{
    struct thumb_store *s;
    char first[THUMB_ID_LEN + 1], id[THUMB_ID_LEN + 1], *b;
    size_t big = THUMB_STORE_BYTES / 3 + 1;
    char *body = malloc(big);
    int i;

    CHECK(thumbstore_create(&s, 0) == 0);
    /* By count: the oldest goes when the table is full. */
    CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", "0", 1, first) == 0);
    for (i = 1; i < THUMB_STORE_MAX; i++)
        CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", "1", 1, id) == 0);
    b = thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p", first);
    CHECK(b != NULL);
    free(b);
    CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", "2", 1, id) == 0);
    CHECK(thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p", first) == NULL);
    b = thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p", id);
    CHECK_STR(b, "2");
    free(b);
    /* By bytes: three bodies of a third of the bound do not fit together. */
    if (body) {
        memset(body, 'x', big);
        CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", body, big, first) == 0);
        CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", body, big, id) == 0);
        CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", body, big, id) == 0);
        CHECK(thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p", first) == NULL);
        b = thumbstore_get(s, THUMB_KIND_THUMBNAIL, "p", id);
        CHECK(b && strlen(b) == big);
        free(b);
        /* One body over the whole bound is refused. */
        CHECK(thumbstore_put(s, THUMB_KIND_THUMBNAIL, "p", body, THUMB_STORE_BYTES + 1, id) != 0);
    }
    free(body);
    thumbstore_destroy(s);
}

struct worker {
    struct thumb_store *s;
    int n, bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char id[THUMB_ID_LEN + 1], want[32], *b;
    int i;

    for (i = 0; i < w->n; i++) {
        snprintf(want, sizeof want, "%p-%d", (void *)w, i);
        if (thumbstore_put(w->s, THUMB_KIND_THUMBNAIL, "p", want, strlen(want), id) != 0) {
            w->bad++;
            continue;
        }
        b = thumbstore_get(w->s, THUMB_KIND_THUMBNAIL, "p", id);
        /* Ids may be evicted by other threads only once the table is full. */
        if (b && strcmp(b, want) != 0)
            w->bad++;
        free(b);
    }
    return NULL;
}

static void test_threads(void)
{
    struct thumb_store *s;
    struct worker w[8];
    pthread_t t[8];
    int i;

    CHECK(thumbstore_create(&s, 0) == 0);
    for (i = 0; i < 8; i++) {
        w[i].s = s;
        w[i].n = 800;   /* 6400 in all: past the bound */
        w[i].bad = 0;
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        CHECK(w[i].bad == 0);
    }
    thumbstore_destroy(s);
}

int main(void)
{
    test_lookup();
    test_expiry();
    test_bounds();
    test_threads();
    return CHECK_DONE();
}
