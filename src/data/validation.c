/*
 * Validation of daily bars before they are stored: finite positive prices, consistent
 * high/low, non-negative volume, one bar per day in order, and gap warnings. Either rejects
 * the batch untouched or drops the bad rows, and reports every issue.
 */
#include "data/data_int.h"

#include <math.h>
#include <string.h>

void sao_validation_report_init(sao_validation_report *report)
{
    memset(report, 0, sizeof(*report));
}

void sao_validation_report_dispose(sao_validation_report *report)
{
    if (!report) return;
    sao_free(report->issues);
    memset(report, 0, sizeof(*report));
}

static void report_reset(sao_validation_report *report)
{
    sao_issue *issues = report->issues;
    size_t cap = report->issue_cap;
    memset(report, 0, sizeof(*report));
    report->issues = issues;
    report->issue_cap = cap;
}

const char *sao_issue_kind_name(sao_issue_kind kind)
{
    switch (kind) {
    case SAO_ISSUE_DUPLICATE_DATE:
        return "duplicate_date";
    case SAO_ISSUE_UNSORTED:
        return "unsorted";
    case SAO_ISSUE_NONPOSITIVE_PRICE:
        return "nonpositive_price";
    case SAO_ISSUE_HIGH_BELOW:
        return "high_below";
    case SAO_ISSUE_LOW_ABOVE:
        return "low_above";
    case SAO_ISSUE_NEGATIVE_VOLUME:
        return "negative_volume";
    case SAO_ISSUE_NOT_FINITE:
        return "not_finite";
    case SAO_ISSUE_GAP:
        return "gap";
    case SAO_ISSUE__COUNT:
        break;
    }
    return "unknown";
}

static void add_issue(sao_validation_report *report, sao_issue_kind kind, size_t row, int64_t day,
                      const char *fmt, ...) SAO_PRINTF(5, 6);

static void add_issue(sao_validation_report *report, sao_issue_kind kind, size_t row, int64_t day,
                      const char *fmt, ...)
{
    report->counts[kind]++;
    if (report->issue_count >= SAO_VALIDATION_MAX_ISSUES) {
        report->issues_not_stored++;
        return;
    }
    report->issues = sao_grow(report->issues, &report->issue_cap, report->issue_count + 1,
                              sizeof(sao_issue));
    sao_issue *issue = &report->issues[report->issue_count++];
    issue->kind = kind;
    issue->row = row;
    issue->day = day;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(issue->message, sizeof(issue->message), fmt, ap);
    va_end(ap);
}

/* a is below b by more than the float slack. */
static int below(double a, double b)
{
    return a < b - SAO_VALIDATION_REL_TOL * fabs(b);
}

/* Value checks of one row; returns whether the row has an error. */
static int check_values(const sao_bars *bars, size_t i, sao_validation_report *report)
{
    static const char *const names[] = {"open", "high", "low", "close", "adj_close", "volume"};
    const double v[] = {bars->open[i],  bars->high[i],      bars->low[i],
                        bars->close[i], bars->adj_close[i], bars->volume[i]};
    int64_t day = bars->day[i];
    char date[16];
    sao_date_format(day, date, sizeof(date));
    for (size_t k = 0; k < SAO_ARRAY_LEN(v); k++) {
        if (!isfinite(v[k])) {
            add_issue(report, SAO_ISSUE_NOT_FINITE, i, day, "%s: %s is %g", date, names[k], v[k]);
            return 1;
        }
    }
    int bad = 0;
    for (size_t k = 0; k < 5; k++) {
        if (v[k] <= 0) {
            add_issue(report, SAO_ISSUE_NONPOSITIVE_PRICE, i, day, "%s: %s is %.10g", date,
                      names[k], v[k]);
            bad = 1;
            break;
        }
    }
    if (!bad) {
        double open = v[0], high = v[1], low = v[2], close = v[3];
        if (below(high, open) || below(high, close) || below(high, low)) {
            const char *what = below(high, low) ? "low" : below(high, open) ? "open" : "close";
            double bound = below(high, low) ? low : below(high, open) ? open : close;
            add_issue(report, SAO_ISSUE_HIGH_BELOW, i, day, "%s: high %.10g is below %s %.10g",
                      date, high, what, bound);
            bad = 1;
        }
        if (below(open, low) || below(close, low)) {
            const char *what = below(open, low) ? "open" : "close";
            double bound = below(open, low) ? open : close;
            add_issue(report, SAO_ISSUE_LOW_ABOVE, i, day, "%s: low %.10g is above %s %.10g", date,
                      low, what, bound);
            bad = 1;
        }
    }
    if (v[5] < 0) {
        add_issue(report, SAO_ISSUE_NEGATIVE_VOLUME, i, day, "%s: volume is %.10g", date, v[5]);
        bad = 1;
    }
    return bad;
}

typedef struct issue_key {
    size_t row;
    size_t seq;
} issue_key;

/* Puts the issues in row order, keeping the order of issues within a row (stable). */
static void sort_issues(sao_validation_report *report)
{
    size_t count = report->issue_count;
    int sorted = 1;
    for (size_t i = 1; i < count && sorted; i++)
        if (report->issues[i].row < report->issues[i - 1].row) sorted = 0;
    if (sorted) return;
    /* Rows are row numbers: reuse the stable day sort on them. */
    int64_t *rows = sao_malloc(count * sizeof(int64_t));
    for (size_t i = 0; i < count; i++) rows[i] = (int64_t)report->issues[i].row;
    size_t *order = sao_data__sort_order(rows, count);
    sao_issue *sorted_issues = sao_malloc(count * sizeof(sao_issue));
    for (size_t i = 0; i < count; i++) sorted_issues[i] = report->issues[order[i]];
    memcpy(report->issues, sorted_issues, count * sizeof(sao_issue));
    sao_free(sorted_issues);
    sao_free(order);
    sao_free(rows);
}

