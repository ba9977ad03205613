"""The native kernel (lstmjax/native) against the reference driver: outputs, final states
and gradients (params, inputs, initial state) within 1e-5 for every LSTM preset but FGR
and the GRU; uni/bi, lengths, stacked, initial state; jit, vmap, remat; the training
step under every device layout; random shapes (hypothesis); NaN in padding; dispatch;
and a bug planted in the kernel's backward that these tests must catch."""

import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmjax
from lstmjax import dispatch, fused_scan, native, recurrence
from lstmjax.cells import make_cell
from lstmjax.gates import PRESETS
from lstmjax.native import build

from train_helpers import ROOT

# Skipped only where the machine cannot build it (no compiler, not Linux) or the user
# turned it off: a build that fails where a compiler exists fails these tests instead of
# hiding behind a skip.
_SKIP_WHEN = ("no C++ compiler found", "the native kernel is built for Linux only",
              "LSTMJAX_NATIVE=0")
pytestmark = pytest.mark.skipif(
    (native.unavailable_reason() or "").startswith(_SKIP_WHEN),
    reason=f"native kernel: {native.unavailable_reason()}")


def test_the_kernel_builds_where_a_compiler_exists():
    assert native.unavailable_reason() is None

B, T, D, H = 4, 7, 3, 5
TOL = 1e-5
LENGTHS = jnp.array([7, 3, 1, 5])
PRESET_NAMES = [p for p in PRESETS if p != "fgr"]


def _config(impl, cell="lstm", gates="standard", **kw):
    return lstmjax.LSTMConfig(D, H, cell=cell, gates=gates if cell == "lstm" else "standard",
                              implementation=impl, **kw)


def _run(config, params, xs, lengths, state):
    """Loss, (outputs, final state) and grads w.r.t. params, inputs and the initial state."""
    weights = jnp.cos(jnp.arange(B * T * config.output_size, dtype=jnp.float32)).reshape(
        B, T, config.output_size)

    def loss(p, x, s0):
        ys, st = lstmjax.apply(p, config, x, lengths, initial_state=s0)
        return jnp.sum(jnp.tanh(ys) * weights) + sum(
            0.7 * jnp.sum(jnp.sin(v)) for v in jax.tree.leaves(st)), (ys, st)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, xs, state)


def _assert_close(a, b, tol=TOL):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=tol, rtol=tol)


def _compare(cell="lstm", gates="standard", lengths=None, with_state=False, **kw):
    ref = _config("reference", cell, gates, **kw)
    nat = _config("native", cell, gates, **kw)
    params = lstmjax.init(jax.random.key(1), ref)
    xs = jax.random.normal(jax.random.key(0), (B, T, D))
    state = None
    if with_state:
        zero = lstmjax.initial_state(ref, B)
        state = jax.tree.map(lambda z: jax.random.normal(jax.random.key(7), z.shape), zero)
    _assert_close(_run(nat, params, xs, lengths, state), _run(ref, params, xs, lengths, state))


