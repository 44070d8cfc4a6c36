/*
 * Tests of the Parquet codec: round trips of every writable type, codecs, row groups, pages,
 * dictionaries, statistics, metadata, atomic writes and input validation; reading a real
 * pyarrow file and hand-built files in every encoding; and corrupt files of every kind.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/parquet_int.h"
#include "store/store.h"

int sao_test_failures;

static const sao_pq_codec codecs[] = {SAO_PQ_UNCOMPRESSED, SAO_PQ_SNAPPY, SAO_PQ_GZIP, SAO_PQ_ZSTD};

/* ---- helpers -------------------------------------------------------------------------------- */

static char *write_mem(const sao_pq_column *cols, size_t ncols, size_t rows,
                       const sao_pq_write_options *opts, size_t *len)
{
    char *buf = NULL;
    ASSERT_OK(sao_parquet_write_mem(&buf, len, cols, ncols, rows, opts));
    return buf;
}

static sao_pq_file *open_mem(const char *buf, size_t len)
{
    sao_pq_file *file = NULL;
    ASSERT_OK(sao_parquet_open_mem(&file, buf, len));
    return file;
}

static const sao_pq_column_data *read_named(sao_pq_file *file, const char *name)
{
    int idx = sao_parquet_find_column(file, name);
    ASSERT_TRUE(idx >= 0);
    const sao_pq_column_data *col = NULL;
    ASSERT_OK(sao_parquet_read_column(&col, file, (size_t)idx));
    ASSERT_STREQ(col->name, name);
    return col;
}

/* Doubles compare by their bits, so NaN and -0.0 count. */
static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static const char *test_dir(void)
{
    ASSERT_OK(sao_mkdir_p(SAO_TEST_TMPDIR "/parquet"));
    return SAO_TEST_TMPDIR "/parquet";
}

/* How many directory entries start with `prefix` (temp files of an atomic write). */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    ASSERT_TRUE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

/* A table with every writable type, some nulls, extremes and special doubles. */
enum { SAMPLE_ROWS = 1000 };
typedef struct sample {
    double d[SAMPLE_ROWS];
    int64_t i[SAMPLE_ROWS];
    int64_t ts[SAMPLE_ROWS];
    const char *s[SAMPLE_ROWS];
    uint8_t valid[SAMPLE_ROWS];
    char text[SAMPLE_ROWS][24];
    sao_pq_column cols[8];
} sample;

static const char *const words[] = {"AAPL",  "",       "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
                                    "^GSPC", "BTC-USD"};

static void sample_init(sample *t)
{
    static const double specials[] = {0.0, -0.0, 1e308, -1e-308, 4.9e-324, HUGE_VAL, -HUGE_VAL};
    for (size_t r = 0; r < SAMPLE_ROWS; r++) {
        t->d[r] = r % 50 == 7 ? NAN : r % 9 == 0 ? specials[(r / 9) % 7] : (double)r * 0.37 - 100;
        t->i[r] = r == 3 ? INT64_MIN : r == 4 ? INT64_MAX : (int64_t)r * 7919 - 500000;
        t->ts[r] = sao_days_from_civil(2024, 1, 1) * SAO_US_PER_DAY + (int64_t)r * 86400000001;
        snprintf(t->text[r], sizeof(t->text[r]), "%s-%zu", words[r % 6], r % 37);
        t->s[r] = r % 11 == 0 ? words[r % 6] : t->text[r];
        t->valid[r] = r % 3 != 0;
    }
    sao_pq_column cols[8] = {
        {"d", SAO_PQ_DOUBLE, t->d, NULL},
        {"i", SAO_PQ_INT64, t->i, NULL},
        {"ts", SAO_PQ_TIMESTAMP_US, t->ts, NULL},
        {"s", SAO_PQ_STRING, t->s, NULL},
        {"nd", SAO_PQ_DOUBLE, t->d, t->valid},
        {"ni", SAO_PQ_INT64, t->i, t->valid},
        {"nts", SAO_PQ_TIMESTAMP_US, t->ts, t->valid},
        {"ns", SAO_PQ_STRING, t->s, t->valid},
    };
    memcpy(t->cols, cols, sizeof(cols));
}

/* Checks a file read back holds exactly the sample (rows [0, rows)). */
static void check_sample(sao_pq_file *file, const sample *t, size_t rows)
{
    ASSERT_EQ(sao_parquet_num_rows(file), rows);
    ASSERT_EQ(sao_parquet_num_columns(file), 8);
    for (size_t c = 0; c < 8; c++) {
        const sao_pq_column *want = &t->cols[c];
        const sao_pq_column_data *col = read_named(file, want->name);
        ASSERT_EQ(sao_parquet_column_type(file, c), want->type);
        ASSERT_EQ(col->type, want->type);
        ASSERT_EQ(col->count, rows);
        ASSERT_TRUE(col->valid != NULL);
        size_t nulls = 0;
        for (size_t r = 0; r < rows; r++) {
            int present = !want->valid || want->valid[r];
            ASSERT_EQ(col->valid[r], present);
            nulls += !present;
            if (want->type == SAO_PQ_DOUBLE) {
                ASSERT_TRUE(col->f64 && !col->i64 && !col->i32 && !col->str);
                ASSERT_TRUE(same_double(col->f64[r], present ? t->d[r] : 0.0));
            } else if (want->type == SAO_PQ_STRING) {
                ASSERT_TRUE(col->str && col->str_len && !col->f64 && !col->i64);
                if (!present) {
                    ASSERT_TRUE(col->str[r] == NULL);
                    ASSERT_EQ(col->str_len[r], 0);
                    continue;
                }
                ASSERT_STREQ(col->str[r], t->s[r]);
                ASSERT_EQ(col->str_len[r], strlen(t->s[r]));
            } else {
                const int64_t *src = want->type == SAO_PQ_INT64 ? t->i : t->ts;
                ASSERT_TRUE(col->i64 && !col->f64 && !col->i32 && !col->str);
                ASSERT_EQ(col->i64[r], present ? src[r] : 0);
            }
        }
        ASSERT_EQ(col->null_count, nulls);
    }
}

/* ---- round trips ---------------------------------------------------------------------------- */

static void test_roundtrip_every_codec(void)
{
    static sample t;
    sample_init(&t);
    size_t sizes[SAO_ARRAY_LEN(codecs)];
    for (size_t k = 0; k < SAO_ARRAY_LEN(codecs); k++) {
        sao_pq_write_options opts;
        sao_pq_write_options_init(&opts);
        opts.codec = codecs[k];
        size_t len;
        char *buf = write_mem(t.cols, 8, SAMPLE_ROWS, &opts, &len);
        sizes[k] = len;
        sao_pq_file *file = open_mem(buf, len);
        check_sample(file, &t, SAMPLE_ROWS);
        ASSERT_EQ(sao_parquet_num_row_groups(file), 1);
        for (size_t c = 0; c < 8; c++) {
            sao_pq_chunk_info info;
            ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, c));
            ASSERT_EQ(info.codec, codecs[k]);
            ASSERT_EQ(info.repetition, c < 4 ? SAO_PQ_REQUIRED : SAO_PQ_OPTIONAL);
        }
        sao_parquet_close(file);
        sao_free(buf);
    }
    /* Every codec really compresses (the sample repeats a lot). */
    for (size_t k = 1; k < SAO_ARRAY_LEN(codecs); k++) ASSERT_TRUE(sizes[k] < sizes[0]);
}

