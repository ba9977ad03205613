"""The shared report statistics (experiments/stats.py) against independent computations,
and the rule that no report or headline number comes from a validation record."""

import json
import math
import os
import shutil
import statistics

import numpy as np
import pytest

from experiments import headlines, report, rereport, stats

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "experiments", "results")
SAMPLE = [0.91, 0.97, 0.88, 1.0, 0.93, 0.95, 0.99]


# --------------------------------------------------------------------------- spreads


def test_sample_std_is_ddof_1():
    assert stats.sample_std(SAMPLE) == pytest.approx(statistics.stdev(SAMPLE), rel=1e-12)
    assert stats.sample_std([1.0, 3.0, None]) == pytest.approx(math.sqrt(2.0))
    assert math.isnan(stats.sample_std([0.5])) and math.isnan(stats.sample_std([]))


def test_bootstrap_interval_matches_scipy_and_is_seeded():
    from scipy import stats as sps
    lo, hi = stats.bootstrap_ci(SAMPLE)
    ref = sps.bootstrap((np.asarray(SAMPLE),), np.mean, confidence_level=0.95,
                        n_resamples=20_000, method="percentile", random_state=1)
    # two independent Monte Carlo estimates of the same percentiles: close, not equal
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.004)
    assert lo < np.mean(SAMPLE) < hi
    assert stats.bootstrap_ci(SAMPLE) == (lo, hi)              # the same characters again
    # two values: the resampled means are a, (a+b)/2, b with weights 1/4, 1/2, 1/4
    assert stats.bootstrap_ci([0.5, 0.7]) == (0.5, 0.7)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([0.5]))
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci(SAMPLE, level=95)


def test_fmt_labels_n_and_never_prints_a_single_seed_spread():
    s = stats.summarize(SAMPLE)
    assert stats.fmt(SAMPLE, scale=100) == (
        f"{100 * np.mean(SAMPLE):.1f} ± {100 * statistics.stdev(SAMPLE):.1f} "
        f"[{100 * s.lo:.1f}, {100 * s.hi:.1f}] (n=7)")
    assert stats.fmt([0.995], scale=100) == "99.5 (n=1)"
    assert "±" not in stats.fmt([0.995], scale=100)
    assert stats.fmt([], empty="–") == "–"
    assert stats.fmt([0.5, 0.7], scale=100, unit="%") == "60.0 ± 14.1% [50.0, 70.0] (n=2)"
    with pytest.raises(ValueError, match="values"):
        stats.summarize([0.5, float("nan")])


# --------------------------------------------------------------------------- survival


def test_kaplan_meier_by_hand():
    # solved at 2, 3, 5; censored (unsolved at the budget) at 3, 8, 8
    times, events = [2, 3, 3, 5, 8, 8], [True, True, False, True, False, False]
    steps, surv = stats.kaplan_meier(times, events)
    # at 2: 6 at risk, 1 solves; at 3: 5 at risk (the run censored at 3 still counts),
    # 1 solves; at 5: 3 at risk, 1 solves
    np.testing.assert_allclose(steps, [0, 2, 3, 5])
    np.testing.assert_allclose(surv, [1, 5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 2 / 3])
    assert stats.km_median(times, events) == 5.0
    assert stats.km_median([8, 8, 3], [False, False, True]) is None   # fewer than half


def test_kaplan_meier_without_early_censoring_is_the_empirical_fraction():
    rng = np.random.default_rng(0)
    budget = 600
    times = rng.choice(np.arange(50, 650, 50), size=40)
    events = times < budget
    times = np.minimum(times, budget)
    steps, surv = stats.kaplan_meier(times, events)
    for t, s in zip(steps, surv):
        assert s == pytest.approx(np.mean(~(events & (times <= t))))
    with pytest.raises(ValueError, match="times"):
        stats.kaplan_meier([1.0, -1.0], [True, False])


