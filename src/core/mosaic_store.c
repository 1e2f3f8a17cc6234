/* The tile store: the parts directory, the piece file format, storing a
 * piece durably and reading it back checked, and the pixel type
 * conversions a piece goes through (see mosaic.h and docs/engine.md; the
 * output assembled from the pieces is mosaic.c). */
#define _GNU_SOURCE 1   /* fallocate, O_DIRECT */
#include "core/mosaic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/checksum.h"
#include "util/path.h"

int mosaic_parts_dir(const char *output, char *out, size_t cap, struct errbuf *e)
{
    if ((size_t)snprintf(out, cap, "%s.eefetch-parts", output) >= cap)
        return err_set(e, ERR_LIMIT, "output path is too long");
    return 0;
}

int mosaic_parts_create(const char *parts_dir, struct errbuf *e)
{
    char parent[4096];

    if (mkdir(parts_dir, 0777) != 0) {
        if (errno == EEXIST)
            return 0;
        return err_set(e, ERR_IO, "cannot create %s: %s", parts_dir, strerror(errno));
    }
    /* The directory's name must be durable before any journal line can
     * refer to a piece inside it. */
    (void)path_dir(parts_dir, parent, sizeof parent);
    if (mosaic_fsync_path(parent, 1) != 0)
        return err_set(e, ERR_IO, "cannot sync %s: %s", parent, strerror(errno));
    return 0;
}

int mosaic_parts_remove(const char *parts_dir, struct errbuf *e)
{
    DIR *d = opendir(parts_dir);
    struct dirent *de;
    char path[4096];

    if (!d)
        return errno == ENOENT ? 0 : err_set(e, ERR_IO, "cannot open %s: %s", parts_dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", parts_dir, de->d_name) < sizeof path)
            unlink(path);
    }
    closedir(d);
    if (rmdir(parts_dir) != 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "cannot remove %s: %s", parts_dir, strerror(errno));
    return 0;
}

/* ---- pixel values ---- */

static double load_value(const void *src, enum spec_dtype t, size_t i)
{
    switch (t) {
    case SPEC_DTYPE_UINT8: return ((const uint8_t *)src)[i];
    case SPEC_DTYPE_INT8: return ((const int8_t *)src)[i];
    case SPEC_DTYPE_UINT16: return ((const uint16_t *)src)[i];
    case SPEC_DTYPE_INT16: return ((const int16_t *)src)[i];
    case SPEC_DTYPE_UINT32: return ((const uint32_t *)src)[i];
    case SPEC_DTYPE_INT32: return ((const int32_t *)src)[i];
    case SPEC_DTYPE_FLOAT32: return ((const float *)src)[i];
    case SPEC_DTYPE_FLOAT64: return ((const double *)src)[i];
    default: return 0;
    }
}

/* Integers: rounded half away from zero and clamped to the type, NaN as 0
 * (what GDAL does when it converts). */
static double to_int_range(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = round(v);
    return v < lo ? lo : v > hi ? hi : v;
}

static void store_value(void *dst, enum spec_dtype t, size_t i, double v)
{
    switch (t) {
    case SPEC_DTYPE_UINT8: ((uint8_t *)dst)[i] = (uint8_t)to_int_range(v, 0, UINT8_MAX); break;
    case SPEC_DTYPE_INT8: ((int8_t *)dst)[i] = (int8_t)to_int_range(v, INT8_MIN, INT8_MAX); break;
    case SPEC_DTYPE_UINT16: ((uint16_t *)dst)[i] = (uint16_t)to_int_range(v, 0, UINT16_MAX); break;
    case SPEC_DTYPE_INT16: ((int16_t *)dst)[i] = (int16_t)to_int_range(v, INT16_MIN, INT16_MAX); break;
    case SPEC_DTYPE_UINT32: ((uint32_t *)dst)[i] = (uint32_t)to_int_range(v, 0, UINT32_MAX); break;
    case SPEC_DTYPE_INT32: ((int32_t *)dst)[i] = (int32_t)to_int_range(v, INT32_MIN, INT32_MAX); break;
    case SPEC_DTYPE_FLOAT32:
        ((float *)dst)[i] = isnan(v) || isinf(v) ? (float)v : v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : (float)v;
        break;
    case SPEC_DTYPE_FLOAT64: ((double *)dst)[i] = v; break;
    default: break;
    }
}

/* n values of type st -> type dt. */
static void convert_values(const void *src, enum spec_dtype st, void *dst, enum spec_dtype dt, size_t n)
{
    size_t i;

    if (st == dt) {
        memcpy(dst, src, n * spec_dtype_size(st));
        return;
    }
    for (i = 0; i < n; i++)
        store_value(dst, dt, i, load_value(src, st, i));
}

