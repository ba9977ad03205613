// The LSTM and GRU recurrences as whole-sequence CPU kernels for XLA's FFI.
//
// One FFI call runs one layer and direction over all T steps (what oneDNN and cuDNN do),
// instead of one XLA thunk sequence per step. Inputs and outputs are batch-major, as
// lstmjax.apply takes and returns them (xs [B, T, D], ys [B, T, H]: no transposes around
// the call); what the forward saves for the backward is time-major; weights as lstmjax
// stores them (w [K, G*H] with the gate blocks side by side, see lstmjax/cells.py).
//
// Why it is fast:
//  * batch rows are independent for the whole sequence, so each thread owns a slice of
//    the batch and runs the full time loop on it with no synchronisation between steps;
//  * per step, one single-threaded BLAS GEMM per thread does the recurrent (and, for the
//    LSTM, the input) projection: z_t = [x_t, h_{t-1}] · [W_x; W_h];
//  * the gate pointwise is plain loops over H that the compiler vectorises (built with
//    -O3 -march=native -ffast-math, which maps expf/tanhf onto glibc's vector libmvec).
//
// LSTM (every lstmjax gate preset except FGR; flags below), with peepholes p_i, p_f, p_o:
//   i = σ(z_i + p_i⊙c_{t-1})   f = σ(z_f + p_f⊙c_{t-1}) | 1 - i (CIFG) | 1 (NFG)
//   g = tanh(z_g) | z_g (NIAF)  c_t = f⊙c_{t-1} + i⊙g
//   o = σ(z_o + p_o⊙c_t) | 1    h_t = o⊙tanh(c_t) | o⊙c_t (NOAF)
// An absent gate reads a row of ones, so σ'(·) = 1·(1-1) = 0 sends its gradient nowhere.
//
// GRU (PyTorch/Flax convention, blocks r, z, n):
//   r = σ(x W_xr + b_r + h W_hr)   u = σ(x W_xz + b_z + h W_hz)
//   n = tanh(x W_xn + b_n + r⊙(h W_hn + b_hn))   h_t = (1-u)⊙n + u⊙h_{t-1}
//
// Padding: row b is valid at step t iff t < lengths[b]; a padded step keeps the carry,
// writes an output of exactly 0, never reads its input (NaN there reaches nothing) and
// sends no gradient anywhere; `reverse` runs t = T-1 .. 0, which is reversal within each
// length. The final state (h_last, c_last) is the carry after each row's last valid step.
//
// Weight gradients: the LSTM backward gathers the rows [x_t, h_{t-1}] and dz_t of a few
// steps and adds dW += [X, H_prev]ᵀ·dZ as one GEMM per ~512 rows (per-thread partial
// sums, added in thread order), so dZ [T, B, G*H] is never written out; the GRU backward
// does the same for dW_x = Xᵀ·dZ_x and dW_h = H_prevᵀ·dZ_h.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "cblas.h"
#include "packed_gemm.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Gate flags (lstmjax/native/scan.py builds them from a GateConfig).
constexpr int64_t kInputGate = 1;       // an i block exists (else i = 1)
constexpr int64_t kForgetBlock = 2;     // an f block exists (else f = 1, or 1 - i if coupled)
constexpr int64_t kOutputGate = 4;      // an o block exists (else o = 1)
constexpr int64_t kCoupled = 8;         // CIFG: f = 1 - i
constexpr int64_t kInputIdentity = 16;  // NIAF: g = z_g
constexpr int64_t kOutputIdentity = 32; // NOAF: h = o * c
constexpr int64_t kAllFlags = 63;

// From this input width on, the input projection X·W_x runs as one GEMM per sequence
// (M = T rows) before the time loop, and the backward's dX = dZ·W_xᵀ as one GEMM per
// gathered chunk after it, instead of inside every step's small GEMM: large GEMMs run
// at about 1.6x the GFLOP/s of the per-step ones (experiments/blas_choice.py). Below it
// the input part of the per-step GEMM costs next to nothing (pixel MNIST: D = 1).
// Only for slices of at least this many rows per thread: with fewer (B = 16 on 2 cores)
// the per-step GEMMs are call-overhead bound and hoisting measured ~10% slower.
// (Measured against OpenBLAS step GEMMs; with the packed step GEMM (FixedRhs) hoisting
// and not hoisting were level at (64, 256, 128, 256): 172-187 vs 179 ms fwd+bwd.)
constexpr int64_t kHoistMinInput = 32;
constexpr int64_t kHoistMinRows = 16;

// OpenBLAS is called from our own threads, one GEMM each: its own threads would fight them.
struct SingleThreadedBlas {
  SingleThreadedBlas() { scipy_openblas_set_num_threads(1); }
} single_threaded_blas;

