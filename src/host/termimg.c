/*
 * Pictures in the terminal for the REPL's img:show() and :show: a thumbnail
 * asked of the server the way the clients' getThumbURL asks for one
 * (thumbnails.create, then getPixels of the returned name), its PNG decoded
 * with GDAL (/vsimem/), and the pixels drawn as sixel, kitty graphics or
 * Unicode half blocks (docs/recipes.md, "The REPL").
 *
 * Lua: host.thumbnail(expression_json) -> PNG bytes;
 *      host.term_image({png...}, {caption...}, {mode=, columns=, rows=}) -> text;
 *      host.term_mode() -> the mode picked for this terminal.
 */
#include <cpl_vsi.h>
#include <gdal.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/session.h"
#include "host/host_int.h"
#include "util/buf.h"
#include "util/platform.h"

#define TERMIMG_MAX_IMAGES 16
#define TERMIMG_MAX_SIDE 4096      /* a thumbnail larger than this is refused */
#define TERMIMG_GAP_CELLS 2        /* between the images of a strip */
#define TERMIMG_CELL_W 10          /* pixels per cell when the terminal does not say */
#define TERMIMG_CELL_H 20

struct rgba {
    int w, h;
    unsigned char *px;             /* w * h * 4, row-major; alpha 0 = masked */
};

enum termimg_mode { MODE_HALFBLOCK, MODE_SIXEL, MODE_KITTY };

/* ---- the thumbnail request ------------------------------------------- */

static void release_http_result(void *p)
{
    http_result_free(p);
}

/* [-0, +0, v] Returns when rc (a session call's) is 0 and the answer is
 * 200; else raises the transport error or the server's message. */
static void check_answer(lua_State *L, const struct host *h, int rc, struct http_result *res,
                         const struct errbuf *e)
{
    char msg[1024];
    int status = (int)res->status;

    if (rc != 0) {
        http_result_free(res);
        luaL_error(L, "thumbnail: request to %s failed: %s", h->endpoint, e->msg);
    }
    if (status != 200) {
        session_error_message(res, msg, sizeof msg);
        http_result_free(res);
        luaL_error(L, "thumbnail: the server answered %d: %s", status, msg);
    }
}

/* thumbnail(expr) -> PNG bytes. [-0, +1, e]: the answer is boxed, since
 * pushing a large PNG can raise a memory error. */
static int l_thumbnail(lua_State *L)
{
    struct host *h = host_from_lua(L);
    size_t len;
    const char *expr = luaL_checklstring(L, 1, &len);
    struct http_result *res;
    struct errbuf e;
    struct buf body;
    char path[1024];
    const char *name, *end;
    int rc;

    if (host_ensure_verified(h, &e) != 0)
        return luaL_error(L, "%s", e.msg);
    /* What getThumbURL({format: "png"}) sends: everything else (bands,
     * visualization, region, dimensions) is in the expression. */
    lua_settop(L, 1);
    res = host_box_push(L, sizeof *res, release_http_result);   /* 2: box */
    buf_init(&body, 0);
    if (buf_append_str(&body, "{\"expression\":") != 0 || buf_append(&body, expr, len) != 0 ||
        buf_append_str(&body, ",\"fileFormat\":\"PNG\"}") != 0) {
        buf_free(&body);
        return luaL_error(L, "out of memory");
    }
    rc = session_post(h->session, "thumbnails", body.data, body.len, res, &e);
    buf_free(&body);
    check_answer(L, h, rc, res, &e);
    /* {"name": "projects/P/thumbnails/ID"}: found without a full parse. */
    name = res->body.data ? strstr(res->body.data, "projects/") : NULL;
    end = name ? strchr(name, '"') : NULL;
    if (!name || !end || (size_t)(end - name) + 12 >= sizeof path) {
        http_result_free(res);
        return luaL_error(L, "thumbnail: the server's answer names no thumbnail");
    }
    snprintf(path, sizeof path, "%.*s:getPixels", (int)(end - name), name);
    http_result_free(res);
    memset(res, 0, sizeof *res);
    check_answer(L, h, session_get(h->session, path, res, &e), res, &e);
    lua_pushlstring(L, res->body.data ? res->body.data : "", res->body.len);
    host_box_release(res);
    return 1;
}

