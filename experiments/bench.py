"""Speed benchmark: lstmjax against Flax and (if installed) PyTorch, in one process.

    python -m experiments.bench                      # all sizes, prints a table
    python -m experiments.bench --quick              # small sizes, fewer repeats
    python -m experiments.bench --json out.json --markdown out.md
    python -m experiments.bench --sections science,lstm,gru,train,min,memory
    python -m experiments.bench --gpu                # same, on the accelerator JAX sees,
                                                     # torch on CUDA (cuDNN) if available

Method: every candidate is jit-compiled (torch runs eagerly, as users run it), warmed
up, then all candidates of one case are timed in interleaved rounds (A B C, A B C, ...)
and the median is reported, so a load spike on the shared machine hits all of them.
Ratios are anchor_time / lstmjax_time (> 1 means lstmjax is faster). "lstmjax" is the
default, ``implementation="auto"`` (the native kernel on CPU); "lstmjax-fast" is the XLA
fast driver (the default before the kernel). PyTorch runs with its default threads
("torch") and with one thread ("torch-1t"); both are reported and the faster counts.

Targets (fwd+bwd): the science shapes >= 2x the faster of PyTorch and Flax and >= 4x
lstmjax-fast; the anchor sizes >= 1.25x the faster anchor or >= 85% of the GEMM peak; the
GRU at the first science shape >= 2x the faster of PyTorch's and Flax's GRU. Section
"train" times ``python -m lstmjax train`` on the pixel_mnist config (steps/s from the
run's timing.jsonl, compile excluded) with the kernel on and off (``LSTMJAX_NATIVE=0``).

FLOPs: forward 2·B·T·(D+H)·4H per direction (the gate matmuls), forward+backward 3x.
The GEMM peak is the best of several [1024 x 1024] x [1024 x 1024] f32 matmuls in JAX
measured in the same run, so "% peak" is relative to what this machine does right now.

Peak memory ("memory" section) is XLA's compiled buffer assignment of one
forward+backward step (``compiled.memory_analysis()``: temp + argument + output
bytes), not process RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import lstmjax

LSTM_SIZES = [(64, 256, 128, 256), (32, 1000, 2, 128), (16, 100, 64, 64)]
SCIENCE_SIZES = [(64, 784, 1, 128), (64, 1000, 8, 64)]  # pixel MNIST; the long-gap tasks
QUICK_SIZES = [(16, 100, 64, 64), (32, 200, 2, 128)]


def _torch():
    try:
        import torch  # noqa: F401
        return torch
    except ImportError:
        return None


def _block(x):
    return jax.block_until_ready(x)


def gemm_peak(reps=7, n=1024):
    """Best-of-``reps`` GFLOP/s of an n x n x n f32 matmul under jit."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    _block(f(a, a))
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        _block(f(a, a))
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def allocator() -> str:
    """The process's malloc, as set from the environment (it moves both anchors' times:
    every fresh buffer of tens of MB costs ~0.5 ms per MB of page faults under glibc)."""
    preload = os.environ.get("LD_PRELOAD", "")
    if not preload:
        return "glibc malloc (default)"
    conf = os.environ.get("MALLOC_CONF", "")
    return f"LD_PRELOAD={preload}" + (f" MALLOC_CONF={conf}" if conf else "")


