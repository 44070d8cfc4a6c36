/*
 * `sao train TICKER`: trains a recurrent forecaster on the ticker's stored bars and indicators,
 * prints the test-split table against the baselines, and registers the model as a new version.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipelines/pipelines.h"

void sao_cmd_train_help(FILE *out)
{
    size_t count;
    const char *const *names = sao_train_input_names(&count);
    fprintf(out,
            "usage: sao train TICKER [--arch lstm|gru] [--hidden N] [--layers N] [--dropout X]\n"
            "                 [--context N] [--horizon N] [--epochs N] [--batch N] [--lr X]\n"
            "                 [--parent TICKER|none] [--transfer freeze|finetune] [--seed N]\n"
            "                 [--threads N] [--promote always|if-better|never]\n"
            "                 [--target return|price]\n\n"
            "Trains a forecaster of the next closes on the ticker's stored data (run 'sao ingest'\n"
            "first), scores it on the test split against persistence and drift, and writes\n"
            "$SAO_HOME/models/TICKER/vN/{model.safetensors,model.json}.\n\n"
            "  --arch A          lstm (default) or gru\n"
            "  --hidden N        hidden units per layer (default 64)\n"
            "  --layers N        recurrent layers (default 2)\n"
            "  --dropout X       dropout between layers, [0, 1) (default 0.2)\n"
            "  --context N       days of inputs per window (default 60)\n"
            "  --horizon N       days forecast (default 5)\n"
            "  --epochs N        at most N epochs; early stopping after 10 without progress (50)\n"
            "  --batch N         mini-batch size (default 32)\n"
            "  --lr X            Adam learning rate (default 0.001)\n"
            "  --parent T        start from ticker T's serving model (same inputs, context and\n"
            "                    horizon; its architecture is used); 'none' (default): from scratch\n"
            "  --transfer M      with --parent: freeze (train the head only, default) or finetune\n"
            "                    (everything, at a tenth of the learning rate)\n"
            "  --seed N          initialization and dropout seed (default 42)\n"
            "  --threads N       training threads, each on a slice of the batch (default 1; results\n"
            "                    repeat for a fixed count)\n"
            "  --promote P       if-better (default: serve when the validation loss is not worse\n"
            "                    than the serving version's), always or never\n"
            "  --target T        return (default): the next closes as returns of the last close;\n"
            "                    price: the closes themselves, scaled by the training split's\n"
            "                    close scaler (recorded in model.json for serving)\n\n"
            "Inputs (stationary, so the model never sees a price level):");
    for (size_t i = 0; i < count; i++) fprintf(out, "%s %s", i ? "," : "", names[i]);
    fprintf(out, ".\nThe scalers are fitted on the training split only.\n\n"
                 "Exit status: 0 when a version was written, 1 on failure, 2 on usage errors.\n");
}

/* Parses an integer option in [min, max], printing a usage error. */
static int int_option(const char *opt, const char *value, long min, long max, long *out)
{
    long n;
    if (sao_parse_long(value, &n) != 0 || n < min || n > max) {
        fprintf(stderr, "sao train: --%s must be an integer in %ld..%ld, not '%s'\n", opt, min,
                max, value);
        return -1;
    }
    *out = n;
    return 0;
}

static int double_option(const char *opt, const char *value, double min, double max,
                         double *out)
{
    double x;
    if (sao_parse_double(value, strlen(value), &x) != 0 || !(x >= min && x <= max)) {
        fprintf(stderr, "sao train: --%s must be a number in [%g, %g], not '%s'\n", opt, min, max,
                value);
        return -1;
    }
    *out = x;
    return 0;
}

