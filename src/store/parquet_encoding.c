/*
 * Parquet's bit-level encodings (the RLE / bit-packed hybrid, the deprecated BIT_PACKED levels,
 * DELTA_BINARY_PACKED) and page compression (UNCOMPRESSED, SNAPPY, GZIP, ZSTD).
 * Decoders treat their input as hostile: every read is bounds-checked.
 */
#include "parquet_int.h"

#include <limits.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

const char *sao_store__pq_codec_name(int codec)
{
    static const char *names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                  "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
    return codec >= 0 && (size_t)codec < SAO_ARRAY_LEN(names) ? names[codec] : "unknown";
}

const char *sao_store__pq_encoding_name(int encoding)
{
    static const char *names[] = {
        "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
        "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
        "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return encoding >= 0 && (size_t)encoding < SAO_ARRAY_LEN(names) ? names[encoding] : "unknown";
}

int sao_store__pq_bit_width(uint64_t max_value)
{
    int width = 0;
    while (max_value) {
        width++;
        max_value >>= 1;
    }
    return width;
}

/* ---- bit packing ---------------------------------------------------------------------------- */

/* Reads `width` (1..64) bits starting at bit `bitpos`, least significant bit first. The caller
 * guarantees the bytes holding those bits exist. */
static uint64_t read_bits_lsb(const uint8_t *data, size_t bitpos, int width)
{
    size_t byte = bitpos >> 3;
    int shift = (int)(bitpos & 7);
    uint64_t value = (uint64_t)data[byte++] >> shift;
    int got = 8 - shift;
    while (got < width) {
        value |= (uint64_t)data[byte++] << got;
        got += 8;
    }
    return width < 64 ? value & ((UINT64_C(1) << width) - 1) : value;
}

/* Appends 8 values of `width` bits as `width` bytes, least significant bit first. */
static int pack_group(sao_buf *out, const uint32_t *values, int width)
{
    uint8_t bytes[32];
    memset(bytes, 0, sizeof(bytes));
    size_t bitpos = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t v = values[i];
        for (int b = 0; b < width; b++, bitpos++)
            if (v >> b & 1) bytes[bitpos >> 3] |= (uint8_t)(1u << (bitpos & 7));
    }
    return sao_buf_append(out, bytes, (size_t)width);
}

static int put_uvarint(sao_buf *out, uint64_t value)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (value >= 0x80) {
        tmp[n++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    tmp[n++] = (uint8_t)value;
    return sao_buf_append(out, tmp, n);
}

static int get_uvarint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len) return sao_error_set(SAO_ECORRUPT, "varint runs past the end of its data");
        uint8_t byte = data[(*pos)++];
        if (shift == 63 && byte > 1) return sao_error_set(SAO_ECORRUPT, "varint overflows 64 bits");
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return sao_error_set(SAO_ECORRUPT, "varint longer than 10 bytes");
}

/* ---- RLE / bit-packed hybrid ---------------------------------------------------------------- */

static int emit_bitpacked(sao_buf *out, const uint32_t *values, size_t count, int width)
{
    /* Only the last run of a stream may be padded: callers pass multiples of 8 otherwise. */
    size_t groups = (count + 7) / 8;
    int rc = put_uvarint(out, (uint64_t)groups << 1 | 1);
    for (size_t g = 0; g < groups && !rc; g++) {
        uint32_t group[8] = {0};
        size_t take = count - g * 8 < 8 ? count - g * 8 : 8;
        memcpy(group, values + g * 8, take * sizeof(uint32_t));
        rc = pack_group(out, group, width);
    }
    return rc;
}

static int emit_rle(sao_buf *out, uint32_t value, size_t run, int width)
{
    int rc = put_uvarint(out, (uint64_t)run << 1);
    uint8_t bytes[4];
    sao_pq_store_u32(bytes, value);
    if (!rc) rc = sao_buf_append(out, bytes, (size_t)(width + 7) / 8);
    return rc;
}

