/*
 * The process metrics every Prometheus exporter publishes (memory, CPU time, file descriptors,
 * start time), read from /proc at each rendering so that they are never stale.
 */
#include "monitoring_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>


/* /proc text files are small; the cap only guards against a broken procfs. */
#define PROC_FILE_MAX (1u << 20)

typedef enum process_metric {
    RESIDENT_MEMORY,
    VIRTUAL_MEMORY,
    CPU_SECONDS,
    OPEN_FDS,
    MAX_FDS,
    START_TIME,
    PROCESS_METRIC_COUNT
} process_metric;

static const struct {
    const char *name;
    const char *type;
    const char *help;
} process_metrics[PROCESS_METRIC_COUNT] = {
    [RESIDENT_MEMORY] = {"process_resident_memory_bytes", "gauge",
                         "Memory of this process held in RAM, in bytes."},
    [VIRTUAL_MEMORY] = {"process_virtual_memory_bytes", "gauge",
                        "Size of the address space of this process, in bytes."},
    [CPU_SECONDS] = {"process_cpu_seconds_total", "counter",
                     "CPU time this process spent in user and kernel mode, in seconds."},
    [OPEN_FDS] = {"process_open_fds", "gauge", "File descriptors this process holds open."},
    [MAX_FDS] = {"process_max_fds", "gauge",
                 "Most file descriptors this process may hold open (its soft limit)."},
    [START_TIME] = {"process_start_time_seconds", "gauge",
                    "When this process started, in seconds since the Unix epoch."},
};

int sao_monitoring__process_has(const char *name)
{
    for (size_t i = 0; i < PROCESS_METRIC_COUNT; i++)
        if (strcmp(process_metrics[i].name, name) == 0) return 1;
    return 0;
}

/* Fields 14 (utime), 15 (stime) and 22 (starttime, in clock ticks since boot) of
 * /proc/self/stat. The command name (field 2) is in parentheses and may itself hold spaces and
 * parentheses, so the fields are counted from the last ')'. */
static int read_stat(double *cpu_ticks, double *start_ticks)
{
    char *text = NULL;
    int rc = sao_file_read(&text, NULL, "/proc/self/stat", PROC_FILE_MAX);
    if (rc) return rc;
    const char *p = strrchr(text, ')');
    unsigned long long utime = 0, stime = 0, starttime = 0;
    int found = 0;
    if (p) {
        p++;
        for (int field = 3; field <= 22; field++) {
            while (*p == ' ') p++;
            if (!*p) break;
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            if (field == 14) utime = v;
            if (field == 15) stime = v;
            if (field == 22) {
                starttime = v;
                found = end != p;
            }
            while (*p && *p != ' ') p++;
        }
    }
    sao_free(text);
    if (!found) return sao_error_set(SAO_EPARSE, "/proc/self/stat: fewer than 22 fields");
    *cpu_ticks = (double)utime + (double)stime;
    *start_ticks = (double)starttime;
    return 0;
}

/* The btime line of /proc/stat: the boot time in seconds since the epoch. */
static int read_boot_time(double *boot_time)
{
    char *text = NULL;
    int rc = sao_file_read(&text, NULL, "/proc/stat", PROC_FILE_MAX);
    if (rc) return rc;
    const char *line = strncmp(text, "btime ", 6) == 0 ? text : strstr(text, "\nbtime ");
    char *end = NULL;
    long long seconds = 0;
    if (line) {
        const char *digits = line + (line == text ? 6 : 7);
        seconds = strtoll(digits, &end, 10);
        if (end == digits) line = NULL;
    }
    sao_free(text);
    if (!line) return sao_error_set(SAO_EPARSE, "/proc/stat: no btime line");
    *boot_time = (double)seconds;
    return 0;
}

/* The first two fields of /proc/self/statm: total and resident size, in pages. */
static int read_memory(double *virtual_bytes, double *resident_bytes)
{
    char *text = NULL;
    int rc = sao_file_read(&text, NULL, "/proc/self/statm", PROC_FILE_MAX);
    if (rc) return rc;
    char *end;
    unsigned long long size = strtoull(text, &end, 10);
    char *resident_start = end;
    unsigned long long resident = strtoull(resident_start, &end, 10);
    int ok = end != resident_start && end != text;
    sao_free(text);
    long page = sysconf(_SC_PAGESIZE);
    if (!ok || page <= 0) return sao_error_set(SAO_EPARSE, "/proc/self/statm: malformed");
    *virtual_bytes = (double)size * (double)page;
    *resident_bytes = (double)resident * (double)page;
    return 0;
}

static int count_open_fds(double *count)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return sao_error_set(SAO_EIO, "/proc/self/fd: cannot list");
    /* The descriptor the listing itself uses is not one the process holds. */
    int own = dirfd(dir);
    size_t open_fds = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end || fd == own) continue;
        open_fds++;
    }
    closedir(dir);
    *count = (double)open_fds;
    return 0;
}

static int append_metric(sao_buf *out, process_metric which, double value)
{
    char number[40];
    sao_monitoring__format_number(number, sizeof(number), value);
    const char *name = process_metrics[which].name;
    int rc = sao_buf_appendf(out, "# HELP %s ", name);
    if (!rc) rc = sao_monitoring__append_escaped(out, process_metrics[which].help, 0);
    if (!rc)
        rc = sao_buf_appendf(out, "\n# TYPE %s %s\n%s %s\n", name, process_metrics[which].type,
                             name, number);
    return rc;
}

/* Appends the metrics in the order of the table. One that cannot be read (no /proc) is left
 * out, since a partial set serves a scrape better than none. */
int sao_monitoring__process_render(sao_buf *out)
{
    double values[PROCESS_METRIC_COUNT] = {0};
    int known[PROCESS_METRIC_COUNT] = {0};

    known[RESIDENT_MEMORY] = known[VIRTUAL_MEMORY] =
        read_memory(&values[VIRTUAL_MEMORY], &values[RESIDENT_MEMORY]) == 0;

    double cpu_ticks = 0, start_ticks = 0, boot_time = 0;
    long ticks_per_second = sysconf(_SC_CLK_TCK);
    if (ticks_per_second <= 0) {
        sao_error_set(SAO_EUNSUPPORTED, "no clock tick rate");
    } else if (read_stat(&cpu_ticks, &start_ticks) == 0) {
        values[CPU_SECONDS] = cpu_ticks / (double)ticks_per_second;
        known[CPU_SECONDS] = 1;
        if (read_boot_time(&boot_time) == 0) {
            values[START_TIME] = boot_time + start_ticks / (double)ticks_per_second;
            known[START_TIME] = 1;
        }
    }

    known[OPEN_FDS] = count_open_fds(&values[OPEN_FDS]) == 0;

    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        values[MAX_FDS] = limit.rlim_cur == RLIM_INFINITY ? INFINITY : (double)limit.rlim_cur;
        known[MAX_FDS] = 1;
    } else {
        sao_error_set(SAO_EIO, "getrlimit: %s", strerror(errno));
    }

    for (size_t i = 0; i < PROCESS_METRIC_COUNT; i++) {
        if (!known[i]) {
            sao_log(SAO_LOG_DEBUG, "monitoring", "%s left out: %s", process_metrics[i].name,
                    sao_error_last());
            continue;
        }
        int rc = append_metric(out, (process_metric)i, values[i]);
        if (rc) return rc;
    }
    return 0;
}