int sao_cmd_train(int argc, char **argv)
{
    sao_train_options opts;
    sao_train_options_init(&opts);
    const char *ticker = NULL;
    const char *v;
    int transfer_given = 0;

    for (int i = 1; i < argc; i++) {
        int r;
        long n;
        double x;
        if ((r = sao_cli_option(argc, argv, &i, "arch", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_model_arch_parse(v, &opts.model.arch) != 0) {
                fprintf(stderr, "sao train: --arch must be lstm or gru, not '%s'\n", v);
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "hidden", &v)) != 0) {
            if (r < 0 || int_option("hidden", v, 1, 4096, &n)) goto usage;
            opts.model.hidden_size = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "layers", &v)) != 0) {
            if (r < 0 || int_option("layers", v, 1, 16, &n)) goto usage;
            opts.model.num_layers = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "dropout", &v)) != 0) {
            if (r < 0 || double_option("dropout", v, 0.0, 0.95, &x)) goto usage;
            opts.model.dropout = (float)x;
        } else if ((r = sao_cli_option(argc, argv, &i, "context", &v)) != 0) {
            if (r < 0 || int_option("context", v, 1, 2000, &n)) goto usage;
            opts.prep.context_length = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "horizon", &v)) != 0) {
            if (r < 0 || int_option("horizon", v, 1, 250, &n)) goto usage;
            opts.prep.horizon = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "epochs", &v)) != 0) {
            if (r < 0 || int_option("epochs", v, 1, 100000, &n)) goto usage;
            opts.train.epochs = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "batch", &v)) != 0) {
            if (r < 0 || int_option("batch", v, 1, 65536, &n)) goto usage;
            opts.train.batch_size = (size_t)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "lr", &v)) != 0) {
            if (r < 0 || double_option("lr", v, 1e-9, 10.0, &x)) goto usage;
            opts.train.adam.learning_rate = (float)x;
        } else if ((r = sao_cli_option(argc, argv, &i, "parent", &v)) != 0) {
            if (r < 0) goto usage;
            if (strcmp(v, "none") == 0) {
                opts.parent = NULL;
            } else if (sao_ticker_validate(v) != 0) {
                fprintf(stderr, "sao train: --parent: %s\n", sao_error_last());
                goto usage;
            } else {
                opts.parent = v;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "transfer", &v)) != 0) {
            if (r < 0) goto usage;
            transfer_given = 1;
            if (strcmp(v, "freeze") == 0) opts.transfer = SAO_TRANSFER_FREEZE;
            else if (strcmp(v, "finetune") == 0) opts.transfer = SAO_TRANSFER_FINETUNE;
            else {
                fprintf(stderr, "sao train: --transfer must be freeze or finetune, not '%s'\n", v);
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "seed", &v)) != 0) {
            if (r < 0 || int_option("seed", v, 0, 2147483647L, &n)) goto usage;
            opts.model.seed = (uint64_t)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "threads", &v)) != 0) {
            if (r < 0 || int_option("threads", v, 1, 256, &n)) goto usage;
            opts.threads = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "promote", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_promote_policy_parse(v, &opts.promote) != 0) {
                fprintf(stderr, "sao train: --promote: %s\n", sao_error_last());
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "target", &v)) != 0) {
            if (r < 0) goto usage;
            if (strcmp(v, "return") == 0) opts.prep.target = SAO_PREP_TARGET_RETURN;
            else if (strcmp(v, "price") == 0) opts.prep.target = SAO_PREP_TARGET_PRICE;
            else {
                fprintf(stderr, "sao train: --target must be return or price, not '%s'\n", v);
                goto usage;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sao train: unknown option '%s'\n", argv[i]);
            goto usage;
        } else if (ticker) {
            fprintf(stderr, "sao train: one ticker at a time ('%s' and '%s')\n", ticker, argv[i]);
            goto usage;
        } else {
            if (sao_ticker_validate(argv[i]) != 0) {
                fprintf(stderr, "sao train: %s\n", sao_error_last());
                goto usage;
            }
            ticker = argv[i];
        }
    }
    if (!ticker) {
        fprintf(stderr, "sao train: no ticker given\n");
        goto usage;
    }
    if (transfer_given && !opts.parent) {
        fprintf(stderr, "sao train: --transfer needs --parent TICKER\n");
        goto usage;
    }
    if (opts.model.num_layers == 1) opts.model.dropout = 0.0f; /* nothing sits between layers */

    sao_train_result res;
    int rc = sao_train_ticker(&res, ticker, &opts);
    if (rc) return sao_cli_fail("train", rc, ticker);

    const sao_model_card *card = &res.card;
    printf("%s: %s, %d x %d hidden, context %d, horizon %d; %zu bars, windows %zu train / %zu "
           "validation / %zu test\n",
           res.ticker, sao_model_arch_name(card->model.arch), card->model.num_layers,
           card->model.hidden_size, card->context_length, card->model.horizon, res.rows,
           res.windows[0], res.windows[1], res.windows[2]);
    if (card->parent_ticker[0])
        printf("parent: %s v%d (%s)\n", card->parent_ticker, card->parent_version,
               card->transfer);
    printf("trained %d epochs in %.1fs; best epoch %d, validation loss %.6g\n\n",
           card->epochs_run, res.seconds, card->best_epoch, card->best_val_loss);
    sao_eval_result_print(card->eval, stdout);
    printf("\nwrote %s v%d (%s)\n", res.ticker, res.version, res.model_dir);
    printf("%s\n", res.serving ? "serving: yes (promoted)"
                               : "serving: no (the serving version stays; see --promote)");
    sao_train_result_dispose(&res);
    return SAO_EXIT_OK;
usage:
    fprintf(stderr, "Run 'sao train --help' for usage.\n");
    return SAO_EXIT_USAGE;
}
