"""End-to-end runs of the experiment scripts at their tiny size (seconds each).

Each checks the files' content: records, finite numbers, table rows generated from the
records, PNGs that decode to the expected size, and the command/hardware/wall time; the
sweep machinery (resume, ``--jobs``, ``--shard``, ``--report_only``) gives the same
records whichever way the runs are split.
"""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest

from experiments import report, sweep
from lstmjax import schema


def _config(name: str, size: str = "tiny") -> str:
    return f"--config={os.path.join(sweep.CONFIGS, name + '.py')}:{size}"


def _records(workdir, name):
    with open(os.path.join(workdir, f"{name}.json")) as f:
        return json.load(f)


def _same(records):
    """The records without wall-clock fields (what must not depend on jobs or shards)."""
    return [{k: v for k, v in r.items() if k not in sweep.WALL_CLOCK} for r in records]


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
    assert report.mean_std([1.0, 3.0, None]) == (2.0, pytest.approx(math.sqrt(2.0)), 2)
    assert math.isnan(report.mean_std([])[0]) and math.isnan(report.mean_std([1.0])[1])
    # sample std (ddof = 1), the bootstrap interval of two values spans both, n
    assert report.fmt_mean_std([0.5, 0.7], scale=100) == "60.0 ± 14.1 [50.0, 70.0] (n=2)"
    assert report.fmt_mean_std([0.5], scale=100) == "50.0 (n=1)"  # no "± 0.0" for one seed
    table = report.markdown_table(["model", "a"], [["x", "1 ± 0"], ["y", "2 ± 1"]])
    assert report.parse_markdown_table("intro\n\n" + table + "\n\nend", "model") == [
        ["model", "a"], ["x", "1 ± 0"], ["y", "2 ± 1"]]


@pytest.mark.slow
def test_gap_sweep_tiny_resume_and_shards(tmp_path):
    from experiments import gap_sweep
    workdir = str(tmp_path / "gs")
    argv = [_config("gap_sweep"), "--config.models=rnn,lstm", "--workdir", workdir, "--jobs=1"]
    path = gap_sweep.main(argv)
    records = _records(workdir, "gap_sweep")
    assert [(r["model"], r["gap"], r["seed"]) for r in records] == [
        ("rnn", 3, 0), ("lstm", 3, 0), ("rnn", 6, 0), ("lstm", 6, 0)]
    for r in records:
        assert r["task"] == "distant_recall" and r["run"] == \
            f"distant_recall/{r['model']}/gap={r['gap']}/seed=0"
        for split in ("validation", "test"):  # whole splits, with their sizes
            assert 0.0 <= r[split]["accuracy"] <= 1.0 and math.isfinite(r[split]["loss"])
            assert r[split]["examples"] == 128
        assert r["curve_examples"] == 64 and [h["step"] for h in r["curve"]] == [2, 4]
        assert r["steps_run"] <= r["steps_budget"] == 4 and r["config"]["steps"] == 4
        assert r["config_sha256"] == sweep.config_sha256(r["config"])
        assert r["chance"] == pytest.approx(1 / 8) and len(r["params_sha256"]) == 64
        schema.resolve_config(r["config"])  # each record holds a complete train config
    meta, text = _check_meta(workdir, "gap_sweep")
    assert path == os.path.join(workdir, "gap_sweep.md")
    assert meta["settings"]["train"]["steps"] == 4 and meta["settings"]["seeds"] == 1
    assert "(128 sequences)" in text and "64 validation sequences" in text
    rows = report.parse_markdown_table(text, "model")
    assert rows[0] == ["model", "gap=3", "gap=6"]
    for row in rows[1:]:
        for gap, cell in zip((3, 6), row[1:]):
            accs = [r["test"]["accuracy"] for r in records
                    if r["model"] == row[0] and r["gap"] == gap]
            assert cell == report.fmt_mean_std(accs, scale=100)
    assert [row[0] for row in rows[1:]] == ["rnn", "lstm"]
    assert _png_size(os.path.join(workdir, "accuracy_vs_gap.png")) == (700, 450)
    assert os.path.exists(os.path.join(workdir, "survival.png"))
    # same command again: every run is found in the workdir and skipped (resume)
    gap_sweep.main(argv)
    assert _records(workdir, "gap_sweep") == records
    assert "**Resumed:** 4 of 4 runs" in _check_meta(workdir, "gap_sweep")[1]
    # a changed setting retrains only what it changes: nothing else is reused wrongly
    gap_sweep.main(argv + ["--config.gaps=(3,)", "--config.train.steps=2"])
    changed = _records(workdir, "gap_sweep")
    assert [r["steps_budget"] for r in changed] == [2, 2]
    assert "Resumed" not in _check_meta(workdir, "gap_sweep")[1]

    # two shards, one after the other, into one workdir: the same records as one machine
    shards = str(tmp_path / "shards")
    argv = [_config("gap_sweep"), "--config.models=rnn,lstm", "--workdir", shards]
    assert gap_sweep.main(argv + ["--shard=1/2"]) is None  # shard 2's runs still missing
    first = _records(shards, "gap_sweep.shard-1-of-2")
    assert [r["run"] for r in first] == [records[0]["run"], records[2]["run"]]
    assert not os.path.exists(os.path.join(shards, "gap_sweep.json"))
    assert gap_sweep.main(argv + ["--shard=2/2"]) == os.path.join(shards, "gap_sweep.md")
    assert _same(_records(shards, "gap_sweep")) == _same(records)
    _, text = _check_meta(shards, "gap_sweep")
    assert "**Resumed:** 2 of 4 runs" in text
    # --report_only trains nothing and writes the same report from the shards' records
    os.remove(os.path.join(shards, "gap_sweep.json"))
    gap_sweep.main(argv + ["--report_only"])
    assert _same(_records(shards, "gap_sweep")) == _same(records)
    assert report.parse_markdown_table(_check_meta(shards, "gap_sweep")[1], "model") == rows


