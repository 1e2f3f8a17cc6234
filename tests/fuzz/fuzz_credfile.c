/*
 * Fuzz target: credential files (core/credfile.h). credfile_load reads a
 * path, so each input is written to a private temporary file first (mode
 * 0600, like a real key). A service-account key that loads is then used to
 * sign a JWT (core/jwt.h), which parses its PEM private key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/credfile.h"
#include "core/jwt.h"
#include "fuzz.h"

static char path[512];

static void remove_tmp(void)
{
    char dir[512];
    unlink(path);
    snprintf(dir, sizeof dir, "%s", path);
    if (strrchr(dir, '/')) {
        *strrchr(dir, '/') = '\0';
        rmdir(dir);
    }
}

static int tmp_path(void)
{
    char dir[400];
    const char *base = getenv("TMPDIR");

    if (path[0])
        return 0;
    snprintf(dir, sizeof dir, "%s/eefetch-fuzz-cred-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/credentials.json", dir);
    atexit(remove_tmp);
    return 0;
}

volatile unsigned long fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cred_file c;
    struct errbuf e;
    FILE *f;

    if (tmp_path() != 0)
        return 0;
    f = fopen(path, "wb");
    if (!f)
        return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    chmod(path, 0600);
    if (credfile_load(path, &c, &e) == 0) {
        fuzz_sink = strlen(credfile_type_name(c.type));
        if (c.type == CRED_SERVICE_ACCOUNT && c.private_key) {
            struct jwt_claims cl = {c.private_key_id, c.client_email,
                                    "https://www.googleapis.com/auth/earthengine",
                                    c.token_uri ? c.token_uri : "https://oauth2.googleapis.com/token",
                                    1700000000, 1700003600};
            struct buf jwt;
            buf_init(&jwt, 0);
            if (jwt_sign_rs256(c.private_key, &cl, &jwt, &e) == 0)
                fuzz_sink += jwt.len;
            buf_free(&jwt);
        }
        credfile_free(&c);
    } else {
        /* Failed loads must leave nothing to free, but freeing is allowed. */
        credfile_free(&c);
    }
    return 0;
}
