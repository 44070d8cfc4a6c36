/*
 * store: the Parquet codec and the offline store (Parquet files per feature view and ticker
 * under $SAO_HOME/offline).
 */
#ifndef SAO_STORE_H
#define SAO_STORE_H

#include "core/core.h"

/* ---- Parquet ---- */

typedef enum sao_pq_type {
    SAO_PQ_DOUBLE = 0,
    SAO_PQ_INT64,
    SAO_PQ_TIMESTAMP_US, /* INT64, TIMESTAMP(MICROS, isAdjustedToUTC=true) */
    SAO_PQ_STRING,       /* BYTE_ARRAY, UTF8 / STRING */
    /* Read-only (what other writers produce): */
    SAO_PQ_INT32,
    SAO_PQ_FLOAT,
    SAO_PQ_BOOL,
    SAO_PQ_DATE,         /* INT32 days since epoch */
    SAO_PQ_TIMESTAMP_MS, /* read as given; sao_pq_column_data converts nothing */
    SAO_PQ_TIMESTAMP_NS,
    SAO_PQ_BINARY
} sao_pq_type;

typedef enum sao_pq_codec {
    SAO_PQ_UNCOMPRESSED = 0,
    SAO_PQ_SNAPPY = 1,
    SAO_PQ_GZIP = 2,
    SAO_PQ_ZSTD = 6
} sao_pq_codec;

/* One column to write. `values` points at `nrows` items: double, int64_t, or const char *
 * (NUL-terminated UTF-8) for strings. `valid`, when non-NULL, has one byte per row (0 = null);
 * the column is then OPTIONAL (a NULL string is allowed only in a null row). Strings are
 * dictionary-encoded, falling back to PLAIN when a chunk's dictionary passes 1 MiB; numbers
 * are PLAIN. Writable types: DOUBLE, INT64, TIMESTAMP_US, STRING. */
typedef struct sao_pq_column {
    const char *name;
    sao_pq_type type;
    const void *values;
    const uint8_t *valid;
} sao_pq_column;

/* A key/value pair for the file's key_value_metadata. */
typedef struct sao_pq_kv {
    const char *key;
    const char *value;
} sao_pq_kv;

typedef struct sao_pq_write_options {
    sao_pq_codec codec;    /* default SAO_PQ_ZSTD; SNAPPY, GZIP and UNCOMPRESSED also write */
    int zstd_level;        /* default 3 */
    size_t row_group_rows; /* default 1 << 20 */
    size_t page_rows;      /* rows per data page; default 0: about 1 MiB of values per page.
                              Small pages let a reader of a few rows decompress only those */
    const sao_pq_kv *metadata;
    size_t metadata_count;
} sao_pq_write_options;

void sao_pq_write_options_init(sao_pq_write_options *opts);
/* Writes a Parquet file atomically (temp file, then rename; mode 0644). Column statistics (min,
 * max, null_count; NaN left out of min/max and counted) are written for every column chunk.
 * Inputs are checked before anything is created: an empty or repeated column name, a type we
 * do not write, missing values, a NULL string in a non-null row, invalid UTF-8, a bad codec or
 * level are SAO_EINVAL. On any error neither the file nor a temp file is left behind (an
 * existing file stays as it was). */
int sao_parquet_write(const char *path, const sao_pq_column *columns, size_t column_count,
                      size_t nrows, const sao_pq_write_options *opts);
/* Same, into memory (for tests and fuzzing). *out is owned by the caller. */
int sao_parquet_write_mem(char **out, size_t *out_len, const sao_pq_column *columns,
                          size_t column_count, size_t nrows, const sao_pq_write_options *opts);

/* A whole column read back. Exactly one of the value arrays is set, by type:
 * f64 (DOUBLE, FLOAT widened), i64 (INT64 and TIMESTAMP_*, in the file's unit; legacy INT96
 * timestamps as TIMESTAMP_NS), i32 (INT32, DATE, BOOL as 0/1), str (STRING, BINARY and
 * fixed-length arrays: NUL-terminated, with lengths in str_len; rows decoded from one dictionary
 * entry share its pointer). `valid` is always set, one byte per row (all 1 for a REQUIRED
 * column); null rows hold 0 / NULL and have valid[row] == 0. Everything is owned by the
 * sao_pq_file's arena. */
