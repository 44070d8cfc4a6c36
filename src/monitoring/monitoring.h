/*
 * monitoring: a thread-safe registry of Prometheus metrics (counters, gauges and histograms with
 * labels) rendered in the Prometheus text exposition format 0.0.4, plus the process metrics
 * every exporter publishes (resident memory, CPU seconds, open file descriptors, start time).
 */
#ifndef SAO_MONITORING_H
#define SAO_MONITORING_H

#include <stddef.h>

#include "core/core.h"

typedef struct sao_metrics sao_metrics;
typedef struct sao_metric sao_metric; /* one family: a name, its help, labels and series */

typedef enum sao_metric_type {
    SAO_METRIC_COUNTER = 0,
    SAO_METRIC_GAUGE = 1,
    SAO_METRIC_HISTOGRAM = 2
} sao_metric_type;

#define SAO_METRIC_LABELS_MAX 8
/* Series per family beyond which new label combinations are refused (counted in
 * sao_metrics_dropped_series_total) so that a bug can never grow the registry without bound. */
#define SAO_METRIC_SERIES_MAX 10000

/* A registry. With `process_metrics` set, rendering also writes process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_cpu_seconds_total, process_open_fds, process_max_fds
 * and process_start_time_seconds, read from /proc/self at render time. */
int sao_metrics_new(sao_metrics **out, int process_metrics);
void sao_metrics_free(sao_metrics *metrics);

/* Registers a family (or returns the existing one when name, type, labels and buckets agree;
 * the first help text stays). Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and labels
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting "__", not "le" for histograms); anything else, a name
 * registered with another type, labels or buckets, or a process metric's name in a registry
 * that renders them, is a programming error (SAO_ASSERT). The family is borrowed from the
 * registry. Registering sao_metrics_dropped_series_total as a counter without labels hands out
 * the registry's own. A family without labels has its one series from the start (a counter
 * renders `name 0`). Histogram buckets are upper bounds, strictly increasing and finite (+Inf
 * is implicit); NULL/0 gives the default latency buckets
 * .0001 .00025 .0005 .001 .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. */
sao_metric *sao_metrics_counter(sao_metrics *metrics, const char *name, const char *help,
                                const char *const *label_names, size_t label_count);
sao_metric *sao_metrics_gauge(sao_metrics *metrics, const char *name, const char *help,
                              const char *const *label_names, size_t label_count);
sao_metric *sao_metrics_histogram(sao_metrics *metrics, const char *name, const char *help,
                                  const char *const *label_names, size_t label_count,
                                  const double *buckets, size_t bucket_count);

/* Updates the series with these label values (as many as the family's labels; NULL when it has
 * none), creating it when new. Values are any UTF-8 text; rendering escapes them and writes
 * malformed bytes as U+FFFD. All are safe from any thread and allocate only for a new series.
 * inc: counters and gauges; a counter ignores a negative or NaN increment (logged at warn, once
 * per family). set: gauges. observe: histograms; NaN is ignored. Calling one on a family of
 * another type is a programming error. */
void sao_metric_inc(sao_metric *metric, const char *const *label_values, double value);
void sao_metric_set(sao_metric *metric, const char *const *label_values, double value);
void sao_metric_observe(sao_metric *metric, const char *const *label_values, double value);
/* Removes one series (a gauge for a model version that no longer serves) / every series. */
void sao_metric_remove(sao_metric *metric, const char *const *label_values);
void sao_metric_clear(sao_metric *metric);
/* Current value of a counter or gauge series, or a histogram series' observation count (0 when
 * absent); for tests and health checks. */
double sao_metric_value(sao_metric *metric, const char *const *label_values);

/* Appends every family, in registration order, as Prometheus text (# HELP, # TYPE, then the
 * series sorted by label values; histograms as _bucket{le=...} cumulative, _sum and _count),
 * then sao_metrics_dropped_series_total, then the process metrics. When the buffer's cap is
 * reached, returns SAO_ETOOBIG and leaves the buffer as it was. */
int sao_metrics_render(sao_metrics *metrics, sao_buf *out);

/* The Content-Type of the rendering. */
#define SAO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