/* ---- decoding --------------------------------------------------------- */

/* PNG (or JPEG) bytes to RGBA: 1 band gray, 2 gray + alpha, 3 RGB, 4 RGBA. */
static int decode(const void *data, size_t len, struct rgba *out, char *err, size_t cap)
{
    char name[64];
    VSILFILE *f;
    GDALDatasetH ds;
    unsigned char *band = NULL;
    int nb, b, rc = -1;
    size_t i, np;

    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "/vsimem/eefetch-show-%p", (const void *)out);
    f = VSIFileFromMemBuffer(name, (GByte *)data, (vsi_l_offset)len, FALSE);
    if (!f) {
        snprintf(err, cap, "cannot hold the thumbnail in memory");
        return -1;
    }
    VSIFCloseL(f);
    GDALAllRegister();
    ds = GDALOpen(name, GA_ReadOnly);
    if (!ds) {
        snprintf(err, cap, "the server's thumbnail is not an image GDAL can read");
        goto out;
    }
    nb = GDALGetRasterCount(ds);
    out->w = GDALGetRasterXSize(ds);
    out->h = GDALGetRasterYSize(ds);
    if (nb < 1 || nb > 4 || out->w < 1 || out->h < 1 || out->w > TERMIMG_MAX_SIDE ||
        out->h > TERMIMG_MAX_SIDE) {
        snprintf(err, cap, "the thumbnail has %d bands of %dx%d pixels (want 1 to 4 bands, at most %d wide)",
                 nb, out->w, out->h, TERMIMG_MAX_SIDE);
        goto out;
    }
    np = (size_t)out->w * (size_t)out->h;
    out->px = malloc(np * 4);
    band = malloc(np);
    if (!out->px || !band) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    for (i = 0; i < np; i++)
        out->px[i * 4 + 3] = 255;
    for (b = 0; b < nb; b++) {
        int ch;
        if (GDALRasterIO(GDALGetRasterBand(ds, b + 1), GF_Read, 0, 0, out->w, out->h, band, out->w,
                         out->h, GDT_Byte, 0, 0) != CE_None) {
            snprintf(err, cap, "cannot read band %d of the thumbnail", b + 1);
            goto out;
        }
        if (nb == 1 && GDALGetRasterColorTable(GDALGetRasterBand(ds, 1))) {
            /* A paletted PNG: each index through its colour table. */
            GDALColorTableH ct = GDALGetRasterColorTable(GDALGetRasterBand(ds, 1));
            for (i = 0; i < np; i++) {
                const GDALColorEntry *ce = GDALGetColorEntry(ct, band[i]);
                unsigned char *p = out->px + i * 4;
                p[0] = ce ? (unsigned char)ce->c1 : 0;
                p[1] = ce ? (unsigned char)ce->c2 : 0;
                p[2] = ce ? (unsigned char)ce->c3 : 0;
                p[3] = ce ? (unsigned char)ce->c4 : 0;
            }
            break;
        }
        for (i = 0; i < np; i++) {
            if (nb <= 2 && b == 0) {
                for (ch = 0; ch < 3; ch++)
                    out->px[i * 4 + (size_t)ch] = band[i];
            } else if ((nb == 2 && b == 1) || b == 3) {
                out->px[i * 4 + 3] = band[i];
            } else {
                out->px[i * 4 + (size_t)b] = band[i];
            }
        }
    }
    rc = 0;
out:
    if (ds)
        GDALClose(ds);
    VSIUnlink(name);
    free(band);
    if (rc != 0) {
        free(out->px);
        out->px = NULL;
    }
    return rc;
}

/* ---- the terminal ----------------------------------------------------- */

struct term {
    int cols, rows;                /* cells; rows 0 = unknown */
    int cell_w, cell_h;            /* pixels per cell (graphics modes) */
};

