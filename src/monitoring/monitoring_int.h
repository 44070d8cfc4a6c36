/*
 * monitoring internals shared by metrics.c (the registry and its rendering) and process.c (the
 * process metrics read from /proc at render time). Nobody outside src/monitoring includes this.
 */
#ifndef SAO_MONITORING_INT_H
#define SAO_MONITORING_INT_H

#include "monitoring.h"

/* Whether `name` is one of the process metrics (which a registry rendering them reserves). */
int sao_monitoring__process_has(const char *name);
/* Appends the process metrics, each with HELP and TYPE. */
int sao_monitoring__process_render(sao_buf *out);
/* Formats a sample value as Prometheus expects (integers plainly, NaN, +Inf, -Inf, else the
 * shortest text that reads back exactly). */
void sao_monitoring__format_number(char *buf, size_t size, double value);
/* Appends `text` escaped for a HELP line (quote 0) or a label value (quote 1). */
int sao_monitoring__append_escaped(sao_buf *out, const char *text, int quote);

#endif
