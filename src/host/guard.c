/*
 * What a sandboxed recipe may touch on the machine (docs/recipes.md, "The
 * sandbox"): it reads plain local files only, GDAL never reaches the
 * network on its behalf, what it writes stays under the working directory,
 * the recipe's folder or --output-dir, and the modules it requires stay in
 * the recipe's folder. --unsafe lifts all of it.
 *
 * The network is closed at three independent layers, because a path that
 * looks local can still lead GDAL elsewhere (a VRT or OGR VRT whose sources
 * are URLs, a GDAL_WMS XML file, a KML super-overlay):
 *   1. the path text: no /vsi prefix, no URL, no DRIVER:connection string,
 *      no inline XML or JSON; it must name an existing file or folder;
 *   2. GDAL's drivers for remote services (WMS, WFS, EEDAI, PostgreSQL,
 *      GPSBabel, ...) are deregistered (GDAL_SKIP);
 *   3. GDAL's own HTTP is refused: every /vsicurl-based file system
 *      (/vsicurl, /vsis3, /vsigs, /vsiaz, ... and their _streaming forms)
 *      accepts no file name (CPL_VSIL_CURL_ALLOWED_EXTENSIONS), and
 *      CPLHTTPFetch answers with an error without a connection.
 * eefetch's own requests (libcurl in core/session.c) do not go through GDAL.
 */
#include <cpl_conv.h>
#include <cpl_http.h>
#include <dirent.h>
#include <errno.h>
#include <gdal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/session.h"
#include "host/host_int.h"

/* GDAL drivers whose data lives on a server (or behind a program they run). */
static const char SKIP_DRIVERS[] =
    "WMS WMTS WCS HTTP EEDA EEDAI DAAS OGCAPI OAPIF WFS CSW PLMOSAIC PLSCENES NGW STACTA STACIT "
    "KMLSUPEROVERLAY PostGISRaster PostgreSQL MySQL MSSQLSpatial ODBC PGeo OCI HANA OGR_OGDI "
    "Elasticsearch CouchDB MongoDBv3 Carto AmigoCloud GMLAS GPSBabel GNMDatabase";

static CPLHTTPResult *refuse_fetch(const char *url, CSLConstList opts, GDALProgressFunc pfn, void *parg,
                                   CPLHTTPFetchWriteFunc wfn, void *warg, void *ud)
{
    CPLHTTPResult *r = CPLCalloc(1, sizeof *r);

    (void)opts, (void)pfn, (void)parg, (void)wfn, (void)warg, (void)ud;
    r->nStatus = 1;
    r->pszErrBuf = CPLStrdup("network access is not available in recipes (sandbox); run with --unsafe to allow it");
    CPLError(CE_Failure, CPLE_AppDefined, "%.200s: %s", url ? url : "", r->pszErrBuf);
    return r;
}

