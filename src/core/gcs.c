/*
 * Cloud Storage's JSON API, the parts an export download needs (gcs.h).
 * One object is fetched by a few threads, each with its own session, that
 * take the next missing 8 MiB range, write it at its offset with pwrite
 * and record it in a small ranges file once it is durable: an interrupted
 * download continues with the ranges it lacks, and the CRC32C of the whole
 * file is checked before it is renamed into place.
 */
#include "core/gcs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/log.h"

int gcs_base_for(const char *ee_endpoint, char *out, size_t cap)
{
    size_t n;

    /* Google's EE hosts (standard, high-volume, regional) end in
     * googleapis.com; their storage is Google's. */
    if (!ee_endpoint || strstr(ee_endpoint, "googleapis.com"))
        return snprintf(out, cap, "%s", GCS_ENDPOINT) < (int)cap ? 0 : -1;
    if (snprintf(out, cap, "%s", ee_endpoint) >= (int)cap)
        return -1;
    n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

int gcs_parse_uri(const char *uri, char *bucket, size_t bcap, char *prefix, size_t pcap, struct errbuf *e)
{
    const char *b, *slash;
    size_t bl, pl;
    const char *c;

    if (!uri || strncmp(uri, "gs://", 5) != 0)
        return err_set(e, ERR_USAGE, "bucket = '%s' must be a Cloud Storage URI: gs://<bucket>/<prefix>",
                       uri ? uri : "");
    b = uri + 5;
    slash = strchr(b, '/');
    bl = slash ? (size_t)(slash - b) : strlen(b);
    if (bl < 3 || bl > 222 || bl >= bcap)
        return err_set(e, ERR_USAGE, "bucket = '%s': a bucket name has 3 to 222 characters", uri);
    for (c = b; c < b + bl; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
            return err_set(e, ERR_USAGE,
                           "bucket = '%s': a bucket name has only lower-case letters, digits, '-', '_' and '.'",
                           uri);
    memcpy(bucket, b, bl);
    bucket[bl] = '\0';
    b = slash ? slash + 1 : b + bl;
    pl = strlen(b);
    while (pl > 0 && b[pl - 1] == '/')
        pl--;
    if (pl >= pcap)
        return err_set(e, ERR_USAGE, "bucket = '%s': the prefix is too long", uri);
    memcpy(prefix, b, pl);
    prefix[pl] = '\0';
    return 0;
}

int gcs_urlencode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~';
        if (o + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return 0;
}

static int answer_error(const char *what, const struct http_result *res, struct errbuf *e)
{
    char msg[512];

    session_error_message(res, msg, sizeof msg);
    return err_set(e, ERR_SERVER, "%s: HTTP %ld: %s%s", what, res->status, msg,
                   res->status == 403 ? "\nhint: the credentials need storage.objects.list and "
                                        "storage.objects.get on the bucket (docs/export.md)"
                                      : "");
}

static const struct backoff gcs_backoff = {BACKOFF_GCS_BASE_MS, BACKOFF_GCS_CAP_MS, BACKOFF_GCS_RETRY_AFTER_S};

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int gcs_list(struct session *s, const char *base, const char *bucket, const char *prefix, struct gcs_object **out,
             size_t *n, struct errbuf *e)
{
    char ebucket[700], eprefix[3200], etoken[1200], token[1024] = "";
    struct buf url;
    size_t cap = 0;
    int rc = 0, tries = 0;
    uint64_t rng = backoff_seed();

    *out = NULL;
    *n = 0;
    if (gcs_urlencode(bucket, ebucket, sizeof ebucket) != 0 || gcs_urlencode(prefix, eprefix, sizeof eprefix) != 0)
        return err_set(e, ERR_USAGE, "bucket or prefix too long");
    buf_init(&url, 0);
    for (;;) {
        struct http_result res;
        struct json_object *root = NULL, *items, *next;
        size_t i, len;

        buf_reset(&url);
        if (gcs_urlencode(token, etoken, sizeof etoken) != 0 ||
            buf_printf(&url, "%s/storage/v1/b/%s/o?prefix=%s%s%s", base, ebucket, eprefix,
                       token[0] ? "&pageToken=" : "", token[0] ? etoken : "") != 0) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            break;
        }
        rc = session_request_url(s, "GET", url.data, NULL, 0, NULL, &res, e);
        if ((rc == 0 && backoff_transient(res.status)) || rc == ERR_HTTP) {
            long status = res.status, retry_after_s = rc == 0 ? res.retry_after_s : -1;
            http_result_free(&res);
            if (++tries > GCS_MAX_RETRIES) {
                if (rc == 0)
                    rc = err_set(e, ERR_SERVER, "listing gs://%s/%s: HTTP %ld after %d tries", bucket, prefix,
                                 status, tries);
                break;
            }
            sleep_ms(backoff_delay_ms(&gcs_backoff, tries, retry_after_s, backoff_random(&rng)));
            continue;
        }
        if (rc == 0 && res.status != 200)
            rc = answer_error("listing Cloud Storage objects", &res, e);
        if (rc == 0 && !(root = json_tokener_parse(res.body.data ? res.body.data : "")))
            rc = err_set(e, ERR_PARSE, "listing gs://%s/%s: the answer is not JSON", bucket, prefix);
        http_result_free(&res);
        if (rc)
            break;
        tries = 0;
        len = json_object_object_get_ex(root, "items", &items) && json_object_is_type(items, json_type_array)
                  ? json_object_array_length(items)
                  : 0;
        for (i = 0; i < len && rc == 0; i++) {
            struct json_object *it = json_object_array_get_idx(items, i), *v;
            struct gcs_object *o;
            if (*n == cap) {
                struct gcs_object *g = realloc(*out, (cap ? cap * 2 : 16) * sizeof *g);
                if (!g) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    break;
                }
                *out = g;
                cap = cap ? cap * 2 : 16;
            }
            o = &(*out)[*n];
            memset(o, 0, sizeof *o);
            if (!json_object_object_get_ex(it, "name", &v) || !json_object_is_type(v, json_type_string) ||
                (size_t)json_object_get_string_len(v) >= sizeof o->name) {
                rc = err_set(e, ERR_PARSE, "listing gs://%s/%s: an item without a usable name", bucket, prefix);
                break;
            }
            snprintf(o->name, sizeof o->name, "%s", json_object_get_string(v));
            /* size is a uint64 as a JSON string */
            if (json_object_object_get_ex(it, "size", &v))
                o->size = strtoull(json_object_get_string(v), NULL, 10);
            if (json_object_object_get_ex(it, "crc32c", &v) && json_object_is_type(v, json_type_string))
                snprintf(o->crc32c, sizeof o->crc32c, "%s", json_object_get_string(v));
            (*n)++;
        }
        token[0] = '\0';
        if (rc == 0 && json_object_object_get_ex(root, "nextPageToken", &next) &&
            json_object_is_type(next, json_type_string))
            snprintf(token, sizeof token, "%s", json_object_get_string(next));
        json_object_put(root);
        if (rc || !token[0])
            break;
    }
    buf_free(&url);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int gcs_delete(struct session *s, const char *base, const char *bucket, const char *name, struct errbuf *e)
{
    char eb[700], en[3200];
    struct buf url;
    struct http_result res;
    int rc;

    if (gcs_urlencode(bucket, eb, sizeof eb) != 0 || gcs_urlencode(name, en, sizeof en) != 0)
        return err_set(e, ERR_USAGE, "object name too long");
    buf_init(&url, 0);
    if (buf_printf(&url, "%s/storage/v1/b/%s/o/%s", base, eb, en) != 0) {
        buf_free(&url);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = session_request_url(s, "DELETE", url.data, NULL, 0, NULL, &res, e);
    if (rc == 0 && res.status != 200 && res.status != 204 && res.status != 404)
        rc = answer_error("deleting an exported object", &res, e);
    http_result_free(&res);
    buf_free(&url);
    return rc;
}

/* ---- one object ---- */

struct dl {
    const struct gcs_get_opts *o;
    const char *bucket;
    const struct gcs_object *obj;
    char url[4400];
    int fd;                  /* dest.partial */
    FILE *ranges;            /* dest.ranges, appended */
    size_t nranges, range_bytes;
    unsigned char *done;     /* per range */
    size_t next;             /* next range to look at */
    pthread_mutex_t mu;
    int rc;
    struct errbuf err;
};

static int stopped(const struct dl *d)
{
    return d->o->stop && *d->o->stop;
}

static void dl_fail(struct dl *d, int rc, const struct errbuf *e)
{
    pthread_mutex_lock(&d->mu);
    if (!d->rc) {
        d->rc = rc;
        d->err = *e;
    }
    pthread_mutex_unlock(&d->mu);
}

/* Takes the next range nobody has; SIZE_MAX when none is left. */
static size_t take(struct dl *d)
{
    size_t r = SIZE_MAX;

    pthread_mutex_lock(&d->mu);
    while (!d->rc && d->next < d->nranges && d->done[d->next])
        d->next++;
    if (!d->rc && d->next < d->nranges)
        r = d->next++;
    pthread_mutex_unlock(&d->mu);
    return r;
}

static int write_at(int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* 1 when the answer's Content-Range starts at byte a (a 206 whose status
 * the transport error hid). */
static int cut_206(const struct http_result *res, uint64_t a)
{
    char want[48];
    int n = snprintf(want, sizeof want, "bytes %" PRIu64 "-", a);
    return strncmp(res->content_range, want, (size_t)n) == 0;
}

/* Fetches range r (bytes [a, b]) into the file, continuing a cut answer
 * from the byte where it stopped. */
static int fetch_range(struct dl *d, struct session *s, size_t r, struct errbuf *e)
{
    uint64_t a = (uint64_t)r * d->range_bytes, b = a + d->range_bytes - 1;
    int tries = 0, rc;
    struct backoff policy = gcs_backoff;
    uint64_t rng = backoff_seed();

    if (d->o->backoff_ms > 0)
        policy.base_ms = d->o->backoff_ms;
    if (b >= d->obj->size)
        b = d->obj->size - 1;
    while (a <= b) {
        struct http_result res;
        char range[96];
        uint64_t want = b - a + 1;

        if (stopped(d))
            return err_set(e, ERR_INTERRUPTED, "interrupted");
        snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-%" PRIu64, a, b);
        session_set_max_response(s, (size_t)want + 1);
        rc = session_request_url(s, "GET", d->url, NULL, 0, range, &res, e);
        if (rc == ERR_INTERRUPTED) {
            http_result_free(&res);
            return rc;
        }
        if (rc == 0 && res.status == 200 && a == 0 && b == d->obj->size - 1 && res.body.len == want) {
            /* A server that ignores Range sends the whole (small) object. */
            rc = 0;
        } else if (rc == 0 && res.status == 206 && res.body.len <= want) {
            rc = 0;
        } else if (rc == ERR_HTTP && res.body.len > 0 && res.body.len <= want && cut_206(&res, a)) {
            /* A 206 that broke off: what arrived is the start of the range
             * (its Content-Range says so); keep it, ask for the rest. */
            rc = 0;
        } else if (rc == 0 && !backoff_transient(res.status)) {
            char what[1200];
            snprintf(what, sizeof what, "downloading gs://%s/%s", d->bucket, d->obj->name);
            rc = answer_error(what, &res, e);
            http_result_free(&res);
            return rc;
        } else {
            /* a transient refusal, or no answer at all */
            long retry_after_s = rc == 0 ? res.retry_after_s : -1;
            if (rc == 0)
                rc = err_set(e, ERR_HTTP, "HTTP %ld", res.status);
            http_result_free(&res);
            if (++tries > GCS_MAX_RETRIES)
                return err_set(e, ERR_SERVER, "downloading gs://%s/%s bytes %" PRIu64 "-%" PRIu64
                               ": still failing after %d tries: %s", d->bucket, d->obj->name, a, b, tries, e->msg);
            log_debug("gs://%s/%s range %zu: %s; retrying", d->bucket, d->obj->name, r, e->msg);
            sleep_ms(backoff_delay_ms(&policy, tries, retry_after_s, backoff_random(&rng)));
            continue;
        }
        if (res.body.len > 0 && write_at(d->fd, res.body.data, res.body.len, a) != 0) {
            rc = err_set(e, ERR_IO, "writing the download of %s: %s", d->obj->name, strerror(errno));
            http_result_free(&res);
            return rc;
        }
        if (d->o->bytes)
            __atomic_add_fetch(d->o->bytes, (uint64_t)res.body.len, __ATOMIC_RELAXED);
        if (res.body.len < want) {
            /* cut short: continue from the next byte */
            if (res.body.len == 0 && ++tries > GCS_MAX_RETRIES) {
                http_result_free(&res);
                return err_set(e, ERR_SERVER, "downloading gs://%s/%s: empty answers for bytes %" PRIu64 "-%"
                               PRIu64, d->bucket, d->obj->name, a, b);
            }
            log_debug("gs://%s/%s range %zu: %zu of %" PRIu64 " bytes; continuing", d->bucket, d->obj->name, r,
                      res.body.len, want);
        }
        a += res.body.len;
        http_result_free(&res);
    }
    /* Durable before it is recorded, so a recorded range is on disk. */
    if (fdatasync(d->fd) != 0)
        return err_set(e, ERR_IO, "writing the download of %s: %s", d->obj->name, strerror(errno));
    pthread_mutex_lock(&d->mu);
    d->done[r] = 1;
    rc = fprintf(d->ranges, "%zu\n", r) < 0 || fflush(d->ranges) != 0 || fdatasync(fileno(d->ranges)) != 0;
    pthread_mutex_unlock(&d->mu);
    return rc ? err_set(e, ERR_IO, "writing the ranges file of %s: %s", d->obj->name, strerror(errno)) : 0;
}

static void *conn_main(void *ud)
{
    struct dl *d = ud;
    struct session *s = NULL;
    struct errbuf e;
    size_t r;
    int rc;

    if ((rc = session_create(d->o->so, &s, &e)) != 0) {
        dl_fail(d, rc, &e);
        return NULL;
    }
    while ((r = take(d)) != SIZE_MAX)
        if ((rc = fetch_range(d, s, r, &e)) != 0) {
            dl_fail(d, rc, &e);
            break;
        }
    session_destroy(s);
    return NULL;
}

/* The ranges file: "eefetch-ranges <size> <crc32c> <range bytes>" and one
 * finished range index per line. A file of another object (or none) starts
 * the download over. */
static int open_ranges(struct dl *d, const char *rpath, const char *ppath, struct errbuf *e)
{
    char head[256], want[256], line[64];
    FILE *f = fopen(rpath, "r");
    int resume = 0;

    snprintf(want, sizeof want, "eefetch-ranges %" PRIu64 " %s %zu\n", d->obj->size,
             d->obj->crc32c[0] ? d->obj->crc32c : "-", d->range_bytes);
    if (f) {
        if (fgets(head, sizeof head, f) && strcmp(head, want) == 0) {
            resume = 1;
            while (fgets(line, sizeof line, f)) {
                char *end;
                unsigned long long r = strtoull(line, &end, 10);
                if (end != line && *end == '\n' && r < d->nranges)
                    d->done[r] = 1;
            }
        }
        fclose(f);
    }
    d->fd = open(ppath, O_RDWR | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
    if (d->fd < 0)
        return err_set(e, ERR_IO, "cannot create %s: %s", ppath, strerror(errno));
    if (!resume)
        memset(d->done, 0, d->nranges);
    d->ranges = fopen(rpath, resume ? "a" : "w");
    if (!d->ranges || (!resume && (fputs(want, d->ranges) == EOF || fflush(d->ranges) != 0)))
        return err_set(e, ERR_IO, "cannot write %s: %s", rpath, strerror(errno));
    return 0;
}

/* CRC32C and size of the downloaded file against the listing's. */
static int verify(struct dl *d, const char *ppath, struct errbuf *e)
{
    unsigned char *chunk;
    struct stat st;
    uint32_t crc = 0, want;
    ssize_t n;
    char got[9];
    int rc = 0;

    if (fstat(d->fd, &st) != 0 || (uint64_t)st.st_size != d->obj->size)
        return err_set(e, ERR_PARSE, "gs://%s/%s: downloaded %lld bytes, the object has %" PRIu64
                       "; it is downloaded again on the next run", d->bucket, d->obj->name,
                       (long long)st.st_size, d->obj->size);
    if (!d->obj->crc32c[0])
        return 0;
    if (crc32c_from_base64(d->obj->crc32c, &want) != 0)
        return err_set(e, ERR_PARSE, "gs://%s/%s: the listing's crc32c '%s' is not base64 of 4 bytes", d->bucket,
                       d->obj->name, d->obj->crc32c);
    if (!(chunk = malloc(1 << 16)))
        return err_set(e, ERR_NOMEM, "out of memory");
    if (lseek(d->fd, 0, SEEK_SET) != 0)
        rc = -1;
    while (rc == 0 && (n = read(d->fd, chunk, 1 << 16)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        crc = crc32c_update(crc, chunk, (size_t)n);
    }
    free(chunk);
    if (rc)
        return err_set(e, ERR_IO, "reading back %s: %s", ppath, strerror(errno));
    if (crc != want) {
        crc32c_base64(crc, got);
        return err_set(e, ERR_PARSE, "gs://%s/%s: CRC32C of the download is %s, Cloud Storage says %s; it is "
                       "downloaded again on the next run", d->bucket, d->obj->name, got, d->obj->crc32c);
    }
    (void)ppath;
    return 0;
}

int gcs_download(const struct gcs_get_opts *o, const char *bucket, const struct gcs_object *obj, const char *dest,
                 struct errbuf *e)
{
    struct dl d;
    char eb[700], en[3200], ppath[4200], rpath[4200];
    pthread_t th[16];
    int nth = 0, i, rc = 0;

    memset(&d, 0, sizeof d);
    d.o = o;
    d.bucket = bucket;
    d.obj = obj;
    d.fd = -1;
    d.range_bytes = o->range_bytes ? o->range_bytes : GCS_RANGE_BYTES;
    d.nranges = obj->size ? (size_t)((obj->size + d.range_bytes - 1) / d.range_bytes) : 0;
    if (gcs_urlencode(bucket, eb, sizeof eb) != 0 || gcs_urlencode(obj->name, en, sizeof en) != 0 ||
        snprintf(d.url, sizeof d.url, "%s/storage/v1/b/%s/o/%s?alt=media", o->base, eb, en) >= (int)sizeof d.url ||
        snprintf(ppath, sizeof ppath, "%s.partial", dest) >= (int)sizeof ppath ||
        snprintf(rpath, sizeof rpath, "%s.ranges", dest) >= (int)sizeof rpath)
        return err_set(e, ERR_USAGE, "object name or path too long: %s", obj->name);
    if (!(d.done = calloc(d.nranges ? d.nranges : 1, 1)))
        return err_set(e, ERR_NOMEM, "out of memory");
    pthread_mutex_init(&d.mu, NULL);
    if ((rc = open_ranges(&d, rpath, ppath, e)) != 0)
        goto done;
    nth = o->connections > 0 ? o->connections : GCS_CONNECTIONS;
    if (nth > 16)
        nth = 16;
    if ((size_t)nth > d.nranges)
        nth = (int)d.nranges;
    for (i = 0; i < nth; i++)
        if (pthread_create(&th[i], NULL, conn_main, &d) != 0) {
            struct errbuf te;
            err_set(&te, ERR_INTERNAL, "cannot start a download thread");
            dl_fail(&d, ERR_INTERNAL, &te);
            nth = i;
            break;
        }
    for (i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    if (d.rc) {
        rc = d.rc;
        *e = d.err;
        goto done;
    }
    if (stopped(&d)) {
        rc = err_set(e, ERR_INTERRUPTED, "interrupted");
        goto done;
    }
    if ((rc = verify(&d, ppath, e)) != 0) {
        /* a damaged file: start the object over next time */
        unlink(rpath);
        unlink(ppath);
        goto done;
    }
    if (fsync(d.fd) != 0 || rename(ppath, dest) != 0) {
        rc = err_set(e, ERR_IO, "cannot rename %s to %s: %s", ppath, dest, strerror(errno));
        goto done;
    }
    unlink(rpath);
done:
    if (d.ranges)
        fclose(d.ranges);
    if (d.fd >= 0)
        close(d.fd);
    pthread_mutex_destroy(&d.mu);
    free(d.done);
    return rc;
}
