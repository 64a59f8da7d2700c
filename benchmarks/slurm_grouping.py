"""How to pack many short jobs into SLURM submissions: group jobs, job arrays, or neither.

Starts a one-node SLURM cluster on this machine (benchmarks/slurm_cluster.py; needs root, installs
slurm-wlm and munge with apt-get if missing), then runs the same config once per variant of
workflow/profiles/slurm, each in a fresh folder:

    groups  the profile as it is (short CPU jobs in group jobs, group-components at a time)
    none    the profile without groups: one submission per job
    arrays  no groups, every rule's ready jobs as one SLURM job array (--slurm-array-jobs=all)

and prints wall time, sbatch submissions and the ratio against `none`, measured in the same run.
Usage: python benchmarks/slurm_grouping.py [--configfile config.yaml | --tiny] [--variants groups,none,arrays]
(--tiny: the tests' .test/all_methods.yaml, every rule of every method in a few minutes per variant)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from gpu_suite import REPO, child_env
from slurm_cluster import LocalSlurmCluster

TINY = REPO / ".test" / "all_methods.yaml"  # every rule of every method on tiny data

# the scratch cluster answers at once: poll it every few seconds instead of the profile's 20 s
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]
# snakemake through benchmarks/snakemake_fast_status.py: the plugin's growing poll interval capped at 3 s
LAUNCHER = [sys.executable, str(REPO / "benchmarks" / "snakemake_fast_status.py")]


def variant_profile(variant: str, folder: Path) -> Path:
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    if variant in ("none", "arrays"):
        for key in ["groups", "group-components"]:
            profile.pop(key, None)
    if variant == "arrays":
        profile["slurm-array-jobs"] = "all"
    target = folder / f"profile_{variant}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return target


def run_variant(variant: str, config: dict, folder: Path) -> dict:
    workdir = folder / variant
    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = child_env()
    command = [*LAUNCHER, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--workflow-profile", str(variant_profile(variant, folder)), *FAST_STATUS]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.monotonic() - start
    text = result.stdout + result.stderr
    (folder / f"{variant}.log").write_text(text)
    if result.returncode != 0:
        raise SystemExit(f"{variant}: snakemake failed, see {folder / f'{variant}.log'}\n{text[-3000:]}")
    submissions = len(set(re.findall(r"SLURM jobid (\d+)", text)))
    jobs = re.search(r"(\d+) of (\d+) steps \(100%\) done", text)
    return {"variant": variant, "seconds": seconds, "submissions": submissions,
            "jobs": int(jobs.group(2)) if jobs else -1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny all-methods config instead")
    parser.add_argument("--variants", default="groups,none,arrays")
    parser.add_argument("--cpus", type=int, default=8, help="CPUs the scratch node declares")
    parser.add_argument("--memory-mb", type=int, default=128000, help="memory the scratch node declares")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = parser.parse_args()
    config = yaml.safe_load((TINY if a.tiny else a.configfile).read_text())
    folder = Path(tempfile.mkdtemp(prefix="slurm-grouping-"))
    rows = []
    with LocalSlurmCluster(folder / "cluster", cpus=a.cpus, memory_mb=a.memory_mb):
        for variant in a.variants.split(","):
            rows.append(run_variant(variant, config, folder))
            print(f"{variant:7s} {rows[-1]['seconds']:7.1f} s  {rows[-1]['submissions']:4d} submissions  "
                  f"{rows[-1]['jobs']:4d} jobs", flush=True)
    base = next((r for r in rows if r["variant"] == "none"), rows[0])
    print(f"\nconfig {TINY.name if a.tiny else a.configfile.name}; ratios against '{base['variant']}' from this run:")
    for r in rows:
        print(f"{r['variant']:7s} time x{r['seconds'] / base['seconds']:.2f}  "
              f"submissions x{r['submissions'] / max(base['submissions'], 1):.2f}")
    if not a.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"kept {folder}")


if __name__ == "__main__":
    main()
