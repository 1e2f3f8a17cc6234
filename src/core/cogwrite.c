/* The COG layout copied from finished GeoTIFFs (cogwrite.h). libtiff
 * writes the IFDs with their tile arrays deferred; the arrays and the
 * tiles are then written here with plain I/O, and the arrays' directory
 * entries pointed at them. */
#include "core/cogwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

#define TAG_GDAL_NODATA 42113
#define COPY_BUF (16u << 20)

/* libtiff's messages for one file, kept for the error (the first one). */
struct msgs {
    char first[512];
};

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    struct msgs *m = user;
    (void)tif;
    (void)module;
    if (m && !m->first[0])
        vsnprintf(m->first, sizeof m->first, fmt, ap);
    return 1;
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

static TIFF *open_tiff(const char *path, const char *mode, struct msgs *m)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFF *t;

    if (!opts)
        return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, NULL);
    t = TIFFOpenExt(path, mode, opts);
    TIFFOpenOptionsFree(opts);
    return t;
}

/* One directory of the output: where it comes from and its tiles. */
struct dir {
    TIFF *in;
    int fd;                           /* the source, for the tiles */
    tdir_t index;                     /* directory in the source */
    uint32_t subfile;                 /* FILETYPE_* of the output directory */
    uint32_t ntiles;
    uint64_t *off, *len;              /* in the source; then len stays, off is the output's */
    uint64_t entry_off, entry_len;    /* file offsets of its TileOffsets / TileByteCounts entries */
};

/* Copies a custom (non-core) tag: GeoTIFF keys, GDAL_METADATA, GDAL_NODATA,
 * ImageDescription, ... as libtiff passes each form. */
static int copy_custom(TIFF *in, TIFF *out, uint32_t tag, struct msgs *m)
{
    const TIFFField *fi = TIFFFieldWithTag(in, tag), *fo;
    TIFFDataType type;
    void *data = NULL;

    if (!fi)
        return -1;
    if (!(fo = TIFFFindField(out, tag, TIFF_ANY))) {
        TIFFFieldInfo info;
        memset(&info, 0, sizeof info);
        info.field_tag = tag;
        info.field_readcount = (short)TIFFFieldReadCount(fi);
        info.field_writecount = (short)TIFFFieldWriteCount(fi);
        info.field_type = TIFFFieldDataType(fi);
        info.field_bit = FIELD_CUSTOM;
        info.field_oktochange = 1;
        info.field_passcount = (unsigned char)TIFFFieldPassCount(fi);
        info.field_name = (char *)TIFFFieldName(fi);
        if (TIFFMergeFieldInfo(out, &info, 1) != 0 || !(fo = TIFFFindField(out, tag, TIFF_ANY)))
            return -1;
    }
    type = TIFFFieldDataType(fi);
    if (TIFFFieldPassCount(fi)) {
        uint32_t n32 = 0;
        uint16_t n16 = 0;
        if (TIFFFieldReadCount(fi) == TIFF_VARIABLE2 ? !TIFFGetField(in, tag, &n32, &data)
                                                      : !TIFFGetField(in, tag, &n16, &data))
            return -1;
        if (TIFFFieldReadCount(fi) != TIFF_VARIABLE2)
            n32 = n16;
        if (!TIFFFieldPassCount(fo))
            return -1;
        return (TIFFFieldWriteCount(fo) == TIFF_VARIABLE2 ? TIFFSetField(out, tag, n32, data)
                                                           : TIFFSetField(out, tag, (int)n32, data))
                   ? 0
                   : -1;
    }
    if (type == TIFF_ASCII || TIFFFieldReadCount(fi) > 1) {
        if (!TIFFGetField(in, tag, &data))
            return -1;
        return TIFFSetField(out, tag, data) ? 0 : -1;
    }
    switch (type) {
    case TIFF_SHORT: {
        uint16_t v;
        return TIFFGetField(in, tag, &v) && TIFFSetField(out, tag, (int)v) ? 0 : -1;
    }
    case TIFF_LONG: {
        uint32_t v;
        return TIFFGetField(in, tag, &v) && TIFFSetField(out, tag, v) ? 0 : -1;
    }
    case TIFF_DOUBLE: {
        double v;
        return TIFFGetField(in, tag, &v) && TIFFSetField(out, tag, v) ? 0 : -1;
    }
    default:
        snprintf(m->first, sizeof m->first, "tag %u has a form this copy does not handle", (unsigned)tag);
        return -1;
    }
}

