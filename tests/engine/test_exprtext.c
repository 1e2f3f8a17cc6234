/* exprtext_wrap_unmask: the nodata rewrite on the expression's text, for
 * graphs of any depth (json-c's default parser stops at 32 levels), names
 * that never shadow a value of the graph, numbers as EE reads them, and
 * clear errors for what is not an Expression. exprtext_invokes: calls are
 * found by their "functionName", not by the words anywhere in the text.
 * exprtext_append_string: JSON quoting and escaping. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/exprtext.h"
#include "util/buf.h"
#include "../unit/check.h"

#define UNMASK(name, ref, num)                                                                   \
    "{\"result\":\"" name "\",\"values\":{\"" name "\":{\"functionInvocationValue\":{"            \
    "\"functionName\":\"Image.unmask\",\"arguments\":{\"input\":{\"valueReference\":\"" ref "\"}," \
    "\"value\":{\"functionInvocationValue\":{\"functionName\":\"Image.constant\",\"arguments\":{"  \
    "\"value\":{\"constantValue\":" num "}}}},\"sameFootprint\":{\"constantValue\":false}}}}"

static char *wrap(const char *expr, double nodata, int *rc, struct errbuf *e)
{
    char *out = NULL;
    *rc = exprtext_wrap_unmask(expr, nodata, &out, e);
    return out;
}

static void test_invokes(void)
{
    static const char *const comp[] = {"ImageCollection.reduce", "reduce.median"};
    const char *call = "{\"result\":\"0\",\"values\":{\"0\":{\"functionInvocationValue\":{"
                       "\"functionName\" : \"reduce.median\",\"arguments\":{}}}}}";

    CHECK(exprtext_invokes(call, comp, 2) == 1);
    CHECK(exprtext_invokes(call, comp, 1) == 0);
    CHECK(exprtext_invokes("{\"x\":{\"functionName\":\"ImageCollection.reduce\"}}", comp, 2) == 1);
    /* The name as a constant, a band id or a key is not a call. */
    CHECK(exprtext_invokes("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":\"reduce.median\"}}}",
                           comp, 2) == 0);
    CHECK(exprtext_invokes("{\"functionName\":\"Image.select\",\"reduce.median\":1}", comp, 2) == 0);
    CHECK(exprtext_invokes("{\"constantValue\":\"\\\"functionName\\\":\\\"reduce.median\\\"\"}", comp, 2) == 0);
    /* A prefix or a longer name is another function. */
    CHECK(exprtext_invokes("{\"functionName\":\"reduce.medians\"}", comp, 2) == 0);
    CHECK(exprtext_invokes("{\"functionName\":\"reduce.media\"}", comp, 2) == 0);
    /* Cut text: no call found, no read past the end. */
    CHECK(exprtext_invokes("{\"functionName\":\"reduce.med", comp, 2) == 0);
    CHECK(exprtext_invokes("{\"functionNa", comp, 2) == 0);
    CHECK(exprtext_invokes("", comp, 2) == 0);
}

static void test_append_string(void)
{
    struct buf b;

    buf_init(&b, 0);
    CHECK(exprtext_append_string(&b, "B4") == 0);
    CHECK(exprtext_append_string(&b, "a\"b\\c\n\x01") == 0);
    CHECK_STR(b.data, "\"B4\"\"a\\\"b\\\\c\\u000a\\u0001\"");
    buf_free(&b);
}

