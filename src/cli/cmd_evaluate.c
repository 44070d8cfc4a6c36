/*
 * `sao evaluate TICKER [--version N]`: prints the test-split metrics stored with a registered
 * model (the serving version by default) next to its baselines, and what it was trained on.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipelines/pipelines.h"

void sao_cmd_evaluate_help(FILE *out)
{
    fprintf(out,
            "usage: sao evaluate TICKER [--version N]\n\n"
            "Prints the test-split table (MAE, RMSE, MAPE, directional accuracy per horizon step)\n"
            "of a trained version against persistence and drift, with the verdict, as stored in\n"
            "$SAO_HOME/models/TICKER/vN/model.json; nothing is recomputed.\n\n"
            "  --version N       the version to show (default: the serving one)\n\n"
            "Exit status: 0 on success, 1 when there is no such model, 2 on usage errors.\n");
}

int sao_cmd_evaluate(int argc, char **argv)
{
    const char *ticker = NULL;
    const char *v;
    long version = 0;
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
