/*
 * Materialization: copies the newest offline row of every ticker within a time window into the
 * Redis online store (Feast's semantics), builds the list-valued model windows, and records the
 * interval in the registry once the write succeeded.
 */
#include "store.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"

/* One ticker's file of one view. Materialization needs one row of each file (or its last
 * context_length rows), so it reads no more than that: the footer's statistics of
 * event_timestamp say which row groups can hold the newest row in range, only their
 * event_timestamp chunks are decoded, and of each requested feature only the pages that hold
 * the row(s). A file without statistics has each row group's event_timestamp decoded. */
typedef struct view_file {
    const sao_fs_view *view;
    sao_pq_file *file;
    char path[4096];
    int ts_col;
    int created_col; /* -1 when the file has none */
    int missing;
    /* The newest row in range, once searched for (the range is the same for every field). */
    int searched;
    int found;
    size_t row; /* its row in the file */
    int64_t event_ts;
} view_file;

static int is_int64_type(sao_pq_type type)
{
    return type == SAO_PQ_INT64 || type == SAO_PQ_TIMESTAMP_US || type == SAO_PQ_TIMESTAMP_MS ||
           type == SAO_PQ_TIMESTAMP_NS;
}

static int view_file_open(view_file *vf, const sao_fs_view *view, const char *ticker)
{
    memset(vf, 0, sizeof(*vf));
    vf->view = view;
    char rel[512];
    snprintf(rel, sizeof(rel), "%s/%s.parquet", view->source, ticker);
    int rc = sao_home_path(vf->path, sizeof(vf->path), rel);
    if (rc) return rc;
    rc = sao_parquet_open(&vf->file, vf->path);
    if (rc == SAO_ENOENT) {
        vf->missing = 1;
        return 0;
    }
    if (rc) return rc;
    vf->ts_col = sao_parquet_find_column(vf->file, "event_timestamp");
    vf->created_col = sao_parquet_find_column(vf->file, "created");
    if (vf->ts_col < 0)
        return sao_error_set(SAO_ECORRUPT, "%s: no event_timestamp column", vf->path);
    if (!is_int64_type(sao_parquet_column_type(vf->file, (size_t)vf->ts_col)))
        return sao_error_set(SAO_ECORRUPT, "%s: event_timestamp is not a timestamp", vf->path);
    /* A created column of another type is ignored, as if absent. */
    if (vf->created_col >= 0 &&
        !is_int64_type(sao_parquet_column_type(vf->file, (size_t)vf->created_col)))
        vf->created_col = -1;
    return 0;
}

static void view_file_close(view_file *vf)
{
    sao_parquet_close(vf->file);
    vf->file = NULL;
}

/* Whether row group g may hold a row in [start_us, end_us] that is not older than best_ts (when
 * a row was found already). Without usable statistics it may: its chunk decides. */
static int group_may_hold(const view_file *vf, size_t g, int64_t start_us, int64_t end_us,
                          int found, int64_t best_ts)
{
    int64_t lo, hi;
    if (sao_parquet_chunk_range_i64(&lo, &hi, vf->file, (size_t)vf->ts_col, g) != 0) return 1;
    if (hi < start_us || lo > end_us) return 0;
    return !found || (hi < end_us ? hi : end_us) >= best_ts;
}

/* Finds the newest row with start <= event time <= end; ties on event time go to the newest
 * `created`, and full ties to the row that comes last in the file. Sets vf->found (0 when no row
 * is in range). Row groups are visited from the last, where a file written in time order keeps
 * its newest rows, so every earlier one is usually ruled out by its statistics alone; `created`
 * is read only when the newest event time is held by more than one row. */
