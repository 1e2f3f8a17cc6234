/*
 * The emulator started in-process (what `--emulator` does): emu_start on
 * port 0, two servers at once, requests over plain loopback sockets, config
 * strings the caller frees right after start, stop with an idle keep-alive
 * connection open, and start-up errors. Under ASan this also checks that
 * start/stop leaks nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "emulator/emu.h"
#include "util/timeutil.h"
#include "../unit/check.h"

static int connect_local(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends one request on fd and reads until the headers and Content-Length
 * bytes of body have arrived. Returns the status, or -1. */
static int roundtrip(int fd, const char *method, const char *path, const char *body,
                     char *out, size_t cap)
{
    char req[1024];
    size_t got = 0;
    const char *hdr_end = NULL;
    long clen = -1;
    int n, status = -1;

    n = snprintf(req, sizeof req,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 method, path, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n)
        return -1;
    out[0] = '\0';
    while (got + 1 < cap) {
        ssize_t k = read(fd, out + got, cap - 1 - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
        out[got] = '\0';
        if (!hdr_end && (hdr_end = strstr(out, "\r\n\r\n")) != NULL) {
            const char *cl = strstr(out, "Content-Length:");
            if (!cl)
                cl = strstr(out, "content-length:");
            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (hdr_end && (long)(got - (size_t)(hdr_end + 4 - out)) >= clen)
            break;
    }
    if (sscanf(out, "HTTP/1.1 %d", &status) != 1)
        return -1;
    return status;
}

static void test_two_servers(void)
{
    struct emu_config cfg;
    struct emu *a = NULL, *b = NULL;
    struct errbuf e;
    static char resp[1 << 20];   /* the algorithm list alone is ~80 KB */
    char url[64];
    int fd;

    emu_config_default(&cfg);
    cfg.port = 0;
    CHECK(emu_start(&cfg, &a, &e) == 0);
    CHECK(emu_start(&cfg, &b, &e) == 0);
    if (!a || !b)
        goto done;
    CHECK(emu_port(a) > 0 && emu_port(b) > 0 && emu_port(a) != emu_port(b));
    snprintf(url, sizeof url, "http://127.0.0.1:%d", emu_port(a));
    CHECK_STR(emu_base_url(a), url);

    fd = connect_local(emu_port(a));
    CHECK(fd >= 0);
    if (fd >= 0) {
        /* Several requests on one connection (keep-alive). */
        CHECK(roundtrip(fd, "GET", "/v1/projects/p/algorithms", NULL, resp, sizeof resp) == 200);
        CHECK(strstr(resp, "\"algorithms\"") != NULL);
        CHECK(roundtrip(fd, "POST", "/v1beta/projects/p/value:compute", "{\"a\":", resp,
                        sizeof resp) == 400);
        CHECK(strstr(resp, "\"INVALID_ARGUMENT\"") != NULL);
        CHECK(roundtrip(fd, "GET", "/v1alpha/projects/p/assets/NO/SUCH", NULL, resp,
                        sizeof resp) == 404);
        CHECK(strstr(resp, "\"NOT_FOUND\"") != NULL);
        close(fd);
    }
    fd = connect_local(emu_port(b));
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(roundtrip(fd, "GET", "/v1/projects/p/assets/USGS/SRTMGL1_003", NULL, resp,
                        sizeof resp) == 200);
        CHECK(strstr(resp, "\"elevation\"") != NULL);
        close(fd);
    }
done:
    emu_stop(a);
    emu_stop(b);
}

/* The server copies what it keeps of the config: the caller may free its
 * strings as soon as emu_start returns. */
static void test_config_copied(void)
{
    struct emu_config cfg;
    struct emu *s = NULL;
    struct errbuf e;
    char logpath[] = "/tmp/eefetch-inproc-log-XXXXXX";
    static char resp[1 << 20];   /* the algorithm list alone is ~80 KB */
    char *bind, *log;
    int fd, lfd;
    FILE *f;

    lfd = mkstemp(logpath);
    CHECK(lfd >= 0);
    if (lfd < 0)
        return;
    close(lfd);
    bind = strdup("127.0.0.1");
    log = strdup(logpath);
    emu_config_default(&cfg);
    cfg.bind = bind;
    cfg.request_log = log;
    CHECK(emu_start(&cfg, &s, &e) == 0);
    memset(bind, 'x', strlen(bind));
    memset(log, 'x', strlen(log));
    free(bind);
    free(log);
    if (s) {
        fd = connect_local(emu_port(s));
        CHECK(fd >= 0);
        if (fd >= 0) {
            CHECK(roundtrip(fd, "GET", "/v1/projects/p/algorithms", NULL, resp, sizeof resp) == 200);
            /* Stop with this keep-alive connection still open and idle. */
            {
                int64_t t0 = time_mono_ms();
                emu_stop(s);
                s = NULL;
                CHECK(time_mono_ms() - t0 < 5000);
            }
            close(fd);
        }
        emu_stop(s);
    }
    f = fopen(logpath, "r");
    CHECK(f != NULL);
    if (f) {
        char line[4096];
        CHECK(fgets(line, sizeof line, f) != NULL && strstr(line, "\"algorithms.list\"") != NULL);
        fclose(f);
    }
    unlink(logpath);
}

static void test_start_errors(void)
{
    struct emu_config cfg;
    struct emu *s = NULL, *t = NULL;
    struct errbuf e;

    emu_config_default(&cfg);
    cfg.bind = "not-an-address";
    CHECK(emu_start(&cfg, &s, &e) != 0 && s == NULL);
    CHECK(strstr(e.msg, "not-an-address") != NULL);

    emu_config_default(&cfg);
    cfg.assets[0] = "users/me/dem=/nonexistent/dem.tif";
    cfg.nassets = 1;
    CHECK(emu_start(&cfg, &s, &e) != 0 && s == NULL);

    emu_config_default(&cfg);
    cfg.assets[0] = "no-equals-sign";
    cfg.nassets = 1;
    CHECK(emu_start(&cfg, &s, &e) != 0 && s == NULL);

    emu_config_default(&cfg);
    cfg.request_log = "/nonexistent-dir/log.jsonl";
    CHECK(emu_start(&cfg, &s, &e) != 0 && s == NULL);

    /* A port in use. */
    emu_config_default(&cfg);
    CHECK(emu_start(&cfg, &s, &e) == 0);
    if (s) {
        cfg.port = emu_port(s);
        CHECK(emu_start(&cfg, &t, &e) != 0 && t == NULL);
        emu_stop(s);
    }
    emu_stop(NULL);
}

int main(void)
{
    /* Building the catalog dominates each start; keep the number of starts low. */
    test_two_servers();
    test_config_copied();
    test_start_errors();
    return CHECK_DONE();
}
