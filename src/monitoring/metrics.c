/*
 * The metrics registry: families of counters, gauges and histograms, their labelled series, and
 * the rendering in the Prometheus text exposition format 0.0.4.
 */
#include "monitoring_int.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define DROPPED_NAME "sao_metrics_dropped_series_total"

/* One label combination of a family. Allocated in one block: the struct, the label value
 * pointers, the bucket counts, then the label value bytes. */
typedef struct series {
    struct series *next; /* hash chain */
    uint64_t hash;
    size_t label_count; /* the family's, so that qsort's comparison can see it */
    double value;       /* counter or gauge value; histogram: sum of observations */
    uint64_t count;     /* histogram: observations */
    uint64_t *buckets;  /* histogram: observations per bound (not cumulative); last is +Inf */
    const char *values[];
} series;

struct sao_metric {
    sao_metrics *registry;
    char *name;
    char *help;
    sao_metric_type type;
    char *labels[SAO_METRIC_LABELS_MAX];
    size_t label_count;
    double *bounds; /* histogram upper bounds, without +Inf */
    size_t bound_count;

    pthread_mutex_t lock; /* guards the series table */
    series **slots;       /* chained hash table; slot_count is a power of two */
    size_t slot_count;
    size_t series_count;

    /* Set once the first refused update was logged, so a caller in a loop floods no log. */
    atomic_int warned_negative;
    atomic_int warned_dropped;
};

struct sao_metrics {
    pthread_mutex_t lock; /* guards the family list; held while rendering */
    sao_metric **families;
    size_t family_count;
    size_t family_cap;
    sao_metric *dropped; /* rendered after the registered families */
    int process_metrics;
};

static const double default_buckets[] = {.0001, .00025, .0005, .001, .0025, .005, .01, .025,
                                         .05,   .1,     .25,   .5,   1,     2.5,  5,   10};

/* ---- names ---- */

