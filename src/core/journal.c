/* Resume journal (see journal.h and docs/engine.md). */
#include "core/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/path.h"
#include "util/platform.h"

#define JOURNAL_MAGIC "eefetch-journal 1 "

struct journal {
    int fd;
    pthread_mutex_t lock;
    /* Group commit: records are numbered as they are written; one fsync
     * covers every record written before it started, so workers whose
     * answers land together wait for one fsync, not for one each in turn
     * (which left the server idle while they queued). */
    pthread_cond_t synced;
    uint64_t written, durable;
    int syncing;
    int sync_errno;            /* a failed fsync: every later append fails */
    size_t ntiles;
};

int journal_path(const char *output, char *out, size_t cap, struct errbuf *e)
{
    if ((size_t)snprintf(out, cap, "%s.eefetch-journal", output) >= cap)
        return err_set(e, ERR_LIMIT, "output path is too long");
    return 0;
}

/* FNV-1a, 64 bit: detects torn and garbled lines (not an attacker). */
static uint64_t check_of(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void journal_state_free(struct journal_state *st)
{
    if (!st)
        return;
    free(st->done);
    free(st->pieces);
    memset(st, 0, sizeof *st);
}

static int add_piece(struct journal_state *st, size_t *cap, const struct mosaic_piece *p)
{
    if (st->npieces == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct mosaic_piece *np = realloc(st->pieces, ncap * sizeof *np);
        if (!np)
            return ERR_NOMEM;
        st->pieces = np;
        *cap = ncap;
    }
    st->pieces[st->npieces++] = *p;
    return 0;
}

/* A tile journaled twice (possible only through a bug or a copied file)
 * keeps its last record: drop the pieces before index `before`. */
static void drop_older(struct journal_state *st, size_t tile, size_t before)
{
    size_t i, n = 0;

    for (i = 0; i < st->npieces; i++)
        if (i >= before || st->pieces[i].tile_id != tile)
            st->pieces[n++] = st->pieces[i];
    st->npieces = n;
}

/* Parses one record (without its newline). Returns the number of pieces
 * appended to st, or -1 when the line is not a valid record. */
static int parse_record(const char *line, size_t len, size_t ntiles, struct journal_state *st, size_t *cap)
{
    const char *hash = NULL;
    char tmp[64];
    size_t i, tile, start;
    uint64_t want;
    int n, k, used, added = 0;
    const char *p;
    char *copy;

    /* The check covers everything before " #". */
    for (i = len; i > 0; i--)
        if (line[i - 1] == '#') {
            hash = line + i;
            break;
        }
    if (!hash || i < 2 || line[i - 2] != ' ' || len - i == 0 || len - i >= sizeof tmp)
        return -1;
    memcpy(tmp, hash, len - i);
    tmp[len - i] = '\0';
    if (sscanf(tmp, "%" SCNx64, &want) != 1 || want != check_of(line, i - 2))
        return -1;

    copy = malloc(i - 1);
    if (!copy)
        return -1;
    memcpy(copy, line, i - 2);
    copy[i - 2] = '\0';
    p = copy;
    if (sscanf(p, "T %zu %d%n", &tile, &n, &used) != 2 || tile >= ntiles || n < 1 || n > JOURNAL_MAX_PIECES)
        goto bad;
    p += used;
    start = st->npieces;
    for (k = 0; k < n; k++) {
        struct mosaic_piece pc;
        int type;
        memset(&pc, 0, sizeof pc);
        if (sscanf(p, " %d %ld %ld %ld %ld %d %d %d%n", &pc.k, &pc.col, &pc.row, &pc.width, &pc.height,
                   &pc.band0, &pc.nbands, &type, &used) != 8 ||
            pc.col < 0 || pc.row < 0 || pc.width < 1 || pc.height < 1 || pc.band0 < 0 || pc.nbands < 1 ||
            type <= SPEC_DTYPE_AUTO || type > SPEC_DTYPE_FLOAT64)
            goto bad;
        p += used;
        pc.tile_id = tile;
        pc.type = (enum spec_dtype)type;
        if (add_piece(st, cap, &pc) < 0)
            goto bad;
        added++;
    }
    if (*p != '\0')
        goto bad;
    if (st->done[tile])
        drop_older(st, tile, start);
    else
        st->ndone++;
    st->done[tile] = 1;
    free(copy);
    return added;
bad:
    st->npieces -= (size_t)added;
    free(copy);
    return -1;
}

/* Intact records ("T ..." lines whose check holds) in a journal's body,
 * whatever plan they belong to. */
static size_t count_records(const char *s, size_t len)
{
    size_t n = 0, off = 0;

    while (off < len) {
        const char *nl = memchr(s + off, '\n', len - off);
        const char *hash;
        size_t ll;
        uint64_t want;
        if (!nl)
            break;
        ll = (size_t)(nl - (s + off));
        hash = ll > 2 ? memchr(s + off, '#', ll) : NULL;
        /* The check is the hex after the last " #"; a record has one '#'. */
        if (hash && hash > s + off + 1 && hash[-1] == ' ' && s[off] == 'T' &&
            sscanf(hash + 1, "%" SCNx64, &want) == 1 && want == check_of(s + off, (size_t)(hash - 1 - (s + off))))
            n++;
        off += ll + 1;
    }
    return n;
}

/* 1 when a journal's text names a plan other than plan_hash and lists no
 * finished tile of it. */
static int other_plan_unfinished(const char *s, size_t len, const char *plan_hash)
{
    const char *nl = memchr(s, '\n', len);
    size_t ml = strlen(JOURNAL_MAGIC), hl = strlen(plan_hash), head;

    if (!nl || (size_t)(nl - s) < ml || memcmp(s, JOURNAL_MAGIC, ml) != 0)
        return 0;
    head = (size_t)(nl - s);
    if (head == ml + hl && memcmp(s + ml, plan_hash, hl) == 0)
        return 0;
    return count_records(nl + 1, len - head - 1) == 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_header(int fd, const char *plan_hash)
{
    char line[128];
    int n = snprintf(line, sizeof line, JOURNAL_MAGIC "%s\n", plan_hash);

    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 || write_all(fd, line, (size_t)n) != 0 ||
        fsync(fd) != 0)
        return -1;
    return 0;
}

/* A new journal: its header, and its name made durable too (fsync of the
 * directory). */
static int start_new(int fd, const char *path, const char *plan_hash, struct errbuf *e)
{
    char dir[4096];
    int dfd;

    (void)path_dir(path, dir, sizeof dir);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            log_warn("cannot sync %s: %s", dir, strerror(errno));
        close(dfd);
    }
    if (write_header(fd, plan_hash) != 0)
        return err_set(e, ERR_IO, "cannot write the journal %s: %s", path, strerror(errno));
    return 0;
}

