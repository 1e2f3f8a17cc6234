/*
 * Emulator authentication: an OAuth token endpoint (JWT-bearer and
 * refresh-token grants), the metadata-server token path, bearer checks on
 * EE routes, registered projects, and minting credentials the emulator
 * trusts (`serve --write-credentials DIR`).
 *
 * Trust is a list of service-account public keys and refresh tokens. It is
 * kept in memory and, when written, in DIR/emulator-trust.json so that a
 * later `serve --credentials-dir DIR` trusts the same files again. Access
 * tokens live only in memory: a restarted emulator answers 401 to old ones,
 * like an expired token.
 */
#include "emulator/handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timeutil.h"

#define MAX_KEYS 16
#define MAX_REFRESH 16
#define MAX_ACCESS 8192
#define CLOCK_SKEW_S 300
#define TRUST_FILE "emulator-trust.json"
#define JWT_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define SA_EMAIL "eefetch-emulator@emulated-project.iam.gserviceaccount.com"
#define CLIENT_ID "100000000000-eefetch-emulator.apps.googleusercontent.com"

/* Google's texts; see docs/emulator.md (Authentication). */
#define MSG_MISSING                                                                          \
    "Request is missing required authentication credential. Expected OAuth 2 access token, " \
    "login cookie or other valid authentication credential. See "                            \
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
#define MSG_INVALID                                                                            \
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "    \
    "cookie or other valid authentication credential. See "                                    \
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
#define MSG_TIMEFRAME                                                                          \
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "         \
    "timeframe. Check your iat and exp values in the JWT claim."

struct trusted_key {
    char kid[64];
    char email[256];
    EVP_PKEY *pub;
    char *pub_pem;
};

struct access_token {
    char token[64];
    int64_t expires_ms;   /* emulator clock */
};

struct emu_auth {
    pthread_mutex_t mu;
    struct trusted_key keys[MAX_KEYS];
    int nkeys;
    char refresh[MAX_REFRESH][80];
    char refresh_client[MAX_REFRESH][96];
    int nrefresh;
    struct access_token *access;   /* MAX_ACCESS slots, oldest overwritten */
    int naccess, next_access;
    uint64_t grants;
    int64_t clock_offset_s;        /* EEFETCH_EMU_CLOCK_OFFSET, to test clock skew */
    char token_uri[160];           /* of the last --write-credentials */
    const struct emu_config *cfg;  /* owned by the server, outlives this */
};

/* ---- small helpers ------------------------------------------------------------------- */

static int64_t emu_now_ms(const struct emu_auth *a)
{
    return time_now_ms() + a->clock_offset_s * 1000;
}

static int64_t emu_now_s(const struct emu_auth *a)
{
    return emu_now_ms(a) / 1000;
}

static int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    size_t i;

    if (nbytes > sizeof raw || RAND_bytes(raw, (int)nbytes) != 1)
        return -1;
    for (i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int b64url_val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

/* Decodes base64url s[0..n) into out (NUL-terminated). JWTs are meant to
 * be unpadded, but Google's token endpoint also takes segments that keep
 * base64's "=" padding (some JWT libraries send them): up to two are
 * ignored at the end. */
static int b64url_decode(const char *s, size_t n, struct buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i;

    for (i = 0; i < 2 && n > 0 && s[n - 1] == '='; i++)
        n--;
    buf_init(out, 64 * 1024);
    if (buf_reserve(out, n))
        return -1;
    for (i = 0; i < n; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            char ch = (char)((acc >> (bits - 8)) & 0xff);
            bits -= 8;
            if (buf_append(out, &ch, 1))
                return -1;
        }
    }
    /* Terminates the text even when nothing was decoded. */
    return buf_append(out, "", 0) ? -1 : 0;
}

/* URL-decodes one form value in place. */
static void form_decode(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '+') {
            *w++ = ' ';
        } else if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
}

/* Finds key=value in an urlencoded body; returns a malloc'd decoded value. */
static char *form_get(const char *body, const char *key)
{
    size_t kl = strlen(key);
    const char *p = body;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char *v = strndup(p + kl + 1, len - kl - 1);
            if (v)
                form_decode(v);
            return v;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void oauth_error(struct emu_response *r, int http, const char *err, const char *desc)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(err));
    json_object_object_add(o, "error_description", json_object_new_string(desc));
    emu_json(r, http, o);
}

