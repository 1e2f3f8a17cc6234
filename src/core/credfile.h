/*
 * Reading credential files: service-account keys, authorized_user files
 * (gcloud ADC) and the Earth Engine credentials file. Secrets read here are
 * registered with the logger's redaction list at once.
 */
#ifndef EEFETCH_CORE_CREDFILE_H
#define EEFETCH_CORE_CREDFILE_H

#include "util/err.h"

enum cred_type {
    CRED_SERVICE_ACCOUNT,   /* "type": "service_account" */
    CRED_AUTHORIZED_USER,   /* "type": "authorized_user" */
    CRED_EE_USER,           /* EE credentials file with a refresh_token */
    CRED_PROJECT_ONLY,      /* EE credentials file holding only settings such as "project" */
};

struct cred_file {
    enum cred_type type;
    char *path;
    /* service_account */
    char *client_email, *private_key, *private_key_id, *project_id;
    /* authorized_user / EE user */
    char *client_id, *client_secret, *refresh_token, *quota_project_id, *account;
    char *project;     /* EE credentials file's project */
    char *scopes;      /* EE credentials file's scopes, space-separated */
    char *token_uri;   /* as written in the file, or NULL */
    int insecure_mode; /* readable by group or others */
};

/* Loads and validates a credential file. A file that is missing gives
 * ERR_IO, one that is not JSON or lacks a required field ERR_PARSE; the
 * message names the file and the field. */
int credfile_load(const char *path, struct cred_file *out, struct errbuf *e);
void credfile_free(struct cred_file *c);
const char *credfile_type_name(enum cred_type t);

#endif
