/* Path routing for the emulator (see router.h). */
#include "emulator/router.h"

#include <stdio.h>
#include <string.h>

static int copy_span(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static enum route_result check_method(const char *method, const char *want, struct route *rt)
{
    rt->method = want;
    /* HEAD is answered like GET by the HTTP layer. */
    if (strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0))
        return ROUTE_OK;
    return ROUTE_BAD_METHOD;
}

/* rest is what follows "/{v}/projects/{p}" after the '/' or ':' separator. */
static enum route_result match_project_route(const char *method, const char *rest,
                                             struct route *rt)
{
    const char *colon;

    if (strcmp(rest, "algorithms") == 0) {
        rt->kind = ROUTE_ALGORITHMS;
        return check_method(method, "GET", rt);
    }
    if (strcmp(rest, "image:computePixels") == 0) {
        rt->kind = ROUTE_COMPUTE_PIXELS;
        return check_method(method, "POST", rt);
    }
    if (strcmp(rest, "value:compute") == 0) {
        rt->kind = ROUTE_VALUE_COMPUTE;
        return check_method(method, "POST", rt);
    }
    if (strcmp(rest, "image:export") == 0) {
        rt->kind = ROUTE_IMAGE_EXPORT;
        return check_method(method, "POST", rt);
    }
    if (strcmp(rest, "operations") == 0) {
        rt->kind = ROUTE_OPERATION_LIST;
        return check_method(method, "GET", rt);
    }
    if (strncmp(rest, "operations/", 11) == 0) {
        /* EE's pattern takes any id (".+"); only ":cancel" is a verb here
         * (":wait" and DELETE are methods the emulator lacks). */
        const char *id = rest + 11;
        colon = strrchr(id, ':');
        if (colon && strchr(colon, '/'))
            colon = NULL;
        if ((colon && strcmp(colon, ":cancel") != 0) ||
            copy_span(rt->asset, ROUTE_MAX_ASSET_ID, id, colon ? (size_t)(colon - id) : strlen(id))
                != 0 || rt->asset[0] == '\0')
            return ROUTE_NOT_FOUND;
        if (colon) {
            snprintf(rt->verb, sizeof rt->verb, "cancel");
            rt->kind = ROUTE_OPERATION_CANCEL;
            return check_method(method, "POST", rt);
        }
        rt->kind = ROUTE_OPERATION_GET;
        return check_method(method, "GET", rt);
    }
    if (strcmp(rest, "thumbnails") == 0) {
        rt->kind = ROUTE_THUMB_CREATE;
        return check_method(method, "POST", rt);
    }
    if (strcmp(rest, "maps") == 0) {
        rt->kind = ROUTE_MAP_CREATE;
        return check_method(method, "POST", rt);
    }
    if (strncmp(rest, "thumbnails/", 11) == 0) {
        const char *id = rest + 11;
        colon = strchr(id, ':');
        if (!colon || colon == id || strchr(id, '/') || strcmp(colon, ":getPixels") != 0 ||
            copy_span(rt->asset, sizeof rt->asset, id, (size_t)(colon - id)) != 0)
            return ROUTE_NOT_FOUND;
        snprintf(rt->verb, sizeof rt->verb, "getPixels");
        rt->kind = ROUTE_THUMB_PIXELS;
        rt->open = 1;
        return check_method(method, "GET", rt);
    }
    if (strncmp(rest, "maps/", 5) == 0) {
        const char *id = rest + 5, *tiles = strstr(id, "/tiles/");
        if (!tiles || tiles == id || memchr(id, ':', (size_t)(tiles - id)) ||
            copy_span(rt->asset, sizeof rt->asset, id, (size_t)(tiles - id)) != 0 ||
            copy_span(rt->verb, sizeof rt->verb, tiles + 7, strlen(tiles + 7)) != 0)
            return ROUTE_NOT_FOUND;
        rt->kind = ROUTE_MAP_TILE;
        rt->open = 1;
        return check_method(method, "GET", rt);
    }
    if (strncmp(rest, "assets/", 7) != 0)
        return ROUTE_NOT_FOUND;
    rest += 7;
    /* The verb follows the last ':' of the last path segment. */
    colon = strrchr(rest, ':');
    if (colon && strchr(colon, '/'))
        colon = NULL;
    if (colon) {
        if (copy_span(rt->asset, ROUTE_MAX_ASSET_ID, rest, (size_t)(colon - rest)) != 0 ||
            copy_span(rt->verb, sizeof rt->verb, colon + 1, strlen(colon + 1)) != 0)
            return ROUTE_NOT_FOUND;
    } else if (copy_span(rt->asset, ROUTE_MAX_ASSET_ID, rest, strlen(rest)) != 0) {
        return ROUTE_NOT_FOUND;
    }
    /* A trailing slash is not part of an asset id. */
    while (rt->asset[0] && rt->asset[strlen(rt->asset) - 1] == '/')
        rt->asset[strlen(rt->asset) - 1] = '\0';
    if (rt->asset[0] == '\0')
        return ROUTE_NOT_FOUND;
    if (!colon) {
        rt->kind = ROUTE_ASSET_GET;
        return check_method(method, "GET", rt);
    }
    if (strcmp(rt->verb, "getPixels") == 0) {
        rt->kind = ROUTE_GET_PIXELS;
        return check_method(method, "POST", rt);
    }
    if (strcmp(rt->verb, "listImages") == 0) {
        rt->kind = ROUTE_LIST_IMAGES;
        return check_method(method, "GET", rt);
    }
    if (strcmp(rt->verb, "listAssets") == 0) {
        rt->kind = ROUTE_LIST_ASSETS;
        return check_method(method, "GET", rt);
    }
    return ROUTE_NOT_FOUND;
}

