/*
 * core/jwt and core/credfile without a server: base64url against RFC 4648's
 * vectors, the JWT's parts and its RS256 signature checked with OpenSSL's
 * verifier, and credential-file type detection and validation.
 */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/check.h"
#include "core/credfile.h"
#include "core/jwt.h"

static char dir[] = "/tmp/eefetch-jwt-XXXXXX";

static void b64(const char *in, size_t n, const char *want)
{
    struct buf b;

    buf_init(&b, 0);
    CHECK(jwt_b64url_append(&b, in, n) == 0);
    CHECK_STR(b.len ? b.data : "", want);
    buf_free(&b);
}

static json_object *decode_part(const char *s, size_t n)
{
    char tmp[4096];
    unsigned char out[4096];
    size_t i;
    int len;

    /* Back to standard, padded base64 for OpenSSL's decoder. */
    if (n + 4 >= sizeof tmp)
        return NULL;
    for (i = 0; i < n; i++)
        tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (i % 4)
        tmp[i++] = '=';
    tmp[i] = '\0';
    len = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)i);
    if (len < 0)
        return NULL;
    while (len > 0 && out[len - 1] == '\0')
        len--;   /* EVP_DecodeBlock counts padding as zero bytes */
    out[len] = '\0';
    return json_tokener_parse((char *)out);
}

static void test_jwt(void)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, *data;
    long n;
    struct jwt_claims c = {"kid-1", "sa@p.iam.gserviceaccount.com", "s1 s2",
                           "http://127.0.0.1:1/token", 1700000000, 1700003600};
    struct buf jwt;
    struct errbuf e;
    const char *d1, *d2;
    json_object *h, *cl, *v;
    unsigned char sig[512];
    int siglen;
    EVP_MD_CTX *md;

    CHECK(key && bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1);
    n = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)n);
    CHECK(pem != NULL);
    if (!pem)
        goto out;

    CHECK(jwt_sign_rs256(pem, &c, &jwt, &e) == 0);
    d1 = strchr(jwt.data, '.');
    d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
    CHECK(strchr(jwt.data, '=') == NULL && strchr(jwt.data, '+') == NULL &&
          strchr(jwt.data, '/') == NULL);
    if (!d1 || !d2)
        goto out;
    h = decode_part(jwt.data, (size_t)(d1 - jwt.data));
    cl = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    CHECK(h && cl);
    if (h && cl) {
        CHECK(json_object_object_get_ex(h, "alg", &v) && strcmp(json_object_get_string(v), "RS256") == 0);
        CHECK(json_object_object_get_ex(h, "typ", &v) && strcmp(json_object_get_string(v), "JWT") == 0);
        CHECK(json_object_object_get_ex(h, "kid", &v) && strcmp(json_object_get_string(v), "kid-1") == 0);
        CHECK(json_object_object_get_ex(cl, "iss", &v) &&
              strcmp(json_object_get_string(v), c.iss) == 0);
        CHECK(json_object_object_get_ex(cl, "aud", &v) &&
              strcmp(json_object_get_string(v), c.aud) == 0);
        CHECK(json_object_object_get_ex(cl, "scope", &v) &&
              strcmp(json_object_get_string(v), "s1 s2") == 0);
        CHECK(json_object_object_get_ex(cl, "iat", &v) && json_object_get_int64(v) == c.iat);
        CHECK(json_object_object_get_ex(cl, "exp", &v) && json_object_get_int64(v) == c.exp);
    }
    json_object_put(h);
    json_object_put(cl);

    /* The signature verifies with the public key over "header.claims". */
    {
        char tmp[1024];
        size_t sl = strlen(d2 + 1), i;
        for (i = 0; i < sl && i + 4 < sizeof tmp; i++)
            tmp[i] = d2[1 + i] == '-' ? '+' : d2[1 + i] == '_' ? '/' : d2[1 + i];
        while (i % 4)
            tmp[i++] = '=';
        tmp[i] = '\0';
        siglen = EVP_DecodeBlock(sig, (unsigned char *)tmp, (int)i);
        siglen -= (int)(i - sl);   /* padding */
    }
    CHECK(siglen == 256);
    md = EVP_MD_CTX_new();
    CHECK(md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
          EVP_DigestVerify(md, sig, (size_t)siglen, (const unsigned char *)jwt.data,
                           (size_t)(d2 - jwt.data)) == 1);
    EVP_MD_CTX_free(md);
    buf_free(&jwt);

    /* Not a key: a parse error that does not echo the text. */
    CHECK(jwt_sign_rs256("-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRETXYZ\n-----END PRIVATE KEY-----\n",
                         &c, &jwt, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "not a PEM-encoded RSA private key") != NULL);
    CHECK(strstr(e.msg, "SECRETXYZ") == NULL);
