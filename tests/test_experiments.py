"""The generic sweep and report (experiments/sweep.py, experiments/report.py) and the sweep
configs on them.

Fast tests: expansion of every config into valid train configs, parameter matching of the
factorial, the report's rules on made-up records (no training), calibration as a pure
function of its records, the synthetic reviews task. Slow ones run the tiny size of each
sweep end to end and check the files' content: records, tables generated from the records,
PNGs, command/hardware/wall time; resume, ``--jobs``, ``--shard`` and ``--report_only``
give the same records whichever way the runs are split.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re

import pytest

from experiments import report, sweep
from lstmjax import schema
from lstmjax.gates import PRESETS

SWEEPS = ("gap_sweep", "adding_long", "sentiment", "ablation", "factorial", "greff")


def _config(name: str, size: str = "tiny") -> str:
    return f"--config={os.path.join(sweep.CONFIGS, name + '.py')}:{size}"


def _get(name, arg):
    return importlib.import_module(f"experiments.configs.{name}").get_config(arg)


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


def _check_meta(workdir, name, module="sweep"):
    with open(os.path.join(workdir, "meta.json")) as f:
        meta = json.load(f)
    assert meta["experiment"] == name and meta["mode"] == "tiny"
    assert meta["command"].startswith(f"python -m experiments.{module} ")
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


# --------------------------------------------------------------------------- expansion


def test_expand_applies_each_axis_to_the_train_config():
    c = _get("gap_sweep", "tiny")
    runs = sweep.expand(c)
    assert len(runs) == 2 * 8 and len({r.name for r in runs}) == len(runs)
    first = runs[0]
    assert first.name == "task=distant_recall/gap=3/model=rnn/seed=0"
    assert first.fields == {"task": "distant_recall", "gap": 3, "model": "rnn", "seed": 0}
    assert first.config["data"]["gap"] == 3 and first.config["model"]["cell"] == "rnn"
    chrono = next(r for r in runs if r.fields["model"] == "lstm_chrono" and r.fields["gap"] == 6)
    # chrono: T_max = the longest sequence (clue + gap + query ...), resolved per gap
    assert chrono.config["model"]["chrono_max_len"] == sweep.max_length(chrono.config["data"])
    assert "chrono" not in chrono.config["model"] and "sweep" not in chrono.config
    bi = next(r for r in runs if r.fields["model"] == "bilstm")
    assert bi.config["model"]["bidirectional"] and bi.config["model"]["pooling"] == "bilstm"
    for r in runs:  # every run config is a complete, valid train config
        assert schema.resolve_config(r.config) == r.config or schema.resolve_config(r.config)
    # an axis value given on the command line arrives as one string: split, typed
    assert sweep.labels(("rnn,lstm",)) == ["rnn", "lstm"] and sweep.labels("10,100") == [10, 100]
    with c.unlocked():
        c.sweep.model = ("rnn", "gpt")
    with pytest.raises(ValueError, match=r"config.sweep.model: unknown \['gpt'\]"):
        sweep.expand(c)


@pytest.mark.parametrize("name", SWEEPS)
def test_every_sweep_config_expands_to_valid_train_configs(name):
    """Every argument of every sweep config: one get_config(arg) convention (ARGS), unique
    run names, train configs the schema accepts; the sizes grow."""
    module = importlib.import_module(f"experiments.configs.{name}")
    sizes = {}
    for arg in module.ARGS:
        c = module.get_config(arg)
        assert c.sweep.size == arg and c.sweep.report.views
        runs = sweep.expand(c)
        assert runs and len({r.name for r in runs}) == len(runs)
        for run in runs[:2] + runs[-2:]:
            assert schema.resolve_config(run.config)["seed"] == run.config["seed"]
        sizes[arg] = len(runs)
    with pytest.raises(ValueError, match="arg='huge'; accepted"):
        module.get_config("huge")
    if "quick" in sizes:
        assert sizes["tiny"] <= sizes["quick"] <= sizes["standard"]


def test_ablation_reads_its_presets_from_lstmjax_gates():
    c = _get("ablation", "quick")
    assert set(sweep.labels(c.sweep.variant)) == set(PRESETS) | {"chrono", "gru"}
    for p in PRESETS:
        assert c.sweep.set.variant[p].model.gates == p
    # np = standard in lstmjax: trained once; a false alias is refused
    runs = sweep.expand(c)
    twins = sweep.aliased(c, runs)
    assert twins and all(n.split("variant=")[1].startswith("np/") for n in twins)
    with c.unlocked():
        c.sweep.aliases.variant = {"nfg": "standard"}
    with pytest.raises(ValueError, match="not the same model"):
        sweep.aliased(c, runs)


def test_factorial_models_are_parameter_matched_within_10_percent():
    """The factorial's cells x inits have the LSTM's parameter count +- 10% at every gap."""
    c = _get("factorial", "standard")
    runs = [r for r in sweep.expand(c) if r.fields["seed"] == 0 and r.fields["lr"] == 3e-3]
    gaps = sorted({r.fields["gap"] for r in runs})
    assert gaps[0] == 10 and gaps[-1] >= 2000 and len(sweep.labels(c.sweep.lr)) == 3
    assert c.sweep.seeds >= 5
    for gap in (gaps[0], gaps[-1]):
        counts = {r.fields["model"]: sweep.num_params(r.config) for r in runs
                  if r.fields["gap"] == gap}
        ref = counts["lstm_fb1"]
        assert len(counts) == 12
        for model, n in counts.items():
            assert abs(n - ref) <= 0.1 * ref, (gap, model, n, ref)


# --------------------------------------------------------------------------- report


def _rec(model, gap, seed, test, val, solved, steps=None, lr=0.003):
    return {"model": model, "gap": gap, "seed": seed, "lr": lr, "solved": solved,
            "steps_to_solve": steps if solved else None, "steps_run": steps or 100,
            "steps_budget": 100, "test": {"accuracy": test, "examples": 512},
            "validation": {"accuracy": val, "examples": 512}, "curve_examples": 256,
            "solve": {"metric": "accuracy", "threshold": 0.99}}


VIEW = {"rows": "model", "cols": "gap", "metric": "accuracy", "unit": "sequences"}


def test_rules_write_sentences_from_test_records_only():
    recs = [_rec("rnn", g, s, 1.0 if g == 10 else 0.2, 1.0, g == 10, 50)
            for g in (10, 100) for s in (0, 1)]
    recs += [_rec("lstm", g, s, 0.98, 1.0, True, 80) for g in (10, 100) for s in (0, 1)]
    spec = {"views": (VIEW,), "labels": {"rnn": "tanh RNN"}, "headline": {"rules": (
        {"kind": "solved"}, {"kind": "upto"}, {"kind": "compare",
                                               "pairs": (("rnn", "lstm", "gating"),)},
        {"kind": "metric"}, {"kind": "below"})}}
    text = " ".join(report.findings(recs, spec))
    assert "at gap 10/100: tanh RNN 2/0; lstm 2/2." in text
    assert "tanh RNN gap 10; lstm gap 100" in text
    assert "Changing gating alone (tanh RNN -> lstm) moves" in text
    assert f"lstm {report.fmt_mean_std([0.98, 0.98], scale=100)}%" not in text  # unit inside
    assert "lstm 98.0 ± 0.0% [98.0, 98.0] (n=2)" in text
    assert "4 of the 6 solved runs score below the threshold" in text
    # a record without a test split: no sentence shows its number, the rule refuses it
    legacy = [{**r, "test": None, "validation_sample": {"accuracy": 0.5}} for r in recs]
    assert not any("%" in s for s in report.findings(legacy, spec))
    with pytest.raises(ValueError, match="whole test split"):
        report._pct(legacy[:2], VIEW)


def test_budget_rule_counts_examples_from_the_configs_against_a_published_count():
    recs = [{**_rec("lstm", g, s, 0.5, 0.5, False), "config": {"batch_size": 64}}
            for s in (0, 1) for g in (10, 100)]
    rule = {"kind": "budget", "published": ((10, 800), (100, 64_000), (1000, 1)),
            "source": "in Paper (Table 1)"}
    spec = {"views": (VIEW,), "headline": {"rules": (rule,)}}
    (text,) = report.findings(recs, spec)
    assert text == ("Training budget per run: 100 steps × 64 sequences = 6,400 sequences. "
                    "The sequences in Paper (Table 1): 800 at gap = 10 (this budget is 8.00 "
                    "of it: at least as large); 64,000 at gap = 100 (this budget is 0.10 of "
                    "it: smaller, so a run unsolved within it does not contradict the "
                    "published result).")  # gap 1000 has no records: not named
    rule["published"] = 0
    assert report.findings(recs, spec) == [
        "Training budget per run: 100 steps × 64 sequences = 6,400 sequences."]
    legacy = [{k: v for k, v in r.items() if k != "config"} for r in recs]
    assert report.findings(legacy, spec) == []  # no batch size recorded: no sentence


def test_select_chooses_the_learning_rate_on_validation_never_on_test():
    # lr 0.01 has the better test numbers, lr 0.001 the more validation-sample solves
    recs = [_rec("lstm", 10, s, 0.5, 1.0, True, 50, lr=1e-3) for s in (0, 1)]
    recs += [_rec("lstm", 10, s, 1.0, 0.5, False, lr=1e-2) for s in (0, 1)]
    assert report.choose(recs, "model", "lr") == {"lstm": 1e-3}
    shown = report.view_records(recs, {**VIEW, "select": "lr"})
    assert {r["lr"] for r in shown} == {1e-3}


def test_render_writes_tables_and_plots_from_the_records(tmp_path):
    recs = [_rec(m, g, s, 0.5 + 0.1 * s, 1.0, s == 0, 50) for m in ("rnn", "lstm")
            for g in (10, 100) for s in (0, 1)]
    spec = {"views": ({**VIEW, "name": "dr", "plot": "lines", "curves": False},),
            "headline": {"rules": ({"kind": "solved"},)}, "notes": ("A note.",)}
    sections, files = report.render(recs, spec, str(tmp_path))
    text = "\n".join(sections)
    rows = report.parse_markdown_table(text, "model")
    assert rows[0] == ["model", "gap=10", "gap=100"]
    assert rows[1][1] == report.fmt_mean_std([0.5, 0.6], scale=100)
    assert "Whole test split at each run's last step (512 sequences)" in text
    assert "A note." in text and "## Findings" in text
    assert files == ["accuracy_vs_gap.png", "survival.png"]
    assert _png_size(str(tmp_path / "accuracy_vs_gap.png")) == (700, 450)


def test_calibration_is_a_function_of_its_records():
    """Candidates hardest first; the first one every seed solves sets the cap (3 x the
    median, rounded up to eval_every); a task no candidate calibrates falls back to its
    easiest one with the budget as cap."""
    from experiments import ablation
    config = _get("ablation", "standard")
    recs = []

    def fake(runs, steps):
        for run, s in zip(runs, steps):
            recs.append({"run": run.name, "config_sha256": run.config_sha256,
                         "solved": s is not None, "steps_to_solve": s})
    fake(ablation.calibration_runs(config, "distant_recall", 0), [100, None, 200, 300, 400])
    fake(ablation.calibration_runs(config, "distant_recall", 1), [100, 150, 200, 250, 300])
    for k in range(3):
        fake(ablation.calibration_runs(config, "adding", k), [None] * 5)
    state = ablation.decide(config, recs)
    dr = state["tasks"]["distant_recall"]
    assert dr["candidate"] == 1 and dr["calibrated"] and dr["cap"] == 600
    assert dr["data"]["gap"] == 50 and [t["solved"] for t in dr["tried"]] == [4, 5]
    add = state["tasks"]["adding"]
    assert not add["calibrated"] and add["candidate"] == 2 and add["cap"] == 4000
    assert state["tasks"]["copy_memory"]["pending"]
    assert all(e.get("pending") for e in state["gaps"].values())
    tasks, gap = ablation.calibrated_config(config, state)
    assert tuple(tasks.sweep.task) == ("adding", "distant_recall") and gap is None
    runs = sweep.expand(tasks)
    dr_run = next(r for r in runs if r.fields["task"] == "distant_recall")
    assert dr_run.config["steps"] == 600 and dr_run.config["data"]["gap"] == 50
    assert dr_run.fields["cap"] == 600 and dr_run.fields["calibrated"]


def test_synthetic_reviews_are_a_registered_task(tmp_path):
    from lstmjax import data, tasks
    from lstmjax.tasks import reviews
    fields = {"name": "synthetic_reviews", "num_reviews": 50, "seed": 3, "min_filler": 5,
              "max_filler": 20, "max_length": 40, "cache_dir": str(tmp_path)}
    spec, src = data.make_source(fields, "train")
    assert spec.num_classes == 2 and len(src) == 40  # 20% held out
    assert len(data.make_source(fields, "test")[1]) == 5
    path = reviews.path_of({**reviews.DEFAULTS, **fields})
    again = reviews.write(str(tmp_path / "again.csv"), 50, 3, min_filler=5, max_filler=20)
    assert open(path).read() == open(again).read()  # a pure function of its fields
    import csv
    for row in csv.DictReader(open(path)):
        opening = row["text"].split(" . ")[0]
        assert opening in (reviews.POSITIVE if row["label"] == "positive" else reviews.NEGATIVE)
    assert tasks.fingerprint(fields) == {"name": "synthetic_reviews", "num_reviews": 50,
                                         "seed": 3, "min_filler": 5, "max_filler": 20}


def test_shards_partition_the_plan():
    plan = [sweep.Run(f"r{i}", {}, {}) for i in range(7)]
    shards = [sweep.shard_of(plan, k, 3) for k in (1, 2, 3)]
    assert [[r.name for r in s] for s in shards] == [
        ["r0", "r3", "r6"], ["r1", "r4"], ["r2", "r5"]]
    assert sweep.parse_shard("2/3") == (2, 3)


def test_flags_are_validated(tmp_path, capsys):
    workdir = ["--workdir", str(tmp_path / "x")]
    for argv, message in (
            ([_config("gap_sweep"), "--jobs", "0"], "--jobs: expected 'auto' or an integer"),
            ([_config("gap_sweep"), "--shard", "3/2"], "--shard: expected K/N"),
            ([_config("gap_sweep"), "--config.nonsense=1"], "nonsense"),
            ([_config("gap_sweep"), "--config.sweep.seeds=many"], "seeds"),
            ([_config("gap_sweep"), "--config.sweep.model=rnn,gpt"],
             "config.sweep.model: unknown ['gpt']; accepted: ['bilstm', 'gru', 'gru_keep', "
             "'lstm', 'lstm_chrono', 'min_gru', 'min_lstm', 'rnn']"),
            ([_config("gap_sweep", "huge")], "arg='huge'; accepted"),
            ([f"--config={os.path.join(sweep.CONFIGS, 'adding.py')}"], "not a sweep config"),
            ([], "--config is required")):
        with pytest.raises(SystemExit) as e:
            sweep.main(argv=argv + workdir)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err
    assert sweep.resolve_jobs("auto", "tiny") == 1 and sweep.resolve_jobs(3, "tiny") == 3
    assert sweep.resolve_jobs("auto", "standard") == min(8, os.cpu_count())  # CPU backend
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        sweep.run_plan([], lambda r: {}, done={}, jobs=0)


@pytest.mark.parametrize("name", ["adding", "copy_memory", "distant_recall", "temporal_order",
                                  "listops", "smnist", "imdb"])
def test_run_configs_start_from_the_defaults(name):
    config = _get(name, None)
    resolved = schema.resolve_config(config)
    assert resolved["data"]["name"] in (name, "mnist")
    assert set(schema.to_dict(config)) == set(schema.DEFAULTS)  # every field overridable
    with pytest.raises(ValueError, match=f"{name} config: arg='quick'; accepted"):
        _get(name, "quick")  # one convention: a file without ARGS takes no argument


def test_the_demo_size_is_the_readmes_small_sweep():
    c = _get("gap_sweep", "demo")
    assert tuple(c.sweep.model) == ("rnn", "lstm_chrono") and tuple(c.sweep.gap) == (10, 200)
    assert c.sweep.seeds == 1


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_gap_sweep_tiny_resume_and_shards(tmp_path):
    workdir = str(tmp_path / "gs")
    argv = [_config("gap_sweep"), "--config.sweep.model=rnn,lstm", "--workdir", workdir,
            "--jobs=1"]
    path = sweep.main(argv=argv)
    records = _records(workdir, "gap_sweep")
    assert [(r["model"], r["gap"], r["seed"]) for r in records] == [
        ("rnn", 3, 0), ("lstm", 3, 0), ("rnn", 6, 0), ("lstm", 6, 0)]
    for r in records:
        assert r["run"] == f"task=distant_recall/gap={r['gap']}/model={r['model']}/seed=0"
        for split in ("validation", "test"):  # whole splits, with their sizes
            assert 0.0 <= r[split]["accuracy"] <= 1.0 and math.isfinite(r[split]["loss"])
            assert r[split]["examples"] == 128
        assert r["curve_examples"] == 64 and [h["step"] for h in r["curve"]] == [2, 4]
        assert r["steps_run"] <= r["steps_budget"] == 4 and r["config"]["steps"] == 4
        assert r["config_sha256"] == sweep.config_sha256(r["config"])
        schema.resolve_config(r["config"])  # each record holds a complete train config
    meta, text = _check_meta(workdir, "gap_sweep")
    assert path == os.path.join(workdir, "gap_sweep.md")
    assert meta["settings"]["steps"] == 4 and meta["settings"]["sweep"]["seeds"] == 1
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
    sweep.main(argv=argv)
    assert _records(workdir, "gap_sweep") == records
    assert "**Resumed:** 4 of 4 runs" in _check_meta(workdir, "gap_sweep")[1]
    # a changed setting retrains only what it changes
    sweep.main(argv=argv + ["--config.sweep.gap=(3,)", "--config.steps=2"])
    assert [r["steps_budget"] for r in _records(workdir, "gap_sweep")] == [2, 2]
    assert "Resumed" not in _check_meta(workdir, "gap_sweep")[1]
    # two shards into one workdir: the same records as one machine
    shards = str(tmp_path / "shards")
    argv = [_config("gap_sweep"), "--config.sweep.model=rnn,lstm", "--workdir", shards]
    assert sweep.main(argv=argv + ["--shard=1/2"]) is None  # shard 2's runs still missing
    first = _records(shards, "gap_sweep.shard-1-of-2")
    assert [r["run"] for r in first] == [records[0]["run"], records[2]["run"]]
    assert sweep.main(argv=argv + ["--shard=2/2"]) == os.path.join(shards, "gap_sweep.md")
    assert _same(_records(shards, "gap_sweep")) == _same(records)
    assert "**Resumed:** 2 of 4 runs" in _check_meta(shards, "gap_sweep")[1]
    # --report_only trains nothing and writes the same report from the shards' records
    os.remove(os.path.join(shards, "gap_sweep.json"))
    sweep.main(argv=argv + ["--report_only"])
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


@pytest.mark.slow
def test_ablation_tiny_calibrates_then_sweeps(tmp_path):
    from experiments import ablation
    workdir = str(tmp_path / "abl")
    argv = [_config("ablation"), "--workdir", workdir, "--jobs=1"]
    ablation.main(argv)
    cal = _records(workdir, "calibration")
    # distant recall calibrates in one round; last clue tries both candidates, then falls back
    assert len(cal) == 2 + 4 + 2
    records = _records(workdir, "ablation")
    tasks = [r for r in records if r["axis"] == "tasks"]
    assert len(tasks) == 2 * 3 * 2 and len(records) == len(tasks) + 2 * 2
    std = [r for r in tasks if r["variant"] == "standard"]
    np_ = [r for r in tasks if r["variant"] == "np"]
    assert all(r["alias_of"] == "standard" for r in np_)
    assert [r["params_sha256"] for r in np_] == [r["params_sha256"] for r in std]
    last = [r for r in tasks if r["task"] == "last_clue"]
    assert all(r["steps_budget"] == 4 and not r["calibrated"] for r in last)
    _, text = _check_meta(workdir, "ablation", module="ablation")
    assert "## Calibration (phase 1" in text and "**uncalibrated**" in text
    rows = report.parse_markdown_table(text, "variant")
    assert [row[0] for row in rows[1:]] == ["standard", "nfg", "np"]
    assert rows[1][1] == report.fmt_mean_std(
        [r["test"]["accuracy"] for r in std if r["task"] == "distant_recall"], scale=100)
    assert "Greff et al. (2017)" in text
    # interrupted two runs before the end of phase 2: the same command resumes from the
    # records, and two worker processes give the same numbers as one
    with open(os.path.join(workdir, "ablation.json"), "w") as f:
        json.dump([r for r in records if not r.get("alias_of")][:-2], f)
    ablation.main(argv[:-1] + ["--jobs=2"])
    assert _same(_records(workdir, "ablation")) == _same(records)


@pytest.mark.slow
def test_sentiment_tiny(tmp_path):
    workdir = str(tmp_path / "sent")
    sweep.main(argv=[_config("sentiment"), "--config.sweep.pooling=bilstm,forward_last",
                     f"--config.data.cache_dir={tmp_path}", "--workdir", workdir])
    records = _records(workdir, "sentiment")
    assert [r["pooling"] for r in records] == ["bilstm", "forward_last"]
    assert records[0]["num_params"] > records[1]["num_params"]  # two directions
    for r in records:
        assert 0.0 <= r["test"]["accuracy"] <= 1.0 and r["test"]["examples"] == 20
    _, text = _check_meta(workdir, "sentiment")
    rows = report.parse_markdown_table(text, "pooling")
    for row, r in zip(rows[1:], records):
        assert row[1] == report.fmt_mean_std([r["test"]["accuracy"]], scale=100)
    assert _png_size(os.path.join(workdir, "sentiment_accuracy.png")) == (700, 450)
    assert _png_size(os.path.join(workdir, "learning_curves.png")) == (700, 450)


@pytest.mark.slow
def test_adding_long_tiny_resumes(tmp_path):
    workdir = str(tmp_path / "add")
    argv = [_config("adding_long"), "--config.sweep.model=rnn", "--workdir", workdir]
    sweep.main(argv=argv)
    (first,) = _records(workdir, "adding_long")
    assert first["steps_run"] == 4 and [h["step"] for h in first["curve"]] == [2, 4]
    # a bigger budget continues from the checkpoint at step 4 (resume), not from scratch
    sweep.main(argv=argv + ["--config.steps=6"])
    (second,) = _records(workdir, "adding_long")
    assert second["steps_run"] == 6 and [h["step"] for h in second["curve"]] == [2, 4, 6]
    assert second["curve"][:2] == first["curve"]
    assert os.path.exists(os.path.join(workdir, first["run"], "checkpoints"))
    _, text = _check_meta(workdir, "adding_long")
    rows = report.parse_markdown_table(text, "model")
    assert rows[1] == ["rnn", report.fmt_mean_std([second["test"]["accuracy"]], scale=100)]
    assert os.path.exists(os.path.join(workdir, "learning_curves.png"))


@pytest.mark.slow
def test_factorial_tiny(tmp_path):
    workdir = str(tmp_path / "fac")
    sweep.main(argv=[_config("factorial"), "--config.sweep.gap=3",
                     "--config.sweep.model=rnn,lstm_chrono", "--workdir", workdir, "--jobs=1"])
    records = _records(workdir, "factorial")
    assert sorted({(r["model"], r["lr"]) for r in records}) == [
        ("lstm_chrono", 3e-3), ("lstm_chrono", 1e-2), ("rnn", 3e-3), ("rnn", 1e-2)]
    _, text = _check_meta(workdir, "factorial")
    assert "best learning rate per model" in text and "learning rate 0.01" in text
    assert "never chosen on the test split" in text


def test_factorial_cost_estimate_interpolates_the_measured_speeds():
    from experiments import factorial
    full = _get("factorial", "standard")
    cost = _get("factorial", "cost")
    runs = sweep.expand(cost)
    assert {r.fields["gap"] for r in runs} == {10, 2000} and cost.sweep.name == "factorial_cost"
    # made-up speeds: 1 ms per step and sequence position
    recs = [{"model": r.fields["model"], "config": r.config,
             "train_s_per_step": 1e-3 * sweep.max_length(r.config["data"])} for r in runs]
    rows, total = factorial.estimate(recs, full)
    lengths = [sweep.max_length({**full.data.to_dict(), "gap": g})
               for g in sweep.labels(full.sweep.gap)]
    per_model = 1e-3 * sum(lengths) * full.steps * 3 * full.sweep.seeds / 3600
    assert total == pytest.approx(12 * per_model) and len(rows) == 12
    assert rows[0][-1] == f"{per_model:.1f}"
    # a model the records predate is timed by its stand-in, which runs the same computation
    from experiments.configs.factorial import MODELS
    for model, timed in factorial.TIMED_AS.items():
        size = lambda m: {k: v for k, v in MODELS[m]["model"].items() if k in ("hidden_size",
                                                                              "num_layers")}
        assert size(model) == size(timed) and model in MODELS
    partial = [r for r in recs if r["model"] not in factorial.TIMED_AS]
    rows2, total2 = factorial.estimate(partial, full)
    assert total2 == pytest.approx(total) and rows2[1][0] == "irnn (timed as rnn)"
    with pytest.raises(ValueError, match=r"no cost record for model 'rnn'"):
        factorial.estimate([r for r in recs if r["model"] not in ("rnn", "irnn")], full)


def test_the_factorial_report_says_it_has_not_been_run():
    from experiments import factorial
    results = os.path.join(os.path.dirname(sweep.CONFIGS), "results", "factorial")
    text = open(os.path.join(results, "factorial.md"), encoding="utf-8").read()
    assert "**The distant-recall factorial has not been run.**" in text
    assert factorial.COMMAND in text and "## Estimated cost (upper bound)" in text
    assert re.search(r"Total: \*\*\d+ CPU-process hours\*\*", text)
    recs = report.read_records(os.path.join(results, "cost.json"))
    assert len(recs) == 18 and all(r["train_s_per_step"] > 0 for r in recs)
    rows, total = factorial.estimate(recs, _get("factorial", "standard"))
    assert f"Total: **{total:.0f} CPU-process hours**" in text  # computed, not typed
    bullet = open(os.path.join(results, "headline.md"), encoding="utf-8").read()
    assert "not run" in bullet and factorial.COMMAND in bullet
