"""lstmjax.train in-process: reproducibility, resume, NaN stop, config validation, optimizers."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lstmjax import checkpoint, runs, train

from train_helpers import tiny


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny run, uninterrupted, in a workdir (plots on: the PNG is checked once)."""
    workdir = str(tmp_path_factory.mktemp("ref"))
    summary = train.run(tiny(plot=True), workdir, progress=False)
    return workdir, summary


def test_run_writes_the_run_dir(reference):
    workdir, summary = reference
    for name in ("config.json", "metrics.jsonl", "timing.jsonl", "summary.json",
                 "learning_curve.png", "checkpoints"):
        assert os.path.exists(os.path.join(workdir, name)), name
    on_disk = runs.read_json(os.path.join(workdir, "summary.json"))
    for key in ("final_eval", "wall_time_s", "devices", "versions", "git_commit", "params_sha256"):
        assert key in on_disk, key
    assert on_disk["params_sha256"] == summary["params_sha256"] == runs.params_sha256(summary["params"])
    assert on_disk["versions"]["jax"] == jax.__version__
    records = runs.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert records == summary["history"]
    assert [r["step"] for r in records if r["split"] == "train"] == [5, 10, 15, 20, 25, 30]
    assert [r["step"] for r in records if r["split"] == "eval"] == [10, 20, 30]
    assert all("steps_per_s" not in r and "elapsed_s" not in r for r in records)
    timing = runs.read_jsonl(os.path.join(workdir, "timing.jsonl"))
    assert [t["step"] for t in timing] == [5, 10, 15, 20, 25, 30] and "steps_per_s" in timing[0]
    assert summary["status"] == "completed" and summary["step"] == 30
    assert {"loss", "accuracy"} <= set(summary["final_eval"])
    resolved = runs.read_json(os.path.join(workdir, "config.json"))
    assert resolved["model"]["cell"] == "lstm" and resolved["optimizer"]["name"] == "adam"


def test_same_config_is_byte_identical_other_seed_differs(reference, tmp_path):
    ref_dir, ref = reference
    again = train.run(tiny(), str(tmp_path / "again"), progress=False)
    assert _read(os.path.join(ref_dir, "metrics.jsonl")) == _read(str(tmp_path / "again" / "metrics.jsonl"))
    assert again["params_sha256"] == ref["params_sha256"]
    other = train.run(tiny(seed=1), None, progress=False)  # workdir=None: nothing written
    assert other["params_sha256"] != ref["params_sha256"]
    assert other["history"] != ref["history"]
    assert not any(p.name == "None" for p in tmp_path.iterdir())


def test_resume_continues_exactly(reference, tmp_path):
    ref_dir, ref = reference
    workdir = str(tmp_path / "resumed")
    first = train.run(tiny(steps=20), workdir, progress=False)
    assert first["step"] == 20
    # a stale line after the checkpoint (as if the process died after logging it)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 25, "split": "train", "loss": 9.0}\n{"step": 26, "spl')
    second = train.run(tiny(steps=30), workdir, progress=False)
    assert second["params_sha256"] == ref["params_sha256"]
    assert _read(os.path.join(ref_dir, "metrics.jsonl")) == _read(os.path.join(workdir, "metrics.jsonl"))


def test_resume_restores_open_logging_window(reference, tmp_path):
    """A checkpoint off the logging grid (step 21, log every 5) still resumes exactly."""
    import shutil
    _, ref = reference
    workdir = str(tmp_path / "odd")
    cfg = tiny(checkpoint_every=7, eval_every=0)
    full = train.run(cfg, workdir, progress=False)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    assert checkpoint.Checkpointer(ckpt_dir, {}).all_steps() == [21, 28, 30]
    for step in (28, 30):  # as if the process had died after saving step 21
        shutil.rmtree(os.path.join(ckpt_dir, str(step)))
    metrics = _read(os.path.join(workdir, "metrics.jsonl"))
    done = train.run(cfg, workdir, progress=False)
    assert _read(os.path.join(workdir, "metrics.jsonl")) == metrics
    assert done["history"] == full["history"]
    assert [r for r in done["history"] if r["split"] == "train"] == \
        [r for r in ref["history"] if r["split"] == "train"]
    assert done["params_sha256"] == ref["params_sha256"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    # lr grows 1e3-fold per step: the loss overflows after a few steps, deterministically
    cfg = tiny(steps=30, checkpoint_every=2, eval_every=0,
               optimizer={"name": "sgd", "momentum": 0.0, "learning_rate": 1e-2,
                          "schedule": "exponential", "decay_rate": 1e90, "grad_clip": 0.0})
    workdir = str(tmp_path / "nan")
    with pytest.raises(train.NonFiniteLossError, match=r"at step \d+") as err:
        train.run(cfg, workdir, progress=False)
    bad = err.value.step
    assert 2 < bad < 30
    saved = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), {}).all_steps()
    assert saved and max(saved) < bad
    assert f"step {max(saved)}" in str(err.value)
    summary = runs.read_json(os.path.join(workdir, "summary.json"))
    assert summary["status"] == "non_finite" and summary["params_sha256"] is None
    assert all(r["step"] < bad for r in runs.read_jsonl(os.path.join(workdir, "metrics.jsonl")))


