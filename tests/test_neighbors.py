"""Exact k-NN: every backend agrees with float64 brute force, chunking changes nothing."""

import numpy as np
import pytest

from pipeline import neighbors
from pipeline.errors import PipelineError


def brute_force(query, ref, k, metric):
    q = neighbors.as_rows(query).astype(np.float64)
    r = neighbors.as_rows(ref).astype(np.float64)
    if metric == "l2":
        d = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    else:
        cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (r / np.linalg.norm(r, axis=1, keepdims=True)).T
        d = 1 - (np.abs(cos) if metric == "abscosine" else cos)
    order = np.lexsort((np.broadcast_to(np.arange(len(r)), d.shape), d), axis=1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, size=(700, 8, 8, 3), dtype=np.uint8)
    query = rng.integers(0, 256, size=(150, 8, 8, 3), dtype=np.uint8)
    query[:5] = ref[[3, 10, 10, 600, 699]]  # exact copies must come back at distance 0
    ref[100] = ref[3]  # a tie: broken by reference index
    return query, ref


@pytest.mark.parametrize("metric", neighbors.METRICS)
@pytest.mark.parametrize("backend", ["numpy", "torch", "faiss"])
def test_backends_match_brute_force(images, metric, backend):
    query, ref = images
    idx, dist = neighbors.knn(query, ref, 5, metric=metric, backend=backend, query_chunk=64, ref_chunk=128)
    want_idx, want_dist = brute_force(query, ref, 5, metric)
    np.testing.assert_allclose(dist, want_dist, rtol=0, atol=1e-9)
    assert np.array_equal(idx, want_idx)


def test_exact_copies_and_ties(images):
    query, ref = images
    idx, dist = neighbors.knn(query, ref, 2, backend="torch", ref_chunk=50)
    assert idx[0].tolist() == [3, 100] and dist[0].tolist() == [0.0, 0.0]
    assert idx[1, 0] == 10 and idx[3, 0] == 600 and idx[4, 0] == 699
    assert (dist[:5, 0] == 0).all()


def test_abscosine_finds_negated_vectors():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(300, 16))
    query = -2.5 * ref[[7, 42]]
    for backend in ["numpy", "torch", "faiss"]:
        idx, dist = neighbors.knn(query, ref, 1, metric="abscosine", backend=backend)
        assert idx[:, 0].tolist() == [7, 42]
        assert np.allclose(dist, 0, atol=1e-12)


def test_chunk_sizes_do_not_change_results(images):
    query, ref = images
    a = neighbors.knn(query, ref, 3, backend="torch", query_chunk=7, ref_chunk=13)
    b = neighbors.knn(query, ref, 3, backend="torch", query_chunk=1000, ref_chunk=10000)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_bad_arguments_are_named():
    x = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(PipelineError, match="k=5"):
        neighbors.knn(x, x, 5)
    with pytest.raises(PipelineError, match="dimension"):
        neighbors.knn(x, np.zeros((4, 2)), 1)
    with pytest.raises(PipelineError, match="metric"):
        neighbors.knn(x, x, 1, metric="manhattan")


def test_table_layout(images):
    query, ref = images
    idx, dist = neighbors.knn(query[:3], ref, 2)
    table = neighbors.neighbors_table(idx, dist, np.array([10, 11, 12]), np.arange(700) + 1000)
    assert list(table.columns) == ["query", "rank", "ref_index", "distance"]
    assert table["query"].tolist() == [10, 10, 11, 11, 12, 12]
    assert table["rank"].tolist() == [0, 1] * 3
    assert table["ref_index"].iloc[0] == 1003
    assert str(table["distance"].dtype) == "float64" and str(table["rank"].dtype) == "int32"


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no GPU in this session")
def test_gpu_matches_cpu(images):
    query, ref = images
    a = neighbors.knn(query, ref, 3, backend="torch", device="cuda")
    b = neighbors.knn(query, ref, 3, backend="numpy")
    assert np.array_equal(a[0], b[0])