def cpu_description() -> str:
    """CPU model and the vector flags that decide GEMM and bf16 speed (from /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    keep = sorted(f for f in flags if f in ("avx2", "fma", "avx512f", "avx512_bf16",
                                             "avx512_vnni", "amx_bf16", "amx_tile"))
    return f"{model} [{' '.join(keep)}]"


def git_commit() -> str:
    import subprocess
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
        # the results this command rewrites do not count as changes to the code measured
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!experiments/results"],
                               capture_output=True, text=True,
                               cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def time_interleaved(cands: dict, reps: int):
    """cands: name -> zero-arg callable that blocks until done. Returns name -> median s."""
    for fn in cands.values():  # warm-up (compile + first run)
        fn()
        fn()
    times = {k: [] for k in cands}
    names = list(cands)
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t = time.perf_counter()
            cands[k]()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


# --------------------------------------------------------------------------- LSTM cases


def lstm_candidates(B, T, D, H, bidirectional, mode, torch_device=None, include_reference=False,
                    unrolls=(1,)):
    """name -> callable for one case; mode 'fwd' or 'fwdbwd'."""
    import flax.linen as nn

    key = jax.random.key(0)
    xs = jax.random.normal(key, (B, T, D), jnp.float32)
    cands = {}

    def add_jax(name, fn, params):
        if mode == "fwd":
            f = jax.jit(fn)
        else:
            f = jax.jit(jax.value_and_grad(lambda p, x: jnp.sum(fn(p, x)), argnums=(0, 1)))
        cands[name] = lambda: _block(f(params, xs))

    auto = lstmjax.LSTMConfig(D, H, bidirectional=bidirectional)  # the default: "auto"
    params = lstmjax.init(jax.random.key(1), auto)
    add_jax("lstmjax", lambda p, x, c=auto: lstmjax.apply(p, c, x)[0], params)
    for unroll in unrolls:
        cfg_f = lstmjax.LSTMConfig(D, H, bidirectional=bidirectional, unroll=unroll,
                                   implementation="fast")
        suffix = "" if len(unrolls) == 1 else f"[unroll={unroll}]"
        add_jax("lstmjax-fast" + suffix, lambda p, x, c=cfg_f: lstmjax.apply(p, c, x)[0], params)
    if include_reference:
        ref = lstmjax.LSTMConfig(D, H, bidirectional=bidirectional, implementation="reference")
        add_jax("lstmjax-reference", lambda p, x, c=ref: lstmjax.apply(p, c, x)[0], params)

    if bidirectional:
        flax_model = nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(H)),
                                      nn.RNN(nn.OptimizedLSTMCell(H)))
    else:
        flax_model = nn.RNN(nn.OptimizedLSTMCell(H))
    flax_params = flax_model.init(jax.random.key(2), xs)
    add_jax("flax", flax_model.apply, flax_params)

    cands.update(torch_candidates("LSTM", B, T, D, H, bidirectional, mode, torch_device))
    return cands


def torch_candidates(kind, B, T, D, H, bidirectional, mode, torch_device=None):
    """PyTorch ``nn.LSTM`` / ``nn.GRU`` with its default threads ("torch") and, on CPU, one
    thread ("torch-1t"): its OpenMP threads are fastest on an idle machine and collapse
    when the cores are shared, so both are reported."""
    torch = _torch()
    if torch is None:
        return {}
    dev = torch_device or "cpu"
    model = getattr(torch.nn, kind)(D, H, batch_first=True, bidirectional=bidirectional).to(dev)
    x_t = torch.randn(B, T, D, device=dev)
    sync = (torch.cuda.synchronize if dev == "cuda" else (lambda: None))
    if mode == "fwd":
        def run_torch():
            with torch.no_grad():
                model(x_t)
            sync()
    else:
        x_g = x_t.clone().requires_grad_(True)

        def run_torch():
            model.zero_grad(set_to_none=True)
            x_g.grad = None
            out, _ = model(x_g)
            out.sum().backward()
            sync()
    cands = {"torch": run_torch}
    if dev == "cpu":
        default_threads = torch.get_num_threads()

        def run_one_thread():
            torch.set_num_threads(1)
            try:
                run_torch()
            finally:
                torch.set_num_threads(default_threads)
        cands["torch-1t"] = run_one_thread
    return cands


def lstm_flops(B, T, D, H, bidirectional, mode):
    f = 2 * B * T * (D + H) * 4 * H * (2 if bidirectional else 1)
    return f * (3 if mode == "fwdbwd" else 1)


ANCHORS = ("flax", "torch", "torch-1t")


def run_lstm(sizes, reps, peak, torch_device=None, include_reference=False, unrolls=(1,),
             science=False):
    """Time every size; ``science``: the science shapes (unidirectional, their targets)."""
    rows = []
    for (B, T, D, H) in sizes:
        for bidi in ((False,) if science else (False, True)):
            for mode in ("fwd", "fwdbwd"):
                cands = lstm_candidates(B, T, D, H, bidi, mode, torch_device, include_reference,
                                        unrolls)
                t = time_interleaved(cands, reps)
                flops = lstm_flops(B, T, D, H, bidi, mode)
                row = _row(t, flops, peak, B=B, T=T, D=D, H=H, bidirectional=bidi, mode=mode)
                fast_x = row["speedup_vs"].get("lstmjax-fast")
                if mode != "fwdbwd":
                    row["target"], row["target_met"] = "-", None
                elif science:
                    row["target"] = ">= 2x the faster of torch and flax, >= 4x lstmjax-fast"
                    row["target_met"] = bool(row["speedup_vs_faster_anchor"] >= 2.0 and
                                             (fast_x is None or fast_x >= 4.0))
                else:
                    need = min(1.25, row["best_anchor_ms"] / 1e3 / (flops / (0.85 * peak * 1e9)))
                    row["target"] = (f">= {need:.2f}x faster anchor "
                                     "(1.25x or 85% of peak, whichever is lower)")
                    row["target_met"] = bool(row["speedup_vs_faster_anchor"] >= need)
                rows.append(row)
                _print_row(row)
    return rows


def _row(t, flops, peak, **fields):
    """One timed case: ms, GFLOP/s, % of peak of every candidate and lstmjax's speedups."""
    ours = t["lstmjax"]
    others = {k: v for k, v in t.items() if k != "lstmjax"}
    anchors = {k: v for k, v in t.items() if k in ANCHORS}
    best = min(anchors.values()) if anchors else float("nan")
    return {**fields, "ms": {k: 1e3 * v for k, v in t.items()},
            "gflops": {k: flops / v / 1e9 for k, v in t.items()},
            "pct_peak": {k: 100 * flops / v / 1e9 / peak for k, v in t.items()},
            "speedup_vs": {k: v / ours for k, v in others.items()},
            "best_anchor_ms": 1e3 * best, "speedup_vs_faster_anchor": best / ours}


