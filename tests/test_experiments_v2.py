"""End-to-end runs of issue 16's experiments at their tiny size: the ablation v2
(calibration, caps, solved/N with median [IQR], generated findings, resume,
--calibrate_only, --report_only) and the gap sweep's new models (GRU keep init, minGRU,
minLSTM)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from experiments import report, sweep


def _config(name: str, size: str = "tiny") -> str:
    return f"--config={os.path.join(sweep.CONFIGS, name + '.py')}:{size}"


def _read(workdir, name):
    with open(os.path.join(workdir, f"{name}.json")) as f:
        return json.load(f)


def _text(workdir, name):
    with open(os.path.join(workdir, f"{name}.md")) as f:
        return f.read()


def _same(records):
    return [{k: v for k, v in r.items() if k not in sweep.WALL_CLOCK} for r in records]


def test_solve_cell_and_cap():
    from experiments import ablation_v2
    from experiments.configs.ablation_v2 import get_config
    group = [{"solved": True, "steps_to_solve": s} for s in (100, 200, 300, 400)] + [
        {"solved": False, "steps_to_solve": None}]
    assert ablation_v2.solve_cell(group) == "4/5 · 250 [175–325]"
    assert ablation_v2.solve_cell(group[4:]) == "0/1"
    config = get_config("quick")  # eval_every 25: 3 x median 110 = 330 -> 350
    assert ablation_v2._cap(config, [100, 110, 120]) == 350


def test_decide_is_a_function_of_the_calibration_records():
    """Candidates hardest first; the first one every seed solves sets the cap; a task no
    candidate calibrates falls back to its easiest one with the budget as cap."""
    from experiments import ablation_v2
    from experiments.configs.ablation_v2 import get_config
    config = get_config("standard")
    recs = []

    def fake(runs, steps):
        for run, s in zip(runs, steps):
            recs.append({"run": run.name, "config_sha256": run.config_sha256,
                         "solved": s is not None, "steps_to_solve": s})
    fake(ablation_v2.calibration_runs(config, "distant_recall", 0), [100, None, 200, 300, 400])
    fake(ablation_v2.calibration_runs(config, "distant_recall", 1), [100, 150, 200, 250, 300])
    for k in range(3):
        fake(ablation_v2.calibration_runs(config, "adding", k), [None] * 5)
    state = ablation_v2.decide(config, recs)
    dr = state["tasks"]["distant_recall"]
    assert dr["candidate"] == 1 and dr["calibrated"] and dr["cap"] == 600
    assert dr["data"]["gap"] == 50 and [t["solved"] for t in dr["tried"]] == [4, 5]
    add = state["tasks"]["adding"]
    assert not add["calibrated"] and add["candidate"] == 2 and add["cap"] == 4000
    assert add["data"]["length"] == 50
    assert state["tasks"]["copy_memory"] == {**state["tasks"]["copy_memory"],
                                             "pending": True, "candidate": 0}
    assert all(e.get("pending") for e in state["gaps"].values())
    # every size plans calibration runs the schema accepts
    from lstmjax import schema
    for size in sweep.SIZES:
        c = get_config(size)
        for task in c.tasks:
            for k in range(len(c.task_defs[task].candidates)):
                for run in ablation_v2.calibration_runs(c, task, k)[:1]:
                    schema.resolve_config(run.config)
        assert c.seeds >= (2 if size == "tiny" else 5)


@pytest.mark.slow
def test_findings_say_where_the_no_forget_edge_ends_on_the_gap_axis():
    """The gap-axis sentences are computed from the records: where NFG beats `standard`,
    and where it falls behind the gap reference (chrono)."""
    from experiments import ablation_v2
    from experiments.configs import ablation_v2 as cfg_module
    config = cfg_module.get_config("tiny")
    config.gap_axis.variants = ("standard", "chrono", "nfg")

    def rec(axis, variant, solved, **kw):
        return {"axis": axis, "variant": variant, "solved": solved,
                "steps_to_solve": 10 if solved else None, "score": float(solved),
                "score_metric": "accuracy", "test": {"accuracy": float(solved)}, **kw}
    records = [rec("tasks", v, True, task=t, seed=s) for t in ("distant_recall", "last_clue")
               for v in ("standard", "nfg") for s in (0, 1)]
    solved = {("standard", 100): 0, ("chrono", 100): 2, ("nfg", 100): 2,
              ("standard", 500): 0, ("chrono", 500): 2, ("nfg", 500): 1,
              ("standard", 1000): 0, ("chrono", 1000): 2, ("nfg", 1000): 0}
    records += [rec("gap", v, s < k, gap=g, seed=s) for (v, g), k in solved.items()
                for s in (0, 1)]
    text = ablation_v2.findings(records, config)
    assert "Gap axis (distant recall, solved/N at gap 100/500/1000): `standard` 0/0/0 of 2, " \
           "`chrono` 2/2/2 of 2, NFG 2/1/0 of 2." in text
    assert "NFG solves more seeds than `standard` at gap 100/500." in text
    assert "Against `chrono`, NFG falls behind at gap 500/1000 (1 vs 2 of 2, 0 vs 2 of 2)." \
        in text


def test_ablation_v2_tiny(tmp_path, capsys):
    from experiments import ablation_v2
    workdir = str(tmp_path / "v2")
    argv = [_config("ablation_v2"), "--workdir", workdir, "--jobs=1"]
    # phase 1 alone: calibration records, no variant trained
    with pytest.raises(SystemExit) as e:
        ablation_v2.main(argv + ["--calibrate_only"])
    assert e.value.code == 0
    cal = _read(workdir, "calibration")
    assert not os.path.exists(os.path.join(workdir, "ablation_v2.json"))
    # distant recall: one candidate, solved by both seeds; last clue: two rounds, unsolved
    assert [r["run"] for r in cal] == [
        "calibration/distant_recall/candidate=0/seed=0",
        "calibration/distant_recall/candidate=0/seed=1",
        "calibration/last_clue/candidate=0/seed=0", "calibration/last_clue/candidate=0/seed=1",
        "calibration/gap=3/seed=0", "calibration/gap=3/seed=1",
        "calibration/last_clue/candidate=1/seed=0", "calibration/last_clue/candidate=1/seed=1"]
    by = {r["run"]: r for r in cal}
    assert by["calibration/distant_recall/candidate=0/seed=0"]["variant"] == "standard"
    assert by["calibration/gap=3/seed=0"]["variant"] == "chrono"
    assert by["calibration/gap=3/seed=0"]["config"]["model"]["chrono_max_len"] > 0

    capsys.readouterr()
    path = ablation_v2.main(argv)
    assert "calibration round" not in capsys.readouterr().out  # phase 1 resumed
    records = _read(workdir, "ablation_v2")
    dr_steps = [by[f"calibration/distant_recall/candidate=0/seed={s}"]["steps_to_solve"]
                for s in (0, 1)]
    dr_cap = int(math.ceil(3 * np.median(dr_steps) / 2) * 2)
    main = [r for r in records if r["axis"] == "tasks"]
    assert [(r["task"], r["variant"], r["seed"]) for r in main] == [
        (t, v, s) for t in ("distant_recall", "last_clue") for v in ("standard", "nfg", "np")
        for s in (0, 1)]
    for r in main:
        if r["task"] == "distant_recall":
            assert r["cap"] == r["steps_budget"] == dr_cap and r["calibrated"]
            assert r["config"]["data"]["gap"] == 3
        else:  # uncalibrated: the easiest candidate, the calibration budget as cap
            assert r["cap"] == 4 and not r["calibrated"]
            assert r["config"]["data"]["length"] == 6
        assert r["score"] == r["validation"]["accuracy"] and r["score_examples"] == 128
        assert r["steps_run"] <= r["cap"]
    std = {r["seed"]: r for r in main if r["variant"] == "standard"}
    for r in main:
        if r["variant"] == "np":
            assert r["alias_of"] == "standard"
    gap = [r for r in records if r["axis"] == "gap"]
    assert [(r["variant"], r["gap"], r["seed"]) for r in gap] == [
        ("standard", 3, 0), ("standard", 3, 1), ("nfg", 3, 0), ("nfg", 3, 1)]
    assert std  # the reference is in the table

    text = _text(workdir, "ablation_v2")
    assert path == os.path.join(workdir, "ablation_v2.md")
    for needle in ("## Calibration", "uncalibrated", "git commit", "wall time", "cores",
                   "128 sequences", "Greff et al.", "NFG: Greff most, here"):
        assert needle in text, needle
    rows = report.parse_markdown_table(text, "variant")
    assert [row[0] for row in rows[1:]] == ["standard", "nfg", "np"]
    for row in rows[1:]:
        for task, cell in zip(("distant_recall", "last_clue"), row[1:]):
            group = [r for r in main if r["variant"] == row[0] and r["task"] == task]
            assert cell == ablation_v2.solve_cell(group)
    cal_rows = report.parse_markdown_table(text, "task")
    assert cal_rows[1][0] == "distant_recall" and cal_rows[1][-1] == str(dr_cap)
    findings = text.split("## Findings (generated from the numbers above)")[1]
    nfg_solved = sum(r["solved"] for r in main if r["variant"] == "nfg")
    assert f"NFG ({100 * nfg_solved / 4:.0f}%;" in findings
    assert "Forgetting, directly" in findings and "Gap axis" in findings

    # the same command again trains nothing
    ablation_v2.main(argv)
    assert _same(_read(workdir, "ablation_v2")) == _same(records)
    assert "**Resumed:** 12 of 16 runs" in _text(workdir, "ablation_v2")
    # --report_only trains nothing (no calibration round either) and writes the same
    capsys.readouterr()
    ablation_v2.main(argv + ["--report_only"])
    assert _same(_read(workdir, "ablation_v2")) == _same(records)
    assert "calibration round" not in capsys.readouterr().out


@pytest.mark.slow
def test_gap_sweep_new_models_tiny(tmp_path):
    """gru_keep = the GRU with chrono_max_len = the sequence length (only b_z moves);
    minGRU and minLSTM train through the same sweep."""
    import jax
    from experiments import gap_sweep
    from lstmjax import models
    workdir = str(tmp_path / "gs")
    gap_sweep.main([_config("gap_sweep"), "--config.models=gru,gru_keep,min_gru,min_lstm",
                    "--config.gaps=(3,)", "--workdir", workdir, "--jobs=1"])
    records = _read(workdir, "gap_sweep")
    assert [r["model"] for r in records] == ["gru", "gru_keep", "min_gru", "min_lstm"]
    cfg = {r["model"]: r["config"]["model"] for r in records}
    assert cfg["gru"]["chrono_max_len"] == 0.0
    assert cfg["gru_keep"]["cell"] == "gru" and cfg["gru_keep"]["chrono_max_len"] == sweep.max_length(
        records[1]["config"]["data"])
    assert cfg["min_gru"]["cell"] == "min_gru" and cfg["min_lstm"]["cell"] == "min_lstm"
    for r in records:
        assert 0.0 <= r["test"]["accuracy"] <= 1.0 and math.isfinite(r["test"]["loss"])
    text = _text(workdir, "gap_sweep")
    assert "GRU (keep init, b_z ~ log U[1, T-1])" in text and "minGRU" in text
    rows = report.parse_markdown_table(text, "model")
    assert [row[0] for row in rows[1:]] == ["gru", "gru_keep", "min_gru", "min_lstm"]
    # keep init: only the update gate's bias differs from the default GRU's init
    from lstmjax.tasks import distant_recall as dr
    spec = dr.spec(dr.DistantRecallConfig(gap=3, num_clues=8, num_distractors=8))
    fields = {k: v for k, v in records[0]["config"]["model"].items()}
    p0 = models.init(jax.random.key(0), models.from_task(spec, **fields))
    p1 = models.init(jax.random.key(0), models.from_task(spec, **cfg["gru_keep"]))
    flat0, flat1 = jax.tree_util.tree_leaves_with_path(p0), jax.tree_util.tree_leaves(p1)
    moved = [jax.tree_util.keystr(k) for (k, a), b in zip(flat0, flat1)
             if not np.array_equal(a, b)]
    assert len(moved) == 1 and "'b'" in moved[0], moved
    h = fields["hidden_size"]
    b1 = [b for (k, _), b in zip(flat0, flat1) if jax.tree_util.keystr(k) == moved[0]][0]
    b1 = np.asarray(b1).reshape(-1)
    assert np.all(b1[h:2 * h] >= 0) and np.all(b1[h:2 * h] <= np.log(5) + 1e-6)
