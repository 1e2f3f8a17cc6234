/*
 * Maps an HTTP method and path onto an emulator route. EE paths use
 * reserved expansion, so asset ids keep their slashes and end with an
 * optional ":verb" (".../assets/USGS/SRTMGL1_003:getPixels").
 */
#ifndef EEFETCH_EMULATOR_ROUTER_H
#define EEFETCH_EMULATOR_ROUTER_H

enum route_kind {
    ROUTE_NONE = 0,
    ROUTE_TOKEN,            /* POST /token */
    ROUTE_METADATA_TOKEN,   /* GET /computeMetadata/v1/instance/service-accounts/default/token */
    ROUTE_ALGORITHMS,       /* GET /{v}/projects/{p}/algorithms */
    ROUTE_COMPUTE_PIXELS,   /* POST /{v}/projects/{p}/image:computePixels */
    ROUTE_VALUE_COMPUTE,    /* POST /{v}/projects/{p}/value:compute */
    ROUTE_ASSET_GET,        /* GET /{v}/projects/{p}/assets/{id} */
    ROUTE_LIST_IMAGES,      /* GET .../assets/{id}:listImages */
    ROUTE_LIST_ASSETS,      /* GET .../assets/{id}:listAssets and /{v}/projects/{p}:listAssets */
    ROUTE_GET_PIXELS,       /* POST .../assets/{id}:getPixels */
    ROUTE_THUMB_CREATE,     /* POST /{v}/projects/{p}/thumbnails */
    ROUTE_THUMB_PIXELS,     /* GET .../thumbnails/{id}:getPixels (id in asset) */
    ROUTE_MAP_CREATE,       /* POST /{v}/projects/{p}/maps */
    ROUTE_MAP_TILE,         /* GET .../maps/{id}/tiles/{z}/{x}/{y} (id in asset, z/x/y in verb) */
};

#define ROUTE_MAX_PROJECT 160
#define ROUTE_MAX_ASSET 512

struct route {
    enum route_kind kind;
    const char *method;              /* the method the route expects */
    int ee;                          /* 1: an EE API route (auth, quota, faults apply) */
    int open;                        /* 1: no authentication (thumbnail and tile URLs,
                                      * whose unguessable id is the credential) */
    char version[16];                /* "v1", "v1beta", "v1alpha" */
    char project[ROUTE_MAX_PROJECT];
    char asset[ROUTE_MAX_ASSET];     /* id after ".../assets/", without the verb */
    char verb[48];                   /* after ':' or empty */
};

enum route_result { ROUTE_OK = 0, ROUTE_NOT_FOUND = 404, ROUTE_BAD_METHOD = 405 };

/* Fills rt from a decoded path (no query string). Returns ROUTE_OK,
 * ROUTE_NOT_FOUND, or ROUTE_BAD_METHOD (rt->method then names the allowed one). */
enum route_result router_match(const char *method, const char *path, struct route *rt);

/* A route's name for logs ("getPixels", "assets.get", ...). */
const char *router_name(enum route_kind k);

#endif
