/* Placeholder catalog: empty until the synthetic catalog lands. */
#include "emulator/catalog.h"

#include <stdlib.h>

struct catalog {
    int unused;
};

size_t px_size(enum px_type t)
{
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 8};
    return sz[t];
}

const char *px_npy_descr(enum px_type t)
{
    static const char *d[] = {"|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8"};
    return d[t];
}

const char *px_name(enum px_type t)
{
    static const char *n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float", "double"};
    return n[t];
}

json_object *px_ee_datatype(enum px_type t)
{
    return json_object_new_object();
}

int catalog_create(struct catalog **out, struct errbuf *e)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

void catalog_destroy(struct catalog *c)
{
    free(c);
}

int catalog_add_local(struct catalog *c, const char *asset_id, const char *path, struct errbuf *e)
{
    return err_set(e, ERR_USAGE, "local assets are not supported yet");
}

const struct cat_image *catalog_image(const struct catalog *c, const char *id)
{
    return NULL;
}

const struct cat_collection *catalog_collection(const struct catalog *c, const char *id)
{
    return NULL;
}

void catalog_read_row(const struct cat_image *img, int b, long row, long col0, long n,
                      double *val, uint8_t *mask)
{
    long i;
    for (i = 0; i < n; i++) {
        val[i] = 0;
        mask[i] = 0;
    }
}
