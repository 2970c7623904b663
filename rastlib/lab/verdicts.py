"""Verdicts on the seed's claims: a t-test per claim, Holm-corrected over the claims a notebook tests.

A claim compares one metric between a variant and a reference variant and expects the variant's value to be
"higher", "lower", or the "same" (within ±margin × |reference mean|: Table 1's "Maintained"). Each claim is
tested against its two alternatives, the one that supports it and the one that contradicts it:

- higher / lower: the two one-sided t-tests of the difference d = variant − reference (together: the usual
  two-sided test);
- same: support is equivalence, |d| < δ, by two one-sided tests (TOST: p = the larger of the two p-values);
  contradiction is |d| > δ, the smaller of the two one-sided p-values against ±δ, doubled (Bonferroni over
  the two sides).

The claim's p-value is twice the smaller of the two (capped at 1); Holm's step-down procedure at `ALPHA` over
the family of claims decides which are significant. A significant claim is **reproduced** when its supporting
side has the smaller p-value and **contradicted** otherwise; the rest are **no support at this budget**: the
budget could not tell, which is not evidence against the claim.

The test is paired (on the per-seed differences, df = n − 1) over the seeds that have both variants: the experiments
start both from the same weights and feed the same batches in the same order, so seed noise cancels. Otherwise
it is Welch's unpaired test (Welch–Satterthwaite df). With few seeds the critical |t| at the Holm level is
large (paired, n = 3 and 6 claims: |t| > 10.9 for the strongest claim; n = 5 and 18 claims: > 6.6), so the
docs/experiments.md states what each budget can and cannot show.
"""
import math
import statistics
from dataclasses import dataclass

from scipy import stats

ALPHA = 0.05
RULE = "t-test per claim, paired over seeds (Welch otherwise), Holm over a notebook's claims at α = 0.05"
LABELS = ("reproduced", "contradicted", "no support at this budget")
EXPECTATIONS = ("higher", "lower", "same")


@dataclass(frozen=True)
class Claim:
    """One claim of the seed paper as a test: `metric` of `variant` against `reference` is `expect`ed higher,
    lower or the same (within ±`margin` × |reference mean|). `source` says where the seed makes it; `seed_says`
    holds the seed's own numbers or words, shown beside ours and never used in the test."""
    source: str
    text: str
    metric: str
    variant: str
    reference: str
    expect: str
    margin: float = 0.0
    seed_says: str = ""

    def __post_init__(self):
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"expect must be one of {EXPECTATIONS}, got {self.expect!r}")
        if self.expect == "same" and not self.margin > 0:
            raise ValueError("an equivalence claim ('same') needs a margin > 0")


@dataclass(frozen=True)
class ClaimStats:
    """The statistics of one claim: the mean difference d = variant − reference, its standard error, the degrees
    of freedom, how it was paired, and the one-sided p-values for and against the claim."""
    diff: float
    se: float
    df: float
    n: tuple
    paired: bool
    p_support: float
    p_contra: float

    @property
    def p(self):
        """The claim's p-value: twice the smaller one-sided p-value (capped at 1)."""
        return min(1.0, 2 * min(self.p_support, self.p_contra))

    @property
    def supports(self):
        return self.p_support <= self.p_contra


def _values(rows, variant, metric):
    """{seed: value} of `metric` for `variant` (non-finite values dropped)."""
    return {r["seed"]: float(r[metric]) for r in rows if r["variant"] == variant
            and isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])}


def difference(rows, claim):
    """(d, se, df, n, paired) of `claim.metric`, variant − reference, over the seeds in `rows`, or None when
    either side has fewer than 2 seeds. Paired over the seeds both variants have when there are at least 2 of
    them (a seed missing on one side is left out), Welch's unpaired test otherwise."""
    a, b = _values(rows, claim.variant, claim.metric), _values(rows, claim.reference, claim.metric)
    if len(a) < 2 or len(b) < 2:
        return None
    common = sorted(a.keys() & b.keys())
    if len(common) >= 2:
        d = [a[s] - b[s] for s in common]
        return statistics.fmean(d), statistics.stdev(d) / math.sqrt(len(d)), len(d) - 1, (len(d), len(d)), True
    va, vb = statistics.variance(a.values()) / len(a), statistics.variance(b.values()) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    return statistics.fmean(a.values()) - statistics.fmean(b.values()), se, df, (len(a), len(b)), False


def _p_greater(d, se, df, shift=0.0):
    """One-sided p-value for the mean difference being greater than `shift`."""
    if se == 0:
        return 0.0 if d > shift else 1.0
    return float(stats.t.sf((d - shift) / se, df))