def test_steps_to_solve_cell_censors_unsolved_runs():
    runs = [{"solved": True, "steps_to_solve": 100, "steps_run": 100, "steps_budget": 600},
            {"solved": False, "steps_to_solve": None, "steps_run": 600, "steps_budget": 600},
            {"solved": True, "steps_to_solve": 300, "steps_run": 300, "steps_budget": 600}]
    # the mean over solved runs would say 200; the KM median is the second solve
    assert report.steps_to_solve_cell(runs) == "300 (2/3)"
    assert report.steps_to_solve_cell(runs[1:2]) == "> 600 (0/1)"
    assert report.survival_data(runs) == ([100.0, 600.0, 300.0], [True, False, True])


# --------------------------------------------------------------------------- splits

VAL = 0.4321   # every validation-derived number is set to this: "43.2" must never show
TEST = 0.875   # every test number: "87.5" must show


def test_reported_prefers_the_test_split():
    r = {"test": {"accuracy": TEST}, "validation": {"accuracy": VAL},
         "validation_sample": {"accuracy": VAL}}
    assert report.reported(r) == (TEST, report.TEST)
    assert report.reported({"validation_sample": {"accuracy": VAL}}) == (VAL, report.VALIDATION)
    assert report.reported({"accuracy": VAL}) == (None, "missing")  # never the raw field
    with pytest.raises(ValueError, match="test split"):
        headlines._pct([{"validation_sample": {"accuracy": VAL}}])


def _poison(results, directory, *, test: bool):
    """Every validation-derived number of a copied results directory set to VAL; with
    ``test`` every record gets (or keeps) a test split whose metrics are TEST."""
    path = os.path.join(results, directory)
    name = json.load(open(os.path.join(path, "meta.json")))["experiment"]
    records = json.load(open(os.path.join(path, f"{name}.json")))
    for r in records:
        for key in ("accuracy", "loss", "mse", "score"):
            if key in r:
                r[key] = VAL
        for split in ("validation", "eval"):
            if isinstance(r.get(split), dict):
                r[split] = {k: (VAL if isinstance(v, float) else v) for k, v in r[split].items()}
        for point in r.get("curve", []):
            point["accuracy"] = VAL
        if test:
            metric = r.get("score_metric", "accuracy")
            r["test"] = {**(r.get("test") or {}), metric: TEST, "accuracy": TEST}
    json.dump(records, open(os.path.join(path, f"{name}.json"), "w"))


# the first ablation's legacy records (before test splits), 13 of them, with its meta.json
LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "legacy_ablation")


def _copy(tmp_path):
    """Every committed sweep directory (records, meta, calibration; no plots)."""
    for d in rereport.committed():
        shutil.copytree(os.path.join(RESULTS, d), tmp_path / d,
                        ignore=shutil.ignore_patterns("checkpoints", "*.png", "*_seed*"))
    return str(tmp_path)


def test_no_headline_number_comes_from_a_validation_record(tmp_path):
    results = _copy(tmp_path)
    for d in rereport.committed():
        _poison(results, d, test=False)
    # records from before test-split evaluation (every committed report has been rerun
    # since): the sentiment records in that old form (a validation-sample accuracy at the
    # top level, no test or validation split) stand for them
    path = os.path.join(results, "sentiment_standard", "sentiment.json")
    legacy = [{**{k: v for k, v in r.items() if k not in ("test", "validation")},
               "accuracy": VAL, "loss": 0.5} for r in json.load(open(path))]
    json.dump(legacy, open(path, "w"))
    bullets = headlines.block(results).splitlines()[1:-1]
    assert len(bullets) == len(headlines.directories(results)) + 1  # + the gates
    for text in bullets:
        assert "43.2" not in text and "0.432" not in text, text
    # records without a test split: the bullet says so and gives the rerun command
    text = next(b for b in bullets if "Sentiment" in b)
    assert "no test number exists" in text and "rerun needed: `python -m" in text
    # the adding problem's bullet reads the T = 1000 rerun with test splits, with the
    # budget in sequences beside H&S's count
    text = next(b for b in bullets if "Adding problem" in b)
    assert "Whole test split (2048 sequences) at T 1000" in text and "UNFINISHED" not in text
    assert "512,000 sequences" in text and "853,000 at T = 1000" in text
    # the rerun standard gap sweep and the rerun gates hold test splits: their numbers show
    assert "Whole test split (2048 sequences) at gap 500" in next(
        b for b in bullets if "Gap sweep (distant" in b)
    # the gates bullet is the interventions' (gates_causal): whole-test-split accuracies
    causal = next(b for b in bullets if "**Gates, by intervention**" in b)
    assert "on the whole test split, 2048 sequences per run" in causal
    assert not any("**Gates** (" in b for b in bullets)  # the correlational one is replaced
    # with test splits everywhere, the test numbers are the ones shown (the correlational
    # gates bullet too, where no causal records exist)
    results = str(tmp_path / "with_test")
    shutil.copytree(tmp_path, results, ignore=shutil.ignore_patterns("with_test"))
    shutil.rmtree(os.path.join(results, "gates_causal"))
    for d in ("gap_sweep_standard", "sentiment_standard", "gates_standard",
              "adding_t1000_1997"):
        _poison(results, d, test=True)
    for text in headlines.block(results).splitlines()[1:-1]:
        if any(t in text for t in ("Adding", "Sentiment", "Gates**", "Gap sweep (distant")):
            assert "87.5" in text and "43.2" not in text and "no test number" not in text, text


