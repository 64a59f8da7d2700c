"""Is bfloat16's noise below the models' own? Feldman estimates of the same runs trained in bf16 and in
float32, against two independent float32 sets of the same size.

    python benchmarks/precision_agreement.py --float32 runs/mnist/results --bf16 runs/mnist_bf16/results \
        --dataset mnist [--arch mlp] [--runs 128] [--mem-threshold 0.25]

``--float32`` holds the shards of a finished run, ``--bf16`` shards of the same config with
``precision: bf16`` (the same seeds: a run of either has the same subset, initial weights and batch
order). Three sets of t runs, t the bf16 runs found (at most ``--runs``):
    A  the float32 runs with the bf16 runs' numbers
    B  those bf16 runs
    C  as many other float32 runs (other subsets and seeds), the lowest numbers not in A
For mem and mem_margin it prints, for A against B (precision noise) and A against C (model noise at
the same t): the Spearman over all examples, the Jaccard of the top 1 % and top 5 % sets (cut where
no tie decides them, ``convergence.top_cut``, ties judged by the estimate from all float32 runs),
the Jaccard of the memorized sets (mem >= --mem-threshold, other estimators at the same count) and
the mean absolute difference. bf16 passes where A-B agrees at least as well as A-C on every measure
that is defined for both (a top set a tie at its cut leaves empty has no Jaccard).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import io  # noqa: E402
from pipeline.feldman import convergence, estimators  # noqa: E402
from pipeline.feldman.runs import read_runs  # noqa: E402

ESTIMATORS = ("mem", "mem_margin")
MEASURES = ("spearman", "jaccard_top1", "jaccard_top5", "jaccard_memorized")


def shards(results: Path, dataset: str, arch: str) -> list[Path]:
    paths = sorted((results / "feldman" / dataset / arch / "shards").glob("shard*.parquet"))
    if not paths:
        sys.exit(f"error: no shard tables under {results}/feldman/{dataset}/{arch}/shards")
    return paths


def run_numbers(paths: list[Path]) -> np.ndarray:
    """The run numbers the shard tables hold, sorted (``read_runs``'s order)."""
    return np.sort(np.concatenate([io.read_parquet(p, columns=["run"])["run"].to_numpy() for p in paths]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--float32", required=True, type=Path, help="results/ of the float32 run")
    parser.add_argument("--bf16", required=True, type=Path, help="results/ of the bf16 run")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--runs", type=int, default=1000, help="at most this many runs per set")
    parser.add_argument("--mem-threshold", type=float, default=0.25)
    a = parser.parse_args()
    fp32_paths, bf16_paths = shards(a.float32, a.dataset, a.arch), shards(a.bf16, a.dataset, a.arch)
    fp32_ids, bf16_ids = run_numbers(fp32_paths), run_numbers(bf16_paths)[:a.runs]
    t = len(bf16_ids)
    same = np.flatnonzero(np.isin(fp32_ids, bf16_ids))
    others = np.flatnonzero(~np.isin(fp32_ids, bf16_ids))[:t]
    if len(same) < t or len(others) < t:
        sys.exit(f"error: need the {t} bf16 runs' numbers and {t} more among the float32 runs; found "
                 f"{len(same)} and {len(others)}")
    fp32, bf16 = read_runs(fp32_paths), read_runs(bf16_paths)
    if not np.array_equal(fp32.member[same], bf16.member[:t]):
        sys.exit("error: the bf16 runs have other subsets than the float32 runs of the same numbers; not the same seeds")
    sets = {"A": fp32.take(same), "B": bf16.take(slice(0, t)), "C": fp32.take(others)}
    values = {name: estimators.estimate_all(runs, list(ESTIMATORS)) for name, runs in sets.items()}
    full = estimators.estimate_all(fp32, list(ESTIMATORS))  # ties told apart by all float32 runs
    n = fp32.member.shape[1]
    print(f"{a.dataset}/{a.arch}: n = {n} training examples, t = {t} runs per set; mean test accuracy "
          + ", ".join(f"{name} {sets[name].test_accuracy.mean():.4f}" for name in sets))
    print(f"{'estimator':<11} {'pair':<22} " + " ".join(f"{m:>17}" for m in MEASURES) + f" {'mean |diff|':>12}")
    for est in ESTIMATORS:
        threshold, _ = convergence.memorized_threshold(est, {k: v[0] for k, v in full.items()}, a.mem_threshold)
        rows = {}
        for pair, (x, y) in {"bf16 vs float32 (A-B)": ("A", "B"), "float32 vs float32 (A-C)": ("A", "C")}.items():
            got = convergence.split_agreement(values[x][est], values[y][est], full[est], threshold)
            diff = np.nanmean(np.abs(values[x][est][0] - values[y][est][0]))
            rows[pair] = [got[m] for m in MEASURES] + [diff]
            print(f"{est:<11} {pair:<22} " + " ".join(f"{v:>17.4f}" for v in rows[pair][:-1]) + f" {diff:>12.4f}")
        precision, model = rows.values()
        judged = [(p, m) for p, m in zip(precision[:-1], model[:-1]) if not np.isnan(p) and not np.isnan(m)]
        better = all(p >= m for p, m in judged) and precision[-1] <= model[-1]
        print(f"{est:<11} precision noise below model noise on every measure: {'yes' if better else 'NO'} "
              f"({len(judged) + 1} judged; NaN: a tie at the cut leaves no set)")


if __name__ == "__main__":
    main()
