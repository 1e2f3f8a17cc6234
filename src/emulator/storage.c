/*
 * The Cloud Storage JSON API over the local bucket folder (see export.h):
 * objects.list, objects.get (metadata, or the bytes with alt=media, ranged)
 * and objects.delete. Bucket b is the folder --bucket-dir/b; an object is
 * a file below it, its name the path relative to the bucket. Hashes are
 * computed from the file on every request (no cache): crc32c as Cloud
 * Storage sends it (base64 of the big-endian CRC-32C) and md5Hash.
 */
#include "emulator/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/timeutil.h"

#define LIST_MAX_RESULTS 1000
/* Objects a listing looks at, at most (a larger bucket answers 500). */
#define LIST_MAX_OBJECTS 200000
#define NAME_MAX_LEN 1024

int storage_bucket_name_ok(const char *b)
{
    size_t n = b ? strlen(b) : 0, i;

    if (n < 3 || n > 63 || strstr(b, ".."))
        return 0;
    for (i = 0; i < n; i++) {
        char ch = b[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && ((i == 0 || i == n - 1) || (ch != '-' && ch != '_' && ch != '.')))
            return 0;
    }
    return 1;
}

int storage_object_name_ok(const char *name)
{
    const char *s = name;
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.') ||
            strncmp(s, STORAGE_TMP_PREFIX, strlen(STORAGE_TMP_PREFIX)) == 0 ||
            memchr(s, '\0', len))
            return 0;
        if (!slash)
            return 1;
        s = slash + 1;
    }
}

