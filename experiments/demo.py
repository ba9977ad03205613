"""`make demo`: the seed's BiLSTM example (我 爱 中国)."""

from experiments import seed_example

if __name__ == "__main__":
    seed_example.main()
