"""The optimizer chain and its schedule against hand computations (numpy closed forms).

docs/training.md: "an optax chain of global-norm clipping, weight decay, then the
optimizer with its schedule"; warmup is linear from 0 over ``warmup_steps``, then the
schedule runs from ``learning_rate`` to ``learning_rate · min_lr_ratio`` at ``steps``
(cosine, linear) or by ``decay_rate`` per ``steps`` (exponential); the update of optimizer
count k (0-based) uses the rate at k; ``metrics.jsonl`` logs the rate of the step's update.
"""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstmjax import optim, train
from train_helpers import tiny

LR, TOTAL, RATIO, RATE = 0.1, 40, 0.1, 0.5


def _opt(**kw):
    base = {"name": "sgd", "learning_rate": LR, "momentum": 0.0, "schedule": "constant",
            "warmup_steps": 0, "decay_rate": RATE, "min_lr_ratio": RATIO, "grad_clip": 0.0,
            "weight_decay": 0.0, "ema_decay": 0.0}
    base.update(kw)
    return base


def closed_form(kind, warmup, s, lr=LR, total=TOTAL, ratio=RATIO, rate=RATE):
    """The documented learning rate at optimizer count ``s``."""
    if s < warmup:
        return lr * s / warmup
    d = max(total - warmup, 1)
    t = s - warmup
    if kind == "constant":
        return lr
    if kind == "cosine":
        u = min(t, d) / d
        return lr * (ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * u)))
    if kind == "linear":
        return lr + (lr * ratio - lr) * min(t, d) / d
    if kind == "exponential":
        return lr * rate ** (t / d)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["constant", "cosine", "linear", "exponential"])
@pytest.mark.parametrize("warmup", [0, 7])
def test_schedule_matches_the_closed_form(kind, warmup):
    schedule = optim.make_schedule(_opt(schedule=kind, warmup_steps=warmup), TOTAL)
    for s in range(TOTAL + 5):
        np.testing.assert_allclose(float(schedule(s)), closed_form(kind, warmup, s),
                                   rtol=1e-5, atol=1e-9, err_msg=f"{kind} step {s}")
    if kind in ("cosine", "linear"):
        np.testing.assert_allclose(float(schedule(TOTAL)), LR * RATIO, rtol=1e-5)
    if warmup:
        assert float(schedule(0)) == 0.0


@pytest.mark.parametrize("kind", ["cosine", "linear", "exponential"])
@pytest.mark.parametrize("warmup", [TOTAL, TOTAL + 3])
def test_a_warmup_as_long_as_the_run_leaves_one_step_of_decay(kind, warmup):
    """warmup_steps >= steps (accepted): the run is all warmup; past it the schedule decays
    over one step (``closed_form``'s max(steps - warmup, 1)): building it does not fail
    (optax's cosine refuses 0 decay steps) and the rate does not stay flat."""
    schedule = optim.make_schedule(_opt(schedule=kind, warmup_steps=warmup), TOTAL)
    for s in range(warmup + 4):
        np.testing.assert_allclose(float(schedule(s)), closed_form(kind, warmup, s),
                                   rtol=1e-5, atol=1e-9, err_msg=f"{kind} step {s}")


def _tree(rng, scale):
    return {"a": jnp.asarray(rng.normal(size=(3, 4)) * scale, jnp.float32),
            "b": jnp.asarray(rng.normal(size=(5,)) * scale, jnp.float32)}


def _np(tree):
    return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def _clip(g, c):
    if not c:
        return g
    norm = math.sqrt(sum(float((v ** 2).sum()) for v in g.values()))
    return {k: v * min(1.0, c / norm) for k, v in g.items()}


def _run(opt, params, grads_seq, total=TOTAL):
    tx, _ = optim.make_optimizer(opt, total)
    state = tx.init(params)
    out = []
    for g in grads_seq:
        updates, state = tx.update(g, state, params)
        out.append(_np(updates))
    return out


def _assert_updates(got, want, what):
    for k, (g, w) in enumerate(zip(got, want)):
        for name in w:
            np.testing.assert_allclose(g[name], w[name], rtol=1e-4, atol=1e-6,
                                       err_msg=f"{what}: update {k}, leaf {name}")


@pytest.mark.parametrize("schedule,warmup", [("constant", 0), ("cosine", 3)])
def test_sgd_chain_clip_then_decay_then_scaled_step(schedule, warmup):
    rng = np.random.default_rng(0)
    params = _tree(rng, 1.0)
    grads = [_tree(rng, 10.0) for _ in range(4)]  # norms ~ 40: clipping acts
    clip, wd, mom = 1.0, 0.05, 0.9
    opt = _opt(schedule=schedule, warmup_steps=warmup, grad_clip=clip, weight_decay=wd,
               momentum=mom)
    got = _run(opt, params, grads)
    p, trace, want = _np(params), None, []
    for k, g in enumerate(grads):
        g = _clip(_np(g), clip)                      # 1. clip the raw gradient
        g = {n: g[n] + wd * p[n] for n in g}         # 2. add the decay (not clipped)
        trace = g if trace is None else {n: g[n] + mom * trace[n] for n in g}  # 3. momentum
        lr = closed_form(schedule, warmup, k)        # 4. the rate of count k
        want.append({n: -lr * trace[n] for n in g})
    _assert_updates(got, want, "sgd")


