/*
 * Dates as EE has them: Date, DateRange and their methods, with time zones
 * read from the system's tz database (/usr/share/zoneinfo, TZif files), and
 * Joda-Time patterns for Date.format and Date.parse (EE's server runs Joda).
 * Calendar fields for Filter.calendarRange are computed here too.
 *
 * All arithmetic is on int64 milliseconds since the epoch; "local" values
 * are UTC milliseconds shifted by the zone's offset at that instant.
 */
#include "emulator/eval_int.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")
#define DAY_MS 86400000LL
/* Joda's average unit lengths (ISO chronology): a year of 365.2425 days and
 * a month of a twelfth of it; Date.difference and Date.unitRatio use them. */
#define YEAR_MS 31556952000.0
#define MONTH_MS 2629746000.0
/* Years handled: far inside int64 milliseconds (about 292 million years). */
#define YEAR_LIMIT 1000000

/* ------------------------------------------------------------ calendar */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* 1 = Monday .. 7 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    return (int)(days + 3 - floor_div(days + 3, 7) * 7) + 1;
}

/* Monday of ISO week 1 of year y (the week holding 4 January). */
static int64_t week1_start(int64_t y)
{
    int64_t jan4 = days_from_civil(y, 1, 4);
    return jan4 - (weekday(jan4) - 1);
}

struct civil {
    int64_t year;
    int month, day, hour, minute, second, ms;
    int doy;       /* 1-based day of year */
    int dow;       /* 1 = Monday .. 7 = Sunday (Joda) */
    int64_t weekyear;
    int week;      /* ISO week of the week-based year */
};

static void civil_of(int64_t local, struct civil *c)
{
    int64_t days = floor_div(local, DAY_MS), msday = local - days * DAY_MS, wy, w1;
    civil_from_days(days, &c->year, &c->month, &c->day);
    c->hour = (int)(msday / 3600000);
    c->minute = (int)(msday / 60000 % 60);
    c->second = (int)(msday / 1000 % 60);
    c->ms = (int)(msday % 1000);
    c->doy = (int)(days - days_from_civil(c->year, 1, 1)) + 1;
    c->dow = weekday(days);
    /* ISO week: the week (Monday first) holding the year's 4 January is week 1. */
    wy = c->year;
    if (days < week1_start(wy))
        wy--;
    else if (days >= week1_start(wy + 1))
        wy++;
    w1 = week1_start(wy);
    c->weekyear = wy;
    c->week = (int)((days - w1) / 7) + 1;
}

static int64_t local_of_civil(int64_t y, int mo, int d, int h, int mi, int s, int ms)
{
    return (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms;
}

/* ---------------------------------------------------------- time zones */

struct tzrule {      /* POSIX "Mm.w.d/time" */
    int month, week, wday;
    int32_t secs;
};

struct tzone {
    char name[64];
    int64_t *trans;      /* transition instants, seconds */
    int32_t *off;        /* offset in force from trans[i] on */
    char (*abbr)[8];
    int n;
    int32_t off0;        /* before the first transition */
    char abbr0[8];
    int has_rule;        /* after the last transition: std/dst rule */
    int32_t std_off, dst_off;
    char std_abbr[8], dst_abbr[8];
    struct tzrule start, end;
};

#define TZ_CACHE 64
static struct tzone *tz_cache[TZ_CACHE];
static int tz_ncache;
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tzone tz_utc = {"UTC", NULL, NULL, NULL, 0, 0, "UTC", 0, 0, 0, "", "", {0}, {0}};

static int64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static int32_t be32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* POSIX TZ offsets are hours west: "8" is UTC-8. Returns the end. */
static const char *posix_offset(const char *p, int32_t *off)
{
    int sign = 1, h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p))
        h = h * 10 + (*p++ - '0');
    if (*p == ':') {
        p++;
        while (isdigit((unsigned char)*p))
            m = m * 10 + (*p++ - '0');
        if (*p == ':') {
            p++;
            while (isdigit((unsigned char)*p))
                s = s * 10 + (*p++ - '0');
        }
    }
    *off = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *posix_abbr(const char *p, char *out)
{
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>')
            if (n < 7)
                out[n++] = *p++;
            else
                p++;
        if (*p != '>')
            return NULL;
        p++;
    } else {
        while (isalpha((unsigned char)*p))
            if (n < 7)
                out[n++] = *p++;
            else
                p++;
    }
    out[n] = 0;
    return n ? p : NULL;
}

static const char *posix_rule(const char *p, struct tzrule *r)
{
    int32_t t = 7200;
    if (*p != 'M' || sscanf(p, "M%d.%d.%d", &r->month, &r->week, &r->wday) != 3)
        return NULL;   /* only the Mm.w.d form, which every current zone uses */
    p++;
    while (*p && *p != ',' && *p != '/')
        p++;
    if (*p == '/' && !(p = posix_offset(p + 1, &t)))
        return NULL;
    r->secs = t;
    return p;
}

/* The footer of a TZif v2+ file: the rule after the last transition. */
static void parse_footer(struct tzone *z, const char *p)
{
    int32_t std, dst;
    if (!(p = posix_abbr(p, z->std_abbr)) || !(p = posix_offset(p, &std)))
        return;
    z->std_off = -std;
    if (!*p || *p == '\n')
        return;
    if (!(p = posix_abbr(p, z->dst_abbr)))
        return;
    dst = std - 3600;
    if (*p != ',' && *p != '\n' && *p && !(p = posix_offset(p, &dst)))
        return;
    z->dst_off = -dst;
    if (*p != ',' || !(p = posix_rule(p + 1, &z->start)) || *p != ',' ||
        !(p = posix_rule(p + 1, &z->end)))
        return;
    z->has_rule = 1;
}