int sao_store__pq_hybrid_encode(sao_buf *out, const uint32_t *values, size_t count, int width)
{
    SAO_ASSERT(width >= 0 && width <= 32);
    size_t literal_start = 0, i = 0;
    int rc = 0;
    while (i < count && !rc) {
        size_t run = 1;
        while (i + run < count && values[i + run] == values[i]) run++;
        if (run < 8) {
            i += run;
            continue;
        }
        size_t pending = i - literal_start;
        if (pending) {
            /* Borrow values from the run so the literal section ends on a group boundary; the
             * run keeps at least one value because it had 8 or more. */
            size_t pad = (8 - pending % 8) % 8;
            pending += pad;
            i += pad;
            run -= pad;
            rc = emit_bitpacked(out, values + literal_start, pending, width);
        }
        if (!rc) rc = emit_rle(out, values[i], run, width);
        i += run;
        literal_start = i;
    }
    if (!rc && literal_start < count)
        rc = emit_bitpacked(out, values + literal_start, count - literal_start, width);
    return rc;
}

int sao_store__pq_hybrid_decode(const uint8_t *data, size_t len, int width, uint32_t *out,
                                size_t count, size_t *used)
{
    if (width < 0 || width > 32)
        return sao_error_set(SAO_ECORRUPT, "RLE/bit-packed bit width %d is over 32", width);
    size_t pos = 0, n = 0;
    size_t value_bytes = (size_t)(width + 7) / 8;
    while (n < count) {
        uint64_t header;
        int rc = get_uvarint(data, len, &pos, &header);
        if (rc)
            return sao_error_set(SAO_ECORRUPT, "RLE/bit-packed data ends after %zu of %zu values",
                                 n, count);
        size_t want = count - n;
        if (header & 1) {
            uint64_t groups = header >> 1;
            size_t avail = len - pos;
            /* Values the run holds, capped by what we still need. */
            size_t take = groups > want / 8 + 1 ? want : (size_t)groups * 8;
            if (take > want) take = want;
            size_t need_bytes = (size_t)(((uint64_t)take * (uint64_t)width + 7) / 8);
            if (need_bytes > avail)
                return sao_error_set(SAO_ECORRUPT, "bit-packed run needs %zu bytes, %zu left",
                                     need_bytes, avail);
            for (size_t k = 0; k < take; k++)
                out[n + k] =
                    width ? (uint32_t)read_bits_lsb(data + pos, k * (size_t)width, width) : 0;
            n += take;
            /* Writers may trim the padding of the final run; skip what is there. */
            uint64_t run_bytes = groups > avail ? UINT64_MAX : groups * (uint64_t)width;
            pos += run_bytes < avail ? (size_t)run_bytes : avail;
        } else {
            uint64_t run = header >> 1;
            if (value_bytes > len - pos)
                return sao_error_set(SAO_ECORRUPT, "RLE run value runs past the end");
            uint32_t value = 0;
            for (size_t b = 0; b < value_bytes; b++) value |= (uint32_t)data[pos + b] << (8 * b);
            pos += value_bytes;
            if (width < 32 && value >> width)
                return sao_error_set(SAO_ECORRUPT, "RLE run value %u does not fit in %d bits",
                                     value, width);
            size_t take = run < want ? (size_t)run : want;
            for (size_t k = 0; k < take; k++) out[n + k] = value;
            n += take;
        }
    }
    if (used) *used = pos;
    return 0;
}

int sao_store__pq_bitpacked_msb_decode(const uint8_t *data, size_t len, int width, uint32_t *out,
                                       size_t count, size_t *used)
{
    if (width < 0 || width > 32)
        return sao_error_set(SAO_ECORRUPT, "BIT_PACKED bit width %d is over 32", width);
    uint64_t bits = (uint64_t)count * (uint64_t)width;
    size_t bytes = (size_t)((bits + 7) / 8);
    if (bytes > len)
        return sao_error_set(SAO_ECORRUPT, "BIT_PACKED levels need %zu bytes, %zu left", bytes,
                             len);
    size_t bitpos = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = 0;
        for (int b = 0; b < width; b++, bitpos++)
            v = v << 1 | (uint32_t)(data[bitpos >> 3] >> (7 - (bitpos & 7)) & 1);
        out[i] = v;
    }
    if (used) *used = bytes;
    return 0;
}

/* ---- DELTA_BINARY_PACKED -------------------------------------------------------------------- */

typedef struct delta_header {
    uint64_t block_size;
    uint64_t miniblocks;
    uint64_t total;
    int64_t first;
} delta_header;