@pytest.mark.parametrize("cell,gates", [("lstm", p) for p in PRESET_NAMES] + [("gru", None)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_preset_and_gru_uni_and_bi_with_and_without_lengths(cell, gates, bidirectional):
    for lengths in (None, LENGTHS):
        _compare(cell, gates, lengths, bidirectional=bidirectional)


@pytest.mark.parametrize("cell,gates", [("lstm", "nfg"), ("lstm", "vanilla"), ("lstm", "noaf"),
                                        ("gru", None)])
def test_saturated_gates_stay_finite_and_match_the_reference(cell, gates):
    """Gate pre-activations far beyond +-88 (biases of +-200; on NFG, a peephole on a cell
    that never forgets, |c| ~ T, did this at T = 1000): the kernel, built with -ffast-math,
    turned exp(-v) = inf into NaN outputs; its sigmoid now clamps, and gives the
    reference's 0 / 1 there."""
    def config(impl):  # H = 32: the pointwise loops run as full 16-lane vectors
        return lstmjax.LSTMConfig(D, 32, cell=cell, gates=gates or "standard",
                                  implementation=impl)

    def saturate(path, p):  # every bias +-200, alternating by unit: gates at exactly 0 / 1
        if jax.tree_util.keystr(path).endswith("['b']"):
            return jnp.where(jnp.arange(p.shape[-1]) % 2 == 0, 200.0, -200.0).astype(p.dtype)
        return p
    ref, nat = config("reference"), config("native")
    params = jax.tree_util.tree_map_with_path(saturate, lstmjax.init(jax.random.key(1), ref))
    xs = jax.random.normal(jax.random.key(0), (B, T, D))
    got, want = _run(nat, params, xs, None, None), _run(ref, params, xs, None, None)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(got)), "non-finite"
    _assert_close(got, want)


@pytest.mark.parametrize("gates", ["standard", "vanilla", "cifg", "noaf"])
def test_wide_inputs_take_the_hoisted_projection(gates):
    # D >= 32 with >= 16 rows per thread: the kernel projects the inputs as one GEMM per
    # sequence before the loop and forms dX per gathered chunk (recurrence.cc,
    # kHoistMinInput, kHoistMinRows); D = 40 and a batch of 40 (20 rows per thread on two
    # threads, all 40 on one) cover it
    batch = 40
    ref = lstmjax.LSTMConfig(40, H, gates=gates, bidirectional=True, implementation="reference")
    nat = lstmjax.LSTMConfig(40, H, gates=gates, bidirectional=True, implementation="native")
    params = lstmjax.init(jax.random.key(1), ref)
    xs = jax.random.normal(jax.random.key(0), (batch, T, 40))
    lengths = jnp.asarray(np.random.default_rng(0).integers(1, T + 1, batch), jnp.int32)

    def run(config, lens):
        def loss(p, x):
            ys, st = lstmjax.apply(p, config, x, lens)
            return jnp.sum(jnp.tanh(ys)) + sum(jnp.sum(jnp.sin(v)) for v in jax.tree.leaves(st))
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, xs)

    for lens in (None, lengths):
        _assert_close(run(nat, lens), run(ref, lens))


@pytest.mark.parametrize("cell,gates,hidden", [
    ("lstm", "standard", 150),  # 4H = 600: 18 panels + a 24-wide tail; backward N = 153
    ("lstm", "vanilla", 140),   # 560: a tail of exactly 16; backward 143 (tail 15)
    ("lstm", "cifg", 160),      # 3 blocks, 480: no tail; backward 163 (tail 3)
    ("gru", None, 180),         # 3H = 540 (tail 28); backward N = 180 (tail 20)
])
def test_large_step_products_take_the_packed_gemm(cell, gates, hidden, monkeypatch):
    # rows·K·N >= 2^20 per thread's slice: on AVX-512 CPUs the step GEMMs run on the packed
    # micro-kernel (recurrence.cc FixedRhs, packed_gemm.h). 28 rows on two threads = 14
    # per slice, one 8-row block and 6 rows left over; the hidden sizes give full panels
    # and tails of both widths (16 and 32 columns)
    monkeypatch.setenv("LSTMJAX_NATIVE_THREADS", "2")
    batch, d = 28, 3
    kw = dict(cell=cell, gates=gates or "standard", bidirectional=True)
    ref = lstmjax.LSTMConfig(d, hidden, implementation="reference", **kw)
    nat = lstmjax.LSTMConfig(d, hidden, implementation="native", **kw)
    params = lstmjax.init(jax.random.key(1), ref)
    xs = jax.random.normal(jax.random.key(0), (batch, 5, d))
    lengths = jnp.asarray(np.random.default_rng(1).integers(1, 6, batch), jnp.int32)

    def run(config):
        def loss(p, x):
            ys, st = lstmjax.apply(p, config, x, lengths)
            return jnp.sum(jnp.tanh(ys)) + sum(jnp.sum(jnp.sin(v)) for v in jax.tree.leaves(st))
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, xs)

    _assert_close(run(nat), run(ref))