static void test_types_in_schema(void)
{
    static sample t;
    sample_init(&t);
    size_t len;
    char *buf = write_mem(t.cols, 8, SAMPLE_ROWS, NULL, &len);
    sao_pq_file *file = open_mem(buf, len);
    sao_pq_chunk_info info;
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 0));
    ASSERT_EQ(info.physical_type, SAO_PQT_DOUBLE);
    ASSERT_EQ(info.converted_type, -1);
    ASSERT_EQ(info.codec, SAO_PQ_ZSTD); /* the default */
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 1));
    ASSERT_EQ(info.physical_type, SAO_PQT_INT64);
    ASSERT_EQ(info.logical_type, 0);
    /* TIMESTAMP_US: legacy TIMESTAMP_MICROS and TIMESTAMP(UTC, MICROS) */
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 2));
    ASSERT_EQ(info.physical_type, SAO_PQT_INT64);
    ASSERT_EQ(info.converted_type, SAO_PQ_CT_TIMESTAMP_MICROS);
    ASSERT_EQ(info.logical_type, 8);
    ASSERT_EQ(info.timestamp_utc, 1);
    ASSERT_EQ(info.timestamp_unit, 2);
    /* STRING: UTF8 and STRING, dictionary page + RLE_DICTIONARY */
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 3));
    ASSERT_EQ(info.physical_type, SAO_PQT_BYTE_ARRAY);
    ASSERT_EQ(info.converted_type, SAO_PQ_CT_UTF8);
    ASSERT_EQ(info.logical_type, 1);
    ASSERT_EQ(info.has_dictionary_page, 1);
    int has_rle_dict = 0;
    for (size_t e = 0; e < info.encodings_count; e++)
        has_rle_dict |= info.encodings[e] == SAO_PQ_ENC_RLE_DICTIONARY;
    ASSERT_TRUE(has_rle_dict);
    ASSERT_EQ(sao_store__pq_version(file), 1);
    ASSERT_STREQ(sao_store__pq_created_by(file), "stock-agent-ops version " SAO_VERSION);
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_row_groups_and_pages(void)
{
    static sample t;
    sample_init(&t);
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = SAO_PQ_SNAPPY;
    opts.row_group_rows = 300;
    /* Pages of 7 rows: many pages per chunk, and levels and runs crossing page ends. */
    sao_pq_write_tuning tuning = {7, 0, 0};
    char *buf = NULL;
    size_t len;
    ASSERT_OK(sao_store__pq_write_mem_tuned(&buf, &len, t.cols, 8, SAMPLE_ROWS, &opts, &tuning));
    sao_pq_file *file = open_mem(buf, len);
    ASSERT_EQ(sao_parquet_num_row_groups(file), 4);
    static const int64_t group_rows[] = {300, 300, 300, 100};
    for (size_t g = 0; g < 4; g++) {
        sao_pq_chunk_info info;
        ASSERT_OK(sao_store__pq_chunk_info(&info, file, g, 7));
        ASSERT_EQ(info.row_group_rows, group_rows[g]);
        ASSERT_EQ(info.num_values, group_rows[g]);
    }
    check_sample(file, &t, SAMPLE_ROWS);
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_nulls(void)
{
    enum { ROWS = 100 };
    double d[ROWS];
    int64_t i[ROWS];
    const char *s[ROWS];
    uint8_t none[ROWS], all[ROWS], some[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        d[r] = (double)r;
        i[r] = (int64_t)r;
        s[r] = r % 2 ? "x" : NULL; /* NULL only where the row is null */
        none[r] = 0;
        all[r] = 1;
        some[r] = r % 2;
    }
    sao_pq_column cols[] = {
        {"all_null", SAO_PQ_DOUBLE, d, none},
        {"no_null", SAO_PQ_INT64, i, all},
        {"half_str", SAO_PQ_STRING, s, some},
        {"null_str", SAO_PQ_STRING, s, none},
    };
    size_t len;
    char *buf = write_mem(cols, 4, ROWS, NULL, &len);
    sao_pq_file *file = open_mem(buf, len);
    const sao_pq_column_data *c0 = read_named(file, "all_null");
    ASSERT_EQ(c0->null_count, ROWS);
    for (size_t r = 0; r < ROWS; r++) ASSERT_EQ(c0->valid[r], 0);
    const sao_pq_column_data *c1 = read_named(file, "no_null");
    ASSERT_EQ(c1->null_count, 0);
    ASSERT_EQ(c1->i64[ROWS - 1], ROWS - 1);
    const sao_pq_column_data *c2 = read_named(file, "half_str");
    ASSERT_EQ(c2->null_count, ROWS / 2);
    ASSERT_TRUE(c2->str[0] == NULL);
    ASSERT_STREQ(c2->str[1], "x");
    const sao_pq_column_data *c3 = read_named(file, "null_str");
    ASSERT_EQ(c3->null_count, ROWS);
    sao_pq_chunk_info info;
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 1));
    ASSERT_EQ(info.repetition, SAO_PQ_OPTIONAL); /* valid[] given, even if all set */
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 2));
    ASSERT_EQ(info.has_dictionary_page, 1);
    ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 3));
    ASSERT_EQ(info.has_dictionary_page, 0); /* nothing to index: no empty dictionary */
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_empty_and_unicode_strings(void)
{
    const char *s[] = {"", "", "a", "", "\xf0\x9f\x93\x88 up", "\xe2\x82\xac", "", "z"};
    sao_pq_column col = {"s", SAO_PQ_STRING, s, NULL};
    size_t len;
    char *buf = write_mem(&col, 1, 8, NULL, &len);
    sao_pq_file *file = open_mem(buf, len);
    const sao_pq_column_data *c = read_named(file, "s");
    for (size_t r = 0; r < 8; r++) {
        ASSERT_TRUE(c->valid[r]);
        ASSERT_EQ(c->str_len[r], strlen(s[r]));
        ASSERT_STREQ(c->str[r], s[r]);
    }
    sao_pq_chunk_stats st;
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 0, 0));
    ASSERT_TRUE(st.has_min_value && st.min_value_len == 0); /* "" is the minimum */
    /* Unsigned byte order: the 4-byte emoji (0xF0...) is the maximum. */
    ASSERT_EQ(st.max_value_len, strlen(s[4]));
    ASSERT_TRUE(memcmp(st.max_value, s[4], st.max_value_len) == 0);
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_zero_and_one_row(void)
{
    double d = 2.5;
    const char *s = "only";
    sao_pq_column cols[] = {{"d", SAO_PQ_DOUBLE, &d, NULL}, {"s", SAO_PQ_STRING, &s, NULL}};
    size_t len;
    char *buf = write_mem(cols, 2, 0, NULL, &len);
    sao_pq_file *file = open_mem(buf, len);
    ASSERT_EQ(sao_parquet_num_rows(file), 0);
    ASSERT_EQ(sao_parquet_num_row_groups(file), 0);
    ASSERT_EQ(sao_parquet_column_type(file, 1), SAO_PQ_STRING);
    const sao_pq_column_data *c = read_named(file, "d");
    ASSERT_EQ(c->count, 0);
    ASSERT_TRUE(c->f64 != NULL); /* the kind is visible even without rows */
    sao_parquet_close(file);
    sao_free(buf);

    buf = write_mem(cols, 2, 1, NULL, &len);
    file = open_mem(buf, len);
    ASSERT_TRUE(same_double(read_named(file, "d")->f64[0], 2.5));
    ASSERT_STREQ(read_named(file, "s")->str[0], "only");
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_dictionary_large_and_fallback(void)
{
    enum { ROWS = 40000 };
    static char text[ROWS][48];
    static const char *s[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        /* 30000 distinct values: a 15-bit dictionary index. */
        snprintf(text[r], sizeof(text[r]), "value-%05zu-padding-padding", r % 30000);
        s[r] = text[r];
    }
    sao_pq_column col = {"s", SAO_PQ_STRING, s, NULL};
    for (int fallback = 0; fallback < 2; fallback++) {
        /* 30000 values of 27 bytes are ~930 KB of dictionary: under the default 1 MiB limit.
         * A 64 KiB limit forces PLAIN. */
        sao_pq_write_tuning tuning = {0, fallback ? 64 * 1024 : 0, 0};
        char *buf = NULL;
        size_t len;
        ASSERT_OK(sao_store__pq_write_mem_tuned(&buf, &len, &col, 1, ROWS, NULL, &tuning));
        sao_pq_file *file = open_mem(buf, len);
        sao_pq_chunk_info info;
        ASSERT_OK(sao_store__pq_chunk_info(&info, file, 0, 0));
        ASSERT_EQ(info.has_dictionary_page, !fallback);
        const sao_pq_column_data *c = read_named(file, "s");
        for (size_t r = 0; r < ROWS; r++) ASSERT_STREQ(c->str[r], s[r]);
        /* Dictionary-decoded rows share their entry. */
        if (!fallback) ASSERT_TRUE(c->str[0] == c->str[30000]);
        sao_parquet_close(file);
        sao_free(buf);
    }
}

/* ---- statistics ----------------------------------------------------------------------------- */

static double stat_double(const uint8_t *p, size_t len)
{
    ASSERT_EQ(len, 8);
    uint64_t bits = sao_pq_load_u64(p);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

static int64_t stat_int(const uint8_t *p, size_t len)
{
    ASSERT_EQ(len, 8);
    return (int64_t)sao_pq_load_u64(p);
}

static void test_statistics(void)
{
    double d[] = {NAN, 3.5, -0.0, 0.0, -7.25, NAN, 100.0, 2.0};
    double zeros[] = {0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double nans[] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    int64_t i[] = {5, -9, 12, INT64_MAX, 0, INT64_MIN, 7, 1};
    const char *s[] = {"b", "a", "\xc3\xa9", "z", "", "ab", "b", "zz"};
    uint8_t valid[] = {1, 1, 1, 1, 1, 0, 0, 1};
    sao_pq_column cols[] = {
        {"d", SAO_PQ_DOUBLE, d, NULL},         {"nd", SAO_PQ_DOUBLE, d, valid},
        {"zeros", SAO_PQ_DOUBLE, zeros, NULL}, {"nans", SAO_PQ_DOUBLE, nans, NULL},
        {"i", SAO_PQ_INT64, i, valid},         {"ts", SAO_PQ_TIMESTAMP_US, i, NULL},
        {"s", SAO_PQ_STRING, s, valid},
    };
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.row_group_rows = 4; /* two row groups, each with its own statistics */
    size_t len;
    char *buf = write_mem(cols, SAO_ARRAY_LEN(cols), 8, &opts, &len);
    sao_pq_file *file = open_mem(buf, len);
    sao_pq_chunk_stats st;

    /* Doubles: NaN is left out of min/max and counted; the min zero is -0, the max +0. */
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 0, 0));
    ASSERT_TRUE(st.has_min_value && st.has_max_value && st.has_min && st.has_max);
    ASSERT_TRUE(same_double(stat_double(st.min_value, st.min_value_len), -0.0));
    ASSERT_TRUE(same_double(stat_double(st.max_value, st.max_value_len), 3.5));
    ASSERT_TRUE(same_double(stat_double(st.min, st.min_len), -0.0));
    ASSERT_TRUE(st.has_null_count && st.null_count == 0);
    ASSERT_TRUE(st.has_nan_count && st.nan_count == 1);
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 1, 0));
    ASSERT_TRUE(same_double(stat_double(st.min_value, st.min_value_len), -7.25));
    ASSERT_TRUE(same_double(stat_double(st.max_value, st.max_value_len), 100.0));
    ASSERT_EQ(st.nan_count, 1);
    /* With nulls: rows 5 and 6 of group 1 are null. */
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 1, 1));
    ASSERT_EQ(st.null_count, 2);
    ASSERT_EQ(st.nan_count, 0);
    ASSERT_TRUE(same_double(stat_double(st.min_value, st.min_value_len), -7.25));
    ASSERT_TRUE(same_double(stat_double(st.max_value, st.max_value_len), 2.0));
    /* All zeros: min -0, max +0, whatever their signs in the data. */
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 1, 2));
    ASSERT_TRUE(same_double(stat_double(st.min_value, st.min_value_len), -0.0));
    ASSERT_TRUE(same_double(stat_double(st.max_value, st.max_value_len), 0.0));
    /* All NaN: no bounds at all. */
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 0, 3));
    ASSERT_TRUE(!st.has_min_value && !st.has_max_value && !st.has_min && !st.has_max);
    ASSERT_EQ(st.nan_count, 4);
    ASSERT_EQ(st.null_count, 0);
    /* Integers and timestamps: signed. */
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 0, 4));
    ASSERT_EQ(stat_int(st.min_value, st.min_value_len), -9);
    ASSERT_EQ(stat_int(st.max_value, st.max_value_len), INT64_MAX);
    ASSERT_TRUE(!st.has_nan_count);
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 1, 4));
    ASSERT_EQ(stat_int(st.min_value, st.min_value_len), 0); /* INT64_MIN is null there */
    ASSERT_EQ(stat_int(st.max_value, st.max_value_len), 1);
    ASSERT_EQ(st.null_count, 2);
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 1, 5));
    ASSERT_EQ(stat_int(st.min_value, st.min_value_len), INT64_MIN);
    ASSERT_EQ(stat_int(st.max_value, st.max_value_len), 7);
    /* Strings: unsigned byte order ("é" = C3 A9 sorts after "z"); no legacy min/max. */
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 0, 6));
    ASSERT_TRUE(!st.has_min && !st.has_max);
    ASSERT_EQ(st.min_value_len, 1);
    ASSERT_TRUE(memcmp(st.min_value, "a", 1) == 0);
    ASSERT_EQ(st.max_value_len, 2);
    ASSERT_TRUE(memcmp(st.max_value, "\xc3\xa9", 2) == 0);
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 1, 6));
    ASSERT_EQ(st.min_value_len, 0);
    ASSERT_EQ(st.max_value_len, 2);
    ASSERT_TRUE(memcmp(st.max_value, "zz", 2) == 0);
    ASSERT_EQ(st.null_count, 2);
    ASSERT_EQ(sao_store__pq_chunk_stats(&st, file, 2, 0), SAO_ERANGE);
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_metadata(void)
{
    double d = 1;
    sao_pq_column col = {"d", SAO_PQ_DOUBLE, &d, NULL};
    sao_pq_kv meta[] = {
        {"sao.view", "ohlcv"}, {"empty", ""}, {"novalue", NULL}, {"json", "{\"a\": [1, 2]}"}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.metadata = meta;
    opts.metadata_count = 4;
    size_t len;
    char *buf = write_mem(&col, 1, 1, &opts, &len);
    sao_pq_file *file = open_mem(buf, len);
    ASSERT_STREQ(sao_parquet_metadata(file, "sao.view"), "ohlcv");
    ASSERT_STREQ(sao_parquet_metadata(file, "empty"), "");
    ASSERT_TRUE(sao_parquet_metadata(file, "novalue") == NULL);
    ASSERT_STREQ(sao_parquet_metadata(file, "json"), "{\"a\": [1, 2]}");
    ASSERT_TRUE(sao_parquet_metadata(file, "missing") == NULL);
    ASSERT_EQ(sao_store__pq_metadata_count(file), 4);
    sao_parquet_close(file);
    sao_free(buf);
}

static void test_read_api(void)
{
    int64_t v[] = {1, 2, 3};
    sao_pq_column cols[] = {{"a", SAO_PQ_INT64, v, NULL}, {"b", SAO_PQ_INT64, v, NULL}};
    size_t len;
    char *buf = write_mem(cols, 2, 3, NULL, &len);
    sao_pq_file *file = open_mem(buf, len);
    ASSERT_EQ(sao_parquet_find_column(file, "b"), 1);
    ASSERT_EQ(sao_parquet_find_column(file, "nope"), -1);
    ASSERT_STREQ(sao_parquet_column_name(file, 0), "a");
    const sao_pq_column_data *first, *again;
    ASSERT_OK(sao_parquet_read_column(&first, file, 1));
    ASSERT_OK(sao_parquet_read_column(&again, file, 1));
    ASSERT_TRUE(first == again); /* cached */
    ASSERT_EQ(sao_parquet_read_column(&again, file, 2), SAO_ERANGE);
    sao_parquet_close(file);
    sao_parquet_close(NULL);
    sao_free(buf);
}

/* ---- files and atomicity -------------------------------------------------------------------- */

static void test_write_file_atomic(void)
{
    const char *dir = test_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/atomic.parquet", dir);
    unlink(path);
    int64_t v[] = {10, 20, 30};
    sao_pq_column col = {"v", SAO_PQ_INT64, v, NULL};
    ASSERT_OK(sao_parquet_write(path, &col, 1, 3, NULL));
    struct stat sb;
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0644);
    ASSERT_EQ(count_entries(dir, "atomic.parquet.tmp"), 0);

    /* A write that fails half-way leaves the old file as it was and no temp file. */
    int64_t w[] = {7, 8, 9};
    sao_pq_column col2 = {"v", SAO_PQ_INT64, w, NULL};
    sao_pq_write_tuning fail = {0, 0, 40};
    int rc = sao_store__pq_write_tuned(path, &col2, 1, 3, NULL, &fail);
    ASSERT_EQ(rc, SAO_EIO);
    ASSERT_CONTAINS(sao_error_last(), "simulated write failure");
    ASSERT_EQ(count_entries(dir, "atomic.parquet.tmp"), 0);
    sao_pq_file *file = NULL;
    ASSERT_OK(sao_parquet_open(&file, path));
    ASSERT_EQ(read_named(file, "v")->i64[2], 30);
    sao_parquet_close(file);

    /* Same for a new path: nothing at all is left. */
    char fresh[512];
    snprintf(fresh, sizeof(fresh), "%s/never.parquet", dir);
    unlink(fresh);
    ASSERT_EQ(sao_store__pq_write_tuned(fresh, &col2, 1, 3, NULL, &fail), SAO_EIO);
    ASSERT_EQ(access(fresh, F_OK), -1);
    ASSERT_EQ(count_entries(dir, "never.parquet"), 0);
    /* Bad input: refused before any file is created. */
    const char *bad[] = {"x", NULL};
    sao_pq_column badcol = {"s", SAO_PQ_STRING, bad, NULL};
    ASSERT_EQ(sao_parquet_write(fresh, &badcol, 1, 2, NULL), SAO_EINVAL);
    ASSERT_EQ(count_entries(dir, "never.parquet"), 0);
    /* A folder that does not exist. */
    ASSERT_EQ(sao_parquet_write(SAO_TEST_TMPDIR "/no/such/dir/x.parquet", &col, 1, 3, NULL),
              SAO_EIO);

    /* The replacement, when it succeeds, is complete. */
    ASSERT_OK(sao_parquet_write(path, &col2, 1, 3, NULL));
    ASSERT_OK(sao_parquet_open(&file, path));
    ASSERT_EQ(read_named(file, "v")->i64[2], 9);
    sao_parquet_close(file);
    ASSERT_EQ(sao_parquet_open(&file, SAO_TEST_TMPDIR "/parquet/missing.parquet"), SAO_ENOENT);
}

static void test_rejects_bad_input(void)
{
    double d[] = {1, 2};
    const char *s[] = {"ok", NULL};
    const char *bad_utf8[] = {"ok", "\xc3\x28"};
    const char *overlong[] = {"\xc0\xaf", "x"};
    const char *surrogate[] = {"\xed\xa0\x80", "x"};
    uint8_t valid[] = {1, 0};
    char *buf = NULL;
    size_t len;
    struct {
        sao_pq_column col;
        const char *message;
    } cases[] = {
        {{NULL, SAO_PQ_DOUBLE, d, NULL}, "has no name"},
        {{"", SAO_PQ_DOUBLE, d, NULL}, "has no name"},
        {{"n", SAO_PQ_INT32, d, NULL}, "cannot be written"},
        {{"n", SAO_PQ_BOOL, d, NULL}, "cannot be written"},
        {{"n", (sao_pq_type)99, d, NULL}, "cannot be written"},
        {{"n", SAO_PQ_DOUBLE, NULL, NULL}, "has no values"},
        {{"strs", SAO_PQ_STRING, s, NULL}, "column 'strs' row 1: NULL string"},
        {{"u", SAO_PQ_STRING, bad_utf8, NULL}, "not valid UTF-8"},
        {{"u", SAO_PQ_STRING, overlong, NULL}, "not valid UTF-8"},
        {{"u", SAO_PQ_STRING, surrogate, NULL}, "not valid UTF-8"},
        {{"\xff", SAO_PQ_DOUBLE, d, NULL}, "not UTF-8"},
    };
    for (size_t k = 0; k < SAO_ARRAY_LEN(cases); k++) {
        ASSERT_EQ(sao_parquet_write_mem(&buf, &len, &cases[k].col, 1, 2, NULL), SAO_EINVAL);
        ASSERT_CONTAINS(sao_error_last(), cases[k].message);
    }
    /* A NULL string in a null row is fine. */
    sao_pq_column ok = {"s", SAO_PQ_STRING, s, valid};
    ASSERT_OK(sao_parquet_write_mem(&buf, &len, &ok, 1, 2, NULL));
    sao_free(buf);

    sao_pq_column twice[] = {{"a", SAO_PQ_DOUBLE, d, NULL}, {"a", SAO_PQ_DOUBLE, d, NULL}};
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, twice, 2, 2, NULL), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "'a' appears twice");
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, twice, 0, 2, NULL), SAO_EINVAL);
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, NULL, 1, 2, NULL), SAO_EINVAL);

    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = (sao_pq_codec)5; /* LZ4: we do not write it */
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, twice, 1, 2, &opts), SAO_EINVAL);
    sao_pq_write_options_init(&opts);
    opts.zstd_level = 99;
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, twice, 1, 2, &opts), SAO_EINVAL);
    sao_pq_write_options_init(&opts);
    opts.metadata_count = 1;
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, twice, 1, 2, &opts), SAO_EINVAL);
    sao_pq_kv nokey = {NULL, "v"};
    opts.metadata = &nokey;
    ASSERT_EQ(sao_parquet_write_mem(&buf, &len, twice, 1, 2, &opts), SAO_EINVAL);
}