static int delta_read_header(const uint8_t *data, size_t len, size_t *pos, delta_header *h)
{
    uint64_t first;
    int rc = get_uvarint(data, len, pos, &h->block_size);
    if (!rc) rc = get_uvarint(data, len, pos, &h->miniblocks);
    if (!rc) rc = get_uvarint(data, len, pos, &h->total);
    if (!rc) rc = get_uvarint(data, len, pos, &first);
    if (rc) return sao_error_set(SAO_ECORRUPT, "DELTA_BINARY_PACKED header is truncated");
    h->first = (int64_t)(first >> 1) ^ -(int64_t)(first & 1);
    /* The spec requires multiples of 128 and 32; we only need a sane, bounded shape. */
    if (h->block_size == 0 || h->block_size % 128 || h->block_size > (1u << 20) ||
        h->miniblocks == 0 || h->miniblocks > h->block_size || h->block_size % h->miniblocks ||
        (h->block_size / h->miniblocks) % 32)
        return sao_error_set(
            SAO_ECORRUPT, "DELTA_BINARY_PACKED block of %llu values in %llu miniblocks is invalid",
            (unsigned long long)h->block_size, (unsigned long long)h->miniblocks);
    return 0;
}

int sao_store__pq_delta_decode(const uint8_t *data, size_t len, int64_t *out, size_t count,
                               size_t *used)
{
    size_t pos = 0;
    delta_header h;
    int rc = delta_read_header(data, len, &pos, &h);
    if (rc) return rc;
    if (h.total != count)
        return sao_error_set(SAO_ECORRUPT, "DELTA_BINARY_PACKED holds %llu values, expected %zu",
                             (unsigned long long)h.total, count);
    size_t per_mini = (size_t)(h.block_size / h.miniblocks);
    size_t n = 0;
    uint64_t prev = (uint64_t)h.first;
    if (count) out[n++] = h.first;
    while (n < count) {
        uint64_t raw_min;
        rc = get_uvarint(data, len, &pos, &raw_min);
        if (rc) return sao_error_set(SAO_ECORRUPT, "DELTA_BINARY_PACKED block is truncated");
        uint64_t min_delta = (uint64_t)((int64_t)(raw_min >> 1) ^ -(int64_t)(raw_min & 1));
        if (h.miniblocks > len - pos)
            return sao_error_set(SAO_ECORRUPT, "DELTA_BINARY_PACKED bit widths are truncated");
        const uint8_t *widths = data + pos;
        pos += (size_t)h.miniblocks;
        for (size_t m = 0; m < h.miniblocks && n < count; m++) {
            int width = widths[m];
            if (width > 64)
                return sao_error_set(SAO_ECORRUPT, "DELTA_BINARY_PACKED bit width %d", width);
            /* Every miniblock that holds a value is stored whole, padding included. */
            size_t mini_bytes = per_mini / 8 * (size_t)width;
            if (mini_bytes > len - pos)
                return sao_error_set(SAO_ECORRUPT, "DELTA_BINARY_PACKED miniblock is truncated");
            size_t take = count - n < per_mini ? count - n : per_mini;
            for (size_t k = 0; k < take; k++) {
                uint64_t packed = width ? read_bits_lsb(data + pos, k * (size_t)width, width) : 0;
                /* Unsigned arithmetic: deltas wrap like the writer's did. */
                prev = prev + min_delta + packed;
                out[n++] = (int64_t)prev;
            }
            pos += mini_bytes;
        }
    }
    if (used) *used = pos;
    return 0;
}

/* ---- compression ---------------------------------------------------------------------------- */

int sao_store__pq_codec_supported(int codec)
{
    return codec == SAO_PQ_UNCOMPRESSED || codec == SAO_PQ_SNAPPY || codec == SAO_PQ_GZIP ||
           codec == SAO_PQ_ZSTD;
}

/* Makes room for `size` bytes (plus the terminating NUL a sao_buf keeps) and empties out. */
static void buf_ensure(sao_buf *out, size_t size)
{
    sao_buf_clear(out);
    if (size + 1 > out->cap) {
        size_t cap = out->cap;
        out->data = sao_grow(out->data, &cap, size + 1, 1);
        out->cap = cap;
    }
}