def test_an_unknown_gemm_choice_is_one_line(monkeypatch):
    monkeypatch.setenv("LSTMJAX_NATIVE_GEMM", "mkl")
    with pytest.raises(build.Unavailable, match=r"LSTMJAX_NATIVE_GEMM='mkl': accepted are"):
        build.library_path()


@pytest.mark.slow
def test_the_openblas_only_build_matches_the_reference(tmp_path):
    # LSTMJAX_NATIVE_GEMM=blas: every GEMM on OpenBLAS, the path of CPUs without AVX-512
    env = dict(os.environ, JAX_PLATFORMS="cpu", LSTMJAX_CACHE=str(tmp_path / "cache"),
               LSTMJAX_NATIVE_GEMM="blas", LSTMJAX_NATIVE_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", PLANTED, str(build.SOURCE), "28", "5", "3",
                           "140"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["forward"] < TOL and result["grad"] < TOL, result


@pytest.mark.parametrize("cell,gates", [("lstm", "vanilla"), ("lstm", "cifg"), ("gru", None)])
def test_stacked_with_initial_state(cell, gates):
    _compare(cell, gates, LENGTHS, with_state=True, num_layers=2, bidirectional=True)


@pytest.mark.parametrize("cell,gates", [("lstm", "vanilla"), ("gru", None)])
def test_remat_chunks(cell, gates):
    # T = 7 with chunks of 3 steps: a ragged last chunk, and lengths inside every chunk
    ref = _config("reference", cell, gates, bidirectional=True)
    params = lstmjax.init(jax.random.key(1), ref)
    xs = jax.random.normal(jax.random.key(0), (B, T, D))
    c = ref.make_cell()

    def loss(scan_fn, p, x):
        ys, st = recurrence.stack([c], [p[0]], x, LENGTHS, num_directions=2, scan_fn=scan_fn)
        return jnp.sum(jnp.tanh(ys)) + sum(jnp.sum(jnp.sin(v)) for v in jax.tree.leaves(st))

    chunked = jax.tree_util.Partial(native.scan, remat=True, remat_chunk_size=3)
    got = jax.jit(jax.value_and_grad(lambda p, x: loss(chunked, p, x), argnums=(0, 1)))(params, xs)
    want = jax.jit(jax.value_and_grad(lambda p, x: loss(recurrence.scan, p, x),
                                      argnums=(0, 1)))(params, xs)
    _assert_close(got, want)
    _compare(cell, gates, LENGTHS, remat=True)  # the config's remat: chunks of ~sqrt(T)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_vmap_over_inputs_and_over_params(cell):
    ref, nat = _config("reference", cell), _config("native", cell)
    keys = jax.random.split(jax.random.key(3), 3)
    params = jax.vmap(lambda k: lstmjax.init(k, ref))(keys)  # an ensemble of 3 models
    xs = jax.random.normal(jax.random.key(0), (3, B, T, D))

    def loss(config, p, x):
        ys, _ = lstmjax.apply(p, config, x, LENGTHS)
        return jnp.sum(jnp.tanh(ys))

    def per_model(config):
        return jax.jit(jax.vmap(jax.value_and_grad(lambda p, x: loss(config, p, x),
                                                   argnums=(0, 1))))(params, xs)

    _assert_close(per_model(nat), per_model(ref))
    # mapped inputs, shared params
    one = jax.tree.map(lambda v: v[0], params)
    got = jax.jit(jax.vmap(lambda x: lstmjax.apply(one, nat, x)[0]))(xs)
    want = jax.jit(jax.vmap(lambda x: lstmjax.apply(one, ref, x)[0]))(xs)
    _assert_close(got, want)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 9), steps=st.integers(1, 12), d=st.integers(1, 6),
       h=st.integers(1, 9), seed=st.integers(0, 2**16), reverse=st.booleans(),
       preset=st.sampled_from(PRESET_NAMES + ["gru"]))