/* The records after the header (b from off) into st; a torn tail is cut so
 * the next record starts on its own line. */
static int read_records(int fd, const char *path, const struct buf *b, size_t off, size_t ntiles,
                        struct journal_state *st, struct errbuf *e)
{
    size_t cap = 0, good_end = off;

    while (off < b->len) {
        const char *line = b->data + off;
        const char *nl = memchr(line, '\n', b->len - off);
        if (!nl) {
            st->nignored++;   /* torn tail: cut below */
            break;
        }
        if (parse_record(line, (size_t)(nl - line), ntiles, st, &cap) < 0)
            st->nignored++;
        off = (size_t)(nl - b->data) + 1;
        good_end = off;
    }
    if (good_end < b->len && (ftruncate(fd, (off_t)good_end) != 0 || fsync(fd) != 0))
        return err_set(e, ERR_IO, "cannot repair the journal %s: %s", path, strerror(errno));
    return 0;
}

int journal_open(const char *path, const char *plan_hash, size_t ntiles, int overwrite, struct journal **out,
                 struct journal_state *st, struct errbuf *e)
{
    struct journal *j = NULL;
    struct buf b;
    size_t off;
    int fd, rc = 0;

    *out = NULL;
    memset(st, 0, sizeof *st);
    buf_init(&b, 0);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot open the journal %s: %s", path, strerror(errno));
    if (platform_lock_try(fd) != 0) {
        rc = err_set(e, ERR_USAGE, "%s is locked: another eefetch is writing this output", path);
        goto fail;
    }
    st->done = calloc(ntiles ? ntiles : 1, 1);
    if (!st->done) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = buf_read_file(&b, path)) < 0) {
        rc = err_set(e, rc, "cannot read the journal %s", path);
        goto fail;
    }

    if (b.len > 0 && !overwrite && other_plan_unfinished(b.data, b.len, plan_hash)) {
        /* Nothing of the other plan was finished (its run failed at the
         * first request, say, because the recipe was wrong): there is
         * nothing to lose, so the fixed recipe just starts over. */
        log_debug("%s belongs to another plan but lists no finished tile: replaced", path);
        st->replaced = 1;
    }
    if (b.len == 0 || overwrite || st->replaced) {
        if ((rc = start_new(fd, path, plan_hash, e)) < 0)
            goto fail;
        goto opened;
    }
    {
        const char *nl = memchr(b.data, '\n', b.len);
        size_t ml = strlen(JOURNAL_MAGIC);
        if (!nl) {
            /* Torn header: the previous run died before its first fsync. */
            if (write_header(fd, plan_hash) != 0) {
                rc = err_set(e, ERR_IO, "cannot write the journal %s: %s", path, strerror(errno));
                goto fail;
            }
            goto opened;
        }
        if ((size_t)(nl - b.data) < ml || memcmp(b.data, JOURNAL_MAGIC, ml) != 0) {
            rc = err_set(e, ERR_USAGE,
                         "%s is not an eefetch journal; remove it or use --overwrite (or overwrite = true)",
                         path);
            goto fail;
        }
        if ((size_t)(nl - b.data) != ml + strlen(plan_hash) || memcmp(b.data + ml, plan_hash, strlen(plan_hash))) {
            rc = err_set(e, ERR_USAGE,
                         "%s belongs to a different plan (the recipe's image, grid, bands or output "
                         "options changed since it was written); use --overwrite (or overwrite = true "
                         "in download{}) to discard it and start over",
                         path);
            goto fail;
        }
        off = (size_t)(nl - b.data) + 1;
    }
    if ((rc = read_records(fd, path, &b, off, ntiles, st, e)) < 0)
        goto fail;
