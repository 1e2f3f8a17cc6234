/* Placeholder session until the curl session lands. */
#include "core/session.h"

#include <string.h>

int session_create(const struct session_opts *o, struct session **out, struct errbuf *e)
{
    *out = NULL;
    return err_set(e, ERR_INTERNAL, "sessions are not implemented yet");
}

void session_destroy(struct session *s)
{
}

int session_post(struct session *s, const char *path, const char *json, size_t len,
                 struct http_result *res, struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "sessions are not implemented yet");
}

int session_get(struct session *s, const char *path, struct http_result *res, struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "sessions are not implemented yet");
}

void http_result_free(struct http_result *res)
{
    buf_free(&res->body);
}

void session_error_message(const struct http_result *res, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
}