def test_random_shapes_and_lengths(batch, steps, d, h, seed, reverse, preset):
    cell = make_cell("gru", h) if preset == "gru" else make_cell("lstm", h, gates=preset)
    rng = np.random.default_rng(seed)
    params = cell.init(jax.random.key(seed), d)
    xs = jnp.asarray(rng.normal(size=(batch, steps, d)), jnp.float32)
    lengths = jnp.asarray(rng.integers(1, steps + 1, size=batch), jnp.int32)

    def loss(fn, p, x):
        ys, carry = fn(cell, p, x, lengths, reverse=reverse)
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(jnp.cos(v)) for v in jax.tree.leaves(carry))

    got = jax.value_and_grad(lambda p, x: loss(native.scan, p, x), argnums=(0, 1))(params, xs)
    want = jax.value_and_grad(lambda p, x: loss(recurrence.scan, p, x), argnums=(0, 1))(params,
                                                                                        xs)
    _assert_close(got, want)


@pytest.mark.parametrize("cell,gates", [("lstm", "vanilla"), ("gru", None)])
def test_nan_in_padded_inputs_never_reaches_outputs_or_gradients(cell, gates):
    config = _config("native", cell, gates, bidirectional=True)
    params = lstmjax.init(jax.random.key(1), config)
    xs = jax.random.normal(jax.random.key(0), (B, T, D))
    pad = np.arange(T)[None, :] >= np.asarray(LENGTHS)[:, None]
    poisoned = jnp.where(jnp.asarray(pad)[..., None], jnp.nan, xs)

    def loss(p, x):
        ys, st = lstmjax.apply(p, config, x, LENGTHS)
        return jnp.sum(ys) + sum(jnp.sum(v) for v in jax.tree.leaves(st))

    value, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, poisoned)
    assert np.isfinite(float(value))
    for g in jax.tree.leaves(grads):
        assert np.all(np.isfinite(np.asarray(g)))
    _assert_close((value, grads[0]), jax.jit(jax.value_and_grad(loss))(params, xs))
    ys, _ = lstmjax.apply(params, config, poisoned, LENGTHS)
    assert np.all(np.asarray(ys)[pad] == 0.0)


def test_dispatch():
    lstm, gru = make_cell("lstm", H), make_cell("gru", H)
    assert dispatch.driver(lstm, "native").func is native.scan
    assert dispatch.driver(gru, "native").func is native.scan
    auto = dispatch.driver(lstm, backend="cpu")
    assert auto.func is dispatch._kernel_or_xla and auto.args[0] is native.scan
    assert auto.args[1].func is fused_scan.scan  # what other dtypes run on
    assert dispatch.driver(gru, backend="cpu").args[1].func is recurrence.scan
    # unroll is a knob of the XLA loops: "auto" then picks them, "native" refuses
    assert dispatch.driver(lstm, unroll=2, backend="cpu").func is fused_scan.scan
    with pytest.raises(ValueError, match="unroll=2 has no loop to unroll in implementation="):
        dispatch.driver(lstm, "native", unroll=2)
    for cell in (make_cell("lstm", H, gates="fgr"), make_cell("rnn", H),
                 make_cell("min_gru", H)):
        with pytest.raises(ValueError, match="implementation='native' has no kernel for"):
            dispatch.driver(cell, "native")
    # on GPU the kernel is cuDNN: the standard LSTM only (tests/test_cudnn.py)
    with pytest.raises(ValueError, match="no kernel for GRUCell here: on GPU the kernel is cuDNN"):
        dispatch.driver(gru, "native", backend="gpu")
    assert dispatch.driver(gru, backend="gpu").func is recurrence.scan
    with pytest.raises(ValueError, match="implementation='native' has no kernel for RNNCell"):
        lstmjax.LSTMConfig(D, H, cell="rnn", implementation="native")


