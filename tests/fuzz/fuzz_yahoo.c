/*
 * libFuzzer target for the Yahoo chart API parser (sao_yahoo_parse) and validation of the bars
 * it accepts: no crash, leak or out-of-bounds read; accepted bars sorted with one per day.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        sao_log_set_level(SAO_LOG_OFF);
        quiet = 1;
    }
    char *json = malloc(size ? size : 1);
    if (!json) return 0;
    for (size_t i = 0; i < size; i++) json[i] = (char)data[i];

    sao_bars bars;
    sao_bars_init(&bars, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report report;
    int rc = sao_yahoo_parse(&bars, &meta, &report, json, size);
    if (rc == 0) {
        if (bars.count == 0 || report.bars != bars.count) abort();
        for (size_t i = 1; i < bars.count; i++)
            if (bars.day[i] <= bars.day[i - 1]) abort();
        sao_validation_report vr;
        sao_validation_report_init(&vr);
        if (sao_validate_bars(&bars, &vr, 1, 0) != 0) abort();
        sao_validation_report_dispose(&vr);
    } else if (bars.count != 0) {
        abort();
    }
    sao_bars_dispose(&bars);
    free(json);
    return 0;
}
