"""The first minutes of a new user (issue 27): a missing label column names the field to
set and leaves no run directory, ``train --help`` lists the config's fields, a typo'd
override reads as one plain line, predict reads another column by the training override."""

import os
import subprocess
import sys

from train_helpers import ROOT, subprocess_env

TEXT = "tests/configs/tiny_text.py"


def lstmjax(*args):
    proc = subprocess.run([sys.executable, "-m", "lstmjax", *args], cwd=ROOT,
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_missing_label_column_names_the_field_and_creates_no_run_dir(tmp_path):
    (tmp_path / "d.csv").write_text("text,category\n" + "good,pos\nbad,neg\n" * 20)
    workdir = tmp_path / "runs" / "first"
    code, _, err = lstmjax("train", "--config", TEXT, "--workdir", str(workdir),
                           f"--config.data.path={tmp_path / 'd.csv'}")
    assert code == 4, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "missing column 'label' (columns: text, category)" in line
    assert "--config.data.label_column=" in line
    assert not workdir.exists() and not workdir.parent.exists()


def test_train_help_lists_the_config_fields():
    code, out, err = lstmjax("train", "--help")
    assert code == 0, err
    for text in ("--workdir", "--config.<field>=<value>", "steps=2000", "patience=0",
                 "model.<field>: cell, gates, hidden_size", "optimizer.<field>",
                 "--config.data.label_column", "docs/training.md", "--helpfull"):
        assert text in out, text
    assert "alsologtostderr" not in out and len(out.splitlines()) < 60


def test_a_typo_in_an_override_is_one_plain_line(tmp_path):
    code, _, err = lstmjax("train", "--config", TEXT, "--workdir", str(tmp_path / "w"),
                           "--config.model.hiden_size=3")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "\\n" not in line and "\\'" not in line
    assert 'Did you mean "hidden_size"' in line
    assert not (tmp_path / "w").exists()
