/* Clocks and RFC 3339 conversion. */
#ifndef EEFETCH_UTIL_TIMEUTIL_H
#define EEFETCH_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds, for timeouts and rates. */
int64_t time_mono_ms(void);
/* Wall-clock milliseconds since the Unix epoch. */
int64_t time_now_ms(void);
/* Sleeps, returning early never (use short sleeps where a stop flag matters). */
void time_sleep_ms(int64_t ms);
/* Formats epoch milliseconds as RFC 3339 UTC ("2023-01-01T00:00:00Z", with
 * ".sssZ" when ms is not a whole second). */
void time_format_rfc3339(int64_t ms, char *out, size_t cap);
/* Parses "YYYY-MM-DD", "YYYY-MM-DDThh:mm[:ss[.fff]]" with optional "Z" or
 * "+hh:mm". Returns 0 and epoch ms, or -1. */
int time_parse_iso(const char *s, int64_t *ms);

#endif
