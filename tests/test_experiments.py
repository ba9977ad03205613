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
    assert common.fit(cfg, eval_every=2)["params_sha256"] == ours["params_sha256"]  # rerun
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


@pytest.mark.slow
def test_ablation_tiny(tmp_path):
    from experiments import ablation
    workdir = str(tmp_path / "abl")
    ablation.main(["--tiny", "--tasks", "distant_recall", "--workdir", workdir])
    with open(os.path.join(workdir, "ablation.json")) as f:
        records = json.load(f)
    assert [(r["variant"], r["task"]) for r in records] == [
        ("standard", "distant_recall"), ("nfg", "distant_recall"), ("np", "distant_recall")]
    std, nfg, np_ = records
    assert np_["alias_of"] == "standard" and np_["params_sha256"] == std["params_sha256"]
    assert nfg["params_sha256"] != std["params_sha256"]
    for r in records:
        assert 0.0 <= r["score"] <= 1.0 and math.isfinite(r["eval"]["loss"])
        assert r["steps_run"] <= r["steps_budget"] == 4
    _, text = _check_meta(workdir, "ablation")
    rows = common.parse_markdown_table(text, "variant")
    assert [row[0] for row in rows[1:]] == ["standard", "nfg", "np"]
    for row in rows[1:]:
        assert row[1] == common.fmt_mean_std(
            [r["score"] for r in records if r["variant"] == row[0]], scale=100)
    findings = text.split("## Findings (generated from the numbers above)")[1]
    assert "Greff et al." in findings and "NFG" in findings
    assert f"{100 * (std['score'] - nfg['score']):+.1f} points" in findings
    assert _png_size(os.path.join(workdir, "ablation_scores.png")) == (1200, 450)
    # interrupted after its first run: the same command resumes from the records, and the
    # rest trained by two worker processes (--jobs 2) gives the same numbers as one process
    with open(os.path.join(workdir, "ablation.json"), "w") as f:
        json.dump(records[:1], f)
    ablation.main(["--tiny", "--tasks", "distant_recall", "--jobs", "2", "--workdir", workdir])
    with open(os.path.join(workdir, "ablation.json")) as f:
        again = json.load(f)
    assert [(r["variant"], r["score"], r["params_sha256"], r["steps_run"]) for r in again] == \
        [(r["variant"], r["score"], r["params_sha256"], r["steps_run"]) for r in records]
    _, text = _check_meta(workdir, "ablation")
    assert "**Resumed:** 1 of 3 runs" in text


def test_jobs_flag_is_validated(capsys):
    from experiments import ablation
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            ablation.main(["--tiny", "--jobs", bad])
        assert f"--jobs: expected 'auto' or an integer >= 1, got '{bad}'" \
            in capsys.readouterr().err
    assert common.resolve_jobs("auto", "tiny") == 1 and common.resolve_jobs(3, "tiny") == 3
    assert common.resolve_jobs("auto", "standard") == min(8, os.cpu_count())  # CPU backend
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        common.run_plan([(0,)], lambda k: {}, done={}, jobs=0)


@pytest.mark.slow
def test_gates_tiny(tmp_path):
    from experiments import gates
    workdir = str(tmp_path / "gates")
    gates.main(["--tiny", "--workdir", workdir])
    with open(os.path.join(workdir, "gates.json")) as f:
        (record,) = json.load(f)
    for key in ("top_i_clue", "top_f_gap", "top_o_query", "all_f_gap", "top_c_clue_r2_query"):
        assert math.isfinite(record[key])
    for key in ("top_i_clue", "top_i_gap", "top_f_gap", "top_o_gap", "top_o_query",
                "top_c_clue_r2_write", "top_c_clue_r2_mid", "top_c_clue_r2_query"):
        assert 0.0 <= record[key] <= 1.0
    assert len(record["top_units"]) == 4 and len(set(record["top_units"])) == 4
    _, text = _check_meta(workdir, "gates")
    rows = common.parse_markdown_table(text, "quantity")
    assert rows[2] == ["i at clue step", f"{record['top_i_clue']:.3f} ± 0.000",
                       f"{record['all_i_clue']:.3f} ± 0.000"]
    assert _png_size(os.path.join(workdir, "gates_seed0_seq0.png")) == (1000, 800)
    assert _png_size(os.path.join(workdir, "gate_means_seed0.png")) == (800, 350)


