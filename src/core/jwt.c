/* JWT assembly and RS256 signing (see jwt.h). */
#include "core/jwt.h"

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jwt_b64url_append(struct buf *out, const void *p, size_t n)
{
    const unsigned char *s = p;
    char q[4];
    size_t i;
    int rc = 0;

    for (i = 0; i + 2 < n && rc == 0; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        q[0] = b64url_alphabet[(v >> 18) & 63];
        q[1] = b64url_alphabet[(v >> 12) & 63];
        q[2] = b64url_alphabet[(v >> 6) & 63];
        q[3] = b64url_alphabet[v & 63];
        rc = buf_append(out, q, 4);
    }
    if (rc == 0 && n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        q[0] = b64url_alphabet[(v >> 18) & 63];
        q[1] = b64url_alphabet[(v >> 12) & 63];
        rc = buf_append(out, q, 2);
    } else if (rc == 0 && n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        q[0] = b64url_alphabet[(v >> 18) & 63];
        q[1] = b64url_alphabet[(v >> 12) & 63];
        q[2] = b64url_alphabet[(v >> 6) & 63];
        rc = buf_append(out, q, 3);
    }
    return rc;
}

static int append_json_part(struct buf *out, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    return s ? jwt_b64url_append(out, s, strlen(s)) : ERR_NOMEM;
}

int jwt_sign_rs256(const char *pem_key, const struct jwt_claims *c, struct buf *out,
                   struct errbuf *e)
{
    json_object *hdr = json_object_new_object(), *cl = json_object_new_object();
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    int rc = 0;

    buf_init(out, 64 * 1024);
    if (!hdr || !cl) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    if (c->kid && *c->kid)
        json_object_object_add(hdr, "kid", json_object_new_string(c->kid));
    json_object_object_add(cl, "iss", json_object_new_string(c->iss));
    json_object_object_add(cl, "scope", json_object_new_string(c->scope));
    json_object_object_add(cl, "aud", json_object_new_string(c->aud));
    json_object_object_add(cl, "iat", json_object_new_int64(c->iat));
    json_object_object_add(cl, "exp", json_object_new_int64(c->exp));

    bio = BIO_new_mem_buf(pem_key, -1);
    if (!bio) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        rc = err_set(e, ERR_PARSE, "private_key is not a PEM-encoded RSA private key");
        goto done;
    }
    if (append_json_part(out, hdr) || buf_append(out, ".", 1) || append_json_part(out, cl)) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)out->data, out->len) != 1 ||
        !(sig = OPENSSL_malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out->data, out->len) != 1) {
        rc = err_set(e, ERR_AUTH, "RS256 signing failed");
        goto done;
    }
    if (buf_append(out, ".", 1) || jwt_b64url_append(out, sig, siglen))
        rc = err_set(e, ERR_NOMEM, "out of memory");
done:
    if (rc)
        buf_free(out);
    OPENSSL_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    json_object_put(hdr);
    json_object_put(cl);
    return rc;
}
