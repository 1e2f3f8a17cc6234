/* Redacting stderr logger; the secret list is the only mutable global. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECRETS 64
#define REDACTED "[redacted]"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LOG_INFO;

/* Two lists: long-lived secrets are never evicted (a run has a handful);
 * transient ones (refreshed access tokens) rotate, oldest out first. */
struct secret_list {
    char *items[MAX_SECRETS];
    int n;
};
static struct secret_list pinned, transient;

void log_set_level(enum log_level level)
{
    pthread_mutex_lock(&log_lock);
    log_level = level;
    pthread_mutex_unlock(&log_lock);
}

enum log_level log_get_level(void)
{
    enum log_level l;
    pthread_mutex_lock(&log_lock);
    l = log_level;
    pthread_mutex_unlock(&log_lock);
    return l;
}

/* Caller holds log_lock. */
static int list_has(const struct secret_list *l, const char *secret)
{
    int i;
    for (i = 0; i < l->n; i++)
        if (strcmp(l->items[i], secret) == 0)
            return 1;
    return 0;
}

static void add_secret(struct secret_list *l, const char *secret, int evict)
{
    if (!secret || strlen(secret) < 8)
        return;
    pthread_mutex_lock(&log_lock);
    if (!list_has(&pinned, secret) && !list_has(l, secret)) {
        if (l->n == MAX_SECRETS && evict) {
            free(l->items[0]);
            memmove(l->items, l->items + 1, sizeof l->items[0] * (MAX_SECRETS - 1));
            l->n--;
        }
        /* A full pinned list keeps what it has: those secrets stay redacted,
         * and a run never has this many long-lived ones. */
        if (l->n < MAX_SECRETS) {
            l->items[l->n] = strdup(secret);
            if (l->items[l->n])
                l->n++;
        }
    }
    pthread_mutex_unlock(&log_lock);
}

void log_add_secret(const char *secret)
{
    add_secret(&pinned, secret, 0);
}

void log_add_transient_secret(const char *secret)
{
    add_secret(&transient, secret, 1);
}

static void replace_all(char *s, size_t cap, const char *needle)
{
    size_t nl = strlen(needle), rl = strlen(REDACTED);
    char *p = s;

    while ((p = strstr(p, needle)) != NULL) {
        size_t tail = strlen(p + nl);
        if ((size_t)(p - s) + rl + tail + 1 > cap)
            tail = cap - (size_t)(p - s) - rl - 1;
        memmove(p + rl, p + nl, tail);
        p[rl + tail] = '\0';
        memcpy(p, REDACTED, rl);
        p += rl;
    }
}

/* Caller holds log_lock. */
static void redact_locked(char *s, size_t cap)
{
    int i;
    char *p;

    for (i = 0; i < pinned.n; i++)
        replace_all(s, cap, pinned.items[i]);
    for (i = 0; i < transient.n; i++)
        replace_all(s, cap, transient.items[i]);
    /* "Bearer xyz": mask the token even if it was never registered. */
    p = s;
    while ((p = strstr(p, "Bearer ")) != NULL) {
        char *t = p + 7, *end = t;
        while (*end && *end != ' ' && *end != '"' && *end != '\n' && *end != ',')
            end++;
        if (end > t && strncmp(t, REDACTED, strlen(REDACTED)) != 0) {
            size_t rl = strlen(REDACTED), tail = strlen(end);
            if ((size_t)(t - s) + rl + tail + 1 <= cap) {
                memmove(t + rl, end, tail + 1);
                memcpy(t, REDACTED, rl);
            } else {
                *t = '\0';
            }
        }
        p = t;
    }
}

void log_redact(char *s, size_t cap)
{
    pthread_mutex_lock(&log_lock);
    redact_locked(s, cap);
    pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    char line[4096];
    va_list ap;

    pthread_mutex_lock(&log_lock);
    if (level < log_level || level >= LOG_QUIET) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    redact_locked(line, sizeof line);
    fprintf(stderr, "eefetch: %s: %s\n", names[level], line);
    pthread_mutex_unlock(&log_lock);
}