/* The tags of d's source directory onto out's current one. Overviews and
 * masks take only the image structure (and nodata), like GDAL's COG. */
static int copy_tags(const struct dir *d, TIFF *out, struct msgs *m)
{
    static const uint32_t core32[] = {TIFFTAG_IMAGEWIDTH, TIFFTAG_IMAGELENGTH, TIFFTAG_TILEWIDTH, TIFFTAG_TILELENGTH};
    static const uint32_t core16[] = {TIFFTAG_BITSPERSAMPLE, TIFFTAG_COMPRESSION, TIFFTAG_PHOTOMETRIC,
                                      TIFFTAG_SAMPLESPERPIXEL, TIFFTAG_PLANARCONFIG, TIFFTAG_SAMPLEFORMAT,
                                      TIFFTAG_PREDICTOR};
    TIFF *in = d->in;
    uint16_t v16, n16, *extra;
    uint32_t v32;
    size_t i;
    int n;

    if (!TIFFSetField(out, TIFFTAG_SUBFILETYPE, d->subfile))
        return -1;
    for (i = 0; i < sizeof core32 / sizeof *core32; i++)
        if (!TIFFGetField(in, core32[i], &v32) || !TIFFSetField(out, core32[i], v32))
            return -1;
    /* Compression before the predictor: the codec defines that tag. */
    for (i = 0; i < sizeof core16 / sizeof *core16; i++)
        if (TIFFGetField(in, core16[i], &v16) && !TIFFSetField(out, core16[i], (int)v16))
            return -1;
    if (TIFFGetField(in, TIFFTAG_EXTRASAMPLES, &n16, &extra) && n16 > 0 &&
        !TIFFSetField(out, TIFFTAG_EXTRASAMPLES, (int)n16, extra))
        return -1;
    n = TIFFGetTagListCount(in);
    for (i = 0; i < (size_t)n; i++) {
        uint32_t tag = TIFFGetTagListEntry(in, (int)i);
        if (d->subfile != 0 && tag != TAG_GDAL_NODATA)
            continue;
        if (copy_custom(in, out, tag, m) < 0) {
            if (!m->first[0])
                snprintf(m->first, sizeof m->first, "cannot copy tag %u", (unsigned)tag);
            return -1;
        }
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    int i;

    for (i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* GDAL's structural metadata after the header: it tells GDAL (and COG
 * readers) that IFDs come first and tiles carry a size leader and trailer. */
static size_t ghost_area(char *buf, size_t cap, int mask)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n"
                     "BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n %s",
                     mask ? "MASK_INTERLEAVED_WITH_IMAGERY=YES\n" : "");
    return (size_t)snprintf(buf, cap, "GDAL_STRUCTURAL_METADATA_SIZE=%06d bytes\n%s", n, body);
}

/* Finds the TileOffsets and TileByteCounts entries of each IFD of fd's
 * file (in chain order, one per dir). */
