/*
 * registry: versioned models per ticker (weights + model.json card) and registry.json, which
 * lists the versions and names the one that serves. Every file is replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "data/data.h"
#include "model/model.h"

#define CARD_MAX_BYTES (64u << 20)
#define REGISTRY_MAX_BYTES (16u << 20)
#define CARD_SCHEMA 1

static const char *split_names[3] = {"train", "validation", "test"};

void sao_model_card_init(sao_model_card *card)
{
    memset(card, 0, sizeof(*card));
    sao_model_config_init(&card->model);
    card->context_length = 60;
    sao_strlcpy(card->target, "return", sizeof(card->target));
    card->target_center = 0.0;
    card->target_scale = 1.0;
    sao_strlcpy(card->scaler, "standard", sizeof(card->scaler));
}

void sao_model_card_dispose(sao_model_card *card)
{
    if (!card) return;
    sao_free(card->inputs);
    sao_eval_result_free(card->eval);
    sao_free(card->train_loss);
    sao_free(card->val_loss);
    memset(card, 0, sizeof(*card));
}

const char *sao_promote_policy_name(sao_promote_policy policy)
{
    switch (policy) {
    case SAO_PROMOTE_ALWAYS:
        return "always";
    case SAO_PROMOTE_IF_BETTER:
        return "if-better";
    case SAO_PROMOTE_NEVER:
        return "never";
    }
    return "?";
}

int sao_promote_policy_parse(const char *name, sao_promote_policy *out)
{
    for (int p = SAO_PROMOTE_ALWAYS; p <= SAO_PROMOTE_NEVER; p++) {
        if (strcmp(name, sao_promote_policy_name((sao_promote_policy)p)) == 0) {
            *out = (sao_promote_policy)p;
            return 0;
        }
    }
    return sao_error_set(SAO_EINVAL,
                         "promotion policy must be always, if-better or never, not '%s'", name);
}

/* ---- writing the card ---- */

/* JSON has no NaN or infinity: a metric that is not a number (persistence's directional
 * accuracy) is written as null and read back as NaN. */
static json_t *num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *date_json(int64_t day)
{
    char buf[16];
    sao_date_format(day, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *doubles_json(const double *values, size_t count)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++) json_array_append_new(arr, num(values ? values[i] : NAN));
    return arr;
}

static json_t *metrics_json(const sao_eval_metrics *m, int horizon)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "mae", num(m->mae), "rmse", num(m->rmse),
                     "mape", num(m->mape), "directional", num(m->directional), "step_mae",
                     doubles_json(m->step_mae, (size_t)horizon), "step_rmse",
                     doubles_json(m->step_rmse, (size_t)horizon), "step_mape",
                     doubles_json(m->step_mape, (size_t)horizon), "step_directional",
                     doubles_json(m->step_directional, (size_t)horizon));
}

/* UTC, to the second: "2024-09-12T21:05:00Z". */
static void format_created(char *buf, size_t size, int64_t us)
{
    int64_t day = us / SAO_US_PER_DAY;
    int64_t sec = (us % SAO_US_PER_DAY) / 1000000;
    sao_date_format(day, buf, size);
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "T%02d:%02d:%02dZ", (int)(sec / 3600), (int)(sec / 60 % 60),
             (int)(sec % 60));
}

/* Reads format_created's text back; -1 when it is not that. */
static int parse_created(const char *s, int64_t *us)
{
    int64_t day;
    if (strlen(s) != 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
        sao_date_parse(s, 10, &day) != 0)
        return -1;
    int part[3];
    for (int i = 0; i < 3; i++) {
        const char *p = s + 11 + 3 * i;
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return -1;
        part[i] = (p[0] - '0') * 10 + (p[1] - '0');
    }
    if (part[0] > 23 || part[1] > 59 || part[2] > 59) return -1;
    *us = day * SAO_US_PER_DAY + ((int64_t)part[0] * 3600 + part[1] * 60 + part[2]) * 1000000;
    return 0;
}

