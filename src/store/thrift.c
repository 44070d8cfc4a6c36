/*
 * The Thrift compact protocol, as Parquet uses it for its footer and page headers: an encoder
 * for the metadata we write and a bounds-checked decoder for metadata from any writer.
 */
#include "parquet_int.h"

#include <string.h>

/* ---- encoder -------------------------------------------------------------------------------- */

static void put_bytes(sao_thrift_out *out, const void *data, size_t len)
{
    /* The buffer has no cap, so appending cannot fail (allocation failure aborts). */
    int rc = sao_buf_append(out->buf, data, len);
    SAO_ASSERT(rc == 0);
}

static void put_byte(sao_thrift_out *out, uint8_t byte)
{
    put_bytes(out, &byte, 1);
}

void sao_store__thrift_out_init(sao_thrift_out *out, sao_buf *buf)
{
    out->buf = buf;
    out->depth = -1;
}

void sao_store__thrift_struct_begin(sao_thrift_out *out)
{
    SAO_ASSERT(out->depth + 1 < SAO_THRIFT_MAX_DEPTH);
    out->depth++;
    out->last_id[out->depth] = 0;
}

void sao_store__thrift_struct_end(sao_thrift_out *out)
{
    SAO_ASSERT(out->depth >= 0);
    put_byte(out, SAO_THRIFT_STOP);
    out->depth--;
}

void sao_store__thrift_put_varint(sao_thrift_out *out, uint64_t value)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (value >= 0x80) {
        tmp[n++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    tmp[n++] = (uint8_t)value;
    put_bytes(out, tmp, n);
}

static uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void sao_store__thrift_field(sao_thrift_out *out, int16_t id, uint8_t type)
{
    SAO_ASSERT(out->depth >= 0);
    int16_t last = out->last_id[out->depth];
    /* Short form when the id grows by 1..15 (our writers emit fields in ascending order). */
    if (id > last && id - last <= 15) {
        put_byte(out, (uint8_t)((id - last) << 4 | type));
    } else {
        put_byte(out, type);
        sao_store__thrift_put_varint(out, zigzag64(id));
    }
    out->last_id[out->depth] = id;
}

void sao_store__thrift_put_i32(sao_thrift_out *out, int32_t value)
{
    sao_store__thrift_put_varint(out, zigzag64(value));
}

void sao_store__thrift_put_i64(sao_thrift_out *out, int64_t value)
{
    sao_store__thrift_put_varint(out, zigzag64(value));
}

void sao_store__thrift_put_binary(sao_thrift_out *out, const void *data, size_t len)
{
    sao_store__thrift_put_varint(out, len);
    if (len) put_bytes(out, data, len);
}

void sao_store__thrift_list_begin(sao_thrift_out *out, uint8_t elem_type, size_t count)
{
    if (count < 15) {
        put_byte(out, (uint8_t)(count << 4 | elem_type));
    } else {
        put_byte(out, (uint8_t)(0xF0 | elem_type));
        sao_store__thrift_put_varint(out, count);
    }
}

void sao_store__thrift_field_i32(sao_thrift_out *out, int16_t id, int32_t value)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_I32);
    sao_store__thrift_put_i32(out, value);
}

void sao_store__thrift_field_i64(sao_thrift_out *out, int16_t id, int64_t value)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_I64);
    sao_store__thrift_put_i64(out, value);
}

void sao_store__thrift_field_i16(sao_thrift_out *out, int16_t id, int16_t value)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_I16);
    sao_store__thrift_put_varint(out, zigzag64(value));
}

void sao_store__thrift_field_i8(sao_thrift_out *out, int16_t id, int8_t value)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_I8);
    put_byte(out, (uint8_t)value);
}

void sao_store__thrift_field_bool(sao_thrift_out *out, int16_t id, int value)
{
    sao_store__thrift_field(out, id, value ? SAO_THRIFT_TRUE : SAO_THRIFT_FALSE);
}

void sao_store__thrift_field_binary(sao_thrift_out *out, int16_t id, const void *data, size_t len)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_BINARY);
    sao_store__thrift_put_binary(out, data, len);
}

void sao_store__thrift_field_string(sao_thrift_out *out, int16_t id, const char *s)
{
    sao_store__thrift_field_binary(out, id, s, strlen(s));
}

void sao_store__thrift_field_struct_begin(sao_thrift_out *out, int16_t id)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_STRUCT);
    sao_store__thrift_struct_begin(out);
}

void sao_store__thrift_field_list_begin(sao_thrift_out *out, int16_t id, uint8_t elem_type,
                                        size_t count)
{
    sao_store__thrift_field(out, id, SAO_THRIFT_LIST);
    sao_store__thrift_list_begin(out, elem_type, count);
}

