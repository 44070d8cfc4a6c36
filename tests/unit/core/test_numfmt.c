/*
 * Unit tests for sao_format_double: exact read-back over random and chosen doubles, the fewest
 * digits (checked against printf's correctly rounded digits), the text form, and the tables and
 * fixed-point logarithms the digit search relies on, recomputed exactly.
 */
#include <float.h>

#include "core/numfmt.c"
#include "test.h"

/* Fewer iterations under the sanitizers, which slow every call down several times. */
#if defined(__SANITIZE_ADDRESS__)
#define SCALE 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCALE 4
#endif
#endif
#ifndef SCALE
#define SCALE 1
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64: a fixed sequence, so a failure reproduces. */
static uint64_t next_random(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double from_bits(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

static uint64_t to_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

/* Whether text is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s)
{
    if (*s == '-') s++;
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (*s >= '0' && *s <= '9') s++;
    } else {
        return 0;
    }
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

/* The significant digits of a number's text (no leading or trailing zeros) and the power of ten
 * of the first one. */
static void significant_digits(const char *text, char *digits, int *point)
{
    int count = 0, before_point = 0, seen_point = 0, leading = 1;
    int leading_fraction_zeros = 0;
    const char *s = text;
    if (*s == '-') s++;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            seen_point = 1;
            continue;
        }
        if (leading && *s == '0') {
            if (seen_point) leading_fraction_zeros++;
            continue;
        }
        leading = 0;
        digits[count++] = *s;
        if (!seen_point) before_point++;
    }
    while (count > 1 && digits[count - 1] == '0') {
        count--;
    }
    digits[count] = '\0';
    int exponent = *s == 'e' ? (int)strtol(s + 1, NULL, 10) : 0;
    *point = (before_point ? before_point - 1 : -1 - leading_fraction_zeros) + exponent;
}

/* Formats v and checks the text: a JSON number that reads back as exactly v. Returns the
 * significant digits' count. */
static int check_round_trip(double v, char *text)
{
    size_t len = sao_format_double(text, v);
    if (len != strlen(text) || len >= SAO_DOUBLE_TEXT_MAX || !is_json_number(text) ||
        to_bits(strtod(text, NULL)) != to_bits(v)) {
        fprintf(stderr, "%.17g (bits %016llx) formats as '%s' (length %zu)\n", v,
                (unsigned long long)to_bits(v), text, len);
        exit(1);
    }
    char digits[32];
    int point;
    significant_digits(text, digits, &point);
    return (int)strlen(digits);
}

/* The shortest of printf's correctly rounded %.{P-1}e, P = 1..17, that reads back as v: that
 * one's text in ref. */
static int shortest_printf(double v, char *ref, size_t size)
{
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(ref, size, "%.*e", precision - 1, v);
        if (strtod(ref, NULL) == v) return precision;
    }
    return 18; /* unreachable: 17 digits always read back */
}

/* Against printf: never more digits; and, but where v is a power of two (whose interval is
 * lopsided, so that the correctly rounded digits can miss a shorter decimal on the wide side),
 * the same digits, since the nearest decimal of the shortest length is the correctly rounded
 * one. */
static void check_shortest(double v)
{
    char text[SAO_DOUBLE_TEXT_MAX], ref[64];
    int ours = check_round_trip(v, text);
    int theirs = shortest_printf(v, ref, sizeof(ref));
    char ours_digits[32], ref_digits[32];
    int ours_point, ref_point;
    significant_digits(text, ours_digits, &ours_point);
    significant_digits(ref, ref_digits, &ref_point);
    uint64_t bits = to_bits(v);
    int power_of_two = (bits & ((UINT64_C(1) << 52) - 1)) == 0;
    if (ours > theirs ||
        (!power_of_two && (strcmp(ours_digits, ref_digits) != 0 || ours_point != ref_point))) {
        fprintf(stderr, "%.17g: '%s' (%d digits) vs printf '%s' (%d digits)\n", v, text, ours, ref,
                theirs);
        exit(1);
    }
}

static void expect_text(double v, const char *want)
{
    char text[SAO_DOUBLE_TEXT_MAX];
    size_t len = sao_format_double(text, v);
    ASSERT_STREQ(text, want);
    ASSERT_EQ(len, strlen(want));
}