typedef struct sao_pq_column_data {
    const char *name;
    sao_pq_type type;
    size_t count;
    double *f64;
    int64_t *i64;
    int32_t *i32;
    char **str;
    uint32_t *str_len;
    uint8_t *valid;
    size_t null_count;
} sao_pq_column_data;

typedef struct sao_pq_file sao_pq_file;

/* Opens a file of at most SAO_PQ_MAX_FILE bytes and parses its footer. Only the footer is read
 * here: the file stays open until sao_parquet_close, and each column chunk is read from it when
 * it is decoded, so opening a file to read one row group costs that row group, not the file.
 * A file replaced by rename meanwhile is still read whole from the old copy; one truncated in
 * place reads as corrupt. Corrupt files are SAO_ECORRUPT; features we do not read
 * SAO_EUNSUPPORTED (nested or repeated columns and encrypted files at open; unknown codecs and
 * encodings when the column is read); more rows than the reader's cap SAO_ETOOBIG; a missing
 * file SAO_ENOENT. Messages name the column and what is wrong. */
int sao_parquet_open(sao_pq_file **out, const char *path);
/* Opens from memory; the bytes are copied. */
int sao_parquet_open_mem(sao_pq_file **out, const void *data, size_t len);
void sao_parquet_close(sao_pq_file *file);
size_t sao_parquet_num_rows(const sao_pq_file *file);
size_t sao_parquet_num_columns(const sao_pq_file *file);
size_t sao_parquet_num_row_groups(const sao_pq_file *file);
/* `column` must be below sao_parquet_num_columns (asserted). */
const char *sao_parquet_column_name(const sao_pq_file *file, size_t column);
sao_pq_type sao_parquet_column_type(const sao_pq_file *file, size_t column);
/* Index of a top-level column by name, or -1. */
int sao_parquet_find_column(const sao_pq_file *file, const char *name);
/* Value of a key_value_metadata entry, or NULL. Borrowed from the file. */
const char *sao_parquet_metadata(const sao_pq_file *file, const char *key);
/* Reads a whole column (all row groups). The result is borrowed from the file and cached: a
 * second call returns the same data. Out of range is SAO_ERANGE; a failed read may leave memory
 * in the file's arena until close. */
int sao_parquet_read_column(const sao_pq_column_data **out, sao_pq_file *file, size_t column);

/* Partial reads, for readers that want a few rows of a large file. Row groups hold consecutive
 * rows in file order. */
/* Rows of one row group; `row_group` must be below sao_parquet_num_row_groups (asserted). */
size_t sao_parquet_row_group_rows(const sao_pq_file *file, size_t row_group);
/* The min and max of a column chunk from the footer's statistics, without decoding it: for
 * columns stored as INT64 (INT64, TIMESTAMP_*), in the file's unit, nulls left out. Writers may
 * store bounds wider than the values, never narrower, so they say which chunks can be skipped.
 * SAO_ENODATA when the chunk has no statistics (every value null, or the writer wrote none);
 * SAO_EINVAL for a column stored otherwise; SAO_ECORRUPT for statistics that cannot be right
 * (not 8 bytes, min above max); SAO_ERANGE out of range. */
int sao_parquet_chunk_range_i64(int64_t *min, int64_t *max, const sao_pq_file *file, size_t column,
                                size_t row_group);
/* Reads one column chunk: the rows of row group `row_group` only (count is that row group's
 * rows), decoding no other chunk. Same result, ownership and caching as sao_parquet_read_column
 * (borrowed from the file; a second call returns the same data); taken from the whole column
 * without decoding when that was read already. Out of range is SAO_ERANGE. */
int sao_parquet_read_column_chunk(const sao_pq_column_data **out, sao_pq_file *file, size_t column,
                                  size_t row_group);