int sao_validate_bars(sao_bars *bars, sao_validation_report *report, int drop_invalid,
                      int max_gap_days)
{
    int rc = 0;
    size_t count = bars->count;
    unsigned char *bad = NULL;
    size_t *order = NULL;
    report_reset(report);
    report->rows_checked = count;

    sao_asset_class cls = sao_ticker_asset_class(bars->ticker);
    int gap_limit = max_gap_days > 0 ? max_gap_days
                    : cls == SAO_ASSET_CRYPTO ? SAO_VALIDATION_GAP_DAYS_CRYPTO
                                              : SAO_VALIDATION_GAP_DAYS;
    bad = sao_calloc(count ? count : 1, 1);

    for (size_t i = 0; i < count; i++) bad[i] = (unsigned char)check_values(bars, i, report);

    /* Order: a day earlier than the latest seen so far. Dropping mode repairs it by sorting. */
    int64_t latest = count ? bars->day[0] : 0;
    for (size_t i = 1; i < count; i++) {
        if (bars->day[i] < latest) {
            char date[16], prev[16];
            sao_date_format(bars->day[i], date, sizeof(date));
            sao_date_format(latest, prev, sizeof(prev));
            add_issue(report, SAO_ISSUE_UNSORTED, i, bars->day[i], "%s comes after %s", date,
                      prev);
            if (!drop_invalid) bad[i] = 1;
        } else {
            latest = bars->day[i];
        }
    }

    /* Repeated days, in day order: the last valid row read of a day is kept. */
    order = sao_data__sort_order(bars->day, count);
    for (size_t k = 0; k < count;) {
        size_t end = k + 1;
        while (end < count && bars->day[order[end]] == bars->day[order[k]]) end++;
        size_t keep = SIZE_MAX;
        for (size_t j = end; j-- > k;) {
            if (!bad[order[j]]) {
                keep = order[j];
                break;
            }
        }
        for (size_t j = k; j < end && keep != SIZE_MAX; j++) {
            size_t row = order[j];
            if (row == keep || bad[row]) continue;
            char date[16];
            sao_date_format(bars->day[row], date, sizeof(date));
            add_issue(report, SAO_ISSUE_DUPLICATE_DATE, row, bars->day[row],
                      "%s appears again in row %zu (the later row is kept)", date, keep + 1);
            bad[row] = 2;
        }
        k = end;
    }

    /* Gaps (warnings) between consecutive kept days. */
    int64_t prev_day = 0;
    int have_prev = 0;
    for (size_t k = 0; k < count; k++) {
        size_t row = order[k];
        if (bad[row]) continue;
        int64_t day = bars->day[row];
        if (have_prev && day - prev_day - 1 > gap_limit) {
            char a[16], b[16];
            sao_date_format(prev_day, a, sizeof(a));
            sao_date_format(day, b, sizeof(b));
            add_issue(report, SAO_ISSUE_GAP, row, day,
                      "%lld calendar days without a bar between %s and %s (limit %d)",
                      (long long)(day - prev_day - 1), a, b, gap_limit);
            report->gaps++;
        }
        prev_day = day;
        have_prev = 1;
    }

    for (size_t i = 0; i < count; i++) report->invalid_rows += bad[i] != 0;
    sort_issues(report);

    if (!drop_invalid) {
        if (report->invalid_rows) {
            const sao_issue *first = NULL;
            for (size_t i = 0; i < report->issue_count && !first; i++)
                if (report->issues[i].kind != SAO_ISSUE_GAP) first = &report->issues[i];
            rc = sao_error_set(SAO_EVALIDATION, "%s: %zu of %zu rows failed validation%s%s%s",
                               bars->ticker[0] ? bars->ticker : "bars", report->invalid_rows,
                               count, first ? " (first: " : "", first ? first->message : "",
                               first ? ")" : "");
        }
        goto done;
    }

    /* Drop the bad rows and put the rest in day order. */
    if (report->invalid_rows || !sao_data__days_sorted(bars->day, count)) {
        sao_bars kept;
        sao_bars_init(&kept, bars->ticker);
        sao_bars_reserve(&kept, count - report->invalid_rows);
        for (size_t k = 0; k < count; k++)
            if (!bad[order[k]]) sao_bars_push_row(&kept, bars, order[k]);
        report->dropped_rows = count - kept.count;
        sao_bars_dispose(bars);
        *bars = kept;
    }

done:
    sao_free(order);
    sao_free(bad);
    return rc;
}

void sao_validation_report_print(const sao_validation_report *report, FILE *out, size_t max_lines)
{
    size_t errors = 0;
    for (int k = 0; k < SAO_ISSUE__COUNT; k++)
        if (k != SAO_ISSUE_GAP) errors += report->counts[k];
    fprintf(out, "%zu rows checked: %zu invalid, %zu dropped, %zu errors, %zu gap warnings\n",
            report->rows_checked, report->invalid_rows, report->dropped_rows, errors,
            report->gaps);
    for (int k = 0; k < SAO_ISSUE__COUNT; k++)
        if (report->counts[k])
            fprintf(out, "  %-18s %zu\n", sao_issue_kind_name((sao_issue_kind)k),
                    report->counts[k]);
    size_t shown = report->issue_count < max_lines ? report->issue_count : max_lines;
    for (size_t i = 0; i < shown; i++) {
        const sao_issue *issue = &report->issues[i];
        fprintf(out, "  row %zu %s: %s\n", issue->row + 1, sao_issue_kind_name(issue->kind),
                issue->message);
    }
    size_t more = report->issue_count - shown + report->issues_not_stored;
    if (more) fprintf(out, "  ... and %zu more issues\n", more);
}