/* ---- the pyarrow file ----------------------------------------------------------------------- */

static void test_read_pyarrow_file(void)
{
    sao_pq_file *file = NULL;
    ASSERT_OK(
        sao_parquet_open(&file, sao_test_shared("data/parquet/features_4tickers_pyarrow.parquet")));
    ASSERT_EQ(sao_parquet_num_rows(file), 21460);
    ASSERT_EQ(sao_parquet_num_row_groups(file), 1);
    static const char *names[] = {"date",
                                  "Open",
                                  "High",
                                  "Low",
                                  "Close",
                                  "Volume",
                                  "RSI14",
                                  "MACD",
                                  "ticker",
                                  "event_timestamp",
                                  "created_timestamp",
                                  "__index_level_0__"};
    static const sao_pq_type types[] = {SAO_PQ_TIMESTAMP_NS, SAO_PQ_DOUBLE,       SAO_PQ_DOUBLE,
                                        SAO_PQ_DOUBLE,       SAO_PQ_DOUBLE,       SAO_PQ_INT64,
                                        SAO_PQ_DOUBLE,       SAO_PQ_DOUBLE,       SAO_PQ_STRING,
                                        SAO_PQ_TIMESTAMP_NS, SAO_PQ_TIMESTAMP_US, SAO_PQ_INT64};
    ASSERT_EQ(sao_parquet_num_columns(file), 12);
    for (size_t c = 0; c < 12; c++) {
        ASSERT_STREQ(sao_parquet_column_name(file, c), names[c]);
        ASSERT_EQ(sao_parquet_column_type(file, c), types[c]);
        const sao_pq_column_data *col;
        ASSERT_OK(sao_parquet_read_column(&col, file, c));
        ASSERT_EQ(col->null_count, 0);
    }
    ASSERT_CONTAINS(sao_parquet_metadata(file, "pandas"), "\"index_columns\"");
    ASSERT_TRUE(sao_parquet_metadata(file, "ARROW:schema") != NULL);
    ASSERT_CONTAINS(sao_store__pq_created_by(file), "parquet-cpp-arrow");

    /* Expected values were read with an independent reader (hyparquet 1.31, raw timestamps). */
    const sao_pq_column_data *date = read_named(file, "date");
    const sao_pq_column_data *open = read_named(file, "Open");
    const sao_pq_column_data *close = read_named(file, "Close");
    const sao_pq_column_data *volume = read_named(file, "Volume");
    const sao_pq_column_data *rsi = read_named(file, "RSI14");
    const sao_pq_column_data *macd = read_named(file, "MACD");
    const sao_pq_column_data *ticker = read_named(file, "ticker");
    const sao_pq_column_data *created = read_named(file, "created_timestamp");
    const sao_pq_column_data *index = read_named(file, "__index_level_0__");
    ASSERT_EQ(date->i64[0], INT64_C(1094601600000000000)); /* 2004-09-08 */
    ASSERT_TRUE(same_double(open->f64[0], 1121.300048828125));
    ASSERT_TRUE(same_double(close->f64[0], 1116.27001953125));
    ASSERT_EQ(volume->i64[0], INT64_C(1246300000));
    ASSERT_TRUE(same_double(rsi->f64[0], 68.67543591312328));
    ASSERT_TRUE(same_double(macd->f64[0], 6.395267435384312));
    ASSERT_STREQ(ticker->str[0], "^GSPC");
    ASSERT_EQ(created->i64[0], INT64_C(1766056117233219));
    ASSERT_EQ(index->i64[0], 13);

    ASSERT_EQ(date->i64[10000], INT64_C(1676937600000000000)); /* 2023-02-21 */
    ASSERT_TRUE(same_double(open->f64[10000], 20.97899838851901));
    ASSERT_TRUE(same_double(macd->f64[10000], 1.1106574400863103));
    ASSERT_STREQ(ticker->str[10000], "NVDA");
    ASSERT_EQ(volume->i64[10000], INT64_C(410015000));
    ASSERT_EQ(created->i64[10000], INT64_C(1766056676690721));
    ASSERT_EQ(index->i64[10000], 4658);

    ASSERT_EQ(date->i64[21459], INT64_C(1767312000000000000)); /* 2026-01-02 */
    ASSERT_TRUE(same_double(close->f64[21459], 271.010009765625));
    ASSERT_TRUE(same_double(macd->f64[21459], -0.2892489017357889));
    ASSERT_STREQ(ticker->str[21459], "AAPL");
    ASSERT_EQ(volume->i64[21459], INT64_C(37822400));
    ASSERT_EQ(index->i64[21459], 5377);

    /* 5365 rows of each ticker (counted by the independent reader). */
    size_t counts[4] = {0};
    static const char *tickers[] = {"^GSPC", "NVDA", "GOOG", "AAPL"};
    for (size_t r = 0; r < ticker->count; r++)
        for (size_t k = 0; k < 4; k++) counts[k] += strcmp(ticker->str[r], tickers[k]) == 0;
    for (size_t k = 0; k < 4; k++) ASSERT_EQ(counts[k], 5365);

    sao_pq_chunk_stats st;
    ASSERT_OK(sao_store__pq_chunk_stats(&st, file, 0, 8));
    ASSERT_EQ(st.min_value_len, 4);
    ASSERT_TRUE(memcmp(st.min_value, "AAPL", 4) == 0);
    ASSERT_EQ(st.max_value_len, 5);
    ASSERT_TRUE(memcmp(st.max_value, "^GSPC", 5) == 0);
    sao_parquet_close(file);
}

/* ---- hand-built files (other writers' encodings, and precise corruption) -------------------- */

typedef struct hand_col {
    const char *name;
    int physical;
    int repetition;
    int converted; /* -1: none */
    int logical;   /* LogicalType field id; 0: none */
    int ts_unit;   /* with logical 8 */
    int32_t type_length;
} hand_col;

typedef struct hand_page {
    int type; /* SAO_PQ_PAGE_* */
    int encoding;
    int def_encoding;
    int32_t num_values;
    int32_t num_nulls; /* v2 */
    int32_t def_len;   /* v2: level bytes at the start of body */
    const void *body;
    size_t len;
    int32_t uncompressed; /* 0: len */
} hand_page;

typedef struct hand_options {
    int codec;
    int64_t footer_rows; /* -1: the row count */
    int unknown_fields;  /* add fields from a future writer */
    int nested;          /* make the column a group holding a leaf */
} hand_options;

static void put_unknown_fields(sao_thrift_out *o)
{
    /* Fields with high ids and every type the skipper must handle. */
    sao_store__thrift_field(o, 100, SAO_THRIFT_DOUBLE);
    sao_buf_append(o->buf, "\0\0\0\0\0\0\xf0\x3f", 8);
    sao_store__thrift_field(o, 101, SAO_THRIFT_UUID);
    sao_buf_append(o->buf, "0123456789abcdef", 16);
    sao_store__thrift_field(o, 102, SAO_THRIFT_MAP);
    sao_store__thrift_put_varint(o, 2);
    uint8_t kinds = SAO_THRIFT_BINARY << 4 | SAO_THRIFT_LIST;
    sao_buf_append(o->buf, &kinds, 1);
    for (int k = 0; k < 2; k++) {
        sao_store__thrift_put_binary(o, "key", 3);
        sao_store__thrift_list_begin(o, SAO_THRIFT_TRUE, 3);
        sao_buf_append(o->buf, "\1\2\1", 3);
    }
    sao_store__thrift_field(o, 103, SAO_THRIFT_SET);
    sao_store__thrift_list_begin(o, SAO_THRIFT_STRUCT, 1);
    sao_store__thrift_struct_begin(o);
    sao_store__thrift_field_i8(o, 1, -5);
    sao_store__thrift_field_i16(o, 2, -300);
    sao_store__thrift_field_bool(o, 3, 1);
    sao_store__thrift_struct_end(o);
    sao_store__thrift_field(o, 104, SAO_THRIFT_MAP);
    sao_store__thrift_put_varint(o, 0);
}

/* One column, one row group, pages as given (compressed with opts->codec when it is one we
 * write). Returns the file; *len its size. */
static char *hand_file(size_t *len, const hand_col *col, const hand_page *pages, size_t npages,
                       int64_t rows, const hand_options *opts)
{
    hand_options defaults = {SAO_PQ_UNCOMPRESSED, -1, 0, 0};
    if (!opts) opts = &defaults;
    sao_buf file, scratch;
    sao_buf_init(&file, 0);
    sao_buf_init(&scratch, 0);
    sao_buf_append(&file, "PAR1", 4);
    int64_t dict_offset = 0, data_offset = 0;
    size_t chunk_start = file.len;
    for (size_t p = 0; p < npages; p++) {
        const hand_page *pg = &pages[p];
        int v2 = pg->type == SAO_PQ_PAGE_DATA_V2;
        size_t levels = v2 ? (size_t)pg->def_len : 0;
        const uint8_t *body = pg->body;
        sao_buf_clear(&scratch);
        sao_buf_append(&scratch, body, levels);
        if (sao_store__pq_codec_supported(opts->codec)) {
            sao_buf packed;
            sao_buf_init(&packed, 0);
            ASSERT_OK(
                sao_store__pq_compress(&packed, opts->codec, 3, body + levels, pg->len - levels));
            sao_buf_append(&scratch, packed.data, packed.len);
            sao_buf_dispose(&packed);
        } else {
            sao_buf_append(&scratch, body + levels, pg->len - levels);
        }
        if (pg->type == SAO_PQ_PAGE_DICTIONARY)
            dict_offset = (int64_t)file.len;
        else if (!data_offset)
            data_offset = (int64_t)file.len;
        sao_thrift_out o;
        sao_store__thrift_out_init(&o, &file);
        sao_store__thrift_struct_begin(&o);
        sao_store__thrift_field_i32(&o, 1, pg->type);
        sao_store__thrift_field_i32(&o, 2, pg->uncompressed ? pg->uncompressed : (int32_t)pg->len);
        sao_store__thrift_field_i32(&o, 3, (int32_t)scratch.len);
        if (pg->type == SAO_PQ_PAGE_DATA) {
            sao_store__thrift_field_struct_begin(&o, 5);
            sao_store__thrift_field_i32(&o, 1, pg->num_values);
            sao_store__thrift_field_i32(&o, 2, pg->encoding);
            sao_store__thrift_field_i32(&o, 3,
                                        pg->def_encoding ? pg->def_encoding : SAO_PQ_ENC_RLE);
            sao_store__thrift_field_i32(&o, 4, SAO_PQ_ENC_RLE);
            sao_store__thrift_struct_end(&o);
        } else if (pg->type == SAO_PQ_PAGE_DICTIONARY) {
            sao_store__thrift_field_struct_begin(&o, 7);
            sao_store__thrift_field_i32(&o, 1, pg->num_values);
            sao_store__thrift_field_i32(&o, 2, pg->encoding);
            sao_store__thrift_struct_end(&o);
        } else if (v2) {
            sao_store__thrift_field_struct_begin(&o, 8);
            sao_store__thrift_field_i32(&o, 1, pg->num_values);
            sao_store__thrift_field_i32(&o, 2, pg->num_nulls);
            sao_store__thrift_field_i32(&o, 3, pg->num_values);
            sao_store__thrift_field_i32(&o, 4, pg->encoding);
            sao_store__thrift_field_i32(&o, 5, pg->def_len);
            sao_store__thrift_field_i32(&o, 6, 0);
            if (opts->codec == SAO_PQ_UNCOMPRESSED) sao_store__thrift_field_bool(&o, 7, 0);
            sao_store__thrift_struct_end(&o);
        }
        if (opts->unknown_fields) put_unknown_fields(&o);
        sao_store__thrift_struct_end(&o);
        sao_buf_append(&file, scratch.data, scratch.len);
    }
    int64_t chunk_size = (int64_t)(file.len - chunk_start);
    size_t footer_start = file.len;
    sao_thrift_out o;
    sao_store__thrift_out_init(&o, &file);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i32(&o, 1, 2);
    sao_store__thrift_field_list_begin(&o, 2, SAO_THRIFT_STRUCT, opts->nested ? 3 : 2);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_string(&o, 4, "root");
    sao_store__thrift_field_i32(&o, 5, 1);
    sao_store__thrift_struct_end(&o);
    if (opts->nested) {
        sao_store__thrift_struct_begin(&o);
        sao_store__thrift_field_i32(&o, 3, SAO_PQ_OPTIONAL);
        sao_store__thrift_field_string(&o, 4, "group_col");
        sao_store__thrift_field_i32(&o, 5, 1);
        sao_store__thrift_struct_end(&o);
    }
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i32(&o, 1, col->physical);
    if (col->type_length) sao_store__thrift_field_i32(&o, 2, col->type_length);
    sao_store__thrift_field_i32(&o, 3, col->repetition);
    sao_store__thrift_field_string(&o, 4, col->name);
    if (col->converted >= 0) sao_store__thrift_field_i32(&o, 6, col->converted);
    if (col->logical) {
        sao_store__thrift_field_struct_begin(&o, 10);
        sao_store__thrift_field_struct_begin(&o, (int16_t)col->logical);
        if (col->logical == 8) {
            sao_store__thrift_field_bool(&o, 1, 0);
            sao_store__thrift_field_struct_begin(&o, 2);
            sao_store__thrift_field_struct_begin(&o, (int16_t)col->ts_unit);
            sao_store__thrift_struct_end(&o);
            sao_store__thrift_struct_end(&o);
        }
        sao_store__thrift_struct_end(&o);
        sao_store__thrift_struct_end(&o);
    }
    if (opts->unknown_fields) put_unknown_fields(&o);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_field_i64(&o, 3, opts->footer_rows >= 0 ? opts->footer_rows : rows);
    sao_store__thrift_field_list_begin(&o, 4, SAO_THRIFT_STRUCT, 1);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_list_begin(&o, 1, SAO_THRIFT_STRUCT, 1);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i64(&o, 2, 0);
    sao_store__thrift_field_struct_begin(&o, 3);
    sao_store__thrift_field_i32(&o, 1, col->physical);
    sao_store__thrift_field_list_begin(&o, 2, SAO_THRIFT_I32, 1);
    sao_store__thrift_put_i32(&o, SAO_PQ_ENC_PLAIN);
    sao_store__thrift_field_list_begin(&o, 3, SAO_THRIFT_BINARY, 1);
    sao_store__thrift_put_binary(&o, col->name, strlen(col->name));
    sao_store__thrift_field_i32(&o, 4, opts->codec);
    sao_store__thrift_field_i64(&o, 5, rows);
    sao_store__thrift_field_i64(&o, 6, chunk_size);
    sao_store__thrift_field_i64(&o, 7, chunk_size);
    if (opts->unknown_fields) {
        sao_store__thrift_field_list_begin(&o, 8, SAO_THRIFT_STRUCT, 1);
        sao_store__thrift_struct_begin(&o);
        sao_store__thrift_field_string(&o, 1, "k");
        sao_store__thrift_struct_end(&o);
    }
    sao_store__thrift_field_i64(&o, 9, data_offset ? data_offset : 4);
    if (dict_offset) sao_store__thrift_field_i64(&o, 11, dict_offset);
    if (opts->unknown_fields) put_unknown_fields(&o);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_field_i64(&o, 2, chunk_size);
    sao_store__thrift_field_i64(&o, 3, rows);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_field_string(&o, 6, "hand-built test file");
    if (opts->unknown_fields) put_unknown_fields(&o);
    sao_store__thrift_struct_end(&o);
    uint8_t tail[8];
    sao_pq_store_u32(tail, (uint32_t)(file.len - footer_start));
    memcpy(tail + 4, "PAR1", 4);
    sao_buf_append(&file, tail, 8);
    sao_buf_dispose(&scratch);
    return sao_buf_detach(&file, len);
}