void mosaic_convert_values(const void *src, enum spec_dtype st, void *dst, enum spec_dtype dt, size_t n)
{
    convert_values(src, st, dst, dt, n);
}

/* ---- the tile store ---- */

/* A piece file: this header, then width x height x nbands values of `type`
 * in host byte order, as band-sequential planes (interleave 0) or as
 * pixel-interleaved records, band fastest (interleave 1: an NPY body's
 * records as they arrived). Plain bytes, so storing costs one write and
 * assembly one read: no codec on either side. Two checksums (XXH64,
 * util/checksum.h) make a piece prove its content: pixels_sum of the
 * pixels, header_sum of the header's first 56 bytes (so a flipped layout
 * or size field is caught too). Version 1 pieces had neither. */
#define PIECE_MAGIC "EEFPIECE"
#define PIECE_VERSION 2u
#define PIECE_SUMMED_BYTES 56   /* the header bytes header_sum covers */

struct piece_header {
    char magic[8];
    uint32_t version, type, interleave, nbands;
    uint64_t width, height, bytes;
    uint64_t pixels_sum, header_sum;
};
_Static_assert(sizeof(struct piece_header) == MOSAIC_PIECE_HEADER, "piece header size");
_Static_assert(offsetof(struct piece_header, header_sum) == PIECE_SUMMED_BYTES, "piece header_sum offset");

static void piece_path(const char *dir, const struct mosaic_piece *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s/t%zu_%d.px", dir, p->tile_id, p->k);
}

int mosaic_piece_exists(const char *parts_dir, const struct mosaic_piece *p)
{
    char path[4096];
    struct stat st;

    piece_path(parts_dir, p, path, sizeof path);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static size_t piece_bytes(const struct mosaic_piece *p)
{
    return (size_t)p->width * (size_t)p->height * (size_t)p->nbands * spec_dtype_size(p->type);
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *c = data;

    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* File systems without fallocate are fine: the writes allocate. */
int mosaic_prealloc(int fd, off_t off, off_t len, int keep_size)
{
    if (fallocate(fd, keep_size ? FALLOC_FL_KEEP_SIZE : 0, off, len) == 0)
        return 0;
    return errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL ? 0 : -1;
}

size_t mosaic_pbuf_size(size_t bytes)
{
    return (sizeof(struct piece_header) + bytes + MOSAIC_ALIGN - 1) / MOSAIC_ALIGN * MOSAIC_ALIGN;
}

int mosaic_pbuf_reserve(struct mosaic_pbuf *b, size_t bytes)
{
    size_t need = mosaic_pbuf_size(bytes);
    void *m;

    if (b->mem && b->cap >= need)
        return 0;
    if (posix_memalign(&m, MOSAIC_ALIGN, need) != 0)
        return ERR_NOMEM;
    free(b->mem);
    b->mem = m;
    b->cap = need;
    return 0;
}

void mosaic_pbuf_free(struct mosaic_pbuf *b)
{
    free(b->mem);
    b->mem = NULL;
    b->cap = 0;
}

void *mosaic_pbuf_pixels(const struct mosaic_pbuf *b)
{
    return b->mem + sizeof(struct piece_header);
}

int mosaic_pbuf_interleaved(const struct mosaic_pbuf *b)
{
    return ((const struct piece_header *)b->mem)->interleave != 0;
}

void mosaic_pbuf_move_in(struct mosaic_pbuf *b, const void *src, size_t n)
{
    b->sum = checksum64_move(mosaic_pbuf_pixels(b), src, n, 0);
    b->sum_bytes = n;
    b->summed = 1;
}

static void header_init(struct piece_header *h, const struct mosaic_piece *p, int interleave, uint64_t sum)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, PIECE_MAGIC, sizeof h->magic);
    h->version = PIECE_VERSION;
    h->type = (uint32_t)p->type;
    h->interleave = (uint32_t)interleave;
    h->nbands = (uint32_t)p->nbands;
    h->width = (uint64_t)p->width;
    h->height = (uint64_t)p->height;
    h->bytes = piece_bytes(p);
    h->pixels_sum = sum;
    h->header_sum = checksum64(h, PIECE_SUMMED_BYTES, 0);
}

/* The header is intact (its checksum holds) and describes p (magic,
 * version, size, type, bands, layout). */