/* Issues an access token. Caller holds a->mu. */
static int issue_locked(struct emu_auth *a, int lifetime_s, char *out, size_t cap)
{
    struct access_token *t;
    char hex[41];
    int64_t now = emu_now_ms(a);
    int i;

    if (random_hex(hex, 20))
        return -1;
    /* Reuse an expired slot first, so a long run keeps its live tokens. */
    for (i = 0; i < a->naccess; i++)
        if (a->access[i].expires_ms <= now)
            break;
    if (i == a->naccess) {
        if (a->naccess < MAX_ACCESS) {
            a->naccess++;
        } else {
            i = a->next_access;
            a->next_access = (a->next_access + 1) % MAX_ACCESS;
        }
    }
    t = &a->access[i];
    snprintf(t->token, sizeof t->token, "ya29.emu-%s", hex);
    t->expires_ms = now + (int64_t)lifetime_s * 1000;
    snprintf(out, cap, "%s", t->token);
    a->grants++;
    return 0;
}

static void token_answer(struct emu_auth *a, const struct emu_config *cfg, struct emu_response *r)
{
    char tok[64];
    int lifetime = cfg->token_lifetime_s > 0 ? cfg->token_lifetime_s : 3600;
    json_object *o;
    int rc;

    pthread_mutex_lock(&a->mu);
    rc = issue_locked(a, lifetime, tok, sizeof tok);
    pthread_mutex_unlock(&a->mu);
    if (rc) {
        oauth_error(r, 500, "internal_failure", "could not create a token");
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    json_object_object_add(o, "expires_in", json_object_new_int(lifetime));
    json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
    emu_json(r, 200, o);
}

/* ---- life cycle and trust ------------------------------------------------------------ */

static int add_key(struct emu_auth *a, const char *kid, const char *email, const char *pem,
                   struct errbuf *e)
{
    struct trusted_key *k;
    BIO *bio;

    if (a->nkeys == MAX_KEYS)
        return err_set(e, ERR_LIMIT, "too many trusted keys (%d)", MAX_KEYS);
    k = &a->keys[a->nkeys];
    bio = BIO_new_mem_buf(pem, -1);
    k->pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    k->pub_pem = strdup(pem);
    if (!k->pub || !k->pub_pem) {
        EVP_PKEY_free(k->pub);
        free(k->pub_pem);
        memset(k, 0, sizeof *k);
        return err_set(e, ERR_PARSE, "trusted key %s is not a PEM public key", kid);
    }
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    snprintf(k->email, sizeof k->email, "%s", email);
    a->nkeys++;
    return 0;
}

static int add_refresh(struct emu_auth *a, const char *token, const char *client)
{
    if (a->nrefresh == MAX_REFRESH)
        return -1;
    snprintf(a->refresh[a->nrefresh], sizeof a->refresh[0], "%s", token);
    snprintf(a->refresh_client[a->nrefresh], sizeof a->refresh_client[0], "%s", client);
    a->nrefresh++;
    return 0;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int trust_load(struct emu_auth *a, const char *dir, struct errbuf *e)
{
    char path[1024];
    json_object *top, *arr;
    struct stat st;
    size_t i;
    int rc = 0;

    snprintf(path, sizeof path, "%s/%s", dir, TRUST_FILE);
    if (stat(path, &st) != 0)
        return 0;   /* nothing trusted yet */
    top = json_object_from_file(path);
    if (!top)
        return err_set(e, ERR_PARSE, "%s is not valid JSON", path);
    if (json_object_object_get_ex(top, "keys", &arr) && json_object_is_type(arr, json_type_array))
        for (i = 0; rc == 0 && i < json_object_array_length(arr); i++) {
            json_object *k = json_object_array_get_idx(arr, i);
            const char *kid = jstr(k, "kid"), *email = jstr(k, "client_email"),
                       *pem = jstr(k, "public_key");
            if (kid && email && pem)
                rc = add_key(a, kid, email, pem, e);
        }
    if (json_object_object_get_ex(top, "refresh_tokens", &arr) &&
        json_object_is_type(arr, json_type_array))
        for (i = 0; i < json_object_array_length(arr); i++) {
            json_object *t = json_object_array_get_idx(arr, i);
            const char *tok = jstr(t, "refresh_token"), *cid = jstr(t, "client_id");
            if (tok)
                add_refresh(a, tok, cid ? cid : "");
        }
    json_object_put(top);
    return rc;
}

int emu_auth_create(const struct emu_config *cfg, struct emu_auth **out, struct errbuf *e)
{
    struct emu_auth *a = calloc(1, sizeof *a);
    const char *off = getenv("EEFETCH_EMU_CLOCK_OFFSET");
    int rc = 0;

    *out = NULL;
    if (!a)
        return err_set(e, ERR_NOMEM, "out of memory");
    a->access = calloc(MAX_ACCESS, sizeof *a->access);
    if (!a->access || pthread_mutex_init(&a->mu, NULL) != 0) {
        free(a->access);
        free(a);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    a->cfg = cfg;
    if (off && *off)
        a->clock_offset_s = strtoll(off, NULL, 10);
    if (cfg && cfg->credentials_dir)
        rc = trust_load(a, cfg->credentials_dir, e);
    if (rc) {
        emu_auth_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

void emu_auth_destroy(struct emu_auth *a)
{
    int i;

    if (!a)
        return;
    for (i = 0; i < a->nkeys; i++) {
        EVP_PKEY_free(a->keys[i].pub);
        free(a->keys[i].pub_pem);
    }
    pthread_mutex_destroy(&a->mu);
    free(a->access);
    free(a);
}

/* Writes obj to dir/name with mode 0600 (credentials are secrets). */
static int write_json(const char *dir, const char *name, json_object *obj, struct errbuf *e)
{
    char path[1024];
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    FILE *f;
    int fd, rc = 0;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (fputs(s, f) < 0 || fputc('\n', f) < 0)
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    return rc;
}

static int trust_save(struct emu_auth *a, const char *dir, struct errbuf *e)
{
    json_object *top = json_object_new_object(), *keys = json_object_new_array(),
                *rts = json_object_new_array();
    int i, rc;

    for (i = 0; i < a->nkeys; i++) {
        json_object *k = json_object_new_object();
        json_object_object_add(k, "kid", json_object_new_string(a->keys[i].kid));
        json_object_object_add(k, "client_email", json_object_new_string(a->keys[i].email));
        json_object_object_add(k, "public_key", json_object_new_string(a->keys[i].pub_pem));
        json_object_array_add(keys, k);
    }
    for (i = 0; i < a->nrefresh; i++) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "refresh_token", json_object_new_string(a->refresh[i]));
        json_object_object_add(t, "client_id", json_object_new_string(a->refresh_client[i]));
        json_object_array_add(rts, t);
    }
    json_object_object_add(top, "keys", keys);
    json_object_object_add(top, "refresh_tokens", rts);
    rc = write_json(dir, TRUST_FILE, top, e);
    json_object_put(top);
    return rc;
}

static char *bio_string(BIO *bio)
{
    char *data = NULL, *out;
    long n = BIO_get_mem_data(bio, &data);

    if (n <= 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (out) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    return out;
}

static const char *first_project(const struct emu_config *cfg, char *buf, size_t cap)
{
    size_t n;

    if (!cfg || !cfg->projects || !*cfg->projects)
        return "emulated-project";
    n = strcspn(cfg->projects, ",");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, cfg->projects, n);
    buf[n] = '\0';
    return buf;
}

int emu_auth_write_credentials(struct emu_auth *a, const char *dir, const char *base_url,
                               struct errbuf *e)
{
    EVP_PKEY *key = NULL;
    BIO *priv = NULL, *pub = NULL;
    char *priv_pem = NULL, *pub_pem = NULL;
    char kid[41], rt_hex[41], refresh[80], secret_hex[25], secret[40], token_uri[160];
    json_object *sa = NULL, *au = NULL, *ee = NULL, *scopes;
    const char *project;
    char projbuf[128];
    int rc = 0;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "%s: %s", dir, strerror(errno));
    if (random_hex(kid, 20) || random_hex(rt_hex, 20) || random_hex(secret_hex, 12))
        return err_set(e, ERR_INTERNAL, "no randomness for credentials");
    snprintf(refresh, sizeof refresh, "1//emu-%s", rt_hex);
    snprintf(secret, sizeof secret, "EMU-%s", secret_hex);
    snprintf(token_uri, sizeof token_uri, "%s/token", base_url);
    project = first_project(a->cfg, projbuf, sizeof projbuf);

    key = EVP_RSA_gen(2048);
    priv = BIO_new(BIO_s_mem());
    pub = BIO_new(BIO_s_mem());
    if (!key || !priv || !pub || PEM_write_bio_PrivateKey(priv, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(pub, key) != 1 || !(priv_pem = bio_string(priv)) ||
        !(pub_pem = bio_string(pub))) {
        rc = err_set(e, ERR_INTERNAL, "could not generate an RSA key");
        goto done;
    }

    pthread_mutex_lock(&a->mu);
    rc = add_key(a, kid, SA_EMAIL, pub_pem, e);
    if (rc == 0 && add_refresh(a, refresh, CLIENT_ID) != 0)
        rc = err_set(e, ERR_LIMIT, "too many trusted refresh tokens (%d)", MAX_REFRESH);
    snprintf(a->token_uri, sizeof a->token_uri, "%s", token_uri);
    if (rc == 0)
        rc = trust_save(a, dir, e);
    pthread_mutex_unlock(&a->mu);
    if (rc)
        goto done;

    sa = json_object_new_object();
    json_object_object_add(sa, "type", json_object_new_string("service_account"));
    json_object_object_add(sa, "project_id", json_object_new_string(project));
    json_object_object_add(sa, "private_key_id", json_object_new_string(kid));
    json_object_object_add(sa, "private_key", json_object_new_string(priv_pem));
    json_object_object_add(sa, "client_email", json_object_new_string(SA_EMAIL));
    json_object_object_add(sa, "client_id", json_object_new_string("100000000000000000001"));
    json_object_object_add(sa, "auth_uri", json_object_new_string(token_uri));
    json_object_object_add(sa, "token_uri", json_object_new_string(token_uri));
    json_object_object_add(sa, "universe_domain", json_object_new_string("googleapis.com"));
    rc = write_json(dir, "service-account.json", sa, e);
    if (rc)
        goto done;

    au = json_object_new_object();
    json_object_object_add(au, "type", json_object_new_string("authorized_user"));
    json_object_object_add(au, "client_id", json_object_new_string(CLIENT_ID));
    json_object_object_add(au, "client_secret", json_object_new_string(secret));
    json_object_object_add(au, "refresh_token", json_object_new_string(refresh));
    json_object_object_add(au, "quota_project_id", json_object_new_string(project));
    json_object_object_add(au, "account", json_object_new_string("user@example.com"));
    json_object_object_add(au, "token_uri", json_object_new_string(token_uri));
    json_object_object_add(au, "universe_domain", json_object_new_string("googleapis.com"));
    rc = write_json(dir, "authorized_user.json", au, e);
    if (rc)
        goto done;

    /* The real EE file carries no token URI; clients point at the emulator
     * with EEFETCH_TOKEN_URI (docs/auth.md). */
    ee = json_object_new_object();
    json_object_object_add(ee, "client_id", json_object_new_string(CLIENT_ID));
    json_object_object_add(ee, "client_secret", json_object_new_string(secret));
    json_object_object_add(ee, "refresh_token", json_object_new_string(refresh));
    scopes = json_object_new_array();
    json_object_array_add(scopes, json_object_new_string("https://www.googleapis.com/auth/earthengine"));
    json_object_array_add(scopes,
                          json_object_new_string("https://www.googleapis.com/auth/cloud-platform"));
    json_object_object_add(ee, "scopes", scopes);
    json_object_object_add(ee, "project", json_object_new_string(project));
    rc = write_json(dir, "credentials", ee, e);
done:
    json_object_put(sa);
    json_object_put(au);
    json_object_put(ee);
    if (priv_pem) {
        memset(priv_pem, 0, strlen(priv_pem));
        free(priv_pem);
    }
    free(pub_pem);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- token endpoint ------------------------------------------------------------------ */

/* The audiences a JWT may name: this endpoint as the client reached it, or
 * one of the names of Google's token endpoint. Google's endpoint accepts
 * all of its names, and clients with a built-in token URL sign for it
 * whatever their key's token_uri says (the JS client's gtoken signs for
 * .../oauth2/v4/token, as GDAL does), so a stand-in must accept them too. */
static int audience_ok(const char *aud, const char *here)
{
    static const char *const google[] = {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    };
    size_t i;

    if (!aud)
        return 0;
    if (strcmp(aud, here) == 0)
        return 1;
    for (i = 0; i < sizeof google / sizeof google[0]; i++)
        if (strcmp(aud, google[i]) == 0)
            return 1;
    return 0;
}

/* Verifies a JWT-bearer assertion; fills r with the OAuth error on failure. */
static int verify_assertion(struct emu_auth *a, const char *jwt, const char *aud_expected,
                            struct emu_response *r)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    struct buf hdr, cl, sig;
    json_object *h = NULL, *c = NULL;
    const struct trusted_key *k = NULL;
    const char *kid, *iss, *aud, *alg;
    EVP_MD_CTX *md = NULL;
    int64_t iat, exp, now = emu_now_s(a);
    json_object *v;
    int i, ok = -1;

    buf_init(&hdr, 0);
    buf_init(&cl, 0);
    buf_init(&sig, 0);
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') ||
        b64url_decode(jwt, (size_t)(dot1 - jwt), &hdr) ||
        b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &cl) ||
        b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig) || !(h = json_tokener_parse(hdr.data)) ||
        !(c = json_tokener_parse(cl.data))) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT: could not parse the assertion.");
        goto done;
    }
    alg = jstr(h, "alg");
    if (!alg || strcmp(alg, "RS256") != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT: the signing algorithm must be RS256.");
        goto done;
    }
    kid = jstr(h, "kid");
    iss = jstr(c, "iss");
    aud = jstr(c, "aud");
    pthread_mutex_lock(&a->mu);
    for (i = 0; i < a->nkeys; i++)
        if ((kid && strcmp(a->keys[i].kid, kid) == 0) ||
            (!kid && iss && strcmp(a->keys[i].email, iss) == 0)) {
            k = &a->keys[i];
            break;
        }
    pthread_mutex_unlock(&a->mu);
    /* Keys are never removed, so k stays valid without the lock. */
    md = EVP_MD_CTX_new();
    if (!k || !md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pub) != 1 ||
        EVP_DigestVerify(md, (const unsigned char *)sig.data, sig.len, (const unsigned char *)jwt,
                         (size_t)(dot2 - jwt)) != 1) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT Signature.");
        goto done;
    }
    if (!iss || strcmp(iss, k->email) != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid grant: account not found");
        goto done;
    }
    if (!audience_ok(aud, aud_expected)) {
        char msg[512];
        snprintf(msg, sizeof msg, "Invalid JWT: Failed audience check. The expected value was %s",
                 aud_expected);
        oauth_error(r, 400, "invalid_grant", msg);
        goto done;
    }
    if (!json_object_object_get_ex(c, "iat", &v) || !json_object_is_type(v, json_type_int)) {
        oauth_error(r, 400, "invalid_grant", MSG_TIMEFRAME);
        goto done;
    }
    iat = json_object_get_int64(v);
    if (!json_object_object_get_ex(c, "exp", &v) || !json_object_is_type(v, json_type_int)) {
        oauth_error(r, 400, "invalid_grant", MSG_TIMEFRAME);
        goto done;
    }
    exp = json_object_get_int64(v);
    if (exp <= iat || exp - iat > 3600 || iat > now + CLOCK_SKEW_S || exp <= now) {
        oauth_error(r, 400, "invalid_grant", MSG_TIMEFRAME);
        goto done;
    }
    ok = 0;
