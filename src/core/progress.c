/*
 * Progress display for long work: a redrawn bar with rate and ETA on a terminal, a structured
 * log line every few seconds otherwise (SAO_PROGRESS chooses).
 */
#include "core.h"

#include <string.h>
#include <unistd.h>

static int progress_mode(void)
{
    const char *mode = sao_config_get("SAO_PROGRESS");
    if (strcmp(mode, "off") == 0) return 0;
    if (strcmp(mode, "bar") == 0) return 1;
    if (strcmp(mode, "log") == 0) return 2;
    return isatty(STDERR_FILENO) ? 1 : 2;
}

static void format_eta(char *buf, size_t size, double seconds)
{
    if (seconds < 0 || seconds > 359999) {
        snprintf(buf, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else snprintf(buf, size, "%02ld:%02ld", s / 60, s % 60);
}

static void draw(sao_progress *p, double now)
{
    double elapsed = now - p->started;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    double eta = rate > 0 && p->total >= p->done ? (double)(p->total - p->done) / rate : -1;
    char eta_s[32];
    format_eta(eta_s, sizeof(eta_s), eta);
    double frac = p->total ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    if (p->tty == 1) {
        char bar[31];
        int filled = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%-16.16s [%s] %5.1f%% %llu/%llu  %.0f/s  ETA %s  ", p->label, bar,
                frac * 100, (unsigned long long)p->done, (unsigned long long)p->total, rate,
                eta_s);
        fflush(stderr);
    } else if (p->tty == 2) {
        sao_log(SAO_LOG_INFO, "progress", "%s: %llu/%llu (%.1f%%) %.0f/s eta %s", p->label,
                (unsigned long long)p->done, (unsigned long long)p->total, frac * 100, rate,
                eta_s);
    }
    p->last_draw = now;
}

void sao_progress_start(sao_progress *p, const char *label, uint64_t total)
{
    memset(p, 0, sizeof(*p));
    p->label = label;
    p->total = total;
    p->started = sao_monotonic();
    p->tty = progress_mode();
    p->last_draw = p->started;
}

void sao_progress_update(sao_progress *p, uint64_t done)
{
    p->done = done;
    double now = sao_monotonic();
    /* Redraw a terminal bar 10 times a second; a log line every 5 seconds. */
    double every = p->tty == 1 ? 0.1 : 5.0;
    if (p->tty && now - p->last_draw >= every) draw(p, now);
}

void sao_progress_finish(sao_progress *p)
{
    if (p->finished) return;
    p->finished = 1;
    p->done = p->done > p->total ? p->done : p->total;
    if (!p->tty) return;
    draw(p, sao_monotonic());
    if (p->tty == 1) fputc('\n', stderr);
}
