"""The train and eval steps against hand computations.

* one update = the documented optimizer applied to the gradient of the mean loss over the
  real rows (and, per step, over the scored steps), with the loss and cross-entropy
  written here with ``jax.nn.log_softmax`` (not ``lstmjax.device_step.score``);
* several devices (a named axis, simulated with ``jax.vmap``) give the update of the
  global mean, even when they hold different numbers of scored steps;
* dropout: off at evaluation; a fresh mask at every step and on every device; the same
  mask for the same (seed, step, device);
* metrics over filler rows (``weight`` 0) and padded steps: they count nowhere.
"""

import functools
import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
from lstmjax import device_step, evaluation, models, optim, parallel

B, T, D, H, C = 6, 7, 3, 5, 4
SGD = {"name": "sgd", "learning_rate": 0.3, "momentum": 0.0, "schedule": "linear",
       "warmup_steps": 0, "decay_rate": 0.1, "min_lr_ratio": 0.25, "grad_clip": 0.5,
       "weight_decay": 0.0, "ema_decay": 0.0}
TOTAL = 8


def _model(kind="classify", dropout=0.0, layers=1, **kw):
    rnn = lstmjax.LSTMConfig(input_size=D, hidden_size=H, num_layers=layers,
                             dropout=dropout, bidirectional=kind == "classify")
    return models.ModelConfig(rnn=rnn, input_kind="features", output_kind=kind,
                              num_outputs=1 if kind == "regress" else C, **kw)


