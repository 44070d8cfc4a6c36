/*
 * saving: models as safetensors files, the format PyTorch's ecosystem loads without running any
 * code. The loader treats the file as untrusted and checks every length, offset and shape.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

/* The header is a few kilobytes for any real model; the format itself caps it at 100 MB. */
#define MAX_HEADER_BYTES (16u << 20)
#define MAX_FILE_BYTES ((size_t)2 << 30)

static void put_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Floats are stored little-endian whatever the host's order. */
static void put_f32le(unsigned char *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(bits >> (8 * i));
}

static float get_f32le(const unsigned char *p)
{
    uint32_t bits =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

int sao_model_to_safetensors(char **out, size_t *len, const sao_model *model)
{
    const sao_model_config *cfg = &model->config;
    sao_buf header;
    sao_buf_init(&header, MAX_HEADER_BYTES);
    int rc = sao_buf_appendf(&header,
                             "{\"__metadata__\":{\"format\":\"pt\",\"arch\":\"%s\","
                             "\"input_size\":\"%d\",\"hidden_size\":\"%d\",\"num_layers\":\"%d\","
                             "\"horizon\":\"%d\",\"dropout\":\"%.9g\",\"seed\":\"%llu\"}",
                             sao_model_arch_name(cfg->arch), cfg->input_size, cfg->hidden_size,
                             cfg->num_layers, cfg->horizon, (double)cfg->dropout,
                             (unsigned long long)cfg->seed);
    /* Tensors are laid out in state_dict order, which is also their order in the flat array. */
    for (size_t i = 0; !rc && i < model->param_count; i++) {
        const sao_model_param *p = &model->params[i];
        size_t begin = p->offset * sizeof(float), end = begin + p->count * sizeof(float);
        if (p->ndim == 2)
            rc = sao_buf_appendf(&header,
                                 ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
                                 "\"data_offsets\":[%zu,%zu]}",
                                 p->name, p->shape[0], p->shape[1], begin, end);
        else
            rc = sao_buf_appendf(&header,
                                 ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                                 "\"data_offsets\":[%zu,%zu]}",
                                 p->name, p->shape[0], begin, end);
    }
    if (!rc) rc = sao_buf_append(&header, "}", 1);
    /* Pad with spaces so the tensor data starts 8-byte aligned, as the reference writer does. */
    while (!rc && header.len % 8) rc = sao_buf_append(&header, " ", 1);
    if (rc) goto done;

    size_t data_bytes = model->weight_count * sizeof(float);
    size_t total = 8 + header.len + data_bytes;
    unsigned char *bytes = sao_malloc(total);
    put_u64le(bytes, header.len);
    memcpy(bytes + 8, header.data, header.len);
    unsigned char *data = bytes + 8 + header.len;
    for (size_t i = 0; i < model->weight_count; i++) put_f32le(data + 4 * i, model->weights[i]);
    *out = (char *)bytes;
    *len = total;
done:
    sao_buf_dispose(&header);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Loading.
 */
static int meta_string(const char **out, json_t *meta, const char *key)
{
    json_t *v = json_object_get(meta, key);
    if (!v) return sao_error_set(SAO_ECORRUPT, "safetensors: __metadata__ lacks \"%s\"", key);
    if (!json_is_string(v))
        return sao_error_set(SAO_ECORRUPT, "safetensors: __metadata__.%s is not a string", key);
    *out = json_string_value(v);
    return 0;
}

static int meta_int(int *out, json_t *meta, const char *key)
{
    const char *s;
    int rc = meta_string(&s, meta, key);
    if (rc) return rc;
    long v;
    if (sao_parse_long(s, &v) != 0 || v < 1 || v > 65536)
        return sao_error_set(SAO_ECORRUPT, "safetensors: __metadata__.%s \"%s\" is not in 1..65536",
                             key, s);
    *out = (int)v;
    return 0;
}

static int config_from_metadata(sao_model_config *cfg, json_t *root)
{
    json_t *meta = json_object_get(root, "__metadata__");
    if (!meta || !json_is_object(meta))
        return sao_error_set(SAO_ECORRUPT, "safetensors: no __metadata__ object with the "
                                           "architecture");
    const char *s;
    int rc = meta_string(&s, meta, "arch");
    if (rc) return rc;
    if (sao_model_arch_parse(s, &cfg->arch) != 0)
        return sao_error_set(SAO_EFORMAT, "safetensors: unknown architecture \"%s\"", s);
    if ((rc = meta_int(&cfg->input_size, meta, "input_size")) ||
        (rc = meta_int(&cfg->hidden_size, meta, "hidden_size")) ||
        (rc = meta_int(&cfg->num_layers, meta, "num_layers")) ||
        (rc = meta_int(&cfg->horizon, meta, "horizon")))
        return rc;
    if (cfg->num_layers > 64)
        return sao_error_set(SAO_ECORRUPT, "safetensors: num_layers %d exceeds 64",
                             cfg->num_layers);

    if ((rc = meta_string(&s, meta, "dropout"))) return rc;
    double dropout;
    if (sao_parse_double(s, strlen(s), &dropout) != 0 || !(dropout >= 0.0 && dropout < 1.0))
        return sao_error_set(SAO_ECORRUPT, "safetensors: dropout \"%s\" is not in [0, 1)", s);
    cfg->dropout = (float)dropout;

    if ((rc = meta_string(&s, meta, "seed"))) return rc;
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        return sao_error_set(SAO_ECORRUPT, "safetensors: seed \"%s\" is not an unsigned integer",
                             s);
    cfg->seed = (uint64_t)seed;
    return 0;
}

/* Reads a JSON integer in [0, limit]. */
static int json_size(size_t *out, json_t *v, uint64_t limit)
{
    if (!json_is_integer(v)) return -1;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > limit) return -1;
    *out = (size_t)i;
    return 0;
}

typedef struct tensor_range {
    size_t begin, end, param;
} tensor_range;

static int compare_ranges(const void *a, const void *b)
{
    const tensor_range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Checks one header entry against the parameter of that name; fills its byte range. */
static int check_tensor(tensor_range *range, const sao_model *m, const char *name, json_t *entry,
                        size_t data_len)
{
    size_t index = m->param_count;
    for (size_t i = 0; i < m->param_count; i++)
        if (strcmp(m->params[i].name, name) == 0) index = i;
    if (index == m->param_count)
        return sao_error_set(SAO_ECORRUPT, "safetensors: unexpected tensor \"%s\" for a %s model",
                             name, sao_model_arch_name(m->config.arch));
    const sao_model_param *p = &m->params[index];
    if (!json_is_object(entry))
        return sao_error_set(SAO_ECORRUPT, "safetensors: entry \"%s\" is not an object", name);

    json_t *dtype = json_object_get(entry, "dtype");
    if (!json_is_string(dtype))
        return sao_error_set(SAO_ECORRUPT, "safetensors: \"%s\" has no dtype", name);
    if (strcmp(json_string_value(dtype), "F32") != 0)
        return sao_error_set(SAO_EFORMAT, "safetensors: \"%s\" has dtype %s, expected F32", name,
                             json_string_value(dtype));

    json_t *shape = json_object_get(entry, "shape");
    size_t dims[2] = {0, 1};
    int ok = json_is_array(shape) && json_array_size(shape) == (size_t)p->ndim;
    for (size_t d = 0; ok && d < (size_t)p->ndim; d++)
        ok = json_size(&dims[d], json_array_get(shape, d), UINT32_MAX) == 0;
    if (!ok || dims[0] != p->shape[0] || dims[1] != p->shape[1]) {
        if (p->ndim == 2)
            return sao_error_set(SAO_ECORRUPT, "safetensors: \"%s\" does not have shape [%zu, %zu]",
                                 name, p->shape[0], p->shape[1]);
        return sao_error_set(SAO_ECORRUPT, "safetensors: \"%s\" does not have shape [%zu]", name,
                             p->shape[0]);
    }

    json_t *offsets = json_object_get(entry, "data_offsets");
    size_t begin, end;
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        json_size(&begin, json_array_get(offsets, 0), data_len) != 0 ||
        json_size(&end, json_array_get(offsets, 1), data_len) != 0 || end < begin)
        return sao_error_set(SAO_ECORRUPT,
                             "safetensors: \"%s\" has data_offsets outside the %zu data bytes",
                             name, data_len);
    if (end - begin != p->count * sizeof(float))
        return sao_error_set(SAO_ECORRUPT, "safetensors: \"%s\" spans %zu bytes, expected %zu",
                             name, end - begin, p->count * sizeof(float));
    range->begin = begin;
    range->end = end;
    range->param = index;
    return 0;
}

int sao_model_from_safetensors(sao_model **out, const void *data, size_t len)
{
    const unsigned char *bytes = data;
    json_t *root = NULL;
    sao_model *m = NULL;
    tensor_range *ranges = NULL;
    int rc = 0;

    if (len < 8) {
        rc = sao_error_set(SAO_ECORRUPT, "safetensors: %zu bytes, shorter than the header length",
                           len);
        goto done;
    }
    uint64_t header_len = get_u64le(bytes);
    if (header_len > MAX_HEADER_BYTES) {
        rc = sao_error_set(SAO_ETOOBIG, "safetensors: header of %llu bytes exceeds %u",
                           (unsigned long long)header_len, MAX_HEADER_BYTES);
        goto done;
    }
    if (header_len < 2 || header_len > len - 8) {
        rc = sao_error_set(SAO_ECORRUPT, "safetensors: header of %llu bytes in a %zu-byte file",
                           (unsigned long long)header_len, len);
        goto done;
    }
    const size_t data_len = len - 8 - (size_t)header_len;
    const unsigned char *tensor_data = bytes + 8 + header_len;

    json_error_t jerr;
    root = json_loadb((const char *)bytes + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = sao_error_set(SAO_ECORRUPT, "safetensors: header is not valid JSON: %s", jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = sao_error_set(SAO_ECORRUPT, "safetensors: header is not a JSON object");
        goto done;
    }

    sao_model_config cfg;
    sao_model_config_init(&cfg);
    if ((rc = config_from_metadata(&cfg, root))) goto done;
    if ((rc = sao_model_new(&m, &cfg))) {
        rc = sao_error_wrap(SAO_ECORRUPT, "safetensors: ");
        goto done;
    }

    ranges = sao_calloc(m->param_count, sizeof(*ranges));
    size_t found = 0;
    const char *name;
    json_t *entry;
    json_object_foreach(root, name, entry)
    {
        if (strcmp(name, "__metadata__") == 0) continue;
        /* Keys are distinct (duplicates fail to parse), so once every parameter has been
         * found, check_tensor reports any further entry as unexpected. */
        tensor_range scratch;
        tensor_range *range = found < m->param_count ? &ranges[found] : &scratch;
        if ((rc = check_tensor(range, m, name, entry, data_len))) goto done;
        if (range == &scratch) {
            rc = sao_error_set(SAO_ECORRUPT, "safetensors: more tensors than the model has");
            goto done;
        }
        found++;
    }
    if (found != m->param_count) {
        rc = sao_error_set(SAO_ECORRUPT, "safetensors: %zu tensors, the model needs %zu", found,
                           m->param_count);
        goto done;
    }

    /* Sorted by offset, the ranges must tile the data exactly: no overlap, no gap, no tail. */
    qsort(ranges, found, sizeof(*ranges), compare_ranges);
    size_t expect = 0;
    for (size_t i = 0; i < found; i++) {
        if (ranges[i].begin != expect) {
            rc = sao_error_set(SAO_ECORRUPT,
                               "safetensors: tensor \"%s\" starts at byte %zu, "
                               "expected %zu (overlapping or sparse data)",
                               m->params[ranges[i].param].name, ranges[i].begin, expect);
            goto done;
        }
        expect = ranges[i].end;
    }
    if (expect != data_len) {
        rc = sao_error_set(SAO_ECORRUPT, "safetensors: %zu data bytes, the tensors cover %zu",
                           data_len, expect);
        goto done;
    }

    for (size_t i = 0; i < found; i++) {
        const sao_model_param *p = &m->params[ranges[i].param];
        const unsigned char *src = tensor_data + ranges[i].begin;
        for (size_t k = 0; k < p->count; k++) {
            float v = get_f32le(src + 4 * k);
            if (!isfinite(v)) {
                rc = sao_error_set(SAO_ECORRUPT, "safetensors: \"%s\"[%zu] is not finite", p->name,
                                   k);
                goto done;
            }
            m->weights[p->offset + k] = v;
        }
    }

    *out = m;
    m = NULL;
done:
    sao_free(ranges);
    sao_model_free(m);
    json_decref(root);
    return rc;
}

int sao_model_save(const sao_model *model, const char *path)
{
    char *bytes = NULL;
    size_t len = 0;
    int rc = sao_model_to_safetensors(&bytes, &len, model);
    if (!rc) rc = sao_file_write_atomic(path, bytes, len);
    if (rc) rc = sao_error_wrap(rc, "saving model %s: ", path);
    sao_free(bytes);
    return rc;
}

int sao_model_load(sao_model **out, const char *path)
{
    char *bytes = NULL;
    size_t len = 0;
    int rc = sao_file_read(&bytes, &len, path, MAX_FILE_BYTES);
    if (!rc) rc = sao_model_from_safetensors(out, bytes, len);
    if (rc) rc = sao_error_wrap(rc, "%s: ", path);
    sao_free(bytes);
    return rc;
}
