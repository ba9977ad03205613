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

Multi-host: :func:`maybe_initialize_distributed` calls ``jax.distributed.initialize()``
when the environment describes a multi-process job (``JAX_COORDINATOR_ADDRESS``,
SLURM with more than one task, Open MPI, or a multi-host TPU slice), so the same
command runs on a TPU pod or a GPU cluster: launch it once per host.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

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


def distributed_env() -> str | None:
    """Which environment asks for ``jax.distributed.initialize()`` (None: single process)."""
    env = os.environ
    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS"
    if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and env.get("SLURM_JOB_ID"):
        return "SLURM"
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1:
        return "OpenMPI"
    hosts = env.get("TPU_WORKER_HOSTNAMES", "")
    if "," in hosts or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return "TPU"
    return None


def maybe_initialize_distributed(mode: str = "auto") -> bool:
    """Call ``jax.distributed.initialize()`` once, when ``mode`` is "on", or "auto" and
    :func:`distributed_env` finds a multi-process job. Must run before any computation."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"distributed={mode!r}; accepted: ('auto', 'on', 'off')")
    if mode == "off" or jax.distributed.is_initialized():
        return jax.distributed.is_initialized()
    if mode == "on" or distributed_env() is not None:
        jax.distributed.initialize()
        return True
    return False


# --------------------------------------------------------------------------- layouts


def resolve_devices(mode: str, num_devices: int = 0) -> list:
    """The devices a ``mode`` runs on: one for "none"; all (or the first ``num_devices``)
    otherwise (global devices for "sharding", local ones for "pmap")."""
    if mode not in MODES:
        raise ValueError(f"parallel={mode!r} is not accepted; use one of {MODES}")
    if mode == "none":
        return jax.local_devices()[:1]
    pool = jax.local_devices() if mode == "pmap" else jax.devices()
    if num_devices:
        if num_devices > len(pool):
            raise ValueError(f"num_devices={num_devices} but only {len(pool)} device(s) are "
                             f"available for parallel={mode!r}: {pool}")
        pool = pool[:num_devices]
    return list(pool)


def check_batch(global_batch: int, num_devices: int, what: str = "batch_size") -> int:
    """Per-device batch; a clear error when the global batch does not split evenly."""
    if global_batch % num_devices or global_batch % max(jax.process_count(), 1):
        raise ValueError(
            f"{what}={global_batch} is not divisible by the number of devices ({num_devices}); "
            f"use a multiple of {num_devices}, e.g. {max(num_devices, global_batch // num_devices * num_devices)}"
            f" or {(global_batch // num_devices + 1) * num_devices}")
    return global_batch // num_devices


class Mapped:
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
            # multi-process pmap spans all devices; each process feeds its local ones
            self._fn = jax.pmap(lambda s, b: fn(s, b, AXIS), axis_name=AXIS,
                                devices=self.devices if jax.process_count() == 1 else None,
                                donate_argnums=donate)
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


def split_batch(batch: dict[str, np.ndarray], num_devices: int) -> dict[str, np.ndarray]:
    """``[B, ...] -> [num_devices, B / num_devices, ...]`` with a clear error if uneven."""
    out = {}
    for name, value in batch.items():
        per = check_batch(value.shape[0], num_devices, what=f"batch[{name!r}] size")
        out[name] = np.reshape(value, (num_devices, per) + value.shape[1:])
    return out


def process_rows(global_batch: int) -> slice:
    """This process's rows of a global batch (multi-host: each host feeds its own part)."""
    n = jax.process_count()
    if global_batch % n:
        raise ValueError(f"batch_size={global_batch} is not divisible by the number of "
                         f"processes ({n})")
    per = global_batch // n
    return slice(jax.process_index() * per, (jax.process_index() + 1) * per)

