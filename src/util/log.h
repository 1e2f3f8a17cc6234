/*
 * Logging to stderr, thread-safe. Every message passes through redaction:
 * strings registered with log_add_secret (tokens, keys, refresh tokens) and
 * anything that looks like a bearer token are replaced by "[redacted]", so a
 * secret can never reach a log even when it is part of a server message.
 */
#ifndef EEFETCH_UTIL_LOG_H
#define EEFETCH_UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_QUIET = 4 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Registers a long-lived secret (a private key, a refresh token, a static
 * access token) to be redacted from every later message for the rest of the
 * process (copied; strings shorter than 8 bytes are ignored as too
 * ambiguous). */
void log_add_secret(const char *secret);
/* Registers a short-lived secret (an access token that will be refreshed).
 * Only the most recent ones are kept, so a long run that refreshes tokens
 * every few seconds never pushes a long-lived secret out of the list. */
void log_add_transient_secret(const char *secret);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Redacts in place: registered secrets and "Bearer <token>" patterns. */
void log_redact(char *s, size_t cap);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