def test_clip_off_and_decay_off_leave_the_gradient_alone():
    rng = np.random.default_rng(1)
    params = _tree(rng, 1.0)
    g = _tree(rng, 50.0)
    (got,) = _run(_opt(), params, [g])
    _assert_updates([got], [{n: -LR * v for n, v in _np(g).items()}], "plain sgd")


def _adam_np(grads, params, lr_of, wd=0.0, decoupled=False, clip=0.0, b1=0.9, b2=0.999,
             eps=1e-8):
    m = v = None
    out = []
    p = _np(params)
    for k, g in enumerate(grads):
        g = _clip(_np(g), clip)
        if wd and not decoupled:
            g = {n: g[n] + wd * p[n] for n in g}
        m = {n: (1 - b1) * g[n] + (b1 * m[n] if m else 0) for n in g}
        v = {n: (1 - b2) * g[n] ** 2 + (b2 * v[n] if v else 0) for n in g}
        upd = {}
        for n in g:
            mh, vh = m[n] / (1 - b1 ** (k + 1)), v[n] / (1 - b2 ** (k + 1))
            step = mh / (np.sqrt(vh) + eps)
            if wd and decoupled:
                step = step + wd * p[n]
            upd[n] = -lr_of(k) * step
        out.append(upd)
    return out


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_and_adamw_with_clip_decay_and_warmup(name):
    rng = np.random.default_rng(2)
    params = _tree(rng, 1.0)
    grads = [_tree(rng, 5.0) for _ in range(5)]
    opt = _opt(name=name, schedule="linear", warmup_steps=2, grad_clip=2.0, weight_decay=0.1)
    got = _run(opt, params, grads)
    want = _adam_np(grads, params, lambda k: closed_form("linear", 2, k), wd=0.1,
                    decoupled=name == "adamw", clip=2.0)
    _assert_updates(got, want, name)


def test_rmsprop_is_optax_rmsprop_after_the_clip():
    import optax
    rng = np.random.default_rng(3)
    params = _tree(rng, 1.0)
    grads = [_tree(rng, 5.0) for _ in range(4)]
    opt = _opt(name="rmsprop", schedule="exponential", grad_clip=1.5, momentum=0.5)
    got = _run(opt, params, grads)
    ref = optax.chain(optax.clip_by_global_norm(1.5),
                      optax.rmsprop(lambda k: LR * RATE ** (k / TOTAL), momentum=0.5))
    state, want = ref.init(params), []
    for g in grads:
        u, state = ref.update(g, state, params)
        want.append(_np(u))
    _assert_updates(got, want, "rmsprop")


