/*
 * Unit tests for core: errors, buffers, arenas, dates, configuration, atomic files, backoff.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

static void test_error_codes(void)
{
    ASSERT_STREQ(sao_strerror(SAO_EPARSE), "malformed input");
    ASSERT_STREQ(sao_errname(SAO_ETOOBIG), "SAO_ETOOBIG");
    ASSERT_STREQ(sao_strerror(0), "success");
    ASSERT_STREQ(sao_strerror(12345), "unknown error");
    ASSERT_EQ(sao_error_set(SAO_EIO, "disk %d", 3), SAO_EIO);
    ASSERT_STREQ(sao_error_last(), "disk 3");
    sao_error_wrap(SAO_EIO, "file.csv: ");
    ASSERT_STREQ(sao_error_last(), "file.csv: disk 3");
    sao_error_clear();
    ASSERT_STREQ(sao_error_last(), "");
}

static void test_buf_cap_is_an_error(void)
{
    sao_buf b;
    sao_buf_init(&b, 8);
    ASSERT_OK(sao_buf_append(&b, "abcd", 4));
    ASSERT_OK(sao_buf_appendf(&b, "%d", 123));
    ASSERT_STREQ(b.data, "abcd123");
    ASSERT_EQ(sao_buf_append(&b, "xy", 2), SAO_ETOOBIG);
    ASSERT_STREQ(b.data, "abcd123"); /* nothing half-appended */
    ASSERT_EQ(sao_buf_appendf(&b, "%s", "long string"), SAO_ETOOBIG);
    size_t len;
    char *p = sao_buf_detach(&b, &len);
    ASSERT_EQ(len, 7);
    sao_free(p);
    sao_buf_dispose(&b);
}

static void test_arena(void)
{
    sao_arena *a = sao_arena_new(64);
    char *s = sao_arena_strndup(a, "hello world", 5);
    ASSERT_STREQ(s, "hello");
    for (int i = 0; i < 100; i++) {
        double *d = sao_arena_alloc(a, 100 * sizeof(double));
        ASSERT_EQ(((uintptr_t)d) % sizeof(double), 0);
        d[99] = i;
    }
    sao_arena_free(a);
    sao_arena_free(NULL);
}

static void test_dates(void)
{
    int64_t d;
    ASSERT_OK(sao_date_parse("1970-01-01", 10, &d));
    ASSERT_EQ(d, 0);
    ASSERT_OK(sao_date_parse("2024-09-12", 10, &d));
    char buf[16];
    sao_date_format(d, buf, sizeof(buf));
    ASSERT_STREQ(buf, "2024-09-12");
    ASSERT_EQ(sao_weekday(d), 4); /* a Thursday */
    ASSERT_OK(sao_date_parse("2014/9/17", 9, &d));
    sao_date_format(d, buf, sizeof(buf));
    ASSERT_STREQ(buf, "2014-09-17");
    ASSERT_OK(sao_date_parse("2020-02-29T00:00:00Z", 20, &d));
    ASSERT_OK(sao_date_parse("2021-06-25 00:00:00+00:00", 25, &d));
    ASSERT_EQ(sao_date_parse("2021-02-29", 10, &d), SAO_EPARSE);
    ASSERT_EQ(sao_date_parse("2021-13-01", 10, &d), SAO_EPARSE);
    ASSERT_EQ(sao_date_parse("2021-1-1x", 9, &d), SAO_EPARSE);
    ASSERT_EQ(sao_date_parse("2021/01-01", 10, &d), SAO_EPARSE);
    ASSERT_EQ(sao_date_parse("21-01-01", 8, &d), SAO_EPARSE);
    ASSERT_EQ(sao_date_parse("", 0, &d), SAO_EPARSE);
    /* Round trip over a wide range, including before 1970. */
    for (int64_t day = -30000; day < 80000; day += 7) {
        int y, m, dd;
        sao_civil_from_days(day, &y, &m, &dd);
        ASSERT_EQ(sao_days_from_civil(y, m, dd), day);
    }
    ASSERT_EQ(sao_weekday(-1), 3); /* 1969-12-31 was a Wednesday */
}

