/*
 * libFuzzer target for the safetensors loader (sao_model_from_safetensors): it may reject any
 * input but never crash, leak or read out of bounds, and a model it accepts must run and save.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        sao_log_set_level(SAO_LOG_OFF);
        sao_model_set_threads(1);
        ready = 1;
    }
    /* An exact-size heap copy, so that a read past the end is caught. */
    unsigned char *bytes = malloc(size ? size : 1);
    if (!bytes) return 0;
    memcpy(bytes, data, size);

    sao_model *model = NULL;
    if (sao_model_from_safetensors(&model, bytes, size) == 0) {
        const sao_model_config *cfg = sao_model_get_config(model);
        /* Keep accepted models cheap to run: the loader allows sizes up to 65536. */
        if ((size_t)cfg->input_size * (size_t)cfg->hidden_size < 4096 &&
            (size_t)cfg->hidden_size * (size_t)cfg->hidden_size * (size_t)cfg->num_layers < 65536 &&
            cfg->horizon < 4096) {
            float *x = calloc((size_t)cfg->input_size * 2, sizeof(float));
            float *y = calloc((size_t)cfg->horizon, sizeof(float));
            if (x && y && sao_model_forward(model, y, x, 1, 2, 0) != 0) abort();
            free(x);
            free(y);
        }
        char *out = NULL;
        size_t len = 0;
        if (sao_model_to_safetensors(&out, &len, model) != 0) abort();
        sao_model *again = NULL;
        if (sao_model_from_safetensors(&again, out, len) != 0) abort();
        sao_model_free(again);
        sao_free(out);
        sao_model_free(model);
    }
    free(bytes);
    return 0;
}