/* Cloud Storage: path is after "/storage/v1/b/" (download: media = 1). */
static enum route_result match_storage(const char *method, const char *p, int media,
                                       struct route *rt)
{
    const char *slash = strchr(p, '/');

    if (!slash || slash == p || strncmp(slash, "/o", 2) != 0 ||
        copy_span(rt->project, sizeof rt->project, p, (size_t)(slash - p)) != 0)
        return ROUTE_NOT_FOUND;
    rt->ee = 1;
    rt->storage = 1;
    snprintf(rt->version, sizeof rt->version, "v1");
    p = slash + 2;
    if (*p == '\0' && !media) {
        rt->kind = ROUTE_STORAGE_LIST;
        return check_method(method, "GET", rt);
    }
    /* The object name: everything after "/o/", slashes included (MHD has
     * already decoded %2F). */
    if (*p != '/' || p[1] == '\0' || copy_span(rt->asset, sizeof rt->asset, p + 1,
                                               strlen(p + 1)) != 0)
        return ROUTE_NOT_FOUND;
    if (media) {
        snprintf(rt->verb, sizeof rt->verb, "media");
        rt->kind = ROUTE_STORAGE_MEDIA;
        return check_method(method, "GET", rt);
    }
    if (strcmp(method, "DELETE") == 0) {
        rt->kind = ROUTE_STORAGE_DELETE;
        return check_method(method, "DELETE", rt);
    }
    rt->kind = ROUTE_STORAGE_GET;
    return check_method(method, "GET", rt);
}

enum route_result router_match(const char *method, const char *path, struct route *rt)
{
    static const char *const versions[] = {"v1", "v1beta", "v1alpha"};
    const char *p, *end;
    size_t i, n;

    memset(rt, 0, sizeof *rt);
    rt->method = "GET";
    if (strcmp(path, "/token") == 0) {
        rt->kind = ROUTE_TOKEN;
        return check_method(method, "POST", rt);
    }
    if (strcmp(path, "/computeMetadata/v1/instance/service-accounts/default/token") == 0) {
        rt->kind = ROUTE_METADATA_TOKEN;
        return check_method(method, "GET", rt);
    }

