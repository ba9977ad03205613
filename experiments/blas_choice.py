"""Which GEMM the native kernel calls: OpenBLAS (scipy-openblas32), oneDNN, and the
kernel's own packed AVX-512 step GEMM (lstmjax/native/packed_gemm.h).

    pip install onednn          # optional; without it only OpenBLAS is timed
    LD_LIBRARY_PATH=.venv/lib python -m experiments.blas_choice --cpu 0 \\
        [--calls 2000] [--markdown F]

The kernel (lstmjax/native/recurrence.cc) spends its time in small GEMMs, one per step
and thread, on a thread's slice of the batch: z_t = [x_t, h_{t-1}]·W (forward),
[dx_t, dh_{t-1}] = dz_t·Wᵀ (backward), and dW += Aᵀ·dZ over ~512 gathered rows. This
times exactly those shapes, single-threaded (one GEMM per thread is how the kernel runs
them), through ctypes, interleaved, and prints µs per call and GFLOP/s. Python's call
overhead (about 1 µs) is the same for every candidate. "packed" packs B once per shape,
as the kernel packs W once per call for all T steps (recurrence.cc, FixedRhs), and is
timed on the per-step shapes only (no transposed A); it needs an AVX-512 CPU.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")  # oneDNN's threads: one, as in the kernel

# (name, M, N, K, transpose A, transpose B): per thread, half the batch's rows
SHAPES = [
    ("pixel MNIST fwd z = [x,h]·W", 32, 512, 129, False, False),
    ("pixel MNIST bwd dz·Wᵀ", 32, 129, 512, False, True),
    ("pixel MNIST dW += Aᵀ·dZ", 129, 512, 512, True, False),
    ("anchor (64,256,128,256) fwd", 32, 1024, 384, False, False),
    ("anchor (64,256,128,256) bwd", 32, 384, 1024, False, True),
    ("GRU (64,784,1,128) h·W_h", 32, 384, 128, False, False),
    ("long gaps (64,1000,8,64) fwd", 32, 256, 72, False, False),
    ("long gaps (64,1000,8,64) bwd", 32, 72, 256, False, True),
    ("anchor (16,100,64,64) fwd", 8, 256, 128, False, False),
    ("anchor (16,100,64,64) bwd", 8, 128, 256, False, True),
]

_PACKED_WRAPPER = """
#include "packed_gemm.h"
using namespace lstmjax_native;
extern "C" void* pg_pack(const float* b, long k, long n, long ldb) {
  auto* p = new PackedB; Pack(b, k, n, ldb, *p); return p; }
extern "C" void pg_gemm(void* p, long m, const float* a, long lda, float* c, long ldc) {
  PackedGemm<false>(m, a, lda, *static_cast<PackedB*>(p), c, ldc); }