// Outputs of tens of MB arrive as fresh, untouched pages from the allocator; faulting them
// in 4 KB at a time cost ~0.25 ms per MB here (a third of the forward at pixel-MNIST size).
// Asking for transparent huge pages before the first write makes it 2 MB at a time. Only
// a hint: where THP is off, or the range is not mmapped memory, nothing changes.
void AdviseHugePages(void* data, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (bytes < 2 * kHuge) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

template <typename Buffer>
void AdviseHugePages(Buffer& buffer) {
  AdviseHugePages(buffer->untyped_data(), buffer->size_bytes());
}

// [rows, cols] row-major -> [cols, rows] row-major.
std::vector<float> Transposed(const float* a, int64_t rows, int64_t cols) {
  std::vector<float> t(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = a[r * cols + c];
  return t;
}

// The right-hand side of a call's per-step GEMMs (W, W_h or a stored Wᵀ), the same for all
// T steps: C[M, N] = A[M, K]·B or C += A·B for each step's rows (M <= `rows`, a thread's
// slice). Packed once per call for the AVX-512 micro-kernel (packed_gemm.h) where the
// product is big enough, rows·K·N >= kPackMinWork: there OpenBLAS packs B again on every
// call, and the packed GEMM measured 1.5-1.9x faster ((32, 129, 512), pixel MNIST's
// forward: 34 -> 23 µs; (32, 512, 64): 21 -> 11 µs); below it OpenBLAS takes a small-matrix
// path without packing and was level or up to 1.2x faster ((32, 72, 256), (8, 128, 256),
// (32, 256, 72)): experiments/blas_choice.py, one core, interleaved. Elsewhere, and on CPUs
// without AVX-512, each product is one OpenBLAS call.
constexpr int64_t kPackMinWork = int64_t{1} << 20;

class FixedRhs {
 public:
  FixedRhs(const float* b, int64_t K, int64_t N, int64_t ldb, int64_t rows)
      : b_(b), K_(K), N_(N), ldb_(ldb) {
#if LSTMJAX_PACKED_GEMM
    packed_ = rows * K * N >= kPackMinWork;
    if (packed_) lstmjax_native::Pack(b, K, N, ldb, panels_);
#endif
  }

  void Multiply(int64_t M, const float* a, int64_t lda, float* c, int64_t ldc,
                bool accumulate) const {
    if (M <= 0) return;
#if LSTMJAX_PACKED_GEMM
    if (packed_) {
      if (accumulate) lstmjax_native::PackedGemm<true>(M, a, lda, panels_, c, ldc);
      else lstmjax_native::PackedGemm<false>(M, a, lda, panels_, c, ldc);
      return;
    }
#endif
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N_, K_, 1.0f, a, lda, b_,
                      ldb_, accumulate ? 1.0f : 0.0f, c, ldc);
  }

 private:
  const float* b_;
  int64_t K_, N_, ldb_;
#if LSTMJAX_PACKED_GEMM
  bool packed_ = false;
  lstmjax_native::PackedB panels_;
#endif
};

// The argument is clamped to +-88 (exp(88) < FLT_MAX): under -ffast-math (finite math
// only) exp(-v) = inf for v < -88.7 is not handled, and the vectorized 1/(1 + inf) gave NaN
// (a peephole on a cell without a forget gate, |c| ~ T, reached it at T = 1000). sigmoid(+-88)
// is 1 and 0 to float precision, as the reference's jax.nn.sigmoid gives there.
inline float sigmoid(float v) {
  v = std::fmin(std::fmax(v, -88.0f), 88.0f);
  return 1.0f / (1.0f + std::exp(-v));
}

int NumThreads(int64_t batch) {
  int n = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* env = std::getenv("LSTMJAX_NATIVE_THREADS")) n = std::atoi(env);
  n = std::max(1, n);
  // at least 4 rows per thread: below that a thread costs more than it saves
  int64_t by_rows = std::max<int64_t>(1, batch / 4);
  return static_cast<int>(std::min<int64_t>(n, by_rows));
}

// Rows of the largest slice ParallelRows hands a thread: the M of its per-step GEMMs.
int64_t LargestSlice(int64_t batch, int threads) { return (batch + threads - 1) / threads; }

// Runs fn(thread_index, b0, b1) on contiguous batch slices, one per thread.
template <typename Fn>
void ParallelRows(int64_t batch, int threads, Fn fn) {
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k)
    pool.emplace_back(fn, k, batch * k / threads, batch * (k + 1) / threads);
  fn(0, 0, batch / threads);
  for (auto& t : pool) t.join();
}

// Calls run(in_tanh, out_tanh) with std::true_type / std::false_type for the flags, so the
// pointwise loops are compiled once per activation pair with no branch inside them.
template <typename Run>
void WithActivations(int64_t flags, Run run) {
  using Y = std::true_type;
  using N = std::false_type;
  const bool in_tanh = !(flags & kInputIdentity), out_tanh = !(flags & kOutputIdentity);
  if (in_tanh && out_tanh) run(Y{}, Y{});
  else if (in_tanh) run(Y{}, N{});
  else if (out_tanh) run(N{}, Y{});
  else run(N{}, N{});
}

// Block column offsets of the fused pre-activation (order i, f, g, o; absent ones -1).
struct LstmLayout {
  int64_t H, GH, oi, of, og, oo;
  LstmLayout(int64_t flags, int64_t hidden) : H(hidden) {
    int64_t off = 0;
    oi = (flags & kInputGate) ? (off += H) - H : -1;
    of = (flags & kForgetBlock) ? (off += H) - H : -1;
    og = (off += H) - H;
    oo = (flags & kOutputGate) ? (off += H) - H : -1;
    GH = off;
  }
};

ffi::Error CheckFlags(int64_t flags) {
  if (flags < 0 || flags > kAllFlags)
    return ffi::Error::InvalidArgument("lstmjax native: unknown gate flags " +
                                       std::to_string(flags));
  if ((flags & kCoupled) && (!(flags & kInputGate) || (flags & kForgetBlock)))
    return ffi::Error::InvalidArgument(
        "lstmjax native: coupled (CIFG) needs an input gate and no forget block");
  return ffi::Error::Success();
}