    /* The REST discovery document: the Python client's form (version in the
     * query) and googleapiclient's default form (version in the path). */
    if (strcmp(path, "/$discovery/rest") == 0) {
        rt->kind = ROUTE_DISCOVERY;
        return check_method(method, "GET", rt);
    }
    if (strncmp(path, "/discovery/v1/apis/earthengine/", 31) == 0) {
        p = path + 31;
        end = strchr(p, '/');
        if (!end || end == p || strcmp(end, "/rest") != 0 ||
            copy_span(rt->version, sizeof rt->version, p, (size_t)(end - p)) != 0)
            return ROUTE_NOT_FOUND;
        rt->kind = ROUTE_DISCOVERY;
        return check_method(method, "GET", rt);
    }

    if (strncmp(path, "/storage/v1/b/", 14) == 0)
        return match_storage(method, path + 14, 0, rt);
    if (strncmp(path, "/download/storage/v1/b/", 23) == 0)
        return match_storage(method, path + 23, 1, rt);

    if (path[0] != '/')
        return ROUTE_NOT_FOUND;
    p = path + 1;
    end = strchr(p, '/');
    if (!end)
        return ROUTE_NOT_FOUND;
    n = (size_t)(end - p);
    for (i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (strlen(versions[i]) == n && strncmp(p, versions[i], n) == 0)
            break;
    if (i == sizeof versions / sizeof versions[0])
        return ROUTE_NOT_FOUND;
    snprintf(rt->version, sizeof rt->version, "%s", versions[i]);
    p = end + 1;
    if (strncmp(p, "projects/", 9) != 0)
        return ROUTE_NOT_FOUND;
    p += 9;
    rt->ee = 1;

    /* The project ends at the next '/', or at ":listAssets" for the root
     * listing (project ids may themselves contain ':' when domain-scoped). */
    end = strchr(p, '/');
    if (!end) {
        const char *verb = strrchr(p, ':');
        if (!verb || strcmp(verb, ":listAssets") != 0 || verb == p ||
            copy_span(rt->project, sizeof rt->project, p, (size_t)(verb - p)) != 0)
            return ROUTE_NOT_FOUND;
        snprintf(rt->verb, sizeof rt->verb, "listAssets");
        rt->kind = ROUTE_LIST_ASSETS;
        return check_method(method, "GET", rt);
    }
    if (end == p || copy_span(rt->project, sizeof rt->project, p, (size_t)(end - p)) != 0)
        return ROUTE_NOT_FOUND;
    return match_project_route(method, end + 1, rt);
}

const char *router_name(enum route_kind k)
{
    switch (k) {
    case ROUTE_TOKEN: return "token";
    case ROUTE_METADATA_TOKEN: return "metadata.token";
    case ROUTE_ALGORITHMS: return "algorithms.list";
    case ROUTE_COMPUTE_PIXELS: return "image.computePixels";
    case ROUTE_VALUE_COMPUTE: return "value.compute";
    case ROUTE_ASSET_GET: return "assets.get";
    case ROUTE_LIST_IMAGES: return "assets.listImages";
    case ROUTE_LIST_ASSETS: return "assets.listAssets";
    case ROUTE_GET_PIXELS: return "assets.getPixels";
    case ROUTE_THUMB_CREATE: return "thumbnails.create";
    case ROUTE_THUMB_PIXELS: return "thumbnails.getPixels";
    case ROUTE_MAP_CREATE: return "maps.create";
    case ROUTE_MAP_TILE: return "maps.tiles.get";
    case ROUTE_IMAGE_EXPORT: return "image.export";
    case ROUTE_OPERATION_GET: return "operations.get";
    case ROUTE_OPERATION_LIST: return "operations.list";
    case ROUTE_OPERATION_CANCEL: return "operations.cancel";
    case ROUTE_STORAGE_LIST: return "storage.list";
    case ROUTE_STORAGE_GET: return "storage.get";
    case ROUTE_STORAGE_MEDIA: return "storage.media";
    case ROUTE_STORAGE_DELETE: return "storage.delete";
    case ROUTE_DISCOVERY: return "discovery";
    case ROUTE_UNIMPLEMENTED: return "unimplemented";
    case ROUTE_NONE: break;
    }
    return "none";
}