done:
    EVP_MD_CTX_free(md);
    json_object_put(h);
    json_object_put(c);
    buf_free(&hdr);
    buf_free(&cl);
    buf_free(&sig);
    return ok;
}

int handle_token(const struct emu_ctx *ctx, const struct emu_request *q, struct emu_response *r)
{
    struct emu_auth *a = ctx->auth;
    char *grant = NULL, *assertion = NULL, *rt = NULL, *cid = NULL;
    const char *body = q->body ? q->body : "";
    const char *host = q->header ? q->header(q, "Host") : NULL;
    char aud[320];
    int i, found = -1;

    if (strcmp(q->method, "POST") != 0) {
        oauth_error(r, 405, "invalid_request", "The token endpoint accepts POST only.");
        return 0;
    }
    grant = form_get(body, "grant_type");
    if (!grant) {
        oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type");
        goto done;
    }
    if (strcmp(grant, JWT_GRANT) == 0) {
        assertion = form_get(body, "assertion");
        /* The audience is this endpoint as the client reached it. */
        if (host)
            snprintf(aud, sizeof aud, "http://%s/token", host);
        else
            snprintf(aud, sizeof aud, "%s", a->token_uri);
        if (!assertion) {
            oauth_error(r, 400, "invalid_request", "Missing required parameter: assertion");
        } else if (verify_assertion(a, assertion, aud, r) == 0) {
            token_answer(a, ctx->cfg, r);
        }
    } else if (strcmp(grant, "refresh_token") == 0) {
        rt = form_get(body, "refresh_token");
        cid = form_get(body, "client_id");
        if (!rt) {
            oauth_error(r, 400, "invalid_request", "Missing required parameter: refresh_token");
            goto done;
        }
        pthread_mutex_lock(&a->mu);
        for (i = 0; i < a->nrefresh; i++)
            if (strcmp(a->refresh[i], rt) == 0)
                found = i;
        if (found >= 0 && cid && strcmp(a->refresh_client[found], cid) != 0)
            found = -2;
        pthread_mutex_unlock(&a->mu);
        if (found == -2)
            oauth_error(r, 401, "unauthorized_client", "Unauthorized");
        else if (found < 0)
            oauth_error(r, 400, "invalid_grant", "Token has been expired or revoked.");
        else
            token_answer(a, ctx->cfg, r);
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "Invalid grant_type: %.200s", grant);
        oauth_error(r, 400, "unsupported_grant_type", msg);
    }