// ------------------------------------------------------------------------- LSTM forward

// One valid row of one step: z (bias-free GEMM output, activated in place), c_prev -> c, h.
template <bool kInTanh, bool kOutTanh>
void LstmPointwise(const LstmLayout& L, int64_t flags, float* z, const float* bias,
                   const float* peep, const float* c_prev, float* c, float* h, float* ones,
                   float* fbuf) {
  const int64_t H = L.H;
  const float* pi = peep;
  const float* pf = peep + H;
  const float* po = peep + 2 * H;
  for (int64_t k = 0; k < L.GH; ++k) z[k] += bias[k];
  if (L.oi >= 0) {
    float* zi = z + L.oi;
    for (int64_t j = 0; j < H; ++j) zi[j] = sigmoid(zi[j] + pi[j] * c_prev[j]);
  }
  if (L.of >= 0) {
    float* zf = z + L.of;
    for (int64_t j = 0; j < H; ++j) zf[j] = sigmoid(zf[j] + pf[j] * c_prev[j]);
  }
  float* g = z + L.og;
  if (kInTanh)
    for (int64_t j = 0; j < H; ++j) g[j] = std::tanh(g[j]);
  const float* i = L.oi >= 0 ? z + L.oi : ones;
  const float* f = ones;
  if (L.of >= 0) {
    f = z + L.of;
  } else if (flags & kCoupled) {
    for (int64_t j = 0; j < H; ++j) fbuf[j] = 1.0f - i[j];
    f = fbuf;
  }
  for (int64_t j = 0; j < H; ++j) c[j] = f[j] * c_prev[j] + i[j] * g[j];
  if (L.oo >= 0) {
    float* zo = z + L.oo;
    for (int64_t j = 0; j < H; ++j) zo[j] = sigmoid(zo[j] + po[j] * c[j]);
  }
  const float* o = L.oo >= 0 ? z + L.oo : ones;
  if (kOutTanh)
    for (int64_t j = 0; j < H; ++j) h[j] = o[j] * std::tanh(c[j]);
  else
    for (int64_t j = 0; j < H; ++j) h[j] = o[j] * c[j];
}

template <bool kInTanh, bool kOutTanh>
void LstmForwardRows(int64_t b0, int64_t b1, int64_t T, int64_t B, int64_t D,
                     const LstmLayout& L, int64_t flags, bool reverse, const float* xs,
                     const float* w, const FixedRhs& w_all, const FixedRhs& w_h,
                     const float* bias, const float* peep, const float* h0,
                     const float* c0, const int32_t* lengths, float* hs, float* h_last,
                     float* c_last, float* acts, float* cs) {
  const int64_t nb = b1 - b0, H = L.H, GH = L.GH, K = D + H;
  if (nb <= 0) return;
  std::vector<float> xh(nb * K), c(nb * H), c_new(H), zbuf(acts ? 0 : nb * GH),
      ones(H, 1.0f), fbuf(H);
  for (int64_t r = 0; r < nb; ++r) {
    std::memcpy(&xh[r * K + D], h0 + (b0 + r) * H, H * sizeof(float));
    std::memcpy(&c[r * H], c0 + (b0 + r) * H, H * sizeof(float));
  }
  // hoisted input projection (training only: it lands in the saved activations' rows)
  const bool hoist = acts != nullptr && D >= kHoistMinInput && nb >= kHoistMinRows;
  if (hoist)
    for (int64_t b = b0; b < b1; ++b)  // acts[t, b] = x[b, t]·W_x for every t
      scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, GH, D, 1.0f,
                        xs + b * T * D, D, w, GH, 0.0f, acts + b * GH, B * GH);
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    const int64_t row0 = t * B + b0;  // first row of this slice at step t (saved, time-major)
    // the saved activations are written in place: z goes straight into acts[t]
    float* z = acts ? acts + row0 * GH : zbuf.data();
    if (hoist) {  // z += h_{t-1}·W_h
      w_h.Multiply(nb, xh.data() + D, K, z, GH, true);
    } else {  // z = [x_t, h_{t-1}]·[W_x; W_h]
      for (int64_t r = 0; r < nb; ++r)
        std::memcpy(&xh[r * K], xs + ((b0 + r) * T + t) * D, D * sizeof(float));
      w_all.Multiply(nb, xh.data(), K, z, GH, false);
    }
    for (int64_t r = 0; r < nb; ++r) {
      float* out = hs + ((b0 + r) * T + t) * H;
      if (t >= lengths[b0 + r]) {  // padded step: output 0, the carry kept
        std::memset(out, 0, H * sizeof(float));
        continue;
      }
      float* h = &xh[r * K + D];
      float* cr = &c[r * H];
      LstmPointwise<kInTanh, kOutTanh>(L, flags, z + r * GH, bias, peep, cr, c_new.data(), h,
                                       ones.data(), fbuf.data());
      std::memcpy(cr, c_new.data(), H * sizeof(float));
      std::memcpy(out, h, H * sizeof(float));
      if (cs) std::memcpy(cs + (row0 + r) * H, cr, H * sizeof(float));
    }
  }
  for (int64_t r = 0; r < nb; ++r)
    std::memcpy(h_last + (b0 + r) * H, &xh[r * K + D], H * sizeof(float));
  std::memcpy(c_last + b0 * H, c.data(), nb * H * sizeof(float));
}

