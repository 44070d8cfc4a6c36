/*
 * libFuzzer target for the entity-row CSV reader of point-in-time retrieval and its timestamp
 * parser: neither may crash, leak or read out of bounds, and accepted rows must be valid.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "store/store_int.h"

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
    if (size) memcpy(text, data, size);

    int64_t lo = sao_days_from_civil(1800, 1, 1) * SAO_US_PER_DAY;
    int64_t hi = sao_days_from_civil(2201, 1, 1) * SAO_US_PER_DAY;
    int64_t us;
    if (sao_fs__parse_timestamp(&us, text, size < 64 ? size : 64) == 0 && (us < lo || us >= hi))
        abort();

    sao_fs_entity_rows rows;
    memset(&rows, 0xa5, sizeof(rows));
    int rc = sao_fs__entity_rows_parse_csv(&rows, text, size, "fuzz.csv");
    if (rc == 0) {
        if (rows.count == 0) abort();
        for (size_t i = 0; i < rows.count; i++) {
            char upper[SAO_TICKER_MAX + 1];
            if (sao_ticker_normalize(upper, rows.tickers[i]) != 0) abort();
            if (strcmp(upper, rows.tickers[i]) != 0) abort();
            if (rows.event_ts_us[i] < lo || rows.event_ts_us[i] >= hi) abort();
        }
        sao_fs_entity_rows_dispose(&rows);
    } else if (rc > 0 || !*sao_error_last()) {
        abort(); /* errors are negative codes with a message */
    }
    free(text);
    return 0;
}
