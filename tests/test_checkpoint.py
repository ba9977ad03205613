"""Checkpoints: bitwise round trip, key data, corrupt / incompatible checkpoints never overwritten."""

import base64
import json
import os
import pickle  # only to build the payload a malicious checkpoint would carry
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from lstmjax import checkpoint, train

from train_helpers import ROOT, snapshot as _snapshot, tiny

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import probes  # noqa: E402  (rewrite_latest_checkpoint)


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
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint .* (unreadable|could not be restored|is missing|differs from the file "
                                                                 r"that was saved).*untouched"):
        train.run(tiny(steps=30), finished_run, progress=False)
    assert _snapshot(finished_run) == before


# ----------------------------------------------------------------------------- hardening

STATE = {"step": np.int32(6),
         "params": {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, np.float32)}}


def _saved(tmp_path, data_state=None, **kwargs):
    ck = checkpoint.Checkpointer(str(tmp_path / "c"), {"model": {"h": 4}}, keep=2, **kwargs)
    ck.save(6, STATE, {"next_index": 6} if data_state is None else data_state)
    return ck, os.path.join(ck.directory, "6")


def _edit_meta(step_dir, edit, *, relist=True):
    """Rewrite ``meta/metadata`` with ``edit(meta)``; ``relist``: also rewrite the file list,
    as someone tampering on purpose would (else the list itself refuses the checkpoint)."""
    path = os.path.join(step_dir, "meta", "metadata")
    with open(path) as f:
        meta = json.load(f)
    edit(meta)
    with open(path, "w") as f:
        json.dump(meta, f)
    if relist:
        checkpoint._write_files_list(step_dir)


