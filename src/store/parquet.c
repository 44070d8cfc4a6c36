/*
 * The Parquet reader: parses the footer of files from any writer (pyarrow, DuckDB, Spark, ours)
 * and decodes whole flat columns into the file's arena. Every byte of the file is untrusted:
 * offsets, lengths and counts are checked, and hard caps bound what a file can make us allocate.
 */
#include "parquet_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- limits --------------------------------------------------------------------------------- */

static sao_pq_limits limits = {
    (size_t)1 << 28, /* rows */
    (size_t)1 << 30, /* page bytes */
    (size_t)1 << 31, /* string bytes per column */
};

void sao_store__pq_get_limits(sao_pq_limits *out)
{
    *out = limits;
}

void sao_store__pq_set_limits(const sao_pq_limits *l)
{
    limits = *l;
}

/* ---- in-memory footer ----------------------------------------------------------------------- */

typedef struct pq_schema_el {
    int has_type;
    int type;
    int32_t type_length;
    int has_repetition;
    int repetition;
    const uint8_t *name;
    size_t name_len;
    int has_children;
    int32_t num_children;
    int converted_type; /* -1: absent */
    int logical;        /* LogicalType union field id; 0: absent */
    int ts_utc;
    int ts_unit; /* TimeUnit field id: 1 ms, 2 us, 3 ns */
} pq_schema_el;

typedef struct pq_chunk {
    int has_meta;
    int encrypted;
    int has_file_path;
    int type;
    int codec;
    int64_t num_values;
    int64_t total_uncompressed;
    int64_t total_compressed;
    int64_t data_page_offset;
    int64_t dictionary_page_offset; /* 0 when absent (0 is never a valid page offset) */
    size_t path_depth;
    const uint8_t *path0;
    size_t path0_len;
    size_t encodings_count;
    int encodings[16];
    sao_pq_chunk_stats stats;
} pq_chunk;

typedef struct pq_row_group {
    int64_t num_rows;
    size_t nchunks;
    pq_chunk *chunks;
} pq_row_group;

typedef struct pq_col {
    char *name;
    sao_pq_type type;
    pq_schema_el el;
    int max_def;
    sao_pq_column_data *data; /* cached after the first read */
} pq_col;

struct sao_pq_file {
    sao_arena *arena;
    /* Where the bytes come from: a file opened by path keeps its descriptor and reads each
     * column chunk with pread when it is decoded, so opening a file costs its footer and not its
     * size; a file opened from memory keeps a copy of everything. */
    int fd;         /* -1 for memory */
    char *mem;      /* memory: the whole file, owned */
    char *tail;     /* file: the last bytes of the file, holding the footer, owned */
    uint8_t *chunk; /* file: the column chunk being decoded */
    size_t chunk_cap;
    size_t len;
    size_t footer_start; /* pages must lie in [4, footer_start) */
    int version;
    int64_t num_rows;
    char *created_by;
    size_t nschema;
    pq_schema_el *schema;
    size_t ncols;
    pq_col *cols;
    size_t ngroups;
    pq_row_group *groups;
    size_t nchunks_total; /* column chunks over all row groups (capped) */
    size_t nkv;
    char **kv_keys;
    char **kv_values;
    int64_t *group_first_row;        /* row of the file where each row group starts */
    sao_pq_column_data **chunk_data; /* [row_group * ncols + column], cached; NULL until used */
};

/* ---- thrift helpers ------------------------------------------------------------------------- */

static int want(uint8_t got, uint8_t expected, const char *what)
{
    if (got == expected) return 0;
    return sao_error_set(SAO_ECORRUPT, "%s has thrift type %u, expected %u", what, (unsigned)got,
                         (unsigned)expected);
}

static int get_i32(sao_thrift_in *in, uint8_t type, const char *what, int32_t *out)
{
    int64_t v;
    int rc = sao_store__thrift_get_int(in, type, &v);
    if (rc) return sao_error_wrap(rc, "%s: ", what);
    if (v < INT32_MIN || v > INT32_MAX)
        return sao_error_set(SAO_ECORRUPT, "%s: %lld does not fit in 32 bits", what, (long long)v);
    *out = (int32_t)v;
    return 0;
}

static int get_i64(sao_thrift_in *in, uint8_t type, const char *what, int64_t *out)
{
    int rc = sao_store__thrift_get_int(in, type, out);
    return rc ? sao_error_wrap(rc, "%s: ", what) : 0;
}

static int get_binary(sao_thrift_in *in, uint8_t type, const char *what, const uint8_t **data,
                      size_t *len)
{
    int rc = want(type, SAO_THRIFT_BINARY, what);
    if (!rc) rc = sao_store__thrift_get_binary(in, data, len);
    return rc;
}

/* Footer lists become arrays sized by their declared count, before their elements are parsed.
 * The count is checked against the smallest encoding a valid element can have, so a footer can
 * make us allocate only a small multiple of its own size, and against an absolute cap. */
#define MAX_SCHEMA_ELEMENTS ((size_t)1 << 20)
#define MAX_ROW_GROUPS ((size_t)1 << 20)
#define MAX_CHUNKS ((size_t)1 << 20)

static int get_struct_list(sao_thrift_in *in, uint8_t type, const char *what, size_t min_bytes,
                           size_t max_count, size_t *count)
{
    uint8_t elem = 0;
    int rc = want(type, SAO_THRIFT_LIST, what);
    if (!rc) rc = sao_store__thrift_list_begin_read(in, &elem, count);
    if (!rc) rc = want(elem, SAO_THRIFT_STRUCT, what);
    if (rc) return rc;
    size_t left = (size_t)(in->end - in->pos);
    if (*count > left / min_bytes)
        return sao_error_set(SAO_ECORRUPT, "%s: %zu elements cannot fit in the %zu bytes left",
                             what, *count, left);
    if (*count > max_count)
        return sao_error_set(SAO_ETOOBIG, "%s: %zu elements exceed the limit of %zu", what, *count,
                             max_count);
    return 0;
}

/* ---- footer decoding ------------------------------------------------------------------------ */

static int read_time_unit(sao_thrift_in *in, int *unit)
{
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) return 0;
        if (type == SAO_THRIFT_STRUCT && id >= 1 && id <= 3) *unit = id;
        rc = sao_store__thrift_skip(in, type);
        if (rc) return rc;
    }
}

static int read_timestamp_type(sao_thrift_in *in, pq_schema_el *el)
{
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) return 0;
        if (id == 1 && (type == SAO_THRIFT_TRUE || type == SAO_THRIFT_FALSE)) {
            rc = sao_store__thrift_get_bool_field(type, &el->ts_utc);
        } else if (id == 2 && type == SAO_THRIFT_STRUCT) {
            rc = read_time_unit(in, &el->ts_unit);
        } else {
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
}

static int read_logical_type(sao_thrift_in *in, pq_schema_el *el)
{
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) return 0;
        if (type == SAO_THRIFT_STRUCT) el->logical = id;
        if (id == 8 && type == SAO_THRIFT_STRUCT)
            rc = read_timestamp_type(in, el);
        else
            rc = sao_store__thrift_skip(in, type);
        if (rc) return rc;
    }
}