static void term_size(struct term *t, int cols, int rows)
{
    struct platform_term_size ws;
    const char *c = getenv("COLUMNS"), *l = getenv("LINES");

    platform_terminal_size(STDOUT_FILENO, &ws);   /* all 0 when unknown */
    t->cols = cols > 0 ? cols : ws.cols > 0 ? ws.cols : c && atoi(c) > 0 ? atoi(c) : 80;
    t->rows = rows > 0 ? rows : ws.rows > 0 ? ws.rows : l && atoi(l) > 0 ? atoi(l) : 0;
    t->cell_w = ws.cols > 0 && ws.xpixels > 0 ? ws.xpixels / ws.cols : TERMIMG_CELL_W;
    t->cell_h = ws.rows > 0 && ws.ypixels > 0 ? ws.ypixels / ws.rows : TERMIMG_CELL_H;
    if (t->cell_w < 1)
        t->cell_w = TERMIMG_CELL_W;
    if (t->cell_h < 1)
        t->cell_h = TERMIMG_CELL_H;
}

/* Conservative: graphics only where the terminal says who it is. */
static const char *detect_mode(void)
{
    const char *term = getenv("TERM"), *prog = getenv("TERM_PROGRAM");

    if (!platform_isatty(STDOUT_FILENO))
        return "halfblock";
    if ((getenv("KITTY_WINDOW_ID") && *getenv("KITTY_WINDOW_ID")) || (term && strcmp(term, "xterm-kitty") == 0) ||
        (prog && strcmp(prog, "ghostty") == 0))
        return "kitty";
    if ((term && (strncmp(term, "foot", 4) == 0 || strstr(term, "mlterm"))) ||
        (prog && strcmp(prog, "WezTerm") == 0))
        return "sixel";
    return "halfblock";
}

static int l_term_mode(lua_State *L)
{
    lua_pushstring(L, detect_mode());
    return 1;
}

/* ---- layout: a strip of images side by side ---------------------------- */

/* Nearest-neighbour resampling: destination pixel x takes source pixel
 * floor((x + 0.5) * w / dw), so every colour shown is one the server drew. */
static int resample(const struct rgba *in, int dw, int dh, struct rgba *out)
{
    int x, y;

    out->w = dw;
    out->h = dh;
    out->px = malloc((size_t)dw * (size_t)dh * 4);
    if (!out->px)
        return -1;
    for (y = 0; y < dh; y++) {
        int sy = (int)(((double)y + 0.5) * in->h / dh);
        for (x = 0; x < dw; x++) {
            int sx = (int)(((double)x + 0.5) * in->w / dw);
            memcpy(out->px + ((size_t)y * (size_t)dw + (size_t)x) * 4,
                   in->px + ((size_t)sy * (size_t)in->w + (size_t)sx) * 4, 4);
        }
    }
    return 0;
}

/* Scales each image to fit its share of width and the height, in pixels,
 * and places them on one transparent canvas; xs[i] is image i's left edge. */
static int compose(struct rgba *imgs, int n, int width, int height, int gap, struct rgba *canvas, int *xs,
                   int *ws)
{
    int i, share = (width - gap * (n - 1)) / n, x = 0, hmax = 1;
    struct rgba scaled[TERMIMG_MAX_IMAGES];

    if (share < 1)
        share = 1;
    memset(scaled, 0, sizeof scaled);
    memset(canvas, 0, sizeof *canvas);
    for (i = 0; i < n; i++) {
        double s = 1;
        int dw, dh;
        if (imgs[i].w > share)
            s = (double)share / imgs[i].w;
        if (height > 0 && imgs[i].h * s > height)
            s = (double)height / imgs[i].h;
        dw = (int)(imgs[i].w * s);
        dh = (int)(imgs[i].h * s);
        if (dw < 1)
            dw = 1;
        if (dh < 1)
            dh = 1;
        if (resample(&imgs[i], dw, dh, &scaled[i]) != 0)
            goto fail;
        if (dh > hmax)
            hmax = dh;
    }
    for (i = 0; i < n; i++)
        x += scaled[i].w + (i ? gap : 0);
    canvas->w = x;
    canvas->h = hmax;
    canvas->px = calloc((size_t)canvas->w * (size_t)canvas->h, 4);
    if (!canvas->px)
        goto fail;
    for (i = 0, x = 0; i < n; i++) {
        int y;
        for (y = 0; y < scaled[i].h; y++)
            memcpy(canvas->px + ((size_t)y * (size_t)canvas->w + (size_t)x) * 4,
                   scaled[i].px + (size_t)y * (size_t)scaled[i].w * 4, (size_t)scaled[i].w * 4);
        xs[i] = x;
        ws[i] = scaled[i].w;
        x += scaled[i].w + gap;
    }
    for (i = 0; i < n; i++)
        free(scaled[i].px);
    return 0;
fail:
    for (i = 0; i < n; i++)
        free(scaled[i].px);
    return -1;
}