static json_t *card_json(const sao_model_card *c)
{
    const int horizon = c->model.horizon;
    json_t *root = json_object();
    char created[32];
    format_created(created, sizeof(created), c->created_us);
    char seed[32];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)c->model.seed);
    char shuffle_seed[32];
    snprintf(shuffle_seed, sizeof(shuffle_seed), "%llu", (unsigned long long)c->shuffle_seed);

    json_object_set_new(root, "schema", json_integer(CARD_SCHEMA));
    json_object_set_new(root, "ticker", json_string(c->ticker));
    json_object_set_new(root, "version", json_integer(c->version));
    json_object_set_new(root, "created", json_string(created));
    json_object_set_new(root, "architecture",
                        json_pack("{s:s,s:i,s:i,s:i,s:i,s:f}", "arch",
                                  sao_model_arch_name(c->model.arch), "input_size",
                                  c->model.input_size, "hidden_size", c->model.hidden_size,
                                  "num_layers", c->model.num_layers, "horizon", horizon, "dropout",
                                  (double)c->model.dropout));
    json_object_set_new(root, "context_length", json_integer(c->context_length));
    json_object_set_new(root, "horizon", json_integer(horizon));
    json_object_set_new(root, "target", json_string(c->target));
    /* What turns a price model's outputs back into closes. */
    if (strcmp(c->target, "price") == 0 && isfinite(c->target_center) &&
        isfinite(c->target_scale) && c->target_scale != 0.0)
        json_object_set_new(
            root, "target_scaler",
            json_pack("{s:f,s:f}", "center", c->target_center, "scale", c->target_scale));

    json_t *inputs = json_array();
    for (int i = 0; i < c->model.input_size && c->inputs; i++) {
        const sao_card_input *in = &c->inputs[i];
        json_array_append_new(
            inputs, json_pack("{s:s,s:s,s:s,s:{s:o,s:o},s:{s:o,s:o,s:o}}", "name", in->name,
                              "source", in->source, "formula", in->formula, "scaler", "center",
                              num(in->scaler_center), "scale", num(in->scaler_scale), "reference",
                              "mean", num(in->mean), "std", num(in->std), "quantiles",
                              doubles_json(in->quantiles, SAO_CARD_QUANTILES)));
    }
    json_object_set_new(root, "inputs", inputs);
    json_object_set_new(root, "scaler", json_string(c->scaler));

    json_t *splits = json_object();
    for (int s = 0; s < 3; s++)
        json_object_set_new(splits, split_names[s],
                            json_pack("{s:o,s:o}", "first", date_json(c->split_first[s]), "last",
                                      date_json(c->split_last[s])));
    json_object_set_new(root, "data",
                        json_pack("{s:o,s:o,s:f,s:f,s:o}", "first", date_json(c->first_day), "last",
                                  date_json(c->last_day), "train_fraction", c->train_fraction,
                                  "val_fraction", c->val_fraction, "splits", splits));

    if (c->eval) {
        const sao_eval_result *e = c->eval;
        json_object_set_new(root, "metrics",
                            json_pack("{s:I,s:i,s:o,s:o,s:o,s:o,s:b,s:o}", "windows",
                                      (json_int_t)e->windows, "horizon", e->horizon, "drift_return",
                                      num(e->drift_return), "model",
                                      metrics_json(&e->model, e->horizon), "persistence",
                                      metrics_json(&e->persistence, e->horizon), "drift",
                                      metrics_json(&e->drift, e->horizon), "beats_persistence",
                                      e->beats_persistence, "mae_ratio", num(e->mae_ratio)));
        json_object_set_new(root, "beats_persistence", json_boolean(e->beats_persistence));
    } else {
        json_object_set_new(root, "metrics", json_null());
        json_object_set_new(root, "beats_persistence", json_null());
    }

    json_object_set_new(
        root, "training",
        json_pack(
            "{s:o,s:i,s:i,s:o,s:o,s:f,s:I,s:s,s:s,s:i,s:f}", "best_val_loss", num(c->best_val_loss),
            "epochs_run", c->epochs_run, "best_epoch", c->best_epoch, "train_loss",
            doubles_json(c->train_loss, c->train_loss ? (size_t)c->epochs_run : 0), "val_loss",
            doubles_json(c->val_loss, c->val_loss ? (size_t)c->epochs_run : 0), "learning_rate",
            c->learning_rate, "batch_size", (json_int_t)c->batch_size, "seed", seed, "shuffle_seed",
            shuffle_seed, "threads", c->threads, "seconds", c->train_seconds));
    if (c->parent_ticker[0])
        json_object_set_new(root, "parent",
                            json_pack("{s:s,s:i,s:s}", "ticker", c->parent_ticker, "version",
                                      c->parent_version, "transfer", c->transfer));
    else
        json_object_set_new(root, "parent", json_null());
    return root;
}

static int dump_json(char **out, const json_t *root, const char *what)
{
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (!text) return sao_error_set(SAO_EINVAL, "%s: could not encode as JSON", what);
    size_t len = strlen(text);
    char *copy = sao_malloc(len + 2);
    memcpy(copy, text, len);
    copy[len] = '\n';
    copy[len + 1] = '\0';
    free(text);
    *out = copy;
    return 0;
}

int sao_model_card_to_json(char **out, const sao_model_card *card)
{
    json_t *root = card_json(card);
    int rc = dump_json(out, root, "model.json");
    json_decref(root);
    return rc;
}

/* ---- reading the card ---- */

/* A field path for messages ("inputs[2].scaler.center") and the lookups that fail with it. */
static int missing(const char *field, const char *want)
{
    return sao_error_set(SAO_ECORRUPT, "model.json: field '%s' is missing or not %s", field, want);
}

