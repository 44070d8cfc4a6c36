/*
 * Internals of the Parquet codec shared by its files and its tests: the Thrift compact protocol,
 * the format's enum values, level and value encodings, page compression, and test hooks.
 * Nothing outside src/store/ and the store tests includes this header.
 */
#ifndef SAO_PARQUET_INT_H
#define SAO_PARQUET_INT_H

#include "store/store.h"

/* ---- Thrift compact protocol ---------------------------------------------------------------- */

/* Field and element type codes of the compact protocol. */
enum {
    SAO_THRIFT_STOP = 0,
    SAO_THRIFT_TRUE = 1, /* a bool field holds its value in the type code */
    SAO_THRIFT_FALSE = 2,
    SAO_THRIFT_I8 = 3,
    SAO_THRIFT_I16 = 4,
    SAO_THRIFT_I32 = 5,
    SAO_THRIFT_I64 = 6,
    SAO_THRIFT_DOUBLE = 7,
    SAO_THRIFT_BINARY = 8,
    SAO_THRIFT_LIST = 9,
    SAO_THRIFT_SET = 10,
    SAO_THRIFT_MAP = 11,
    SAO_THRIFT_STRUCT = 12,
    SAO_THRIFT_UUID = 13
};

/* Deepest struct/container nesting we write or accept; Parquet metadata needs about 6. */
#define SAO_THRIFT_MAX_DEPTH 32

/* Encoder appending to a growable buffer (no cap: we only encode our own metadata). */
typedef struct sao_thrift_out {
    sao_buf *buf;
    int depth;
    int16_t last_id[SAO_THRIFT_MAX_DEPTH];
} sao_thrift_out;

void sao_store__thrift_out_init(sao_thrift_out *out, sao_buf *buf);
/* Opens a struct (the top-level one, a list element, or after a field header). */
void sao_store__thrift_struct_begin(sao_thrift_out *out);
void sao_store__thrift_struct_end(sao_thrift_out *out);
void sao_store__thrift_field(sao_thrift_out *out, int16_t id, uint8_t type);
void sao_store__thrift_put_varint(sao_thrift_out *out, uint64_t value);
void sao_store__thrift_put_i32(sao_thrift_out *out, int32_t value);
void sao_store__thrift_put_i64(sao_thrift_out *out, int64_t value);
void sao_store__thrift_put_binary(sao_thrift_out *out, const void *data, size_t len);
void sao_store__thrift_list_begin(sao_thrift_out *out, uint8_t elem_type, size_t count);
/* Field helpers: header and value in one call. */
void sao_store__thrift_field_i32(sao_thrift_out *out, int16_t id, int32_t value);
void sao_store__thrift_field_i64(sao_thrift_out *out, int16_t id, int64_t value);
void sao_store__thrift_field_i16(sao_thrift_out *out, int16_t id, int16_t value);
void sao_store__thrift_field_i8(sao_thrift_out *out, int16_t id, int8_t value);
void sao_store__thrift_field_bool(sao_thrift_out *out, int16_t id, int value);
void sao_store__thrift_field_binary(sao_thrift_out *out, int16_t id, const void *data, size_t len);
void sao_store__thrift_field_string(sao_thrift_out *out, int16_t id, const char *s);
void sao_store__thrift_field_struct_begin(sao_thrift_out *out, int16_t id);
void sao_store__thrift_field_list_begin(sao_thrift_out *out, int16_t id, uint8_t elem_type,
                                        size_t count);

/* Decoder over untrusted bytes: every read is bounds-checked and fails with SAO_ECORRUPT and a
 * message saying what was wrong. */
typedef struct sao_thrift_in {
    const uint8_t *pos;
    const uint8_t *end;
} sao_thrift_in;

void sao_store__thrift_in_init(sao_thrift_in *in, const void *data, size_t len);
/* Reads the next field header of a struct whose previous field id is *last_id. At the end of the
 * struct *type is SAO_THRIFT_STOP. */
int sao_store__thrift_next_field(sao_thrift_in *in, int16_t *last_id, uint8_t *type, int16_t *id);
int sao_store__thrift_get_varint(sao_thrift_in *in, uint64_t *out);
/* Reads an integer of field/element type I8, I16, I32 or I64 into *out. */
int sao_store__thrift_get_int(sao_thrift_in *in, uint8_t type, int64_t *out);
/* Like get_int, and fails unless the value lies in [min, max]. */
int sao_store__thrift_get_int_in(sao_thrift_in *in, uint8_t type, int64_t min, int64_t max,
                                 int64_t *out);