static int view_file_search(view_file *vf, int64_t start_us, int64_t end_us)
{
    if (vf->searched) return 0;
    size_t ngroups = sao_parquet_num_row_groups(vf->file);
    int found = 0;
    int64_t best_ts = 0;
    size_t ties = 0, best_group = 0, best_row = 0;
    const sao_pq_column_data *ts, *created;
    int rc = 0;
    for (size_t g = ngroups; g-- > 0 && !rc;) {
        if (!group_may_hold(vf, g, start_us, end_us, found, best_ts)) continue;
        rc = sao_parquet_read_column_chunk(&ts, vf->file, (size_t)vf->ts_col, g);
        for (size_t i = 0; !rc && i < ts->count; i++) {
            int64_t t = ts->i64[i];
            if (!ts->valid[i] || t < start_us || t > end_us) continue;
            if (!found || t > best_ts) {
                found = 1;
                best_ts = t;
                ties = 1;
                best_group = g;
                best_row = i;
            } else if (t == best_ts) {
                /* Groups are visited last first, rows first to last: a tied row of the same
                 * group comes later in the file, one of an earlier group does not. */
                ties++;
                if (g == best_group) best_row = i;
            }
        }
    }
    if (!rc && ties > 1 && vf->created_col >= 0) {
        int64_t best_created = 0;
        int have = 0;
        for (size_t g = ngroups; g-- > 0 && !rc;) {
            if (!group_may_hold(vf, g, best_ts, best_ts, 0, 0)) continue;
            rc = sao_parquet_read_column_chunk(&ts, vf->file, (size_t)vf->ts_col, g);
            if (!rc)
                rc = sao_parquet_read_column_chunk(&created, vf->file, (size_t)vf->created_col, g);
            for (size_t i = 0; !rc && i < ts->count; i++) {
                if (!ts->valid[i] || ts->i64[i] != best_ts) continue;
                int64_t c = created->valid[i] ? created->i64[i] : INT64_MIN;
                if (!have || c > best_created || (c == best_created && g == best_group)) {
                    have = 1;
                    best_created = c;
                    best_group = g;
                    best_row = i;
                }
            }
        }
    }
    if (rc) return sao_error_wrap(rc, "%s: ", vf->path);
    vf->searched = 1;
    vf->found = found;
    if (found) {
        vf->row = best_row;
        for (size_t g = 0; g < best_group; g++) vf->row += sao_parquet_row_group_rows(vf->file, g);
        vf->event_ts = best_ts;
    }
    return 0;
}

/* Rows [first, first + count) of a double column, or NULL when the file lacks the column or it
 * holds no doubles (crypto-only indicators). Only the pages holding the rows are decoded. */
static int view_file_rows(const sao_pq_column_data **out, view_file *vf, const char *name,
                          size_t first, size_t count)
{
    *out = NULL;
    int idx = sao_parquet_find_column(vf->file, name);
    if (idx < 0) return 0;
    int rc = sao_parquet_read_rows(out, vf->file, (size_t)idx, first, count);
    if (rc) return sao_error_wrap(rc, "%s: ", vf->path);
    if (!(*out)->f64) *out = NULL;
    return 0;
}