static struct tzone *tz_read(const char *name)
{
    char path[256];
    FILE *f;
    unsigned char *buf = NULL, *p, *end;
    long len;
    struct tzone *z = NULL;
    int32_t timecnt, typecnt, charcnt, leapcnt, isstd, isut, i;
    int32_t *toff = NULL;
    int *tidx = NULL;
    unsigned char *tabbr = NULL;

    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    if (!(f = fopen(path, "rb")))
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 44 || len > 1 << 20 ||
        fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)len + 1)) ||
        fread(buf, 1, (size_t)len, f) != (size_t)len)
        goto fail;
    buf[len] = 0;
    end = buf + len;
    if (memcmp(buf, "TZif", 4) != 0 || buf[4] < '2')
        goto fail;
    /* skip the 32-bit block */
    isut = be32(buf + 20); isstd = be32(buf + 24); leapcnt = be32(buf + 28);
    timecnt = be32(buf + 32); typecnt = be32(buf + 36); charcnt = be32(buf + 40);
    p = buf + 44 + timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstd + isut;
    if (p + 44 > end || memcmp(p, "TZif", 4) != 0)
        goto fail;
    isut = be32(p + 20); isstd = be32(p + 24); leapcnt = be32(p + 28);
    timecnt = be32(p + 32); typecnt = be32(p + 36); charcnt = be32(p + 40);
    p += 44;
    if (timecnt < 0 || typecnt <= 0 || charcnt < 0 ||
        p + timecnt * 9 + typecnt * 6 + charcnt + leapcnt * 12 + isstd + isut > end)
        goto fail;
    if (!(z = calloc(1, sizeof *z)) || !(z->trans = calloc((size_t)timecnt + 1, 8)) ||
        !(z->off = calloc((size_t)timecnt + 1, 4)) ||
        !(z->abbr = calloc((size_t)timecnt + 1, sizeof *z->abbr)) ||
        !(toff = calloc((size_t)typecnt, 4)) || !(tidx = calloc((size_t)typecnt, sizeof *tidx)))
        goto fail;
    snprintf(z->name, sizeof z->name, "%s", name);
    z->n = timecnt;
    for (i = 0; i < timecnt; i++)
        z->trans[i] = be64(p + 8 * i);
    p += 8 * timecnt;
    for (i = 0; i < typecnt; i++) {
        const unsigned char *t = p + timecnt + 6 * i;
        toff[i] = be32(t);
        tidx[i] = t[5];
    }
    tabbr = p + timecnt + 6 * typecnt;
    for (i = 0; i < timecnt; i++) {
        int ty = p[i] < typecnt ? p[i] : 0;
        z->off[i] = toff[ty];
        if (tidx[ty] < charcnt)
            snprintf(z->abbr[i], sizeof z->abbr[i], "%s", (const char *)tabbr + tidx[ty]);
    }
    z->off0 = toff[0];
    if (tidx[0] < charcnt)
        snprintf(z->abbr0, sizeof z->abbr0, "%s", (const char *)tabbr + tidx[0]);
    p = tabbr + charcnt + leapcnt * 12 + isstd + isut;
    if (p < end && *p == '\n')
        parse_footer(z, (const char *)p + 1);
    free(toff);
    free(tidx);
    free(buf);
    fclose(f);
    return z;
fail:
    if (z) {
        free(z->trans);
        free(z->off);
        free(z->abbr);
        free(z);
    }
    free(toff);
    free(tidx);
    free(buf);
    fclose(f);
    return NULL;
}

/* A zone by Joda's id: tz database names, "UTC", or fixed offsets
 * "+hh:mm" / "-hh:mm". Zones are read once and kept for the process. */
static struct tzone *tz_find(const char *name)
{
    struct tzone *z = NULL;
    const char *p;
    int i;

