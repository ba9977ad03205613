"""experiments/run_report.py and experiments/pixel_mnist_report.py end to end: a tiny
pixel-MNIST-shaped run trains from experiments/configs/pixel_mnist.py, is scored by
`lstmjax evaluate`, committed by run_report, and tabulated beside the published numbers."""

import json
import os
import shutil

import numpy as np
import pytest

from experiments import pixel_mnist_report, run_report
from lstmjax import cli, runs, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pixel_config(data_folder: str):
    from experiments.configs import pixel_mnist

    c = pixel_mnist.get_config("lstm")
    c.data.path = os.path.join(data_folder, "{split}.npz")
    c.steps, c.batch_size, c.log_every = 4, 8, 2
    c.eval_every, c.eval_batches, c.eval_batch_size = 2, 1, 8
    c.checkpoint_every, c.model.hidden_size = 2, 4
    c.model.chrono_max_len = 12.0
    return c


def _write_npz(folder, sizes=(32, 12, 20)):
    rng = np.random.default_rng(0)
    os.makedirs(folder)
    for split, n in zip(("train", "validation", "test"), sizes):
        np.savez(os.path.join(folder, f"{split}.npz"),
                 x=rng.uniform(0, 1, (n, 12, 1)).astype(np.float32),
                 y=(np.arange(n) % 3).astype(np.int32))


@pytest.mark.slow
def test_finished_and_unfinished_runs_are_reported_with_split_and_examples(tmp_path):
    data_dir = tmp_path / "data_permuted"
    _write_npz(str(data_dir))
    work = str(tmp_path / "run")
    summary = train.run(_pixel_config(str(data_dir)), work, progress=False)
    assert summary["status"] == "completed" and summary["test"]["examples"] == 20

    # the finished run: run_report's result.md carries summary.json's whole-split numbers
    out = str(tmp_path / "results" / "finished")
    run_report.main(["--workdir", work, "--out", out, "--command", "python -m lstmjax train X"])
    text = open(os.path.join(out, "result.md")).read()
    assert "(finished)" in text and "UNFINISHED" not in text
    test = summary["test"]
    assert f"test, 20 examples, step 4: accuracy {test['accuracy']:.4f}" in text

    # an interrupted run (as Ctrl-C leaves it: no whole-split numbers) plus what
    # `lstmjax evaluate` measures on its latest checkpoint
    evaluation = str(tmp_path / "evaluation.json")
    assert cli.main(["lstmjax", "evaluate", "--workdir", work, "--params", "last",
                     "--output", evaluation]) == 0
    scored = runs.read_json(evaluation)
    assert scored["examples"] == 20 and scored["params"] == "last@4"
    # the latest checkpoint is the last step: the same parameters, the same number
    assert scored["accuracy"] == pytest.approx(test["accuracy"])
    interrupted = {k: v for k, v in summary.items()
                   if k not in ("test", "final_eval", "test_at_best", "history", "params")}
    interrupted.update(status="interrupted", step=2)
    with open(os.path.join(work, "summary.json"), "w") as f:
        json.dump(interrupted, f)
    out2 = str(tmp_path / "results" / "unfinished")
    run_report.main(["--workdir", work, "--out", out2, "--command", "python -m lstmjax train X",
                     "--evaluation", evaluation])
    text2 = open(os.path.join(out2, "result.md")).read()
    assert "UNFINISHED** at step 2 of 4" in text2 and "rerun the same command" in text2
    assert f"test, 20 examples, parameters last@4 (`lstmjax evaluate`): " in text2
    assert os.path.exists(os.path.join(out2, "evaluation.json"))

    # the table: one row per run, the variant read from the data path, published numbers
    path = pixel_mnist_report.main(["--results", str(tmp_path / "results")])
    table = open(path).read()
    from experiments import report
    rows = report.parse_markdown_table(table, "run")
    assert [r[0] for r in rows[1:]] == ["finished", "unfinished"]
    # hidden 4 is none of pixel_mnist.MODELS' sizes: named by cell and size
    assert all(r[1] == "permuted" and r[2] == "lstm 4x1 (earlier size)" for r in rows[1:])
    assert all(r[3] == "0" and r[4] == "data_permuted" and r[5] == f"{summary['num_params']:,}"
               for r in rows[1:])
    assert rows[1][7] == "completed" and rows[2][7] == "UNFINISHED (interrupted)"
    assert rows[1][8] == f"{100 * test['accuracy']:.2f}% (20 images, step 4)"
    assert rows[2][8] == f"{100 * scored['accuracy']:.2f}% (20 images, step 4, latest checkpoint)"
    assert "Arjovsky et al. 2016, Table 1 (LSTM): 88.0%" in rows[1][10]
    assert "**Unfinished:** unfinished" in table
    # per model: the finished run only, at its best validation, the unfinished one counted
    _, model = report.parse_markdown_table(table, "variant")  # header, the one group
    best = summary["test_at_best"] or summary["test"]
    assert model[:5] == ["permuted", "lstm 4x1 (earlier size)", "data_permuted",
                         f"{summary['num_params']:,}", "1 of 1 (0)"]
    assert model[5] == report.fmt_mean_std([best["accuracy"]], scale=100, digits=2)
    # at equal steps: each run's periodic validation (eval_every=2: steps 2 and 4) from its
    # metrics.jsonl, the image count named, and the plot written beside the table
    curves = table[table.index("### Permuted MNIST at equal steps"):]
    assert "on 8 of the validation images" in curves
    steps = report.parse_markdown_table(curves, "step")
    assert steps[0] == ["step", "finished", "unfinished"] and [r[0] for r in steps[1:]] == ["2", "4"]
    val = [r for r in runs.read_jsonl(os.path.join(work, "metrics.jsonl"))
           if r["split"] == "validation"]
    assert steps[2][1] == f"{100 * val[-1]['accuracy']:.2f}%"
    assert os.path.getsize(tmp_path / "results" / "curves_permuted.png") > 0
    assert "### Sequential" not in table   # no sequential run: no empty section