static int get_int(int *out, const json_t *obj, const char *key, const char *path)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
        json_integer_value(v) > INT32_MAX)
        return missing(path, "an integer");
    *out = (int)json_integer_value(v);
    return 0;
}

/* A number, or null for NaN (see num()). */
static int get_num(double *out, const json_t *obj, const char *key, const char *path)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_null(v)) {
        *out = NAN;
        return 0;
    }
    if (!json_is_number(v)) return missing(path, "a number");
    *out = json_number_value(v);
    return 0;
}

static int get_str(char *buf, size_t size, const json_t *obj, const char *key, const char *path)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) >= size) return missing(path, "a string");
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_date(int64_t *out, const json_t *obj, const char *key, const char *path)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || sao_date_parse(json_string_value(v), json_string_length(v), out) != 0)
        return missing(path, "a YYYY-MM-DD date");
    return 0;
}

static int get_u64(uint64_t *out, const json_t *obj, const char *key, const char *path)
{
    char buf[32];
    int rc = get_str(buf, sizeof(buf), obj, key, path);
    if (rc) return rc;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || end == buf || *end || buf[0] == '-') return missing(path, "a decimal string");
    *out = (uint64_t)v;
    return 0;
}

/* An array of exactly `count` numbers (or nulls) into a new array (*out: sao_free). */
static int get_doubles(double **out, const json_t *obj, const char *key, size_t count,
                       const char *path)
{
    const json_t *arr = json_object_get(obj, key);
    if (!json_is_array(arr) || json_array_size(arr) != count) {
        char want[48];
        snprintf(want, sizeof(want), "an array of %zu numbers", count);
        return missing(path, want);
    }
    double *values = sao_malloc((count ? count : 1) * sizeof(double));
    for (size_t i = 0; i < count; i++) {
        const json_t *v = json_array_get(arr, i);
        if (json_is_null(v))
            values[i] = NAN;
        else if (json_is_number(v))
            values[i] = json_number_value(v);
        else {
            sao_free(values);
            return missing(path, "an array of numbers");
        }
    }
    *out = values;
    return 0;
}

static int read_metrics(sao_eval_metrics *m, const json_t *obj, const char *name, int horizon)
{
    char path[64];
    int rc;
    if (!json_is_object(obj)) {
        snprintf(path, sizeof(path), "metrics.%s", name);
        return missing(path, "an object");
    }
    static const char *const scalars[] = {"mae", "rmse", "mape", "directional"};
    double *dst[] = {&m->mae, &m->rmse, &m->mape, &m->directional};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "metrics.%s.%s", name, scalars[i]);
        if ((rc = get_num(dst[i], obj, scalars[i], path))) return rc;
    }
    static const char *const steps[] = {"step_mae", "step_rmse", "step_mape", "step_directional"};
    double **sdst[] = {&m->step_mae, &m->step_rmse, &m->step_mape, &m->step_directional};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "metrics.%s.%s", name, steps[i]);
        if ((rc = get_doubles(sdst[i], obj, steps[i], (size_t)horizon, path))) return rc;
    }
    return 0;
}

static int read_eval(sao_eval_result **out, const json_t *obj)
{
    sao_eval_result *e = sao_calloc(1, sizeof(*e));
    json_int_t windows;
    int rc = 0;
    const json_t *w = json_object_get(obj, "windows");
    if (!json_is_integer(w) || (windows = json_integer_value(w)) < 0) {
        rc = missing("metrics.windows", "a count");
        goto done;
    }
    e->windows = (size_t)windows;
    if ((rc = get_int(&e->horizon, obj, "horizon", "metrics.horizon"))) goto done;
    if (e->horizon < 1 || e->horizon > 65536) {
        rc = missing("metrics.horizon", "a horizon in 1..65536");
        goto done;
    }
    if ((rc = get_num(&e->drift_return, obj, "drift_return", "metrics.drift_return")) ||
        (rc = get_num(&e->mae_ratio, obj, "mae_ratio", "metrics.mae_ratio")) ||
        (rc = read_metrics(&e->model, json_object_get(obj, "model"), "model", e->horizon)) ||
        (rc = read_metrics(&e->persistence, json_object_get(obj, "persistence"), "persistence",
                           e->horizon)) ||
        (rc = read_metrics(&e->drift, json_object_get(obj, "drift"), "drift", e->horizon)))
        goto done;
    const json_t *beats = json_object_get(obj, "beats_persistence");
    if (!json_is_boolean(beats)) {
        rc = missing("metrics.beats_persistence", "a boolean");
        goto done;
    }
    e->beats_persistence = json_is_true(beats);
    *out = e;
    e = NULL;
done:
    sao_eval_result_free(e);
    return rc;
}