@pytest.mark.parametrize("change,match", [
    ({"parallel": "mpi"}, r"config.parallel='mpi' is not accepted; accepted: \('none', 'pmap', 'sharding'\)"),
    ({"model": {"cell": "lstmx"}}, r"config.model.cell='lstmx' is not accepted; accepted: \('lstm'"),
    ({"model": {"gates": "nope"}}, r"config.model.gates='nope' is not accepted; accepted: \["),
    ({"model": {"pooling": "max"}}, r"config.model.pooling='max'.*'bilstm'"),
    ({"model": {"hidden_size": 0}}, r"config.model.hidden_size=0 must be >= 1"),
    ({"model": {"hidden_size": 2.5}}, r"config.model.hidden_size=2.5 must be an int"),
    ({"model": {"widht": 3}}, r"config.model.widht is not a known field; accepted: \["),
    ({"optimizer": {"name": "adagrad"}}, r"config.optimizer.name='adagrad'.*'rmsprop'"),
    ({"optimizer": {"learning_rate": -1.0}}, r"learning_rate=-1.0 must be > 0"),
    ({"optimizer": {"schedule": "poly"}}, r"config.optimizer.schedule='poly'"),
    ({"steps": 0}, r"config.steps=0 must be >= 1"),
    ({"seed": -1}, r"config.seed=-1"),
    ({"bidirectional": True}, r"config.bidirectional is not a known field"),
])
def test_invalid_config_is_rejected_before_compiling(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        train.run(tiny(**change), None, progress=False)


def test_invalid_task_field_is_rejected():
    with pytest.raises(ValueError, match="variant='x'"):
        train.run(tiny(data={"variant": "x"}), None, progress=False)


def test_batch_not_divisible_by_devices_is_a_clear_error():
    from lstmjax import parallel
    with pytest.raises(ValueError, match=r"batch_size=12 is not divisible by the number of devices \(8\)"):
        parallel.check_batch(12, 8, "config.batch_size")
    assert parallel.check_batch(16, 8) == 2
    with pytest.raises(ValueError, match=r"num_devices=\d+ but only \d+ device"):
        parallel.resolve_devices("pmap", 4 + len(jax.local_devices()))


def test_optimizers_and_schedules():
    combos = [(n, "cosine") for n in train.OPTIMIZERS] + [("adam", s) for s in train.SCHEDULES]
    for name, schedule in combos:
        opt = dict(train._OPT_DEFAULTS, name=name, schedule=schedule, warmup_steps=2,
                   weight_decay=0.01, grad_clip=0.5)
        tx = train.make_optimizer(opt, 10)
        params = {"w": np.ones(3, np.float32)}
        updates, _ = tx.update({"w": np.full(3, 100.0, np.float32)}, tx.init(params), params)
        assert np.all(np.isfinite(updates["w"])), (name, schedule)
        sched = train.make_schedule(opt, 10)
        assert float(sched(0)) == 0.0 and float(sched(2)) == pytest.approx(opt["learning_rate"])


def test_grad_clip_is_global_norm():
    tx = train.make_optimizer(dict(train._OPT_DEFAULTS, name="sgd", momentum=0.0,
                                   learning_rate=1.0, grad_clip=1.0), 10)
    g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
    updates, _ = tx.update(g, tx.init(g))
    assert float(optax.tree.norm(updates)) == pytest.approx(1.0)


def test_masked_per_step_loss_is_global_mean():
    logits = jnp.zeros((2, 3, 4)).at[0, 0, 1].set(5.0)
    batch = {"y": jnp.array([[1, 0, 0], [2, 2, 2]]), "lengths": jnp.array([3, 3]),
             "mask": jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])}
    loss_sum, count, correct = train.score(logits, batch, "classify_per_step", None)
    assert float(count) == 3.0
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
    assert float(loss_sum) == pytest.approx(float(ce[0, 0] + ce[1, 0] + ce[1, 1]))
    assert float(correct) == 1.0  # only [0, 0] is right among the scored steps


def test_regression_accuracy_uses_task_tolerance():
    out = jnp.array([0.5, 0.5, 0.5])
    batch = {"y": jnp.array([0.53, 0.45, 0.6])}
    loss_sum, count, correct = train.score(out, batch, "regress", 0.04)
    assert float(correct) == 1.0 and float(count) == 3.0
    assert float(loss_sum) == pytest.approx(0.03 ** 2 + 0.05 ** 2 + 0.1 ** 2, rel=1e-5)


def test_summary_is_json_and_run_is_cheap_to_repeat(reference):
    import time
    t = time.time()
    again = train.run(tiny(), None, progress=False)  # cached compiled steps
    assert time.time() - t < 30
    assert again["params_sha256"] == reference[1]["params_sha256"]
    json.dumps({k: v for k, v in again.items() if k not in ("params",)})


def test_text_run_saves_its_vocabulary(tmp_path):
    from lstmjax.tasks import Vocabulary

    rows = ["text,label"] + [f"{'good fine great' if k % 2 else 'bad awful poor'} word{k % 5},"
                             f"{'pos' if k % 2 else 'neg'}" for k in range(40)]
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n")
    cfg = {"seed": 0, "steps": 2, "batch_size": 4, "log_every": 1, "eval_every": 2,
           "eval_batches": 1, "checkpoint_every": 0, "plot": False, "pad_to": "batch",
           "data": {"name": "text_file", "path": str(path), "max_length": 8},
           "model": {"hidden_size": 4, "embed_dim": 4, "recurrent_init": "glorot"}}
    workdir = tmp_path / "run"
    train.run(cfg, str(workdir), progress=False)
    saved = Vocabulary.load(str(workdir / "vocab.json"))
    assert "great" in saved.words and "awful" in saved.words
    assert saved.encode("good awful", 8).tolist()[:2] == [saved.words.index("good"),
                                                          saved.words.index("awful")]