opened:
    if (lseek(fd, 0, SEEK_END) < 0) {
        rc = err_set(e, ERR_IO, "cannot seek the journal %s: %s", path, strerror(errno));
        goto fail;
    }
    j = calloc(1, sizeof *j);
    if (!j || pthread_mutex_init(&j->lock, NULL) != 0) {
        free(j);
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (pthread_cond_init(&j->synced, NULL) != 0) {
        pthread_mutex_destroy(&j->lock);
        free(j);
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    j->fd = fd;
    j->ntiles = ntiles;
    *out = j;
    buf_free(&b);
    return 0;
fail:
    buf_free(&b);
    close(fd);
    return rc;
}

int journal_append(struct journal *j, size_t tile_id, const struct mosaic_piece *pieces, int n,
                   struct errbuf *e)
{
    struct buf line;
    uint64_t seq;
    int k, rc = 0;

    if (tile_id >= j->ntiles || n < 1 || n > JOURNAL_MAX_PIECES)
        return err_set(e, ERR_INTERNAL, "journal: bad record for tile %zu", tile_id);
    buf_init(&line, 0);
    rc |= buf_printf(&line, "T %zu %d", tile_id, n);
    for (k = 0; k < n; k++) {
        const struct mosaic_piece *p = &pieces[k];
        rc |= buf_printf(&line, " %d %ld %ld %ld %ld %d %d %d", p->k, p->col, p->row, p->width, p->height,
                         p->band0, p->nbands, (int)p->type);
    }
    if (rc == 0)
        rc = buf_printf(&line, " #%016" PRIx64 "\n", check_of(line.data, line.len));
    if (rc != 0) {
        buf_free(&line);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    /* One write per record; durable (fsync'd, by this caller or by one
     * that started after the write) before returning, so a caller who saw
     * success may rely on the tile being recorded. */
    pthread_mutex_lock(&j->lock);
    if (j->sync_errno == 0 && write_all(j->fd, line.data, line.len) != 0)
        j->sync_errno = errno ? errno : EIO;
    seq = ++j->written;
    while (j->sync_errno == 0 && j->durable < seq) {
        uint64_t upto;
        int err = 0;
        if (j->syncing) {
            pthread_cond_wait(&j->synced, &j->lock);
            continue;
        }
        j->syncing = 1;
        upto = j->written;
        pthread_mutex_unlock(&j->lock);
        if (fsync(j->fd) != 0)
            err = errno ? errno : EIO;
        pthread_mutex_lock(&j->lock);
        j->syncing = 0;
        if (err)
            j->sync_errno = err;
        else if (upto > j->durable)
            j->durable = upto;
        pthread_cond_broadcast(&j->synced);
    }
    if (j->sync_errno)
        rc = err_set(e, ERR_IO, "cannot append to the journal: %s", strerror(j->sync_errno));
    pthread_mutex_unlock(&j->lock);
    buf_free(&line);
    return rc;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    close(j->fd);   /* releases the lock */
    pthread_cond_destroy(&j->synced);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

int journal_remove(const char *path, struct errbuf *e)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}
