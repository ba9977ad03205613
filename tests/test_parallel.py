"""pmap and sharding (jit + mesh + shard_map) on 8 simulated CPU devices match one device."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from train_helpers import ROOT

SCRIPT = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, numpy as np
    from lstmjax import train
    assert jax.device_count() == 8, jax.devices()
    # per-step masked loss (copy memory): the global mean must not depend on the split
    cfg = {"seed": 0, "steps": 20, "batch_size": 16, "log_every": 5, "eval_every": 10,
           "eval_batches": 2, "checkpoint_every": 0, "plot": False,
           "data": {"name": "copy_memory", "length": 6, "num_symbols": 3,
                    "num_examples": 128, "num_eval_examples": 32},
           "model": {"hidden_size": 8, "embed_dim": 4, "recurrent_init": "glorot"}}
    out = {}
    runs = {m: train.run(dict(cfg, parallel=m), None, progress=False)
            for m in ("none", "pmap", "sharding")}
    for m in ("pmap", "sharding"):
        out[m] = {
            "devices": len(runs[m]["devices"]),
            "param_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(
                jax.tree.leaves(runs["none"]["params"]), jax.tree.leaves(runs[m]["params"]))),
            "metric_diff": max(abs(a[k] - b[k]) for a, b in zip(runs["none"]["history"],
                               runs[m]["history"]) for k in a if k not in ("step", "split")),
        }
    # the moving average (optimizer.ema_decay) lives in the optimizer state of each layout:
    # the same averaged parameters, validations and best step
    ema_cfg = dict(cfg, optimizer={"ema_decay": 0.9})
    ema = {m: train.run(dict(ema_cfg, parallel=m), None, progress=False)
           for m in ("none", "pmap", "sharding")}
    out["ema_diff"] = max(float(np.max(np.abs(a - b))) for m in ("pmap", "sharding")
                          for a, b in zip(jax.tree.leaves(ema["none"]["params"]),
                                          jax.tree.leaves(ema[m]["params"])))
    out["ema_is_not_the_plain_run"] = float(np.max(np.abs(
        jax.tree.leaves(ema["none"]["params"])[0] - jax.tree.leaves(runs["none"]["params"])[0])))
    out["ema_best"] = [ema[m]["best"]["step"] for m in ("none", "pmap", "sharding")]
    # a checkpoint written under one layout resumes under another
    import tempfile
    work = tempfile.mkdtemp()
    train.run(dict(cfg, parallel="sharding", steps=10, checkpoint_every=5), work, progress=False)
    resumed = train.run(dict(cfg, parallel="pmap", checkpoint_every=5), work, progress=False)
    out["resume_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(
        jax.tree.leaves(runs["none"]["params"]), jax.tree.leaves(resumed["params"])))
    again = train.run(dict(cfg, parallel="sharding"), None, progress=False)
    out["sharding_rerun_same_hash"] = again["params_sha256"] == runs["sharding"]["params_sha256"]
    try:
        train.run(dict(cfg, parallel="pmap", batch_size=12), None, progress=False)
    except ValueError as e:
        out["error"] = str(e)
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_pmap_and_sharding_match_one_device_on_8_cpu_devices():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=400)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    print(out)
    for mode in ("pmap", "sharding"):
        assert out[mode]["devices"] == 8
        assert out[mode]["param_diff"] < 1e-5, out
        assert out[mode]["metric_diff"] < 1e-5, out
    assert out["sharding_rerun_same_hash"]
    assert out["ema_diff"] < 1e-5 and out["ema_is_not_the_plain_run"] > 1e-4, out
    assert len(set(out["ema_best"])) == 1, out
    assert out["resume_diff"] < 1e-5, out
    assert "batch_size=12 is not divisible by the number of devices (8)" in out["error"]


# --------------------------------------------------------------------------- multi-process
# How a job is described (no process is started here; see test_multihost.py for real jobs).

from lstmjax import parallel# noqa: E402

JOB = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:12377", "JAX_NUM_PROCESSES": "4",
       "JAX_PROCESS_ID": "2"}
TIMEOUTS = {"initialization_timeout": 60, "heartbeat_timeout_seconds": 20,
            "shutdown_timeout_seconds": 60}


def test_env_vars_start_a_job_with_explicit_arguments():
    assert parallel.launch_settings("auto", JOB) == {
        "coordinator_address": "10.0.0.1:12377", "num_processes": 4, "process_id": 2,
        **TIMEOUTS}


def test_config_fields_win_over_the_environment_and_carry_the_timeouts():
    got = parallel.launch_settings({"coordinator": "h:1", "process_id": 0,
                                    "heartbeat_timeout_s": 7}, JOB)
    assert got == {"coordinator_address": "h:1", "num_processes": 4, "process_id": 0,
                   **TIMEOUTS, "heartbeat_timeout_seconds": 7}
    got = parallel.launch_settings({"coordinator": "h:1", "num_processes": 2,
                                    "process_id": 1}, {})
    assert got["num_processes"] == 2 and got["process_id"] == 1


@pytest.mark.parametrize("env", [{}, {"JAX_NUM_PROCESSES": "1"}, {"SLURM_JOB_ID": "7",
                                                                  "SLURM_NTASKS": "1"}])
def test_single_process(env):
    assert parallel.launch_settings("auto", env) is None
    assert parallel.launch_settings("off", JOB) is None


def test_schedulers_keep_jax_detection():
    slurm = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}
    assert parallel.cluster_env(slurm) == "SLURM"
    assert parallel.launch_settings("auto", slurm) == TIMEOUTS  # jax reads the rest
    # what is given is passed on, the rest is left to the scheduler's environment
    assert parallel.launch_settings("auto", {**slurm, "JAX_COORDINATOR_ADDRESS": "n1:9"}) == {
        "coordinator_address": "n1:9", **TIMEOUTS}
    assert parallel.cluster_env({"OMPI_COMM_WORLD_SIZE": "2"}) == "OpenMPI"
    assert parallel.cluster_env({"TPU_WORKER_HOSTNAMES": "a,b"}) == "TPU"
    assert parallel.distributed_env(JOB) == "JAX_COORDINATOR_ADDRESS"


@pytest.mark.parametrize("settings,env,fragment", [
    ("auto", {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2"},
     "JAX_COORDINATOR_ADDRESS=h:1 and JAX_NUM_PROCESSES=2 are set but JAX_PROCESS_ID (or "
     "config.distributed.process_id) is missing"),
    ("auto", {"JAX_PROCESS_ID": "0"}, "JAX_COORDINATOR_ADDRESS (or "
     "config.distributed.coordinator) and JAX_NUM_PROCESSES (or "
     "config.distributed.num_processes) are missing"),
    ("auto", dict(JOB, JAX_PROCESS_ID="4"), "JAX_PROCESS_ID=4 must be in 0..3"),
    ("auto", dict(JOB, JAX_PROCESS_ID="-1"), "JAX_PROCESS_ID=-1 must be in 0..3"),
    ("auto", dict(JOB, JAX_NUM_PROCESSES="two"), "JAX_NUM_PROCESSES='two' is not an integer"),
    ("auto", dict(JOB, JAX_COORDINATOR_ADDRESS="10.0.0.1"), "must be host:port"),
    ("auto", dict(JOB, JAX_COORDINATOR_ADDRESS="h:99999"), "must be host:port"),
    ({"process_id": 9}, JOB, "config.distributed.process_id=9 must be in 0..3"),
    ("on", {}, "config.distributed.mode='on' but nothing describes the job"),
    ("sometimes", {}, "config.distributed.mode='sometimes' is not accepted"),
    ({"heartbeat_timeout_s": 0}, JOB, "config.distributed.heartbeat_timeout_s=0 must be an int"),
    ({"heartbeat": 5}, JOB, "config.distributed.heartbeat is not a known field"),
])
def test_bad_settings_are_one_line_value_errors(settings, env, fragment):
    with pytest.raises(ValueError) as e:
        parallel.launch_settings(settings, env)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_peer_failure_only_in_a_started_job(monkeypatch):
    gloo = ValueError("UNKNOWN: Gloo all-reduce failed: [external/gloo/gloo/transport/tcp/"
                      "pair.cc:547] Connection closed by peer [127.0.0.1]:35032")
    assert parallel.peer_failure(gloo) is None  # a single process: not ours to rename
    monkeypatch.setitem(parallel._STATE, "started", True)
    monkeypatch.setitem(parallel._STATE, "broken", False)
    monkeypatch.setitem(parallel._STATE, "exit_code", 5)
    monkeypatch.setattr(parallel.jax, "process_count", lambda: 2)
    monkeypatch.setattr(parallel.jax, "process_index", lambda: 1)
    # an error of this process alone: it stands, and the process leaves without jax's
    # shutdown barrier (which would keep its peers blocked in their collectives)
    assert parallel.peer_failure(ValueError("shapes differ")) is None
    assert parallel._STATE["broken"] and parallel._STATE["exit_code"] == 2
    assert parallel.peer_failure(KeyboardInterrupt()) is None
    assert parallel._STATE["exit_code"] == 130
    err = parallel.peer_failure(gloo)
    assert isinstance(err, parallel.DistributedError) and err.exit_code == 5
    assert str(err).startswith("process 1 of 2 lost process 0 (the coordinator): UNKNOWN: Gloo")
    assert parallel._STATE["exit_code"] == 5
    monkeypatch.setattr(parallel.jax, "process_count", lambda: 4)
    assert "lost a peer process (127.0.0.1:35032)" in str(parallel.peer_failure(gloo))
