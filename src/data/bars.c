/*
 * The bar series type (struct of arrays), tickers and their asset classes, and the trading
 * calendar of each class (crypto every day, everything else Monday to Friday).
 */
#include "data/data_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- tickers ---- */

int sao_ticker_validate(const char *ticker)
{
    if (!ticker || !*ticker) return sao_error_set(SAO_EINVAL, "empty ticker");
    size_t len = strlen(ticker);
    if (len > SAO_TICKER_MAX)
        return sao_error_set(SAO_EINVAL, "ticker '%.32s%s' is longer than %d characters", ticker,
                             len > 32 ? "..." : "", SAO_TICKER_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ticker[i];
        int ok = (c < 0x80 && isalnum(c)) || c == '.' || c == '-' || c == '=' ||
                 (c == '^' && i == 0);
        if (!ok)
            return sao_error_set(SAO_EINVAL,
                                 "ticker '%s' has a character outside A-Z, 0-9, '.', '-', '=' "
                                 "(and a leading '^') at position %zu",
                                 ticker, i + 1);
    }
    unsigned char first = (unsigned char)ticker[0];
    if (!(isalnum(first) || first == '^'))
        return sao_error_set(SAO_EINVAL, "ticker '%s' must start with a letter, digit or '^'",
                             ticker);
    if (first == '^' && (len < 2 || !isalnum((unsigned char)ticker[1])))
        return sao_error_set(SAO_EINVAL, "index ticker '%s' needs a letter or digit after '^'",
                             ticker);
    if (strstr(ticker, ".."))
        return sao_error_set(SAO_EINVAL, "ticker '%s' contains \"..\"", ticker);
    return 0;
}

int sao_ticker_normalize(char *out, const char *ticker)
{
    int rc = sao_ticker_validate(ticker);
    if (rc) return rc;
    size_t i = 0;
    for (; ticker[i]; i++) out[i] = (char)toupper((unsigned char)ticker[i]);
    out[i] = '\0';
    return 0;
}

/* Quote currencies Yahoo uses for crypto pairs ("BTC-USD", "ETH-BTC", "SOL-USDT"). */
static const char *const crypto_quotes[] = {"USD", "USDT", "USDC", "BUSD", "DAI", "EUR", "GBP",
                                            "JPY", "CAD", "AUD", "CHF", "KRW", "INR", "BTC",
                                            "ETH", "BNB"};

static int ends_with_ci(const char *s, size_t len, const char *suffix)
{
    size_t slen = strlen(suffix);
    if (slen > len) return 0;
    for (size_t i = 0; i < slen; i++)
        if (toupper((unsigned char)s[len - slen + i]) != toupper((unsigned char)suffix[i]))
            return 0;
    return 1;
}

static int is_crypto_pair(const char *ticker, size_t len)
{
    const char *dash = memchr(ticker, '-', len);
    if (!dash) return 0;
    size_t base_len = (size_t)(dash - ticker);
    if (base_len < 2 || base_len > 10) return 0;
    for (size_t i = 0; i < base_len; i++)
        if (!isalnum((unsigned char)ticker[i])) return 0;
    size_t quote_len = len - base_len - 1;
    for (size_t i = 0; i < SAO_ARRAY_LEN(crypto_quotes); i++)
        if (strlen(crypto_quotes[i]) == quote_len && ends_with_ci(ticker, len, crypto_quotes[i]))
            return 1;
    return 0;
}

sao_asset_class sao_ticker_asset_class(const char *ticker)
{
    if (!ticker || !*ticker) return SAO_ASSET_EQUITY;
    size_t len = strlen(ticker);
    if (ticker[0] == '^') return SAO_ASSET_INDEX;
    if (ends_with_ci(ticker, len, "=X")) return SAO_ASSET_FX;
    if (ends_with_ci(ticker, len, "=F")) return SAO_ASSET_FUTURE;
    if (is_crypto_pair(ticker, len)) return SAO_ASSET_CRYPTO;
    return SAO_ASSET_EQUITY;
}

const char *sao_asset_class_name(sao_asset_class cls)
{
    switch (cls) {
    case SAO_ASSET_EQUITY:
        return "equity";
    case SAO_ASSET_INDEX:
        return "index";
    case SAO_ASSET_CRYPTO:
        return "crypto";
    case SAO_ASSET_FX:
        return "fx";
    case SAO_ASSET_FUTURE:
        return "future";
    }
    return "unknown";
}

/* ---- calendar ---- */

/* The n-th `weekday` (0 Sunday .. 6 Saturday) of a month. */
static int64_t nth_weekday(int year, int month, int weekday, int n)
{
    const int64_t first = sao_days_from_civil(year, month, 1);
    return first + (weekday - sao_weekday(first) + 7) % 7 + 7 * (n - 1);
}

