/*
 * libFuzzer target for sao_format_double: the input's first 8 bytes as a double's bits, and the
 * input as text through strtod. Every finite double must format as a JSON number that reads back
 * as exactly itself, with no fewer digits possible by printf's correctly rounded ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Significant digits of a number's text (leading and trailing zeros left out). */
static int significant_digits(const char *text)
{
    int count = 0, pending_zeros = 0, started = 0;
    for (const char *s = text; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9') continue;
        if (*s == '0') {
            if (started) pending_zeros++;
            continue;
        }
        started = 1;
        count += pending_zeros + 1;
        pending_zeros = 0;
    }
    return count ? count : 1;
}

static void check(double value)
{
    if (!isfinite(value)) return;
    char text[SAO_DOUBLE_TEXT_MAX];
    size_t len = sao_format_double(text, value);
    SAO_ASSERT(len == strlen(text) && len < sizeof(text));
    /* JSON: an optional minus, then a digit; no NaN, Inf or hex. */
    const char *digits = text[0] == '-' ? text + 1 : text;
    SAO_ASSERT(digits[0] >= '0' && digits[0] <= '9');
    SAO_ASSERT(strspn(text, "-+.e0123456789") == len);
    char *end;
    double back = strtod(text, &end);
    SAO_ASSERT(*end == '\0');
    SAO_ASSERT(memcmp(&back, &value, sizeof(value)) == 0);
    /* No correctly rounded printf text with fewer digits reads back. */
    int ours = significant_digits(text);
    for (int precision = 1; precision < ours; precision++) {
        char shorter[64];
        snprintf(shorter, sizeof(shorter), "%.*e", precision - 1, value);
        SAO_ASSERT(strtod(shorter, NULL) != value);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= sizeof(double)) {
        double value;
        memcpy(&value, data, sizeof(value));
        check(value);
    }
    char text[128];
    size_t len = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, len);
    text[len] = '\0';
    check(strtod(text, NULL));
    return 0;
}
