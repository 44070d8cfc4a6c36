/*
 * Indicator throughput: the full stored feature set (sao_features_compute) over every real
 * *_johnvb21.csv daily series, repeated until at least 5 million rows, on one core. Prints one
 * JSON line with rows/s and peak RSS; bench_indicators_pandas.py does the same work in pandas.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "core/core.h"
#include "features/features.h"

#define MIN_ROWS 5000000
#define MAX_FILES 64

typedef struct series {
    char name[256];
    size_t count;
    double *open, *high, *low, *close, *volume;
} series;

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const series *)a)->name, ((const series *)b)->name);
}

/* Yahoo classic CSV: Date,Open,High,Low,Close,Adj Close,Volume (columns found by name). */
static int load_series(series *s, const char *path)
{
    char *text;
    size_t len;
    int rc = sao_file_read(&text, &len, path, (size_t)256 << 20);
    if (rc) return rc;
    const char *wanted[5] = {"Open", "High", "Low", "Close", "Volume"};
    int index[5] = {-1, -1, -1, -1, -1};
    char *line = text, *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    int col = 0;
    char *save = NULL;
    for (char *cell = strtok_r(line, ",\r", &save); cell;
         cell = strtok_r(NULL, ",\r", &save), col++)
        for (int k = 0; k < 5; k++)
            if (strcasecmp(cell, wanted[k]) == 0) index[k] = col;
    for (int k = 0; k < 5; k++)
        if (index[k] < 0) {
            sao_free(text);
            return sao_error_set(SAO_EFORMAT, "%s: no %s column", path, wanted[k]);
        }
    size_t cap = 0;
    double **dst[5] = {&s->open, &s->high, &s->low, &s->close, &s->volume};
    s->count = 0;
    for (line = next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        double values[5] = {NAN, NAN, NAN, NAN, NAN};
        col = 0;
        for (char *p = line; p; col++) {
            char *comma = strchr(p, ',');
            for (int k = 0; k < 5; k++)
                if (index[k] == col) values[k] = strtod(p, NULL);
            p = comma ? comma + 1 : NULL;
        }
        if (s->count == cap) {
            size_t new_cap = cap ? 2 * cap : 4096;
            for (int k = 0; k < 5; k++) *dst[k] = sao_realloc(*dst[k], new_cap * sizeof(double));
            cap = new_cap;
        }
        for (int k = 0; k < 5; k++) (*dst[k])[s->count] = values[k];
        s->count++;
    }
    sao_free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *shared = getenv("SAO_SHARED_DIR");
    if (!shared || !*shared) shared = "../shared";
    char dir_path[4096];
    snprintf(dir_path, sizeof(dir_path), "%s/data/ohlcv", argc > 1 ? argv[1] : shared);

    DIR *dir = opendir(dir_path);
    if (!dir) {
        fprintf(stderr, "cannot open %s (set SAO_SHARED_DIR)\n", dir_path);
        return 1;
    }
    static series all[MAX_FILES];
    size_t nfiles = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (!ends_with(e->d_name, "_johnvb21.csv") || nfiles == MAX_FILES) continue;
        sao_strlcpy(all[nfiles++].name, e->d_name, sizeof(all[0].name));
    }
    closedir(dir);
    if (nfiles == 0) {
        fprintf(stderr, "no *_johnvb21.csv in %s\n", dir_path);
        return 1;
    }
    qsort(all, nfiles, sizeof(all[0]), compare_names);
    size_t rows_per_pass = 0;
    for (size_t i = 0; i < nfiles; i++) {
        char path[4352];
        snprintf(path, sizeof(path), "%s/%s", dir_path, all[i].name);
        if (load_series(&all[i], path) != 0) {
            fprintf(stderr, "%s\n", sao_error_last());
            return 1;
        }
        rows_per_pass += all[i].count;
    }

    /* Timed: the indicators only, series after series, as ingestion computes them. */
    size_t rows = 0, computed = 0, columns = 0;
    double checksum = 0.0;
    double start = sao_monotonic();
    while (rows < MIN_ROWS) {
        for (size_t i = 0; i < nfiles && rows < MIN_ROWS; i++) {
            const series *s = &all[i];
            sao_ohlcv_view view = {s->count, NULL, s->open, s->high, s->low, s->close, s->volume};
            sao_feature_table table;
            if (sao_features_compute(&table, &view, 0) != 0) {
                fprintf(stderr, "%s\n", sao_error_last());
                return 1;
            }
            /* Reading the last row keeps the work observable. */
            for (size_t c = 0; c < table.columns; c++)
                checksum += sao_feature_column(&table, c)[table.count - 1];
            columns = table.columns;
            sao_feature_table_dispose(&table);
            rows += s->count;
            computed++;
        }
    }
    double seconds = sao_monotonic() - start;

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("{\"bench\":\"indicators\",\"impl\":\"c\",\"tickers\":%zu,\"series\":%zu,"
           "\"rows\":%zu,\"rows_per_pass\":%zu,\"columns\":%zu,\"seconds\":%.4f,"
           "\"rows_per_s\":%.0f,\"peak_rss_kb\":%ld,\"checksum\":%.6e}\n",
           nfiles, computed, rows, rows_per_pass, columns, seconds, rows / seconds, usage.ru_maxrss,
           checksum);
    for (size_t i = 0; i < nfiles; i++) {
        sao_free(all[i].open);
        sao_free(all[i].high);
        sao_free(all[i].low);
        sao_free(all[i].close);
        sao_free(all[i].volume);
    }
    return 0;
}
