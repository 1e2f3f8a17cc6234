/* The pure parts of batch export: requestIds (deterministic, at most 60
 * of [A-Za-z0-9-], distinct per cell and attempt), exported file names
 * (single and split, other cells' refused), the poll back-off, bucket URIs,
 * URL encoding, the storage base for an EE endpoint, the select rewrite
 * and the via = "auto" rule. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/export.h"
#include "core/exprtext.h"
#include "core/gcs.h"
#include "../unit/check.h"

static const char *HASH = "245f76c7a4afa9639b6296440f78fe8d7864db524d4432f0398b37557c036d9b";

static int id_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static void request_ids(void)
{
    char a[64], b[64], c[64], big[64], tiny[16];

    CHECK(export_request_id(HASH, "gs://b/x", 0, 0, a, sizeof a) == 0);
    CHECK(strncmp(a, "eefetch-245f76c7a4afa9639b629644-", 33) == 0);
    CHECK(strlen(a) == 33 + 8 + 6 && strcmp(a + 41, "-c0-a0") == 0);
    CHECK(export_request_id(HASH, "gs://b/x", 0, 0, b, sizeof b) == 0);
    CHECK_STR(a, b);                                   /* deterministic: a rerun sends the same */
    CHECK(export_request_id(HASH, "gs://b/x", 0, 1, c, sizeof c) == 0);
    CHECK(strcmp(a, c) != 0);                          /* a resubmission after FAILED is a new task */
    CHECK(export_request_id(HASH, "gs://b/y", 0, 0, c, sizeof c) == 0);
    CHECK(strcmp(a, c) != 0);                          /* another destination is another task */
    CHECK(export_request_id(HASH, "gs://b/x", 999999, 99, big, sizeof big) == 0);
    CHECK(strlen(big) <= EXPORT_REQUEST_ID_MAX && id_chars_ok(big));
    CHECK(id_chars_ok(a));
    CHECK(export_request_id(HASH, "gs://b/x", 1, 0, tiny, sizeof tiny) == -1);
}

static void object_names(void)
{
    long r = -1, c = -1;
    const char *p = "exp/eefetch-245f76c7a4afa963-c1";

    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c1.tif", p, &r, &c) == 0);
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c1-0000000256-0000010496.tif", p, &r, &c) == 1);
    CHECK(r == 256 && c == 10496);
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c1-00000002560000000512.tif", p, &r, &c) == 1);
    CHECK(r == 256 && c == 512);
    /* cell 10's files start with cell 1's prefix: not this task's */
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c10.tif", p, &r, &c) == -1);
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c10-0000000000-0000000000.tif", p, &r, &c) == -1);
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c1-000000000-0000000000.tif", p, &r, &c) == -1);
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c1-0000000000-0000000000.tiff", p, &r, &c) == -1);
    CHECK(export_parse_object("exp/eefetch-245f76c7a4afa963-c1-0000000000-000000000x.tif", p, &r, &c) == -1);
    CHECK(export_parse_object("other/x.tif", p, &r, &c) == -1);
}

static void backoff(void)
{
    CHECK(export_poll_delay_ms(0, 2000, 30000) == 2000);
    CHECK(export_poll_delay_ms(1, 2000, 30000) == 3000);
    CHECK(export_poll_delay_ms(2, 2000, 30000) == 4500);
    CHECK(export_poll_delay_ms(6, 2000, 30000) == 22781);
    CHECK(export_poll_delay_ms(7, 2000, 30000) == 30000);
    CHECK(export_poll_delay_ms(1000, 2000, 30000) == 30000);   /* no overflow */
    CHECK(export_poll_delay_ms(0, 50, 750) == 50);
}