static int read_input(sao_card_input *in, const json_t *obj, size_t index)
{
    char path[96];
    int rc;
    snprintf(path, sizeof(path), "inputs[%zu]", index);
    if (!json_is_object(obj)) return missing(path, "an object");
    snprintf(path, sizeof(path), "inputs[%zu].name", index);
    if ((rc = get_str(in->name, sizeof(in->name), obj, "name", path))) return rc;
    snprintf(path, sizeof(path), "inputs[%zu].source", index);
    if ((rc = get_str(in->source, sizeof(in->source), obj, "source", path))) return rc;
    snprintf(path, sizeof(path), "inputs[%zu].formula", index);
    if ((rc = get_str(in->formula, sizeof(in->formula), obj, "formula", path))) return rc;
    const json_t *scaler = json_object_get(obj, "scaler");
    snprintf(path, sizeof(path), "inputs[%zu].scaler", index);
    if (!json_is_object(scaler)) return missing(path, "an object");
    snprintf(path, sizeof(path), "inputs[%zu].scaler.center", index);
    if ((rc = get_num(&in->scaler_center, scaler, "center", path))) return rc;
    snprintf(path, sizeof(path), "inputs[%zu].scaler.scale", index);
    if ((rc = get_num(&in->scaler_scale, scaler, "scale", path))) return rc;
    if (!isfinite(in->scaler_center) || !(in->scaler_scale > 0.0))
        return missing(path, "a finite center and a positive scale");
    const json_t *ref = json_object_get(obj, "reference");
    snprintf(path, sizeof(path), "inputs[%zu].reference", index);
    if (!json_is_object(ref)) return missing(path, "an object");
    snprintf(path, sizeof(path), "inputs[%zu].reference.mean", index);
    if ((rc = get_num(&in->mean, ref, "mean", path))) return rc;
    snprintf(path, sizeof(path), "inputs[%zu].reference.std", index);
    if ((rc = get_num(&in->std, ref, "std", path))) return rc;
    snprintf(path, sizeof(path), "inputs[%zu].reference.quantiles", index);
    double *q = NULL;
    if ((rc = get_doubles(&q, ref, "quantiles", SAO_CARD_QUANTILES, path))) return rc;
    memcpy(in->quantiles, q, sizeof(in->quantiles));
    sao_free(q);
    return 0;
}

