/*
 * Unit tests for the feature repository: loading the shipped definitions, every validation
 * error (with its line), apply's created/updated/deleted report, the registry's intervals and
 * the generated features.py.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "features/features.h"
#include "store/store.h"
#include "test.h"

static const char *store_yaml = "project: demo_project\n"
                                "provider: local\n"
                                "registry: data/registry.db\n"
                                "offline_store:\n  type: file\n"
                                "online_store:\n  type: redis\n"
                                "  connection_string: \"127.0.0.1:6390,db=2,password=pw\"\n"
                                "  key_ttl_seconds: 3600\n"
                                "entity_key_serialization_version: 3\n";

static const char *features_yaml =
    "entity:\n  name: ticker\n  join_key: ticker\n  value_type: STRING\n"
    "feature_views:\n"
    "  - name: ohlcv_daily\n    kind: bars\n    ttl: 10d\n    source: offline/ohlcv_daily\n"
    "    fields:\n      - {name: close, dtype: Float64}\n      - {name: volume, dtype: Float64}\n"
    "  - name: technical_daily\n    kind: indicators\n    ttl: 36h\n"
    "    source: offline/technical_daily\n"
    "    fields:\n      - {name: rsi_14, dtype: Float64, params: \"period=14\"}\n"
    "  - name: model_window\n    kind: window\n    ttl: 3600s\n    context_length: 5\n"
    "    fields:\n      - {name: close_window, dtype: Array(Float64), from: \"ohlcv_daily:close\"}\n";

static char repo_dir[512];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ASSERT_OK(sao_file_write_atomic(path, text, strlen(text)));
}

static void make_repo(const char *name, const char *store, const char *features)
{
    snprintf(repo_dir, sizeof(repo_dir), "%s/registry/%s", SAO_TEST_TMPDIR, name);
    ASSERT_OK(sao_mkdir_p(repo_dir));
    write_file(repo_dir, "feature_store.yaml", store);
    write_file(repo_dir, "features.yaml", features);
    char home[600];
    snprintf(home, sizeof(home), "%s/home", repo_dir);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    ASSERT_EQ(system(cmd), 0);
    setenv("SAO_HOME", home, 1);
    unsetenv("SAO_REDIS_CONNECTION");
}

static void test_load_valid_repo(void)
{
    make_repo("valid", store_yaml, features_yaml);
    sao_fs_repo *repo;
    ASSERT_OK(sao_fs_repo_load(&repo, repo_dir));
    ASSERT_STREQ(repo->project, "demo_project");
    ASSERT_EQ(repo->view_count, 3);
    ASSERT_EQ(repo->key_ttl_seconds, 3600);
    const sao_fs_view *t = sao_fs_repo_view(repo, "technical_daily");
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ(t->ttl_seconds, 36 * 3600);
    ASSERT_EQ(t->kind, SAO_FS_INDICATORS);
    ASSERT_TRUE(strlen(t->fields[0].description) > 0); /* taken from the indicator table */
    const sao_fs_view *w = sao_fs_repo_view(repo, "model_window");
    ASSERT_EQ(w->context_length, 5);
    ASSERT_TRUE(w->source == NULL);
    ASSERT_STREQ(w->fields[0].window_view, "ohlcv_daily");
    ASSERT_STREQ(w->fields[0].window_feature, "close");
    sao_online_config cfg;
    ASSERT_OK(sao_fs_online_config(&cfg, repo));
    ASSERT_STREQ(cfg.host, "127.0.0.1");
    ASSERT_EQ(cfg.port, 6390);
    ASSERT_EQ(cfg.db, 2);
    ASSERT_STREQ(cfg.project, "demo_project");
    ASSERT_EQ(cfg.key_ttl_seconds, 3600);
    sao_fs_repo_free(repo);

    /* The environment overrides the connection string (containers need that). */
    setenv("SAO_REDIS_CONNECTION", "redis-host:7000", 1);
    ASSERT_OK(sao_fs_repo_load(&repo, repo_dir));
    ASSERT_OK(sao_fs_online_config(&cfg, repo));
    ASSERT_STREQ(cfg.host, "redis-host");
    ASSERT_EQ(cfg.port, 7000);
    sao_fs_repo_free(repo);
    unsetenv("SAO_REDIS_CONNECTION");
}

