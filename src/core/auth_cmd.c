/*
 * `eefetch auth`: shows which credential source, account and project would
 * be used and proves them with one cheap call. Secrets are never printed.
 */
#include "core/auth_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/session.h"
#include "util/ee.h"
#include "util/log.h"


static void usage(FILE *out)
{
    fprintf(out,
            "usage: eefetch auth [options]\n\n"
            "Shows the credential source, account and project eefetch would use, then\n"
            "checks them with one cheap call (a constant value:compute).\n\n"
            "  --credentials FILE   service-account key, authorized_user or EE credentials file\n"
            "  --project PROJECT    Cloud project registered for Earth Engine\n"
            "  --endpoint URL       base URL (default %s)\n"
            "  --high-volume        use %s\n"
            "  --api-version V      v1 (default), v1beta or v1alpha\n"
            "  --no-check           resolve only, make no request\n"
            "  -v, --verbose        debug logging\n\n"
            "Sources and project rules: docs/auth.md.\n",
            EE_ENDPOINT, EE_ENDPOINT_HIGH_VOLUME);
}

int auth_cmd_main(int argc, char **argv)
{
    struct auth_options ao;
    struct auth_info info;
    struct token_provider *tp = NULL;
    struct session_opts so;
    struct session *s = NULL;
    struct errbuf e;
    const char *endpoint = EE_ENDPOINT, *version = "v1";
    char help[4096];
    int i, check = 1, status = 1;

    memset(&ao, 0, sizeof ao);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-check") == 0) {
            check = 0;
        } else if (strcmp(a, "--high-volume") == 0) {
            endpoint = EE_ENDPOINT_HIGH_VOLUME;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            log_set_level(LOG_DEBUG);
        } else if (val && strcmp(a, "--credentials") == 0) {
            ao.credentials_file = val;
            i++;
        } else if (val && strcmp(a, "--project") == 0) {
            ao.project = val;
            i++;
        } else if (val && strcmp(a, "--endpoint") == 0) {
            endpoint = val;
            i++;
        } else if (val && strcmp(a, "--api-version") == 0) {
            version = val;
            i++;
        } else {
            fprintf(stderr, "eefetch auth: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }

    if (auth_resolve(&ao, &tp, &info, &e) != 0) {
        log_redact(e.msg, sizeof e.msg);
        fprintf(stderr, "eefetch auth: %s\n", e.msg);
        return 1;
    }
    printf("credentials: %s", auth_source_name(info.source));
    if (info.source_detail[0])
        printf(" (%s)", info.source_detail);
    printf("\nkind:        %s\n", auth_kind_name(info.kind));
    if (info.account[0])
        printf("account:     %s\n", info.account);
    if (info.token_uri[0])
        printf("token URI:   %s\n", info.token_uri);
    if (!info.project[0]) {
        printf("project:     (none)\n");
        fflush(stdout);
        auth_project_help(&info, help, sizeof help);
        fprintf(stderr, "eefetch auth: %s\n", help);
        goto done;
    }
    printf("project:     %s (from %s)\n", info.project, info.project_from);
    printf("endpoint:    %s/%s\n", endpoint, version);
    fflush(stdout);
    if (!check) {
        status = 0;
        goto done;
    }

    memset(&so, 0, sizeof so);
    so.endpoint = endpoint;
    so.version = version;
    so.project = info.project;
    so.auth = tp;
    so.timeout_ms = 60000;
    so.max_response = 1 << 20;
    if (session_create(&so, &s, &e) != 0 || auth_verify(s, &info, &e) != 0) {
        log_redact(e.msg, sizeof e.msg);
        printf("check:       FAILED\n");
        fflush(stdout);
        fprintf(stderr, "eefetch auth: %s\n", e.msg);
        goto done;
    }
    printf("check:       OK (value:compute answered; %llu token grant%s)\n",
           (unsigned long long)auth_refresh_count(tp), auth_refresh_count(tp) == 1 ? "" : "s");
    status = 0;
done:
    session_destroy(s);
    auth_destroy(tp);
    return status;
}
