"""Map the one per-device train step onto a device layout.

The step is written once, as ``step(state, batch, axis_name) -> (state, metrics)`` with
``lax.pmean``/``lax.psum`` over ``axis_name`` (a no-op when ``axis_name is None``), and
mapped here:

* ``"none"``: ``jax.jit`` on one device (the degenerate case: no named axis);
* ``"pmap"``: ``jax.pmap`` over the local devices, state replicated along a leading
  device axis, the batch reshaped to ``[devices, B / devices, ...]``;
* ``"sharding"``: ``jax.jit`` of ``jax.shard_map`` on a 1-D device mesh ``("data",)``:
  state replicated (``NamedSharding(mesh, P())``), batch split along its first axis
  (``P("data")``).

Multi-process jobs (see docs/cluster.md): :func:`maybe_initialize_distributed` joins the
job that ``config.distributed`` or the environment describes: ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (or the config fields) start it with explicit
arguments; SLURM, Open MPI and TPU slices are left to jax's own detection; CPU jobs use gloo
collectives. A job of several processes runs ``"sharding"`` over every device of every
process; each process feeds its rows of every global batch (:func:`process_rows`).
Failures are one line: ValueError for a missing or malformed setting,
:class:`DistributedError` (exit code 5) when the coordinator cannot be reached within
``initialization_timeout_s`` or a peer process is lost (:func:`peer_failure`).
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import sys
import threading
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

from lstmjax import errors
from lstmjax.errors import DistributedError

MODES = ("none", "pmap", "sharding")
AXIS = "data"


# --------------------------------------------------------------------------- collectives


def pmean(x, axis_name):
    """``lax.pmean`` over ``axis_name``; identity when there is no named axis."""
    return x if axis_name is None else lax.pmean(x, axis_name)


def psum(x, axis_name):
    return x if axis_name is None else lax.psum(x, axis_name)


def axis_index(axis_name):
    return 0 if axis_name is None else lax.axis_index(axis_name)


# --------------------------------------------------------------------------- multi-host

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
DISTRIBUTED_MODES = ("auto", "on", "off")
# the config.distributed section of lstmjax.schema.DEFAULTS (kept here, where it is read,
# because schema sits above parallel); shutdown covers process 0's final writes
DISTRIBUTED_DEFAULTS = {"mode": "auto", "coordinator": "", "num_processes": 0, "process_id": -1,
                        "initialization_timeout_s": 60, "heartbeat_timeout_s": 20,
                        "shutdown_timeout_s": 60}


# what this module did to jax.distributed in this process
_STATE = {"started": False, "broken": False, "atexit": False,
          "exit_code": DistributedError.exit_code}


def cluster_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The scheduler whose environment jax reads by itself ("SLURM", "OpenMPI", "TPU"), when
    it describes more than one process; None otherwise."""
    env = os.environ if environ is None else environ

    def count(name: str) -> int:
        try:
            return int(env.get(name, "1") or 1)
        except ValueError:
            return 1

    if env.get("SLURM_JOB_ID") and max(count("SLURM_NTASKS"), count("SLURM_NPROCS")) > 1:
        return "SLURM"
    if count("OMPI_COMM_WORLD_SIZE") > 1:
        return "OpenMPI"
    if "," in env.get("TPU_WORKER_HOSTNAMES", "") or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return "TPU"
    return None


def distributed_env(environ: Mapping[str, str] | None = None) -> str | None:
    """What describes a multi-process job here: ``JAX_COORDINATOR_ADDRESS``, or a
    :func:`cluster_env` ("SLURM", "OpenMPI", "TPU"); None for a single process."""
    env = os.environ if environ is None else environ
    if env.get(ENV_COORDINATOR, "").strip():
        return ENV_COORDINATOR
    return cluster_env(env)