def test_other_dtypes_fall_back_under_auto_and_are_refused_by_native():
    config = _config("auto")
    params = lstmjax.init(jax.random.key(1), config, dtype=jnp.float64) if jax.config.read(
        "jax_enable_x64") else lstmjax.init(jax.random.key(1), config, dtype=jnp.bfloat16)
    xs = jnp.ones((B, T, D), jax.tree.leaves(params)[0].dtype)
    ys, _ = lstmjax.apply(params, config, xs)  # runs on the fast XLA driver
    want, _ = lstmjax.apply(params, _config("fast"), xs)
    np.testing.assert_array_equal(np.asarray(ys, np.float32), np.asarray(want, np.float32))
    with pytest.raises(ValueError, match="the native driver runs float32 only, got inputs of"):
        lstmjax.apply(params, _config("native"), xs)


def test_auto_announces_once_when_the_kernel_is_off():
    script = textwrap.dedent("""
        import lstmjax
        for _ in range(3):
            cfg = lstmjax.LSTMConfig(2, 3)
            cfg.driver()
        print("driver", cfg.driver().func.__name__)
    """)
    env = dict(os.environ, LSTMJAX_NATIVE="0", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [l for l in proc.stderr.splitlines() if l.startswith("lstmjax:")]
    assert lines == ["lstmjax: native kernel off (LSTMJAX_NATIVE=0 turns it off); running the "
                     "XLA drivers"], proc.stderr
    assert "driver scan" in proc.stdout


def test_a_missing_compiler_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "")
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++, c++ or clang++ on it
    with pytest.raises(build.Unavailable, match=r"^no C\+\+ compiler found"):
        build.library_path()


LAYOUTS = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    from lstmjax import train
    cfg = {"seed": 0, "steps": 6, "batch_size": 8, "log_every": 3, "eval_every": 6,
           "eval_batches": 1, "checkpoint_every": 0, "plot": False,
           "data": {"name": "adding", "length": 20, "num_examples": 64, "num_eval_examples": 16},
           "model": {"hidden_size": 8, "bidirectional": True, "recurrent_init": "glorot"}}
    runs = {(impl, layout): train.run(dict(cfg, parallel=layout, model=dict(cfg["model"],
                                           implementation=impl)), None, progress=False)
            for impl in ("native", "reference") for layout in ("none", "pmap", "sharding")}
    out = {layout: max(float(np.max(np.abs(a - b))) for a, b in zip(
               jax.tree.leaves(runs[("native", layout)]["params"]),
               jax.tree.leaves(runs[("reference", layout)]["params"])))
           for layout in ("none", "pmap", "sharding")}
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_train_step_under_every_device_layout_matches_the_reference():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-c", LAYOUTS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=500)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    diffs = json.loads(lines[-1][len("RESULT "):])
    assert set(diffs) == {"none", "pmap", "sharding"}
    for layout, diff in diffs.items():
        assert diff < 1e-5, diffs