@pytest.mark.slow
def test_demo_tiny(tmp_path, capsys):
    from experiments import demo
    demo.main(["--tiny", "--workdir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert "[h_L2 ; h_R2]" in out and "accuracy_vs_gap.png" in out
    assert "## distant_recall: test accuracy" in out
    assert re.search(r"demo done in \d+ s\.", out)  # the wall time, as the README says
    assert os.path.exists(tmp_path / "demo" / "gap_sweep.json")


def test_the_demo_size_is_the_readmes_small_sweep():
    from experiments.configs import gap_sweep
    c = gap_sweep.get_config("demo")
    assert tuple(c.models) == ("rnn", "lstm_chrono") and tuple(c.gaps) == (10, 200)
    assert c.seeds == 1 and "demo" in c.sizes
    with pytest.raises(ValueError, match="size='huge'; accepted"):
        gap_sweep.get_config("huge")


@pytest.mark.slow
def test_ablation_tiny(tmp_path):
    from experiments import ablation
    workdir = str(tmp_path / "abl")
    argv = [_config("ablation"), "--config.tasks=distant_recall", "--workdir", workdir]
    ablation.main(argv)
    records = _records(workdir, "ablation")
    assert [(r["variant"], r["task"]) for r in records] == [
        ("standard", "distant_recall"), ("nfg", "distant_recall"), ("np", "distant_recall")]
    std, nfg, np_ = records
    assert np_["alias_of"] == "standard" and np_["params_sha256"] == std["params_sha256"]
    assert nfg["params_sha256"] != std["params_sha256"]
    for r in records:
        assert r["score"] == r["test"]["accuracy"] and 0.0 <= r["score"] <= 1.0
        assert r["test"]["examples"] == 128 and math.isfinite(r["validation"]["loss"])
        assert r["steps_run"] <= r["steps_budget"] == 4
    _, text = _check_meta(workdir, "ablation")
    rows = report.parse_markdown_table(text, "variant")
    assert [row[0] for row in rows[1:]] == ["standard", "nfg", "np"]
    for row in rows[1:]:
        assert row[1] == report.fmt_mean_std(
            [r["score"] for r in records if r["variant"] == row[0]], scale=100)
    findings = text.split("## Findings (generated from the numbers above)")[1]
    assert "Greff et al." in findings and "NFG" in findings
    assert f"{100 * (std['score'] - nfg['score']):+.1f} points" in findings
    assert _png_size(os.path.join(workdir, "ablation_scores.png")) == (1200, 450)
    # interrupted after its first run: the same command resumes from the records, and the
    # rest trained by two worker processes (--jobs 2) gives the same numbers as one process
    with open(os.path.join(workdir, "ablation.json"), "w") as f:
        json.dump(records[:1], f)
    ablation.main(argv + ["--jobs", "2"])
    assert _same(_records(workdir, "ablation")) == _same(records)
    _, text = _check_meta(workdir, "ablation")
    assert "**Resumed:** 1 of 3 runs" in text


def test_flags_are_validated(tmp_path, capsys):
    from experiments import ablation, gap_sweep
    workdir = ["--workdir", str(tmp_path / "x")]
    for bad, message in (
            (["--jobs", "0"], "--jobs: expected 'auto' or an integer >= 1, got '0'"),
            (["--jobs", "two"], "--jobs: expected 'auto' or an integer >= 1, got 'two'"),
            (["--shard", "0/2"], "--shard: expected K/N with 1 <= K <= N (e.g. 2/4), got '0/2'"),
            (["--shard", "3/2"], "got '3/2'"),
            (["--config.train.nonsense=1"], "nonsense"),
            (["--config.seeds=many"], "seeds"),
            (["--config.variants=standard,nope"], "config.variants: unknown ['nope']"),
            ([_config("ablation", "huge")], "size 'huge' is not one of")):
        with pytest.raises(SystemExit) as e:
            ablation.main(([_config("ablation")] if not bad[0].startswith("--config=") else [])
                          + bad + workdir)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err
    with pytest.raises(SystemExit):
        gap_sweep.main([_config("gap_sweep"), "--config.models=rnn,gpt"] + workdir)
    assert "accepted: ['bilstm', 'gru', 'gru_keep', 'lstm', 'lstm_chrono', 'min_gru', 'min_lstm', 'rnn']" in capsys.readouterr().err
    assert sweep.resolve_jobs("auto", "tiny") == 1 and sweep.resolve_jobs(3, "tiny") == 3
    assert sweep.resolve_jobs("auto", "standard") == min(8, os.cpu_count())  # CPU backend
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        sweep.run_plan([], lambda r: {}, done={}, jobs=0)


def test_shards_partition_the_plan():
    plan = [sweep.Run(f"r{i}", {}, {}) for i in range(7)]
    shards = [sweep.shard_of(plan, k, 3) for k in (1, 2, 3)]
    assert [[r.name for r in s] for s in shards] == [
        ["r0", "r3", "r6"], ["r1", "r4"], ["r2", "r5"]]
    assert sweep.parse_shard("2/3") == (2, 3)


@pytest.mark.parametrize("name", ["gap_sweep", "ablation", "gates", "sentiment", "adding_long"])
def test_sweep_configs_plan_valid_train_configs(name, tmp_path):
    """Every size of every sweep config plans runs whose train configs the schema accepts;
    the train section restates no default (it starts from schema.default_config())."""
    import importlib
    module = importlib.import_module(f"experiments.{name}")
    get_config = importlib.import_module(f"experiments.configs.{name}").get_config
    ctx = {"workdir": str(tmp_path), "size": "tiny", "data_dir": None}
    sizes = {}
    for size in sweep.SIZES:
        config = get_config(size)
        assert config.size == size
        runs = module.plan(config, ctx)
        assert runs and len({r.name for r in runs}) == len(runs)
        for run in runs[:3] + runs[-2:]:
            assert schema.resolve_config(run.config)["seed"] == run.config["seed"]
        sizes[size] = len(runs)
    assert sizes["tiny"] <= sizes["quick"] <= sizes["standard"]


@pytest.mark.parametrize("name", ["adding", "copy_memory", "distant_recall", "temporal_order",
                                  "listops", "smnist", "imdb"])
def test_run_configs_start_from_the_defaults(name):
    import importlib
    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    resolved = schema.resolve_config(config)
    assert resolved["data"]["name"] in (name, "mnist")
    assert set(schema.to_dict(config)) == set(schema.DEFAULTS)  # every field overridable


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
    sentiment.main([_config("sentiment"), "--config.data=synthetic",
                    "--config.poolings=bilstm,forward_last", "--workdir", workdir])
    with open(os.path.join(workdir, "sentiment.json")) as f:
        records = json.load(f)
    assert [r["pooling"] for r in records] == ["bilstm", "forward_last"]
    assert records[0]["num_params"] > records[1]["num_params"]  # two directions
    for r in records:
        assert 0.0 <= r["test"]["accuracy"] <= 1.0 and math.isfinite(r["test"]["loss"])
        assert r["test"]["examples"] == 20 and r["curve_examples"] == 16
    _, text = _check_meta(workdir, "sentiment")
    rows = report.parse_markdown_table(text, "pooling")
    assert [row[0] for row in rows[1:]] == ["bilstm", "forward_last"]
    for row, r in zip(rows[1:], records):
        assert row[2] == report.fmt_mean_std([r["test"]["accuracy"]], scale=100)
    assert _png_size(os.path.join(workdir, "sentiment_accuracy.png")) == (700, 450)
    assert _png_size(os.path.join(workdir, "learning_curves.png")) == (700, 450)


@pytest.mark.slow
def test_adding_long_tiny_resumes(tmp_path):
    from experiments import adding_long
    workdir = str(tmp_path / "add")
    argv = [_config("adding_long"), "--config.models=rnn", "--workdir", workdir]
    adding_long.main(argv)
    with open(os.path.join(workdir, "adding_long.json")) as f:
        (first,) = json.load(f)
    assert first["steps_run"] == 4 and [h["step"] for h in first["curve"]] == [2, 4]
    # a bigger budget continues from the checkpoint at step 4 (resume), not from scratch
    adding_long.main(argv + ["--config.train.steps=6"])
    with open(os.path.join(workdir, "adding_long.json")) as f:
        (second,) = json.load(f)
    assert second["steps_run"] == 6 and [h["step"] for h in second["curve"]] == [2, 4, 6]
    assert second["curve"][:2] == first["curve"]
    assert 0.0 <= second["test"]["accuracy"] <= 1.0 and math.isfinite(second["test"]["loss"])
    assert os.path.exists(os.path.join(workdir, "rnn_seed0", "checkpoints"))
    meta, text = _check_meta(workdir, "adding_long")
    rows = report.parse_markdown_table(text, "model")
    assert rows[1][0] == "rnn"
    assert rows[1][2] == report.fmt_mean_std([second["test"]["accuracy"]], scale=100)
    assert os.path.exists(os.path.join(workdir, "survival.png"))
    assert _png_size(os.path.join(workdir, "adding_long_curves.png")) == (700, 450)