def test_logged_learning_rate_is_the_rate_of_each_step(tmp_path):
    """metrics.jsonl's ``learning_rate`` at step s is the rate the update of that step
    (optimizer count s - 1) used: 0 at step 1 under warmup, then the closed form. The same
    run: validations every ``eval_every`` steps and at the end, checkpoints every
    ``checkpoint_every`` steps and at the end (the last ``keep_checkpoints``), nothing
    "solved" with ``solve_threshold=0`` (off)."""
    steps, warmup = 9, 3
    cfg = tiny(steps=steps, log_every=1, eval_every=4, checkpoint_every=4, keep_checkpoints=2,
               optimizer={"name": "sgd", "learning_rate": 0.05, "schedule": "cosine",
                          "warmup_steps": warmup, "min_lr_ratio": 0.2, "grad_clip": 0.0})
    workdir = tmp_path / "w"
    summary = train.run(cfg, str(workdir), progress=False)
    assert [r["step"] for r in summary["history"] if r["split"] == "validation"] == [4, 8, 9]
    assert sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit()) == [8, 9]
    assert summary["steps_to_solve"] is None and not summary["solved"]
    assert summary["status"] == "completed" and summary["step"] == steps
    # timing.jsonl: seconds since the run started, one line per logged step, increasing
    import json
    timing = [json.loads(ln) for ln in open(workdir / "timing.jsonl")]
    assert [t["step"] for t in timing] == list(range(1, steps + 1))
    elapsed = [t["elapsed_s"] for t in timing]
    assert 0 <= elapsed[0] and elapsed == sorted(elapsed)
    assert elapsed[-1] <= summary["wall_time_s"]
    recs = [r for r in summary["history"] if r["split"] == "train"]
    assert [r["step"] for r in recs] == list(range(1, steps + 1))
    for r in recs:
        want = closed_form("cosine", warmup, r["step"] - 1, lr=0.05, total=steps, ratio=0.2)
        np.testing.assert_allclose(r["learning_rate"], want, rtol=1e-5, atol=1e-12,
                                   err_msg=f"step {r['step']}")
    # warmup from 0: the first update moved nothing, so the rate logged there was used
    init = jax.device_get(train.build(cfg).compiled.init(np.int32(cfg["seed"]))).params
    one = train.run(tiny(**{**cfg, "steps": 1}), None, progress=False)["params"]
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(one)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_params_ema_is_the_documented_average_of_the_updated_parameters():
    """optimizer.ema_decay: ema_t = d_t ema_{t-1} + (1 - d_t) p_t, p_t the parameters after
    update t, d_t = min(decay, (1 + t) / (10 + t)), ema_0 the initial parameters; the
    updates themselves pass unchanged (the same as without the average)."""
    rng = np.random.default_rng(4)
    params = _tree(rng, 1.0)
    grads = [_tree(rng, 1.0) for _ in range(30)]
    decay = 0.9
    tx, _ = optim.make_optimizer(_opt(ema_decay=decay), TOTAL)
    plain = _run(_opt(), params, grads)
    state, p = tx.init(params), params
    ema = _np(params)
    for t, g in enumerate(grads):
        updates, state = tx.update(g, state, p)
        _assert_updates([_np(updates)], [plain[t]], "updates with the average on")
        p = jax.tree.map(lambda a, u: a + u, p, updates)
        d = min(decay, (1 + t) / (10 + t))
        ema = {n: d * ema[n] + (1 - d) * v for n, v in _np(p).items()}
        got = _np(optim.averaged_params(p, state))
        for n in ema:
            np.testing.assert_allclose(got[n], ema[n], rtol=1e-5, atol=1e-6,
                                       err_msg=f"update {t}, leaf {n}")
    assert not np.allclose(got["a"], _np(p)["a"])  # it is an average, not the parameters


def test_ema_off_keeps_the_optimizer_state_it_always_had():
    """ema_decay = 0: the chain and its state are those without the field (old checkpoints
    restore), and averaged_params returns the parameters themselves."""
    params = _tree(np.random.default_rng(5), 1.0)
    with_field, _ = optim.make_optimizer(_opt(name="adam"), TOTAL)
    old = {k: v for k, v in _opt(name="adam").items() if k != "ema_decay"}
    without, _ = optim.make_optimizer({**old, "ema_decay": 0.0}, TOTAL)
    s1, s2 = with_field.init(params), without.init(params)
    assert jax.tree.structure(s1) == jax.tree.structure(s2)
    assert not any(isinstance(x, optim.EmaState) for x in
                   jax.tree.leaves(s1, is_leaf=lambda x: isinstance(x, optim.EmaState)))
    assert optim.averaged_params(params, s1) is params


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_ema_decay_outside_its_range_is_one_line(bad):
    with pytest.raises(ValueError, match=r"^config\.optimizer\.ema_decay=") as e:
        from lstmjax import schema
        schema.resolve_config(tiny(optimizer={"ema_decay": bad}))
    assert "\n" not in str(e.value)


def test_a_run_evaluates_keeps_and_exports_the_average(tmp_path):
    """With ema_decay the periodic validation, best/, the final numbers, summary's params and
    load_params("last") all use the average the optimizer state holds; a resumed run gets
    the same average as an uninterrupted one."""
    from lstmjax import schema
    cfg = tiny(steps=20, eval_every=10, checkpoint_every=10,
               optimizer={"ema_decay": 0.95, "learning_rate": 0.01})
    workdir = tmp_path / "w"
    summary = train.run(cfg, str(workdir), progress=False)
    resolved = schema.resolve_config(cfg)
    last, at = train.load_params(str(workdir), resolved, "last")
    assert at == "last@20"
    for a, b in zip(jax.tree.leaves(last), jax.tree.leaves(summary["params"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the raw parameters of the checkpoint differ from what the run reports
    raw, _ = train._read_params(str(workdir / "checkpoints"), schema.fingerprint(resolved),
                                summary["params"], check_data=False)
    assert not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                   zip(jax.tree.leaves(raw), jax.tree.leaves(summary["params"])))
    best, at_best = train.load_params(str(workdir), resolved, "best")
    assert at_best == f"best@{summary['best']['step']}"
    if summary["best"]["step"] == 20:
        for a, b in zip(jax.tree.leaves(best), jax.tree.leaves(last)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # resume from step 10: the same average at step 20
    again = tmp_path / "again"
    train.run(tiny(**{**cfg, "steps": 10}), str(again), progress=False)
    resumed = train.run(cfg, str(again), progress=False)
    assert resumed["params_sha256"] == summary["params_sha256"]
