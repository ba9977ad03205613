import numpy as np

from experiments import seed_example


def test_seed_example_sentence_vector_is_last_fw_and_first_bw():
    ys, sentence, ys_padded, sentence_padded = seed_example.encode(seed=0)
    H = ys.shape[-1] // 2
    np.testing.assert_allclose(sentence, np.concatenate([ys[2, :H], ys[0, H:]]), atol=1e-6)
    np.testing.assert_allclose(sentence_padded, sentence, atol=1e-6)
    np.testing.assert_allclose(ys_padded[:3], ys, atol=1e-6)
    assert np.all(np.asarray(ys_padded[3:]) == 0)


def test_seed_example_main_prints(capsys):
    assert seed_example.main(seed=1)
    out = capsys.readouterr().out
    assert "我" in out and "[h_L2 ; h_R2]" in out and "padded outputs 0: True" in out
