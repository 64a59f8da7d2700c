"""Look into the tables the workflow writes.

    python -m pipeline.inspect results/atlas/mnist5k/atlas.parquet     # schema, row count, head
    python -m pipeline.inspect results/feldman results/kfold_vae --head 3
    python -m pipeline.inspect results --dataset mnist5k --example 1112  # every row about example 1112

A path may be a Parquet file or a folder (searched recursively for ``*.parquet``). For each
table it prints the path, the row count, the schema (column: Arrow type) and the first
``--head`` rows. With ``--example I`` it prints instead, for every table that mentions dataset
index I, the rows that do, and the matching atlas row column by column. Dataset indices are
looked up in the columns that hold them (``index``, ``train_index``, ``test_index``,
``nearest``, ``second``, ``ref_index``, ``nearest_validation``, and ``query`` of the shared
neighbour tables results/neighbors/<dataset>/<job>.parquet). Not dataset indices, so not looked
up: ``index`` of MR-GAN's nn_distances (a sample or test-split position), ``query`` of a
diffusion job's neighbors.parquet (a sample position) and that table's ``ref_index``, a position
in the job's training subset: it is mapped through ``n<size>/subset.parquet`` to a
``ref_dataset_index`` column, which is looked up and shown.

Indices are per data set, so ``--dataset NAME`` keeps only tables of that data set: paths with
a folder named NAME, and the diffusion experiments trained on NAME. An experiment's data set is
read from its own tables (the ``dataset`` column of results/diffusion/<experiment>/summary.parquet
or of a job's scores.parquet), so no config is needed once a job has been scored; before that it
comes from ``--config`` (default ./config.yaml), and without one the command stops with an error
naming the experiment rather than leave its tables out.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from pipeline import cli, io, paths
from pipeline.errors import PipelineError

INDEX_COLUMNS = ["index", "train_index", "test_index", "nearest", "second", "ref_index", "nearest_validation"]


def find_tables(paths: list[Path]) -> list[Path]:
    tables = []
    for path in paths:
        if path.is_dir():
            tables += sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(".") and p.is_file())
        elif path.is_file():
            tables.append(path)
        else:
            raise PipelineError(f"{path}: no such file or folder")
    return tables


def diffusion_experiment_dir(path: Path) -> Path | None:
    """The experiment folder (paths.DIFFUSION, absolute) of a table under it, else None."""
    found = paths.locate(paths.DIFFUSION, path.resolve().as_posix())
    return None if found is None else Path(found[0] + paths.DIFFUSION.format(**found[1]))


def dataset_in_tables(experiment_dir: Path) -> str | None:
    """The data set an experiment trained on, from the ``dataset`` column of its summary or a job's scores."""
    root, wildcards = paths.locate(paths.DIFFUSION, experiment_dir.as_posix())
    job_scores = paths.glob_pattern(f"{paths.DIFFUSION_JOB}/scores.parquet", **wildcards)
    candidates = [experiment_dir / "summary.parquet", *sorted(Path(root or ".").glob(job_scores))]
    for table in candidates:
        if not table.is_file():
            continue
        try:
            names = set(pq.read_table(table, columns=["dataset"]).column("dataset").to_pylist())
        except Exception:  # unreadable or without the column: try the next table
            continue
        if len(names) == 1:
            return str(names.pop())
    return None


def read_config(config_path: Path | None) -> tuple[Path, dict | None]:
    """(path, parsed config) of ``--config``, or of ./config.yaml (None if absent) when not given."""
    path = Path("config.yaml") if config_path is None else config_path
    if not path.is_file():
        if config_path is not None:
            raise PipelineError(f"--config {config_path}: {'a folder' if path.is_dir() else 'no such file'}, "
                                f"not a config file")
        return path, None
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PipelineError(f"{path}: not valid YAML ({err})") from err
    diffusion = config.get("diffusion") or {} if isinstance(config, dict) else None
    if not isinstance(diffusion, dict) or not isinstance(diffusion.get("experiments") or {}, dict):
        raise PipelineError(f"{path}: not a config (a mapping of sections, diffusion.experiments a mapping of names)")
    return path, config


