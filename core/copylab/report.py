"""Copy Lab: which subject lines and bodies win, with honest statistics.

Every query takes the caller's `Scope` and returns a polars DataFrame (or a dict), computed in one
pass: one SQL aggregate over `bison_step_stats` (filtered by scope, date range and campaign),
then vectorised statistics from `core.copylab.stats` as polars expressions.

The metric is "interested" (interested replies per email sent, the package KPI) or "replies"
(replies per email sent). A step's variants are lettered like the Campaigns page does: A is the
original step, then its variants in id order. Each variant is tested against A with a pooled
two-proportion z-test, and the p-values of one step's variants are corrected together (Holm by
default, Benjamini–Hochberg on request), so a step with many variants does not "win" by chance.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import numpy as np
import polars as pl

from core.copylab.copy_checks import normalise_subject, score_copy
from core.copylab.stats import (
    adjust_pvalues,
    normal_approx_ok,
    sends_for_power,
    two_proportion_ztest,
    wilson_interval,
)
from core.platform.scope import Scope
from core.platform.store import Database

METRICS = {"interested": "interested rate", "replies": "reply rate"}
CORRECTIONS = ("holm", "bh", "none")
ALPHA = 0.05
POWER = 0.80
STEP_KEY = ["workspace_id", "campaign_id", "step"]

VARIANT_COLUMNS = [
    "workspace_id",
    "client",
    "campaign_id",
    "campaign",
    "step",
    "variant",
    "step_id",
    "subject",
    "body",
    "sent",
    "replies",
    "interested",
    "rate",
    "ci_low",
    "ci_high",
    "lift",
    "z",
    "p",
    "p_adj",
    "significant",
    "small_sample",
    "sends_needed_for_80pct_power",
    "verdict",
]


def _check_metric(metric: str) -> pl.Expr:
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; use one of {sorted(METRICS)}.")
    return pl.col(metric)


def _stats_filter(
    scope: Scope,
    start: dt.date | None,
    end: dt.date | None,
    campaign_id: int | None,
    prefix: str = "",
) -> tuple[str, list[Any]]:
    where, params = [scope.filter(f"{prefix}workspace_id")], []
    if start is not None:
        where.append(f"{prefix}day >= ?")
        params.append(start)
    if end is not None:
        where.append(f"{prefix}day <= ?")
        params.append(end)
    if campaign_id is not None:
        where.append(f"{prefix}campaign_id = ?")
        params.append(int(campaign_id))
    return " AND ".join(where), params


def _labels() -> pl.Series:
    one = list(string.ascii_uppercase)
    return pl.Series("variant", one + [a + b for a in one for b in one], dtype=pl.Utf8)


_LETTERS = _labels()


def variant_counts(
    db: Database,
    scope: Scope,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    campaign_id: int | None = None,
    workspace_id: int | None = None,
) -> pl.DataFrame:
    """Per step variant: who, which copy, and sent/replies/interested/bounced in the date range.

    Columns: workspace_id, client, campaign_id, campaign, step, variant, step_id, subject, body,
    sent, replies, interested, bounced. Steps without stats in the range have zero counts.
    Sorted by workspace, campaign, step, variant.
    """
    scope = scope.narrow(workspace_id)
    t_where, t_params = _stats_filter(scope, start, end, campaign_id)
    s_where, s_params = _stats_filter(scope, None, None, campaign_id, "s.")
    df = db.query(
        f"""
        WITH t AS (
            SELECT workspace_id, step_id, sum(sent) AS sent, sum(replied) AS replies,
                   sum(interested) AS interested, sum(bounced) AS bounced
            FROM bison_step_stats WHERE {t_where} GROUP BY ALL
        )
        SELECT s.workspace_id, w.name AS client, s.campaign_id, c.name AS campaign,
               s.step_order AS step, s.id AS step_id,
               s.email_subject AS subject, s.email_body AS body,
               coalesce(t.sent, 0)::BIGINT AS sent, coalesce(t.replies, 0)::BIGINT AS replies,
               coalesce(t.interested, 0)::BIGINT AS interested,
               coalesce(t.bounced, 0)::BIGINT AS bounced
        FROM bison_sequence_steps s
        LEFT JOIN workspaces w ON w.id = s.workspace_id
        LEFT JOIN bison_campaigns c ON c.workspace_id = s.workspace_id AND c.id = s.campaign_id
        LEFT JOIN t ON t.workspace_id = s.workspace_id AND t.step_id = s.id
        WHERE {s_where}
        ORDER BY s.workspace_id, s.campaign_id, s.step_order, s.variant, s.id
        """,
        (t_params + s_params) or None,
    )
    gid, start_idx = _groups(df)
    k = np.arange(df.height) - start_idx[gid] if df.height else np.zeros(0, dtype=np.int64)
    return df.with_columns(_LETTERS.gather(np.minimum(k, _LETTERS.len() - 1))).select(
        "workspace_id",
        "client",
        "campaign_id",
        "campaign",
        "step",
        "variant",
        "step_id",
        "subject",
        "body",
        "sent",
        "replies",
        "interested",
        "bounced",
    )


def _groups(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Group number of every row and first row of every group, for frames sorted by STEP_KEY."""
    if df.height == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    new = np.zeros(df.height, dtype=bool)
    new[0] = True
    for c in STEP_KEY:
        a = df[c].to_numpy()
        new[1:] |= a[1:] != a[:-1]
    return np.cumsum(new) - 1, np.flatnonzero(new)