ffi::Error LstmForwardImpl(ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> w,
                           ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> peep,
                           ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0,
                           ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> hs,
                           ffi::ResultBuffer<ffi::F32> h_last, ffi::ResultBuffer<ffi::F32> c_last,
                           ffi::ResultBuffer<ffi::F32> acts, ffi::ResultBuffer<ffi::F32> cs,
                           int64_t flags, int64_t reverse, int64_t save) {
  if (auto err = CheckFlags(flags); !err.success()) return err;
  auto xd = xs.dimensions();
  if (xd.size() != 3) return ffi::Error::InvalidArgument("lstmjax native: xs must be [B, T, D]");
  const int64_t B = xd[0], T = xd[1], D = xd[2], H = h0.dimensions()[1];
  const LstmLayout L(flags, H);
  if (w.dimensions()[0] != D + H || w.dimensions()[1] != L.GH)
    return ffi::Error::InvalidArgument("lstmjax native: w must be [D + H, G*H] for the flags");
  AdviseHugePages(hs);
  if (save) {
    AdviseHugePages(acts);
    AdviseHugePages(cs);
  }
  float* acts_p = save ? acts->typed_data() : nullptr;
  float* cs_p = save ? cs->typed_data() : nullptr;
  // packed once here, shared read-only by the threads: [W_x; W_h] and W_h alone (hoisting)
  const int threads = NumThreads(B);
  const int64_t rows = LargestSlice(B, threads);
  const bool can_hoist = save && D >= kHoistMinInput;  // else W_h alone is never multiplied
  const FixedRhs w_all(w.typed_data(), D + H, L.GH, L.GH, rows);
  const FixedRhs w_h(w.typed_data() + D * L.GH, H, L.GH, L.GH, can_hoist ? rows : 0);
  auto run = [&](auto in_tanh, auto out_tanh) {
    ParallelRows(B, threads, [&](int, int64_t b0, int64_t b1) {
      LstmForwardRows<decltype(in_tanh)::value, decltype(out_tanh)::value>(
          b0, b1, T, B, D, L, flags, reverse != 0, xs.typed_data(), w.typed_data(), w_all,
          w_h, bias.typed_data(), peep.typed_data(), h0.typed_data(), c0.typed_data(),
          lengths.typed_data(), hs->typed_data(), h_last->typed_data(), c_last->typed_data(),
          acts_p, cs_p);
    });
  };
  WithActivations(flags, run);
  return ffi::Error::Success();
}

// ------------------------------------------------------------------------- LSTM backward

// One valid row of one step. In: a (saved activations), c_t, c_{t-1}, dh (with dy_t), dc.
// Out: dz (pre-activation gradient, bias-free), dc <- dC_{t-1}, dpeep accumulated.
template <bool kInTanh, bool kOutTanh>
void LstmPointwiseBackward(const LstmLayout& L, int64_t flags, const float* a, const float* ct,
                           const float* cp, const float* dh, float* dc, float* dz,
                           const float* peep, float* dpeep, const float* ones, float* sink,
                           float* fbuf) {
  const int64_t H = L.H;
  const float* i = L.oi >= 0 ? a + L.oi : ones;
  const float* o = L.oo >= 0 ? a + L.oo : ones;
  const float* g = a + L.og;
  const bool coupled = flags & kCoupled;
  const float* f = ones;
  if (L.of >= 0) {
    f = a + L.of;
  } else if (coupled) {
    for (int64_t j = 0; j < H; ++j) fbuf[j] = 1.0f - i[j];
    f = fbuf;
  }
  float* dzi = L.oi >= 0 ? dz + L.oi : sink;
  float* dzf = L.of >= 0 ? dz + L.of : sink + H;
  float* dzo = L.oo >= 0 ? dz + L.oo : sink + 2 * H;
  float* dzg = dz + L.og;
  const float* pi = peep;
  const float* pf = peep + H;
  const float* po = peep + 2 * H;
  float* dpi = dpeep;
  float* dpf = dpeep + H;
  float* dpo = dpeep + 2 * H;
  const float cpl = coupled ? 1.0f : 0.0f;
  // the pointers never overlap (absent gates write distinct rows of `sink`): vectorise
#pragma GCC ivdep
  for (int64_t j = 0; j < H; ++j) {
    const float tc = kOutTanh ? std::tanh(ct[j]) : ct[j];
    const float gz_o = dh[j] * tc * o[j] * (1.0f - o[j]);  // 0 when o is absent (o = 1)
    const float dct = dc[j] + dh[j] * o[j] * (kOutTanh ? 1.0f - tc * tc : 1.0f) +
                      gz_o * po[j];
    const float df = dct * cp[j];
    const float di = dct * g[j] - cpl * df;  // CIFG: f = 1 - i also depends on i
    const float gz_i = di * i[j] * (1.0f - i[j]);
    const float gz_f = (1.0f - cpl) * df * f[j] * (1.0f - f[j]);
    const float dg = dct * i[j];
    dzo[j] = gz_o;
    dzi[j] = gz_i;
    dzf[j] = gz_f;
    dzg[j] = kInTanh ? dg * (1.0f - g[j] * g[j]) : dg;
    dc[j] = dct * f[j] + gz_i * pi[j] + gz_f * pf[j];
    dpi[j] += gz_i * cp[j];
    dpf[j] += gz_f * cp[j];
    dpo[j] += gz_o * ct[j];
  }
}