static int find_entries(int fd, int big, struct dir *dirs, int ndirs)
{
    unsigned char hdr[16], ent[20];
    uint64_t off, n, i;
    int k, esz = big ? 20 : 12, csz = big ? 8 : 2;

    if (read_all(fd, hdr, big ? 16 : 8, 0) < 0)
        return -1;
    off = big ? get_le(hdr + 8, 8) : get_le(hdr + 4, 4);
    for (k = 0; k < ndirs; k++) {
        if (off == 0 || read_all(fd, hdr, (size_t)csz, off) < 0)
            return -1;
        n = get_le(hdr, csz);
        dirs[k].entry_off = dirs[k].entry_len = 0;
        for (i = 0; i < n; i++) {
            uint64_t at = off + (uint64_t)csz + i * (uint64_t)esz;
            unsigned tag;
            if (read_all(fd, ent, (size_t)esz, at) < 0)
                return -1;
            tag = (unsigned)get_le(ent, 2);
            if (tag == TIFFTAG_TILEOFFSETS)
                dirs[k].entry_off = at;
            else if (tag == TIFFTAG_TILEBYTECOUNTS)
                dirs[k].entry_len = at;
        }
        if (!dirs[k].entry_off || !dirs[k].entry_len || read_all(fd, hdr, (size_t)(big ? 8 : 4),
                                                                   off + (uint64_t)csz + n * (uint64_t)esz) < 0)
            return -1;
        off = get_le(hdr, big ? 8 : 4);
    }
    return 0;
}

/* Points a directory entry at an array of n values at `at` (or holds the
 * value itself when it fits). */
static int patch_entry(int fd, int big, uint64_t entry, const uint64_t *vals, uint32_t n, uint64_t at)
{
    unsigned char ent[20];
    int vsz = big ? 8 : 4;

    memset(ent, 0, sizeof ent);
    put_le(ent + 2, big ? TIFF_LONG8 : TIFF_LONG, 2);
    if (big) {
        put_le(ent + 4, n, 8);
        put_le(ent + 12, n == 1 ? vals[0] : at, 8);
    } else {
        put_le(ent + 4, n, 4);
        put_le(ent + 8, n == 1 ? vals[0] : at, 4);
    }
    (void)vsz;
    /* Keep the tag number (first two bytes). */
    return write_all(fd, ent + 2, big ? 18 : 10, entry + 2);
}

/* Buffered sequential writer for the tiles. */
struct sink {
    int fd;
    uint64_t pos;                     /* file offset of buf[0] */
    unsigned char *buf;
    size_t n, cap;
};

static int sink_flush(struct sink *s)
{
    if (s->n && write_all(s->fd, s->buf, s->n, s->pos) < 0)
        return -1;
    s->pos += s->n;
    s->n = 0;
    return 0;
}

/* Room for `need` more bytes in the buffer. */
static int sink_room(struct sink *s, size_t need)
{
    if (s->n + need <= s->cap)
        return 0;
    if (sink_flush(s) < 0)
        return -1;
    if (need > s->cap) {
        unsigned char *nb = realloc(s->buf, need);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        s->buf = nb;
        s->cap = need;
    }
    return 0;
}

/* Tile t of d: size leader, the bytes as stored, the last 4 repeated.
 * d->off[t] becomes the output's offset. */
static int copy_tile(struct sink *s, struct dir *d, uint32_t t)
{
    uint64_t len = d->len[t];
    unsigned char *p;

    if (len == 0) {
        d->off[t] = 0;   /* a sparse block stays sparse */
        return 0;
    }
    if (len > UINT32_MAX) {
        errno = EFBIG;
        return -1;
    }
    if (sink_room(s, (size_t)len + 8) < 0)
        return -1;
    p = s->buf + s->n;
    put_le(p, len, 4);
    if (read_all(d->fd, p + 4, (size_t)len, d->off[t]) < 0)
        return -1;
    memset(p + 4 + len, 0, 4);
    memcpy(p + 4 + len + (len >= 4 ? 0 : 4 - len), p + 4 + (len >= 4 ? len - 4 : 0), len >= 4 ? 4 : (size_t)len);
    d->off[t] = s->pos + s->n + 4;
    s->n += (size_t)len + 8;
    return 0;
}

int cogwrite_layout(const char *dst, const char *main, const char *const *levels, int nlevels, int mask,
                    struct errbuf *e)
{
    int nsrc = nlevels + 1, ndirs = nsrc * (mask ? 2 : 1), i, k, big = 0, fd = -1, rc = 0;
    TIFF **src = calloc((size_t)nsrc, sizeof *src), *out = NULL;
    int *fds = malloc((size_t)nsrc * sizeof *fds);
    struct dir *dirs = calloc((size_t)ndirs, sizeof *dirs);
    struct sink s = {.fd = -1};
    struct msgs m;
    uint64_t total = 0, at;
    char ghost[600];
    size_t glen;
    struct stat st;
    uint32_t t;

