#!/usr/bin/python3
"""The arithmetic of bench/compare.sh: reads its records (model, side, round, threads, the
bench's JSON line; tab-separated) and prints, per model, each side's median and range of it/s over
the rounds (a peer's figure in a round is its better thread count), the ratio minimax / best peer
(per round) against the target, minimax's peak resident memory as a fraction of PyTorch's, and
the fraction of its compute floor minimax's iterations reached (each run's own median over its
bench rounds) against the target, and where minimax's iteration goes: its floor, what the same
calls lose inside the iteration, and the work between them.
Usage: compare_stats.py RECORDS"""
import collections
import json
import statistics
import sys

TARGETS = {"mlp": 4.0, "dcgan": 4.0, "wgan-gp": 3.0}  # issue 14: minimax / best peer
MEMORY_TARGET = 0.60  # minimax's peak resident memory / PyTorch's
FLOOR_TARGETS = {"mlp": 0.70, "dcgan": 0.70}  # issue 14: minimax's compute floor / its iteration


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


def report_speed(model, best):
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


def report_memory(best, sides):
    mem_minimax = statistics.median(j["peak_rss_mib"] for j in best["minimax"].values())
    mem_torch = statistics.median(j["peak_rss_mib"] for runs in sides["pytorch"].values() for j in runs)
    fraction = mem_minimax / mem_torch
    verdict = "met" if fraction <= MEMORY_TARGET else "MISSED"
    print(f"  peak resident memory: minimax {mem_minimax:.0f} MiB, PyTorch {mem_torch:.0f} MiB: "
          f"{100 * fraction:.0f}% (target <= {100 * MEMORY_TARGET:.0f}%: {verdict})")


def report_floor(model, best):
    """The fraction of the compute floor in minimax's runs, when their records have it."""
    fractions = [100 * j["fraction_of_floor"] for j in best["minimax"].values()
                 if "fraction_of_floor" in j]
    if not fractions:
        return
    line = f"  minimax's fraction of its compute floor: {spread(fractions, '%', 0)}"
    target = FLOOR_TARGETS.get(model)
    if target is not None:
        verdict = "met" if statistics.median(fractions) >= 100 * target else "MISSED"
        line += f"; target {100 * target:.0f}%: {verdict}"
    print(line)


def report_split(best):
    """minimax's iteration in three (medians over the rounds), when its records have the calls'
    time inside the iteration: floor + what the calls lose inside it + the work between them."""
    runs = [j for j in best["minimax"].values() if "floor_calls_in_work_ms_per_iter" in j]
    if not runs:
        return
    floor = statistics.median(j["floor_ms_per_iter"] for j in runs)
    lost = statistics.median(j["floor_calls_in_work_ms_per_iter"] - j["floor_ms_per_iter"]
                             for j in runs)
    between = statistics.median(j["ms_per_iter"] - j["floor_calls_in_work_ms_per_iter"]
                                for j in runs)
    print(f"  minimax's iteration (medians): floor {floor:.2f} ms, + {lost:.2f} ms the same calls "
          f"lose inside it, + {between:.2f} ms of work between them")


def report(model, sides):
    print(f"\n{model}:")
    best = {side: best_per_round(rounds) for side, rounds in sides.items()}
    report_speed(model, best)
    report_memory(best, sides)
    report_floor(model, best)
    report_split(best)


def main():
    for model, sides in read(sys.argv[1]).items():
        report(model, sides)


if __name__ == "__main__":
    main()
