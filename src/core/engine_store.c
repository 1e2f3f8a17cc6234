/*
 * From a 200 answer to a journaled tile: the answer is checked (band types),
 * stored as a piece in the tile store (as it arrived in the common NPY case,
 * decoded and converted otherwise, masked outside a polygon region), and
 * when a tile's last piece is stored the tile is journaled and handed to the
 * output. Runs on the worker threads; shared state under the engine lock.
 */
#include "core/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/decode.h"

int engine_store_band_types(struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    size_t b;

    en->store.band_type = calloc(s->nbands ? s->nbands : 1, sizeof *en->store.band_type);
    en->store.band_declared = calloc(s->nbands ? s->nbands : 1, 1);
    if (!en->store.band_type || !en->store.band_declared)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (b = 0; b < s->nbands; b++) {
        /* Unmasking may widen a band's type (EE unions the ranges): its
         * first answer decides then. */
        if (s->bands[b].type != SPEC_DTYPE_AUTO && !en->req.unmasked) {
            en->store.band_type[b] = s->bands[b].type;
            en->store.band_declared[b] = 1;
        }
    }
    return 0;
}

/* Journals a tile whose pieces are all stored; no other thread touches
 * it now. held: the buffer of its only piece, which the assembler may
 * take. */
static void tile_complete(struct engine *en, size_t id, struct mosaic_pbuf *held)
{
    struct engine_tile_pieces *tp = &en->store.tiles[id];
    struct errbuf e;
    int rc = journal_append(en->store.journal, id, tp->pieces, tp->npieces, &e);

    pthread_mutex_lock(&en->mu);
    if (rc < 0) {
        engine_fail_locked(en, rc, "%s", e.msg);
    } else if (engine_output_add_locked(en, tp->pieces, (size_t)tp->npieces) < 0) {
        engine_fail_locked(en, ERR_NOMEM, "out of memory");
    } else {
        if (held && tp->npieces == 1)
            engine_output_hand_over_locked(en, held, en->out.nall - 1);
        engine_sched_tile_done(&en->sched, id);
        en->sum->tiles_fetched++;
        engine_emit(en, ENGINE_EV_TILE_DONE, id, 200, NULL);
    }
    free(tp->pieces);
    tp->pieces = NULL;
    tp->npieces = tp->cap = 0;
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
}

/* A piece is stored: when it was the tile's last, journal the tile. */
static void piece_done(struct engine *en, const struct engine_task *t, const struct mosaic_piece *p,
                       struct mosaic_pbuf *held)
{
    struct engine_tile_pieces *tp = &en->store.tiles[t->t.id];
    int complete;

    pthread_mutex_lock(&en->mu);
    if (tp->npieces == tp->cap) {
        int ncap = tp->cap ? tp->cap * 2 : 1;
        struct mosaic_piece *np = realloc(tp->pieces, (size_t)ncap * sizeof *np);
        if (!np) {
            engine_fail_locked(en, ERR_NOMEM, "out of memory");
            pthread_mutex_unlock(&en->mu);
            return;
        }
        tp->pieces = np;
        tp->cap = ncap;
    }
    tp->pieces[tp->npieces++] = *p;
    complete = engine_sched_piece_stored(&en->sched, t->t.id);
    pthread_mutex_unlock(&en->mu);
    if (complete)
        tile_complete(en, t->t.id, held);
}

/* A new piece of task t: its window, bands and number. An answer with
 * pixels is a success for the concurrency control. */
static void piece_init(struct engine *en, const struct engine_task *t, struct mosaic_piece *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_lock(&en->mu);
    if (engine_sched_success(&en->sched)) {
        if (en->sched.limit > en->sum->max_concurrency)
            en->sum->max_concurrency = en->sched.limit;
        engine_emit(en, ENGINE_EV_CONCURRENCY, 0, 0, NULL);
        pthread_cond_broadcast(&en->cv);
    }
    p->k = engine_sched_piece_number(&en->sched, t->t.id);
    pthread_mutex_unlock(&en->mu);
    p->tile_id = t->t.id;
    p->col = t->t.col;
    p->row = t->t.row;
    p->width = t->t.width;
    p->height = t->t.height;
    p->band0 = t->t.band0;
    p->nbands = t->t.nbands;
    p->type = en->s->dtype;
}

