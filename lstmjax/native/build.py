"""Build the native kernel once per machine and register its FFI targets with JAX.

``recurrence.cc`` is compiled on first use with the system C++ compiler against XLA's
FFI headers (``jax.ffi.include_dir()``) and OpenBLAS from the ``scipy-openblas32`` wheel,
into a cache folder keyed by everything that changes the binary (source, compiler, flags,
jaxlib, OpenBLAS, CPU model): later processes load it in milliseconds. The build is
atomic (compile to a temporary name, then rename) and serialized by a file lock, so
parallel test workers and jobs on a shared home folder never see half a library.

Why compile at first use rather than at install (scikit-build-core): ``make test`` and
``make demo`` stay ``pip install -e .`` with no build backend change, a user whose
machine has no compiler still installs lstmjax, and ``-march=native`` targets the CPU
the kernel runs on (the cache key includes the CPU model). Measured here: one build takes
about 5 s of one core.

Environment: ``LSTMJAX_NATIVE=0`` turns the kernel off (the XLA drivers run instead);
``LSTMJAX_CACHE`` moves the cache (default ``~/.cache/lstmjax``, or the temporary folder
when the home folder is read-only); ``CXX`` picks the compiler (default ``g++``, then
``c++``, ``clang++``); ``LSTMJAX_NATIVE_GEMM=blas`` builds the kernel with every GEMM on
OpenBLAS, without the packed AVX-512 step GEMM of ``packed_gemm.h`` (for comparison and
for testing the path that CPUs without AVX-512 take).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax

SOURCE = Path(__file__).with_name("recurrence.cc")
HEADERS = (Path(__file__).with_name("packed_gemm.h"),)  # included by SOURCE: in the key
TARGETS = {  # FFI target name -> exported handler symbol
    "lstmjax_lstm_forward": "LstmForward",
    "lstmjax_lstm_backward": "LstmBackward",
    "lstmjax_gru_forward": "GruForward",
    "lstmjax_gru_backward": "GruBackward",
}
FLAGS = ("-O3", "-march=native", "-mprefer-vector-width=512", "-ffast-math", "-std=c++17",
         "-shared", "-fPIC", "-pthread")


class Unavailable(RuntimeError):
    """The native kernel cannot be used here; the message says why, in one line."""


def _compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise Unavailable("no C++ compiler found (set CXX or install g++)")


def _openblas():
    try:
        import scipy_openblas32 as blas
    except ImportError:
        raise Unavailable("the scipy-openblas32 wheel is not installed "
                          "(pip install scipy-openblas32)") from None
    return blas


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                yield line
    except OSError:
        yield platform.processor()


def _cache_dir() -> Path:
    root = os.environ.get("LSTMJAX_CACHE") or Path.home() / ".cache" / "lstmjax"
    return Path(root) / "native"


def _flags() -> tuple[str, ...]:
    gemm = os.environ.get("LSTMJAX_NATIVE_GEMM", "packed").strip().lower()
    if gemm not in ("packed", "blas"):
        raise Unavailable(f"LSTMJAX_NATIVE_GEMM={gemm!r}: accepted are 'packed' (default) "
                          "and 'blas'")
    return FLAGS + (("-DLSTMJAX_BLAS_ONLY",) if gemm == "blas" else ())


def _command(cxx: str, blas, output: Path) -> list[str]:
    # packed_gemm.h is found beside SOURCE (quoted include), else in the package
    return [cxx, *_flags(), f"-I{Path(__file__).parent}", f"-I{jax.ffi.include_dir()}",
            f"-I{blas.get_include_dir()}",
            str(SOURCE), "-o", str(output), f"-L{blas.get_lib_dir()}",
            f"-l{blas.get_library()}", f"-Wl,-rpath,{blas.get_lib_dir()}"]


def library_path() -> Path:
    """The compiled library for this machine, building it first if needed."""
    if sys.platform != "linux":
        raise Unavailable(f"the native kernel is built for Linux only, not {sys.platform}")
    cxx, blas = _compiler(), _openblas()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), *(h.read_bytes() for h in HEADERS), version.encode(),
                 " ".join(_flags()).encode(),
                 jax.ffi.include_dir().encode(), jax.__version__.encode(),
                 blas.get_lib_dir().encode(), *(line.encode() for line in _cpu_model())):
        key.update(part)
    folder = _cache_dir() / key.hexdigest()[:16]
    lib = folder / "liblstmjax_native.so"
    if lib.exists():
        return lib
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: build in the temporary folder instead
        folder = Path(tempfile.gettempdir()) / f"lstmjax-{os.getuid()}" / folder.name
        lib = folder / "liblstmjax_native.so"
        if lib.exists():
            return lib
        folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then finds the library
        if not lib.exists():
            tmp = folder / f"liblstmjax_native.{os.getpid()}.so"
            proc = subprocess.run(_command(cxx, blas, tmp), capture_output=True, text=True)
            if proc.returncode != 0:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                first = next((l for l in proc.stderr.splitlines() if "error" in l), proc.stderr)
                raise Unavailable(f"compiling {SOURCE.name} failed: {first.strip()[:200]}")
            os.replace(tmp, lib)
    return lib


@functools.cache
def load() -> None:
    """Build (if needed), load and register the FFI targets; raises :class:`Unavailable`."""
    if os.environ.get("LSTMJAX_NATIVE", "1").strip().lower() in ("0", "false", "off", "no"):
        raise Unavailable("LSTMJAX_NATIVE=0 turns it off")
    try:
        library = ctypes.cdll.LoadLibrary(str(library_path()))
    except OSError as e:
        raise Unavailable(f"loading the compiled kernel failed: {str(e)[:200]}") from None
    for target, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, symbol)),
                                    platform="cpu")


@functools.cache
def unavailable_reason() -> str | None:
    """None when the kernel is ready to use, else one line saying why it is off."""
    try:
        load()
    except Unavailable as e:
        return str(e)
    return None