def _print_row(row):
    name = "bi " if row["bidirectional"] else "uni"
    parts = [f"{k} {v:8.1f} ms ({row['gflops'][k]:5.1f} GF/s, {row['pct_peak'][k]:4.0f}%)"
             for k, v in row["ms"].items()]
    sp = ", ".join(f"x{v:.2f} vs {k}" for k, v in row["speedup_vs"].items())
    verdict = {None: "-", True: "MET", False: "not met"}[row["target_met"]]
    print(f"{row.get('model', 'lstm')} ({row['B']},{row['T']},{row['D']},{row['H']}) {name} "
          f"{row['mode']:6s} | " + " | ".join(parts) + f" | {sp} | target {verdict}", flush=True)


# --------------------------------------------------------------------------- GRU


def run_gru(reps, peak, sizes=((64, 784, 1, 128),), torch_device=None):
    """The GRU (fwd+bwd): lstmjax "auto" (native on CPU) and its reference driver (the
    default before the kernel), Flax ``nn.RNN(nn.GRUCell)``, PyTorch ``nn.GRU``."""
    import flax.linen as nn

    rows = []
    for (B, T, D, H) in sizes:
        xs = jax.random.normal(jax.random.key(0), (B, T, D), jnp.float32)
        cands = {}

        def add_jax(name, fn, params):
            f = jax.jit(jax.value_and_grad(lambda p, x: jnp.sum(fn(p, x)), argnums=(0, 1)))
            cands[name] = lambda: _block(f(params, xs))

        for name, impl in (("lstmjax", "auto"), ("lstmjax-reference", "reference")):
            cfg = lstmjax.LSTMConfig(D, H, cell="gru", implementation=impl)
            params = lstmjax.init(jax.random.key(1), cfg)
            add_jax(name, lambda p, x, c=cfg: lstmjax.apply(p, c, x)[0], params)
        flax_model = nn.RNN(nn.GRUCell(H))
        add_jax("flax", flax_model.apply, flax_model.init(jax.random.key(2), xs))
        cands.update(torch_candidates("GRU", B, T, D, H, False, "fwdbwd", torch_device))
        t = time_interleaved(cands, reps)
        flops = 3 * 2 * B * T * (D + H) * 3 * H
        row = _row(t, flops, peak, model="gru", B=B, T=T, D=D, H=H, bidirectional=False,
                   mode="fwdbwd")
        row["target"] = ">= 2x the faster of torch and flax"
        row["target_met"] = bool(row["speedup_vs_faster_anchor"] >= 2.0)
        rows.append(row)
        _print_row(row)
    return rows


# --------------------------------------------------------------------------- training