// The per-thread partial sums (each `part` floats, thread k's at k * part), added in
// thread order, so a rerun with the same thread count is bitwise identical.
std::vector<float> ThreadSums(const std::vector<float>& partial, int threads, int64_t part) {
  std::vector<float> total(partial.begin(), partial.begin() + part);
  for (int k = 1; k < threads; ++k)
    for (int64_t j = 0; j < part; ++j) total[j] += partial[k * part + j];
  return total;
}

// Rows of a thread's slice gathered over a few steps, so that the weight gradient
// dW += [X, H_prev]ᵀ·dZ is one GEMM with ~512 rows instead of one small GEMM per step.
int64_t GradientChunk(int64_t nb, int64_t T) {
  return std::max<int64_t>(1, std::min<int64_t>(T, 512 / std::max<int64_t>(nb, 1)));
}

// dW_part += Aᵀ·dZ over `rows` gathered rows; db_part += Σ dZ.
void AccumulateWeights(int64_t rows, int64_t K, int64_t GH, const float* a, const float* dz,
                       float* dw, float* db) {
  if (rows == 0) return;
  scipy_cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, GH, rows, 1.0f, a, K, dz, GH,
                    1.0f, dw, GH);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < GH; ++k) db[k] += dz[r * GH + k];
}

template <bool kInTanh, bool kOutTanh>
void LstmBackwardRows(int64_t b0, int64_t b1, int64_t T, int64_t B, int64_t D,
                      const LstmLayout& L, int64_t flags, bool reverse, const float* xs,
                      const float* wt, const FixedRhs& wt_all, const FixedRhs& wt_h,
                      const float* peep, const float* acts, const float* cs,
                      const float* hs, const float* h0, const float* c0,
                      const int32_t* lengths, const float* d_ys, const float* d_hlast,
                      const float* d_clast, float* dxs, float* dh0, float* dc0, float* dw,
                      float* db, float* dpeep) {
  const int64_t nb = b1 - b0, H = L.H, GH = L.GH, K = D + H;
  if (nb <= 0) return;
  const int64_t C = GradientChunk(nb, T);
  std::vector<float> dh(nb * H), dc(nb * H), dxh(nb * K), ones(H, 1.0f), sink(3 * H),
      fbuf(H), a_chunk(C * nb * K), dz_chunk(C * nb * GH);
  // wide inputs: dX = dZ·W_xᵀ once per chunk (kHoistMinInput), the step GEMM only dh
  const bool split = D >= kHoistMinInput && nb >= kHoistMinRows;
  std::vector<float> dx_chunk(split ? C * nb * D : 0);
  std::vector<int64_t> chunk_steps(C);
  std::memcpy(dh.data(), d_hlast + b0 * H, nb * H * sizeof(float));
  std::memcpy(dc.data(), d_clast + b0 * H, nb * H * sizeof(float));
  int64_t filled = 0;  // steps gathered in the chunk buffers
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? s : T - 1 - s;  // the forward order, backwards
    const int64_t tp = reverse ? t + 1 : t - 1; // the step before t in the forward order
    float* dz = &dz_chunk[filled * nb * GH];
    float* a = &a_chunk[filled * nb * K];
    for (int64_t r = 0; r < nb; ++r) {
      const int64_t b = b0 + r, len = lengths[b];
      if (t >= len) {  // padded: output constant 0, the carry passed through, no gradient
        std::memset(dz + r * GH, 0, GH * sizeof(float));
        std::memset(a + r * K, 0, K * sizeof(float));  // no 0·NaN from a padded input in dW
        continue;
      }
      float* dhr = &dh[r * H];
      const float* dy = d_ys + (b * T + t) * H;
      for (int64_t j = 0; j < H; ++j) dhr[j] += dy[j];
      const bool first = reverse ? t == len - 1 : t == 0;  // its first step: state h0, c0
      const float* hp = first ? h0 + b * H : hs + (b * T + tp) * H;
      const float* cp = first ? c0 + b * H : cs + (tp * B + b) * H;
      // the GEMM's input row [x_t, h_{t-1}]
      std::memcpy(a + r * K, xs + (b * T + t) * D, D * sizeof(float));
      std::memcpy(a + r * K + D, hp, H * sizeof(float));
      LstmPointwiseBackward<kInTanh, kOutTanh>(L, flags, acts + (t * B + b) * GH,
                                               cs + (t * B + b) * H, cp, dhr, &dc[r * H],
                                               dz + r * GH, peep, dpeep, ones.data(),
                                               sink.data(), fbuf.data());
    }
    // [dx_t, dh_{t-1}] = dz_t · [W_x; W_h]ᵀ, with Wᵀ stored (OpenBLAS: 42 vs 52 µs per
    // step at pixel-MNIST size against a transposed operand); wide inputs: dh only
    if (split)
      wt_h.Multiply(nb, dz, GH, dxh.data() + D, K, false);
    else
      wt_all.Multiply(nb, dz, GH, dxh.data(), K, false);
    for (int64_t r = 0; r < nb; ++r) {
      const int64_t b = b0 + r;
      if (!split) std::memcpy(dxs + (b * T + t) * D, &dxh[r * K], D * sizeof(float));
      if (t < lengths[b]) std::memcpy(&dh[r * H], &dxh[r * K + D], H * sizeof(float));
    }
    chunk_steps[filled] = t;
    if (++filled == C || s == T - 1) {
      AccumulateWeights(filled * nb, K, GH, a_chunk.data(), dz_chunk.data(), dw, db);
      if (split) {  // dX of the chunk's rows = dZ·W_xᵀ, then into the batch-major dxs
        scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, filled * nb, D, GH, 1.0f,
                          dz_chunk.data(), GH, wt, K, 0.0f, dx_chunk.data(), D);
        for (int64_t j = 0; j < filled; ++j)
          for (int64_t r = 0; r < nb; ++r)
            std::memcpy(dxs + ((b0 + r) * T + chunk_steps[j]) * D,
                        &dx_chunk[(j * nb + r) * D], D * sizeof(float));
      }
      filled = 0;
    }
  }
  std::memcpy(dh0 + b0 * H, dh.data(), nb * H * sizeof(float));
  std::memcpy(dc0 + b0 * H, dc.data(), nb * H * sizeof(float));
}