/* Opens a hand-built file and reads its one column; returns the read's result code. */
static int hand_read(const char *buf, size_t len, sao_pq_file **file_out,
                     const sao_pq_column_data **col)
{
    sao_pq_file *file = NULL;
    int rc = sao_parquet_open_mem(&file, buf, len);
    if (!rc) rc = sao_parquet_read_column(col, file, 0);
    *file_out = file;
    return rc;
}

static void test_hand_plain_dictionary_v1(void)
{
    /* An old-style chunk: dictionary page marked PLAIN_DICTIONARY, data page PLAIN_DICTIONARY,
     * deprecated BIT_PACKED definition levels (MSB first). Values: 7, null, 9, 7, null. */
    uint8_t dict[16];
    sao_pq_store_u64(dict, 7);
    sao_pq_store_u64(dict + 8, 9);
    uint8_t data[] = {
        0xB0,       /* levels 1,0,1,1,0 MSB first: 10110 000 */
        1,          /* bit width of the indices */
        0x03, 0x02, /* one bit-packed group: indices 0,1,0 -> bits 0 1 0 (LSB first) */
    };
    hand_col col = {"v", SAO_PQT_INT64, SAO_PQ_OPTIONAL, -1, 0, 0, 0};
    hand_page pages[] = {
        {SAO_PQ_PAGE_DICTIONARY, SAO_PQ_ENC_PLAIN_DICTIONARY, 0, 2, 0, 0, dict, 16, 0},
        {SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN_DICTIONARY, SAO_PQ_ENC_BIT_PACKED, 5, 0, 0, data,
         sizeof(data), 0},
    };
    for (size_t k = 0; k < SAO_ARRAY_LEN(codecs); k++) {
        hand_options opts = {codecs[k], -1, 1, 0};
        size_t len;
        char *buf = hand_file(&len, &col, pages, 2, 5, &opts);
        sao_pq_file *file;
        const sao_pq_column_data *c;
        ASSERT_OK(hand_read(buf, len, &file, &c));
        static const int64_t want[] = {7, 0, 9, 7, 0};
        static const uint8_t valid[] = {1, 0, 1, 1, 0};
        for (size_t r = 0; r < 5; r++) {
            ASSERT_EQ(c->valid[r], valid[r]);
            ASSERT_EQ(c->i64[r], want[r]);
        }
        ASSERT_EQ(c->null_count, 2);
        sao_parquet_close(file);
        sao_free(buf);
    }
}

static void test_hand_delta_binary_packed(void)
{
    /* The spec's second example: 7 5 3 1 2 3 4 5. Deltas -2 -2 -2 1 1 1 1, min delta -2, so
     * the miniblock holds 0 0 0 3 3 3 3 in 2 bits (32 values: 8 bytes). Worked out by hand. */
    uint8_t body[] = {0x80, 0x01, 0x04, 0x08, 0x0E, /* 128/block, 4 miniblocks, 8 values, first 7 */
                      0x03, 0x02, 0x00, 0x00, 0x00, /* min delta -2; widths 2 0 0 0 */
                      0xC0, 0x3F, 0,    0,    0,    0, 0, 0}; /* 0,0,0,3 | 3,3,3,0 ... */
    int64_t out[8];
    size_t used;
    ASSERT_OK(sao_store__pq_delta_decode(body, sizeof(body), out, 8, &used));
    static const int64_t want[] = {7, 5, 3, 1, 2, 3, 4, 5};
    for (size_t i = 0; i < 8; i++) ASSERT_EQ(out[i], want[i]);
    ASSERT_EQ(used, sizeof(body));
    /* The first example: 1..5, all deltas 1, widths 0 and no miniblock bytes. */
    uint8_t simple[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
    ASSERT_OK(sao_store__pq_delta_decode(simple, sizeof(simple), out, 5, &used));
    for (size_t i = 0; i < 5; i++) ASSERT_EQ(out[i], (int64_t)i + 1);
    /* Count mismatch, truncation, bad shape, width over 64. */
    ASSERT_EQ(sao_store__pq_delta_decode(simple, sizeof(simple), out, 4, NULL), SAO_ECORRUPT);
    ASSERT_EQ(sao_store__pq_delta_decode(body, sizeof(body) - 1, out, 8, NULL), SAO_ECORRUPT);
    uint8_t shape[] = {0x81, 0x01, 0x04, 0x05, 0x02};
    ASSERT_EQ(sao_store__pq_delta_decode(shape, sizeof(shape), out, 5, NULL), SAO_ECORRUPT);
    uint8_t wide[sizeof(body)];
    memcpy(wide, body, sizeof(body));
    wide[6] = 65;
    ASSERT_EQ(sao_store__pq_delta_decode(wide, sizeof(wide), out, 8, NULL), SAO_ECORRUPT);

    /* Through a whole file: an INT32 column of v2 pages, nulls at rows 1 and 4. The writer
     * wraps INT32 deltas at 32 bits: INT32_MIN after INT32_MAX is a delta of +1. */
    sao_buf page;
    sao_buf_init(&page, 0);
    uint32_t levels[] = {1, 0, 1, 1, 0, 1};
    ASSERT_OK(sao_store__pq_hybrid_encode(&page, levels, 6, 1));
    size_t def_len = page.len;
    /* header: block 128, 4 miniblocks, 4 values, first INT32_MAX (zigzag 2^32 - 2) */
    uint8_t delta[] = {0x80, 0x01, 0x04, 0x04, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F,
                       /* deltas (32-bit): +1, INT32_MAX, 6; min delta 1 (zigzag 2) */
                       0x02, 31, 0, 0, 0};
    sao_buf_append(&page, delta, sizeof(delta));
    /* relative deltas 0, INT32_MAX - 1, 5 in 31 bits, 32 values: 124 bytes */
    uint8_t mini[124];
    memset(mini, 0, sizeof(mini));
    uint64_t rel[] = {0, (uint64_t)INT32_MAX - 1, 5};
    for (size_t v = 0; v < 3; v++)
        for (size_t b = 0; b < 31; b++)
            if (rel[v] >> b & 1) mini[(v * 31 + b) / 8] |= (uint8_t)(1u << ((v * 31 + b) % 8));
    sao_buf_append(&page, mini, sizeof(mini));
    hand_col col = {"i", SAO_PQT_INT32, SAO_PQ_OPTIONAL, -1, 0, 0, 0};
    hand_page pages[] = {{SAO_PQ_PAGE_DATA_V2, SAO_PQ_ENC_DELTA_BINARY_PACKED, 0, 6, 2,
                          (int32_t)def_len, page.data, page.len, 0}};
    for (size_t k = 0; k < SAO_ARRAY_LEN(codecs); k++) {
        hand_options opts = {codecs[k], -1, 0, 0};
        size_t len;
        char *buf = hand_file(&len, &col, pages, 1, 6, &opts);
        sao_pq_file *file;
        const sao_pq_column_data *c;
        ASSERT_OK(hand_read(buf, len, &file, &c));
        ASSERT_EQ(c->type, SAO_PQ_INT32);
        static const int32_t want32[] = {INT32_MAX, 0, INT32_MIN, -1, 0, 5};
        for (size_t r = 0; r < 6; r++) {
            ASSERT_EQ(c->valid[r], levels[r]);
            ASSERT_EQ(c->i32[r], want32[r]);
        }
        sao_parquet_close(file);
        sao_free(buf);
    }
    sao_buf_dispose(&page);
}

static void test_hand_delta_byte_arrays(void)
{
    /* The spec's example for DELTA_BYTE_ARRAY: axis axle babble babyhood -> prefix lengths
     * 0 2 0 3, suffixes "axis" "le" "babble" "yhood". Both length lists are DELTA_BINARY_PACKED;
     * all values fit in width-3 miniblocks (built here bit by bit). */
    sao_buf page;
    sao_buf_init(&page, 0);
    /* prefixes 0 2 0 3: first 0; deltas 2 -2 3; min -2; relative 4 0 5 (3 bits) */
    uint8_t prefixes[4 + 1 + 1 + 4 + 12] = {0x80, 0x01, 0x04, 0x04, 0x00, 0x03, 3, 0, 0, 0};
    uint64_t rel1[] = {4, 0, 5};
    for (size_t v = 0; v < 3; v++)
        for (size_t b = 0; b < 3; b++)
            if (rel1[v] >> b & 1)
                prefixes[10 + (v * 3 + b) / 8] |= (uint8_t)(1u << ((v * 3 + b) % 8));
    sao_buf_append(&page, prefixes, sizeof(prefixes));
    /* suffix lengths 4 2 6 5: first 4 (zigzag 8); deltas -2 4 -1; min -2; relative 0 6 1 */
    uint8_t suffixes[22] = {0x80, 0x01, 0x04, 0x04, 0x08, 0x03, 3, 0, 0, 0};
    uint64_t rel2[] = {0, 6, 1};
    for (size_t v = 0; v < 3; v++)
        for (size_t b = 0; b < 3; b++)
            if (rel2[v] >> b & 1)
                suffixes[10 + (v * 3 + b) / 8] |= (uint8_t)(1u << ((v * 3 + b) % 8));
    sao_buf_append(&page, suffixes, sizeof(suffixes));
    sao_buf_append(&page, "axisleBabbleyhood", 17);
    /* (capital B checks that suffix bytes are copied, not re-derived) */
    hand_col col = {"w", SAO_PQT_BYTE_ARRAY, SAO_PQ_REQUIRED, SAO_PQ_CT_UTF8, 0, 0, 0};
    hand_page pages[] = {
        {SAO_PQ_PAGE_DATA, SAO_PQ_ENC_DELTA_BYTE_ARRAY, 0, 4, 0, 0, page.data, page.len, 0}};
    size_t len;
    char *buf = hand_file(&len, &col, pages, 1, 4, NULL);
    sao_pq_file *file;
    const sao_pq_column_data *c;
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->type, SAO_PQ_STRING);
    ASSERT_STREQ(c->str[0], "axis");
    ASSERT_STREQ(c->str[1], "axle");
    ASSERT_STREQ(c->str[2], "Babble");
    ASSERT_STREQ(c->str[3], "Babyhood");
    sao_parquet_close(file);
    sao_free(buf);

    /* A prefix longer than the previous value is corrupt. */
    page.data[10] = 0xFF;
    buf = hand_file(&len, &col, pages, 1, 4, NULL);
    ASSERT_EQ(hand_read(buf, len, &file, &c), SAO_ECORRUPT);
    sao_parquet_close(file);
    sao_free(buf);

    /* DELTA_LENGTH_BYTE_ARRAY: the suffix list alone, then the bytes. */
    sao_buf_clear(&page);
    sao_buf_append(&page, suffixes, sizeof(suffixes));
    sao_buf_append(&page, "axisleBabbleyhood", 17);
    pages[0].encoding = SAO_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
    pages[0].body = page.data;
    pages[0].len = page.len;
    buf = hand_file(&len, &col, pages, 1, 4, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_STREQ(c->str[0], "axis");
    ASSERT_STREQ(c->str[1], "le");
    ASSERT_STREQ(c->str[2], "Babble");
    ASSERT_STREQ(c->str[3], "yhood");
    sao_parquet_close(file);
    sao_free(buf);
    /* Lengths past the page are corrupt. */
    pages[0].len -= 1;
    buf = hand_file(&len, &col, pages, 1, 4, NULL);
    ASSERT_EQ(hand_read(buf, len, &file, &c), SAO_ECORRUPT);
    sao_parquet_close(file);
    sao_free(buf);
    sao_buf_dispose(&page);
}

static void test_hand_other_types(void)
{
    size_t len;
    sao_pq_file *file;
    const sao_pq_column_data *c;
    char *buf;

    /* BYTE_STREAM_SPLIT doubles: byte k of every value, then byte k+1... */
    double dv[] = {1.5, -2.0, 1e300};
    uint8_t split[24];
    for (size_t i = 0; i < 3; i++) {
        uint64_t bits;
        memcpy(&bits, &dv[i], 8);
        for (size_t b = 0; b < 8; b++) split[b * 3 + i] = (uint8_t)(bits >> (8 * b));
    }
    hand_col dcol = {"d", SAO_PQT_DOUBLE, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    hand_page dpage[] = {
        {SAO_PQ_PAGE_DATA, SAO_PQ_ENC_BYTE_STREAM_SPLIT, 0, 3, 0, 0, split, 24, 0}};
    buf = hand_file(&len, &dcol, dpage, 1, 3, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    for (size_t i = 0; i < 3; i++) ASSERT_TRUE(same_double(c->f64[i], dv[i]));
    sao_parquet_close(file);
    sao_free(buf);

    /* FLOAT widens to double; BOOLEAN PLAIN is LSB-first bits, RLE is length + hybrid. */
    float fv[] = {0.1f, -3.25f};
    uint8_t fbody[8];
    for (size_t i = 0; i < 2; i++) {
        uint32_t bits;
        memcpy(&bits, &fv[i], 4);
        sao_pq_store_u32(fbody + 4 * i, bits);
    }
    hand_col fcol = {"f", SAO_PQT_FLOAT, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    hand_page fpage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 2, 0, 0, fbody, 8, 0}};
    buf = hand_file(&len, &fcol, fpage, 1, 2, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->type, SAO_PQ_FLOAT);
    ASSERT_TRUE(same_double(c->f64[0], (double)0.1f));
    ASSERT_TRUE(same_double(c->f64[1], -3.25));
    sao_parquet_close(file);
    sao_free(buf);

    uint8_t bools[] = {0x0D, 0x01};                             /* 1 0 1 1 0 0 0 0 | 1 */
    uint8_t rle_bools[] = {4, 0, 0, 0, 0x03, 0x0D, 0x10, 0x01}; /* same as hybrid + a run */
    hand_col bcol = {"b", SAO_PQT_BOOLEAN, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    hand_page bpage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 9, 0, 0, bools, 2, 0}};
    buf = hand_file(&len, &bcol, bpage, 1, 9, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->type, SAO_PQ_BOOL);
    static const int32_t want_bools[] = {1, 0, 1, 1, 0, 0, 0, 0, 1};
    for (size_t i = 0; i < 9; i++) ASSERT_EQ(c->i32[i], want_bools[i]);
    sao_parquet_close(file);
    sao_free(buf);
    hand_page rpage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_RLE, 0, 16, 0, 0, rle_bools, 8, 0}};
    buf = hand_file(&len, &bcol, rpage, 1, 16, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    for (size_t i = 0; i < 16; i++) ASSERT_EQ(c->i32[i], i < 8 ? want_bools[i] : 1);
    sao_parquet_close(file);
    sao_free(buf);

    /* INT96 (legacy timestamps): nanoseconds of the day, then the Julian day. */
    uint8_t i96[12];
    sao_pq_store_u64(i96, UINT64_C(3600000000123)); /* 01:00:00.000000123 */
    sao_pq_store_u32(i96 + 8, 2440588 + 19723);     /* 2024-01-01 */
    hand_col tcol = {"t", SAO_PQT_INT96, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    hand_page tpage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 1, 0, 0, i96, 12, 0}};
    buf = hand_file(&len, &tcol, tpage, 1, 1, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->type, SAO_PQ_TIMESTAMP_NS);
    ASSERT_EQ(c->i64[0], INT64_C(19723) * 86400000000000 + INT64_C(3600000000123));
    sao_parquet_close(file);
    sao_free(buf);

    /* FIXED_LEN_BYTE_ARRAY reads as binary with lengths (bytes may include NUL). */
    uint8_t fixed[] = {1, 0, 2, 3, 0, 0};
    hand_col xcol = {"x", SAO_PQT_FIXED_LEN_BYTE_ARRAY, SAO_PQ_REQUIRED, -1, 0, 0, 3};
    hand_page xpage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 2, 0, 0, fixed, 6, 0}};
    buf = hand_file(&len, &xcol, xpage, 1, 2, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->type, SAO_PQ_BINARY);
    ASSERT_EQ(c->str_len[1], 3);
    ASSERT_TRUE(memcmp(c->str[1], "\3\0\0", 3) == 0);
    sao_parquet_close(file);
    sao_free(buf);

    /* Logical types: DATE, TIMESTAMP(MILLIS) and TIMESTAMP(NANOS), converted-only MILLIS. */
    uint8_t i32v[4];
    sao_pq_store_u32(i32v, 19723);
    hand_col datecol = {"day", SAO_PQT_INT32, SAO_PQ_REQUIRED, SAO_PQ_CT_DATE, 0, 0, 0};
    hand_page datepage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 1, 0, 0, i32v, 4, 0}};
    buf = hand_file(&len, &datecol, datepage, 1, 1, NULL);
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->type, SAO_PQ_DATE);
    ASSERT_EQ(c->i32[0], 19723);
    sao_parquet_close(file);
    sao_free(buf);
    uint8_t i64v[8];
    sao_pq_store_u64(i64v, 1700000000123);
    static const struct {
        int converted, logical, unit;
        sao_pq_type type;
    } ts[] = {{-1, 8, 1, SAO_PQ_TIMESTAMP_MS},
              {-1, 8, 3, SAO_PQ_TIMESTAMP_NS},
              {SAO_PQ_CT_TIMESTAMP_MILLIS, 0, 0, SAO_PQ_TIMESTAMP_MS},
              {-1, 0, 0, SAO_PQ_INT64}};
    for (size_t k = 0; k < SAO_ARRAY_LEN(ts); k++) {
        hand_col tscol = {
            "ts", SAO_PQT_INT64, SAO_PQ_REQUIRED, ts[k].converted, ts[k].logical, ts[k].unit, 0};
        hand_page tspage[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 1, 0, 0, i64v, 8, 0}};
        buf = hand_file(&len, &tscol, tspage, 1, 1, NULL);
        ASSERT_OK(hand_read(buf, len, &file, &c));
        ASSERT_EQ(c->type, ts[k].type);
        ASSERT_EQ(c->i64[0], 1700000000123); /* read as stored, never converted */
        sao_parquet_close(file);
        sao_free(buf);
    }
}

