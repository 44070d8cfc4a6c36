/*
 * `sao config`: every SAO_* setting with its effective value, source and help.
 */
#include "cli.h"

void sao_cmd_config_help(FILE *out)
{
    fprintf(out, "usage: sao config\n\n"
                 "Prints every SAO_* setting: its effective value (environment or default; "
                 "secrets masked),\nits type and what it does.\n");
}

int sao_cmd_config(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "sao config: unexpected argument '%s'\n", argv[1]);
        return SAO_EXIT_USAGE;
    }
    sao_config_print(stdout);
    return SAO_EXIT_OK;
}