def test_gates_trace_matches_apply():
    """The replayed gate activations give the same h as lstmjax.apply."""
    import jax
    from experiments import gates
    from lstmjax import models
    from lstmjax.tasks import distant_recall as dr
    cfg = dr.DistantRecallConfig(gap=5, num_clues=4, num_distractors=4)
    mcfg = models.from_task(dr.spec(cfg), hidden_size=6, embed_dim=3, chrono_max_len=7.0,
                            recurrent_init="glorot")
    params = models.init(jax.random.key(1), mcfg)
    tokens = np.stack([dr.example(cfg, 0, k)["x"] for k in range(3)])
    acts = gates.trace(params, mcfg, tokens)
    _, feats = models.apply(params, mcfg, tokens, return_features=True)
    np.testing.assert_allclose(acts["h"][:, -1], feats, atol=1e-5)
    np.testing.assert_allclose(acts["c"][:, 0], acts["i"][:, 0] * acts["g"][:, 0], atol=1e-6)


def test_synthetic_reviews_file(tmp_path):
    from experiments import sentiment
    from lstmjax import data
    path = sentiment.write_synthetic_reviews(str(tmp_path / "r.csv"), 50, seed=3)
    again = sentiment.write_synthetic_reviews(str(tmp_path / "r2.csv"), 50, seed=3)
    assert open(path).read() == open(again).read()
    spec, src = data.make_source({"name": "text_file", "path": path, "holdout": 0.2}, "train")
    assert spec.num_classes == 2 and len(src) == 40
    import csv
    rows = list(csv.DictReader(open(path)))
    for row in rows:
        opening = row["text"].split(" . ")[0]
        assert opening in (sentiment.POSITIVE if row["label"] == "positive" else sentiment.NEGATIVE)


@pytest.mark.slow
def test_sentiment_tiny(tmp_path):
    from experiments import sentiment
    workdir = str(tmp_path / "sent")
    sentiment.main(["--tiny", "--data", "synthetic", "--poolings", "bilstm,forward_last",
                    "--workdir", workdir])
    with open(os.path.join(workdir, "sentiment.json")) as f:
        records = json.load(f)
    assert [r["pooling"] for r in records] == ["bilstm", "forward_last"]
    assert records[0]["num_params"] > records[1]["num_params"]  # two directions
    for r in records:
        assert 0.0 <= r["accuracy"] <= 1.0 and math.isfinite(r["loss"])
    _, text = _check_meta(workdir, "sentiment")
    rows = common.parse_markdown_table(text, "pooling")
    assert [row[0] for row in rows[1:]] == ["bilstm", "forward_last"]
    for row, r in zip(rows[1:], records):
        assert row[2] == common.fmt_mean_std([r["accuracy"]], scale=100)
    assert _png_size(os.path.join(workdir, "sentiment_accuracy.png")) == (700, 450)
    assert _png_size(os.path.join(workdir, "learning_curves.png")) == (700, 450)


@pytest.mark.slow
def test_adding_long_tiny_resumes(tmp_path):
    from experiments import adding_long
    workdir = str(tmp_path / "add")
    adding_long.main(["--tiny", "--models", "rnn", "--workdir", workdir])
    with open(os.path.join(workdir, "adding_long.json")) as f:
        (first,) = json.load(f)
    assert first["steps_run"] == 4 and [h["step"] for h in first["curve"]] == [2, 4]
    # a bigger budget continues from the checkpoint at step 4 (resume), not from scratch
    adding_long.main(["--tiny", "--models", "rnn", "--max-steps", "6", "--workdir", workdir])
    with open(os.path.join(workdir, "adding_long.json")) as f:
        (second,) = json.load(f)
    assert second["steps_run"] == 6 and [h["step"] for h in second["curve"]] == [2, 4, 6]
    assert second["curve"][:2] == first["curve"]
    assert 0.0 <= second["accuracy"] <= 1.0 and math.isfinite(second["mse"])
    meta, text = _check_meta(workdir, "adding_long")
    rows = common.parse_markdown_table(text, "model")
    assert rows[1][0] == "rnn" and rows[1][1] == common.fmt_mean_std([second["accuracy"]], scale=100)
    assert _png_size(os.path.join(workdir, "adding_long_curves.png")) == (700, 450)


def test_clue_r2():
    from experiments import gates
    rng = np.random.default_rng(0)
    clues = rng.integers(0, 4, 400)
    c = np.stack([clues * 1.0, rng.normal(size=400), np.zeros(400)], -1)[:, None, :]  # [N,1,3]
    r2 = gates.clue_r2(c, clues, 4)
    assert r2.shape == (1, 3)
    assert r2[0, 0] == pytest.approx(1.0) and r2[0, 1] < 0.05 and r2[0, 2] == 0.0
