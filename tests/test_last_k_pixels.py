"""experiments/last_k_pixels.py (a linear classifier on the last K pixels) and the pixel
report's section built from its record: a tiny synthetic set, no MNIST files."""

import json
import os

import numpy as np

from experiments import last_k_pixels, pixel_mnist_report

T, SIGNAL = 40, 8  # the label is written, weakly, into each of the last SIGNAL steps


def _write(folder, rng, sizes=(200, 100, 200)):
    """Binary labels; the last SIGNAL steps carry +-0.7 plus unit noise, the rest noise
    only. One step gives about 76% accuracy, all SIGNAL steps together about 97%."""
    os.makedirs(folder)
    for split, n in zip(last_k_pixels.SPLITS, sizes):
        y = rng.integers(0, 2, n).astype(np.int32)
        x = rng.normal(size=(n, T, 1)).astype(np.float32)
        x[:, -SIGNAL:, 0] += 0.7 * (2 * y[:, None] - 1)
        np.savez(os.path.join(folder, f"{split}.npz"), x=x, y=y)


def test_tiny_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "seq", rng)
    _write(tmp_path / "perm", rng)
    out = tmp_path / "last_k"
    ks = (1, 2, 4, 8, T)
    path = last_k_pixels.main(["--data", f"sequential={tmp_path / 'seq'}",
                               "--data", f"permuted={tmp_path / 'perm'}", "--out", str(out),
                               "--ks", ",".join(map(str, ks)), "--tiny"])
    rec = json.load(open(path))
    assert os.path.getsize(out / "last_k.png") > 0
    assert rec["command"].startswith("python -m experiments.last_k_pixels")
    assert rec["wall_time_s"] > 0 and rec["hardware"]["cpu_count"] and "git_commit" in rec
    assert rec["settings"]["l2_grid"] == list(last_k_pixels.TINY["l2"])
    assert rec["models"] == []  # no --results
    for order in ("sequential", "permuted"):
        curve = pixel_mnist_report.last_k_curve(rec, order)
        assert [r["k"] for r in curve] == list(ks)
        for r in curve:
            assert (r["train_examples"], r["validation_examples"], r["test_examples"]) == \
                (200, 100, 200)
            assert r["l2"] in last_k_pixels.TINY["l2"] and len(r["grid"]) == 2
            assert r["stopped_by"] == ("tolerance" if r["iterations"] < 50 else "iteration cap")
            # the chosen strength is the validation argmax of the grid
            assert r["validation_accuracy"] == max(g["validation_accuracy"] for g in r["grid"])
        acc = {r["k"]: r["test_accuracy"] for r in curve}
        # as constructed: more of the signal steps, more accuracy
        assert acc[1] + 0.1 < acc[8], acc
        assert acc[1] <= acc[4] + 0.02 and acc[4] <= acc[8] + 0.02, acc
        assert acc[8] > 0.9, acc
    # deterministic: the same fit twice gives the same numbers
    again = last_k_pixels.last_k(last_k_pixels.load(str(tmp_path / "seq")), 4,
                                 last_k_pixels.TINY["l2"], last_k_pixels.TINY["max_iter"],
                                 last_k_pixels.TOL)
    first = pixel_mnist_report.last_k_curve(rec, "sequential")[2]
    assert again["test_accuracy"] == first["test_accuracy"] and again["l2"] == first["l2"]


def _record():
    """A hand-made last_k.json: sequential rises slowly, permuted fast."""
    def r(order, k, acc):
        return dict(order=order, k=k, test_accuracy=acc, l2=1e-3,
                    iterations=200 if k == 100 else 10, stopped_by="tolerance", train_examples=50000, validation_examples=10000,
                    test_examples=10000)
    seq = [r("sequential", k, a) for k, a in ((25, 0.12), (100, 0.35), (300, 0.80),
                                               (784, 0.92))]
    perm = [r("permuted", k, a) for k, a in ((25, 0.50), (100, 0.83), (300, 0.90),
                                              (784, 0.92))]
    return dict(results=perm + seq, command="python -m experiments.last_k_pixels ...",
                hardware=dict(cpu="cpu", cpu_count=2), wall_time_s=60.0, git_commit="abc",
                started="2026-12-07T13:00:00+00:00",
                settings=dict(l2_grid=[1e-2, 1e-3], solver="optax.lbfgs", max_iter=200,
                              tol=1e-4))


def _model(variant, cell, acc):
    return dict(variant=variant, cell=cell, model=cell, name=f"{variant}_{cell}", accuracy=acc,
                step=5000, finished=True, split="mnist_pixels_60k")


def test_sentence_rule():
    rec = _record()
    seq = pixel_mnist_report.last_k_curve(rec, "sequential")
    assert [r["k"] for r in seq] == [25, 100, 300, 784]
    assert pixel_mnist_report.smallest_k(seq, 0.80)["k"] == 300  # reaching counts (>=)
    assert pixel_mnist_report.smallest_k(seq, 0.1009)["k"] == 25
    assert pixel_mnist_report.smallest_k(seq, 0.9521) is None
    models = [_model("sequential", "lstm", 0.9521), _model("sequential", "rnn", 0.1009),
              _model("permuted", "rnn", 0.8392)]
    s = pixel_mnist_report.last_k_sentence(rec, "sequential", models)
    assert s.startswith("**Sequential order** (test split, 10,000 images)")
    assert "no K up to 784 reaches the lstm's 95.21%" in s
    assert "the rnn's 10.09% (sequential_rnn, step 5,000) is reached from K = 25 (12.00%)" in s
    p = pixel_mnist_report.last_k_sentence(rec, "permuted", models)
    assert "the rnn's 83.92% (permuted_rnn, step 5,000) is reached from K = 300 (90.00%)" in p
    assert pixel_mnist_report.last_k_sentence(rec, "permuted", []) == ""


def test_report_section_reads_the_record(tmp_path):
    rec = _record()
    rows = [dict(_model("sequential", "lstm", 0.9521), test="", test_at_best="",
                 status="completed", steps="5,000 / 5,000", published="")]
    os.makedirs(tmp_path / "last_k")
    lines = pixel_mnist_report.last_k_section(rec, rows, str(tmp_path))
    text = "\n".join(lines)
    assert "| 300 | 80.00% (l2 0.001, 10 it) | 90.00% (l2 0.001, 10 it) |" in text
    assert "| 100 | 35.00% (l2 0.001, 200 it, cap) | 83.00% (l2 0.001, 200 it, cap) |" in text
    assert "no K up to 784 reaches the lstm's 95.21%" in text
    assert os.path.getsize(tmp_path / "last_k" / "last_k.png") > 0
    # results_page takes "- command:" lines as the report's own header: not this section's
    assert not any(line.startswith("- command:") for line in lines)
