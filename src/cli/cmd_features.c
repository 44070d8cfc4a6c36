/*
 * `sao features`: reads features back. `online` prints one ticker's features from the Redis
 * online store; `historical` runs a point-in-time join over the offline store for entity rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/data.h"
#include "store/store.h"

#define LIST_TAIL 3 /* list values shown in a table: the length and the last few */
#define MAX_FEATURE_REFS 4096

void sao_cmd_features_help(FILE *out)
{
    fprintf(
        out,
        "usage: sao features online TICKER [--view V] [--features a,b] [--repo DIR]\n"
        "                               [--format table|json]\n"
        "       sao features historical --entities FILE --features view:feat[,view:feat...]\n"
        "                               --out FILE.parquet|- [--repo DIR]\n\n"
        "online      The features of TICKER in the Redis online store (what `sao materialize`\n"
        "            wrote), with each view's event timestamp. Every view unless --view;\n"
        "            --features keeps only the named features. List features (model windows)\n"
        "            show their length and last values in a table, all values in JSON.\n"
        "historical  Feast's get_historical_features: for each entity row (ticker,\n"
        "            event_timestamp) the newest offline row of each view at or before the\n"
        "            timestamp and no older than the view's ttl; null where there is none.\n"
        "            FILE is a CSV with a header naming ticker and event_timestamp (dates or\n"
        "            ISO 8601 date-times, UTC unless they carry an offset; other columns are\n"
        "            ignored) or a Parquet file with those columns. --features may be repeated.\n"
        "            Writes Parquet (ticker, event_timestamp, one column per feature, named\n"
        "            view__feature where two views share a feature name) and prints a summary;\n"
        "            --out - prints CSV to stdout instead.\n\n"
        "  --repo DIR   feature repository (default: SAO_FEATURE_REPO)\n\n"
        "Exit status: 0 on success, 1 on failure (a ticker without online data included),\n"
        "2 on usage errors.\n");
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static void format_double(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
}

/* ISO 8601 UTC, with microseconds only when there are some. */
static void format_ts(char *buf, size_t size, int64_t us)
{
    int64_t days = us >= 0 ? us / SAO_US_PER_DAY : -((-us + SAO_US_PER_DAY - 1) / SAO_US_PER_DAY);
    int64_t rem = us - days * SAO_US_PER_DAY;
    int y, m, d;
    sao_civil_from_days(days, &y, &m, &d);
    int secs = (int)(rem / 1000000), micros = (int)(rem % 1000000);
    if (micros)
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, secs / 3600,
                 secs / 60 % 60, secs % 60, micros);
    else
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, secs / 3600, secs / 60 % 60,
                 secs % 60);
}

static void json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* A number, or null for NaN and infinities (JSON has neither). */
static void json_number(FILE *out, double v)
{
    char num[40];
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    format_double(num, sizeof(num), v);
    fputs(num, out);
}

/* Splits a comma list in place, appending its non-empty items to `items`. */
static int split_list(char *list, const char **items, size_t *count, size_t max)
{
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        if (*count == max) return -1;
        items[(*count)++] = tok;
    }
    return 0;
}

/* ---- online ---- */

/* A value as table text: numbers, strings, null, and lists as "[N] ... last values". */
static void table_value(char *buf, size_t size, const sao_feast_value *v)
{
    char num[40];
    size_t used;
    switch (v->type) {
    case SAO_FEAST_NULL:
        snprintf(buf, size, "null");
        return;
    case SAO_FEAST_DOUBLE:
        if (isnan(v->as.f64))
            snprintf(buf, size, "null");
        else
            format_double(buf, size, v->as.f64);
        return;
    case SAO_FEAST_FLOAT:
        format_double(buf, size, v->as.f32);
        return;
    case SAO_FEAST_INT64:
    case SAO_FEAST_UNIX_TIMESTAMP:
        snprintf(buf, size, "%lld", (long long)v->as.i64);
        return;
    case SAO_FEAST_INT32:
        snprintf(buf, size, "%d", (int)v->as.i32);
        return;
    case SAO_FEAST_BOOL:
        snprintf(buf, size, "%s", v->as.boolean ? "true" : "false");
        return;
    case SAO_FEAST_STRING:
    case SAO_FEAST_BYTES:
        snprintf(buf, size, "%.*s", (int)(v->as.str.len < 60 ? v->as.str.len : 60), v->as.str.data);
        return;
    case SAO_FEAST_DOUBLE_LIST: {
        size_t n = v->as.f64_list.len;
        size_t first = n > LIST_TAIL ? n - LIST_TAIL : 0;
        snprintf(buf, size, "[%zu]%s", n, first ? " ..." : "");
        for (size_t i = first; i < n; i++) {
            double x = v->as.f64_list.data[i];
            if (isnan(x))
                snprintf(num, sizeof(num), "null");
            else
                format_double(num, sizeof(num), x);
            used = strlen(buf);
            snprintf(buf + used, size - used, "%s %s", i > first ? "," : "", num);
        }
        return;
    }
    }
    snprintf(buf, size, "?");
}

