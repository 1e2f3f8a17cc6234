/*
 * The shared token provider against the real emulator (in-process, over
 * loopback HTTP, auth required):
 *  - 16 threads, each with its own session, call value:compute for ~10 s
 *    with a 3-second token lifetime: no failure, and about one token grant
 *    per expiry (counted by the provider and by the emulator's request log),
 *    not one per thread;
 *  - a 401 forces exactly one refresh and one retry.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/check.h"
#include "core/auth.h"
#include "core/session.h"
#include "emulator/emu.h"
#include "util/timeutil.h"

#define NTHREADS 16
#define RUN_MS 10000
#define LIFETIME_S 3

static const char expr[] =
    "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}}";

struct worker {
    pthread_t th;
    int64_t run_ms;
    const char *base;
    struct token_provider *tp;
    int ok, failed;
    char first_error[4096];
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct session_opts o;
    struct session *s = NULL;
    struct http_result res;
    struct errbuf e;
    int64_t end = time_mono_ms() + w->run_ms;

    memset(&o, 0, sizeof o);
    o.endpoint = w->base;
    o.project = "emu-proj";
    o.auth = w->tp;
    o.timeout_ms = 20000;
    if (session_create(&o, &s, &e) != 0) {
        w->failed++;
        snprintf(w->first_error, sizeof w->first_error, "%s", e.msg);
        return NULL;
    }
    while (time_mono_ms() < end) {
        int rc = session_post(s, "value:compute", expr, sizeof expr - 1, &res, &e);
        if (rc == 0 && res.status == 200) {
            w->ok++;
        } else {
            if (!w->failed)
                snprintf(w->first_error, sizeof w->first_error, "rc %d status %ld %s", rc,
                         res.status, rc ? e.msg : res.body.data);
            w->failed++;
        }
        http_result_free(&res);
        time_sleep_ms(20);
    }
    session_destroy(s);
    return NULL;
}

/* Lines of the request log for successful token grants. */
static int count_grants(const char *log)
{
    char line[8192];
    int n = 0;
    FILE *f = fopen(log, "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "\"route\":\"token\"") && strstr(line, "\"status\":200"))
            n++;
    fclose(f);
    return n;
}

