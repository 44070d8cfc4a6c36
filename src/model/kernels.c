/*
 * kernels: the recurrent models' matrix products on AVX-512 when the processor has it (chosen at
 * run time, the build stays generic), with OpenBLAS behind them everywhere else; and the
 * recurrent product of one-window inference, on AVX-512 or in plain C.
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

/* ---------------------------------------------------------------------------------------------
 * The recurrent product of one row, W_hh h for a single window. With one row there is no reuse
 * of the weights for a tile to exploit, and the gemm's single-row tiles leave each FMA waiting on
 * the one before it; here a group of column vectors (a "pass") keeps that many independent sums
 * going while h is read once per k.
 */
#define LANES SAO_MODEL__LANES
/* A layer's weights up to this size stay in L1 between steps: passes as wide as the registers
 * allow. Past it they stream from L2 each step, and narrower passes, run in the opposite order
 * every other step, find the passes last read still in L1 (a sweep in one fixed order over more
 * than L1 holds evicts each line just before it is needed again). */
#define RESIDENT_BYTES (40 * 1024)
#define WIDE_PASS 16
#define NARROW_PASS 6

/* How `vectors` column vectors are grouped into passes: `count` near-equal groups. */
static size_t pass_count(size_t vectors, size_t hidden)
{
    const size_t bytes = vectors * LANES * hidden * sizeof(float);
    const size_t widest = bytes <= RESIDENT_BYTES ? WIDE_PASS : NARROW_PASS;
    return (vectors + widest - 1) / widest;
}

/* The first vector of pass `p` of `count`. */
static size_t pass_first(size_t p, size_t count, size_t vectors)
{
    return vectors * p / count;
}

static size_t padded_units(size_t hidden)
{
    return (hidden + LANES - 1) / LANES * LANES;
}

size_t sao_model__recur_size(size_t gates, size_t hidden)
{
    return gates * padded_units(hidden) * hidden;
}

void sao_model__recur_pack(float *pack, const float *w_hh, size_t gates, size_t hidden)
{
    const size_t padded = padded_units(hidden), per_gate = padded / LANES;
    const size_t vectors = gates * per_gate, passes = pass_count(vectors, hidden);
    for (size_t p = 0; p < passes; p++) {
        const size_t v0 = pass_first(p, passes, vectors), v1 = pass_first(p + 1, passes, vectors);
        const size_t width = v1 - v0;
        float *block = pack + v0 * LANES * hidden;
        for (size_t k = 0; k < hidden; k++)
            for (size_t v = v0; v < v1; v++) {
                const size_t gate = v / per_gate, unit0 = v % per_gate * LANES;
                float *dst = block + (k * width + (v - v0)) * LANES;
                for (size_t lane = 0; lane < LANES; lane++) {
                    const size_t unit = unit0 + lane;
                    dst[lane] = unit < hidden ? w_hh[(gate * hidden + unit) * hidden + k] : 0.0f;
                }
            }
    }
}

/* One pass in plain C, each sum in k order. */
static void recur_pass_generic(size_t width, float *pre, const float *base, size_t based_from,
                               const float *h, size_t hidden, const float *w)
{
    float acc[WIDE_PASS * LANES];
    const size_t cols = width * LANES;
    for (size_t j = 0; j < cols; j++) acc[j] = 0.0f;
    for (size_t k = 0; k < hidden; k++) {
        const float hk = h[k];
        const float *wk = w + k * cols;
        for (size_t j = 0; j < cols; j++) acc[j] += hk * wk[j];
    }
    for (size_t j = 0; j < cols; j++) pre[j] = j < based_from ? base[j] + acc[j] : acc[j];
}

#ifdef HAVE_AVX512_KERNELS
/* One pass of `width` vectors (a constant wherever this is inlined, so that the sums stay in
 * registers). Each element is summed as gemm_avx512 sums it with a single row: k in blocks of KC,
 * each block's FMA chain started from zero and then added to what the element holds (its base
 * first, when it has one), so that the result is the same float. */
static inline __attribute__((always_inline)) AVX512 void
recur_pass(int width, float *pre, const float *base, size_t based_from, const float *h,
           size_t hidden, const float *w)
{
    for (size_t k0 = 0; k0 < hidden; k0 += KC) {
        const size_t k1 = hidden - k0 < KC ? hidden : k0 + KC;
        __m512 acc[WIDE_PASS];
        for (int v = 0; v < width; v++) acc[v] = _mm512_setzero_ps();
        for (size_t k = k0; k < k1; k++) {
            const __m512 hk = _mm512_set1_ps(h[k]);
            const float *wk = w + k * (size_t)width * LANES;
            for (int v = 0; v < width; v++)
                acc[v] = _mm512_fmadd_ps(hk, _mm512_loadu_ps(wk + v * LANES), acc[v]);
        }
        for (int v = 0; v < width; v++) {
            float *pv = pre + v * LANES;
            const size_t col = (size_t)v * LANES;
            if (k0)
                acc[v] = _mm512_add_ps(_mm512_loadu_ps(pv), acc[v]);
            else if (col < based_from)
                acc[v] = _mm512_add_ps(_mm512_loadu_ps(base + col), acc[v]);
            _mm512_storeu_ps(pv, acc[v]);
        }
    }
}