ffi::Error LstmBackwardImpl(ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> w,
                            ffi::Buffer<ffi::F32> peep, ffi::Buffer<ffi::F32> acts,
                            ffi::Buffer<ffi::F32> cs, ffi::Buffer<ffi::F32> hs,
                            ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0,
                            ffi::Buffer<ffi::S32> lengths, ffi::Buffer<ffi::F32> d_ys,
                            ffi::Buffer<ffi::F32> d_hlast, ffi::Buffer<ffi::F32> d_clast,
                            ffi::ResultBuffer<ffi::F32> dxs,
                            ffi::ResultBuffer<ffi::F32> dw, ffi::ResultBuffer<ffi::F32> db,
                            ffi::ResultBuffer<ffi::F32> dh0, ffi::ResultBuffer<ffi::F32> dc0,
                            ffi::ResultBuffer<ffi::F32> dpeep, int64_t flags, int64_t reverse) {
  if (auto err = CheckFlags(flags); !err.success()) return err;
  auto xd = xs.dimensions();
  const int64_t B = xd[0], T = xd[1], D = xd[2], H = h0.dimensions()[1];
  const LstmLayout L(flags, H);
  const int64_t K = D + H, GH = L.GH;
  if (w.dimensions()[0] != K || w.dimensions()[1] != GH)
    return ffi::Error::InvalidArgument("lstmjax native: w must be [D + H, G*H] for the flags");
  AdviseHugePages(dxs);
  const int threads = NumThreads(B);
  const std::vector<float> wt = Transposed(w.typed_data(), K, GH);
  const int64_t rows = LargestSlice(B, threads);
  const bool can_split = D >= kHoistMinInput;  // else Wᵀ's h columns alone are never used
  const FixedRhs wt_all(wt.data(), GH, K, K, rows),
      wt_h(wt.data() + D, GH, H, K, can_split ? rows : 0);
  // per-thread partial sums of dW, db and dpeep, added in thread order (deterministic)
  const int64_t part = K * GH + GH + 3 * H;
  std::vector<float> partial(static_cast<size_t>(threads) * part, 0.0f);
  auto run = [&](auto in_tanh, auto out_tanh) {
    ParallelRows(B, threads, [&](int k, int64_t b0, int64_t b1) {
      float* mine = &partial[k * part];
      LstmBackwardRows<decltype(in_tanh)::value, decltype(out_tanh)::value>(
          b0, b1, T, B, D, L, flags, reverse != 0, xs.typed_data(), wt.data(), wt_all, wt_h,
          peep.typed_data(), acts.typed_data(), cs.typed_data(), hs.typed_data(),
          h0.typed_data(), c0.typed_data(), lengths.typed_data(), d_ys.typed_data(),
          d_hlast.typed_data(), d_clast.typed_data(), dxs->typed_data(), dh0->typed_data(),
          dc0->typed_data(), mine, mine + K * GH, mine + K * GH + GH);
    });
  };
  WithActivations(flags, run);
  const std::vector<float> total = ThreadSums(partial, threads, part);
  std::copy(&total[0], &total[K * GH], dw->typed_data());
  std::copy(&total[K * GH], &total[K * GH + GH], db->typed_data());
  std::copy(&total[K * GH + GH], &total[part], dpeep->typed_data());
  return ffi::Error::Success();
}

// ------------------------------------------------------------------------- GRU

void GruForwardRows(int64_t b0, int64_t b1, int64_t T, int64_t B, int64_t D, int64_t H,
                    bool reverse, const float* xs, const FixedRhs& wx, const FixedRhs& wh,
                    const float* bias, const float* bhn, const float* h0,
                    const int32_t* lengths, float* hs, float* h_last, float* saved) {
  const int64_t nb = b1 - b0, G = 3 * H;
  if (nb <= 0) return;
  std::vector<float> h(nb * H), zx(nb * G), zh(nb * G), tmp(4 * H);
  std::memcpy(h.data(), h0 + b0 * H, nb * H * sizeof(float));
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    const int64_t row0 = t * B + b0;
    // x_t of the slice's rows: batch-major input, so rows T·D apart
    wx.Multiply(nb, xs + (b0 * T + t) * D, T * D, zx.data(), G, false);
    wh.Multiply(nb, h.data(), H, zh.data(), G, false);
    for (int64_t r = 0; r < nb; ++r) {
      float* hr = &h[r * H];
      float* out = hs + ((b0 + r) * T + t) * H;
      if (t >= lengths[b0 + r]) {
        std::memset(out, 0, H * sizeof(float));
        continue;
      }
      const float* ax = &zx[r * G];
      const float* ah = &zh[r * G];
      // saved row: [r, u, n, h·W_hn + b_hn], what the backward needs
      float* sv = saved ? saved + (row0 + r) * 4 * H : tmp.data();
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const float rg = sigmoid(ax[j] + bias[j] + ah[j]);
        const float u = sigmoid(ax[H + j] + bias[H + j] + ah[H + j]);
        const float hn = ah[2 * H + j] + bhn[j];
        const float n = std::tanh(ax[2 * H + j] + bias[2 * H + j] + rg * hn);
        sv[j] = rg;
        sv[H + j] = u;
        sv[2 * H + j] = n;
        sv[3 * H + j] = hn;
        hr[j] = (1.0f - u) * n + u * hr[j];
      }
      std::memcpy(out, hr, H * sizeof(float));
    }
  }
  std::memcpy(h_last + b0 * H, h.data(), nb * H * sizeof(float));
}

