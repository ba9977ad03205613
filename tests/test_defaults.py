"""Defaults owned by their cell: each written once, where it is used; None means unset.

The LSTM's forget bias and recurrent init live in ``lstmjax.cells``, the chunked form's
chunk in ``lstmjax.min_rnn``; ``LSTMConfig`` leaves them None (unset) and
``schema.DEFAULTS`` imports them. A default is never read as "does not apply", so changing
one in its one place changes it everywhere and breaks no other cell's config.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import lstmjax
from lstmjax import cells, dispatch, min_rnn, models, schema

ROOT = Path(__file__).resolve().parent.parent

# Runs against a copy of lstmjax/ with one default line edited; prints what it sees.
_PROBE = r"""
import inspect, json
import jax, numpy as np
import lstmjax
from lstmjax import cells, min_rnn, models, schema

def built(cell):  # through the schema, as a config file reaches it
    cfg = schema.resolve_config({"data": {"name": "adding"}, "model": {"cell": cell}})
    return models.from_task(schema._PROBE, **cfg["model"]).rnn

def chunk_of(rnn):  # the chunk the driver runs with (bound, or min_rnn.scan's default)
    fn = rnn.driver()
    return fn.keywords.get("chunk", inspect.signature(fn.func).parameters["chunk"].default)

# a config file as `lstmjax train --config experiments/configs/adding.py` builds it
from experiments.configs import adding
file_cfg = schema.resolve_config(adding.get_config())
file_built = models.from_task(schema._PROBE, **file_cfg["model"]).rnn

cfg = lstmjax.LSTMConfig(input_size=2, hidden_size=4)
b = np.asarray(lstmjax.init(jax.random.key(0), cfg)[0]["fw"]["b"])  # blocks i, f, g, o
xs = np.ones((2, 3, 2), np.float32)
for cell in lstmjax.CELL_TYPES:  # every cell still builds and runs, from both doors
    c = lstmjax.LSTMConfig(input_size=2, hidden_size=4, cell=cell)
    lstmjax.apply(lstmjax.init(jax.random.key(0), c), c, xs, np.array([3, 2]))
    built(cell)
