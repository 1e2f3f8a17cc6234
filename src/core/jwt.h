/*
 * JSON Web Tokens for the service-account JWT-bearer grant: base64url
 * without padding, RS256 (PKCS#1 v1.5 with SHA-256) through OpenSSL EVP.
 */
#ifndef EEFETCH_CORE_JWT_H
#define EEFETCH_CORE_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Appends the unpadded base64url encoding of p[0..n) to out. */
int jwt_b64url_append(struct buf *out, const void *p, size_t n);

struct jwt_claims {
    const char *kid;     /* private_key_id, or NULL */
    const char *iss;     /* client_email */
    const char *scope;   /* space-separated scopes */
    const char *aud;     /* the token URI */
    int64_t iat, exp;    /* seconds since the epoch */
};

/* Builds and signs a JWT with the PEM private key (PKCS#8 or PKCS#1) into
 * out (re-initialised here). A key that does not parse gives ERR_PARSE. */
int jwt_sign_rs256(const char *pem_key, const struct jwt_claims *c, struct buf *out,
                   struct errbuf *e);

#endif