static int read_card(sao_model_card *c, const json_t *root)
{
    int rc, schema;
    if (!json_is_object(root)) return missing("(root)", "an object");
    if ((rc = get_int(&schema, root, "schema", "schema"))) return rc;
    if (schema != CARD_SCHEMA)
        return sao_error_set(SAO_EFORMAT, "model.json: schema %d, this build reads %d", schema,
                             CARD_SCHEMA);
    if ((rc = get_str(c->ticker, sizeof(c->ticker), root, "ticker", "ticker")) ||
        (rc = get_int(&c->version, root, "version", "version")))
        return rc;
    /* Informational: a card without it reads as created at an unknown time (0). */
    c->created_us = 0;
    if (json_object_get(root, "created")) {
        char created[32];
        if ((rc = get_str(created, sizeof(created), root, "created", "created"))) return rc;
        if (parse_created(created, &c->created_us) != 0)
            return sao_error_set(SAO_ECORRUPT,
                                 "model.json: created '%s' is not a UTC time like "
                                 "2024-09-12T21:05:00Z",
                                 created);
    }

    const json_t *arch = json_object_get(root, "architecture");
    if (!json_is_object(arch)) return missing("architecture", "an object");
    char arch_name[16];
    double dropout;
    if ((rc = get_str(arch_name, sizeof(arch_name), arch, "arch", "architecture.arch"))) return rc;
    if (sao_model_arch_parse(arch_name, &c->model.arch) != 0)
        return sao_error_set(SAO_ECORRUPT, "model.json: unknown architecture '%s'", arch_name);
    if ((rc = get_int(&c->model.input_size, arch, "input_size", "architecture.input_size")) ||
        (rc = get_int(&c->model.hidden_size, arch, "hidden_size", "architecture.hidden_size")) ||
        (rc = get_int(&c->model.num_layers, arch, "num_layers", "architecture.num_layers")) ||
        (rc = get_int(&c->model.horizon, arch, "horizon", "architecture.horizon")) ||
        (rc = get_num(&dropout, arch, "dropout", "architecture.dropout")))
        return rc;
    /* Range-checked before the conversion: a double past float's range does not convert. */
    if (!(dropout >= 0.0 && dropout < 1.0))
        return missing("architecture.dropout", "a rate in [0, 1)");
    c->model.dropout = (float)dropout;
    if (c->model.input_size < 1 || c->model.input_size > 65536 || c->model.horizon < 1 ||
        c->model.horizon > 65536)
        return sao_error_set(SAO_ECORRUPT, "model.json: input size %d or horizon %d out of range",
                             c->model.input_size, c->model.horizon);
    if ((rc = get_int(&c->context_length, root, "context_length", "context_length")) ||
        (rc = get_str(c->target, sizeof(c->target), root, "target", "target")) ||
        (rc = get_str(c->scaler, sizeof(c->scaler), root, "scaler", "scaler")))
        return rc;
    if (c->context_length < 1) return missing("context_length", "a positive integer");
    const int price = strcmp(c->target, "price") == 0;
    c->target_center = 0.0;
    c->target_scale = price ? NAN : 1.0; /* a price card without it: not recorded */
    const json_t *target_scaler = json_object_get(root, "target_scaler");
    if (target_scaler) {
        if (!price)
            return sao_error_set(SAO_ECORRUPT, "model.json: target_scaler on %s targets",
                                 c->target);
        if (!json_is_object(target_scaler)) return missing("target_scaler", "an object");
        if ((rc = get_num(&c->target_center, target_scaler, "center", "target_scaler.center")) ||
            (rc = get_num(&c->target_scale, target_scaler, "scale", "target_scaler.scale")))
            return rc;
        if (!isfinite(c->target_center) || !isfinite(c->target_scale) || c->target_scale == 0.0)
            return sao_error_set(SAO_ECORRUPT,
                                 "model.json: target_scaler (%g, %g) is not a usable scaling",
                                 c->target_center, c->target_scale);
    }

    const json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) != (size_t)c->model.input_size)
        return sao_error_set(SAO_ECORRUPT,
                             "model.json: 'inputs' must list %d inputs (architecture.input_size)",
                             c->model.input_size);
    c->inputs = sao_calloc((size_t)c->model.input_size, sizeof(*c->inputs));
    for (size_t i = 0; i < json_array_size(inputs); i++)
        if ((rc = read_input(&c->inputs[i], json_array_get(inputs, i), i))) return rc;

    const json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) return missing("data", "an object");
    if ((rc = get_date(&c->first_day, data, "first", "data.first")) ||
        (rc = get_date(&c->last_day, data, "last", "data.last")) ||
        (rc = get_num(&c->train_fraction, data, "train_fraction", "data.train_fraction")) ||
        (rc = get_num(&c->val_fraction, data, "val_fraction", "data.val_fraction")))
        return rc;
    /* As preparation takes them: what a backtest of the version divides its rows with. */
    if (!(c->train_fraction > 0.0 && c->val_fraction > 0.0 &&
          c->train_fraction + c->val_fraction < 1.0))
        return missing("data.train_fraction", "a share, with val_fraction, that leaves a test");
    const json_t *splits = json_object_get(data, "splits");
    if (!json_is_object(splits)) return missing("data.splits", "an object");
    for (int s = 0; s < 3; s++) {
        char path[64];
        const json_t *sp = json_object_get(splits, split_names[s]);
        snprintf(path, sizeof(path), "data.splits.%s", split_names[s]);
        if (!json_is_object(sp)) return missing(path, "an object");
        snprintf(path, sizeof(path), "data.splits.%s.first", split_names[s]);
        if ((rc = get_date(&c->split_first[s], sp, "first", path))) return rc;
        snprintf(path, sizeof(path), "data.splits.%s.last", split_names[s]);
        if ((rc = get_date(&c->split_last[s], sp, "last", path))) return rc;
    }

    const json_t *metrics = json_object_get(root, "metrics");
    if (json_is_object(metrics)) {
        if ((rc = read_eval(&c->eval, metrics))) return rc;
    } else if (!json_is_null(metrics)) {
        return missing("metrics", "an object or null");
    }

    const json_t *tr = json_object_get(root, "training");
    if (!json_is_object(tr)) return missing("training", "an object");
    json_int_t batch;
    const json_t *b = json_object_get(tr, "batch_size");
    if (!json_is_integer(b) || (batch = json_integer_value(b)) < 0)
        return missing("training.batch_size", "a count");
    c->batch_size = (size_t)batch;
    if ((rc = get_num(&c->best_val_loss, tr, "best_val_loss", "training.best_val_loss")) ||
        (rc = get_int(&c->epochs_run, tr, "epochs_run", "training.epochs_run")) ||
        (rc = get_int(&c->best_epoch, tr, "best_epoch", "training.best_epoch")) ||
        (rc = get_num(&c->learning_rate, tr, "learning_rate", "training.learning_rate")) ||
        (rc = get_u64(&c->model.seed, tr, "seed", "training.seed")) ||
        (rc = get_u64(&c->shuffle_seed, tr, "shuffle_seed", "training.shuffle_seed")) ||
        (rc = get_int(&c->threads, tr, "threads", "training.threads")) ||
        (rc = get_num(&c->train_seconds, tr, "seconds", "training.seconds")))
        return rc;
    if (c->epochs_run < 0 || c->epochs_run > 1000000)
        return missing("training.epochs_run", "a count");
    /* The writer has no null for these: a card must hold what it can write back. */
    if (!(isfinite(c->learning_rate) && c->learning_rate >= 0.0))
        return missing("training.learning_rate", "a finite rate");
    if (!(isfinite(c->train_seconds) && c->train_seconds >= 0.0))
        return missing("training.seconds", "a finite duration");
    const json_t *tl = json_object_get(tr, "train_loss");
    if (json_is_array(tl) && json_array_size(tl) > 0) {
        if ((rc = get_doubles(&c->train_loss, tr, "train_loss", (size_t)c->epochs_run,
                              "training.train_loss")) ||
            (rc = get_doubles(&c->val_loss, tr, "val_loss", (size_t)c->epochs_run,
                              "training.val_loss")))
            return rc;
    }

    const json_t *parent = json_object_get(root, "parent");
    if (json_is_object(parent)) {
        if ((rc = get_str(c->parent_ticker, sizeof(c->parent_ticker), parent, "ticker",
                          "parent.ticker")) ||
            (rc = get_int(&c->parent_version, parent, "version", "parent.version")) ||
            (rc = get_str(c->transfer, sizeof(c->transfer), parent, "transfer", "parent.transfer")))
            return rc;
    } else if (!json_is_null(parent)) {
        return missing("parent", "an object or null");
    }
    return 0;
}

