/* Tile store and output assembly (see mosaic.h and docs/engine.md). */
#define _GNU_SOURCE 1   /* fallocate */
#include "core/mosaic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>

#include "core/pixtype.h"
#include "util/checksum.h"
#include "util/path.h"

/* ---- small file-system helpers ---- */

int mosaic_fsync_path(const char *path, int is_dir)
{
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}


void mosaic_global_init(void)
{
    GDALAllRegister();
    /* GDAL's block cache defaults to 5 % of RAM. Assembly writes each block
     * once, so a small cache does the same work with far less memory;
     * GDAL_CACHEMAX (environment or config) still wins. */
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        GDALSetCacheMax64((GIntBig)MOSAIC_CACHE_MB << 20);
}

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

/* GDAL's messages while a call runs are kept quiet (errors reach the
 * caller through errbuf), but the first report of a full disk or a file
 * size limit is remembered: libtiff's last message ("Write error at
 * scanline 256", "Error fetching directory count") is a consequence, and
 * the caller should name the cause. */
struct quiet {
    char full[256];
};

static void CPL_STDCALL quiet_handler(CPLErr cls, CPLErrorNum num, const char *msg)
{
    struct quiet *q = CPLGetErrorHandlerUserData();

    (void)cls;
    (void)num;
    if (q && !q->full[0] && msg &&
        (strstr(msg, "No space left on device") || strstr(msg, "Disk quota exceeded") ||
         strstr(msg, "File too large")))
        snprintf(q->full, sizeof q->full, "%s", msg);
}

/* GDALClose returns void before GDAL 3.7: a failed final write shows up
 * only as the last error. */
static int close_checked(GDALDatasetH ds)
{
    CPLErrorReset();
    GDALClose(ds);
    return CPLGetLastErrorType() >= CE_Failure ? -1 : 0;
}

/* ---- types ---- */

enum spec_dtype mosaic_type_union(enum spec_dtype a, enum spec_dtype b)
{
    enum spec_dtype u;

    if (a == b || b == SPEC_DTYPE_AUTO)
        return a;
    if (a == SPEC_DTYPE_AUTO)
        return b;
    /* int8 with anything else: int16 holds every int8 and uint8 value. */
    if (a == SPEC_DTYPE_INT8)
        a = SPEC_DTYPE_INT16;
    if (b == SPEC_DTYPE_INT8)
        b = SPEC_DTYPE_INT16;
    u = pixtype_from_gdal(GDALDataTypeUnion(pixtype_to_gdal(a), pixtype_to_gdal(b)));
    return u != SPEC_DTYPE_AUTO ? u : SPEC_DTYPE_FLOAT64;   /* e.g. Int64 for uint32+int32: float64 holds both exactly */
}

/* ---- creation options ---- */

static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static int zstd_available;

static void probe_zstd(void)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    const char *opts = drv ? GDALGetMetadataItem(drv, GDAL_DMD_CREATIONOPTIONLIST, NULL) : NULL;
    zstd_available = opts && strstr(opts, "ZSTD") != NULL;
}

/* Asked once: workers store pieces concurrently, and the driver's option
 * list may be built lazily on first request. */
static int have_zstd(void)
{
    pthread_once(&zstd_once, probe_zstd);
    return zstd_available;
}

static int is_float(enum spec_dtype t)
{
    return t == SPEC_DTYPE_FLOAT32 || t == SPEC_DTYPE_FLOAT64;
}