class _Payload:
    """Unpickling this creates ``marker`` (as a planted ``os.system`` call would run)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("where", ["data_state", "top_level"])
@pytest.mark.parametrize("relist", [True, False])
def test_planted_pickle_is_refused_and_never_executed(tmp_path, where, relist):
    ck, step_dir = _saved(tmp_path)
    marker = str(tmp_path / "PWNED")
    payload = base64.b64encode(pickle.dumps(_Payload(marker))).decode()

    def plant(meta):
        if where == "data_state":
            meta["data_state"] = {"pickle_b64": payload}
        else:
            meta["pickle_b64"] = payload
    _edit_meta(step_dir, plant, relist=relist)
    before = _snapshot(step_dir)
    expected = "pickle_b64" if relist else r"meta/metadata differs from the file that was saved"
    with pytest.raises(checkpoint.CheckpointError, match=expected) as err:
        ck.restore(6, checkpoint.abstract_of(STATE), batches_consumed=6)
    assert step_dir in str(err.value) and "\n" not in str(err.value)
    assert not os.path.exists(marker)
    assert _snapshot(step_dir) == before
    ck.close()


def test_no_pickle_in_the_package():
    root = os.path.dirname(checkpoint.__file__)
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name)) as f:
                    for line in f:
                        code = line.split("#")[0]
                        assert not re.search(r"\bimport pickle\b|\bpickle\.(loads?|dumps?)\b|"
                                             r"\bfrom pickle\b|cloudpickle|dill", code), (name, line)


def test_bytes_data_state_round_trips_as_base64_json(tmp_path):
    ck, step_dir = _saved(tmp_path, data_state=b"\x00grain\xffstate")
    with open(os.path.join(step_dir, "meta", "metadata")) as f:
        assert "bytes_b64" in json.load(f)["data_state"]
    _, data_state, _ = ck.restore(6, checkpoint.abstract_of(STATE))
    assert data_state == b"\x00grain\xffstate"
    with pytest.raises(TypeError, match="data_state must be a JSON-able dict or bytes"):
        ck.save(8, STATE, {"it": object()})
    ck.close()


@pytest.mark.parametrize("keep", [0, -1, True, 2.5, "3", None])
def test_keep_must_be_a_positive_int(tmp_path, keep):
    with pytest.raises(ValueError, match=r"config.keep_checkpoints=.* accepted: an int >= 1"):
        checkpoint.Checkpointer(str(tmp_path / "c"), {}, keep=keep)
    assert not os.path.exists(tmp_path / "c")


def test_data_position_must_agree_with_the_step(tmp_path):
    ck, step_dir = _saved(tmp_path)
    restored, data_state, _ = ck.restore(6, checkpoint.abstract_of(STATE), batches_consumed=6)
    assert data_state == {"next_index": 6}
    _edit_meta(step_dir, lambda m: m["data_state"]["json"].update(next_index=0))
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"checkpoint .*/6: data_state next_index=0 disagrees with step 6"):
        ck.restore(6, checkpoint.abstract_of(STATE), batches_consumed=6)
    _edit_meta(step_dir, lambda m: m.update(data_state={"json": {"pos": 6}}))
    with pytest.raises(checkpoint.CheckpointError, match=r"has no integer next_index"):
        ck.restore(6, checkpoint.abstract_of(STATE), batches_consumed=6)
    ck.close()


def test_changed_data_files_are_refused_naming_the_file(tmp_path):
    files = [tmp_path / "train.npz", tmp_path / "test.npz"]
    for p in files:
        p.write_bytes(b"original " + p.name.encode())
    fp = checkpoint.files_fingerprint(str(p) for p in files)
    ck, step_dir = _saved(tmp_path, data_fingerprint=fp)
    ck.close()
    again = checkpoint.Checkpointer(str(tmp_path / "c"), {"model": {"h": 4}},
                                    data_fingerprint=checkpoint.files_fingerprint(str(p) for p in files))
    again.restore(6, checkpoint.abstract_of(STATE), batches_consumed=6)  # same data: fine
    files[0].write_bytes(b"same size, other")
    now = checkpoint.files_fingerprint(str(p) for p in files)
    changed = checkpoint.Checkpointer(str(tmp_path / "c"), {"model": {"h": 4}}, data_fingerprint=now)
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"written for other data; changed .*train.npz: 'sha256:[0-9a-f]+' -> "
                             r"'sha256:[0-9a-f]+'") as err:
        changed.restore(6, checkpoint.abstract_of(STATE))
    assert "test.npz" not in str(err.value) and "\n" not in str(err.value)
    again.close()
    changed.close()


def test_a_checkpoint_without_data_fingerprint(tmp_path):
    ck, _ = _saved(tmp_path)  # as older versions wrote them
    ck.close()
    with checkpoint.Checkpointer(str(tmp_path / "c"), {"model": {"h": 4}}, data_fingerprint={}) as ck2:
        ck2.restore(6, checkpoint.abstract_of(STATE), batches_consumed=6)  # nothing to check
    with checkpoint.Checkpointer(str(tmp_path / "c"), {"model": {"h": 4}},
                                 data_fingerprint={"name": "adding"}) as ck3:
        with pytest.raises(checkpoint.CheckpointError, match=r"records no data fingerprint"):
            ck3.restore(6, checkpoint.abstract_of(STATE))


@pytest.mark.parametrize("damage", ["truncate", "delete", "flip"])
def test_altered_files_are_refused_before_orbax_reads_them(tmp_path, damage):
    ck, step_dir = _saved(tmp_path)
    victims = [os.path.join(r, n) for r, _, fs in os.walk(os.path.join(step_dir, "state"))
               for n in fs if os.sep + "d" + os.sep in os.path.join(r, n)]
    victim = sorted(victims)[0]
    if damage == "truncate":
        with open(victim, "r+b") as f:
            f.truncate(os.path.getsize(victim) // 2)
    elif damage == "delete":
        os.remove(victim)
    else:
        with open(victim, "r+b") as f:
            f.seek(os.path.getsize(victim) - 1)
            last = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([last[0] ^ 1]))
    rel = os.path.relpath(victim, step_dir)
    with pytest.raises(checkpoint.CheckpointError,
                       match=rf"file {re.escape(rel)} (is missing|differs from the file that was saved)"):
        ck.restore(6, checkpoint.abstract_of(STATE))
    ck.close()


def test_close_is_idempotent_and_a_context_manager(tmp_path):
    with checkpoint.Checkpointer(str(tmp_path / "c"), {}) as ck:
        ck.save(1, STATE)
    ck.close()
    assert os.path.exists(os.path.join(ck.directory, "1", checkpoint.FILES))


_RESTORE_CORRUPT = r"""
import sys
import numpy as np
from lstmjax import checkpoint
state = {"step": np.int32(6), "params": {f"w{i}": np.full((8, 8), i, np.float32) for i in range(40)}}
ck = checkpoint.Checkpointer(sys.argv[1], {"a": 1})
try:
    ck.restore(6, checkpoint.abstract_of(state))