static AVX512 void recur_pass_avx512(size_t width, float *pre, const float *base, size_t based_from,
                                     const float *h, size_t hidden, const float *w)
{
    switch (width) {
#define PASS_CASE(n)                                                                               \
    case n:                                                                                        \
        recur_pass(n, pre, base, based_from, h, hidden, w);                                        \
        break;
        PASS_CASE(1)
        PASS_CASE(2)
        PASS_CASE(3)
        PASS_CASE(4)
        PASS_CASE(5)
        PASS_CASE(6)
        PASS_CASE(7)
        PASS_CASE(8)
        PASS_CASE(9)
        PASS_CASE(10)
        PASS_CASE(11)
        PASS_CASE(12)
        PASS_CASE(13)
        PASS_CASE(14)
        PASS_CASE(15)
        PASS_CASE(16)
#undef PASS_CASE
    }
}
#endif

/* ---------------------------------------------------------------------------------------------
 * One inference step's gates and state. A step waits on its activations: in definition.c's
 * loops each 16-unit vector runs its gates, then its cell, then tanh of the cell, one long chain
 * after another. Here the exponentials of every gate of a few vectors are interleaved, as many
 * independent chains, with the arithmetic of sao_model__expf and the generic loops op for op, so
 * that the results are the same floats.
 */
#ifdef HAVE_AVX512_KERNELS
/* Vectors a step takes at a time: two (eight exponentials side by side) measured faster than
 * four, whose sixteen chains and their constants overflow the 32 registers. */
#define STEP_VECTORS 2

static inline __attribute__((always_inline)) AVX512 __m512 neg_lanes(__m512 x)
{
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}

/* sao_model__expf on 16 lanes. */
static inline __attribute__((always_inline)) AVX512 __m512 exp_lanes(__m512 x)
{
    /* max/min return their second operand when one is NaN: a NaN x passes, as in the scalar. */
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x);
    const __m512 k = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                   _mm512_set1_ps(12582912.0f));
    const __m512 n = _mm512_sub_ps(k, _mm512_set1_ps(12582912.0f));
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_add_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r),
                      _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(k), _mm512_set1_epi32(0x4B400000));
    bits = _mm512_slli_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

/* 1 / (1 + e) and 2 / (1 + e) - 1: what sigmoid and tanh do with their exponential. */
static inline __attribute__((always_inline)) AVX512 __m512 sigmoid_of_exp(__m512 e)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

static inline __attribute__((always_inline)) AVX512 __m512 tanh_of_exp(__m512 e)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_sub_ps(_mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, e)), one);
}

static inline __attribute__((always_inline)) AVX512 __m512 tanh_arg(__m512 x)
{
    return _mm512_mul_ps(_mm512_set1_ps(-2.0f), x);
}

/* `width` vectors (a constant where inlined) of an LSTM step; the pointers are at the first
 * vector's units, the gates `padded` floats apart. */
static inline __attribute__((always_inline)) AVX512 void
lstm_vectors(int width, float *h, float *cell, const float *pre, const float *bias, size_t padded)
{
    __m512 e[4][STEP_VECTORS]; /* i, f, g, o */
    for (int g = 0; g < 4; g++)
        for (int v = 0; v < width; v++) {
            const size_t at = g * padded + (size_t)v * LANES;
            const __m512 x = _mm512_add_ps(_mm512_loadu_ps(pre + at), _mm512_loadu_ps(bias + at));
            e[g][v] = g == 2 ? tanh_arg(x) : neg_lanes(x);
        }
    for (int g = 0; g < 4; g++)
        for (int v = 0; v < width; v++) e[g][v] = exp_lanes(e[g][v]);
    for (int g = 0; g < 4; g++)
        for (int v = 0; v < width; v++)
            e[g][v] = g == 2 ? tanh_of_exp(e[g][v]) : sigmoid_of_exp(e[g][v]);
    __m512 c[STEP_VECTORS];
    for (int v = 0; v < width; v++) {
        float *cv = cell + (size_t)v * LANES;
        c[v] = _mm512_add_ps(_mm512_mul_ps(e[1][v], _mm512_loadu_ps(cv)),
                             _mm512_mul_ps(e[0][v], e[2][v]));
        _mm512_storeu_ps(cv, c[v]);
    }
    for (int v = 0; v < width; v++) {
        const __m512 tc = tanh_of_exp(exp_lanes(tanh_arg(c[v])));
        _mm512_storeu_ps(h + (size_t)v * LANES, _mm512_mul_ps(e[3][v], tc));
    }
}