static void test_config(void)
{
    unsetenv("SAO_HOME");
    ASSERT_STREQ(sao_config_get("SAO_HOME"), "./var");
    ASSERT_EQ(sao_config_is_set("SAO_HOME"), 0);
    setenv("SAO_HTTP_RETRIES", "7", 1);
    long v;
    ASSERT_OK(sao_config_get_int("SAO_HTTP_RETRIES", &v));
    ASSERT_EQ(v, 7);
    setenv("SAO_HTTP_RETRIES", "7x", 1);
    ASSERT_EQ(sao_config_get_int("SAO_HTTP_RETRIES", &v), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "SAO_HTTP_RETRIES");
    unsetenv("SAO_HTTP_RETRIES");
    /* Secrets never appear in the printed table. */
    setenv("SAO_ADMIN_TOKEN", "s3cr3t-value", 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sao_config_print(f);
    fclose(f);
    ASSERT_TRUE(strstr(text, "s3cr3t-value") == NULL);
    ASSERT_CONTAINS(text, "SAO_ADMIN_TOKEN=********");
    ASSERT_CONTAINS(text, "SAO_HOME=./var");
    free(text);
    unsetenv("SAO_ADMIN_TOKEN");
}

static void test_atomic_write(void)
{
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/core_atomic", SAO_TEST_TMPDIR);
    ASSERT_OK(sao_mkdir_p(dir));
    snprintf(path, sizeof(path), "%s/file.txt", dir);
    ASSERT_OK(sao_file_write_atomic(path, "first", 5));
    ASSERT_OK(sao_file_write_atomic(path, "second", 6));
    char *data;
    size_t len;
    ASSERT_OK(sao_file_read(&data, &len, path, 100));
    ASSERT_STREQ(data, "second");
    sao_free(data);
    ASSERT_EQ(sao_file_read(&data, &len, path, 3), SAO_ETOOBIG);
    char missing[700];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    ASSERT_EQ(sao_file_read(&data, &len, missing, 100), SAO_ENOENT);
    /* Writing into a folder that does not exist fails and leaves nothing behind. */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/file", dir);
    ASSERT_EQ(sao_file_write_atomic(bad, "x", 1), SAO_EIO);
}

static void test_backoff_grows_with_jitter(void)
{
    unsigned seed = 42;
    for (int attempt = 1; attempt <= 6; attempt++) {
        long cap = 100L << (attempt - 1);
        for (int k = 0; k < 50; k++) {
            long w = sao_http_backoff_ms(100, attempt, &seed);
            ASSERT_TRUE(w >= cap / 2 && w <= cap);
        }
    }
    ASSERT_TRUE(sao_http_backoff_ms(1000, 40, &seed) <= 60000);
}

static void test_url_escape(void)
{
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_OK(sao_url_escape(&b, "^GSPC"));
    ASSERT_OK(sao_url_escape(&b, "EURUSD=X"));
    ASSERT_STREQ(b.data, "%5EGSPCEURUSD%3DX");
    sao_buf_dispose(&b);
}

static int captured_level = -1;
static char captured[256];
static void capture_sink(sao_log_level level, const char *module, const char *msg, void *ud)
{
    captured_level = (int)level;
    snprintf(captured, sizeof(captured), "%s|%s", module, msg);
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void test_log_levels_and_sink(void)
{
    sao_log_set_sink(capture_sink, NULL);
    sao_log_set_level(SAO_LOG_WARN);
    sao_log(SAO_LOG_INFO, "test", "hidden %d", side_effect());
    ASSERT_EQ(evaluated, 0); /* arguments not evaluated below the level */
    ASSERT_EQ(captured_level, -1);
    sao_log(SAO_LOG_ERROR, "test", "shown %d", 5);
    ASSERT_EQ(captured_level, SAO_LOG_ERROR);
    ASSERT_STREQ(captured, "test|shown 5");
    sao_log_level lvl;
    ASSERT_OK(sao_log_parse_level("debug", &lvl));
    ASSERT_EQ(lvl, SAO_LOG_DEBUG);
    ASSERT_EQ(sao_log_parse_level("loud", &lvl), SAO_EINVAL);
    sao_log_set_sink(NULL, NULL);
    sao_log_set_level(SAO_LOG_INFO);
}


/* The default sink: one whole line per message; in JSON mode a message that is a JSON object is
 * merged as fields, and anything else is an escaped "msg" string. */
static void test_log_default_sink_lines(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/log_sink.txt", SAO_TEST_TMPDIR);
    ASSERT_OK(sao_mkdir_p(SAO_TEST_TMPDIR));
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ASSERT_TRUE(fd >= 0);
    int saved = dup(STDERR_FILENO);
    ASSERT_TRUE(saved >= 0);
    ASSERT_TRUE(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    sao_log_set_level(SAO_LOG_INFO);
    sao_log_set_format(2);
    sao_log(SAO_LOG_INFO, "access", "{\"status\":200,\"path\":\"/x\"}");
    sao_log(SAO_LOG_WARN, "core", "quote \" tab\t bell\a end");
    sao_log_set_format(1);
    sao_log(SAO_LOG_ERROR, "core", "plain text");
    ASSERT_TRUE(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    sao_log_set_format(0);
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(sao_file_read(&text, &len, path, 1 << 20));
    char *line1 = text, *line2 = strchr(line1, '\n');
    ASSERT_TRUE(line2 != NULL);
    *line2++ = '\0';
    char *line3 = strchr(line2, '\n');
    ASSERT_TRUE(line3 != NULL);
    *line3++ = '\0';
    ASSERT_CONTAINS(line1, "\"level\":\"info\",\"module\":\"access\",\"status\":200,\"path\":\"/x\"}");
    ASSERT_TRUE(strstr(line1, "\"msg\"") == NULL);
    ASSERT_CONTAINS(line2, "\"msg\":\"quote \\\" tab\\t bell\\u0007 end\"}");
    ASSERT_CONTAINS(line3, "error [core] plain text");
    ASSERT_STREQ(line3 + strlen(line3) - strlen("plain text\n"), "plain text\n");
    sao_free(text);
}

static void test_utf8(void)
{
    static const struct {
        const char *bytes;
        size_t len, first; /* the first sequence's length, 0: malformed */
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},
        {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x98\x80", 4, 4},
        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
        {"\xc0\xaf", 2, 0},         /* overlong '/' */
        {"\xc1\xbf", 2, 0},
        {"\xe0\x80\xaf", 3, 0}, /* overlong */
        {"\xed\xa0\x80", 3, 0}, /* a surrogate */
        {"\xf0\x80\x80\xaf", 4, 0},
        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\x80", 1, 0},             /* a lone continuation */
        {"\xe2\x82", 2, 0},         /* cut short */
        {"\xe2\x28\xa1", 3, 0},     /* a bad continuation */
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        const unsigned char *b = (const unsigned char *)cases[i].bytes;
        ASSERT_EQ(sao_utf8_sequence(b, cases[i].len), cases[i].first);
        ASSERT_EQ(sao_utf8_valid(b, cases[i].len), cases[i].first == cases[i].len);
    }
    ASSERT_TRUE(sao_utf8_valid("caf\xc3\xa9 \xe2\x82\xac", 9));
    ASSERT_TRUE(!sao_utf8_valid("caf\xc3", 4));
    ASSERT_TRUE(sao_utf8_valid("", 0));
}

SAO_TEST_MAIN(TEST(test_error_codes), TEST(test_buf_cap_is_an_error), TEST(test_arena),
              TEST(test_dates), TEST(test_config), TEST(test_atomic_write),
              TEST(test_backoff_grows_with_jitter), TEST(test_url_escape),
              TEST(test_log_levels_and_sink), TEST(test_log_default_sink_lines),
              TEST(test_utf8))