/* ---- drawing ----------------------------------------------------------- */

static const unsigned char *pixel(const struct rgba *c, int x, int y)
{
    static const unsigned char none[4] = {0, 0, 0, 0};
    if (y >= c->h)
        return none;
    return c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 4;
}

/* Opaque enough to draw; the rest shows the terminal's own background. */
#define OPAQUE(p) ((p)[3] >= 128)

/* Each cell is two pixels: U+2580 (upper half) in the upper pixel's colour
 * over the lower pixel's colour. A transparent half is the default
 * background: U+2584 (lower half) when only the lower pixel is drawn, a
 * blank when neither is. Every cell sets its own colours, and each line
 * ends with a reset. */
static int draw_halfblock(const struct rgba *c, struct buf *out)
{
    int x, y, rc = 0;

    for (y = 0; y < c->h && rc == 0; y += 2) {
        for (x = 0; x < c->w && rc == 0; x++) {
            const unsigned char *t = pixel(c, x, y), *b = pixel(c, x, y + 1);
            if (OPAQUE(t) && OPAQUE(b))
                rc = buf_printf(out, "\033[38;2;%d;%d;%dm\033[48;2;%d;%d;%dm\xe2\x96\x80", t[0], t[1], t[2], b[0],
                                b[1], b[2]);
            else if (OPAQUE(t))
                rc = buf_printf(out, "\033[0m\033[38;2;%d;%d;%dm\xe2\x96\x80", t[0], t[1], t[2]);
            else if (OPAQUE(b))
                rc = buf_printf(out, "\033[0m\033[38;2;%d;%d;%dm\xe2\x96\x84", b[0], b[1], b[2]);
            else
                rc = buf_append_str(out, "\033[0m ");
        }
        if (rc == 0)
            rc = buf_append_str(out, "\033[0m\n");
    }
    return rc;
}

/* Sixel with a 6x6x6 colour cube; P2 = 1 leaves transparent pixels as
 * they are (the terminal's background). */
static int draw_sixel(const struct rgba *c, struct buf *out)
{
    static const int lv[6] = {0, 20, 40, 60, 80, 100};   /* percent per level */
    unsigned char *idx = malloc((size_t)c->w * (size_t)c->h);
    int x, y, k, rc;
    size_t i;

    if (!idx)
        return -1;
    for (i = 0; i < (size_t)c->w * (size_t)c->h; i++) {
        const unsigned char *p = c->px + i * 4;
        idx[i] = OPAQUE(p) ? (unsigned char)(((p[0] * 5 + 127) / 255) * 36 + ((p[1] * 5 + 127) / 255) * 6 +
                                            (p[2] * 5 + 127) / 255)
                           : 255;
    }
    rc = buf_printf(out, "\033P0;1;0q\"1;1;%d;%d", c->w, c->h);
    {
        /* Only the colours the picture uses are defined. */
        unsigned char any[216];
        memset(any, 0, sizeof any);
        for (i = 0; i < (size_t)c->w * (size_t)c->h; i++)
            if (idx[i] != 255)
                any[idx[i]] = 1;
        for (k = 0; k < 216 && rc == 0; k++)
            if (any[k])
                rc = buf_printf(out, "#%d;2;%d;%d;%d", k, lv[k / 36], lv[(k / 6) % 6], lv[k % 6]);
    }
    for (y = 0; y < c->h && rc == 0; y += 6) {
        unsigned char used[216];
        memset(used, 0, sizeof used);
        for (x = 0; x < c->w; x++)
            for (k = 0; k < 6 && y + k < c->h; k++)
                if (idx[(size_t)(y + k) * (size_t)c->w + (size_t)x] != 255)
                    used[idx[(size_t)(y + k) * (size_t)c->w + (size_t)x]] = 1;
        for (k = 0; k < 216 && rc == 0; k++) {
            int run = 0, prev = -1;
            if (!used[k])
                continue;
            rc = buf_printf(out, "#%d", k);
            for (x = 0; x <= c->w && rc == 0; x++) {
                int bits = 0, r;
                if (x < c->w)
                    for (r = 0; r < 6 && y + r < c->h; r++)
                        if (idx[(size_t)(y + r) * (size_t)c->w + (size_t)x] == k)
                            bits |= 1 << r;
                if (x < c->w && bits == prev) {
                    run++;
                    continue;
                }
                if (run > 3)
                    rc = buf_printf(out, "!%d%c", run, (char)('?' + prev));
                else
                    while (run-- > 0 && rc == 0)
                        rc = buf_printf(out, "%c", (char)('?' + prev));
                prev = bits;
                run = 1;
            }
            if (rc == 0)
                rc = buf_append_str(out, "$");
        }
        if (rc == 0)
            rc = buf_append_str(out, "-");
    }
    if (rc == 0)
        rc = buf_append_str(out, "\033\\\n");
    free(idx);
    return rc;
}

