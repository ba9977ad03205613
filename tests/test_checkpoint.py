"""Checkpoints: bitwise round trip, key data, corrupt / incompatible checkpoints never overwritten."""

import hashlib
import os

import jax
import numpy as np
import pytest

from lstmjax import checkpoint, train

from train_helpers import tiny


def _snapshot(directory):
    """{relative path: sha256} of every file below ``directory``."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_round_trip_is_bitwise_with_key_data_and_data_state(tmp_path):
    key = jax.random.key(7)
    state = {"step": np.int32(5), "params": [{"w": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)}],
             "rng": np.asarray(jax.random.key_data(key))}
    ck = checkpoint.Checkpointer(str(tmp_path / "c"), {"model": {"h": 4}}, keep=2)
    ck.save(5, state, {"next_index": 5}, extra={"window": {"loss": 0.25}, "window_n": 1})
    restored, data_state, extra = ck.restore(5, checkpoint.abstract_of(state))
    np.testing.assert_array_equal(restored["params"][0]["w"], state["params"][0]["w"])
    assert data_state == {"next_index": 5} and extra["window"] == {"loss": 0.25}
    again = jax.random.wrap_key_data(restored["rng"])
    assert jax.random.key_data(again).tolist() == jax.random.key_data(key).tolist()
    for step in (6, 7):
        ck.save(step, state)
    assert ck.all_steps() == [6, 7]  # keep=2


@pytest.fixture()
def finished_run(tmp_path):
    workdir = str(tmp_path / "run")
    train.run(tiny(steps=20), workdir, progress=False)
    return workdir


def test_incompatible_config_is_a_clear_error_and_nothing_changes(finished_run):
    before = _snapshot(finished_run)
    with pytest.raises(checkpoint.CheckpointError, match=r"model.hidden_size: 8 -> 16"):
        train.run(tiny(steps=30, model={"hidden_size": 16}), finished_run, progress=False)
    assert _snapshot(finished_run) == before


def test_checkpoint_from_other_config_is_refused(finished_run):
    """Even with config.json gone, the checkpoint's own fingerprint is checked."""
    os.remove(os.path.join(finished_run, "config.json"))
    ckpts = os.path.join(finished_run, "checkpoints")
    before = _snapshot(ckpts)
    with pytest.raises(checkpoint.CheckpointError, match=r"written by another config.*seed: 0 -> 3"):
        train.run(tiny(steps=30, seed=3), finished_run, progress=False)
    assert _snapshot(ckpts) == before


@pytest.mark.parametrize("damage", ["truncate", "delete_meta"])
def test_corrupt_checkpoint_is_a_clear_error_and_kept(finished_run, damage):
    ckpts = os.path.join(finished_run, "checkpoints")
    latest = os.path.join(ckpts, str(max(int(d) for d in os.listdir(ckpts) if d.isdigit())))
    if damage == "truncate":  # cut every array file of the state item in half
        for root, _, files in os.walk(os.path.join(latest, "state")):
            for name in files:
                path = os.path.join(root, name)
                size = os.path.getsize(path)
                if size > 64 and "metadata" not in name:
                    with open(path, "r+b") as f:
                        f.truncate(size // 2)
    else:
        os.remove(os.path.join(latest, "meta", "metadata"))
    before = _snapshot(finished_run)
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint .* (unreadable|could not be restored).*untouched"):
        train.run(tiny(steps=30), finished_run, progress=False)
    assert _snapshot(finished_run) == before