/* Fills one row of a scalar view. Returns SAO_ENODATA when the ticker has no row in range. */
static int scalar_row(sao_online_row *row, sao_feast_value *values, const sao_fs_view *view,
                      const char *ticker, int64_t start_us, int64_t end_us)
{
    view_file vf;
    int rc = view_file_open(&vf, view, ticker);
    if (!rc && !vf.missing) rc = view_file_search(&vf, start_us, end_us);
    if (rc || vf.missing || !vf.found) {
        view_file_close(&vf);
        return rc ? rc : SAO_ENODATA;
    }
    for (size_t k = 0; !rc && k < view->field_count; k++) {
        const sao_pq_column_data *col;
        rc = view_file_rows(&col, &vf, view->fields[k].name, vf.row, 1);
        if (rc) break;
        int present = col && col->valid[0] && !isnan(col->f64[0]);
        values[k].type = present ? SAO_FEAST_DOUBLE : SAO_FEAST_NULL;
        if (present) values[k].as.f64 = col->f64[0];
    }
    if (!rc) {
        row->event_ts_us = vf.event_ts;
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
        if (vf->missing) continue;
        rc = view_file_search(vf, start_us, end_us);
        if (rc || !vf->found) continue;
        size_t len = (size_t)view->context_length;
        size_t r = vf->row;
        size_t first = r + 1 >= len ? r + 1 - len : 0;
        size_t n = r + 1 - first;
        const sao_pq_column_data *col;
        rc = view_file_rows(&col, vf, f->window_feature, first, n);
        if (rc || !col) continue;
        double *list = sao_arena_alloc(arena, n * sizeof(double));
        for (size_t i = 0; i < n; i++) list[i] = col->valid[i] ? col->f64[i] : NAN;
        values[k].type = SAO_FEAST_DOUBLE_LIST;
        values[k].as.f64_list.data = list;
        values[k].as.f64_list.len = n;
        if (vf->event_ts > event_ts) event_ts = vf->event_ts;
        any = 1;
    }
    for (size_t i = 0; i < nfiles; i++) view_file_close(&files[i]);
    if (rc) return rc;
    if (!any) return SAO_ENODATA;
    row->event_ts_us = event_ts;
    row->values = values;
    return 0;
}

/* The rows of one view, read by several threads. Files are independent per ticker, so threads
 * claim tickers in index order and each fills its ticker's slot; the write that follows goes in
 * ticker order, whatever order the reads finished in. */
typedef struct view_job {
    const sao_fs_repo *repo;
    const sao_fs_view *view;
    int64_t start_us, end_us;
    char *const *tickers;
    size_t ticker_count;
    sao_online_row *rows; /* by ticker index */
    int *status;          /* by ticker index: 0 (row filled), SAO_ENODATA, or an error */
    atomic_size_t next;   /* the next ticker to claim */
    atomic_size_t finished;
    atomic_size_t failed; /* the lowest ticker index that failed; ticker_count when none */
} view_job;

typedef struct view_worker {
    view_job *job;
    sao_arena *arena; /* values and lists of the rows this worker filled */
    pthread_t thread;
    int started;
    /* Its first failure: the message is thread-local, so it is kept for the calling thread. */
    size_t failed;
    int rc;
    char message[1024];
    /* The calling thread's worker shows progress; the others leave it alone. */
    sao_progress *progress;
    uint64_t progress_base;
} view_worker;

static void job_fail(view_job *job, size_t t)
{
    size_t seen = atomic_load(&job->failed);
    while (t < seen && !atomic_compare_exchange_weak(&job->failed, &seen, t)) {
    }
}

static void worker_run(view_worker *w)
{
    view_job *job = w->job;
    const sao_fs_view *view = job->view;
    for (;;) {
        size_t t = atomic_fetch_add(&job->next, 1);
        /* Tickers are claimed in order, so every ticker before a failed one is claimed and read
         * by some worker: the failure reported is the first in ticker order, as in one thread. */
        if (t >= job->ticker_count || t > atomic_load(&job->failed)) break;
        sao_feast_value *values = sao_arena_alloc(
            w->arena, (view->field_count ? view->field_count : 1) * sizeof(sao_feast_value));
        sao_online_row *row = &job->rows[t];
        row->entity = job->tickers[t];
        int r = view->kind == SAO_FS_WINDOW
                    ? window_row(row, values, job->repo, view, job->tickers[t], job->start_us,
                                 job->end_us, w->arena)
                    : scalar_row(row, values, view, job->tickers[t], job->start_us, job->end_us);
        job->status[t] = r;
        size_t finished = atomic_fetch_add(&job->finished, 1) + 1;
        if (w->progress) sao_progress_update(w->progress, w->progress_base + finished);
        if (r && r != SAO_ENODATA) {
            w->failed = t;
            w->rc = r;
            sao_strlcpy(w->message, sao_error_last(), sizeof(w->message));
            job_fail(job, t);
            break;
        }
    }
}