/* GTiff creation options. cog: spelled for the COG driver. */
static char **creation_options(enum spec_compression c, int level, enum spec_dtype t, int block, int band_il,
                               int cog)
{
    char **o = NULL;
    const char *name;
    char num[32];

    switch (c) {
    case SPEC_COMPRESS_NONE: name = "NONE"; break;
    case SPEC_COMPRESS_DEFLATE: name = "DEFLATE"; break;
    case SPEC_COMPRESS_ZSTD: name = "ZSTD"; break;
    case SPEC_COMPRESS_LZW: name = "LZW"; break;
    default: name = have_zstd() ? "ZSTD" : "DEFLATE"; break;
    }
    o = CSLSetNameValue(o, "COMPRESS", name);
    if (strcmp(name, "NONE") != 0) {
        /* Horizontal differencing for integers, floating-point predictor for floats. */
        if (cog)
            o = CSLSetNameValue(o, "PREDICTOR", is_float(t) ? "FLOATING_POINT" : "STANDARD");
        else
            o = CSLSetNameValue(o, "PREDICTOR", is_float(t) ? "3" : "2");
        if (level > 0) {
            snprintf(num, sizeof num, "%d", level);
            if (strcmp(name, "ZSTD") == 0)
                o = CSLSetNameValue(o, cog ? "LEVEL" : "ZSTD_LEVEL", num);
            else if (strcmp(name, "DEFLATE") == 0)
                o = CSLSetNameValue(o, cog ? "LEVEL" : "ZLEVEL", num);
        }
    }
    o = CSLSetNameValue(o, "BIGTIFF", "IF_SAFER");
    snprintf(num, sizeof num, "%d", block > 0 ? block : GRID_DEFAULT_BLOCK);
    if (cog) {
        o = CSLSetNameValue(o, "BLOCKSIZE", num);
    } else {
        o = CSLSetNameValue(o, "TILED", "YES");
        o = CSLSetNameValue(o, "BLOCKXSIZE", num);
        o = CSLSetNameValue(o, "BLOCKYSIZE", num);
        if (band_il)
            o = CSLSetNameValue(o, "INTERLEAVE", "BAND");
        if (t == SPEC_DTYPE_INT8)
            o = CSLSetNameValue(o, "PIXELTYPE", "SIGNEDBYTE");
    }
    return o;
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

/* Reserves [off, off + len) of fd's file. keep_size: beyond the end of the
 * file without changing its size (a later truncate gives back what was not
 * used). File systems without fallocate are fine: the writes allocate. */
static int prealloc(int fd, off_t off, off_t len, int keep_size)
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
    if (prealloc(fd, 0, (off_t)padded, 0) < 0) {
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

int mosaic_store_piece(const char *parts_dir, struct mosaic_piece *p, const struct decoded_tile *t,
                       const unsigned char *mask, double fill, int last_is_mask, struct errbuf *e)
{
    size_t npx = (size_t)p->width * (size_t)p->height, sz, i;
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
    for (b = 0; b < p->nbands; b++) {
        unsigned char *dst = planes + (size_t)b * npx * sz;
        convert_values(t->bands[b].data, t->bands[b].type, dst, p->type, npx);
        if (mask) {
            double v = last_is_mask && b == p->nbands - 1 ? 0 : fill;
            for (i = 0; i < npx; i++)
                if (!mask[i])
                    store_value(dst, p->type, i, v);
        }
    }
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

/* ---- assembly ---- */

struct mosaic_writer {
    struct mosaic_out o;              /* o.path points at path; o.dtype is resolved */
    char path[4096], partial[4200], cogtmp[4200], dir[4096];
    GDALDatasetH ds;
    struct mosaic_pbuf pb;            /* a piece as read */
    unsigned char *conv;              /* ... converted to the output type */
    size_t convcap;
    int *bandmap;
    int ndata;                        /* data bands in the file (o.nbands - o.mask_band) */
    unsigned char *maskbuf;           /* a piece's mask band as 0/255 */
    size_t maskcap;
};

static int set_georef(GDALDatasetH ds, const struct grid *g, struct errbuf *e)
{
    double gt[6] = {g->x0, g->sx, 0, g->y0, 0, g->sy};
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    int rc = 0;

    if (!srs || OSRSetFromUserInput(srs, g->crs) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
        rc = err_set(e, ERR_USAGE, "cannot use CRS %.100s", g->crs);
        goto done;
    }
    if (GDALSetGeoTransform(ds, gt) != CE_None || GDALSetProjection(ds, wkt) != CE_None)
        rc = err_set(e, ERR_IO, "cannot georeference the output: %s", CPLGetLastErrorMsg());
done:
    CPLFree(wkt);
    if (srs)
        OSRDestroySpatialReference(srs);
    return rc;
}

/* Bands 1-3 as red, green, blue: GTiff writes it as PHOTOMETRIC=RGB (no
 * sidecar), the COG copy and a VRT keep it; viewers then show true colour
 * instead of the first band in grey. */
static void set_rgb(GDALDatasetH ds, const struct mosaic_out *o)
{
    static const GDALColorInterp ci[3] = {GCI_RedBand, GCI_GreenBand, GCI_BlueBand};
    int b;

    if (!o->rgb || GDALGetRasterCount(ds) < 3)
        return;
    for (b = 0; b < 3; b++)
        GDALSetRasterColorInterpretation(GDALGetRasterBand(ds, b + 1), ci[b]);
}

/* An uncompressed output's size is known: reserving its blocks beyond the
 * end of the file up front makes GDAL's appending writes much cheaper than
 * growing the file block by block (ext4's delayed allocation; several CPU
 * seconds per GiB on some virtual machines). What is not used is given
 * back by release_reserve. Best effort: failures only cost speed. */
static void reserve_output(const char *path, off_t bytes)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    (void)prealloc(fd, 0, bytes + (1 << 20), 1);
    close(fd);
}

/* Truncating a file to its own size frees blocks reserved past its end. */
static int release_reserve(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    return truncate(path, st.st_size);
}

void mosaic_writer_abort(struct mosaic_writer *w)
{
    if (!w)
        return;
    if (w->ds)
        GDALClose(w->ds);
    unlink(w->partial);
    unlink(w->cogtmp);
    mosaic_pbuf_free(&w->pb);
    free(w->conv);
    free(w->maskbuf);
    free(w->bandmap);
    free(w);
}

int mosaic_writer_open(const struct mosaic_out *o, struct mosaic_writer **out, struct errbuf *e)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    struct mosaic_writer *w;
    char **opts = NULL;
    size_t i;
    int b, rc = 0;

    *out = NULL;
    if (!drv)
        return err_set(e, ERR_INTERNAL, "GDAL's GTiff driver is not registered");
    if (o->nbands - (o->mask_band ? 1 : 0) <= 0 || o->grid.width <= 0 || o->grid.height <= 0 ||
        o->dtype == SPEC_DTYPE_AUTO)
        return err_set(e, ERR_INTERNAL, "nothing to assemble");
    if (!(w = calloc(1, sizeof *w)) || !(w->bandmap = malloc((size_t)o->nbands * sizeof *w->bandmap))) {
        free(w);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    w->o = *o;
    w->ndata = o->nbands - (o->mask_band ? 1 : 0);
    snprintf(w->path, sizeof w->path, "%s", o->path);
    w->o.path = w->path;
    snprintf(w->partial, sizeof w->partial, "%s.partial", o->path);
    snprintf(w->cogtmp, sizeof w->cogtmp, "%s.partial-cog", o->path);
    (void)path_dir(o->path, w->dir, sizeof w->dir);

    /* A COG is copied from this file once it is complete, so here only fast
     * compression: the final codec and level are the COG's. */
    if (o->format == SPEC_FORMAT_COG)
        opts = creation_options(SPEC_COMPRESS_DEFAULT, 1, o->dtype, o->block, o->band_interleave, 0);
    else
        opts = creation_options(o->compression, o->compress_level, o->dtype, o->block, o->band_interleave, 0);
    /* Blocks are compressed by a pool of threads, not by the assembler
     * itself, which then keeps up with the fetch. */
    if (opts && o->compression != SPEC_COMPRESS_NONE)
        opts = CSLSetNameValue(opts, "NUM_THREADS", "ALL_CPUS");
    if (!opts) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    unlink(w->partial);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    w->ds = GDALCreate(drv, w->partial, (int)o->grid.width, (int)o->grid.height, w->ndata, pixtype_to_gdal(o->dtype),
                       opts);
    CPLPopErrorHandler();
    if (!w->ds) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", w->partial, CPLGetLastErrorMsg());
        goto done;
    }
    if (o->mask_band) {
        /* Inside the GeoTIFF (GDAL before 3.9 would write a .msk file beside
         * it, which the rename and the COG copy would leave behind). Blocks
         * no piece touches read as 0 there: masked, like skipped tiles. */
        CPLErr err;
        CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES");
        err = GDALCreateDatasetMaskBand(w->ds, GMF_PER_DATASET);
        CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", NULL);
        if (err != CE_None) {
            rc = err_set(e, ERR_IO, "cannot create the mask of %s: %s", w->partial, CPLGetLastErrorMsg());
            goto done;
        }
    }
    if ((rc = set_georef(w->ds, &o->grid, e)) < 0)
        goto done;
    for (b = 0; b < w->ndata; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b + 1);
        if (o->band_names && o->band_names[b])
            GDALSetDescription(band, o->band_names[b]);
        /* Set before any write: blocks no piece touches are filled with it. */
        if (o->has_nodata)
            GDALSetRasterNoDataValue(band, o->nodata);
        if (o->scales && !isnan(o->scales[b])) {
            GDALSetRasterScale(band, o->scales[b]);
            GDALSetRasterOffset(band, o->offsets ? o->offsets[b] : 0.0);
        }
    }
    set_rgb(w->ds, o);
    for (i = 0; i < o->nmetadata; i++)
        GDALSetMetadataItem(w->ds, o->metadata[i].key, o->metadata[i].value, NULL);
    if (o->format != SPEC_FORMAT_COG && o->compression == SPEC_COMPRESS_NONE) {
        /* Edge blocks are stored whole. */
        off_t bs = o->block > 0 ? o->block : GRID_DEFAULT_BLOCK;
        off_t bx = ((off_t)o->grid.width + bs - 1) / bs, by = ((off_t)o->grid.height + bs - 1) / bs;
        reserve_output(w->partial, bx * by * bs * bs * w->ndata * (off_t)spec_dtype_size(o->dtype));
    }
    /* Only meaningful while open: the caller's arrays may go away. */
    w->o.band_names = NULL;
    w->o.metadata = NULL;
    w->o.nmetadata = 0;
done:
    CSLDestroy(opts);
    if (rc < 0) {
        mosaic_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Writes a piece's validity band (values of the output type at src, with
 * the piece's pixel and line spacing) into the file's mask: 255 where it is
 * exactly 1, 0 elsewhere (0 from EE, outside a polygon, or any other value a
 * fill may have put there). */
static int write_mask(struct mosaic_writer *w, const struct mosaic_piece *p, const unsigned char *src,
                      GSpacing pix, GSpacing line, long dx, long dy, struct errbuf *e)
{
    size_t n = (size_t)p->width * (size_t)p->height, x, y;
    GDALRasterBandH mb = GDALGetMaskBand(GDALGetRasterBand(w->ds, 1));

    if (n > w->maskcap) {
        unsigned char *nm = realloc(w->maskbuf, n);
        if (!nm)
            return err_set(e, ERR_NOMEM, "out of memory");
        w->maskbuf = nm;
        w->maskcap = n;
    }
    for (y = 0; y < (size_t)p->height; y++)
        for (x = 0; x < (size_t)p->width; x++)
            w->maskbuf[y * (size_t)p->width + x] =
                load_value(src + y * (size_t)line + x * (size_t)pix, w->o.dtype, 0) == 1.0 ? 255 : 0;
    if (!mb || GDALRasterIO(mb, GF_Write, (int)dx, (int)dy, (int)p->width, (int)p->height, w->maskbuf,
                            (int)p->width, (int)p->height, GDT_Byte, 0, 0) != CE_None)
        return err_set(e, ERR_IO, "tile %zu: cannot write its mask into %s: %s", p->tile_id, w->partial,
                       CPLGetLastErrorMsg());
    return 0;
}

int mosaic_writer_add_mem(struct mosaic_writer *w, const struct mosaic_piece *p, const struct mosaic_pbuf *b,
                          struct errbuf *e)
{
    const struct mosaic_out *o = &w->o;
    const struct piece_header *h = (const struct piece_header *)b->mem;
    long dx = p->col - o->col_off, dy = p->row - o->row_off;
    size_t sz = spec_dtype_size(o->dtype), n = (size_t)p->width * (size_t)p->height * (size_t)p->nbands;
    const unsigned char *px = mosaic_pbuf_pixels(b);
    GSpacing pix, line, band;
    int bi, ndata, skip, first, nb;

    if (dx < 0 || dy < 0 || dx + p->width > o->grid.width || dy + p->height > o->grid.height || p->band0 < 0 ||
        (o->band_off == 0 && p->band0 + p->nbands > o->nbands))
        return err_set(e, ERR_INTERNAL, "tile %zu lies outside the output", p->tile_id);
    /* The piece's bands that are this file's: from piece band `skip` on,
     * nb of them, at file band `first`. */
    skip = p->band0 < o->band_off ? o->band_off - p->band0 : 0;
    first = p->band0 + skip - o->band_off;
    nb = p->nbands - skip < o->nbands - first ? p->nbands - skip : o->nbands - first;
    if (nb <= 0)
        return 0;
    if (!header_matches(h, p))
        return err_set(e, ERR_INTERNAL, "tile %zu: its pixels in memory do not match the piece", p->tile_id);
    if (p->type != o->dtype) {
        /* AUTO outputs are the union of the pieces' types: widen here,
         * with the same rules as the store. */
        if (n * sz > w->convcap) {
            unsigned char *nc = realloc(w->conv, n * sz);
            if (!nc)
                return err_set(e, ERR_NOMEM, "out of memory");
            w->conv = nc;
            w->convcap = n * sz;
        }
        convert_values(px, p->type, w->conv, o->dtype, n);
        px = w->conv;
    }
    if (h->interleave) {
        pix = (GSpacing)sz * p->nbands;
        line = pix * p->width;
        band = (GSpacing)sz;
    } else {
        pix = (GSpacing)sz;
        line = pix * p->width;
        band = line * p->height;
    }
    px += (size_t)skip * (size_t)band;
    /* The data bands of the piece; a mask band is the file's last. */
    ndata = first + nb <= w->ndata ? nb : w->ndata - first;
    for (bi = 0; bi < ndata; bi++)
        w->bandmap[bi] = first + bi + 1;
    /* int8 goes in as GDT_Byte: GDAL 3.6 stores it as Byte with
     * PIXELTYPE=SIGNEDBYTE and the bits are the same. */
    if (ndata > 0 &&
        GDALDatasetRasterIOEx(w->ds, GF_Write, (int)dx, (int)dy, (int)p->width, (int)p->height, (void *)px,
                              (int)p->width, (int)p->height, pixtype_to_gdal(o->dtype), ndata, w->bandmap, pix, line,
                              band, NULL) != CE_None)
        return err_set(e, ERR_IO, "tile %zu: cannot write it into %s: %s", p->tile_id, w->partial,
                       CPLGetLastErrorMsg());
    if (ndata < nb)
        return write_mask(w, p, px + (size_t)ndata * (size_t)band, pix, line, dx, dy, e);
    return 0;
}

int mosaic_writer_add(struct mosaic_writer *w, const char *parts_dir, const struct mosaic_piece *p,
                      struct errbuf *e)
{
    int rc = mosaic_piece_verify(parts_dir, p, &w->pb, e);

    return rc < 0 ? rc : mosaic_writer_add_mem(w, p, &w->pb, e);
}

int mosaic_writer_finish(struct mosaic_writer *w, struct errbuf *e)
{
    const struct mosaic_out *o = &w->o;
    int rc = 0;

    if (close_checked(w->ds) < 0) {
        w->ds = NULL;
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w->partial, CPLGetLastErrorMsg());
        goto done;
    }
    w->ds = NULL;
    if (release_reserve(w->partial) != 0) {
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w->partial, strerror(errno));
        goto done;
    }
    if (o->format == SPEC_FORMAT_COG) {
        GDALDriverH cog = GDALGetDriverByName("COG");
        GDALDatasetH src, dst;
        struct quiet q;
        char **copts;
        int failed;
        if (!cog) {
            rc = err_set(e, ERR_INTERNAL, "GDAL has no COG driver (GDAL >= 3.1 needed)");
            goto done;
        }
        copts = creation_options(o->compression, o->compress_level, o->dtype, o->block, 0, 1);
        /* Overviews and compression of a whole file: every core helps. */
        copts = CSLSetNameValue(copts, "NUM_THREADS", "ALL_CPUS");
        /* The mean, like Earth Engine's default pyramiding policy (and a
         * fraction of the cost of GDAL's default, cubic). */
        copts = CSLSetNameValue(copts, "RESAMPLING", o->overview_resampling ? o->overview_resampling : "AVERAGE");
        memset(&q, 0, sizeof q);
        CPLPushErrorHandlerEx(quiet_handler, &q);
        src = GDALOpen(w->partial, GA_ReadOnly);
        dst = src ? GDALCreateCopy(cog, w->cogtmp, src, FALSE, copts, NULL, NULL) : NULL;
        failed = !dst || close_checked(dst) < 0;
        if (src)
            GDALClose(src);
        CPLPopErrorHandler();
        CSLDestroy(copts);
        if (failed) {
            /* The cause first when it was a full disk: libtiff's last
             * message is its consequence ("Write error at scanline"). */
            rc = err_set(e, ERR_IO, "cannot write the COG %s: %s%s%s", w->cogtmp,
                         q.full[0] ? q.full : CPLGetLastErrorMsg(), q.full[0] ? "; then: " : "",
                         q.full[0] ? CPLGetLastErrorMsg() : "");
            goto done;
        }
        unlink(w->partial);
        if (rename(w->cogtmp, w->partial) != 0) {
            rc = err_set(e, ERR_IO, "cannot rename %s: %s", w->cogtmp, strerror(errno));
            goto done;
        }
    }
    /* The output path only ever names a complete, durable file. */
    if (mosaic_fsync_path(w->partial, 0) != 0 || rename(w->partial, w->path) != 0 || mosaic_fsync_path(w->dir, 1) != 0)
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w->path, strerror(errno));
done:
    if (rc < 0) {
        mosaic_writer_abort(w);
        return rc;
    }
    mosaic_pbuf_free(&w->pb);
    free(w->conv);
    free(w->maskbuf);
    free(w->bandmap);
    free(w);
    return 0;
}

