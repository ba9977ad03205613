"""Regularization that works (issue 27): every dropout setting changes the trained weights
for every model shape (or is refused in one line), early stopping with patience stops and
keeps the best parameters, and the best checkpoint is chosen on the whole validation
split."""

import csv
import json

import numpy as np
import pytest

import lstmjax
from lstmjax import cli, schema, train

from train_helpers import tiny

ADDING = {"data": {"name": "adding", "length": 20, "num_examples": 128,
                   "num_eval_examples": 32}}
COPY = {"data": {"name": "copy_memory", "length": 4, "num_examples": 128,
                 "num_eval_examples": 32}}


def _sha(cfg) -> str:
    return train.run(cfg, None, progress=False)["params_sha256"]


def _text_data(tmp_path):
    rows = [["good fine great", "pos"], ["bad awful poor", "neg"], ["fine film", "pos"],
            ["poor film", "neg"]] * 24
    with open(tmp_path / "t.csv", "w", newline="") as f:
        csv.writer(f).writerows([["text", "label"]] + rows)
    return {"name": "text_file", "path": str(tmp_path / "t.csv"), "max_length": 4}


# (task, model shape): one layer, bidirectional, per-step outputs, regression, tokens
SHAPES = {
    "regress_1_layer": (ADDING, {}),
    "regress_bilstm": (ADDING, {"bidirectional": True, "pooling": "bilstm"}),
    "regress_2_layers_mean": (ADDING, {"num_layers": 2, "pooling": "mean"}),
    "per_step_1_layer": (COPY, {}),
    "gru_1_layer": (ADDING, {"cell": "gru"}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_dropout_changes_the_weights_for_every_shape(shape):
    task, model = SHAPES[shape]
    base = tiny(steps=4, eval_every=0, checkpoint_every=0, **task, model=model)
    with_drop = tiny(steps=4, eval_every=0, checkpoint_every=0, **task,
                     model={**model, "dropout": 0.5})
    assert _sha(with_drop) != _sha(base)


@pytest.mark.slow
def test_text_dropouts_each_change_the_weights(tmp_path):
    data = _text_data(tmp_path)

    def cfg(**model):
        return {"steps": 4, "batch_size": 8, "eval_every": 0, "checkpoint_every": 0,
                "plot": False, "pad_to": "max_length", "data": data,
                "model": {"hidden_size": 4, "embed_dim": 4, **model}}

    shas = {name: _sha(cfg(**{name: 0.5})) for name in ("dropout", "embed_dropout",
                                                        "word_dropout")}
    shas["none"] = _sha(cfg())
    assert len(set(shas.values())) == 4, shas


def test_token_dropouts_are_refused_on_features():
    for name in ("embed_dropout", "word_dropout"):
        with pytest.raises(ValueError, match=f"{name}=0.3 applies to token inputs"):
            train.build(tiny(**ADDING, model={name: 0.3}))
    with pytest.raises(ValueError, match=r"config.patience=3 .*config.eval_every > 0"):
        schema.resolve_config(tiny(patience=3, eval_every=0))


def test_fingerprint_of_a_run_from_before_the_new_fields_is_unchanged():
    """Runs committed before embed/word dropout existed still resume and load."""
    old = schema.resolve_config(tiny())
    for k in schema.ADDED_OFF["model"]:
        del old["model"][k]
    assert schema.fingerprint(old) == schema.fingerprint(schema.resolve_config(tiny()))


def test_patience_stops_and_keeps_the_best(tmp_path):
    workdir = str(tmp_path / "run")
    cfg = tiny(steps=400, eval_every=2, eval_batches=0, checkpoint_every=50, patience=2,
               **ADDING, optimizer={"learning_rate": 0.05})
    s = train.run(cfg, workdir, progress=False)
    vals = [r for r in s["history"] if r["split"] == "validation"]
    best = s["best"]
    after = [r for r in vals if r["step"] > best["step"]]
    assert s["status"] == "stopped_early" and s["step"] < 400
    assert len(after) == 2 and vals[-1]["step"] == s["step"]
    assert all(r[best["metric"]] <= best["value"] for r in after)
    assert s["test_at_best"]["params"] == f"best@{best['step']}"
    assert lstmjax.load_run(workdir).checkpoint == f"best@{best['step']}"


def test_best_is_chosen_on_the_whole_validation_split(tmp_path, capsys):
    """With eval_batches=0 every periodic validation covers the whole split, and the best
    value is what evaluate gives on the whole validation split with the best parameters."""
    workdir = str(tmp_path / "run")
    s = train.run(tiny(steps=20, eval_every=5, eval_batches=0, **ADDING), workdir,
                  progress=False)
    vals = [r for r in s["history"] if r["split"] == "validation"]
    assert {r["examples"] for r in vals} == {32}
    assert cli.main(["lstmjax", "evaluate", "--workdir", workdir, "--split", "validation"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["params"] == f"best@{s['best']['step']}" and rec["examples"] == 32
    assert rec[s["best"]["metric"]] == pytest.approx(s["best"]["value"], abs=1e-9)


def test_a_tie_goes_to_the_lower_loss():
    best = {"step": 10, "value": 0.9, "loss": 0.3}
    assert train._better(0.9, 0.2, best, higher=True)
    assert not train._better(0.9, 0.4, best, higher=True)
    assert not train._better(0.8, 0.1, best, higher=True)
    assert not train._better(0.9, 0.2, {"step": 1, "value": 0.9}, higher=True)  # older runs
    assert np.isfinite(train._better(0.1, 0.1, None, higher=False))
