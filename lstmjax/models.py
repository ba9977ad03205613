"""Heads on top of the lstmjax drivers: pure ``init`` / ``apply`` for whole models.

A model is an optional token embedding, an :class:`lstmjax.LSTMConfig` network and a
linear head:

* ``output_kind="classify"``: pooled sequence vector -> ``[B, num_classes]`` logits;
* ``output_kind="regress"``: pooled sequence vector -> ``[B]`` predictions;
* ``output_kind="classify_per_step"``: every step's output -> ``[B, T, num_classes]``
  logits (copy memory, tagging).

Pooling of the per-step outputs ``ys [B, T, H·dirs]`` into one vector per sequence:

* ``"last"``: ``ys`` at each sequence's last valid step ``length - 1``. For a
  bidirectional network that is ``[h_fw at len-1 ; h_bw at len-1]`` (the backward
  direction has then read only the last token);
* ``"bilstm"``: the seed's sentence vector ``[h_fw at len-1 ; h_bw at 0]``
  (:func:`lstmjax.sentence_representation`), both directions having read the whole
  sequence; for a unidirectional network this equals ``"last"``;
* ``"mean"``: the mean of ``ys`` over the valid steps;
* ``"max"``: the elementwise maximum of ``ys`` over the valid steps (Collobert et al.
  2011; Conneau et al. 2017's BiLSTM-max): ``v_j = max_{t < len} ys[t, j]``.

Regularization in training (only with a ``dropout_key``; evaluation never drops):

* ``word_dropout``: each token is replaced by ``<unk>`` (id 1) with this probability, so
  the model learns not to lean on any single word (Bowman et al. 2016);
* ``embed_dropout``: inverted dropout on the embedded vectors ``[B, T, E]``;
* ``rnn.dropout``: between stacked layers (as ``torch.nn.LSTM``) *and* on the features
  the head reads (pooled vector or per-step outputs), so it acts with one layer too.

The first two apply to token inputs only; a features model refuses them (one line).

A bag of n-grams beside the recurrence (``ngram_order`` > 0; tokens only): fastText's
sentence features (Joulin et al. 2017) concatenated to the pooled vector the head reads,
``v = [pool(ys) ; mean_{n <= N, t + n <= len} G[hash_n(x_t .. x_{t+n-1})]]`` with ``G``
``[ngram_buckets, ngram_dim]`` (``params["ngrams"]``). The hash (FNV-1a over the token
ids, salted by ``n``) needs no vocabulary of n-grams, so a resume or ``predict`` sees the
same buckets; colliding n-grams share a row. Padded positions and n-grams reaching past
a sequence's length are left out of the mean (an empty sequence gets zeros). Word
dropout acts on the ids first, so a dropped word also drops its n-grams.

Pretrained embeddings (``model.embeddings_path``, :mod:`lstmjax.embeddings`): ``init``
stays the seeded random init; :func:`with_embedding_rows` then puts the file's vectors
into the rows of the words it has (the train loop does it once, at step 0).
``freeze_embeddings`` keeps ``params["embed"]`` fixed in training (the optimizer gives it
no update, :func:`lstmjax.optim.make_optimizer`'s ``frozen``).

Everything is a plain pytree and a frozen (hashable, ``jit``-static) config.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lstmjax import api, cells, min_rnn, recurrence, transfer

POOLINGS = ("last", "bilstm", "mean", "max")
NGRAM_BUCKETS, NGRAM_DIM = 2 ** 17, 32  # fastText uses 2M buckets; 131k x 32 = 4.2M floats
OUTPUT_KINDS = ("classify", "regress", "classify_per_step")
INPUT_KINDS = ("tokens", "features")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Static description of a whole model (hashable; safe as a ``jit`` static value).

    Attributes:
      rnn: the recurrent network; its ``input_size`` is ``embed_dim`` for tokens.
      input_kind: "tokens" (int ids ``[B, T]``, embedded) or "features" (``[B, T, D]``).
      output_kind: "classify", "regress" or "classify_per_step".
      num_outputs: classes (1 for regression).
      pooling: "last", "bilstm", "mean" or "max" (ignored for per-step outputs).
      vocab_size: number of token ids (tokens only).
      embed_dropout: dropout rate on the embedded tokens (tokens only), in [0, 1).
      word_dropout: probability of replacing a token by ``<unk>`` (tokens only), in [0, 1).
      freeze_embeddings: the optimizer leaves ``params["embed"]`` unchanged (tokens only).
      ngram_order: largest n of the bag of n-grams beside the recurrence (0 = none;
        tokens only); ``ngram_buckets`` hash buckets of ``ngram_dim`` values each.
    """

    rnn: api.LSTMConfig
    input_kind: str = "features"
    output_kind: str = "classify"
    num_outputs: int = 2
    pooling: str = "last"
    vocab_size: int | None = None
    embed_dropout: float = 0.0
    word_dropout: float = 0.0
    freeze_embeddings: bool = False
    ngram_order: int = 0
    ngram_buckets: int = NGRAM_BUCKETS
    ngram_dim: int = NGRAM_DIM

    def __post_init__(self):
        if not isinstance(self.rnn, api.LSTMConfig):
            raise TypeError(f"ModelConfig.rnn must be an lstmjax.LSTMConfig, got {type(self.rnn).__name__}")
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"ModelConfig.input_kind={self.input_kind!r}; accepted: {INPUT_KINDS}")
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"ModelConfig.output_kind={self.output_kind!r}; accepted: {OUTPUT_KINDS}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"ModelConfig.pooling={self.pooling!r}; accepted: {POOLINGS}")
        if int(self.num_outputs) < 1:
            raise ValueError(f"ModelConfig.num_outputs={self.num_outputs!r}; must be >= 1")
        if self.input_kind == "tokens" and (self.vocab_size is None or int(self.vocab_size) < 1):
            raise ValueError(f"ModelConfig.vocab_size={self.vocab_size!r}; input_kind='tokens' "
                             "needs a positive vocab_size")
        for name in ("embed_dropout", "word_dropout"):
            rate = getattr(self, name)
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
                raise ValueError(f"{name}={rate!r} must be a number in [0, 1)")
            if rate and self.input_kind != "tokens":  # nothing to drop: refuse, not ignore
                raise ValueError(f"{name}={rate!r} applies to token inputs (text tasks); this "
                                 "task has feature inputs: set it to 0 (model.dropout acts on "
                                 "the network's outputs)")
        if not isinstance(self.freeze_embeddings, (bool, np.bool_)):
            raise TypeError(f"freeze_embeddings={self.freeze_embeddings!r} must be a bool")
        if self.freeze_embeddings and self.input_kind != "tokens":
            raise ValueError("freeze_embeddings=True applies to token inputs (text tasks); "
                             "this task has feature inputs and no embedding: set it to False")
        for name, least in (("ngram_order", 0), ("ngram_buckets", 1), ("ngram_dim", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name}={value!r} must be an int >= {least}")
        if self.ngram_order and self.input_kind != "tokens":
            raise ValueError(f"ngram_order={self.ngram_order!r} applies to token inputs (text "
                             "tasks); this task has feature inputs: set it to 0")
        if self.ngram_order and self.output_kind == "classify_per_step":
            raise ValueError(f"ngram_order={self.ngram_order!r} adds one sentence vector; "
                             "per-step outputs have none: set it to 0")

    @property
    def uses_dropout(self) -> bool:
        """Whether training draws dropout masks (then it passes a ``dropout_key``)."""
        return bool(self.rnn.dropout or self.embed_dropout or self.word_dropout)

    @property
    def feature_size(self) -> int:
        """Width of the vector the head reads: the network's outputs (+ the n-gram bag)."""
        return self.rnn.output_size + (self.ngram_dim if self.ngram_order else 0)

    @property
    def embed_dim(self) -> int | None:
        return self.rnn.input_size if self.input_kind == "tokens" else None


def init(key, config: ModelConfig, dtype=jnp.float32) -> dict[str, Any]:
    """``{"embed": [V, E] (tokens only), "rnn": lstmjax params, "head": {"w", "b"}}``,
    with ``"ngrams": [ngram_buckets, ngram_dim]`` when ``ngram_order`` > 0.

    Each part gets its own key by ``fold_in`` (0 = rnn, 1 = head, 2 = embedding,
    3 = n-grams).
    """
    _check(config)
    params = {"rnn": api.init(jax.random.fold_in(key, 0), config.rnn, dtype)}
    d = config.feature_size
    bound = math.sqrt(6.0 / (d + config.num_outputs))
    params["head"] = {
        "w": jax.random.uniform(jax.random.fold_in(key, 1), (d, config.num_outputs), dtype,
                                -bound, bound),
        "b": jnp.zeros((config.num_outputs,), dtype),
    }
    if config.input_kind == "tokens":
        params["embed"] = jax.random.normal(
            jax.random.fold_in(key, 2), (config.vocab_size, config.rnn.input_size), dtype
        ) / math.sqrt(config.rnn.input_size)
    if config.ngram_order:
        params["ngrams"] = jax.random.normal(
            jax.random.fold_in(key, 3), (config.ngram_buckets, config.ngram_dim), dtype
        ) / math.sqrt(config.ngram_dim)
    return params


def with_embedding_rows(params, rows, vectors):
    """``params`` with ``params["embed"][rows[k]] = vectors[k]`` (a new dict; pure).

    Args:
      rows: int ``[K]`` token ids (distinct).
      vectors: float ``[K, E]``, cast to the embedding's dtype.
    """
    table = params["embed"]
    if vectors.shape[-1:] != table.shape[-1:] or vectors.shape[:1] != jnp.shape(rows):
        raise ValueError(f"vectors {tuple(vectors.shape)} do not fit rows {tuple(jnp.shape(rows))}"
                         f" of an embedding {tuple(table.shape)}")
    return {**params, "embed": table.at[jnp.asarray(rows, jnp.int32)].set(
        jnp.asarray(vectors, table.dtype))}


def with_rnn_cells(params, cells_by_key):
    """``params`` with ``params["rnn"][layer][direction]`` replaced by
    ``cells_by_key["<layer>/<direction>"]`` (cast to each leaf's dtype; a new dict; pure)."""
    rnn = [dict(layer) for layer in params["rnn"]]
    for key, cell in cells_by_key.items():
        layer, direction = key.split("/")
        old = rnn[int(layer)][direction]
        rnn[int(layer)][direction] = jax.tree.map(lambda a, b: jnp.asarray(b, a.dtype), old, cell)
    return {**params, "rnn": rnn}


def embed(params, config: ModelConfig, x):
    """Tokens ``[B, T]`` -> ``[B, T, E]``; features pass through (cast to float32)."""
    if config.input_kind == "tokens":
        return jnp.take(params["embed"], jnp.asarray(x, jnp.int32), axis=0)
    return jnp.asarray(x, jnp.float32)


def ngram_buckets(x, order: int, buckets: int):
    """Bucket ids ``[B, T - order + 1]`` of the ``order``-grams of tokens ``x [B, T]``:
    FNV-1a over the ids (uint32, wrapping), salted by ``order``, modulo ``buckets``."""
    x = jnp.asarray(x, jnp.uint32)
    width = x.shape[1] - order + 1
    h = jnp.full((x.shape[0], width), 2166136261 ^ order, jnp.uint32)
    for k in range(order):
        h = (h ^ x[:, k:k + width]) * jnp.uint32(16777619)
    return (h % jnp.uint32(buckets)).astype(jnp.int32)


def ngram_bag(table, x, lengths, order: int):
    """``[B, ngram_dim]``: the mean of ``table``'s rows over every n-gram (n = 1..``order``)
    lying inside each sequence (``t + n <= length``); zeros for an empty sequence."""
    batch, num_steps = x.shape
    lengths = recurrence.valid_lengths(lengths, batch, num_steps)
    total = jnp.zeros((batch, table.shape[1]), table.dtype)
    count = jnp.zeros((batch,), table.dtype)
    for n in range(1, min(order, num_steps) + 1):
        # the n-gram starting at t fits when t + n <= length, i.e. t < length - n + 1
        valid = recurrence.length_mask(lengths - (n - 1), num_steps - n + 1).astype(table.dtype)
        rows = jnp.take(table, ngram_buckets(x, n, table.shape[0]), axis=0)
        total = total + (rows * valid[..., None]).sum(axis=1)
        count = count + valid.sum(axis=1)
    return total / jnp.maximum(count, 1.0)[:, None]


def pool(ys, final_state, lengths, pooling: str):
    """One vector per sequence from the outputs ``ys [B, T, F]`` (see module docstring)."""
    batch, num_steps = ys.shape[0], ys.shape[1]
    lengths = recurrence.valid_lengths(lengths, batch, num_steps)
    if pooling == "last":
        return ys[jnp.arange(batch), lengths - 1]
    if pooling == "bilstm":
        return api.sentence_representation(final_state)
    if pooling == "mean":
        mask = recurrence.length_mask(lengths, num_steps).astype(ys.dtype)
        return (ys * mask[..., None]).sum(axis=1) / lengths[:, None].astype(ys.dtype)
    if pooling == "max":  # padded steps never win (their outputs are zeroed, not -inf)
        mask = recurrence.length_mask(lengths, num_steps)
        top = jnp.where(mask[..., None], ys, -jnp.inf).max(axis=1)
        return jnp.where(lengths[:, None] > 0, top, 0.0).astype(ys.dtype)  # empty: zeros
    raise ValueError(f"pooling={pooling!r}; accepted: {POOLINGS}")


def apply(params, config: ModelConfig, x, lengths=None, *, dropout_key=None,
          return_features: bool = False):
    """Run the model on a right-padded batch.

    Args:
      x: int ``[B, T]`` tokens or float ``[B, T, D]`` features.
      lengths: optional int ``[B]`` valid lengths.
      dropout_key: enables dropout (training): word and embedding dropout, the network's
        inter-layer dropout and dropout on the features the head reads.
    Returns:
      classify: logits ``[B, C]``; regress: ``[B]``; classify_per_step: ``[B, T, C]``.
      With ``return_features=True``, ``(outputs, features)`` where features are the pooled
      vectors (or per-step outputs).
    """
    # one key per use; the network keeps the key itself (its masks are those it always drew)
    drop = (lambda k: None) if dropout_key is None else (
        lambda k: jax.random.fold_in(dropout_key, k))
    if config.word_dropout and dropout_key is not None:
        x = jnp.asarray(x, jnp.int32)
        keep = jax.random.bernoulli(drop(1), 1.0 - config.word_dropout, x.shape)
        x = jnp.where(keep | (x == 0), x, 1)  # 1 = <unk>; padding stays padding
    xs = embed(params, config, x)
    xs = recurrence.dropout(drop(2), config.embed_dropout, xs)
    ys, state = api.apply(params["rnn"], config.rnn, xs, lengths, dropout_key=dropout_key)
    head = params["head"]
    if config.output_kind == "classify_per_step":
        feats = ys
    else:
        lengths = None if lengths is None else jnp.asarray(lengths, jnp.int32)
        feats = pool(ys, state, lengths, config.pooling)
        if config.ngram_order:
            bag = ngram_bag(params["ngrams"], x, lengths, config.ngram_order)
            feats = jnp.concatenate([feats, bag.astype(feats.dtype)], axis=-1)
    # after the last layer too (torch.nn.LSTM stops before it): one layer's output is
    # regularized, and padded steps stay 0 (dropout scales, never adds)
    out = recurrence.dropout(drop(3), config.rnn.dropout, feats) @ head["w"] + head["b"]
    if config.output_kind == "regress":
        out = out[..., 0]
    return (out, feats) if return_features else out


def _check(config):
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be an lstmjax.models.ModelConfig, got {type(config).__name__}")


# The model fields whose defaults a cell or a min-RNN form owns (imported, not retyped;
# lstmjax.schema.DEFAULTS fills them in from here). The schema writes every field into a
# resolved config (config.json), so there the owner's default is how "left unset" reads:
# from_task passes it on as None, and only the cell or form the field applies to uses it.
OWNED_DEFAULTS = {"forget_bias": cells.FORGET_BIAS, "recurrent_init": cells.RECURRENT_INIT,
                  "form": "auto", "chunk": min_rnn.CHUNK}

MODEL_FIELDS = ("cell", "gates", "hidden_size", "num_layers", "bidirectional", "pooling",
                "embed_dim", "dropout", "embed_dropout", "word_dropout", "forget_bias",
                "chrono_max_len", "recurrent_init", "unroll", "remat", "implementation", "form",
                "chunk", "embeddings_path", "freeze_embeddings", "ngram_order", "ngram_buckets",
                "ngram_dim", "init_from")


def from_task(spec, *, cell, gates, hidden_size, num_layers, bidirectional, pooling, embed_dim,
              dropout, embed_dropout, word_dropout, forget_bias, chrono_max_len,
              recurrent_init, unroll, remat, implementation, form, chunk, embeddings_path,
              freeze_embeddings, ngram_order, ngram_buckets, ngram_dim, init_from) -> ModelConfig:
    """The model for a :class:`lstmjax.tasks.TaskSpec` from plain hyperparameters.

    Every field of :data:`MODEL_FIELDS` is required (the training config schema fills
    them in); each is validated by building the ``LSTMConfig`` and the ``ModelConfig``.
    A field of :data:`OWNED_DEFAULTS` at its owner's default is passed as unset (None),
    so e.g. a GRU config carrying the LSTM's default forget bias builds, while a value
    that differs from it raises for a cell it does not apply to. ``embed_dim`` is the
    input size for token tasks (unused, but still required, for feature tasks).
    ``embeddings_path`` and ``init_from`` are only checked here (token tasks only; not
    both): the train loop reads the file or the runs once, at initialization
    (:mod:`lstmjax.embeddings`, :mod:`lstmjax.transfer`). A causal task (a language
    model) refuses a bidirectional model.
    """
    tokens = spec.input_kind == "tokens"
    if not isinstance(embeddings_path, str):
        raise TypeError(f"embeddings_path={embeddings_path!r} must be a string (a file path, "
                        "or '' for none)")
    if embeddings_path and not tokens:
        raise ValueError(f"embeddings_path={embeddings_path!r} applies to token inputs (text "
                         f"tasks); task {spec.name!r} has feature inputs and no embedding: "
                         "set it to ''")
    init_from = transfer.check(init_from, tokens=tokens)
    if init_from and embeddings_path:
        raise ValueError(f"model.init_from={init_from!r} and model.embeddings_path="
                         f"{embeddings_path!r} both set the embedding: set one of them")
    if getattr(spec, "causal", False) and bidirectional:
        raise ValueError(f"model.bidirectional=True, but task {spec.name!r} is a language model "
                         "(the target at step t is the input at t + 1, which a backward "
                         "direction reads): set it to False (data.target='previous_token' "
                         "trains the backward reading)")
    given = {"forget_bias": forget_bias, "recurrent_init": recurrent_init, "form": form,
             "chunk": chunk}
    owned = {k: None if _same(v, OWNED_DEFAULTS[k]) else v for k, v in given.items()}
    rnn = api.LSTMConfig(
        input_size=embed_dim if tokens else int(spec.input_dim), hidden_size=hidden_size,
        num_layers=num_layers, bidirectional=bidirectional, cell=cell, gates=gates,
        chrono_max_len=chrono_max_len, dropout=dropout, unroll=unroll, remat=remat,
        implementation=implementation, **owned)
    num_outputs = 1 if spec.output_kind == "regress" else int(spec.num_classes)
    return ModelConfig(rnn=rnn, input_kind=spec.input_kind, output_kind=spec.output_kind,
                       num_outputs=num_outputs, pooling=pooling,
                       vocab_size=int(spec.vocab_size) if tokens else None,
                       embed_dropout=embed_dropout, word_dropout=word_dropout,
                       freeze_embeddings=freeze_embeddings, ngram_order=ngram_order,
                       ngram_buckets=ngram_buckets, ngram_dim=ngram_dim)


def _same(value, default) -> bool:
    """``value == default`` with the type of the default (True is not 1, 1 is 1.0)."""
    if isinstance(value, bool) or isinstance(default, str) != isinstance(value, str):
        return False
    return value == default


def num_params(params) -> int:
    return int(sum(np.prod(np.shape(p)) for p in jax.tree.leaves(params)))