def claim_stats(rows, claim):
    """The `ClaimStats` of one claim on per-seed `rows` [{"variant", "seed", metric: value}], or None (fewer
    than 2 seeds a side)."""
    found = difference(rows, claim)
    if found is None:
        return None
    d, se, df, n, paired = found
    if claim.expect == "same":
        delta = claim.margin * abs(statistics.fmean(_values(rows, claim.reference, claim.metric).values()))
        p_support = max(_p_greater(d, se, df, -delta), _p_greater(-d, se, df, -delta))  # TOST
        p_contra = min(1.0, 2 * min(_p_greater(d, se, df, delta), _p_greater(-d, se, df, delta)))
    else:
        sign = 1.0 if claim.expect == "higher" else -1.0
        p_support, p_contra = _p_greater(sign * d, se, df), _p_greater(-sign * d, se, df)
    return ClaimStats(d, se, df, n, paired, p_support, p_contra)


def holm(pvalues, alpha=ALPHA):
    """Holm's step-down procedure: [(significant, adjusted p)] in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [1.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return [(adjusted[i] <= alpha, adjusted[i]) for i in range(m)]


def critical_t(df, level):
    """The two-sided critical |t| at significance `level` and `df` degrees of freedom."""
    return float(stats.t.isf(level / 2, df))


def detectable_difference(sd, n, tests=1, alpha=ALPHA, power=0.8, equivalence=False):
    """What a budget can show (approximately, by the central t): for a directional claim, the smallest true
    difference that the paired test over `n` seeds finds with probability `power` at Holm's strictest level
    (α / `tests`, two-sided as `judge` tests); for an equivalence claim, the smallest margin δ that TOST
    establishes with that power when the true difference is 0. `sd`: the std of the per-seed paired
    differences. Seeds buy most of it: with 18 claims it is 11.5 sd at n = 3 seeds, 3.4 sd at 5, 1.9 sd at 8."""
    df = n - 1
    beta = stats.t.ppf(1 - (1 - power) / 2 if equivalence else power, df)
    return (critical_t(df, alpha / tests) + beta) * sd / math.sqrt(n)


def judge(rows, claims, alpha=ALPHA):
    """Label every claim (Holm over `claims`): a list of dicts with the claim, its verdict and the evidence."""
    tests = [claim_stats(rows, c) for c in claims]
    decided = holm([t.p if t else 1.0 for t in tests], alpha)
    m = len(claims)
    out = []
    for rank, (claim, t, (significant, p_holm)) in enumerate(zip(claims, tests, decided)):
        if t is None:
            label, evidence = LABELS[2], f"{claim.metric}: fewer than 2 seeds per variant"
        else:
            label = (LABELS[0] if t.supports else LABELS[1]) if significant else LABELS[2]
            evidence = _evidence(rows, claim, t, p_holm, m)
        out.append({"source": claim.source, "claim": claim.text, "metric": claim.metric, "variant": claim.variant,
                    "reference": claim.reference, "expect": claim.expect, "margin": claim.margin,
                    "seed_says": claim.seed_says, "verdict": label, "evidence": evidence,
                    "p": None if t is None else t.p, "p_holm": None if t is None else p_holm,
                    "diff": None if t is None else t.diff, "df": None if t is None else t.df})
    return out


def _evidence(rows, claim, t, p_holm, m):
    mean = {v: statistics.fmean(_values(rows, v, claim.metric).values()) for v in (claim.variant, claim.reference)}
    test = f"paired t, n = {t.n[0]}" if t.paired else f"Welch t, n = {t.n[0]}+{t.n[1]}"
    bound = f", margin ±{claim.margin:.0%}" if claim.expect == "same" else ""
    return (f"{claim.metric}: {claim.variant} {mean[claim.variant]:.4g} vs {claim.reference} "
            f"{mean[claim.reference]:.4g}; d = {t.diff:+.3g} ± {t.se:.2g} ({test}, df = {t.df:.3g}{bound}); "
            f"p = {t.p:.3g}, Holm p = {p_holm:.3g} over {m} claim{'s' * (m != 1)}")


def verdicts_markdown(judged):
    """The verdict table of `judge`'s output, with the seed's own words/numbers in their own column."""
    lines = ["| seed claim (where) | the seed says | verdict | our evidence |", "|---|---|---|---|"]
    lines += [f"| {c['claim']} ({c['source']}) | {c['seed_says'] or '—'} | **{c['verdict']}** | {c['evidence']} |"
              for c in judged]
    return "\n".join(lines) + "\n"
