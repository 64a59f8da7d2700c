"""Look into the tables the workflow writes.

    python -m pipeline.inspect results/atlas/mnist5k/atlas.parquet     # schema, row count, head
    python -m pipeline.inspect results/feldman results/kfold_vae --head 3
    python -m pipeline.inspect results --dataset mnist5k --example 1112  # every row about example 1112

A path may be a Parquet file or a folder (searched recursively for ``*.parquet``). For each
table it prints the path, the row count, the schema (column: Arrow type) and the first
``--head`` rows. With ``--example I`` it prints instead, for every table that mentions dataset
index I, the rows that do, and the matching atlas row column by column. Dataset indices are
looked up in the columns that hold them (``index``, ``train_index``, ``test_index``,
``nearest``, ``second``, ``ref_index``, ``nearest_validation``; ``index`` of MR-GAN's
nn_distances and ``query`` are sample positions and are skipped). Indices are per data set, so
``--dataset NAME`` keeps only tables of that data set: paths with a folder named NAME, and the
diffusion experiments whose ``dataset`` is NAME in ``--config`` (default ./config.yaml).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from pipeline import cli, io
from pipeline.errors import PipelineError

INDEX_COLUMNS = ["index", "train_index", "test_index", "nearest", "second", "ref_index", "nearest_validation"]


def find_tables(paths: list[Path]) -> list[Path]:
    tables = []
    for path in paths:
        if path.is_dir():
            tables += sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
        elif path.is_file():
            tables.append(path)
        else:
            raise PipelineError(f"{path}: no such file or folder")
    return tables


def diffusion_experiments(config_path: Path, dataset: str) -> set[str]:
    """Diffusion experiments of ``config_path`` trained on ``dataset`` (none if there is no config)."""
    if not config_path.is_file():
        return set()
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PipelineError(f"{config_path}: not valid YAML ({err})") from err
    experiments = (config.get("diffusion") or {}).get("experiments") or {}
    return {name for name, spec in experiments.items() if (spec or {}).get("dataset") == dataset}


def of_dataset(path: Path, dataset: str, experiments: set[str]) -> bool:
    parts = path.parts
    if dataset in parts[:-1]:
        return True
    return any(parts[i] == "diffusion" and parts[i + 1] in experiments for i in range(len(parts) - 1))


def shorten_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """List cells (e.g. Feldman's membership masks) as their length and first values."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and len(frame) and hasattr(frame[column].iloc[0], "__len__") \
                and not isinstance(frame[column].iloc[0], str):
            frame[column] = [f"{len(v)} values [{', '.join(map(str, list(v)[:3]))}, ...]" for v in frame[column]]
    return frame


def describe_table(path: Path, head: int) -> str:
    """Path, row count, schema and head of one table."""
    try:
        schema = pq.read_schema(path)
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as err:  # pyarrow raises several types for a bad file
        raise PipelineError(f"{path}: not a readable Parquet file ({err})") from err
    lines = [f"== {path}", f"rows: {rows}", "schema:"]
    width = max((len(name) for name in schema.names), default=0)
    lines += [f"  {field.name:<{width}}  {field.type}" for field in schema]
    if head > 0:
        frame = shorten_lists(io.read_parquet(path).head(head))
        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
            lines += [f"head({head}):", frame.to_string(index=False)]
    return "\n".join(lines)


def example_rows(table: pd.DataFrame, example: int) -> pd.DataFrame:
    """Rows of ``table`` that mention dataset index ``example`` (see module docstring)."""
    columns = [c for c in INDEX_COLUMNS if c in table.columns]
    if "set" in table.columns and "index" in columns:  # MR-GAN nn_distances: index = sample position
        columns.remove("index")
    mask = pd.Series(False, index=table.index)
    for column in columns:
        if pd.api.types.is_integer_dtype(table[column]):
            mask |= (table[column] == example).fillna(False).astype(bool)
    return table[mask]


def describe_example(tables: list[Path], example: int, limit: int) -> str:
    blocks, found = [], 0
    for path in sorted(tables, key=lambda t: t.name != "atlas.parquet"):  # the atlas row first
        rows = shorten_lists(example_rows(io.read_parquet(path), example))
        if rows.empty:
            continue
        found += 1
        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
            if path.name == "atlas.parquet" and len(rows) == 1:
                body = rows.astype(object).T.to_string(header=False)  # column by column, ints kept
            else:
                body = rows.head(limit).to_string(index=False)
                if len(rows) > limit:
                    body += f"\n... {len(rows) - limit} more rows"
        blocks.append(f"== {path} ({len(rows)} rows)\n{body}")
    header = f"example {example}: found in {found} of {len(tables)} tables"
    return "\n".join([header, *blocks])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print schema, row count and head of workflow tables, "
                                     "or everything known about one example.")
    parser.add_argument("paths", nargs="+", type=Path, help="Parquet files or folders (e.g. results)")
    parser.add_argument("--head", type=int, default=5, help="rows to show per table (default 5)")
    parser.add_argument("--example", type=int, help="dataset index of an example to look up across the tables")
    parser.add_argument("--dataset", help="keep only tables of this data set")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"),
                        help="config naming the diffusion experiments' data sets (default ./config.yaml)")
    parser.add_argument("--limit", type=int, default=20, help="rows to show per table with --example")
    a = parser.parse_args(argv)
    tables = find_tables(a.paths)
    if a.dataset is not None:
        experiments = diffusion_experiments(a.config, a.dataset)
        tables = [t for t in tables if of_dataset(t, a.dataset, experiments)]
    if not tables:
        raise PipelineError(f"no Parquet tables under {' '.join(map(str, a.paths))}"
                            + (f" for data set '{a.dataset}'" if a.dataset else ""))
    text = describe_example(tables, a.example, a.limit) if a.example is not None else \
        "\n\n".join(describe_table(t, a.head) for t in tables)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    cli.run(main, set_aside_corrupt=False)  # read-only: never moves a corrupt table aside
