"""Fields every experiment config has; each experiment file starts from ``base()``.

Top level:  seed, steps, batch_size, parallel ("none" | "pmap" | "sharding"), num_devices
            (0 = all), distributed ("auto" | "on" | "off"), log_every, eval_every,
            eval_batches, eval_batch_size (0 = batch_size), checkpoint_every (0 = off),
            keep_checkpoints, pad_to ("max_length" | "batch": per batch, rounded up to
            pad_multiple), bucket (batch similar lengths together), plot.
model:      cell ("lstm" | "gru" | "rnn"), gates (LSTM preset, see lstmjax.gates.PRESETS),
            hidden_size, num_layers, bidirectional, pooling ("last" | "bilstm" | "mean"),
            embed_dim (token tasks), dropout, forget_bias, chrono_max_len (0 = off),
            recurrent_init, unroll, remat.
optimizer:  name ("adam" | "adamw" | "sgd" | "rmsprop"), learning_rate, momentum, schedule
            ("constant" | "cosine" | "linear" | "exponential"), warmup_steps, decay_rate,
            min_lr_ratio, grad_clip (global norm; 0 = off), weight_decay.
data:       name + the task's own fields (see lstmjax.tasks.fields_of(name)).

Kept free of jax imports so that the CLI can validate a config before jax starts.
"""

import ml_collections


def base(data: dict) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.steps = 2000
    c.batch_size = 32
    c.parallel = "none"
    c.num_devices = 0
    c.distributed = "auto"
    c.log_every = 20
    c.eval_every = 200
    c.eval_batches = 4
    c.eval_batch_size = 0
    c.checkpoint_every = 500
    c.keep_checkpoints = 3
    c.pad_to = "max_length"
    c.pad_multiple = 32
    c.bucket = False
    c.plot = True
    c.data = ml_collections.ConfigDict(data)
    c.model = ml_collections.ConfigDict(dict(
        cell="lstm", gates="standard", hidden_size=64, num_layers=1, bidirectional=False,
        pooling="last", embed_dim=32, dropout=0.0, forget_bias=1.0, chrono_max_len=0.0,
        recurrent_init="orthogonal", unroll=1, remat=False))
    c.optimizer = ml_collections.ConfigDict(dict(
        name="adam", learning_rate=1e-3, momentum=0.9, schedule="constant", warmup_steps=0,
        decay_rate=0.1, min_lr_ratio=0.0, grad_clip=1.0, weight_decay=0.0))
    return c
