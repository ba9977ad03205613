"""Does the input pipeline keep up with training? Measures, on this machine:

1. generation: seconds to produce N examples of a synthetic task (default: 10,000 adding
   examples at T = 1000, the issue's budget is 30 s);
2. pipeline: batches/s from ``lstmjax.data.iterator(batches(...))`` (threaded prefetch);
3. consumer: seconds per fwd+bwd of a 1-layer LSTM (``lstmjax.api.apply``, jit) on the
   same padded batch shape, i.e. the cheapest training step the batch would feed.

    python -m experiments.data_speed [--name adding --length 1000 --batch-size 64 --hidden 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lstmjax import data


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="adding")
    p.add_argument("--length", type=int, default=1000, help="T (gap for distant_recall, max_length for listops)")
    p.add_argument("--num-examples", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--bucket", action="store_true")
    a = p.parse_args(argv)

    field = {"distant_recall": "gap", "listops": "max_length"}.get(a.name, "length")
    cfg = {"name": a.name, field: a.length, "num_examples": a.num_examples}
    if a.name == "listops":
        cfg["min_length"] = a.length // 4
    spec, src = data.make_source(cfg, "train")

    t = time.perf_counter()
    for i in range(len(src)):
        src[i]
    gen = time.perf_counter() - t
    print(f"generation: {len(src)} {a.name} examples ({field}={a.length}) in {gen:.2f} s")

    ds = data.batches(src, batch_size=a.batch_size, seed=0, bucket=a.bucket, pad_to=spec.max_length)
    it = data.iterator(ds, num_threads=a.threads)
    batch = next(it)
    t = time.perf_counter()
    for _ in range(a.steps):
        batch = next(it)
    pipe = (time.perf_counter() - t) / a.steps
    print(f"pipeline:   {1 / pipe:.1f} batches/s = {pipe * 1e3:.1f} ms/batch of x {batch['x'].shape} "
          f"({a.threads} threads)")

    import jax
    import jax.numpy as jnp
    from lstmjax import api

    x = batch["x"].astype(np.float32)
    if spec.input_kind == "tokens":  # one-hot stands in for an embedding lookup
        x = np.eye(spec.vocab_size, dtype=np.float32)[batch["x"]]
    config = api.LSTMConfig(input_size=x.shape[-1], hidden_size=a.hidden)
    params = api.init(jax.random.key(0), config)

    @jax.jit
    def step(params, x, lengths):
        def loss(params):
            out = api.apply(params, config, x, lengths)
            ys = out[0] if isinstance(out, tuple) else out
            return jnp.mean(jnp.square(ys))
        return jax.grad(loss)(params)

    jax.block_until_ready(step(params, x, batch["lengths"]))
    n = max(3, a.steps // 20)
    t = time.perf_counter()
    for _ in range(n):
        jax.block_until_ready(step(params, x, batch["lengths"]))
    train = (time.perf_counter() - t) / n
    print(f"consumer:   LSTM H={a.hidden} fwd+bwd {train * 1e3:.1f} ms/step "
          f"-> pipeline is {train / pipe:.1f}x faster than the step")


if __name__ == "__main__":
    main()
