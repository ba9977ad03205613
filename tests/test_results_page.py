"""docs/results.md's block of committed results is generated from the reports, not typed."""

from experiments import results_page


def test_results_page_matches_the_committed_reports():
    assert results_page.main(["--check"]) == 0, (
        "docs/results.md is out of date: run `python -m experiments.results_page`")


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
