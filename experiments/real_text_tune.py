"""Tune the text defaults on a corpus kept out of the real-text report: one run per setting.

    python -m experiments.real_text_tune amazon_snippets OUT.jsonl \\
        model.embed_dropout=0.5 model.dropout=0.5 [field=value ...]

Trains ``experiments/configs/text_file.py``'s settings (as they are at the commit that
runs it) with the given overrides on the ``corpus`` task (80/10/10 split, seed 0), in
memory, and appends one JSON line to ``OUT.jsonl``: the overrides, the best periodic
validation (whole validation split: step, accuracy, loss), the validation curve, the
wall time and the base (the commit whose defaults the overrides change). Only validation
numbers are written: a setting is chosen on them alone.
``experiments/real_text.py`` renders the file as the report's tuning table.

The committed ``experiments/results/real_text/tuning.jsonl`` was made with the settings
of commit ad5462f (no dropout, no patience) as the base.
"""

from __future__ import annotations

import ast
import json
import sys
import time

from experiments.configs import text_file
from lstmjax import schema, train


def parse_value(old, text: str):
    if isinstance(old, bool):
        if text not in ("True", "False"):
            raise ValueError(f"{text!r}: expected True or False")
        return text == "True"
    if isinstance(old, tuple):  # e.g. model.init_from=('runs/lm_fw','runs/lm_bw')
        value = ast.literal_eval(text)
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if old is None:
        try:
            return int(text)
        except ValueError:
            return text
    return type(old)(text)


def _short(commit: str | None) -> str:
    """``abc1234`` (``+dirty`` kept) of a full commit id; ``unknown`` outside git."""
    if not commit:
        return "unknown"
    sha, plus, rest = commit.partition("+")
    return sha[:7] + plus + rest


def config_for(corpus: str, overrides: list[str]) -> dict:
    c = schema.to_dict(text_file.get_config())
    c["data"] = {"name": "corpus", "corpus": corpus, "seed": 0, "validation": 0.1, "test": 0.1,
                 **{k: c["data"][k] for k in text_file.TEXT_DATA}}
    c["plot"], c["tensorboard"] = False, False
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: {item!r}: expected field=value (e.g. model.dropout=0.5)")
        *path, last = key.split(".")
        node = c
        for p in path:
            node = node[p]
        node[last] = parse_value(node.get(last), value)
    return c


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        raise SystemExit(__doc__)
    corpus, out, overrides = argv[0], argv[1], argv[2:]
    cfg = config_for(corpus, overrides)
    t0 = time.time()
    s = train.run(cfg, None, progress=False, plots=False)
    curve = [(h["step"], round(h["accuracy"], 4), round(h["loss"], 4))
             for h in s["history"] if h["split"] == "validation"]
    rec = {"corpus": corpus, "base": f"text_file defaults at commit {_short(s['git_commit'])}",
           "overrides": overrides, "wall_s": round(time.time() - t0, 1),
           "best": s.get("best"), "validation_examples": s["final_eval"]["examples"],
           "val_curve": curve, "status": s["status"], "steps_run": s["step"]}
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))
    return rec


if __name__ == "__main__":
    main()