static int header_matches(const struct piece_header *h, const struct mosaic_piece *p)
{
    return memcmp(h->magic, PIECE_MAGIC, sizeof h->magic) == 0 && h->version == PIECE_VERSION &&
           h->header_sum == checksum64(h, PIECE_SUMMED_BYTES, 0) &&
           h->type == (uint32_t)p->type && h->nbands == (uint32_t)p->nbands && h->width == (uint64_t)p->width &&
           h->height == (uint64_t)p->height && h->bytes == piece_bytes(p) && h->interleave <= 1;
}

int mosaic_pbuf_describes(const struct mosaic_pbuf *b, const struct mosaic_piece *p)
{
    return header_matches((const struct piece_header *)b->mem, p);
}

/* Opens for direct I/O (no page cache: on virtual machines filling fresh
 * page-cache pages can cost more than the copy itself), or without it where
 * the file system does not support it (tmpfs, some network file systems). */
static int open_direct(const char *path, int flags, int *direct)
{
    int fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0666);

    *direct = fd >= 0;
    if (fd < 0 && errno == EINVAL)
        fd = open(path, flags | O_CLOEXEC, 0666);
    return fd;
}

/* Writes mem[0, total) as the whole file at path and makes it durable.
 * With direct I/O whole blocks are written (up to padded, which mem holds)
 * and the file is cut back to total. -1 with errno on failure. */
static int write_durable(const char *path, const unsigned char *mem, size_t total, size_t padded)
{
    int direct, err = 0, fd = open_direct(path, O_WRONLY | O_CREAT | O_TRUNC, &direct);

    if (fd < 0)
        return -1;
    /* Allocating the blocks in one call first is several times cheaper than
     * growing the file write by write, and a full disk fails here. */
    if (mosaic_prealloc(fd, 0, (off_t)padded, 0) < 0) {
        err = errno;
        goto done;
    }
    if (direct && write_all(fd, mem, padded) < 0) {
        if (errno != EINVAL) {
            err = errno;
            goto done;
        }
        /* Some file systems accept O_DIRECT at open and refuse the write:
         * write through the page cache instead. */
        direct = 0;
        close(fd);
        if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0)
            return -1;
    }
    if ((!direct && write_all(fd, mem, total) < 0) || (direct && ftruncate(fd, (off_t)total) != 0) ||
        fsync(fd) != 0)
        err = errno;
done:
    if (close(fd) != 0 && !err)
        err = errno;
    errno = err;
    return err ? -1 : 0;
}

int mosaic_store_pbuf(const char *parts_dir, const struct mosaic_piece *p, int interleave, struct mosaic_pbuf *b,
                      struct errbuf *e)
{
    char path[4096], tmp[4200];
    size_t total = sizeof(struct piece_header) + piece_bytes(p), padded;
    int rc = 0;