    if (!name || strcmp(name, "UTC") == 0 || strcmp(name, "Z") == 0)
        return &tz_utc;
    if (strlen(name) >= sizeof tz_utc.name || name[0] == '/' || strstr(name, ".."))
        return NULL;
    for (p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-:", *p))
            return NULL;
    pthread_mutex_lock(&tz_lock);
    for (i = 0; i < tz_ncache; i++)
        if (strcmp(tz_cache[i]->name, name) == 0) {
            z = tz_cache[i];
            goto done;
        }
    if ((name[0] == '+' || name[0] == '-') && isdigit((unsigned char)name[1])) {
        int32_t off;
        const char *q = posix_offset(name + 1, &off);
        if (q && !*q && off < 24 * 3600 && (z = calloc(1, sizeof *z))) {
            snprintf(z->name, sizeof z->name, "%s", name);
            z->off0 = name[0] == '-' ? -off : off;
            snprintf(z->abbr0, sizeof z->abbr0, "%s", name);
        }
    } else {
        z = tz_read(name);
    }
    if (z && tz_ncache < TZ_CACHE) {
        tz_cache[tz_ncache++] = z;
    } else if (z) {
        /* The cache is full: refuse rather than keep unbounded memory. */
        free(z->trans);
        free(z->off);
        free(z->abbr);
        free(z);
        z = NULL;
    }
done:
    pthread_mutex_unlock(&tz_lock);
    return z;
}


/* Instant (s) of a POSIX rule in year y; r->secs is wall-clock time in the
 * offset in force before the change. */
static int64_t rule_instant(const struct tzrule *r, int64_t y, int32_t before)
{
    int64_t first = days_from_civil(y, r->month, 1), day;
    int fdow = weekday(first) % 7;   /* 0 = Sunday, as POSIX counts */
    day = first + ((r->wday - fdow) % 7 + 7) % 7 + 7 * (r->week - 1);
    while (day >= first + month_days(y, r->month))
        day -= 7;
    return day * 86400 + r->secs - before;
}

/* Offset (s) of zone z at instant t (ms), and its abbreviation. */
static int32_t tz_offset(const struct tzone *z, int64_t t, const char **abbr)
{
    int64_t s = floor_div(t, 1000), y, start, end;
    int lo = 0, hi = z->n - 1, k = -1, m, d, dst;

    if (z->n == 0 && !z->has_rule) {
        if (abbr)
            *abbr = z->abbr0;
        return z->off0;
    }
    if (z->n > 0 && s < z->trans[0]) {
        if (abbr)
            *abbr = z->abbr0;
        return z->off0;
    }
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (z->trans[mid] <= s) {
            k = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (k >= 0 && (k < z->n - 1 || !z->has_rule)) {
        if (abbr)
            *abbr = z->abbr[k];
        return z->off[k];
    }
    /* After the last transition: the zone's standing rule. */
    civil_from_days(floor_div(s + z->std_off, 86400), &y, &m, &d);
    start = rule_instant(&z->start, y, z->std_off);
    end = rule_instant(&z->end, y, z->dst_off);
    dst = start < end ? (s >= start && s < end) : (s < end || s >= start);
    if (abbr)
        *abbr = dst ? z->dst_abbr : z->std_abbr;
    return dst ? z->dst_off : z->std_off;
}

static int64_t to_local(const struct tzone *z, int64_t t)
{
    return t + (int64_t)tz_offset(z, t, NULL) * 1000;
}

/* The instant of a local time. An ambiguous time (clocks going back) is
 * the earlier instant and a skipped one (clocks going forward) is moved on
 * by the gap, as Joda's lenient conversion does. */
static int64_t from_local(const struct tzone *z, int64_t local)
{
    int64_t ob = (int64_t)tz_offset(z, local - DAY_MS, NULL) * 1000;
    int64_t oa = (int64_t)tz_offset(z, local + DAY_MS, NULL) * 1000;
    int64_t ta = local - ob, tb = local - oa;
    int va = (int64_t)tz_offset(z, ta, NULL) * 1000 == ob;
    int vb = (int64_t)tz_offset(z, tb, NULL) * 1000 == oa;

    if (va && vb)
        return ta < tb ? ta : tb;
    if (va)
        return ta;
    if (vb)
        return tb;
    return ta;   /* in a gap: the offset before it moves the time on by the gap */
}

/* ------------------------------------------------------ argument helpers */

static int zone_arg(const struct ev_args *a, const char *name, const struct tzone **z,
                    struct errbuf *e)
{
    const char *id = NULL;
    int rc = ev_get_string(a, name, 0, &id, e);
    if (rc)
        return rc;
    *z = tz_find(id);
    if (!*z)
        return err_set(e, ERR_USAGE, "%s: The datetime zone id '%s' is not recognised", a->fname,
                       id);
    return 0;
}

/* EE's lenient ISO 8601: YYYY[-M[-D]][(T| )h[:m[:s[.f]]]][Z|+hh[:mm]]. Sets
 * *zoned when the string names its own offset; ms is then UTC, otherwise
 * local time. */
static int parse_iso(const char *s, int64_t *ms, int *zoned)
{
    int64_t y = 0;
    int mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0, fn = 0, sign = 1, n;
    const char *p = s;

    *zoned = 0;
    if (*p == '-' || *p == '+')
        sign = *p++ == '-' ? -1 : 1;
    for (n = 0; isdigit((unsigned char)*p) && n < 7; n++)
        y = y * 10 + (*p++ - '0');
    if (n < 4 || n > 6)
        return -1;   /* years beyond +-999999 would overflow the millisecond count */
    y *= sign;
#define NUM2(v)                                                                    \
    do {                                                                           \
        if (!isdigit((unsigned char)*p))                                           \
            return -1;                                                             \
        v = *p++ - '0';                                                            \
        if (isdigit((unsigned char)*p))                                            \
            v = v * 10 + (*p++ - '0');                                             \
    } while (0)
    if (*p == '-') {
        p++;
        NUM2(mo);
        if (*p == '-') {
            p++;
            NUM2(d);
        }
    }
    if (*p == 'T' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
        p++;
        NUM2(h);
        if (*p == ':') {
            p++;
            NUM2(mi);
            if (*p == ':') {
                p++;
                NUM2(sec);
                if (*p == '.' || *p == ',') {
                    p++;
                    if (!isdigit((unsigned char)*p))
                        return -1;
                    while (isdigit((unsigned char)*p)) {
                        if (fn < 3) {
                            frac = frac * 10 + (*p - '0');
                            fn++;
                        }
                        p++;
                    }
                    while (fn < 3) {
                        frac *= 10;
                        fn++;
                    }
                }
            }
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 24 || mi > 59 || sec > 59)
        return -1;
    *ms = local_of_civil(y, mo, d, h, mi, sec, frac);
    if (*p == 'Z') {
        *zoned = 1;
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = 0, om = 0, os = *p++ == '-' ? -1 : 1;
        NUM2(oh);
        if (*p == ':')
            p++;
        if (isdigit((unsigned char)*p))
            NUM2(om);
        *ms -= os * (int64_t)(oh * 60 + om) * 60000;
        *zoned = 1;
    }
#undef NUM2
    return *p ? -1 : 0;
}

int ev_parse_date(const char *s, int64_t *ms)
{
    int zoned;
    return parse_iso(s, ms, &zoned);
}

/* A date argument: a Date, milliseconds, or a string in zone z. */
static int date_value(const struct ev_args *a, const char *name, int required,
                      const struct tzone *z, int64_t *ms, int *given, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    int zoned;
    if (given)
        *given = 0;
    if (!v || v->kind == EV_NULL) {
        if (required)
            return err_set(e, ERR_USAGE, "%s: Parameter '%s' is required.", a->fname, name);
        return 0;
    }
    if (given)
        *given = 1;
    switch (v->kind) {
    case EV_DATE:
        *ms = v->t0;
        return 0;
    case EV_NUM:
        if (!(fabs(v->num) < YEAR_LIMIT * YEAR_MS))
            return err_set(e, ERR_USAGE, "%s: Invalid date %g.", a->fname, v->num);
        *ms = (int64_t)floor(v->num);
        return 0;
    case EV_STR:
        if (parse_iso(v->str, ms, &zoned) != 0)
            return err_set(e, ERR_USAGE, "%s: Unable to parse date '%s'.", a->fname, v->str);
        if (!zoned)
            *ms = from_local(z, *ms);
        return 0;
    default:
        return ev_type_error(e, a, name, "Date", v);
    }
}

static int new_date(struct ev_ctx *x, int64_t ms, struct ev_value **o, struct errbuf *e)
{
    if (!(*o = ev_new(x, EV_DATE)))
        return NOMEM();
    (*o)->t0 = ms;
    return 0;
}

static int new_range(struct ev_ctx *x, int64_t t0, int64_t t1, struct ev_value **o,
                     struct errbuf *e)
{
    if (!(*o = ev_new(x, EV_DRANGE)))
        return NOMEM();
    (*o)->t0 = t0;
    (*o)->t1 = t1;
    return 0;
}

enum unit { U_YEAR, U_MONTH, U_WEEK, U_DAY, U_HOUR, U_MINUTE, U_SECOND, U_MILLI };

/* EE's units, singular or plural ("days", as the docs' examples write). */
static int unit_parse(const char *s)
{
    static const char *names[] = {"year", "month", "week", "day", "hour", "minute", "second",
                                  "millisecond"};
    size_t i, n = strlen(s);
    for (i = 0; i < sizeof names / sizeof *names; i++) {
        size_t k = strlen(names[i]);
        if (strncmp(s, names[i], k) == 0 && (n == k || (n == k + 1 && s[k] == 's')))
            return (int)i;
    }
    return -1;
}

static int unit_arg(const struct ev_args *a, const char *name, int *u, struct errbuf *e)
{
    const char *s;
    int rc = ev_get_string(a, name, 1, &s, e);
    if (rc)
        return rc;
    if ((*u = unit_parse(s)) < 0)
        return err_set(e, ERR_USAGE, "%s: Unknown unit: '%s'. Expected one of year, month, "
                       "week, day, hour, minute or second.", a->fname, s);
    return 0;
}

static double unit_ms(int u)
{
    static const double ms[] = {YEAR_MS, MONTH_MS, 604800000.0, 86400000.0, 3600000.0, 60000.0,
                                1000.0, 1.0};
    return ms[u];
}

/* Local start of the unit holding local time l (weeks start on Monday). */
static int64_t unit_start(int64_t l, int u)
{
    struct civil c;
    int64_t days;
    civil_of(l, &c);
    switch (u) {
    case U_YEAR: return local_of_civil(c.year, 1, 1, 0, 0, 0, 0);
    case U_MONTH: return local_of_civil(c.year, c.month, 1, 0, 0, 0, 0);
    case U_WEEK:
        days = floor_div(l, DAY_MS);
        return (days - (c.dow - 1)) * DAY_MS;
    case U_DAY: return floor_div(l, DAY_MS) * DAY_MS;
    case U_HOUR: return floor_div(l, 3600000) * 3600000;
    case U_MINUTE: return floor_div(l, 60000) * 60000;
    case U_SECOND: return floor_div(l, 1000) * 1000;
    default: return l;
    }
}

/* Local time l moved by n whole units, on the calendar: months keep the day
 * of month, clamped to the month's length (Joda's plusMonths). */
static int64_t add_units(int64_t l, int u, int64_t n)
{
    struct civil c;
    int64_t months, y;
    int m, d;
    if (u != U_YEAR && u != U_MONTH)
        return l + (int64_t)unit_ms(u) * n;
    civil_of(l, &c);
    months = c.year * 12 + (c.month - 1) + (u == U_YEAR ? 12 * n : n);
    y = floor_div(months, 12);
    m = (int)(months - y * 12) + 1;
    d = c.day < month_days(y, m) ? c.day : month_days(y, m);
    return local_of_civil(y, m, d, c.hour, c.minute, c.second, c.ms);
}

/* ------------------------------------------------------- Joda patterns */

static const char *const month_name[12] = {"January", "February", "March", "April", "May",
                                           "June", "July", "August", "September", "October",
                                           "November", "December"};
static const char *const day_name[7] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                        "Saturday", "Sunday"};

struct sbuf {
    char *p;
    size_t n, cap;
    int full;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n >= b->cap) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* A number zero-padded to at least `width` digits. */
static void sb_num(struct sbuf *b, int64_t v, int width)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%s%0*lld", v < 0 ? "-" : "", width > 20 ? 20 : width,
                     (long long)(v < 0 ? -v : v));
    sb_putn(b, t, (size_t)n);
}