static void test_hand_unknown_fields_skipped(void)
{
    uint8_t body[16];
    sao_pq_store_u64(body, 42);
    sao_pq_store_u64(body + 8, (uint64_t)-42);
    hand_col col = {"v", SAO_PQT_INT64, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    hand_page pages[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 2, 0, 0, body, 16, 0}};
    hand_options opts = {SAO_PQ_UNCOMPRESSED, -1, 1, 0};
    size_t len;
    char *buf = hand_file(&len, &col, pages, 1, 2, &opts);
    sao_pq_file *file;
    const sao_pq_column_data *c;
    ASSERT_OK(hand_read(buf, len, &file, &c));
    ASSERT_EQ(c->i64[0], 42);
    ASSERT_EQ(c->i64[1], -42);
    ASSERT_STREQ(sao_store__pq_created_by(file), "hand-built test file");
    sao_parquet_close(file);
    sao_free(buf);
}

static void expect_read_error(const char *buf, size_t len, int code, const char *message)
{
    sao_pq_file *file = NULL;
    const sao_pq_column_data *c;
    ASSERT_EQ(hand_read(buf, len, &file, &c), code);
    if (message) ASSERT_CONTAINS(sao_error_last(), message);
    sao_parquet_close(file);
}

static void test_hand_unsupported(void)
{
    uint8_t body[8] = {0};
    hand_col col = {"v", SAO_PQT_INT64, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    hand_page pages[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 1, 0, 0, body, 8, 0}};
    size_t len;
    char *buf;

    hand_options lz4 = {7, -1, 0, 0}; /* LZ4_RAW */
    buf = hand_file(&len, &col, pages, 1, 1, &lz4);
    expect_read_error(buf, len, SAO_EUNSUPPORTED, "column 'v': compression codec LZ4_RAW");
    sao_free(buf);

    hand_options nested = {SAO_PQ_UNCOMPRESSED, -1, 0, 1};
    buf = hand_file(&len, &col, pages, 1, 1, &nested);
    expect_read_error(buf, len, SAO_EUNSUPPORTED, "column 'group_col' is nested");
    sao_free(buf);

    hand_col repeated = {"list_col", SAO_PQT_INT64, SAO_PQ_REPEATED, -1, 0, 0, 0};
    buf = hand_file(&len, &repeated, pages, 1, 1, NULL);
    expect_read_error(buf, len, SAO_EUNSUPPORTED, "column 'list_col' is repeated");
    sao_free(buf);

    pages[0].encoding = 1; /* GROUP_VAR_INT, never used by anyone */
    buf = hand_file(&len, &col, pages, 1, 1, NULL);
    expect_read_error(buf, len, SAO_EUNSUPPORTED, "encoding GROUP_VAR_INT");
    sao_free(buf);
    pages[0].encoding = SAO_PQ_ENC_DELTA_BYTE_ARRAY; /* not for INT64 */
    buf = hand_file(&len, &col, pages, 1, 1, NULL);
    expect_read_error(buf, len, SAO_EUNSUPPORTED, "does not apply to its type");
    sao_free(buf);
}

static void test_hand_corrupt_pages(void)
{
    uint8_t body[16] = {0};
    hand_col col = {"v", SAO_PQT_INT64, SAO_PQ_REQUIRED, -1, 0, 0, 0};
    size_t len;
    char *buf;

    /* More rows than values, fewer rows than values, a page too big for the limit. */
    hand_page one[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 2, 0, 0, body, 16, 0}};
    buf = hand_file(&len, &col, one, 1, 3, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "chunk ends after 2 of 3 values");
    sao_free(buf);
    buf = hand_file(&len, &col, one, 1, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "overflows its row group");
    sao_free(buf);
    hand_options rows_lie = {SAO_PQ_UNCOMPRESSED, 5, 0, 0};
    buf = hand_file(&len, &col, one, 1, 2, &rows_lie);
    expect_read_error(buf, len, SAO_ECORRUPT, "the footer says 5 rows");
    sao_free(buf);
    one[0].uncompressed = 0x7FFFFFFF;
    buf = hand_file(&len, &col, one, 1, 2, NULL);
    expect_read_error(buf, len, SAO_ETOOBIG, "exceeds the limit");
    sao_free(buf);
    /* A compressed page claiming 10 MB inflates to its real 16 bytes: corrupt. */
    hand_options zstd = {SAO_PQ_ZSTD, -1, 0, 0};
    one[0].uncompressed = 10 << 20;
    buf = hand_file(&len, &col, one, 1, 2, &zstd);
    expect_read_error(buf, len, SAO_ECORRUPT, "zstd");
    sao_free(buf);
    one[0].uncompressed = 0;
    one[0].len = 15; /* PLAIN int64s truncated */
    buf = hand_file(&len, &col, one, 1, 2, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "PLAIN values are truncated");
    sao_free(buf);

    /* Dictionary problems: index past the end, dictionary after data, no dictionary. */
    uint8_t dict[8] = {1};
    uint8_t idx[] = {2, 0x02, 0x03}; /* width 2, RLE run of 1 value: 3 */
    hand_page dpages[] = {
        {SAO_PQ_PAGE_DICTIONARY, SAO_PQ_ENC_PLAIN, 0, 1, 0, 0, dict, 8, 0},
        {SAO_PQ_PAGE_DATA, SAO_PQ_ENC_RLE_DICTIONARY, 0, 1, 0, 0, idx, 3, 0},
    };
    buf = hand_file(&len, &col, dpages, 2, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "dictionary index 3 past the 1 entries");
    sao_free(buf);
    buf = hand_file(&len, &col, dpages + 1, 1, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "without a dictionary page");
    sao_free(buf);
    hand_page swapped[] = {dpages[1], dpages[0]};
    swapped[0].num_values = 0;
    buf = hand_file(&len, &col, swapped, 2, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "not the first page");
    sao_free(buf);
    dpages[0].num_values = 1000; /* more entries than bytes */
    buf = hand_file(&len, &col, dpages, 2, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "dictionary page is truncated");
    sao_free(buf);

    /* Definition levels: a level of 2 in a max-1 column, levels past the page. */
    hand_col ocol = {"v", SAO_PQT_INT64, SAO_PQ_OPTIONAL, -1, 0, 0, 0};
    uint8_t lv[] = {2, 0, 0, 0, 0x02, 0x02}; /* length 2: RLE run of one 2 */
    hand_page lpages[] = {{SAO_PQ_PAGE_DATA, SAO_PQ_ENC_PLAIN, 0, 1, 0, 0, lv, 6, 0}};
    buf = hand_file(&len, &ocol, lpages, 1, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "does not fit in 1 bits");
    sao_free(buf);
    lv[0] = 200;
    buf = hand_file(&len, &ocol, lpages, 1, 1, NULL);
    expect_read_error(buf, len, SAO_ECORRUPT, "definition levels overrun the page");
    sao_free(buf);
}

/* ---- encodings and thrift ------------------------------------------------------------------- */