/* A bool field's value comes from its type code; a bool list element is one byte. */
int sao_store__thrift_get_bool_field(uint8_t type, int *out);
/* Points *data into the input (no copy). */
int sao_store__thrift_get_binary(sao_thrift_in *in, const uint8_t **data, size_t *len);
/* The element count is checked against the bytes left, so it bounds any allocation made from
 * it (every element takes at least one byte). */
int sao_store__thrift_list_begin_read(sao_thrift_in *in, uint8_t *elem_type, size_t *count);
/* Skips a value of the given field type (unknown fields of newer writers). */
int sao_store__thrift_skip(sao_thrift_in *in, uint8_t type);

/* ---- Parquet format enums (parquet.thrift) -------------------------------------------------- */

enum {
    SAO_PQT_BOOLEAN = 0,
    SAO_PQT_INT32 = 1,
    SAO_PQT_INT64 = 2,
    SAO_PQT_INT96 = 3,
    SAO_PQT_FLOAT = 4,
    SAO_PQT_DOUBLE = 5,
    SAO_PQT_BYTE_ARRAY = 6,
    SAO_PQT_FIXED_LEN_BYTE_ARRAY = 7
};

enum {
    SAO_PQ_CT_UTF8 = 0,
    SAO_PQ_CT_ENUM = 4,
    SAO_PQ_CT_DATE = 6,
    SAO_PQ_CT_TIMESTAMP_MILLIS = 9,
    SAO_PQ_CT_TIMESTAMP_MICROS = 10,
    SAO_PQ_CT_JSON = 19
};

enum { SAO_PQ_REQUIRED = 0, SAO_PQ_OPTIONAL = 1, SAO_PQ_REPEATED = 2 };

enum {
    SAO_PQ_ENC_PLAIN = 0,
    SAO_PQ_ENC_PLAIN_DICTIONARY = 2,
    SAO_PQ_ENC_RLE = 3,
    SAO_PQ_ENC_BIT_PACKED = 4,
    SAO_PQ_ENC_DELTA_BINARY_PACKED = 5,
    SAO_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    SAO_PQ_ENC_DELTA_BYTE_ARRAY = 7,
    SAO_PQ_ENC_RLE_DICTIONARY = 8,
    SAO_PQ_ENC_BYTE_STREAM_SPLIT = 9
};

enum {
    SAO_PQ_PAGE_DATA = 0,
    SAO_PQ_PAGE_INDEX = 1,
    SAO_PQ_PAGE_DICTIONARY = 2,
    SAO_PQ_PAGE_DATA_V2 = 3
};

/* Names for messages ("ZSTD", "DELTA_BINARY_PACKED"); "unknown" otherwise. */
const char *sao_store__pq_codec_name(int codec);
const char *sao_store__pq_encoding_name(int encoding);

/* ---- Encodings (parquet_encoding.c) --------------------------------------------------------- */

/* Bits needed for values up to max_value (0 for 0). */
int sao_store__pq_bit_width(uint64_t max_value);
/* Appends the RLE / bit-packed hybrid encoding of `count` values of `bit_width` bits (no length
 * prefix). Runs of 8 or more equal values become RLE runs, the rest bit-packed groups of 8. */
int sao_store__pq_hybrid_encode(sao_buf *out, const uint32_t *values, size_t count, int bit_width);
/* Decodes exactly `count` values from a hybrid stream. Running out of input, a bit width over 32
 * or a value that does not fit is SAO_ECORRUPT. *used gets the bytes consumed (may be NULL). */
int sao_store__pq_hybrid_decode(const uint8_t *data, size_t len, int bit_width, uint32_t *out,
                                size_t count, size_t *used);
/* The deprecated BIT_PACKED level encoding (most significant bit first). */
int sao_store__pq_bitpacked_msb_decode(const uint8_t *data, size_t len, int bit_width,
                                       uint32_t *out, size_t count, size_t *used);
/* DELTA_BINARY_PACKED: decodes up to `count` values (the stream says how many it holds; fewer
 * is corrupt) as 64-bit integers with wrap-around arithmetic. *used gets the bytes consumed. */
int sao_store__pq_delta_decode(const uint8_t *data, size_t len, int64_t *out, size_t count,
                               size_t *used);

/* ---- Compression ---------------------------------------------------------------------------- */

/* Compresses `len` bytes with `codec` (UNCOMPRESSED copies), replacing out's content. */
int sao_store__pq_compress(sao_buf *out, int codec, int zstd_level, const void *data, size_t len);
/* Decompresses into `dst`, which must come out exactly `dst_len` bytes long; anything else is
 * SAO_ECORRUPT. Codecs we do not have are SAO_EUNSUPPORTED. */
