/*
 * store internals shared by the module's files, its unit tests and its fuzz targets; code
 * outside src/store uses store.h only.
 */
#ifndef SAO_STORE_INT_H
#define SAO_STORE_INT_H

#include "store.h"

/* Caps on an entity-rows file (point-in-time retrieval input); crossing one is SAO_ETOOBIG. */
#define SAO_FS_ENTITY_MAX_BYTES ((size_t)256 * 1024 * 1024)
#define SAO_FS_ENTITY_MAX_ROWS ((size_t)10 * 1000 * 1000)
#define SAO_FS_ENTITY_MAX_RECORD ((size_t)64 * 1024) /* bytes in one CSV record */
#define SAO_FS_ENTITY_MAX_FIELDS 1024                /* fields in one CSV record */

/* Parses CSV entity rows from memory (`name` is used in "name:line:column: ..." messages).
 * The header names the columns `ticker` and `event_timestamp` (any case, any order; other
 * columns are ignored); tickers are validated and upper-cased. SAO_EPARSE for malformed input,
 * SAO_ETOOBIG past a cap, SAO_ENODATA when no row follows the header. `out` is set on success
 * only. */
int sao_fs__entity_rows_parse_csv(sao_fs_entity_rows *out, const char *text, size_t len,
                                  const char *name);

/* Parses an entity timestamp: YYYY-MM-DD (UTC midnight) or an ISO 8601 date-time
 * (YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]] followed by nothing or Z (UTC) or an offset ±HH[:MM]),
 * into microseconds since the epoch (fractions past the microsecond are dropped). Years
 * 1800..2200. SAO_EPARSE otherwise; no message is set. */
int sao_fs__parse_timestamp(int64_t *out_us, const char *text, size_t len);

#endif
