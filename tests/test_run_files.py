"""A run's files are verified: task.json, vocab.json and labels.json are hashed when the
run writes them (run_files.json) and checked on resume, evaluate and predict (one line,
exit 3, naming the file); evaluate and predict refuse overrides that change the model."""

import hashlib
import json
import os

import pytest

from lstmjax import checkpoint, cli, runs, tasks, train
from train_helpers import snapshot


def _config(tmp_path, steps=4, **data):
    path = tmp_path / "texts.csv"
    if not path.exists():
        path.write_text("text,label\n" + "".join(f"word{k} good fine,pos\nword{k} bad awful,neg\n"
                                                  for k in range(20)))
    return {"steps": steps, "batch_size": 4, "log_every": 2, "eval_every": 2, "plot": False,
            "checkpoint_every": 2, "eval_batches": 0,
            "data": {"name": "text_file", "path": str(path), "max_length": 8, "holdout": 0.2,
                     **data},
            "model": {"hidden_size": 4, "embed_dim": 4}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    workdir = str(root / "run")
    train.run(_config(root), workdir, progress=False)
    return root, workdir


def _copy_run(trained, tmp_path):
    import shutil
    root, workdir = trained
    shutil.copytree(workdir, tmp_path / "run")
    return root, str(tmp_path / "run")




def _edit(workdir, name):
    path = os.path.join(workdir, name)
    value = runs.read_json(path)
    if name == train.LABELS:
        value = value + ["extra"]
    elif name == train.VOCAB:
        value["words"] = value["words"][:2] + value["words"][2:][::-1]  # reordered
    else:
        value["max_length"] = value["max_length"] + 4
    with open(path, "w") as f:
        json.dump(value, f)


def _one_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    return lines[-1]


def test_run_files_are_recorded(trained):
    _, workdir = trained
    recorded = runs.read_json(os.path.join(workdir, runs.RUN_FILES))["sha256"]
    assert sorted(recorded) == sorted([train.TASK, train.VOCAB, train.LABELS])
    runs.verify_run_files(workdir)


@pytest.mark.parametrize("name", [train.LABELS, train.VOCAB, train.TASK])
def test_an_edited_run_file_is_refused_by_evaluate_predict_and_resume(trained, tmp_path, name,
                                                                      capsys):
    root, workdir = _copy_run(trained, tmp_path)
    _edit(workdir, name)
    before = snapshot(workdir)
    assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir]) == 3
    line = _one_line(capsys)
    assert os.path.join(workdir, name) in line and "edited or replaced" in line
    assert cli.predict_main(["lstmjax predict", "--workdir", workdir, "--text", "good"]) == 3
    assert name in _one_line(capsys)
    with pytest.raises(runs.RunDirError, match=name):
        train.run(_config(root, steps=6), workdir, progress=False)
    assert snapshot(workdir) == before  # nothing changed, the logs not cut back


def test_a_deleted_run_file_is_named(trained, tmp_path, capsys):
    _, workdir = _copy_run(trained, tmp_path)
    os.remove(os.path.join(workdir, train.LABELS))
    assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir]) == 3
    assert "labels.json is missing" in _one_line(capsys)


def test_resume_refuses_a_vocabulary_that_changed(tmp_path):
    """A vocab_path file reordered between runs: the run's vocabulary would be replaced."""
    vocab = str(tmp_path / "vocab.json")
    words = ["good", "bad", "fine", "awful"] + [f"word{k}" for k in range(20)]
    tasks.Vocabulary([tasks.text.PAD, tasks.text.UNK] + words).save(vocab)
    workdir = str(tmp_path / "run")
    train.run(_config(tmp_path, vocab_path=vocab), workdir, progress=False)
    tasks.Vocabulary([tasks.text.PAD, tasks.text.UNK] + words[::-1]).save(vocab)
    before = snapshot(workdir)
    with pytest.raises((runs.RunDirError, train.ckpt_lib.CheckpointError),
                       match="vocab|data"):
        train.run(_config(tmp_path, steps=6, vocab_path=vocab), workdir, progress=False)
    assert snapshot(workdir) == before


def test_a_run_written_before_a_task_field_existed_still_resumes(trained, tmp_path):
    """TaskSpec gained ``causal`` after runs were committed: their task.json lacks it, and
    a field missing there reads as its default, so they resume (a changed value does not)."""
    root, workdir = _copy_run(trained, tmp_path)
    path = os.path.join(workdir, train.TASK)
    old = runs.read_json(path)
    assert old.pop("causal") is False
    with open(path, "w") as f:
        json.dump(old, f)
    runs.record_run_files(workdir, train.RUN_FILES)  # as that run recorded its own file
    assert train.run(_config(root, steps=6), workdir, progress=False)["step"] == 6
    old["causal"] = True  # a value that differs is still a different task
    with open(path, "w") as f:
        json.dump(old, f)
    runs.record_run_files(workdir, train.RUN_FILES)
    with pytest.raises(runs.RunDirError, match="the data now gives another task"):
        train.run(_config(root, steps=8), workdir, progress=False)


@pytest.mark.parametrize("override", ["--config.model.pooling=mean",
                                      "--config.model.hidden_size=8",
                                      "--config.model.cell=gru"])
def test_overrides_that_change_the_model_are_refused(trained, override, capsys):
    _, workdir = trained
    assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir, override]) == 2
    line = _one_line(capsys)
    assert "would change the trained model" in line and override.split("=")[0][2:] in line
    with pytest.raises(SystemExit) as e:  # predict takes data overrides only
        cli.predict_main(["lstmjax predict", "--workdir", workdir, "--text", "good", override])
    assert e.value.code == 2


def test_execution_overrides_are_accepted(trained, capsys):
    _, workdir = trained
    assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir,
                              "--config.model.unroll=2"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[0])["examples"] > 0


def test_evaluate_names_a_training_file_edited_after_training(trained, tmp_path, capsys):
    root, workdir = _copy_run(trained, tmp_path)
    data_file = tmp_path / "texts.csv"
    original = (root / "texts.csv").read_text()
    data_file.write_text(original)
    config = runs.read_json(os.path.join(workdir, runs.CONFIG))
    assert config["data"]["path"] == str(root / "texts.csv")
    with open(root / "texts.csv", "a") as f:
        f.write("an added row,pos\n")
    try:
        assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir]) == 4
        line = _one_line(capsys)
        assert str(root / "texts.csv") in line and "changed since the run trained on it" in line
        # the same file under another name, on purpose: evaluated
        assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir,
                                  f"--config.data.path={data_file}"]) == 0
    finally:
        (root / "texts.csv").write_text(original)
    assert cli.evaluate_main(["lstmjax evaluate", "--workdir", workdir]) == 0


def test_one_file_digest_for_run_files_data_and_checkpoints(tmp_path):
    """runs, checkpoint and the file tasks share tasks.files.sha256_file (bounded reads)."""
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(3 << 20) + b"tail")  # more than one 1 MiB block
    want = hashlib.sha256(path.read_bytes()).hexdigest()
    assert tasks.files.sha256_file(str(path)) == want
    assert checkpoint.files_fingerprint([str(path)]) == {str(path): "sha256:" + want}
    runs.record_run_files(str(tmp_path), ["blob.bin"])
    assert json.loads((tmp_path / runs.RUN_FILES).read_text())["sha256"] == {"blob.bin": want}
    runs.verify_run_files(str(tmp_path))  # unchanged: passes
