"""Every number a claim's criterion uses, named once: fixed before any run, never tuned to make a run pass.

``evaluate`` compares against these constants and builds each claim's criterion text from them (the
``criterion`` column of claims.parquet, and docs/claims.md, which ``python -m pipeline.reference_docs``
generates), so a threshold is written here and nowhere else. Names say the claim, the bound (MIN: the
statistic must reach it, MAX: must not exceed it, ABOVE: must be strictly above it) and the statistic.
"""

# Shared definitions
TOP_FRACTION = 0.05  # "highly memorized": the top 5 % of a score, at or above its 0.95 quantile (KF1, KF3)
LOW_LIKELIHOOD_QUANTILE = 0.1  # "low likelihood": below this quantile of log p(x) (KF3)
MEM_SET_THRESHOLD = 0.25  # the examples FZ4 compares: {i : mem_i >= this}
SHARE_TOLERANCE = 0.05  # Y1, Y2: a replicate share rising (or falling behind) by up to this does not count
MC_SHARE = 0.5  # Y2: memorization capacity MC_0.5, the size where the replicate share falls through this

# Feldman & Zhang
FZ1_MIN_AUROC = 0.95  # AUROC(mem; flipped vs clean)
FZ1_MIN_MEDIAN_MEM = 0.5  # median mem of the flipped examples
FZ2_MIN_MEDIAN_INFL = 0.5  # median infl(i, j) of each flipped i and its test copy j
FZ2_MIN_LISTED_SHARE = 0.8  # share of those pairs in influence_pairs.parquet
FZ3_MIN_MEDIAN_GAP = 0.3  # median mem of single outliers - median mem of duplicate copies
FZ4_MIN_JACCARD = 0.7  # Jaccard of the two runs' {i : mem_i >= MEM_SET_THRESHOLD}
FZ5_MIN_SPEARMAN = 0.5  # Spearman of mem between two architectures

# van den Burg & Williams
KF1_MIN_AUROC = 0.9  # AUROC(M; outlier vs clean)
KF1_MIN_TOP_SHARE = 0.5  # share of the outliers in the top TOP_FRACTION of M
KF2_MIN_GAP_FRACTION = 0.5  # median M(outlier) - median M(duplicate), over median M(outlier) - median M(clean)
KF3_MIN_SHARE = 0.25  # share of the highly memorized clean examples above the LOW_LIKELIHOOD_QUANTILE of log p(x)
KF4_MAX_ABS_SPEARMAN = 0.3  # |Spearman(rho, M)| over clean examples
KF5_MEDIAN_M_ABOVE = 0  # median M over clean examples

# Yoon et al.
Y1_MIN_SHARE_SMALLEST = 0.9  # replicate share at the smallest training-set size, per width
Y1_MAX_SHARE_LARGEST = 0.1  # replicate share at the largest size, per width
Y3_MIN_SHARE_NO_DUMMIES = 0.8  # replicate share of the fixed class without dummies, per width
Y3_MAX_SHARE_MOST_DUMMIES = 0.1  # the same with the most dummies
Y4_MIN_MINORITY_SHARE = 0.5  # replicate share of the minority class, at every (size, width)
Y4_MIN_MINORITY_REPLICATED = 0.5  # share of the minority class's training images replicated at least once
Y4_MAX_MAJORITY_SHARE = 0.1  # replicate share of the majority class

# Bai et al.
B1_MAX_CT = -3  # mean C_T at tau = 0
B2_MAX_FALL_SE = 1  # a fall of mean C_T from one tau to the next, in standard errors of the difference
B2_MIN_GAIN = 3  # C_T(largest tau) - C_T(0)
B3_MAX_RATIO = 1.5  # Frechet distance at the guideline tau over that at tau = 0
B4_GAIN_ABOVE = 0  # C_T in a second space: at the largest tau minus at tau = 0
B5_GAIN_DIFF_ABOVE = 0  # mean class-wise C_T gain of the lower half minus that of the upper half
B6_KEPT_AT_ZERO = 1.0  # kept fraction at tau = 0 (every seed)


def number(x: float) -> str:
    """A threshold as the criterion texts write it: 0.95, 3, -3."""
    return f"{x:g}"


def percent(share: float) -> str:
    """A share as a percentage: 0.8 -> '80 %'."""
    return f"{100 * share:g} %"


def lowest_quantile(q: float) -> str:
    """'the lowest decile' for 0.1; the quantile's name where it has one, else 'the lowest 0.q quantile'."""
    names = {0.1: "decile", 0.2: "quintile", 0.25: "quartile"}
    return f"the lowest {names[q]}" if q in names else f"the lowest {number(q)} quantile"


def mc_name() -> str:
    """The memorization capacity's symbol: MC_0.5."""
    return f"MC_{number(MC_SHARE)}"
