"""The resume-checkpoint helper every trainer uses: fingerprint over settings and array content,
``<output>.resume.pt``, atomic saves, stale and corrupt checkpoints, cost-bounded saving."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from pipeline import checkpoints
from pipeline.errors import CorruptFileError

SETTINGS = {"spec": {"lr": 0.1, "epochs": 3}, "seed": 0, "runs": [0, 1]}


def arrays():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (5, 4, 4, 1), dtype=np.uint8), np.arange(5, dtype=np.int64),
            np.array([True, False, True, True, False])]


def test_fingerprint_follows_array_content_at_the_same_shape():
    base = checkpoints.fingerprint(SETTINGS, arrays())
    assert checkpoints.fingerprint(SETTINGS, arrays()) == base  # equal content, other objects
    for k in range(3):
        changed = arrays()
        changed[k].flat[2] = not changed[k].flat[2] if changed[k].dtype == bool else changed[k].flat[2] + 1
        assert changed[k].shape == arrays()[k].shape
        assert checkpoints.fingerprint(SETTINGS, changed) != base, k
    images, labels, mask = arrays()
    # the same bytes read as another shape or dtype, or handed over in another order, are other data
    assert checkpoints.fingerprint(SETTINGS, [images.reshape(5, 16, 1, 1), labels, mask]) != base
    assert checkpoints.fingerprint(SETTINGS, [images, labels.view(np.float64), mask]) != base
    assert checkpoints.fingerprint(SETTINGS, [labels, images, mask]) != base
    assert checkpoints.fingerprint(SETTINGS, [images[:, ::-1].copy(), labels, mask]) != base
    # a non-contiguous view and a torch tensor fingerprint as their content
    assert checkpoints.fingerprint(SETTINGS, [images[:, ::-1], labels, mask]) == \
        checkpoints.fingerprint(SETTINGS, [images[:, ::-1].copy(), labels, mask])
    assert checkpoints.fingerprint(SETTINGS, [torch.from_numpy(images), labels, mask]) == base


def test_fingerprint_follows_settings_not_their_key_order():
    base = checkpoints.fingerprint(SETTINGS, arrays())
    reordered = {"runs": [0, 1], "seed": 0, "spec": {"epochs": 3, "lr": 0.1}}
    assert checkpoints.fingerprint(reordered, arrays()) == base
    assert checkpoints.fingerprint({**SETTINGS, "seed": np.int64(0)}, arrays()) == base
    for changed in [{**SETTINGS, "seed": 1}, {**SETTINGS, "runs": [0, 2]}, {**SETTINGS, "spec": {"lr": 0.1, "epochs": 4}}]:
        assert checkpoints.fingerprint(changed, arrays()) != base


def test_resume_file_sits_beside_the_output_and_round_trips(tmp_path, caplog):
    output = tmp_path / "job" / "model.pt"
    resume = checkpoints.Checkpoint(output, SETTINGS, arrays())
    assert resume.path == checkpoints.resume_path(output) == tmp_path / "job" / "model.pt.resume.pt"
    assert resume.load() is None  # nothing saved yet
    resume.save({"step": 3, "weights": torch.arange(4.0)})
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["model.pt.resume.pt"]  # no temporary left
    again = checkpoints.Checkpoint(output, SETTINGS, arrays())
    with caplog.at_level(logging.INFO, logger="pipeline"):
        state = again.load(describe=lambda s: f"at step {s['step']}")
    assert state["step"] == 3 and torch.equal(state["weights"], torch.arange(4.0))
    assert f"resuming from {resume.path}: at step 3" in caplog.text
    again.remove()
    assert not resume.path.exists()
    checkpoints.remove(output)  # nothing to remove is fine


def test_checkpoint_of_other_data_is_ignored_with_a_log_line(tmp_path, caplog):
    output = tmp_path / "model.pt"
    checkpoints.Checkpoint(output, SETTINGS, arrays()).save({"step": 3})
    other = arrays()
    other[0][0, 0, 0, 0] ^= 1
    with caplog.at_level(logging.INFO, logger="pipeline"):
        assert checkpoints.Checkpoint(output, SETTINGS, other).load() is None
        assert checkpoints.Checkpoint(output, {**SETTINGS, "seed": 1}, arrays()).load() is None
    assert caplog.text.count(f"ignoring {output}.resume.pt: written for other settings or data") == 2
    assert "resuming" not in caplog.text


def test_unreadable_checkpoint_raises_corrupt_file_error_naming_it(tmp_path):
    output = tmp_path / "model.pt"
    checkpoints.resume_path(output).write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CorruptFileError, match=r"model\.pt\.resume\.pt: not a readable checkpoint") as err:
        checkpoints.Checkpoint(output, SETTINGS, arrays()).load()
    assert err.value.path == checkpoints.resume_path(output)


def test_every_saves_on_multiples_before_the_last_step(tmp_path):
    resume = checkpoints.Checkpoint(tmp_path / "m.pt", SETTINGS, every=3)
    assert [s for s in range(1, 10) if resume.due(s, 9)] == [3, 6]
    assert checkpoints.Checkpoint(tmp_path / "m.pt", SETTINGS).due(9, 9)  # no policy: always


def test_cost_ratio_bounds_the_time_spent_saving(tmp_path, monkeypatch):
    clock = iter([0.0,  # made
                  1.0,  # due? (first save is always due)
                  1.0, 3.0,  # a save taking 2 s
                  20.0,  # 17 s since: less than 10 x 2 s
                  23.0,  # 20 s since: due
                  ])
    monkeypatch.setattr(checkpoints.time, "monotonic", lambda: next(clock))
    resume = checkpoints.Checkpoint(tmp_path / "m.pt", SETTINGS, cost_ratio=10)
    assert resume.due()
    resume.save({"epoch": 1})
    assert resume.save_seconds == 2.0
    assert not resume.due()
    assert resume.due()


def test_the_first_save_waits_for_what_its_size_would_cost(tmp_path, monkeypatch):
    """4,000 stacked MLPs are 17 GB of weights and momentum, their first epoch seconds on a GPU: the
    first save comes once the time trained covers cost_ratio x the size's expected write time."""
    state = {"model": {"w": torch.zeros(1000, 250)}, "optimizer": [np.zeros(250_000, np.float32)], "epoch": 3}
    assert checkpoints.state_bytes(state) == 2_000_000
    clock = iter([0.0, 0.019, 0.021])  # made; due? twice
    monkeypatch.setattr(checkpoints.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(checkpoints, "FIRST_SAVE_BYTES_PER_SECOND", 1e9)  # 2 MB: 2 ms to write
    resume = checkpoints.Checkpoint(tmp_path / "m.pt", SETTINGS, cost_ratio=10)
    assert not resume.due(nbytes=checkpoints.state_bytes(state))  # 19 ms < 10 x 2 ms
    assert resume.due(nbytes=checkpoints.state_bytes(state))
