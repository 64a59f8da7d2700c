"""The K-fold memorization score on tiny real K-fold studies (small MLP VAEs, a few epochs).

Two studies share 240 MNIST digits and 6 binary-noise outliers: in study A each outlier
appears once; in study B each appears three times, one copy in every fold, so a model that
holds a copy out has trained on the other two. The outliers must be flagged as highly
memorized in A, and the copies in B must score lower M (on average over an outlier's copies)
than the same image in A.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data import embedded
from pipeline.kfold_vae import train as train_module
from pipeline.kfold_vae.score import final_scores, logmeanexp, memorization_scores
from pipeline.errors import PipelineError
from pipeline.kfold_vae.train import fit_and_evaluate

FOLDS, N_REGULAR, N_OUTLIERS, COPIES = 3, 240, 6, 3
SPEC = {"kind": "bernoulli_mlp", "latent_dim": 8, "hidden": [256, 128], "epochs": 12, "lr": 2e-3,
        "batch_size": 32, "n_importance": 16}


def run_study(images: np.ndarray, folds: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Train one model per held-out fold (R = 1) and return the per-example scores."""
    torch.set_num_threads(1)
    tables = []
    for fold in range(FOLDS):
        _, table = fit_and_evaluate(images, folds != fold, SPEC, seed, (0, fold))
        tables.append(table)
    labels = pd.Series(np.zeros(len(images), dtype=np.int64))
    return final_scores(memorization_scores(pd.concat(tables, ignore_index=True)), labels, 0.95)


@pytest.fixture(scope="module")
def studies():
    digits, _ = embedded.mnist5k()
    rng = np.random.default_rng(0)
    regular = digits[rng.choice(len(digits), N_REGULAR, replace=False)]
    outliers = (rng.random((N_OUTLIERS, 28, 28, 1)) < 0.5).astype(np.uint8) * 255
    regular_folds = rng.permutation(np.arange(N_REGULAR) % FOLDS)
    once = run_study(np.concatenate([regular, outliers]),
                     np.concatenate([regular_folds, rng.integers(0, FOLDS, N_OUTLIERS)]))
    copies = np.repeat(outliers, COPIES, axis=0)  # copy c of outlier j at row N_REGULAR + COPIES j + c
    duplicated = run_study(np.concatenate([regular, copies]),
                           np.concatenate([regular_folds, np.tile(np.arange(COPIES), N_OUTLIERS)]))
    return once, duplicated


def test_logmeanexp_scores_by_hand():
    table = pd.DataFrame({
        "index": [0, 0, 0, 1, 1, 1], "repeat": 0, "fold": [0, 1, 2, 0, 1, 2],
        "in_training": [True, True, False, False, True, True], "epoch": 5,
        "logpx": [0.0, np.log(3.0), -1.0, -7.0, -2.0, -2.0],
    })
    scores = memorization_scores(table).set_index("index")
    assert scores.loc[0, "U"] == pytest.approx(np.log(2.0))  # mean of probabilities 1 and 3
    assert scores.loc[0, "V"] == pytest.approx(-1.0)
    assert scores.loc[1, "M"] == pytest.approx(-2.0 + 7.0)
    assert (scores["n_in"] == 2).all() and (scores["n_out"] == 1).all()
    assert logmeanexp(np.array([1000.0, 1000.0])) == pytest.approx(1000.0)  # no overflow


def test_injected_outliers_score_high_memorization(studies):
    once, _ = studies
    outliers = once.iloc[N_REGULAR:]
    regular = once.iloc[:N_REGULAR]
    assert outliers["high"].all(), once.sort_values("M").tail(15)
    assert outliers["M"].min() > regular["M"].quantile(0.95)
    assert outliers["M"].median() > 3 * regular["M"].quantile(0.95)


def test_duplicated_example_scores_lower_than_the_same_example_once(studies):
    once, duplicated = studies
    m_once = once["M"].to_numpy()[N_REGULAR:]
    m_copies = duplicated["M"].to_numpy()[N_REGULAR:].reshape(N_OUTLIERS, COPIES)
    # a held-out copy is still "seen" through its twins, so M of a copy is near 0 (noisy with R = 1)
    assert (m_copies.mean(axis=1) < m_once).all(), (m_once, m_copies)
    assert np.median(m_copies) < 0.5 * np.median(m_once)


def test_a_diverging_vae_stops_its_job_instead_of_writing_nan_scores():
    digits, _ = embedded.mnist5k()
    spec = {**SPEC, "hidden": [32], "epochs": 2, "lr": 1e30}
    with pytest.raises(PipelineError, match=r"kfold_vae: training loss is nan \(the -ELBO\) in epoch 1; the training "
                                            r"diverged"):
        fit_and_evaluate(digits[:96], np.arange(96) % 3 != 0, spec, 0, (1, 2))


def test_killed_training_resumes_to_the_same_tables(tmp_path, monkeypatch):
    digits, _ = embedded.mnist5k()
    images, mask = digits[:96], np.arange(96) % 3 != 0
    spec = {**SPEC, "epochs": 3, "eval_epochs": [1, 2], "hidden": [32, 16]}
    _, straight = fit_and_evaluate(images, mask, spec, 0, (1, 2))
    out_model = tmp_path / "model.pt"
    checkpoint = tmp_path / "model.pt.resume.pt"
    real_log_px, calls = train_module.log_px, []

    def dies_on_second_evaluation(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_log_px(*args, **kwargs)

    monkeypatch.setattr(train_module, "log_px", dies_on_second_evaluation)
    with pytest.raises(KeyboardInterrupt):
        fit_and_evaluate(images, mask, spec, 0, (1, 2), out_model=out_model)
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    monkeypatch.setattr(train_module, "log_px", real_log_px)
    _, resumed = fit_and_evaluate(images, mask, spec, 0, (1, 2), out_model=out_model)
    pd.testing.assert_frame_equal(straight, resumed)


def test_rho_uses_the_row_minimum_over_all_references():
    from pipeline.kfold_vae.rho import distance_ratio

    rng = np.random.default_rng(0)
    train, validation, samples = (rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8) for n in (12, 30, 40))
    samples[25] = train[3]  # an exact copy, far from the first sample: its distance must be 0
    vi, vd, si, sd = distance_ratio(train, validation, samples, resize=0)
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64) / 255.0  # noqa: E731
    brute_v = np.sqrt(((flat(train)[:, None] - flat(validation)[None]) ** 2).sum(-1))
    brute_s = np.sqrt(((flat(train)[:, None] - flat(samples)[None]) ** 2).sum(-1))
    np.testing.assert_allclose(vd, brute_v.min(axis=1))
    np.testing.assert_allclose(sd, brute_s.min(axis=1))
    assert si[3] == 25 and sd[3] == 0.0
    assert (si == brute_s.argmin(axis=1)).all() and (vi == brute_v.argmin(axis=1)).all()