def run_train(steps=60, config="experiments/configs/pixel_mnist.py:lstm"):
    """Steps/s of ``python -m lstmjax train`` with the native kernel on and off.

    Each run is its own process (the kernel is chosen when the program is built); its
    speed is the median of the timing.jsonl windows after the first (which holds the
    compile). Needs the pixel MNIST files (scripts/mnist_to_npz.py, see the config).
    """
    import subprocess
    import tempfile

    rows = []
    for name, native in (("xla (LSTMJAX_NATIVE=0)", "0"), ("native (auto)", "1")):
        with tempfile.TemporaryDirectory() as work:
            env = dict(os.environ, LSTMJAX_NATIVE=native)
            cmd = [sys.executable, "-m", "lstmjax", "train", "--config", config,
                   "--workdir", f"{work}/run", f"--config.steps={steps}",
                   f"--config.log_every={max(1, steps // 6)}", "--config.eval_every=0",
                   "--config.checkpoint_every=0", "--config.plot=False", "--progress=false"]
            t0 = time.time()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"train bench failed: {proc.stderr.strip().splitlines()[-1]}")
            with open(f"{work}/run/timing.jsonl") as f:
                windows = [json.loads(line) for line in f if line.strip()]
            rates = [w["steps_per_s"] for w in windows[1:] if "steps_per_s" in w]
            rows.append({"name": name, "config": config, "steps": steps,
                         "steps_per_s": statistics.median(rates), "windows": len(rates),
                         "wall_s": time.time() - t0, "command": " ".join(cmd[1:])})
        print(f"train {config} {name}: {rows[-1]['steps_per_s']:.3f} steps/s "
              f"(median of {len(rates)} windows)", flush=True)
    rows[1]["speedup"] = rows[1]["steps_per_s"] / rows[0]["steps_per_s"]
    return rows


# --------------------------------------------------------------------------- min-RNNs


def run_min(reps, T=4096, B=16, D=64, H=128):
    xs = jax.random.normal(jax.random.key(0), (B, T, D), jnp.float32)
    cands, flops_note = {}, {}

    def add(name, cfg):
        params = lstmjax.init(jax.random.key(1), cfg)
        f = jax.jit(jax.value_and_grad(
            lambda p, x: jnp.sum(lstmjax.apply(p, cfg, x)[0]), argnums=(0, 1)))
        cands[name] = lambda: _block(f(params, xs))

    add("lstm (fast, sequential)", lstmjax.LSTMConfig(D, H, implementation="fast"))
    add("lstm (auto: native on CPU)", lstmjax.LSTMConfig(D, H))
    for cell in ("min_lstm", "min_gru"):
        for form in ("chunked", "sequential", "parallel"):
            add(f"{cell} ({form})", lstmjax.LSTMConfig(D, H, cell=cell, form=form))
    t = time_interleaved(cands, reps)
    base = t["lstm (fast, sequential)"]
    rows = []
    for k, v in t.items():
        rows.append({"name": k, "T": T, "B": B, "D": D, "H": H, "mode": "fwdbwd", "ms": 1e3 * v,
                     "speedup_vs_lstm": base / v})
        print(f"T={T} B={B} D={D} H={H} fwd+bwd  {k:28s} {1e3 * v:9.1f} ms  "
              f"x{base / v:.2f} vs sequential LSTM", flush=True)
    return rows


# --------------------------------------------------------------------------- memory


def compiled_memory(cfg, B, T):
    """Bytes XLA assigns for one fwd+bwd step (temp + arguments + outputs)."""
    xs = jax.ShapeDtypeStruct((B, T, cfg.input_size), jnp.float32)
    params = jax.eval_shape(lambda: lstmjax.init(jax.random.key(0), cfg))
    f = jax.jit(jax.value_and_grad(lambda p, x: jnp.sum(lstmjax.apply(p, cfg, x)[0])))
    ma = f.lower(params, xs).compile().memory_analysis()
    if ma is None:
        return None
    return {"temp": ma.temp_size_in_bytes, "argument": ma.argument_size_in_bytes,
            "output": ma.output_size_in_bytes,
            "total": ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes}