static int cmp_piece(const void *a, const void *b)
{
    const struct mosaic_piece *p = a, *q = b;

    if (p->row != q->row)
        return p->row < q->row ? -1 : 1;
    if (p->col != q->col)
        return p->col < q->col ? -1 : 1;
    return p->band0 < q->band0 ? -1 : p->band0 > q->band0;
}

int mosaic_assemble(const struct mosaic_out *o, const char *parts_dir, const struct mosaic_piece *pieces,
                    size_t npieces, struct errbuf *e)
{
    struct mosaic_writer *w = NULL;
    struct mosaic_piece *sorted = NULL;
    struct mosaic_out oo = *o;
    size_t i;
    int rc = 0;

    if (oo.dtype == SPEC_DTYPE_AUTO) {
        for (i = 0; i < npieces; i++)
            oo.dtype = mosaic_type_union(oo.dtype, pieces[i].type);
        if (oo.dtype == SPEC_DTYPE_AUTO)
            oo.dtype = SPEC_DTYPE_FLOAT32;   /* no pixels at all: any type holds nodata */
    }
    /* Row-major order: each output block is filled while it is in GDAL's cache. */
    if (!(sorted = malloc((npieces ? npieces : 1) * sizeof *sorted)))
        return err_set(e, ERR_NOMEM, "out of memory");
    if (npieces)
        memcpy(sorted, pieces, npieces * sizeof *sorted);
    qsort(sorted, npieces, sizeof *sorted, cmp_piece);
    if ((rc = mosaic_writer_open(&oo, &w, e)) < 0)
        goto done;
    for (i = 0; i < npieces; i++)
        if ((rc = mosaic_writer_add(w, parts_dir, &sorted[i], e)) < 0) {
            mosaic_writer_abort(w);
            goto done;
        }
    rc = mosaic_writer_finish(w, e);
done:
    free(sorted);
    return rc;
}

