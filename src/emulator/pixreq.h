/*
 * The parts of a request that the handlers of an expression share
 * (src/emulator/handlers_pixels.c): the body checks (value:compute and
 * exports too) and, for computePixels, getPixels, thumbnails and maps, the
 * PixelGrid, bandIds and EE's size limits. Each fills the response with
 * EE's 400 and returns -1 on a bad request, 0 otherwise.
 */
#ifndef EEFETCH_EMULATOR_PIXREQ_H
#define EEFETCH_EMULATOR_PIXREQ_H

#include "emulator/eval.h"
#include "emulator/handlers.h"
#include "emulator/raster.h"

#define EE_MAX_REQUEST_BYTES 50331648LL
#define EE_MAX_GRID_SIDE 32768L
#define EE_MAX_BANDS 1024

/* A request's grid and which of its parts were given. */
struct grid_spec {
    struct ee_grid g;
    int has_crs, has_affine, has_dims;
};

/* The checks every request body with an expression starts with, with
 * Google's wording: a JSON object, no field outside allowed
 * (NULL-terminated), a valid workloadTag. */
int pixreq_check_body(json_object *body, const char *const *allowed, struct emu_response *r);
/* Rejects fields of object o not in allowed; where names a nested object
 * as Google's message does ("file_export_options"), NULL for the body. */
int pixreq_check_fields(json_object *o, const char *where, const char *const *allowed,
                        struct emu_response *r);
/* *out = body's field name, which must be present and not null ("NAME is
 * required."). */
int pixreq_require(json_object *body, const char *name, json_object **out,
                   struct emu_response *r);
/* The optional "grid" PixelGrid of body. */
int pixreq_parse_grid(json_object *body, struct grid_spec *gs, struct emu_response *r);
/* Keeps the bands named in body's "bandIds", in that order. */
int pixreq_band_ids(struct ev_ctx *x, json_object *body, struct ev_image *img,
                    struct emu_response *r);
/* Fills the parts of gs the request left out from img's first band. */
int pixreq_complete_grid(struct grid_spec *gs, const struct ev_image *img,
                         struct emu_response *r);
/* EE's limits: grid side, number of bands, total request size. */
int pixreq_check_limits(const struct ee_grid *g, const struct ev_image *img,
                        struct emu_response *r);

/* visualizationOptions {ranges, paletteColors, gamma, opacity} of body:
 * Image.visualize of img's bands (1 or 3), replacing *img
 * (src/emulator/handlers_thumbs.c). */
int pixreq_vis_options(struct ev_ctx *x, json_object *body, struct ev_image **img,
                       struct emu_response *r);

/* PNG (alpha where masked or visualize's opacity < 1), JPEG, or AUTO (PNG
 * exactly when there is transparency) of a rendered 1- or 3-band raster;
 * *ctype is the answer's Content-Type. */
enum pixreq_display { PIXREQ_PNG, PIXREQ_JPEG, PIXREQ_AUTO };
int pixreq_encode_display(const struct raster *ras, const struct ev_image *img,
                          enum pixreq_display f, struct buf *out, const char **ctype,
                          struct errbuf *e);

#endif