int sao_model_card_from_json(sao_model_card *card, const char *text, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    if (!root) return sao_error_set(SAO_EPARSE, "model.json: line %d: %s", err.line, err.text);
    int rc = read_card(card, root);
    json_decref(root);
    if (rc) {
        /* Keep the message (dispose does not touch it) but none of the half-read fields. */
        sao_model_card_dispose(card);
        sao_model_card_init(card);
    }
    return rc;
}

/* ---- the registry file ---- */

int sao_registry_path(char *buf, size_t size, const char *ticker, int version)
{
    int rc = sao_ticker_validate(ticker);
    if (rc) return rc;
    char rel[128];
    if (version > 0)
        snprintf(rel, sizeof(rel), "models/%s/v%d", ticker, version);
    else
        snprintf(rel, sizeof(rel), "models/%s", ticker);
    return sao_home_path(buf, size, rel);
}

static int file_path(char *buf, size_t size, const char *ticker, int version, const char *name)
{
    char dir[4096];
    int rc = sao_registry_path(dir, sizeof(dir), ticker, version);
    if (rc) return rc;
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
        return sao_error_set(SAO_ERANGE, "registry: path too long under %s", dir);
    return 0;
}

/* registry.json parsed, or an empty registry when the file does not exist yet (*root: decref).
 */
static int registry_read(json_t **root, const char *ticker, int must_exist)
{
    char path[4096];
    char *text = NULL;
    size_t len;
    int rc = file_path(path, sizeof(path), ticker, 0, "registry.json");
    if (rc) return rc;
    rc = sao_file_read(&text, &len, path, REGISTRY_MAX_BYTES);
    if (rc == SAO_ENOENT && !must_exist) {
        *root = json_pack("{s:s,s:n,s:[]}", "ticker", ticker, "serving", "versions");
        return 0;
    }
    if (rc == SAO_ENOENT)
        return sao_error_set(SAO_ENOENT, "no model registered for %s (run 'sao train %s')", ticker,
                             ticker);
    if (rc) return rc;
    json_error_t err;
    json_t *doc = json_loadb(text, len, 0, &err);
    sao_free(text);
    if (!doc) return sao_error_set(SAO_EPARSE, "%s: line %d: %s", path, err.line, err.text);
    const json_t *serving = json_object_get(doc, "serving");
    const json_t *versions = json_object_get(doc, "versions");
    if (!json_is_object(doc) || !json_is_array(versions) ||
        !(json_is_null(serving) || json_is_integer(serving))) {
        json_decref(doc);
        return sao_error_set(SAO_ECORRUPT,
                             "%s: needs 'serving' (a version or null) and "
                             "'versions' (an array)",
                             path);
    }
    for (size_t i = 0; i < json_array_size(versions); i++) {
        const json_t *entry = json_array_get(versions, i);
        if (!json_is_integer(json_object_get(entry, "version"))) {
            json_decref(doc);
            return sao_error_set(SAO_ECORRUPT, "%s: versions[%zu] has no version number", path, i);
        }
    }
    *root = doc;
    return 0;
}

static int serving_of(const json_t *root)
{
    const json_t *s = json_object_get(root, "serving");
    return json_is_integer(s) ? (int)json_integer_value(s) : 0;
}

static const json_t *entry_of(const json_t *root, int version)
{
    const json_t *versions = json_object_get(root, "versions");
    for (size_t i = 0; i < json_array_size(versions); i++) {
        const json_t *entry = json_array_get(versions, i);
        if (json_integer_value(json_object_get(entry, "version")) == version) return entry;
    }
    return NULL;
}

