/*
 * Materialization: copies the newest offline row of every ticker within a time window into the
 * Redis online store (Feast's semantics), builds the list-valued model windows, and records the
 * interval in the registry once the write succeeded.
 */
#include "store.h"

#include <math.h>
#include <string.h>

#include "data/data.h"

/* The newest row with start <= event time <= end; ties on event time go to the newest
 * `created`. Returns 0 and sets *row, or SAO_ENODATA when no row is in the window. */
static int newest_row(size_t *row, const sao_pq_column_data *ts, const sao_pq_column_data *created,
                      int64_t start_us, int64_t end_us)
{
    int found = 0;
    size_t best = 0;
    for (size_t i = 0; i < ts->count; i++) {
        if (!ts->valid[i] || ts->i64[i] < start_us || ts->i64[i] > end_us) continue;
        int64_t c = created && created->valid[i] ? created->i64[i] : INT64_MIN;
        int64_t bc = created && created->valid[best] ? created->i64[best] : INT64_MIN;
        if (!found || ts->i64[i] > ts->i64[best] || (ts->i64[i] == ts->i64[best] && c >= bc)) {
            best = i;
            found = 1;
        }
    }
    if (!found) return SAO_ENODATA;
    *row = best;
    return 0;
}

/* One ticker's file of one view, with the columns read on demand. */
typedef struct view_file {
    const sao_fs_view *view;
    sao_pq_file *file;
    const sao_pq_column_data *ts;
    const sao_pq_column_data *created;
    int missing;
} view_file;

static int view_file_open(view_file *vf, const sao_fs_view *view, const char *ticker)
{
    memset(vf, 0, sizeof(*vf));
    vf->view = view;
    char rel[512], path[4096];
    snprintf(rel, sizeof(rel), "%s/%s.parquet", view->source, ticker);
    int rc = sao_home_path(path, sizeof(path), rel);
    if (rc) return rc;
    rc = sao_parquet_open(&vf->file, path);
    if (rc == SAO_ENOENT) {
        vf->missing = 1;
        return 0;
    }
    if (rc) return rc;
    int ts_idx = sao_parquet_find_column(vf->file, "event_timestamp");
    int cr_idx = sao_parquet_find_column(vf->file, "created");
    if (ts_idx < 0) return sao_error_set(SAO_ECORRUPT, "%s: no event_timestamp column", path);
    rc = sao_parquet_read_column(&vf->ts, vf->file, (size_t)ts_idx);
    if (!rc && !vf->ts->i64)
        rc = sao_error_set(SAO_ECORRUPT, "%s: event_timestamp is not a timestamp", path);
    if (!rc && cr_idx >= 0) {
        rc = sao_parquet_read_column(&vf->created, vf->file, (size_t)cr_idx);
        if (!rc && !vf->created->i64) vf->created = NULL;
    }
    return rc;
}

static void view_file_close(view_file *vf)
{
    sao_parquet_close(vf->file);
    vf->file = NULL;
}

/* A double column of the file, or NULL when the file lacks it (crypto-only indicators). */
static int view_file_column(const sao_pq_column_data **out, view_file *vf, const char *name)
{
    *out = NULL;
    int idx = sao_parquet_find_column(vf->file, name);
    if (idx < 0) return 0;
    int rc = sao_parquet_read_column(out, vf->file, (size_t)idx);
    if (!rc && !(*out)->f64) *out = NULL;
    return rc;
}

/* Fills one row of a scalar view. Returns SAO_ENODATA when the ticker has no row in range. */
static int scalar_row(sao_online_row *row, sao_feast_value *values, const sao_fs_view *view,
                      const char *ticker, int64_t start_us, int64_t end_us)
{
    view_file vf;
    int rc = view_file_open(&vf, view, ticker);
    if (rc || vf.missing) {
        view_file_close(&vf);
        return rc ? rc : SAO_ENODATA;
    }
    size_t r;
    rc = newest_row(&r, vf.ts, vf.created, start_us, end_us);
    for (size_t k = 0; !rc && k < view->field_count; k++) {
        const sao_pq_column_data *col;
        rc = view_file_column(&col, &vf, view->fields[k].name);
        if (rc) break;
        int present = col && col->valid[r] && !isnan(col->f64[r]);
        values[k].type = present ? SAO_FEAST_DOUBLE : SAO_FEAST_NULL;
        if (present) values[k].as.f64 = col->f64[r];
    }
    if (!rc) {
        row->event_ts_us = vf.ts->i64[r];
        row->values = values;
    }
    view_file_close(&vf);
    return rc;
}