/* Cloud Storage's JSON error: {"error": {"code", "message", "errors": [...]}}. */
static void gcs_error(struct emu_response *r, int http, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void gcs_error(struct emu_response *r, int http, const char *reason, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    json_object *top = json_object_new_object(), *err = json_object_new_object();
    json_object *errs = json_object_new_array(), *one = json_object_new_object();

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object_object_add(one, "message", json_object_new_string(msg));
    json_object_object_add(one, "domain", json_object_new_string("global"));
    json_object_object_add(one, "reason", json_object_new_string(reason));
    json_object_array_add(errs, one);
    json_object_object_add(err, "code", json_object_new_int(http));
    json_object_object_add(err, "message", json_object_new_string(msg));
    json_object_object_add(err, "errors", errs);
    json_object_object_add(top, "error", err);
    emu_json(r, http, top);
}

/* The bucket folder; 404 in r when it does not exist. */
static int bucket_dir(const struct emu_ctx *c, const char *bucket, char *out, size_t cap,
                      struct emu_response *r)
{
    struct stat st;

    if (!c->cfg->bucket_dir || !bucket || !storage_bucket_name_ok(bucket) ||
        snprintf(out, cap, "%s/%s", c->cfg->bucket_dir, bucket) >= (int)cap ||
        stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        gcs_error(r, 404, "notFound", "The specified bucket does not exist.");
        return -1;
    }
    return 0;
}

struct hashes {
    uint32_t crc;
    unsigned char md5[16];
};

static int hash_file(int fd, struct hashes *h)
{
    unsigned char buf[1 << 16];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    off_t off = 0;
    ssize_t n;
    int rc = 0;

    h->crc = 0;
    if (!md || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        h->crc = crc32c_update(h->crc, buf, (size_t)n);
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    if (n < 0 || EVP_DigestFinal_ex(md, h->md5, &mdlen) != 1)
        rc = -1;
    EVP_MD_CTX_free(md);
    return rc;
}

/* Percent-encodes an object name for a URL path segment ('/' too). */
static void url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

static long long generation_of(const struct stat *st)
{
    /* Microseconds of the last write, as Cloud Storage's generations are. */
    return (long long)st->st_mtim.tv_sec * 1000000LL + st->st_mtim.tv_nsec / 1000;
}

static const char *content_type_of(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && (strcmp(name + n - 4, ".tif") == 0 || strcmp(name + n - 5, ".tiff") == 0))
        return "image/tiff";
    if (n > 5 && strcmp(name + n - 5, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

/* The object resource of the file at path (open as fd). */
static json_object *object_json(const struct emu_ctx *c, const char *bucket, const char *name,
                                int fd, const struct stat *st)
{
    json_object *o = json_object_new_object();
    struct hashes h;
    char b64[32], tm[40], esc[NAME_MAX_LEN * 3 + 8], url[NAME_MAX_LEN * 3 + 300];
    long long gen = generation_of(st);

    json_object_object_add(o, "kind", json_object_new_string("storage#object"));
    snprintf(url, sizeof url, "%s/%s/%lld", bucket, name, gen);
    json_object_object_add(o, "id", json_object_new_string(url));
    url_escape(name, esc, sizeof esc);
    snprintf(url, sizeof url, "%s/storage/v1/b/%s/o/%s", c->base_url, bucket, esc);
    json_object_object_add(o, "selfLink", json_object_new_string(url));
    snprintf(url, sizeof url, "%s/download/storage/v1/b/%s/o/%s?generation=%lld&alt=media",
             c->base_url, bucket, esc, gen);
    json_object_object_add(o, "mediaLink", json_object_new_string(url));
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "bucket", json_object_new_string(bucket));
    snprintf(url, sizeof url, "%lld", gen);
    json_object_object_add(o, "generation", json_object_new_string(url));
    json_object_object_add(o, "metageneration", json_object_new_string("1"));
    json_object_object_add(o, "contentType", json_object_new_string(content_type_of(name)));
    json_object_object_add(o, "storageClass", json_object_new_string("STANDARD"));
    snprintf(url, sizeof url, "%lld", (long long)st->st_size);
    json_object_object_add(o, "size", json_object_new_string(url));
    if (hash_file(fd, &h) == 0) {
        EVP_EncodeBlock((unsigned char *)b64, h.md5, 16);
        json_object_object_add(o, "md5Hash", json_object_new_string(b64));
        crc32c_base64(h.crc, b64);
        json_object_object_add(o, "crc32c", json_object_new_string(b64));
    }
    snprintf(url, sizeof url, "CL%llx", gen);
    json_object_object_add(o, "etag", json_object_new_string(url));
    time_format_rfc3339((int64_t)(gen / 1000), tm, sizeof tm);
    json_object_object_add(o, "timeCreated", json_object_new_string(tm));
    json_object_object_add(o, "updated", json_object_new_string(tm));
    return o;
}

/* Opens the object; 404 in r when it does not exist. */
static int open_object(const struct emu_ctx *c, const struct emu_request *q, char *path,
                       size_t cap, int *fd, struct stat *st, struct emu_response *r)
{
    char dir[4096];

    if (bucket_dir(c, q->project, dir, sizeof dir, r) != 0)
        return -1;
    *fd = -1;
    if (q->asset && storage_object_name_ok(q->asset) &&
        snprintf(path, cap, "%s/%s", dir, q->asset) < (int)cap)
        *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd >= 0 && (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode))) {
        close(*fd);
        *fd = -1;
    }
    if (*fd < 0) {
        gcs_error(r, 404, "notFound", "No such object: %s/%s", q->project,
                  q->asset ? q->asset : "");
        return -1;
    }
    return 0;
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" against size. Returns 0 with the
 * range, 1 when absent or not a single byte range (whole object), -1 when
 * unsatisfiable. */
static int parse_range(const char *h, long long size, long long *a, long long *b)
{
    char *end;
    long long x, y;

    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 1;
    h += 6;
    if (*h == '-') {
        y = strtoll(h + 1, &end, 10);
        if (*end || end == h + 1)
            return 1;
        if (y <= 0 || size == 0)
            return -1;
        *a = y >= size ? 0 : size - y;
        *b = size - 1;
        return 0;
    }
    x = strtoll(h, &end, 10);
    if (end == h || *end != '-')
        return 1;
    h = end + 1;
    if (*h) {
        y = strtoll(h, &end, 10);
        if (*end || y < x)
            return 1;
    } else {
        y = size - 1;
    }
    if (x >= size)
        return -1;
    *a = x;
    *b = y >= size ? size - 1 : y;
    return 0;
}

static void media(const struct emu_ctx *c, const struct emu_request *q, struct emu_response *r)
{
    char path[4400], b64c[16], b64m[32];
    struct stat st;
    struct hashes h;
    long long a = 0, b = 0;
    int fd, rr;

    if (open_object(c, q, path, sizeof path, &fd, &st, r) != 0)
        return;
    if (hash_file(fd, &h) != 0) {
        close(fd);
        gcs_error(r, 500, "backendError", "Cannot read object %s/%s.", q->project, q->asset);
        return;
    }
    crc32c_base64(h.crc, b64c);
    EVP_EncodeBlock((unsigned char *)b64m, h.md5, 16);
    rr = parse_range(q->header ? q->header(q, "Range") : NULL, (long long)st.st_size, &a, &b);
    if (rr < 0) {
        close(fd);
        gcs_error(r, 416, "requestedRangeNotSatisfiable", "Request range not satisfiable");
        emu_add_header(r, "Content-Range", "bytes */%lld", (long long)st.st_size);
        return;
    }
    if (rr > 0) {
        a = 0;
        b = (long long)st.st_size - 1;
    }
    r->status = rr == 0 ? 206 : 200;
    snprintf(r->content_type, sizeof r->content_type, "%s", content_type_of(q->asset));
    buf_reset(&r->body);
    r->has_file = 1;
    r->fd = fd;
    r->fd_off = (uint64_t)a;
    r->fd_len = st.st_size ? (uint64_t)(b - a + 1) : 0;
    /* The whole object's hashes, also for a range, as Cloud Storage does. */
    emu_add_header(r, "x-goog-hash", "crc32c=%s,md5=%s", b64c, b64m);
    emu_add_header(r, "x-goog-generation", "%lld", generation_of(&st));
    emu_add_header(r, "x-goog-stored-content-length", "%lld", (long long)st.st_size);
    emu_add_header(r, "Accept-Ranges", "bytes");
    if (rr == 0)
        emu_add_header(r, "Content-Range", "bytes %lld-%lld/%lld", a, b, (long long)st.st_size);
}

int handle_storage_get(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r)
{
    const char *alt = q->query ? q->query(q, "alt") : NULL;
    char path[4400];
    struct stat st;
    int fd;

    if ((q->verb && strcmp(q->verb, "media") == 0) || (alt && strcmp(alt, "media") == 0)) {
        media(c, q, r);
        return 0;
    }
    if (alt && strcmp(alt, "json") != 0) {
        gcs_error(r, 400, "invalidParameter", "Invalid value for alt: %s", alt);
        return 0;
    }
    if (open_object(c, q, path, sizeof path, &fd, &st, r) != 0)
        return 0;
    emu_json(r, 200, object_json(c, q->project, q->asset, fd, &st));
    close(fd);
    return 0;
}

int handle_storage_delete(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r)
{
    char path[4400];
    struct stat st;
    int fd;

    if (open_object(c, q, path, sizeof path, &fd, &st, r) != 0)
        return 0;
    close(fd);
    if (unlink(path) != 0) {
        gcs_error(r, 404, "notFound", "No such object: %s/%s", q->project, q->asset);
        return 0;
    }
    r->status = 204;
    buf_reset(&r->body);
    r->content_type[0] = '\0';
    return 0;
}

/* ---- listing ----------------------------------------------------------------- */

struct names {
    char **v;
    size_t n, cap;
    int overflow;
};

static int names_add(struct names *ns, const char *s)
{
    if (ns->n == LIST_MAX_OBJECTS) {
        ns->overflow = 1;
        return -1;
    }
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 256;
        char **nv = realloc(ns->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        ns->v = nv;
        ns->cap = cap;
    }
    if (!(ns->v[ns->n] = strdup(s)))
        return -1;
    ns->n++;
    return 0;
}

/* Every regular file below dir/rel, as names relative to dir. */
static int walk(const char *dir, const char *rel, struct names *ns, int depth)
{
    char path[4400], sub[NAME_MAX_LEN + 2];
    struct dirent *de;
    struct stat st;
    DIR *d;
    int rc = 0;

    if (depth > 64)
        return 0;
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    if (!(d = opendir(path)))
        return 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' &&
            (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]) ||
             strncmp(de->d_name, STORAGE_TMP_PREFIX, strlen(STORAGE_TMP_PREFIX)) == 0))
            continue;
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
            (int)sizeof sub)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, sub);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(dir, sub, ns, depth + 1);
        else if (S_ISREG(st.st_mode) && storage_object_name_ok(sub))
            rc = names_add(ns, sub);
    }
    closedir(d);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int handle_storage_list(const struct emu_ctx *c, const struct emu_request *q,
                        struct emu_response *r)
{
    const char *prefix = q->query ? q->query(q, "prefix") : NULL;
    const char *token = q->query ? q->query(q, "pageToken") : NULL;
    const char *mr = q->query ? q->query(q, "maxResults") : NULL;
    const char *delim = q->query ? q->query(q, "delimiter") : NULL;
    char dir[4096], path[4400], last_prefix[NAME_MAX_LEN + 2] = "";
    struct names ns = {0};
    json_object *top, *items, *prefixes;
    long max = LIST_MAX_RESULTS;
    size_t i, plen;
    int n = 0;

