/* Redacting stderr logger; the secret list is the only mutable global. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECRETS 32
#define REDACTED "[redacted]"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LOG_INFO;
static char *secrets[MAX_SECRETS];
static int nsecrets;

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

void log_add_secret(const char *secret)
{
    int i;
    if (!secret || strlen(secret) < 8)
        return;
    pthread_mutex_lock(&log_lock);
    for (i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], secret) == 0)
            break;
    if (i == nsecrets) {
        if (nsecrets == MAX_SECRETS) {
            /* Oldest secrets are the likeliest to be expired tokens. */
            free(secrets[0]);
            memmove(secrets, secrets + 1, sizeof secrets[0] * (MAX_SECRETS - 1));
            nsecrets--;
        }
        secrets[nsecrets] = strdup(secret);
        if (secrets[nsecrets])
            nsecrets++;
    }
    pthread_mutex_unlock(&log_lock);
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

    for (i = 0; i < nsecrets; i++)
        replace_all(s, cap, secrets[i]);
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
