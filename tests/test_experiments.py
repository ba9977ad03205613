"""End-to-end runs of the experiment scripts in their tiny modes (seconds each).

Each checks the files' content: records, finite numbers, table rows generated from the
records, PNGs that decode to the expected size, and the command/hardware/wall time.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from experiments import common


def _png_size(path):
    from PIL import Image
    with Image.open(path) as im:
        im.load()  # decodes the whole image
        return im.size


def _check_meta(workdir, name):
    with open(os.path.join(workdir, "meta.json")) as f:
        meta = json.load(f)
    assert meta["experiment"] == name and meta["mode"] == "tiny"
    assert meta["command"].startswith(f"python -m experiments.")
    assert meta["hardware"]["cpu_count"] >= 1 and meta["wall_time_s"] > 0
    with open(os.path.join(workdir, f"{name}.md")) as f:
        text = f.read()
    assert meta["command"] in text and "wall time" in text and "cores" in text
    return meta, text


def test_table_helpers():
    assert common.mean_std([1.0, 3.0, None]) == (2.0, 1.0, 2)
    assert math.isnan(common.mean_std([])[0])
    assert common.fmt_mean_std([0.5, 0.7], scale=100) == "60.0 ± 10.0"
    table = common.markdown_table(["model", "a"], [["x", "1 ± 0"], ["y", "2 ± 1"]])
    assert common.parse_markdown_table("intro\n\n" + table + "\n\nend", "model") == [
        ["model", "a"], ["x", "1 ± 0"], ["y", "2 ± 1"]]


@pytest.mark.slow
def test_fit_follows_train_run_trajectory():
    """Without early stopping, common.fit trains exactly what lstmjax.train.run trains."""
    from lstmjax import train
    cfg = common.run_config(common.task_config("distant_recall", gap=3, num_clues=4,
                                               num_distractors=4),
                            seed=3, steps=3, batch_size=8, eval_examples=16, cell="rnn",
                            hidden_size=8, embed_dim=4, recurrent_init="glorot")
    ours = common.fit(cfg, eval_every=2)
    theirs = train.run(cfg, None, progress=False, plots=False)
    assert ours["params_sha256"] == theirs["params_sha256"]
    assert ours["steps_run"] == 3 and [h["step"] for h in ours["history"]] == [2, 3]
    assert ours["eval"]["accuracy"] == pytest.approx(theirs["final_eval"]["accuracy"])


@pytest.mark.slow
def test_gap_sweep_tiny(tmp_path):
    from experiments import gap_sweep
    workdir = str(tmp_path / "gs")
    argv = ["--tiny", "--models", "rnn,lstm", "--workdir", workdir]
    report = gap_sweep.main(argv)
    with open(os.path.join(workdir, "gap_sweep.json")) as f:
        records = json.load(f)
    assert {(r["model"], r["gap"], r["seed"]) for r in records} == {
        (m, g, 0) for m in ("rnn", "lstm") for g in (3, 6)}
    for r in records:
        assert r["task"] == "distant_recall" and 0.0 <= r["accuracy"] <= 1.0
        assert math.isfinite(r["loss"]) and r["steps_run"] <= r["steps_budget"] == 4
        assert r["chance"] == pytest.approx(1 / 8) and len(r["params_sha256"]) == 64
    meta, text = _check_meta(workdir, "gap_sweep")
    assert report == os.path.join(workdir, "gap_sweep.md")
    rows = common.parse_markdown_table(text, "model")
    assert rows[0] == ["model", "gap=3", "gap=6"]
    for row in rows[1:]:
        for gap, cell in zip((3, 6), row[1:]):
            accs = [r["accuracy"] for r in records if r["model"] == row[0] and r["gap"] == gap]
            assert cell == common.fmt_mean_std(accs, scale=100)
    assert [row[0] for row in rows[1:]] == ["rnn", "lstm"]
    for name in ("accuracy_vs_gap.png", "steps_to_solve.png"):
        assert _png_size(os.path.join(workdir, name)) == (700, 450)
    # same command again: every run is found in the workdir and skipped (resume)
    gap_sweep.main(argv)
    with open(os.path.join(workdir, "gap_sweep.json")) as f:
        again = json.load(f)
    assert [(r["model"], r["gap"], r["params_sha256"]) for r in again] == \
        [(r["model"], r["gap"], r["params_sha256"]) for r in records]


@pytest.mark.slow
def test_demo_tiny(tmp_path, capsys):
    from experiments import demo
    demo.main(["--tiny", "--workdir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert "[h_L2 ; h_R2]" in out and "accuracy_vs_gap.png" in out
    assert os.path.exists(tmp_path / "demo" / "gap_sweep.json")