static int gzip_compress(sao_buf *out, const void *data, size_t len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: a gzip wrapper, as Parquet's GZIP codec means. */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return sao_error_set(SAO_EIO, "gzip: deflateInit2 failed");
    int rc = 0;
    size_t bound = deflateBound(&zs, (uLong)len) + 64;
    if (bound > UINT_MAX) {
        deflateEnd(&zs);
        return sao_error_set(SAO_ETOOBIG, "gzip: a page of %zu bytes is too large", len);
    }
    buf_ensure(out, bound);
    const uint8_t *src = data;
    size_t left = len;
    zs.next_out = (Bytef *)out->data;
    zs.avail_out = (uInt)bound;
    for (;;) {
        uInt chunk = left > UINT_MAX / 2 ? UINT_MAX / 2 : (uInt)left;
        zs.next_in = (Bytef *)(uintptr_t)src;
        zs.avail_in = chunk;
        int flush = chunk == left ? Z_FINISH : Z_NO_FLUSH;
        int zr = deflate(&zs, flush);
        src += chunk - zs.avail_in;
        left -= chunk - zs.avail_in;
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = sao_error_set(SAO_EIO, "gzip: deflate failed (%d)", zr);
            break;
        }
        if (zs.avail_out == 0) {
            rc = sao_error_set(SAO_EIO, "gzip: output larger than deflateBound");
            break;
        }
    }
    if (!rc) {
        out->len = (size_t)((char *)zs.next_out - out->data);
        out->data[out->len] = '\0';
    }
    deflateEnd(&zs);
    return rc;
}

int sao_store__pq_compress(sao_buf *out, int codec, int zstd_level, const void *data, size_t len)
{
    switch (codec) {
    case SAO_PQ_UNCOMPRESSED:
        sao_buf_clear(out);
        return sao_buf_append(out, data, len);
    case SAO_PQ_ZSTD: {
        size_t bound = ZSTD_compressBound(len);
        buf_ensure(out, bound);
        size_t n = ZSTD_compress(out->data, bound, data, len, zstd_level);
        if (ZSTD_isError(n)) return sao_error_set(SAO_EIO, "zstd: %s", ZSTD_getErrorName(n));
        out->len = n;
        out->data[n] = '\0';
        return 0;
    }
    case SAO_PQ_SNAPPY: {
        size_t bound = snappy_max_compressed_length(len);
        buf_ensure(out, bound);
        size_t n = bound;
        if (snappy_compress(data, len, out->data, &n) != SNAPPY_OK)
            return sao_error_set(SAO_EIO, "snappy: compression failed");
        out->len = n;
        out->data[n] = '\0';
        return 0;
    }
    case SAO_PQ_GZIP:
        return gzip_compress(out, data, len);
    default:
        return sao_error_set(SAO_EINVAL, "cannot write codec %d", codec);
    }
}

static int gzip_decompress(const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 32: accept a gzip or a zlib wrapper, whichever the writer used. */
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return sao_error_set(SAO_EIO, "gzip: inflateInit2 failed");
    int rc = 0;
    size_t in_left = src_len, out_left = dst_len;
    for (;;) {
        uInt in_chunk = in_left > UINT_MAX / 2 ? UINT_MAX / 2 : (uInt)in_left;
        uInt out_chunk = out_left > UINT_MAX / 2 ? UINT_MAX / 2 : (uInt)out_left;
        zs.next_in = (Bytef *)(uintptr_t)src;
        zs.avail_in = in_chunk;
        zs.next_out = dst;
        zs.avail_out = out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t consumed = in_chunk - zs.avail_in, produced = out_chunk - zs.avail_out;
        src += consumed;
        in_left -= consumed;
        dst += produced;
        out_left -= produced;
        if (zr == Z_STREAM_END) {
            /* Concatenated gzip members are one stream to a reader. */
            if (in_left == 0) break;
            if (inflateReset(&zs) != Z_OK) {
                rc = sao_error_set(SAO_ECORRUPT, "gzip: cannot continue after a member");
                break;
            }
            continue;
        }
        if (zr == Z_OK && (consumed || produced)) continue;
        if (zr == Z_BUF_ERROR && out_left == 0)
            rc = sao_error_set(SAO_ECORRUPT, "gzip: page inflates past its declared %zu bytes",
                               dst_len);
        else
            rc = sao_error_set(SAO_ECORRUPT, "gzip: %s", zs.msg ? zs.msg : "stream is truncated");
        break;
    }
    inflateEnd(&zs);
    if (!rc && out_left)
        rc = sao_error_set(SAO_ECORRUPT, "gzip: page inflates to %zu bytes, header says %zu",
                           dst_len - out_left, dst_len);
    return rc;
}

