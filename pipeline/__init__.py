"""Memorization pipeline: the science and I/O behind the Snakemake workflow.

Rules in ``workflow/rules`` are thin calls into the modules of this package;
every table they write is Parquet with a schema documented next to its writer.
"""

__version__ = "0.1.0"
