"""The three outcomes of a non-inferiority comparison: pass, fail, or too little data to say.

Every comparison with the champion (paired AUC, recall and precision at the champion's alert
rate, newly blocked and newly missed decisions, each slice's AUC) asks one question: is the
candidate worse than the champion by `tolerance` or more? The candidate must *show* it is not
(Wellek, "Testing Statistical Hypotheses of Equivalence and Noninferiority", 2010): noise can
never promote a model.

- **pass**: the interval's lower bound clears `-tolerance`. If the true difference is
  `-tolerance` or worse this happens with probability at most (1 - confidence) / 2 (2.5 % at
  95 %): the false-pass rate, the guarantee that matters most.
- **fail**: the whole interval lies below `-tolerance`; or the test set could resolve a loss of
  `tolerance` (minimum detectable effect <= tolerance) and the lower bound still does not clear
  it. A candidate exactly as good as the champion reaches this only when
  delta - z se < -tolerance with se <= tolerance / (z + z_power): probability at most
  1 - power (20 % at power 0.8, far less when the MDE is well below the tolerance).
- **inconclusive**: neither, and the test set cannot resolve a loss of `tolerance` (its
  minimum detectable effect is larger). Never a silent pass: `comparison.inconclusive` says
  whether it blocks; the check says what would resolve it (more labelled rows, or a wider
  tolerance), since the MDE shrinks as 1/sqrt(n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Judgement:
    status: str  # pass | fail | inconclusive
    why: str
    resolve: str | None = None  # for fail / inconclusive: what would change the outcome


def judge(interval: tuple[float, float], tolerance: float, mde: float, sample: int,
          unit: str, tolerance_key: str) -> Judgement:
    """Judge a difference (candidate - champion, higher is better) against `-tolerance`.

    `sample` counts the `unit`s that drive the standard error (frauds for recall, legitimate
    transactions for blocks), so an inconclusive result can say how many would resolve it;
    `tolerance_key` names the config key that widens the tolerance.
    """
    lo, hi = interval
    if math.isnan(lo) or math.isnan(hi):
        return Judgement("inconclusive", f"no interval: too few {unit}",
                         f"add labelled {unit} to the test set")
    if lo >= -tolerance:
        return Judgement("pass", "the interval's lower bound clears the tolerance")
    if hi < -tolerance:
        return Judgement("fail", "significantly worse than the champion beyond the tolerance",
                         f"the candidate loses more than {tolerance} here: improve it, or "
                         f"widen {tolerance_key} if such a loss is acceptable")
    if not mde <= tolerance:  # also when the MDE is not estimable (nan)
        return Judgement(
            "inconclusive", f"the test set cannot resolve a loss of {tolerance}: minimum "
            f"detectable effect {_fmt(mde)}", resolution(mde, tolerance, sample, unit,
                                                         tolerance_key))
    return Judgement("fail", "the interval's lower bound is below the tolerance",
                     f"the candidate may lose more than {tolerance} here: improve it, or "
                     f"widen {tolerance_key} if such a loss is acceptable")


def resolution(mde: float, tolerance: float, sample: int, unit: str, tolerance_key: str) -> str:
    """What resolves an underpowered comparison: the MDE shrinks as 1/sqrt(n)."""
    if math.isnan(mde) or sample <= 0:
        return f"add labelled {unit} to the test set"
    needed = math.ceil(sample * (mde / tolerance) ** 2) if tolerance > 0 else None
    more = (f"about {needed:,} {unit} in the test set (it has {sample:,})" if needed
            else f"more {unit}")
    return f"{more}, or {tolerance_key} >= {mde:.4f}"


def _fmt(value: float) -> str:
    return "not estimable" if math.isnan(value) else f"{value:.4f}"
