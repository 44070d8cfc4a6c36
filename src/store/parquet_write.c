/*
 * The Parquet writer: flat tables of doubles, int64s, UTC microsecond timestamps and UTF-8
 * strings, in row groups of v1 data pages with statistics, streamed to memory or to a file that
 * replaces its target atomically.
 */
#include "parquet_int.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ROW_GROUP_ROWS ((size_t)1 << 20)
#define DEFAULT_PAGE_BYTES ((size_t)1 << 20)
#define DEFAULT_DICT_MAX_BYTES ((size_t)1 << 20)
/* Longer string statistics are left out rather than truncated (a truncated max would need
 * rounding up and an inexact flag; nobody filters tickers on kilobyte-long strings). */
#define MAX_STRING_STAT_BYTES 4096

void sao_pq_write_options_init(sao_pq_write_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->codec = SAO_PQ_ZSTD;
    opts->zstd_level = 3;
    opts->row_group_rows = DEFAULT_ROW_GROUP_ROWS;
}

/* ---- output sink ---------------------------------------------------------------------------- */

typedef struct pq_sink {
    sao_buf *mem; /* memory sink, or */
    int fd;       /* a file descriptor */
    const char *path;
    uint64_t offset;
    size_t fail_after; /* test hook: 0 = never fail */
} pq_sink;

static int sink_write(pq_sink *sink, const void *data, size_t len)
{
    if (sink->fail_after && sink->offset + len > sink->fail_after)
        return sao_error_set(SAO_EIO, "%s: simulated write failure after %zu bytes",
                             sink->path ? sink->path : "memory", sink->fail_after);
    if (sink->mem) {
        int rc = sao_buf_append(sink->mem, data, len);
        if (rc) return rc;
    } else {
        const char *p = data;
        size_t left = len;
        while (left) {
            ssize_t n = write(sink->fd, p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                return sao_error_set(SAO_EIO, "write %s: %s", sink->path, strerror(errno));
            }
            p += n;
            left -= (size_t)n;
        }
    }
    sink->offset += len;
    return 0;
}

/* ---- validation ----------------------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF)
            extra = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            extra = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            extra = 3, cp = c & 0x07;
        else
            return 0;
        if (len - i <= extra) return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

static int writable_type(sao_pq_type type)
{
    return type == SAO_PQ_DOUBLE || type == SAO_PQ_INT64 || type == SAO_PQ_TIMESTAMP_US ||
           type == SAO_PQ_STRING;
}

static int row_valid(const sao_pq_column *col, size_t row)
{
    return !col->valid || col->valid[row];
}

/* Checks everything before a byte is written, so a bad call never leaves a file behind. Fills
 * lens[c] with the string lengths of string columns (caller frees). */
static int validate(const sao_pq_column *columns, size_t column_count, size_t nrows,
                    const sao_pq_write_options *opts, uint32_t **lens)
{
    if (column_count == 0 || !columns)
        return sao_error_set(SAO_EINVAL, "parquet: a file needs at least one column");
    if (nrows > (size_t)INT64_MAX) return sao_error_set(SAO_EINVAL, "parquet: too many rows");
    if (opts->codec != SAO_PQ_UNCOMPRESSED && opts->codec != SAO_PQ_SNAPPY &&
        opts->codec != SAO_PQ_GZIP && opts->codec != SAO_PQ_ZSTD)
        return sao_error_set(SAO_EINVAL, "parquet: unknown codec %d", (int)opts->codec);
    if (opts->codec == SAO_PQ_ZSTD && (opts->zstd_level < -131072 || opts->zstd_level > 22))
        return sao_error_set(SAO_EINVAL, "parquet: zstd level %d is out of range",
                             opts->zstd_level);
    if (opts->metadata_count && !opts->metadata)
        return sao_error_set(SAO_EINVAL, "parquet: metadata_count without metadata");
    for (size_t i = 0; i < opts->metadata_count; i++)
        if (!opts->metadata[i].key)
            return sao_error_set(SAO_EINVAL, "parquet: metadata entry %zu has no key", i);
    for (size_t c = 0; c < column_count; c++) {
        const sao_pq_column *col = &columns[c];
        if (!col->name || !col->name[0])
            return sao_error_set(SAO_EINVAL, "parquet: column %zu has no name", c);
        if (!utf8_valid((const uint8_t *)col->name, strlen(col->name)))
            return sao_error_set(SAO_EINVAL, "parquet: column %zu name is not UTF-8", c);
        for (size_t d = 0; d < c; d++)
            if (strcmp(columns[d].name, col->name) == 0)
                return sao_error_set(SAO_EINVAL, "parquet: column name '%s' appears twice",
                                     col->name);
        if (!writable_type(col->type))
            return sao_error_set(SAO_EINVAL, "parquet: column '%s': type %d cannot be written",
                                 col->name, (int)col->type);
        if (nrows && !col->values)
            return sao_error_set(SAO_EINVAL, "parquet: column '%s' has no values", col->name);
        if (col->type != SAO_PQ_STRING) continue;
        const char *const *strs = col->values;
        uint32_t *col_lens = sao_malloc((nrows ? nrows : 1) * sizeof(uint32_t));
        lens[c] = col_lens;
        for (size_t r = 0; r < nrows; r++) {
            col_lens[r] = 0;
            if (!row_valid(col, r)) continue;
            if (!strs[r])
                return sao_error_set(SAO_EINVAL,
                                     "parquet: column '%s' row %zu: NULL string in a non-null "
                                     "row (pass valid[] to write nulls)",
                                     col->name, r);
            size_t len = strlen(strs[r]);
            if (len > INT32_MAX)
                return sao_error_set(SAO_EINVAL, "parquet: column '%s' row %zu: string too long",
                                     col->name, r);
            if (!utf8_valid((const uint8_t *)strs[r], len))
                return sao_error_set(SAO_EINVAL, "parquet: column '%s' row %zu: not valid UTF-8",
                                     col->name, r);
            col_lens[r] = (uint32_t)len;
        }
    }
    return 0;
}

