/* The one cheap call that proves credentials and project (see auth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/backoff.h"
#include "core/session.h"

/* The check is a request like any other: a busy or flaky server (429, 5xx,
 * a reset connection) gets a few bounded, jittered retries (backoff.h's
 * QUERY policy) before the run is given up, so a transient failure never
 * stops a download before it starts. */

/* ee.Number(1): the smallest expression EE evaluates. */
static const char probe[] =
    "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}}";

int auth_verify(struct session *s, const struct auth_info *info, struct errbuf *e)
{
    struct http_result res;
    char msg[1024];
    const char *src = info ? auth_source_name(info->source) : "the credentials";
    const char *proj = info && info->project[0] ? info->project : "the project";
    int rc;

    rc = backoff_request(s, "value:compute", probe, sizeof probe - 1, &res, e);
    if (rc) {
        http_result_free(&res);
        return rc;
    }
    session_error_message(&res, msg, sizeof msg);
    switch (res.status) {
    case 200:
        rc = 0;
        break;
    case 401:
        rc = err_set(e, ERR_AUTH, "Earth Engine rejected the access token from %s (HTTP 401: %s). "
                     "What to do: check that the credentials are current (sign in again, or create "
                     "a new key) and that they are meant for this endpoint", src, msg);
        break;
    case 403:
        if (strstr(msg, "not registered") || strstr(msg, "Not signed up"))
            rc = err_set(e, ERR_AUTH, "Earth Engine refused project %s (HTTP 403): %s What to do: "
                         "register the project for Earth Engine at "
                         "https://code.earthengine.google.com/register?project=%s, or choose a "
                         "registered project with --project", proj, msg, proj);
        else if (strstr(msg, "permission"))
            rc = err_set(e, ERR_AUTH, "Earth Engine refused project %s (HTTP 403): %s What to do: "
                         "grant the account roles/serviceusage.serviceUsageConsumer and an Earth "
                         "Engine role on the project, or choose another with --project", proj, msg);
        else
            rc = err_set(e, ERR_AUTH, "Earth Engine refused the request for project %s (HTTP 403): "
                         "%s", proj, msg);
        break;
    default:
        rc = err_set(e, ERR_SERVER, "the check call (value:compute) failed with HTTP %ld: %s",
                     res.status, msg);
        break;
    }
    http_result_free(&res);
    return rc;
}
