"""Bad input at the run level: each row is a config, a data file or a damaged run
directory as a user or a disk would produce it. Every row gets the documented exit code
(lstmjax.cli.EXIT_CODES), a one-line message naming what to fix, and leaves the run
directory exactly as it was. (Layer tables: tests/test_api_bad_inputs.py for the API,
tests/test_data_bad_inputs.py for data files; the command line itself:
tests/test_cli_contract.py.)"""

import copy
import json
import os
import shutil

import numpy as np
import pytest

from lstmjax import checkpoint, cli, runs, train

from train_helpers import tiny, snapshot

BASE = tiny(steps=6, log_every=3, eval_every=3, eval_batches=1, checkpoint_every=2)




def run_cli(config, workdir, capsys):
    """The CLI's train path in-process: exit code and the one stderr line."""
    code = cli.guarded(lambda: cli._train(config, workdir, False, True, None), False)
    err = capsys.readouterr().err.strip().splitlines()
    return code, (err[-1] if err else "")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run: every row that damages a run dir starts from a copy."""
    workdir = str(tmp_path_factory.mktemp("finished") / "run")
    train.run(BASE, workdir, progress=False)
    return workdir


def with_(**changes):
    cfg = copy.deepcopy(BASE)
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


CONFIG_ROWS = [
    (with_(keep_checkpoints=0), "keep_checkpoints=0 must be >= 1"),
    (with_(keep_checkpoints=-1), "keep_checkpoints=-1 must be >= 1"),
    (with_(eval_every=-1), "eval_every=-1 must be >= 0"),
    (with_(batch_size=0), "batch_size=0 must be >= 1"),
    (with_(seed=-1), "seed=-1"),
    (with_(steps=2.5), "steps=2.5 must be an int"),
    (with_(parallel="mpi"), "parallel='mpi' is not accepted"),
    (with_(pad_to="longest"), "pad_to='longest' is not accepted"),
    (with_(solve_metric="f1"), "solve_metric='f1' is not accepted"),
    (with_(optimizer__learning_rate=float("nan")), "learning_rate=nan must be a finite number"),
    (with_(optimizer__name="adagrad"), "optimizer.name='adagrad' is not accepted"),
    (with_(optimizer__schedule="poly"), "schedule='poly' is not accepted"),
    (with_(optimizer__grad_clip=-1.0), "grad_clip=-1.0 must be >= 0"),
    (with_(model__forget_bias=float("nan")), "forget_bias=nan must be a finite number"),
    (with_(model__cell="gru", model__gates="nog"), "gates"),
    (with_(model__cell="rnn", model__forget_bias=2.0), "forget_bias"),
    (with_(model__chrono_max_len=-3.0), "chrono_max_len=-3.0 must be >= 0"),
    (with_(model__form="magic"), "form='magic'"),
    (with_(model__implementation="cuda"), "implementation='cuda'"),
    (with_(model__cell="lstmx"), "cell='lstmx'"),
    (with_(model__pooling="maximum"), "pooling='maximum' is not accepted"),
    (with_(model__dropout=1.0), "dropout"),
    (with_(model__widht=3), "model.widht is not a known field"),
    (with_(distributed="on"), "config.distributed must be a section"),
    (with_(distributed__heartbeat_timeout_s=0), "heartbeat_timeout_s=0 must be >= 1"),
    (with_(data__name="mnits"), "data.name='mnits' is not accepted"),
    (with_(data__lenght=20), "data.lenght is not a field of task 'adding'"),
    (with_(data__length=-5), "length"),
    (with_(data__variant="x"), "variant='x'"),
]


@pytest.mark.parametrize("config,fragment", CONFIG_ROWS)
def test_bad_config_is_exit_2_and_the_run_dir_is_untouched(finished, tmp_path, capsys,
                                                           config, fragment):
    work = str(tmp_path / "run")
    shutil.copytree(finished, work)
    before = snapshot(work)
    code, line = run_cli(config, work, capsys)
    assert code == 2, line
    assert line.startswith("error: ") and fragment in line, line
    assert snapshot(work) == before


def _write_csv(path, text, encoding="utf-8"):
    with open(path, "wb") as f:
        f.write(text.encode(encoding))


def _text_cfg(path, **fields):
    return with_(data={"name": "text_file", "path": str(path), "max_length": 8, **fields},
                 model__embed_dim=4, pad_to="batch")


def _npz_cfg(path):
    return with_(data={"name": "npz_file", "path": str(path)})


GOOD_ROWS = "".join(f"good fine {k},pos\nbad poor {k},neg\n" for k in range(20))


def _data_rows(tmp):
    x = np.zeros((40, 5, 2), np.float32)
    y_nan = np.where(np.arange(40) == 3, np.nan, 1.0).astype(np.float32)
    np.savez(tmp / "nan_y.npz", x=x, y=y_nan)
    np.savez(tmp / "big_x.npz", x=np.full((40, 5, 2), 1e39), y=np.zeros(40, np.int64))
    np.savez(tmp / "huge_y.npz", x=x, y=np.full(40, 2 ** 40, np.int64))
    np.savez(tmp / "ok.npz", x=x, y=np.zeros(40, np.int64))
    with open(tmp / "ok.npz", "rb") as f:
        (tmp / "truncated.npz").write_bytes(f.read()[:100])
    np.save(tmp / "array.npy", x)
    (tmp / "a_dir.csv").mkdir()
    _write_csv(tmp / "extra.csv", "text,label\n" + GOOD_ROWS + "loved it, truly,pos\n")
    _write_csv(tmp / "latin.csv", "text,label\n" + GOOD_ROWS.replace("fine", "caf\u00e9"),
               "latin-1")
    (tmp / "null.jsonl").write_text("\n".join(
        [json.dumps({"text": f"good {k}", "label": "pos"}) for k in range(30)]
        + [json.dumps({"text": None, "label": "neg"})]) + "\n")
    _write_csv(tmp / "one_class.csv", "text,label\n" + "".join(f"a {k},pos\n" for k in range(30)))
    return [
        (_npz_cfg(tmp / "nan_y.npz"), "nan_y.npz"),
        (_npz_cfg(tmp / "big_x.npz"), "big_x.npz"),
        (_npz_cfg(tmp / "huge_y.npz"), "huge_y.npz"),
        (_npz_cfg(tmp / "truncated.npz"), "truncated.npz"),
        (_npz_cfg(tmp / "array.npy"), "array.npy"),
        (_npz_cfg(tmp / "missing.npz"), "missing.npz"),
        (_text_cfg(tmp / "a_dir.csv"), "a_dir.csv"),
        (_text_cfg(tmp / "extra.csv"), "extra.csv:42"),
        (_text_cfg(tmp / "latin.csv"), "encoding=latin-1"),
        (_text_cfg(tmp / "null.jsonl"), "null.jsonl:31"),
        (_text_cfg(tmp / "one_class.csv"), "one_class.csv"),
        (_text_cfg(tmp / "missing.csv"), "missing.csv"),
    ]


def test_bad_data_is_exit_4_and_writes_nothing(tmp_path, capsys):
    rows = _data_rows(tmp_path)
    assert len(rows) >= 12
    for config, fragment in rows:
        work = tmp_path / "w"
        code, line = run_cli(config, str(work), capsys)
        assert code == 4, (fragment, line)
        assert line.startswith("error: ") and fragment in line, line
        assert not os.path.exists(work / "checkpoints") and not os.path.exists(
            work / "config.json"), fragment
        shutil.rmtree(work, ignore_errors=True)


def _damage_rows(tmp):
    """(name, damage(workdir), config, fragment, code)."""
    def bad_metrics_line(w):
        with open(os.path.join(w, "metrics.jsonl"), "a") as f:
            f.write("{not json}\n")

    def config_not_json(w):
        with open(os.path.join(w, "config.json"), "w") as f:
            f.write("{")

    def edit_meta(w, edit):
        step_dir = os.path.join(w, "checkpoints", "6")
        path = os.path.join(step_dir, "meta", "metadata")
        with open(path) as f:
            meta = json.load(f)
        edit(meta)
        with open(path, "w") as f:
            json.dump(meta, f)
        checkpoint._write_files_list(step_dir)  # as a deliberate tamperer would

    def data_position(w):
        edit_meta(w, lambda m: m["data_state"].update({"json": {"next_index": 0}}))

    def planted(w):
        edit_meta(w, lambda m: m.update({"pickle_b64": "gASVAAAAAAAAAACMBXBvc2l4lC4="}))

    def flipped_array(w):
        root = os.path.join(w, "checkpoints", "6", "state")
        for dirpath, _, files in os.walk(root):
            for name in files:
                if "metadata" not in name and os.path.getsize(os.path.join(dirpath, name)) > 64:
                    with open(os.path.join(dirpath, name), "r+b") as f:
                        f.seek(40)
                        f.write(b"\xff\xff\xff\xff")
                    return

    more_steps = with_(steps=12)
    return [
        ("bad metrics line", bad_metrics_line, more_steps, "metrics.jsonl, line", 3),
        ("config.json not JSON", config_not_json, more_steps, "config.json is unreadable", 3),
        ("another config", lambda w: None, with_(model__hidden_size=5),
         "holds a run with another config", 3),
        ("data position edited", data_position, more_steps, "next_index=0", 3),
        ("pickle in metadata", planted, more_steps, "pickle_b64", 3),
        ("array bytes flipped", flipped_array, more_steps, "checkpoint", 3),
        ("steps below the checkpoint", lambda w: None, with_(steps=4), "below the step", 2),
    ]


@pytest.mark.parametrize("index", range(7))
def test_damaged_run_dir_is_refused_and_left_untouched(finished, tmp_path, capsys, index):
    name, damage, config, fragment, expected = _damage_rows(tmp_path)[index]
    work = str(tmp_path / "run")
    shutil.copytree(finished, work)
    damage(work)
    before = snapshot(work)
    code, line = run_cli(config, work, capsys)
    assert code == expected, (name, line)
    assert line.startswith("error: ") and fragment in line, (name, line)
    assert snapshot(work) == before, name


def test_changed_data_file_is_refused_on_resume(tmp_path, capsys):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(80, 5, 2)).astype(np.float32), y=np.arange(80) % 2)
    cfg = with_(data={"name": "npz_file", "path": str(path)}, steps=4)
    work = str(tmp_path / "run")
    assert run_cli(cfg, work, capsys)[0] == 0
    np.savez(path, x=rng.normal(size=(80, 5, 2)).astype(np.float32), y=np.arange(80) % 2)
    before = snapshot(work)
    code, line = run_cli(with_(data={"name": "npz_file", "path": str(path)}, steps=8), work,
                         capsys)
    assert code == 3 and "other data" in line and "d.npz" in line, line
    assert snapshot(work) == before


def test_workdir_that_is_a_file_is_exit_3(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    for work in (tmp_path / "f", tmp_path / "f" / "sub"):
        code, line = run_cli(BASE, str(work), capsys)
        assert code == 3 and "not a directory" in line, line
    assert (tmp_path / "f").read_text() == "x"


def test_nan_loss_is_exit_1_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    cfg = with_(steps=30, eval_every=0, optimizer={"name": "sgd", "momentum": 0.0,
                "learning_rate": 1e-2, "schedule": "exponential", "decay_rate": 1e90,
                "grad_clip": 0.0})
    code, line = run_cli(cfg, str(tmp_path / "w"), capsys)
    assert code == 1 and "loss is" in line and "last good checkpoint" in line, line


def test_row_count():
    """At least 80 bad inputs in the run-level and data-file tables together (the API
    table, tests/test_api_bad_inputs.py, comes on top)."""
    import test_data_bad_inputs
    here = len(CONFIG_ROWS) + 12 + 7 + 3  # config, data files, damaged dirs, the rest
    assert here + len(test_data_bad_inputs.CASES) >= 80, here