static void sb_text(struct sbuf *b, const char *full, int count)
{
    if (count >= 4)
        sb_puts(b, full);
    else
        sb_putn(b, full, 3);
}

static void sb_offset(struct sbuf *b, int32_t off, int colon)
{
    char t[16];
    int a = off < 0 ? -off : off;
    snprintf(t, sizeof t, colon ? "%c%02d:%02d" : "%c%02d%02d", off < 0 ? '-' : '+', a / 3600,
             a / 60 % 60);
    sb_puts(b, t);
}

/* Formats instant t in zone z with a Joda-Time pattern. Returns 0, or -1
 * with the offending letter in *bad. */
static int joda_format(const char *pat, int64_t t, const struct tzone *z, struct sbuf *b,
                       char *bad)
{
    const char *abbr = NULL;
    int32_t off = tz_offset(z, t, &abbr);
    int64_t l = t + (int64_t)off * 1000;
    struct civil c;
    const char *p = pat;

    civil_of(l, &c);
    while (*p) {
        char ch = *p;
        int n = 0;
        if (ch == '\'') {
            p++;
            if (*p == '\'') {
                sb_putn(b, "'", 1);
                p++;
                continue;
            }
            while (*p) {
                if (*p == '\'' && p[1] == '\'') {
                    sb_putn(b, "'", 1);
                    p += 2;
                } else if (*p == '\'') {
                    p++;
                    break;
                } else {
                    sb_putn(b, p++, 1);
                }
            }
            continue;
        }
        if (!isalpha((unsigned char)ch)) {
            sb_putn(b, p++, 1);
            continue;
        }
        while (p[n] == ch)
            n++;
        p += n;
        switch (ch) {
        case 'G': sb_puts(b, c.year > 0 ? "AD" : "BC"); break;
        case 'C': sb_num(b, (c.year > 0 ? c.year : 1 - c.year) / 100, n); break;
        case 'y': case 'Y': case 'x': {
            int64_t y = ch == 'x' ? c.weekyear : ch == 'Y' && c.year <= 0 ? 1 - c.year : c.year;
            if (n == 2)
                sb_num(b, (y % 100 + 100) % 100, 2);
            else
                sb_num(b, y, n);
            break;
        }
        case 'w': sb_num(b, c.week, n); break;
        case 'e': sb_num(b, c.dow, n); break;
        case 'E': sb_text(b, day_name[c.dow - 1], n); break;
        case 'D': sb_num(b, c.doy, n); break;
        case 'M':
            if (n >= 3)
                sb_text(b, month_name[c.month - 1], n);
            else
                sb_num(b, c.month, n);
            break;
        case 'd': sb_num(b, c.day, n); break;
        case 'a': sb_puts(b, c.hour < 12 ? "AM" : "PM"); break;
        case 'K': sb_num(b, c.hour % 12, n); break;
        case 'h': sb_num(b, c.hour % 12 ? c.hour % 12 : 12, n); break;
        case 'H': sb_num(b, c.hour, n); break;
        case 'k': sb_num(b, c.hour ? c.hour : 24, n); break;
        case 'm': sb_num(b, c.minute, n); break;
        case 's': sb_num(b, c.second, n); break;
        case 'S': {
            /* fraction of the second, truncated to n digits */
            int64_t v = c.ms;
            int k;
            if (n <= 3) {
                for (k = n; k < 3; k++)
                    v /= 10;
            } else {
                for (k = 3; k < n && k < 18; k++)
                    v *= 10;
            }
            sb_num(b, v, n);
            break;
        }
        case 'z': sb_puts(b, abbr && *abbr ? abbr : z->name); break;
        case 'Z':
            if (n >= 3)
                sb_puts(b, z->name);
            else
                sb_offset(b, off, n == 2);
            break;
        default:
            *bad = ch;
            return -1;
        }
    }
    return 0;
}