def _batch(kind, seed=0, weight=None, mask=False):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, T + 1, B).astype(np.int32)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
    if kind == "classify_per_step":
        y = rng.integers(0, C, (B, T)).astype(np.int32)
        y[np.arange(T)[None, :] >= lengths[:, None]] = 0
    elif kind == "regress":
        y = rng.normal(size=B).astype(np.float32)
    else:
        y = rng.integers(0, C, B).astype(np.int32)
    b = {"x": x, "y": y, "lengths": lengths}
    if mask:
        m = (rng.random((B, T)) < 0.6).astype(np.float32)
        m[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
        m[:, 0] = 1.0
        b["mask"] = m
    if weight is not None:
        b["weight"] = np.asarray(weight, np.float32)
    return b


def _row_weights(batch):
    return np.ones(B) if "weight" not in batch else np.asarray(batch["weight"], np.float64)


def _hand_loss(params, cfg, batch):
    """Mean cross-entropy over real rows (and scored steps), written independently."""
    out = models.apply(params, cfg, batch["x"], batch["lengths"])
    w = jnp.asarray(_row_weights(batch), jnp.float32)
    logp = jax.nn.log_softmax(out, axis=-1)
    if cfg.output_kind == "classify_per_step":
        nll = -jnp.take_along_axis(logp, batch["y"][..., None], -1)[..., 0]
        valid = (jnp.arange(T)[None, :] < batch["lengths"][:, None]).astype(jnp.float32)
        scored = (batch["mask"] if "mask" in batch else valid) * w[:, None]
        return (nll * scored).sum() / scored.sum()
    nll = -jnp.take_along_axis(logp, batch["y"][:, None], -1)[:, 0]
    return (nll * w).sum() / w.sum()


def _hand_accuracy(params, cfg, batch):
    """The fraction of real rows (per step: of scored steps) whose argmax is the target."""
    out = np.asarray(models.apply(params, cfg, batch["x"], batch["lengths"]))
    hit = (out.argmax(-1) == batch["y"]).astype(np.float64)
    w = _row_weights(batch)
    if cfg.output_kind == "classify_per_step":
        valid = np.arange(T)[None, :] < batch["lengths"][:, None]
        scored = (batch["mask"] if "mask" in batch else valid) * w[:, None]
        return float((hit * scored).sum() / scored.sum())
    return float((hit * w).sum() / w.sum())


def _np_tree(t):
    return [np.asarray(v, np.float64) for v in jax.tree.leaves(t)]


def _train_step(cfg, opt=SGD, axis_name=None):
    tx, _ = optim.make_optimizer(opt, TOTAL)
    return tx, functools.partial(device_step.train_step, axis_name=axis_name, model_config=cfg,
                                 optimizer=tx, tolerance=None)


@pytest.mark.parametrize("kind,weight,mask", [
    ("classify", None, False),
    ("classify", [1, 1, 1, 1, 0, 0], False),
    ("classify_per_step", None, False),
    ("classify_per_step", [1, 0, 1, 1, 1, 0], True),
])
def test_updates_follow_the_hand_written_loss_clip_and_schedule(kind, weight, mask):
    cfg = _model(kind)
    tx, fn = _train_step(cfg)
    state = device_step.init_state(0, cfg, tx)
    params = state.params
    for k in range(3):
        batch = _batch(kind, seed=k, weight=weight, mask=mask)
        loss, g = jax.value_and_grad(_hand_loss)(params, cfg, batch)
        norm = math.sqrt(sum(float((v.astype(np.float64) ** 2).sum())
                             for v in _np_tree(g)))
        lr = 0.3 + (0.3 * 0.25 - 0.3) * k / TOTAL  # linear schedule at count k
        scale = min(1.0, SGD["grad_clip"] / norm)
        want = [p - lr * scale * d for p, d in zip(_np_tree(params), _np_tree(g))]
        state, m = fn(state, batch)
        got = _np_tree(state.params)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
        np.testing.assert_allclose(float(m["loss"]), float(loss), rtol=1e-5)
        np.testing.assert_allclose(float(m["grad_norm"]), norm, rtol=1e-4)
        np.testing.assert_allclose(float(m["accuracy"]), _hand_accuracy(params, cfg, batch),
                                   rtol=1e-6)
        assert int(state.step) == k + 1
        params = state.params


def _shards(batch, n):
    return {k: v.reshape((n, -1) + v.shape[1:]) for k, v in batch.items()}


def test_devices_with_unequal_scored_steps_give_the_global_mean_update():
    """Two devices (a named vmap axis) holding different numbers of scored steps: the
    update is that of the global mean over every scored step, as on one device."""
    cfg = _model("classify_per_step")
    tx, one = _train_step(cfg)
    _, per_device = _train_step(cfg, axis_name=parallel.AXIS)
    batch = _batch("classify_per_step", seed=4, mask=True)
    batch["mask"][:B // 2, 1:] = 0.0  # device 0 scores far fewer steps than device 1
    state = device_step.init_state(0, cfg, tx)
    s1, m1 = one(state, batch)
    mapped = jax.vmap(per_device, in_axes=(None, 0), out_axes=(None, None),
                      axis_name=parallel.AXIS)
    s2, m2 = mapped(state, _shards(batch, 2))
    for a, b in zip(_np_tree(s1.params), _np_tree(s2.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(m1["loss"]), float(m2["loss"]), rtol=1e-6)


# --------------------------------------------------------------------------- dropout

def _dropout_model(rate=0.5):
    rnn = lstmjax.LSTMConfig(input_size=8, hidden_size=H, num_layers=2, dropout=rate)
    return models.ModelConfig(rnn=rnn, input_kind="tokens", output_kind="classify",
                              num_outputs=C, vocab_size=20, embed_dropout=rate,
                              word_dropout=rate * 0.5)


def _token_batch(seed=0, rows=B):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, T + 1, rows).astype(np.int32)
    x = rng.integers(2, 20, (rows, T)).astype(np.int32)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0
    return {"x": x, "y": rng.integers(0, C, rows).astype(np.int32), "lengths": lengths}


def _no_dropout(cfg):
    return models.ModelConfig(rnn=lstmjax.LSTMConfig(
        input_size=cfg.rnn.input_size, hidden_size=H, num_layers=cfg.rnn.num_layers),
        input_kind="tokens", output_kind="classify", num_outputs=C, vocab_size=20)


def test_evaluation_never_drops():
    cfg = _dropout_model()
    params = models.init(jax.random.key(0), cfg)
    batch = _token_batch(1)
    sums = device_step.eval_step(params, batch, None, model_config=cfg, tolerance=None)
    plain = device_step.eval_step(params, batch, None, model_config=_no_dropout(cfg), tolerance=None)
    for k in plain:
        np.testing.assert_array_equal(np.asarray(sums[k]), np.asarray(plain[k]), err_msg=k)
    # and the evaluation loss is the hand-written one of the undropped model
    want = float(_hand_loss(params, _no_dropout(cfg), batch)) * B
    np.testing.assert_allclose(float(sums["loss_sum"]), want, rtol=1e-5)


def _losses(cfg, state, batch, fn):
    return float(fn(state, batch)[1]["loss"])


def test_a_fresh_mask_at_every_step_and_the_same_for_the_same_step():
    cfg = _dropout_model()
    tx, fn = _train_step(cfg, {**SGD, "grad_clip": 0.0})
    fn = jax.jit(fn)
    state = device_step.init_state(0, cfg, tx)
    batch = _token_batch(2)
    at = [_losses(cfg, state._replace(step=jnp.int32(k)), batch, fn) for k in range(4)]
    assert len(set(at)) == 4, f"masks repeat across steps: {at}"
    again = _losses(cfg, state._replace(step=jnp.int32(2)), batch, fn)
    assert again == at[2]
    # training does drop: the undropped loss is none of them
    _, plain_fn = _train_step(_no_dropout(cfg), {**SGD, "grad_clip": 0.0})
    plain = _losses(cfg, state, batch, plain_fn)
    assert all(abs(a - plain) > 1e-6 for a in at)
    # another run seed (its dropout root key) draws other masks at the same step
    other = device_step.init_state(1, cfg, tx)._replace(params=state.params)
    assert _losses(cfg, other, batch, fn) != at[0]


def test_a_fresh_mask_on_every_device():
    """The same rows on two devices: with the same mask both would compute the gradient of
    one device alone (the pmean of equal gradients); each device draws its own."""
    cfg = _dropout_model()
    tx, one = _train_step(cfg, {**SGD, "grad_clip": 0.0})
    _, per_device = _train_step(cfg, {**SGD, "grad_clip": 0.0}, axis_name=parallel.AXIS)
    half = _token_batch(3, rows=B // 2)
    state = device_step.init_state(0, cfg, tx)
    s1, m1 = one(state, half)
    mapped = jax.vmap(per_device, in_axes=(None, 0), out_axes=(None, None),
                      axis_name=parallel.AXIS)
    both = {k: np.stack([v, v]) for k, v in half.items()}
    s2, m2 = mapped(state, both)
    assert not math.isclose(float(m1["loss"]), float(m2["loss"]), rel_tol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(_np_tree(s1.params), _np_tree(s2.params)))
    # without dropout the same experiment gives the one-device update (the control)
    plain = _no_dropout(cfg)
    tx, one = _train_step(plain)
    _, per_device = _train_step(plain, axis_name=parallel.AXIS)
    state = device_step.init_state(0, plain, tx)
    a = one(state, half)[0]
    b = jax.vmap(per_device, in_axes=(None, 0), out_axes=(None, None),
                 axis_name=parallel.AXIS)(state, both)[0]
    for u, v in zip(_np_tree(a.params), _np_tree(b.params)):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- metrics

def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("with_mask", [False, True])
def test_per_step_sums_ignore_filler_rows_and_padded_steps(with_mask):
    rng = np.random.default_rng(5)
    batch = _batch("classify_per_step", seed=6, weight=[1, 1, 1, 1, 0, 0], mask=with_mask)
    # filler rows as eval_batches makes them: copies of the first row
    for k in ("x", "y", "lengths") + (("mask",) if with_mask else ()):
        batch[k][4:] = batch[k][0]
    logits = rng.normal(size=(B, T, C)).astype(np.float32)
    got = {k: float(v) for k, v in device_step.score(jnp.asarray(logits), batch,
                                              "classify_per_step", None).items()}
    lp = _log_softmax(logits.astype(np.float64))
    loss = count = correct = rc = rn = 0.0
    for r in range(4):  # real rows only
        for t in range(batch["lengths"][r]):
            if with_mask and not batch["mask"][r, t]:
                continue
            y = batch["y"][r, t]
            loss -= lp[r, t, y]
            count += 1
            hit = float(np.argmax(logits[r, t]) == y)
            correct += hit
            if y != 0:
                rn += 1
                rc += hit
    want = {"loss_sum": loss, "count": count, "examples": 4.0, "correct": correct,
            "recall_correct": rc, "recall_count": rn}
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, err_msg=k)
    m = device_step.metrics_from_sums(got)
    np.testing.assert_allclose(m["loss"], loss / count, rtol=1e-5)
    np.testing.assert_allclose(m["accuracy"], correct / count, rtol=1e-6)
    np.testing.assert_allclose(m["recall_accuracy"], rc / rn, rtol=1e-6)
    assert m["examples"] == 4


def test_classify_and_regress_sums_ignore_filler_rows():
    rng = np.random.default_rng(7)
    w = np.array([1, 0, 1, 1, 0, 1], np.float32)
    y = rng.integers(0, C, B)
    logits = rng.normal(size=(B, C)).astype(np.float32)
    got = device_step.score(jnp.asarray(logits), {"y": y, "weight": w, "lengths": np.ones(B)},
                     "classify", None)
    lp = _log_softmax(logits.astype(np.float64))
    real = w > 0
    np.testing.assert_allclose(float(got["loss_sum"]), -lp[real, y[real]].sum(), rtol=1e-5)
    assert float(got["count"]) == 4 and float(got["examples"]) == 4
    assert float(got["correct"]) == float((logits.argmax(-1) == y)[real].sum())
    counts = device_step.class_counts(jnp.asarray(logits), {"y": y, "weight": w}, C)
    np.testing.assert_array_equal(np.asarray(counts["class_true"]),
                                  np.bincount(y[real], minlength=C))
    np.testing.assert_array_equal(np.asarray(counts["class_pred"]),
                                  np.bincount(logits.argmax(-1)[real], minlength=C))
    conf = np.zeros((C, C))
    for t, p in zip(y[real], logits.argmax(-1)[real]):
        conf[t, p] += 1
    np.testing.assert_array_equal(np.asarray(counts["confusion"]), conf)
    np.testing.assert_array_equal(np.asarray(counts["class_hit"]), np.diag(conf))
    # regression, with a tolerance
    pred = rng.normal(size=B).astype(np.float32)
    target = rng.normal(size=B).astype(np.float32)
    got = device_step.score(jnp.asarray(pred), {"y": target, "weight": w}, "regress", 0.5)
    err = (pred - target).astype(np.float64)[real]
    np.testing.assert_allclose(float(got["loss_sum"]), (err ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(float(got["abs_err_sum"]), np.abs(err).sum(), rtol=1e-5)
    assert float(got["correct"]) == float((np.abs(err) < 0.5).sum())
    m = device_step.metrics_from_sums(got, baseline_loss=2.0)
    np.testing.assert_allclose(m["r2"], 1 - (err ** 2).mean() / 2.0, rtol=1e-5)
    np.testing.assert_allclose(m["mean_abs_error"], np.abs(err).mean(), rtol=1e-5)


def test_macro_f1_is_sklearns_over_present_classes():
    y = np.array([0, 0, 1, 1, 1, 3])
    pred = np.array([0, 1, 1, 1, 0, 0])
    c = 5  # class 2 and 4 occur nowhere: left out of the mean; class 3 is a true miss
    sums = {"loss_sum": 1.0, "count": 6.0, "examples": 6.0,
            "class_true": np.bincount(y, minlength=c).astype(float),
            "class_pred": np.bincount(pred, minlength=c).astype(float),
            "class_hit": np.bincount(y[y == pred], minlength=c).astype(float)}
    f1s = []
    for k in (0, 1, 3):
        tp = np.sum((y == k) & (pred == k))
        fp = np.sum((y != k) & (pred == k))
        fn = np.sum((y == k) & (pred != k))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    np.testing.assert_allclose(device_step.metrics_from_sums(sums)["macro_f1"], np.mean(f1s))


def test_macro_f1_counts_a_class_only_predicted_once():
    """A class never a target but predicted once is present: F1 0 in the mean."""
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 2])
    sums = {"loss_sum": 1.0, "count": 4.0, "examples": 4.0,
            "class_true": np.array([2.0, 2.0, 0.0]), "class_pred": np.array([2.0, 1.0, 1.0]),
            "class_hit": np.array([2.0, 1.0, 0.0])}
    f1 = [1.0, 2 * 1 / (2 * 1 + 0 + 1), 0.0]  # 2·tp / (2·tp + fp + fn) per class
    assert np.all(np.bincount(y, minlength=3) == sums["class_true"])
    assert np.all(np.bincount(pred, minlength=3) == sums["class_pred"])
    np.testing.assert_allclose(device_step.metrics_from_sums(sums)["macro_f1"], np.mean(f1))


def test_eval_step_class_counts_of_a_classify_batch_skip_filler_rows():
    """eval_step adds the per-class counts to a classify batch's sums (real rows only),
    and to no other kind."""
    cfg = _model("classify")
    params = models.init(jax.random.key(5), cfg)
    batch = _batch("classify", seed=8, weight=[1, 1, 0, 1, 1, 0])
    sums = device_step.eval_step(params, batch, None, model_config=cfg, tolerance=None)
    real = batch["weight"] > 0
    y = batch["y"][real]
    pred = np.asarray(models.apply(params, cfg, batch["x"], batch["lengths"])).argmax(-1)[real]
    np.testing.assert_array_equal(np.asarray(sums["class_true"]), np.bincount(y, minlength=C))
    np.testing.assert_array_equal(np.asarray(sums["class_pred"]),
                                  np.bincount(pred, minlength=C))
    np.testing.assert_array_equal(np.asarray(sums["class_hit"]),
                                  np.bincount(y[y == pred], minlength=C))
    per_step = _model("classify_per_step")
    sums = device_step.eval_step(models.init(jax.random.key(5), per_step),
                                 _batch("classify_per_step", seed=8), None,
                                 model_config=per_step, tolerance=None)
    assert "class_true" not in sums and "confusion" not in sums


class _Source:
    """A per-step source of N examples of different lengths (features, labels)."""

    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n):
            length = int(rng.integers(1, T + 1))
            self.items.append({"x": rng.normal(size=(length, D)).astype(np.float32),
                               "y": rng.integers(0, C, length).astype(np.int32)})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize("pad_to", ["batch", "max_length"])
def test_whole_split_per_step_metrics_equal_each_example_alone(pad_to):
    """evaluation over split_batches (a last batch of filler rows, padded steps) gives
    the metrics of every example scored alone, unpadded, in numpy."""
    src = _Source(11)
    cfg = _model("classify_per_step")
    params = models.init(jax.random.key(2), cfg)
    spec = SimpleNamespace(max_length=T, input_kind="features", output_kind="classify_per_step")
    run_cfg = {"pad_to": pad_to, "pad_multiple": 1, "eval_batches": 0}
    batches = evaluation.split_batches(src, spec, run_cfg, 4, 1)
    assert len(batches) == 3 and float(batches[-1]["weight"].sum()) == 3.0
    ev = parallel.LayoutStep(functools.partial(device_step.eval_step, model_config=cfg, tolerance=None),
                         "none", jax.devices()[:1], updates_state=False)
    got = evaluation.evaluate(ev, params, batches)
    loss = count = correct = rc = rn = 0.0
    for item in src.items:
        out = np.asarray(models.apply(params, cfg, item["x"][None]), np.float64)[0]
        lp = _log_softmax(out)
        for t, y in enumerate(item["y"]):
            loss -= lp[t, y]
            count += 1
            hit = float(np.argmax(out[t]) == y)
            correct += hit
            rn += y != 0
            rc += hit * (y != 0)
    assert got["examples"] == 11
    np.testing.assert_allclose(got["loss"], loss / count, rtol=1e-4)
    np.testing.assert_allclose(got["accuracy"], correct / count, rtol=1e-6)
    np.testing.assert_allclose(got["recall_accuracy"], rc / rn, rtol=1e-6)


class _ClassSource(_Source):
    def __init__(self, n, seed=0):
        super().__init__(n, seed)
        for item in self.items:
            item["y"] = np.int32(item["y"][0])


@pytest.mark.parametrize("labels", [None, ["a", "b", "c", "d"]])
def test_whole_split_classify_metrics_and_report(labels):
    """A classify split over filler rows: the metrics and (with labels) the per-class
    report of each example scored alone, in numpy."""
    src = _ClassSource(10, seed=3)
    cfg = _model("classify")
    params = models.init(jax.random.key(4), cfg)
    spec = SimpleNamespace(max_length=T, input_kind="features", output_kind="classify")
    batches = evaluation.split_batches(src, spec, {"pad_to": "batch", "pad_multiple": 1,
                                                   "eval_batches": 0}, 4, 1)
    ev = parallel.LayoutStep(functools.partial(device_step.eval_step, model_config=cfg, tolerance=None),
                         "none", jax.devices()[:1], updates_state=False)
    got = evaluation.evaluate(ev, params, batches, labels=labels)
    ys, preds, nll = [], [], 0.0
    for item in src.items:
        out = np.asarray(models.apply(params, cfg, item["x"][None]), np.float64)[0]
        ys.append(int(item["y"]))
        preds.append(int(np.argmax(out)))
        nll -= _log_softmax(out)[item["y"]]
    ys, preds = np.array(ys), np.array(preds)
    assert got["examples"] == 10
    np.testing.assert_allclose(got["loss"], nll / 10, rtol=1e-4)
    np.testing.assert_allclose(got["accuracy"], np.mean(ys == preds), rtol=1e-6)
    assert ("per_class" in got) == (labels is not None)
    if labels is not None:
        for k, name in enumerate(labels):
            row = got["per_class"][name]
            assert row["support"] == int(np.sum(ys == k))
            tp = np.sum((ys == k) & (preds == k))
            assert row["recall"] == pytest.approx(tp / max(np.sum(ys == k), 1))
            assert row["precision"] == pytest.approx(tp / max(np.sum(preds == k), 1))
        conf = np.zeros((C, C), int)
        for t, p in zip(ys, preds):
            conf[t, p] += 1
        assert got["confusion"]["matrix"] == conf.tolist()


def test_sampled_validation_is_a_seeded_shuffle_without_filler_rows():
    """eval_batches > 0: that many full batches of a shuffle of the split fixed by the
    seed (not its first examples in order), every row real."""
    src = _ClassSource(40, seed=5)
    first_x = {float(item["x"][0, 0]): i for i, item in enumerate(src.items)}
    spec = SimpleNamespace(max_length=T, input_kind="features", output_kind="classify")
    cfg = {"pad_to": "batch", "pad_multiple": 1, "eval_batches": 3}

    def examples(seed):
        batches = evaluation.sample_batches(src, spec, cfg, 4, seed)
        assert len(batches) == 3 and all(float(b["weight"].sum()) == 4.0 for b in batches)
        return [first_x[float(v)] for b in batches for v in b["x"][:, 0, 0]]

    a = examples(11)
    assert len(set(a)) == 12 and a == examples(11)
    assert a != list(range(12)) and examples(12) != a
