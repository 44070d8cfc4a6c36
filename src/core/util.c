/*
 * Small helpers shared by every module: bounded string copies, strict number parsing, civil
 * dates (days since 1970-01-01) and clocks.
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

size_t sao_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

int sao_parse_long(const char *s, long *out)
{
    if (!s || !*s) return sao_error_set(SAO_EINVAL, "empty number");
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s) return sao_error_set(SAO_EINVAL, "not an integer: '%s'", s);
    *out = v;
    return 0;
}

int sao_parse_double(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp)) return SAO_EPARSE;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end == tmp || *end || errno == ERANGE) return SAO_EPARSE;
    *out = v;
    return 0;
}

/* Howard Hinnant's days_from_civil algorithm (public domain). */
int64_t sao_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void sao_civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t y = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

size_t sao_utf8_sequence(const unsigned char *s, size_t left)
{
    const unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range rules out the bad forms */
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0; /* overlong */
        if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90; /* overlong */
        if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (left < need || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return need;
}

int sao_utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < len;) {
        const size_t n = sao_utf8_sequence(p + i, len - i);
        if (!n) return 0;
        i += n;
    }
    return 1;
}

int sao_weekday(int64_t days)
{
    return (int)(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dim[m - 1];
}

int sao_date_parse(const char *s, size_t len, int64_t *days)
{
    size_t i = 0;
    int parts[3] = {0, 0, 0};
    int digits[3] = {0, 0, 0};
    char sep = 0;
    for (int k = 0; k < 3; k++) {
        while (i < len && isdigit((unsigned char)s[i]) && digits[k] < 5) {
            parts[k] = parts[k] * 10 + (s[i] - '0');
            digits[k]++;
            i++;
        }
        if (digits[k] == 0) return SAO_EPARSE;
        if (k < 2) {
            if (i >= len || (s[i] != '-' && s[i] != '/')) return SAO_EPARSE;
            if (k == 0) sep = s[i];
            else if (s[i] != sep) return SAO_EPARSE;
            i++;
        }
    }
    if (digits[0] != 4 || digits[1] > 2 || digits[2] > 2) return SAO_EPARSE;
    /* A time part may follow (" 00:00:00", "T00:00:00Z", "+00:00"); the date is what counts. */
    if (i < len && s[i] != 'T' && s[i] != ' ') return SAO_EPARSE;
    int y = parts[0], m = parts[1], d = parts[2];
    if (y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return SAO_EPARSE;
    *days = sao_days_from_civil(y, m, d);
    return 0;
}

void sao_date_format(int64_t days, char *buf, size_t size)
{
    int y, m, d;
    sao_civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

int64_t sao_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double sao_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sao_home_path(char *buf, size_t size, const char *relative)
{
    const char *home = sao_config_get("SAO_HOME");
    int n = snprintf(buf, size, "%s/%s", home, relative);
    if (n < 0 || (size_t)n >= size) return sao_error_set(SAO_EINVAL, "path too long under %s", home);
    return 0;
}