static int run_len(const char *p)
{
    int n = 0;
    while (p[n] == p[0])
        n++;
    return n;
}

static int is_numeric_letter(char ch, int count)
{
    return strchr("yYxwDdHhKkmsSCe", ch) || (ch == 'M' && count < 3);
}

/* Parses s with a Joda pattern. Sets *zoned when the text carried an
 * offset (ms is then UTC), else ms is local time. Returns 0, or -1 with
 * *at pointing where parsing failed; -2 for a bad pattern letter. */
static int joda_parse(const char *pat, const char *s, int64_t *ms, int *zoned, const char **at,
                      char *bad)
{
    int64_t year = 1970;
    int mo = 1, d = 1, h = 0, mi = 0, sec = 0, msec = 0, doy = 0, pm = -1, hour12 = 0;
    int32_t off = 0;
    const char *p = pat, *q = s;

    *zoned = 0;
    while (*p) {
        char ch = *p;
        int n = 0;
        *at = q;
        if (ch == '\'') {
            p++;
            if (*p == '\'') {
                if (*q++ != '\'')
                    return -1;
                p++;
                continue;
            }
            while (*p && !(*p == '\'' && p[1] != '\'')) {
                if (*p == '\'')
                    p++;
                if (*q++ != *p++)
                    return -1;
            }
            if (*p)
                p++;
            continue;
        }
        if (!isalpha((unsigned char)ch)) {
            if (*q++ != *p++)
                return -1;
            continue;
        }
        while (p[n] == ch)
            n++;
        p += n;
        if (is_numeric_letter(ch, n)) {
            /* A field followed directly by another number takes exactly its
             * width ("yyyyMMdd"); otherwise as many digits as there are. */
            int fixed = *p && isalpha((unsigned char)*p) && is_numeric_letter(*p, run_len(p));
            int64_t v = 0;
            int k = 0, neg = 0, maxd = fixed ? n : 9;
            if ((ch == 'y' || ch == 'Y' || ch == 'x') && (*q == '-' || *q == '+') && !fixed)
                neg = *q++ == '-';
            while (k < maxd && isdigit((unsigned char)*q)) {
                v = v * 10 + (*q++ - '0');
                k++;
            }
            if (k == 0 || (fixed && k != n))
                return -1;
            if (neg)
                v = -v;
            switch (ch) {
            case 'y': case 'Y': case 'x':
                year = v;
                if (n == 2 && k == 2) {
                    /* two digits: the century within 50 years of now (Joda's pivot) */
                    int64_t now = floor_div(time_now_ms(), DAY_MS), cy, lo;
                    int cm, cd;
                    civil_from_days(now, &cy, &cm, &cd);
                    lo = cy - 50;
                    year = lo - floor_div(lo, 100) * 100 <= v ? floor_div(lo, 100) * 100 + v
                                                              : floor_div(lo, 100) * 100 + 100 + v;
                    if (year < lo)
                        year += 100;
                }
                break;
            case 'M': mo = (int)v; break;
            case 'd': d = (int)v; break;
            case 'D': doy = (int)v; break;
            case 'H': h = (int)v; break;
            case 'k': h = (int)v == 24 ? 0 : (int)v; break;
            case 'K': h = (int)v; hour12 = 1; break;
            case 'h': h = (int)v == 12 ? 0 : (int)v; hour12 = 1; break;
            case 'm': mi = (int)v; break;
            case 's': sec = (int)v; break;
            case 'S': {
                int kk = k;
                while (kk < 3) {
                    v *= 10;
                    kk++;
                }
                while (kk > 3) {
                    v /= 10;
                    kk--;
                }
                msec = (int)v;
                break;
            }
            default: break;   /* C, w, e: read and ignored */
            }
            continue;
        }
        switch (ch) {
        case 'M': {
            int i, found = 0;
            for (i = 0; i < 12 && !found; i++) {
                size_t full = strlen(month_name[i]);
                if (strncasecmp(q, month_name[i], full) == 0) {
                    q += full;
                    found = 1;
                } else if (strncasecmp(q, month_name[i], 3) == 0) {
                    q += 3;
                    found = 1;
                }
                if (found)
                    mo = i + 1;
            }
            if (!found)
                return -1;
            break;
        }
        case 'E': {
            int i, found = 0;
            for (i = 0; i < 7 && !found; i++) {
                size_t full = strlen(day_name[i]);
                if (strncasecmp(q, day_name[i], full) == 0) {
                    q += full;
                    found = 1;
                } else if (strncasecmp(q, day_name[i], 3) == 0) {
                    q += 3;
                    found = 1;
                }
            }
            if (!found)
                return -1;
            break;
        }
        case 'a':
            if (strncasecmp(q, "AM", 2) == 0)
                pm = 0;
            else if (strncasecmp(q, "PM", 2) == 0)
                pm = 1;
            else
                return -1;
            q += 2;
            break;
        case 'G':
            if (strncmp(q, "AD", 2) != 0)
                return -1;
            q += 2;
            break;
        case 'z':
            while (isalpha((unsigned char)*q))
                q++;
            break;
        case 'Z': {
            int sign, oh = 0, om = 0;
            if (*q == 'Z') {
                q++;
                *zoned = 1;
                off = 0;
                break;
            }
            if (*q != '+' && *q != '-')
                return -1;
            sign = *q++ == '-' ? -1 : 1;
            if (!isdigit((unsigned char)q[0]) || !isdigit((unsigned char)q[1]))
                return -1;
            oh = (q[0] - '0') * 10 + (q[1] - '0');
            q += 2;
            if (*q == ':')
                q++;
            if (isdigit((unsigned char)q[0]) && isdigit((unsigned char)q[1])) {
                om = (q[0] - '0') * 10 + (q[1] - '0');
                q += 2;
            }
            off = sign * (oh * 3600 + om * 60);
            *zoned = 1;
            break;
        }
        default:
            *bad = ch;
            return -2;
        }
    }
    *at = q;
    if (*q)
        return -1;
    if (hour12 && pm == 1)
        h += 12;
    else if (!hour12 && pm == 1 && h < 12)
        h += 12;
    if (doy) {
        int64_t days = days_from_civil(year, 1, 1) + doy - 1;
        int64_t yy;
        if (doy < 1 || doy > (is_leap(year) ? 366 : 365))
            return -1;
        civil_from_days(days, &yy, &mo, &d);
    }
    if (year < -YEAR_LIMIT || year > YEAR_LIMIT || mo < 1 || mo > 12 || d < 1 ||
        d > month_days(year, mo) || h > 23 || mi > 59 || sec > 59)
        return -3;
    *ms = local_of_civil(year, mo, d, h, mi, sec, msec) - (int64_t)off * 1000;
    return 0;
}