/* Kitty graphics: the RGBA pixels themselves (f=32), base64 in chunks of
 * at most 4096 bytes as the protocol asks. */
static int draw_kitty(const struct rgba *c, struct buf *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (size_t)c->w * (size_t)c->h * 4, i, chunk = 3072;   /* 3072 bytes -> 4096 chars */
    int rc = 0, first = 1;

    for (i = 0; i < n && rc == 0; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk, j;
        if (first)
            rc = buf_printf(out, "\033_Ga=T,f=32,s=%d,v=%d,m=%d;", c->w, c->h, i + m < n);
        else
            rc = buf_printf(out, "\033_Gm=%d;", i + m < n);
        first = 0;
        for (j = 0; j < m && rc == 0; j += 3) {
            const unsigned char *p = c->px + i + j;
            unsigned v = (unsigned)p[0] << 16 | (j + 1 < m ? (unsigned)p[1] << 8 : 0) | (j + 2 < m ? p[2] : 0);
            char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], j + 1 < m ? b64[v >> 6 & 63] : '=',
                         j + 2 < m ? b64[v & 63] : '='};
            rc = buf_append(out, q, 4);
        }
        if (rc == 0)
            rc = buf_append_str(out, "\033\\");
    }
    if (rc == 0)
        rc = buf_append_str(out, "\n");
    return rc;
}

/* Captions (dates) on one line, each under its image, cut to its width. */
static int draw_captions(lua_State *L, int tcap, int n, const int *xs, const int *ws, int unit, struct buf *out)
{
    int i, col = 0, rc = 0, any = 0;

    for (i = 0; i < n && rc == 0; i++) {
        size_t len;
        const char *s;
        int at = xs[i] / unit, width = ws[i] / unit;
        lua_rawgeti(L, tcap, i + 1);
        s = lua_tolstring(L, -1, &len);
        if (s && len) {
            any = 1;
            if (width < 1)
                width = 1;
            if ((int)len > width && i + 1 < n)
                len = (size_t)width;
            while (col < at && rc == 0) {
                rc = buf_append_str(out, " ");
                col++;
            }
            if (rc == 0)
                rc = buf_append(out, s, len);
            col += (int)len;
        }
        lua_pop(L, 1);
    }
    if (any && rc == 0)
        rc = buf_append_str(out, "\n");
    return rc;
}

/* What term_image holds while it still reads its arguments and captions
 * and pushes the drawing (each can raise). */
struct term_image_hold {
    struct rgba imgs[TERMIMG_MAX_IMAGES], canvas;
    struct buf out;
};

static void release_term_image(void *p)
{
    struct term_image_hold *k = p;
    int i;

    for (i = 0; i < TERMIMG_MAX_IMAGES; i++) {
        free(k->imgs[i].px);
        k->imgs[i].px = NULL;
    }
    free(k->canvas.px);
    k->canvas.px = NULL;
    buf_free(&k->out);
}

