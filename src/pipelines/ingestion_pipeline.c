/*
 * Ingestion pipeline: source (Yahoo chart API or CSV) -> validation -> merge with the stored
 * series (incremental, never duplicating a day) -> indicators -> offline store.
 */
#include "pipelines.h"

#include <math.h>
#include <string.h>

#include "features/features.h"

void sao_ingest_options_init(sao_ingest_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->source = SAO_SOURCE_YAHOO;
    opts->from_day = INT64_MIN;
    opts->to_day = INT64_MIN;
}

void sao_ingest_result_dispose(sao_ingest_result *res)
{
    if (!res) return;
    sao_validation_report_dispose(&res->validation);
}

static int same_value(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static int row_equal(const sao_bars *a, size_t i, const sao_bars *b, size_t j)
{
    return same_value(a->open[i], b->open[j]) && same_value(a->high[i], b->high[j]) &&
           same_value(a->low[i], b->low[j]) && same_value(a->close[i], b->close[j]) &&
           same_value(a->adj_close[i], b->adj_close[j]) &&
           same_value(a->volume[i], b->volume[j]) && same_value(a->dividend[i], b->dividend[j]) &&
           same_value(a->split_ratio[i], b->split_ratio[j]);
}

void sao_ingest_merge(sao_bars *out, const sao_bars *stored, const sao_bars *incoming,
                      int64_t now_us, size_t *new_rows, size_t *updated_rows)
{
    size_t i = 0, j = 0, added = 0, updated = 0;
    sao_bars_reserve(out, stored->count + incoming->count);
    while (i < stored->count || j < incoming->count) {
        int take_stored = j >= incoming->count ||
                          (i < stored->count && stored->day[i] < incoming->day[j]);
        if (take_stored) {
            sao_bars_push_row(out, stored, i++);
            continue;
        }
        if (i < stored->count && stored->day[i] == incoming->day[j]) {
            size_t k = out->count;
            sao_bars_push_row(out, incoming, j);
            if (row_equal(stored, i, incoming, j)) {
                out->created_us[k] = stored->created_us[i];
            } else {
                out->created_us[k] = now_us;
                updated++;
            }
            i++;
            j++;
            continue;
        }
        size_t k = out->count;
        sao_bars_push_row(out, incoming, j++);
        out->created_us[k] = now_us;
        added++;
    }
    if (new_rows) *new_rows = added;
    if (updated_rows) *updated_rows = updated;
}

/* Keeps only days in [from, to]. */
static void clip_range(sao_bars *bars, int64_t from, int64_t to)
{
    sao_bars kept;
    sao_bars_init(&kept, bars->ticker);
    for (size_t i = 0; i < bars->count; i++)
        if (bars->day[i] >= from && bars->day[i] <= to) sao_bars_push_row(&kept, bars, i);
    sao_bars_dispose(bars);
    *bars = kept;
}

static int fetch_source(sao_bars *incoming, sao_ingest_result *res, const sao_ingest_options *opts)
{
    if (opts->source == SAO_SOURCE_CSV) {
        if (!opts->file) return sao_error_set(SAO_EINVAL, "--source csv needs --file PATH");
        sao_csv_report rep;
        int rc = sao_csv_import(incoming, &rep, opts->file);
        if (rc) return rc;
        if (rep.ticker[0]) {
            char norm[SAO_TICKER_MAX + 1];
            if (sao_ticker_normalize(norm, rep.ticker) == 0 && strcmp(norm, res->ticker) != 0)
                return sao_error_set(SAO_EINVAL, "%s holds %s, not %s", opts->file, norm,
                                     res->ticker);
        }
        res->null_skipped = rep.null_rows;
        clip_range(incoming, res->fetch_from, res->fetch_to);
    } else {
        sao_yahoo_meta meta;
        sao_yahoo_report rep;
        int rc = sao_yahoo_fetch(incoming, &meta, &rep, res->ticker, res->fetch_from,
                                 res->fetch_to);
        if (rc) return rc;
        res->null_skipped = rep.null_bars + rep.partial_bars;
        res->dividends = rep.dividends;
        res->splits = rep.splits;
        clip_range(incoming, res->fetch_from, res->fetch_to);
    }
    res->received = incoming->count;
    return 0;
}

int sao_ingest_ticker(sao_ingest_result *res, const char *ticker_in, const sao_ingest_options *opts)
{
    memset(res, 0, sizeof(*res));
    sao_validation_report_init(&res->validation);
    int rc = sao_ticker_normalize(res->ticker, ticker_in);
    if (rc) return rc;
    res->asset_class = sao_ticker_asset_class(res->ticker);

    sao_bars stored, incoming, merged;
    sao_bars_init(&stored, res->ticker);
    sao_bars_init(&incoming, res->ticker);
    sao_bars_init(&merged, res->ticker);
    sao_feature_table features = {0};

    rc = sao_offline_read_bars(&stored, res->ticker);
    if (rc == SAO_ENOENT) rc = 0;
    if (rc) goto done;

    /* The range to ask for: explicit bounds win; else resume a little before the last stored
     * bar so late corrections by the source are picked up, or start at the default date. */
    int64_t today = sao_now_us() / SAO_US_PER_DAY;
    res->fetch_to = opts->to_day != INT64_MIN ? opts->to_day : today;
    if (opts->from_day != INT64_MIN) {
        res->fetch_from = opts->from_day;
    } else if (stored.count && opts->source == SAO_SOURCE_YAHOO) {
        long overlap = 7;
        if (sao_config_get_int("SAO_INGEST_OVERLAP_DAYS", &overlap) != 0 || overlap < 0)
            overlap = 7;
        res->fetch_from = stored.day[stored.count - 1] - overlap;
    } else if (opts->source == SAO_SOURCE_YAHOO) {
        const char *start = sao_config_get("SAO_DEFAULT_START");
        if (sao_date_parse(start, strlen(start), &res->fetch_from) != 0) {
            rc = sao_error_set(SAO_EINVAL, "SAO_DEFAULT_START: '%s' is not a date", start);
            goto done;
        }
    } else {
        res->fetch_from = INT64_MIN / 2; /* a CSV file brings its own range */
    }
    if (res->fetch_from > res->fetch_to) {
        rc = sao_error_set(SAO_EINVAL, "empty date range: from is after to");
        goto done;
    }

    rc = fetch_source(&incoming, res, opts);
    if (rc) goto done;
    if (incoming.count == 0 && stored.count == 0) {
        rc = sao_error_set(SAO_ENODATA, "%s: no bars in the requested range", res->ticker);
        goto done;
    }

    rc = sao_validate_bars(&incoming, &res->validation, opts->drop_invalid, opts->max_gap_days);
    if (rc) goto done;

    sao_ingest_merge(&merged, &stored, &incoming, sao_now_us(), &res->new_rows,
                     &res->updated_rows);
    res->total_rows = merged.count;
    if (merged.count) {
        res->first_day = merged.day[0];
        res->last_day = merged.day[merged.count - 1];
    }

    int crypto = res->asset_class == SAO_ASSET_CRYPTO;
    sao_ohlcv_view view = {merged.count, merged.day,   merged.open,  merged.high,
                           merged.low,   merged.close, merged.volume};
    rc = sao_features_compute(&features, &view, crypto);
    if (rc) goto done;
    /* Nothing new: leave the files (and their created times) as they are. */
    if (res->new_rows || res->updated_rows || stored.count == 0) {
        rc = sao_offline_write(&merged, &features, crypto);
        if (rc) goto done;
    }
    sao_offline_path(res->bars_path, sizeof(res->bars_path), SAO_VIEW_OHLCV, res->ticker);
    sao_offline_path(res->features_path, sizeof(res->features_path), SAO_VIEW_TECHNICAL,
                     res->ticker);
done:
    sao_feature_table_dispose(&features);
    sao_bars_dispose(&stored);
    sao_bars_dispose(&incoming);
    sao_bars_dispose(&merged);
    return rc;
}