def test_every_pixel_mnist_model_is_read_back_from_its_config():
    from experiments.configs import pixel_mnist
    from lstmjax import schema
    for arg in pixel_mnist.ARGS:
        cfg = schema.resolve_config(pixel_mnist.get_config(arg))
        assert pixel_mnist_report.model_of(cfg) == arg.split(",")[0], arg
        assert pixel_mnist_report.split_of(cfg) in ("mnist_pixels_60k", "mnist_permuted_60k")


def test_variant_is_read_from_the_data_path():
    assert pixel_mnist_report.variant_of({"data": {"path": "data/mnist_permuted/{split}.npz"}}) \
        == "permuted"
    assert pixel_mnist_report.variant_of({"data": {"path": "data/mnist_pixels/{split}.npz"}}) \
        == "sequential"


@pytest.mark.slow
def test_resumable_report_is_a_run_directory_a_fresh_clone_continues(tmp_path):
    """--resumable commits the checkpoint: copied back, the same config continues the run to
    the same parameters as the uninterrupted one (bitwise: params_sha256)."""
    data_dir = tmp_path / "data"
    _write_npz(str(data_dir))
    whole = train.run(_pixel_config(str(data_dir)), str(tmp_path / "whole"), progress=False)
    first = _pixel_config(str(data_dir))
    first.steps = 2  # a constant schedule: steps is not part of what a resume must match
    work = str(tmp_path / "run")
    assert train.run(first, work, progress=False)["step"] == 2
    out = str(tmp_path / "results" / "half")
    run_report.main(["--workdir", work, "--out", out, "--command", "X", "--resumable"])
    assert os.path.isdir(os.path.join(out, "checkpoints"))
    # an unfinished run's result.md names the copy that continues it
    summary, cfg = runs.read_json(os.path.join(out, "summary.json")), first.to_dict()
    text = run_report.markdown(dict(summary, status="interrupted"), dict(cfg, steps=4), "X",
                               None, None, False, resume_from=(out, work))
    assert f"`cp -r {out} {work}` and then the command above continues it" in text
    shutil.rmtree(work)  # the fresh clone: only the committed folder is left
    clone = str(tmp_path / "clone")
    shutil.copytree(out, clone)
    # the committed checkpoint is the step-2 state (a resume starts there, not from step 0)
    scored = str(tmp_path / "scored.json")
    assert cli.main(["lstmjax", "evaluate", "--workdir", clone, "--params", "last",
                     "--output", scored]) == 0
    assert runs.read_json(scored)["params"] == "last@2"
    resumed = train.run(_pixel_config(str(data_dir)), clone, progress=False)
    assert resumed["step"] == 4 and resumed["params_sha256"] == whole["params_sha256"]
    # without --resumable nothing a resume needs is committed, and result.md offers no copy
    out2 = str(tmp_path / "results" / "plain")
    run_report.main(["--workdir", clone, "--out", out2, "--command", "X"])
    assert not os.path.exists(os.path.join(out2, "checkpoints"))
    text = open(os.path.join(out2, "result.md")).read()
    assert "cp -r" not in text
    # the resumed run trained in two processes: the wall-time line sums both segments
    parts = run_report.segments(runs.read_jsonl(os.path.join(clone, "timing.jsonl")))
    assert len(parts) == 2 and all(p > 0 for p in parts)
    assert f"its last of 2 segments; all segments: {sum(parts) / 60:.1f} min" in text