static int count_lines(const char *log, const char *needle)
{
    char line[8192];
    int n = 0;
    FILE *f = fopen(log, "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

/* N workers with refresh-token credentials: same property, other grant. */
static void refresh_grant_phase(struct emu *emu, const char *dir, const char *log)
{
    char path[512];
    struct auth_options ao;
    struct auth_info info;
    struct token_provider *tp = NULL;
    struct worker w[8];
    struct errbuf e;
    int i, failed = 0, before = count_grants(log);
    uint64_t grants;

    snprintf(path, sizeof path, "%s/authorized_user.json", dir);
    memset(&ao, 0, sizeof ao);
    ao.credentials_file = path;
    CHECK(auth_resolve(&ao, &tp, &info, &e) == 0);
    if (!tp)
        return;
    CHECK(info.kind == AUTH_KIND_REFRESH_TOKEN);
    for (i = 0; i < 8; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].run_ms = 4000;
        w[i].base = emu_base_url(emu);
        w[i].tp = tp;
        pthread_create(&w[i].th, NULL, work, &w[i]);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(w[i].th, NULL);
        failed += w[i].failed;
    }
    grants = auth_refresh_count(tp);
    printf("refresh grant: %d failed, %llu grants\n", failed, (unsigned long long)grants);
    CHECK(failed == 0);
    CHECK(grants >= 2 && grants <= 4);
    CHECK(count_grants(log) - before == (int)grants);
    auth_destroy(tp);
}

struct getter {
    pthread_t th;
    struct token_provider *tp;
    pthread_barrier_t *go;
    int rc;
    char msg[ERRBUF_SIZE];
};

static void *get_token(void *arg)
{
    struct getter *g = arg;
    char tok[AUTH_TOKEN_MAX];
    uint64_t gen;
    struct errbuf e;

    pthread_barrier_wait(g->go);
    g->rc = auth_token_get(g->tp, tok, sizeof tok, &gen, &e);
    snprintf(g->msg, sizeof g->msg, "%s", g->rc ? e.msg : "");
    return NULL;
}

/* Refused credentials: 16 threads asking at once cause one token request,
 * and all of them get the same actionable message. */
static void failure_sharing(const char *dir, const char *log)
{
    char src[512], path[512], line[8192];
    struct auth_options ao;
    struct auth_info info;
    struct token_provider *tp = NULL;
    struct getter g[NTHREADS];
    pthread_barrier_t go;
    struct errbuf e;
    FILE *in, *out;
    int i, before = count_lines(log, "\"status\":400");

    /* authorized_user.json with a refresh token the emulator never issued. */
    snprintf(src, sizeof src, "%s/authorized_user.json", dir);
    snprintf(path, sizeof path, "%s/revoked.json", dir);
    in = fopen(src, "r");
    out = fopen(path, "w");
    CHECK(in && out);
    if (!in || !out) {
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return;
    }
    while (fgets(line, sizeof line, in)) {
        char *p = strstr(line, "1//emu-");
        if (p)
            memcpy(p, "1//xxx-", 7);
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
    chmod(path, 0600);

    memset(&ao, 0, sizeof ao);
    ao.credentials_file = path;
    CHECK(auth_resolve(&ao, &tp, &info, &e) == 0);
    if (!tp)
        return;
    pthread_barrier_init(&go, NULL, NTHREADS);
    for (i = 0; i < NTHREADS; i++) {
        g[i].tp = tp;
        g[i].go = &go;
        pthread_create(&g[i].th, NULL, get_token, &g[i]);
    }
    for (i = 0; i < NTHREADS; i++)
        pthread_join(g[i].th, NULL);
    for (i = 0; i < NTHREADS; i++) {
        CHECK(g[i].rc == ERR_AUTH);
        CHECK(strstr(g[i].msg, "Token has been expired or revoked.") != NULL);
        CHECK(strstr(g[i].msg, "sign in again") != NULL);
    }
    CHECK(count_lines(log, "\"status\":400") - before == 1);
    CHECK(auth_refresh_count(tp) == 0);
    pthread_barrier_destroy(&go);
    auth_destroy(tp);
}

int main(void)
{
    char dir[] = "/tmp/eefetch-auth-XXXXXX", keyfile[256], log[256], log2[256], dir2[300];
    struct emu_config cfg, cfg2;
    struct emu *emu = NULL, *other = NULL;
    struct auth_options ao;
    struct auth_info info;
    struct token_provider *tp = NULL;
    struct worker w[NTHREADS];
    struct errbuf e;
    int i, ok = 0, failed = 0, grants_log;
    uint64_t grants;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(keyfile, sizeof keyfile, "%s/service-account.json", dir);
    snprintf(log, sizeof log, "%s/requests.jsonl", dir);
    snprintf(log2, sizeof log2, "%s/other.jsonl", dir);
    snprintf(dir2, sizeof dir2, "%s/other", dir);

    emu_config_default(&cfg);
    cfg.port = 0;
    cfg.require_auth = 1;
    cfg.token_lifetime_s = LIFETIME_S;
    cfg.projects = "emu-proj";
    cfg.request_log = log;
    cfg.concurrency_limit = 100;
    CHECK(emu_start(&cfg, &emu, &e) == 0);
    if (!emu) {
        fprintf(stderr, "emu_start: %s\n", e.msg);
        return CHECK_DONE();
    }
    CHECK(emu_write_credentials(emu, dir, &e) == 0);

    memset(&ao, 0, sizeof ao);
    ao.credentials_file = keyfile;
    CHECK(auth_resolve(&ao, &tp, &info, &e) == 0);
    if (!tp) {
        fprintf(stderr, "auth_resolve: %s\n", e.msg);
        goto out;
    }
    CHECK(info.kind == AUTH_KIND_SERVICE_ACCOUNT);
    CHECK_STR(info.project, "emu-proj");

    for (i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].run_ms = RUN_MS;
        w[i].base = emu_base_url(emu);
        w[i].tp = tp;
        pthread_create(&w[i].th, NULL, work, &w[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(w[i].th, NULL);
        ok += w[i].ok;
        failed += w[i].failed;
        if (w[i].failed)
            fprintf(stderr, "worker %d: %d failed, first: %s\n", i, w[i].failed, w[i].first_error);
    }
    grants = auth_refresh_count(tp);
    grants_log = count_grants(log);
    printf("%d requests ok, %d failed, %llu grants (provider), %d grants (emulator log)\n", ok,
           failed, (unsigned long long)grants, grants_log);
    CHECK(failed == 0);
    CHECK(ok > NTHREADS * 10);
    /* Refresh after 3/4 of 3 s over 10 s: about 5 grants, never one per thread. */
    CHECK(grants >= 3 && grants <= 8);
    CHECK(grants_log == (int)grants);
    CHECK(count_lines(log, "\"status\":401") == 0);

    refresh_grant_phase(emu, dir, log);
    failure_sharing(dir, log);

    /* 401 with a token the endpoint does not know: one forced refresh, one retry. */
    emu_config_default(&cfg2);
    cfg2.require_auth = 1;
    cfg2.request_log = log2;
    CHECK(emu_start(&cfg2, &other, &e) == 0);
    if (other) {
        struct session_opts o;
        struct session *s = NULL;
        struct http_result res;
        char tok[AUTH_TOKEN_MAX];
        uint64_t gen, before;

        /* Start from a fresh token so that only the 401 can cause a grant. */
        CHECK(auth_token_invalidate(tp, auth_token_get(tp, tok, sizeof tok, &gen, &e) == 0 ? gen : 0,
                                    &e) == 0);
        CHECK(auth_token_get(tp, tok, sizeof tok, &gen, &e) == 0);
        before = auth_refresh_count(tp);
        (void)dir2;
        memset(&o, 0, sizeof o);
        o.endpoint = emu_base_url(other);
        o.project = "emu-proj";
        o.auth = tp;
        CHECK(session_create(&o, &s, &e) == 0);
        if (s) {
            int rc = session_post(s, "value:compute", expr, sizeof expr - 1, &res, &e);
            CHECK(rc == 0);
            CHECK(res.status == 401);
            http_result_free(&res);
            CHECK(auth_refresh_count(tp) == before + 1);
            CHECK(count_lines(log2, "\"status\":401") == 2);
            session_destroy(s);
        }
    }
out:
    auth_destroy(tp);
    emu_stop(other);
    emu_stop(emu);
    {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return CHECK_DONE();
}
