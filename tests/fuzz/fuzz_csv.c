/*
 * libFuzzer target for the CSV importer (sao_csv_parse), then validation of what it accepted:
 * neither may crash, leak or read out of bounds, and accepted bars must come out sorted.
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
    /* An exact-size heap copy, so that a read past the end is caught. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    for (size_t i = 0; i < size; i++) text[i] = (char)data[i];

    sao_bars bars;
    sao_bars_init(&bars, "FUZZ-USD");
    sao_csv_report report;
    int rc = sao_csv_parse(&bars, &report, text, size, "fuzz.csv");
    if (rc == 0) {
        if (bars.count == 0 || report.rows != bars.count) abort();
        for (size_t i = 1; i < bars.count; i++)
            if (bars.day[i] < bars.day[i - 1]) abort();
        sao_validation_report vr;
        sao_validation_report_init(&vr);
        if (sao_validate_bars(&bars, &vr, 1, 0) != 0) abort();
        for (size_t i = 1; i < bars.count; i++)
            if (bars.day[i] <= bars.day[i - 1]) abort();
        sao_validation_report_dispose(&vr);
    } else if (bars.count != 0) {
        abort(); /* nothing appended on error */
    }
    sao_bars_dispose(&bars);
    free(text);
    return 0;
}
