/*
 * A minimal test harness: assertions print both sides and the location, then abort the test.
 */
#ifndef SAO_TEST_H
#define SAO_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"


#define ASSERT_TRUE(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: ASSERT_TRUE(%s) failed (last error: %s)\n", __FILE__,    \
                    __LINE__, #cond, sao_error_last());                                      \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define ASSERT_EQ(a, b)                                                                      \
    do {                                                                                     \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                \
        if (va_ != vb_) {                                                                    \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: %lld != %lld (last error: %s)\n", \
                    __FILE__, __LINE__, #a, #b, va_, vb_, sao_error_last());                 \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define ASSERT_OK(expr)                                                                      \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        if (rc_ != 0) {                                                                      \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr,        \
                    sao_errname(rc_), sao_error_last());                                     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                   \
    do {                                                                                     \
        const char *sa_ = (a), *sb_ = (b);                                                   \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                         \
            fprintf(stderr, "%s:%d: ASSERT_STREQ(%s, %s) failed: \"%s\" != \"%s\"\n",        \
                    __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* |a - b| <= tol * max(1, |b|) (relative for large values, absolute near zero). */
#define ASSERT_NEAR(a, b, tol)                                                               \
    do {                                                                                     \
        double da_ = (a), db_ = (b);                                                         \
        double scale_ = fabs(db_) > 1.0 ? fabs(db_) : 1.0;                                   \
        if (!(fabs(da_ - db_) <= (tol) * scale_)) {                                          \
            fprintf(stderr, "%s:%d: ASSERT_NEAR(%s, %s) failed: %.17g != %.17g (tol %g)\n",  \
                    __FILE__, __LINE__, #a, #b, da_, db_, (double)(tol));                    \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define ASSERT_CONTAINS(haystack, needle)                                                    \
    do {                                                                                     \
        const char *h_ = (haystack), *n_ = (needle);                                         \
        if (!h_ || !strstr(h_, n_)) {                                                        \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,   \
                    h_ ? h_ : "(null)", n_);                                                 \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* A loopback TCP port free right now, for a server the test starts (redis-server, sao serve). */
static inline int sao_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* Path of a file under ../shared (SAO_SHARED_DIR overrides). */
static inline const char *sao_test_shared(const char *relative)
{
    static char buf[4][4096];
    static int slot;
    const char *dir = getenv("SAO_SHARED_DIR");
    if (!dir || !*dir) dir = SAO_DEFAULT_SHARED_DIR;
    char *out = buf[slot++ % 4];
    snprintf(out, sizeof(buf[0]), "%s/%s", dir, relative);
    return out;
}

typedef void (*sao_test_fn)(void);
typedef struct sao_test_case {
    const char *name;
    sao_test_fn fn;
} sao_test_case;

/* Runs every case (or only the one named in argv[1]) and prints a line per case. */
static inline int sao_test_main(int argc, char **argv, const sao_test_case *cases, size_t count)
{
    int ran = 0;
    for (size_t i = 0; i < count; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) continue;
        sao_error_clear();
        cases[i].fn();
        printf("ok %s\n", cases[i].name);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "no test case matched\n");
        return 1;
    }
    return 0;
}

#define SAO_TEST_MAIN(...)                                                                   \
    int main(int argc, char **argv)                                                          \
    {                                                                                        \
        static const sao_test_case cases_[] = {__VA_ARGS__};                                 \
        return sao_test_main(argc, argv, cases_, sizeof(cases_) / sizeof(cases_[0]));        \
    }
#define TEST(fn) {#fn, fn}

#endif