static void test_exact_texts(void)
{
    expect_text(0.0, "0");
    expect_text(-0.0, "-0");
    expect_text(5, "5");
    expect_text(-42, "-42");
    expect_text(0.1, "0.1");
    expect_text(0.1 + 0.2, "0.30000000000000004");
    expect_text(1.0 / 3, "0.3333333333333333");
    expect_text(2.0 / 3, "0.6666666666666666");
    expect_text(123.45, "123.45");
    expect_text(100.5, "100.5");
    expect_text(-1.5, "-1.5");
    expect_text(0.0001, "0.0001");
    expect_text(0.00001, "1e-05");
    expect_text(1e-7, "1e-07");
    expect_text(1.5e-7, "1.5e-07");
    expect_text(1e15, "1000000000000000");
    expect_text(1234567890123456.7, "1234567890123456.8");
    expect_text(9007199254740992.0, "9007199254740992");
    expect_text(9007199254740994.0, "9007199254740994");
    expect_text(1e16, "1e+16");
    expect_text(1.2345e21, "1.2345e+21");
    expect_text(123456789012345680.0, "1.2345678901234568e+17");
    expect_text(1e22, "1e+22");
    expect_text(1e23, "1e+23");
    expect_text(5e-324, "5e-324");
    expect_text(1e-323, "1e-323");
    expect_text(1.5e-323, "1.5e-323");
    expect_text(DBL_MAX, "1.7976931348623157e+308");
    expect_text(-DBL_MAX, "-1.7976931348623157e+308");
    expect_text(DBL_MIN, "2.2250738585072014e-308");
    expect_text(2.2250738585072009e-308, "2.225073858507201e-308"); /* largest subnormal */
    expect_text(0.5, "0.5");
    expect_text(4.35, "4.35");
    expect_text(28.55, "28.55");
    expect_text(HUGE_VAL, "Inf");
    expect_text(-HUGE_VAL, "-Inf");
    expect_text(NAN, "NaN");
}

/* Every power of ten a double comes nearest to prints as itself. */
static void test_powers_of_ten(void)
{
    char text[SAO_DOUBLE_TEXT_MAX], want[32];
    for (int e = -323; e <= 308; e++) {
        snprintf(want, sizeof(want), "1e%d", e);
        double v = strtod(want, NULL);
        if (e >= -4 && e < 0) {
            snprintf(want, sizeof(want), "0.%0*d", -e, 1);
        } else if (e >= 0 && e < 16) {
            snprintf(want, sizeof(want), "1%0*d", e, 0);
            if (e == 0) snprintf(want, sizeof(want), "1");
        } else {
            snprintf(want, sizeof(want), "1e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        }
        sao_format_double(text, v);
        ASSERT_STREQ(text, want);
        check_shortest(v);
        check_shortest(nextafter(v, 0));
        check_shortest(nextafter(v, HUGE_VAL));
    }
}

/* Powers of two (the lopsided intervals), the subnormals, the extremes. */
static void test_special_ranges(void)
{
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1.0, e);
        check_shortest(v);
        check_shortest(-v);
        check_shortest(nextafter(v, 0));
        check_shortest(nextafter(v, HUGE_VAL));
    }
    for (uint64_t bits = 1; bits < 2000; bits++) check_shortest(from_bits(bits));
    for (int i = 0; i < 20000 / SCALE; i++)
        check_shortest(from_bits(next_random() & ((UINT64_C(1) << 52) - 1)));
    const double extremes[] = {DBL_MAX,
                               DBL_MIN,
                               DBL_TRUE_MIN,
                               nextafter(DBL_MAX, 0),
                               nextafter(DBL_MIN, 0),
                               nextafter(DBL_MIN, 1)};
    for (size_t i = 0; i < SAO_ARRAY_LEN(extremes); i++) {
        check_shortest(extremes[i]);
        check_shortest(-extremes[i]);
    }
}

/* Random bit patterns over every exponent: the round trip for many, the digits for some. */
static void test_random_bits(void)
{
    char text[SAO_DOUBLE_TEXT_MAX];
    int checked = 0;
    while (checked < 2000000 / SCALE) {
        double v = from_bits(next_random());
        if (!isfinite(v)) continue;
        check_round_trip(v, text);
        if (checked % 40 == 0) check_shortest(v);
        checked++;
    }
}

/* Values as the data holds them: prices with cents, volumes, indicator values, ratios. A value
 * written with D significant digits prints with at most D. */
static void test_decimal_looking(void)
{
    char text[SAO_DOUBLE_TEXT_MAX], written[64];
    for (int i = 0; i < 1000000 / SCALE; i++) {
        uint64_t r = next_random();
        double v;
        switch (i % 5) {
        case 0: /* a price with cents */
            v = (double)(r % 100000000) / 100;
            break;
        case 1: /* a volume */
            v = (double)(r % 10000000000ULL);
            break;
        case 2: /* an oscillator, a ratio, a log return */
            v = (double)(r >> 11) / 9007199254740992.0 * 100;
            if (r & 1) v = log1p(v / 1000 - 0.05);
            break;
        case 3: { /* D digits times a power of ten */
            int count = 1 + (int)(r % 17);
            uint64_t digits = next_random() % 100000000000000000ULL;
            for (int d = 17; d > count; d--) digits /= 10;
            int exponent = (int)((r >> 8) % 600) - 300;
            snprintf(written, sizeof(written), "%llue%d", (unsigned long long)digits, exponent);
            v = strtod(written, NULL);
            if (digits && v != 0 && isfinite(v) && check_round_trip(v, text) > count) {
                fprintf(stderr, "%s formats with more digits: '%s'\n", written, text);
                exit(1);
            }
            break;
        }
        default: /* a quotient of small integers */
            v = (double)(r % 100000) / (double)(1 + (r >> 40) % 997);
            break;
        }
        if (r & 2) v = -v;
        if (isfinite(v)) check_round_trip(v, text);
        if (i % 20 == 0 && isfinite(v)) check_shortest(v);
    }
}