def test_no_report_table_number_comes_from_a_validation_record(tmp_path):
    results = _copy(tmp_path)
    for d in ("gap_sweep_quick", "ablation_v2_quick", "ablation_quick"):
        _poison(results, d, test=True)
        _, text = rereport.regenerate(os.path.join(results, d), write=False)
        table = "\n".join(line for line in text.splitlines() if line.startswith("|"))
        assert "87.5" in table and "43.2" not in text, d
        assert "Not test numbers" not in text
    # legacy records (the first ablation's, trimmed to 13 runs: every committed report has
    # been rerun since): labelled as the validation sample, with the rerun command
    legacy = shutil.copytree(LEGACY, os.path.join(results, "legacy_ablation"))
    _, text = rereport.regenerate(legacy, write=False)
    assert "**Not test numbers: rerun needed.**" in text and "`python -m experiments." in text
    assert "## " in text and "validation sample" in text.split("## ", 1)[1].split("\n")[0]


def test_committed_reports_match_their_records():
    """Every report this module regenerates is what its records give (run
    `python -m experiments.rereport --all` after changing a report)."""
    assert len(rereport.committed()) >= 13
    for d in rereport.committed():
        path, text = rereport.regenerate(os.path.join(RESULTS, d), write=False)
        assert rereport._body(open(path, encoding="utf-8").read()) == rereport._body(text), d


# the legacy settings of gap_sweep_gap1000 (meta.json before its 2026-12-07 rerun)
GAP1000_LEGACY = {"batch_size": 64, "embed": 16, "eval_every": 50, "eval_examples": 1024,
                  "gaps": [1000], "hidden": 64, "learning_rate": 0.003,
                  "models": ["rnn", "lstm_chrono"], "num_clues": 8, "num_distractors": 8,
                  "optimizer": "adam, grad clip 1.0", "seeds": 3, "solve_threshold": 0.99,
                  "steps": 1000, "tasks": ["distant_recall"]}


def test_rerun_command_names_the_legacy_axes():
    cmd = rereport.rerun_command("gap_sweep", "standard", GAP1000_LEGACY,
                                 os.path.join(RESULTS, "gap_sweep_gap1000"))
    assert cmd.startswith("python -m experiments.sweep --config "
                          "experiments/configs/gap_sweep.py:standard ")
    for part in ("--config.sweep.model=rnn,lstm_chrono", "--config.sweep.gap=1000",
                 "--config.steps=1000"):
        assert part in cmd, cmd
    assert cmd.endswith("--workdir experiments/results/gap_sweep_gap1000")
    assert "--config.sweep.seeds" not in cmd  # 3, the standard size's own
    meta = json.load(open(os.path.join(LEGACY, "meta.json")))
    cmd = rereport.rerun_command("ablation", meta["mode"], meta["settings"], "x")
    assert "experiments/configs/ablation.py:fixed_standard" in cmd
    # its tasks were a dict of name -> data: the override names them, a shell-safe word
    assert ("--config.sweep.task=adding_200,adding_500,copy_memory,distant_recall,"
            "temporal_order ") in cmd and "{" not in cmd