int mosaic_write_vrt(const char *vrt_path, const char *const *files, size_t nfiles, const struct mosaic_out *desc,
                     struct errbuf *e)
{
    char tmp[4200], dir[4096];
    GDALDatasetH ds;
    size_t i;
    int b, usage = 0, rc = 0;

    snprintf(tmp, sizeof tmp, "%s.partial", vrt_path);
    (void)path_dir(vrt_path, dir, sizeof dir);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALBuildVRT(tmp, (int)nfiles, NULL, files, NULL, &usage);
    CPLPopErrorHandler();
    if (!ds)
        return err_set(e, ERR_IO, "cannot build the VRT %s: %s", vrt_path, CPLGetLastErrorMsg());
    /* The same band names and provenance as the cells: the VRT is the
     * output a rerun checks (its plan hash). */
    for (b = 0; desc && desc->band_names && b < desc->nbands && b < GDALGetRasterCount(ds); b++)
        if (desc->band_names[b])
            GDALSetDescription(GDALGetRasterBand(ds, b + 1), desc->band_names[b]);
    for (b = 0; desc && desc->scales && b < desc->nbands && b < GDALGetRasterCount(ds); b++)
        if (!isnan(desc->scales[b])) {
            GDALSetRasterScale(GDALGetRasterBand(ds, b + 1), desc->scales[b]);
            GDALSetRasterOffset(GDALGetRasterBand(ds, b + 1), desc->offsets ? desc->offsets[b] : 0.0);
        }
    if (desc)
        set_rgb(ds, desc);
    for (i = 0; desc && i < desc->nmetadata; i++)
        GDALSetMetadataItem(ds, desc->metadata[i].key, desc->metadata[i].value, NULL);
    if (close_checked(ds) < 0) {
        rc = err_set(e, ERR_IO, "cannot write the VRT %s: %s", vrt_path, CPLGetLastErrorMsg());
        goto done;
    }
    if (mosaic_fsync_path(tmp, 0) != 0 || rename(tmp, vrt_path) != 0 || mosaic_fsync_path(dir, 1) != 0)
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", vrt_path, strerror(errno));
done:
    if (rc < 0)
        unlink(tmp);
    return rc;
}

enum mosaic_existing mosaic_existing_output(const char *path, const char *plan_hash)
{
    struct stat st;
    GDALDatasetH ds;
    const char *tag;
    enum mosaic_existing r;

    if (stat(path, &st) != 0)
        return MOSAIC_ABSENT;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds)
        return MOSAIC_FOREIGN;
    tag = GDALGetMetadataItem(ds, MOSAIC_PLAN_TAG, NULL);
    r = !tag ? MOSAIC_FOREIGN : strcmp(tag, plan_hash) == 0 ? MOSAIC_SAME_PLAN : MOSAIC_OTHER_PLAN;
    GDALClose(ds);
    return r;
}
