/*
 * `sao evaluate TICKER [--version N] [--walk-forward FOLDS [--block WINDOWS]]`: prints the
 * test-split metrics stored with a registered model (the serving version by default) next to its
 * baselines and what it was trained on, or backtests the version's configuration walk-forward.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipelines/pipelines.h"

void sao_cmd_evaluate_help(FILE *out)
{
    fprintf(out,
            "usage: sao evaluate TICKER [--version N] [--walk-forward FOLDS [--block WINDOWS]]\n\n"
            "Prints the test-split table (MAE, RMSE, MAPE, directional accuracy per horizon step)\n"
            "of a trained version against persistence and drift, with the verdict, as stored in\n"
            "$SAO_HOME/models/TICKER/vN/model.json; nothing is recomputed.\n\n"
            "With --walk-forward, backtests the version's configuration instead: FOLDS blocks of\n"
            "consecutive windows end on the last bar the version was trained with; for each, a\n"
            "fresh model with the version's architecture, seed and training settings (epochs run,\n"
            "batch, learning rate, shuffle seed, threads) trains on every row before the block\n"
            "(split between training and validation as the version's was) and forecasts it.\n"
            "Prints each fold's rows, windows and MAE against persistence, then the pooled table\n"
            "and verdict. Nothing is written.\n\n"
            "  --version N         the version to show (default: the serving one)\n"
            "  --walk-forward K    backtest in K folds (1..100)\n"
            "  --block N           windows per fold (default: the version's test windows / K)\n\n"
            "Exit status: 0 on success, 1 when there is no such model or the backtest fails,\n"
            "2 on usage errors.\n");
}

/* The progress display of a backtest: one bar per fold, counting its epochs. A fold's first
 * epoch is the sign the previous fold is done. */
typedef struct walk_progress {
    int folds, fold, epochs;
    int epochs_seen; /* in the current fold */
    char label[32];
    sao_progress bar;
} walk_progress;

static void walk_progress_next(walk_progress *w)
{
    w->fold++;
    w->epochs_seen = 0;
    snprintf(w->label, sizeof(w->label), "fold %d/%d", w->fold, w->folds);
    sao_progress_start(&w->bar, w->label, (uint64_t)w->epochs);
}

static int walk_epoch(const sao_model_epoch *epoch, void *userdata)
{
    walk_progress *w = userdata;
    if (epoch->epoch == 1 && w->epochs_seen > 0) {
        sao_progress_finish(&w->bar);
        walk_progress_next(w);
    }
    w->epochs_seen = epoch->epoch;
    sao_progress_update(&w->bar, (uint64_t)epoch->epoch);
    return 0;
}

static void day_text(char *buf, size_t size, const sao_train_walk *w, size_t row)
{
    if (row < w->rows)
        sao_date_format(w->days[row], buf, size);
    else
        snprintf(buf, size, "?");
}

static int walk_forward(const sao_model_card *card, int folds, size_t block)
{
    walk_progress progress = {0};
    progress.folds = folds;
    progress.epochs = card->epochs_run > 0 ? card->epochs_run : 1;
    sao_train_walk w;
    printf("%s v%d: walk-forward backtest, %d folds (%s, %d x %d hidden, context %d, horizon %d, "
           "%d epochs)\n",
           card->ticker, card->version, folds, sao_model_arch_name(card->model.arch),
           card->model.num_layers, card->model.hidden_size, card->context_length,
           card->model.horizon, progress.epochs);
    fflush(stdout);
    walk_progress_next(&progress);
    int rc = sao_train_walk_forward(&w, card, folds, block, walk_epoch, &progress);
    sao_progress_finish(&progress.bar);
    if (rc) return sao_cli_fail("evaluate", rc, card->ticker);

    const int context = card->context_length;
    printf("\n%-4s %-23s %-23s %-23s %7s %11s %11s %6s\n", "fold", "training rows",
           "validation rows", "forecasts made on", "windows", "model MAE", "persistence", "ratio");
    for (int k = 0; k < w.walk->fold_count; k++) {
        const sao_eval_fold *f = &w.walk->folds[k];
        char t0[16], t1[16], v0[16], v1[16], f0[16], f1[16], train[40], val[40], test[40];
        day_text(t0, sizeof(t0), &w, w.first_row);
        day_text(t1, sizeof(t1), &w, f->train_end - 1);
        day_text(v0, sizeof(v0), &w, f->train_end);
        day_text(v1, sizeof(v1), &w, f->val_end - 1);
        /* A window's forecast is made on its last input row. */
        day_text(f0, sizeof(f0), &w, f->test_begin + (size_t)context - 1);
        day_text(f1, sizeof(f1), &w, f->test_begin + w.block + (size_t)context - 2);
        snprintf(train, sizeof(train), "%s..%s", t0, t1);
        snprintf(val, sizeof(val), "%s..%s", v0, v1);
        snprintf(test, sizeof(test), "%s..%s", f0, f1);
        const double ratio = f->persistence_mae > 0.0 ? f->mae / f->persistence_mae : INFINITY;
        printf("%-4d %-23s %-23s %-23s %7zu %11.4f %11.4f %6.3f\n", k + 1, train, val, test,
               f->windows, f->mae, f->persistence_mae, ratio);
    }
    printf("\npooled over the %d folds:\n", w.walk->fold_count);
    sao_eval_result_print(w.walk->pooled, stdout);
    sao_train_walk_dispose(&w);
    return SAO_EXIT_OK;
}

