"""Which GEMM library the native kernel calls: OpenBLAS (scipy-openblas32) against oneDNN.

    pip install onednn          # optional; without it only OpenBLAS is timed
    LD_LIBRARY_PATH=.venv/lib python -m experiments.blas_choice --cpu 0 \\
        [--calls 2000] [--markdown F]

The kernel (lstmjax/native/recurrence.cc) spends its time in small GEMMs, one per step
and thread, on a thread's slice of the batch: z_t = [x_t, h_{t-1}]·W (forward),
[dx_t, dh_{t-1}] = dz_t·Wᵀ (backward), and dW += Aᵀ·dZ over ~512 gathered rows. This
times exactly those shapes, single-threaded (one GEMM per thread is how the kernel runs
them), through ctypes, interleaved, and prints µs per call and GFLOP/s. Python's call
overhead (about 1 µs) is the same for both libraries.
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

# (name, M, N, K, transpose A, transpose B): per thread, 32 rows of a batch of 64
SHAPES = [
    ("pixel MNIST fwd z = [x,h]·W", 32, 512, 129, False, False),
    ("pixel MNIST bwd dz·Wᵀ", 32, 129, 512, False, True),
    ("pixel MNIST dW += Aᵀ·dZ", 129, 512, 512, True, False),
    ("anchor (64,256,128,256) fwd", 32, 1024, 384, False, False),
    ("anchor (64,256,128,256) bwd", 32, 384, 1024, False, True),
]


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
    lines = ["| GEMM (M, N, K) | " + " | ".join(f"{n} µs (GF/s)" for n in libs) + " |",
             "|---|" + "---|" * len(libs)]
    for name, m, n, k, ta, tb in SHAPES:
        times = {lib: [] for lib in libs}
        for _ in range(args.rounds):  # interleaved rounds: a load spike hits both
            for lib, gemm in libs.items():
                times[lib].append(time_shape(gemm, m, n, k, ta, tb, args.calls))
        medians = [statistics.median(v) for v in times.values()]
        cells = [f"{1e6 * t:.1f} ({2 * m * n * k / t / 1e9:.0f})" for t in medians]
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