static void uris(void)
{
    char b[256], p[256], out[256];
    struct errbuf e;

    CHECK(gcs_parse_uri("gs://my-bucket/exports/srtm/", b, sizeof b, p, sizeof p, &e) == 0);
    CHECK_STR(b, "my-bucket");
    CHECK_STR(p, "exports/srtm");
    CHECK(gcs_parse_uri("gs://my-bucket", b, sizeof b, p, sizeof p, &e) == 0);
    CHECK_STR(p, "");
    CHECK(gcs_parse_uri("s3://x/y", b, sizeof b, p, sizeof p, &e) == ERR_USAGE);
    CHECK(strstr(e.msg, "gs://<bucket>/<prefix>") != NULL);
    CHECK(gcs_parse_uri("gs://My_Bucket/x", b, sizeof b, p, sizeof p, &e) == ERR_USAGE);
    CHECK(gcs_parse_uri("gs://ab/x", b, sizeof b, p, sizeof p, &e) == ERR_USAGE);

    CHECK(gcs_urlencode("exp/a b+c.tif", out, sizeof out) == 0);
    CHECK_STR(out, "exp%2Fa%20b%2Bc.tif");
    CHECK(gcs_urlencode("abcdef", out, 4) == -1);

    CHECK(gcs_base_for("https://earthengine.googleapis.com", out, sizeof out) == 0);
    CHECK_STR(out, GCS_ENDPOINT);
    CHECK(gcs_base_for("https://earthengine-highvolume.googleapis.com/", out, sizeof out) == 0);
    CHECK_STR(out, GCS_ENDPOINT);
    CHECK(gcs_base_for("http://127.0.0.1:8080/", out, sizeof out) == 0);
    CHECK_STR(out, "http://127.0.0.1:8080");
}

static void select_rewrite(void)
{
    const char *expr = "{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}";
    const char *bands[] = {"B4", "q\"uote"};
    struct json_object *j, *v, *fn;
    struct errbuf e;
    char *out = NULL;

    CHECK(exprtext_wrap_select(expr, bands, 2, &out, &e) == 0);
    j = out ? json_tokener_parse(out) : NULL;
    CHECK(j != NULL);
    if (j) {
        CHECK(json_object_object_get_ex(j, "result", &v) && strcmp(json_object_get_string(v), "eefetch_select") == 0);
        CHECK(json_object_object_get_ex(j, "values", &v) && json_object_object_get_ex(v, "eefetch_select", &fn));
        CHECK(strstr(out, "\"functionName\":\"Image.select\"") != NULL);
        CHECK(strstr(out, "\"bandSelectors\":{\"constantValue\":[\"B4\",\"q\\\"uote\"]}") != NULL);
        CHECK(strstr(out, "\"input\":{\"valueReference\":\"0\"}") != NULL);
        CHECK(json_object_object_get_ex(v, "0", &fn));   /* the old values are kept */
        json_object_put(j);
    }
    free(out);
    CHECK(exprtext_wrap_select("[1]", bands, 1, &out, &e) == ERR_USAGE);
}

static void auto_rule(void)
{
    struct download_spec s;
    struct grid_plan p;
    char why[256];

    memset(&s, 0, sizeof s);
    memset(&p, 0, sizeof p);
    s.expression = (char *)"{\"result\":\"0\",\"values\":{}}";
    p.ntiles = 10;
    CHECK(export_choose(&s, &p, (uint64_t)1 << 30, why, sizeof why) == 0);
    CHECK(strncmp(why, "interactive", 11) == 0);
    CHECK(export_choose(&s, &p, EXPORT_AUTO_BYTES + 1, why, sizeof why) == 1);
    CHECK(strstr(why, "GiB") != NULL);
    p.ntiles = EXPORT_AUTO_REQUESTS + 1;
    CHECK(export_choose(&s, &p, 1, why, sizeof why) == 1);
    CHECK(strstr(why, "requests") != NULL);
    p.ntiles = EXPORT_AUTO_COMPOSITE_REQUESTS + 1;
    CHECK(export_choose(&s, &p, 1, why, sizeof why) == 0);
    s.expression = (char *)"{\"x\":{\"functionName\":\"ImageCollection.reduce\"}}";
    CHECK(export_choose(&s, &p, 1, why, sizeof why) == 1);
    CHECK(strstr(why, "composite") != NULL);
    /* The name in a string that is not a call (a property, a band id) is
     * no composite. */
    s.expression = (char *)"{\"x\":{\"constantValue\":\"ImageCollection.reduce\"}}";
    CHECK(export_choose(&s, &p, 1, why, sizeof why) == 0);
}

int main(void)
{
    request_ids();
    object_names();
    backoff();
    uris();
    select_rewrite();
    auto_rule();
    return CHECK_DONE();
}
