"""`make demo`: the seed's BiLSTM example (我 爱 中国), then a small gap sweep.

    python -m experiments.demo [--workdir runs/demo] [--skip-sweep]

The sweep (``python -m experiments.sweep --config
experiments/configs/gap_sweep.py:demo``) trains a tanh RNN and a chrono-initialized LSTM
on distant recall at gaps 10 and 200 (one seed each, about two minutes on 2 cores) and
writes its table, JSON and plot into the workdir: the seed's claim in four runs, the RNN
holding the clue over the short gap and losing it over the long one where the LSTM
keeps it. The fuller sweep, eight models at gaps 10/30/100 with 2 seeds, is
``python -m experiments.sweep --config experiments/configs/gap_sweep.py:quick
--workdir runs/gap_quick``.
"""

from __future__ import annotations

import argparse
import os
import time

from experiments import seed_example, sweep


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="runs/demo")
    p.add_argument("--skip-sweep", action="store_true", help="only the seed example")
    p.add_argument("--tiny", action="store_true", help="seconds-long sweep (tests)")
    args = p.parse_args(argv)
    seed_example.main()
    if args.skip_sweep:
        return
    print("\n" + "=" * 78)
    print("Gap sweep (demo): does each model still recall the clue after a gap of N tokens?")
    print("(about two minutes on a 2-core CPU; progress lines follow)")
    print("=" * 78, flush=True)
    t0 = time.time()
    config = os.path.relpath(os.path.join(sweep.CONFIGS, "gap_sweep.py"))
    sweep_args = ([f"--config={config}:tiny", "--config.sweep.model=rnn,lstm"] if args.tiny
                  else [f"--config={config}:demo"])
    report = sweep.main(argv=sweep_args + ["--workdir", args.workdir])
    print(f"\ndemo done in {time.time() - t0:.0f} s. Look at:")
    print(f"  table : {report}")
    print(f"  plot  : {os.path.join(os.path.dirname(report), 'accuracy_vs_gap.png')}")
    with open(report) as f:
        text = f.read()
    start = text.find("## distant_recall: test accuracy")
    end = text.find("## distant_recall: steps")
    if start >= 0:
        print("\n" + text[start:end if end > start else None].strip())


if __name__ == "__main__":
    main()