static void test_shipped_repository_loads(void)
{
    sao_fs_repo *repo;
    ASSERT_OK(sao_fs_repo_load(&repo, SAO_SOURCE_DIR "/feature_store"));
    ASSERT_TRUE(sao_fs_repo_view(repo, "ohlcv_daily") != NULL);
    const sao_fs_view *t = sao_fs_repo_view(repo, "technical_daily");
    size_t ndefs;
    sao_features_defs(&ndefs);
    ASSERT_EQ(t->field_count, ndefs); /* every indicator, crypto proxies included */
    ASSERT_TRUE(sao_fs_repo_view(repo, "model_window") != NULL);
    sao_fs_repo_free(repo);
}

/* Replaces the first `from` in features_yaml with `to` and expects a load error at `line`. */
static void expect_error(const char *name, const char *from, const char *to, const char *needle)
{
    const char *at = strstr(features_yaml, from);
    ASSERT_TRUE(at != NULL);
    char text[4096];
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - features_yaml), features_yaml, to,
             at + strlen(from));
    make_repo(name, store_yaml, text);
    sao_fs_repo *repo = NULL;
    int rc = sao_fs_repo_load(&repo, repo_dir);
    if (rc == 0) {
        fprintf(stderr, "%s: expected an error containing '%s'\n", name, needle);
        exit(1);
    }
    ASSERT_TRUE(repo == NULL);
    ASSERT_CONTAINS(sao_error_last(), needle);
}

static void test_validation_errors_name_the_line(void)
{
    expect_error("unknown_indicator", "rsi_14, dtype", "rsi_15, dtype",
                 "features.yaml:18: unknown indicator 'rsi_15'");
    expect_error("wrong_params", "period=14", "period=21", "computed with params");
    expect_error("bad_type", "{name: volume, dtype: Float64}", "{name: volume, dtype: Float32}",
                 "features.yaml:12: volume: unknown dtype 'Float32'");
    expect_error("dup_field", "{name: volume, dtype: Float64}", "{name: close, dtype: Float64}",
                 "duplicate field 'close'");
    expect_error("bad_ttl", "ttl: 36h", "ttl: soon", "features.yaml:15: technical_daily: bad ttl");
    expect_error("zero_ttl", "ttl: 36h", "ttl: 0", "bad ttl");
    expect_error("dup_view", "name: technical_daily", "name: ohlcv_daily",
                 "duplicate feature view 'ohlcv_daily'");
    expect_error("unknown_key", "ttl: 10d", "tll: 10d", "unknown key 'tll'");
    expect_error("bad_kind", "kind: bars", "kind: candles", "unknown kind 'candles'");
    expect_error("bad_window", "ohlcv_daily:close\"", "ohlcv_daily:nope\"",
                 "is not a field of a bars or indicators view");
    expect_error("bar_column", "{name: close, dtype", "{name: closing, dtype",
                 "'closing' is not a bar column");
    expect_error("source_escape", "source: offline/ohlcv_daily", "source: offline/../etc",
                 "source must be offline/<folder>");
    expect_error("bad_yaml", "fields:\n      - {name: close", "fields:\n      - {name: [close",
                 "features.yaml:");
    expect_error("window_len", "context_length: 5", "context_length: 0", "context_length");
}

static void test_store_yaml_errors(void)
{
    make_repo("bad_online", "project: p\nonline_store:\n  type: sqlite\n", features_yaml);
    sao_fs_repo *repo;
    ASSERT_EQ(sao_fs_repo_load(&repo, repo_dir), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "online_store.type 'sqlite' is not supported");
    make_repo("bad_project", "project: Bad-Name\nonline_store:\n  type: redis\n", features_yaml);
    ASSERT_EQ(sao_fs_repo_load(&repo, repo_dir), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "project 'Bad-Name'");
    make_repo("missing", store_yaml, features_yaml);
    ASSERT_EQ(sao_fs_repo_load(&repo, "/nonexistent-repo-dir"), SAO_ENOENT);
}

