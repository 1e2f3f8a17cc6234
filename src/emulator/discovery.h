/*
 * The REST discovery document of the Earth Engine API, served so that
 * clients which build their API from it (the official Python client through
 * googleapiclient, and so geedim) run unmodified against the emulator.
 *
 * The document (data/earthengine-discovery.json, embedded) lists the methods
 * the Python client calls, with v1 paths; it is rewritten per request to the
 * version asked for and rooted at the URL the client used. The same method
 * table answers the paths the router does not know: a method of the document
 * that the emulator lacks gets a 400 FAILED_PRECONDITION naming it, never a
 * 404, so the document and the server cannot disagree about what exists.
 */
#ifndef EEFETCH_EMULATOR_DISCOVERY_H
#define EEFETCH_EMULATOR_DISCOVERY_H

#include "emulator/handlers.h"
#include "emulator/router.h"
#include "util/buf.h"
#include "util/err.h"

struct discovery;

/* Parses the embedded document and compiles its method paths. */
int discovery_create(struct discovery **out, struct errbuf *e);
void discovery_destroy(struct discovery *d);

/* Renders the document for version ("v1", "v1beta", "v1alpha") with
 * rootUrl/baseUrl root_url (ending in '/'). */
int discovery_render(const char *version, const char *root_url, struct buf *out,
                     struct errbuf *e);

/* For a path the router does not serve: when a method of the document has
 * this path, fills rt (kind ROUTE_UNIMPLEMENTED, version, project, method_id)
 * and returns ROUTE_OK, or ROUTE_BAD_METHOD when only the HTTP method
 * differs (rt->method then names the allowed one). Else ROUTE_NOT_FOUND. */
enum route_result discovery_route(const struct discovery *d, const char *method,
                                  const char *path, struct route *rt);

/* GET /$discovery/rest?version=V and /discovery/v1/apis/earthengine/V/rest. */
int handle_discovery(const struct emu_ctx *c, const struct emu_request *q,
                     struct emu_response *r);
/* A method of the document the emulator lacks: 400 FAILED_PRECONDITION naming it. */
int handle_unimplemented(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r);

#endif
