"""A mixture part without ``label`` keeps its source's labels: a one-part mixture is a labelled subset."""

import numpy as np

from pipeline.data import registry


def test_one_part_mixture_is_a_labelled_subset_of_its_source(tmp_path):
    digits = registry.build("digits", {"kind": "digits"}, tmp_path)
    spec = {"kind": "mixture", "seed": 0, "parts": [{"dataset": "digits", "n_train": 200, "n_test": 50}]}
    subset = registry.build_mixture("digits200", spec, {"digits": digits})
    table = subset.table
    assert (table["split"] == "train").sum() == 200 and (table["split"] == "test").sum() == 50
    source = digits.table.set_index("index")
    # every row is its source example: same image, same label, same split
    assert np.array_equal(table["label"].to_numpy(), source.loc[table["source_index"], "label"].to_numpy())
    assert np.array_equal(subset.images, digits.images[table["source_index"].to_numpy()])
    assert (table["split"].to_numpy() == source.loc[table["source_index"], "split"].to_numpy()).all()
    assert table.loc[table["split"] == "train", "label"].nunique() == 10  # a random draw covers every digit
    labelled = {**spec, "parts": [{**spec["parts"][0], "label": 3}]}
    assert (registry.build_mixture("digits200", labelled, {"digits": digits}).table["label"] == 3).all()
