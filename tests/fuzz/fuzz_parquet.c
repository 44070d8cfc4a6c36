/*
 * libFuzzer target for the Parquet reader: any bytes go through sao_parquet_open_mem, then every
 * column, statistic and metadata entry is read. Errors are expected; crashes, leaks, undefined
 * behaviour and runaway allocations are bugs.
 */
#include "store/parquet_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int limited;
    if (!limited) {
        /* Small caps keep each input cheap: a hostile footer may still claim as much as the
         * caps allow, and the fuzzer should spend its time on parsing, not on memset. */
        sao_pq_limits limits = {(size_t)1 << 16, (size_t)1 << 22, (size_t)1 << 24};
        sao_store__pq_set_limits(&limits);
        sao_log_set_level(SAO_LOG_OFF);
        limited = 1;
    }
    sao_pq_file *file = NULL;
    if (sao_parquet_open_mem(&file, data, size) != 0) return 0;
    size_t columns = sao_parquet_num_columns(file);
    size_t groups = sao_parquet_num_row_groups(file);
    (void)sao_parquet_metadata(file, "pandas");
    for (size_t i = 0; i < sao_store__pq_metadata_count(file); i++) {
        const char *key, *value;
        sao_store__pq_metadata_at(file, i, &key, &value);
    }
    for (size_t c = 0; c < columns; c++) {
        (void)sao_parquet_column_name(file, c);
        (void)sao_parquet_column_type(file, c);
        for (size_t g = 0; g < groups; g++) {
            sao_pq_chunk_stats stats;
            sao_pq_chunk_info info;
            (void)sao_store__pq_chunk_stats(&stats, file, g, c);
            (void)sao_store__pq_chunk_info(&info, file, g, c);
        }
        const sao_pq_column_data *col;
        if (sao_parquet_read_column(&col, file, c) != 0) continue;
        /* Touch every value so the sanitizers see any bad pointer or uninitialised byte. */
        size_t sum = col->null_count;
        for (size_t r = 0; r < col->count; r++) {
            sum += col->valid[r];
            if (!col->valid[r]) continue;
            if (col->f64)
                sum += col->f64[r] > 0;
            else if (col->i64)
                sum += (size_t)col->i64[r];
            else if (col->i32)
                sum += (size_t)col->i32[r];
            else if (col->str)
                sum += col->str_len[r] + (size_t)(unsigned char)col->str[r][0];
        }
        if (sum == 1) sao_error_clear();
    }
    sao_parquet_close(file);
    return 0;
}
