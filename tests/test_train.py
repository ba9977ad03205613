"""lstmjax.train in-process: the run dir, reported numbers over whole splits, solving and
early stop, reproducibility, resume, NaN stop, config validation, optimizers."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lstmjax import checkpoint, device_step, evaluation, optim, runs, schema, train

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
                 "learning_curve.png", "checkpoints", "best", "task.json"):
        assert os.path.exists(os.path.join(workdir, name)), name
    on_disk = runs.read_json(os.path.join(workdir, "summary.json"))
    for key in ("final_eval", "wall_time_s", "devices", "versions", "git_commit", "params_sha256"):
        assert key in on_disk, key
    # the reported hash is that of the parameters saved in the last checkpoint
    ck = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), schema.fingerprint(
        schema.resolve_config(tiny())), data_fingerprint=train.data.fingerprint(tiny()["data"]))
    saved, _, _ = ck.restore(30, checkpoint.abstract_of(train._tree(jax.device_get(
        train.build(tiny()).compiled.init(np.int32(0))))))
    ck.close()
    saved_params = jax.tree.unflatten(jax.tree.structure(summary["params"]),
                                      jax.tree.leaves(saved["params"]))
    assert on_disk["params_sha256"] == summary["params_sha256"] == runs.params_sha256(saved_params)
    assert on_disk["versions"]["jax"] == jax.__version__
    records = runs.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert records == summary["history"]
    assert [r["step"] for r in records if r["split"] == "train"] == [5, 10, 15, 20, 25, 30]
    periodic = [r for r in records if r["split"] == "validation"]
    assert [r["step"] for r in periodic] == [10, 20, 30]
    assert all(r["examples"] == 16 for r in periodic)  # eval_batches 2 x batch 8
    assert all("steps_per_s" not in r and "elapsed_s" not in r for r in records)
    timing = runs.read_jsonl(os.path.join(workdir, "timing.jsonl"))
    assert [t["step"] for t in timing] == [5, 10, 15, 20, 25, 30] and "steps_per_s" in timing[0]
    assert summary["status"] == "completed" and summary["step"] == 30
    assert {"loss", "accuracy", "mean_abs_error", "r2"} <= set(summary["final_eval"])
    assert summary["final_eval"]["split"] == "validation" and summary["test"]["split"] == "test"
    assert summary["final_eval"]["examples"] == summary["test"]["examples"] == 32
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
    ({"parallel": "mpi"}, r"config.parallel='mpi' is not accepted; accepted: \['none', 'pmap', 'sharding'\]"),
    ({"model": {"cell": "lstmx"}}, r"config.model: .*cell='lstmx'.*'lstm'.*'min_gru'"),
    ({"model": {"gates": "nope"}}, r"config.model: .*'nope'.*'vanilla'"),
    ({"model": {"pooling": "maximum"}}, r"config.model.pooling='maximum'.*'bilstm'"),
    ({"model": {"form": "magic"}}, r"config.model: .*form='magic'"),
    ({"keep_checkpoints": 0}, r"config.keep_checkpoints=0 must be >= 1"),
    ({"solve_metric": "f1"}, r"config.solve_metric='f1' is not accepted; accepted: \['loss'"),
    ({"distributed": "on"}, r"config.distributed must be a section"),
    ({"model": {"hidden_size": 0}}, r"config.model.hidden_size=0 must be >= 1"),
    ({"model": {"hidden_size": 2.5}}, r"config.model.hidden_size=2.5 must be an int"),
    ({"model": {"widht": 3}}, r"config.model.widht is not a known field; accepted: \["),
    ({"optimizer": {"name": "adagrad"}}, r"config.optimizer.name='adagrad'.*'rmsprop'"),
    ({"data": {"name": "mnits"}}, r"config.data.name='mnits' is not accepted; accepted: \["),
    ({"data": {"lenght": 3}}, r"config.data.lenght is not a field of task 'adding'"),
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


OPT = schema.DEFAULTS["optimizer"]


@pytest.mark.parametrize("name,expected", [
    # L2 weight decay added to the gradient, except adamw's decoupled decay
    ("adam", lambda lr, o: optax.chain(optax.add_decayed_weights(o["weight_decay"]),
                                       optax.adam(lr))),
    ("adamw", lambda lr, o: optax.adamw(lr, weight_decay=o["weight_decay"])),
    ("sgd", lambda lr, o: optax.chain(optax.add_decayed_weights(o["weight_decay"]),
                                      optax.sgd(lr, momentum=o["momentum"]))),
    ("rmsprop", lambda lr, o: optax.chain(optax.add_decayed_weights(o["weight_decay"]),
                                          optax.rmsprop(lr, momentum=o["momentum"]))),
])
def test_each_optimizer_matches_optax_for_three_updates(name, expected):
    """The updates equal optax's own optimizer (so e.g. rmsprop swapped for sgd, or adamw
    losing its weight decay, fails here)."""
    opt = dict(OPT, name=name, learning_rate=0.1, weight_decay=0.3, grad_clip=0.0)
    tx, _ = optim.make_optimizer(opt, 10)
    ref = expected(0.1, opt)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    s, r = tx.init(params), ref.init(params)
    for k in range(3):
        g = {"w": jnp.array([0.5, -1.0, 2.0]) * (k + 1)}
        u, s = tx.update(g, s, params)
        v, r = ref.update(g, r, params)
        np.testing.assert_allclose(u["w"], v["w"], rtol=1e-6)
    if name == "adamw":  # the decay is really there: without it the update differs
        bare = optax.adam(0.1)
        w, _ = bare.update(g, bare.init(params), params)
        assert not np.allclose(u["w"], w["w"])


@pytest.mark.parametrize("schedule,values", [
    # lr 1.0, warmup 2 (0 -> 1), then over the remaining 8 of 10 steps down to min 0.1
    ("constant", [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ("linear", [0.0, 0.5, 1.0, 0.8875, 0.775, 0.55, 0.1]),
    ("cosine", [0.0, 0.5, 1.0, 0.9657, 0.8682, 0.55, 0.1]),
    ("exponential", [0.0, 0.5, 1.0, 0.5, 0.25, 0.0625, 0.00390625]),
])
def test_schedule_values(schedule, values):
    """Known values at steps 0, 1, 2, 3, 4, 6, 10, with k = step - 2 after the warmup:
    linear 1 - 0.9 k/8; cosine 0.1 + 0.9 (1 + cos(pi k/8)) / 2; exponential
    (2**-8)**(k/8) = 2**-k. A schedule replaced by another fails here."""
    opt = dict(OPT, learning_rate=1.0, warmup_steps=2, min_lr_ratio=0.1, schedule=schedule,
               decay_rate=2.0 ** -8)
    sched = optim.make_schedule(opt, 10)
    got = [float(sched(k)) for k in (0, 1, 2, 3, 4, 6, 10)]
    np.testing.assert_allclose(got, values, atol=1e-4)


def test_weight_decay_and_clip_are_in_the_chain():
    opt = dict(OPT, name="sgd", momentum=0.0, learning_rate=1.0, weight_decay=0.5,
               grad_clip=0.0)
    tx, _ = optim.make_optimizer(opt, 10)
    u, _ = tx.update({"w": jnp.zeros(2)}, tx.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})
    np.testing.assert_allclose(u["w"], [-0.5, -0.5])


def test_grad_clip_is_global_norm():
    tx, _ = optim.make_optimizer(dict(OPT, name="sgd", momentum=0.0, learning_rate=1.0,
                                      grad_clip=1.0), 10)
    g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
    updates, _ = tx.update(g, tx.init(g))
    assert float(optax.tree.norm(updates)) == pytest.approx(1.0)


def test_masked_per_step_loss_is_global_mean():
    logits = jnp.zeros((2, 3, 4)).at[0, 0, 1].set(5.0)
    batch = {"y": jnp.array([[1, 0, 0], [2, 2, 2]]), "lengths": jnp.array([3, 3]),
             "mask": jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])}
    sums = device_step.score(logits, batch, "classify_per_step", None)
    assert float(sums["count"]) == 3.0
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
    assert float(sums["loss_sum"]) == pytest.approx(float(ce[0, 0] + ce[1, 0] + ce[1, 1]))
    assert float(sums["correct"]) == 1.0  # only [0, 0] is right among the scored steps
    # recall steps: scored steps whose target is not 0 -> [0, 0], [1, 0], [1, 1]
    assert float(sums["recall_count"]) == 3.0 and float(sums["recall_correct"]) == 1.0


def test_regression_accuracy_uses_task_tolerance():
    out = jnp.array([0.5, 0.5, 0.5])
    batch = {"y": jnp.array([0.53, 0.45, 0.6])}
    sums = device_step.score(out, batch, "regress", 0.04)
    assert float(sums["correct"]) == 1.0 and float(sums["count"]) == 3.0
    assert float(sums["loss_sum"]) == pytest.approx(0.03 ** 2 + 0.05 ** 2 + 0.1 ** 2, rel=1e-5)
    m = device_step.metrics_from_sums(jax.device_get(sums), baseline_loss=0.01)
    assert m["mean_abs_error"] == pytest.approx(0.06, rel=1e-5)
    assert m["r2"] == pytest.approx(1 - m["loss"] / 0.01)


def test_filler_rows_count_nowhere():
    """weight-0 rows (the filler of a whole-split evaluation's last batch) add nothing."""
    logits = jnp.array([[5.0, 0.0], [0.0, 5.0], [9.0, -9.0]])
    batch = {"y": jnp.array([0, 0, 1]), "weight": jnp.array([1.0, 1.0, 0.0])}
    m = device_step.metrics_from_sums(jax.device_get(device_step.score(logits, batch, "classify", None)))
    assert m["examples"] == 2 and m["accuracy"] == 0.5
    ce = optax.softmax_cross_entropy_with_integer_labels(logits[:2], batch["y"][:2])
    assert m["loss"] == pytest.approx(float(ce.mean()), rel=1e-6)


def test_reported_numbers_cover_whole_splits(reference):
    """final_eval and test equal an independent evaluation of the saved parameters over
    every example of the split; test_at_best uses the best validation's parameters."""
    workdir, summary = reference
    job = train.build(tiny())
    for split, rec in (("validation", summary["final_eval"]), ("test", summary["test"])):
        src = job.sources[split]
        assert rec["examples"] == len(src) == 32
        batch = train.data.prepare_batch(
            train.data.collate([src[i] for i in range(len(src))]), job.spec, "max_length")
        out = train.models.apply(summary["params"], job.model, batch["x"], batch["lengths"])
        mse = float(np.mean((np.asarray(out) - batch["y"]) ** 2))
        assert rec["loss"] == pytest.approx(mse, rel=1e-5)
    best = summary["best"]
    assert best["metric"] == "accuracy" and best["step"] in (10, 20, 30)
    periodic = [r for r in summary["history"] if r["split"] == "validation"]
    assert best["value"] == max(r["accuracy"] for r in periodic)
    assert summary["test_at_best"]["step"] == best["step"]
    assert summary["test_at_best"]["examples"] == 32


def test_validation_and_test_are_different_examples(reference):
    job = train.build(tiny())
    val = {job.sources["validation"][i]["x"].tobytes() for i in range(32)}
    test = {job.sources["test"][i]["x"].tobytes() for i in range(32)}
    assert not val & test


def test_solve_threshold_stops_early_and_resume_stays_stopped(tmp_path):
    """steps_to_solve = the first periodic validation >= threshold; with stop_when_solved the
    run ends there, and rerunning the finished run does not train further."""
    cfg = tiny(steps=40, solve_metric="loss", solve_threshold=1e-9, eval_every=5)
    never = train.run(cfg, None, progress=False)
    assert never["steps_to_solve"] == 5 and never["status"] == "solved_early"
    assert never["step"] == 5
    cfg = tiny(steps=40, solve_metric="accuracy", solve_threshold=1.1)  # unreachable
    assert train.run(cfg, None, progress=False)["steps_to_solve"] is None
    cfg = tiny(steps=40, solve_metric="loss", solve_threshold=1e-9, eval_every=5,
               checkpoint_every=5)
    first = train.run(cfg, str(tmp_path / "s"), progress=False)
    again = train.run(cfg, str(tmp_path / "s"), progress=False)
    assert first["step"] == again["step"] == 5 and again["status"] == "solved_early"
    assert again["params_sha256"] == first["params_sha256"]
    records = runs.read_jsonl(str(tmp_path / "s" / "metrics.jsonl"))
    assert len(records) == len(first["history"])  # no duplicate records on the rerun
    cfg_go_on = dict(cfg, stop_when_solved=False)
    assert train.run(cfg_go_on, None, progress=False)["step"] == 40


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