print(json.dumps({
    "cell": lstmjax.LSTMCell(4).forget_bias,
    "config": cfg.make_cell().forget_bias,
    "params": sorted(set(b[4:8].tolist())),
    "schema": [schema.DEFAULTS["model"]["forget_bias"], schema.DEFAULTS["model"]["chunk"]],
    "built": built("lstm").make_cell().forget_bias,
    "config_file": file_built.make_cell().forget_bias,
    "chunk": [chunk_of(lstmjax.LSTMConfig(input_size=2, hidden_size=4, cell="min_gru")),
              chunk_of(built("min_gru"))],
}))
"""


def _patched_run(tmp_path, edits: dict[str, tuple[str, str]]) -> dict:
    """Copy lstmjax/, replace each default's one line (``file: (old, new)``), run _PROBE."""
    pkg = tmp_path / "lstmjax"
    shutil.copytree(ROOT / "lstmjax", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for name, (old, new) in edits.items():
        text = (pkg / name).read_text()
        assert text.count(old) == 1, f"{old!r} should be written once in lstmjax/{name}"
        (pkg / name).write_text(text.replace(old, new))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "LSTMJAX_NATIVE": "0",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_each_owned_default_is_written_once_in_lstmjax():
    """The value appears as one assignment in its owner; the others import it."""
    code = {p: p.read_text() for p in (ROOT / "lstmjax").rglob("*.py")}
    for pattern, owner in [(r"^FORGET_BIAS = ", "cells.py"), (r"^RECURRENT_INIT = ", "cells.py"),
                           (r"^CHUNK = ", "min_rnn.py")]:
        where = [p.name for p, text in code.items() if re.search(pattern, text, re.M)]
        assert where == [owner], (pattern, where)
    for p, text in code.items():  # no second site types the value as a default
        assert not re.search(r"forget_bias[\"']?\s*[:=]\s*(float\s*=\s*)?1\.0", text), p
        assert not re.search(r"[\"']chunk[\"']\s*:\s*64", text), p


def test_changing_a_default_in_its_one_place_changes_it_everywhere(tmp_path):
    got = _patched_run(tmp_path, {
        "cells.py": ("FORGET_BIAS = 1.0 ", "FORGET_BIAS = 0.5 "),
        "min_rnn.py": ("CHUNK = 64 ", "CHUNK = 128 "),
    })
    assert got == {"cell": 0.5, "config": 0.5, "params": [0.5], "schema": [0.5, 128],
                   "built": 0.5, "config_file": 0.5, "chunk": [128, 128]}


def test_unset_fields_take_the_owners_defaults():
    cfg = lstmjax.LSTMConfig(input_size=2, hidden_size=4)
    assert (cfg.forget_bias, cfg.recurrent_init, cfg.form, cfg.chunk) == (None,) * 4
    cell = cfg.make_cell()
    assert (cell.forget_bias, cell.recurrent_init) == (cells.FORGET_BIAS, cells.RECURRENT_INIT)
    assert lstmjax.make_cell("gru", 4).recurrent_init == cells.RECURRENT_INIT
    assert schema.DEFAULTS["model"]["forget_bias"] == cells.FORGET_BIAS
    assert schema.DEFAULTS["model"]["recurrent_init"] == cells.RECURRENT_INIT
    assert schema.DEFAULTS["model"]["chunk"] == min_rnn.CHUNK
    fn = lstmjax.LSTMConfig(input_size=2, hidden_size=4, cell="min_gru").driver()
    assert fn.func is min_rnn.scan and "chunk" not in fn.keywords  # min_rnn.scan's default


def test_a_set_value_that_does_not_apply_raises_even_at_the_default():
    """Set means set: the LSTM's default forget bias given to a GRU is refused like any."""
    with pytest.raises(ValueError, match=r"forget_bias=1.0 applies only to cell='lstm'"):
        lstmjax.make_cell("gru", 4, forget_bias=cells.FORGET_BIAS)
    with pytest.raises(ValueError, match=r"recurrent_init='orthogonal' does not apply"):
        lstmjax.make_cell("min_gru", 4, recurrent_init=cells.RECURRENT_INIT)
    with pytest.raises(ValueError, match=r"chunk=64 apply only to the min-RNN forms"):
        dispatch.driver(cells.LSTMCell(4), chunk=min_rnn.CHUNK)
    with pytest.raises(ValueError, match=r"chunk=64 applies only to form='chunked'"):
        dispatch.driver(cells.MinGRUCell(4), form="sequential", chunk=min_rnn.CHUNK)


def test_a_filled_config_passes_owner_defaults_as_unset():
    """A resolved config (config.json) holds every field: at the owner's default it reads
    as unset, so a GRU or min-RNN run builds; a value that differs still raises."""
    for cell in ("gru", "rnn", "irnn", "min_gru", "min_lstm"):
        cfg = schema.resolve_config({"data": {"name": "adding"}, "model": {"cell": cell}})
        rnn = models.from_task(schema._PROBE, **cfg["model"]).rnn
        assert (rnn.forget_bias, rnn.recurrent_init, rnn.chunk) == (None, None, None)
    with pytest.raises(ValueError, match=r"config.model: forget_bias=2.0 applies only"):
        schema.resolve_config({"data": {"name": "adding"},
                               "model": {"cell": "gru", "forget_bias": 2.0}})
    with pytest.raises(ValueError, match=r"config.model: form='auto', chunk=16 apply only"):
        schema.resolve_config({"data": {"name": "adding"}, "model": {"chunk": 16}})
    cfg = schema.resolve_config({"data": {"name": "adding"}, "model": {"forget_bias": 2.0}})
    assert models.from_task(schema._PROBE, **cfg["model"]).rnn.make_cell().forget_bias == 2.0