def _p_text(p: float) -> str:
    """'< 0.001', '= 0.003' or '= 0.41' (3 decimals under 0.1, else 2)."""
    if p < 0.001:
        return "< 0.001"
    return f"= {round(p, 3) if p < 0.1 else round(p, 2)!r}"


def _comparison_columns(
    x: np.ndarray, n: np.ndarray, bx: np.ndarray, bn: np.ndarray, is_base: np.ndarray
) -> dict[str, np.ndarray]:
    """rate, Wilson CI, lift, z, p, small_sample and power of arm (x, n) against (bx, bn)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, x / n, np.nan)
        base_rate = np.where(bn > 0, bx / bn, np.nan)
        lift = np.where(~is_base & (base_rate > 0), rate / base_rate - 1.0, np.nan)
    low, high = wilson_interval(x, n)
    z, p = two_proportion_ztest(x, n, bx, bn)
    need = sends_for_power(base_rate, rate, ALPHA, POWER) - np.minimum(n, bn)
    need = np.where(np.isfinite(need) & ~is_base, np.maximum(need, 0.0), np.nan)
    ok = np.where(is_base, normal_approx_ok(x, n), normal_approx_ok(x, n, bx, bn))
    return {
        "rate": rate,
        "ci_low": low,
        "ci_high": high,
        "lift": lift,
        "z": np.where(is_base, np.nan, z),
        "p": np.where(is_base, np.nan, p),
        "small_sample": ~ok,
        "sends_needed_for_80pct_power": need,
    }


def _adjust(p: np.ndarray, gid: np.ndarray, correction: str) -> np.ndarray:
    """p-values adjusted within each group `gid` (NaN stays NaN)."""
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {CORRECTIONS}.")
    if correction == "none":
        return p.copy()
    return adjust_pvalues(p, gid, correction)


def _frame_columns(cols: dict[str, np.ndarray]) -> list[pl.Series]:
    out = []
    for name, values in cols.items():
        s = pl.Series(name, values)
        if s.dtype == pl.Float64:
            s = s.fill_nan(None)
        if name == "sends_needed_for_80pct_power":
            s = s.cast(pl.Int64)
        out.append(s)
    return out


_NO_DATA, _NO_DIFFERENCE, _BEATS, _TRAILS, _ORIGINAL = range(5)


def _verdicts(
    df: pl.DataFrame,
    prefixes: tuple[np.ndarray, list[str]] | None,
    versus: str,
    label: str,
    correction: str,
    original: np.ndarray | None = None,
) -> pl.Series:
    """The plain-words verdict of every row of `df` (columns p_adj, z, small_sample, significant).

    'not enough data' for small samples; 'no clear difference yet (p = …)' when not significant;
    '<prefix>beats|trails <versus> on <label>, p = … after correction' when it is. `prefixes` is
    (index of each row's prefix, the prefix strings), or None for no prefix. Rows where
    `original` is true read 'original'.

    A verdict depends only on its prefix, its outcome and p as printed (3 decimals under 0.1,
    else 2), so 50,000 variants share a few hundred wordings: each row gets an integer code,
    each distinct code is worded once, and the words are gathered back by code.
    """
    p = df["p_adj"].to_numpy().astype(np.float64, copy=False)
    small = df["small_sample"].to_numpy() | np.isnan(p)
    sig = df["significant"].to_numpy() & ~small
    up = np.nan_to_num(df["z"].to_numpy().astype(np.float64, copy=False)) > 0
    outcome = np.where(
        small, _NO_DATA, np.where(~sig, _NO_DIFFERENCE, np.where(up, _BEATS, _TRAILS))
    )
    q = np.nan_to_num(p, nan=1.0)
    printed = np.where(
        q < 0.001, 0, np.where(q < 0.1, 1 + np.round(q * 1000), 1000 + np.round(q * 100))
    )
    printed = np.where(small, 0, printed).astype(np.int64)
    who = np.zeros(df.height, dtype=np.int64) if prefixes is None else prefixes[0].astype(np.int64)
    if original is not None:
        outcome = np.where(original, _ORIGINAL, outcome)
        printed = np.where(original, 0, printed)
    who = np.where(sig & (outcome != _ORIGINAL), who, 0)  # only a verdict that names it
    code = (who * 5 + outcome) * 2048 + printed
    distinct, back = np.unique(code, return_inverse=True)
    after = " after correction" if correction != "none" else ""
    words = []
    for c in distinct.tolist():
        rest, printed_p = divmod(c, 2048)
        w, kind = divmod(rest, 5)
        value = (
            0.0
            if printed_p == 0
            else (printed_p - 1) / 1000
            if printed_p < 1000
            else (printed_p - 1000) / 100
        )
        if kind == _ORIGINAL:
            words.append("original")
        elif kind == _NO_DATA:
            words.append("not enough data")
        elif kind == _NO_DIFFERENCE:
            words.append(f"no clear difference yet (p {_p_text(value)})")
        else:
            prefix = "" if prefixes is None else prefixes[1][w]
            verb = "beats" if kind == _BEATS else "trails"
            words.append(f"{prefix}{verb} {versus} on {label}, p {_p_text(value)}{after}")
    return pl.Series("verdict", words, dtype=pl.Utf8).gather(back.reshape(-1))


def variant_stats(
    db: Database,
    scope: Scope,
    *,
    metric: str = "interested",
    start: dt.date | None = None,
    end: dt.date | None = None,
    campaign_id: int | None = None,
    workspace_id: int | None = None,
    correction: str = "holm",
) -> pl.DataFrame:
    """One row per step variant with its rate, Wilson 95% interval and its test against A.

    Columns (VARIANT_COLUMNS): workspace_id, client, campaign_id, campaign, step, variant (A, B, …),
    step_id, subject, body, sent, replies, interested, rate (metric / sent; null without sends),
    ci_low, ci_high, lift (rate / A's rate − 1), z, p (pooled z-test vs A), p_adj (corrected over
    the variants of the step: "holm", "bh" or "none"), significant (p_adj < 0.05), small_sample
    (either arm has fewer than 5 successes or failures), sends_needed_for_80pct_power (more sends
    per arm, beyond the smaller arm's, to detect the observed difference with 80% power; null when
    the rates are equal or unknown), verdict. Row A has null lift/z/p/p_adj and verdict "original".
    """
    _check_metric(metric)
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {CORRECTIONS}.")
    df = variant_counts(
        db, scope, start=start, end=end, campaign_id=campaign_id, workspace_id=workspace_id
    )
    gid, start_idx = _groups(df)
    base = start_idx[gid]
    x = df[metric].to_numpy().astype(np.float64)
    n = df["sent"].to_numpy().astype(np.float64)
    is_base = np.arange(df.height) == base
    cols = _comparison_columns(x, n, x[base], n[base], is_base)
    cols["p_adj"] = _adjust(cols["p"], gid, correction)
    return (
        df.with_columns(_frame_columns(cols))
        .with_columns(significant=(pl.col("p_adj") < ALPHA).fill_null(False))
        .pipe(
            lambda d: d.with_columns(
                _verdicts(
                    d,
                    (np.arange(d.height) - base, [f"{v} " for v in _LETTERS.to_list()]),
                    "A",
                    METRICS[metric],
                    correction,
                    original=is_base,
                )
            )
        )
        .select(VARIANT_COLUMNS)
    )


SUBJECT_COLUMNS = [
    "rank",
    "subject_key",
    "subject",
    "campaigns",
    "clients",
    "variants",
    "sent",
    "replies",
    "interested",
    "rate",
    "ci_low",
    "ci_high",
    "lift",
    "z",
    "p",
    "p_adj",
    "significant",
    "small_sample",
    "sends_needed_for_80pct_power",
    "verdict",
]


def subject_stats(
    db: Database,
    scope: Scope,
    *,
    metric: str = "interested",
    start: dt.date | None = None,
    end: dt.date | None = None,
    campaign_id: int | None = None,
    workspace_id: int | None = None,
    correction: str = "holm",
) -> pl.DataFrame:
    """Subject lines merged by `normalise_subject` across campaigns and clients, best first.

    Columns (SUBJECT_COLUMNS): rank (1 = highest Wilson lower bound of the metric's rate, which
    rewards evidence rather than luck), subject_key, subject (the most-sent spelling), campaigns,
    clients, variants (step variants using it), sent, replies, interested, rate, ci_low, ci_high,
    and the test of this subject against all other subjects pooled: lift (vs their pooled rate),
    z, p, p_adj (corrected across all subjects), significant, small_sample,
    sends_needed_for_80pct_power, verdict ("beats the other subjects on interested rate, p = …").
    """
    _check_metric(metric)
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {CORRECTIONS}.")
    counts = variant_counts(
        db, scope, start=start, end=end, campaign_id=campaign_id, workspace_id=workspace_id
    ).with_columns(pl.col("subject").fill_null(""))
    spellings = counts.select("subject").unique()
    counts = counts.join(
        spellings.with_columns(subject_key=normalise_subject(spellings["subject"])),
        on="subject",
        how="left",
    )
    by_spelling = (
        counts.group_by("subject_key", "subject")
        .agg(pl.col("sent").sum().alias("_spelling_sent"))
        .sort(["subject_key", "_spelling_sent", "subject"], descending=[False, True, False])
        .group_by("subject_key", maintain_order=True)
        .agg(pl.col("subject").first())
    )
    df = (
        counts.group_by("subject_key")
        .agg(
            pl.struct("workspace_id", "campaign_id").n_unique().alias("campaigns"),
            pl.col("workspace_id").n_unique().alias("clients"),
            pl.len().alias("variants"),
            pl.col("sent").sum(),
            pl.col("replies").sum(),
            pl.col("interested").sum(),
        )
        .join(by_spelling, on="subject_key", how="left")
    )
    x = df[metric].to_numpy().astype(np.float64)
    n = df["sent"].to_numpy().astype(np.float64)
    cols = _comparison_columns(x, n, x.sum() - x, n.sum() - n, np.zeros(df.height, dtype=bool))
    cols["p_adj"] = _adjust(cols["p"], np.zeros(df.height, dtype=np.int64), correction)
    return (
        df.with_columns(_frame_columns(cols))
        .with_columns(significant=(pl.col("p_adj") < ALPHA).fill_null(False))
        .pipe(
            lambda d: d.with_columns(
                _verdicts(d, None, "the other subjects", METRICS[metric], correction)
            )
        )
        .sort(["ci_low", "rate", "sent", "subject_key"], descending=[True, True, True, False])
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
        .select(SUBJECT_COLUMNS)
    )


def copy_overview(
    db: Database,
    scope: Scope,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    campaign_id: int | None = None,
    workspace_id: int | None = None,
    min_sends: int = 1000,
) -> dict[str, Any]:
    """Headline numbers for the Copy Lab.

    Keys: sent, replies, interested, bounced, reply_rate, interested_rate, bounce_rate (per sent;
    None without sends), variants (step variants with sends), min_sends, best and worst: the step
    variant with the highest Wilson lower bound / lowest Wilson upper bound of interested rate
    among those with at least `min_sends` sends (dicts with client, campaign, campaign_id,
    workspace_id, step, variant, step_id, subject, sent, interested, rate, ci_low, ci_high),
    or None.
    """
    v = variant_stats(
        db,
        scope,
        metric="interested",
        start=start,
        end=end,
        campaign_id=campaign_id,
        workspace_id=workspace_id,
    )
    sent, replies, interested = (int(v[c].sum()) for c in ("sent", "replies", "interested"))
    t_where, t_params = _stats_filter(scope.narrow(workspace_id), start, end, campaign_id)
    bounced = int(
        db.scalar(
            f"SELECT coalesce(sum(bounced), 0) FROM bison_step_stats WHERE {t_where}", t_params
        )
    )

    def rate(k: int) -> float | None:
        return k / sent if sent else None

    keep = ["workspace_id", "client", "campaign_id", "campaign", "step", "variant", "step_id"]
    keep += ["subject", "sent", "interested", "rate", "ci_low", "ci_high"]
    eligible = v.filter(pl.col("sent") >= min_sends).select(keep)
    best = worst = None
    if eligible.height:
        best = eligible.sort(["ci_low", "sent"], descending=True).row(0, named=True)
        rest = eligible.filter(
            (pl.col("workspace_id") != best["workspace_id"])
            | (pl.col("step_id") != best["step_id"])
        )
        if rest.height:
            worst = rest.sort(["ci_high", "sent"], descending=[False, True]).row(0, named=True)
    return {
        "sent": sent,
        "replies": replies,
        "interested": interested,
        "bounced": bounced,
        "reply_rate": rate(replies),
        "interested_rate": rate(interested),
        "bounce_rate": rate(bounced),
        "variants": int((v["sent"] > 0).sum()),
        "min_sends": min_sends,
        "best": best,
        "worst": worst,
    }


def variant_summary(variants: pl.DataFrame) -> dict[str, int]:
    """Of a `variant_stats` frame: how many variants, significant winners after the correction
    (better than A), and samples too small for the normal approximation."""
    return {
        "variants": variants.height,
        "winners": variants.filter(
            pl.col("significant").fill_null(False) & (pl.col("lift") > 0)
        ).height,
        "small_samples": variants.filter(pl.col("small_sample").fill_null(False)).height,
    }


def step_totals(steps: pl.DataFrame) -> pl.DataFrame:
    """Sent, replies and interested per step of one campaign's sequence, its variants summed.

    `steps` has one row per step variant with those counts (the Campaigns view's
    `campaign_steps`); the result has step, sent, replies, interested, in step order."""
    return (
        steps.group_by("step")
        .agg(pl.col("sent").sum(), pl.col("replies").sum(), pl.col("interested").sum())
        .sort("step")
    )


def templates(
    db: Database,
    scope: Scope,
    *,
    campaign_id: int | None = None,
    workspace_id: int | None = None,
) -> pl.DataFrame:
    """The distinct subject/body pairs of the campaigns in scope, with a deliverability rating.

    Columns: subject, body, campaigns, clients, steps (step variants using the copy), variables
    (sorted names such as FIRST_NAME), spintax (the `{a|b}` groups as written), spam_words,
    links, images, words (body), exclamations, caps_share (capitals among letters, variables
    excluded), has_opt_out, safety (0–100: 100 minus the PENALTIES that apply), rating ("good"
    ≥ 80, "fair" ≥ 60, else "risky") and reasons (list of strings, one per deduction).
    """
    scope = scope.narrow(workspace_id)
    where, params = [scope.filter("workspace_id")], []
    if campaign_id is not None:
        where.append("campaign_id = ?")
        params.append(int(campaign_id))
    df = db.query(
        f"""
        SELECT coalesce(email_subject, '') AS subject, coalesce(email_body, '') AS body,
               count(DISTINCT (workspace_id, campaign_id)) AS campaigns,
               count(DISTINCT workspace_id) AS clients, count(*) AS steps
        FROM bison_sequence_steps WHERE {" AND ".join(where)}
        GROUP BY ALL ORDER BY campaigns DESC, subject, body
        """,
        params,
    )
    return score_copy(df)