int sao_store__pq_check_inflated_size(int codec, const void *src, size_t src_len, size_t size)
{
    if (codec == SAO_PQ_SNAPPY) {
        size_t n;
        if (snappy_uncompressed_length(src, src_len, &n) != SNAPPY_OK)
            return sao_error_set(SAO_ECORRUPT, "snappy: bad length header");
        if (n != size)
            return sao_error_set(SAO_ECORRUPT,
                                 "snappy: page inflates to %zu bytes, header says %zu", n, size);
    } else if (codec == SAO_PQ_ZSTD) {
        unsigned long long n = ZSTD_getFrameContentSize(src, src_len);
        if (n == ZSTD_CONTENTSIZE_ERROR)
            return sao_error_set(SAO_ECORRUPT, "zstd: not a zstd frame");
        /* Only a stream of one frame that records its size tells the whole size. */
        if (n != ZSTD_CONTENTSIZE_UNKNOWN &&
            ZSTD_findFrameCompressedSize(src, src_len) == src_len && n != size)
            return sao_error_set(SAO_ECORRUPT, "zstd: page inflates to %llu bytes, header says %zu",
                                 n, size);
    } else if (codec == SAO_PQ_GZIP) {
        if (size / 1032 > src_len + 64)
            return sao_error_set(SAO_ECORRUPT,
                                 "gzip: %zu bytes cannot inflate to the %zu the header says",
                                 src_len, size);
    }
    return 0;
}

/* Decompression contexts kept for reuse. A context costs about 7 us to set up, as much as
 * decompressing an 8 KiB page, and readers decompress many small pages; the pool holds one per
 * thread that decompresses at the same time (up to its size), and a context left in it at exit
 * is still reachable, not leaked. */
#define DCTX_POOL_SIZE 16
static ZSTD_DCtx *dctx_pool[DCTX_POOL_SIZE];
static size_t dctx_pooled;
static pthread_mutex_t dctx_lock = PTHREAD_MUTEX_INITIALIZER;

static ZSTD_DCtx *dctx_take(void)
{
    ZSTD_DCtx *dctx = NULL;
    pthread_mutex_lock(&dctx_lock);
    if (dctx_pooled) dctx = dctx_pool[--dctx_pooled];
    pthread_mutex_unlock(&dctx_lock);
    if (!dctx) dctx = ZSTD_createDCtx();
    if (!dctx) abort(); /* out of memory, which aborts everywhere (sao_malloc) */
    return dctx;
}

static void dctx_give(ZSTD_DCtx *dctx)
{
    pthread_mutex_lock(&dctx_lock);
    if (dctx_pooled < DCTX_POOL_SIZE) {
        dctx_pool[dctx_pooled++] = dctx;
        dctx = NULL;
    }
    pthread_mutex_unlock(&dctx_lock);
    ZSTD_freeDCtx(dctx);
}

int sao_store__pq_decompress(int codec, const void *src, size_t src_len, void *dst, size_t dst_len)
{
    switch (codec) {
    case SAO_PQ_UNCOMPRESSED:
        if (src_len != dst_len)
            return sao_error_set(SAO_ECORRUPT, "uncompressed page is %zu bytes, header says %zu",
                                 src_len, dst_len);
        if (dst_len) memcpy(dst, src, dst_len);
        return 0;
    case SAO_PQ_SNAPPY: {
        size_t n;
        if (snappy_uncompressed_length(src, src_len, &n) != SNAPPY_OK)
            return sao_error_set(SAO_ECORRUPT, "snappy: bad length header");
        if (n != dst_len)
            return sao_error_set(SAO_ECORRUPT,
                                 "snappy: page inflates to %zu bytes, header says %zu", n, dst_len);
        size_t out_len = dst_len;
        if (snappy_uncompress(src, src_len, dst, &out_len) != SNAPPY_OK || out_len != dst_len)
            return sao_error_set(SAO_ECORRUPT, "snappy: corrupt compressed page");
        return 0;
    }
    case SAO_PQ_ZSTD: {
        ZSTD_DCtx *dctx = dctx_take();
        size_t n = ZSTD_decompressDCtx(dctx, dst, dst_len, src, src_len);
        dctx_give(dctx);
        if (ZSTD_isError(n)) return sao_error_set(SAO_ECORRUPT, "zstd: %s", ZSTD_getErrorName(n));
        if (n != dst_len)
            return sao_error_set(SAO_ECORRUPT, "zstd: page inflates to %zu bytes, header says %zu",
                                 n, dst_len);
        return 0;
    }
    case SAO_PQ_GZIP:
        return gzip_decompress(src, src_len, dst, dst_len);
    default:
        return sao_error_set(SAO_EUNSUPPORTED, "compression codec %s (%d) is not supported",
                             sao_store__pq_codec_name(codec), codec);
    }
}