/* ---------------------------------------------------------- functions */

static int f_date(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o, struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0;
    int rc;
    if ((rc = zone_arg(a, "timeZone", &z, e)) || (rc = date_value(a, "value", 1, z, &ms, NULL, e)))
        return rc;
    return new_date(x, ms, o, e);
}

static int f_date_millis(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    int64_t ms = 0;
    int rc = date_value(a, "date", 1, &tz_utc, &ms, NULL, e);
    if (rc)
        return rc;
    return (*o = ev_num(x, (double)ms)) ? 0 : NOMEM();
}

static int f_date_format(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    const char *pat = NULL;
    char buf[4096], bad = 0;
    struct sbuf b = {buf, 0, sizeof buf, 0};
    int64_t ms = 0;
    int rc;

    buf[0] = 0;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) ||
        (rc = ev_get_string(a, "format", 0, &pat, e)) || (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    /* Without a pattern EE writes ISO 8601 without zone or fraction. */
    if (joda_format(pat ? pat : "yyyy-MM-dd'T'HH:mm:ss", ms, z, &b, &bad) != 0)
        return err_set(e, ERR_USAGE, "%s: Illegal pattern component: %c", a->fname, bad);
    if (b.full)
        return err_set(e, ERR_USAGE, "%s: The formatted date is longer than %zu characters.",
                       a->fname, sizeof buf - 1);
    return (*o = ev_str(x, buf)) ? 0 : NOMEM();
}