static void test_hybrid_spec_vectors(void)
{
    /* From the format's documentation: 0..7 bit-packed in 3 bits is 0x88 0xC6 0xFA (LSB first);
     * the deprecated BIT_PACKED form (MSB first) is 0x05 0x39 0x77. */
    uint8_t packed[] = {0x03, 0x88, 0xC6, 0xFA};
    uint32_t out[16];
    size_t used;
    ASSERT_OK(sao_store__pq_hybrid_decode(packed, 4, 3, out, 8, &used));
    for (uint32_t i = 0; i < 8; i++) ASSERT_EQ(out[i], i);
    ASSERT_EQ(used, 4);
    uint8_t msb[] = {0x05, 0x39, 0x77};
    ASSERT_OK(sao_store__pq_bitpacked_msb_decode(msb, 3, 3, out, 8, &used));
    for (uint32_t i = 0; i < 8; i++) ASSERT_EQ(out[i], i);
    /* An RLE run: 10 times the value 0x1234 in 13 bits (2 value bytes). */
    uint8_t run[] = {0x14, 0x34, 0x12};
    ASSERT_OK(sao_store__pq_hybrid_decode(run, 3, 13, out, 10, &used));
    for (size_t i = 0; i < 10; i++) ASSERT_EQ(out[i], 0x1234);
    /* Our encoder writes the same bytes for 0..7. */
    uint32_t seq[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_OK(sao_store__pq_hybrid_encode(&b, seq, 8, 3));
    ASSERT_EQ(b.len, 4);
    ASSERT_TRUE(memcmp(b.data, packed, 4) == 0);
    /* Errors: too few bytes, width over 32, a run value too wide. */
    ASSERT_EQ(sao_store__pq_hybrid_decode(packed, 3, 3, out, 8, NULL), SAO_ECORRUPT);
    ASSERT_EQ(sao_store__pq_hybrid_decode(packed, 4, 33, out, 8, NULL), SAO_ECORRUPT);
    ASSERT_EQ(sao_store__pq_hybrid_decode(run, 3, 12, out, 10, NULL), SAO_ECORRUPT);
    ASSERT_EQ(sao_store__pq_hybrid_decode(run, 2, 13, out, 10, NULL), SAO_ECORRUPT);
    sao_buf_dispose(&b);
}

static void test_hybrid_roundtrip(void)
{
    enum { N = 5000 };
    static uint32_t values[N], back[N];
    unsigned seed = 12345;
    for (int width = 0; width <= 32; width++) {
        uint64_t mask = width == 32 ? UINT32_MAX : (UINT64_C(1) << width) - 1;
        for (size_t i = 0; i < N; i++) {
            seed = seed * 1103515245u + 12345u;
            /* Mix runs (long and short) with noise so both run kinds and the borrowing at
             * literal/run borders are exercised. */
            if (i % 300 < 40)
                values[i] = (uint32_t)(7 & mask);
            else if (i % 300 < 45)
                values[i] = (uint32_t)(i / 300 & mask);
            else
                values[i] = (uint32_t)((seed >> 3) & mask);
        }
        for (size_t count = 0; count <= N; count += count < 20 ? 1 : 997) {
            sao_buf b;
            sao_buf_init(&b, 0);
            ASSERT_OK(sao_store__pq_hybrid_encode(&b, values, count, width));
            size_t used;
            ASSERT_OK(sao_store__pq_hybrid_decode((const uint8_t *)b.data, b.len, width, back,
                                                  count, &used));
            ASSERT_EQ(used, b.len);
            for (size_t i = 0; i < count; i++) ASSERT_EQ(back[i], values[i]);
            sao_buf_dispose(&b);
        }
    }
}

static void test_thrift(void)
{
    sao_buf buf;
    sao_buf_init(&buf, 0);
    sao_thrift_out o;
    sao_store__thrift_out_init(&o, &buf);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i32(&o, 1, INT32_MIN);
    sao_store__thrift_field_i64(&o, 40, INT64_MAX); /* long form: delta over 15 */
    sao_store__thrift_field_i64(&o, 41, INT64_MIN);
    sao_store__thrift_field_string(&o, 42, "hello");
    sao_store__thrift_field_bool(&o, 43, 1);
    sao_store__thrift_field_list_begin(&o, 44, SAO_THRIFT_I32, 20); /* long list header */
    for (int i = 0; i < 20; i++) sao_store__thrift_put_i32(&o, -i);
    sao_store__thrift_field_struct_begin(&o, 45);
    sao_store__thrift_field_i32(&o, 1, 7);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_field_i16(&o, 46, -2);
    sao_store__thrift_struct_end(&o);

    sao_thrift_in in;
    sao_store__thrift_in_init(&in, buf.data, buf.len);
    int16_t last = 0, id;
    uint8_t type;
    int64_t v;
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(id, 1);
    ASSERT_OK(sao_store__thrift_get_int(&in, type, &v));
    ASSERT_EQ(v, INT32_MIN);
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(id, 40);
    ASSERT_OK(sao_store__thrift_get_int(&in, type, &v));
    ASSERT_EQ(v, INT64_MAX);
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_OK(sao_store__thrift_get_int(&in, type, &v));
    ASSERT_EQ(v, INT64_MIN);
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    const uint8_t *s;
    size_t slen;
    ASSERT_OK(sao_store__thrift_get_binary(&in, &s, &slen));
    ASSERT_EQ(slen, 5);
    ASSERT_TRUE(memcmp(s, "hello", 5) == 0);
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    int flag;
    ASSERT_OK(sao_store__thrift_get_bool_field(type, &flag));
    ASSERT_EQ(flag, 1);
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    uint8_t elem;
    size_t count;
    ASSERT_OK(sao_store__thrift_list_begin_read(&in, &elem, &count));
    ASSERT_EQ(count, 20);
    for (int i = 0; i < 20; i++) {
        ASSERT_OK(sao_store__thrift_get_int(&in, elem, &v));
        ASSERT_EQ(v, -i);
    }
    /* The nested struct is skipped whole; the field after it still reads. */
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(id, 45);
    ASSERT_OK(sao_store__thrift_skip(&in, type));
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(id, 46);
    ASSERT_OK(sao_store__thrift_get_int(&in, type, &v));
    ASSERT_EQ(v, -2);
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(type, SAO_THRIFT_STOP);

    /* Hostile input: an 11-byte varint, a list longer than the data, deep nesting, an i32
     * that overflows, a binary past the end, a bad type code. */
    uint8_t varint[] = {0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    sao_store__thrift_in_init(&in, varint, sizeof(varint));
    last = 0;
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(sao_store__thrift_get_int(&in, type, &v), SAO_ECORRUPT);
    uint8_t list[] = {0xF5, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x01};
    sao_store__thrift_in_init(&in, list, sizeof(list));
    ASSERT_EQ(sao_store__thrift_list_begin_read(&in, &elem, &count), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "overruns");
    uint8_t deep[200];
    memset(deep, 0x1C, sizeof(deep)); /* field 1, struct, over and over */
    sao_store__thrift_in_init(&in, deep, sizeof(deep));
    ASSERT_EQ(sao_store__thrift_skip(&in, SAO_THRIFT_STRUCT), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "nesting");
    uint8_t big32[] = {0x15, 0xFE, 0xFF, 0xFF, 0xFF, 0x1F};
    sao_store__thrift_in_init(&in, big32, sizeof(big32));
    last = 0;
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(sao_store__thrift_get_int(&in, type, &v), SAO_ECORRUPT);
    uint8_t bin[] = {0x18, 0x05, 'a'};
    sao_store__thrift_in_init(&in, bin, sizeof(bin));
    last = 0;
    ASSERT_OK(sao_store__thrift_next_field(&in, &last, &type, &id));
    ASSERT_EQ(sao_store__thrift_get_binary(&in, &s, &slen), SAO_ECORRUPT);
    uint8_t badtype[] = {0x1E};
    sao_store__thrift_in_init(&in, badtype, 1);
    last = 0;
    ASSERT_EQ(sao_store__thrift_next_field(&in, &last, &type, &id), SAO_ECORRUPT);
    sao_buf_dispose(&buf);
}

/* ---- partial reads: row groups, statistics, column chunks, rows ------------------------------ */

/* Checks that `got` holds rows [first, first + got->count) of `whole`, value for value. */
static void check_rows(const sao_pq_column_data *got, const sao_pq_column_data *whole, size_t first)
{
    ASSERT_STREQ(got->name, whole->name);
    ASSERT_EQ(got->type, whole->type);
    ASSERT_TRUE(first + got->count <= whole->count);
    ASSERT_TRUE(got->valid != NULL);
    ASSERT_EQ(!got->f64, !whole->f64);
    ASSERT_EQ(!got->i64, !whole->i64);
    ASSERT_EQ(!got->i32, !whole->i32);
    ASSERT_EQ(!got->str, !whole->str);
    size_t nulls = 0;
    for (size_t r = 0; r < got->count; r++) {
        size_t w = first + r;
        ASSERT_EQ(got->valid[r], whole->valid[w]);
        nulls += !got->valid[r];
        if (got->f64) ASSERT_TRUE(same_double(got->f64[r], whole->f64[w]));
        if (got->i64) ASSERT_EQ(got->i64[r], whole->i64[w]);
        if (got->i32) ASSERT_EQ(got->i32[r], whole->i32[w]);
        if (!got->str) continue;
        ASSERT_EQ(got->str_len[r], whole->str_len[w]);
        if (whole->str[w])
            ASSERT_STREQ(got->str[r], whole->str[w]);
        else
            ASSERT_TRUE(got->str[r] == NULL);
    }
    ASSERT_EQ(got->null_count, nulls);
}

static void check_read_rows(sao_pq_file *file, size_t column, const sao_pq_column_data *whole,
                            size_t first, size_t count)
{
    const sao_pq_column_data *got = NULL;
    ASSERT_OK(sao_parquet_read_rows(&got, file, column, first, count));
    ASSERT_EQ(got->count, count);
    check_rows(got, whole, first);
}

static void test_partial_reads_match_whole(void)
{
    static sample t;
    sample_init(&t);
    /* Rows per row group and per page: the old layout (one group of one page each), groups of
     * many pages, pages that do not divide their groups, groups of one row. */
    static const size_t layouts[][2] = {{0, 0}, {300, 7}, {128, 32}, {1000, 64}, {97, 13}, {1, 1}};
    for (size_t k = 0; k < SAO_ARRAY_LEN(layouts); k++) {
        sao_pq_write_options opts;
        sao_pq_write_options_init(&opts);
        opts.codec = codecs[k % SAO_ARRAY_LEN(codecs)];
        opts.row_group_rows = layouts[k][0];
        opts.page_rows = layouts[k][1];
        size_t len;
        char *buf = write_mem(t.cols, 8, SAMPLE_ROWS, &opts, &len);
        sao_pq_file *reference = open_mem(buf, len);
        sao_pq_file *file = open_mem(buf, len);
        size_t groups = sao_parquet_num_row_groups(file);
        size_t group_rows = layouts[k][0] ? layouts[k][0] : SAMPLE_ROWS;
        ASSERT_EQ(groups, (SAMPLE_ROWS + group_rows - 1) / group_rows);
        size_t total = 0;
        for (size_t g = 0; g < groups; g++) total += sao_parquet_row_group_rows(file, g);
        ASSERT_EQ(total, SAMPLE_ROWS);
        for (size_t c = 0; c < 8; c++) {
            const sao_pq_column_data *whole;
            ASSERT_OK(sao_parquet_read_column(&whole, reference, c));
            /* Every single row: first, middle and last rows of pages and of row groups. */
            for (size_t r = 0; r < SAMPLE_ROWS; r++) check_read_rows(file, c, whole, r, 1);
            /* Runs within a page, across pages, across row groups, empty ones, all rows. */
            static const size_t runs[][2] = {{0, SAMPLE_ROWS}, {0, 0},    {SAMPLE_ROWS, 0},
                                             {5, 60},          {290, 20}, {95, 300},
                                             {940, 60},        {999, 1},  {1, 998}};
            for (size_t i = 0; i < SAO_ARRAY_LEN(runs); i++)
                check_read_rows(file, c, whole, runs[i][0], runs[i][1]);
            for (size_t r = 0; r + 60 <= SAMPLE_ROWS; r += 37)
                check_read_rows(file, c, whole, r, 60);
            /* Column chunks: one row group's rows, cached. */
            size_t first = 0;
            for (size_t g = 0; g < groups; g++) {
                const sao_pq_column_data *chunk, *again;
                ASSERT_OK(sao_parquet_read_column_chunk(&chunk, file, c, g));
                ASSERT_EQ(chunk->count, sao_parquet_row_group_rows(file, g));
                check_rows(chunk, whole, first);
                ASSERT_OK(sao_parquet_read_column_chunk(&again, file, c, g));
                ASSERT_TRUE(again == chunk);
                first += chunk->count;
            }
            /* With the chunks cached, rows come from them. */
            check_read_rows(file, c, whole, SAMPLE_ROWS - 1, 1);
            check_read_rows(file, c, whole, 250, 100);
        }
        /* Once a column was read whole, chunks and rows are taken from it. */
        sao_pq_file *later = open_mem(buf, len);
        const sao_pq_column_data *whole, *chunk;
        ASSERT_OK(sao_parquet_read_column(&whole, later, 3));
        check_read_rows(later, 3, whole, 17, 300);
        ASSERT_OK(sao_parquet_read_column_chunk(&chunk, later, 3, groups - 1));
        check_rows(chunk, whole, SAMPLE_ROWS - chunk->count);
        /* Out of range. */
        const sao_pq_column_data *none = NULL;
        ASSERT_EQ(sao_parquet_read_rows(&none, later, 8, 0, 1), SAO_ERANGE);
        ASSERT_EQ(sao_parquet_read_rows(&none, later, 0, SAMPLE_ROWS + 1, 0), SAO_ERANGE);
        ASSERT_EQ(sao_parquet_read_rows(&none, later, 0, SAMPLE_ROWS - 1, 2), SAO_ERANGE);
        ASSERT_EQ(sao_parquet_read_rows(&none, later, 0, 1, SIZE_MAX), SAO_ERANGE);
        ASSERT_EQ(sao_parquet_read_column_chunk(&none, later, 0, groups), SAO_ERANGE);
        ASSERT_EQ(sao_parquet_read_column_chunk(&none, later, 8, 0), SAO_ERANGE);
        ASSERT_TRUE(none == NULL);
        sao_parquet_close(later);
        sao_parquet_close(file);
        sao_parquet_close(reference);
        sao_free(buf);
    }
}

/* Rows wanted from one page never make the other pages of their chunk be decompressed: a
 * damaged page fails only the reads that need it. */
static void test_partial_read_skips_pages(void)
{
    enum { ROWS = 100 };
    double v[ROWS];
    uint8_t valid[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        v[r] = (double)r * 1.5;
        valid[r] = r % 7 != 3;
    }
    sao_pq_column cols[] = {{"v", SAO_PQ_DOUBLE, v, valid}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = SAO_PQ_GZIP; /* gzip checks its stream, so the damage cannot go unseen */
    opts.page_rows = 10;
    size_t len;
    char *buf = write_mem(cols, 1, ROWS, &opts, &len);
    /* The first page follows the magic; its body starts after its header with the gzip
     * header, whose third byte names the compression method. */
    sao_thrift_in in;
    sao_store__thrift_in_init(&in, buf + 4, len - 4);
    ASSERT_OK(sao_store__thrift_skip(&in, SAO_THRIFT_STRUCT));
    size_t body = (size_t)(in.pos - (const uint8_t *)buf);
    ASSERT_EQ((uint8_t)buf[body], 0x1f);
    ASSERT_EQ((uint8_t)buf[body + 1], 0x8b);
    buf[body + 2] = 0x7f;
    sao_pq_file *file = open_mem(buf, len);
    const sao_pq_column_data *got;
    ASSERT_OK(sao_parquet_read_rows(&got, file, 0, 10, ROWS - 10));
    for (size_t r = 0; r < ROWS - 10; r++) {
        ASSERT_EQ(got->valid[r], valid[10 + r]);
        ASSERT_TRUE(same_double(got->f64[r], valid[10 + r] ? v[10 + r] : 0.0));
    }
    ASSERT_OK(sao_parquet_read_rows(&got, file, 0, ROWS - 1, 1));
    ASSERT_TRUE(same_double(got->f64[0], v[ROWS - 1]));
    ASSERT_EQ(sao_parquet_read_rows(&got, file, 0, 9, 1), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "column 'v'");
    ASSERT_EQ(sao_parquet_read_rows(&got, file, 0, 5, 10), SAO_ECORRUPT);
    ASSERT_EQ(sao_parquet_read_column_chunk(&got, file, 0, 0), SAO_ECORRUPT);
    ASSERT_EQ(sao_parquet_read_column(&got, file, 0), SAO_ECORRUPT);
    sao_parquet_close(file);
    sao_free(buf);
}

/* A one-column file of three rows (1, 5, 3) of physical type `physical` (INT64 or INT96) whose
 * column chunk carries the statistics given: `fields` says which of legacy min/max (1) and
 * min_value/max_value (2) are written, each as `value_len` bytes holding lo and hi. */
static char *stats_file(size_t *len, int physical, int fields, size_t value_len, int64_t lo,
                        int64_t hi)
{
    sao_buf file;
    sao_buf_init(&file, 0);
    sao_buf_append(&file, "PAR1", 4);
    /* PLAIN values: 8 bytes each, or 12 for INT96 (nanoseconds, then the day). */
    size_t width = physical == SAO_PQT_INT96 ? 12 : 8;
    uint8_t values[36] = {0};
    for (size_t i = 0; i < 3; i++) sao_pq_store_u64(values + width * i, i == 1 ? 5 : 2 * i + 1);
    sao_thrift_out o;
    sao_store__thrift_out_init(&o, &file);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i32(&o, 1, SAO_PQ_PAGE_DATA);
    sao_store__thrift_field_i32(&o, 2, (int32_t)(3 * width));
    sao_store__thrift_field_i32(&o, 3, (int32_t)(3 * width));
    sao_store__thrift_field_struct_begin(&o, 5);
    sao_store__thrift_field_i32(&o, 1, 3);
    sao_store__thrift_field_i32(&o, 2, SAO_PQ_ENC_PLAIN);
    sao_store__thrift_field_i32(&o, 3, SAO_PQ_ENC_RLE);
    sao_store__thrift_field_i32(&o, 4, SAO_PQ_ENC_RLE);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_struct_end(&o);
    sao_buf_append(&file, values, 3 * width);
    int64_t chunk_size = (int64_t)file.len - 4;
    size_t footer_start = file.len;
    uint8_t lo_bytes[8], hi_bytes[8];
    sao_pq_store_u64(lo_bytes, (uint64_t)lo);
    sao_pq_store_u64(hi_bytes, (uint64_t)hi);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i32(&o, 1, 1);
    sao_store__thrift_field_list_begin(&o, 2, SAO_THRIFT_STRUCT, 2);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_string(&o, 4, "root");
    sao_store__thrift_field_i32(&o, 5, 1);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_i32(&o, 1, physical);
    sao_store__thrift_field_i32(&o, 3, SAO_PQ_REQUIRED);
    sao_store__thrift_field_string(&o, 4, "v");
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_field_i64(&o, 3, 3);
    sao_store__thrift_field_list_begin(&o, 4, SAO_THRIFT_STRUCT, 1);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_list_begin(&o, 1, SAO_THRIFT_STRUCT, 1);
    sao_store__thrift_struct_begin(&o);
    sao_store__thrift_field_struct_begin(&o, 3);
    sao_store__thrift_field_i32(&o, 1, physical);
    sao_store__thrift_field_list_begin(&o, 2, SAO_THRIFT_I32, 1);
    sao_store__thrift_put_i32(&o, SAO_PQ_ENC_PLAIN);
    sao_store__thrift_field_list_begin(&o, 3, SAO_THRIFT_BINARY, 1);
    sao_store__thrift_put_binary(&o, "v", 1);
    sao_store__thrift_field_i32(&o, 4, SAO_PQ_UNCOMPRESSED);
    sao_store__thrift_field_i64(&o, 5, 3);
    sao_store__thrift_field_i64(&o, 6, chunk_size);
    sao_store__thrift_field_i64(&o, 7, chunk_size);
    sao_store__thrift_field_i64(&o, 9, 4);
    sao_store__thrift_field_struct_begin(&o, 12);
    if (fields & 1) {
        sao_store__thrift_field_binary(&o, 1, hi_bytes, value_len);
        sao_store__thrift_field_binary(&o, 2, lo_bytes, value_len);
    }
    if (fields & 2) {
        sao_store__thrift_field_binary(&o, 5, hi_bytes, value_len);
        sao_store__thrift_field_binary(&o, 6, lo_bytes, value_len);
    }
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_field_i64(&o, 2, chunk_size);
    sao_store__thrift_field_i64(&o, 3, 3);
    sao_store__thrift_struct_end(&o);
    sao_store__thrift_struct_end(&o);
    uint8_t tail[8];
    sao_pq_store_u32(tail, (uint32_t)(file.len - footer_start));
    memcpy(tail + 4, "PAR1", 4);
    sao_buf_append(&file, tail, 8);
    return sao_buf_detach(&file, len);
}

static int stats_range(int physical, int fields, size_t value_len, int64_t lo, int64_t hi,
                       int64_t *min, int64_t *max)
{
    size_t len;
    char *buf = stats_file(&len, physical, fields, value_len, lo, hi);
    sao_pq_file *file = open_mem(buf, len);
    /* The statistics never stop the data from being read. */
    const sao_pq_column_data *col;
    ASSERT_OK(sao_parquet_read_column_chunk(&col, file, 0, 0));
    ASSERT_EQ(col->count, 3);
    int rc = sao_parquet_chunk_range_i64(min, max, file, 0, 0);
    sao_parquet_close(file);
    sao_free(buf);
    return rc;
}

static void test_chunk_range_i64(void)
{
    enum { ROWS = 12 };
    int64_t ts[ROWS], i[ROWS];
    double d[ROWS];
    const char *s[ROWS];
    uint8_t valid[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        ts[r] = INT64_C(1700000000000000) + (int64_t)((r * 7) % ROWS) * 86400000000;
        i[r] = r == 1 ? INT64_MIN : r == 2 ? INT64_MAX : (int64_t)r * 1000 - 5000;
        valid[r] = r < 4 || r >= 8; /* the second row group of `i` is all null */
        d[r] = (double)r;
        s[r] = words[r % 6];
    }
    sao_pq_column cols[] = {{"ts", SAO_PQ_TIMESTAMP_US, ts, NULL},
                            {"i", SAO_PQ_INT64, i, valid},
                            {"d", SAO_PQ_DOUBLE, d, NULL},
                            {"s", SAO_PQ_STRING, s, NULL}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.row_group_rows = 4;
    size_t len;
    char *buf = write_mem(cols, 4, ROWS, &opts, &len);
    sao_pq_file *file = open_mem(buf, len);
    ASSERT_EQ(sao_parquet_num_row_groups(file), 3);
    for (size_t g = 0; g < 3; g++) {
        ASSERT_EQ(sao_parquet_row_group_rows(file, g), 4);
        for (size_t c = 0; c < 2; c++) {
            const int64_t *v = c == 0 ? ts : i;
            int any = 0;
            int64_t want_min = 0, want_max = 0;
            for (size_t r = 4 * g; r < 4 * g + 4; r++) {
                if (c == 1 && !valid[r]) continue;
                if (!any || v[r] < want_min) want_min = v[r];
                if (!any || v[r] > want_max) want_max = v[r];
                any = 1;
            }
            int64_t min = 1, max = -1;
            int rc = sao_parquet_chunk_range_i64(&min, &max, file, c, g);
            if (!any) {
                /* Every value null: no bounds, and the outputs stay untouched. */
                ASSERT_EQ(rc, SAO_ENODATA);
                ASSERT_CONTAINS(sao_error_last(), "column 'i' has no statistics");
                ASSERT_EQ(min, 1);
                ASSERT_EQ(max, -1);
                continue;
            }
            ASSERT_OK(rc);
            ASSERT_EQ(min, want_min);
            ASSERT_EQ(max, want_max);
        }
    }
    int64_t min = 0, max = 0;
    ASSERT_EQ(sao_parquet_chunk_range_i64(&min, &max, file, 2, 0), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "column 'd'");
    ASSERT_EQ(sao_parquet_chunk_range_i64(&min, &max, file, 3, 0), SAO_EINVAL);
    ASSERT_EQ(sao_parquet_chunk_range_i64(&min, &max, file, 4, 0), SAO_ERANGE);
    ASSERT_EQ(sao_parquet_chunk_range_i64(&min, &max, file, 0, 3), SAO_ERANGE);
    sao_parquet_close(file);
    sao_free(buf);

    /* Other writers: both kinds of fields, the legacy ones alone, none at all. */
    ASSERT_OK(stats_range(SAO_PQT_INT64, 3, 8, 1, 5, &min, &max));
    ASSERT_EQ(min, 1);
    ASSERT_EQ(max, 5);
    ASSERT_OK(stats_range(SAO_PQT_INT64, 1, 8, -7, 9, &min, &max));
    ASSERT_EQ(min, -7);
    ASSERT_EQ(max, 9);
    ASSERT_EQ(stats_range(SAO_PQT_INT64, 0, 8, 1, 5, &min, &max), SAO_ENODATA);
    /* Statistics that cannot be right. */
    ASSERT_EQ(stats_range(SAO_PQT_INT64, 2, 4, 1, 5, &min, &max), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "statistics of 4 and 4 bytes");
    ASSERT_EQ(stats_range(SAO_PQT_INT64, 2, 0, 1, 5, &min, &max), SAO_ECORRUPT);
    ASSERT_EQ(stats_range(SAO_PQT_INT64, 2, 8, 6, 5, &min, &max), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "min 6 above max 5");
    /* INT96 timestamps have no defined order for their statistics. */
    ASSERT_EQ(stats_range(SAO_PQT_INT96, 0, 12, 0, 0, &min, &max), SAO_EINVAL);
}

/* Files opened by path read their chunks from the file, footer first. */
static void test_open_file_reads_chunks(void)
{
    static sample t;
    sample_init(&t);
    const char *dir = test_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/chunks.parquet", dir);
    /* Many small row groups: a footer far larger than one read from the end of the file. */
    static const size_t group_rows[] = {300, 5};
    for (size_t k = 0; k < SAO_ARRAY_LEN(group_rows); k++) {
        sao_pq_write_options opts;
        sao_pq_write_options_init(&opts);
        opts.row_group_rows = group_rows[k];
        opts.page_rows = 16;
        ASSERT_OK(sao_parquet_write(path, t.cols, 8, SAMPLE_ROWS, &opts));
        sao_pq_file *file = NULL;
        ASSERT_OK(sao_parquet_open(&file, path));
        ASSERT_EQ(sao_parquet_num_row_groups(file),
                  (SAMPLE_ROWS + group_rows[k] - 1) / group_rows[k]);
        check_sample(file, &t, SAMPLE_ROWS);
        sao_pq_file *again = NULL;
        ASSERT_OK(sao_parquet_open(&again, path));
        for (size_t c = 0; c < 8; c++) {
            const sao_pq_column_data *whole;
            ASSERT_OK(sao_parquet_read_column(&whole, file, c));
            check_read_rows(again, c, whole, SAMPLE_ROWS - 1, 1);
            check_read_rows(again, c, whole, 123, 456);
            const sao_pq_column_data *chunk;
            ASSERT_OK(sao_parquet_read_column_chunk(&chunk, again, c, 1));
            check_rows(chunk, whole, group_rows[k]);
        }
        sao_parquet_close(again);
        sao_parquet_close(file);
    }
    unlink(path);
}

/* An open file keeps reading the bytes it opened: a replacement by rename (how every file of
 * the store is written) does not disturb it, and a file cut short under it reads as corrupt. */
static void test_open_file_changed_underneath(void)
{
    const char *dir = test_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/changing.parquet", dir);
    enum { ROWS = 5000 };
    static double a[ROWS], b[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        a[r] = (double)r;
        b[r] = -(double)r;
    }
    sao_pq_column col_a = {"v", SAO_PQ_DOUBLE, a, NULL}, col_b = {"v", SAO_PQ_DOUBLE, b, NULL};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = SAO_PQ_UNCOMPRESSED; /* 40 KB: the magic at the start is a read of its own */
    opts.row_group_rows = 1000;
    ASSERT_OK(sao_parquet_write(path, &col_a, 1, ROWS, &opts));
    sao_pq_file *file = NULL;
    ASSERT_OK(sao_parquet_open(&file, path));
    ASSERT_OK(sao_parquet_write(path, &col_b, 1, ROWS, &opts));
    const sao_pq_column_data *got;
    ASSERT_OK(sao_parquet_read_rows(&got, file, 0, ROWS - 1, 1));
    ASSERT_TRUE(same_double(got->f64[0], a[ROWS - 1]));
    sao_parquet_close(file);

    ASSERT_OK(sao_parquet_open(&file, path));
    struct stat sb;
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(truncate(path, sb.st_size / 2), 0);
    ASSERT_OK(sao_parquet_read_rows(&got, file, 0, 0, 1)); /* still there */
    ASSERT_TRUE(same_double(got->f64[0], b[0]));
    ASSERT_EQ(sao_parquet_read_rows(&got, file, 0, ROWS - 1, 1), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "the file ends at byte");
    ASSERT_EQ(sao_parquet_read_column(&got, file, 0), SAO_ECORRUPT);
    sao_parquet_close(file);
    /* Reopened, the cut file is refused at once. */
    ASSERT_EQ(sao_parquet_open(&file, path), SAO_ECORRUPT);

    /* The magic at the start of a file larger than the read from its end. */
    ASSERT_OK(sao_parquet_write(path, &col_a, 1, ROWS, &opts));
    FILE *fp = fopen(path, "r+b");
    ASSERT_TRUE(fp != NULL);
    ASSERT_EQ(fputc('X', fp), 'X');
    ASSERT_EQ(fclose(fp), 0);
    ASSERT_EQ(sao_parquet_open(&file, path), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "magic");
    ASSERT_CONTAINS(sao_error_last(), "changing.parquet");

    /* Not a regular file; too short to be Parquet. */
    ASSERT_EQ(sao_parquet_open(&file, dir), SAO_EIO);
    ASSERT_CONTAINS(sao_error_last(), "not a regular file");
    ASSERT_OK(sao_file_write_atomic(path, "PAR1PAR1", 8));
    ASSERT_EQ(sao_parquet_open(&file, path), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "only 8 bytes");
    unlink(path);
}

/* ---- corrupt files -------------------------------------------------------------------------- */

static char *small_file(size_t *len, sao_pq_codec codec)
{
    static double d[40];
    static int64_t i[40];
    static const char *s[40];
    static uint8_t valid[40];
    for (size_t r = 0; r < 40; r++) {
        d[r] = (double)r / 3;
        i[r] = (int64_t)r * 1000;
        s[r] = words[r % 6];
        valid[r] = r % 4 != 1;
    }
    sao_pq_column cols[] = {{"d", SAO_PQ_DOUBLE, d, valid},
                            {"i", SAO_PQ_TIMESTAMP_US, i, NULL},
                            {"s", SAO_PQ_STRING, s, valid}};
    sao_pq_kv kv = {"k", "v"};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = codec;
    opts.row_group_rows = 16;
    opts.metadata = &kv;
    opts.metadata_count = 1;
    return write_mem(cols, 3, 40, &opts, len);
}

/* Opens and reads everything; never crashes. Returns the first error (0 if none). */
static int read_everything(const void *data, size_t len)
{
    sao_pq_file *file = NULL;
    int rc = sao_parquet_open_mem(&file, data, len);
    if (rc) {
        ASSERT_TRUE(rc == SAO_ECORRUPT || rc == SAO_EUNSUPPORTED || rc == SAO_ETOOBIG);
        ASSERT_TRUE(sao_error_last()[0] != '\0');
        return rc;
    }
    int first = 0;
    for (size_t c = 0; c < sao_parquet_num_columns(file); c++) {
        const sao_pq_column_data *col;
        int r = sao_parquet_read_column(&col, file, c);
        if (r) {
            ASSERT_TRUE(r == SAO_ECORRUPT || r == SAO_EUNSUPPORTED || r == SAO_ETOOBIG);
            if (!first) first = r;
        }
    }
    sao_parquet_close(file);
    return first;
}

static void test_corrupt_truncated(void)
{
    for (size_t k = 0; k < SAO_ARRAY_LEN(codecs); k++) {
        size_t len;
        char *buf = small_file(&len, codecs[k]);
        ASSERT_EQ(read_everything(buf, len), 0);
        for (size_t cut = 0; cut < len; cut++) ASSERT_TRUE(read_everything(buf, cut) != 0);
        sao_free(buf);
    }
}

static void test_corrupt_flipped_bytes(void)
{
    for (size_t k = 0; k < SAO_ARRAY_LEN(codecs); k++) {
        size_t len;
        char *buf = small_file(&len, codecs[k]);
        char *copy = sao_malloc(len);
        static const uint8_t patterns[] = {0xFF, 0x01, 0x80, 0x7F};
        size_t errors = 0;
        /* Every byte of the file, with a few patterns: the footer, page headers and page
         * data all take hits. Many flips are harmless (a statistic, a value); none may crash
         * (the sanitizer build checks memory safety). */
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t p = 0; p < sizeof(patterns); p++) {
                memcpy(copy, buf, len);
                copy[pos] = (char)(copy[pos] ^ patterns[p]);
                errors += read_everything(copy, len) != 0;
            }
        }
        ASSERT_TRUE(errors > 0);
        sao_free(copy);
        sao_free(buf);
    }
}

static void test_corrupt_magic_and_lengths(void)
{
    size_t len;
    char *buf = small_file(&len, SAO_PQ_ZSTD);
    char *copy = sao_malloc(len);
    sao_pq_file *file = NULL;

    memcpy(copy, buf, len);
    copy[0] = 'X';
    ASSERT_EQ(sao_parquet_open_mem(&file, copy, len), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "magic");
    memcpy(copy, buf, len);
    copy[len - 1] = '0';
    ASSERT_EQ(sao_parquet_open_mem(&file, copy, len), SAO_ECORRUPT);
    memcpy(copy + len - 4, "PARE", 4);
    ASSERT_EQ(sao_parquet_open_mem(&file, copy, len), SAO_EUNSUPPORTED);
    ASSERT_CONTAINS(sao_error_last(), "encrypted");
    ASSERT_EQ(sao_parquet_open_mem(&file, "PAR1PAR1", 8), SAO_ECORRUPT);
    ASSERT_EQ(sao_parquet_open_mem(&file, "", 0), SAO_ECORRUPT);

    /* Footer lengths: past the file, and zero. */
    const uint32_t lengths[] = {0xFFFFFFFFu, (uint32_t)len, 0};
    for (size_t k = 0; k < SAO_ARRAY_LEN(lengths); k++) {
        memcpy(copy, buf, len);
        sao_pq_store_u32((uint8_t *)copy + len - 8, lengths[k]);
        ASSERT_EQ(sao_parquet_open_mem(&file, copy, len), SAO_ECORRUPT);
    }
    ASSERT_CONTAINS(sao_error_last(), "parquet footer");

    /* A footer of nothing but a huge list claim: no allocation follows from it. */
    uint8_t footer[] = {'P',  'A',  'R', '1', 0x15, 0x02, 0x19, 0xFC, 0xFF, 0xFF,
                        0xFF, 0x07, 0,   0,   0,    0,    'P',  'A',  'R',  '1'};
    sao_pq_store_u32(footer + 12, 8);
    ASSERT_EQ(sao_parquet_open_mem(&file, footer, sizeof(footer)), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "overruns");
    /* Ten schema elements in 20 bytes: a real element takes at least 3, so the array this
     * count would size is refused before it is allocated. */
    uint8_t claim[4 + 4 + 20 + 8] = {'P', 'A', 'R', '1', 0x15, 0x02, 0x19, 0xAC};
    sao_pq_store_u32(claim + 28, 24);
    memcpy(claim + 32, "PAR1", 4);
    ASSERT_EQ(sao_parquet_open_mem(&file, claim, sizeof(claim)), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "10 elements cannot fit in the 20 bytes left");
    sao_free(copy);
    sao_free(buf);
}

/* small_file with pages of 5 rows: the partial reads below walk pages and skip some. */
static char *small_paged_file(size_t *len, sao_pq_codec codec)
{
    static double d[40];
    static int64_t i[40];
    static const char *s[40];
    static uint8_t valid[40];
    for (size_t r = 0; r < 40; r++) {
        d[r] = (double)r / 3;
        i[r] = (int64_t)r * 1000;
        s[r] = words[r % 6];
        valid[r] = r % 4 != 1;
    }
    sao_pq_column cols[] = {{"d", SAO_PQ_DOUBLE, d, valid},
                            {"i", SAO_PQ_TIMESTAMP_US, i, NULL},
                            {"s", SAO_PQ_STRING, s, valid}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = codec;
    opts.row_group_rows = 16;
    opts.page_rows = 5;
    return write_mem(cols, 3, 40, &opts, len);
}

static void expect_partial_error(int rc)
{
    if (!rc) return;
    ASSERT_TRUE(rc == SAO_ECORRUPT || rc == SAO_EUNSUPPORTED || rc == SAO_ETOOBIG);
    ASSERT_TRUE(sao_error_last()[0] != '\0');
}

/* Opens and reads through the partial-read API only: statistics, rows and chunks of every
 * column, rows first so that they are decoded from the file rather than from a cached chunk.
 * Never crashes; returns the number of reads that failed. */
static int read_partially(const void *data, size_t len)
{
    sao_pq_file *file = NULL;
    int rc = sao_parquet_open_mem(&file, data, len);
    if (rc) {
        expect_partial_error(rc);
        return 1;
    }
    int failures = 0;
    size_t rows = sao_parquet_num_rows(file), groups = sao_parquet_num_row_groups(file);
    for (size_t c = 0; c < sao_parquet_num_columns(file); c++) {
        for (size_t g = 0; g < groups; g++) {
            int64_t min, max;
            int r = sao_parquet_chunk_range_i64(&min, &max, file, c, g);
            ASSERT_TRUE(r == 0 || r == SAO_ENODATA || r == SAO_EINVAL || r == SAO_ECORRUPT);
            if (!r) ASSERT_TRUE(min <= max);
        }
        size_t starts[] = {0, rows / 2, rows ? rows - 1 : 0};
        for (size_t k = 0; k < SAO_ARRAY_LEN(starts); k++) {
            const sao_pq_column_data *col;
            size_t count = rows - starts[k] < 7 ? rows - starts[k] : 7;
            int r = sao_parquet_read_rows(&col, file, c, starts[k], count);
            expect_partial_error(r);
            failures += r != 0;
            if (!r) ASSERT_EQ(col->count, count);
        }
        for (size_t g = 0; g < groups; g++) {
            const sao_pq_column_data *col;
            int r = sao_parquet_read_column_chunk(&col, file, c, g);
            expect_partial_error(r);
            failures += r != 0;
            if (!r) ASSERT_EQ(col->count, sao_parquet_row_group_rows(file, g));
        }
    }
    sao_parquet_close(file);
    return failures;
}

static void test_corrupt_partial_reads(void)
{
    for (size_t k = 0; k < SAO_ARRAY_LEN(codecs); k++) {
        size_t len;
        char *buf = small_paged_file(&len, codecs[k]);
        ASSERT_EQ(read_partially(buf, len), 0);
        for (size_t cut = 0; cut < len; cut++) ASSERT_TRUE(read_partially(buf, cut) != 0);
        char *copy = sao_malloc(len);
        static const uint8_t patterns[] = {0xFF, 0x01, 0x80, 0x7F};
        size_t errors = 0;
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t p = 0; p < sizeof(patterns); p++) {
                memcpy(copy, buf, len);
                copy[pos] = (char)(copy[pos] ^ patterns[p]);
                errors += read_partially(copy, len) != 0;
            }
        }
        ASSERT_TRUE(errors > 0);
        sao_free(copy);
        sao_free(buf);
    }
}

static void test_limits(void)
{
    sao_pq_limits saved, tight;
    sao_store__pq_get_limits(&saved);
    tight = saved;
    tight.max_rows = 100;
    sao_store__pq_set_limits(&tight);
    static sample t;
    sample_init(&t);
    size_t len;
    char *buf = write_mem(t.cols, 8, SAMPLE_ROWS, NULL, &len);
    sao_pq_file *file = NULL;
    ASSERT_EQ(sao_parquet_open_mem(&file, buf, len), SAO_ETOOBIG);
    tight = saved;
    tight.max_string_bytes = 1000;
    sao_store__pq_set_limits(&tight);
    file = open_mem(buf, len);
    const sao_pq_column_data *col;
    ASSERT_OK(sao_parquet_read_column(&col, file, 0));
    ASSERT_EQ(sao_parquet_read_column(&col, file, 3), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "column 's'");
    sao_parquet_close(file);
    sao_store__pq_set_limits(&saved);
    sao_free(buf);
}

SAO_TEST_MAIN(TEST(test_roundtrip_every_codec), TEST(test_types_in_schema),
              TEST(test_row_groups_and_pages), TEST(test_nulls),
              TEST(test_empty_and_unicode_strings), TEST(test_zero_and_one_row),
              TEST(test_dictionary_large_and_fallback), TEST(test_statistics), TEST(test_metadata),
              TEST(test_read_api), TEST(test_write_file_atomic), TEST(test_rejects_bad_input),
              TEST(test_read_pyarrow_file), TEST(test_hand_plain_dictionary_v1),
              TEST(test_hand_delta_binary_packed), TEST(test_hand_delta_byte_arrays),
              TEST(test_hand_other_types), TEST(test_hand_unknown_fields_skipped),
              TEST(test_hand_unsupported), TEST(test_hand_corrupt_pages),
              TEST(test_hybrid_spec_vectors), TEST(test_hybrid_roundtrip), TEST(test_thrift),
              TEST(test_corrupt_truncated), TEST(test_corrupt_flipped_bytes),
              TEST(test_corrupt_magic_and_lengths), TEST(test_limits),
              TEST(test_partial_reads_match_whole), TEST(test_partial_read_skips_pages),
              TEST(test_chunk_range_i64), TEST(test_open_file_reads_chunks),
              TEST(test_open_file_changed_underneath), TEST(test_corrupt_partial_reads))