/* Fills one row of a window view: for each field, the last context_length values of its
 * source feature up to the newest source row in range (nulls become NaN inside the list). */
static int window_row(sao_online_row *row, sao_feast_value *values, const sao_fs_repo *repo,
                      const sao_fs_view *view, const char *ticker, int64_t start_us,
                      int64_t end_us, sao_arena *arena)
{
    view_file files[4];
    size_t nfiles = 0;
    int rc = 0, any = 0;
    int64_t event_ts = INT64_MIN;
    for (size_t k = 0; k < view->field_count && !rc; k++) {
        const sao_fs_field *f = &view->fields[k];
        const sao_fs_view *src = sao_fs_repo_view(repo, f->window_view);
        view_file *vf = NULL;
        for (size_t i = 0; i < nfiles; i++)
            if (files[i].view == src) vf = &files[i];
        if (!vf) {
            if (nfiles == SAO_ARRAY_LEN(files)) {
                rc = sao_error_set(SAO_EINVAL, "%s: a window reads at most %zu views", view->name,
                                   SAO_ARRAY_LEN(files));
                break;
            }
            vf = &files[nfiles++];
            rc = view_file_open(vf, src, ticker);
            if (rc) break;
        }
        values[k].type = SAO_FEAST_NULL;
        size_t r;
        const sao_pq_column_data *col = NULL;
        if (vf->missing || newest_row(&r, vf->ts, vf->created, start_us, end_us) != 0) continue;
        rc = view_file_column(&col, vf, f->window_feature);
        if (rc || !col) continue;
        size_t len = (size_t)view->context_length;
        size_t first = r + 1 >= len ? r + 1 - len : 0;
        size_t n = r + 1 - first;
        double *list = sao_arena_alloc(arena, n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            list[i] = col->valid[first + i] ? col->f64[first + i] : NAN;
        values[k].type = SAO_FEAST_DOUBLE_LIST;
        values[k].as.f64_list.data = list;
        values[k].as.f64_list.len = n;
        if (vf->ts->i64[r] > event_ts) event_ts = vf->ts->i64[r];
        any = 1;
    }
    for (size_t i = 0; i < nfiles; i++) view_file_close(&files[i]);
    if (rc) return rc;
    if (!any) return SAO_ENODATA;
    row->event_ts_us = event_ts;
    row->values = values;
    return 0;
}

static int materialize_view(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                            sao_online *online, const sao_fs_view *view, int64_t start_us,
                            int64_t end_us, char *const *tickers, size_t ticker_count,
                            int record, sao_progress *progress, uint64_t *done)
{
    sao_arena *arena = sao_arena_new(1 << 20);
    sao_online_row *rows = sao_calloc(ticker_count ? ticker_count : 1, sizeof(*rows));
    const char **names = sao_calloc(view->field_count, sizeof(*names));
    for (size_t k = 0; k < view->field_count; k++) names[k] = view->fields[k].name;
    size_t nrows = 0;
    int rc = 0;
    for (size_t t = 0; t < ticker_count; t++) {
        sao_feast_value *values =
            sao_arena_alloc(arena, view->field_count * sizeof(sao_feast_value));
        sao_online_row *row = &rows[nrows];
        row->entity = tickers[t];
        int r = view->kind == SAO_FS_WINDOW
                    ? window_row(row, values, repo, view, tickers[t], start_us, end_us, arena)
                    : scalar_row(row, values, view, tickers[t], start_us, end_us);
        sao_progress_update(progress, ++*done);
        if (r == SAO_ENODATA) continue;
        if (r) {
            rc = sao_error_wrap(r, "materialize %s %s: ", view->name, tickers[t]);
            goto done;
        }
        nrows++;
    }
    size_t written = 0;
    if (nrows) {
        rc = sao_online_write(online, view->name, names, view->field_count, rows, nrows, &written);
        if (rc) {
            sao_error_wrap(rc, "materialize %s: ", view->name);
            goto done;
        }
    }
    report->entities += written;
    report->skipped += nrows - written;
    report->views++;
    if (record) rc = sao_fs_registry_add_interval(view->name, start_us, end_us);
done:
    sao_free(names);
    sao_free(rows);
    sao_arena_free(arena);
    return rc;
}

static int resolve_tickers(char ***out, size_t *count, const char *const *tickers,
                           size_t ticker_count)
{
    if (!tickers) return sao_offline_list_tickers(out, count);
    char **list = sao_calloc(ticker_count ? ticker_count : 1, sizeof(*list));
    for (size_t i = 0; i < ticker_count; i++) {
        char norm[SAO_TICKER_MAX + 1];
        int rc = sao_ticker_normalize(norm, tickers[i]);
        if (rc) {
            sao_offline_tickers_free(list, i);
            return rc;
        }
        list[i] = sao_strdup(norm);
    }
    *out = list;
    *count = ticker_count;
    return 0;
}

/* Runs views in order; `starts` gives each view's window start (NULL: start_us for all). */
static int materialize_views(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                             sao_online *online, const int64_t *starts, int64_t start_us,
                             int64_t end_us, const char *const *tickers, size_t ticker_count,
                             const char *view_filter)
{
    memset(report, 0, sizeof(*report));
    if (view_filter && !sao_fs_repo_view(repo, view_filter))
        return sao_error_set(SAO_EINVAL, "no feature view '%s' in %s/features.yaml", view_filter,
                             repo->dir);
    char **list = NULL;
    size_t n = 0;
    int rc = resolve_tickers(&list, &n, tickers, ticker_count);
    if (rc) return rc;
    report->tickers = n;
    double t0 = sao_monotonic();
    size_t nviews = view_filter ? 1 : repo->view_count;
    sao_progress progress;
    sao_progress_start(&progress, "materialize", (uint64_t)nviews * n);
    uint64_t done = 0;
    for (size_t i = 0; i < repo->view_count && !rc; i++) {
        const sao_fs_view *v = &repo->views[i];
        if (view_filter && strcmp(v->name, view_filter) != 0) continue;
        int64_t s = starts ? starts[i] : start_us;
        if (s > end_us) continue;
        /* Only a run over every ticker may record the interval: a subset leaves the others
         * behind, and incremental runs must still pick them up. */
        rc = materialize_view(report, repo, online, v, s, end_us, list, n, tickers == NULL,
                              &progress, &done);
    }
    sao_progress_finish(&progress);
    report->seconds = sao_monotonic() - t0;
    sao_offline_tickers_free(list, n);
    return rc;
}

int sao_fs_materialize(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                       sao_online *online, int64_t start_us, int64_t end_us,
                       const char *const *tickers, size_t ticker_count, const char *view_filter)
{
    if (start_us > end_us)
        return sao_error_set(SAO_EINVAL, "materialize: START is after END");
    return materialize_views(report, repo, online, NULL, start_us, end_us, tickers, ticker_count,
                             view_filter);
}

int sao_fs_materialize_incremental(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                                   sao_online *online, int64_t end_us,
                                   const char *const *tickers, size_t ticker_count)
{
    int64_t *starts = sao_calloc(repo->view_count ? repo->view_count : 1, sizeof(*starts));
    int rc = 0;
    for (size_t i = 0; i < repo->view_count; i++) {
        sao_fs_interval *iv = NULL;
        size_t n = 0;
        rc = sao_fs_registry_intervals(&iv, &n, repo->views[i].name);
        if (rc) break;
        /* Feast: resume at the end of the latest interval, else look back one TTL. */
        int64_t start = end_us - repo->views[i].ttl_seconds * 1000000;
        if (n) {
            start = iv[0].end_us;
            for (size_t k = 1; k < n; k++)
                if (iv[k].end_us > start) start = iv[k].end_us;
        }
        starts[i] = start;
        sao_free(iv);
    }
    if (!rc)
        rc = materialize_views(report, repo, online, starts, 0, end_us, tickers, ticker_count,
                               NULL);
    sao_free(starts);
    return rc;
}
