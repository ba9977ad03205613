"""Inter-layer dropout in training: it is applied (and only in training), it is a pure
function of (seed, step, device), a resumed run redraws exactly the same masks, and the
pmap / sharding layouts run it reproducibly."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lstmjax import models, train

from train_helpers import ROOT, subprocess_env, tiny

DROP = {"hidden_size": 8, "num_layers": 2, "dropout": 0.5, "recurrent_init": "glorot"}


def test_dropout_changes_training_and_is_reproducible():
    with_drop = train.run(tiny(steps=10, model=DROP), None, progress=False)
    again = train.run(tiny(steps=10, model=DROP), None, progress=False)
    without = train.run(tiny(steps=10, model=dict(DROP, dropout=0.0)), None, progress=False)
    assert with_drop["params_sha256"] == again["params_sha256"]
    assert with_drop["params_sha256"] != without["params_sha256"]
    other_seed = train.run(tiny(steps=10, seed=3, model=DROP), None, progress=False)
    assert other_seed["params_sha256"] != with_drop["params_sha256"]


def test_evaluation_does_not_drop():
    """Evaluating the same parameters twice gives the same numbers (no dropout key)."""
    job = train.build(tiny(model=DROP))
    params = job.compiled.init(np.int32(0)).params
    batch = train.data.collate([job.sources["validation"][i] for i in range(8)])
    a = models.apply(params, job.model, batch["x"].astype(np.float32), batch["lengths"])
    b = models.apply(params, job.model, batch["x"].astype(np.float32), batch["lengths"])
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resume_with_dropout_equals_uninterrupted(tmp_path):
    cfg = tiny(steps=20, checkpoint_every=7, eval_every=0, model=DROP)
    full = train.run(cfg, None, progress=False)
    work = str(tmp_path / "r")
    train.run(dict(cfg, steps=7), work, progress=False)
    resumed = train.run(cfg, work, progress=False)
    assert resumed["params_sha256"] == full["params_sha256"]


SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
    from lstmjax import train
    from train_helpers import tiny
    drop = {"hidden_size": 8, "num_layers": 2, "dropout": 0.5, "recurrent_init": "glorot"}
    out = {}
    for mode in ("pmap", "sharding"):
        a = train.run(tiny(steps=6, parallel=mode, model=drop), None, progress=False)
        b = train.run(tiny(steps=6, parallel=mode, model=drop), None, progress=False)
        c = train.run(tiny(steps=6, parallel=mode, model=dict(drop, dropout=0.0)), None,
                      progress=False)
        out[mode] = [a["params_sha256"], b["params_sha256"], c["params_sha256"],
                     a["final_train"]["loss"]]
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_dropout_under_pmap_and_sharding():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode, (a, b, no_drop, loss) in out.items():
        assert a == b, mode            # reproducible
        assert a != no_drop, mode      # applied
        assert np.isfinite(loss)
    # the same per-device masks (folded with the device index) under both layouts
    assert out["pmap"][0] == out["sharding"][0] or abs(out["pmap"][3] - out["sharding"][3]) < 1e-5