static void json_value(FILE *out, const sao_feast_value *v)
{
    switch (v->type) {
    case SAO_FEAST_DOUBLE:
        json_number(out, v->as.f64);
        return;
    case SAO_FEAST_FLOAT:
        json_number(out, v->as.f32);
        return;
    case SAO_FEAST_INT64:
    case SAO_FEAST_UNIX_TIMESTAMP:
        fprintf(out, "%lld", (long long)v->as.i64);
        return;
    case SAO_FEAST_INT32:
        fprintf(out, "%d", (int)v->as.i32);
        return;
    case SAO_FEAST_BOOL:
        fputs(v->as.boolean ? "true" : "false", out);
        return;
    case SAO_FEAST_STRING:
    case SAO_FEAST_BYTES:
        json_string(out, v->as.str.data, v->as.str.len);
        return;
    case SAO_FEAST_DOUBLE_LIST:
        fputc('[', out);
        for (size_t i = 0; i < v->as.f64_list.len; i++) {
            if (i) fputc(',', out);
            json_number(out, v->as.f64_list.data[i]);
        }
        fputc(']', out);
        return;
    case SAO_FEAST_NULL:
        break;
    }
    fputs("null", out);
}

typedef struct online_args {
    const char *ticker;
    const char *view;
    char *features; /* comma list, split in place */
    const char *repo;
    int json;
} online_args;

static int run_online(const online_args *args)
{
    char ticker[SAO_TICKER_MAX + 1];
    if (sao_ticker_normalize(ticker, args->ticker) != 0) {
        fprintf(stderr, "sao features online: %s\n", sao_error_last());
        return SAO_EXIT_USAGE;
    }
    const char *wanted[256];
    size_t wanted_count = 0;
    if (args->features &&
        (split_list(args->features, wanted, &wanted_count, SAO_ARRAY_LEN(wanted)) != 0 ||
         wanted_count == 0)) {
        fprintf(stderr, "sao features online: --features takes 1 to %zu names\n",
                SAO_ARRAY_LEN(wanted));
        return SAO_EXIT_USAGE;
    }

    sao_fs_repo *repo = NULL;
    sao_online *online = NULL;
    sao_arena *arena = NULL;
    const char **names = NULL;
    sao_feast_value *values = NULL;
    int status = SAO_EXIT_OK, rc;
    size_t printed_views = 0, missing_views = 0;
    if ((rc = sao_fs_repo_load(&repo, args->repo)))
        return sao_cli_fail("features online", rc, "invalid feature repository");
    if (args->view && !sao_fs_repo_view(repo, args->view)) {
        fprintf(stderr,
                "sao features online: no feature view '%s' in the repository (views:", args->view);
        for (size_t i = 0; i < repo->view_count; i++)
            fprintf(stderr, "%s %s", i ? "," : "", repo->views[i].name);
        fprintf(stderr, ")\n");
        status = SAO_EXIT_FAIL;
        goto done;
    }
    for (size_t w = 0; w < wanted_count; w++) {
        int found = 0;
        for (size_t i = 0; i < repo->view_count && !found; i++)
            if (!args->view || strcmp(repo->views[i].name, args->view) == 0)
                found = sao_fs_view_field(&repo->views[i], wanted[w]) >= 0;
        if (!found) {
            fprintf(stderr, "sao features online: no feature '%s' in %s%s\n", wanted[w],
                    args->view ? "view " : "any view", args->view ? args->view : "");
            status = SAO_EXIT_FAIL;
            goto done;
        }
    }

    sao_online_config cfg;
    if ((rc = sao_fs_online_config(&cfg, repo))) {
        status = sao_cli_fail("features online", rc, "online store settings");
        goto done;
    }
    if ((rc = sao_online_connect(&online, &cfg))) {
        status = sao_cli_fail("features online", rc, "cannot reach the online store");
        goto done;
    }
    arena = sao_arena_new(0);
    if (args->json) {
        printf("{\"ticker\":\"%s\",\"project\":", ticker);
        json_string(stdout, repo->project, strlen(repo->project));
        printf(",\"views\":[");
    }

    for (size_t i = 0; i < repo->view_count; i++) {
        const sao_fs_view *view = &repo->views[i];
        if (args->view && strcmp(view->name, args->view) != 0) continue;
        size_t count = 0;
        names = sao_realloc(names, (view->field_count ? view->field_count : 1) * sizeof(*names));
        for (size_t f = 0; f < view->field_count; f++) {
            int keep = wanted_count == 0;
            for (size_t w = 0; w < wanted_count && !keep; w++)
                keep = strcmp(view->fields[f].name, wanted[w]) == 0;
            if (keep) names[count++] = view->fields[f].name;
        }
        if (count == 0) continue;
        values = sao_realloc(values, count * sizeof(*values));
        int64_t event_us;
        rc = sao_online_read(online, view->name, names, count, ticker, values, &event_us, arena);
        if (rc == SAO_ENOENT) {
            fprintf(stderr,
                    "%s has no online data in view %s (run: sao materialize-incremental "
                    "now)\n",
                    ticker, view->name);
            missing_views++;
            continue;
        }
        if (rc) {
            status = sao_cli_fail("features online", rc, view->name);
            goto finish;
        }
        char ts[40], text[512];
        format_ts(ts, sizeof(ts), event_us);
        if (args->json) {
            printf("%s{\"view\":\"%s\",\"event_timestamp\":\"%s\",\"features\":{",
                   printed_views ? "," : "", view->name, ts);
            for (size_t f = 0; f < count; f++) {
                printf("%s\"%s\":", f ? "," : "", names[f]);
                json_value(stdout, &values[f]);
            }
            printf("}}");
        } else {
            if (!printed_views)
                printf("%-18s %-22s %-40s %s\n", "view", "feature", "value", "event_timestamp");
            for (size_t f = 0; f < count; f++) {
                table_value(text, sizeof(text), &values[f]);
                printf("%-18s %-22s %-40s %s\n", view->name, names[f], text, ts);
            }
        }
        printed_views++;
    }
finish:
    if (args->json) printf("]}\n");
    if (status == SAO_EXIT_OK && missing_views) status = SAO_EXIT_FAIL;
    if (fflush(stdout) != 0) status = SAO_EXIT_FAIL;
done:
    sao_free(values);
    sao_free((void *)names);
    sao_arena_free(arena);
    sao_online_close(online);
    sao_fs_repo_free(repo);
    return status;
}