ffi::Error GruForwardImpl(ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> wx,
                          ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> bias,
                          ffi::Buffer<ffi::F32> bhn, ffi::Buffer<ffi::F32> h0,
                          ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> hs,
                          ffi::ResultBuffer<ffi::F32> h_last, ffi::ResultBuffer<ffi::F32> saved,
                          int64_t reverse, int64_t save) {
  auto xd = xs.dimensions();
  const int64_t B = xd[0], T = xd[1], D = xd[2], H = h0.dimensions()[1];
  if (wx.dimensions()[0] != D || wx.dimensions()[1] != 3 * H || wh.dimensions()[0] != H)
    return ffi::Error::InvalidArgument("lstmjax native: GRU weights must be [D, 3H], [H, 3H]");
  AdviseHugePages(hs);
  if (save) AdviseHugePages(saved);
  float* saved_p = save ? saved->typed_data() : nullptr;
  const int threads = NumThreads(B);
  const int64_t rows = LargestSlice(B, threads);
  const FixedRhs wx_rhs(wx.typed_data(), D, 3 * H, 3 * H, rows),
      wh_rhs(wh.typed_data(), H, 3 * H, 3 * H, rows);
  ParallelRows(B, threads, [&](int, int64_t b0, int64_t b1) {
    GruForwardRows(b0, b1, T, B, D, H, reverse != 0, xs.typed_data(), wx_rhs, wh_rhs,
                   bias.typed_data(), bhn.typed_data(), h0.typed_data(),
                   lengths.typed_data(), hs->typed_data(), h_last->typed_data(), saved_p);
  });
  return ffi::Error::Success();
}

void GruBackwardRows(int64_t b0, int64_t b1, int64_t T, int64_t B, int64_t D, int64_t H,
                     bool reverse, const float* xs, const FixedRhs& wxt,
                     const FixedRhs& wht, const float* saved, const float* hs, const float* h0,
                     const int32_t* lengths, const float* d_ys, const float* d_hlast,
                     float* dxs, float* dh0, float* dwx, float* dwh, float* db, float* dbh) {
  const int64_t nb = b1 - b0, G = 3 * H;
  if (nb <= 0) return;
  const int64_t C = GradientChunk(nb, T);
  std::vector<float> dh(nb * H), dhh(nb * H), x_chunk(C * nb * D), hp_chunk(C * nb * H),
      dzx_chunk(C * nb * G), dzh_chunk(C * nb * G);
  std::memcpy(dh.data(), d_hlast + b0 * H, nb * H * sizeof(float));
  int64_t filled = 0;
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? s : T - 1 - s;
    const int64_t tp = reverse ? t + 1 : t - 1;
    float* dzx = &dzx_chunk[filled * nb * G];
    float* dzh = &dzh_chunk[filled * nb * G];
    float* xc = &x_chunk[filled * nb * D];
    float* hc = &hp_chunk[filled * nb * H];
    for (int64_t r = 0; r < nb; ++r) {
      const int64_t b = b0 + r, len = lengths[b];
      float* ax = dzx + r * G;
      float* ah = dzh + r * G;
      if (t >= len) {  // padded: no gradient; zero rows keep 0·NaN out of dW
        std::memset(ax, 0, G * sizeof(float));
        std::memset(ah, 0, G * sizeof(float));
        std::memset(xc + r * D, 0, D * sizeof(float));
        std::memset(hc + r * H, 0, H * sizeof(float));
        continue;
      }
      float* dhr = &dh[r * H];
      const float* dy = d_ys + (b * T + t) * H;
      for (int64_t j = 0; j < H; ++j) dhr[j] += dy[j];
      const bool first = reverse ? t == len - 1 : t == 0;
      const float* hp = first ? h0 + b * H : hs + (b * T + tp) * H;
      std::memcpy(xc + r * D, xs + (b * T + t) * D, D * sizeof(float));
      std::memcpy(hc + r * H, hp, H * sizeof(float));
      const float* sv = saved + (t * B + b) * 4 * H;
      float* direct = &dhh[r * H];
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const float rg = sv[j], u = sv[H + j], n = sv[2 * H + j], hn = sv[3 * H + j];
        const float dn = dhr[j] * (1.0f - u) * (1.0f - n * n);
        const float du = dhr[j] * (hp[j] - n) * u * (1.0f - u);
        const float dr = dn * hn * rg * (1.0f - rg);
        ax[j] = dr;
        ax[H + j] = du;
        ax[2 * H + j] = dn;
        ah[j] = dr;
        ah[H + j] = du;
        ah[2 * H + j] = dn * rg;
        direct[j] = dhr[j] * u;
      }
    }
    // dh_{t-1} = dh·u + dzh_t·W_hᵀ;  dx_t = dzx_t·W_xᵀ (zero rows at padded steps), with
    // the transposes stored; dx goes straight into the batch-major dxs (rows T·D apart)
    wxt.Multiply(nb, dzx, G, dxs + (b0 * T + t) * D, T * D, false);
    wht.Multiply(nb, dzh, G, dhh.data(), H, true);
    for (int64_t r = 0; r < nb; ++r)
      if (t < lengths[b0 + r]) std::memcpy(&dh[r * H], &dhh[r * H], H * sizeof(float));
    if (++filled == C || s == T - 1) {
      AccumulateWeights(filled * nb, D, G, x_chunk.data(), dzx_chunk.data(), dwx, db);
      AccumulateWeights(filled * nb, H, G, hp_chunk.data(), dzh_chunk.data(), dwh, dbh);
      filled = 0;
    }
  }
  std::memcpy(dh0 + b0 * H, dh.data(), nb * H * sizeof(float));
}

