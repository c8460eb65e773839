#!/usr/bin/python3
"""The arithmetic of bench/compare.sh: reads its records (model, side, round, threads, the
bench's JSON line; tab-separated) and prints, per model, each side's median and range of it/s over
the rounds (a peer's figure in a round is its better thread count), the ratio minimax / best peer
(per round) against the target, and minimax's peak resident memory as a fraction of PyTorch's.
Usage: compare_stats.py RECORDS"""
import collections
import json
import statistics
import sys

TARGETS = {"mlp": 4.0, "dcgan": 4.0, "wgan-gp": 3.0}  # issue 14: minimax / best peer
MEMORY_TARGET = 0.60  # minimax's peak resident memory / PyTorch's


def read(path):
    """{model: {side: {round: [json, ...]}}}"""
    runs = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    with open(path) as f:
        for line in f:
            model, side, rnd, _threads, record = line.rstrip("\n").split("\t", 4)
            runs[model][side][int(rnd)].append(json.loads(record))
    return runs


def spread(values, unit="", digits=2):
    return (f"median {statistics.median(values):.{digits}f}{unit} "
            f"(min {min(values):.{digits}f}, max {max(values):.{digits}f})")


def best_per_round(rounds):
    """{round: the better run of the round (by it/s)}"""
    return {r: max(runs, key=lambda j: j["iters_per_s"]) for r, runs in rounds.items()}


def report(model, sides):
    print(f"\n{model}:")
    best = {side: best_per_round(rounds) for side, rounds in sides.items()}
    for side, rounds in best.items():
        threads = collections.Counter(j["threads"] for j in rounds.values())
        print(f"  {side:9} {spread([j['iters_per_s'] for j in rounds.values()], ' it/s')}, "
              f"threads {dict(threads)}")
    peers = [s for s in best if s != "minimax"]
    ratios = [best["minimax"][r]["iters_per_s"] / max(best[p][r]["iters_per_s"] for p in peers)
              for r in best["minimax"]]
    target = TARGETS.get(model)
    verdict = "met" if statistics.median(ratios) >= target else "MISSED"
    print(f"  ratio minimax / best peer: {spread(ratios, 'x')}; target {target}x: {verdict}")
    mem_minimax = statistics.median(j["peak_rss_mib"] for j in best["minimax"].values())
    mem_torch = statistics.median(j["peak_rss_mib"] for runs in sides["pytorch"].values() for j in runs)
    fraction = mem_minimax / mem_torch
    verdict = "met" if fraction <= MEMORY_TARGET else "MISSED"
    print(f"  peak resident memory: minimax {mem_minimax:.0f} MiB, PyTorch {mem_torch:.0f} MiB: "
          f"{100 * fraction:.0f}% (target <= {100 * MEMORY_TARGET:.0f}%: {verdict})")


def main():
    for model, sides in read(sys.argv[1]).items():
        report(model, sides)


if __name__ == "__main__":
    main()