    padded = mosaic_pbuf_size(piece_bytes(p));
    if (p->type == SPEC_DTYPE_AUTO || !b->mem || b->cap < padded)
        return err_set(e, ERR_INTERNAL, "piece %zu/%d: buffer does not hold a %ldx%ldx%d %s piece", p->tile_id,
                       p->k, p->width, p->height, p->nbands, spec_dtype_name(p->type));
    piece_path(parts_dir, p, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* The checksum of what is written: computed while the pixels were
     * moved in when they were, else in one pass here. */
    header_init((struct piece_header *)b->mem, p, interleave,
                b->summed && b->sum_bytes == piece_bytes(p) ? b->sum
                                                            : checksum64(mosaic_pbuf_pixels(b), piece_bytes(p), 0));
    b->summed = 0;
    /* Direct I/O writes whole aligned blocks: the tail is zero padding,
     * cut off again by write_durable. */
    memset(b->mem + total, 0, padded - total);
    if (write_durable(tmp, b->mem, total, padded) < 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    /* Durable before it has its real name, and the name durable before the
     * caller journals the tile. */
    if (rename(tmp, path) != 0 || mosaic_fsync_path(parts_dir, 1) != 0)
        rc = err_set(e, ERR_IO, "cannot store %s: %s", path, strerror(errno));
done:
    if (rc < 0)
        unlink(tmp);
    return rc;
}

void mosaic_fill_outside(void *planes, size_t npx, int nbands, enum spec_dtype type, const unsigned char *mask,
                         double fill, int last_is_mask)
{
    size_t sz = spec_dtype_size(type), i;
    int b;

    for (b = 0; b < nbands; b++) {
        unsigned char *dst = (unsigned char *)planes + (size_t)b * npx * sz;
        double v = last_is_mask && b == nbands - 1 ? 0 : fill;
        for (i = 0; i < npx; i++)
            if (!mask[i])
                store_value(dst, type, i, v);
    }
}

int mosaic_store_piece(const char *parts_dir, struct mosaic_piece *p, const struct decoded_tile *t,
                       const unsigned char *mask, double fill, int last_is_mask, struct errbuf *e)
{
    size_t npx = (size_t)p->width * (size_t)p->height, sz;
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0};
    unsigned char *planes;
    int b, rc;

    if (t->width != p->width || t->height != p->height || t->nbands != p->nbands)
        return err_set(e, ERR_INTERNAL, "piece %zu/%d: tile %ldx%ldx%d does not match %ldx%ldx%d", p->tile_id,
                       p->k, t->width, t->height, t->nbands, p->width, p->height, p->nbands);
    if (p->type == SPEC_DTYPE_AUTO)
        for (b = 0; b < t->nbands; b++)
            p->type = mosaic_type_union(p->type, t->bands[b].type);
    sz = spec_dtype_size(p->type);
    if (mosaic_pbuf_reserve(&pb, piece_bytes(p)) != 0)
        return err_set(e, ERR_NOMEM, "out of memory storing tile %zu", p->tile_id);
    planes = mosaic_pbuf_pixels(&pb);
    for (b = 0; b < p->nbands; b++)
        convert_values(t->bands[b].data, t->bands[b].type, planes + (size_t)b * npx * sz, p->type, npx);
    if (mask)
        mosaic_fill_outside(planes, npx, p->nbands, p->type, mask, fill, last_is_mask);
    rc = mosaic_store_pbuf(parts_dir, p, 0, &pb, e);
    mosaic_pbuf_free(&pb);
    return rc;
}

int mosaic_piece_verify(const char *parts_dir, const struct mosaic_piece *p, struct mosaic_pbuf *b,
                        struct errbuf *e)
{
    char path[4096];
    size_t total = sizeof(struct piece_header) + piece_bytes(p), want, got = 0;
    const struct piece_header *h;
    struct stat st;
    int fd, direct, rc = 0;

    piece_path(parts_dir, p, path, sizeof path);
    if (mosaic_pbuf_reserve(b, piece_bytes(p)) != 0)
        return err_set(e, ERR_NOMEM, "out of memory reading %s", path);
    fd = open_direct(path, O_RDONLY, &direct);
    if (fd < 0)
        return err_set(e, ERR_PARSE, "tile %zu: cannot open its stored pixels %s: %s", p->tile_id, path,
                       strerror(errno));
    if (fstat(fd, &st) != 0 || (size_t)st.st_size != total) {
        rc = err_set(e, ERR_PARSE, "tile %zu: its stored pixels %s are %s (%lld bytes, the piece needs %zu)",
                     p->tile_id, path, (size_t)st.st_size < total ? "truncated" : "of the wrong size",
                     (long long)st.st_size, total);
        goto done;
    }
    /* Direct reads ask for whole blocks; the file ends at total. */
    want = direct ? mosaic_pbuf_size(piece_bytes(p)) : total;
    while (got < total) {
        ssize_t k = read(fd, b->mem + got, want - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EINVAL && direct && got == 0) {
            /* Direct I/O refused at read time: read through the page cache. */
            close(fd);
            if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return err_set(e, ERR_PARSE, "tile %zu: cannot open its stored pixels %s: %s", p->tile_id, path,
                               strerror(errno));
            direct = 0;
            want = total;
            continue;
        }
        if (k <= 0) {
            rc = err_set(e, ERR_PARSE, "tile %zu: cannot read its stored pixels %s: %s", p->tile_id, path,
                         k < 0 ? strerror(errno) : "the file ends early");
            goto done;
        }
        got += (size_t)k;
    }
    h = (const struct piece_header *)b->mem;
    if (memcmp(h->magic, PIECE_MAGIC, sizeof h->magic) == 0 && h->version < PIECE_VERSION)
        rc = err_set(e, ERR_PARSE, "tile %zu: its stored pixels %s were written by an older eefetch, without a "
                     "checksum", p->tile_id, path);
    else if (!header_matches(h, p))
        rc = err_set(e, ERR_PARSE, "tile %zu: the header of its stored pixels %s is damaged or does not match "
                     "the journal", p->tile_id, path);
    else if (checksum64(mosaic_pbuf_pixels(b), piece_bytes(p), 0) != h->pixels_sum)
        rc = err_set(e, ERR_PARSE, "tile %zu: its stored pixels %s are damaged (their checksum does not hold)",
                     p->tile_id, path);
done:
    close(fd);
    return rc;
}