ffi::Error GruBackwardImpl(ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> wx,
                           ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> saved,
                           ffi::Buffer<ffi::F32> hs, ffi::Buffer<ffi::F32> h0,
                           ffi::Buffer<ffi::S32> lengths, ffi::Buffer<ffi::F32> d_ys,
                           ffi::Buffer<ffi::F32> d_hlast, ffi::ResultBuffer<ffi::F32> dxs,
                           ffi::ResultBuffer<ffi::F32> dwx,
                           ffi::ResultBuffer<ffi::F32> dwh, ffi::ResultBuffer<ffi::F32> db,
                           ffi::ResultBuffer<ffi::F32> dbhn, ffi::ResultBuffer<ffi::F32> dh0,
                           int64_t reverse) {
  auto hd = hs.dimensions();
  const int64_t B = hd[0], T = hd[1], H = hd[2], D = wx.dimensions()[0], G = 3 * H;
  AdviseHugePages(dxs);
  const int threads = NumThreads(B);
  // per thread: dW_x, dW_h, db (of dZx), Σ dZh (its n block is db_hn); added in order
  const int64_t part = D * G + H * G + G + G;
  std::vector<float> partial(static_cast<size_t>(threads) * part, 0.0f);
  const std::vector<float> wxt = Transposed(wx.typed_data(), D, G);
  const std::vector<float> wht = Transposed(wh.typed_data(), H, G);
  const int64_t rows = LargestSlice(B, threads);
  const FixedRhs wxt_rhs(wxt.data(), G, D, D, rows), wht_rhs(wht.data(), G, H, H, rows);
  ParallelRows(B, threads, [&](int k, int64_t b0, int64_t b1) {
    float* mine = &partial[k * part];
    GruBackwardRows(b0, b1, T, B, D, H, reverse != 0, xs.typed_data(), wxt_rhs, wht_rhs,
                    saved.typed_data(), hs.typed_data(), h0.typed_data(),
                    lengths.typed_data(), d_ys.typed_data(), d_hlast.typed_data(),
                    dxs->typed_data(), dh0->typed_data(), mine, mine + D * G,
                    mine + D * G + H * G, mine + D * G + H * G + G);
  });
  const std::vector<float> total = ThreadSums(partial, threads, part);
  std::copy(&total[0], &total[D * G], dwx->typed_data());
  std::copy(&total[D * G], &total[D * G + H * G], dwh->typed_data());
  std::copy(&total[D * G + H * G], &total[D * G + H * G + G], db->typed_data());
  std::copy(&total[D * G + H * G + G + 2 * H], &total[part], dbhn->typed_data());
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(LstmForward, LstmForwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [B, T, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w [D + H, G*H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b [G*H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // peep [3, H] (i, f, o)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // c0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ys [B, T, H] (0 if padded)
                                  .Ret<ffi::Buffer<ffi::F32>>()  // h_last [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // c_last [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // acts [T, B, G*H] | [1]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // cs [T, B, H] | [1]
                                  .Attr<int64_t>("flags")
                                  .Attr<int64_t>("reverse")
                                  .Attr<int64_t>("save"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(LstmBackward, LstmBackwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [B, T, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w [D + H, G*H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // peep [3, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // acts [T, B, G*H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // cs [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ys [B, T, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // c0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // d_ys [B, T, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // d_hlast [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // d_clast [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dxs [B, T, D]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dw [D + H, G*H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // db [G*H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dh0 [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dc0 [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dpeep [3, H]
                                  .Attr<int64_t>("flags")
                                  .Attr<int64_t>("reverse"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruForward, GruForwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [B, T, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w_x [D, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w_h [H, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b [3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b_hn [H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ys [B, T, H] (0 if padded)
                                  .Ret<ffi::Buffer<ffi::F32>>()  // h_last [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // saved [T, B, 4H] | [1]
                                  .Attr<int64_t>("reverse")
                                  .Attr<int64_t>("save"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruBackward, GruBackwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [B, T, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w_x [D, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w_h [H, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // saved [T, B, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ys [B, T, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // d_ys [B, T, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // d_hlast [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dxs [B, T, D]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dw_x [D, 3H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dw_h [H, 3H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // db [3H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // db_hn [H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dh0 [B, H]
                                  .Attr<int64_t>("reverse"));