done:
    free(grant);
    free(assertion);
    free(rt);
    free(cid);
    return 0;
}

int handle_metadata_token(const struct emu_ctx *ctx, const struct emu_request *q,
                          struct emu_response *r)
{
    const char *flavor = q->header ? q->header(q, "Metadata-Flavor") : NULL;

    if (!flavor || strcmp(flavor, "Google") != 0) {
        static const char msg[] = "Missing required header: Metadata-Flavor: Google\n";
        r->status = 403;
        snprintf(r->content_type, sizeof r->content_type, "text/plain; charset=utf-8");
        buf_reset(&r->body);
        buf_append(&r->body, msg, sizeof msg - 1);
        return 0;
    }
    token_answer(ctx->auth, ctx->cfg, r);
    return 0;
}

/* ---- checks on EE routes ------------------------------------------------------------- */

static int project_registered(const char *list, const char *p)
{
    size_t n = strlen(p);
    const char *s = list;

    while (s && *s) {
        size_t len = strcspn(s, ",");
        if (len == n && strncmp(s, p, n) == 0)
            return 1;
        s += len;
        if (*s == ',')
            s++;
    }
    return 0;
}

int emu_auth_check(const struct emu_ctx *ctx, const struct emu_request *q, struct emu_response *r)
{
    struct emu_auth *a = ctx->auth;
    const char *hdr, *project;
    int i, ok = 0;

    if (ctx->cfg->require_auth) {
        hdr = q->header ? q->header(q, "Authorization") : NULL;
        if (!hdr || strncasecmp(hdr, "Bearer ", 7) != 0 || !hdr[7]) {
            emu_error(r, 401, MSG_MISSING);
            return -1;
        }
        hdr += 7;
        pthread_mutex_lock(&a->mu);
        {
            int64_t now = emu_now_ms(a);
            for (i = 0; i < a->naccess; i++)
                if (strcmp(a->access[i].token, hdr) == 0) {
                    ok = a->access[i].expires_ms > now;
                    break;
                }
        }
        pthread_mutex_unlock(&a->mu);
        if (!ok) {
            emu_error(r, 401, MSG_INVALID);
            return -1;
        }
    }
    /* The billed project: the header, else the path project unless it only
     * names where public or legacy assets live. */
    project = q->header ? q->header(q, "X-Goog-User-Project") : NULL;
    if (!project || !*project) {
        project = q->project;
        if (project && (strcmp(project, "earthengine-public") == 0 ||
                        strcmp(project, "earthengine-legacy") == 0))
            project = NULL;
    }
    if (project && ctx->cfg->projects && *ctx->cfg->projects &&
        !project_registered(ctx->cfg->projects, project)) {
        emu_error(r, 403, "Project %s is not registered to use Earth Engine. Visit "
                          "https://code.earthengine.google.com/register?project=%s to register "
                          "your project. See https://developers.google.com/earth-engine/guides/access "
                          "for more details.",
                  project, project);
        return -1;
    }
    return 0;
}