/* The tile's last band is the validity band (spec.mask_band). */
static int last_is_mask(const struct engine *en, const struct grid_tile *t)
{
    return en->s->mask_band && t->band0 + t->nbands == (int)en->s->nbands;
}

/* The piece's type for answers whose bands have `types`: the output's, else
 * the bands' union. The 0/1 mask band fits any type, so it never widens the
 * output (int8 + uint8 would). */
static enum spec_dtype piece_type(const struct engine *en, const struct grid_tile *t, const enum spec_dtype *types,
                                  int nbands)
{
    enum spec_dtype ty = en->s->dtype;
    int b;

    if (ty == SPEC_DTYPE_AUTO && last_is_mask(en, t) && nbands > 1)
        for (b = 0; b < nbands - 1; b++)
            ty = mosaic_type_union(ty, types[b]);
    if (ty == SPEC_DTYPE_AUTO)
        for (b = 0; b < nbands; b++)
            ty = mosaic_type_union(ty, types[b]);
    return ty;
}

/* With a polygon region: *mask (malloc'd, free it) is 1 inside it per pixel
 * of tile t, or NULL when the whole tile is inside. */
static int region_mask(struct engine *en, const struct grid_tile *t, unsigned char **mask, struct errbuf *e)
{
    int inside = 1, rc;

    *mask = NULL;
    if (!en->plan.region)
        return 0;
    if (!(*mask = malloc((size_t)t->width * (size_t)t->height)))
        return err_set(e, ERR_NOMEM, "out of memory");
    if ((rc = grid_region_mask(&en->plan, t, *mask, &inside, e)) < 0 || inside) {
        free(*mask);
        *mask = NULL;
    }
    return rc < 0 ? rc : 0;
}

/* Stores a piece (its bands' types: types); pixels of a tile that
 * straddles a polygon region's edge get nodata (0 without nodata) outside
 * the polygon, and 0 (masked) in a mask band. */
static int store_masked(struct engine *en, const struct grid_tile *t, struct mosaic_piece *p,
                        const struct decoded_tile *dt, const enum spec_dtype *types, struct errbuf *e)
{
    unsigned char *mask;
    int rc;

    p->type = piece_type(en, t, types, dt->nbands);
    if ((rc = region_mask(en, t, &mask, e)) < 0)
        return rc;
    rc = mosaic_store_piece(en->store.parts, p, dt, mask, en->s->has_nodata ? en->s->nodata : 0,
                            last_is_mask(en, t), e);
    free(mask);
    return rc;
}

/* Every answer of a band must bring the type declared for it or, when none
 * was, the type of its first answer: a server that changes a band's type
 * mid-run would otherwise widen the output silently (earlier tiles were
 * stored in the old type). The mask band's 0/1 fit any type, so it is not
 * checked. Fatal, naming band, tile and both types. */
static int check_band_types(struct engine *en, const struct engine_task *t, const enum spec_dtype *got,
                            struct errbuf *e)
{
    const struct download_spec *s = en->s;
    enum spec_dtype *have = en->store.band_type;
    int b, rc = 0;

    pthread_mutex_lock(&en->mu);
    for (b = 0; b < t->t.nbands && rc == 0; b++) {
        int g = t->t.band0 + b;
        if (s->mask_band && g == (int)s->nbands - 1)
            continue;
        if (have[g] == SPEC_DTYPE_AUTO)
            have[g] = got[b];
        else if (have[g] != got[b])
            rc = err_set(e, ERR_SERVER,
                         "tile %zu (pixels %ld,%ld size %ldx%ld): band '%s' came as %s, but %s %s; "
                         "the server changed the band's type during the run, and the tiles would not "
                         "agree\nhint: the server's answers are inconsistent; tiles already stored are "
                         "kept, so the same recipe run again resumes",
                         t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, s->bands[g].id,
                         spec_dtype_name(got[b]),
                         en->store.band_declared[g] ? "the image's info declares it" : "earlier tiles had it as",
                         spec_dtype_name(have[g]));
    }
    pthread_mutex_unlock(&en->mu);
    return rc;
}

