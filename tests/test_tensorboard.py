"""TensorBoard event files in the run directory (tensorboardX, no TensorFlow): read back,
they hold every metrics record's numbers at their steps and the reported test numbers."""

import glob
import os
import struct

import pytest

from lstmjax import runs, train

from train_helpers import tiny

event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")


def read_scalars(directory: str) -> dict:
    """``{tag: {step: value}}`` of every event file under ``directory`` (the TFRecord
    framing: length u64, its crc u32, the Event proto, its crc u32)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[pos + 12:pos + 12 + n])
            pos += 12 + n + 4
            for value in event.summary.value:
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def test_events_hold_the_records(tmp_path):
    workdir = str(tmp_path / "run")
    s = train.run(tiny(steps=20, eval_every=10, log_every=5), workdir, progress=False)
    scalars = read_scalars(os.path.join(workdir, runs.TENSORBOARD))
    records = runs.read_jsonl(os.path.join(workdir, runs.METRICS))
    for rec in records:
        for key, value in rec.items():
            if isinstance(value, float):
                assert scalars[f"{rec['split']}/{key}"][rec["step"]] == pytest.approx(
                    value, rel=1e-6, abs=1e-7)
    assert sorted(scalars["train/loss"]) == [5, 10, 15, 20]
    assert sorted(scalars["validation/accuracy"]) == [10, 20]
    assert scalars["test/accuracy"][20] == pytest.approx(s["test"]["accuracy"], rel=1e-6)
    assert scalars["test_at_best/loss"][s["best"]["step"]] == pytest.approx(
        s["test_at_best"]["loss"], rel=1e-6)


def test_tensorboard_false_writes_none(tmp_path):
    workdir = str(tmp_path / "run")
    train.run(tiny(steps=5, eval_every=0, tensorboard=False), workdir, progress=False)
    assert not os.path.exists(os.path.join(workdir, runs.TENSORBOARD))


def test_one_line_per_validation_even_without_a_bar(tmp_path, capsys):
    train.run(tiny(steps=20, eval_every=10, eval_batches=0), str(tmp_path / "run"),
              progress=False, log_evals=True)
    lines = [l for l in capsys.readouterr().out.splitlines() if " validation (" in l]
    assert [l.split(" validation")[0] for l in lines] == ["step 10/20", "step 20/20"]
    assert "(32 examples): accuracy=" in lines[0] and "| best accuracy=" in lines[0]


def test_the_eta_forgets_the_compile():
    import io
    import time

    bar = train._progress_bar(True, 100, 0, "t")
    bar.fp = io.StringIO()
    time.sleep(0.3)  # a compile
    train._restart_clock(bar, 1)
    for _ in range(3):
        bar.update(1)
    info = bar.format_dict
    assert info["n"] == 4 and info["elapsed"] < 0.2 and info["initial"] == 1
    bar.close()
