"""Write a tweet-like labelled CSV (3 classes) for timing the text pipeline end to end.

    python scripts/make_tweets_csv.py --rows 40000 --out data/tweets.csv

Rows are ``text,label`` with label in {negative, neutral, positive}; each text has 4-30
words drawn from a Zipf-like vocabulary of 30,000 made-up words, plus 0-3 sentiment words
of its class (so the task is learnable but not trivial), occasional @mentions, #tags,
commas inside quoted texts and non-ASCII characters. Deterministic given ``--seed``.
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np

SENTIMENT = {
    "negative": ["awful", "hate", "worst", "terrible", "angry", "sad", "broken", "delay"],
    "neutral": ["today", "update", "meeting", "schedule", "info", "weather", "news", "report"],
    "positive": ["love", "great", "best", "happy", "thanks", "awesome", "enjoy", "win"],
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--out", default="data/tweets.csv")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    words = np.array([f"w{k}" + ("é" if k % 97 == 0 else "") for k in range(30_000)])
    zipf = 1.0 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()
    labels = list(SENTIMENT)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(args.rows):
            label = labels[rng.integers(3)]
            body = list(rng.choice(words, rng.integers(4, 31), p=zipf))
            for _ in range(rng.integers(0, 4)):
                body.insert(rng.integers(len(body) + 1), rng.choice(SENTIMENT[label]))
            if rng.random() < 0.2:
                body.insert(0, f"@user{rng.integers(1000)}")
            if rng.random() < 0.2:
                body.append(f"#tag{rng.integers(200)}")
            if rng.random() < 0.1:
                body.insert(rng.integers(len(body) + 1), "well,")
            w.writerow([" ".join(body), label])
    print(f"{args.rows} rows -> {args.out}")


if __name__ == "__main__":
    main()
