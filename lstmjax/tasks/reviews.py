"""``synthetic_reviews``: labelled movie-review-like text, generated offline.

A review states its opinion in its first few words ("loved it", "a dull film", ...), then
``min_filler``..``max_filler`` words of neutral plot description that also hold 1-3
sentiment words of either polarity at random (so counting words is not enough); the label
(positive / negative) is the opening opinion. The reviews are a pure function of
``(num_reviews, seed, min_filler, max_filler)``: they are written once as a CSV into a
cache directory (``cache_dir``, else ``data_dir``, else ``~/.cache/lstmjax``) and read
through the text-file loader (:func:`lstmjax.tasks.files.make_text`): tokenization,
vocabulary from the train split, ``holdout`` rows split half to validation, half to test.

    {"name": "synthetic_reviews", "num_reviews": 6000, "max_length": 210}
"""

from __future__ import annotations

import csv
import hashlib
import json
import os

import numpy as np

from lstmjax.tasks import files

POSITIVE = ["loved it", "a wonderful film", "brilliant", "great fun", "a masterpiece",
            "i enjoyed every minute", "superb acting", "highly recommended"]
NEGATIVE = ["hated it", "a dull film", "terrible", "a waste of time", "boring",
            "i regret watching", "awful acting", "not recommended"]
NOISE = ["good", "bad", "great", "poor", "fine", "weak", "nice", "ugly", "funny", "sad"]
NEUTRAL = ("the a an and of to in on with as at by for from this that it its his her their "
           "story plot film movie scene scenes camera director actor actress cast character "
           "characters city house family friend friends night day year years war love life "
           "man woman child children music score script dialogue ending beginning middle "
           "first second last then later after before while when where who which what "
           "goes comes finds meets leaves returns tries wants knows thinks sees tells takes "
           "makes gives looks seems becomes starts ends runs walks talks works lives dies "
           "old young new long short small big dark bright quiet loud early late other "
           "same different several many few some most every each both either neither").split()

GENERATING = ("num_reviews", "seed", "min_filler", "max_filler")
DEFAULTS = {"num_reviews": 6000, "seed": 0, "min_filler": 60, "max_filler": 200,
            "max_length": 210, "vocab_size": 5_000, "min_count": 1, "holdout": 0.2,
            "vocab_path": None, "cache_dir": None}


def write(path: str, num_reviews: int, seed: int = 0, *, min_filler: int = 20,
          max_filler: int = 110) -> str:
    """A CSV (``text,label``) of ``num_reviews`` synthetic reviews, written atomically."""
    if num_reviews < 2 or not 1 <= min_filler <= max_filler:
        raise ValueError(f"synthetic_reviews: num_reviews={num_reviews!r} must be >= 2 and "
                         f"1 <= min_filler={min_filler!r} <= max_filler={max_filler!r}")
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"  # shards and workers may write the same file
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(num_reviews):
            label = int(rng.integers(0, 2))
            opinion = (POSITIVE if label else NEGATIVE)[rng.integers(0, 8)]
            n = int(rng.integers(min_filler, max_filler + 1))
            words = list(rng.choice(NEUTRAL, n))
            for k in rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False):
                words[k] = str(rng.choice(NOISE))  # sentiment words of either polarity
            w.writerow([f"{opinion} . " + " ".join(words) + " .",
                        "positive" if label else "negative"])
    os.replace(tmp, path)
    return path


def fingerprint(fields: dict) -> dict:
    """What the reviews are a function of."""
    return {"name": "synthetic_reviews", **{k: fields[k] for k in GENERATING}}


def path_of(fields: dict, data_dir: str | None = None) -> str:
    """The cached CSV of these reviews (written on first use)."""
    root = (fields.get("cache_dir") or data_dir
            or os.path.join(os.path.expanduser("~"), ".cache", "lstmjax"))
    key = hashlib.sha256(json.dumps(fingerprint(fields), sort_keys=True).encode()).hexdigest()
    path = os.path.join(root, "synthetic_reviews", f"{key[:16]}.csv")
    if not os.path.exists(path):
        write(path, int(fields["num_reviews"]), int(fields["seed"]),
              min_filler=int(fields["min_filler"]), max_filler=int(fields["max_filler"]))
    return path


def make(fields: dict, split: str, data_dir: str | None = None):
    """``(TaskSpec, TokenSource)`` of one split of the reviews."""
    text = {**files.TEXT_DEFAULTS, "path": path_of(fields, data_dir),
            **{k: fields[k] for k in ("max_length", "vocab_size", "min_count", "holdout",
                                      "seed", "vocab_path")}}
    return files.make_text(text, split, data_dir)