int sao_cmd_evaluate(int argc, char **argv)
{
    const char *ticker = NULL;
    const char *v;
    long version = 0, folds = 0, block = 0;
    char name[SAO_TICKER_MAX + 1];

    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = sao_cli_option(argc, argv, &i, "version", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_parse_long(v[0] == 'v' ? v + 1 : v, &version) != 0 || version < 1 ||
                version > 1000000000L) {
                fprintf(stderr, "sao evaluate: --version must be a positive integer, not '%s'\n",
                        v);
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "walk-forward", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_parse_long(v, &folds) != 0 || folds < 1 || folds > 100) {
                fprintf(stderr,
                        "sao evaluate: --walk-forward must be an integer in 1..100, not "
                        "'%s'\n",
                        v);
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "block", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_parse_long(v, &block) != 0 || block < 1 || block > 10000000L) {
                fprintf(stderr, "sao evaluate: --block must be a positive integer, not '%s'\n", v);
                goto usage;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sao evaluate: unknown option '%s'\n", argv[i]);
            goto usage;
        } else if (ticker) {
            fprintf(stderr, "sao evaluate: one ticker at a time\n");
            goto usage;
        } else {
            if (sao_ticker_validate(argv[i]) != 0) {
                fprintf(stderr, "sao evaluate: %s\n", sao_error_last());
                goto usage;
            }
            ticker = argv[i];
        }
    }
    if (!ticker) {
        fprintf(stderr, "sao evaluate: no ticker given\n");
        goto usage;
    }
    if (block && !folds) {
        fprintf(stderr, "sao evaluate: --block goes with --walk-forward\n");
        goto usage;
    }
    sao_ticker_normalize(name, ticker);

    int *versions = NULL;
    size_t count;
    int serving;
    int rc = sao_registry_versions(&versions, &count, &serving, name);
    if (rc) return sao_cli_fail("evaluate", rc, name);
    sao_free(versions);
    sao_model_card card;
    rc = sao_registry_read_card(&card, name, (int)version);
    if (rc) return sao_cli_fail("evaluate", rc, name);
    if (folds) {
        rc = walk_forward(&card, (int)folds, (size_t)block);
        sao_model_card_dispose(&card);
        return rc;
    }

    char first[16], last[16], test_first[16], test_last[16];
    sao_date_format(card.first_day, first, sizeof(first));
    sao_date_format(card.last_day, last, sizeof(last));
    sao_date_format(card.split_first[2], test_first, sizeof(test_first));
    sao_date_format(card.split_last[2], test_last, sizeof(test_last));
    printf("%s v%d%s: %s, %d x %d hidden, context %d, horizon %d, %d inputs\n", card.ticker,
           card.version, card.version == serving ? " (serving)" : "",
           sao_model_arch_name(card.model.arch), card.model.num_layers, card.model.hidden_size,
           card.context_length, card.model.horizon, card.model.input_size);
    printf("data %s..%s; test inputs %s..%s; best epoch %d of %d, validation loss %.6g\n", first,
           last, test_first, test_last, card.best_epoch, card.epochs_run, card.best_val_loss);
    if (card.parent_ticker[0])
        printf("parent: %s v%d (%s)\n", card.parent_ticker, card.parent_version, card.transfer);
    printf("\n");
    if (card.eval)
        sao_eval_result_print(card.eval, stdout);
    else
        printf("no test-split metrics stored\n");
    sao_model_card_dispose(&card);
    return SAO_EXIT_OK;
usage:
    fprintf(stderr, "Run 'sao evaluate --help' for usage.\n");
    return SAO_EXIT_USAGE;
}
