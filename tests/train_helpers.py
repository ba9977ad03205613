"""Tiny configs shared by the training tests (one model config => one compile per process)."""

import copy
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = {
    "seed": 0, "steps": 30, "batch_size": 8, "log_every": 5, "eval_every": 10,
    "eval_batches": 2, "checkpoint_every": 10, "plot": False,
    "data": {"name": "adding", "length": 20, "num_examples": 256, "num_eval_examples": 32},
    "model": {"hidden_size": 8, "recurrent_init": "glorot"},
}

# The same run through the CLI (experiments/configs/adding.py + overrides).
CLI_OVERRIDES = [
    "--config.batch_size=8", "--config.log_every=5", "--config.eval_every=50",
    "--config.eval_batches=2", "--config.checkpoint_every=40", "--config.plot=False",
    "--config.data.length=20", "--config.data.num_examples=256",
    "--config.data.num_eval_examples=32", "--config.model.hidden_size=8",
    "--config.model.recurrent_init=glorot",
]


def cli_as_dict(steps: int) -> dict:
    """The config that ``experiments/configs/adding.py`` + CLI_OVERRIDES resolves to."""
    sys.path.insert(0, ROOT)
    from experiments.configs import adding
    cfg = adding.get_config()
    for arg in CLI_OVERRIDES + [f"--config.steps={steps}"]:
        path, value = arg[len("--config."):].split("=")
        *parents, leaf = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        old = node[leaf]
        node[leaf] = (value == "True") if isinstance(old, bool) else type(old)(value)
    return cfg.to_dict()


def tiny(**overrides) -> dict:
    cfg = copy.deepcopy(TINY)
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    return cfg


# A persistent XLA cache shared by the subprocesses of one test session: a restarted
# training process reuses the first one's executables (identical programs, faster tests).
_CACHE_DIR = None


def subprocess_env(env=None) -> dict:
    global _CACHE_DIR
    if _CACHE_DIR is None:
        import atexit
        import shutil
        import tempfile
        _CACHE_DIR = tempfile.mkdtemp(prefix="lstmjax-test-xla-cache-")
        atexit.register(shutil.rmtree, _CACHE_DIR, True)
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("JAX_PLATFORMS", "cpu")
    full_env.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE_DIR)
    full_env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return full_env


def cli(args, env=None, **kwargs) -> subprocess.Popen:
    full_env = subprocess_env(env)
    return subprocess.Popen([sys.executable, "-m", "experiments.train", *args], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def snapshot(path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to assert that nothing changed)."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out