void host_guard_gdal(void)
{
    char skip[1024] = "", names[sizeof SKIP_DRIVERS], *tok, *save = NULL;

    /* GDAL_SKIP deregisters the drivers it names at the end of every
     * GDALAllRegister call (and warns about names it does not know, so
     * only the drivers of this GDAL build are listed). */
    GDALAllRegister();
    snprintf(names, sizeof names, "%s", SKIP_DRIVERS);
    for (tok = strtok_r(names, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (GDALGetDriverByName(tok))
            snprintf(skip + strlen(skip), sizeof skip - strlen(skip), "%s%s", skip[0] ? " " : "", tok);
    CPLSetConfigOption("GDAL_SKIP", skip);
    CPLSetConfigOption("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".eefetch-no-network");
    CPLSetConfigOption("GDAL_VRT_ENABLE_PYTHON", "NO");
    CPLHTTPSetFetchCallback(refuse_fetch, NULL);
    GDALAllRegister();
}

/* Why the text of path is not a plain local path, or NULL when it is. */
static const char *not_plain(const char *p)
{
    const char *slash = strchr(p, '/');
    const char *colon = strchr(p, ':');

    if (!*p)
        return "it is empty";
    if (strncasecmp(p, "/vsi", 4) == 0)
        return "GDAL virtual file systems (/vsicurl/, /vsis3/, /vsizip/, ...) are refused";
    if (p[0] == '<' || p[0] == '{' || p[0] == '[')
        return "it is inline XML or JSON, not a file name";
    if (colon && (!slash || colon < slash))
        return strncmp(colon, "://", 3) == 0 ? "it is a URL"
                                             : "DRIVER:connection strings (WMS:, WFS:, PG:, ...) are refused";
    if (strstr(p, "://"))
        return "it is a URL";
    return NULL;
}

int host_guard_input(struct host *h, const char *what, const char *arg, char *out, size_t cap, struct errbuf *e)
{
    const char *why;
    struct stat st;
    int n;

    why = not_plain(arg);
    /* A URL or connection string (allowed with --unsafe) is not relative. */
    if (arg[0] == '/' || !h->recipe_dir[0] || why)
        n = snprintf(out, cap, "%s", arg);
    else
        n = snprintf(out, cap, "%s/%s", h->recipe_dir, arg);
    if (n < 0 || (size_t)n >= cap)
        return err_set(e, ERR_USAGE, "%s%spath too long", what, *what ? ": " : "");
    if (h->opts.unsafe)
        return 0;
    if (why)
        return err_set(e, ERR_USAGE, "%s%s'%.300s' is not a local file: %s; recipes read local files only "
                       "(sandbox), run with --unsafe to allow it", what, *what ? ": " : "", arg, why);
    if (stat(out, &st) != 0)
        return err_set(e, ERR_USAGE, "%s%sno file %.900s (%s)", what, *what ? ": " : "", out, strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return err_set(e, ERR_USAGE, "%s%s%.900s is not a regular file or folder", what, *what ? ": " : "", out);
    return 0;
}

/* ---- a download's own credentials ------------------------------------ */

int host_guard_credentials(struct host *h, const char *arg, struct errbuf *e)
{
    const char *why = h->opts.unsafe ? NULL : not_plain(arg);

    if (why)
        return err_set(e, ERR_USAGE, "credentials: '%.300s' is not a local file: %s; recipes read local files "
                       "only (sandbox), run with --unsafe to allow it", arg, why);
    return 0;
}

int host_guard_token_uri(struct host *h, const char *uri, const char *path, struct errbuf *e)
{
    static const char *const google[] = {"oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com"};
    const char *host, *end;
    size_t i, n;

    if (h->opts.unsafe || !uri[0] || session_url_is_loopback(uri))
        return 0;
    if (strncmp(uri, "https://", 8) == 0) {
        host = uri + 8;
        end = host + strcspn(host, ":/?#");
        n = (size_t)(end - host);
        for (i = 0; i < sizeof google / sizeof google[0]; i++)
            if (strlen(google[i]) == n && strncasecmp(host, google[i], n) == 0 && (*end == '/' || !*end))
                return 0;
    }
    return err_set(e, ERR_USAGE, "the download's credentials %.900s send their token request to %.300s, not to "
                   "Google's token endpoint; a recipe's credentials may reach Google or a loopback address only "
                   "(sandbox): give them with --credentials, or run with --unsafe", path, uri);
}

/* ---- outputs -------------------------------------------------------- */

/* 1 when the absolute, resolved path p is root or below it. */
static int is_under(const char *p, const char *root)
{
    size_t n = strlen(root);

    if (n == 1 && root[0] == '/')
        return 1;
    return strncmp(p, root, n) == 0 && (p[n] == '/' || p[n] == '\0');
}

/* The absolute path of p (relative: against the working directory) with
 * every symbolic link and "." / ".." of its existing part resolved: the
 * realpath of its longest existing ancestor, then the components that do
 * not exist (and so cannot be links), taken lexically. */
static int resolve(const char *p, char *out, size_t cap)
{
    char abs[PATH_MAX], head[PATH_MAX], real[PATH_MAX];
    const char *rest;
    size_t len;
    int n;

    if (p[0] == '/') {
        n = snprintf(abs, sizeof abs, "%s", p);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        n = snprintf(abs, sizeof abs, "%s/%s", cwd, p);
    }
    if (n < 0 || (size_t)n >= sizeof abs)
        return -1;
    /* Shorten head until it exists. */
    snprintf(head, sizeof head, "%s", abs);
    for (;;) {
        char *slash;
        if (realpath(head, real))
            break;
        if (errno != ENOENT && errno != ENOTDIR)
            return -1;
        slash = strrchr(head, '/');
        if (!slash || slash == head) {
            snprintf(real, sizeof real, "/");
            head[0] = '\0';
            break;
        }
        *slash = '\0';
    }
    rest = abs + strlen(head);
    len = strlen(real);
    if ((size_t)snprintf(out, cap, "%s", real) >= cap)
        return -1;
    while (*rest) {
        const char *end;
        size_t k;
        while (*rest == '/')
            rest++;
        if (!*rest)
            break;
        end = strchr(rest, '/');
        k = end ? (size_t)(end - rest) : strlen(rest);
        if (k == 1 && rest[0] == '.') {
            /* nothing */
        } else if (k == 2 && rest[0] == '.' && rest[1] == '.') {
            char *slash = strrchr(out, '/');
            if (slash && slash != out)
                *slash = '\0';
            else
                snprintf(out, cap, "/");
            len = strlen(out);
        } else {
            if (len + 1 + k + 1 > cap)
                return -1;
            if (!(len == 1 && out[0] == '/'))
                out[len++] = '/';
            memcpy(out + len, rest, k);
            len += k;
            out[len] = '\0';
        }
        rest += k;
    }
    return 0;
}

/* The folders a sandboxed recipe may write under, resolved. */
static int roots(const struct host *h, char r[3][PATH_MAX])
{
    int n = 0;

    if (h->opts.output_dir) {
        if (realpath(h->opts.output_dir, r[n]))
            n++;
    } else if (getcwd(r[n], PATH_MAX)) {
        n++;
    }
    if (h->recipe_dir[0] && realpath(h->recipe_dir, r[n]))
        n++;
    return n;
}

static int under_roots(const char *p, char r[3][PATH_MAX], int nr)
{
    int i;

    for (i = 0; i < nr; i++)
        if (is_under(p, r[i]))
            return 1;
    return 0;
}

/* Files eefetch writes beside an output are named after it (<output>.partial,
 * .eefetch-journal, .eefetch-parts, <stem>_r<r>_c<c>.tif, <stem>.png): a
 * symbolic link among them that leads outside would be written through. */
static int check_siblings(const char *what, const char *resolved, char r[3][PATH_MAX], int nr, struct errbuf *e)
{
    char dir[PATH_MAX], stem[PATH_MAX], link[PATH_MAX * 2], target[PATH_MAX];
    const char *slash = strrchr(resolved, '/'), *dot;
    struct dirent *d;
    struct stat st;
    DIR *dp;
    int rc = 0;

    snprintf(dir, sizeof dir, "%.*s", slash == resolved ? 1 : (int)(slash - resolved), resolved);
    snprintf(stem, sizeof stem, "%s", slash + 1);
    if ((dot = strrchr(stem, '.')) != NULL && dot != stem)
        stem[dot - stem] = '\0';
    if (!(dp = opendir(dir)))
        return 0;   /* a missing folder is the engine's message */
    while (rc == 0 && (d = readdir(dp)) != NULL) {
        if (strncmp(d->d_name, stem, strlen(stem)) != 0)
            continue;
        snprintf(link, sizeof link, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, d->d_name);
        if (lstat(link, &st) != 0 || !S_ISLNK(st.st_mode))
            continue;
        if (!realpath(link, target) || !under_roots(target, r, nr))
            rc = err_set(e, ERR_USAGE, "%s: %.900s is a symbolic link that leads outside the folders a recipe "
                         "may write to; remove it, or run with --unsafe", what, link);
    }
    closedir(dp);
    return rc;
}

int host_guard_output(struct host *h, const char *what, char **path, struct errbuf *e)
{
    char r[3][PATH_MAX], res[PATH_MAX], *p = *path;
    const char *why, *base = strrchr(p, '/');
    int nr, i;

    /* A relative output is relative to --output-dir when given, else to the
     * recipe's folder, the base of every relative path a recipe names (as
     * its inputs), so a recipe folder means the same from any working
     * directory. A recipe without a file (eval, the REPL) keeps the working
     * directory. */
    const char *dir = h->opts.output_dir ? h->opts.output_dir : h->recipe_dir;
    if (dir && *dir && strcmp(dir, ".") != 0 && p[0] != '/') {
        size_t n = strlen(dir) + strlen(p) + 2;
        char *q = malloc(n);
        if (!q)
            return err_set(e, ERR_NOMEM, "out of memory");
        snprintf(q, n, "%s/%s", dir, p);
        free(*path);
        *path = p = q;
        base = strrchr(p, '/');
    }
    if (h->opts.unsafe)
        return 0;
    if ((why = not_plain(p)) != NULL)
        return err_set(e, ERR_USAGE, "%s '%.300s' is not a local file name: %s; run with --unsafe to allow it",
                       what, p, why);
    base = base ? base + 1 : p;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return err_set(e, ERR_USAGE, "%s '%.900s' does not name a file", what, p);
    nr = roots(h, r);
    if (resolve(p, res, sizeof res) != 0)
        return err_set(e, ERR_USAGE, "%s '%.900s': cannot resolve the path (%s)", what, p, strerror(errno));
    if (!under_roots(res, r, nr)) {
        char list[3 * PATH_MAX + 16] = "";
        for (i = 0; i < nr; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " or " : "", r[i]);
        return err_set(e, ERR_USAGE, "%s '%.900s' (%.900s) is outside the folders a recipe may write to (%.2000s); "
                       "name a folder for outputs with --output-dir DIR, or run with --unsafe", what, p, res, list);
    }
    return check_siblings(what, res, r, nr, e);
}

/* ---- require -------------------------------------------------------- */

int host_guard_module(const char *dir, const char *path, struct errbuf *e)
{
    char rd[PATH_MAX], rp[PATH_MAX];

    if (!realpath(dir, rd))
        return err_set(e, ERR_USAGE, "no folder %s (%s)", dir, strerror(errno));
    if (!realpath(path, rp))
        return err_set(e, ERR_USAGE, "no file %s", path);
    if (!is_under(rp, rd))
        return err_set(e, ERR_USAGE, "%s leads to %s, outside the recipe's folder %s (a symbolic link)", path, rp,
                       rd);
    return 0;
}
