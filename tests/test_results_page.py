"""docs/results.md's block and the README's headline bullets are generated from the
committed records, not typed."""

import json

from experiments import headlines, results_page


def test_results_page_and_readme_match_the_committed_records():
    assert results_page.main(["--check"]) == 0, (
        "docs/results.md or README.md is out of date: run `python -m experiments.results_page`")


def test_check_fails_on_a_hand_edited_readme_and_the_rewrite_restores_it(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{headlines.BEGIN}\n* **Gap sweep**: 99.9%\n{headlines.END}\n")
    page = tmp_path / "results.md"
    page.write_text(f"{results_page.BEGIN}\n{results_page.END}\n")
    args = ["--readme", str(readme), "--page", str(page)]
    assert results_page.main(args + ["--check"]) == 1
    assert results_page.main(args) == 0
    assert results_page.main(args + ["--check"]) == 0
    text = readme.read_text()
    assert "99.9%" not in text and text.startswith("# x\n\n") and "**Speed**" in text


def test_summary_takes_header_and_first_table(tmp_path):
    report = tmp_path / "x.md"
    report.write_text("# x: quick mode\n\n- command: `python -m x`\n- wall time: 1 min\n"
                      "- other: no\n\n## First\n\nWhole test split (64 examples).\n\n"
                      "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                      "## Second\n\n| c |\n|---|\n| 3 |\n")
    text = results_page.summarize(str(report))
    assert "#### x: quick mode" in text and "- command: `python -m x`" in text
    assert "- other" not in text and "**First**" in text and "| 1 | 2 |" in text
    assert "Whole test split (64 examples)." in text
    assert "Second" not in text and "| 3 |" not in text


def test_bench_bullet_computes_the_ratio_ranges(tmp_path):
    def row(mode, anchor, fast=None, **shape):
        r = {"mode": mode, "speedup_vs_faster_anchor": anchor, "B": 64, "T": 784, "D": 1,
             "H": 128, **shape}
        r["speedup_vs"] = {} if fast is None else {"lstmjax-fast": fast}
        return r

    result = {"backend": "cpu", "cpu": "Xeon [avx2]",
              "science": [row("fwdbwd", 2.5, 4.5), row("fwdbwd", 3.0, 5.5, T=1000, D=8, H=64),
                          row("fwd", 9.0, 9.0)],
              "lstm": [row("fwdbwd", 0.8), row("fwdbwd", 1.25), row("fwd", 3.0)],
              "gru": [row("fwdbwd", 2.2)],
              "train": [{"steps_per_s": 1.0}, {"steps_per_s": 4.0, "speedup": 4.0}]}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench.json").write_text(json.dumps(result))
    text = headlines.bench(str(tmp_path))
    assert "(64, 784, 1, 128), (64, 1000, 8, 64) 2.50-3.00x the faster of Flax" in text
    assert "4.50-5.50x the XLA fast driver" in text
    assert "at the 2 anchor shapes and directions 0.80-1.25x the faster anchor" in text
    assert "the GRU 2.20x" in text and "4.00 vs 1.00 steps/s (4.0x)" in text
    assert "Xeon [avx2]" in text


def _pixel_run(folder, name, *, step, budget, accuracy, permuted=False, at_best=None):
    run = folder / "pixel_mnist" / name
    run.mkdir(parents=True)
    status = "completed" if step == budget else "interrupted"
    test = {"split": "test", "examples": 10000, "step": step, "accuracy": accuracy}
    best = {} if at_best is None else {"test_at_best": dict(test, step=at_best[0],
                                                             accuracy=at_best[1])}
    (run / "summary.json").write_text(json.dumps(
        {"status": status, "step": step, **best,
         **({"test": test} if status == "completed" else {})}))
    path = f"data/mnist_{'permuted' if permuted else 'pixels'}/{{split}}.npz"
    (run / "config.json").write_text(json.dumps(
        {"steps": budget, "data": {"path": path}, "model": {"cell": "lstm"}}))
    if status != "completed":
        (run / "evaluation.json").write_text(json.dumps(dict(test, params=f"last@{step}")))


def test_pixel_bullet_takes_the_furthest_trained_run_per_variant_and_model(tmp_path):
    _pixel_run(tmp_path, "old", step=7000, budget=20000, accuracy=0.88)
    _pixel_run(tmp_path, "rerun", step=3000, budget=20000, accuracy=0.69)
    _pixel_run(tmp_path, "perm", step=20000, budget=20000, accuracy=0.9, permuted=True)
    text = headlines.pixel_mnist(str(tmp_path))
    assert "else the run trained furthest, of the 3 runs" in text
    # hidden 64 without chrono init is none of pixel_mnist.MODELS: named by cell and size
    assert ("sequential lstm 64x1 (earlier size) on `mnist_pixels` 88.00% (latest "
            "checkpoint, unfinished: 7,000 of 20,000 steps) [`old`]") in text
    assert ("permuted lstm 64x1 (earlier size) on `mnist_permuted` 90.00% (n=1) (1 of 1 "
            "seeds finished)") in text
    assert "69.00%" not in text  # the shorter run of the same seed


def test_pixel_bullet_reports_test_at_the_best_validation_where_kept(tmp_path):
    """The number is the test split at the best periodic validation's parameters (the
    selection is on validation), not the last step's, and the bullet names which."""
    _pixel_run(tmp_path, "done", step=20000, budget=20000, accuracy=0.9, at_best=(18000, 0.91))
    text = headlines.pixel_mnist(str(tmp_path))
    assert ("sequential lstm 64x1 (earlier size) on `mnist_pixels` 91.00% (n=1) (1 of 1 "
            "seeds finished)") in text
    assert "90.00%" not in text
    assert "rerun" not in text and "69.00%" not in text
