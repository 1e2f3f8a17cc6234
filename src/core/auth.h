/*
 * Credentials, access tokens and project resolution.
 *
 * One token provider per run, shared by every worker's session. It caches
 * the access token under a mutex, refreshes it ahead of expiry, and lets a
 * single thread refresh while the others wait (so N workers cause one token
 * grant per expiry, not N). docs/auth.md describes the sources and the order.
 */
#ifndef EEFETCH_CORE_AUTH_H
#define EEFETCH_CORE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AUTH_TOKEN_MAX 4096

/* Where a token comes from, in resolution order. */
enum auth_source {
    AUTH_SRC_NONE = 0,
    AUTH_SRC_FILE,        /* --credentials FILE / recipe `credentials` */
    AUTH_SRC_ENV_TOKEN,   /* EE_ACCESS_TOKEN */
    AUTH_SRC_GAC,         /* GOOGLE_APPLICATION_CREDENTIALS */
    AUTH_SRC_EE_FILE,     /* earthengine credentials file */
    AUTH_SRC_ADC,         /* gcloud application-default credentials */
    AUTH_SRC_METADATA,    /* metadata server */
};

/* What kind of grant the credentials use. */
enum auth_kind {
    AUTH_KIND_NONE = 0,
    AUTH_KIND_STATIC,          /* a fixed access token */
    AUTH_KIND_SERVICE_ACCOUNT, /* JWT-bearer grant */
    AUTH_KIND_REFRESH_TOKEN,   /* authorized_user / EE credentials */
    AUTH_KIND_METADATA,        /* metadata-server token path */
};

struct auth_options {
    const char *credentials_file;  /* --credentials / recipe setting, or NULL */
    const char *project;           /* --project / recipe setting, or NULL */
    int want_storage_scope;        /* add read-only storage (exports are downloaded) */
    long timeout_ms;               /* per token request; 0 = 30 s */
};

/* The resolved credentials: which source, what they are, which project. No
 * secret is ever printed from here; `account` is an e-mail or client id. */
struct auth_info {
    enum auth_source source;
    enum auth_kind kind;
    char source_detail[512];     /* the file path / env var / metadata host */
    char account[256];           /* client_email, client_id or "" */
    char project[256];           /* "" when none was found */
    char project_from[256];      /* where the project came from */
    char token_uri[512];         /* where tokens are minted ("" for static) */
    char looked[2048];           /* every place a project was looked for, one per line */
    int insecure_file_mode;      /* 1 when the file is readable by group/others */
};

struct token_provider;

/* Resolves credentials (first source that applies) and the project. A
 * missing project is not an error here: info->project is "" and
 * info->looked lists the places searched (see auth_project_help). */
int auth_resolve(const struct auth_options *o, struct token_provider **out,
                 struct auth_info *info, struct errbuf *e);
void auth_destroy(struct token_provider *p);

/* Copies a valid access token into out (refreshing first when it expires
 * within the refresh margin). *generation identifies that token, for
 * auth_token_invalidate. Thread-safe. */
int auth_token_get(struct token_provider *p, char *out, size_t cap, uint64_t *generation,
                   struct errbuf *e);
/* After a 401 with the token of `generation`: forces one refresh unless
 * another thread already replaced that token. Thread-safe. */
int auth_token_invalidate(struct token_provider *p, uint64_t generation, struct errbuf *e);

/* Number of successful token grants so far (tests, progress). */
uint64_t auth_refresh_count(struct token_provider *p);
/* Seconds before expiry at which a token is refreshed (default 300, or a
 * third of the token's lifetime when that is shorter). */
void auth_set_refresh_margin(struct token_provider *p, int seconds);

/* Short names for messages. */
const char *auth_source_name(enum auth_source s);
const char *auth_kind_name(enum auth_kind k);

/* 1 when p is a well-formed Cloud project id or number. */
int auth_project_valid(const char *p);

/* Writes the "no project" explanation: every place looked and how to set one. */
void auth_project_help(const struct auth_info *info, char *out, size_t cap);

struct session;
/* Proves credentials and project with one cheap call (a constant
 * value:compute) before any tile is requested. On failure the message says
 * what EE answered and what to do: 401 names the credential source, 403
 * "not registered" explains registration. info may be NULL. */
int auth_verify(struct session *s, const struct auth_info *info, struct errbuf *e);

/* A token provider for a fixed token (tests, EE_ACCESS_TOKEN). */
int auth_static_create(const char *token, struct token_provider **out, struct errbuf *e);

#endif
