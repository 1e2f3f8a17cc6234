/* Credential file parsing (see credfile.h). */
#include "core/credfile.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/log.h"

#define CRED_FILE_MAX (1 << 20)

const char *credfile_type_name(enum cred_type t)
{
    switch (t) {
    case CRED_SERVICE_ACCOUNT: return "service-account key";
    case CRED_AUTHORIZED_USER: return "authorized_user file";
    case CRED_EE_USER: return "Earth Engine user credentials";
    case CRED_PROJECT_ONLY: return "Earth Engine settings (no refresh token)";
    }
    return "?";
}

/* Copies a string member (NULL when absent or not a non-empty string). */
static int take(json_object *o, const char *key, char **out)
{
    json_object *v;

    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0)
        return 0;
    *out = strdup(json_object_get_string(v));
    return *out ? 0 : ERR_NOMEM;
}

/* The EE file's "scopes" is a JSON list; joined with spaces. */
static int take_scopes(json_object *o, char **out)
{
    json_object *v;
    struct buf b;
    size_t i;

    *out = NULL;
    if (!json_object_object_get_ex(o, "scopes", &v) || !json_object_is_type(v, json_type_array))
        return 0;
    buf_init(&b, 64 * 1024);
    for (i = 0; i < json_object_array_length(v); i++) {
        const char *sc = json_object_get_string(json_object_array_get_idx(v, i));
        if (!sc)
            continue;
        if ((b.len && buf_append(&b, " ", 1)) || buf_append_str(&b, sc)) {
            buf_free(&b);
            return ERR_NOMEM;
        }
    }
    *out = b.data;
    return 0;
}

static int require(const struct cred_file *c, const char *value, const char *field,
                   struct errbuf *e)
{
    if (value)
        return 0;
    return err_set(e, ERR_PARSE, "credentials file %s (%s) lacks the field '%s'; the file is "
                   "incomplete or corrupt: download or create it again",
                   c->path, credfile_type_name(c->type), field);
}

int credfile_load(const char *path, struct cred_file *out, struct errbuf *e)
{
    struct buf raw;
    struct stat st;
    json_object *top = NULL, *type;
    json_tokener *tok = NULL;
    enum json_tokener_error jerr;
    const char *tname = NULL;
    int rc = 0;

    memset(out, 0, sizeof *out);
    buf_init(&raw, CRED_FILE_MAX);
    out->path = strdup(path);
    if (!out->path)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (stat(path, &st) != 0) {
        rc = err_set(e, ERR_IO, "credentials file %s: %s", path, strerror(errno));
        goto done;
    }
    out->insecure_mode = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    rc = buf_read_file(&raw, path);
    if (rc) {
        rc = err_set(e, rc == ERR_LIMIT ? ERR_PARSE : ERR_IO, "credentials file %s: cannot read it%s",
                     path, rc == ERR_LIMIT ? " (larger than 1 MiB: not a credentials file)" : "");
        goto done;
    }
    tok = json_tokener_new();
    if (!tok) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    top = json_tokener_parse_ex(tok, raw.data ? raw.data : "", (int)raw.len);
    jerr = json_tokener_get_error(tok);
    if (jerr != json_tokener_success || !top || !json_object_is_type(top, json_type_object)) {
        rc = err_set(e, ERR_PARSE, "credentials file %s is not a valid JSON object (%s); the file "
                     "is corrupt: download or create it again",
                     path, jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                                        : "not an object");
        goto done;
    }
    if (json_object_object_get_ex(top, "type", &type))
        tname = json_object_get_string(type);

    if (take(top, "client_email", &out->client_email) || take(top, "private_key", &out->private_key) ||
        take(top, "private_key_id", &out->private_key_id) || take(top, "project_id", &out->project_id) ||
        take(top, "client_id", &out->client_id) || take(top, "client_secret", &out->client_secret) ||
        take(top, "refresh_token", &out->refresh_token) ||
        take(top, "quota_project_id", &out->quota_project_id) || take(top, "account", &out->account) ||
        take(top, "project", &out->project) || take(top, "token_uri", &out->token_uri) ||
        take_scopes(top, &out->scopes)) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Redact secrets from every later message, wherever they show up. */
    log_add_secret(out->refresh_token);
    log_add_secret(out->client_secret);
    log_add_secret(out->private_key);

    if (tname && strcmp(tname, "service_account") == 0) {
        out->type = CRED_SERVICE_ACCOUNT;
        if ((rc = require(out, out->client_email, "client_email", e)) ||
            (rc = require(out, out->private_key, "private_key", e)))
            goto done;
    } else if (tname && strcmp(tname, "authorized_user") == 0) {
        out->type = CRED_AUTHORIZED_USER;
        if ((rc = require(out, out->refresh_token, "refresh_token", e)) ||
            (rc = require(out, out->client_id, "client_id", e)) ||
            (rc = require(out, out->client_secret, "client_secret", e)))
            goto done;
    } else if (tname) {
        rc = err_set(e, ERR_PARSE, "credentials file %s has type '%s'; eefetch supports "
                     "'service_account' keys, 'authorized_user' files and the Earth Engine "
                     "credentials file", path, tname);
        goto done;
    } else if (out->refresh_token) {
        out->type = CRED_EE_USER;
    } else if (out->project && !out->private_key) {
        out->type = CRED_PROJECT_ONLY;
    } else {
        rc = err_set(e, ERR_PARSE, "credentials file %s is neither a service-account key, an "
                     "authorized_user file nor Earth Engine credentials (no 'type' and no "
                     "'refresh_token'); the file is corrupt or of another kind", path);
        goto done;
    }
done:
    if (rc)
        credfile_free(out);
    if (tok)
        json_tokener_free(tok);
    json_object_put(top);
    if (raw.data)
        memset(raw.data, 0, raw.len);
    buf_free(&raw);
    return rc;
}

void credfile_free(struct cred_file *c)
{
    char **fields[] = {&c->path, &c->client_email, &c->private_key, &c->private_key_id,
                       &c->project_id, &c->client_id, &c->client_secret, &c->refresh_token,
                       &c->quota_project_id, &c->account, &c->project, &c->scopes, &c->token_uri};
    size_t i;

    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (*fields[i]) {
            memset(*fields[i], 0, strlen(*fields[i]));
            free(*fields[i]);
            *fields[i] = NULL;
        }
    }
}