/* Reads rows [first, first + count) of a column (rows of the file, across row groups),
 * decompressing only the data pages that hold them: the other pages of their row groups are
 * passed over by their headers. Same result struct and ownership (borrowed from the file), not
 * cached: a second call decodes again, unless the whole column or the row group's chunk was read
 * already, which it then takes the rows from. Rows past the end are SAO_ERANGE. */
int sao_parquet_read_rows(const sao_pq_column_data **out, sao_pq_file *file, size_t column,
                          size_t first, size_t count);

#define SAO_PQ_MAX_FILE ((size_t)2 * 1024 * 1024 * 1024)

#endif

/* ---- offline store ----
 * $SAO_HOME/offline/<view>/<TICKER>.parquet, one file per feature view and ticker, columns
 * `ticker`, `event_timestamp` (UTC midnight of the trading day, microseconds), `created`, then
 * the view's features (float64, null where undefined). Readable by pandas, pyarrow and DuckDB.
 */
#ifndef SAO_STORE_OFFLINE_DECLS
#define SAO_STORE_OFFLINE_DECLS

#define SAO_VIEW_OHLCV "ohlcv_daily"
#define SAO_VIEW_TECHNICAL "technical_daily"

struct sao_bars;
struct sao_feature_table;

/* Path of a view's file for a ticker (the ticker must be valid). */
int sao_offline_path(char *buf, size_t size, const char *view, const char *ticker);
/* Writes both views for one ticker: each file atomically, the technical view renamed into place
 * only after the bars file was written. `features` holds the columns of sao_features_defs() in
 * order (crypto ones only when `crypto`). */
int sao_offline_write(const struct sao_bars *bars, const struct sao_feature_table *features,
                      int crypto);
/* Reads the stored bars of a ticker into `out` (initialized by the caller). SAO_ENOENT when the
 * ticker was never ingested. */
int sao_offline_read_bars(struct sao_bars *out, const char *ticker);
/* Opens one view's file of a ticker. SAO_ENOENT when absent. */
int sao_offline_open(sao_pq_file **out, const char *view, const char *ticker);
/* Tickers with stored bars, sorted; free with sao_offline_tickers_free. */
int sao_offline_list_tickers(char ***out, size_t *count);
void sao_offline_tickers_free(char **tickers, size_t count);

#endif

/* ---- Feast encodings (byte-compatible with Feast's Redis online store) ---- */
#ifndef SAO_STORE_ONLINE_DECLS
#define SAO_STORE_ONLINE_DECLS

/* Feast's ValueType numbers as used in entity-key serialization. */
typedef enum sao_feast_type {
    SAO_FEAST_NULL = 0, /* an unset feast.types.Value (empty bytes) */
    SAO_FEAST_BYTES = 1,
    SAO_FEAST_STRING = 2,
    SAO_FEAST_INT32 = 3,
    SAO_FEAST_INT64 = 4,
    SAO_FEAST_DOUBLE = 5,
    SAO_FEAST_FLOAT = 6,
    SAO_FEAST_BOOL = 7,
    SAO_FEAST_UNIX_TIMESTAMP = 8,
    SAO_FEAST_DOUBLE_LIST = 15
} sao_feast_type;

/* One value. Strings and lists are borrowed (or arena-owned when decoded). */
typedef struct sao_feast_value {
    sao_feast_type type;
    union {
        double f64;
        float f32;
        int64_t i64; /* INT64, UNIX_TIMESTAMP (seconds) */
        int32_t i32;
        int boolean;
        struct {
            const char *data;
            size_t len;
        } str; /* STRING, BYTES */
        struct {
            const double *data;
            size_t len;
        } f64_list;
    } as;
} sao_feast_value;

/* MurmurHash3 x86_32. */
uint32_t sao_murmur3_32(const void *data, size_t len, uint32_t seed);
/* Appends Feast's serialized entity key (version 2 or 3) for string or int64 join keys. */
int sao_feast_serialize_entity_key(sao_buf *out, const char *const *join_keys,
                                   const sao_feast_value *values, size_t count, int version);