def run_memory(Ts=(1000, 2500, 5000, 10000), B=32, D=64, H=256):
    rows = []
    for T in Ts:
        for impl, remat in (("reference", False), ("fast", False), ("fast", True),
                            ("native", False), ("native", True)):
            cfg = lstmjax.LSTMConfig(D, H, implementation=impl, remat=remat)
            m = compiled_memory(cfg, B, T)
            total = None if m is None else m["total"] / 2 ** 20
            rows.append({"T": T, "B": B, "D": D, "H": H, "implementation": impl, "remat": remat,
                         "peak_MiB": total, "source": "XLA compiled memory_analysis()"})
            print(f"memory T={T:6d} B={B} D={D} H={H} {impl:9s} remat={remat!s:5s} "
                  f"peak {total if total is None else f'{total:8.1f}'} MiB", flush=True)
    return rows


# --------------------------------------------------------------------------- output


def markdown(result):
    lines = ["# bench: lstmjax vs Flax and PyTorch", "",
             f"- command: `{result['command']}`",
             f"- commit: {result.get('commit', 'unknown')}",
             f"- hardware: {result.get('cpu', result['machine'])}, {os.cpu_count()} cores, "
             f"load average {result['load_average']:.2f} at start",
             f"- native kernel: {result.get('native', 'n/a')}",
             f"- memory allocator: {result['allocator']}",
             f"- wall time: {result['wall_s'] / 60:.1f} min", "",
             "## Results", "",
             f"Machine: {result['machine']}; JAX backend {result['backend']}; "
             f"GEMM peak {result['gemm_peak_gflops']:.1f} GFLOP/s (f32, measured in this run); "
             f"torch: {result['torch'] or 'not installed'}.", ""]
    for section, title in (("science", "Science shapes (unidirectional)"),
                           ("lstm", "Anchor sizes"), ("gru", "GRU")):
        rows = result.get(section)
        if not rows:
            continue
        others = [k for k in ("lstmjax-fast", "lstmjax-reference", "flax", "torch", "torch-1t")
                  if any(k in r["ms"] for r in rows)]
        head = ("| (B, T, D, H) | dir | pass | lstmjax ms (GF/s, % peak) | "
                + " | ".join(f"{k} ms" for k in others)
                + " | x vs faster anchor | " + " | ".join(f"x vs {k}" for k in others)
                + " | target |")
        lines += [f"### {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
        for r in rows:
            verdict = {None: "-", True: "met", False: "NOT met"}[r["target_met"]]
            cells = [f"({r['B']}, {r['T']}, {r['D']}, {r['H']})",
                     "bi" if r["bidirectional"] else "uni",
                     "fwd" if r["mode"] == "fwd" else "fwd+bwd",
                     f"{r['ms']['lstmjax']:.1f} ({r['gflops']['lstmjax']:.0f}, "
                     f"{r['pct_peak']['lstmjax']:.0f}%)"]
            cells += [f"{r['ms'][k]:.1f}" if k in r["ms"] else "-" for k in others]
            cells.append(f"{r['speedup_vs_faster_anchor']:.2f}")
            cells += [f"{r['speedup_vs'][k]:.2f}" if k in r["speedup_vs"] else "-"
                      for k in others]
            cells.append(verdict if r["target_met"] is None else f"{verdict} ({r['target']})")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if result.get("train"):
        rows = result["train"]
        lines += ["### Training: `python -m lstmjax train` (pixel_mnist config)", "",
                  "| kernel | steps/s (median of windows after compile) | windows | x |",
                  "|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['steps_per_s']:.3f} | {r['windows']} | "
                  f"{r.get('speedup', 1.0):.2f} |" for r in rows]
        lines += ["", f"Command (each): `{rows[0]['command']}`", ""]
    if result.get("min"):
        m = result["min"][0]
        lines += [f"| model (T={m['T']}, B={m['B']}, D={m['D']}, H={m['H']}, fwd+bwd) | ms | "
                  "x vs sequential LSTM |",
                  "|---|---|---|"]
        lines += [f"| {r['name']} | {r['ms']:.1f} | {r['speedup_vs_lstm']:.2f} |"
                  for r in result["min"]]
        lines.append("")
    if result.get("memory"):
        lines += ["| T | implementation | remat | peak MiB (XLA memory_analysis) |",
                  "|---|---|---|---|"]
        lines += [f"| {r['T']} | {r['implementation']} | {r['remat']} | "
                  f"{'n/a' if r['peak_MiB'] is None else format(r['peak_MiB'], '.0f')} |"
                  for r in result["memory"]]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    ap.add_argument("--reps", type=int, default=None, help="timed rounds (default 7; quick 3)")
    ap.add_argument("--sections", default="science,lstm,gru,train,min,memory",
                    help="comma list of science, lstm, gru, train, min, memory")
    ap.add_argument("--train-steps", type=int, default=60,
                    help="steps of each training run (section train)")
    ap.add_argument("--train-config", default="experiments/configs/pixel_mnist.py:lstm",
                    help="the config the train section runs (default: pixel MNIST's LSTM)")
    ap.add_argument("--science-sizes", default=None,
                    help="science shapes 'B,T,D,H;...' (default (64,784,1,128);(64,1000,8,64))")
    ap.add_argument("--gru-sizes", default=None, help="GRU sizes 'B,T,D,H;...'")
    ap.add_argument("--reference", action="store_true", help="also time the reference driver")
    ap.add_argument("--unrolls", default="1", help="comma list of unroll values to try")
    ap.add_argument("--gpu", action="store_true",
                    help="run on the accelerator; torch on CUDA (cuDNN) if available")
    ap.add_argument("--sizes", default=None,
                    help="LSTM sizes 'B,T,D,H;B,T,D,H' (default: the issue's sizes)")
    ap.add_argument("--min-length", type=int, default=None, help="T of the min-RNN section")
    ap.add_argument("--memory-lengths", default=None, help="comma list of T for memory")
    ap.add_argument("--json", default=None, help="write results as JSON here")
    ap.add_argument("--markdown", default=None, help="write a Markdown table here")
    args = ap.parse_args(argv)
    reps = args.reps or (3 if args.quick else 7)
    sections = set(args.sections.split(","))
    torch = _torch()
    torch_device = None
    if args.gpu:
        if jax.default_backend() == "cpu":
            sys.exit("--gpu: JAX sees no accelerator (jax.default_backend() == 'cpu')")
        if torch is not None and torch.cuda.is_available():
            torch_device = "cuda"
            torch.backends.cudnn.benchmark = True
    t_start = time.time()
    load = os.getloadavg()[0]
    peak = gemm_peak()
    result = {"command": "python -m experiments.bench " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "load_average": load, "machine": f"{platform.machine()} {platform.processor() or ''} "
                         f"{jax.devices()[0].device_kind}".strip(),
              "backend": jax.default_backend(), "jax": jax.__version__,
              "torch": None if torch is None else torch.__version__,
              "gemm_peak_gflops": peak, "reps": reps, "allocator": allocator(),
              "cpu": cpu_description(), "commit": git_commit(),
              "native": lstmjax.native.unavailable_reason() or "on (implementation='auto')"}
    print(f"GEMM peak {peak:.1f} GFLOP/s; backend {jax.default_backend()}; "
          f"torch {result['torch']}", flush=True)
    def sizes_arg(text, default):
        if not text:
            return default
        return [tuple(int(v) for v in size.split(",")) for size in text.split(";")]

    if "science" in sections:
        result["science"] = run_lstm(
            sizes_arg(args.science_sizes, QUICK_SIZES[:1] if args.quick else SCIENCE_SIZES),
            reps, peak, torch_device, args.reference, science=True)
    if "lstm" in sections:
        sizes = QUICK_SIZES if args.quick else LSTM_SIZES
        sizes = sizes_arg(args.sizes, sizes)
        result["lstm"] = run_lstm(sizes, reps, peak,
                                  torch_device, args.reference,
                                  tuple(int(u) for u in args.unrolls.split(",")))
    if "gru" in sections:
        result["gru"] = run_gru(reps, peak, sizes_arg(
            args.gru_sizes, [(16, 100, 8, 32)] if args.quick else [(64, 784, 1, 128)]),
            torch_device)
    if "train" in sections:
        result["train"] = run_train(args.train_steps, args.train_config)
    if "min" in sections:
        result["min"] = run_min(reps, T=args.min_length or (512 if args.quick else 4096))
    if "memory" in sections:
        lengths = (500, 1000) if args.quick else (1000, 2500, 5000, 10000)
        if args.memory_lengths:
            lengths = tuple(int(v) for v in args.memory_lengths.split(","))
        result["memory"] = run_memory(lengths)
    peak2 = gemm_peak()
    result["gemm_peak_gflops_end"] = peak2
    result["wall_s"] = time.time() - t_start
    print(f"GEMM peak at the end {peak2:.1f} GFLOP/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    md = markdown(result)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    print(md)
    return result


if __name__ == "__main__":
    main()