except checkpoint.CheckpointError as e:
    print("error:", e, file=sys.stderr)
    ck.close()
    sys.exit(3)
"""


@pytest.mark.slow
@pytest.mark.parametrize("with_list", [True, False])
def test_corrupt_checkpoint_exits_with_one_line_and_no_event_loop_traceback(tmp_path, with_list):
    """Issue 14.17: 3 of 5 such runs also printed 'RuntimeError: Event loop is closed'.

    Without a file list (older checkpoints) orbax itself meets the truncated arrays, and
    its abandoned reads call back into its closed event loop.
    """
    state = {"step": np.int32(6), "params": {f"w{i}": np.full((8, 8), i, np.float32) for i in range(40)}}
    directory = str(tmp_path / "c")
    with checkpoint.Checkpointer(directory, {"a": 1}) as ck:
        ck.save(6, state)
    step_dir = os.path.join(directory, "6")
    if not with_list:
        os.remove(os.path.join(step_dir, checkpoint.FILES))
    for root, _, files in os.walk(os.path.join(step_dir, "state")):
        for name in files:
            if os.sep + "d" in root[len(step_dir):]:
                path = os.path.join(root, name)
                with open(path, "r+b") as f:
                    f.truncate(os.path.getsize(path) // 2)
    script = str(tmp_path / "restore.py")
    with open(script, "w") as f:
        f.write(_RESTORE_CORRUPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, script, directory], stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT) for _ in range(5)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 3, err
        assert "Event loop is closed" not in err and "Traceback" not in err, err
        assert err.count("\n") == 1 and f"checkpoint {step_dir}" in err



@pytest.mark.parametrize("part", ["params", "opt_state"])
def test_a_checkpoint_stored_in_another_dtype_is_refused_not_cast(finished_run, part):
    """orbax casts to the target dtype on restore: a float16 checkpoint in a float32 run
    came back as float32 without a word (issue 28). Resume and load_params refuse it."""
    def to_half(state):
        first = [True]

        def leaf(a):
            if a.dtype == np.float32 and first[0]:
                first[0] = False
                return a.astype(np.float16)
            return a
        state[part] = jax.tree.map(leaf, state[part])
        assert not first[0], f"no float32 array in {part}"
        return state
    probes.rewrite_latest_checkpoint(finished_run, to_half)
    before = _snapshot(finished_run)
    with pytest.raises(checkpoint.CheckpointError,
                       match=rf"\['{part}'\].* is stored as float16, this run expects float32"):
        train.run(tiny(steps=30), finished_run, progress=False)
    if part == "params":
        with open(os.path.join(finished_run, "config.json")) as f:
            config = json.load(f)
        with pytest.raises(checkpoint.CheckpointError, match="stored as float16"):
            train.load_params(finished_run, config, which="last")
    assert _snapshot(finished_run) == before


def test_an_unchanged_rewrite_still_resumes(finished_run):
    """The control for the test above: the same rewrite without a dtype change resumes."""
    probes.rewrite_latest_checkpoint(finished_run, lambda state: state)
    train.run(tiny(steps=30), finished_run, progress=False)