static int valid_metric_name(const char *name)
{
    if (!*name) return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p > name && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

static int valid_label_name(const char *name)
{
    if (!*name || (name[0] == '_' && name[1] == '_')) return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p > name && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

/* ---- families ---- */

static sao_metric *family_new(sao_metrics *metrics, sao_metric_type type, const char *name,
                              const char *help, const char *const *labels, size_t label_count,
                              const double *bounds, size_t bound_count)
{
    sao_metric *m = sao_calloc(1, sizeof(*m));
    m->registry = metrics;
    m->name = sao_strdup(name);
    m->help = sao_strdup(help);
    m->type = type;
    m->label_count = label_count;
    for (size_t i = 0; i < label_count; i++) m->labels[i] = sao_strdup(labels[i]);
    if (type == SAO_METRIC_HISTOGRAM) {
        m->bound_count = bound_count;
        m->bounds = sao_malloc(bound_count * sizeof(double));
        memcpy(m->bounds, bounds, bound_count * sizeof(double));
    }
    pthread_mutex_init(&m->lock, NULL);
    atomic_init(&m->warned_negative, 0);
    atomic_init(&m->warned_dropped, 0);
    return m;
}

static void family_drop_series(sao_metric *m)
{
    for (size_t i = 0; i < m->slot_count; i++) {
        series *s = m->slots[i];
        while (s) {
            series *next = s->next;
            sao_free(s);
            s = next;
        }
        m->slots[i] = NULL;
    }
    m->series_count = 0;
}

static void family_free(sao_metric *m)
{
    if (!m) return;
    family_drop_series(m);
    sao_free(m->slots);
    pthread_mutex_destroy(&m->lock);
    for (size_t i = 0; i < m->label_count; i++) sao_free(m->labels[i]);
    sao_free(m->bounds);
    sao_free(m->name);
    sao_free(m->help);
    sao_free(m);
}

static int family_matches(const sao_metric *m, sao_metric_type type, const char *const *labels,
                          size_t label_count, const double *bounds, size_t bound_count)
{
    if (m->type != type || m->label_count != label_count) return 0;
    for (size_t i = 0; i < label_count; i++)
        if (strcmp(m->labels[i], labels[i]) != 0) return 0;
    if (type != SAO_METRIC_HISTOGRAM) return 1;
    if (m->bound_count != bound_count) return 0;
    for (size_t i = 0; i < bound_count; i++)
        if (m->bounds[i] != bounds[i]) return 0;
    return 1;
}

static sao_metric *family_find(sao_metrics *metrics, const char *name)
{
    for (size_t i = 0; i < metrics->family_count; i++)
        if (strcmp(metrics->families[i]->name, name) == 0) return metrics->families[i];
    if (strcmp(metrics->dropped->name, name) == 0) return metrics->dropped;
    return NULL;
}

static sao_metric *family_register(sao_metrics *metrics, sao_metric_type type, const char *name,
                                   const char *help, const char *const *labels, size_t label_count,
                                   const double *bounds, size_t bound_count)
{
    SAO_ASSERT(metrics && name && help);
    SAO_ASSERT(valid_metric_name(name));
    SAO_ASSERT(label_count <= SAO_METRIC_LABELS_MAX);
    SAO_ASSERT(label_count == 0 || labels);
    for (size_t i = 0; i < label_count; i++) {
        SAO_ASSERT(labels[i] && valid_label_name(labels[i]));
        SAO_ASSERT(type != SAO_METRIC_HISTOGRAM || strcmp(labels[i], "le") != 0);
        for (size_t j = 0; j < i; j++) SAO_ASSERT(strcmp(labels[i], labels[j]) != 0);
    }
    if (type == SAO_METRIC_HISTOGRAM) {
        if (!bounds || bound_count == 0) {
            bounds = default_buckets;
            bound_count = SAO_ARRAY_LEN(default_buckets);
        }
        for (size_t i = 0; i < bound_count; i++) {
            SAO_ASSERT(isfinite(bounds[i]));
            SAO_ASSERT(i == 0 || bounds[i] > bounds[i - 1]);
        }
    }
    /* The process metrics are written by the registry itself; a second family of the same name
     * would make the rendering invalid. */
    SAO_ASSERT(!metrics->process_metrics || !sao_monitoring__process_has(name));

    pthread_mutex_lock(&metrics->lock);
    sao_metric *m = family_find(metrics, name);
    if (m) {
        SAO_ASSERT(family_matches(m, type, labels, label_count, bounds, bound_count));
    } else {
        m = family_new(metrics, type, name, help, labels, label_count, bounds, bound_count);
        metrics->families = sao_grow(metrics->families, &metrics->family_cap,
                                     metrics->family_count + 1, sizeof(*metrics->families));
        metrics->families[metrics->family_count++] = m;
    }
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

int sao_metrics_new(sao_metrics **out, int process_metrics)
{
    sao_metrics *metrics = sao_calloc(1, sizeof(*metrics));
    pthread_mutex_init(&metrics->lock, NULL);
    metrics->process_metrics = process_metrics != 0;
    metrics->dropped =
        family_new(metrics, SAO_METRIC_COUNTER, DROPPED_NAME,
                   "Label combinations refused because their family reached its series limit.",
                   NULL, 0, NULL, 0);
    *out = metrics;
    return 0;
}

void sao_metrics_free(sao_metrics *metrics)
{
    if (!metrics) return;
    for (size_t i = 0; i < metrics->family_count; i++) family_free(metrics->families[i]);
    sao_free(metrics->families);
    family_free(metrics->dropped);
    pthread_mutex_destroy(&metrics->lock);
    sao_free(metrics);
}

sao_metric *sao_metrics_counter(sao_metrics *metrics, const char *name, const char *help,
                                const char *const *label_names, size_t label_count)
{
    return family_register(metrics, SAO_METRIC_COUNTER, name, help, label_names, label_count, NULL,
                           0);
}

sao_metric *sao_metrics_gauge(sao_metrics *metrics, const char *name, const char *help,
                              const char *const *label_names, size_t label_count)
{
    return family_register(metrics, SAO_METRIC_GAUGE, name, help, label_names, label_count, NULL,
                           0);
}

sao_metric *sao_metrics_histogram(sao_metrics *metrics, const char *name, const char *help,
                                  const char *const *label_names, size_t label_count,
                                  const double *buckets, size_t bucket_count)
{
    return family_register(metrics, SAO_METRIC_HISTOGRAM, name, help, label_names, label_count,
                           buckets, bucket_count);
}

/* ---- series ---- */

/* FNV-1a over the label values, each followed by a 0xff byte (never part of UTF-8) so that
 * ("ab", "c") and ("a", "bc") hash apart. */
static uint64_t hash_values(const sao_metric *m, const char *const *values)
{
    uint64_t hash = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < m->label_count; i++) {
        SAO_ASSERT(values[i]);
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++) {
            hash ^= *p;
            hash *= UINT64_C(1099511628211);
        }
        hash ^= 0xff;
        hash *= UINT64_C(1099511628211);
    }
    return hash;
}

static int values_equal(const sao_metric *m, const series *s, const char *const *values)
{
    for (size_t i = 0; i < m->label_count; i++)
        if (strcmp(s->values[i], values[i]) != 0) return 0;
    return 1;
}

/* The link that points at the series with these values, or the NULL link ending its chain. */
static series **series_link(sao_metric *m, uint64_t hash, const char *const *values)
{
    series **link = &m->slots[hash & (m->slot_count - 1)];
    while (*link && !((*link)->hash == hash && values_equal(m, *link, values)))
        link = &(*link)->next;
    return link;
}

static void slots_grow(sao_metric *m)
{
    size_t slot_count = m->slot_count ? m->slot_count * 2 : 16;
    series **slots = sao_calloc(slot_count, sizeof(*slots));
    for (size_t i = 0; i < m->slot_count; i++) {
        series *s = m->slots[i];
        while (s) {
            series *next = s->next;
            size_t slot = s->hash & (slot_count - 1);
            s->next = slots[slot];
            slots[slot] = s;
            s = next;
        }
    }
    sao_free(m->slots);
    m->slots = slots;
    m->slot_count = slot_count;
}

static series *series_new(const sao_metric *m, uint64_t hash, const char *const *values)
{
    size_t lengths[SAO_METRIC_LABELS_MAX];
    size_t size = sizeof(series) + m->label_count * sizeof(char *);
    size_t bucket_offset = 0;
    if (m->type == SAO_METRIC_HISTOGRAM) {
        size = (size + _Alignof(uint64_t) - 1) / _Alignof(uint64_t) * _Alignof(uint64_t);
        bucket_offset = size;
        size += (m->bound_count + 1) * sizeof(uint64_t);
    }
    for (size_t i = 0; i < m->label_count; i++) {
        lengths[i] = strlen(values[i]);
        size += lengths[i] + 1;
    }
    char *block = sao_calloc(1, size);
    series *s = (series *)(void *)block;
    s->hash = hash;
    s->label_count = m->label_count;
    char *text = block + sizeof(series) + m->label_count * sizeof(char *);
    if (m->type == SAO_METRIC_HISTOGRAM) {
        s->buckets = (uint64_t *)(void *)(block + bucket_offset);
        text = block + bucket_offset + (m->bound_count + 1) * sizeof(uint64_t);
    }
    for (size_t i = 0; i < m->label_count; i++) {
        memcpy(text, values[i], lengths[i] + 1);
        s->values[i] = text;
        text += lengths[i] + 1;
    }
    return s;
}

/* The series for these values, created when new; NULL when the family is full. Called with the
 * family locked. */
static series *series_get(sao_metric *m, uint64_t hash, const char *const *values)
{
    if (m->slot_count) {
        series *s = *series_link(m, hash, values);
        if (s) return s;
    }
    if (m->series_count >= SAO_METRIC_SERIES_MAX) return NULL;
    if (m->series_count >= m->slot_count) slots_grow(m);
    series *s = series_new(m, hash, values);
    size_t slot = hash & (m->slot_count - 1);
    s->next = m->slots[slot];
    m->slots[slot] = s;
    m->series_count++;
    return s;
}

static void note_dropped(sao_metric *m)
{
    sao_metric_inc(m->registry->dropped, NULL, 1);
    if (!atomic_exchange(&m->warned_dropped, 1))
        sao_log(SAO_LOG_WARN, "monitoring",
                "%s: reached %d series; new label combinations are dropped and counted "
                "in " DROPPED_NAME,
                m->name, SAO_METRIC_SERIES_MAX);
}

enum { OP_INC, OP_SET, OP_OBSERVE };

static void update(sao_metric *m, const char *const *values, int op, double value)
{
    SAO_ASSERT(m->label_count == 0 || values);
    uint64_t hash = hash_values(m, values);
    size_t bucket = 0;
    if (op == OP_OBSERVE) {
        /* Binary search for the first bound >= value (le is inclusive); past the last bound the
         * observation belongs to +Inf alone. */
        size_t lo = 0, hi = m->bound_count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (value <= m->bounds[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        bucket = lo;
    }
    pthread_mutex_lock(&m->lock);
    series *s = series_get(m, hash, values);
    if (s) {
        if (op == OP_INC) {
            s->value += value;
        } else if (op == OP_SET) {
            s->value = value;
        } else {
            s->buckets[bucket]++;
            s->count++;
            s->value += value;
        }
    }
    pthread_mutex_unlock(&m->lock);
    /* Outside the family's lock: the dropped counter is another family, and a log sink may
     * itself update metrics. */
    if (!s) note_dropped(m);
}

void sao_metric_inc(sao_metric *metric, const char *const *label_values, double value)
{
    SAO_ASSERT(metric->type == SAO_METRIC_COUNTER || metric->type == SAO_METRIC_GAUGE);
    /* A counter that went down would read as a process restart to rate(); such an increment
     * is a caller's bug, but one a runtime value can trigger, so it is refused, not fatal. */
    if (metric->type == SAO_METRIC_COUNTER && !(value >= 0)) {
        if (!atomic_exchange(&metric->warned_negative, 1))
            sao_log(SAO_LOG_WARN, "monitoring",
                    "%s: ignored an increment of %g (counters only go up); later ones are "
                    "ignored silently",
                    metric->name, value);
        return;
    }
    update(metric, label_values, OP_INC, value);
}

void sao_metric_set(sao_metric *metric, const char *const *label_values, double value)
{
    SAO_ASSERT(metric->type == SAO_METRIC_GAUGE);
    update(metric, label_values, OP_SET, value);
}

void sao_metric_observe(sao_metric *metric, const char *const *label_values, double value)
{
    SAO_ASSERT(metric->type == SAO_METRIC_HISTOGRAM);
    /* NaN would poison _sum for the life of the process. */
    if (isnan(value)) return;
    update(metric, label_values, OP_OBSERVE, value);
}

void sao_metric_remove(sao_metric *metric, const char *const *label_values)
{
    SAO_ASSERT(metric->label_count == 0 || label_values);
    uint64_t hash = hash_values(metric, label_values);
    pthread_mutex_lock(&metric->lock);
    if (metric->slot_count) {
        series **link = series_link(metric, hash, label_values);
        series *s = *link;
        if (s) {
            *link = s->next;
            sao_free(s);
            metric->series_count--;
        }
    }
    pthread_mutex_unlock(&metric->lock);
}

void sao_metric_clear(sao_metric *metric)
{
    pthread_mutex_lock(&metric->lock);
    family_drop_series(metric);
    pthread_mutex_unlock(&metric->lock);
}

double sao_metric_value(sao_metric *metric, const char *const *label_values)
{
    SAO_ASSERT(metric->label_count == 0 || label_values);
    uint64_t hash = hash_values(metric, label_values);
    double value = 0;
    pthread_mutex_lock(&metric->lock);
    if (metric->slot_count) {
        const series *s = *series_link(metric, hash, label_values);
        if (s) value = metric->type == SAO_METRIC_HISTOGRAM ? (double)s->count : s->value;
    }
    pthread_mutex_unlock(&metric->lock);
    return value;
}

/* ---- rendering ---- */

void sao_monitoring__format_number(char *buf, size_t size, double value)
{
    if (isnan(value)) {
        sao_strlcpy(buf, "NaN", size);
    } else if (isinf(value)) {
        sao_strlcpy(buf, value > 0 ? "+Inf" : "-Inf", size);
    } else {
        /* The fewest significant digits that parse back to the same double, as the client
         * libraries print (0.1, not 0.10000000000000001); integers without ".0", and -0 as 0. */
        char text[SAO_DOUBLE_TEXT_MAX];
        sao_format_double(text, value == 0 ? 0.0 : value);
        sao_strlcpy(buf, text, size);
    }
}

/* Appends help text (quote 0) or a label value (quote 1) with the format's escapes. Malformed
 * UTF-8 becomes U+FFFD: Prometheus rejects a whole scrape over one bad byte, and label values
 * can come from requests. */
int sao_monitoring__append_escaped(sao_buf *out, const char *text, int quote)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *const end = p + strlen(text);
    const unsigned char *run = p;
    int rc = 0;
    while (*p) {
        const char *escape = NULL;
        size_t len = 1;
        if (*p == '\\') {
            escape = "\\\\";
        } else if (*p == '\n') {
            escape = "\\n";
        } else if (*p == '"' && quote) {
            escape = "\\\"";
        } else if (*p >= 0x80) {
            len = sao_utf8_sequence(p, (size_t)(end - p));
            if (!len) {
                escape = "\xef\xbf\xbd";
                len = 1;
            }
        }
        if (!escape) {
            p += len;
            continue;
        }
        rc = sao_buf_append(out, run, (size_t)(p - run));
        if (!rc) rc = sao_buf_append(out, escape, strlen(escape));
        if (rc) return rc;
        p += len;
        run = p;
    }
    return sao_buf_append(out, run, (size_t)(p - run));
}

/* {a="x",b="y"} with an optional le="..." last; nothing at all when there is neither. */
static int append_labels(sao_buf *out, const sao_metric *m, const series *s, const char *le)
{
    if (m->label_count == 0 && !le) return 0;
    int rc = sao_buf_append(out, "{", 1);
    for (size_t i = 0; !rc && i < m->label_count; i++) {
        rc = sao_buf_appendf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        if (!rc) rc = sao_monitoring__append_escaped(out, s->values[i], 1);
        if (!rc) rc = sao_buf_append(out, "\"", 1);
    }
    if (!rc && le) rc = sao_buf_appendf(out, "%sle=\"%s\"", m->label_count ? "," : "", le);
    if (!rc) rc = sao_buf_append(out, "}", 1);
    return rc;
}

static int append_sample(sao_buf *out, const sao_metric *m, const char *suffix, const series *s,
                         const char *le, double value)
{
    char number[40];
    sao_monitoring__format_number(number, sizeof(number), value);
    int rc = sao_buf_appendf(out, "%s%s", m->name, suffix);
    if (!rc) rc = append_labels(out, m, s, le);
    if (!rc) rc = sao_buf_appendf(out, " %s\n", number);
    return rc;
}

static int append_series(sao_buf *out, const sao_metric *m, const series *s)
{
    if (m->type != SAO_METRIC_HISTOGRAM) return append_sample(out, m, "", s, NULL, s->value);
    int rc = 0;
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; !rc && i < m->bound_count; i++) {
        cumulative += s->buckets[i];
        sao_monitoring__format_number(le, sizeof(le), m->bounds[i]);
        rc = append_sample(out, m, "_bucket", s, le, (double)cumulative);
    }
    if (!rc) rc = append_sample(out, m, "_bucket", s, "+Inf", (double)s->count);
    if (!rc) rc = append_sample(out, m, "_sum", s, NULL, s->value);
    if (!rc) rc = append_sample(out, m, "_count", s, NULL, (double)s->count);
    return rc;
}

static int series_compare(const void *a, const void *b)
{
    const series *sa = *(const series *const *)a;
    const series *sb = *(const series *const *)b;
    for (size_t i = 0; i < sa->label_count; i++) {
        int c = strcmp(sa->values[i], sb->values[i]);
        if (c) return c;
    }
    return 0;
}

static const char *type_name(sao_metric_type type)
{
    switch (type) {
    case SAO_METRIC_COUNTER:
        return "counter";
    case SAO_METRIC_GAUGE:
        return "gauge";
    case SAO_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static int render_family(sao_metric *m, sao_buf *out)
{
    int rc = sao_buf_appendf(out, "# HELP %s ", m->name);
    if (!rc) rc = sao_monitoring__append_escaped(out, m->help, 0);
    if (!rc) rc = sao_buf_appendf(out, "\n# TYPE %s %s\n", m->name, type_name(m->type));
    if (rc) return rc;

    pthread_mutex_lock(&m->lock);
    if (m->series_count == 0 && m->label_count == 0) {
        /* A family without labels has exactly one series, which exists from the start. */
        size_t size = sizeof(series) + (m->bound_count + 1) * sizeof(uint64_t);
        series *zero = sao_calloc(1, size);
        zero->buckets = (uint64_t *)(void *)(zero + 1);
        rc = append_series(out, m, zero);
        sao_free(zero);
    } else if (m->series_count) {
        series **sorted = sao_malloc(m->series_count * sizeof(*sorted));
        size_t n = 0;
        for (size_t i = 0; i < m->slot_count; i++)
            for (series *s = m->slots[i]; s; s = s->next) sorted[n++] = s;
        qsort(sorted, n, sizeof(*sorted), series_compare);
        for (size_t i = 0; !rc && i < n; i++) rc = append_series(out, m, sorted[i]);
        sao_free(sorted);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int sao_metrics_render(sao_metrics *metrics, sao_buf *out)
{
    size_t start = out->len;
    int rc = 0;
    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; !rc && i < metrics->family_count; i++)
        rc = render_family(metrics->families[i], out);
    if (!rc) rc = render_family(metrics->dropped, out);
    pthread_mutex_unlock(&metrics->lock);
    if (!rc && metrics->process_metrics) rc = sao_monitoring__process_render(out);
    if (rc) {
        /* Leave the caller's buffer as it was rather than with half a family. */
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}