    memset(&m, 0, sizeof m);
    if (!src || !fds || !dirs) {
        free(src);
        free(fds);
        free(dirs);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < nsrc; i++)
        fds[i] = -1;
    for (i = 0; i < nsrc; i++) {
        const char *path = i == 0 ? main : levels[i - 1];
        if (!(src[i] = open_tiff(path, "rm", &m)) || (fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
            fstat(fds[i], &st) != 0) {
            rc = err_set(e, ERR_IO, "cannot read %s for the COG: %s", path, m.first[0] ? m.first : strerror(errno));
            goto done;
        }
        total += (uint64_t)st.st_size;
        big |= TIFFIsBigTIFF(src[i]);
    }
    /* The directory order of GDAL's COG driver: full resolution, its mask,
     * the overviews largest first, then their masks. */
    for (i = 0; i < ndirs; i++) {
        int s0 = mask ? (i == 0 ? 0 : i == 1 ? 0 : i <= nsrc ? i - 1 : i - nsrc) : i;
        int is_mask = mask && (i == 1 || i > nsrc);
        struct dir *d = &dirs[i];
        d->in = src[s0];
        d->fd = fds[s0];
        d->index = (tdir_t)(is_mask ? 1 : 0);
        d->subfile = (uint32_t)((s0 > 0 ? FILETYPE_REDUCEDIMAGE : 0) | (is_mask ? FILETYPE_MASK : 0));
        if (!TIFFSetDirectory(d->in, d->index) || !TIFFIsTiled(d->in)) {
            rc = err_set(e, ERR_INTERNAL, "cannot read directory %d of %s for the COG: %s", (int)d->index,
                         s0 == 0 ? main : levels[s0 - 1], m.first[0] ? m.first : "not a tiled TIFF");
            goto done;
        }
        d->ntiles = TIFFNumberOfTiles(d->in);
        if (!(d->off = malloc((d->ntiles ? d->ntiles : 1) * sizeof *d->off)) ||
            !(d->len = malloc((d->ntiles ? d->ntiles : 1) * sizeof *d->len))) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        for (t = 0; t < d->ntiles; t++) {
            int err = 0;
            d->off[t] = TIFFGetStrileOffsetWithErr(d->in, t, &err);
            d->len[t] = TIFFGetStrileByteCountWithErr(d->in, t, &err);
            if (err) {
                rc = err_set(e, ERR_PARSE, "cannot read the tile index of %s", s0 == 0 ? main : levels[s0 - 1]);
                goto done;
            }
        }
    }
    /* Classic TIFF holds 4 GiB: what the sources hold plus the leaders,
     * trailers and arrays must fit with room to spare. */
    if (total + (uint64_t)ndirs * 64 * 1024 > (uint64_t)UINT32_MAX - (64u << 20))
        big = 1;

    unlink(dst);
    if (!(out = open_tiff(dst, big ? "w8l" : "wl", &m))) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", dst, m.first[0] ? m.first : strerror(errno));
        goto done;
    }
    glen = ghost_area(ghost, sizeof ghost, mask);
    if (write_all(TIFFFileno(out), ghost, glen, big ? 16 : 8) < 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", dst, strerror(errno));
        goto done;
    }
    for (i = 0; i < ndirs; i++) {
        struct dir *d = &dirs[i];
        if (!TIFFSetDirectory(d->in, d->index) || copy_tags(d, out, &m) < 0 || !TIFFDeferStrileArrayWriting(out) ||
            !TIFFWriteCheck(out, 1, "cogwrite") || !TIFFWriteDirectory(out)) {
            rc = err_set(e, ERR_IO, "cannot write the directories of %s: %s", dst,
                         m.first[0] ? m.first : "libtiff failed");
            goto done;
        }
    }
    TIFFClose(out);
    out = NULL;
    if (m.first[0]) {
        rc = err_set(e, ERR_IO, "cannot write the directories of %s: %s", dst, m.first);
        goto done;
    }

