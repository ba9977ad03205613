"""Train one model from a config file; the run directory gets everything needed to judge it.

    python -m experiments.train --config experiments/configs/adding.py --workdir runs/adding \
        [--config.seed=1 --config.model.hidden_size=64 --config.parallel=pmap ...]

Running the same command on an existing workdir resumes from its latest checkpoint.
Ctrl-C saves a checkpoint and exits (status 130); rerun the command to continue.
``--host_devices=8`` simulates 8 CPU devices (sets XLA_FLAGS before jax starts).
Multi-host (TPU pod, GPU cluster): launch the same command on every host;
``jax.distributed.initialize()`` is called when the environment describes the job
(``config.distributed="auto"``).

Exit status: 0 done, 1 NaN/Inf loss, 2 invalid config, 3 unusable checkpoint/workdir,
130 interrupted.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to an experiment config file (experiments/configs/*.py).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it exists).")
_HOST_DEVICES = flags.DEFINE_integer(
    "host_devices", 0, "Simulate this many CPU devices (XLA_FLAGS="
    "--xla_force_host_platform_device_count); 0 = leave as is.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show the tqdm progress bar.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data dir for dataset tasks.")
_NO_CHECKPOINTS = flags.DEFINE_bool("no_checkpoints", False, "Do not write checkpoints.")


def _fail(message: str, code: int):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv):
    if len(argv) > 1:
        _fail(f"unexpected arguments: {argv[1:]}", 2)
    if _CONFIG.value is None:
        _fail("--config is required (e.g. --config experiments/configs/adding.py)", 2)
    if not _WORKDIR.value:
        _fail("--workdir is required (e.g. --workdir runs/adding)", 2)
    if _HOST_DEVICES.value:
        # must happen before jax initializes its backend (importing lstmjax does not)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={_HOST_DEVICES.value}")
        os.environ.setdefault("JAX_PLATFORMS", "cpu")

    from absl import logging
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    from lstmjax import checkpoint, train  # noqa: E402 - after XLA_FLAGS

    try:
        train.resolve_config(_CONFIG.value)  # reject bad values before anything else
    except (ValueError, TypeError) as e:
        _fail(f"invalid config: {e}", 2)
    try:
        summary = train.run(_CONFIG.value, _WORKDIR.value, progress=_PROGRESS.value,
                            checkpoints=not _NO_CHECKPOINTS.value, data_dir=_DATA_DIR.value)
    except train.NonFiniteLossError as e:
        _fail(str(e), 1)
    except checkpoint.CheckpointError as e:
        _fail(str(e), 3)
    except (ValueError, TypeError) as e:
        _fail(f"invalid config: {e}", 2)
    ev = summary["final_eval"] or {}
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in ev.items() if k not in ("step", "split"))
    if summary["status"] == "interrupted":
        print(f"interrupted at step {summary['step']}; checkpoint saved in "
              f"{os.path.join(_WORKDIR.value, 'checkpoints')}. Rerun the same command to resume.",
              file=sys.stderr)
        sys.exit(130)
    print(f"done: step {summary['step']}, eval {metrics}, params_sha256 "
          f"{summary['params_sha256']}, {summary['wall_time_s']:.1f} s -> {_WORKDIR.value}")


def _parse_flags(argv):
    """absl parsing, with unknown/ill-typed ``--config.*`` overrides as one clear line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        _fail(f"{e}\nPass --helpshort to see the flags.", 2)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        overrides = [a for a in argv[1:] if a.startswith("--config.")]
        _fail(f"invalid config override among {overrides}: {type(e).__name__}: {e}. "
              "Fields must exist in the config file (see experiments/configs/base.py) and "
              "have the same type.", 2)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