int main(void)
{
    struct errbuf e;
    char *out;
    int rc;

    /* The simplest graph, integral and fractional nodata. */
    out = wrap("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}", 0, &rc, &e);
    CHECK(rc == 0);
    CHECK_STR(out, UNMASK("eefetch_unmask", "0", "0") ",\"0\":{\"constantValue\":1}}}");
    free(out);
    out = wrap("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}", -9999, &rc, &e);
    CHECK_STR(out, UNMASK("eefetch_unmask", "0", "-9999") ",\"0\":{\"constantValue\":1}}}");
    free(out);
    out = wrap("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}", -0.1, &rc, &e);
    CHECK_STR(out, UNMASK("eefetch_unmask", "0", "-0.1") ",\"0\":{\"constantValue\":1}}}");
    free(out);
    out = wrap("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}", 3.4e38, &rc, &e);
    CHECK_STR(out, UNMASK("eefetch_unmask", "0", "3.4e+38") ",\"0\":{\"constantValue\":1}}}");
    free(out);

    /* Whitespace, member order, an escaped result name, taken names. */
    out = wrap(" {\n \"values\" : { \"a\\\"b\" : {\"constantValue\":\"}\"} ,\"eefetch_unmask\":{},"
               "\"eefetch_unmask_7\":{} } ,\n \"result\" : \"a\\\"b\" } \n", 5, &rc, &e);
    CHECK(rc == 0);
    CHECK_STR(out, UNMASK("eefetch_unmask_8", "a\\\"b", "5")
              ",\"a\\\"b\" : {\"constantValue\":\"}\"} ,\"eefetch_unmask\":{},"
              "\"eefetch_unmask_7\":{} }}");
    free(out);

    /* A graph 6000 levels deep: rewritten, and the result parses with the
     * unmask referencing the old result. */
    {
        size_t n = 2000, i, cap = n * 80 + 200;
        char *deep = malloc(cap), *p = deep;
        json_tokener *tok = json_tokener_new_ex(7000);
        json_object *root = NULL, *v;
        p += sprintf(p, "{\"result\":\"r\",\"values\":{\"r\":");
        for (i = 0; i < n; i++)
            p += sprintf(p, "{\"arrayValue\":{\"values\":[");
        p += sprintf(p, "{\"constantValue\":1}");
        for (i = 0; i < n; i++)
            p += sprintf(p, "]}}");
        sprintf(p, "}}");
        out = wrap(deep, 0, &rc, &e);
        CHECK(rc == 0 && out);
        if (out && tok)
            root = json_tokener_parse_ex(tok, out, (int)strlen(out) + 1);
        CHECK(root != NULL);
        CHECK(root && json_object_object_get_ex(root, "result", &v) &&
              strcmp(json_object_get_string(v), "eefetch_unmask") == 0);
        CHECK(root && json_object_object_get_ex(root, "values", &v) &&
              json_object_object_length(v) == 2);
        /* the old values as written, after the new one and a comma */
        CHECK(out && strlen(out) == strlen(UNMASK("eefetch_unmask", "r", "0")) + 1 + strlen(deep) -
                                        strlen("{\"result\":\"r\",\"values\":{"));
        json_object_put(root);
        json_tokener_free(tok);
        free(deep);
        free(out);
    }

    /* Not an Expression. */
    {
        const char *bad[] = {"", "[]", "{\"values\":{}}", "{\"result\":\"0\"}",
                             "{\"result\":0,\"values\":{}}", "{\"result\":\"0\",\"values\":[]}",
                             "{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":[1}",
                             "{\"result\":\"0\",\"values\":{\"0\" {}}}",
                             "{\"result\":\"0\",\"values\":{}} x", NULL};
        int i;
        for (i = 0; bad[i]; i++) {
            out = wrap(bad[i], 0, &rc, &e);
            CHECK(rc == ERR_USAGE && out == NULL);
            if (rc != ERR_USAGE)
                fprintf(stderr, "accepted: %s\n", bad[i]);
            else
                CHECK_STR(e.msg, "the serialized expression is not {\"result\": ..., \"values\": {...}}");
        }
    }
    out = wrap("{\"result\":\"0\",\"values\":{}}", NAN, &rc, &e);
    CHECK(rc == ERR_USAGE && out == NULL && strstr(e.msg, "finite"));
    test_invokes();
    test_append_string();
    return CHECK_DONE();
}