static void test_apply_reports_changes_and_keeps_intervals(void)
{
    make_repo("apply", store_yaml, features_yaml);
    sao_fs_repo *repo;
    sao_fs_apply_report rep;
    ASSERT_OK(sao_fs_repo_load(&repo, repo_dir));
    ASSERT_OK(sao_fs_apply(&rep, repo));
    ASSERT_EQ(rep.created_count, 4); /* the entity and three views */
    ASSERT_EQ(rep.updated_count, 0);
    ASSERT_STREQ(rep.created[0], "Entity ticker");
    sao_fs_apply_report_dispose(&rep);
    ASSERT_OK(sao_fs_registry_add_interval("ohlcv_daily", 10, 20));
    ASSERT_OK(sao_fs_registry_add_interval("technical_daily", 10, 20));
    ASSERT_OK(sao_fs_apply(&rep, repo));
    ASSERT_EQ(rep.created_count + rep.updated_count + rep.deleted_count, 0);
    sao_fs_apply_report_dispose(&rep);
    sao_fs_repo_free(repo);

    /* Change a TTL and drop the window view. */
    char text[4096];
    const char *cut = strstr(features_yaml, "  - name: model_window");
    snprintf(text, sizeof(text), "%.*s", (int)(cut - features_yaml), features_yaml);
    char *ttl = strstr(text, "ttl: 36h");
    memcpy(ttl, "ttl: 48h", 8);
    write_file(repo_dir, "features.yaml", text);
    ASSERT_OK(sao_fs_repo_load(&repo, repo_dir));
    ASSERT_OK(sao_fs_apply(&rep, repo));
    ASSERT_EQ(rep.updated_count, 1);
    ASSERT_STREQ(rep.updated[0], "FeatureView technical_daily");
    ASSERT_EQ(rep.deleted_count, 1);
    ASSERT_STREQ(rep.deleted[0], "FeatureView model_window");
    sao_fs_apply_report_dispose(&rep);

    sao_fs_interval *iv;
    size_t n;
    ASSERT_OK(sao_fs_registry_intervals(&iv, &n, "ohlcv_daily"));
    ASSERT_EQ(n, 1); /* unchanged view keeps its interval */
    ASSERT_EQ(iv[0].start_us, 10);
    ASSERT_EQ(iv[0].end_us, 20);
    sao_free(iv);
    ASSERT_OK(sao_fs_registry_intervals(&iv, &n, "technical_daily"));
    ASSERT_EQ(n, 0); /* a changed view starts over */
    sao_free(iv);

    /* features.py carries the same definitions for Feast. */
    char path[700], *py;
    size_t len;
    snprintf(path, sizeof(path), "%s/features.py", repo_dir);
    ASSERT_OK(sao_file_read(&py, &len, path, 1 << 20));
    ASSERT_CONTAINS(py, "ticker = Entity(name=\"ticker\", join_keys=[\"ticker\"]");
    ASSERT_CONTAINS(py, "technical_daily = FeatureView(");
    ASSERT_CONTAINS(py, "ttl=timedelta(seconds=172800)");
    ASSERT_CONTAINS(py, "Field(name=\"rsi_14\", dtype=Float64");
    ASSERT_CONTAINS(py, "timestamp_field=\"event_timestamp\"");
    ASSERT_CONTAINS(py, "path=\"home/offline/technical_daily\"");
    ASSERT_TRUE(strstr(py, "model_window") == NULL);
    sao_free(py);
    sao_fs_repo_free(repo);
}

static void test_corrupt_registry_is_an_error(void)
{
    make_repo("corrupt", store_yaml, features_yaml);
    char path[4096];
    ASSERT_OK(sao_fs_registry_path(path, sizeof(path)));
    ASSERT_OK(sao_mkdir_p(getenv("SAO_HOME")));
    ASSERT_OK(sao_file_write_atomic(path, "{not json", 9));
    sao_fs_interval *iv;
    size_t n;
    ASSERT_EQ(sao_fs_registry_intervals(&iv, &n, "ohlcv_daily"), SAO_ECORRUPT);
    ASSERT_EQ(sao_fs_registry_add_interval("ohlcv_daily", 1, 2), SAO_ECORRUPT);
    char *text;
    size_t len;
    ASSERT_OK(sao_file_read(&text, &len, path, 100));
    ASSERT_STREQ(text, "{not json"); /* left as it was */
    sao_free(text);
}

SAO_TEST_MAIN(TEST(test_load_valid_repo), TEST(test_shipped_repository_loads),
              TEST(test_validation_errors_name_the_line), TEST(test_store_yaml_errors),
              TEST(test_apply_reports_changes_and_keeps_intervals),
              TEST(test_corrupt_registry_is_an_error))