/* The answer's own buffer becomes the piece: the records move down over
 * the NPY header (one copy, no second buffer per worker), are written
 * without the page cache, and may then go to the assembler as they are,
 * the worker taking a spare buffer. */
static int store_in_place(struct engine *en, const struct engine_task *t, struct mosaic_piece *p, struct buf *body,
                          const struct decode_npy_view *v, struct errbuf *e)
{
    struct mosaic_pbuf in_place = {(unsigned char *)body->data, body->cap, 0, 0, 0};
    int rc;

    /* The checksum is taken in the same pass as the move. */
    mosaic_pbuf_move_in(&in_place, v->data, v->bytes);
    body->len = 0;
    if ((rc = mosaic_store_pbuf(en->store.parts, p, 1, &in_place, e)) < 0)
        return rc;
    piece_done(en, t, p, &in_place);
    body->data = (char *)in_place.mem;
    body->cap = in_place.cap;
    if (body->data)
        body->data[0] = '\0';
    return 0;
}

/* The common case of an NPY answer: every band already has the piece's
 * type and no pixel needs masking, so the records are stored as they
 * arrived, without decoding them into planes. Returns 1 when the answer
 * needs the general path (decode_npy + store_masked), 0 when the piece is
 * stored, < 0 on failure (ERR_PARSE: a bad answer, to be fetched again). */