/* ---- the building blocks, recomputed exactly ---- */

/* x * 5^p5x * 2^p2x compared with y * 5^p5y * 2^p2y (negative powers moved across). */
static int compare_scaled(big x, int p5x, int p2x, big y, int p5y, int p2y)
{
    int common5 = p5x < p5y ? p5x : p5y, common2 = p2x < p2y ? p2x : p2y;
    big_mul_pow5(&x, p5x - common5);
    big_mul_pow5(&y, p5y - common5);
    big_shift_left(&x, p2x - common2);
    big_shift_left(&y, p2y - common2);
    return big_compare(&x, &y);
}

/* n * 10^e10 compared with m * 2^e2. */
static int compare_pow10_pow2(uint64_t n, int e10, uint64_t m, int e2)
{
    big x, y;
    big_set(&x, 0, n);
    big_set(&y, 0, m);
    return compare_scaled(x, e10, e10, y, 0, e2);
}

static void test_fixed_point_logarithms(void)
{
    for (int q = -1100; q <= 1100; q++) {
        int k = floor_log10_pow2(q); /* 10^k <= 2^q < 10^(k+1) */
        ASSERT_TRUE(compare_pow10_pow2(1, k, 1, q) <= 0 && compare_pow10_pow2(1, k + 1, 1, q) > 0);
        k = floor_log10_three_quarters_pow2(q); /* 10^k <= 3 * 2^(q-2) < 10^(k+1) */
        ASSERT_TRUE(compare_pow10_pow2(1, k, 3, q - 2) <= 0 &&
                    compare_pow10_pow2(1, k + 1, 3, q - 2) > 0);
    }
    for (int e = -400; e <= 400; e++) {
        int j = floor_log2_pow10(e); /* 2^j <= 10^e < 2^(j+1) */
        ASSERT_TRUE(compare_pow10_pow2(1, e, 1, j) >= 0 && compare_pow10_pow2(1, e, 1, j + 1) < 0);
    }
}

/* g(k) - 1 <= 10^-k * 2^(125 - floor(log2 10^-k)) < g(k), and 2^125 <= g(k) < 2^126. */
static void test_power_table(void)
{
    for (int k = K_MIN; k <= K_MAX; k++) {
        const uint64_t *g = pow10_scaled[k - K_MIN];
        ASSERT_TRUE(g[0] >> 61 == 1);
        int shift = 125 - floor_log2_pow10(-k);
        big below, above, one;
        big_set(&above, g[0], g[1]);
        big_set(&below, g[1] ? g[0] : g[0] - 1, g[1] - 1);
        big_set(&one, 0, 1);
        /* g - 1 <= 10^-k * 2^shift < g */
        ASSERT_TRUE(compare_scaled(below, 0, 0, one, -k, -k + shift) <= 0);
        ASSERT_TRUE(compare_scaled(above, 0, 0, one, -k, -k + shift) > 0);
    }
    for (int i = 1; i < 24; i++) ASSERT_TRUE(pow5_small[i] == pow5_small[i - 1] * 5);
}

/* The fast rounding to odd agrees with the exact one, and the exact one with the definition. */
static void test_rounding_to_odd(void)
{
    for (int i = 0; i < 200000 / SCALE; i++) {
        uint64_t c = (next_random() & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
        int q = (int)(next_random() % 2045) - 1074;
        int k = floor_log10_pow2(q);
        int h = q + floor_log2_pow10(-k) + 3;
        uint64_t bounds[3] = {c << 2, (c << 2) - 2, (c << 2) + 2};
        for (int b = 0; b < 3; b++) {
            uint64_t x = bounds[b];
            uint64_t fast = scaled_to_odd(x, q, k, h);
            big value, result;
            big_set(&value, 0, x);
            big_set(&result, 0, fast);
            int side = k <= 0 ? compare_scaled(value, -k, q - k, result, 0, 0)
                              : compare_scaled(value, 0, q - k, result, k, 0);
            if (side == 0) { /* an integer: exactly that */
                ASSERT_TRUE(scaled_is_integer(x, q, k));
                ASSERT_EQ(scaled_to_odd_exact(x, q, k, fast), fast);
                continue;
            }
            /* Not an integer: fast is floor | 1, the floor fast or fast - 1 by the value's side
             * of fast. The exact path, seeded with the floor or one above, agrees. */
            ASSERT_TRUE((fast & 1) && !scaled_is_integer(x, q, k));
            uint64_t floor_value = side < 0 ? fast - 1 : fast;
            ASSERT_EQ(scaled_to_odd_exact(x, q, k, floor_value), fast);
            ASSERT_EQ(scaled_to_odd_exact(x, q, k, floor_value + 1), fast);
        }
    }
}

int main(void)
{
    test_exact_texts();
    test_fixed_point_logarithms();
    test_power_table();
    test_rounding_to_odd();
    test_powers_of_ten();
    test_special_ranges();
    test_random_bits();
    test_decimal_looking();
    printf("numfmt: ok\n");
    return 0;
}