static int64_t last_weekday(int year, int month, int weekday)
{
    const int64_t last = (month == 12 ? sao_days_from_civil(year + 1, 1, 1)
                                      : sao_days_from_civil(year, month + 1, 1)) -
                         1;
    return last - (sao_weekday(last) - weekday + 7) % 7;
}

/* Easter Sunday (Gregorian; the anonymous algorithm of Meeus). */
static int64_t easter_sunday(int year)
{
    const int a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4;
    const int f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30;
    const int i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7;
    const int m = (a + 11 * h + 22 * l) / 451;
    const int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
    return sao_days_from_civil(year, month, day);
}

/* A fixed-date holiday as the exchange observes it: Sunday's on Monday, Saturday's on Friday
 * (or not at all, for New Year's Day: the exchange does not close the year's last day). */
static int64_t observed(int year, int month, int day, int saturday_on_friday)
{
    const int64_t d = sao_days_from_civil(year, month, day);
    const int wd = sao_weekday(d);
    if (wd == 0) return d + 1;
    if (wd == 6) return saturday_on_friday ? d - 1 : INT64_MIN;
    return d;
}

/* Closures outside the rules since 1990: national days of mourning, 9/11, Hurricane Sandy. */
static const struct {
    short year;
    signed char month, day;
} nyse_special_closures[] = {
    {1994, 4, 27}, {2001, 9, 11}, {2001, 9, 12}, {2001, 9, 13}, {2001, 9, 14}, {2004, 6, 11},
    {2007, 1, 2},  {2012, 10, 29}, {2012, 10, 30}, {2018, 12, 5}, {2025, 1, 9},
};

#define NYSE_HOLIDAYS_MAX 16

/* The NYSE's full-day closures of a year, by the rules in force since 2022 (Juneteenth from
 * 2022, Martin Luther King Jr. Day from 1998), plus the special closures. Checked against
 * every ^GSPC, SPY, AAPL and MSFT bar from 1990 to 2026: the weekdays without a bar are exactly
 * these. Years before 1990 follow the same rules, which makes them approximate. */
static size_t nyse_holidays(int year, int64_t out[NYSE_HOLIDAYS_MAX])
{
    size_t n = 0;
    out[n++] = observed(year, 1, 1, 0);
    if (year >= 1998) out[n++] = nth_weekday(year, 1, 1, 3); /* Martin Luther King Jr. Day */
    out[n++] = nth_weekday(year, 2, 1, 3);                   /* Washington's Birthday */
    out[n++] = easter_sunday(year) - 2;                      /* Good Friday */
    out[n++] = last_weekday(year, 5, 1);                     /* Memorial Day */
    if (year >= 2022) out[n++] = observed(year, 6, 19, 1);   /* Juneteenth */
    out[n++] = observed(year, 7, 4, 1);                      /* Independence Day */
    out[n++] = nth_weekday(year, 9, 1, 1);                   /* Labor Day */
    out[n++] = nth_weekday(year, 11, 4, 4);                  /* Thanksgiving */
    out[n++] = observed(year, 12, 25, 1);                    /* Christmas */
    for (size_t i = 0; i < SAO_ARRAY_LEN(nyse_special_closures); i++)
        if (nyse_special_closures[i].year == year && n < NYSE_HOLIDAYS_MAX)
            out[n++] = sao_days_from_civil(year, nyse_special_closures[i].month,
                                           nyse_special_closures[i].day);
    return n;
}

static int nyse_closed(int64_t day)
{
    /* One year's closures per thread: stepping through a horizon stays within one or two. */
    static _Thread_local int cached_year = INT32_MIN;
    static _Thread_local int64_t cached[NYSE_HOLIDAYS_MAX];
    static _Thread_local size_t cached_count;
    int year, month, mday;
    sao_civil_from_days(day, &year, &month, &mday);
    if (year != cached_year) {
        cached_count = nyse_holidays(year, cached);
        cached_year = year;
    }
    for (size_t i = 0; i < cached_count; i++)
        if (cached[i] == day) return 1;
    return 0;
}

int sao_calendar_is_trading_day(sao_asset_class cls, int64_t day)
{
    if (cls == SAO_ASSET_CRYPTO) return 1;
    const int wd = sao_weekday(day);
    if (wd == 0 || wd == 6) return 0;
    if (cls == SAO_ASSET_EQUITY || cls == SAO_ASSET_INDEX) return !nyse_closed(day);
    return 1;
}