def _settings(settings) -> dict:
    """``config.distributed`` (a mapping, or just its mode as a string) with defaults."""
    if settings is None or isinstance(settings, str):
        settings = {"mode": "auto" if settings is None else settings}
    unknown = sorted(set(settings) - set(DISTRIBUTED_DEFAULTS))
    if unknown:
        raise ValueError(f"config.distributed.{unknown[0]} is not a known field; accepted: "
                         f"{sorted(DISTRIBUTED_DEFAULTS)}")
    out = dict(DISTRIBUTED_DEFAULTS, **settings)
    if out["mode"] not in DISTRIBUTED_MODES:
        raise ValueError(f"config.distributed.mode={out['mode']!r} is not accepted; accepted: "
                         f"{list(DISTRIBUTED_MODES)}")
    for name in ("initialization_timeout_s", "heartbeat_timeout_s", "shutdown_timeout_s"):
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"config.distributed.{name}={value!r} must be an int >= 1 "
                             "(seconds)")
    return out


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer") from None


def launch_settings(settings="auto", environ: Mapping[str, str] | None = None) -> dict | None:
    """The keyword arguments of ``jax.distributed.initialize`` for this process, or None
    when it runs alone.

    ``settings`` is ``config.distributed`` (or its mode): a field of the config wins over
    the environment (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``,
    ``JAX_PROCESS_ID``). Under SLURM, Open MPI or a TPU slice, what is not given is left
    to jax's own detection. Raises ValueError (one line, naming the setting and where it
    came from) for a missing, malformed or contradictory setting.
    """
    s = _settings(settings)
    if s["mode"] == "off":
        return None
    env = os.environ if environ is None else environ
    where = {}

    def pick(field: str, given, unset, env_name: str, read):
        if given != unset:
            where[field] = f"config.distributed.{field}"
            return given
        value = read(env, env_name)
        if value is not None:
            where[field] = env_name
        return value

    coordinator = pick("coordinator", s["coordinator"], "", ENV_COORDINATOR,
                       lambda e, n: e.get(n, "").strip() or None)
    num = pick("num_processes", s["num_processes"], 0, ENV_NUM_PROCESSES, _env_int)
    pid = pick("process_id", s["process_id"], -1, ENV_PROCESS_ID, _env_int)
    timeouts = {"initialization_timeout": int(s["initialization_timeout_s"]),
                "heartbeat_timeout_seconds": int(s["heartbeat_timeout_s"]),
                "shutdown_timeout_seconds": int(s["shutdown_timeout_s"])}
    if num is not None and num < 1:
        raise ValueError(f"{where['num_processes']}={num} must be >= 1")
    if pid is not None and (pid < 0 or (num is not None and pid >= num)):
        bound = f"0..{num - 1} (there are {num} processes)" if num else ">= 0"
        raise ValueError(f"{where['process_id']}={pid} must be in {bound}")
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{where['coordinator']}={coordinator!r} must be host:port of "
                             "process 0 (e.g. 10.0.0.1:12377)")
    cluster = cluster_env(env)
    if num == 1 and cluster is None:
        return None  # a job of one process: nothing to coordinate
    given = {"coordinator_address": coordinator, "num_processes": num, "process_id": pid}
    if None not in given.values():
        return {**given, **timeouts}
    if cluster is not None:  # jax detects the rest from the scheduler's environment
        return {**{k: v for k, v in given.items() if v is not None}, **timeouts}
    if where:
        missing = [f"{env_name} (or config.distributed.{field})" for field, env_name, v in (
            ("coordinator", ENV_COORDINATOR, coordinator),
            ("num_processes", ENV_NUM_PROCESSES, num),
            ("process_id", ENV_PROCESS_ID, pid)) if v is None]
        have = [f"{where[f]}={v}" for f, v in (("coordinator", coordinator),
                ("num_processes", num), ("process_id", pid)) if f in where]
        raise ValueError(f"a multi-process job needs the coordinator, the number of processes "
                         f"and this process's id; {' and '.join(have)} "
                         f"{'is' if len(have) == 1 else 'are'} set but {' and '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} missing")
    if s["mode"] == "on":
        raise ValueError(f"config.distributed.mode='on' but nothing describes the job: set "
                         f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} (or "
                         "config.distributed.coordinator / num_processes / process_id), or "
                         "launch under SLURM, Open MPI or on a TPU slice")
    return None


