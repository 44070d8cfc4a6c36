/*
 * data internals shared by the files of src/data/ (nobody outside the module includes this).
 */
#ifndef SAO_DATA_INT_H
#define SAO_DATA_INT_H

#include "data/data.h"

/* Appends every row of `src` to `dst` and leaves `src` empty (its arrays are handed over when
 * `dst` is empty, so the common case copies nothing). `dst` keeps its ticker; when that is empty
 * it takes `src`'s. `dst` is sorted by day afterwards. */
void sao_data__bars_move_into(sao_bars *dst, sao_bars *src);

/* Overwrites row `dst_row` of `bars` with row `src_row` (every column). */
void sao_data__bars_copy_row(sao_bars *bars, size_t dst_row, size_t src_row);

/* Row indices of days[0..count) in stable ascending order (free with sao_free). */
size_t *sao_data__sort_order(const int64_t *day, size_t count);

/* Whether days[0..count) is non-decreasing. */
int sao_data__days_sorted(const int64_t *days, size_t count);

/* Floor division of seconds by 86400 (correct for negative timestamps). */
static inline int64_t sao_data__day_of_seconds(int64_t seconds)
{
    int64_t day = seconds / 86400;
    if (seconds % 86400 < 0) day--;
    return day;
}

#endif