def experiment_datasets(tables: list[Path], config_path: Path | None) -> dict[Path, str]:
    """Data set of every diffusion experiment folder the tables lie in: from its tables, else from the config."""
    config_file, config = None, None
    datasets = {}
    for experiment_dir in sorted({d for d in map(diffusion_experiment_dir, tables) if d is not None}):
        name = dataset_in_tables(experiment_dir)
        if name is None:
            if config_file is None:
                config_file, config = read_config(config_path)
            shown = os.path.relpath(experiment_dir) if experiment_dir.is_relative_to(Path.cwd()) else experiment_dir
            if config is None:
                raise PipelineError(f"{shown}: no job scored yet, so only a config names its data set, and there is "
                                    f"no ./{config_file}: pass --config PATH (the config of the run)")
            spec = ((config.get("diffusion") or {}).get("experiments") or {}).get(experiment_dir.name) or {}
            if "dataset" not in spec:
                raise PipelineError(f"{shown}: no job scored yet, and {config_file} has no "
                                    f"diffusion.experiments.{experiment_dir.name}.dataset: pass --config PATH")
            name = spec["dataset"]
        datasets[experiment_dir] = name
    return datasets


# Folders named by a data set: the data set of every table under one.
DATASET_FOLDERS = (paths.DATASET, paths.SPLITS, paths.NEIGHBORS, paths.FELDMAN, paths.KFOLD_VAE, paths.MRGAN,
                   paths.FID_FEATURES, paths.ATLAS)


def table_dataset(path: Path) -> str | None:
    """The data set a table is of: from its folder, a diffusion experiment's or a sample set's own tables; else None."""
    experiment_dir = diffusion_experiment_dir(path)
    if experiment_dir is not None:
        return dataset_in_tables(experiment_dir)
    posix = path.resolve().as_posix()
    for template in DATASET_FOLDERS:
        found = paths.locate(template, posix)
        if found:
            return found[1]["dataset"]
    found = paths.locate(paths.SAMPLES, posix)
    scores = None if found is None else Path(found[0] + paths.SAMPLES.format(**found[1])) / "scores.parquet"
    if scores is not None and scores.is_file() and "dataset" in io.parquet_columns(scores):
        names = set(io.read_parquet(scores, columns=["dataset"])["dataset"])
        return str(names.pop()) if len(names) == 1 else None
    return None


def only_dataset(tables: list[Path]) -> str:
    """The one data set of ``tables`` (the example's images are that data set's), else an error naming them."""
    names = sorted({name for name in map(table_dataset, tables) if name is not None})
    if len(names) != 1:
        raise PipelineError("--image: " + (f"the tables are of several data sets ({', '.join(names)}): name one with "
                                           f"--dataset" if names else "no table names its data set: pass --dataset"))
    return names[0]


def of_dataset(path: Path, dataset: str, experiments: dict[Path, str]) -> bool:
    experiment_dir = diffusion_experiment_dir(path)
    if experiment_dir is not None:
        return experiments[experiment_dir] == dataset
    return dataset in path.parts[:-1]


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


def diffusion_job_of_neighbors(path: Path) -> tuple[str, dict[str, str]] | None:
    """(root, wildcards) of a diffusion job's neighbors.parquet (paths.DIFFUSION_JOB), else None."""
    return paths.locate(f"{paths.DIFFUSION_JOB}/neighbors.parquet", path.as_posix())


def lookup_table(path: Path) -> tuple[pd.DataFrame, list[str], str]:
    """(table, the columns holding dataset indices, a note) of one table for ``--example``."""
    table = io.read_parquet(path)
    columns = [c for c in INDEX_COLUMNS if c in table.columns]
    if "set" in table.columns and "index" in columns:  # MR-GAN nn_distances: index = sample or test position
        columns.remove("index")
    if paths.locate(paths.NEIGHBORS, path.as_posix()) and "query" in table.columns:  # shared: query = dataset index
        columns.append("query")
    note = ""
    diffusion_job = diffusion_job_of_neighbors(path)
    if diffusion_job is not None and "ref_index" in table.columns:
        # query = sample position, ref_index = position in the job's training subset
        columns.remove("ref_index")
        root, wildcards = diffusion_job
        subset_path = Path(root + paths.DIFFUSION_SUBSET.format(**wildcards)) / "subset.parquet"
        if not subset_path.is_file():
            return table.iloc[:0], [], f"not searched: ref_index is a position in {subset_path}, which is missing"
        subset = io.read_parquet(subset_path).set_index("position")["index"]
        mapped = table["ref_index"].map(subset).astype("Int64")
        table.insert(table.columns.get_loc("ref_index") + 1, "ref_dataset_index", mapped)
        columns.append("ref_dataset_index")
        note = f"ref_index: position in {subset_path}; ref_dataset_index: its dataset index"
    return table, columns, note