# A planted bug: the backward drops the forget term that carries dC to the previous step
# (dC_{t-1} = dC_t ⊙ f_t + ...). Built from a mutated copy of the source in a subprocess,
# the gradient comparison above must fail while the forward still matches.
PLANTED = textwrap.dedent("""
    import json, pathlib, sys
    import jax, jax.numpy as jnp, numpy as np
    from lstmjax.native import build
    build.SOURCE = pathlib.Path(sys.argv[1])
    build.HEADERS = (build.SOURCE.with_name("packed_gemm.h"),)
    build.load()
    from lstmjax import recurrence
    from lstmjax.native import driver
    from lstmjax.cells import make_cell
    B, T, D, H = map(int, sys.argv[2:6])
    cell = make_cell("lstm", H)
    params = cell.init(jax.random.key(0), D)
    xs = jax.random.normal(jax.random.key(1), (B, T, D))
    def loss(fn, p, x):
        ys, carry = fn(cell, p, x)
        return jnp.sum(jnp.sin(ys)) + jnp.sum(carry.c)
    out = {}
    for name, fn in (("native", driver.scan), ("reference", recurrence.scan)):
        out[name] = jax.value_and_grad(lambda p: loss(fn, p, xs))(params)
    def err(a, b):  # allclose(atol=tol, rtol=tol) holds where this is <= tol
        return float(np.max(np.abs(a - b) / (1 + np.abs(b))))
    print("RESULT " + json.dumps({
        "forward": err(out["native"][0], out["reference"][0]),
        "grad": max(err(a, b) for a, b in zip(
            jax.tree.leaves(out["native"][1]), jax.tree.leaves(out["reference"][1])))}))
""")

# (file, correct line, planted bug, shape B, T, D, H): the forward must stay right where
# the bug is in the backward only, and the gradient check must catch it
PLANTS = {
    # drop the forget term that carries dC to the previous step
    "backward": ("recurrence.cc", "dc[j] = dct * f[j] + gz_i * pi[j] + gz_f * pf[j];",
                 "dc[j] = gz_i * pi[j] + gz_f * pf[j];", (4, 7, 3, 5), True),
    # the packed GEMM forgets the rows left after the 8-row blocks (28 rows = 14 per
    # thread on two threads: 8 + 6); shape big enough for the packed path (FixedRhs)
    "packed GEMM": ("packed_gemm.h",
                    "LeftoverRows<NV, kAccumulate, MR - 1>(M - r, a + r * lda, lda, panel, K, c + r * ldc, ldc,",
                    "if (false) LeftoverRows<NV, kAccumulate, MR - 1>(M - r, a + r * lda, lda, panel, K, c + r * ldc, ldc,",
                    (28, 5, 3, 140), False),
}


@pytest.mark.slow
@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_bug_planted_in_the_kernel_is_caught(plant, tmp_path):
    name, good, bad, shape, forward_untouched = PLANTS[plant]
    if name == "packed_gemm.h" and "avx512f" not in open("/proc/cpuinfo").read():
        pytest.skip("the packed GEMM is compiled for AVX-512 CPUs only")
    source = (build.SOURCE.parent / name).read_text()
    assert source.count(good) == 1
    env = dict(os.environ, JAX_PLATFORMS="cpu", LSTMJAX_CACHE=str(tmp_path / "cache"),
               LSTMJAX_NATIVE_THREADS="2")
    env.pop("LSTMJAX_NATIVE_GEMM", None)
    results = {}
    for version in ("planted", "original"):
        folder = tmp_path / version
        folder.mkdir()
        for f in (build.SOURCE, *build.HEADERS):
            (folder / f.name).write_text(f.read_text())
        if version == "planted":
            (folder / name).write_text(source.replace(good, bad))
        proc = subprocess.run([sys.executable, "-c", PLANTED, str(folder / build.SOURCE.name),
                               *map(str, shape)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, proc.stderr[-3000:]
        results[version] = json.loads(lines[-1][len("RESULT "):])
    assert results["original"]["grad"] < TOL and results["original"]["forward"] < TOL
    if forward_untouched:
        assert results["planted"]["forward"] < TOL  # the forward is untouched ...
    assert results["planted"]["grad"] > 1e-2, results  # ... and the gradient test catches it
    assert re.fullmatch(r"[0-9a-f]{16}", next((tmp_path / "cache" / "native").iterdir()).name)


def test_a_read_only_cache_folder_builds_in_the_temporary_folder(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")  # mkdir below it fails, as in a read-only home
    monkeypatch.setenv("LSTMJAX_CACHE", str(blocked))
    monkeypatch.setattr(build.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    lib = build.library_path()
    assert lib.is_file() and lib.is_relative_to(tmp_path / "tmp")