static void *worker_main(void *arg)
{
    worker_run(arg);
    return NULL;
}

/* SAO_THREADS, or one thread per online CPU; never more threads than tickers. */
static int thread_count(size_t *out, size_t tickers)
{
    long n;
    int rc = sao_config_get_int("SAO_THREADS", &n);
    if (rc) return rc;
    if (n < 0 || n > 256)
        return sao_error_set(SAO_EINVAL, "SAO_THREADS: %ld is not between 0 and 256", n);
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1) n = 1;
    }
    size_t threads = (size_t)n;
    if (threads > tickers) threads = tickers ? tickers : 1;
    *out = threads;
    return 0;
}

/* Reads every ticker's row of a view: on the calling thread, plus threads - 1 more. */
static int read_view_rows(view_job *job, view_worker *workers, size_t threads,
                          sao_progress *progress, uint64_t progress_base)
{
    for (size_t i = 0; i < threads; i++) {
        workers[i].job = job;
        workers[i].arena = sao_arena_new(1 << 20);
        workers[i].failed = job->ticker_count;
    }
    workers[0].progress = progress;
    workers[0].progress_base = progress_base;
    for (size_t i = 1; i < threads; i++) {
        /* A thread that cannot start leaves its share to the others. */
        workers[i].started =
            pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0;
    }
    worker_run(&workers[0]);
    for (size_t i = 1; i < threads; i++)
        if (workers[i].started) pthread_join(workers[i].thread, NULL);
    sao_progress_update(progress, progress_base + atomic_load(&job->finished));
    size_t failed = atomic_load(&job->failed);
    if (failed == job->ticker_count) return 0;
    for (size_t i = 0; i < threads; i++) {
        if (workers[i].failed != failed) continue;
        sao_error_set(workers[i].rc, "%s", workers[i].message);
        return sao_error_wrap(workers[i].rc, "materialize %s %s: ", job->view->name,
                              job->tickers[failed]);
    }
    SAO_ASSERT(0); /* the worker that lowered `failed` recorded it */
    return SAO_ESTATE;
}

static int materialize_view(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                            sao_online *online, const sao_fs_view *view, int64_t start_us,
                            int64_t end_us, char *const *tickers, size_t ticker_count,
                            int record, sao_progress *progress, uint64_t *done)
{
    size_t threads = 1;
    int rc = thread_count(&threads, ticker_count);
    if (rc) return rc;
    size_t slots = ticker_count ? ticker_count : 1;
    view_job job;
    memset(&job, 0, sizeof(job));
    job.repo = repo;
    job.view = view;
    job.start_us = start_us;
    job.end_us = end_us;
    job.tickers = tickers;
    job.ticker_count = ticker_count;
    job.rows = sao_calloc(slots, sizeof(sao_online_row));
    job.status = sao_calloc(slots, sizeof(int));
    atomic_init(&job.next, 0);
    atomic_init(&job.finished, 0);
    atomic_init(&job.failed, ticker_count);
    view_worker *workers = sao_calloc(threads, sizeof(*workers));
    const char **names = sao_calloc(view->field_count ? view->field_count : 1, sizeof(*names));
    for (size_t k = 0; k < view->field_count; k++) names[k] = view->fields[k].name;

    rc = read_view_rows(&job, workers, threads, progress, *done);
    *done += atomic_load(&job.finished);
    if (rc) goto done;
    /* Rows in ticker order, without the tickers that had none in range. */
    size_t nrows = 0;
    for (size_t t = 0; t < ticker_count; t++)
        if (job.status[t] == 0) job.rows[nrows++] = job.rows[t];
    size_t written = 0;
    if (nrows) {
        rc = sao_online_write(online, view->name, names, view->field_count, job.rows, nrows,
                              &written);
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
    for (size_t i = 0; i < threads; i++) sao_arena_free(workers[i].arena);
    sao_free(workers);
    sao_free(names);
    sao_free(job.status);
    sao_free(job.rows);
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