/* The Redis key of an entity: serialized key (version 3) followed by the project name. */
int sao_feast_redis_key(sao_buf *out, const char *project, const char *join_key,
                        const char *entity_value);
/* The 4-byte hash field of "view:feature" (MurmurHash3 seed 0, little-endian). */
void sao_feast_field(uint8_t out[4], const char *view, const char *feature);
/* Appends a feast.types.Value protobuf (an empty message for SAO_FEAST_NULL). */
int sao_feast_encode_value(sao_buf *out, const sao_feast_value *value);
/* Decodes a feast.types.Value protobuf; strings and lists are allocated in `arena`. Unknown
 * fields are SAO_EUNSUPPORTED, malformed bytes SAO_ECORRUPT. */
int sao_feast_decode_value(sao_feast_value *out, const void *data, size_t len, sao_arena *arena);
/* google.protobuf.Timestamp. */
int sao_feast_encode_timestamp(sao_buf *out, int64_t seconds, int32_t nanos);
int sao_feast_decode_timestamp(int64_t *seconds, int32_t *nanos, const void *data, size_t len);

/* ---- Redis online store ---- */

/* Longest Unix socket path a connection string may name (sun_path less its NUL). */
#define SAO_UNIX_SOCKET_PATH_MAX 107

typedef struct sao_online_config {
    char host[256];  /* a host name or address; with unix_socket, the socket's path */
    int port;        /* unused with unix_socket */
    int unix_socket; /* connect to the Unix socket at `host` */
    int db;
    char password[256];
    int ssl;
    long key_ttl_seconds; /* 0: no EXPIRE */
    char project[128];
    int connect_timeout_ms;
    int retries; /* connection and write attempts after the first */
} sao_online_config;

/* Parses Feast's "host:port[,db=N][,password=...][,ssl=true]" into cfg (other fields kept).
 * The address may also be a Unix socket, "unix:/path/redis.sock" (or just "/path/redis.sock"):
 * on one machine it saves a loopback TCP round trip's kernel work on every command. */
int sao_online_parse_connection_string(sao_online_config *cfg, const char *conn);

typedef struct sao_online sao_online;

/* Connects (and AUTH/SELECT), retrying with backoff; a clear error when Redis is unreachable
 * or refuses the password. */
int sao_online_connect(sao_online **out, const sao_online_config *cfg);
void sao_online_close(sao_online *online);
/* For a process that ignores SIGPIPE for good (a server: signal(SIGPIPE, SIG_IGN) before its
 * threads start): the store then skips the per-command guard that otherwise keeps a dead
 * connection's SIGPIPE from killing the process (four system calls a command). Returns 1 when
 * SIGPIPE is ignored now and the guard is off, 0 (guard kept) otherwise. Never undo the
 * SIG_IGN afterwards. */
int sao_online_sigpipe_ignored(void);
int sao_online_ping(sao_online *online);

/* One entity row of a view: values[i] belongs to feature_names[i]. */
typedef struct sao_online_row {
    const char *entity;   /* ticker */
    int64_t event_ts_us;  /* event time */
    const sao_feast_value *values;
} sao_online_row;

/* Writes rows of one view with pipelining. A row is written only when its event time is
 * strictly newer than the stored `_ts:<view>`; EXPIRE is set when key_ttl_seconds > 0.
 * *written counts rows written (older or equal rows are skipped). Reconnects and retries
 * on a dropped connection; a failed batch can simply be written again. */
int sao_online_write(sao_online *online, const char *view, const char *const *feature_names,
                     size_t feature_count, const sao_online_row *rows, size_t row_count,
                     size_t *written);
/* Reads one entity's features of a view in one round trip. SAO_ENOENT when the entity has no
 * data for the view. values[i] (decoded into `arena`) for feature_names[i]; a feature never
 * written is SAO_FEAST_NULL. */
int sao_online_read(sao_online *online, const char *view, const char *const *feature_names,
                    size_t feature_count, const char *entity, sao_feast_value *values,
                    int64_t *event_ts_us, sao_arena *arena);
