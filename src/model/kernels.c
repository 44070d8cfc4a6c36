/*
 * kernels: the recurrent models' matrix products on AVX-512 when the processor has it (chosen at
 * run time, the build stays generic), with OpenBLAS behind them everywhere else.
 */
#include <cblas.h>
#include <stdatomic.h>

#include "model/model_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX512_KERNELS 1
#include <immintrin.h>
#endif

/* -1: not decided yet; 0: OpenBLAS; 1: AVX-512. */
static atomic_int kernel_choice = -1;

int sao_model__kernels(void)
{
    int choice = atomic_load(&kernel_choice);
    if (choice < 0) {
        choice = 0;
#ifdef HAVE_AVX512_KERNELS
        __builtin_cpu_init();
        choice = __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
        atomic_store(&kernel_choice, choice);
    }
    return choice;
}

int sao_model__set_kernels(int own)
{
    int previous = sao_model__kernels();
    int available = 0;
#ifdef HAVE_AVX512_KERNELS
    available = __builtin_cpu_supports("avx512f");
#endif
    atomic_store(&kernel_choice, own && available ? 1 : 0);
    return previous;
}

#ifdef HAVE_AVX512_KERNELS
/* The C tile of one micro-kernel call: MR rows by NR columns, NR = two 16-float registers. The
 * k loop runs over a block of KC at a time so that a block of B's rows (KC x NR) stays in L1
 * while every MR-row tile of A passes over it, and MC rows of A stay in L2. */
#define MR 8
#define NR 32
#define KC 256
#define MC 128

#define AVX512 __attribute__((target("avx512f,fma")))

/* C[mr, NR] = beta C + sum_k A(i, k) B(k, :), each element summed in k order (so the result of
 * an element does not depend on the tile it falls in). `mr` and `full` are constants wherever
 * this is inlined, which lets the compiler keep the 2 mr accumulators in registers; `full`
 * tiles need no masks, the last tile of a row masks the columns past N. */
static inline __attribute__((always_inline)) AVX512 void
tile(int mr, int full, size_t kc, const float *a, size_t a_rs, size_t a_cs, const float *b,
     size_t ldb, __mmask16 mask0, __mmask16 mask1, float beta, float *c, size_t ldc)
{
    __m512 acc0[MR], acc1[MR];
    for (int i = 0; i < mr; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (size_t k = 0; k < kc; k++) {
        const float *bk = b + k * ldb;
        const __m512 b0 = full ? _mm512_loadu_ps(bk) : _mm512_maskz_loadu_ps(mask0, bk);
        const __m512 b1 = full ? _mm512_loadu_ps(bk + 16) : _mm512_maskz_loadu_ps(mask1, bk + 16);
        const float *ak = a + k * a_cs;
        for (int i = 0; i < mr; i++) {
            const __m512 av = _mm512_set1_ps(ak[(size_t)i * a_rs]);
            acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
        }
    }
    const __m512 vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        if (full) {
            if (beta != 0.0f) {
                acc0[i] = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), acc0[i]);
                acc1[i] = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), acc1[i]);
            }
            _mm512_storeu_ps(ci, acc0[i]);
            _mm512_storeu_ps(ci + 16, acc1[i]);
        } else {
            if (beta != 0.0f) {
                acc0[i] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask0, ci), acc0[i]);
                acc1[i] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask1, ci + 16), acc1[i]);
            }
            _mm512_mask_storeu_ps(ci, mask0, acc0[i]);
            _mm512_mask_storeu_ps(ci + 16, mask1, acc1[i]);
        }
    }
}

/* Any tile: the row count and the column mask picked at run time, each case compiled apart. */
static AVX512 void tile_any(int mr, int full, size_t kc, const float *a, size_t a_rs, size_t a_cs,
                            const float *b, size_t ldb, __mmask16 mask0, __mmask16 mask1,
                            float beta, float *c, size_t ldc)
{
    switch (mr * 2 + (full ? 1 : 0)) {
#define TILE_CASE(rows)                                                                            \
    case 2 * rows:                                                                                 \
        tile(rows, 0, kc, a, a_rs, a_cs, b, ldb, mask0, mask1, beta, c, ldc);                      \
        break;                                                                                     \
    case 2 * rows + 1:                                                                             \
        tile(rows, 1, kc, a, a_rs, a_cs, b, ldb, mask0, mask1, beta, c, ldc);                      \
        break;
        TILE_CASE(1)
        TILE_CASE(2)
        TILE_CASE(3)
        TILE_CASE(4)
        TILE_CASE(5)
        TILE_CASE(6)
        TILE_CASE(7)
        TILE_CASE(8)
#undef TILE_CASE
    }
}

static AVX512 void gemm_avx512(size_t m, size_t n, size_t k, const float *a, size_t a_rs,
                               size_t a_cs, const float *b, size_t ldb, float beta, float *c,
                               size_t ldc)
{
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                c[i * ldc + j] = beta != 0.0f ? beta * c[i * ldc + j] : 0.0f;
        return;
    }
    for (size_t k0 = 0; k0 < k; k0 += KC) {
        const size_t kc = k - k0 < KC ? k - k0 : KC;
        const float block_beta = k0 ? 1.0f : beta;
        for (size_t m0 = 0; m0 < m; m0 += MC) {
            const size_t mc = m - m0 < MC ? m - m0 : MC;
            for (size_t n0 = 0; n0 < n; n0 += NR) {
                const size_t nr = n - n0 < NR ? n - n0 : NR;
                const __mmask16 mask0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1u);
                const __mmask16 mask1 = nr >= 32  ? 0xFFFF
                                        : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u)
                                                  : 0;
                const float *bp = b + k0 * ldb + n0;
                for (size_t i0 = m0; i0 < m0 + mc; i0 += MR) {
                    const int mr = (int)(m0 + mc - i0 < MR ? m0 + mc - i0 : MR);
                    const float *ap = a + i0 * a_rs + k0 * a_cs;
                    float *cp = c + i0 * ldc + n0;
                    if (mr == MR && nr == NR)
                        tile(MR, 1, kc, ap, a_rs, a_cs, bp, ldb, 0, 0, block_beta, cp, ldc);
                    else
                        tile_any(mr, nr == NR, kc, ap, a_rs, a_cs, bp, ldb, mask0, mask1,
                                 block_beta, cp, ldc);
                }
            }
        }
    }
}
#endif

void sao_model__gemm(size_t m, size_t n, size_t k, const float *a, size_t a_rs, size_t a_cs,
                     const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    if (m == 0 || n == 0) return;
#ifdef HAVE_AVX512_KERNELS
    if (sao_model__kernels()) {
        gemm_avx512(m, n, k, a, a_rs, a_cs, b, ldb, beta, c, ldc);
        return;
    }
#endif
    /* A(i, k) at a[i a_rs + k a_cs]: one of the two strides is 1, which is a row-major A or a
     * row-major A^T for BLAS. A single row (or column) makes the other stride meaningless, and
     * BLAS still checks it against the width. */
    if (a_cs == 1 && (m == 1 || a_rs >= k))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)(m == 1 ? (k ? k : 1) : a_rs), b, (int)ldb, beta, c, (int)ldc);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)(k <= 1 ? m : a_cs), b, (int)ldb, beta, c, (int)ldc);
}
