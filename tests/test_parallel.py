"""pmap and sharding (jit + mesh + shard_map) on 8 simulated CPU devices match one device."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from train_helpers import ROOT

SCRIPT = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, numpy as np
    from lstmjax import train
    assert jax.device_count() == 8, jax.devices()
    # per-step masked loss (copy memory): the global mean must not depend on the split
    cfg = {"seed": 0, "steps": 20, "batch_size": 16, "log_every": 5, "eval_every": 10,
           "eval_batches": 2, "checkpoint_every": 0, "plot": False,
           "data": {"name": "copy_memory", "length": 6, "num_symbols": 3,
                    "num_examples": 128, "num_eval_examples": 32},
           "model": {"hidden_size": 8, "embed_dim": 4, "recurrent_init": "glorot"}}
    out = {}
    runs = {m: train.run(dict(cfg, parallel=m), None, progress=False)
            for m in ("none", "pmap", "sharding")}
    for m in ("pmap", "sharding"):
        out[m] = {
            "devices": len(runs[m]["devices"]),
            "param_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(
                jax.tree.leaves(runs["none"]["params"]), jax.tree.leaves(runs[m]["params"]))),
            "metric_diff": max(abs(a[k] - b[k]) for a, b in zip(runs["none"]["history"],
                               runs[m]["history"]) for k in a if k not in ("step", "split")),
        }
    # a checkpoint written under one layout resumes under another
    import tempfile
    work = tempfile.mkdtemp()
    train.run(dict(cfg, parallel="sharding", steps=10, checkpoint_every=5), work, progress=False)
    resumed = train.run(dict(cfg, parallel="pmap", checkpoint_every=5), work, progress=False)
    out["resume_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(
        jax.tree.leaves(runs["none"]["params"]), jax.tree.leaves(resumed["params"])))
    again = train.run(dict(cfg, parallel="sharding"), None, progress=False)
    out["sharding_rerun_same_hash"] = again["params_sha256"] == runs["sharding"]["params_sha256"]
    try:
        train.run(dict(cfg, parallel="pmap", batch_size=12), None, progress=False)
    except ValueError as e:
        out["error"] = str(e)
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_pmap_and_sharding_match_one_device_on_8_cpu_devices():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=400)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    print(out)
    for mode in ("pmap", "sharding"):
        assert out[mode]["devices"] == 8
        assert out[mode]["param_diff"] < 1e-5, out
        assert out[mode]["metric_diff"] < 1e-5, out
    assert out["sharding_rerun_same_hash"]
    assert out["resume_diff"] < 1e-5, out
    assert "batch_size=12 is not divisible by the number of devices (8)" in out["error"]