int sao_store__pq_decompress(int codec, const void *src, size_t src_len, void *dst, size_t dst_len);
/* Cheap plausibility check of a page's declared size against its compressed bytes, made before
 * allocating for it: the size recorded in a snappy or single-frame zstd stream must match, and
 * deflate cannot expand more than about 1032:1. SAO_ECORRUPT when it cannot be right. */
int sao_store__pq_check_inflated_size(int codec, const void *src, size_t src_len, size_t size);
/* Whether sao_store__pq_decompress handles the codec. */
int sao_store__pq_codec_supported(int codec);

/* ---- Reader internals exposed for tests ----------------------------------------------------- */

/* Hard caps on what a file may make us allocate. A file crossing one is SAO_ETOOBIG. */
typedef struct sao_pq_limits {
    size_t max_rows;         /* rows in a file */
    size_t max_page_bytes;   /* uncompressed size of one page */
    size_t max_string_bytes; /* decoded string/binary bytes of one column */
} sao_pq_limits;

/* The process-wide caps (defaults: 2^28 rows, 1 GiB pages, 2 GiB strings). The fuzzer lowers
 * them so that hostile inputs stay cheap. Not thread-safe: set before opening files. */
void sao_store__pq_get_limits(sao_pq_limits *out);
void sao_store__pq_set_limits(const sao_pq_limits *limits);

/* Statistics of one column chunk as stored (PLAIN bytes, no length prefix for strings). */
typedef struct sao_pq_chunk_stats {
    int has_min_value, has_max_value; /* min_value / max_value (fields 6 / 5) */
    const uint8_t *min_value, *max_value;
    size_t min_value_len, max_value_len;
    int has_min, has_max; /* legacy min / max (fields 2 / 1) */
    const uint8_t *min, *max;
    size_t min_len, max_len;
    int has_null_count;
    int64_t null_count;
    int has_nan_count;
    int64_t nan_count;
} sao_pq_chunk_stats;

/* Borrowed from the file. SAO_ERANGE for a row group or column out of range. */
int sao_store__pq_chunk_stats(sao_pq_chunk_stats *out, const sao_pq_file *file, size_t row_group,
                              size_t column);

/* What a column chunk declares, for tests that check how we wrote it. */
typedef struct sao_pq_chunk_info {
    int physical_type;
    int codec;
    int repetition;
    int has_dictionary_page;
    int64_t num_values;
    int64_t row_group_rows;
    int converted_type; /* -1 when absent */
    int logical_type;   /* LogicalType union field id, 0 when absent */
    int timestamp_utc;  /* TIMESTAMP isAdjustedToUTC */
    int timestamp_unit; /* TimeUnit field id: 1 ms, 2 us, 3 ns; 0 when absent */
    size_t encodings_count;
    int encodings[16];
} sao_pq_chunk_info;

int sao_store__pq_chunk_info(sao_pq_chunk_info *out, const sao_pq_file *file, size_t row_group,
                             size_t column);
/* key_value_metadata entries in file order (value NULL when absent). */
size_t sao_store__pq_metadata_count(const sao_pq_file *file);
void sao_store__pq_metadata_at(const sao_pq_file *file, size_t i, const char **key,
                               const char **value);
/* created_by and the format version of the footer. */
const char *sao_store__pq_created_by(const sao_pq_file *file);
int sao_store__pq_version(const sao_pq_file *file);

/* ---- Writer internals exposed for tests ----------------------------------------------------- */

typedef struct sao_pq_write_tuning {
    size_t page_rows;        /* rows per data page, over the options' (0: the options decide) */
    size_t dict_max_bytes;   /* PLAIN size of a dictionary before falling back (0: 1 MiB) */
    size_t fail_after_bytes; /* test hook: the file sink fails once this many bytes are out */
} sao_pq_write_tuning;

int sao_store__pq_write_mem_tuned(char **out, size_t *out_len, const sao_pq_column *columns,
                                  size_t column_count, size_t nrows,
                                  const sao_pq_write_options *opts,
                                  const sao_pq_write_tuning *tuning);
int sao_store__pq_write_tuned(const char *path, const sao_pq_column *columns, size_t column_count,
                              size_t nrows, const sao_pq_write_options *opts,
                              const sao_pq_write_tuning *tuning);

/* ---- Little-endian helpers ------------------------------------------------------------------ */

static inline uint32_t sao_pq_load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sao_pq_load_u64(const uint8_t *p)
{
    return (uint64_t)sao_pq_load_u32(p) | (uint64_t)sao_pq_load_u32(p + 4) << 32;
}

static inline void sao_pq_store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void sao_pq_store_u64(uint8_t *p, uint64_t v)
{
    sao_pq_store_u32(p, (uint32_t)v);
    sao_pq_store_u32(p + 4, (uint32_t)(v >> 32));
}

#endif