/* term_image(pngs [, captions, opts]) -> the drawing's bytes. [-0, +1, e]:
 * decoded images, canvas and output are boxed. */
static int l_term_image(lua_State *L)
{
    const char *mode_name;
    struct term_image_hold *k;
    struct rgba *imgs;
    int xs[TERMIMG_MAX_IMAGES], ws[TERMIMG_MAX_IMAGES];
    enum termimg_mode mode;
    struct term t;
    char err[256] = "";
    int i, n, rc = 0, unit, width, height;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 3);
    n = (int)lua_rawlen(L, 1);
    if (n < 1 || n > TERMIMG_MAX_IMAGES)
        return luaL_error(L, "show: 1 to %d images, not %d", TERMIMG_MAX_IMAGES, n);
    if (!lua_istable(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    if (!lua_istable(L, 3)) {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    lua_getfield(L, 3, "mode");
    mode_name = lua_isstring(L, -1) ? lua_tostring(L, -1) : "auto";
    if (strcmp(mode_name, "auto") == 0)
        mode_name = detect_mode();
    if (strcmp(mode_name, "halfblock") == 0)
        mode = MODE_HALFBLOCK;
    else if (strcmp(mode_name, "sixel") == 0)
        mode = MODE_SIXEL;
    else if (strcmp(mode_name, "kitty") == 0)
        mode = MODE_KITTY;
    else
        return luaL_error(L, "show: mode '%s' is not one of auto, halfblock, sixel, kitty", mode_name);
    lua_pop(L, 1);
    lua_getfield(L, 3, "columns");
    lua_getfield(L, 3, "rows");
    term_size(&t, (int)lua_tointeger(L, -2), (int)lua_tointeger(L, -1));
    lua_pop(L, 2);

    k = host_box_push(L, sizeof *k, release_term_image);   /* 4: box */
    imgs = k->imgs;
    for (i = 0; i < n && rc == 0; i++) {
        size_t len;
        const char *png;
        lua_rawgeti(L, 1, i + 1);
        png = lua_tolstring(L, -1, &len);
        if (!png) {
            snprintf(err, sizeof err, "image %d is not PNG bytes", i + 1);
            rc = -1;
        } else {
            rc = decode(png, len, &imgs[i], err, sizeof err);
        }
        lua_pop(L, 1);
    }
    /* Sizes in the drawing's pixels: one per cell across and two down for
     * half blocks, the cell's pixels for graphics; a line is kept for the
     * prompt and one for the dates. */
    unit = mode == MODE_HALFBLOCK ? 1 : t.cell_w;
    width = (t.cols - 1) * unit;
    height = t.rows > 3 ? (t.rows - 3) * (mode == MODE_HALFBLOCK ? 2 : t.cell_h) : 0;
    buf_init(&k->out, 0);
    if (rc == 0 && compose(imgs, n, width, height, TERMIMG_GAP_CELLS * unit, &k->canvas, xs, ws) != 0) {
        snprintf(err, sizeof err, "out of memory");
        rc = -1;
    }
    if (rc == 0) {
        rc = mode == MODE_HALFBLOCK ? draw_halfblock(&k->canvas, &k->out)
             : mode == MODE_SIXEL   ? draw_sixel(&k->canvas, &k->out)
                                    : draw_kitty(&k->canvas, &k->out);
        if (rc == 0)
            rc = draw_captions(L, 2, n, xs, ws, unit, &k->out);
        if (rc != 0)
            snprintf(err, sizeof err, "out of memory");
        free(k->canvas.px);
        k->canvas.px = NULL;
    }
    if (rc != 0) {
        host_box_release(k);
        return luaL_error(L, "show: %s", err);
    }
    lua_pushlstring(L, k->out.data ? k->out.data : "", k->out.len);
    host_box_release(k);
    return 1;
}

void host_termimg_register(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"thumbnail", l_thumbnail},
        {"term_image", l_term_image},
        {"term_mode", l_term_mode},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
