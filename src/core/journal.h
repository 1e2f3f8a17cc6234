/*
 * The resume journal: a text file beside the output
 * (<output>.eefetch-journal) that names the plan it belongs to and lists
 * the finished tiles with the pieces that hold their pixels.
 *
 *   eefetch-journal 1 <plan sha-256>
 *   T <tile id> <n> (<k> <col> <row> <w> <h> <band0> <nbands> <type>){n} #<check>
 *
 * A tile's line is appended (one write, then fsync) only after all its
 * pieces are durable in the tile store (mosaic_store_piece), so a line in
 * the journal always means pixels on disk. A torn or corrupt line (a crash
 * mid-append) fails its check and is ignored: that tile is fetched again.
 * The file is locked while open, so two runs cannot share one output.
 */
#ifndef EEFETCH_CORE_JOURNAL_H
#define EEFETCH_CORE_JOURNAL_H

#include <stddef.h>

#include "core/mosaic.h"
#include "util/err.h"

#define JOURNAL_MAX_PIECES 4096   /* pieces per tile (quad splits) */

struct journal;

/* What an existing journal says is finished. */
struct journal_state {
    unsigned char *done;          /* ntiles flags */
    size_t ndone;
    struct mosaic_piece *pieces;  /* the pieces of finished tiles, one record per piece */
    size_t npieces;
    size_t nignored;              /* torn or corrupt lines skipped */
    int replaced;                 /* a journal of another plan with no finished tile was
                                     replaced (its stored pieces are stale) */
};

/* "<output>.eefetch-journal" */
int journal_path(const char *output, char *out, size_t cap, struct errbuf *e);

/* Opens (creating when missing) the journal of a plan with ntiles tiles.
 * An existing journal of another plan is refused with ERR_USAGE unless
 * overwrite, which empties it, or unless it lists no finished tile: then
 * it is simply replaced (st->replaced). Loads what it lists into st
 * (caller frees with journal_state_free, also on failure). */
int journal_open(const char *path, const char *plan_hash, size_t ntiles, int overwrite, struct journal **out,
                 struct journal_state *st, struct errbuf *e);

/* Durably records tile_id as finished with its n pieces. Thread-safe. */
int journal_append(struct journal *j, size_t tile_id, const struct mosaic_piece *pieces, int n,
                   struct errbuf *e);

/* Closes (and unlocks) the journal; NULL is ignored. */
void journal_close(struct journal *j);
/* Deletes the journal file (after a successful finish). */
int journal_remove(const char *path, struct errbuf *e);

void journal_state_free(struct journal_state *st);

#endif
