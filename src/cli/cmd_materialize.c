/*
 * `sao materialize START END` and `sao materialize-incremental END`: copy the newest offline
 * rows into the Redis online store with Feast's semantics and record the interval.
 */
#include <string.h>

#include "cli.h"
#include "store/store.h"

void sao_cmd_materialize_help(FILE *out)
{
    fprintf(out,
            "usage: sao materialize START END [--views V[,V...]] [--tickers T[,T...]] [--repo DIR]\n\n"
            "For every feature view and ticker, writes the newest offline row with\n"
            "START <= event time <= END (ties broken by 'created') to the Redis online store in\n"
            "Feast's layout; model windows get the last context_length values up to that row.\n"
            "The interval is recorded in the registry once written (not with --tickers).\n"
            "START and END are dates (YYYY-MM-DD, UTC midnight) or YYYY-MM-DDTHH:MM:SS[Z]; END may\n"
            "be 'now'.\n");
}

void sao_cmd_materialize_incremental_help(FILE *out)
{
    fprintf(out, "usage: sao materialize-incremental END [--tickers T[,T...]] [--repo DIR]\n\n"
                 "Like materialize, with each view starting where its last recorded interval ended,\n"
                 "or at END minus the view's ttl when it has none. END may be 'now'.\n");
}

/* Splits a comma list in place into `out` (at most `max`). */
static size_t split_list(char *list, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ","))
        if (*tok) out[n++] = tok;
    return n;
}

static int run_parsed(int incremental, int argc, char **argv, char **tickers_arg_out,
                      char **views_arg_out);

static int run(int incremental, int argc, char **argv)
{
    char *tickers_arg = NULL, *views_arg = NULL;
    int status = run_parsed(incremental, argc, argv, &tickers_arg, &views_arg);
    sao_free(tickers_arg);
    sao_free(views_arg);
    return status;
}

static int run_parsed(int incremental, int argc, char **argv, char **tickers_arg_out,
                      char **views_arg_out)
{
    const char *cmd = incremental ? "materialize-incremental" : "materialize";
    const char *repo_dir = NULL, *v, *times[2] = {NULL, NULL};
    size_t ntimes = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = sao_cli_option(argc, argv, &i, "repo", &v)) != 0) {
            if (r < 0) return SAO_EXIT_USAGE;
            repo_dir = v;
        } else if ((r = sao_cli_option(argc, argv, &i, "tickers", &v)) != 0) {
            if (r < 0) return SAO_EXIT_USAGE;
            sao_free(*tickers_arg_out);
            *tickers_arg_out = sao_strdup(v); /* split in place below */
        } else if (!incremental && (r = sao_cli_option(argc, argv, &i, "views", &v)) != 0) {
            if (r < 0) return SAO_EXIT_USAGE;
            sao_free(*views_arg_out);
            *views_arg_out = sao_strdup(v);
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "sao %s: unknown option '%s'\n", cmd, argv[i]);
            return SAO_EXIT_USAGE;
        } else if (ntimes < 2) {
            times[ntimes++] = argv[i];
        } else {
            fprintf(stderr, "sao %s: unexpected argument '%s'\n", cmd, argv[i]);
            return SAO_EXIT_USAGE;
        }
    }
    if (ntimes != (incremental ? 1u : 2u)) {
        fprintf(stderr, "sao %s: expected %s\n", cmd, incremental ? "END" : "START END");
        return SAO_EXIT_USAGE;
    }
    int64_t start_us = 0, end_us;
    if ((!incremental && sao_cli_timestamp(cmd, "START", times[0], &start_us)) ||
        sao_cli_timestamp(cmd, "END", times[ntimes - 1], &end_us))
        return SAO_EXIT_USAGE;

    const char *tickers[256], *views[64];
    size_t nt = *tickers_arg_out ? split_list(*tickers_arg_out, tickers, SAO_ARRAY_LEN(tickers)) : 0;
    size_t nv = *views_arg_out ? split_list(*views_arg_out, views, SAO_ARRAY_LEN(views)) : 0;

    sao_fs_repo *repo = NULL;
    sao_online *online = NULL;
    sao_online_config cfg;
    int status = SAO_EXIT_OK;
    int rc = sao_fs_repo_load(&repo, repo_dir);
    if (rc) return sao_cli_fail(cmd, rc, "invalid feature repository");
    rc = sao_fs_online_config(&cfg, repo);
    if (!rc) rc = sao_online_connect(&online, &cfg);
    if (rc) {
        status = sao_cli_fail(cmd, rc, "online store");
        goto done;
    }
    sao_fs_materialize_report rep, total;
    memset(&total, 0, sizeof(total));
    if (incremental) {
        rc = sao_fs_materialize_incremental(&total, repo, online, end_us, nt ? tickers : NULL, nt);
    } else {
        for (size_t i = 0; i < (nv ? nv : 1) && !rc; i++) {
            rc = sao_fs_materialize(&rep, repo, online, start_us, end_us, nt ? tickers : NULL, nt,
                                    nv ? views[i] : NULL);
            total.views += rep.views;
            total.entities += rep.entities;
            total.skipped += rep.skipped;
            total.tickers = rep.tickers;
            total.seconds += rep.seconds;
        }
    }
    if (rc) {
        status = sao_cli_fail(cmd, rc, "failed; the registry records no interval for the views "
                                       "not written; run it again");
        goto done;
    }
    printf("Materialized %zu views for %zu tickers: %zu entity rows written, %zu already "
           "current, in %.2f s\n",
           total.views, total.tickers, total.entities, total.skipped, total.seconds);
done:
    sao_online_close(online);
    sao_fs_repo_free(repo);
    return status;
}

int sao_cmd_materialize(int argc, char **argv)
{
    return run(0, argc, argv);
}

int sao_cmd_materialize_incremental(int argc, char **argv)
{
    return run(1, argc, argv);
}
