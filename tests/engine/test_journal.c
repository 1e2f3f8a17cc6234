/*
 * Resume journal: records survive reopening; a torn last line (a crash
 * mid-append) and a corrupted line are ignored and the file is repaired; a
 * changed plan is refused unless overwrite; the file is locked while open;
 * appends from many threads at once (one fsync covering several of them)
 * all survive.
 */
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/check.h"
#include "core/journal.h"

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *H2 = "2222222222222222222222222222222222222222222222222222222222222222";

static struct mosaic_piece piece(size_t id, int k, long col, long row)
{
    struct mosaic_piece p;

    memset(&p, 0, sizeof p);
    p.tile_id = id;
    p.k = k;
    p.col = col;
    p.row = row;
    p.width = 256;
    p.height = 128;
    p.band0 = 2;
    p.nbands = 3;
    p.type = SPEC_DTYPE_FLOAT32;
    return p;
}

static void append_raw(const char *path, const char *s)
{
    FILE *f = fopen(path, "a");
    CHECK(f != NULL);
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

#define NTHREADS 8
#define PER_THREAD 64

struct appender {
    struct journal *j;
    int first;
    int failures;
};

static void *append_many(void *arg)
{
    struct appender *a = arg;
    struct errbuf e;
    int i;

    for (i = 0; i < PER_THREAD; i++) {
        struct mosaic_piece p = piece((size_t)(a->first + i), 0, i, a->first);
        if (journal_append(a->j, (size_t)(a->first + i), &p, 1, &e) != 0)
            a->failures++;
    }
    return NULL;
}

/* Workers whose answers land together append at once: every record must
 * be there afterwards, each with its own piece. */
static void test_concurrent(const char *path)
{
    struct appender a[NTHREADS];
    pthread_t th[NTHREADS];
    struct journal_state st;
    struct journal *j;
    struct errbuf e;
    size_t i;
    int t;

    CHECK(journal_remove(path, &e) == 0);
    CHECK(journal_open(path, H1, NTHREADS * PER_THREAD, 0, &j, &st, &e) == 0);
    journal_state_free(&st);
    for (t = 0; t < NTHREADS; t++) {
        a[t].j = j;
        a[t].first = t * PER_THREAD;
        a[t].failures = 0;
        CHECK(pthread_create(&th[t], NULL, append_many, &a[t]) == 0);
    }
    for (t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK(a[t].failures == 0);
    }
    journal_close(j);
    CHECK(journal_open(path, H1, NTHREADS * PER_THREAD, 0, &j, &st, &e) == 0);
    CHECK(st.ndone == NTHREADS * PER_THREAD && st.npieces == NTHREADS * PER_THREAD && st.nignored == 0);
    for (i = 0; i < st.npieces; i++)
        CHECK(st.pieces[i].col == (long)(st.pieces[i].tile_id % PER_THREAD) &&
              st.pieces[i].row == (long)(st.pieces[i].tile_id / PER_THREAD * PER_THREAD));
    journal_state_free(&st);
    journal_close(j);
}

int main(void)
{
    char dir[] = "/tmp/eefetch_journal_XXXXXX", path[256], cmd[300];
    struct journal *j, *j2;
    struct journal_state st;
    struct mosaic_piece ps[4];
    struct errbuf e;
    long size;

    if (!mkdtemp(dir))
        return 1;
    CHECK(journal_path("/x/out.tif", path, sizeof path, &e) == 0);
    CHECK_STR(path, "/x/out.tif.eefetch-journal");
    snprintf(path, sizeof path, "%s/out.tif.eefetch-journal", dir);

    /* New journal, three tiles recorded (tile 5 in four split pieces). */
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0);
    CHECK(st.ndone == 0 && st.npieces == 0);
    journal_state_free(&st);
    /* A second opener is refused while the first holds the lock. */
    CHECK(journal_open(path, H1, 10, 0, &j2, &st, &e) == ERR_USAGE && strstr(e.msg, "locked"));
    journal_state_free(&st);
    ps[0] = piece(3, 0, 512, 0);
    CHECK(journal_append(j, 3, ps, 1, &e) == 0);
    ps[0] = piece(5, 0, 0, 256);
    ps[1] = piece(5, 1, 256, 256);
    ps[2] = piece(5, 2, 0, 384);
    ps[3] = piece(5, 3, 256, 384);
    CHECK(journal_append(j, 5, ps, 4, &e) == 0);
    ps[0] = piece(9, 0, 0, 0);
    CHECK(journal_append(j, 9, ps, 1, &e) == 0);
    CHECK(journal_append(j, 10, ps, 1, &e) == ERR_INTERNAL);   /* out of the plan */
    journal_close(j);

    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0);
    CHECK(st.ndone == 3 && st.npieces == 6 && st.nignored == 0);
    CHECK(st.done[3] && st.done[5] && st.done[9] && !st.done[0]);
    CHECK(st.pieces[0].tile_id == 3 && st.pieces[0].col == 512 && st.pieces[0].band0 == 2 &&
          st.pieces[0].nbands == 3 && st.pieces[0].type == SPEC_DTYPE_FLOAT32);
    CHECK(st.pieces[4].tile_id == 5 && st.pieces[4].k == 3 && st.pieces[4].row == 384);
    journal_state_free(&st);
    journal_close(j);

    /* A torn last line (no newline) is ignored and cut off. */
    size = file_size(path);
    append_raw(path, "T 7 1 0 0 0 256 128 2 3 7 #12");
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0);
    CHECK(st.ndone == 3 && st.nignored == 1 && !st.done[7]);
    CHECK(file_size(path) == size);
    journal_state_free(&st);
    ps[0] = piece(7, 0, 0, 128);
    CHECK(journal_append(j, 7, ps, 1, &e) == 0);
    journal_close(j);

    /* A complete line with a wrong check (corrupted) is ignored, even mid-file;
     * a record for a tile beyond the plan too. */
    append_raw(path, "T 8 1 0 0 0 256 128 2 3 7 #0000000000000000\n");
    append_raw(path, "garbage\n");
    ps[0] = piece(1, 0, 256, 0);
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0);
    CHECK(st.ndone == 4 && st.done[7] && !st.done[8] && st.nignored == 2);
    journal_state_free(&st);
    CHECK(journal_append(j, 1, ps, 1, &e) == 0);
    /* The same tile recorded again: the last record wins. */
    ps[0] = piece(1, 0, 300, 0);
    CHECK(journal_append(j, 1, ps, 1, &e) == 0);
    journal_close(j);
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0);
    CHECK(st.ndone == 5 && st.done[1]);
    {
        size_t i, n1 = 0;
        for (i = 0; i < st.npieces; i++)
            if (st.pieces[i].tile_id == 1) {
                n1++;
                CHECK(st.pieces[i].col == 300);
            }
        CHECK(n1 == 1);
    }
    journal_state_free(&st);
    journal_close(j);

    /* A changed plan is refused, with a hint... */
    CHECK(journal_open(path, H2, 10, 0, &j, &st, &e) == ERR_USAGE);
    CHECK(strstr(e.msg, "--overwrite") != NULL);
    journal_state_free(&st);
    /* ...unless overwrite, which starts an empty journal for the new plan. */
    CHECK(journal_open(path, H2, 10, 1, &j, &st, &e) == 0);
    CHECK(st.ndone == 0);
    journal_state_free(&st);
    journal_close(j);
    CHECK(journal_open(path, H2, 10, 0, &j, &st, &e) == 0 && st.ndone == 0 && !st.replaced);
    journal_state_free(&st);
    journal_close(j);

    /* A journal of another plan that lists no finished tile (only a corrupt
     * line here) holds nothing to lose: it is replaced without overwrite... */
    append_raw(path, "T 3 1 0 0 0 256 128 2 3 7 #0123456789abcdef\n");
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0 && st.ndone == 0 && st.replaced);
    CHECK(file_size(path) == (long)strlen("eefetch-journal 1 \n") + 64);
    journal_state_free(&st);
    ps[0] = piece(4, 0, 0, 0);
    CHECK(journal_append(j, 4, ps, 1, &e) == 0);
    journal_close(j);
    /* ...but once it lists one, another plan is refused again. */
    CHECK(journal_open(path, H2, 10, 0, &j, &st, &e) == ERR_USAGE && strstr(e.msg, "different plan"));
    journal_state_free(&st);

    /* Not a journal at all. */
    CHECK(journal_remove(path, &e) == 0);
    append_raw(path, "hello\n");
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == ERR_USAGE);
    journal_state_free(&st);
    /* A torn header (crash before the first fsync) is rewritten. */
    CHECK(journal_remove(path, &e) == 0);
    append_raw(path, "eefetch-jou");
    CHECK(journal_open(path, H1, 10, 0, &j, &st, &e) == 0 && st.ndone == 0);
    journal_state_free(&st);
    journal_close(j);
    CHECK(journal_remove(path, &e) == 0 && file_size(path) == -1);

    test_concurrent(path);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