out:
    free(pem);
    BIO_free(bio);
    EVP_PKEY_free(key);
}

static const char *write_file(const char *name, const char *text, int mode)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, (mode_t)mode);
    return path;
}

static void test_credfile(void)
{
    struct cred_file c;
    struct errbuf e;
    const char *p;

    p = write_file("sa.json", "{\"type\":\"service_account\",\"project_id\":\"proj-123\","
                              "\"private_key_id\":\"k1\",\"private_key\":\"PEM\","
                              "\"client_email\":\"a@b.c\",\"token_uri\":\"https://t/token\"}", 0600);
    CHECK(credfile_load(p, &c, &e) == 0);
    CHECK(c.type == CRED_SERVICE_ACCOUNT);
    CHECK_STR(c.project_id, "proj-123");
    CHECK_STR(c.token_uri, "https://t/token");
    CHECK(c.insecure_mode == 0);
    credfile_free(&c);

    p = write_file("au.json", "{\"type\":\"authorized_user\",\"client_id\":\"id\","
                              "\"client_secret\":\"sec\",\"refresh_token\":\"1//rt\","
                              "\"quota_project_id\":\"qp-1234\"}", 0644);
    CHECK(credfile_load(p, &c, &e) == 0);
    CHECK(c.type == CRED_AUTHORIZED_USER);
    CHECK_STR(c.quota_project_id, "qp-1234");
    CHECK(c.insecure_mode == 1);
    credfile_free(&c);

    p = write_file("ee", "{\"refresh_token\":\"1//rt\",\"scopes\":[\"a\",\"b\"],\"project\":\"pp-1234\"}",
                   0600);
    CHECK(credfile_load(p, &c, &e) == 0);
    CHECK(c.type == CRED_EE_USER);
    CHECK_STR(c.scopes, "a b");
    CHECK_STR(c.project, "pp-1234");
    credfile_free(&c);

    p = write_file("ee-project", "{\"project\":\"only-proj\"}", 0600);
    CHECK(credfile_load(p, &c, &e) == 0);
    CHECK(c.type == CRED_PROJECT_ONLY);
    credfile_free(&c);

    p = write_file("ext.json", "{\"type\":\"external_account\"}", 0600);
    CHECK(credfile_load(p, &c, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "has type 'external_account'") != NULL);

    p = write_file("nokey.json", "{\"type\":\"service_account\",\"client_email\":\"a@b.c\"}", 0600);
    CHECK(credfile_load(p, &c, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "lacks the field 'private_key'") != NULL);

    p = write_file("au-bad.json", "{\"type\":\"authorized_user\",\"client_id\":\"id\","
                                  "\"client_secret\":\"sec\"}", 0600);
    CHECK(credfile_load(p, &c, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "lacks the field 'refresh_token'") != NULL);

    p = write_file("trunc.json", "{\"type\":\"service_account\",\"private_key\":\"-----BEGIN", 0600);
    CHECK(credfile_load(p, &c, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "is not a valid JSON object") != NULL);
    CHECK(strstr(e.msg, "BEGIN") == NULL);

    p = write_file("array.json", "[1,2]", 0600);
    CHECK(credfile_load(p, &c, &e) == ERR_PARSE);

    p = write_file("other.json", "{\"hello\":1}", 0600);
    CHECK(credfile_load(p, &c, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "neither a service-account key") != NULL);

    CHECK(credfile_load("/nonexistent/eefetch/cred.json", &c, &e) == ERR_IO);
    CHECK(strstr(e.msg, "/nonexistent/eefetch/cred.json") != NULL);
}

int main(void)
{
    char cmd[256];

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    b64("", 0, "");
    b64("f", 1, "Zg");
    b64("fo", 2, "Zm8");
    b64("foo", 3, "Zm9v");
    b64("foob", 4, "Zm9vYg");
    b64("fooba", 5, "Zm9vYmE");
    b64("foobar", 6, "Zm9vYmFy");
    b64("\xfb\xff", 2, "-_8");
    test_jwt();
    test_credfile();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
