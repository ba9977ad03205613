"""Vocabulary rules: pad 0, unknown -> 1, min_count, deterministic ties, truncation; the tokenizer."""

import random
import re

import numpy as np
import pytest

from lstmjax.tasks import Vocabulary, tokenize
from lstmjax.tasks.text import PAD, UNK


def test_pad_and_unknown_ids():
    v = Vocabulary.build(["a b b"])
    assert v.words[:2] == [PAD, UNK] and v.words[2:] == ["b", "a"]
    np.testing.assert_array_equal(v.encode("b a zzz"), [2, 3, 1])
    np.testing.assert_array_equal(v.encode(""), [1])  # never empty
    np.testing.assert_array_equal(v.encode("zzz yyy"), [1, 1])


def test_min_count_drops_rare_words():
    v = Vocabulary.build(["a a a b b c"], min_count=2)
    assert v.words[2:] == ["a", "b"]
    assert Vocabulary.build(["a a a b b c"], min_count=3).words[2:] == ["a"]
    assert Vocabulary.build(["a b c"], min_count=1).words[2:] == ["a", "b", "c"]
    np.testing.assert_array_equal(Vocabulary.build(["a a c"], min_count=2).encode("a c"), [2, 1])


def test_ties_are_broken_by_code_point_order_whatever_the_input_order():
    texts = ["pear apple", "zebra banana", "apple zebra", "Éclair éclair"]
    v = Vocabulary.build(texts)
    # counts: apple 2, zebra 2, éclair 2, banana 1, pear 1 -> by count, then code point
    assert v.words[2:] == ["apple", "zebra", "éclair", "banana", "pear"]
    for seed in range(5):
        shuffled = texts[:]
        random.Random(seed).shuffle(shuffled)
        assert Vocabulary.build(shuffled) == v


def test_truncation_keeps_the_most_frequent_including_pad_and_unk():
    text = "a " * 5 + "b " * 4 + "c " * 3 + "d " * 2 + "e"
    assert Vocabulary.build([text], max_size=4).words == [PAD, UNK, "a", "b"]
    assert len(Vocabulary.build([text], max_size=3)) == 3
    assert len(Vocabulary.build([text], max_size=100)) == 7  # all 5 words + pad + unk
    # truncation at a tie still follows the tie rule
    assert Vocabulary.build(["y x w"], max_size=4).words[2:] == ["w", "x"]


@pytest.mark.parametrize("kw,match", [
    ({"max_size": 2}, r"vocab_size=2; must be an integer >= 3"),
    ({"max_size": 2.5}, r"vocab_size=2.5"),
    ({"min_count": 0}, r"min_count=0; must be an integer >= 1"),
    ({"min_count": -1}, r"min_count=-1"),
])
def test_bad_sizes_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        Vocabulary.build(["a b"], **kw)


def test_encode_max_length():
    v = Vocabulary.build(["a b c"])
    np.testing.assert_array_equal(v.encode("a b c", 2), [2, 3])
    np.testing.assert_array_equal(v.encode("a b c", None), [2, 3, 4])
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"max_length={bad}; must be >= 1"):
            v.encode("a b c", bad)


def test_save_load_roundtrip(tmp_path):
    v = Vocabulary.build(["héllo wörld 我"])
    v.save(str(tmp_path / "v.json"))
    assert Vocabulary.load(str(tmp_path / "v.json")) == v
    (tmp_path / "bad.json").write_text('{"words": ["a"]}')
    with pytest.raises(ValueError, match="bad.json: not a vocabulary JSON file"):
        Vocabulary.load(str(tmp_path / "bad.json"))


def test_tokenizer_unicode_words_cjk_characters_and_punctuation():
    assert tokenize("Don't STOP<br />café, naïve!") == ["don't", "stop", "café", ",", "naïve", "!"]
    assert tokenize("我爱中国") == ["我", "爱", "中", "国"]
    assert tokenize("snake_case 3.5") == ["snake", "_", "case", "3", ".", "5"]
    assert tokenize(b"bytes \xff ok") == ["bytes", "\ufffd", "ok"]


def test_tokenizer_on_ascii_is_the_former_rule():
    old = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")
    rng = random.Random(0)
    alphabet = "abcXYZ019 '_-.,!?\t\n<>/\""
    for _ in range(500):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert tokenize(s) == old.findall(re.sub(r"<br\s*/?>", " ", s, flags=re.I).lower()), s