"""


def _openblas():
    import scipy_openblas32 as blas
    lib = ctypes.CDLL(os.path.join(blas.get_lib_dir(), blas.get_library(True)))
    lib.scipy_openblas_set_num_threads(1)
    f = lib.scipy_cblas_sgemm
    f.restype = None
    f.argtypes = [ctypes.c_int] * 3 + [ctypes.c_int] * 3 + [ctypes.c_float, ctypes.c_void_p,
                  ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_void_p,
                  ctypes.c_int]

    def gemm(m, n, k, ta, tb, a, lda, b, ldb, c, ldc):
        f(101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc)
    return gemm


def _onednn():
    paths = glob.glob(os.path.join(sys.prefix, "lib", "libdnnl.so*"))
    if not paths:
        return None
    try:
        lib = ctypes.CDLL(sorted(paths)[0])
    except OSError as e:  # the wheel's runtime (TBB, SYCL, SVML) lies beside it, unsearched
        print(f"oneDNN not loaded ({e}); run with LD_LIBRARY_PATH={os.path.dirname(paths[0])}",
              file=sys.stderr)
        return None
    f = lib.dnnl_sgemm  # row-major, like the kernel's calls
    f.restype = ctypes.c_int
    f.argtypes = [ctypes.c_char, ctypes.c_char] + [ctypes.c_int64] * 3 + [
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int64]

    def gemm(m, n, k, ta, tb, a, lda, b, ldb, c, ldc):
        f(b"T" if ta else b"N", b"T" if tb else b"N", m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc)
    return gemm


def _packed():
    """The kernel's packed GEMM, compiled with the kernel's flags; None without AVX-512."""
    import subprocess
    import tempfile

    from lstmjax.native import build
    if "avx512f" not in open("/proc/cpuinfo").read():
        return None
    folder = tempfile.mkdtemp(prefix="packed_gemm_")
    src, lib = os.path.join(folder, "wrapper.cc"), os.path.join(folder, "libpg.so")
    with open(src, "w") as f:
        f.write(_PACKED_WRAPPER)
    subprocess.run([build._compiler(), *build.FLAGS, f"-I{build.SOURCE.parent}", src, "-o", lib],
                   check=True)
    dll = ctypes.CDLL(lib)
    dll.pg_pack.restype = ctypes.c_void_p
    dll.pg_pack.argtypes = [ctypes.c_void_p] + [ctypes.c_long] * 3
    dll.pg_gemm.restype = None
    dll.pg_gemm.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_long,
                            ctypes.c_void_p, ctypes.c_long]
    packs = {}  # B is packed once per shape, as the kernel packs W once per call

    def gemm(m, n, k, ta, tb, a, lda, b, ldb, c, ldc):
        if ta:
            raise NotImplementedError
        key = (b, tb, k, n)  # the same seeded B per shape, whatever address it gets
        if key not in packs:
            rows = np.ctypeslib.as_array(ctypes.cast(b, ctypes.POINTER(ctypes.c_float)),
                                         shape=(n if tb else k, ldb))
            kept = np.ascontiguousarray(rows.T if tb else rows)  # Wᵀ stored, as the kernel
            packs[key] = (kept, dll.pg_pack(kept.ctypes.data, k, n, n))
        dll.pg_gemm(packs[key][1], m, a, lda, c, ldc)
    return gemm


def time_shape(gemm, m, n, k, ta, tb, calls):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = np.zeros((m, n), np.float32)
    args = (m, n, k, ta, tb, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
            c.ctypes.data, n)
    gemm(*args)
    want = (a.T if ta else a) @ (b.T if tb else b)
    if not np.allclose(c, want, atol=1e-3, rtol=1e-3):
        raise SystemExit("GEMM result differs from numpy: the call is wrong")
    t = time.perf_counter()
    for _ in range(calls):
        gemm(*args)
    return (time.perf_counter() - t) / calls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--cpu", type=int, default=None,
                    help="pin the process to this core: a library that threads inside a call "
                         "(oneDNN's TBB build does) then gets one core, as in the kernel")
    args = ap.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    libs = {"openblas": _openblas()}
    if (dnnl := _onednn()) is not None:
        libs["onednn"] = dnnl
    if (packed := _packed()) is not None:
        libs["packed"] = packed
    lines = ["| GEMM (M, N, K) | " + " | ".join(f"{n} µs (GF/s)" for n in libs) + " |",
             "|---|" + "---|" * len(libs)]
    for name, m, n, k, ta, tb in SHAPES:
        times = {lib: [] for lib in libs if not (ta and lib == "packed")}
        for _ in range(args.rounds):  # interleaved rounds: a load spike hits all
            for lib in times:
                times[lib].append(time_shape(libs[lib], m, n, k, ta, tb, args.calls))
        medians = {lib: statistics.median(v) for lib, v in times.items()}
        cells = [f"{1e6 * medians[lib]:.1f} ({2 * m * n * k / medians[lib] / 1e9:.0f})"
                 if lib in medians else "—" for lib in libs]
        lines.append(f"| {name} ({m}, {n}, {k}) | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"# GEMM library for the native kernel\n\n- command: `python -m "
                    f"experiments.blas_choice {' '.join(argv or sys.argv[1:])}`\n\n{text}\n")
    return text


if __name__ == "__main__":
    main()
