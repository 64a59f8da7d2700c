"""pipeline.paths: templates are filled in and read back the same way everywhere."""

from pipeline import paths


def test_locate_reads_a_filled_template_back_under_any_prefix():
    job = paths.DIFFUSION_JOB.format(experiment="sweep", size=4, width=8, seed=0)
    assert paths.locate(paths.DIFFUSION_SUBSET, f"/x/memo/{job}/neighbors.parquet") == \
        ("/x/memo/", {"experiment": "sweep", "size": "4"})
    assert paths.locate(f"{paths.DIFFUSION_JOB}/neighbors.parquet", f"{job}/neighbors.parquet") == \
        ("", {"experiment": "sweep", "size": "4", "width": "8", "seed": "0"})
    # whole path components only: not a folder that merely ends like the template
    assert paths.locate(paths.DIFFUSION, f"old{paths.DIFFUSION.format(experiment='e')}") is None
    assert paths.locate(paths.DIFFUSION, paths.FELDMAN.format(dataset="d")) is None


def test_glob_pattern_fills_what_is_known():
    assert paths.glob_pattern(paths.DIFFUSION_JOB, experiment="sweep") == \
        paths.DIFFUSION_JOB.format(experiment="sweep", size="*", width="*", seed="*")
