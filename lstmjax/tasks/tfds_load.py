"""Load a catalogue TFDS dataset as a random-access source, failing fast when offline.

TFDS retries a failed download for about 205 s and ``download=False`` fails with a
message about file formats. ``data_source`` instead: (1) reads the prepared array_record
files if present (or the ``tfds.testing.mock_data`` stand-in); (2) prepares from
``<data_dir>/downloads/manual/`` if every source file is there; (3) otherwise probes the
download hosts with a short timeout and, when they are unreachable, raises a one-line
``DataError`` naming the data dir, the files, and where to put them
(``<data_dir>/downloads/manual/``). Any other failure to prepare is a one-line
``DataError`` too, so a CLI prints ``str(e)`` and no traceback.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request

from lstmjax.tasks.spec import DataError

FILE_FORMAT = "array_record"
PROBE_TIMEOUT_S = 2.0

# Source files per dataset (from TFDS's checksums), for the offline message and the
# manual-dir check without asking TFDS (its url_infos lookup is slow and import-fragile).
SOURCE_FILES = {
    "mnist": {f: "https://storage.googleapis.com/cvdf-datasets/mnist/" + f for f in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")},
    "imdb_reviews": {"aclImdb_v1.tar.gz": "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"},
}


def default_data_dir() -> str:
    """TFDS's default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``."""
    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"))


def _reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when an HTTP HEAD on ``url`` gets any answer within ``timeout`` seconds.

    An HTTP request rather than a TCP connect: sandboxes and proxies may accept every
    connection and still never deliver a byte.
    """
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # the host answered (e.g. 403 on HEAD): the network works
    except (OSError, ValueError):
        return False


def data_source(name: str, split: str, data_dir: str | None = None):
    """``tfds.data_source(name, split=split)`` that never hangs offline (see module doc)."""
    import tensorflow_datasets as tfds  # heavy import, only when a real dataset is used

    data_dir = os.path.expanduser(data_dir) if data_dir else default_data_dir()
    kwargs = dict(split=split, data_dir=data_dir, builder_kwargs={"file_format": FILE_FORMAT})
    try:
        return tfds.data_source(name, download=False, **kwargs)
    except Exception as e:  # noqa: BLE001 - TFDS raises assorted types for "not prepared"
        first_error = e
    manual = os.path.join(data_dir, "downloads", "manual")
    files = SOURCE_FILES.get(name, {})
    have_all = bool(files) and all(os.path.exists(os.path.join(manual, f)) for f in files)
    t0 = time.monotonic()
    # one probe per host (all() stops at the first unreachable one): stays under 5 s
    by_host = {urllib.parse.urlsplit(u).netloc: u for u in sorted(files.values())}
    if not have_all and not all(_reachable(u) for u in by_host.values() or ["https://storage.googleapis.com/"]):
        listing = ", ".join(f"{f} ({u})" for f, u in files.items()) or "the dataset's source files"
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in data dir {data_dir} and its download hosts are "
            f"unreachable (checked in {time.monotonic() - t0:.1f}s). Download {listing} on a machine "
            f"with internet and put them in {manual}/ (i.e. <data_dir>/downloads/manual/), then run "
            f"again: lstmjax prepares the array_record files from there offline. "
            f"(TFDS said: {_first_line(first_error)})")
    download_config = tfds.download.DownloadConfig(manual_dir=manual)
    try:
        return tfds.data_source(name, download=True, download_and_prepare_kwargs={
            "download_config": download_config, "file_format": FILE_FORMAT}, **kwargs)
    except Exception as e:  # noqa: BLE001 - download/prepare failures come in many types
        raise DataError(f"TFDS dataset {name!r} could not be downloaded and prepared in data dir {data_dir} "
                        f"({_first_line(e)}); put its source files in {manual}/ "
                        "(<data_dir>/downloads/manual/) and run again") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


def fingerprint(name: str, data_dir: str | None = None) -> dict:
    """``{"tfds_name", "version", "splits": {split: num_examples}}`` of a dataset.

    Sizes come from the prepared dataset's info, or (not prepared yet, or under
    ``tfds.testing.mock_data``) from ``data_source`` itself, which prepares it from
    ``<data_dir>/downloads/manual/`` or raises the one-line offline ``DataError``.
    """
    import tensorflow_datasets as tfds  # heavy import, only when a real dataset is used

    data_dir = os.path.expanduser(data_dir) if data_dir else default_data_dir()
    try:
        builder = tfds.builder(name, data_dir=data_dir, file_format=FILE_FORMAT)
        splits = {s: int(info.num_examples) for s, info in sorted(builder.info.splits.items())}
        version = str(builder.info.version)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"TFDS dataset {name!r} in data dir {data_dir}: cannot read its info "
                        f"({_first_line(e)})") from e
    if not splits:
        splits = {s: len(data_source(name, s, data_dir)) for s in ("train", "test")}
    return {"tfds_name": name, "version": version, "splits": splits}
