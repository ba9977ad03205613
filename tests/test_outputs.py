"""``evaluate --output`` / ``predict --output`` never replace a run's records or the file the
command reads; outputs are written to a temporary file and renamed (never half a file)."""

import json
import os

import numpy as np
import pytest

from lstmjax import cli, runs, train

from train_helpers import tiny, snapshot


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run") / "w")
    train.run(tiny(steps=10, eval_every=5, checkpoint_every=5), workdir, progress=False)
    return workdir




def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("name", [runs.METRICS, runs.SUMMARY, runs.CONFIG, runs.TIMING,
                                  train.TASK, "metrics.jsonl.before-resume-5",
                                  os.path.join("checkpoints", "10", "x.json")])
def test_evaluate_output_onto_a_record_is_refused(run_dir, name, capsys):
    before = snapshot(run_dir)
    code = cli.evaluate_main(["lstmjax evaluate", "--workdir", run_dir,
                              "--output", os.path.join(run_dir, name)])
    assert code == 2
    line = _one_line(capsys)
    assert f"is a record of the run directory {run_dir}" in line and "nothing was written" in line
    assert snapshot(run_dir) == before


def test_record_through_a_symlink_or_another_spelling(run_dir, tmp_path):
    link = tmp_path / "m.jsonl"
    os.symlink(os.path.join(run_dir, runs.METRICS), link)
    assert runs.is_record(str(link)) == run_dir
    odd = os.path.join(run_dir, "checkpoints", "..", runs.SUMMARY)
    assert runs.is_record(odd) == run_dir
    assert runs.is_record(os.path.join(run_dir, "eval-test.json")) is None  # a new name is fine
    assert runs.is_record(str(tmp_path / runs.METRICS)) is None  # not in a run directory


def test_evaluate_output_to_a_new_file_is_written(run_dir, capsys):
    out = os.path.join(run_dir, "eval-test.json")
    assert cli.evaluate_main(["lstmjax evaluate", "--workdir", run_dir, "--output", out]) == 0
    printed = capsys.readouterr().out.strip()
    with open(out) as f:
        assert json.loads(f.read()) == json.loads(printed)
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp")]


def test_evaluate_output_onto_its_data_file_is_refused(tmp_path):
    """evaluate reads the files of the run's data config (``{split}`` patterns expanded)."""
    data = tmp_path / "test.csv"
    data.write_text("text,label\nhello,pos\n")
    reads = cli._data_files({"name": "text_file", "path": str(tmp_path / "{split}.csv")})
    with pytest.raises(cli.UsageError, match="is a file this command reads"):
        cli.check_output(str(data), reads)
    cli.check_output(str(tmp_path / "eval.json"), reads)  # another file is fine
    assert data.read_text() == "text,label\nhello,pos\n"


def test_predict_output_onto_its_input_is_refused(run_dir, tmp_path, capsys):
    x = tmp_path / "in.npz"
    np.savez(x, x=np.zeros((2, 3, 2), np.float32))
    before = x.read_bytes()
    for spelling in (str(x), os.path.join(str(tmp_path), ".", "in.npz")):
        code = cli.predict_main(["lstmjax predict", "--workdir", run_dir, "--input", str(x),
                                 "--output", spelling])
        assert code == 2
        assert "is a file this command reads" in _one_line(capsys)
    assert x.read_bytes() == before
    code = cli.predict_main(["lstmjax predict", "--workdir", run_dir, "--input", str(x),
                             "--output", os.path.join(run_dir, train.LABELS)])
    assert code == 2 and "is a record of the run directory" in _one_line(capsys)


def test_outputs_are_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "preds.csv")
    cli._write([{"label": "a", "p_a": 1.0}], path)
    with open(path, newline="") as f:
        assert f.read() == "label,p_a\r\na,1.0\r\n"

    def fail(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        cli._write([{"label": "b", "p_a": 0.0}], path)
    with open(path, newline="") as f:
        assert f.read() == "label,p_a\r\na,1.0\r\n"  # the old file, whole
    assert os.listdir(tmp_path) == ["preds.csv"]  # no temporary file left behind


def test_a_config_json_alone_does_not_make_a_run_directory(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert runs.is_record(str(tmp_path / runs.METRICS)) is None  # another tool's folder
    (tmp_path / runs.SUMMARY).write_text("{}")
    assert runs.is_record(str(tmp_path / runs.METRICS)) == str(tmp_path)