/* ---- decoder -------------------------------------------------------------------------------- */

void sao_store__thrift_in_init(sao_thrift_in *in, const void *data, size_t len)
{
    in->pos = data;
    in->end = in->pos + len;
}

static int truncated(void)
{
    return sao_error_set(SAO_ECORRUPT, "thrift: structure is truncated");
}

int sao_store__thrift_get_varint(sao_thrift_in *in, uint64_t *out)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (in->pos >= in->end) return truncated();
        uint8_t byte = *in->pos++;
        /* The tenth byte may only carry the top bit of a 64-bit value. */
        if (shift == 63 && byte > 1)
            return sao_error_set(SAO_ECORRUPT, "thrift: varint overflows 64 bits");
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return sao_error_set(SAO_ECORRUPT, "thrift: varint longer than 10 bytes");
}

static int64_t unzigzag64(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int valid_type(uint8_t type)
{
    return type >= SAO_THRIFT_TRUE && type <= SAO_THRIFT_UUID;
}

int sao_store__thrift_next_field(sao_thrift_in *in, int16_t *last_id, uint8_t *type, int16_t *id)
{
    if (in->pos >= in->end) return truncated();
    uint8_t byte = *in->pos++;
    if (byte == SAO_THRIFT_STOP) {
        *type = SAO_THRIFT_STOP;
        *id = 0;
        return 0;
    }
    uint8_t t = byte & 0x0F;
    if (!valid_type(t))
        return sao_error_set(SAO_ECORRUPT, "thrift: unknown field type %u", (unsigned)t);
    int32_t field_id;
    if (byte >> 4) {
        field_id = (int32_t)*last_id + (byte >> 4);
    } else {
        uint64_t raw;
        int rc = sao_store__thrift_get_varint(in, &raw);
        if (rc) return rc;
        field_id = (int32_t)unzigzag64(raw);
    }
    if (field_id < INT16_MIN || field_id > INT16_MAX)
        return sao_error_set(SAO_ECORRUPT, "thrift: field id %ld out of range", (long)field_id);
    *type = t;
    *id = (int16_t)field_id;
    *last_id = (int16_t)field_id;
    return 0;
}

int sao_store__thrift_get_int(sao_thrift_in *in, uint8_t type, int64_t *out)
{
    if (type == SAO_THRIFT_I8) {
        if (in->pos >= in->end) return truncated();
        *out = (int8_t)*in->pos++;
        return 0;
    }
    if (type != SAO_THRIFT_I16 && type != SAO_THRIFT_I32 && type != SAO_THRIFT_I64)
        return sao_error_set(SAO_ECORRUPT, "thrift: expected an integer, found type %u",
                             (unsigned)type);
    uint64_t raw;
    int rc = sao_store__thrift_get_varint(in, &raw);
    if (rc) return rc;
    int64_t v = unzigzag64(raw);
    if ((type == SAO_THRIFT_I16 && (v < INT16_MIN || v > INT16_MAX)) ||
        (type == SAO_THRIFT_I32 && (v < INT32_MIN || v > INT32_MAX)))
        return sao_error_set(SAO_ECORRUPT, "thrift: integer %lld overflows its type", (long long)v);
    *out = v;
    return 0;
}

int sao_store__thrift_get_int_in(sao_thrift_in *in, uint8_t type, int64_t min, int64_t max,
                                 int64_t *out)
{
    int64_t v;
    int rc = sao_store__thrift_get_int(in, type, &v);
    if (rc) return rc;
    if (v < min || v > max)
        return sao_error_set(SAO_ECORRUPT, "value %lld outside [%lld, %lld]", (long long)v,
                             (long long)min, (long long)max);
    *out = v;
    return 0;
}

int sao_store__thrift_get_bool_field(uint8_t type, int *out)
{
    if (type == SAO_THRIFT_TRUE)
        *out = 1;
    else if (type == SAO_THRIFT_FALSE)
        *out = 0;
    else
        return sao_error_set(SAO_ECORRUPT, "thrift: expected a bool, found type %u",
                             (unsigned)type);
    return 0;
}

int sao_store__thrift_get_binary(sao_thrift_in *in, const uint8_t **data, size_t *len)
{
    uint64_t n;
    int rc = sao_store__thrift_get_varint(in, &n);
    if (rc) return rc;
    if (n > (uint64_t)(in->end - in->pos))
        return sao_error_set(SAO_ECORRUPT,
                             "thrift: binary of %llu bytes overruns the %zu bytes left",
                             (unsigned long long)n, (size_t)(in->end - in->pos));
    *data = in->pos;
    *len = (size_t)n;
    in->pos += n;
    return 0;
}

int sao_store__thrift_list_begin_read(sao_thrift_in *in, uint8_t *elem_type, size_t *count)
{
    if (in->pos >= in->end) return truncated();
    uint8_t byte = *in->pos++;
    uint64_t n = byte >> 4;
    uint8_t t = byte & 0x0F;
    if (n == 15) {
        int rc = sao_store__thrift_get_varint(in, &n);
        if (rc) return rc;
    }
    /* Writers disagree on the code of bool elements (1 or 2); both mean one byte each. */
    if (!valid_type(t))
        return sao_error_set(SAO_ECORRUPT, "thrift: unknown list element type %u", (unsigned)t);
    if (n > (uint64_t)(in->end - in->pos))
        return sao_error_set(SAO_ECORRUPT,
                             "thrift: list of %llu elements overruns the %zu bytes left",
                             (unsigned long long)n, (size_t)(in->end - in->pos));
    *elem_type = t;
    *count = (size_t)n;
    return 0;
}

static int skip_value(sao_thrift_in *in, uint8_t type, int depth, int in_container);

static int skip_struct(sao_thrift_in *in, int depth)
{
    int16_t last = 0;
    for (;;) {
        uint8_t type;
        int16_t id;
        int rc = sao_store__thrift_next_field(in, &last, &type, &id);
        if (rc) return rc;
        if (type == SAO_THRIFT_STOP) return 0;
        rc = skip_value(in, type, depth + 1, 0);
        if (rc) return rc;
    }
}

static int skip_fixed(sao_thrift_in *in, size_t n)
{
    if ((size_t)(in->end - in->pos) < n) return truncated();
    in->pos += n;
    return 0;
}

/* `in_container`: a bool inside a list, set or map is a byte, a bool field has no body. */
static int skip_value(sao_thrift_in *in, uint8_t type, int depth, int in_container)
{
    if (depth > SAO_THRIFT_MAX_DEPTH)
        return sao_error_set(SAO_ECORRUPT, "thrift: nesting deeper than %d", SAO_THRIFT_MAX_DEPTH);
    uint64_t ignored;
    switch (type) {
    case SAO_THRIFT_TRUE:
    case SAO_THRIFT_FALSE:
        return in_container ? skip_fixed(in, 1) : 0;
    case SAO_THRIFT_I8:
        return skip_fixed(in, 1);
    case SAO_THRIFT_I16:
    case SAO_THRIFT_I32:
    case SAO_THRIFT_I64:
        return sao_store__thrift_get_varint(in, &ignored);
    case SAO_THRIFT_DOUBLE:
        return skip_fixed(in, 8);
    case SAO_THRIFT_UUID:
        return skip_fixed(in, 16);
    case SAO_THRIFT_BINARY: {
        const uint8_t *data;
        size_t len;
        return sao_store__thrift_get_binary(in, &data, &len);
    }
    case SAO_THRIFT_STRUCT:
        return skip_struct(in, depth);
    case SAO_THRIFT_LIST:
    case SAO_THRIFT_SET: {
        uint8_t elem = 0;
        size_t count = 0;
        int rc = sao_store__thrift_list_begin_read(in, &elem, &count);
        for (size_t i = 0; i < count && !rc; i++) rc = skip_value(in, elem, depth + 1, 1);
        return rc;
    }
    case SAO_THRIFT_MAP: {
        uint64_t count;
        int rc = sao_store__thrift_get_varint(in, &count);
        if (rc || count == 0) return rc;
        if (in->pos >= in->end) return truncated();
        uint8_t kinds = *in->pos++;
        uint8_t key = kinds >> 4, value = kinds & 0x0F;
        if (!valid_type(key) || !valid_type(value))
            return sao_error_set(SAO_ECORRUPT, "thrift: unknown map element types 0x%02x",
                                 (unsigned)kinds);
        /* Each entry takes at least two bytes; a count past that is a lie. */
        if (count > (uint64_t)(in->end - in->pos) / 2) return truncated();
        for (uint64_t i = 0; i < count && !rc; i++) {
            rc = skip_value(in, key, depth + 1, 1);
            if (!rc) rc = skip_value(in, value, depth + 1, 1);
        }
        return rc;
    }
    default:
        return sao_error_set(SAO_ECORRUPT, "thrift: cannot skip type %u", (unsigned)type);
    }
}

int sao_store__thrift_skip(sao_thrift_in *in, uint8_t type)
{
    return skip_value(in, type, 0, 0);
}
