/*
 * Error codes (generated from SAO_ERRNO_MAP) and the thread-local error message.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAO_ERROR_MSG_MAX 1024

static _Thread_local char error_msg[SAO_ERROR_MSG_MAX];

const char *sao_strerror(int code)
{
    switch (code) {
    case SAO_OK:
        return "success";
#define SAO__ERR_STR(name, msg)                                                              \
    case SAO_E##name:                                                                        \
        return msg;
        SAO_ERRNO_MAP(SAO__ERR_STR)
#undef SAO__ERR_STR
    default:
        return "unknown error";
    }
}

const char *sao_errname(int code)
{
    switch (code) {
    case SAO_OK:
        return "SAO_OK";
#define SAO__ERR_NAME(name, msg)                                                             \
    case SAO_E##name:                                                                        \
        return "SAO_E" #name;
        SAO_ERRNO_MAP(SAO__ERR_NAME)
#undef SAO__ERR_NAME
    default:
        return "SAO_EUNKNOWN";
    }
}

int sao__error_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_msg, sizeof(error_msg), fmt, ap);
    va_end(ap);
    return 0;
}

int sao__error_wrap_message(int code, const char *fmt, ...)
{
    char prefix[SAO_ERROR_MSG_MAX];
    char old[SAO_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    sao_strlcpy(old, error_msg[0] ? error_msg : sao_strerror(code), sizeof(old));
    /* Long messages are cut at the buffer size: they are for people, not parsed. */
    size_t plen = sao_strlcpy(error_msg, prefix, sizeof(error_msg));
    if (plen < sizeof(error_msg)) sao_strlcpy(error_msg + plen, old, sizeof(error_msg) - plen);
    return 0;
}

const char *sao_error_last(void)
{
    return error_msg;
}

void sao_error_clear(void)
{
    error_msg[0] = '\0';
}

void sao__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sao: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
