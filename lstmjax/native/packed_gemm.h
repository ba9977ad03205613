// A small-M sgemm for the recurrence's step GEMMs: C[M, N] (+)= A[M, K] · B[K, N], row-major,
// with B fixed for the whole call (W or Wᵀ) and packed once into 32-column panels.
//
// Why not OpenBLAS for these: per step and thread the GEMM has M = 8..64 rows (a thread's
// slice of the batch) against a B of K x 4H that stays the same for all T steps. OpenBLAS
// repacks B on every call and its kernels are tuned for large M; packed once, B streams
// from L1/L2 and an 8 x 32 register block runs near the core's FMA peak. Which products
// take it (large B only) is decided, with the measurements, at FixedRhs in recurrence.cc.
//
// Compiled only for AVX-512 (-march=native on a CPU that has it) and without
// LSTMJAX_BLAS_ONLY; elsewhere kPackedGemm is false and every GEMM goes to OpenBLAS.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) && !defined(LSTMJAX_BLAS_ONLY)
#include <immintrin.h>
#define LSTMJAX_PACKED_GEMM 1
#else
#define LSTMJAX_PACKED_GEMM 0
#endif

namespace lstmjax_native {

constexpr bool kPackedGemm = LSTMJAX_PACKED_GEMM;

#if LSTMJAX_PACKED_GEMM

// B[K, N] as panels: `full` panels of 32 columns, each [K][32], then one tail panel of
// the remaining columns, zero-padded to 16 or 32 ([K][16] or [K][32]).
struct PackedB {
  int64_t K = 0, N = 0, full = 0, tail = 0;
  std::vector<float> data;
};

inline int64_t TailWidth(int64_t tail) { return tail == 0 ? 0 : (tail <= 16 ? 16 : 32); }

inline void Pack(const float* b, int64_t K, int64_t N, int64_t ldb, PackedB& p) {
  p.K = K;
  p.N = N;
  p.full = N / 32;
  p.tail = N % 32;
  const int64_t tw = TailWidth(p.tail);
  p.data.assign(p.full * K * 32 + K * tw, 0.0f);
  float* d = p.data.data();
  for (int64_t q = 0; q < p.full; ++q)
    for (int64_t k = 0; k < K; ++k, d += 32) std::memcpy(d, b + k * ldb + q * 32, 32 * 4);
  for (int64_t k = 0; tw && k < K; ++k, d += tw)
    std::memcpy(d, b + k * ldb + p.full * 32, p.tail * 4);
}

// MR rows x NV vectors of 16 columns: acc[r][v] = Σ_k A[r, k] · panel[k, 16v : 16v + 16],
// then stored (or added to C) under the column masks m0, m1.
template <int MR, int NV, bool kAccumulate>
inline void MicroKernel(const float* a, int64_t lda, const float* panel, int64_t K, float* c,
                        int64_t ldc, __mmask16 m0, __mmask16 m1) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(panel + k * NV * 16 + v * 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == 0 ? m0 : m1;
      float* out = c + r * ldc + v * 16;
      __m512 x = acc[r][v];
      if (kAccumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, out));
      _mm512_mask_storeu_ps(out, m, x);
    }
}

// The n < MR rows left after the full row blocks, dispatched to MicroKernel<n> at compile time.
template <int NV, bool kAccumulate, int N>
inline void LeftoverRows(int64_t n, const float* a, int64_t lda, const float* panel, int64_t K,
                         float* c, int64_t ldc, __mmask16 m0, __mmask16 m1) {
  if constexpr (N > 0) {
    if (n == N) return MicroKernel<N, NV, kAccumulate>(a, lda, panel, K, c, ldc, m0, m1);
    LeftoverRows<NV, kAccumulate, N - 1>(n, a, lda, panel, K, c, ldc, m0, m1);
  }
}

template <int NV, bool kAccumulate>
inline void PanelRows(int64_t M, const float* a, int64_t lda, const float* panel, int64_t K,
                      float* c, int64_t ldc, __mmask16 m0, __mmask16 m1) {
  // 16 (NV = 2) or 12 (NV = 1) accumulators of the 32 zmm registers: enough independent
  // FMA chains to hide the FMA latency on two ports, with room for B and the broadcast
  constexpr int MR = NV == 2 ? 8 : 12;
  int64_t r = 0;
  for (; r + MR <= M; r += MR)
    MicroKernel<MR, NV, kAccumulate>(a + r * lda, lda, panel, K, c + r * ldc, ldc, m0, m1);
  LeftoverRows<NV, kAccumulate, MR - 1>(M - r, a + r * lda, lda, panel, K, c + r * ldc, ldc,
                                        m0, m1);
}

// C[M, N] = A·B (kAccumulate: C += A·B). Panel by panel, so one panel ([K][32], 16 KB at
// K = 129) stays in L1 while every row block of A passes over it.
template <bool kAccumulate>
inline void PackedGemm(int64_t M, const float* a, int64_t lda, const PackedB& p, float* c,
                       int64_t ldc) {
  const int64_t K = p.K;
  const float* panel = p.data.data();
  for (int64_t q = 0; q < p.full; ++q, panel += K * 32)
    PanelRows<2, kAccumulate>(M, a, lda, panel, K, c + q * 32, ldc, 0xFFFF, 0xFFFF);
  if (p.tail == 0) return;
  float* tail = c + p.full * 32;
  if (p.tail <= 16)
    PanelRows<1, kAccumulate>(M, a, lda, panel, K, tail, ldc,
                              static_cast<__mmask16>((1u << p.tail) - 1), 0);
  else
    PanelRows<2, kAccumulate>(M, a, lda, panel, K, tail, ldc, 0xFFFF,
                              static_cast<__mmask16>((1u << (p.tail - 16)) - 1));
}

#endif  // LSTMJAX_PACKED_GEMM

}  // namespace lstmjax_native
