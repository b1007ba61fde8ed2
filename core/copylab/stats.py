"""Copy Lab statistics: confidence intervals, A/B tests, multiple-testing corrections and power.

Every function is pure and vectorised. The numeric ones accept Python scalars (and then return
Python floats/bools), numpy arrays or polars Series (and then return numpy arrays), or polars
expressions (and then return polars expressions, to be used inside `select`/`with_columns`).

Conventions, chosen so that empty or degenerate data never raises and never looks like evidence:

* `wilson_interval` with n = 0 returns (0, 1): with no sends any rate is possible.
* `two_proportion_ztest` returns z = 0, p = 1 when either arm has no sends or when both arms are
  all-success or all-failure (the pooled standard error is 0): there is nothing to test.
* `sends_for_power` returns +inf when the two rates are equal (no sample size can detect a
  difference of zero) and NaN when a rate is outside [0, 1] or missing.
* `holm` / `benjamini_hochberg` leave NaN p-values as NaN and adjust the others among themselves.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "adjust_pvalues",
    "benjamini_hochberg",
    "holm",
    "normal_approx_ok",
    "normal_quantile",
    "normal_two_sided_p",
    "sends_for_power",
    "two_proportion_ztest",
    "wilson_interval",
]

_SQRT_PI = math.sqrt(math.pi)


# -- backends: the same formula on numpy arrays or on polars expressions ------------------------


def _is_expr(*args: Any) -> bool:
    return any(isinstance(a, pl.Expr) for a in args)


def _is_scalar(*args: Any) -> bool:
    return all(np.ndim(a) == 0 and not isinstance(a, pl.Series | pl.Expr) for a in args)


def _as_float(a: Any) -> np.ndarray:
    if isinstance(a, pl.Series):
        return a.cast(pl.Float64).fill_null(np.nan).to_numpy()
    return np.asarray(a, dtype=np.float64)


def _as_expr(a: Any) -> pl.Expr:
    return (a if isinstance(a, pl.Expr) else pl.lit(a)).cast(pl.Float64)


def _out(value: np.ndarray, scalar: bool) -> Any:
    if scalar:
        v = np.asarray(value).reshape(-1)[0]
        return bool(v) if isinstance(v, np.bool_) else float(v)
    return value


def normal_quantile(q: float) -> float:
    """The standard normal quantile Φ⁻¹(q) (a scalar; Wichura's AS241, about 1e-16 accurate)."""
    return NormalDist().inv_cdf(q)


# -- the normal tail ----------------------------------------------------------------------------


def _erfc_nonneg(x: np.ndarray) -> np.ndarray:
    """erfc(x) for x ≥ 0, to about 1e-13 relative accuracy, vectorised.

    For x < 2 the all-positive series erf(x) = 2/√π · e^(−x²) · Σₙ (2x²)ⁿ · x / (1·3·…·(2n+1))
    is summed (32 terms) and erfc = 1 − erf. For x ≥ 2 the Laplace continued fraction
    erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))) is evaluated 40 levels deep.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = x < 2.0
    xs = x[small]
    if xs.size:
        term = xs.copy()
        total = xs.copy()
        two_x2 = 2.0 * xs * xs
        for n in range(1, 32):
            term *= two_x2
            term /= 2 * n + 1
            total += term
        out[small] = 1.0 - 2.0 / _SQRT_PI * np.exp(-xs * xs) * total
    xl = x[~small]
    if xl.size:
        t = xl.copy()
        for k in range(40, 0, -1):
            t = xl + (k / 2.0) / t
        out[~small] = np.exp(-xl * xl) / (_SQRT_PI * t)
    return out


def _two_sided_p_np(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    out = np.full(z.shape, np.nan)
    ok = ~np.isnan(z)
    out[ok] = np.minimum(1.0, _erfc_nonneg(np.abs(z[ok]) / math.sqrt(2.0)))
    return out


def normal_two_sided_p(z: Any) -> Any:
    """Two-sided p-value of a standard normal statistic: p = 2·(1 − Φ(|z|)) = erfc(|z|/√2)."""
    if _is_expr(z):
        return _as_expr(z).map_batches(
            lambda s: pl.Series(s.name, _two_sided_p_np(_as_float(s))), return_dtype=pl.Float64
        )
    return _out(_two_sided_p_np(_as_float(z)), _is_scalar(z))


# -- Wilson score interval ----------------------------------------------------------------------


def wilson_interval(successes: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion.

    With p̂ = x/n and z = Φ⁻¹(1 − α/2), α = 1 − confidence:

        centre = (p̂ + z²/(2n)) / (1 + z²/n)
        half   = z · √(p̂(1 − p̂)/n + z²/(4n²)) / (1 + z²/n)
        (low, high) = (centre − half, centre + half), clipped to [0, 1]

    0% gives low = 0 and 100% gives high = 1 exactly. n = 0 gives (0, 1).
    Returns a pair of floats, of numpy arrays, or of polars expressions, like the input.
    """
    z = normal_quantile(1.0 - (1.0 - confidence) / 2.0)
    z2 = z * z
    if _is_expr(successes, n):
        x, nn = _as_expr(successes), _as_expr(n)
        p = x / nn
        denom = 1.0 + z2 / nn
        centre = (p + z2 / (2.0 * nn)) / denom
        half = z * (p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)).sqrt() / denom
        empty = nn <= 0
        low = pl.when(empty).then(0.0).when(x <= 0).then(0.0).otherwise(centre - half)
        high = pl.when(empty).then(1.0).when(x >= nn).then(1.0).otherwise(centre + half)
        return low.clip(0.0, 1.0), high.clip(0.0, 1.0)
    scalar = _is_scalar(successes, n)
    x, nn = np.broadcast_arrays(_as_float(successes), _as_float(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / nn
        denom = 1.0 + z2 / nn
        centre = (p + z2 / (2.0 * nn)) / denom
        half = z * np.sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom
        low = np.clip(np.where(x <= 0, 0.0, centre - half), 0.0, 1.0)
        high = np.clip(np.where(x >= nn, 1.0, centre + half), 0.0, 1.0)
    empty = nn <= 0
    low = np.where(empty, 0.0, low)
    high = np.where(empty, 1.0, high)
    return _out(low, scalar), _out(high, scalar)


# -- two-proportion z-test ----------------------------------------------------------------------


def two_proportion_ztest(x1: Any, n1: Any, x2: Any, n2: Any) -> tuple[Any, Any]:
    """Pooled two-proportion z-test of arm 1 (the variant) against arm 2 (the original).

        p₁ = x₁/n₁, p₂ = x₂/n₂, p̄ = (x₁ + x₂)/(n₁ + n₂)
        SE = √(p̄(1 − p̄)(1/n₁ + 1/n₂)),  z = (p₁ − p₂)/SE,  p = 2·(1 − Φ(|z|))

    z > 0 means the variant's rate is higher. When n₁ = 0, n₂ = 0 or SE = 0 (both arms at 0% or
    both at 100%) the test is degenerate and returns z = 0, p = 1.
    """
    if _is_expr(x1, n1, x2, n2):
        a, na, b, nb = (_as_expr(v) for v in (x1, n1, x2, n2))
        pooled = (a + b) / (na + nb)
        se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt()
        bad = (na <= 0) | (nb <= 0) | (pooled <= 0) | (pooled >= 1)
        z = pl.when(bad).then(0.0).otherwise((a / na - b / nb) / se)
        return z, normal_two_sided_p(z)
    scalar = _is_scalar(x1, n1, x2, n2)
    a, na, b, nb = np.broadcast_arrays(*(_as_float(v) for v in (x1, n1, x2, n2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (a + b) / (na + nb)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb))
        bad = (na <= 0) | (nb <= 0) | ~(se > 0)
        z = np.where(bad, 0.0, (a / na - b / nb) / se)
    return _out(z, scalar), _out(_two_sided_p_np(z), scalar)


# -- multiple-testing corrections ---------------------------------------------------------------


def _grouped_cummax(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Running maximum of `values` restarting at every group (`groups` sorted, contiguous).

    A Hillis–Steele scan: log₂(largest group) vectorised passes, each taking the maximum with
    the value d places back when it lies in the same group (d = 1, 2, 4, …). Exact.
    """
    out = values.copy()
    if out.size == 0:
        return out
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    largest = int(np.diff(np.r_[first, out.size]).max())
    d = 1
    while d < largest:
        same = groups[d:] == groups[:-d]
        out[d:] = np.where(same, np.maximum(out[d:], out[:-d]), out[d:])
        d *= 2
    return out


def _family_matrix(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Row (family) and column (place in the family) of every entry, for a padded matrix.

    Families are numbered 0..F-1 in order of first appearance after a stable sort by label.
    Returns (order, row, column, F, width) with `order` the stable sort of the labels.
    """
    order = np.argsort(g, kind="stable")
    gs = g[order]
    new = np.r_[True, gs[1:] != gs[:-1]]
    row = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    col = np.arange(gs.size) - first[row]
    return order, row, col, int(first.size), int(col.max()) + 1


def adjust_pvalues(pvalues: Any, groups: Any = None, method: str = "holm") -> np.ndarray:
    """Holm or Benjamini–Hochberg adjusted p-values, separately within each group.

    `groups` (integer labels, any order; None = one family) says which p-values are corrected
    together, e.g. the variants of one sequence step. NaN p-values stay NaN and are not counted.
    Vectorised over all groups at once: the families are laid out as the rows of a matrix padded
    with +inf, each row is sorted, and the step-down (Holm) or step-up (BH) running extreme is a
    cumulative maximum / minimum along the rows. No loop per group.
    """
    if method not in ("holm", "bh", "fdr_bh", "benjamini_hochberg"):
        raise ValueError(f"Unknown correction {method!r}; use 'holm' or 'bh'.")
    p = np.asarray(_as_float(pvalues), dtype=np.float64).reshape(-1)
    g = np.zeros(p.size, dtype=np.int64) if groups is None else np.asarray(groups).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order, row, col, families, width = _family_matrix(g[ok])
    if families * width > 4 * ok.size + 64:  # a few large families among many small ones
        return _adjust_sorted(p, g, ok, out, method)
    idx = ok[order]
    mat = np.full((families, width), np.inf)
    mat[row, col] = p[idx]
    rank = np.argsort(mat, axis=1, kind="stable")
    ps = np.take_along_axis(mat, rank, axis=1)
    m = np.bincount(row, minlength=families).astype(np.float64)[:, None]
    i = np.arange(1, width + 1, dtype=np.float64)[None, :]
    real = np.isfinite(ps)
    with np.errstate(invalid="ignore"):
        if method == "holm":
            adj = np.maximum.accumulate(np.minimum((m - i + 1.0) * ps, 1.0), axis=1)
        else:
            step = np.where(real, np.minimum(m / i * ps, 1.0), np.inf)
            adj = np.minimum.accumulate(step[:, ::-1], axis=1)[:, ::-1]
    back = np.empty_like(adj)
    np.put_along_axis(back, rank, adj, axis=1)
    out[idx] = back[row, col]
    return out


def _adjust_sorted(
    p: np.ndarray, g: np.ndarray, ok: np.ndarray, out: np.ndarray, method: str
) -> np.ndarray:
    """adjust_pvalues for ragged families: one lexsort and a segmented running extreme."""
    order = ok[np.lexsort((p[ok], g[ok]))]
    ps, gs = p[order], g[order]
    first = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    sizes = np.diff(np.r_[first, gs.size])
    m = np.repeat(sizes, sizes).astype(np.float64)
    i = (np.arange(gs.size) - np.repeat(first, sizes) + 1).astype(np.float64)
    if method == "holm":
        adj = _grouped_cummax(np.minimum((m - i + 1.0) * ps, 1.0), gs)
    else:
        # running minimum from the end = running maximum of the negation, walking backwards
        adj = -_grouped_cummax(-np.minimum(m / i * ps, 1.0)[::-1], gs[::-1])[::-1]
    out[order] = adj
    return out


def holm(pvalues: Any) -> Any:
    """Holm step-down adjusted p-values (family-wise error rate).

    With the m p-values sorted ascending p₍₁₎ ≤ … ≤ p₍ₘ₎:
        p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1) · p₍ⱼ₎)
    NaN entries stay NaN and do not count in m. The result is monotone in the p-values and ≥ p.
    On a polars expression it returns an expression (use `.over(...)` for one family per group).
    """
    if _is_expr(pvalues):
        return _as_expr(pvalues).map_batches(
            lambda s: pl.Series(s.name, adjust_pvalues(s, method="holm")),
            return_dtype=pl.Float64,
        )
    return adjust_pvalues(pvalues, method="holm")


def benjamini_hochberg(pvalues: Any) -> Any:
    """Benjamini–Hochberg adjusted p-values (false discovery rate).

    With the m p-values sorted ascending:  p̃₍ᵢ₎ = min(1, min_{j ≥ i} m/j · p₍ⱼ₎).
    NaN entries stay NaN and do not count in m. Polars expressions as for `holm`.
    """
    if _is_expr(pvalues):
        return _as_expr(pvalues).map_batches(
            lambda s: pl.Series(s.name, adjust_pvalues(s, method="bh")), return_dtype=pl.Float64
        )
    return adjust_pvalues(pvalues, method="bh")


# -- power --------------------------------------------------------------------------------------


def sends_for_power(
    p_base: Any, p_variant: Any, alpha: float = 0.05, power: float = 0.80, *, ceil: bool = True
) -> Any:
    """Sends per arm for a two-sided pooled z-test to detect p_variant vs p_base.

    Normal approximation, pooled variance under H₀ and unpooled under H₁ (Fleiss, without
    continuity correction; the same as statsmodels' `samplesize_proportions_2indep_onetail`):

        p̄ = (p₁ + p₂)/2,  σ₀ = √(2 p̄(1 − p̄)),  σ₁ = √(p₁(1 − p₁) + p₂(1 − p₂))
        n = ((z_{1−α/2} · σ₀ + z_{power} · σ₁) / (p₁ − p₂))²

    Rounded up to whole sends unless `ceil=False`. Equal rates give +inf; rates outside [0, 1]
    or missing give NaN. "More sends needed" is then max(0, n − sends so far).
    """
    za = normal_quantile(1.0 - alpha / 2.0)
    zb = normal_quantile(power)
    if _is_expr(p_base, p_variant):
        p2, p1 = _as_expr(p_base), _as_expr(p_variant)
        pbar = (p1 + p2) / 2.0
        s0 = (2.0 * pbar * (1.0 - pbar)).sqrt()
        s1 = (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt()
        n = ((za * s0 + zb * s1) / (p1 - p2)) ** 2
        n = n.ceil() if ceil else n
        bad = (p1 < 0) | (p1 > 1) | (p2 < 0) | (p2 > 1)
        return (
            pl.when(bad).then(float("nan")).when(p1 == p2).then(float("inf")).otherwise(n)
        ).fill_null(float("nan"))
    scalar = _is_scalar(p_base, p_variant)
    p2, p1 = np.broadcast_arrays(_as_float(p_base), _as_float(p_variant))
    with np.errstate(divide="ignore", invalid="ignore"):
        pbar = (p1 + p2) / 2.0
        s0 = np.sqrt(2.0 * pbar * (1.0 - pbar))
        s1 = np.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
        n = ((za * s0 + zb * s1) / (p1 - p2)) ** 2
        n = np.ceil(n) if ceil else n
        bad = ~((p1 >= 0) & (p1 <= 1) & (p2 >= 0) & (p2 <= 1))
        n = np.where(bad, np.nan, np.where(p1 == p2, np.inf, n))
    return _out(n, scalar)


# -- small samples ------------------------------------------------------------------------------


def normal_approx_ok(
    successes: Any,
    n: Any,
    successes2: Any = None,
    n2: Any = None,
    *,
    min_count: float = 5,
) -> Any:
    """Whether the normal approximation is reasonable: n·p̂ ≥ 5 and n·(1 − p̂) ≥ 5.

    n·p̂ is the number of successes and n·(1 − p̂) the number of failures. With a second arm
    (`successes2`, `n2`) both arms must pass. False where n = 0.
    """
    if _is_expr(successes, n, successes2, n2):
        x, nn = _as_expr(successes), _as_expr(n)
        ok = (nn > 0) & (x >= min_count) & ((nn - x) >= min_count)
        if successes2 is not None:
            ok = ok & normal_approx_ok(successes2, n2, min_count=min_count)
        return ok.fill_null(False)
    scalar = _is_scalar(successes, n) and (successes2 is None or _is_scalar(successes2, n2))
    x, nn = np.broadcast_arrays(_as_float(successes), _as_float(n))
    ok = (nn > 0) & (x >= min_count) & ((nn - x) >= min_count)
    if successes2 is not None:
        ok = ok & np.asarray(normal_approx_ok(successes2, n2, min_count=min_count), dtype=bool)
    return _out(ok, scalar)