/* ---- historical ---- */

static void print_csv(const sao_fs_entity_rows *rows, const sao_fs_historical_result *res)
{
    char ts[40], num[40];
    printf("ticker,event_timestamp");
    for (size_t c = 0; c < res->columns; c++) printf(",%s", res->names[c]);
    printf("\n");
    for (size_t r = 0; r < res->rows; r++) {
        format_ts(ts, sizeof(ts), rows->event_ts_us[r]);
        printf("%s,%s", rows->tickers[r], ts); /* valid tickers need no quoting */
        for (size_t c = 0; c < res->columns; c++) {
            if (res->valid[c][r]) format_double(num, sizeof(num), res->values[c][r]);
            printf(",%s", res->valid[c][r] ? num : "");
        }
        printf("\n");
    }
}

static void print_summary(FILE *out, const char *dest, const sao_fs_historical_result *res,
                          double seconds)
{
    int to_stdout = strcmp(dest, "-") == 0;
    fprintf(out,
            "%s %zu rows x %zu columns (ticker, event_timestamp, %zu features)%s%s in %.2f s\n",
            to_stdout ? "Printed" : "Wrote", res->rows, res->columns + 2, res->columns,
            to_stdout ? "" : " to ", to_stdout ? "" : dest, seconds);
    fprintf(out, "  %-32s %s\n", "column", "nulls");
    for (size_t c = 0; c < res->columns; c++) {
        size_t nulls = 0;
        for (size_t r = 0; r < res->rows; r++) nulls += !res->valid[c][r];
        fprintf(out, "  %-32s %zu (%.1f%%)\n", res->names[c], nulls,
                res->rows ? 100.0 * (double)nulls / (double)res->rows : 0.0);
    }
}

typedef struct historical_args {
    const char *entities;
    const char *out;
    const char *repo;
    const char **refs;
    size_t ref_count;
} historical_args;

