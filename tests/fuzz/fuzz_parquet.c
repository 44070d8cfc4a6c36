/*
 * libFuzzer target for the Parquet reader: any bytes go through sao_parquet_open_mem, then every
 * column, statistic and metadata entry is read, first in parts (row ranges, column chunks, the
 * int64 bounds of each chunk) and then whole. Errors are expected; crashes, leaks, undefined
 * behaviour and runaway allocations are bugs.
 */
#include "store/parquet_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every value so the sanitizers see any bad pointer or uninitialised byte. */
static size_t touch(const sao_pq_column_data *col)
{
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
    return sum;
}

/* The partial reads a reader of a few rows makes; the rows before any chunk, so that they are
 * decoded page by page rather than taken from a chunk already read. */
static size_t read_parts(sao_pq_file *file, size_t column)
{
    size_t sum = 0, rows = sao_parquet_num_rows(file), groups = sao_parquet_num_row_groups(file);
    const sao_pq_column_data *col;
    /* The last row, a run in the middle, and one across the first row group's end. */
    size_t starts[3] = {rows ? rows - 1 : 0, rows / 3, 0};
    size_t counts[3] = {rows ? 1 : 0, rows / 3, 0};
    if (groups > 1) {
        size_t first = sao_parquet_row_group_rows(file, 0);
        starts[2] = first > 2 ? first - 2 : 0;
        counts[2] = rows - starts[2] < 5 ? rows - starts[2] : 5;
    }
    for (size_t k = 0; k < 3; k++)
        if (sao_parquet_read_rows(&col, file, column, starts[k], counts[k]) == 0) sum += touch(col);
    for (size_t g = 0; g < groups; g++) {
        int64_t min, max;
        if (sao_parquet_chunk_range_i64(&min, &max, file, column, g) == 0) sum += min <= max;
        if (sao_parquet_read_column_chunk(&col, file, column, g) == 0) sum += touch(col);
    }
    return sum;
}

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
        size_t sum = read_parts(file, c);
        const sao_pq_column_data *col;
        if (sao_parquet_read_column(&col, file, c) == 0) sum += touch(col);
        if (sum == 1) sao_error_clear();
    }
    sao_parquet_close(file);
    return 0;
}
