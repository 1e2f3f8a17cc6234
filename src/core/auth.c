/*
 * Credential resolution, the shared token provider and project resolution
 * (see auth.h and docs/auth.md).
 *
 * The provider is the only state shared between workers. Its mutex guards
 * the cached token; the token request itself runs without the lock, with a
 * `refreshing` flag so that exactly one thread talks to the token endpoint
 * while the others either keep using the still-valid token or wait on the
 * condition variable. That is what turns "N workers x expiries" token
 * grants into one grant per expiry.
 */
#include "core/auth.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/credfile.h"
#include "core/jwt.h"
#include "core/session.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#define GOOGLE_TOKEN_URI "https://oauth2.googleapis.com/token"
#define SCOPE_EE "https://www.googleapis.com/auth/earthengine"
#define SCOPE_CLOUD "https://www.googleapis.com/auth/cloud-platform"
#define SCOPE_STORAGE_RO "https://www.googleapis.com/auth/devstorage.read_only"
#define METADATA_TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define TOKEN_RESPONSE_MAX (64 * 1024)
#define DEFAULT_MARGIN_S 300
/* After a refused or failed token request, callers get that answer for this
 * long instead of asking again: N workers must not turn bad credentials or
 * a struggling token endpoint into N requests per tile. */
#define FAILURE_HOLD_MS 2000

struct token_provider {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum auth_kind kind;
    enum auth_source source;

    /* Cached token; guarded by mu. Times are monotonic ms. */
    char token[AUTH_TOKEN_MAX];
    int64_t refresh_at, expires_at;
    uint64_t generation;      /* bumped for every new token */
    uint64_t grants;          /* successful token requests */
    uint64_t attempts;        /* finished token requests, good or bad */
    int refreshing;
    int last_failed;
    int64_t failed_at;        /* monotonic ms of the last failed request */
    int last_rc;              /* its error code: ERR_HTTP (transport) or ERR_AUTH */
    char last_error[ERRBUF_SIZE];
    int margin_s;

    /* What to present to the token endpoint; immutable after resolve. */
    char *token_uri;
    char *scopes;
    char *client_email, *private_key, *key_id;
    char *client_id, *client_secret, *refresh_token;
    char *metadata_host;
    char *cred_path;          /* for messages */
    long timeout_ms;
};

const char *auth_source_name(enum auth_source s)
{
    switch (s) {
    case AUTH_SRC_NONE: return "none";
    case AUTH_SRC_FILE: return "credentials file (--credentials)";
    case AUTH_SRC_ENV_TOKEN: return "access token from EE_ACCESS_TOKEN";
    case AUTH_SRC_GAC: return "GOOGLE_APPLICATION_CREDENTIALS";
    case AUTH_SRC_EE_FILE: return "Earth Engine credentials file";
    case AUTH_SRC_ADC: return "gcloud application-default credentials";
    case AUTH_SRC_METADATA: return "metadata server";
    }
    return "?";
}

const char *auth_kind_name(enum auth_kind k)
{
    switch (k) {
    case AUTH_KIND_NONE: return "none";
    case AUTH_KIND_STATIC: return "fixed access token";
    case AUTH_KIND_SERVICE_ACCOUNT: return "service account (JWT-bearer grant)";
    case AUTH_KIND_REFRESH_TOKEN: return "user (refresh-token grant)";
    case AUTH_KIND_METADATA: return "metadata-server token";
    }
    return "?";
}

static struct token_provider *provider_new(void)
{
    struct token_provider *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    p->margin_s = DEFAULT_MARGIN_S;
    p->timeout_ms = 30000;
    return p;
}