def test_segments_restart_where_elapsed_time_drops():
    log = [{"elapsed_s": t} for t in (5.0, 9.0, 2.0, 4.0, 7.5, 1.0)]
    assert run_report.segments(log) == [9.0, 7.5, 1.0]
    assert run_report.segments([]) == []
    # with started_at, a resume is a new segment even when its clock reads more
    log = [{"elapsed_s": 0.06, "started_at": 1.0}, {"elapsed_s": 0.1, "started_at": 2.0},
           {"elapsed_s": 0.3, "started_at": 2.0}]
    assert run_report.segments(log) == [0.06, 0.3]


def test_steps_after_last_ink_counts_to_the_end_of_the_sequence():
    x = np.zeros((3, 6, 1), np.float32)
    x[0, 5, 0] = 0.5          # ink at the last step: 0 steps to carry
    x[1, 1, 0] = x[1, 2, 0] = 1.0   # last ink at index 2 of 6: 3 steps after it
    # x[2] is blank: nothing to carry, counted as the whole length
    assert pixel_mnist_report.steps_after_last_ink(x).tolist() == [0, 3, 6]


def _curve_rows():
    rows = [dict(name="old", variant="sequential", cell="lstm", model="lstm", step=7000,
                 split="mnist_pixels"),
            dict(name="rerun", variant="sequential", cell="lstm", model="lstm", step=3000,
                 split="mnist_pixels"),
            dict(name="rnn", variant="sequential", cell="rnn", model="rnn", step=2000,
                 split="mnist_pixels"),
            # the same model on the other split is another model: it is kept beside "old"
            dict(name="other_split", variant="sequential", cell="lstm", model="lstm",
                 step=1000, split="mnist_pixels_60k")]
    by_run = {"old": {1000: {"accuracy": 0.3}, 2000: {"accuracy": 0.4}, 7000: {"accuracy": 0.9}},
              "rerun": {1000: {"accuracy": 0.3}, 2000: {"accuracy": 0.5}, 3000: {"accuracy": 0.7}},
              "rnn": {1000: {"accuracy": 0.1}, 2000: {"accuracy": 0.6}}}
    return rows, by_run


def test_ranking_is_at_the_furthest_common_step_of_each_models_furthest_run():
    rows, by_run = _curve_rows()
    best = pixel_mnist_report.furthest(rows)
    assert [r["name"] for r in best.values()] == ["old", "other_split", "rnn"]
    text = pixel_mnist_report.ranking(["old", "rnn"], by_run)
    assert text.startswith("At step 2,000, the furthest step reached by all 2 models")
    assert text.endswith("rnn 60.00%, old 40.00%.")  # ranked by accuracy, not by name
    assert pixel_mnist_report.ranking(["old"], by_run) == ""


def test_evidence_section_from_test_npz_and_a_bad_flag_is_refused(tmp_path, capsys):
    data_dir = tmp_path / "data"
    _write_npz(str(data_dir))
    path = str(data_dir / "test.npz")
    text = "\n".join(pixel_mnist_report.evidence_section({"permuted": path}))
    gap = pixel_mnist_report.steps_after_last_ink(np.load(path)["x"])
    q1, med, q3 = np.percentile(gap, [25, 50, 75])
    assert f"| permuted | 20 | {med:g} [{q1:g}-{q3:g}] |" in text
    for bad in ("permuted", f"rowwise={path}", "sequential=/no/such.npz"):
        with pytest.raises(SystemExit) as e:
            pixel_mnist_report.main(["--results", str(tmp_path), "--test_npz", bad])
        assert e.value.code == 2
        assert "--test_npz" in capsys.readouterr().err
