"""The memorization atlas: every method's per-training-example results side by side.

``join`` builds ``atlas.parquet`` from the methods' own tables (nothing is recomputed),
``analysis`` compares the scores (rank correlations with bootstrap intervals, top-set
overlap, examples flagged by every method), ``figures`` draws them, and ``columns`` says
what each atlas column means and which method it comes from. On a data set with planted
canaries, ``planted`` scores how well each score detects them (AUROC against the clean
examples, ranks, top-set share) and ``planted_figure`` draws that. ``gallery`` writes one page per
data set to look at the examples behind the numbers (``gallery_html``: its images and markup).
"""
