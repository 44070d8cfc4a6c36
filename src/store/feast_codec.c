/*
 * Feast's online-store encodings, byte for byte: MurmurHash3 x86_32 field names, entity-key
 * serialization (versions 2 and 3), and the feast.types.Value and google.protobuf.Timestamp
 * protobufs, written and parsed by hand. Parsing treats its input as hostile.
 */
#include "store.h"

#include <string.h>

/* Longest double list we write or read: far above any model window, small enough that a hostile
 * length cannot make us allocate much. */
#define FEAST_MAX_LIST ((size_t)1 << 20)

/* Valid range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
#define TS_MIN_SECONDS INT64_C(-62135596800)
#define TS_MAX_SECONDS INT64_C(253402300799)

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* ---- MurmurHash3 x86_32 ---- */

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t murmur_mix_block(uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = rotl32(k, 15);
    k *= 0x1b873593u;
    return k;
}

uint32_t sao_murmur3_32(const void *data, size_t len, uint32_t seed)
{
    const uint8_t *bytes = data;
    size_t nblocks = len / 4;
    uint32_t h = seed;

    for (size_t i = 0; i < nblocks; i++) {
        const uint8_t *b = bytes + 4 * i;
        uint32_t k =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        h ^= murmur_mix_block(k);
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }

    const uint8_t *tail = bytes + 4 * nblocks;
    uint32_t k = 0;
    switch (len & 3) {
    case 3:
        k ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        k ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        k ^= tail[0];
        h ^= murmur_mix_block(k);
        break;
    default:
        break;
    }

    /* The reference takes the length as a 32-bit int; longer inputs wrap the same way. */
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* ---- small writers ---- */

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int append_u32le(sao_buf *out, uint32_t v)
{
    uint8_t b[4];
    put_u32le(b, v);
    return sao_buf_append(out, b, 4);
}

static size_t varint_encode(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int append_varint(sao_buf *out, uint64_t v)
{
    uint8_t b[10];
    return sao_buf_append(out, b, varint_encode(b, v));
}

static int append_tag(sao_buf *out, uint32_t field, int wire)
{
    return append_varint(out, (uint64_t)field << 3 | (uint64_t)wire);
}

/* Two's complement reinterpretation without implementation-defined conversions. */
static int64_t u64_to_i64(uint64_t u)
{
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

static int32_t u32_to_i32(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/* Puts a sao_buf back to `len` bytes after a failed append sequence. */
static void buf_truncate(sao_buf *out, size_t len)
{
    out->len = len;
    if (out->data) out->data[len] = '\0';
}

/* ---- entity keys ---- */

static int key_value_bytes(uint8_t *scratch, const void **bytes, size_t *len, uint32_t *type,
                           const sao_feast_value *v, const char *key)
{
    switch (v->type) {
    case SAO_FEAST_STRING:
    case SAO_FEAST_BYTES:
        if (v->as.str.len && !v->as.str.data)
            return sao_error_set(SAO_EINVAL, "entity key '%s': NULL string", key);
        if (v->type == SAO_FEAST_STRING &&
            !sao_utf8_valid((const uint8_t *)v->as.str.data, v->as.str.len))
            return sao_error_set(SAO_EINVAL, "entity key '%s': value is not valid UTF-8", key);
        if (v->as.str.len > UINT32_MAX)
            return sao_error_set(SAO_EINVAL, "entity key '%s': value too long", key);
        *bytes = v->as.str.data;
        *len = v->as.str.len;
        break;
    case SAO_FEAST_INT32:
        put_u32le(scratch, (uint32_t)v->as.i32);
        *bytes = scratch;
        *len = 4;
        break;
    case SAO_FEAST_INT64:
    case SAO_FEAST_UNIX_TIMESTAMP:
        put_u64le(scratch, (uint64_t)v->as.i64);
        *bytes = scratch;
        *len = 8;
        break;
    default:
        return sao_error_set(SAO_EINVAL,
                             "entity key '%s': value type %d cannot be part of an entity key", key,
                             (int)v->type);
    }
    *type = (uint32_t)v->type;
    return 0;
}

int sao_feast_serialize_entity_key(sao_buf *out, const char *const *join_keys,
                                   const sao_feast_value *values, size_t count, int version)
{
    SAO_ASSERT(out);
    size_t start = out->len;
    size_t *order = NULL;
    int rc = 0;

    if (version != 2 && version != 3) {
        rc = sao_error_set(SAO_EINVAL, "entity key serialization version %d (only 2 and 3)",
                           version);
        goto done;
    }
    if (count == 0 || !join_keys || !values) {
        rc = sao_error_set(SAO_EINVAL, "an entity key needs at least one join key");
        goto done;
    }
    if (count > UINT32_MAX) {
        rc = sao_error_set(SAO_EINVAL, "too many join keys");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        if (!join_keys[i] || !*join_keys[i]) {
            rc = sao_error_set(SAO_EINVAL, "join key %zu has no name", i);
            goto done;
        }
        /* Feast's version-3 length field counts characters of the name, not bytes; the two agree
         * only for ASCII, so anything else could not be byte-compatible. */
        for (const char *p = join_keys[i]; *p; p++) {
            if ((unsigned char)*p >= 0x80) {
                rc = sao_error_set(SAO_EINVAL, "join key name '%s' is not ASCII", join_keys[i]);
                goto done;
            }
        }
    }

    /* Feast sorts the (name, value) pairs by name; insertion sort, as keys are few. */
    order = sao_malloc(count * sizeof(*order));
    for (size_t i = 0; i < count; i++) {
        size_t j = i;
        while (j > 0 && strcmp(join_keys[order[j - 1]], join_keys[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        if (j > 0 && strcmp(join_keys[order[j - 1]], join_keys[i]) == 0) {
            rc = sao_error_set(SAO_EINVAL, "join key '%s' given twice", join_keys[i]);
            goto done;
        }
        order[j] = i;
    }

    if (version == 3 && (rc = append_u32le(out, (uint32_t)count))) goto done;
    for (size_t i = 0; i < count; i++) {
        const char *name = join_keys[order[i]];
        size_t name_len = strlen(name);
        if ((rc = append_u32le(out, SAO_FEAST_STRING))) goto done;
        if (version == 3 && (rc = append_u32le(out, (uint32_t)name_len))) goto done;
        if ((rc = sao_buf_append(out, name, name_len))) goto done;
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t scratch[8];
        const void *bytes;
        size_t len;
        uint32_t type = 0;
        rc = key_value_bytes(scratch, &bytes, &len, &type, &values[order[i]], join_keys[order[i]]);
        if (rc) goto done;
        if ((rc = append_u32le(out, type))) goto done;
        if ((rc = append_u32le(out, (uint32_t)len))) goto done;
        if ((rc = sao_buf_append(out, bytes, len))) goto done;
    }

done:
    if (rc) buf_truncate(out, start);
    sao_free(order);
    return rc;
}

int sao_feast_redis_key(sao_buf *out, const char *project, const char *join_key,
                        const char *entity_value)
{
    SAO_ASSERT(out);
    if (!project || !*project) return sao_error_set(SAO_EINVAL, "redis key: empty project name");
    if (!entity_value || !*entity_value)
        return sao_error_set(SAO_EINVAL, "redis key: empty entity value");
    size_t start = out->len;
    sao_feast_value v = {.type = SAO_FEAST_STRING};
    v.as.str.data = entity_value;
    v.as.str.len = strlen(entity_value);
    int rc = sao_feast_serialize_entity_key(out, &join_key, &v, 1, 3);
    if (!rc) rc = sao_buf_append(out, project, strlen(project));
    if (rc) buf_truncate(out, start);
    return rc;
}

void sao_feast_field(uint8_t out[4], const char *view, const char *feature)
{
    SAO_ASSERT(view && feature);
    size_t view_len = strlen(view), feature_len = strlen(feature);
    size_t len = view_len + 1 + feature_len;
    char stack[256];
    char *name = len <= sizeof(stack) ? stack : sao_malloc(len);
    memcpy(name, view, view_len);
    name[view_len] = ':';
    memcpy(name + view_len + 1, feature, feature_len);
    put_u32le(out, sao_murmur3_32(name, len, 0));
    if (name != stack) sao_free(name);
}

/* ---- feast.types.Value: encoding ---- */

/* Field numbers of the Value oneof (feast/types/Value.proto). */
enum {
    VAL_BYTES = 1,
    VAL_STRING = 2,
    VAL_INT32 = 3,
    VAL_INT64 = 4,
    VAL_DOUBLE = 5,
    VAL_FLOAT = 6,
    VAL_BOOL = 7,
    VAL_UNIX_TIMESTAMP = 8,
    VAL_DOUBLE_LIST = 15,
    VAL_NULL = 19
};

static const char *value_field_name(uint64_t field)
{
    static const char *const names[] = {
        [11] = "bytes_list_val",
        [12] = "string_list_val",
        [13] = "int32_list_val",
        [14] = "int64_list_val",
        [16] = "float_list_val",
        [17] = "bool_list_val",
        [18] = "unix_timestamp_list_val",
        [20] = "map_val",
        [21] = "map_list_val",
        [22] = "bytes_set_val",
        [23] = "string_set_val",
        [24] = "int32_set_val",
        [25] = "int64_set_val",
        [26] = "double_set_val",
        [27] = "float_set_val",
        [28] = "bool_set_val",
        [29] = "unix_timestamp_set_val",
        [30] = "uuid_val",
        [31] = "time_uuid_val",
        [32] = "uuid_list_val",
        [33] = "time_uuid_list_val",
    };
    if (field < SAO_ARRAY_LEN(names) && names[field]) return names[field];
    return NULL;
}

static int encode_bytes_field(sao_buf *out, uint32_t field, const char *data, size_t len)
{
    int rc = append_tag(out, field, WIRE_LEN);
    if (!rc) rc = append_varint(out, len);
    if (!rc) rc = sao_buf_append(out, data, len);
    return rc;
}

static int encode_double_list(sao_buf *out, const double *data, size_t count)
{
    if (count > FEAST_MAX_LIST)
        return sao_error_set(SAO_ETOOBIG, "double list of %zu values exceeds the limit of %zu",
                             count, (size_t)FEAST_MAX_LIST);
    if (count && !data) return sao_error_set(SAO_EINVAL, "double list: NULL data");
    uint8_t head[32];
    size_t n = 0;
    size_t payload = 8 * count;
    /* DoubleList { repeated double val = 1 [packed] }: an empty list is an empty message. */
    size_t inner = 0;
    if (count) {
        uint8_t tmp[10];
        inner = 1 + varint_encode(tmp, payload) + payload;
    }
    head[n++] = (uint8_t)(VAL_DOUBLE_LIST << 3 | WIRE_LEN);
    n += varint_encode(head + n, inner);
    if (count) {
        head[n++] = (uint8_t)(1 << 3 | WIRE_LEN);
        n += varint_encode(head + n, payload);
    }
    int rc = sao_buf_append(out, head, n);
    for (size_t i = 0; i < count && !rc; i++) {
        uint8_t b[8];
        put_u64le(b, f64_bits(data[i]));
        rc = sao_buf_append(out, b, 8);
    }
    return rc;
}

int sao_feast_encode_value(sao_buf *out, const sao_feast_value *value)
{
    SAO_ASSERT(out && value);
    size_t start = out->len;
    uint8_t b[16];
    size_t n = 0;
    int rc = 0;

    switch (value->type) {
    case SAO_FEAST_NULL:
        return 0; /* Feast writes an unset Value for a missing one */
    case SAO_FEAST_BYTES:
    case SAO_FEAST_STRING:
        if (value->as.str.len && !value->as.str.data) {
            rc = sao_error_set(SAO_EINVAL, "feast value: NULL string");
            break;
        }
        if (value->type == SAO_FEAST_STRING &&
            !sao_utf8_valid((const uint8_t *)value->as.str.data, value->as.str.len)) {
            rc = sao_error_set(SAO_EINVAL, "feast string value is not valid UTF-8");
            break;
        }
        rc = encode_bytes_field(out, value->type == SAO_FEAST_STRING ? VAL_STRING : VAL_BYTES,
                                value->as.str.data, value->as.str.len);
        break;
    case SAO_FEAST_INT32:
        /* int32 is sign-extended to 64 bits on the wire: -1 takes ten bytes. */
        b[n++] = VAL_INT32 << 3 | WIRE_VARINT;
        n += varint_encode(b + n, (uint64_t)(int64_t)value->as.i32);
        rc = sao_buf_append(out, b, n);
        break;
    case SAO_FEAST_INT64:
    case SAO_FEAST_UNIX_TIMESTAMP:
        b[n++] = (uint8_t)((value->type == SAO_FEAST_INT64 ? VAL_INT64 : VAL_UNIX_TIMESTAMP) << 3 |
                           WIRE_VARINT);
        n += varint_encode(b + n, (uint64_t)value->as.i64);
        rc = sao_buf_append(out, b, n);
        break;
    case SAO_FEAST_DOUBLE:
        b[n++] = VAL_DOUBLE << 3 | WIRE_FIXED64;
        put_u64le(b + n, f64_bits(value->as.f64));
        rc = sao_buf_append(out, b, n + 8);
        break;
    case SAO_FEAST_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &value->as.f32, sizeof(bits));
        b[n++] = VAL_FLOAT << 3 | WIRE_FIXED32;
        put_u32le(b + n, bits);
        rc = sao_buf_append(out, b, n + 4);
        break;
    }
    case SAO_FEAST_BOOL:
        b[0] = VAL_BOOL << 3 | WIRE_VARINT;
        b[1] = value->as.boolean ? 1 : 0;
        rc = sao_buf_append(out, b, 2);
        break;
    case SAO_FEAST_DOUBLE_LIST:
        rc = encode_double_list(out, value->as.f64_list.data, value->as.f64_list.len);
        break;
    default:
        rc = sao_error_set(SAO_EINVAL, "feast value: unknown type %d", (int)value->type);
        break;
    }
    if (rc) buf_truncate(out, start);
    return rc;
}

int sao_feast_encode_timestamp(sao_buf *out, int64_t seconds, int32_t nanos)
{
    SAO_ASSERT(out);
    if (seconds < TS_MIN_SECONDS || seconds > TS_MAX_SECONDS)
        return sao_error_set(SAO_EINVAL, "timestamp seconds %lld outside years 1..9999",
                             (long long)seconds);
    if (nanos < 0 || nanos > 999999999)
        return sao_error_set(SAO_EINVAL, "timestamp nanos %d outside 0..999999999", (int)nanos);
    /* proto3 leaves out fields holding their default: the epoch itself is zero bytes. */
    uint8_t b[24];
    size_t n = 0;
    if (seconds) {
        b[n++] = 1 << 3 | WIRE_VARINT;
        n += varint_encode(b + n, (uint64_t)seconds);
    }
    if (nanos) {
        b[n++] = 2 << 3 | WIRE_VARINT;
        n += varint_encode(b + n, (uint64_t)nanos);
    }
    return sao_buf_append(out, b, n);
}

/* ---- decoding untrusted bytes ---- */

typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

static int read_varint(cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (c->p == c->end) return sao_error_set(SAO_ECORRUPT, "protobuf: truncated varint");
        uint8_t byte = *c->p++;
        /* The tenth byte holds bit 63 only. */
        if (i == 9 && byte > 1) return sao_error_set(SAO_ECORRUPT, "protobuf: varint overflows");
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return sao_error_set(SAO_ECORRUPT, "protobuf: varint longer than ten bytes");
}

static int read_tag(cursor *c, uint32_t *field, int *wire)
{
    uint64_t tag;
    int rc = read_varint(c, &tag);
    if (rc) return rc;
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
        return sao_error_set(SAO_ECORRUPT, "protobuf: invalid field number %llu",
                             (unsigned long long)(tag >> 3));
    *field = (uint32_t)(tag >> 3);
    *wire = (int)(tag & 7);
    return 0;
}

static int read_fixed(cursor *c, size_t size, const uint8_t **bytes)
{
    if ((size_t)(c->end - c->p) < size)
        return sao_error_set(SAO_ECORRUPT, "protobuf: truncated %zu-byte field", size);
    *bytes = c->p;
    c->p += size;
    return 0;
}

static int read_len(cursor *c, const uint8_t **bytes, size_t *len)
{
    uint64_t n;
    int rc = read_varint(c, &n);
    if (rc) return rc;
    if (n > (uint64_t)(c->end - c->p))
        return sao_error_set(SAO_ECORRUPT,
                             "protobuf: length %llu runs past the end (%zu bytes left)",
                             (unsigned long long)n, (size_t)(c->end - c->p));
    *bytes = c->p;
    *len = (size_t)n;
    c->p += n;
    return 0;
}

static int expect_wire(const char *what, uint32_t field, int wire, int expected)
{
    if (wire == expected) return 0;
    return sao_error_set(SAO_ECORRUPT, "%s: field %u has wire type %d, expected %d", what,
                         (unsigned)field, wire, expected);
}

/* Counts (and checks) the doubles of a DoubleList message. */
static int double_list_scan(const uint8_t *data, size_t len, size_t *count, double *dest)
{
    cursor c = {data, data + len};
    size_t total = 0;
    while (c.p < c.end) {
        uint32_t field = 0;
        int wire = 0;
        int rc = read_tag(&c, &field, &wire);
        if (rc) return rc;
        if (field != 1)
            return sao_error_set(SAO_EUNSUPPORTED, "DoubleList: unknown field %u", (unsigned)field);
        const uint8_t *bytes = NULL;
        size_t n = 0;
        if (wire == WIRE_LEN) { /* packed, what every writer emits */
            if ((rc = read_len(&c, &bytes, &n))) return rc;
            if (n % 8)
                return sao_error_set(SAO_ECORRUPT,
                                     "DoubleList: packed length %zu is not a multiple of 8", n);
        } else if (wire == WIRE_FIXED64) { /* unpacked, which parsers must accept too */
            if ((rc = read_fixed(&c, 8, &bytes))) return rc;
            n = 8;
        } else {
            return expect_wire("DoubleList", field, wire, WIRE_LEN);
        }
        if (n / 8 > FEAST_MAX_LIST - total)
            return sao_error_set(SAO_ETOOBIG, "double list longer than the limit of %zu",
                                 (size_t)FEAST_MAX_LIST);
        if (dest) {
            for (size_t i = 0; i < n / 8; i++) {
                uint64_t bits = get_u64le(bytes + 8 * i);
                memcpy(&dest[total + i], &bits, 8);
            }
        }
        total += n / 8;
    }
    *count = total;
    return 0;
}

int sao_feast_decode_value(sao_feast_value *out, const void *data, size_t len, sao_arena *arena)
{
    SAO_ASSERT(out);
    if (len && !data) return sao_error_set(SAO_EINVAL, "feast value: NULL data");
    static const uint8_t empty[1];
    if (!len) data = empty; /* an empty Value may come as a NULL pointer */
    cursor c = {data, (const uint8_t *)data + len};
    sao_feast_value v;
    memset(&v, 0, sizeof(v));
    v.type = SAO_FEAST_NULL;
    /* Pass one checks everything and only notes where strings and lists lie, so that repeated
     * fields cost linear time and the arena sees one allocation. */
    const uint8_t *str = NULL, *list_from = NULL;
    size_t str_len = 0, list_count = 0;

    while (c.p < c.end) {
        const uint8_t *field_start = c.p;
        uint32_t field = 0;
        int wire = 0;
        uint64_t u = 0;
        const uint8_t *bytes = NULL;
        size_t n = 0;
        int rc = read_tag(&c, &field, &wire);
        if (rc) return rc;

        switch (field) {
        case VAL_BYTES:
        case VAL_STRING:
            if ((rc = expect_wire("feast value", field, wire, WIRE_LEN))) return rc;
            if ((rc = read_len(&c, &bytes, &n))) return rc;
            if (field == VAL_STRING && !sao_utf8_valid(bytes, n))
                return sao_error_set(SAO_ECORRUPT, "feast value: string is not valid UTF-8");
            v.type = field == VAL_STRING ? SAO_FEAST_STRING : SAO_FEAST_BYTES;
            str = bytes;
            str_len = n;
            break;
        case VAL_INT32:
        case VAL_INT64:
        case VAL_BOOL:
        case VAL_UNIX_TIMESTAMP:
        case VAL_NULL:
            if ((rc = expect_wire("feast value", field, wire, WIRE_VARINT))) return rc;
            if ((rc = read_varint(&c, &u))) return rc;
            memset(&v.as, 0, sizeof(v.as));
            if (field == VAL_INT32) {
                v.type = SAO_FEAST_INT32;
                v.as.i32 = u32_to_i32((uint32_t)u); /* protobuf keeps the low 32 bits */
            } else if (field == VAL_INT64 || field == VAL_UNIX_TIMESTAMP) {
                v.type = field == VAL_INT64 ? SAO_FEAST_INT64 : SAO_FEAST_UNIX_TIMESTAMP;
                v.as.i64 = u64_to_i64(u);
            } else if (field == VAL_BOOL) {
                v.type = SAO_FEAST_BOOL;
                v.as.boolean = u != 0;
            } else {
                v.type = SAO_FEAST_NULL;
            }
            break;
        case VAL_DOUBLE:
            if ((rc = expect_wire("feast value", field, wire, WIRE_FIXED64))) return rc;
            if ((rc = read_fixed(&c, 8, &bytes))) return rc;
            u = get_u64le(bytes);
            v.type = SAO_FEAST_DOUBLE;
            memcpy(&v.as.f64, &u, 8);
            break;
        case VAL_FLOAT: {
            if ((rc = expect_wire("feast value", field, wire, WIRE_FIXED32))) return rc;
            if ((rc = read_fixed(&c, 4, &bytes))) return rc;
            uint32_t bits = get_u32le(bytes);
            v.type = SAO_FEAST_FLOAT;
            memcpy(&v.as.f32, &bits, 4);
            break;
        }
        case VAL_DOUBLE_LIST: {
            size_t count;
            if ((rc = expect_wire("feast value", field, wire, WIRE_LEN))) return rc;
            if ((rc = read_len(&c, &bytes, &n))) return rc;
            if ((rc = double_list_scan(bytes, n, &count, NULL))) return rc;
            /* A message field seen again is merged: its repeated values concatenate. Any other
             * member of the oneof in between starts the list afresh. */
            if (v.type != SAO_FEAST_DOUBLE_LIST) {
                list_from = field_start;
                list_count = 0;
            }
            if (count > FEAST_MAX_LIST - list_count)
                return sao_error_set(SAO_ETOOBIG, "double list longer than the limit of %zu",
                                     (size_t)FEAST_MAX_LIST);
            list_count += count;
            v.type = SAO_FEAST_DOUBLE_LIST;
            break;
        }
        default: {
            const char *name = value_field_name(field);
            if (name)
                return sao_error_set(SAO_EUNSUPPORTED,
                                     "feast value: %s (field %u) is not supported", name,
                                     (unsigned)field);
            return sao_error_set(SAO_EUNSUPPORTED, "feast value: unknown field %u",
                                 (unsigned)field);
        }
        }
    }

    /* Pass two copies what the value points at into the arena. */
    if (v.type == SAO_FEAST_STRING || v.type == SAO_FEAST_BYTES) {
        if (!arena) return sao_error_set(SAO_EINVAL, "feast value: a string needs an arena");
        v.as.str.data = sao_arena_strndup(arena, (const char *)str, str_len);
        v.as.str.len = str_len;
    } else if (v.type == SAO_FEAST_DOUBLE_LIST) {
        double *dest = NULL;
        if (list_count) {
            if (!arena) return sao_error_set(SAO_EINVAL, "feast value: a list needs an arena");
            dest = sao_arena_alloc(arena, list_count * sizeof(double));
        }
        /* From list_from on, every field is a list already checked in pass one. */
        cursor lists = {list_from, c.end};
        size_t filled = 0;
        while (dest && lists.p < lists.end) {
            uint32_t field = 0;
            int wire = 0;
            const uint8_t *bytes = NULL;
            size_t n = 0, count = 0;
            int rc = read_tag(&lists, &field, &wire);
            if (!rc) rc = read_len(&lists, &bytes, &n);
            if (!rc) rc = double_list_scan(bytes, n, &count, dest + filled);
            SAO_ASSERT(rc == 0 && field == VAL_DOUBLE_LIST);
            filled += count;
        }
        SAO_ASSERT(filled == list_count);
        v.as.f64_list.data = dest;
        v.as.f64_list.len = list_count;
    }
    *out = v;
    return 0;
}

int sao_feast_decode_timestamp(int64_t *seconds, int32_t *nanos, const void *data, size_t len)
{
    SAO_ASSERT(seconds && nanos);
    if (len && !data) return sao_error_set(SAO_EINVAL, "timestamp: NULL data");
    static const uint8_t empty[1];
    if (!len) data = empty; /* the epoch is zero bytes, maybe a NULL pointer */
    cursor c = {data, (const uint8_t *)data + len};
    int64_t sec = 0;
    int32_t ns = 0;
    while (c.p < c.end) {
        uint32_t field = 0;
        int wire = 0;
        uint64_t u = 0;
        int rc = read_tag(&c, &field, &wire);
        if (rc) return rc;
        if (field != 1 && field != 2)
            return sao_error_set(SAO_EUNSUPPORTED, "timestamp: unknown field %u", (unsigned)field);
        if ((rc = expect_wire("timestamp", field, wire, WIRE_VARINT))) return rc;
        if ((rc = read_varint(&c, &u))) return rc;
        if (field == 1)
            sec = u64_to_i64(u);
        else
            ns = u32_to_i32((uint32_t)u);
    }
    if (sec < TS_MIN_SECONDS || sec > TS_MAX_SECONDS)
        return sao_error_set(SAO_ECORRUPT, "timestamp: seconds %lld outside years 1..9999",
                             (long long)sec);
    if (ns < 0 || ns > 999999999)
        return sao_error_set(SAO_ECORRUPT, "timestamp: nanos %d outside 0..999999999", (int)ns);
    *seconds = sec;
    *nanos = ns;
    return 0;
}
