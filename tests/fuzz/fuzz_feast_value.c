/*
 * libFuzzer target for the Feast decoders that read bytes from Redis: feast.types.Value and
 * google.protobuf.Timestamp (and the connection-string parser). Whatever decodes must re-encode
 * and decode to the same value.
 */
#include <string.h>

#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sao_log_set_level(SAO_LOG_OFF);
    return 0;
}

static void same_value(const sao_feast_value *a, const sao_feast_value *b)
{
    SAO_ASSERT(a->type == b->type);
    switch (a->type) {
    case SAO_FEAST_NULL:
        break;
    case SAO_FEAST_BYTES:
    case SAO_FEAST_STRING:
        SAO_ASSERT(a->as.str.len == b->as.str.len);
        SAO_ASSERT(!a->as.str.len || !memcmp(a->as.str.data, b->as.str.data, a->as.str.len));
        break;
    case SAO_FEAST_INT32:
        SAO_ASSERT(a->as.i32 == b->as.i32);
        break;
    case SAO_FEAST_INT64:
    case SAO_FEAST_UNIX_TIMESTAMP:
        SAO_ASSERT(a->as.i64 == b->as.i64);
        break;
    case SAO_FEAST_DOUBLE:
        SAO_ASSERT(!memcmp(&a->as.f64, &b->as.f64, sizeof(double)));
        break;
    case SAO_FEAST_FLOAT:
        SAO_ASSERT(!memcmp(&a->as.f32, &b->as.f32, sizeof(float)));
        break;
    case SAO_FEAST_BOOL:
        SAO_ASSERT(a->as.boolean == b->as.boolean);
        break;
    case SAO_FEAST_DOUBLE_LIST:
        SAO_ASSERT(a->as.f64_list.len == b->as.f64_list.len);
        SAO_ASSERT(!a->as.f64_list.len || !memcmp(a->as.f64_list.data, b->as.f64_list.data,
                                                  a->as.f64_list.len * sizeof(double)));
        break;
    }
}

static void fuzz_value(const uint8_t *data, size_t size)
{
    sao_arena *arena = sao_arena_new(4096);
    sao_buf once, twice;
    sao_buf_init(&once, 0);
    sao_buf_init(&twice, 0);
    sao_feast_value first, second;
    if (sao_feast_decode_value(&first, data, size, arena) == 0) {
        SAO_ASSERT(sao_feast_encode_value(&once, &first) == 0);
        SAO_ASSERT(sao_feast_decode_value(&second, once.data, once.len, arena) == 0);
        same_value(&first, &second);
        /* our encoding is canonical: encoding the decoded encoding changes nothing */
        SAO_ASSERT(sao_feast_encode_value(&twice, &second) == 0);
        SAO_ASSERT(once.len == twice.len &&
                   (!once.len || !memcmp(once.data, twice.data, once.len)));
    }
    sao_buf_dispose(&once);
    sao_buf_dispose(&twice);
    sao_arena_free(arena);
}

static void fuzz_timestamp(const uint8_t *data, size_t size)
{
    int64_t seconds, seconds2;
    int32_t nanos, nanos2;
    if (sao_feast_decode_timestamp(&seconds, &nanos, data, size) != 0) return;
    sao_buf b;
    sao_buf_init(&b, 0);
    SAO_ASSERT(sao_feast_encode_timestamp(&b, seconds, nanos) == 0);
    SAO_ASSERT(sao_feast_decode_timestamp(&seconds2, &nanos2, b.data, b.len) == 0);
    SAO_ASSERT(seconds == seconds2 && nanos == nanos2);
    sao_buf_dispose(&b);
}

static void fuzz_connection_string(const uint8_t *data, size_t size)
{
    char conn[1024];
    if (size >= sizeof(conn)) size = sizeof(conn) - 1;
    memcpy(conn, data, size);
    conn[size] = '\0';
    sao_online_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    if (sao_online_parse_connection_string(&cfg, conn) == 0) {
        SAO_ASSERT(cfg.host[0] && cfg.db >= 0);
        if (cfg.unix_socket) /* an absolute path that fits a socket address */
            SAO_ASSERT(cfg.host[0] == '/' && strlen(cfg.host) <= SAO_UNIX_SOCKET_PATH_MAX);
        else
            SAO_ASSERT(cfg.port >= 1 && cfg.port <= 65535);
        SAO_ASSERT(memchr(cfg.host, '\0', sizeof(cfg.host)) != NULL);
        SAO_ASSERT(memchr(cfg.password, '\0', sizeof(cfg.password)) != NULL);
    }
}

/* The first byte picks the decoder; the rest is its input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_value(data + 1, size - 1);
        break;
    case 1:
        fuzz_timestamp(data + 1, size - 1);
        break;
    default:
        fuzz_connection_string(data + 1, size - 1);
        break;
    }
    return 0;
}
