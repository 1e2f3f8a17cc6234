/* EE-shaped JSON and error bodies for emulator handlers. */
#include "emulator/handlers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *emu_status_name(int http)
{
    switch (http) {
    case 200: return "OK";
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 409: return "ALREADY_EXISTS";
    case 413: return "INVALID_ARGUMENT";
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";
    case 500: return "INTERNAL";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return http >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

void emu_json(struct emu_response *r, int http, json_object *obj)
{
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    r->status = http;
    snprintf(r->content_type, sizeof r->content_type, "application/json; charset=UTF-8");
    buf_reset(&r->body);
    if (buf_append_str(&r->body, s) != 0) {
        buf_reset(&r->body);
        r->status = 500;
        buf_append_str(&r->body, "{\"error\":{\"code\":500,\"message\":\"An internal error has "
                                 "occurred.\",\"status\":\"INTERNAL\"}}");
    }
    json_object_put(obj);
}

void emu_error(struct emu_response *r, int http, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    json_object *err = json_object_new_object(), *top = json_object_new_object();

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object_object_add(err, "code", json_object_new_int(http));
    json_object_object_add(err, "message", json_object_new_string(msg));
    json_object_object_add(err, "status", json_object_new_string(emu_status_name(http)));
    json_object_object_add(top, "error", err);
    emu_json(r, http, top);
}

static int tag_char(char ch, int edge)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
        return 1;
    return !edge && (ch == '-' || ch == '_');
}

int emu_check_workload_tag(json_object *body, struct emu_response *r)
{
    json_object *tag;
    const char *s;
    size_t n, i;

    if (!json_object_object_get_ex(body, "workloadTag", &tag) || !tag)
        return 0;
    if (json_object_get_type(tag) != json_type_string) {
        emu_error(r, 400, "Invalid value at 'workloadTag': expected a string.");
        return -1;
    }
    s = json_object_get_string(tag);
    n = strlen(s);
    for (i = 0; i < n; i++)
        if (!tag_char(s[i], i == 0 || i == n - 1))
            break;
    if (n > 63 || i < n) {
        emu_error(r, 400, "Invalid workloadTag '%.80s': use 1 to 63 lowercase letters, digits, '-' "
                  "or '_', starting and ending with a letter or digit.", s);
        return -1;
    }
    return 0;
}

void emu_add_header(struct emu_response *r, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (r->nheaders >= EMU_MAX_HEADERS)
        return;
    snprintf(r->headers[r->nheaders].name, sizeof r->headers[r->nheaders].name, "%s", name);
    va_start(ap, fmt);
    vsnprintf(r->headers[r->nheaders].value, sizeof r->headers[r->nheaders].value, fmt, ap);
    va_end(ap);
    r->nheaders++;
}