static int store_npy_direct(struct engine_worker *w, const struct engine_task *t, struct http_result *res,
                            const struct decode_expect *x, struct errbuf *e)
{
    struct engine *en = w->en;
    struct buf *body = &res->body;
    struct decode_npy_view v;
    struct mosaic_piece p;
    int rc;

    if ((rc = decode_npy_view(res->body.data, res->body.len, x, &v, e)) < 0)
        return rc;
    if (v.uniform) {
        enum spec_dtype got[GRID_MAX_BANDS];
        int b;
        for (b = 0; b < t->t.nbands; b++)
            got[b] = v.type;
        if ((rc = check_band_types(en, t, got, e)) < 0)
            return rc;
    }
    if (!v.uniform || (en->s->dtype != SPEC_DTYPE_AUTO && en->s->dtype != v.type))
        return 1;
    if (en->plan.region) {
        int inside = 1;
        if ((rc = grid_region_mask(&en->plan, &t->t, NULL, &inside, e)) < 0)
            return rc;
        if (!inside)
            return 1;
    }
    piece_init(en, t, &p);
    p.type = v.type;
    if (body->align && body->cap >= mosaic_pbuf_size(v.bytes))
        return store_in_place(en, t, &p, body, &v, e);
    if (mosaic_pbuf_reserve(&w->pb, v.bytes) != 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    mosaic_pbuf_move_in(&w->pb, v.data, v.bytes);
    if ((rc = mosaic_store_pbuf(en->store.parts, &p, 1, &w->pb, e)) < 0)
        return rc;
    piece_done(en, t, &p, &w->pb);
    return 0;
}

/* Off the common path: the answer decoded into planes, checked, converted
 * and stored. */
static enum engine_outcome store_decoded(struct engine_worker *w, const struct engine_task *t,
                                         struct http_result *res, const struct decode_expect *x, int *rc,
                                         struct errbuf *e)
{
    struct engine *en = w->en;
    enum spec_dtype types[GRID_MAX_BANDS];
    struct decoded_tile dt;
    struct mosaic_piece p;
    int b;

    *rc = en->s->fetch_format == SPEC_FETCH_GEOTIFF ? decode_geotiff(res->body.data, res->body.len, x, &dt, e)
                                                     : decode_npy(res->body.data, res->body.len, x, &dt, e);
    /* The answer is decoded into planes and then converted into a piece:
     * freeing it here keeps two copies per worker at most, not three. */
    http_result_free(res);
    buf_init_aligned(&res->body, 0);
    engine_worker_keep(w, res);
    if (*rc == ERR_NOMEM)
        return ENGINE_FAIL_TILE;
    if (*rc < 0)
        return ENGINE_REFETCH;   /* truncated or mis-sized: never written, fetched again */
    for (b = 0; b < dt.nbands && b < t->t.nbands; b++)
        types[b] = dt.bands[b].type;
    if ((*rc = check_band_types(en, t, types, e)) < 0) {
        decoded_tile_free(&dt);
        return ENGINE_FAIL_RUN;
    }
    piece_init(en, t, &p);
    *rc = store_masked(en, &t->t, &p, &dt, types, e);
    decoded_tile_free(&dt);
    if (*rc < 0)
        return ENGINE_FAIL_TILE;
    piece_done(en, t, &p, NULL);
    return ENGINE_STORED;
}

/* ---- answers received as they arrive ---- */

/* Records converted at a time: the scratch buffer holds one band of them
 * at up to 8 bytes a value. */
#define ANSWER_CHUNK 4096

/* An NPY answer received through the session's sink. Once its header is
 * complete it is either kept whole in the worker's body buffer (every band
 * already of the piece's type and no pixel to mask: the records are the
 * piece, stored as they arrived by store_npy_direct) or converted on the
 * fly, ANSWER_CHUNK records at a time, into band planes of the output type
 * in the worker's piece buffer: the same values store_decoded gives, but
 * the worker holds one piece of the output's type and a chunk, never an
 * answer 2 to 4 times wider (a median comes back as float64 for a uint16
 * output) plus its decoded planes. */
enum answer_mode { ANSWER_HEADER, ANSWER_WHOLE, ANSWER_CONVERT };

struct engine_answer {
    struct engine_worker *w;
    struct engine_task t;
    struct http_result *res;          /* a whole answer goes into res->body */
    const char *ids[GRID_MAX_BANDS];
    double aff[6];
    struct decode_expect x;
    struct decode_npy_stream *st;
    int active;                       /* this request's answer goes through the sink */
    enum answer_mode mode;
    size_t fed;                       /* bytes of the body so far */
    enum spec_dtype type;             /* ANSWER_CONVERT: the piece's */
    size_t npx;
    int rc;                           /* the first failure; the transfer stopped there */
    struct errbuf err;
    double scratch[ANSWER_CHUNK];     /* one band of a chunk, in its own type (aligned for any) */
};

/* The expectation of task t's answer: window, bands, grid. */
static void answer_expect(const struct engine *en, const struct engine_task *t, const char **ids, double *aff,
                          struct decode_expect *x)
{
    int b;

    for (b = 0; b < t->t.nbands; b++)
        ids[b] = en->s->bands[t->t.band0 + b].id;
    grid_window_affine(&en->plan.grid, t->t.col, t->t.row, aff);
    x->width = t->t.width;
    x->height = t->t.height;
    x->nbands = t->t.nbands;
    x->band_ids = ids;
    /* Any type decodes; check_band_types then holds each band to its
     * declared or first type (not the mask band: its 0/1 fit any type),
     * with an error that names them. */
    x->types = NULL;
    x->affine = aff;
}

static int answer_header(void *ud, const struct decode_npy_layout *l, struct errbuf *e)
{
    struct engine_answer *a = ud;
    struct engine *en = a->w->en;
    struct buf *body = &a->res->body;
    int inside = 1, rc;

    /* store_npy_direct's condition for storing the records as they are. */
    if (l->uniform && (en->s->dtype == SPEC_DTYPE_AUTO || en->s->dtype == l->type)) {
        if (en->plan.region && (rc = grid_region_mask(&en->plan, &a->t.t, NULL, &inside, e)) < 0)
            return rc;
        if (inside) {
            a->mode = ANSWER_WHOLE;
            /* One allocation of the whole size (a hint: the session's
             * bound still holds), then the header as it came. */
            (void)buf_reserve(body, l->head_bytes + l->npx * l->rec);
            if (buf_append(body, l->head, l->head_bytes) != 0)
                return err_set(e, ERR_NOMEM, "out of memory");
            return 0;
        }
    }
    a->mode = ANSWER_CONVERT;
    a->type = piece_type(en, &a->t.t, l->types, l->nbands);
    a->npx = l->npx;
    if (mosaic_pbuf_reserve(&a->w->pb, l->npx * (size_t)l->nbands * spec_dtype_size(a->type)) != 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    return 0;
}

/* Records [first, first + n) into the piece's planes, converted. */
static int answer_records(void *ud, const void *recs, size_t first, size_t n, struct errbuf *e)
{
    struct engine_answer *a = ud;
    const struct decode_npy_layout *l = decode_npy_stream_layout(a->st);
    size_t sz = spec_dtype_size(a->type);
    unsigned char *planes;
    const unsigned char *r = recs;
    int b;

    (void)e;
    if (a->mode != ANSWER_CONVERT)
        return 0;   /* ANSWER_WHOLE: answer_write keeps the bytes as they are */
    planes = mosaic_pbuf_pixels(&a->w->pb);
    while (n > 0) {
        size_t k = n < ANSWER_CHUNK ? n : ANSWER_CHUNK;
        for (b = 0; b < l->nbands; b++) {
            unsigned char *dst = planes + ((size_t)b * a->npx + first) * sz;
            if (l->types[b] == a->type) {
                decode_npy_stream_band(a->st, r, k, b, dst);
            } else {
                decode_npy_stream_band(a->st, r, k, b, a->scratch);
                mosaic_convert_values(a->scratch, l->types[b], dst, a->type, k);
            }
        }
        r += k * l->rec;
        first += k;
        n -= k;
    }
    return 0;
}

/* session_sink.write: non-zero stops the transfer (a->rc says why). A bad
 * answer (ERR_PARSE) is still received to its end, only not kept: the
 * session's bound and its message ("larger than") apply to it as to any
 * answer, and a truncated one is told as such. */
static int answer_write(void *ud, const void *data, size_t n)
{
    struct engine_answer *a = ud;
    size_t before = a->fed;
    int rc;

    if (a->rc < 0)
        return a->rc != ERR_PARSE;
    a->fed += n;
    if (a->mode == ANSWER_WHOLE) {
        if (buf_append(&a->res->body, data, n) != 0) {
            a->rc = err_set(&a->err, ERR_NOMEM, "out of memory");
            return 1;
        }
        return 0;
    }
    if ((rc = decode_npy_stream_feed(a->st, data, n, &a->err)) < 0) {
        a->rc = rc;
        return rc != ERR_PARSE;
    }
    if (a->mode == ANSWER_WHOLE) {
        /* The header ended in this part: what follows it is kept whole. */
        const struct decode_npy_layout *l = decode_npy_stream_layout(a->st);
        size_t off = l->head_bytes - before;
        if (n > off && buf_append(&a->res->body, (const char *)data + off, n - off) != 0) {
            a->rc = err_set(&a->err, ERR_NOMEM, "out of memory");
            return 1;
        }
    }
    return 0;
}

int engine_store_sink(struct engine_worker *w, const struct engine_task *t, struct http_result *res,
                      struct session_sink *sink)
{
    struct engine_answer *a = w->ans;
    struct decode_npy_sink ds;

    memset(sink, 0, sizeof *sink);
    if (w->en->s->fetch_format == SPEC_FETCH_GEOTIFF) {
        if (a)
            a->active = 0;
        return 0;
    }
    if (!a) {
        if (!(a = calloc(1, sizeof *a)))
            return ERR_NOMEM;
        if (decode_npy_stream_create(&a->st) != 0) {
            free(a);
            return ERR_NOMEM;
        }
        w->ans = a;
    }
    a->w = w;
    a->t = *t;
    a->res = res;
    answer_expect(w->en, t, a->ids, a->aff, &a->x);
    a->active = 1;
    a->mode = ANSWER_HEADER;
    a->fed = 0;
    a->rc = 0;
    a->err.msg[0] = '\0';
    ds.header = answer_header;
    ds.records = answer_records;
    ds.ud = a;
    decode_npy_stream_begin(a->st, &a->x, &ds);
    sink->write = answer_write;
    sink->ud = a;
    return 0;
}

void engine_store_sink_free(struct engine_worker *w)
{
    if (!w->ans)
        return;
    decode_npy_stream_free(w->ans->st);
    free(w->ans);
    w->ans = NULL;
}

/* An answer converted as it arrived (ANSWER_CONVERT), or one that ended
 * or failed within its header: checked to its end, its band types held to
 * the run's, masked outside a polygon region, stored. */
static enum engine_outcome store_streamed(struct engine_worker *w, const struct engine_task *t,
                                          struct http_result *res, int *rc, struct errbuf *e)
{
    struct engine *en = w->en;
    struct engine_answer *a = w->ans;
    const struct decode_npy_layout *l;
    struct mosaic_piece p;
    unsigned char *mask;

    engine_worker_keep(w, res);
    a->active = 0;
    if (a->rc < 0) {
        *rc = a->rc;
        memcpy(e->msg, a->err.msg, sizeof e->msg);
    } else {
        *rc = decode_npy_stream_end(a->st, e);
    }
    if (*rc == ERR_PARSE)
        return ENGINE_REFETCH;   /* truncated or mis-sized: never written, fetched again */
    if (*rc < 0)
        return ENGINE_FAIL_TILE; /* out of memory, or the region's mask could not be made */
    l = decode_npy_stream_layout(a->st);
    if ((*rc = check_band_types(en, t, l->types, e)) < 0)
        return ENGINE_FAIL_RUN;
    piece_init(en, t, &p);
    p.type = a->type;
    if ((*rc = region_mask(en, &t->t, &mask, e)) < 0)
        return ENGINE_FAIL_TILE;
    if (mask)   /* as mosaic_store_piece */
        mosaic_fill_outside(mosaic_pbuf_pixels(&w->pb), a->npx, p.nbands, p.type, mask,
                            en->s->has_nodata ? en->s->nodata : 0, last_is_mask(en, &t->t));
    free(mask);
    if ((*rc = mosaic_store_pbuf(en->store.parts, &p, 0, &w->pb, e)) < 0)
        return ENGINE_FAIL_TILE;
    piece_done(en, t, &p, &w->pb);
    return ENGINE_STORED;
}

enum engine_outcome engine_store_answer(struct engine_worker *w, const struct engine_task *t,
                                        struct http_result *res, int *rc, struct errbuf *e)
{
    const struct download_spec *s = w->en->s;
    const char *ids[GRID_MAX_BANDS];
    double aff[6];
    struct decode_expect x;
    struct engine_answer *a = w->ans;

    if (a && a->active) {
        if (a->mode != ANSWER_WHOLE)
            return store_streamed(w, t, res, rc, e);
        a->active = 0;
        if (a->rc < 0) {
            /* Kept whole and could not be: out of memory. */
            *rc = a->rc;
            memcpy(e->msg, a->err.msg, sizeof e->msg);
            engine_worker_keep(w, res);
            return ENGINE_FAIL_TILE;
        }
    }
    answer_expect(w->en, t, ids, aff, &x);
    if (s->fetch_format != SPEC_FETCH_GEOTIFF) {
        *rc = store_npy_direct(w, t, res, &x, e);
        if (*rc <= 0) {
            engine_worker_keep(w, res);
            if (*rc == 0)
                return ENGINE_STORED;
            if (*rc == ERR_PARSE)
                return ENGINE_REFETCH;      /* truncated or mis-sized: fetched again */
            return *rc == ERR_SERVER ? ENGINE_FAIL_RUN : ENGINE_FAIL_TILE;   /* a band's type changed */
        }
    }
    return store_decoded(w, t, res, &x, rc, e);
}