/* ---- per-chunk state ------------------------------------------------------------------------ */

typedef struct chunk_meta {
    int64_t data_page_offset;
    int64_t dictionary_page_offset; /* -1: none */
    int64_t total_uncompressed;
    int64_t total_compressed;
    int64_t num_values;
    int64_t null_count;
    int64_t nan_count;
    int data_encoding;
    int data_pages;
    int has_minmax;
    uint8_t min[8], max[8];  /* PLAIN bytes of numeric min / max */
    const char *smin, *smax; /* string min / max, borrowed from the caller's values */
    uint32_t smin_len, smax_len;
} chunk_meta;

typedef struct dict_entry {
    const char *str;
    uint32_t len;
    uint32_t hash;
} dict_entry;

/* Distinct strings of one chunk in first-seen order, found through an open-addressing table. */
typedef struct str_dict {
    dict_entry *entries;
    size_t count, cap;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t nslots;
    size_t plain_bytes;
} str_dict;

static uint32_t hash_bytes(const char *s, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void dict_rehash(str_dict *d, size_t nslots)
{
    sao_free(d->slots);
    d->slots = sao_calloc(nslots, sizeof(uint32_t));
    d->nslots = nslots;
    for (size_t i = 0; i < d->count; i++) {
        size_t s = d->entries[i].hash & (nslots - 1);
        while (d->slots[s]) s = (s + 1) & (nslots - 1);
        d->slots[s] = (uint32_t)i + 1;
    }
}

static uint32_t dict_insert(str_dict *d, const char *str, uint32_t len)
{
    if ((d->count + 1) * 2 > d->nslots) dict_rehash(d, d->nslots ? d->nslots * 2 : 64);
    uint32_t h = hash_bytes(str, len);
    size_t s = h & (d->nslots - 1);
    while (d->slots[s]) {
        dict_entry *e = &d->entries[d->slots[s] - 1];
        if (e->hash == h && e->len == len && memcmp(e->str, str, len) == 0) return d->slots[s] - 1;
        s = (s + 1) & (d->nslots - 1);
    }
    d->entries = sao_grow(d->entries, &d->cap, d->count + 1, sizeof(dict_entry));
    d->entries[d->count] = (dict_entry){str, len, h};
    d->slots[s] = (uint32_t)d->count + 1;
    d->plain_bytes += 4 + (size_t)len;
    return (uint32_t)d->count++;
}

static void dict_dispose(str_dict *d)
{
    sao_free(d->entries);
    sao_free(d->slots);
    memset(d, 0, sizeof(*d));
}

/* Scratch buffers reused across pages and chunks. */
typedef struct writer {
    pq_sink *sink;
    const sao_pq_write_options *opts;
    const sao_pq_write_tuning *tuning;
    sao_buf body;       /* uncompressed page */
    sao_buf compressed; /* compressed page */
    sao_buf header;     /* thrift page header */
    sao_buf levels;     /* hybrid-encoded levels or indices */
    uint32_t *scratch;  /* levels / indices of one page */
    size_t scratch_cap;
} writer;

static int physical_type(sao_pq_type type)
{
    switch (type) {
    case SAO_PQ_DOUBLE:
        return SAO_PQT_DOUBLE;
    case SAO_PQ_STRING:
        return SAO_PQT_BYTE_ARRAY;
    default:
        return SAO_PQT_INT64;
    }
}

static int compare_str(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    /* Unsigned byte-wise order, as Parquet defines it for UTF-8. */
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static void compute_stats(chunk_meta *m, const sao_pq_column *col, const uint32_t *lens, size_t r0,
                          size_t r1)
{
    m->null_count = m->nan_count = 0;
    m->has_minmax = 0;
    if (col->type == SAO_PQ_DOUBLE) {
        const double *v = col->values;
        double lo = 0, hi = 0;
        for (size_t r = r0; r < r1; r++) {
            if (!row_valid(col, r)) {
                m->null_count++;
                continue;
            }
            if (isnan(v[r])) {
                m->nan_count++;
                continue;
            }
            if (!m->has_minmax) lo = hi = v[r], m->has_minmax = 1;
            if (v[r] < lo) lo = v[r];
            if (v[r] > hi) hi = v[r];
        }
        /* The spec's rule for signed zeros: the min is written as -0, the max as +0, so that a
         * reader filtering on either zero keeps this chunk. */
        if (lo == 0) lo = -0.0;
        if (hi == 0) hi = 0.0;
        uint64_t bits;
        memcpy(&bits, &lo, 8);
        sao_pq_store_u64(m->min, bits);
        memcpy(&bits, &hi, 8);
        sao_pq_store_u64(m->max, bits);
    } else if (col->type == SAO_PQ_STRING) {
        const char *const *v = col->values;
        for (size_t r = r0; r < r1; r++) {
            if (!row_valid(col, r)) {
                m->null_count++;
                continue;
            }
            if (!m->has_minmax) {
                m->smin = m->smax = v[r];
                m->smin_len = m->smax_len = lens[r];
                m->has_minmax = 1;
                continue;
            }
            if (compare_str(v[r], lens[r], m->smin, m->smin_len) < 0)
                m->smin = v[r], m->smin_len = lens[r];
            if (compare_str(v[r], lens[r], m->smax, m->smax_len) > 0)
                m->smax = v[r], m->smax_len = lens[r];
        }
        if (m->has_minmax &&
            (m->smin_len > MAX_STRING_STAT_BYTES || m->smax_len > MAX_STRING_STAT_BYTES))
            m->has_minmax = 0;
    } else {
        const int64_t *v = col->values;
        int64_t lo = 0, hi = 0;
        for (size_t r = r0; r < r1; r++) {
            if (!row_valid(col, r)) {
                m->null_count++;
                continue;
            }
            if (!m->has_minmax) lo = hi = v[r], m->has_minmax = 1;
            if (v[r] < lo) lo = v[r];
            if (v[r] > hi) hi = v[r];
        }
        sao_pq_store_u64(m->min, (uint64_t)lo);
        sao_pq_store_u64(m->max, (uint64_t)hi);
    }
}

/* Compresses the page in w->body and writes its header and bytes; adds to the chunk's sizes. */
static int write_page(writer *w, chunk_meta *m, int page_type, int32_t num_values, int encoding,
                      int dict_count)
{
    int rc = sao_store__pq_compress(&w->compressed, w->opts->codec, w->opts->zstd_level,
                                    w->body.data, w->body.len);
    if (rc) return rc;
    if (w->body.len > INT32_MAX || w->compressed.len > INT32_MAX)
        return sao_error_set(SAO_ETOOBIG,
                             "parquet: a page of %zu bytes exceeds the format's 2 GiB limit",
                             w->body.len);
    sao_buf_clear(&w->header);
    sao_thrift_out out;
    sao_store__thrift_out_init(&out, &w->header);
    sao_store__thrift_struct_begin(&out);
    sao_store__thrift_field_i32(&out, 1, page_type);
    sao_store__thrift_field_i32(&out, 2, (int32_t)w->body.len);
    sao_store__thrift_field_i32(&out, 3, (int32_t)w->compressed.len);
    if (page_type == SAO_PQ_PAGE_DATA) {
        sao_store__thrift_field_struct_begin(&out, 5);
        sao_store__thrift_field_i32(&out, 1, num_values);
        sao_store__thrift_field_i32(&out, 2, encoding);
        sao_store__thrift_field_i32(&out, 3, SAO_PQ_ENC_RLE);
        sao_store__thrift_field_i32(&out, 4, SAO_PQ_ENC_RLE);
        sao_store__thrift_struct_end(&out);
    } else {
        sao_store__thrift_field_struct_begin(&out, 7);
        sao_store__thrift_field_i32(&out, 1, dict_count);
        sao_store__thrift_field_i32(&out, 2, SAO_PQ_ENC_PLAIN);
        sao_store__thrift_struct_end(&out);
    }
    sao_store__thrift_struct_end(&out);
    if (page_type == SAO_PQ_PAGE_DATA && m->data_pages == 0)
        m->data_page_offset = (int64_t)w->sink->offset;
    rc = sink_write(w->sink, w->header.data, w->header.len);
    if (!rc) rc = sink_write(w->sink, w->compressed.data, w->compressed.len);
    if (rc) return rc;
    m->total_uncompressed += (int64_t)(w->header.len + w->body.len);
    m->total_compressed += (int64_t)(w->header.len + w->compressed.len);
    if (page_type == SAO_PQ_PAGE_DATA) m->data_pages++;
    return 0;
}

static uint32_t *scratch_for(writer *w, size_t count)
{
    w->scratch = sao_grow(w->scratch, &w->scratch_cap, count ? count : 1, sizeof(uint32_t));
    return w->scratch;
}

static int append_u32(sao_buf *buf, uint32_t v)
{
    uint8_t b[4];
    sao_pq_store_u32(b, v);
    return sao_buf_append(buf, b, 4);
}

static int append_u64(sao_buf *buf, uint64_t v)
{
    uint8_t b[8];
    sao_pq_store_u64(b, v);
    return sao_buf_append(buf, b, 8);
}

/* Rows [p0, p1) as one data page: definition levels (OPTIONAL columns), then the values. */
static int write_data_page(writer *w, chunk_meta *m, const sao_pq_column *col, const uint32_t *lens,
                           size_t p0, size_t p1, const str_dict *dict, const uint32_t *dict_index,
                           size_t index_base)
{
    int rc = 0;
    sao_buf_clear(&w->body);
    if (col->valid) {
        uint32_t *levels = scratch_for(w, p1 - p0);
        for (size_t r = p0; r < p1; r++) levels[r - p0] = col->valid[r] ? 1 : 0;
        sao_buf_clear(&w->levels);
        rc = sao_store__pq_hybrid_encode(&w->levels, levels, p1 - p0, 1);
        if (!rc) rc = append_u32(&w->body, (uint32_t)w->levels.len);
        if (!rc) rc = sao_buf_append(&w->body, w->levels.data, w->levels.len);
    }
    if (rc) return rc;
    if (dict) {
        uint32_t *indices = scratch_for(w, p1 - p0);
        size_t n = 0;
        for (size_t r = p0; r < p1; r++)
            if (row_valid(col, r)) indices[n++] = dict_index[r - index_base];
        /* A one-entry dictionary still gets width 1: some readers mishandle width 0. */
        int width = sao_store__pq_bit_width(dict->count ? dict->count - 1 : 0);
        if (width == 0) width = 1;
        uint8_t width_byte = (uint8_t)width;
        rc = sao_buf_append(&w->body, &width_byte, 1);
        if (!rc) rc = sao_store__pq_hybrid_encode(&w->body, indices, n, width);
    } else if (col->type == SAO_PQ_STRING) {
        const char *const *v = col->values;
        for (size_t r = p0; r < p1 && !rc; r++) {
            if (!row_valid(col, r)) continue;
            rc = append_u32(&w->body, lens[r]);
            if (!rc) rc = sao_buf_append(&w->body, v[r], lens[r]);
        }
    } else {
        /* DOUBLE and INT64 share the 8-byte little-endian PLAIN layout. */
        const uint8_t *v = col->values;
        for (size_t r = p0; r < p1 && !rc; r++) {
            if (!row_valid(col, r)) continue;
            uint64_t bits;
            memcpy(&bits, v + r * 8, 8);
            rc = append_u64(&w->body, bits);
        }
    }
    if (rc) return rc;
    return write_page(w, m, SAO_PQ_PAGE_DATA, (int32_t)(p1 - p0),
                      dict ? SAO_PQ_ENC_RLE_DICTIONARY : SAO_PQ_ENC_PLAIN, 0);
}

/* Where the page starting at p0 ends: after page_rows rows or about 1 MiB of values. */
static size_t page_end(const writer *w, const sao_pq_column *col, const uint32_t *lens,
                       int use_dict, size_t p0, size_t r1)
{
    size_t max_rows = w->tuning->page_rows ? w->tuning->page_rows : w->opts->page_rows;
    if (!max_rows) max_rows = DEFAULT_PAGE_BYTES / 8;
    size_t end = r1 - p0 > max_rows ? p0 + max_rows : r1;
    if (col->type != SAO_PQ_STRING || use_dict) return end;
    size_t bytes = 0;
    for (size_t r = p0; r < end; r++) {
        bytes += 4 + (size_t)lens[r];
        if (bytes >= DEFAULT_PAGE_BYTES) return r + 1;
    }
    return end;
}

static int write_chunk(writer *w, chunk_meta *m, const sao_pq_column *col, const uint32_t *lens,
                       size_t r0, size_t r1)
{
    memset(m, 0, sizeof(*m));
    m->dictionary_page_offset = -1;
    m->num_values = (int64_t)(r1 - r0);
    compute_stats(m, col, lens, r0, r1);

    int rc = 0;
    str_dict dict;
    memset(&dict, 0, sizeof(dict));
    uint32_t *dict_index = NULL; /* dictionary index of row r at [r - r0] */
    int use_dict = 0;
    if (col->type == SAO_PQ_STRING) {
        size_t dict_max =
            w->tuning->dict_max_bytes ? w->tuning->dict_max_bytes : DEFAULT_DICT_MAX_BYTES;
        const char *const *v = col->values;
        dict_index = sao_malloc((r1 - r0 ? r1 - r0 : 1) * sizeof(uint32_t));
        use_dict = 1;
        for (size_t r = r0; r < r1; r++) {
            if (!row_valid(col, r)) continue;
            dict_index[r - r0] = dict_insert(&dict, v[r], lens[r]);
            if (dict.plain_bytes > dict_max) {
                use_dict = 0;
                break;
            }
        }
    }
    /* A chunk of nulls has no values to index: PLAIN (of nothing) says so more plainly than an
     * empty dictionary, which not every reader expects. */
    if (use_dict && dict.count == 0) use_dict = 0;
    if (use_dict) {
        m->dictionary_page_offset = (int64_t)w->sink->offset;
        sao_buf_clear(&w->body);
        for (size_t i = 0; i < dict.count && !rc; i++) {
            rc = append_u32(&w->body, dict.entries[i].len);
            if (!rc) rc = sao_buf_append(&w->body, dict.entries[i].str, dict.entries[i].len);
        }
        if (!rc) rc = write_page(w, m, SAO_PQ_PAGE_DICTIONARY, 0, 0, (int)dict.count);
    }
    m->data_encoding = use_dict ? SAO_PQ_ENC_RLE_DICTIONARY : SAO_PQ_ENC_PLAIN;
    size_t p0 = r0;
    /* A chunk of zero rows does not happen (row groups are never empty). */
    while (!rc && p0 < r1) {
        size_t p1 = page_end(w, col, lens, use_dict, p0, r1);
        rc = write_data_page(w, m, col, lens, p0, p1, use_dict ? &dict : NULL, dict_index, r0);
        p0 = p1;
    }
    sao_free(dict_index);
    dict_dispose(&dict);
    return rc;
}

/* ---- footer --------------------------------------------------------------------------------- */

static void put_schema(sao_thrift_out *out, const sao_pq_column *columns, size_t column_count)
{
    sao_store__thrift_field_list_begin(out, 2, SAO_THRIFT_STRUCT, column_count + 1);
    sao_store__thrift_struct_begin(out);
    sao_store__thrift_field_i32(out, 3, SAO_PQ_REQUIRED);
    sao_store__thrift_field_string(out, 4, "schema");
    sao_store__thrift_field_i32(out, 5, (int32_t)column_count);
    sao_store__thrift_struct_end(out);
    for (size_t c = 0; c < column_count; c++) {
        const sao_pq_column *col = &columns[c];
        sao_store__thrift_struct_begin(out);
        sao_store__thrift_field_i32(out, 1, physical_type(col->type));
        sao_store__thrift_field_i32(out, 3, col->valid ? SAO_PQ_OPTIONAL : SAO_PQ_REQUIRED);
        sao_store__thrift_field_string(out, 4, col->name);
        if (col->type == SAO_PQ_STRING) {
            sao_store__thrift_field_i32(out, 6, SAO_PQ_CT_UTF8);
            sao_store__thrift_field_struct_begin(out, 10); /* LogicalType */
            sao_store__thrift_field_struct_begin(out, 1);  /* STRING */
            sao_store__thrift_struct_end(out);
            sao_store__thrift_struct_end(out);
        } else if (col->type == SAO_PQ_TIMESTAMP_US) {
            sao_store__thrift_field_i32(out, 6, SAO_PQ_CT_TIMESTAMP_MICROS);
            sao_store__thrift_field_struct_begin(out, 10); /* LogicalType */
            sao_store__thrift_field_struct_begin(out, 8);  /* TIMESTAMP */
            sao_store__thrift_field_bool(out, 1, 1);       /* isAdjustedToUTC */
            sao_store__thrift_field_struct_begin(out, 2);  /* unit */
            sao_store__thrift_field_struct_begin(out, 2);  /* MICROS */
            sao_store__thrift_struct_end(out);
            sao_store__thrift_struct_end(out);
            sao_store__thrift_struct_end(out);
            sao_store__thrift_struct_end(out);
        }
        sao_store__thrift_struct_end(out);
    }
}

static void put_statistics(sao_thrift_out *out, const chunk_meta *m, sao_pq_type type)
{
    sao_store__thrift_field_struct_begin(out, 12);
    int numeric = type != SAO_PQ_STRING;
    /* The legacy fields use signed order, which is the right order for numbers only. */
    if (m->has_minmax && numeric) {
        sao_store__thrift_field_binary(out, 1, m->max, 8);
        sao_store__thrift_field_binary(out, 2, m->min, 8);
    }
    sao_store__thrift_field_i64(out, 3, m->null_count);
    if (m->has_minmax) {
        if (numeric) {
            sao_store__thrift_field_binary(out, 5, m->max, 8);
            sao_store__thrift_field_binary(out, 6, m->min, 8);
        } else {
            sao_store__thrift_field_binary(out, 5, m->smax, m->smax_len);
            sao_store__thrift_field_binary(out, 6, m->smin, m->smin_len);
        }
        sao_store__thrift_field_bool(out, 7, 1);
        sao_store__thrift_field_bool(out, 8, 1);
    }
    if (type == SAO_PQ_DOUBLE) sao_store__thrift_field_i64(out, 9, m->nan_count);
    sao_store__thrift_struct_end(out);
}

static void put_column_chunk(sao_thrift_out *out, const chunk_meta *m, const sao_pq_column *col,
                             int codec)
{
    sao_store__thrift_struct_begin(out);
    sao_store__thrift_field_i64(out, 2, 0); /* file_offset: deprecated, 0 by the spec */
    sao_store__thrift_field_struct_begin(out, 3);
    sao_store__thrift_field_i32(out, 1, physical_type(col->type));
    int dict = m->dictionary_page_offset >= 0;
    sao_store__thrift_field_list_begin(out, 2, SAO_THRIFT_I32, dict ? 3 : 2);
    sao_store__thrift_put_i32(out, SAO_PQ_ENC_PLAIN);
    sao_store__thrift_put_i32(out, SAO_PQ_ENC_RLE);
    if (dict) sao_store__thrift_put_i32(out, SAO_PQ_ENC_RLE_DICTIONARY);
    sao_store__thrift_field_list_begin(out, 3, SAO_THRIFT_BINARY, 1);
    sao_store__thrift_put_binary(out, col->name, strlen(col->name));
    sao_store__thrift_field_i32(out, 4, codec);
    sao_store__thrift_field_i64(out, 5, m->num_values);
    sao_store__thrift_field_i64(out, 6, m->total_uncompressed);
    sao_store__thrift_field_i64(out, 7, m->total_compressed);
    sao_store__thrift_field_i64(out, 9, m->data_page_offset);
    if (dict) sao_store__thrift_field_i64(out, 11, m->dictionary_page_offset);
    put_statistics(out, m, col->type);
    /* encoding_stats tells readers every data page is dictionary-encoded (or none is). */
    sao_store__thrift_field_list_begin(out, 13, SAO_THRIFT_STRUCT, dict ? 2 : 1);
    if (dict) {
        sao_store__thrift_struct_begin(out);
        sao_store__thrift_field_i32(out, 1, SAO_PQ_PAGE_DICTIONARY);
        sao_store__thrift_field_i32(out, 2, SAO_PQ_ENC_PLAIN);
        sao_store__thrift_field_i32(out, 3, 1);
        sao_store__thrift_struct_end(out);
    }
    sao_store__thrift_struct_begin(out);
    sao_store__thrift_field_i32(out, 1, SAO_PQ_PAGE_DATA);
    sao_store__thrift_field_i32(out, 2, m->data_encoding);
    sao_store__thrift_field_i32(out, 3, m->data_pages);
    sao_store__thrift_struct_end(out);
    sao_store__thrift_struct_end(out); /* ColumnMetaData */
    sao_store__thrift_struct_end(out); /* ColumnChunk */
}

static void put_footer(sao_buf *buf, const sao_pq_column *columns, size_t column_count,
                       size_t nrows, size_t row_group_rows, const chunk_meta *metas, size_t ngroups,
                       const sao_pq_write_options *opts)
{
    sao_thrift_out out;
    sao_store__thrift_out_init(&out, buf);
    sao_store__thrift_struct_begin(&out);
    sao_store__thrift_field_i32(&out, 1, 1);
    put_schema(&out, columns, column_count);
    sao_store__thrift_field_i64(&out, 3, (int64_t)nrows);
    sao_store__thrift_field_list_begin(&out, 4, SAO_THRIFT_STRUCT, ngroups);
    for (size_t g = 0; g < ngroups; g++) {
        const chunk_meta *row = metas + g * column_count;
        size_t r0 = g * row_group_rows;
        size_t rows = nrows - r0 < row_group_rows ? nrows - r0 : row_group_rows;
        int64_t uncompressed = 0, compressed = 0;
        for (size_t c = 0; c < column_count; c++) {
            uncompressed += row[c].total_uncompressed;
            compressed += row[c].total_compressed;
        }
        int64_t first = row[0].dictionary_page_offset >= 0 ? row[0].dictionary_page_offset
                                                           : row[0].data_page_offset;
        sao_store__thrift_struct_begin(&out);
        sao_store__thrift_field_list_begin(&out, 1, SAO_THRIFT_STRUCT, column_count);
        for (size_t c = 0; c < column_count; c++)
            put_column_chunk(&out, &row[c], &columns[c], opts->codec);
        sao_store__thrift_field_i64(&out, 2, uncompressed);
        sao_store__thrift_field_i64(&out, 3, (int64_t)rows);
        sao_store__thrift_field_i64(&out, 5, first);
        sao_store__thrift_field_i64(&out, 6, compressed);
        if (g <= INT16_MAX) sao_store__thrift_field_i16(&out, 7, (int16_t)g);
        sao_store__thrift_struct_end(&out);
    }
    if (opts->metadata_count) {
        sao_store__thrift_field_list_begin(&out, 5, SAO_THRIFT_STRUCT, opts->metadata_count);
        for (size_t i = 0; i < opts->metadata_count; i++) {
            sao_store__thrift_struct_begin(&out);
            sao_store__thrift_field_string(&out, 1, opts->metadata[i].key);
            if (opts->metadata[i].value)
                sao_store__thrift_field_string(&out, 2, opts->metadata[i].value);
            sao_store__thrift_struct_end(&out);
        }
    }
    sao_store__thrift_field_string(&out, 6, "stock-agent-ops version " SAO_VERSION);
    /* column_orders make min_value / max_value meaningful to readers. */
    sao_store__thrift_field_list_begin(&out, 7, SAO_THRIFT_STRUCT, column_count);
    for (size_t c = 0; c < column_count; c++) {
        sao_store__thrift_struct_begin(&out);
        sao_store__thrift_field_struct_begin(&out, 1); /* TYPE_ORDER */
        sao_store__thrift_struct_end(&out);
        sao_store__thrift_struct_end(&out);
    }
    sao_store__thrift_struct_end(&out);
}

/* ---- driver --------------------------------------------------------------------------------- */

static int write_all(pq_sink *sink, const sao_pq_column *columns, size_t column_count, size_t nrows,
                     const sao_pq_write_options *opts, const sao_pq_write_tuning *tuning,
                     uint32_t **lens)
{
    size_t row_group_rows = opts->row_group_rows ? opts->row_group_rows : DEFAULT_ROW_GROUP_ROWS;
    size_t ngroups = nrows / row_group_rows + (nrows % row_group_rows != 0);
    writer w;
    memset(&w, 0, sizeof(w));
    w.sink = sink;
    w.opts = opts;
    w.tuning = tuning;
    sao_buf_init(&w.body, 0);
    sao_buf_init(&w.compressed, 0);
    sao_buf_init(&w.header, 0);
    sao_buf_init(&w.levels, 0);
    size_t nchunks = ngroups * column_count;
    chunk_meta *metas = sao_calloc(nchunks ? nchunks : 1, sizeof(chunk_meta));
    sao_buf footer;
    sao_buf_init(&footer, 0);

    int rc = sink_write(sink, "PAR1", 4);
    for (size_t g = 0; g < ngroups && !rc; g++) {
        size_t r0 = g * row_group_rows;
        size_t r1 = nrows - r0 < row_group_rows ? nrows : r0 + row_group_rows;
        for (size_t c = 0; c < column_count && !rc; c++)
            rc = write_chunk(&w, &metas[g * column_count + c], &columns[c], lens[c], r0, r1);
    }
    if (rc) goto done;
    put_footer(&footer, columns, column_count, nrows, row_group_rows, metas, ngroups, opts);
    if (footer.len > UINT32_MAX) {
        rc = sao_error_set(SAO_ETOOBIG, "parquet: footer of %zu bytes is too large", footer.len);
        goto done;
    }
    uint8_t tail[8];
    sao_pq_store_u32(tail, (uint32_t)footer.len);
    memcpy(tail + 4, "PAR1", 4);
    rc = sink_write(sink, footer.data, footer.len);
    if (!rc) rc = sink_write(sink, tail, 8);
done:
    sao_buf_dispose(&footer);
    sao_free(metas);
    sao_buf_dispose(&w.body);
    sao_buf_dispose(&w.compressed);
    sao_buf_dispose(&w.header);
    sao_buf_dispose(&w.levels);
    sao_free(w.scratch);
    return rc;
}

static void free_lens(uint32_t **lens, size_t column_count)
{
    if (!lens) return;
    for (size_t c = 0; c < column_count; c++) sao_free(lens[c]);
    sao_free(lens);
}

int sao_store__pq_write_mem_tuned(char **out, size_t *out_len, const sao_pq_column *columns,
                                  size_t column_count, size_t nrows,
                                  const sao_pq_write_options *opts,
                                  const sao_pq_write_tuning *tuning)
{
    sao_pq_write_options defaults;
    if (!opts) {
        sao_pq_write_options_init(&defaults);
        opts = &defaults;
    }
    sao_pq_write_tuning no_tuning = {0, 0, 0};
    if (!tuning) tuning = &no_tuning;
    uint32_t **lens = sao_calloc(column_count ? column_count : 1, sizeof(uint32_t *));
    sao_buf buf;
    sao_buf_init(&buf, 0);
    pq_sink sink = {&buf, -1, NULL, 0, tuning->fail_after_bytes};
    int rc = validate(columns, column_count, nrows, opts, lens);
    if (rc) goto done;
    rc = write_all(&sink, columns, column_count, nrows, opts, tuning, lens);
    if (rc) goto done;
    *out = sao_buf_detach(&buf, out_len);
done:
    sao_buf_dispose(&buf);
    free_lens(lens, column_count);
    return rc;
}

int sao_parquet_write_mem(char **out, size_t *out_len, const sao_pq_column *columns,
                          size_t column_count, size_t nrows, const sao_pq_write_options *opts)
{
    return sao_store__pq_write_mem_tuned(out, out_len, columns, column_count, nrows, opts, NULL);
}

int sao_store__pq_write_tuned(const char *path, const sao_pq_column *columns, size_t column_count,
                              size_t nrows, const sao_pq_write_options *opts,
                              const sao_pq_write_tuning *tuning)
{
    sao_pq_write_options defaults;
    if (!opts) {
        sao_pq_write_options_init(&defaults);
        opts = &defaults;
    }
    sao_pq_write_tuning no_tuning = {0, 0, 0};
    if (!tuning) tuning = &no_tuning;
    if (!path || !path[0]) return sao_error_set(SAO_EINVAL, "parquet: empty path");
    uint32_t **lens = sao_calloc(column_count ? column_count : 1, sizeof(uint32_t *));
    char tmp[4096];
    int fd = -1;
    pq_sink sink = {NULL, -1, tmp, 0, tuning->fail_after_bytes};
    int rc = validate(columns, column_count, nrows, opts, lens);
    if (rc) goto done;
    rc = sao_file_temp_for(tmp, sizeof(tmp), path, &fd);
    if (rc) goto done;
    sink.fd = fd;
    /* mkstemp makes the file private; a data file is for every reader of the store. */
    if (fchmod(fd, 0644) != 0) rc = sao_error_set(SAO_EIO, "chmod %s: %s", tmp, strerror(errno));
    if (!rc) rc = write_all(&sink, columns, column_count, nrows, opts, tuning, lens);
    if (!rc && fsync(fd) != 0) rc = sao_error_set(SAO_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc) rc = sao_error_set(SAO_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        goto done;
    }
    /* sao_file_commit removes the temp file itself when the rename fails. */
    rc = sao_file_commit(tmp, path);
done:
    free_lens(lens, column_count);
    if (rc) sao_error_wrap(rc, "%s: ", path);
    return rc;
}

int sao_parquet_write(const char *path, const sao_pq_column *columns, size_t column_count,
                      size_t nrows, const sao_pq_write_options *opts)
{
    return sao_store__pq_write_tuned(path, columns, column_count, nrows, opts, NULL);
}