static int run_historical(const historical_args *args)
{
    const char *cmd = "features historical";
    if (!args->entities || !args->ref_count || !args->out) {
        fprintf(stderr, "sao %s: %s is required (see: sao features --help)\n", cmd,
                !args->entities    ? "--entities FILE"
                : !args->ref_count ? "--features view:feature[,...]"
                                   : "--out FILE.parquet (or - for CSV on stdout)");
        return SAO_EXIT_USAGE;
    }
    sao_fs_repo *repo = NULL;
    sao_fs_entity_rows rows = {0};
    sao_fs_historical_result res = {0};
    int status = SAO_EXIT_OK;
    int to_stdout = strcmp(args->out, "-") == 0;
    int rc = sao_fs_repo_load(&repo, args->repo);
    if (rc) return sao_cli_fail(cmd, rc, "invalid feature repository");
    if ((rc = sao_fs_entity_rows_read(&rows, args->entities))) {
        status = sao_cli_fail(cmd, rc, "entity rows");
        goto done;
    }
    double started = sao_monotonic();
    if ((rc = sao_fs_historical(&res, repo, &rows, args->refs, args->ref_count))) {
        status = sao_cli_fail(cmd, rc, "point-in-time join");
        goto done;
    }
    if (to_stdout) {
        print_csv(&rows, &res);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "sao %s: writing to stdout failed\n", cmd);
            status = SAO_EXIT_FAIL;
            goto done;
        }
        print_summary(stderr, args->out, &res, sao_monotonic() - started);
    } else {
        if ((rc = sao_fs_historical_write(args->out, &rows, &res))) {
            status = sao_cli_fail(cmd, rc, args->out);
            goto done;
        }
        print_summary(stdout, args->out, &res, sao_monotonic() - started);
    }
done:
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
    sao_fs_repo_free(repo);
    return status;
}

int sao_cmd_features(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "online") != 0 && strcmp(argv[1], "historical") != 0)) {
        fprintf(stderr, "sao features: expected 'online' or 'historical'%s%s%s\n\n",
                argc >= 2 ? ", not '" : "", argc >= 2 ? argv[1] : "", argc >= 2 ? "'" : "");
        sao_cmd_features_help(stderr);
        return SAO_EXIT_USAGE;
    }
    int historical = strcmp(argv[1], "historical") == 0;
    const char *sub = historical ? "features historical" : "features online";
    online_args on = {0};
    historical_args hist = {0};
    const char *format = "table", *v;
    char **lists = sao_calloc((size_t)argc, sizeof(*lists)); /* --features values, split here */
    size_t list_count = 0;
    int status = SAO_EXIT_USAGE;
    hist.refs = sao_calloc(MAX_FEATURE_REFS, sizeof(*hist.refs));

    for (int i = 2; i < argc; i++) {
        int r;
        if ((r = sao_cli_option(argc, argv, &i, "repo", &v)) != 0) {
            if (r < 0) goto done;
            on.repo = hist.repo = v;
        } else if ((r = sao_cli_option(argc, argv, &i, "features", &v)) != 0) {
            if (r < 0) goto done;
            lists[list_count++] = sao_strdup(v);
        } else if (!historical && (r = sao_cli_option(argc, argv, &i, "view", &v)) != 0) {
            if (r < 0) goto done;
            on.view = v;
        } else if (!historical && (r = sao_cli_option(argc, argv, &i, "format", &v)) != 0) {
            if (r < 0) goto done;
            format = v;
        } else if (historical && (r = sao_cli_option(argc, argv, &i, "entities", &v)) != 0) {
            if (r < 0) goto done;
            hist.entities = v;
        } else if (historical && (r = sao_cli_option(argc, argv, &i, "out", &v)) != 0) {
            if (r < 0) goto done;
            hist.out = v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sao %s: unknown option '%s'\n", sub, argv[i]);
            goto done;
        } else if (!historical && !on.ticker) {
            on.ticker = argv[i];
        } else {
            fprintf(stderr, "sao %s: unexpected argument '%s'\n", sub, argv[i]);
            goto done;
        }
    }

    if (historical) {
        for (size_t l = 0; l < list_count; l++)
            if (split_list(lists[l], hist.refs, &hist.ref_count, MAX_FEATURE_REFS) != 0) {
                fprintf(stderr, "sao %s: more than %d features\n", sub, MAX_FEATURE_REFS);
                goto done;
            }
        status = run_historical(&hist);
        goto done;
    }
    if (!on.ticker) {
        fprintf(stderr, "sao %s: no ticker given\n", sub);
        goto done;
    }
    if (strcmp(format, "json") == 0)
        on.json = 1;
    else if (strcmp(format, "table") != 0) {
        fprintf(stderr, "sao %s: --format must be table or json\n", sub);
        goto done;
    }
    if (list_count > 1) {
        /* Several --features: one comma list. */
        sao_buf joined;
        sao_buf_init(&joined, 0);
        for (size_t l = 0; l < list_count; l++)
            sao_buf_appendf(&joined, "%s%s", l ? "," : "", lists[l]);
        sao_free(lists[0]);
        lists[0] = sao_buf_detach(&joined, NULL);
    }
    on.features = list_count ? lists[0] : NULL;
    status = run_online(&on);
done:
    for (size_t l = 0; l < list_count; l++) sao_free(lists[l]);
    sao_free(lists);
    sao_free((void *)hist.refs);
    return status;
}