int sao_registry_versions(int **versions, size_t *count, int *serving, const char *ticker)
{
    json_t *root = NULL;
    int rc = registry_read(&root, ticker, 1);
    if (rc) return rc;
    const json_t *arr = json_object_get(root, "versions");
    size_t n = json_array_size(arr);
    int *list = sao_malloc((n ? n : 1) * sizeof(int));
    for (size_t i = 0; i < n; i++)
        list[i] = (int)json_integer_value(json_object_get(json_array_get(arr, i), "version"));
    *versions = list;
    *count = n;
    *serving = serving_of(root);
    json_decref(root);
    return 0;
}

/* The card must describe the model: the loader relies on it, and a mismatch found at save time
 * is a bug in the caller, found before anything is written. */
static int check_card(const sao_model_card *card, const sao_model_config *mc, const char *where)
{
    const sao_model_config *cc = &card->model;
    const char *field = NULL;
    if (cc->arch != mc->arch)
        field = "architecture";
    else if (cc->input_size != mc->input_size)
        field = "input size";
    else if (cc->hidden_size != mc->hidden_size)
        field = "hidden size";
    else if (cc->num_layers != mc->num_layers)
        field = "number of layers";
    else if (cc->horizon != mc->horizon)
        field = "horizon";
    if (field)
        return sao_error_set(SAO_ECORRUPT,
                             "%s: model.json and model.safetensors disagree on the %s "
                             "(%s %d/%d/%d/%d vs %s %d/%d/%d/%d: inputs/hidden/layers/horizon)",
                             where, field, sao_model_arch_name(cc->arch), cc->input_size,
                             cc->hidden_size, cc->num_layers, cc->horizon,
                             sao_model_arch_name(mc->arch), mc->input_size, mc->hidden_size,
                             mc->num_layers, mc->horizon);
    return 0;
}

int sao_registry_save(int *version, int *serving, const sao_model *model, sao_model_card *card,
                      sao_promote_policy policy)
{
    json_t *root = NULL;
    char *card_text = NULL, *registry_text = NULL;
    char dir[4096], path[4096];
    int rc = check_card(card, sao_model_get_config(model), "registry");
    if (rc) return rc;
    if (!card->inputs) return sao_error_set(SAO_EINVAL, "registry: the card lists no inputs");
    if ((rc = registry_read(&root, card->ticker, 0))) return rc;

    /* The next number also skips folders a crash left unlisted: a version number is never
     * reused, so a path once handed out always means the same weights. */
    int next = 1;
    const json_t *arr = json_object_get(root, "versions");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        int v = (int)json_integer_value(json_object_get(json_array_get(arr, i), "version"));
        if (v >= next) next = v + 1;
    }
    for (;;) {
        if ((rc = file_path(path, sizeof(path), card->ticker, next, "model.json"))) goto done;
        FILE *probe = fopen(path, "rb");
        if (!probe) break;
        fclose(probe);
        next++;
    }

    int promote = 0;
    const int current = serving_of(root);
    if (policy == SAO_PROMOTE_ALWAYS) {
        promote = 1;
    } else if (policy == SAO_PROMOTE_IF_BETTER) {
        const json_t *entry = current ? entry_of(root, current) : NULL;
        const json_t *loss = entry ? json_object_get(entry, "val_loss") : NULL;
        /* Nothing serving, or a serving loss we cannot read: the new model is the better. */
        promote = !json_is_number(loss) || !(card->best_val_loss > json_number_value(loss));
    }

    card->version = next;
    card->created_us = sao_now_us();
    if ((rc = sao_registry_path(dir, sizeof(dir), card->ticker, next)) || (rc = sao_mkdir_p(dir)))
        goto done;
    if ((rc = file_path(path, sizeof(path), card->ticker, next, "model.safetensors")) ||
        (rc = sao_model_save(model, path)))
        goto done;
    if ((rc = sao_model_card_to_json(&card_text, card)) ||
        (rc = file_path(path, sizeof(path), card->ticker, next, "model.json")) ||
        (rc = sao_file_write_atomic(path, card_text, strlen(card_text))))
        goto done;

    char created[32];
    format_created(created, sizeof(created), card->created_us);
    json_t *entry = json_pack(
        "{s:i,s:s,s:o,s:o,s:o,s:o}", "version", next, "created", created, "val_loss",
        num(card->best_val_loss), "test_mae", num(card->eval ? card->eval->model.mae : NAN),
        "mae_ratio", num(card->eval ? card->eval->mae_ratio : NAN), "parent",
        card->parent_ticker[0] ? json_string(card->parent_ticker) : json_null());
    json_array_append_new(json_object_get(root, "versions"), entry);
    if (promote) json_object_set_new(root, "serving", json_integer(next));
    if ((rc = dump_json(&registry_text, root, "registry.json")) ||
        (rc = file_path(path, sizeof(path), card->ticker, 0, "registry.json")) ||
        (rc = sao_file_write_atomic(path, registry_text, strlen(registry_text))))
        goto done;
    *version = next;
    *serving = promote;