/* The same for a GRU step: r and z interleaved, then n. */
static inline __attribute__((always_inline)) AVX512 void
gru_vectors(int width, float *h, const float *h_prev, const float *pre, const float *x_n,
            const float *bias, const float *b_hn, size_t padded)
{
    __m512 e[2][STEP_VECTORS]; /* r, z */
    for (int g = 0; g < 2; g++)
        for (int v = 0; v < width; v++) {
            const size_t at = g * padded + (size_t)v * LANES;
            e[g][v] =
                neg_lanes(_mm512_add_ps(_mm512_loadu_ps(pre + at), _mm512_loadu_ps(bias + at)));
        }
    for (int g = 0; g < 2; g++)
        for (int v = 0; v < width; v++) e[g][v] = sigmoid_of_exp(exp_lanes(e[g][v]));
    __m512 n[STEP_VECTORS];
    for (int v = 0; v < width; v++) {
        const size_t at = (size_t)v * LANES;
        const __m512 hn =
            _mm512_add_ps(_mm512_loadu_ps(pre + 2 * padded + at), _mm512_loadu_ps(b_hn + at));
        const __m512 x = _mm512_add_ps(
            _mm512_add_ps(_mm512_loadu_ps(x_n + at), _mm512_loadu_ps(bias + 2 * padded + at)),
            _mm512_mul_ps(e[0][v], hn));
        n[v] = tanh_of_exp(exp_lanes(tanh_arg(x)));
    }
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int v = 0; v < width; v++) {
        const size_t at = (size_t)v * LANES;
        const __m512 z = e[1][v];
        _mm512_storeu_ps(h + at, _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(one, z), n[v]),
                                               _mm512_mul_ps(z, _mm512_loadu_ps(h_prev + at))));
    }
}

static AVX512 void lstm_step_avx512(float *h, float *cell, const float *pre, const float *bias,
                                    size_t padded)
{
    size_t j = 0;
    for (; j + STEP_VECTORS * LANES <= padded; j += STEP_VECTORS * LANES)
        lstm_vectors(STEP_VECTORS, h + j, cell + j, pre + j, bias + j, padded);
    if (j < padded) lstm_vectors(1, h + j, cell + j, pre + j, bias + j, padded);
}

static AVX512 void gru_step_avx512(float *h, const float *h_prev, const float *pre,
                                   const float *x_n, const float *bias, const float *b_hn,
                                   size_t padded)
{
    size_t j = 0;
    for (; j + STEP_VECTORS * LANES <= padded; j += STEP_VECTORS * LANES)
        gru_vectors(STEP_VECTORS, h + j, h_prev + j, pre + j, x_n + j, bias + j, b_hn + j, padded);
    if (j < padded) gru_vectors(1, h + j, h_prev + j, pre + j, x_n + j, bias + j, b_hn + j, padded);
}
#endif

int sao_model__lstm_step(float *h, float *cell, const float *pre, const float *bias, size_t padded)
{
#ifdef HAVE_AVX512_KERNELS
    if (sao_model__kernels()) {
        lstm_step_avx512(h, cell, pre, bias, padded);
        return 1;
    }
#endif
    return 0;
}

int sao_model__gru_step(float *h, const float *h_prev, const float *pre, const float *x_n,
                        const float *bias, const float *b_hn, size_t padded)
{
#ifdef HAVE_AVX512_KERNELS
    if (sao_model__kernels()) {
        gru_step_avx512(h, h_prev, pre, x_n, bias, b_hn, padded);
        return 1;
    }
#endif
    return 0;
}

void sao_model__recur(float *pre, const float *base, size_t based, const float *h,
                      const float *pack, size_t gates, size_t hidden, int backwards)
{
    const size_t padded = padded_units(hidden);
    const size_t vectors = gates * padded / LANES, passes = pass_count(vectors, hidden);
    const size_t based_cols = based * padded;
#ifdef HAVE_AVX512_KERNELS
    const int own = sao_model__kernels();
#endif
    for (size_t q = 0; q < passes; q++) {
        const size_t p = backwards ? passes - 1 - q : q;
        const size_t v0 = pass_first(p, passes, vectors), v1 = pass_first(p + 1, passes, vectors);
        const size_t col0 = v0 * LANES;
        /* Columns of this pass that have a base, counted from its first. */
        const size_t based_from = based_cols > col0 ? based_cols - col0 : 0;
        const float *w = pack + col0 * hidden;
        const float *pass_base = based_from ? base + col0 : NULL;
#ifdef HAVE_AVX512_KERNELS
        if (own) {
            recur_pass_avx512(v1 - v0, pre + col0, pass_base, based_from, h, hidden, w);
            continue;
        }
#endif
        recur_pass_generic(v1 - v0, pre + col0, pass_base, based_from, h, hidden, w);
    }
}

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
