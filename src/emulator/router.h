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
    ROUTE_IMAGE_EXPORT,     /* POST /{v}/projects/{p}/image:export */
    ROUTE_OPERATION_GET,    /* GET /{v}/projects/{p}/operations/{id} (id in asset) */
    ROUTE_OPERATION_LIST,   /* GET /{v}/projects/{p}/operations */
    ROUTE_OPERATION_CANCEL, /* POST /{v}/projects/{p}/operations/{id}:cancel */
    /* Cloud Storage JSON API: bucket in project, object name in asset. */
    ROUTE_STORAGE_LIST,     /* GET /storage/v1/b/{bucket}/o */
    ROUTE_STORAGE_GET,      /* GET /storage/v1/b/{bucket}/o/{object} */
    ROUTE_STORAGE_MEDIA,    /* GET /download/storage/v1/b/{bucket}/o/{object}, or ?alt=media */
    ROUTE_STORAGE_DELETE,   /* DELETE /storage/v1/b/{bucket}/o/{object} */
    ROUTE_DISCOVERY,        /* GET /$discovery/rest, /discovery/v1/apis/earthengine/{v}/rest */
    ROUTE_UNIMPLEMENTED,    /* a method of the discovery document the emulator lacks */
};

#define ROUTE_MAX_PROJECT 160
#define ROUTE_MAX_ASSET 1100   /* the field: Cloud Storage object names (1024) fit */
#define ROUTE_MAX_ASSET_ID 512 /* EE asset ids this long or longer are refused (404) */

struct route {
    enum route_kind kind;
    const char *method;              /* the method the route expects */
    int ee;                          /* 1: an EE API route (auth, quota, faults apply) */
    int storage;                     /* 1: a Cloud Storage route (auth and faults, no EE quota) */
    int open;                        /* 1: no authentication (thumbnail and tile URLs,
                                      * whose unguessable id is the credential) */
    char version[16];                /* "v1", "v1beta", "v1alpha" */
    char project[ROUTE_MAX_PROJECT];
    char asset[ROUTE_MAX_ASSET];     /* id after ".../assets/", without the verb */
    char verb[48];                   /* after ':' or empty */
    char method_id[96];              /* ROUTE_UNIMPLEMENTED: "projects.thumbnails.create" */
};

enum route_result { ROUTE_OK = 0, ROUTE_NOT_FOUND = 404, ROUTE_BAD_METHOD = 405 };

/* Fills rt from a decoded path (no query string). Returns ROUTE_OK,
 * ROUTE_NOT_FOUND, or ROUTE_BAD_METHOD (rt->method then names the allowed one). */
enum route_result router_match(const char *method, const char *path, struct route *rt);

/* A route's name for logs ("getPixels", "assets.get", ...). */
const char *router_name(enum route_kind k);

#endif
