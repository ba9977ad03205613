"""The seed's BiLSTM example: encode "我 爱 中国" and show its sentence representation.

    python -m experiments.seed_example

The forward LSTM reads 我 → 爱 → 中国 (states h_L0, h_L1, h_L2), the backward LSTM
reads 中国 → 爱 → 我 (states h_R0, h_R1, h_R2, where h_R2 sits at 我 after reading the
whole sentence). The per-step output is [h_Li ; h_R(2-i)] in input order, and the
sentence is represented by [h_L2 ; h_R2] = [h_fw at the last word ; h_bw at the first].
The same sentence padded inside a batch gives the same numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import lstmjax

WORDS = ["我", "爱", "中国"]


def encode(seed: int = 0, hidden_size: int = 3, embed_size: int = 4):
    """Returns (per-step outputs [3, 2H], sentence vector [2H], padded-batch outputs)."""
    key_embed, key_lstm = jax.random.split(jax.random.key(seed))
    vocab = {w: k for k, w in enumerate(["<pad>"] + WORDS + ["法国", "法语"])}
    embedding = jax.random.normal(key_embed, (len(vocab), embed_size))
    config = lstmjax.LSTMConfig(embed_size, hidden_size, bidirectional=True)
    params = lstmjax.init(key_lstm, config)

    tokens = jnp.array([[vocab[w] for w in WORDS]])
    ys, state = lstmjax.apply(params, config, embedding[tokens])
    sentence = lstmjax.sentence_representation(state)

    # The same sentence in a batch, right-padded after a longer one.
    batch = jnp.array([[vocab[w] for w in ["法国", "我", "爱", "法语", "中国"]],
                       [vocab[w] for w in WORDS] + [0, 0]])
    ys_b, state_b = lstmjax.apply(params, config, embedding[batch], jnp.array([5, 3]))
    return ys[0], sentence[0], ys_b[1], lstmjax.sentence_representation(state_b)[1]


def main(seed: int = 0):
    ys, sentence, ys_padded, sentence_padded = encode(seed)
    H = ys.shape[-1] // 2
    np.set_printoptions(precision=4, suppress=True)
    print("BiLSTM over 我 爱 中国 (hidden size %d per direction)\n" % H)
    for t, word in enumerate(WORDS):
        print(f"  t={t} {word:<3} h_L{t} = {np.asarray(ys[t, :H])}   "
              f"h_R{len(WORDS) - 1 - t} = {np.asarray(ys[t, H:])}")
    print("\nsentence representation [h_L2 ; h_R2] = [h_fw(中国) ; h_bw(我)]:")
    print("  ", np.asarray(sentence))
    same = bool(jnp.allclose(sentence, sentence_padded, atol=1e-6) and
                jnp.allclose(ys, ys_padded[:3], atol=1e-6) and jnp.all(ys_padded[3:] == 0))
    print(f"\nsame numbers when padded in a batch (length 3 of 5), padded outputs 0: {same}")
    return same


if __name__ == "__main__":
    main()