/* sao_online_read plus a GET of the plain string `key`, pipelined behind the HMGET so both
 * take one round trip. Returns what sao_online_read returns; on success *key_status is 0 with
 * *key_value (NUL-terminated, sao_free) and *key_len set, SAO_ENOENT when the key is absent, or
 * SAO_EIO when the server refused the GET (a key of another type): the GET never fails the
 * read. On error nothing is set. */
int sao_online_read_and_get(sao_online *online, const char *view, const char *const *feature_names,
                            size_t feature_count, const char *entity, sao_feast_value *values,
                            int64_t *event_ts_us, sao_arena *arena, const char *key,
                            char **key_value, size_t *key_len, int *key_status);
/* SET key value, with EX ttl_seconds when ttl_seconds > 0 (0: no expiry). Reconnects and
 * retries on a dropped connection as the reads do; SAO_EIO when the server answers an error. */
int sao_online_set(sao_online *online, const char *key, const void *value, size_t len,
                   long ttl_seconds);

#endif

/* ---- feature repository (feature_store/) and registry ----
 * feature_store.yaml is Feast's own schema; features.yaml declares the entity and the feature
 * views. The registry ($SAO_HOME/registry.json) records what `sao apply` accepted and the
 * intervals materialized per view.
 */
#ifndef SAO_STORE_REGISTRY_DECLS
#define SAO_STORE_REGISTRY_DECLS

typedef enum sao_fs_dtype {
    SAO_FS_FLOAT64 = 0,
    SAO_FS_INT64,
    SAO_FS_STRING,
    SAO_FS_FLOAT64_LIST /* Array(Float64): model windows */
} sao_fs_dtype;

typedef struct sao_fs_field {
    char *name;
    sao_fs_dtype dtype;
    char *params;      /* indicator parameters ("period=14"), "" for plain columns */
    char *description;
    char *window_view; /* window fields: view and feature the list is taken from, else NULL */
    char *window_feature;
} sao_fs_field;

typedef enum sao_fs_view_kind {
    SAO_FS_BARS = 0,   /* columns of the ohlcv_daily files */
    SAO_FS_INDICATORS, /* columns computed by ingestion (sao_features_defs) */
    SAO_FS_WINDOW      /* list features derived from other views */
} sao_fs_view_kind;

typedef struct sao_fs_view {
    char *name;
    sao_fs_view_kind kind;
    char *description;
    int64_t ttl_seconds;
    char *source;       /* offline folder under $SAO_HOME ("offline/technical_daily"); NULL for
                           a window view, which is derived from other views */
    int context_length; /* window views: values per list (the last N rows); 0 otherwise */
    sao_fs_field *fields;
    size_t field_count;
    int line;           /* line of its definition in features.yaml */
} sao_fs_view;

typedef struct sao_fs_repo {
    char *dir;               /* the feature repository folder */
    char *project;
    char *registry;          /* feature_store.yaml's registry (Feast's own file) */
    char *connection_string; /* online_store.connection_string, or SAO_REDIS_CONNECTION */
    long key_ttl_seconds;
    int entity_key_serialization_version;
    char *entity;   /* entity name ("ticker") */
    char *join_key; /* its join key ("ticker") */
    sao_fs_view *views;
    size_t view_count;
} sao_fs_repo;

/* Loads and validates feature_store.yaml and features.yaml from `dir` (NULL: SAO_FEATURE_REPO).
 * Errors name the file and line. */
int sao_fs_repo_load(sao_fs_repo **out, const char *dir);
void sao_fs_repo_free(sao_fs_repo *repo);
const sao_fs_view *sao_fs_repo_view(const sao_fs_repo *repo, const char *name);
int sao_fs_view_field(const sao_fs_view *view, const char *name); /* index or -1 */
/* Online-store settings of the repository (connection string parsed, project, key TTL). */
int sao_fs_online_config(sao_online_config *cfg, const sao_fs_repo *repo);

/* A materialized interval [start_us, end_us] of a view. */
typedef struct sao_fs_interval {
    int64_t start_us;
    int64_t end_us;
} sao_fs_interval;