static void free_secret(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

void auth_destroy(struct token_provider *p)
{
    if (!p)
        return;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    memset(p->token, 0, sizeof p->token);
    free(p->token_uri);
    free(p->scopes);
    free(p->client_email);
    free_secret(p->private_key);
    free(p->key_id);
    free(p->client_id);
    free_secret(p->client_secret);
    free_secret(p->refresh_token);
    free(p->metadata_host);
    free(p->cred_path);
    free(p);
}

int auth_static_create(const char *token, struct token_provider **out, struct errbuf *e)
{
    struct token_provider *p;

    *out = NULL;
    if (!token || !*token || strlen(token) >= AUTH_TOKEN_MAX)
        return err_set(e, ERR_AUTH, "the access token is empty or too long");
    p = provider_new();
    if (!p)
        return err_set(e, ERR_NOMEM, "out of memory");
    p->kind = AUTH_KIND_STATIC;
    p->source = AUTH_SRC_ENV_TOKEN;
    snprintf(p->token, sizeof p->token, "%s", token);
    log_add_secret(token);
    p->refresh_at = p->expires_at = INT64_MAX;
    p->generation = 1;
    *out = p;
    return 0;
}

uint64_t auth_refresh_count(struct token_provider *p)
{
    uint64_t n;

    pthread_mutex_lock(&p->mu);
    n = p->grants;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void auth_set_refresh_margin(struct token_provider *p, int seconds)
{
    pthread_mutex_lock(&p->mu);
    p->margin_s = seconds < 0 ? 0 : seconds;
    pthread_mutex_unlock(&p->mu);
}

/* ---- token requests ----------------------------------------------------------------- */

static size_t on_token_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    return buf_append(ud, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

/* One HTTP exchange with a token endpoint: POST form when form != NULL,
 * else GET with the metadata header. */
static int token_http(const struct token_provider *p, const char *url, const char *form,
                      struct buf *body, long *status, struct errbuf *e)
{
    CURL *c;
    struct curl_slist *h = NULL, *t;
    char cerr[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    int rc = 0;

    *status = 0;
    session_no_proxy();   /* also runs curl_global_init once */
    c = curl_easy_init();
    if (!c)
        return err_set(e, ERR_HTTP, "curl_easy_init failed");
    t = curl_slist_append(h, form ? "Content-Type: application/x-www-form-urlencoded"
                                  : "Metadata-Flavor: Google");
    if (!t) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    h = t;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROXY, session_no_proxy());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "eefetch/" EEFETCH_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_token_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = err_set(e, ERR_HTTP, "token request to %s failed: %s", url,
                     cerr[0] ? cerr : curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
done:
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

/* What to tell the user when the token endpoint refuses the credentials. */
static const char *grant_hint(const struct token_provider *p, const char *desc)
{
    if (p->kind == AUTH_KIND_SERVICE_ACCOUNT) {
        if (strstr(desc, "Signature"))
            return "the private key does not match any key of this service account (it may have "
                   "been deleted or rotated): create a new key for the service account and point "
                   "--credentials or GOOGLE_APPLICATION_CREDENTIALS at it";
        if (strstr(desc, "timeframe") || strstr(desc, " iat") || strstr(desc, " exp"))
            return "the token was signed with this computer's clock, which looks wrong: "
                   "synchronise the system clock (e.g. `timedatectl set-ntp true`) and retry";
        if (strstr(desc, "account not found") || strstr(desc, "invalid_client"))
            return "the service account does not exist (any more): check client_email in the key";
        return "check that the key file belongs to an existing service account";
    }
    if (p->kind == AUTH_KIND_REFRESH_TOKEN)
        return "the refresh token has expired or was revoked: sign in again with `earthengine "
               "authenticate` (Earth Engine credentials) or `gcloud auth application-default "
               "login` (application-default credentials)";
    if (p->kind == AUTH_KIND_METADATA)
        return "the metadata server did not issue a token: check the instance's service account "
               "and its scopes";
    return "check the credentials";
}

/* The token endpoint's address as the user wrote it (token_uri) or the
 * metadata server's. */
static const char *token_endpoint(const struct token_provider *p)
{
    return p->token_uri ? p->token_uri : p->metadata_host;
}

/* Classifies a token endpoint's answer other than 200 (RFC 6749 section
 * 5.2 errors come as 400 or 401 with an "error" member): only an
 * invalid_grant says the credentials themselves are refused (a refresh
 * token expired or revoked, a service account key deleted); an address
 * that is not a token endpoint (404, 405, a redirect, an answer without
 * an OAuth error) is the credentials' token_uri; 408, 429 and 5xx are the
 * endpoint's own trouble and transient (ERR_HTTP, retried like a dropped
 * connection). */
static int token_refusal(const struct token_provider *p, long status, const char *err, const char *desc,
                         struct errbuf *e)
{
    const char *what = p->cred_path ? p->cred_path : auth_source_name(p->source);
    const char *fix = p->kind == AUTH_KIND_METADATA ? "check GCE_METADATA_HOST (or that this is a Google Cloud "
                                                      "instance)"
                                                    : "check token_uri in the credentials";

    if (status == 408 || status == 429 || status >= 500)
        return err_set(e, ERR_HTTP, "the token endpoint %s answered HTTP %ld%s%s%s%s: it is unavailable for now, "
                       "which says nothing about the credentials: try again later; if it persists, check "
                       "token_uri in the credentials",
                       token_endpoint(p), status, err ? " " : "", err ? err : "", *desc ? ": " : "", desc);
    if (status == 404 || status == 405 || (status >= 300 && status < 400) ||
        ((status == 400 || status == 401) && !err))
        return err_set(e, ERR_AUTH, "the token endpoint %s answered HTTP %ld, which is not an OAuth token "
                       "answer%s%s%s: %s (%s, %s)", token_endpoint(p), status, *desc ? " (\"" : "", desc,
                       *desc ? "\")" : "", fix, auth_kind_name(p->kind), what);
    if ((status == 400 || status == 401) && (strcmp(err, "invalid_grant") == 0 ||
                                             p->kind == AUTH_KIND_SERVICE_ACCOUNT ||
                                             p->kind == AUTH_KIND_METADATA))
        return err_set(e, ERR_AUTH, "token request for %s (%s) was refused with HTTP %ld: %s%s%s. What to do: %s",
                       auth_kind_name(p->kind), what, status, err, *desc ? ": " : "", desc, grant_hint(p, desc));
    if ((status == 400 || status == 401) &&
        (strcmp(err, "invalid_client") == 0 || strcmp(err, "unauthorized_client") == 0))
        return err_set(e, ERR_AUTH, "token request for %s (%s) was refused with HTTP %ld: %s%s%s. What to do: "
                       "the token endpoint %s does not accept the client_id and client_secret in the credentials; "
                       "check them, or sign in again to get credentials with a valid client",
                       auth_kind_name(p->kind), what, status, err, *desc ? ": " : "", desc, token_endpoint(p));
    return err_set(e, ERR_AUTH, "token request for %s (%s) to %s was refused with HTTP %ld%s%s%s%s. What to do: "
                   "check the credentials and their token_uri",
                   auth_kind_name(p->kind), what, token_endpoint(p), status, err ? ": " : "", err ? err : "",
                   *desc ? ": " : "", desc);
}

/* Parses a token response into the token and its lifetime. */
static int parse_token_response(const struct token_provider *p, const struct buf *body,
                                long status, char *tok, size_t cap, int64_t *lifetime_ms,
                                struct errbuf *e)
{
    json_object *top = NULL, *v;
    int rc = 0;

    top = body->len ? json_tokener_parse(body->data) : NULL;
    if (status != 200) {
        char desc[512] = "";
        const char *err = NULL;

        if (top && json_object_object_get_ex(top, "error", &v)) {
            if (json_object_is_type(v, json_type_string)) {
                err = json_object_get_string(v);
                if (json_object_object_get_ex(top, "error_description", &v))
                    snprintf(desc, sizeof desc, "%s", json_object_get_string(v));
            } else if (json_object_object_get_ex(v, "message", &v)) {
                snprintf(desc, sizeof desc, "%s", json_object_get_string(v));
            }
        }
        log_redact(desc, sizeof desc);
        rc = token_refusal(p, status, err, desc, e);
        goto done;
    }
    if (!top || !json_object_object_get_ex(top, "access_token", &v) ||
        !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        (size_t)json_object_get_string_len(v) >= cap) {
        rc = err_set(e, ERR_AUTH, "token endpoint %s answered without a usable access_token",
                     p->token_uri ? p->token_uri : p->metadata_host);
        goto done;
    }
    snprintf(tok, cap, "%s", json_object_get_string(v));
    *lifetime_ms = 3600 * 1000;
    if (json_object_object_get_ex(top, "expires_in", &v)) {
        int64_t s = json_object_get_int64(v);
        if (s > 0)
            *lifetime_ms = s * 1000;
    }
done:
    json_object_put(top);
    return rc;
}

/* Appends k=urlencoded(v)&... to a form body. */
static int form_add(struct buf *b, const char *k, const char *v)
{
    char *enc = curl_easy_escape(NULL, v, 0);
    int rc;

    if (!enc)
        return ERR_NOMEM;
    rc = buf_printf(b, "%s%s=%s", b->len ? "&" : "", k, enc);
    memset(enc, 0, strlen(enc));
    curl_free(enc);
    return rc;
}

/* Mints a new token (no lock held). */
static int fetch_token(struct token_provider *p, char *tok, size_t cap, int64_t *lifetime_ms,
                       struct errbuf *e)
{
    struct buf form, body, jwt, url;
    long status = 0;
    int rc = 0;

    buf_init(&form, 256 * 1024);
    buf_init(&body, TOKEN_RESPONSE_MAX);
    buf_init(&jwt, 0);
    buf_init(&url, 0);

    if (p->kind == AUTH_KIND_SERVICE_ACCOUNT) {
        struct jwt_claims c;
        int64_t now = time_now_ms() / 1000;

        c.kid = p->key_id;
        c.iss = p->client_email;
        c.scope = p->scopes;
        c.aud = p->token_uri;
        c.iat = now;
        c.exp = now + 3600;
        rc = jwt_sign_rs256(p->private_key, &c, &jwt, e);
        if (rc)
            goto done;
        if (form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer") ||
            form_add(&form, "assertion", jwt.data)) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = token_http(p, p->token_uri, form.data, &body, &status, e);
    } else if (p->kind == AUTH_KIND_REFRESH_TOKEN) {
        if (form_add(&form, "grant_type", "refresh_token") ||
            form_add(&form, "refresh_token", p->refresh_token) ||
            (p->client_id && form_add(&form, "client_id", p->client_id)) ||
            (p->client_secret && form_add(&form, "client_secret", p->client_secret)) ||
            (p->scopes && form_add(&form, "scope", p->scopes))) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = token_http(p, p->token_uri, form.data, &body, &status, e);
    } else if (p->kind == AUTH_KIND_METADATA) {
        char *sc = strdup(p->scopes), *q;
        if (!sc) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        for (q = sc; *q; q++)
            if (*q == ' ')
                *q = ',';
        rc = buf_printf(&url, "http://%s%s?scopes=%s", p->metadata_host, METADATA_TOKEN_PATH, sc);
        free(sc);
        if (rc) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = token_http(p, url.data, NULL, &body, &status, e);
    } else {
        rc = err_set(e, ERR_AUTH, "the fixed access token cannot be refreshed");
        goto done;
    }
    if (rc == 0)
        rc = parse_token_response(p, &body, status, tok, cap, lifetime_ms, e);
done:
    if (form.data)
        memset(form.data, 0, form.len);
    if (body.data)
        memset(body.data, 0, body.len);
    buf_free(&form);
    buf_free(&body);
    buf_free(&jwt);
    buf_free(&url);
    return rc;
}

int auth_token_get(struct token_provider *p, char *out, size_t cap, uint64_t *generation,
                   struct errbuf *e)
{
    char tok[AUTH_TOKEN_MAX];
    int64_t lifetime = 0, now, margin;
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        int fresh, valid, held;

        now = time_mono_ms();
        fresh = p->token[0] && now < p->refresh_at;
        valid = p->token[0] && now < p->expires_at;
        held = p->last_failed && now - p->failed_at < FAILURE_HOLD_MS;
        /* Fresh; or still valid while another thread refreshes it, or while
         * a failed refresh is being held (the old token keeps working). */
        if (fresh || (valid && (p->refreshing || held))) {
            if (strlen(p->token) >= cap) {
                rc = err_set(e, ERR_LIMIT, "access token longer than the buffer");
            } else {
                memcpy(out, p->token, strlen(p->token) + 1);
                *generation = p->generation;
            }
            break;
        }
        if (p->refreshing) {
            while (p->refreshing)
                pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        if (held) {
            /* Do not hammer a token endpoint that just refused: share its answer. */
            rc = err_set(e, p->last_rc, "%s", p->last_error);
            break;
        }
        if (p->kind == AUTH_KIND_STATIC) {
            rc = err_set(e, ERR_AUTH, "the access token from EE_ACCESS_TOKEN was rejected by the "
                         "server (HTTP 401): it has expired or is not valid; mint a new one (e.g. "
                         "`gcloud auth print-access-token`) or use credentials that can be "
                         "refreshed");
            break;
        }
        p->refreshing = 1;
        pthread_mutex_unlock(&p->mu);
        {
            struct errbuf fe;
            err_clear(&fe);
            rc = fetch_token(p, tok, sizeof tok, &lifetime, &fe);
            pthread_mutex_lock(&p->mu);
            p->refreshing = 0;
            p->attempts++;
            if (rc == 0) {
                log_add_transient_secret(tok);
                memcpy(p->token, tok, sizeof p->token);
                now = time_mono_ms();
                margin = (int64_t)p->margin_s * 1000;
                if (margin > lifetime / 4)
                    margin = lifetime / 4;
                p->expires_at = now + lifetime;
                p->refresh_at = p->expires_at - margin;
                p->generation++;
                p->grants++;
                p->last_failed = 0;
                log_debug("new access token (%s), valid for %lld s", auth_kind_name(p->kind),
                          (long long)(lifetime / 1000));
            } else {
                p->last_failed = 1;
                p->failed_at = time_mono_ms();
                p->last_rc = rc;
                snprintf(p->last_error, sizeof p->last_error, "%s", fe.msg);
                if (p->token[0] && time_mono_ms() < p->expires_at)
                    log_warn("could not refresh the access token, using the current one until "
                             "it expires: %s", fe.msg);
            }
            pthread_cond_broadcast(&p->cv);
            memset(tok, 0, sizeof tok);
        }
        /* Success or failure, the top of the loop now decides what to hand out. */
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int auth_token_invalidate(struct token_provider *p, uint64_t generation, struct errbuf *e)
{
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    if (p->kind == AUTH_KIND_STATIC) {
        rc = err_set(e, ERR_AUTH, "the access token from EE_ACCESS_TOKEN was rejected by the "
                     "server (HTTP 401): it has expired or is not valid; mint a new one (e.g. "
                     "`gcloud auth print-access-token`) or use credentials that can be refreshed");
    } else if (generation == p->generation) {
        /* Only the first of several workers that saw the same rejected token forces it. */
        p->refresh_at = 0;
        p->expires_at = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- resolution ---------------------------------------------------------------------- */

static int dup_into(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : ERR_NOMEM;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void looked_add(struct auth_info *info, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void looked_add(struct auth_info *info, const char *fmt, ...)
{
    size_t n = strlen(info->looked);
    va_list ap;

    if (n + 4 >= sizeof info->looked)
        return;
    memcpy(info->looked + n, "  - ", 5);
    n += 4;
    va_start(ap, fmt);
    vsnprintf(info->looked + n, sizeof info->looked - n, fmt, ap);
    va_end(ap);
    n = strlen(info->looked);
    if (n + 1 < sizeof info->looked) {
        info->looked[n] = '\n';
        info->looked[n + 1] = '\0';
    }
}

static void ee_file_path(char *out, size_t cap)
{
    const char *v = env("EE_CONFIG_FILE"), *home = env("HOME");
    if (v)
        snprintf(out, cap, "%s", v);
    else
        snprintf(out, cap, "%s/.config/earthengine/credentials", home ? home : ".");
}

static void adc_file_path(char *out, size_t cap)
{
    const char *v = env("CLOUDSDK_CONFIG"), *home = env("HOME");
    if (v)
        snprintf(out, cap, "%s/application_default_credentials.json", v);
    else
        snprintf(out, cap, "%s/.config/gcloud/application_default_credentials.json",
                 home ? home : ".");
}

/* Google's own machines say so in DMI; only then is the metadata server
 * probed without GCE_METADATA_HOST (no blind requests to link-local IPs). */
static int on_google_compute(void)
{
    char name[128] = "";
    FILE *f = fopen("/sys/class/dmi/id/product_name", "r");

    if (!f)
        return 0;
    if (!fgets(name, sizeof name, f))
        name[0] = '\0';
    fclose(f);
    return strstr(name, "Google") != NULL;
}

static void warn_mode(const struct cred_file *c, struct auth_info *info)
{
    if (!c->insecure_mode)
        return;
    info->insecure_file_mode = 1;
    log_warn("credentials file %s is readable by group or others; restrict it with `chmod 600 %s`",
             c->path, c->path);
}

/* Fills the provider from a loaded credential file. */
static int provider_from_file(struct token_provider *p, const struct cred_file *c,
                              struct auth_info *info, struct errbuf *e)
{
    const char *uri = env("EEFETCH_TOKEN_URI");

    if (!uri)
        uri = c->token_uri ? c->token_uri : GOOGLE_TOKEN_URI;
    if (dup_into(&p->token_uri, uri) || dup_into(&p->cred_path, c->path))
        return err_set(e, ERR_NOMEM, "out of memory");
    if (session_check_url(p->token_uri, e) != 0)
        return err_prefix(e, ERR_AUTH, "token_uri of %s: ", c->path);
    snprintf(info->token_uri, sizeof info->token_uri, "%s", p->token_uri);
    snprintf(info->source_detail, sizeof info->source_detail, "%s", c->path);
    if (c->type == CRED_SERVICE_ACCOUNT) {
        p->kind = AUTH_KIND_SERVICE_ACCOUNT;
        if (dup_into(&p->client_email, c->client_email) || dup_into(&p->private_key, c->private_key) ||
            dup_into(&p->key_id, c->private_key_id))
            return err_set(e, ERR_NOMEM, "out of memory");
        snprintf(info->account, sizeof info->account, "%s", c->client_email);
    } else if (c->type == CRED_AUTHORIZED_USER || c->type == CRED_EE_USER) {
        p->kind = AUTH_KIND_REFRESH_TOKEN;
        if (dup_into(&p->refresh_token, c->refresh_token) || dup_into(&p->client_id, c->client_id) ||
            dup_into(&p->client_secret, c->client_secret))
            return err_set(e, ERR_NOMEM, "out of memory");
        /* A refresh token cannot widen its grant: asking for scopes it was
         * not issued with fails (invalid_scope). Send the scopes an EE file
         * records, else none, so the token gets exactly the granted ones. */
        free(p->scopes);
        p->scopes = NULL;
        if (dup_into(&p->scopes, c->scopes))
            return err_set(e, ERR_NOMEM, "out of memory");
        snprintf(info->account, sizeof info->account, "%s",
                 c->account ? c->account : c->client_id ? c->client_id : "");
    } else {
        return err_set(e, ERR_AUTH, "credentials file %s holds no credentials (%s)", c->path,
                       credfile_type_name(c->type));
    }
    info->kind = p->kind;
    warn_mode(c, info);
    return 0;
}

/* Sets info->project from the first place that has one, noting every place. */
static void resolve_project(const struct auth_options *o, const struct cred_file *chosen,
                            const struct cred_file *ee, const char *ee_path,
                            const struct cred_file *adc, const char *adc_path,
                            struct auth_info *info)
{
    /* EE_PROJECT is the documented name; EE_PROJECT_ID is its older alias. */
    const char *envs[] = {"EE_PROJECT", "EE_PROJECT_ID", "GOOGLE_CLOUD_QUOTA_PROJECT", "GOOGLE_CLOUD_PROJECT"};
    const struct cred_file *adc_like = NULL;
    size_t i;

#define FOUND(val, ...)                                                                   \
    do {                                                                                  \
        snprintf(info->project, sizeof info->project, "%s", (val));                       \
        snprintf(info->project_from, sizeof info->project_from, __VA_ARGS__);             \
        return;                                                                           \
    } while (0)

    if (o->project && *o->project)
        FOUND(o->project, "--project / recipe setting");
    looked_add(info, "--project option / recipe `project` setting: not set");
    for (i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        if (env(envs[i]))
            FOUND(env(envs[i]), "environment variable %s", envs[i]);
        looked_add(info, "environment variable %s: not set", envs[i]);
    }
    if (ee && ee->project)
        FOUND(ee->project, "Earth Engine credentials file %s", ee->path);
    looked_add(info, "Earth Engine credentials file %s: %s", ee_path,
               ee ? "has no \"project\"" : "not found or unreadable");

    if (chosen && chosen->type == CRED_AUTHORIZED_USER)
        adc_like = chosen;
    else if (adc)
        adc_like = adc;
    if (adc_like && adc_like->quota_project_id)
        FOUND(adc_like->quota_project_id, "quota_project_id in %s", adc_like->path);
    looked_add(info, "application-default credentials %s: %s",
               adc_like ? adc_like->path : adc_path,
               adc_like ? "has no \"quota_project_id\"" : "not found");

    if (chosen && chosen->type == CRED_SERVICE_ACCOUNT && chosen->project_id)
        FOUND(chosen->project_id, "project_id of the service-account key %s", chosen->path);
    looked_add(info, "service-account key: %s",
               chosen && chosen->type == CRED_SERVICE_ACCOUNT ? "has no \"project_id\""
                                                              : "the credentials are not a key");
#undef FOUND
}

/* A Cloud project id ([a-z][-a-z0-9]{4,28}[a-z0-9], optionally behind a
 * "domain.com:" prefix) or a project number. Anything else would also break
 * the URL path it is put into. */
int auth_project_valid(const char *p)
{
    const char *colon = strrchr(p, ':'), *id = colon ? colon + 1 : p;
    size_t n = strlen(id), i;

    if (n && strspn(id, "0123456789") == n && !colon)
        return 1;
    if (colon) {
        for (const char *q = p; q < colon; q++)
            if (!(isalnum((unsigned char)*q) || *q == '.' || *q == '-' || *q == '_'))
                return 0;
        if (colon == p)
            return 0;
    }
    if (n < 6 || n > 30 || !(id[0] >= 'a' && id[0] <= 'z') || id[n - 1] == '-')
        return 0;
    for (i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return 0;
    return 1;
}

void auth_project_help(const struct auth_info *info, char *out, size_t cap)
{
    snprintf(out, cap,
             "no Earth Engine project found. Looked at, in this order:\n%s"
             "Set one with --project PROJECT (or `project = \"PROJECT\"` in the recipe), or "
             "`export EE_PROJECT=PROJECT`, or `earthengine set_project PROJECT`. It must be a "
             "Google Cloud project registered for Earth Engine: "
             "https://code.earthengine.google.com/register",
             info->looked);
}

/* EE_ACCESS_TOKEN: a token used as it is, never refreshed. */
static int provider_from_env_token(struct token_provider *p, const char *v, struct auth_info *info,
                                   struct errbuf *e)
{
    info->source = AUTH_SRC_ENV_TOKEN;
    info->kind = p->kind = AUTH_KIND_STATIC;
    if (strlen(v) >= AUTH_TOKEN_MAX)
        return err_set(e, ERR_AUTH, "EE_ACCESS_TOKEN is longer than %d bytes", AUTH_TOKEN_MAX);
    snprintf(p->token, sizeof p->token, "%s", v);
    log_add_secret(v);
    p->refresh_at = p->expires_at = INT64_MAX;
    p->generation = 1;
    snprintf(info->source_detail, sizeof info->source_detail, "EE_ACCESS_TOKEN");
    return 0;
}

/* The metadata server at host v: the instance's service account. */
static int provider_from_metadata(struct token_provider *p, const char *v, struct auth_info *info,
                                  struct errbuf *e)
{
    info->source = AUTH_SRC_METADATA;
    info->kind = p->kind = AUTH_KIND_METADATA;
    if (dup_into(&p->metadata_host, v))
        return err_set(e, ERR_NOMEM, "out of memory");
    snprintf(info->source_detail, sizeof info->source_detail, "http://%s", v);
    snprintf(info->token_uri, sizeof info->token_uri, "http://%s%s", v, METADATA_TOKEN_PATH);
    snprintf(info->account, sizeof info->account, "default service account of the instance");
    return 0;
}

int auth_resolve(const struct auth_options *o, struct token_provider **out,
                 struct auth_info *info, struct errbuf *e)
{
    struct token_provider *p = NULL;
    struct cred_file chosen, ee, adc;
    int have_chosen = 0, have_ee = 0, have_adc = 0;
    char ee_path[1024], adc_path[1024];
    struct errbuf ee_err, adc_err;
    const char *v;
    int rc = 0;

    *out = NULL;
    ee_err.msg[0] = adc_err.msg[0] = '\0';
    memset(info, 0, sizeof *info);
    ee_file_path(ee_path, sizeof ee_path);
    adc_file_path(adc_path, sizeof adc_path);
    p = provider_new();
    if (!p)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (o->timeout_ms > 0)
        p->timeout_ms = o->timeout_ms;
    if (dup_into(&p->scopes, o->want_storage_scope ? SCOPE_EE " " SCOPE_CLOUD " " SCOPE_STORAGE_RO
                                                   : SCOPE_EE " " SCOPE_CLOUD)) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }

    /* The EE file also supplies a project, whatever the credential source. */
    if (file_exists(ee_path)) {
        if (credfile_load(ee_path, &ee, &ee_err) == 0)
            have_ee = 1;
    }
    if (file_exists(adc_path)) {
        if (credfile_load(adc_path, &adc, &adc_err) == 0)
            have_adc = 1;
    }

    if (o->credentials_file && *o->credentials_file) {
        info->source = AUTH_SRC_FILE;
        rc = credfile_load(o->credentials_file, &chosen, e);
        if (rc)
            goto done;
        have_chosen = 1;
        rc = provider_from_file(p, &chosen, info, e);
    } else if ((v = env("EE_ACCESS_TOKEN"))) {
        rc = provider_from_env_token(p, v, info, e);
    } else if ((v = env("GOOGLE_APPLICATION_CREDENTIALS"))) {
        info->source = AUTH_SRC_GAC;
        rc = credfile_load(v, &chosen, e);
        if (rc) {
            err_prefix(e, rc, "GOOGLE_APPLICATION_CREDENTIALS: ");
            goto done;
        }
        have_chosen = 1;
        rc = provider_from_file(p, &chosen, info, e);
    } else if (have_ee && ee.type == CRED_EE_USER) {
        info->source = AUTH_SRC_EE_FILE;
        rc = provider_from_file(p, &ee, info, e);
    } else if (have_adc) {
        info->source = AUTH_SRC_ADC;
        rc = provider_from_file(p, &adc, info, e);
    } else if ((v = env("GCE_METADATA_HOST")) || (v = env("GCE_METADATA_ROOT")) ||
               (on_google_compute() && (v = "metadata.google.internal"))) {
        rc = provider_from_metadata(p, v, info, e);
    } else {
        /* A corrupt EE file deserves its own message rather than "nothing found". */
        if (ee_err.msg[0] || adc_err.msg[0])
            rc = err_set(e, ERR_PARSE, "%s", ee_err.msg[0] ? ee_err.msg : adc_err.msg);
        else
            rc = err_set(e, ERR_AUTH,
                         "no credentials found. Looked at, in this order: --credentials FILE, "
                         "EE_ACCESS_TOKEN, GOOGLE_APPLICATION_CREDENTIALS, %s, %s, the metadata server "
                         "(GCE_METADATA_HOST). Sign in with `earthengine authenticate` or `gcloud auth "
                         "application-default login`, or pass --credentials with a service-account key",
                         ee_path, adc_path);
    }
    if (rc)
        goto done;

    resolve_project(o, have_chosen ? &chosen : NULL, have_ee ? &ee : NULL, ee_path,
                    have_adc ? &adc : NULL, adc_path, info);
    if (info->project[0] && !auth_project_valid(info->project)) {
        rc = err_set(e, ERR_USAGE, "project '%s' (from %s) is not a valid Google Cloud project "
                     "ID: an ID has 6 to 30 lowercase letters, digits and hyphens and starts "
                     "with a letter (e.g. my-project-123); a project number is all digits",
                     info->project, info->project_from);
        goto done;
    }
done:
    if (have_chosen)
        credfile_free(&chosen);
    if (have_ee)
        credfile_free(&ee);
    if (have_adc)
        credfile_free(&adc);
    if (rc) {
        auth_destroy(p);
        return rc;
    }
    /* Unreadable files that another source made unnecessary: say so once. */
    if (ee_err.msg[0])
        log_warn("ignored: %s", ee_err.msg);
    if (adc_err.msg[0] && info->source != AUTH_SRC_ADC)
        log_warn("ignored: %s", adc_err.msg);
    p->source = info->source;
    *out = p;
    return 0;
}