    /* The arrays after the IFDs, then the tiles. */
    if ((fd = open(dst, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0 || find_entries(fd, big, dirs, ndirs) < 0) {
        rc = err_set(e, ERR_IO, "cannot read back the directories of %s: %s", dst, strerror(errno));
        goto done;
    }
    at = ((uint64_t)st.st_size + 7) & ~(uint64_t)7;
    for (i = 0; i < ndirs; i++)
        at += (dirs[i].ntiles > 1 ? 2 * (uint64_t)dirs[i].ntiles * (big ? 8 : 4) : 0);
    s.fd = fd;
    s.pos = at;
    s.cap = COPY_BUF;
    if (!(s.buf = malloc(s.cap))) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Smallest overview first; within a level each tile, then its mask tile. */
    for (k = nlevels; k >= 0; k--) {
        struct dir *img = mask ? &dirs[k == 0 ? 0 : 1 + k] : &dirs[k];
        struct dir *msk = mask ? &dirs[k == 0 ? 1 : nsrc + k] : NULL;
        for (t = 0; t < img->ntiles; t++)
            if (copy_tile(&s, img, t) < 0 || (msk && t < msk->ntiles && copy_tile(&s, msk, t) < 0)) {
                rc = err_set(e, ERR_IO, "cannot write the tiles of %s: %s", dst, strerror(errno));
                goto done;
            }
        for (t = img->ntiles; msk && t < msk->ntiles; t++)
            if (copy_tile(&s, msk, t) < 0) {
                rc = err_set(e, ERR_IO, "cannot write the tiles of %s: %s", dst, strerror(errno));
                goto done;
            }
    }
    if (sink_flush(&s) < 0) {
        rc = err_set(e, ERR_IO, "cannot write the tiles of %s: %s", dst, strerror(errno));
        goto done;
    }
    /* The arrays, and the entries pointed at them. */
    at = ((uint64_t)st.st_size + 7) & ~(uint64_t)7;
    for (i = 0; i < ndirs; i++) {
        struct dir *d = &dirs[i];
        size_t vsz = big ? 8 : 4, bytes = (size_t)d->ntiles * vsz;
        unsigned char *arr;
        if (d->ntiles > 1) {
            if (!(arr = malloc(2 * bytes))) {
                rc = err_set(e, ERR_NOMEM, "out of memory");
                goto done;
            }
            for (t = 0; t < d->ntiles; t++) {
                put_le(arr + (size_t)t * vsz, d->off[t], (int)vsz);
                put_le(arr + bytes + (size_t)t * vsz, d->len[t], (int)vsz);
            }
            if (write_all(fd, arr, 2 * bytes, at) < 0) {
                free(arr);
                rc = err_set(e, ERR_IO, "cannot write the tile index of %s: %s", dst, strerror(errno));
                goto done;
            }
            free(arr);
        }
        if (patch_entry(fd, big, d->entry_off, d->off, d->ntiles, at) < 0 ||
            patch_entry(fd, big, d->entry_len, d->len, d->ntiles, at + bytes) < 0) {
            rc = err_set(e, ERR_IO, "cannot write the tile index of %s: %s", dst, strerror(errno));
            goto done;
        }
        if (d->ntiles > 1)
            at += 2 * bytes;
    }
done:
    if (out)
        TIFFClose(out);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s: %s", dst, strerror(errno));
    for (i = 0; i < nsrc; i++) {
        if (src[i])
            TIFFClose(src[i]);
        if (fds[i] >= 0)
            close(fds[i]);
    }
    for (i = 0; i < ndirs; i++) {
        free(dirs[i].off);
        free(dirs[i].len);
    }
    free(s.buf);
    free(src);
    free(fds);
    free(dirs);
    if (rc < 0)
        unlink(dst);
    return rc;
}