int64_t sao_calendar_add_trading_days(sao_asset_class cls, int64_t day, int n)
{
    if (cls == SAO_ASSET_CRYPTO) return day + n;
    const int step = n > 0 ? 1 : -1;
    for (long left = n > 0 ? n : -(long)n; left > 0;) {
        day += step;
        if (sao_calendar_is_trading_day(cls, day)) left--;
    }
    return day;
}

/* ---- bars ---- */

void sao_bars_init(sao_bars *bars, const char *ticker)
{
    memset(bars, 0, sizeof(*bars));
    if (ticker) sao_strlcpy(bars->ticker, ticker, sizeof(bars->ticker));
}

void sao_bars_dispose(sao_bars *bars)
{
    if (!bars) return;
    sao_free(bars->day);
    sao_free(bars->open);
    sao_free(bars->high);
    sao_free(bars->low);
    sao_free(bars->close);
    sao_free(bars->adj_close);
    sao_free(bars->volume);
    sao_free(bars->dividend);
    sao_free(bars->split_ratio);
    sao_free(bars->created_us);
    char ticker[sizeof(bars->ticker)];
    memcpy(ticker, bars->ticker, sizeof(ticker));
    memset(bars, 0, sizeof(*bars));
    memcpy(bars->ticker, ticker, sizeof(ticker));
}

static void bars_set_cap(sao_bars *bars, size_t cap)
{
    SAO_ASSERT(cap >= bars->count && cap <= SIZE_MAX / sizeof(double));
    bars->day = sao_realloc(bars->day, cap * sizeof(int64_t));
    bars->open = sao_realloc(bars->open, cap * sizeof(double));
    bars->high = sao_realloc(bars->high, cap * sizeof(double));
    bars->low = sao_realloc(bars->low, cap * sizeof(double));
    bars->close = sao_realloc(bars->close, cap * sizeof(double));
    bars->adj_close = sao_realloc(bars->adj_close, cap * sizeof(double));
    bars->volume = sao_realloc(bars->volume, cap * sizeof(double));
    bars->dividend = sao_realloc(bars->dividend, cap * sizeof(double));
    bars->split_ratio = sao_realloc(bars->split_ratio, cap * sizeof(double));
    bars->created_us = sao_realloc(bars->created_us, cap * sizeof(int64_t));
    bars->cap = cap;
}

void sao_bars_reserve(sao_bars *bars, size_t count)
{
    if (count > bars->cap) bars_set_cap(bars, count);
}

/* Makes room for one more row, doubling. */
static void bars_grow_one(sao_bars *bars)
{
    if (bars->count < bars->cap) return;
    SAO_ASSERT(bars->cap <= SIZE_MAX / 2);
    bars_set_cap(bars, bars->cap ? bars->cap * 2 : 64);
}

size_t sao_bars_push(sao_bars *bars, int64_t day, double open, double high, double low,
                     double close, double adj_close, double volume)
{
    bars_grow_one(bars);
    size_t i = bars->count++;
    bars->day[i] = day;
    bars->open[i] = open;
    bars->high[i] = high;
    bars->low[i] = low;
    bars->close[i] = close;
    bars->adj_close[i] = adj_close;
    bars->volume[i] = volume;
    bars->dividend[i] = 0.0;
    bars->split_ratio[i] = 0.0;
    bars->created_us[i] = 0;
    return i;
}

void sao_bars_push_row(sao_bars *dst, const sao_bars *src, size_t src_row)
{
    SAO_ASSERT(src_row < src->count && dst != src);
    size_t i = sao_bars_push(dst, src->day[src_row], src->open[src_row], src->high[src_row],
                             src->low[src_row], src->close[src_row], src->adj_close[src_row],
                             src->volume[src_row]);
    dst->dividend[i] = src->dividend[src_row];
    dst->split_ratio[i] = src->split_ratio[src_row];
    dst->created_us[i] = src->created_us[src_row];
}

void sao_data__bars_copy_row(sao_bars *bars, size_t dst_row, size_t src_row)
{
    SAO_ASSERT(dst_row < bars->count && src_row < bars->count);
    if (dst_row == src_row) return;
    bars->day[dst_row] = bars->day[src_row];
    bars->open[dst_row] = bars->open[src_row];
    bars->high[dst_row] = bars->high[src_row];
    bars->low[dst_row] = bars->low[src_row];
    bars->close[dst_row] = bars->close[src_row];
    bars->adj_close[dst_row] = bars->adj_close[src_row];
    bars->volume[dst_row] = bars->volume[src_row];
    bars->dividend[dst_row] = bars->dividend[src_row];
    bars->split_ratio[dst_row] = bars->split_ratio[src_row];
    bars->created_us[dst_row] = bars->created_us[src_row];
}

void sao_bars_clear(sao_bars *bars)
{
    bars->count = 0;
}

