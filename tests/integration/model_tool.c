/*
 * Test helper for the PyTorch parity test: builds a seeded model, saves it as safetensors, and
 * records one eval-mode forward and one backward (inputs, outputs, d_out and every parameter
 * gradient) for tests/integration/torch_parity.py to reproduce with torch.nn.LSTM / nn.GRU.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* The tool's own generator for inputs and d_out, so that they do not depend on (or disturb) the
 * model's: splitmix64, uniform in (-scale, scale) with 24 random bits. */
static float next_uniform(uint64_t *state, float scale)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    float unit = (float)(z >> 40) * (1.0f / 16777216.0f);
    return (2.0f * unit - 1.0f) * scale;
}

/* Writes `count` floats as raw little-endian float32, whatever the host's byte order, so the
 * Python side can read them without knowing where they were made. */
static int write_f32(const char *dir, const char *name, const float *values, size_t count)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return sao_error_set(SAO_EINVAL, "path %s/%s is too long", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return sao_error_set(SAO_EIO, "cannot create %s", path);
    int rc = 0;
    for (size_t i = 0; i < count && !rc; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof(bits));
        unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                               (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
        if (fwrite(le, 1, sizeof(le), f) != sizeof(le))
            rc = sao_error_set(SAO_EIO, "cannot write %s", path);
    }
    if (fclose(f) != 0 && !rc) rc = sao_error_set(SAO_EIO, "cannot write %s", path);
    return rc;
}

static int join(char *buf, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
        return sao_error_set(SAO_EINVAL, "path %s/%s is too long", dir, name);
    return 0;
}

/* Saves the model built from `cfg`, reloads it (so that what runs is what PyTorch reads), runs
 * it and writes the record under `dir`. */
static int record(const char *dir, const sao_model_config *cfg, size_t batch, size_t time_steps)
{
    sao_model *built = NULL, *model = NULL, *grads_model = NULL;
    float *inputs = NULL, *out = NULL, *d_out = NULL;
    char path[4096];
    int rc;

    if ((rc = sao_model_new(&built, cfg))) goto done;
    if ((rc = join(path, sizeof(path), dir, "model.safetensors"))) goto done;
    if ((rc = sao_model_save(built, path))) goto done;
    if ((rc = sao_model_load(&model, path))) goto done;

    const size_t features = (size_t)cfg->input_size, horizon = (size_t)cfg->horizon;
    const size_t input_count = batch * time_steps * features, out_count = batch * horizon;
    inputs = sao_malloc(input_count * sizeof(float));
    out = sao_malloc(out_count * sizeof(float));
    d_out = sao_malloc(out_count * sizeof(float));
    /* Inputs span a few units, as standardized features do; a random d_out (rather than ones)
     * gives every output its own weight, so a swapped or misrouted output would show. */
    uint64_t state = cfg->seed ^ UINT64_C(0x5EED1A7A);
    for (size_t i = 0; i < input_count; i++) inputs[i] = next_uniform(&state, 2.0f);
    for (size_t i = 0; i < out_count; i++) d_out[i] = next_uniform(&state, 1.0f);

    if ((rc = sao_model_forward(model, out, inputs, batch, time_steps, 0))) goto done;
    if ((rc = sao_model_backward(model, d_out))) goto done;

    /* The gradients go out through the same saver, as a model of the same architecture whose
     * "weights" are the gradients: same tensor names and shapes, and no second format. */
    if ((rc = sao_model_new(&grads_model, cfg))) goto done;
    size_t count, grad_count;
    const float *grads = sao_model_grads(model, &grad_count);
    float *slots = sao_model_weights(grads_model, &count);
    SAO_ASSERT(count == grad_count);
    memcpy(slots, grads, count * sizeof(float));
    if ((rc = join(path, sizeof(path), dir, "grads.safetensors"))) goto done;
    if ((rc = sao_model_save(grads_model, path))) goto done;

    if ((rc = write_f32(dir, "inputs.f32", inputs, input_count))) goto done;
    if ((rc = write_f32(dir, "output.f32", out, out_count))) goto done;
    rc = write_f32(dir, "d_out.f32", d_out, out_count);
done:
    sao_free(inputs);
    sao_free(out);
    sao_free(d_out);
    sao_model_free(built);
    sao_model_free(model);
    sao_model_free(grads_model);
    return rc;
}

static int parse_int(const char *s, long min, long max, long *out)
{
    long v;
    if (sao_parse_long(s, &v) || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: sao_model_tool OUT_DIR --arch lstm|gru --input-size N --hidden-size N\n"
                    "           --num-layers N --horizon N --seed N --batch N --time-steps N\n"
                    "Writes OUT_DIR/model.safetensors, grads.safetensors, and inputs.f32,\n"
                    "output.f32, d_out.f32 (raw little-endian float32).\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc % 2) return usage();
    sao_model_config cfg;
    sao_model_config_init(&cfg);
    long input_size = 7, hidden = 8, layers = 1, horizon = 5, seed = 1, batch = 4, steps = 60;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *opt = argv[i], *val = argv[i + 1];
        int bad;
        if (strcmp(opt, "--arch") == 0)
            bad = sao_model_arch_parse(val, &cfg.arch) != 0;
        else if (strcmp(opt, "--input-size") == 0)
            bad = parse_int(val, 1, 65536, &input_size);
        else if (strcmp(opt, "--hidden-size") == 0)
            bad = parse_int(val, 1, 65536, &hidden);
        else if (strcmp(opt, "--num-layers") == 0)
            bad = parse_int(val, 1, 64, &layers);
        else if (strcmp(opt, "--horizon") == 0)
            bad = parse_int(val, 1, 65536, &horizon);
        else if (strcmp(opt, "--seed") == 0)
            bad = parse_int(val, 0, 0x7fffffffL, &seed);
        else if (strcmp(opt, "--batch") == 0)
            bad = parse_int(val, 1, 65536, &batch);
        else if (strcmp(opt, "--time-steps") == 0)
            bad = parse_int(val, 1, 65536, &steps);
        else
            bad = 1;
        if (bad) return usage();
    }
    cfg.input_size = (int)input_size;
    cfg.hidden_size = (int)hidden;
    cfg.num_layers = (int)layers;
    cfg.horizon = (int)horizon;
    cfg.seed = (uint64_t)seed;
    /* Dropout stays at its default: in eval mode both sides must ignore it. */

    /* One BLAS thread: the record is then the same on every run. */
    sao_model_set_threads(1);
    int rc = record(argv[1], &cfg, (size_t)batch, (size_t)steps);
    if (rc) {
        fprintf(stderr, "sao_model_tool: %s: %s\n", sao_errname(rc), sao_error_last());
        return 1;
    }
    return 0;
}