static int f_date_parse(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    const char *pat, *s, *at = NULL;
    char bad = 0;
    int64_t ms = 0;
    int rc, zoned = 0;

    if ((rc = ev_get_string(a, "format", 1, &pat, e)) || (rc = ev_get_string(a, "date", 1, &s, e)) ||
        (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    rc = joda_parse(pat, s, &ms, &zoned, &at, &bad);
    if (rc == -2)
        return err_set(e, ERR_USAGE, "%s: Illegal pattern component: %c", a->fname, bad);
    if (rc == -3)
        return err_set(e, ERR_USAGE, "%s: Cannot parse \"%s\": a field is out of range.",
                       a->fname, s);
    if (rc != 0)
        return err_set(e, ERR_USAGE, "%s: Invalid format: \"%s\" is malformed at \"%s\"",
                       a->fname, s, at ? at : "");
    return new_date(x, zoned ? ms : from_local(z, ms), o, e);
}

static int int_arg(const struct ev_args *a, const char *name, int required, int64_t dflt,
                   int64_t *out, struct errbuf *e)
{
    double d = (double)dflt;
    int rc = ev_get_number(a, name, required, &d, e);
    if (rc)
        return rc;
    if (!(fabs(d) < 1e12))
        return err_set(e, ERR_USAGE, "%s: '%s' is out of range.", a->fname, name);
    *out = (int64_t)floor(d);
    return 0;
}

static int field_range(const struct ev_args *a, const char *field, int64_t v, int64_t lo,
                       int64_t hi, struct errbuf *e)
{
    if (v < lo || v > hi)
        return err_set(e, ERR_USAGE, "%s: Value %lld for %s must be in the range [%lld,%lld]",
                       a->fname, (long long)v, field, (long long)lo, (long long)hi);
    return 0;
}

static int f_date_from_ymd(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t y = 0, m = 0, d = 0;
    int rc;
    if ((rc = int_arg(a, "year", 1, 0, &y, e)) || (rc = int_arg(a, "month", 1, 0, &m, e)) ||
        (rc = int_arg(a, "day", 1, 0, &d, e)) || (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    if ((rc = field_range(a, "year", y, -YEAR_LIMIT, YEAR_LIMIT, e)) ||
        (rc = field_range(a, "monthOfYear", m, 1, 12, e)) ||
        (rc = field_range(a, "dayOfMonth", d, 1, month_days(y, (int)m), e)))
        return rc;
    return new_date(x, from_local(z, local_of_civil(y, (int)m, (int)d, 0, 0, 0, 0)), o, e);
}

static int f_date_update(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0, y, mo, d, h, mi;
    double sec;
    struct civil c;
    int rc;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) || (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    civil_of(to_local(z, ms), &c);
    y = c.year; mo = c.month; d = c.day; h = c.hour; mi = c.minute;
    sec = c.second + c.ms / 1000.0;
    if ((rc = int_arg(a, "year", 0, y, &y, e)) || (rc = int_arg(a, "month", 0, mo, &mo, e)) ||
        (rc = int_arg(a, "day", 0, d, &d, e)) || (rc = int_arg(a, "hour", 0, h, &h, e)) ||
        (rc = int_arg(a, "minute", 0, mi, &mi, e)) || (rc = ev_get_number(a, "second", 0, &sec, e)))
        return rc;
    if ((rc = field_range(a, "year", y, -YEAR_LIMIT, YEAR_LIMIT, e)) ||
        (rc = field_range(a, "monthOfYear", mo, 1, 12, e)) ||
        (rc = field_range(a, "dayOfMonth", d, 1, month_days(y, (int)mo), e)) ||
        (rc = field_range(a, "hourOfDay", h, 0, 23, e)) ||
        (rc = field_range(a, "minuteOfHour", mi, 0, 59, e)) ||
        (rc = field_range(a, "secondOfMinute", (int64_t)floor(sec), 0, 59, e)))
        return rc;
    return new_date(x, from_local(z, local_of_civil(y, (int)mo, (int)d, (int)h, (int)mi, 0, 0) +
                                         (int64_t)llround(sec * 1000)), o, e);
}

/* Date.get: year, month (1-12), week (ISO, 1-53), day (of month), hour,
 * minute, second. */
static int f_date_get(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0, v = 0;
    struct civil c;
    int rc, u;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) || (rc = unit_arg(a, "unit", &u, e)) ||
        (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    civil_of(to_local(z, ms), &c);
    switch (u) {
    case U_YEAR: v = c.year; break;
    case U_MONTH: v = c.month; break;
    case U_WEEK: v = c.week; break;
    case U_DAY: v = c.day; break;
    case U_HOUR: v = c.hour; break;
    case U_MINUTE: v = c.minute; break;
    case U_SECOND: v = c.second; break;
    default: v = c.ms; break;
    }
    return (*o = ev_num(x, (double)v)) ? 0 : NOMEM();
}

static int f_date_get_fraction(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                               struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0, l, s0, s1;
    int rc, u;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) || (rc = unit_arg(a, "unit", &u, e)) ||
        (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    l = to_local(z, ms);
    s0 = unit_start(l, u);
    s1 = add_units(s0, u, 1);
    return (*o = ev_num(x, s1 > s0 ? (double)(l - s0) / (double)(s1 - s0) : 0)) ? 0 : NOMEM();
}

/* Date.getRelative(unit, inUnit): whole units since the start of inUnit,
 * 0-based (getRelative('day', 'year') is the day of year - 1). */
static int f_date_get_relative(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                               struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0, l, s0, v;
    struct civil c, c0;
    int rc, u, in;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) || (rc = unit_arg(a, "unit", &u, e)) ||
        (rc = unit_arg(a, "inUnit", &in, e)) || (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    if (u <= in)
        return err_set(e, ERR_USAGE, "%s: The unit must be smaller than inUnit.", a->fname);
    l = to_local(z, ms);
    s0 = unit_start(l, in);
    if (u == U_MONTH) {
        civil_of(l, &c);
        civil_of(s0, &c0);
        v = (c.year - c0.year) * 12 + c.month - c0.month;
    } else if (u == U_WEEK && in == U_YEAR) {
        civil_of(l, &c);
        v = c.week - 1;
    } else {
        v = floor_div(l - s0, (int64_t)unit_ms(u));
    }
    return (*o = ev_num(x, (double)v)) ? 0 : NOMEM();
}

static int f_date_get_range(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0, s0;
    int rc, u;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) || (rc = unit_arg(a, "unit", &u, e)) ||
        (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    s0 = unit_start(to_local(z, ms), u);
    return new_range(x, from_local(z, s0), from_local(z, add_units(s0, u, 1)), o, e);
}

/* Date.advance: years and months on the calendar (the day clamped to the
 * month's length), weeks and days on the local calendar (the wall-clock
 * time is kept across daylight-saving changes), smaller units as elapsed
 * time. A fractional delta moves the whole part on the calendar and the
 * rest as elapsed time of the unit's average length. */
static int f_date_advance(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t ms = 0, whole;
    double d = 0;
    int rc, u;
    if ((rc = date_value(a, "date", 1, z, &ms, NULL, e)) ||
        (rc = ev_get_number(a, "delta", 1, &d, e)) || (rc = unit_arg(a, "unit", &u, e)) ||
        (rc = zone_arg(a, "timeZone", &z, e)))
        return rc;
    if (!(fabs(d) < (u == U_YEAR ? YEAR_LIMIT : u == U_MONTH ? 12.0 * YEAR_LIMIT : 1e9)))
        return err_set(e, ERR_USAGE, "%s: delta %g is out of range.", a->fname, d);
    if (u >= U_HOUR)
        return new_date(x, ms + (int64_t)llround(d * unit_ms(u)), o, e);
    whole = (int64_t)trunc(d);
    ms = from_local(z, add_units(to_local(z, ms), u, whole));
    return new_date(x, ms + (int64_t)llround((d - (double)whole) * unit_ms(u)), o, e);
}

static int f_date_difference(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    int64_t t = 0, s = 0;
    int rc, u;
    if ((rc = date_value(a, "date", 1, &tz_utc, &t, NULL, e)) ||
        (rc = date_value(a, "start", 1, &tz_utc, &s, NULL, e)) || (rc = unit_arg(a, "unit", &u, e)))
        return rc;
    return (*o = ev_num(x, (double)(t - s) / unit_ms(u))) ? 0 : NOMEM();
}

static int f_date_unit_ratio(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    int rc, n, d;
    if ((rc = unit_arg(a, "numerator", &n, e)) || (rc = unit_arg(a, "denominator", &d, e)))
        return rc;
    return (*o = ev_num(x, unit_ms(n) / unit_ms(d))) ? 0 : NOMEM();
}

/* DateRange(start, end?, timeZone?): [start, end); without an end one
 * millisecond long. */
static int f_date_range(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const struct tzone *z = &tz_utc;
    int64_t t0 = 0, t1 = 0;
    int rc, given = 0;
    if ((rc = zone_arg(a, "timeZone", &z, e)) || (rc = date_value(a, "start", 1, z, &t0, NULL, e)) ||
        (rc = date_value(a, "end", 0, z, &t1, &given, e)))
        return rc;
    if (!given)
        t1 = t0 + 1;
    return new_range(x, t0, t1, o, e);
}

static int range_arg(const struct ev_args *a, const char *name, struct ev_value **r,
                     struct errbuf *e)
{
    int rc = ev_require(a, name, r, e);
    if (rc == 0 && (*r)->kind != EV_DRANGE)
        return ev_type_error(e, a, name, "DateRange", *r);
    return rc;
}

static int f_range_start(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *r = NULL;
    int rc = range_arg(a, "dateRange", &r, e);
    return rc ? rc : new_date(x, r->t0, o, e);
}

static int f_range_end(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *r = NULL;
    int rc = range_arg(a, "dateRange", &r, e);
    return rc ? rc : new_date(x, r->t1, o, e);
}

/* The other operand of a DateRange method: a range, or a date (as a range
 * of one millisecond). */
static int other_range(const struct ev_args *a, int64_t *t0, int64_t *t1, int *is_date,
                       struct errbuf *e)
{
    struct ev_value *v = NULL;
    int rc = ev_require(a, "other", &v, e);
    if (rc)
        return rc;
    *is_date = v->kind != EV_DRANGE;
    if (v->kind == EV_DRANGE) {
        *t0 = v->t0;
        *t1 = v->t1;
        return 0;
    }
    if ((rc = date_value(a, "other", 1, &tz_utc, t0, NULL, e)))
        return rc;
    *t1 = *t0 + 1;
    return 0;
}

static int f_range_contains(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_value *r = NULL;
    int64_t t0 = 0, t1 = 0;
    int rc, is_date;
    if ((rc = range_arg(a, "dateRange", &r, e)) || (rc = other_range(a, &t0, &t1, &is_date, e)))
        return rc;
    return (*o = ev_bool(x, t0 >= r->t0 && t1 <= r->t1 && t0 < r->t1)) ? 0 : NOMEM();
}

static int f_range_intersects(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                              struct errbuf *e)
{
    struct ev_value *r = NULL;
    int64_t t0 = 0, t1 = 0;
    int rc, is_date;
    if ((rc = range_arg(a, "dateRange", &r, e)) || (rc = other_range(a, &t0, &t1, &is_date, e)))
        return rc;
    return (*o = ev_bool(x, t0 < r->t1 && r->t0 < t1)) ? 0 : NOMEM();
}

static int f_range_is_empty(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_value *r = NULL;
    int rc = range_arg(a, "dateRange", &r, e);
    return rc ? rc : (*o = ev_bool(x, r->t1 <= r->t0)) ? 0 : NOMEM();
}

static int f_range_union(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *r = NULL;
    int64_t t0 = 0, t1 = 0;
    int rc, is_date;
    if ((rc = range_arg(a, "dateRange", &r, e)) || (rc = other_range(a, &t0, &t1, &is_date, e)))
        return rc;
    return new_range(x, t0 < r->t0 ? t0 : r->t0, t1 > r->t1 ? t1 : r->t1, o, e);
}

static int f_range_intersection(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                                struct errbuf *e)
{
    struct ev_value *r = NULL;
    int64_t t0 = 0, t1 = 0, lo, hi;
    int rc, is_date;
    if ((rc = range_arg(a, "dateRange", &r, e)) || (rc = other_range(a, &t0, &t1, &is_date, e)))
        return rc;
    lo = t0 > r->t0 ? t0 : r->t0;
    hi = t1 < r->t1 ? t1 : r->t1;
    return new_range(x, lo, hi > lo ? hi : lo, o, e);
}

/* Image.date: the image's system:time_start as a Date. */
static int f_image_date(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_value *im = NULL, *t = NULL;
    int rc = ev_require(a, "image", &im, e);
    if (rc)
        return rc;
    if (im->kind != EV_IMAGE)
        return ev_type_error(e, a, "image", "Image<unknown bands>", im);
    t = ev_element_property(x, im, "system:time_start");
    if (!t || t->kind != EV_NUM)
        return err_set(e, ERR_USAGE, "%s: The image has no 'system:time_start' property.",
                       a->fname);
    return new_date(x, (int64_t)t->num, o, e);
}

/* ------------------------------------------------------ calendar fields */

int ev_cal_field_parse(const char *name)
{
    static const char *names[] = {"year", "month", "week", "day_of_year", "day_of_month",
                                  "day_of_week", "hour", "minute", "second"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return -1;
}

long ev_cal_field_value(int64_t ms, int field)
{
    struct civil c;
    civil_of(ms, &c);
    switch (field) {
    case CAL_YEAR: return (long)c.year;
    case CAL_MONTH: return c.month;
    case CAL_WEEK: return c.week;
    case CAL_DAY_OF_YEAR: return c.doy;
    case CAL_DAY_OF_MONTH: return c.day;
    case CAL_DAY_OF_WEEK: return c.dow;
    case CAL_HOUR: return c.hour;
    case CAL_MINUTE: return c.minute;
    default: return c.second;
    }
}

const struct ev_algo ev_algos_dates[] = {
    {"Date", f_date, 0}, {"Date.millis", f_date_millis, 0}, {"Date.format", f_date_format, 0},
    {"Date.parse", f_date_parse, 0}, {"Date.fromYMD", f_date_from_ymd, 0},
    {"Date.update", f_date_update, 0}, {"Date.get", f_date_get, 0},
    {"Date.getFraction", f_date_get_fraction, 0}, {"Date.getRelative", f_date_get_relative, 0},
    {"Date.getRange", f_date_get_range, 0}, {"Date.advance", f_date_advance, 0},
    {"Date.difference", f_date_difference, 0}, {"Date.unitRatio", f_date_unit_ratio, 0},
    {"DateRange", f_date_range, 0}, {"DateRange.start", f_range_start, 0},
    {"DateRange.end", f_range_end, 0}, {"DateRange.contains", f_range_contains, 0},
    {"DateRange.intersects", f_range_intersects, 0}, {"DateRange.isEmpty", f_range_is_empty, 0},
    {"DateRange.union", f_range_union, 0}, {"DateRange.intersection", f_range_intersection, 0},
    {"Image.date", f_image_date, 0},
    {NULL, NULL, 0},
};