    if (bucket_dir(c, q->project, dir, sizeof dir, r) != 0)
        return 0;
    if (mr && *mr) {
        char *end;
        max = strtol(mr, &end, 10);
        if (*end || max < 1) {
            gcs_error(r, 400, "invalid", "Invalid unsigned integer value: '%s'.", mr);
            return 0;
        }
        if (max > LIST_MAX_RESULTS)
            max = LIST_MAX_RESULTS;
    }
    if (delim && !*delim)
        delim = NULL;
    if (walk(dir, "", &ns, 0) != 0) {
        for (i = 0; i < ns.n; i++)
            free(ns.v[i]);
        free(ns.v);
        gcs_error(r, 500, "backendError", ns.overflow ? "The bucket holds more than %d objects, "
                  "more than the emulator lists." : "Cannot list the bucket (out of memory).",
                  LIST_MAX_OBJECTS);
        return 0;
    }
    if (ns.n)
        qsort(ns.v, ns.n, sizeof *ns.v, cmp_names);
    plen = prefix ? strlen(prefix) : 0;
    top = json_object_new_object();
    items = json_object_new_array();
    prefixes = json_object_new_array();
    json_object_object_add(top, "kind", json_object_new_string("storage#objects"));
    for (i = 0; i < ns.n; i++) {
        const char *name = ns.v[i], *rest;
        /* The page token is the last name (or prefix) of the previous page. */
        if ((prefix && strncmp(name, prefix, plen) != 0) || (token && strcmp(name, token) <= 0))
            continue;
        rest = name + plen;
        if (delim && strstr(rest, delim)) {
            char p[NAME_MAX_LEN + 2];
            size_t len = (size_t)(strstr(rest, delim) - name) + strlen(delim);
            snprintf(p, sizeof p, "%.*s", (int)len, name);
            if (strcmp(p, last_prefix) == 0 || (token && strncmp(token, p, strlen(p)) == 0))
                continue;
            if (n == max) {
                json_object_object_add(top, "nextPageToken", json_object_new_string(last_prefix));
                break;
            }
            snprintf(last_prefix, sizeof last_prefix, "%s", p);
            json_object_array_add(prefixes, json_object_new_string(p));
            n++;
            continue;
        }
        if (n == max) {
            json_object_object_add(top, "nextPageToken", json_object_new_string(last_prefix));
            break;
        }
        {
            struct stat st;
            int fd;
            snprintf(path, sizeof path, "%s/%s", dir, name);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;   /* deleted meanwhile */
            if (fstat(fd, &st) == 0)
                json_object_array_add(items, object_json(c, q->project, name, fd, &st));
            close(fd);
        }
        snprintf(last_prefix, sizeof last_prefix, "%s", name);
        n++;
    }
    if (json_object_array_length(prefixes))
        json_object_object_add(top, "prefixes", prefixes);
    else
        json_object_put(prefixes);
    if (json_object_array_length(items))
        json_object_object_add(top, "items", items);
    else
        json_object_put(items);
    for (i = 0; i < ns.n; i++)
        free(ns.v[i]);
    free(ns.v);
    emu_json(r, 200, top);
    return 0;
}