done:
    sao_free(card_text);
    sao_free(registry_text);
    json_decref(root);
    return rc;
}

/* Resolves version 0 to the serving one and checks the version is listed. */
static int resolve_version(int *out, const char *ticker, int version)
{
    json_t *root = NULL;
    int rc = registry_read(&root, ticker, 1);
    if (rc) return rc;
    int v = version ? version : serving_of(root);
    if (v == 0)
        rc = sao_error_set(SAO_ENOENT, "%s: no version serves (promote one, or give a version)",
                           ticker);
    else if (!entry_of(root, v))
        rc = sao_error_set(SAO_ENOENT, "%s: no version %d in the registry", ticker, v);
    else
        *out = v;
    json_decref(root);
    return rc;
}

int sao_registry_read_card(sao_model_card *card, const char *ticker, int version)
{
    char path[4096];
    char *text = NULL;
    size_t len;
    int v = 0;
    int rc = resolve_version(&v, ticker, version);
    if (rc) return rc;
    if ((rc = file_path(path, sizeof(path), ticker, v, "model.json"))) return rc;
    rc = sao_file_read(&text, &len, path, CARD_MAX_BYTES);
    if (rc == SAO_ENOENT)
        return sao_error_set(SAO_ENOENT, "%s v%d: model.json is missing (%s)", ticker, v, path);
    if (rc) return rc;
    sao_model_card tmp;
    sao_model_card_init(&tmp);
    rc = sao_model_card_from_json(&tmp, text, len);
    sao_free(text);
    if (rc) return sao_error_wrap(rc, "%s v%d: ", ticker, v);
    if (tmp.version != v || strcmp(tmp.ticker, ticker) != 0) {
        rc = sao_error_set(SAO_ECORRUPT, "%s v%d: model.json describes %s v%d", ticker, v,
                           tmp.ticker, tmp.version);
        sao_model_card_dispose(&tmp);
        return rc;
    }
    *card = tmp;
    return 0;
}

int sao_registry_load(sao_model **model, sao_model_card *card, const char *ticker, int version)
{
    sao_model_card c;
    sao_model *m = NULL;
    char path[4096], where[64];
    int v = 0;
    int rc = resolve_version(&v, ticker, version);
    if (rc) return rc;
    if ((rc = sao_registry_read_card(&c, ticker, v))) return rc;
    if ((rc = file_path(path, sizeof(path), ticker, v, "model.safetensors"))) goto fail;
    rc = sao_model_load(&m, path);
    if (rc == SAO_ENOENT) {
        rc =
            sao_error_set(SAO_ENOENT, "%s v%d: model.safetensors is missing (%s)", ticker, v, path);
        goto fail;
    }
    if (rc) {
        sao_error_wrap(rc, "%s v%d: ", ticker, v);
        goto fail;
    }
    snprintf(where, sizeof(where), "%s v%d", ticker, v);
    if ((rc = check_card(&c, sao_model_get_config(m), where))) goto fail;
    *model = m;
    *card = c;
    return 0;
fail:
    sao_model_free(m);
    sao_model_card_dispose(&c);
    return rc;
}

/* ---- the training lock ---- */

int sao_registry_lock(int *fd_out, const char *ticker)
{
    char dir[4096], path[4200];
    int rc = sao_registry_path(dir, sizeof(dir), ticker, 0);
    if (rc) return rc;
    if ((rc = sao_mkdir_p(dir))) return rc;
    snprintf(path, sizeof(path), "%s/.train.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return sao_error_set(SAO_EIO, "cannot open %s: %s", path, strerror(errno));
    /* flock, not fcntl locks: it belongs to this open file, so a second open in the same
     * process is refused as another process would be, and the kernel drops it when the holder
     * dies however it dies. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char text[32] = "";
        ssize_t got = pread(fd, text, sizeof(text) - 1, 0);
        close(fd);
        if (err != EWOULDBLOCK)
            return sao_error_set(SAO_EIO, "cannot lock %s: %s", path, strerror(err));
        long pid = 0;
        text[got > 0 ? got : 0] = '\0';
        text[strcspn(text, "\n")] = '\0';
        if (sao_parse_long(text, &pid) == 0 && pid > 0)
            return sao_error_set(SAO_ESTATE, "training of %s is already running (pid %ld)", ticker,
                                 pid);
        return sao_error_set(SAO_ESTATE, "training of %s is already running", ticker);
    }
    /* The holder's pid, for the message a second training prints (and for a person). */
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != (ssize_t)len) {
        rc = sao_error_set(SAO_EIO, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

void sao_registry_unlock(int fd)
{
    if (fd < 0) return;
    /* The file stays: removing it would let a third process lock a fresh file while a second
     * still waits on the old one. Closing releases the lock. */
    close(fd);
}