int sao_data__days_sorted(const int64_t *days, size_t count)
{
    for (size_t i = 1; i < count; i++)
        if (days[i] < days[i - 1]) return 0;
    return 1;
}

static void reverse_f64(double *v, size_t count)
{
    for (size_t i = 0, j = count - 1; i < j; i++, j--) {
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void reverse_i64(int64_t *v, size_t count)
{
    for (size_t i = 0, j = count - 1; i < j; i++, j--) {
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void permute_f64(double *v, const size_t *order, size_t count, double *scratch)
{
    for (size_t i = 0; i < count; i++) scratch[i] = v[order[i]];
    memcpy(v, scratch, count * sizeof(double));
}

static void permute_i64(int64_t *v, const size_t *order, size_t count, int64_t *scratch)
{
    for (size_t i = 0; i < count; i++) scratch[i] = v[order[i]];
    memcpy(v, scratch, count * sizeof(int64_t));
}

size_t *sao_data__sort_order(const int64_t *day, size_t count)
{
    /* Bottom-up merge sort of row indices: stable, O(n log n), no recursion. */
    size_t *order = sao_malloc((count ? count : 1) * sizeof(size_t));
    size_t *tmp = sao_malloc((count ? count : 1) * sizeof(size_t));
    for (size_t i = 0; i < count; i++) order[i] = i;
    for (size_t width = 1; width < count; width *= 2) {
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = lo + width < count ? lo + width : count;
            size_t hi = lo + 2 * width < count ? lo + 2 * width : count;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = day[order[b]] < day[order[a]] ? order[b++] : order[a++];
            while (a < mid) tmp[k++] = order[a++];
            while (b < hi) tmp[k++] = order[b++];
        }
        size_t *swap = order;
        order = tmp;
        tmp = swap;
    }
    sao_free(tmp);
    return order;
}

void sao_bars_sort(sao_bars *bars)
{
    size_t count = bars->count;
    if (count < 2 || sao_data__days_sorted(bars->day, count)) return;

    /* Newest-first downloads are common: a strictly descending series only needs reversing
     * (strictly, so that reversing cannot reorder equal days and break stability). */
    int descending = 1;
    for (size_t i = 1; i < count && descending; i++)
        if (bars->day[i] >= bars->day[i - 1]) descending = 0;
    if (descending) {
        reverse_i64(bars->day, count);
        reverse_f64(bars->open, count);
        reverse_f64(bars->high, count);
        reverse_f64(bars->low, count);
        reverse_f64(bars->close, count);
        reverse_f64(bars->adj_close, count);
        reverse_f64(bars->volume, count);
        reverse_f64(bars->dividend, count);
        reverse_f64(bars->split_ratio, count);
        reverse_i64(bars->created_us, count);
        return;
    }

    size_t *order = sao_data__sort_order(bars->day, count);

    double *scratch = sao_malloc(count * sizeof(double));
    int64_t *scratch_i = (int64_t *)(void *)scratch;
    permute_i64(bars->day, order, count, scratch_i);
    permute_f64(bars->open, order, count, scratch);
    permute_f64(bars->high, order, count, scratch);
    permute_f64(bars->low, order, count, scratch);
    permute_f64(bars->close, order, count, scratch);
    permute_f64(bars->adj_close, order, count, scratch);
    permute_f64(bars->volume, order, count, scratch);
    permute_f64(bars->dividend, order, count, scratch);
    permute_f64(bars->split_ratio, order, count, scratch);
    permute_i64(bars->created_us, order, count, scratch_i);
    sao_free(scratch);
    sao_free(order);
}

void sao_data__bars_move_into(sao_bars *dst, sao_bars *src)
{
    if (!dst->ticker[0]) memcpy(dst->ticker, src->ticker, sizeof(dst->ticker));
    if (dst->count == 0) {
        /* Hand the arrays over instead of copying them. */
        char ticker[sizeof(dst->ticker)];
        memcpy(ticker, dst->ticker, sizeof(ticker));
        sao_bars old = *dst;
        *dst = *src;
        memcpy(dst->ticker, ticker, sizeof(ticker));
        memcpy(old.ticker, src->ticker, sizeof(old.ticker));
        *src = old; /* src now owns dst's old (empty) arrays; count is 0 */
        sao_bars_sort(dst);
        return;
    }
    sao_bars_reserve(dst, dst->count + src->count);
    int need_sort = src->count && dst->day[dst->count - 1] > src->day[0];
    for (size_t i = 0; i < src->count; i++) sao_bars_push_row(dst, src, i);
    sao_bars_clear(src);
    if (need_sort || !sao_data__days_sorted(dst->day, dst->count)) sao_bars_sort(dst);
}
