"""Configs checked against what they will allocate (lstmjax.budget), before anything is
allocated: oversized ones fail fast in one line with the estimate; 0 means off; device
counts are checked against the host."""

import os
import subprocess
import sys
import time

import jax
import pytest

from lstmjax import budget, models, train

from train_helpers import ROOT, subprocess_env, tiny


def _text_config(tmp_path, **model):
    path = tmp_path / "texts.csv"
    path.write_text("text,label\n" + "".join(f"word{k} good,pos\nword{k} bad,neg\n"
                                              for k in range(20)))
    return {"steps": 4, "batch_size": 4, "log_every": 2, "eval_every": 0, "plot": False,
            "checkpoint_every": 0,
            "data": {"name": "text_file", "path": str(path), "max_length": 8, "holdout": 0.2},
            "model": {"hidden_size": 8, "embed_dim": 8, **model}}


@pytest.mark.parametrize("overrides,fragment", [
    ({"model": {"num_layers": 10**6}}, "config.model.num_layers=1000000 is over 256"),
    ({"model": {"hidden_size": 10**9}}, "parameters"),
    ({"data": {"length": 10**9}}, "x 1100000000 steps"),
    ({"pad_to": "batch", "pad_multiple": 10**9}, "x 1000000000 steps"),
])
def test_oversized_config_fails_fast_in_one_line(overrides, fragment):
    t = time.time()
    with pytest.raises(ValueError) as e:
        train.build(tiny(**overrides))
    message = str(e.value)
    assert time.time() - t < 10
    assert fragment in message and "\n" not in message
    if "num_layers" not in message:
        assert "config needs about" in message and "reduce model.hidden_size" in message


def test_oversized_embedding_fails_fast(tmp_path):
    t = time.time()
    with pytest.raises(ValueError, match="config needs about .* parameters"):
        train.build(_text_config(tmp_path, embed_dim=10**9))
    assert time.time() - t < 10


def test_estimate_counts_the_parameters_exactly(tmp_path):
    job = train.build(_text_config(tmp_path, num_layers=2, bidirectional=True))
    params = models.init(jax.random.key(0), job.model)
    need = budget.estimate(job.model, 4, 8)
    assert need["params"] == models.num_params(params)
    assert need["param_bytes"] == 16 * need["params"]
    # per step kept for the backward pass: layers x directions x (4 gates + c + h) x H
    assert need["activation_bytes"] == 4 * 4 * 8 * 2 * 2 * 6 * 8


def test_log_every_zero_is_off(tmp_path):
    summary = train.run(tiny(steps=6, log_every=0, eval_every=3), str(tmp_path / "w"),
                        progress=False)
    assert summary["status"] == "completed"
    assert [r["split"] for r in summary["history"]] == ["validation", "validation"]


def test_num_devices_beyond_the_host_is_refused():
    n = len(jax.devices())
    with pytest.raises(ValueError, match="config.parallel='none' runs on one device"):
        train.build(tiny(num_devices=n + 4))
    with pytest.raises(ValueError, match=rf"num_devices={n + 4} but only {n} device"):
        train.build(tiny(num_devices=n + 4, parallel="sharding"))


@pytest.mark.parametrize("args,fragment", [
    (["--config.model.num_layers=1000000"], "is over 256"),
    (["--config.data.length=1000000000"], "config needs about"),
    (["--host_devices=-1"], "--host_devices=-1 is not accepted"),
])
def test_command_line_fails_in_one_line(tmp_path, args, fragment):
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "lstmjax", "train", "--config",
                           "tests/configs/tiny_adding.py", "--workdir", str(tmp_path / "w"),
                           *args], cwd=ROOT, env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert time.time() - t < 30  # Python and jax start included; the check itself is < 1 s
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and fragment in lines[0], proc.stderr
    assert not os.path.exists(tmp_path / "w" / "checkpoints")