/* Path of the registry file ($SAO_HOME/registry.json). */
int sao_fs_registry_path(char *buf, size_t size);
/* Intervals recorded for `view` (oldest first; none is fine). *out owned by the caller. */
int sao_fs_registry_intervals(sao_fs_interval **out, size_t *count, const char *view);
/* Appends an interval to the registry, atomically. */
int sao_fs_registry_add_interval(const char *view, int64_t start_us, int64_t end_us);

typedef struct sao_fs_apply_report {
    char **created; /* "FeatureView technical_daily", "Entity ticker", ... */
    size_t created_count;
    char **updated;
    size_t updated_count;
    char **deleted;
    size_t deleted_count;
    char features_py[4096]; /* path of the generated Feast definitions */
} sao_fs_apply_report;

/* Records the repository's definitions in the registry (atomically; intervals of unchanged
 * views kept) and writes features.py for Feast; reports what was created, updated, deleted. */
int sao_fs_apply(sao_fs_apply_report *report, const sao_fs_repo *repo);
void sao_fs_apply_report_dispose(sao_fs_apply_report *report);

/* ---- materialization ---- */

typedef struct sao_fs_materialize_report {
    size_t views;
    size_t entities; /* entity rows written (summed over views) */
    size_t skipped;  /* rows not newer than what the online store holds */
    size_t tickers;
    double seconds;
} sao_fs_materialize_report;

/* Writes, for every view (or only `view_filter` when non-NULL) and every ticker in the offline
 * store (or only `tickers`), the newest row with start_us <= event time <= end_us (ties broken
 * by `created`) to the online store; window views get the last context_length values up to
 * that row. Records [start_us, end_us] in the registry after the write succeeded, unless a
 * ticker subset was given (the other tickers still need that interval). */
int sao_fs_materialize(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                       sao_online *online, int64_t start_us, int64_t end_us,
                       const char *const *tickers, size_t ticker_count, const char *view_filter);
/* Feast's materialize-incremental: each view starts at the end of its last interval, or at
 * end_us - ttl when it has none. */
int sao_fs_materialize_incremental(sao_fs_materialize_report *report, const sao_fs_repo *repo,
                                   sao_online *online, int64_t end_us,
                                   const char *const *tickers, size_t ticker_count);

/* ---- point-in-time (historical) retrieval ---- */

typedef struct sao_fs_entity_rows {
    size_t count;
    char **tickers;        /* owned */
    int64_t *event_ts_us;  /* owned */
} sao_fs_entity_rows;

/* Reads entity rows (columns `ticker` and `event_timestamp`) from a CSV or Parquet file. CSV
 * timestamps may be dates or ISO 8601 date-times (UTC, or with an offset). Tickers are
 * validated and upper-cased; errors name the file and line (CSV) or row (Parquet). */
int sao_fs_entity_rows_read(sao_fs_entity_rows *out, const char *path);
void sao_fs_entity_rows_dispose(sao_fs_entity_rows *rows);

/* Result: one column per requested feature, aligned with the entity rows (same order). */
typedef struct sao_fs_historical_result {
    size_t rows;
    size_t columns;
    char **names;   /* output column names: the feature name, or "view__feature" if two
                       requested features share a name */
    double **values;   /* values[col][row]; NaN where valid is 0 */
    uint8_t **valid;   /* 0 where no row at or before the timestamp within the view's TTL */
} sao_fs_historical_result;

/* Feast's get_historical_features: for each entity row, the latest value of each feature
 * ("view:feature") with event time <= the row's timestamp and >= timestamp - ttl, ties on event
 * time broken by the newest `created`. Scalar features only (window views are online-only). */
int sao_fs_historical(sao_fs_historical_result *out, const sao_fs_repo *repo,
                      const sao_fs_entity_rows *rows, const char *const *feature_refs,
                      size_t ref_count);
void sao_fs_historical_result_dispose(sao_fs_historical_result *result);
/* Writes entity rows + result as Parquet (ticker, event_timestamp, features), atomically. */
int sao_fs_historical_write(const char *path, const sao_fs_entity_rows *rows,
                            const sao_fs_historical_result *result);

#endif