def example_rows(table: pd.DataFrame, columns: list[str], example: int) -> pd.DataFrame:
    """Rows of ``table`` whose ``columns`` (dataset indices) mention ``example``."""
    mask = pd.Series(False, index=table.index)
    for column in columns:
        if pd.api.types.is_integer_dtype(table[column]):
            mask |= (table[column] == example).fillna(False).astype(bool)
    return table[mask]


def gather_example(tables: list[Path], example: int) -> tuple[list[tuple[Path, pd.DataFrame, str]], list[str]]:
    """((table, its rows that mention ``example``, a note) for each table with such rows, the atlas first;
    notes on the tables not searched)."""
    found, notes = [], []
    for path in sorted(tables, key=lambda t: t.name != "atlas.parquet"):  # the atlas row first
        table, columns, note = lookup_table(path)
        if not columns:
            if note:
                notes.append(f"note: {path}: {note}")
            continue
        rows = example_rows(table, columns, example)
        if not rows.empty:
            found.append((path, rows, note))
    return found, notes


def describe_example(tables: list[Path], example: int, limit: int) -> str:
    blocks = []
    found, notes = gather_example(tables, example)
    for path, rows, note in found:
        rows = shorten_lists(rows)
        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
            if path.name == "atlas.parquet" and len(rows) == 1:
                body = rows.astype(object).T.to_string(header=False)  # column by column, ints kept
            else:
                body = rows.head(limit).to_string(index=False)
                if len(rows) > limit:
                    body += f"\n... {len(rows) - limit} more rows"
        blocks.append(f"== {path} ({len(rows)} rows)\n" + (f"{note}\n" if note else "") + body)
    header = f"example {example}: found in {len(found)} of {len(tables)} tables"
    return "\n".join([header, *notes, *blocks])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print schema, row count and head of workflow tables, "
                                     "or everything known about one example.")
    parser.add_argument("paths", nargs="+", type=Path, help="Parquet files or folders (e.g. results)")
    parser.add_argument("--head", type=int, default=5, help="rows to show per table (default 5)")
    parser.add_argument("--example", type=int, help="dataset index of an example to look up across the tables")
    parser.add_argument("--dataset", help="keep only tables of this data set")
    parser.add_argument("--config", type=Path, default=None,
                        help="with --dataset: config naming the data set of a diffusion experiment none of whose "
                        "jobs is scored yet (default ./config.yaml; scored experiments name it in their tables)")
    parser.add_argument("--limit", type=int, default=20, help="rows to show per table with --example")
    parser.add_argument("--image", type=Path, help="with --example: draw the example, its neighbours and its scores "
                        "into this file (PNG, PDF, SVG by its suffix) instead of printing")
    a = parser.parse_args(argv)
    if a.image is not None and a.example is None:
        raise PipelineError("--image draws one example: name it with --example N")
    tables = find_tables(a.paths)
    if a.dataset is not None:
        experiments = experiment_datasets(tables, a.config)
        tables = [t for t in tables if of_dataset(t, a.dataset, experiments)]
    if not tables:
        raise PipelineError(f"no Parquet tables under {' '.join(map(str, a.paths))}"
                            + (f" for data set '{a.dataset}'" if a.dataset else ""))
    if a.image is not None:
        from pipeline.inspect_picture import write_example_picture

        dataset = a.dataset if a.dataset is not None else only_dataset(tables)
        write_example_picture(a.image, a.example, dataset, tables, *gather_example(tables, a.example))
        print(f"example {a.example} of {dataset}: {a.image}")
        return
    text = describe_example(tables, a.example, a.limit) if a.example is not None else \
        "\n\n".join(describe_table(t, a.head) for t in tables)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    cli.run(main, set_aside_corrupt=False)  # read-only: never moves a corrupt table aside