static int read_schema_element(sao_thrift_in *in, pq_schema_el *el)
{
    memset(el, 0, sizeof(*el));
    el->converted_type = -1;
    int has_name = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        int32_t v = 0;
        switch (id) {
        case 1:
            rc = get_i32(in, type, "SchemaElement.type", &v);
            el->has_type = 1;
            el->type = v;
            break;
        case 2:
            rc = get_i32(in, type, "SchemaElement.type_length", &el->type_length);
            break;
        case 3:
            rc = get_i32(in, type, "SchemaElement.repetition_type", &v);
            el->has_repetition = 1;
            el->repetition = v;
            break;
        case 4:
            rc = get_binary(in, type, "SchemaElement.name", &el->name, &el->name_len);
            has_name = 1;
            break;
        case 5:
            rc = get_i32(in, type, "SchemaElement.num_children", &el->num_children);
            el->has_children = 1;
            break;
        case 6:
            rc = get_i32(in, type, "SchemaElement.converted_type", &v);
            el->converted_type = v;
            break;
        case 10:
            rc = want(type, SAO_THRIFT_STRUCT, "SchemaElement.logicalType");
            if (!rc) rc = read_logical_type(in, el);
            break;
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (!has_name) return sao_error_set(SAO_ECORRUPT, "a schema element has no name");
    return 0;
}

static int read_statistics(sao_thrift_in *in, sao_pq_chunk_stats *st)
{
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) return 0;
        switch (id) {
        case 1:
            rc = get_binary(in, type, "Statistics.max", &st->max, &st->max_len);
            st->has_max = 1;
            break;
        case 2:
            rc = get_binary(in, type, "Statistics.min", &st->min, &st->min_len);
            st->has_min = 1;
            break;
        case 3:
            rc = get_i64(in, type, "Statistics.null_count", &st->null_count);
            st->has_null_count = 1;
            break;
        case 5:
            rc = get_binary(in, type, "Statistics.max_value", &st->max_value, &st->max_value_len);
            st->has_max_value = 1;
            break;
        case 6:
            rc = get_binary(in, type, "Statistics.min_value", &st->min_value, &st->min_value_len);
            st->has_min_value = 1;
            break;
        case 9:
            rc = get_i64(in, type, "Statistics.nan_count", &st->nan_count);
            st->has_nan_count = 1;
            break;
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
}

static int read_column_meta(sao_thrift_in *in, pq_chunk *ch)
{
    int seen_type = 0, seen_codec = 0, seen_values = 0, seen_size = 0, seen_offset = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        int32_t v = 0;
        switch (id) {
        case 1:
            rc = get_i32(in, type, "ColumnMetaData.type", &v);
            ch->type = v;
            seen_type = 1;
            break;
        case 2: {
            uint8_t elem = 0;
            size_t count = 0;
            rc = want(type, SAO_THRIFT_LIST, "ColumnMetaData.encodings");
            if (!rc) rc = sao_store__thrift_list_begin_read(in, &elem, &count);
            for (size_t i = 0; i < count && !rc; i++) {
                rc = get_i32(in, elem, "ColumnMetaData.encodings", &v);
                if (!rc && ch->encodings_count < SAO_ARRAY_LEN(ch->encodings))
                    ch->encodings[ch->encodings_count++] = v;
            }
            break;
        }
        case 3: {
            uint8_t elem = 0;
            size_t count = 0;
            rc = want(type, SAO_THRIFT_LIST, "ColumnMetaData.path_in_schema");
            if (!rc) rc = sao_store__thrift_list_begin_read(in, &elem, &count);
            ch->path_depth = count;
            for (size_t i = 0; i < count && !rc; i++) {
                const uint8_t *s;
                size_t len;
                rc = get_binary(in, elem, "ColumnMetaData.path_in_schema", &s, &len);
                if (!rc && i == 0) ch->path0 = s, ch->path0_len = len;
            }
            break;
        }
        case 4:
            rc = get_i32(in, type, "ColumnMetaData.codec", &v);
            ch->codec = v;
            seen_codec = 1;
            break;
        case 5:
            rc = get_i64(in, type, "ColumnMetaData.num_values", &ch->num_values);
            seen_values = 1;
            break;
        case 6:
            rc = get_i64(in, type, "ColumnMetaData.total_uncompressed_size",
                         &ch->total_uncompressed);
            break;
        case 7:
            rc = get_i64(in, type, "ColumnMetaData.total_compressed_size", &ch->total_compressed);
            seen_size = 1;
            break;
        case 9:
            rc = get_i64(in, type, "ColumnMetaData.data_page_offset", &ch->data_page_offset);
            seen_offset = 1;
            break;
        case 11:
            rc = get_i64(in, type, "ColumnMetaData.dictionary_page_offset",
                         &ch->dictionary_page_offset);
            break;
        case 12:
            rc = want(type, SAO_THRIFT_STRUCT, "ColumnMetaData.statistics");
            if (!rc) rc = read_statistics(in, &ch->stats);
            break;
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (!seen_type || !seen_codec || !seen_values || !seen_size || !seen_offset)
        return sao_error_set(SAO_ECORRUPT, "ColumnMetaData lacks a required field");
    ch->has_meta = 1;
    return 0;
}

static int read_column_chunk(sao_thrift_in *in, pq_chunk *ch)
{
    memset(ch, 0, sizeof(*ch));
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) return 0;
        if (id == 1) {
            ch->has_file_path = 1;
            rc = sao_store__thrift_skip(in, type);
        } else if (id == 3) {
            rc = want(type, SAO_THRIFT_STRUCT, "ColumnChunk.meta_data");
            if (!rc) rc = read_column_meta(in, ch);
        } else {
            if (id == 8 || id == 9) ch->encrypted = 1;
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
}

static int read_row_group(sao_thrift_in *in, sao_pq_file *f, pq_row_group *rg)
{
    int seen_columns = 0, seen_rows = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        if (id == 1) {
            size_t count = 0;
            /* A valid ColumnChunk takes at least 16 bytes (its required metadata). */
            rc = get_struct_list(in, type, "RowGroup.columns", 16, MAX_CHUNKS - f->nchunks_total,
                                 &count);
            if (!rc && seen_columns)
                rc = sao_error_set(SAO_ECORRUPT, "RowGroup.columns appears twice");
            if (rc) return rc;
            rg->chunks = sao_arena_alloc(f->arena, (count ? count : 1) * sizeof(pq_chunk));
            rg->nchunks = count;
            f->nchunks_total += count;
            for (size_t i = 0; i < count && !rc; i++) rc = read_column_chunk(in, &rg->chunks[i]);
            seen_columns = 1;
        } else if (id == 3) {
            rc = get_i64(in, type, "RowGroup.num_rows", &rg->num_rows);
            seen_rows = 1;
        } else {
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (!seen_columns || !seen_rows)
        return sao_error_set(SAO_ECORRUPT, "RowGroup lacks columns or num_rows");
    return 0;
}

static int read_key_value(sao_thrift_in *in, sao_pq_file *f, size_t i)
{
    const uint8_t *key = NULL, *value = NULL;
    size_t key_len = 0, value_len = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        if (id == 1)
            rc = get_binary(in, type, "KeyValue.key", &key, &key_len);
        else if (id == 2)
            rc = get_binary(in, type, "KeyValue.value", &value, &value_len);
        else
            rc = sao_store__thrift_skip(in, type);
        if (rc) return rc;
    }
    if (!key) return sao_error_set(SAO_ECORRUPT, "a key_value_metadata entry has no key");
    f->kv_keys[i] = sao_arena_strndup(f->arena, (const char *)key, key_len);
    f->kv_values[i] = value ? sao_arena_strndup(f->arena, (const char *)value, value_len) : NULL;
    return 0;
}

static int read_file_metadata(sao_thrift_in *in, sao_pq_file *f)
{
    int seen_schema = 0, seen_rows = 0, seen_groups = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        size_t count = 0;
        switch (id) {
        case 1:
            rc = get_i32(in, type, "FileMetaData.version", &f->version);
            break;
        case 2:
            rc = get_struct_list(in, type, "FileMetaData.schema", 3, MAX_SCHEMA_ELEMENTS, &count);
            if (!rc && seen_schema) rc = sao_error_set(SAO_ECORRUPT, "schema appears twice");
            if (rc) return rc;
            f->schema = sao_arena_alloc(f->arena, (count ? count : 1) * sizeof(pq_schema_el));
            f->nschema = count;
            for (size_t i = 0; i < count && !rc; i++) rc = read_schema_element(in, &f->schema[i]);
            seen_schema = 1;
            break;
        case 3:
            rc = get_i64(in, type, "FileMetaData.num_rows", &f->num_rows);
            seen_rows = 1;
            break;
        case 4:
            rc = get_struct_list(in, type, "FileMetaData.row_groups", 5, MAX_ROW_GROUPS, &count);
            if (!rc && seen_groups) rc = sao_error_set(SAO_ECORRUPT, "row_groups appear twice");
            if (rc) return rc;
            f->groups = sao_arena_alloc(f->arena, (count ? count : 1) * sizeof(pq_row_group));
            memset(f->groups, 0, (count ? count : 1) * sizeof(pq_row_group));
            f->ngroups = count;
            for (size_t i = 0; i < count && !rc; i++) rc = read_row_group(in, f, &f->groups[i]);
            seen_groups = 1;
            break;
        case 5:
            rc = get_struct_list(in, type, "FileMetaData.key_value_metadata", 3, SIZE_MAX, &count);
            if (!rc && f->kv_keys) rc = sao_error_set(SAO_ECORRUPT, "metadata appears twice");
            if (rc) return rc;
            f->kv_keys = sao_arena_alloc(f->arena, (count ? count : 1) * sizeof(char *));
            f->kv_values = sao_arena_alloc(f->arena, (count ? count : 1) * sizeof(char *));
            for (size_t i = 0; i < count && !rc; i++) {
                rc = read_key_value(in, f, i);
                if (!rc) f->nkv = i + 1;
            }
            break;
        case 6: {
            const uint8_t *s;
            size_t len;
            rc = get_binary(in, type, "FileMetaData.created_by", &s, &len);
            if (!rc) f->created_by = sao_arena_strndup(f->arena, (const char *)s, len);
            break;
        }
        case 8:
            return sao_error_set(SAO_EUNSUPPORTED, "encrypted Parquet files are not supported");
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (!seen_schema || !seen_rows || !seen_groups)
        return sao_error_set(SAO_ECORRUPT, "FileMetaData lacks schema, num_rows or row_groups");
    return 0;
}

/* ---- schema --------------------------------------------------------------------------------- */

static int map_type(const pq_schema_el *el, sao_pq_type *out)
{
    switch (el->type) {
    case SAO_PQT_BOOLEAN:
        *out = SAO_PQ_BOOL;
        return 0;
    case SAO_PQT_INT32:
        *out =
            el->logical == 6 || el->converted_type == SAO_PQ_CT_DATE ? SAO_PQ_DATE : SAO_PQ_INT32;
        return 0;
    case SAO_PQT_INT64:
        if (el->logical == 8 && el->ts_unit) {
            *out = el->ts_unit == 1   ? SAO_PQ_TIMESTAMP_MS
                   : el->ts_unit == 2 ? SAO_PQ_TIMESTAMP_US
                                      : SAO_PQ_TIMESTAMP_NS;
        } else if (el->converted_type == SAO_PQ_CT_TIMESTAMP_MILLIS) {
            *out = SAO_PQ_TIMESTAMP_MS;
        } else if (el->converted_type == SAO_PQ_CT_TIMESTAMP_MICROS) {
            *out = SAO_PQ_TIMESTAMP_US;
        } else {
            *out = SAO_PQ_INT64;
        }
        return 0;
    case SAO_PQT_INT96:
        *out = SAO_PQ_TIMESTAMP_NS;
        return 0; /* legacy Impala/Spark timestamps */
    case SAO_PQT_FLOAT:
        *out = SAO_PQ_FLOAT;
        return 0;
    case SAO_PQT_DOUBLE:
        *out = SAO_PQ_DOUBLE;
        return 0;
    case SAO_PQT_BYTE_ARRAY:
        *out = el->logical == 1 || el->logical == 4 || el->logical == 12 ||
                       el->converted_type == SAO_PQ_CT_UTF8 ||
                       el->converted_type == SAO_PQ_CT_ENUM || el->converted_type == SAO_PQ_CT_JSON
                   ? SAO_PQ_STRING
                   : SAO_PQ_BINARY;
        return 0;
    case SAO_PQT_FIXED_LEN_BYTE_ARRAY:
        *out = SAO_PQ_BINARY;
        return 0;
    default:
        return SAO_EUNSUPPORTED;
    }
}

static int build_columns(sao_pq_file *f)
{
    if (f->nschema == 0) return sao_error_set(SAO_ECORRUPT, "the schema is empty");
    const pq_schema_el *root = &f->schema[0];
    if (!root->has_children || root->num_children < 0)
        return sao_error_set(SAO_ECORRUPT, "the schema root is not a group");
    size_t n = (size_t)root->num_children;
    if (n > f->nschema - 1)
        return sao_error_set(SAO_ECORRUPT, "the schema root declares %zu children, %zu exist", n,
                             f->nschema - 1);
    f->cols = sao_arena_alloc(f->arena, (n ? n : 1) * sizeof(pq_col));
    memset(f->cols, 0, (n ? n : 1) * sizeof(pq_col));
    f->ncols = n;
    for (size_t i = 0; i < n; i++) {
        const pq_schema_el *el = &f->schema[i + 1];
        pq_col *col = &f->cols[i];
        col->name = sao_arena_strndup(f->arena, (const char *)el->name, el->name_len);
        col->el = *el;
        /* Some writers set num_children = 0 on leaves; only a typeless or parent node nests. */
        if ((el->has_children && el->num_children > 0) || !el->has_type)
            return sao_error_set(SAO_EUNSUPPORTED,
                                 "column '%s' is nested (a group); only flat columns are read",
                                 col->name);
        int repetition = el->has_repetition ? el->repetition : SAO_PQ_REQUIRED;
        if (repetition == SAO_PQ_REPEATED)
            return sao_error_set(SAO_EUNSUPPORTED,
                                 "column '%s' is repeated (a list); only flat columns are read",
                                 col->name);
        if (repetition != SAO_PQ_REQUIRED && repetition != SAO_PQ_OPTIONAL)
            return sao_error_set(SAO_EUNSUPPORTED, "column '%s' has repetition type %d", col->name,
                                 repetition);
        col->max_def = repetition == SAO_PQ_OPTIONAL;
        if (map_type(el, &col->type))
            return sao_error_set(SAO_EUNSUPPORTED, "column '%s' has unknown physical type %d",
                                 col->name, el->type);
        if (el->type == SAO_PQT_FIXED_LEN_BYTE_ARRAY &&
            (el->type_length <= 0 || el->type_length > (1 << 20)))
            return sao_error_set(SAO_ECORRUPT, "column '%s' has fixed length %d", col->name,
                                 (int)el->type_length);
    }
    if (n != f->nschema - 1)
        return sao_error_set(SAO_ECORRUPT, "the schema has %zu elements, the root %zu children",
                             f->nschema, n);
    return 0;
}

static int check_row_groups(sao_pq_file *f)
{
    uint64_t total = 0;
    f->group_first_row = sao_arena_alloc(f->arena, (f->ngroups ? f->ngroups : 1) * sizeof(int64_t));
    for (size_t g = 0; g < f->ngroups; g++) {
        const pq_row_group *rg = &f->groups[g];
        if (rg->num_rows < 0)
            return sao_error_set(SAO_ECORRUPT, "row group %zu has %lld rows", g,
                                 (long long)rg->num_rows);
        f->group_first_row[g] = (int64_t)total;
        total += (uint64_t)rg->num_rows;
        if (total > limits.max_rows)
            return sao_error_set(SAO_ETOOBIG, "the file has more than %zu rows", limits.max_rows);
        if (rg->nchunks != f->ncols)
            return sao_error_set(SAO_ECORRUPT,
                                 "row group %zu has %zu column chunks for %zu columns", g,
                                 rg->nchunks, f->ncols);
        for (size_t c = 0; c < f->ncols; c++) {
            const pq_chunk *ch = &rg->chunks[c];
            const pq_col *col = &f->cols[c];
            if (ch->encrypted && !ch->has_meta)
                return sao_error_set(SAO_EUNSUPPORTED, "column '%s' is encrypted", col->name);
            if (!ch->has_meta)
                return sao_error_set(SAO_ECORRUPT, "column '%s' in row group %zu has no metadata",
                                     col->name, g);
            if (ch->has_file_path)
                return sao_error_set(SAO_EUNSUPPORTED, "column '%s' keeps its data in another file",
                                     col->name);
            if (ch->type != col->el.type)
                return sao_error_set(SAO_ECORRUPT,
                                     "column '%s' is type %d in the schema, %d in row group %zu",
                                     col->name, col->el.type, ch->type, g);
            if (ch->path_depth != 1 || ch->path0_len != strlen(col->name) ||
                memcmp(ch->path0, col->name, ch->path0_len) != 0)
                return sao_error_set(SAO_ECORRUPT,
                                     "row group %zu column %zu has a path that is not '%s'", g, c,
                                     col->name);
            if (ch->num_values != rg->num_rows)
                return sao_error_set(SAO_ECORRUPT,
                                     "column '%s' has %lld values in a row group of %lld rows",
                                     col->name, (long long)ch->num_values, (long long)rg->num_rows);
        }
    }
    if (f->num_rows < 0 || total != (uint64_t)f->num_rows)
        return sao_error_set(SAO_ECORRUPT, "the footer says %lld rows, the row groups hold %llu",
                             (long long)f->num_rows, (unsigned long long)total);
    return 0;
}

/* ---- open / close --------------------------------------------------------------------------- */

/* Bytes read from the end of a file in one go, hoping to hold the footer. Reading more than the
 * footer costs a copy and heap churn on every open; 16 KiB holds the footer of most offline
 * files (a bar file's is about 6 KiB), and a larger footer takes a second read. */
#define TAIL_GUESS ((size_t)16 * 1024)

/* Reads exactly `len` bytes at `offset`. A file that ends sooner changed or lied about its
 * layout: SAO_ECORRUPT, like the same bytes missing from a file in memory. */
static int read_at(int fd, void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sao_error_set(SAO_EIO, "read: %s", strerror(errno));
        if (n == 0)
            return sao_error_set(SAO_ECORRUPT,
                                 "the file ends at byte %llu, before the %zu "
                                 "bytes at offset %llu that it declares",
                                 (unsigned long long)(offset + done), len,
                                 (unsigned long long)offset);
        done += (size_t)n;
    }
    return 0;
}

/* Checks the magic and the footer length given the file's first four and last eight bytes, and
 * sets footer_start. */
static int check_frame(sao_pq_file *f, const uint8_t head[4], const uint8_t tail[8])
{
    SAO_ASSERT(f->len >= 12);
    if (memcmp(tail + 4, "PARE", 4) == 0)
        return sao_error_set(SAO_EUNSUPPORTED, "encrypted Parquet footers are not supported");
    if (memcmp(head, "PAR1", 4) != 0 || memcmp(tail + 4, "PAR1", 4) != 0)
        return sao_error_set(SAO_ECORRUPT, "not a Parquet file: the PAR1 magic is missing");
    uint32_t footer_len = sao_pq_load_u32(tail);
    if (footer_len > f->len - 12)
        return sao_error_set(SAO_ECORRUPT, "footer length %u exceeds the file size %zu", footer_len,
                             f->len);
    f->footer_start = f->len - 8 - footer_len;
    return 0;
}

static int parse_footer(sao_pq_file *f, const uint8_t *footer, size_t footer_len)
{
    sao_thrift_in in;
    sao_store__thrift_in_init(&in, footer, footer_len);
    int rc = read_file_metadata(&in, f);
    if (!rc) rc = build_columns(f);
    if (!rc) rc = check_row_groups(f);
    if (rc) sao_error_wrap(rc, "parquet footer: ");
    return rc;
}

static sao_pq_file *file_new(void)
{
    sao_pq_file *f = sao_calloc(1, sizeof(*f));
    f->arena = sao_arena_new(0);
    f->fd = -1;
    return f;
}

int sao_parquet_open_mem(sao_pq_file **out, const void *data, size_t len)
{
    if (len > SAO_PQ_MAX_FILE)
        return sao_error_set(SAO_ETOOBIG, "Parquet data of %zu bytes exceeds the limit", len);
    sao_pq_file *f = file_new();
    f->mem = sao_malloc(len ? len : 1);
    if (len) memcpy(f->mem, data, len);
    f->len = len;
    const uint8_t *b = (const uint8_t *)f->mem;
    int rc = len < 12 ? sao_error_set(SAO_ECORRUPT, "not a Parquet file: only %zu bytes", len)
                      : check_frame(f, b, b + len - 8);
    if (!rc) rc = parse_footer(f, b + f->footer_start, len - 8 - f->footer_start);
    if (rc) {
        sao_parquet_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int sao_parquet_open(sao_pq_file **out, const char *path)
{
    sao_pq_file *f = file_new();
    int rc = 0;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        const int err = errno;
        rc = sao_error_set(err == ENOENT ? SAO_ENOENT : SAO_EIO, "%s", strerror(err));
        goto done;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        rc = sao_error_set(SAO_EIO, "%s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sao_error_set(SAO_EIO, "not a regular file");
        goto done;
    }
    if ((uint64_t)st.st_size > SAO_PQ_MAX_FILE) {
        rc = sao_error_set(SAO_ETOOBIG, "file is larger than the limit of %zu bytes",
                           SAO_PQ_MAX_FILE);
        goto done;
    }
    f->len = (size_t)st.st_size;
    if (f->len < 12) {
        rc = sao_error_set(SAO_ECORRUPT, "not a Parquet file: only %zu bytes", f->len);
        goto done;
    }
    /* The tail read usually holds the whole footer; the head magic is four more bytes. */
    size_t tail_len = f->len < TAIL_GUESS ? f->len : TAIL_GUESS;
    f->tail = sao_malloc(tail_len);
    uint8_t head[4];
    rc = read_at(f->fd, f->tail, tail_len, f->len - tail_len);
    if (rc) goto done;
    if (tail_len == f->len)
        memcpy(head, f->tail, 4);
    else
        rc = read_at(f->fd, head, 4, 0);
    if (!rc) rc = check_frame(f, head, (const uint8_t *)f->tail + tail_len - 8);
    if (rc) goto done;
    size_t footer_len = f->len - 8 - f->footer_start;
    if (footer_len + 8 > tail_len) {
        /* The footer must stay in memory: names and statistics point into it. */
        sao_free(f->tail);
        f->tail = sao_malloc(footer_len);
        rc = read_at(f->fd, f->tail, footer_len, f->footer_start);
        if (!rc) rc = parse_footer(f, (const uint8_t *)f->tail, footer_len);
    } else {
        rc = parse_footer(f, (const uint8_t *)f->tail + tail_len - 8 - footer_len, footer_len);
    }
done:
    if (rc) {
        sao_error_wrap(rc, "%s: ", path);
        sao_parquet_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void sao_parquet_close(sao_pq_file *file)
{
    if (!file) return;
    if (file->fd >= 0) close(file->fd);
    sao_arena_free(file->arena);
    sao_free(file->mem);
    sao_free(file->tail);
    sao_free(file->chunk);
    sao_free(file);
}

size_t sao_parquet_num_rows(const sao_pq_file *file)
{
    return (size_t)file->num_rows;
}

size_t sao_parquet_num_columns(const sao_pq_file *file)
{
    return file->ncols;
}

size_t sao_parquet_num_row_groups(const sao_pq_file *file)
{
    return file->ngroups;
}

const char *sao_parquet_column_name(const sao_pq_file *file, size_t column)
{
    SAO_ASSERT(column < file->ncols);
    return file->cols[column].name;
}

sao_pq_type sao_parquet_column_type(const sao_pq_file *file, size_t column)
{
    SAO_ASSERT(column < file->ncols);
    return file->cols[column].type;
}

int sao_parquet_find_column(const sao_pq_file *file, const char *name)
{
    for (size_t i = 0; i < file->ncols; i++)
        if (strcmp(file->cols[i].name, name) == 0) return (int)i;
    return -1;
}

const char *sao_parquet_metadata(const sao_pq_file *file, const char *key)
{
    for (size_t i = 0; i < file->nkv; i++)
        if (strcmp(file->kv_keys[i], key) == 0) return file->kv_values[i];
    return NULL;
}

/* ---- page headers --------------------------------------------------------------------------- */

typedef struct page_header {
    int type;
    int32_t uncompressed;
    int32_t compressed;
    int has_data, has_dict, has_v2;
    int32_t num_values;
    int encoding;
    int def_encoding;
    /* dictionary page */
    int32_t dict_values;
    int dict_encoding;
    /* v2 */
    int32_t num_nulls;
    int32_t num_rows;
    int32_t def_len;
    int32_t rep_len;
    int is_compressed;
} page_header;

static int read_data_header(sao_thrift_in *in, page_header *h)
{
    int seen = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        int32_t v = 0;
        switch (id) {
        case 1:
            rc = get_i32(in, type, "DataPageHeader.num_values", &h->num_values);
            seen |= 1;
            break;
        case 2:
            rc = get_i32(in, type, "DataPageHeader.encoding", &v);
            h->encoding = v;
            seen |= 2;
            break;
        case 3:
            rc = get_i32(in, type, "DataPageHeader.definition_level_encoding", &v);
            h->def_encoding = v;
            seen |= 4;
            break;
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (seen != 7) return sao_error_set(SAO_ECORRUPT, "DataPageHeader lacks a required field");
    h->has_data = 1;
    return 0;
}

static int read_dict_header(sao_thrift_in *in, page_header *h)
{
    int seen = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        int32_t v = 0;
        if (id == 1) {
            rc = get_i32(in, type, "DictionaryPageHeader.num_values", &h->dict_values);
            seen |= 1;
        } else if (id == 2) {
            rc = get_i32(in, type, "DictionaryPageHeader.encoding", &v);
            h->dict_encoding = v;
            seen |= 2;
        } else {
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (seen != 3) return sao_error_set(SAO_ECORRUPT, "DictionaryPageHeader lacks a field");
    h->has_dict = 1;
    return 0;
}

static int read_v2_header(sao_thrift_in *in, page_header *h)
{
    int seen = 0;
    h->is_compressed = 1;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        int32_t v = 0;
        switch (id) {
        case 1:
            rc = get_i32(in, type, "DataPageHeaderV2.num_values", &h->num_values);
            seen |= 1;
            break;
        case 2:
            rc = get_i32(in, type, "DataPageHeaderV2.num_nulls", &h->num_nulls);
            seen |= 2;
            break;
        case 3:
            rc = get_i32(in, type, "DataPageHeaderV2.num_rows", &h->num_rows);
            seen |= 4;
            break;
        case 4:
            rc = get_i32(in, type, "DataPageHeaderV2.encoding", &v);
            h->encoding = v;
            seen |= 8;
            break;
        case 5:
            rc = get_i32(in, type, "DataPageHeaderV2.definition_levels_byte_length", &h->def_len);
            seen |= 16;
            break;
        case 6:
            rc = get_i32(in, type, "DataPageHeaderV2.repetition_levels_byte_length", &h->rep_len);
            seen |= 32;
            break;
        case 7:
            rc = sao_store__thrift_get_bool_field(type, &h->is_compressed);
            break;
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (seen != 63) return sao_error_set(SAO_ECORRUPT, "DataPageHeaderV2 lacks a required field");
    h->has_v2 = 1;
    return 0;
}

static int read_page_header(sao_thrift_in *in, page_header *h)
{
    memset(h, 0, sizeof(*h));
    int seen = 0;
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) break;
        int32_t v = 0;
        switch (id) {
        case 1:
            rc = get_i32(in, type, "PageHeader.type", &v);
            h->type = v;
            seen |= 1;
            break;
        case 2:
            rc = get_i32(in, type, "PageHeader.uncompressed_page_size", &h->uncompressed);
            seen |= 2;
            break;
        case 3:
            rc = get_i32(in, type, "PageHeader.compressed_page_size", &h->compressed);
            seen |= 4;
            break;
        case 5:
            rc = want(type, SAO_THRIFT_STRUCT, "PageHeader.data_page_header");
            if (!rc) rc = read_data_header(in, h);
            break;
        case 7:
            rc = want(type, SAO_THRIFT_STRUCT, "PageHeader.dictionary_page_header");
            if (!rc) rc = read_dict_header(in, h);
            break;
        case 8:
            rc = want(type, SAO_THRIFT_STRUCT, "PageHeader.data_page_header_v2");
            if (!rc) rc = read_v2_header(in, h);
            break;
        default:
            rc = sao_store__thrift_skip(in, type);
        }
        if (rc) return rc;
    }
    if (seen != 7) return sao_error_set(SAO_ECORRUPT, "PageHeader lacks a required field");
    if (h->uncompressed < 0 || h->compressed < 0)
        return sao_error_set(SAO_ECORRUPT, "PageHeader has a negative size");
    return 0;
}

/* ---- column decoding ------------------------------------------------------------------------ */

enum { KIND_F64, KIND_I64, KIND_I32, KIND_STR };

typedef struct read_ctx {
    sao_pq_file *file;
    const pq_col *col;
    sao_pq_column_data *out;
    int kind;
    int physical;
    size_t width; /* bytes of one PLAIN value; 0 for BYTE_ARRAY and BOOLEAN */
    int codec;
    /* dictionary of the current chunk */
    int has_dict;
    size_t dict_count;
    uint8_t *dict_num; /* numeric entries, as the output kind */
    size_t dict_num_cap;
    char **dict_str; /* string entries, in the arena (rows point at them) */
    uint32_t *dict_len;
    /* scratch */
    uint8_t *page;
    size_t page_cap;
    uint32_t *levels;
    size_t levels_cap;
    uint32_t *indices;
    size_t indices_cap;
    int64_t *ints;
    size_t ints_cap;
    int64_t *ints2;
    size_t ints2_cap;
    char *concat; /* DELTA_BYTE_ARRAY: the previous value */
    size_t concat_cap;
    size_t string_bytes;
    /* A page only partly wanted is decoded here, and the wanted rows copied out. */
    sao_pq_column_data part;
    uint8_t *part_values;
    size_t part_values_cap;
    uint8_t *part_valid;
    size_t part_valid_cap;
    uint32_t *part_len;
    size_t part_len_cap;
} read_ctx;

static size_t kind_size(int kind)
{
    switch (kind) {
    case KIND_F64:
        return sizeof(double);
    case KIND_I64:
        return sizeof(int64_t);
    case KIND_I32:
        return sizeof(int32_t);
    default:
        return sizeof(char *);
    }
}

static int corrupt_values(const read_ctx *c, const char *fmt_what)
{
    return sao_error_set(SAO_ECORRUPT, "column '%s': %s", c->col->name, fmt_what);
}

static int copy_string(read_ctx *c, const uint8_t *data, size_t len, char **out, uint32_t *out_len)
{
    if (len > UINT32_MAX || c->string_bytes > limits.max_string_bytes ||
        len + 1 > limits.max_string_bytes - c->string_bytes)
        return sao_error_set(SAO_ETOOBIG, "column '%s': strings exceed the limit of %zu bytes",
                             c->col->name, limits.max_string_bytes);
    c->string_bytes += len + 1;
    *out = sao_arena_strndup(c->file->arena, (const char *)data, len);
    *out_len = (uint32_t)len;
    return 0;
}

/* Stores one fixed-width PLAIN value `p` into slot `i` of `dst` (an array of the output kind). */
static void store_fixed(const read_ctx *c, void *dst, size_t i, const uint8_t *p)
{
    switch (c->physical) {
    case SAO_PQT_INT32:
        ((int32_t *)dst)[i] = (int32_t)sao_pq_load_u32(p);
        break;
    case SAO_PQT_INT64:
        ((int64_t *)dst)[i] = (int64_t)sao_pq_load_u64(p);
        break;
    case SAO_PQT_INT96: {
        /* Nanoseconds within the day, then the Julian day number; 2440588 is 1970-01-01. */
        uint64_t nanos = sao_pq_load_u64(p);
        int64_t julian = (int32_t)sao_pq_load_u32(p + 8);
        uint64_t ns = (uint64_t)(julian - 2440588) * UINT64_C(86400000000000) + nanos;
        ((int64_t *)dst)[i] = (int64_t)ns;
        break;
    }
    case SAO_PQT_FLOAT: {
        uint32_t bits = sao_pq_load_u32(p);
        float f;
        memcpy(&f, &bits, 4);
        ((double *)dst)[i] = f;
        break;
    }
    case SAO_PQT_DOUBLE: {
        uint64_t bits = sao_pq_load_u64(p);
        memcpy((double *)dst + i, &bits, 8);
        break;
    }
    default:
        SAO_ASSERT(0);
    }
}

static void *out_values(const read_ctx *c)
{
    switch (c->kind) {
    case KIND_F64:
        return c->out->f64;
    case KIND_I64:
        return c->out->i64;
    case KIND_I32:
        return c->out->i32;
    default:
        return c->out->str;
    }
}

static int decode_plain(read_ctx *c, const uint8_t *p, size_t len, size_t k, size_t base)
{
    if (c->physical == SAO_PQT_BOOLEAN) {
        if ((k + 7) / 8 > len) return corrupt_values(c, "PLAIN booleans are truncated");
        for (size_t i = 0; i < k; i++) c->out->i32[base + i] = p[i >> 3] >> (i & 7) & 1;
        return 0;
    }
    if (c->physical == SAO_PQT_BYTE_ARRAY) {
        size_t pos = 0;
        for (size_t i = 0; i < k; i++) {
            if (len - pos < 4) return corrupt_values(c, "PLAIN byte array length is truncated");
            uint32_t n = sao_pq_load_u32(p + pos);
            pos += 4;
            if (n > len - pos) return corrupt_values(c, "PLAIN byte array overruns its page");
            int rc = copy_string(c, p + pos, n, &c->out->str[base + i], &c->out->str_len[base + i]);
            if (rc) return rc;
            pos += n;
        }
        return 0;
    }
    if (k > len / c->width) return corrupt_values(c, "PLAIN values are truncated");
    if (c->physical == SAO_PQT_FIXED_LEN_BYTE_ARRAY) {
        for (size_t i = 0; i < k; i++) {
            int rc = copy_string(c, p + i * c->width, c->width, &c->out->str[base + i],
                                 &c->out->str_len[base + i]);
            if (rc) return rc;
        }
        return 0;
    }
    void *dst = out_values(c);
    for (size_t i = 0; i < k; i++) store_fixed(c, dst, base + i, p + i * c->width);
    return 0;
}

static void *grow_scratch(void *ptr, size_t *cap, size_t count, size_t item)
{
    return sao_grow(ptr, cap, count ? count : 1, item);
}

static int decode_dictionary_indices(read_ctx *c, const uint8_t *p, size_t len, size_t k,
                                     size_t base)
{
    if (k == 0) return 0; /* an all-null page needs neither indices nor a dictionary */
    if (!c->has_dict)
        return corrupt_values(c, "a dictionary-encoded page comes without a dictionary page");
    if (len < 1) return corrupt_values(c, "dictionary indices lack their bit width");
    int width = p[0];
    c->indices = grow_scratch(c->indices, &c->indices_cap, k, sizeof(uint32_t));
    int rc = sao_store__pq_hybrid_decode(p + 1, len - 1, width, c->indices, k, NULL);
    if (rc) return sao_error_wrap(rc, "column '%s': dictionary indices: ", c->col->name);
    size_t item = kind_size(c->kind);
    uint8_t *dst = out_values(c);
    for (size_t i = 0; i < k; i++) {
        uint32_t idx = c->indices[i];
        if (idx >= c->dict_count)
            return sao_error_set(SAO_ECORRUPT,
                                 "column '%s': dictionary index %u past the %zu entries",
                                 c->col->name, idx, c->dict_count);
        if (c->kind == KIND_STR) {
            c->out->str[base + i] = c->dict_str[idx];
            c->out->str_len[base + i] = c->dict_len[idx];
        } else {
            memcpy(dst + (base + i) * item, c->dict_num + (size_t)idx * item, item);
        }
    }
    return 0;
}

static int decode_rle_booleans(read_ctx *c, const uint8_t *p, size_t len, size_t k, size_t base)
{
    if (len < 4) return corrupt_values(c, "RLE booleans lack their length");
    uint32_t n = sao_pq_load_u32(p);
    if (n > len - 4) return corrupt_values(c, "RLE booleans overrun their page");
    c->indices = grow_scratch(c->indices, &c->indices_cap, k, sizeof(uint32_t));
    int rc = sao_store__pq_hybrid_decode(p + 4, n, 1, c->indices, k, NULL);
    if (rc) return sao_error_wrap(rc, "column '%s': RLE booleans: ", c->col->name);
    for (size_t i = 0; i < k; i++) c->out->i32[base + i] = (int32_t)c->indices[i];
    return 0;
}

static int decode_delta_ints(read_ctx *c, const uint8_t *p, size_t len, size_t k, size_t base)
{
    c->ints = grow_scratch(c->ints, &c->ints_cap, k, sizeof(int64_t));
    int rc = sao_store__pq_delta_decode(p, len, c->ints, k, NULL);
    if (rc) return sao_error_wrap(rc, "column '%s': ", c->col->name);
    for (size_t i = 0; i < k; i++) {
        /* INT32 deltas wrap at 32 bits in the writer; truncating gives back its values. */
        if (c->physical == SAO_PQT_INT32)
            c->out->i32[base + i] = (int32_t)(uint32_t)(uint64_t)c->ints[i];
        else
            c->out->i64[base + i] = c->ints[i];
    }
    return 0;
}

/* Lengths (DELTA_BINARY_PACKED) then the concatenated bytes; *used gets the bytes consumed. */
static int decode_delta_lengths(read_ctx *c, const uint8_t *p, size_t len, size_t k,
                                int64_t **lengths_out, size_t *data_start, size_t *used)
{
    size_t lens_used;
    c->ints = grow_scratch(c->ints, &c->ints_cap, k, sizeof(int64_t));
    int rc = sao_store__pq_delta_decode(p, len, c->ints, k, &lens_used);
    if (rc) return sao_error_wrap(rc, "column '%s': byte array lengths: ", c->col->name);
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        if (c->ints[i] < 0 || (uint64_t)c->ints[i] > len - lens_used - total)
            return corrupt_values(c, "a DELTA_LENGTH_BYTE_ARRAY length overruns its page");
        total += (size_t)c->ints[i];
    }
    *lengths_out = c->ints;
    *data_start = lens_used;
    *used = lens_used + total;
    return 0;
}

static int decode_delta_length_byte_array(read_ctx *c, const uint8_t *p, size_t len, size_t k,
                                          size_t base)
{
    int64_t *lengths;
    size_t pos, used;
    int rc = decode_delta_lengths(c, p, len, k, &lengths, &pos, &used);
    for (size_t i = 0; i < k && !rc; i++) {
        rc = copy_string(c, p + pos, (size_t)lengths[i], &c->out->str[base + i],
                         &c->out->str_len[base + i]);
        pos += (size_t)lengths[i];
    }
    return rc;
}

static int decode_delta_byte_array(read_ctx *c, const uint8_t *p, size_t len, size_t k, size_t base)
{
    size_t prefix_used;
    c->ints2 = grow_scratch(c->ints2, &c->ints2_cap, k, sizeof(int64_t));
    int rc = sao_store__pq_delta_decode(p, len, c->ints2, k, &prefix_used);
    if (rc) return sao_error_wrap(rc, "column '%s': prefix lengths: ", c->col->name);
    int64_t *suffix_lens;
    size_t pos, used;
    rc = decode_delta_lengths(c, p + prefix_used, len - prefix_used, k, &suffix_lens, &pos, &used);
    if (rc) return rc;
    const uint8_t *suffixes = p + prefix_used;
    size_t prev_len = 0;
    for (size_t i = 0; i < k; i++) {
        int64_t prefix = c->ints2[i];
        if (prefix < 0 || (uint64_t)prefix > prev_len)
            return corrupt_values(c, "a DELTA_BYTE_ARRAY prefix is longer than the last value");
        size_t suffix = (size_t)suffix_lens[i];
        size_t total = (size_t)prefix + suffix;
        /* Prefix sharing can blow a few bytes up into long values: the string cap applies. */
        if (total > limits.max_string_bytes)
            return sao_error_set(SAO_ETOOBIG, "column '%s': a value exceeds %zu bytes",
                                 c->col->name, limits.max_string_bytes);
        c->concat = grow_scratch(c->concat, &c->concat_cap, total, 1);
        memcpy(c->concat + prefix, suffixes + pos, suffix);
        pos += suffix;
        if (c->physical == SAO_PQT_FIXED_LEN_BYTE_ARRAY && total != c->width)
            return corrupt_values(c, "a DELTA_BYTE_ARRAY value has the wrong fixed length");
        rc = copy_string(c, (const uint8_t *)c->concat, total, &c->out->str[base + i],
                         &c->out->str_len[base + i]);
        if (rc) return rc;
        prev_len = total;
    }
    return 0;
}

static int decode_byte_stream_split(read_ctx *c, const uint8_t *p, size_t len, size_t k,
                                    size_t base)
{
    size_t w = c->width;
    if (k > len / w) return corrupt_values(c, "BYTE_STREAM_SPLIT values are truncated");
    uint8_t value[1 << 10];
    uint8_t *tmp = w <= sizeof(value) ? value : sao_malloc(w);
    void *dst = out_values(c);
    int rc = 0;
    for (size_t i = 0; i < k && !rc; i++) {
        for (size_t b = 0; b < w; b++) tmp[b] = p[b * k + i];
        if (c->physical == SAO_PQT_FIXED_LEN_BYTE_ARRAY)
            rc = copy_string(c, tmp, w, &c->out->str[base + i], &c->out->str_len[base + i]);
        else
            store_fixed(c, dst, base + i, tmp);
    }
    if (tmp != value) sao_free(tmp);
    return rc;
}

static int decode_values(read_ctx *c, int encoding, const uint8_t *p, size_t len, size_t k,
                         size_t base)
{
    int phys = c->physical;
    switch (encoding) {
    case SAO_PQ_ENC_PLAIN:
        return decode_plain(c, p, len, k, base);
    case SAO_PQ_ENC_PLAIN_DICTIONARY:
    case SAO_PQ_ENC_RLE_DICTIONARY:
        return decode_dictionary_indices(c, p, len, k, base);
    case SAO_PQ_ENC_RLE:
        if (phys == SAO_PQT_BOOLEAN) return decode_rle_booleans(c, p, len, k, base);
        break;
    case SAO_PQ_ENC_DELTA_BINARY_PACKED:
        if (phys == SAO_PQT_INT32 || phys == SAO_PQT_INT64)
            return decode_delta_ints(c, p, len, k, base);
        break;
    case SAO_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (phys == SAO_PQT_BYTE_ARRAY) return decode_delta_length_byte_array(c, p, len, k, base);
        break;
    case SAO_PQ_ENC_DELTA_BYTE_ARRAY:
        if (phys == SAO_PQT_BYTE_ARRAY || phys == SAO_PQT_FIXED_LEN_BYTE_ARRAY)
            return decode_delta_byte_array(c, p, len, k, base);
        break;
    case SAO_PQ_ENC_BYTE_STREAM_SPLIT:
        if (phys == SAO_PQT_FLOAT || phys == SAO_PQT_DOUBLE || phys == SAO_PQT_INT32 ||
            phys == SAO_PQT_INT64 || phys == SAO_PQT_FIXED_LEN_BYTE_ARRAY)
            return decode_byte_stream_split(c, p, len, k, base);
        break;
    default:
        return sao_error_set(SAO_EUNSUPPORTED, "column '%s': encoding %s (%d) is not supported",
                             c->col->name, sao_store__pq_encoding_name(encoding), encoding);
    }
    return sao_error_set(SAO_EUNSUPPORTED, "column '%s': encoding %s does not apply to its type",
                         c->col->name, sao_store__pq_encoding_name(encoding));
}

/* Moves the k decoded values at [base, base + k) to the rows whose level says present, walking
 * backwards so nothing is overwritten before it moves, and zeroes the null rows. */
static void spread(read_ctx *c, const uint32_t *levels, size_t n, size_t k, size_t base)
{
    sao_pq_column_data *out = c->out;
    if (k == n) {
        /* No nulls: the values are already where they belong. */
        memset(out->valid + base, 1, n);
        return;
    }
    size_t item = kind_size(c->kind);
    uint8_t *values = out_values(c);
    size_t j = k;
    for (size_t i = n; i-- > 0;) {
        size_t row = base + i;
        if (levels[i]) {
            j--;
            if (j != i) {
                memmove(values + row * item, values + (base + j) * item, item);
                if (c->kind == KIND_STR) out->str_len[row] = out->str_len[base + j];
            }
            out->valid[row] = 1;
        } else {
            memset(values + row * item, 0, item);
            if (c->kind == KIND_STR) {
                out->str[row] = NULL;
                out->str_len[row] = 0;
            }
            out->valid[row] = 0;
        }
    }
}

/* Decompressed bytes of a page body: the file's own bytes when uncompressed. */
static int page_bytes(read_ctx *c, const uint8_t *body, size_t body_len, size_t size,
                      const uint8_t **out)
{
    if (size > limits.max_page_bytes)
        return sao_error_set(SAO_ETOOBIG, "column '%s': a page of %zu bytes exceeds the limit",
                             c->col->name, size);
    /* An empty page is empty under every codec (some writers store no stream at all). */
    if (c->codec == SAO_PQ_UNCOMPRESSED || (size == 0 && body_len == 0)) {
        if (body_len != size)
            return sao_error_set(SAO_ECORRUPT,
                                 "column '%s': uncompressed page is %zu bytes, header says %zu",
                                 c->col->name, body_len, size);
        *out = body;
        return 0;
    }
    /* Check the claimed size against the compressed stream before allocating for it. */
    int rc = sao_store__pq_check_inflated_size(c->codec, body, body_len, size);
    if (rc) return sao_error_wrap(rc, "column '%s': ", c->col->name);
    c->page = grow_scratch(c->page, &c->page_cap, size, 1);
    rc = sao_store__pq_decompress(c->codec, body, body_len, c->page, size);
    if (rc) return sao_error_wrap(rc, "column '%s': ", c->col->name);
    *out = c->page;
    return 0;
}

static int read_dictionary_page(read_ctx *c, const page_header *h, const uint8_t *body)
{
    if (h->dict_encoding != SAO_PQ_ENC_PLAIN && h->dict_encoding != SAO_PQ_ENC_PLAIN_DICTIONARY)
        return sao_error_set(SAO_EUNSUPPORTED, "column '%s': dictionary page encoding %s",
                             c->col->name, sao_store__pq_encoding_name(h->dict_encoding));
    if (c->physical == SAO_PQT_BOOLEAN)
        return corrupt_values(c, "a boolean column has a dictionary page");
    if (h->dict_values < 0) return corrupt_values(c, "dictionary has a negative size");
    const uint8_t *p;
    int rc = page_bytes(c, body, (size_t)h->compressed, (size_t)h->uncompressed, &p);
    if (rc) return rc;
    size_t len = (size_t)h->uncompressed, n = (size_t)h->dict_values;
    size_t min_entry = c->physical == SAO_PQT_BYTE_ARRAY ? 4 : c->width;
    if (n > len / min_entry) return corrupt_values(c, "dictionary page is truncated");
    c->dict_count = n;
    c->has_dict = 1;
    if (c->kind == KIND_STR) {
        c->dict_str = sao_arena_alloc(c->file->arena, (n ? n : 1) * sizeof(char *));
        c->dict_len = sao_arena_alloc(c->file->arena, (n ? n : 1) * sizeof(uint32_t));
        /* Decode into the dictionary arrays by pointing the output at them for a moment. */
        char **save_str = c->out->str;
        uint32_t *save_len = c->out->str_len;
        c->out->str = c->dict_str;
        c->out->str_len = c->dict_len;
        rc = decode_plain(c, p, len, n, 0);
        c->out->str = save_str;
        c->out->str_len = save_len;
        return rc;
    }
    size_t item = kind_size(c->kind);
    c->dict_num = grow_scratch(c->dict_num, &c->dict_num_cap, n * item, 1);
    for (size_t i = 0; i < n; i++) store_fixed(c, c->dict_num, i, p + i * c->width);
    return 0;
}

static int count_present(read_ctx *c, const uint32_t *levels, size_t n, size_t *k)
{
    size_t present = 0;
    for (size_t i = 0; i < n; i++) {
        if (levels[i] > 1) return corrupt_values(c, "a definition level exceeds 1");
        present += levels[i];
    }
    *k = present;
    return 0;
}

static int read_data_page_v1(read_ctx *c, const page_header *h, const uint8_t *body, size_t base,
                             size_t n)
{
    const uint8_t *p;
    int rc = page_bytes(c, body, (size_t)h->compressed, (size_t)h->uncompressed, &p);
    if (rc) return rc;
    size_t len = (size_t)h->uncompressed;
    size_t k = n;
    uint32_t *levels;
    if (c->col->max_def) {
        c->levels = grow_scratch(c->levels, &c->levels_cap, n, sizeof(uint32_t));
        levels = c->levels;
        size_t used;
        if (h->def_encoding == SAO_PQ_ENC_RLE) {
            if (len < 4) return corrupt_values(c, "definition levels lack their length");
            uint32_t def_len = sao_pq_load_u32(p);
            if (def_len > len - 4) return corrupt_values(c, "definition levels overrun the page");
            rc = sao_store__pq_hybrid_decode(p + 4, def_len, 1, levels, n, NULL);
            used = 4 + (size_t)def_len;
        } else if (h->def_encoding == SAO_PQ_ENC_BIT_PACKED) {
            rc = sao_store__pq_bitpacked_msb_decode(p, len, 1, levels, n, &used);
        } else {
            return sao_error_set(SAO_EUNSUPPORTED, "column '%s': definition level encoding %s",
                                 c->col->name, sao_store__pq_encoding_name(h->def_encoding));
        }
        if (rc) return sao_error_wrap(rc, "column '%s': definition levels: ", c->col->name);
        rc = count_present(c, levels, n, &k);
        if (rc) return rc;
        p += used;
        len -= used;
    } else {
        levels = NULL; /* every row present: spread() needs no levels */
    }
    rc = decode_values(c, h->encoding, p, len, k, base);
    if (!rc) spread(c, levels, n, k, base);
    return rc;
}

static int read_data_page_v2(read_ctx *c, const page_header *h, const uint8_t *body, size_t base,
                             size_t n)
{
    if (h->def_len < 0 || h->rep_len < 0 || h->num_nulls < 0 ||
        (size_t)h->def_len + (size_t)h->rep_len > (size_t)h->compressed ||
        (size_t)h->def_len + (size_t)h->rep_len > (size_t)h->uncompressed)
        return corrupt_values(c, "v2 page level lengths do not fit the page");
    if (h->num_rows != h->num_values)
        return corrupt_values(c, "v2 page rows differ from its values in a flat column");
    size_t levels_len = (size_t)h->def_len + (size_t)h->rep_len;
    /* Levels are never compressed in v2 pages; repetition levels come first. */
    const uint8_t *def = body + h->rep_len;
    const uint8_t *values_body = body + levels_len;
    size_t values_compressed = (size_t)h->compressed - levels_len;
    size_t values_size = (size_t)h->uncompressed - levels_len;
    size_t k = n;
    uint32_t *levels;
    int rc = 0;
    if (c->col->max_def) {
        c->levels = grow_scratch(c->levels, &c->levels_cap, n, sizeof(uint32_t));
        levels = c->levels;
        rc = sao_store__pq_hybrid_decode(def, (size_t)h->def_len, 1, levels, n, NULL);
        if (rc) return sao_error_wrap(rc, "column '%s': definition levels: ", c->col->name);
        rc = count_present(c, levels, n, &k);
        if (rc) return rc;
        if (k + (size_t)h->num_nulls != n)
            return corrupt_values(c, "v2 page null count disagrees with its levels");
    } else {
        if (h->num_nulls != 0) return corrupt_values(c, "a required column has nulls");
        levels = NULL; /* every row present: spread() needs no levels */
    }
    const uint8_t *p;
    if (h->is_compressed) {
        rc = page_bytes(c, values_body, values_compressed, values_size, &p);
        if (rc) return rc;
    } else {
        if (values_compressed != values_size)
            return corrupt_values(c, "uncompressed v2 page sizes disagree");
        p = values_body;
    }
    rc = decode_values(c, h->encoding, p, values_size, k, base);
    if (!rc) spread(c, levels, n, k, base);
    return rc;
}

/* The `len` bytes at `offset` of the file: borrowed from the copy of a file in memory, else read
 * into the file's chunk buffer (valid until the next chunk is read). */
static int chunk_bytes(sao_pq_file *f, size_t offset, size_t len, const uint8_t **out)
{
    if (f->mem) {
        *out = (const uint8_t *)f->mem + offset;
        return 0;
    }
    f->chunk = sao_grow(f->chunk, &f->chunk_cap, len ? len : 1, 1);
    int rc = read_at(f->fd, f->chunk, len, offset);
    if (!rc) *out = f->chunk;
    return rc;
}

static int read_data_page(read_ctx *c, const page_header *h, const uint8_t *body, size_t base,
                          size_t n)
{
    return h->type == SAO_PQ_PAGE_DATA_V2 ? read_data_page_v2(c, h, body, base, n)
                                          : read_data_page_v1(c, h, body, base, n);
}

/* A data page of n rows, starting at row `first` of its chunk, of which only rows [lo, hi) are
 * wanted: decoded whole into scratch arrays, then the wanted rows are copied to out[base...]. */
static int read_page_part(read_ctx *c, const page_header *h, const uint8_t *body, size_t first,
                          size_t n, size_t lo, size_t hi, size_t base)
{
    size_t item = kind_size(c->kind);
    sao_pq_column_data *out = c->out, *part = &c->part;
    c->part_values = grow_scratch(c->part_values, &c->part_values_cap, n, item);
    c->part_valid = grow_scratch(c->part_valid, &c->part_valid_cap, n, 1);
    memset(part, 0, sizeof(*part));
    part->valid = c->part_valid;
    switch (c->kind) {
    case KIND_F64:
        part->f64 = (double *)(void *)c->part_values;
        break;
    case KIND_I64:
        part->i64 = (int64_t *)(void *)c->part_values;
        break;
    case KIND_I32:
        part->i32 = (int32_t *)(void *)c->part_values;
        break;
    default:
        c->part_len = grow_scratch(c->part_len, &c->part_len_cap, n, sizeof(uint32_t));
        part->str = (char **)(void *)c->part_values;
        part->str_len = c->part_len;
    }
    c->out = part;
    int rc = read_data_page(c, h, body, 0, n);
    c->out = out;
    if (rc) return rc;
    size_t from = first > lo ? first : lo, to = first + n < hi ? first + n : hi;
    size_t at = base + from - lo, skip = from - first, count = to - from;
    memcpy((uint8_t *)out_values(c) + at * item, c->part_values + skip * item, count * item);
    memcpy(out->valid + at, part->valid + skip, count);
    if (c->kind == KIND_STR)
        memcpy(out->str_len + at, part->str_len + skip, count * sizeof(uint32_t));
    return 0;
}

/* Decodes the pages of a chunk of `rows` rows that hold rows [lo, hi) of it, row r landing at
 * out[base + r - lo]; data pages before lo are passed over by their headers (their bodies are
 * never decompressed) and the walk stops at hi. The whole chunk is [0, rows). */
static int read_chunk(read_ctx *c, const pq_chunk *ch, size_t base, size_t rows, size_t lo,
                      size_t hi)
{
    c->has_dict = 0;
    c->dict_count = 0;
    c->codec = ch->codec;
    if (!sao_store__pq_codec_supported(ch->codec))
        return sao_error_set(SAO_EUNSUPPORTED, "column '%s': compression codec %s (%d)",
                             c->col->name, sao_store__pq_codec_name(ch->codec), ch->codec);
    int64_t start = ch->data_page_offset;
    if (ch->dictionary_page_offset > 0 && ch->dictionary_page_offset < start)
        start = ch->dictionary_page_offset;
    const size_t data_start = 4, data_end = c->file->footer_start;
    if (start < (int64_t)data_start || (uint64_t)start > data_end || ch->total_compressed < 0 ||
        (uint64_t)ch->total_compressed > data_end - (uint64_t)start)
        return sao_error_set(SAO_ECORRUPT,
                             "column '%s': chunk at offset %lld of %lld bytes lies outside the "
                             "data section",
                             c->col->name, (long long)start, (long long)ch->total_compressed);
    const uint8_t *bytes;
    size_t first = (size_t)start, len = (size_t)ch->total_compressed;
    int rc = chunk_bytes(c->file, first, len, &bytes);
    if (rc) return sao_error_wrap(rc, "column '%s': ", c->col->name);
    /* pos counts from the chunk's first byte; messages give offsets in the file. */
    size_t pos = 0, end = len;
    size_t done = 0;
    int seen_data = 0;
    while (done < hi) {
        if (pos >= end)
            return sao_error_set(SAO_ECORRUPT, "column '%s': chunk ends after %zu of %zu values",
                                 c->col->name, done, rows);
        page_header h;
        sao_thrift_in in;
        sao_store__thrift_in_init(&in, bytes + pos, end - pos);
        rc = read_page_header(&in, &h);
        if (rc)
            return sao_error_wrap(rc, "column '%s': page header at offset %zu: ", c->col->name,
                                  first + pos);
        pos = (size_t)(in.pos - bytes);
        if ((size_t)h.compressed > end - pos)
            return sao_error_set(SAO_ECORRUPT, "column '%s': page at offset %zu overruns its chunk",
                                 c->col->name, first + pos);
        const uint8_t *body = bytes + pos;
        pos += (size_t)h.compressed;
        if (h.type == SAO_PQ_PAGE_DICTIONARY) {
            if (!h.has_dict) return corrupt_values(c, "dictionary page without its header");
            if (c->has_dict || seen_data)
                return corrupt_values(c, "a dictionary page is not the first page of its chunk");
            rc = read_dictionary_page(c, &h, body);
        } else if (h.type == SAO_PQ_PAGE_DATA || h.type == SAO_PQ_PAGE_DATA_V2) {
            int v2 = h.type == SAO_PQ_PAGE_DATA_V2;
            if (v2 ? !h.has_v2 : !h.has_data)
                return corrupt_values(c, "data page without its header");
            if (h.num_values < 0 || (size_t)h.num_values > rows - done)
                return sao_error_set(SAO_ECORRUPT,
                                     "column '%s': a page of %d values overflows its row group",
                                     c->col->name, (int)h.num_values);
            size_t n = (size_t)h.num_values;
            if (done >= lo && done + n <= hi)
                rc = read_data_page(c, &h, body, base + done - lo, n);
            else if (done + n > lo)
                rc = read_page_part(c, &h, body, done, n, lo, hi, base);
            done += n;
            seen_data = 1;
        }
        /* Index pages and page types from the future are skipped. */
        if (rc) return rc;
    }
    return 0;
}

static void ctx_dispose(read_ctx *c)
{
    sao_free(c->dict_num);
    sao_free(c->page);
    sao_free(c->levels);
    sao_free(c->indices);
    sao_free(c->ints);
    sao_free(c->ints2);
    sao_free(c->concat);
    sao_free(c->part_values);
    sao_free(c->part_valid);
    sao_free(c->part_len);
}

/* One row group's rows, or a run of them, of a column already decoded: the same arrays,
 * offset. */
static sao_pq_column_data *slice_of(sao_pq_file *file, const sao_pq_column_data *whole,
                                    size_t first_row, size_t rows)
{
    sao_pq_column_data *data = sao_arena_alloc(file->arena, sizeof(*data));
    *data = *whole;
    data->count = rows;
    if (whole->f64) data->f64 = whole->f64 + first_row;
    if (whole->i64) data->i64 = whole->i64 + first_row;
    if (whole->i32) data->i32 = whole->i32 + first_row;
    if (whole->str) data->str = whole->str + first_row;
    if (whole->str_len) data->str_len = whole->str_len + first_row;
    data->valid = whole->valid + first_row;
    data->null_count = 0;
    for (size_t r = 0; r < rows; r++) data->null_count += !data->valid[r];
    return data;
}

/* Decodes rows [lo, hi) of row groups [first_group, end_group) of a column (rows counted from
 * the first group's first row) into a new result in the file's arena. Only the pages holding
 * those rows are decompressed. */
static int read_groups(sao_pq_column_data **out, sao_pq_file *file, size_t column,
                       size_t first_group, size_t end_group, size_t lo, size_t hi)
{
    pq_col *col = &file->cols[column];
    size_t rows = 0;
    for (size_t g = first_group; g < end_group; g++) rows += (size_t)file->groups[g].num_rows;
    SAO_ASSERT(lo <= hi && hi <= rows);
    int whole = lo == 0 && hi == rows; /* every chunk is read, empty ones included */
    size_t slots = hi - lo ? hi - lo : 1;
    sao_pq_column_data *data = sao_arena_alloc(file->arena, sizeof(*data));
    memset(data, 0, sizeof(*data));
    data->name = col->name;
    data->type = col->type;
    data->count = hi - lo;

    read_ctx c;
    memset(&c, 0, sizeof(c));
    c.file = file;
    c.col = col;
    c.out = data;
    c.physical = col->el.type;
    switch (c.physical) {
    case SAO_PQT_BOOLEAN:
        c.kind = KIND_I32;
        c.width = 0;
        break;
    case SAO_PQT_INT32:
        c.kind = KIND_I32;
        c.width = 4;
        break;
    case SAO_PQT_INT64:
        c.kind = KIND_I64;
        c.width = 8;
        break;
    case SAO_PQT_INT96:
        c.kind = KIND_I64;
        c.width = 12;
        break;
    case SAO_PQT_FLOAT:
        c.kind = KIND_F64;
        c.width = 4;
        break;
    case SAO_PQT_DOUBLE:
        c.kind = KIND_F64;
        c.width = 8;
        break;
    case SAO_PQT_BYTE_ARRAY:
        c.kind = KIND_STR;
        c.width = 0;
        break;
    default:
        c.kind = KIND_STR;
        c.width = (size_t)col->el.type_length;
        break;
    }
    switch (c.kind) {
    case KIND_F64:
        data->f64 = sao_arena_alloc(file->arena, slots * sizeof(double));
        break;
    case KIND_I64:
        data->i64 = sao_arena_alloc(file->arena, slots * sizeof(int64_t));
        break;
    case KIND_I32:
        data->i32 = sao_arena_alloc(file->arena, slots * sizeof(int32_t));
        break;
    default:
        data->str = sao_arena_alloc(file->arena, slots * sizeof(char *));
        data->str_len = sao_arena_alloc(file->arena, slots * sizeof(uint32_t));
    }
    data->valid = sao_arena_alloc(file->arena, slots);

    int rc = 0;
    size_t base = 0; /* the group's first row */
    for (size_t g = first_group; g < end_group && !rc; g++) {
        const pq_row_group *rg = &file->groups[g];
        size_t n = (size_t)rg->num_rows;
        /* The wanted rows of this group, in its own row numbers. */
        size_t glo = lo > base ? lo - base : 0;
        size_t ghi = hi > base ? hi - base : 0;
        if (glo > n) glo = n;
        if (ghi > n) ghi = n;
        if (whole || glo < ghi) {
            rc = read_chunk(&c, &rg->chunks[column], base + glo - lo, n, glo, ghi);
            if (rc) sao_error_wrap(rc, "row group %zu: ", g);
        }
        base += n;
    }
    ctx_dispose(&c);
    if (rc) return rc;
    for (size_t r = 0; r < data->count; r++) data->null_count += !data->valid[r];
    *out = data;
    return 0;
}

int sao_parquet_read_column(const sao_pq_column_data **out, sao_pq_file *file, size_t column)
{
    if (column >= file->ncols)
        return sao_error_set(SAO_ERANGE, "column %zu of %zu does not exist", column, file->ncols);
    pq_col *col = &file->cols[column];
    if (!col->data) {
        size_t rows = (size_t)file->num_rows;
        int rc = read_groups(&col->data, file, column, 0, file->ngroups, 0, rows);
        if (rc) return rc;
    }
    *out = col->data;
    return 0;
}

int sao_parquet_read_column_chunk(const sao_pq_column_data **out, sao_pq_file *file, size_t column,
                                  size_t row_group)
{
    if (column >= file->ncols)
        return sao_error_set(SAO_ERANGE, "column %zu of %zu does not exist", column, file->ncols);
    if (row_group >= file->ngroups)
        return sao_error_set(SAO_ERANGE, "row group %zu of %zu does not exist", row_group,
                             file->ngroups);
    if (!file->chunk_data) {
        /* ngroups * ncols is bounded: the footer held that many column chunks. */
        size_t n = file->ngroups * file->ncols;
        file->chunk_data = sao_arena_alloc(file->arena, n * sizeof(*file->chunk_data));
        memset(file->chunk_data, 0, n * sizeof(*file->chunk_data));
    }
    sao_pq_column_data **slot = &file->chunk_data[row_group * file->ncols + column];
    if (!*slot) {
        const pq_col *col = &file->cols[column];
        if (col->data) {
            *slot = slice_of(file, col->data, (size_t)file->group_first_row[row_group],
                             (size_t)file->groups[row_group].num_rows);
        } else {
            size_t rows = (size_t)file->groups[row_group].num_rows;
            int rc = read_groups(slot, file, column, row_group, row_group + 1, 0, rows);
            if (rc) return rc;
        }
    }
    *out = *slot;
    return 0;
}

/* The row group holding row `row` of the file (row below the file's rows). */
static size_t group_of_row(const sao_pq_file *file, size_t row)
{
    size_t lo = 0, hi = file->ngroups;
    /* The last group starting at or before the row; empty groups before it are passed. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((size_t)file->group_first_row[mid] <= row)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int sao_parquet_read_rows(const sao_pq_column_data **out, sao_pq_file *file, size_t column,
                          size_t first, size_t count)
{
    if (column >= file->ncols)
        return sao_error_set(SAO_ERANGE, "column %zu of %zu does not exist", column, file->ncols);
    size_t rows = (size_t)file->num_rows;
    if (first > rows || count > rows - first)
        return sao_error_set(SAO_ERANGE, "rows %zu to %zu of a column of %zu rows", first,
                             first + count, rows);
    const pq_col *col = &file->cols[column];
    if (col->data) {
        *out = slice_of(file, col->data, first, count);
        return 0;
    }
    sao_pq_column_data *data;
    if (count == 0) {
        /* No row group at all: an empty result with arrays of the column's kind. */
        int rc = read_groups(&data, file, column, 0, 0, 0, 0);
        if (!rc) *out = data;
        return rc;
    }
    size_t g0 = group_of_row(file, first), g1 = group_of_row(file, first + count - 1);
    size_t base = (size_t)file->group_first_row[g0];
    sao_pq_column_data *cached =
        file->chunk_data && g0 == g1 ? file->chunk_data[g0 * file->ncols + column] : NULL;
    if (cached) {
        *out = slice_of(file, cached, first - base, count);
        return 0;
    }
    int rc = read_groups(&data, file, column, g0, g1 + 1, first - base, first - base + count);
    if (!rc) *out = data;
    return rc;
}

size_t sao_parquet_row_group_rows(const sao_pq_file *file, size_t row_group)
{
    SAO_ASSERT(row_group < file->ngroups);
    return (size_t)file->groups[row_group].num_rows;
}

int sao_parquet_chunk_range_i64(int64_t *min, int64_t *max, const sao_pq_file *file, size_t column,
                                size_t row_group)
{
    if (column >= file->ncols || row_group >= file->ngroups)
        return sao_error_set(SAO_ERANGE, "no chunk for row group %zu column %zu", row_group,
                             column);
    const pq_col *col = &file->cols[column];
    /* INT96 timestamps are left out: the format gives their statistics no defined order. */
    if (col->el.type != SAO_PQT_INT64)
        return sao_error_set(SAO_EINVAL, "column '%s' is not a 64-bit integer column", col->name);
    const sao_pq_chunk_stats *st = &file->groups[row_group].chunks[column].stats;
    const uint8_t *lo = NULL, *hi = NULL;
    size_t lo_len = 0, hi_len = 0;
    /* min_value / max_value where present; the legacy fields are in signed order, which is the
     * right order for INT64, so they serve files of older writers. */
    if (st->has_min_value && st->has_max_value) {
        lo = st->min_value, lo_len = st->min_value_len;
        hi = st->max_value, hi_len = st->max_value_len;
    } else if (st->has_min && st->has_max) {
        lo = st->min, lo_len = st->min_len;
        hi = st->max, hi_len = st->max_len;
    } else {
        return sao_error_set(SAO_ENODATA, "column '%s' has no statistics in row group %zu",
                             col->name, row_group);
    }
    if (lo_len != 8 || hi_len != 8)
        return sao_error_set(SAO_ECORRUPT,
                             "column '%s': statistics of %zu and %zu bytes in row group %zu",
                             col->name, lo_len, hi_len, row_group);
    int64_t a = (int64_t)sao_pq_load_u64(lo), b = (int64_t)sao_pq_load_u64(hi);
    if (a > b)
        return sao_error_set(SAO_ECORRUPT, "column '%s': min %lld above max %lld in row group %zu",
                             col->name, (long long)a, (long long)b, row_group);
    *min = a;
    *max = b;
    return 0;
}

/* ---- test accessors ------------------------------------------------------------------------- */

static int chunk_at(const sao_pq_file *file, size_t row_group, size_t column, const pq_chunk **ch)
{
    if (row_group >= file->ngroups || column >= file->ncols)
        return sao_error_set(SAO_ERANGE, "no chunk for row group %zu column %zu", row_group,
                             column);
    *ch = &file->groups[row_group].chunks[column];
    return 0;
}

int sao_store__pq_chunk_stats(sao_pq_chunk_stats *out, const sao_pq_file *file, size_t row_group,
                              size_t column)
{
    const pq_chunk *ch = NULL;
    int rc = chunk_at(file, row_group, column, &ch);
    if (!rc) *out = ch->stats;
    return rc;
}

int sao_store__pq_chunk_info(sao_pq_chunk_info *out, const sao_pq_file *file, size_t row_group,
                             size_t column)
{
    const pq_chunk *ch = NULL;
    int rc = chunk_at(file, row_group, column, &ch);
    if (rc) return rc;
    const pq_col *col = &file->cols[column];
    memset(out, 0, sizeof(*out));
    out->physical_type = ch->type;
    out->codec = ch->codec;
    out->repetition = col->el.has_repetition ? col->el.repetition : SAO_PQ_REQUIRED;
    out->has_dictionary_page = ch->dictionary_page_offset > 0;
    out->num_values = ch->num_values;
    out->row_group_rows = file->groups[row_group].num_rows;
    out->converted_type = col->el.converted_type;
    out->logical_type = col->el.logical;
    out->timestamp_utc = col->el.ts_utc;
    out->timestamp_unit = col->el.ts_unit;
    out->encodings_count = ch->encodings_count;
    memcpy(out->encodings, ch->encodings, sizeof(out->encodings));
    return 0;
}

size_t sao_store__pq_metadata_count(const sao_pq_file *file)
{
    return file->nkv;
}

void sao_store__pq_metadata_at(const sao_pq_file *file, size_t i, const char **key,
                               const char **value)
{
    SAO_ASSERT(i < file->nkv);
    *key = file->kv_keys[i];
    *value = file->kv_values[i];
}

const char *sao_store__pq_created_by(const sao_pq_file *file)
{
    return file->created_by;
}

int sao_store__pq_version(const sao_pq_file *file)
{
    return file->version;
}
