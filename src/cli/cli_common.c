/*
 * Helpers shared by the subcommands: option scanning, error printing, logging set-up.
 */
#include <string.h>

#include "cli.h"

int sao_cli_flag(const char *arg, const char *name)
{
    return arg[0] == '-' && arg[1] == '-' && strcmp(arg + 2, name) == 0;
}

int sao_cli_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    if (arg[0] != '-' || arg[1] != '-') return 0;
    size_t len = strlen(name);
    if (strncmp(arg + 2, name, len) != 0) return 0;
    if (arg[2 + len] == '=') {
        *value = arg + 3 + len;
        return 1;
    }
    if (arg[2 + len] != '\0') return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sao: option --%s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int sao_cli_fail(const char *cmd, int rc, const char *what)
{
    const char *detail = sao_error_last();
    fprintf(stderr, "sao %s: %s: %s\n", cmd, what, *detail ? detail : sao_strerror(rc));
    return SAO_EXIT_FAIL;
}

int sao_cli_date(const char *cmd, const char *opt, const char *value, int64_t *out)
{
    if (sao_date_parse(value, strlen(value), out) != 0) {
        fprintf(stderr, "sao %s: %s: '%s' is not a date (YYYY-MM-DD)\n", cmd, opt, value);
        return -1;
    }
    return 0;
}

int sao_cli_timestamp(const char *cmd, const char *what, const char *value, int64_t *out_us)
{
    if (strcmp(value, "now") == 0) {
        *out_us = sao_now_us();
        return 0;
    }
    int64_t days;
    size_t len = strlen(value);
    int hh = 0, mm = 0, ss = 0;
    const char *t = strchr(value, 'T');
    int ok = sao_date_parse(value, len, &days) == 0;
    if (ok && t) {
        /* HH:MM or HH:MM:SS, then nothing or Z. */
        char tail[8] = "";
        int n = sscanf(t + 1, "%2d:%2d:%2d%7s", &hh, &mm, &ss, tail);
        if (n < 2) {
            n = sscanf(t + 1, "%2d:%2d%7s", &hh, &mm, tail);
            ss = 0;
        }
        ok = n >= 2 && hh < 24 && mm < 60 && ss < 61 && hh >= 0 && mm >= 0 && ss >= 0 &&
             (!tail[0] || strcmp(tail, "Z") == 0);
    }
    if (!ok) {
        fprintf(stderr, "sao %s: %s: '%s' is not a date or YYYY-MM-DDTHH:MM:SS[Z]\n", cmd, what,
                value);
        return -1;
    }
    *out_us = days * SAO_US_PER_DAY + ((int64_t)hh * 3600 + mm * 60 + ss) * 1000000;
    return 0;
}

int sao_cli_setup_logging(void)
{
    sao_log_level level;
    int rc = sao_log_parse_level(sao_config_get("SAO_LOG_LEVEL"), &level);
    if (rc) return rc;
    sao_log_set_level(level);
    const char *fmt = sao_config_get("SAO_LOG_FORMAT");
    if (strcmp(fmt, "text") == 0) sao_log_set_format(1);
    else if (strcmp(fmt, "json") == 0) sao_log_set_format(2);
    else if (strcmp(fmt, "auto") == 0) sao_log_set_format(0);
    else return sao_error_set(SAO_EINVAL, "SAO_LOG_FORMAT: '%s' is not auto, text or json", fmt);
    return 0;
}