def maybe_initialize_distributed(settings="auto") -> bool:
    """Join the multi-process job that ``settings`` (``config.distributed``, or its mode)
    and the environment describe (see :func:`launch_settings`); True when this process is
    part of one. Must run before any computation; a second call is a no-op.

    CPU jobs use gloo collectives. Raises ValueError for a missing or malformed setting and
    :class:`DistributedError` when the job cannot be joined within
    ``initialization_timeout_s`` (unreachable coordinator, a process that never came).
    """
    if jax.distributed.is_initialized():
        return True
    kwargs = launch_settings(settings)
    if kwargs is None:
        return False
    if jax.config.jax_cpu_collectives_implementation in (None, "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    _register_atexit()
    timeout = kwargs["initialization_timeout"]
    # jax's own timeout ends the process with a multi-line fatal log; ours comes first
    watchdog = _JoinWatchdog(kwargs, timeout)
    try:
        jax.distributed.initialize(**dict(kwargs, initialization_timeout=timeout + 60))
    except (ValueError, TypeError) as e:  # jax's own checks, e.g. a scheduler without ids
        raise ValueError(f"cannot start the multi-process job: {_first_line(e)}; set "
                         f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID}") from None
    except Exception as e:  # noqa: BLE001 - any failure to join is the same for the user
        _STATE["broken"] = True
        raise DistributedError(f"{watchdog.message()} ({_first_line(e)})") from None
    finally:
        watchdog.cancel()
    _STATE["started"] = True
    return True


class _JoinWatchdog:
    """Ends the process with one line and :attr:`DistributedError.exit_code` when joining
    the job takes longer than ``timeout`` s (jax's connect holds no Python lock, but its
    own timeout aborts the process with a fatal log instead of an exception)."""

    def __init__(self, kwargs: dict, timeout: int):
        self.kwargs, self.timeout, self.t0 = kwargs, timeout, time.monotonic()
        self._done = threading.Event()
        threading.Thread(target=self._watch, name="lstmjax-join-watchdog", daemon=True).start()

    def cancel(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        if not self._done.wait(self.timeout):
            _STATE["broken"] = True
            print(f"error: {self.message()}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(DistributedError.exit_code)

    def message(self) -> str:
        k = self.kwargs
        pid, n, addr = k.get("process_id"), k.get("num_processes"), k.get("coordinator_address")
        who = f"process {pid} of {n}" if pid is not None and n is not None else "this process"
        waited = f"{time.monotonic() - self.t0:.0f} s (config.distributed.initialization_timeout_s=" \
                 f"{self.timeout})"
        if pid == 0:
            return (f"{who} (the coordinator, {addr}) waited {waited} for the other processes "
                    f"to join: start all {n} with the same {ENV_COORDINATOR} and "
                    f"{ENV_NUM_PROCESSES}, and {ENV_PROCESS_ID} 0..{n - 1}")
        where = addr or "(from the scheduler)"
        up = _listening(addr) if addr else None
        state = ("it accepts connections, but not every process joined" if up else
                 "nothing answers there" if up is not None else "")
        return (f"{who} could not join the job at coordinator {where} within {waited}"
                + (f": {state}" if state else "")
                + "; is process 0 running, and is its address reachable from this host?")


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def peer_failure(e: BaseException) -> DistributedError | None:
    """What an exception leaving the training loop means in a multi-process job.

    Returns the :class:`DistributedError` that ``e`` stands for when a collective or the
    coordination service lost a peer, else None (``e`` stands as it is). In a started job
    either way this process is marked to leave at interpreter exit at once, without
    ``jax.distributed.shutdown``: its barrier would keep this process's collectives open
    while it waits for peers that are blocked in them (a process stopped alone by Ctrl-C
    or by an error of its own would hang the others until ``shutdown_timeout_s`` and then
    abort them all), or wait for a dead peer and abort. The exit status is
    :attr:`DistributedError.exit_code` after a lost peer, else the command line's code
    for ``e`` (:func:`default_exit_code`: the one table of :mod:`lstmjax.errors`).
    """
    if not _STATE["started"]:
        return e if isinstance(e, DistributedError) else None
    _STATE["broken"] = True
    text = str(e)
    if isinstance(e, DistributedError):
        lost = e
    elif isinstance(e, (RuntimeError, ValueError)) and any(p in text for p in _PEER_SIGNS):
        me, n = jax.process_index(), jax.process_count()
        peer = re.search(r"peer \[?([0-9A-Za-z_.:-]+?)\]?:(\d+)", text)
        if n == 2:
            whom = f"process {1 - me}" + (" (the coordinator)" if me == 1 else "")
        else:
            whom = "a peer process" + (f" ({peer.group(1)}:{peer.group(2)})" if peer else "")
        lost = DistributedError(
            f"process {me} of {n} lost {whom}: {_first_line(e)[:200]}. This process stopped; "
            "rerun the job on every host to resume from the last complete checkpoint")
    else:
        lost = None
    _STATE["exit_code"] = default_exit_code(lost or e)
    return lost


def default_exit_code(e: BaseException) -> int:
    """The status a process of a multi-process job leaves with after ``e`` without jax's
    shutdown: the command line's (:func:`lstmjax.errors.exit_code`, one table), and
    :data:`lstmjax.errors.UNEXPECTED` (Python's status after a traceback) for an error
    that table does not know."""
    code = errors.exit_code(e)
    return errors.UNEXPECTED if code is None else code


_PEER_SIGNS = ("Gloo", "gloo", "Connection closed by peer", "Connection reset by peer",
               "heartbeat", "coordination service", "CoordinationService", "Barrier failed",
               "barrier has failed")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _register_atexit() -> None:
    # registered after jax's own clean_up (at jax's import), so it runs before it
    if not _STATE["atexit"]:
        atexit.register(_exit_if_broken)
        _STATE["atexit"] = True


def _exit_if_broken() -> None:
    """At interpreter exit after :func:`peer_failure` or a failed start: leave at once
    (status ``_STATE["exit_code"]``), skipping ``jax.distributed.shutdown`` whose barrier
    would wait for peers that are dead or blocked, and then abort the process."""
    if _STATE["broken"]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(_STATE["exit_code"])


# --------------------------------------------------------------------------- layouts


def resolve_devices(mode: str, num_devices: int = 0) -> list:
    """The devices a ``mode`` runs on: one for "none"; all (or the first ``num_devices``)
    otherwise (global devices for "sharding", local ones for "pmap").

    A job of several processes runs with ``"sharding"`` on every device of every process
    (each process holding as many as the others): "none" and "pmap" would train one model
    per process without a collective between them."""
    if mode not in MODES:
        raise ValueError(f"parallel={mode!r} is not accepted; use one of {MODES}")
    if jax.process_count() > 1:
        return _multiprocess_devices(mode, num_devices)
    if mode == "none":
        if num_devices > 1:  # silently training on one device would not be what was asked
            raise ValueError(f"config.num_devices={num_devices} but config.parallel='none' "
                             f"runs on one device (this host has {len(jax.local_devices())}); "
                             "use parallel='pmap' or 'sharding' for several, or num_devices=0")
        return jax.local_devices()[:1]
    pool = jax.local_devices() if mode == "pmap" else jax.devices()
    if num_devices:
        if num_devices > len(pool):
            raise ValueError(f"config.num_devices={num_devices} but only {len(pool)} device(s) "
                             f"are available for parallel={mode!r} on this host (0 = all; "
                             "more CPU devices: --host_devices=N)")
        pool = pool[:num_devices]
    return list(pool)


def _multiprocess_devices(mode: str, num_devices: int) -> list:
    n, pool = jax.process_count(), jax.devices()
    if mode != "sharding":
        raise ValueError(f"config.parallel={mode!r} runs on one process's devices, but this job "
                         f"has {n} processes; use config.parallel='sharding'")
    if num_devices and num_devices != len(pool):
        raise ValueError(f"config.num_devices={num_devices}: a job of {n} processes runs on "
                         f"all {len(pool)} devices; use num_devices=0")
    per_process = [sum(d.process_index == p for d in pool) for p in range(n)]
    if len(set(per_process)) > 1:
        raise ValueError(f"the processes of this job hold different numbers of devices "
                         f"({per_process}); give every process the same number")
    return list(pool)


def check_batch(global_batch: int, num_devices: int, what: str = "batch_size") -> int:
    """Per-device batch; a clear error when the global batch does not split evenly."""
    if global_batch % num_devices or global_batch % max(jax.process_count(), 1):
        raise ValueError(
            f"{what}={global_batch} is not divisible by the number of devices ({num_devices}); "
            f"use a multiple of {num_devices}, e.g. {max(num_devices, global_batch // num_devices * num_devices)}"
            f" or {(global_batch // num_devices + 1) * num_devices}")
    return global_batch // num_devices


class LayoutStep:
    """A per-device ``fn(state, batch, axis_name) -> (state, out)`` on a device layout.

    Methods: ``put_state`` (host -> layout), ``get_state`` (layout -> one host copy),
    ``put_batch`` (host numpy dict -> layout), ``__call__(state, batch)``, and
    ``unreplicate`` for outputs (which are identical on every device after the step's
    collectives).
    """

    def __init__(self, fn: Callable, mode: str, devices: list, *, donate_state: bool = True,
                 updates_state: bool = True):
        if mode not in MODES:
            raise ValueError(f"parallel={mode!r} is not accepted; use one of {MODES}")
        self.mode, self.devices = mode, list(devices)
        self.num_devices = len(self.devices)
        donate = (0,) if donate_state and updates_state else ()
        if mode == "none":
            self._fn = jax.jit(lambda s, b: fn(s, b, None), donate_argnums=donate)
        elif mode == "pmap":
            # replicated state lives as [devices, ...] arrays split along a 1-D mesh
            mesh = jax.sharding.Mesh(np.array(self.devices), (AXIS,))
            self._stacked = NamedSharding(mesh, P(AXIS))
            self._fn = jax.pmap(lambda s, b: fn(s, b, AXIS), axis_name=AXIS,
                                devices=self.devices, donate_argnums=donate)
        else:
            self.mesh = jax.make_mesh((self.num_devices,), (AXIS,),
                                      axis_types=(jax.sharding.AxisType.Explicit,),
                                      devices=self.devices)
            self._replicated = NamedSharding(self.mesh, P())
            self._split = NamedSharding(self.mesh, P(AXIS))
            mapped = jax.shard_map(lambda s, b: fn(s, b, AXIS), mesh=self.mesh,
                                   in_specs=(P(), P(AXIS)), out_specs=P(),
                                   check_vma=False)
            self._fn = jax.jit(mapped, donate_argnums=donate)

    def __call__(self, state, batch):
        return self._fn(state, batch)

    # -- state
    def put_state(self, state):
        if self.mode == "none":
            return jax.device_put(state, self.devices[0])
        if self.mode == "pmap":
            def rep(x):
                x = np.asarray(x)
                stacked = np.broadcast_to(x, (self.num_devices,) + x.shape)
                return jax.device_put(stacked, self._stacked)
            return jax.tree.map(rep, jax.device_get(state))
        return jax.device_put(state, self._replicated)

    def get_state(self, state):
        """One host copy (numpy) of a state held in this layout."""
        if self.mode == "pmap":
            state = jax.tree.map(lambda x: x[0], state)
        return jax.device_get(state)

    def unreplicate(self, out):
        if self.mode == "pmap":
            return jax.tree.map(lambda x: x[0], out)
        return out

    # -- batch
    def put_batch(self, batch: dict[str, np.ndarray]):
        """Split a host batch (this process's rows) over the devices."""
        if self.mode == "none":
            return jax.device_put(batch, self.devices[0])
        n_local = len([d for d in self.devices if d.process_index == jax.process_index()])
        for name, value in batch.items():
            check_batch(value.shape[0] * jax.process_count(), self.num_devices,
                        what=f"batch size (batch[{name!r}] has {value.shape[0]} rows per process)")
        if self.mode == "pmap":
            return jax.tree.map(
                lambda v: np.reshape(v, (n_local, v.shape[0] // n_local) + v.shape[1:]), batch)
        return jax.tree.map(
            lambda v: jax.make_array_from_process_local_data(self._split, np.asarray(v)), batch)


def process_rows(global_batch: int) -> slice:
    """This process's rows of a global batch (multi-host: each host feeds its own part)."""
    n = jax.process_count()
    if global_batch % n:
        raise ValueError(f"batch_size={global_batch} is not divisible by the number of "
                         f"processes ({n})")
    per = global_batch // n
    return slice(jax.process_index() * per, (jax.process_index() + 1) * per)

