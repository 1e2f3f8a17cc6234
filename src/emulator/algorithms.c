/*
 * algorithms.list: EE's signatures (data/algorithms-signatures.json, embedded
 * in the binary) of the functions the evaluator implements, so clients that
 * build their API from this list only offer what the emulator can run.
 */
#include "emulator/assets.h"
#include "emulator/eval_int.h"

#include <stdio.h>
#include <string.h>

extern const unsigned char emu_algorithms_json[];
extern const size_t emu_algorithms_json_len;

static int implemented(const char *name, const char *const *names)
{
    size_t i;

    /* Signatures are named "algorithms/Image.add"; the evaluator says "Image.add". */
    if (strncmp(name, "algorithms/", 11) == 0)
        name += 11;
    for (i = 0; names && names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

int algorithms_render(struct buf *out, struct errbuf *e)
{
    json_tokener *tok = json_tokener_new();
    json_object *all = NULL, *list, *res = NULL, *arr = NULL;
    const char *const *names = eval_function_names();
    int rc = 0;
    size_t i;

    if (!tok)
        return err_set(e, ERR_NOMEM, "out of memory");
    all = json_tokener_parse_ex(tok, (const char *)emu_algorithms_json, (int)emu_algorithms_json_len);
    json_tokener_free(tok);
    if (!all || !json_object_object_get_ex(all, "algorithms", &list) ||
        !json_object_is_type(list, json_type_array)) {
        rc = err_set(e, ERR_PARSE, "the embedded algorithm signatures are not valid");
        goto done;
    }
    res = json_object_new_object();
    arr = json_object_new_array();
    if (!res || !arr) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < json_object_array_length(list); i++) {
        json_object *alg = json_object_array_get_idx(list, i), *name;
        if (json_object_object_get_ex(alg, "name", &name) &&
            implemented(json_object_get_string(name), names))
            json_object_array_add(arr, json_object_get(alg));
    }
    json_object_object_add(res, "algorithms", arr);
    arr = NULL;
    buf_reset(out);
    if (buf_append_str(out, json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE)) != 0)
        rc = err_set(e, ERR_NOMEM, "out of memory");
done:
    json_object_put(arr);
    json_object_put(res);
    json_object_put(all);
    return rc;
}

int algorithms_known(const char *name)
{
    char key[160];
    size_t n, klen, i;
    const unsigned char *p = emu_algorithms_json;

    n = strlen(name);
    if (n == 0 || n + 14 >= sizeof key || strchr(name, '"') || strchr(name, '\\'))
        return 0;
    /* The signatures name each function exactly once as "algorithms/NAME". */
    snprintf(key, sizeof key, "\"algorithms/%s\"", name);
    klen = strlen(key);
    for (i = 0; i + klen <= emu_algorithms_json_len; i++)
        if (p[i] == '"' && memcmp(p + i, key, klen) == 0)
            return 1;
    return 0;
}
