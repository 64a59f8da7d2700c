"""Every table of two finished runs side by side: which are equal, and in which columns the others differ.

    python benchmarks/compare_runs.py RESULTS_A RESULTS_B [--names float32 bf16]

For two runs of one config that differ in a setting that changes training (``precision``, the
device): each Parquet table and .npy array under both ``results/`` folders (logs and benchmarks
left out) is equal, or gives the same statistics, or differs, by the rule of ``gpu_suite.compare_tables``
(per numeric column, the means may differ by at most max(0.25 x the first run's standard
deviation, 4 standard errors, 10 % of |mean|); summary columns of fewer than 10 values are
reported, not judged; index and label columns are not compared). Prints one line per table that is
not equal, with the columns behind it, then the counts, and, where both runs hold a claims table,
each claim's outcome in both.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pandas as pd

from gpu_suite import compare_tables


def claims(root: Path) -> pd.DataFrame | None:
    path = root / "claims" / "claims.parquet"
    return pd.read_parquet(path, columns=["id", "value", "passed"]) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="results/ of the first run")
    parser.add_argument("b", type=Path, help="results/ of the second run")
    parser.add_argument("--names", nargs=2, default=("a", "b"), help="what to call the two runs")
    args = parser.parse_args()
    rows = compare_tables(args.a, args.b, tuple(args.names))
    for row in rows:
        if row["status"] != "equal":
            print(f"{row['table']}: {row['status']}{'; ' + row['detail'] if row['detail'] else ''}")
    counts = Counter(row["status"] for row in rows)
    print(f"{len(rows)} tables and arrays: " + ", ".join(f"{n} {status}" for status, n in counts.most_common()))
    a, b = claims(args.a), claims(args.b)
    if a is not None and b is not None:
        both = a.merge(b, on="id", suffixes=[f" {name}" for name in args.names])
        moved = both[both[f"passed {args.names[0]}"] != both[f"passed {args.names[1]}"]]
        print(f"claims: {len(both)} in both, {len(moved)} with another outcome"
              + (":\n" + moved.to_string(index=False) if len(moved) else ""))
        print(both.to_string(index=False))

if __name__ == "__main__":
    main()
