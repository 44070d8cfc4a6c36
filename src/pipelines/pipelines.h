/*
 * pipelines: end-to-end jobs built from the lower modules. Ingestion: fetch or import bars,
 * validate, merge with what is stored, compute indicators, write the offline store.
 */
#ifndef SAO_PIPELINES_H
#define SAO_PIPELINES_H

#include "data/data.h"
#include "store/store.h"

typedef enum sao_ingest_source {
    SAO_SOURCE_YAHOO = 0,
    SAO_SOURCE_CSV
} sao_ingest_source;

typedef struct sao_ingest_options {
    sao_ingest_source source;
    const char *file;  /* CSV path for SAO_SOURCE_CSV */
    int64_t from_day;  /* INT64_MIN: from the last stored bar (minus the overlap) or the default */
    int64_t to_day;    /* INT64_MIN: up to today */
    int drop_invalid;  /* drop bad rows instead of rejecting the batch */
    int max_gap_days;  /* 0: the calendar's default */
    int quiet;         /* no per-ticker log lines */
} sao_ingest_options;

typedef struct sao_ingest_result {
    char ticker[SAO_TICKER_MAX + 1];
    sao_asset_class asset_class;
    size_t received;     /* bars read from the source (after skipping null bars) */
    size_t null_skipped; /* null bars skipped by the source parser */
    size_t dividends;
    size_t splits;
    size_t new_rows;     /* days not stored before */
    size_t updated_rows; /* stored days whose values changed */
    size_t total_rows;   /* rows stored now */
    int64_t first_day;
    int64_t last_day;
    int64_t fetch_from;  /* the range asked of the source */
    int64_t fetch_to;
    sao_validation_report validation;
    char bars_path[4096];
    char features_path[4096];
} sao_ingest_result;

void sao_ingest_options_init(sao_ingest_options *opts);
void sao_ingest_result_dispose(sao_ingest_result *res);
/* Ingests one ticker end to end. On any error nothing in the store changes; validation
 * failures are SAO_EVALIDATION with the details in res->validation. */
int sao_ingest_ticker(sao_ingest_result *res, const char *ticker, const sao_ingest_options *opts);
/* Merges `incoming` into `stored` (a day present in both takes the incoming values; unchanged
 * rows keep their `created` time, new and changed rows get `now_us`). Result sorted by day. */
void sao_ingest_merge(sao_bars *out, const sao_bars *stored, const sao_bars *incoming,
                      int64_t now_us, size_t *new_rows, size_t *updated_rows);

#endif
