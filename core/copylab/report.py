"""Copy Lab: which subject lines and bodies win, with honest statistics.

Every query takes the caller's `Scope` and returns a polars DataFrame (or a dict), computed in one
pass: one SQL aggregate over `bison_step_stats` (filtered by scope, date range and campaign),
then vectorised statistics from `core.copylab.stats` as polars expressions.

The metric is "interested" (interested replies per email sent, the package KPI) or "replies"
(replies per email sent). A step's variants are lettered like the Campaigns page does: A is the
original step, then its variants in id order. Each variant is tested against A with a pooled
two-proportion z-test, and the p-values of one step's variants are corrected together (Holm by
default, Benjamini–Hochberg on request), so a step with many variants does not "win" by chance.
Subject lines are compared like with like: first emails among first emails, follow-ups among
follow-ups. Every verdict comes twice (`core.copylab.verdicts`): in plain words for the page, and
as the test's statistics for the Advanced view.
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
from core.copylab.verdicts import plain_verdicts, verdicts
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
    "test_result",
]

EMAILS = {"first": "First email", "follow-up": "Follow-up"}


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
_NAMES = [f"{v} " for v in _LETTERS.to_list()]


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
    the rates are equal or unknown), verdict (plain words, `plain_verdicts`: "B gets more
    interested replies than A; we are confident" or "No clear winner yet: about 12,000 more sends
    each") and test_result (the statistics: "B beats A on interested rate, p = 0.003 after
    correction"). Row A has null lift/z/p/p_adj, verdict "Original" and test_result "original".
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
                verdicts(
                    d,
                    (np.arange(d.height) - base, _NAMES),
                    "A",
                    METRICS[metric],
                    correction,
                    original=is_base,
                ).alias("test_result"),
                plain_verdicts(
                    d, (np.arange(d.height) - base, _NAMES), "A", metric, original=is_base
                ),
            )
        )
        .select(VARIANT_COLUMNS)
    )


SUBJECT_COLUMNS = [
    "rank",
    "email",
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
    "test_result",
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
    emails: str | None = None,
) -> pl.DataFrame:
    """Subject lines merged by `normalise_subject` across campaigns and clients, best first,
    first emails apart from follow-ups (like is compared with like).

    Columns (SUBJECT_COLUMNS): rank (within its email kind, 1 = highest Wilson lower bound of the
    metric's rate, which rewards evidence rather than luck), email ("first" for a campaign's
    first step, "follow-up" for later steps), subject_key, subject (the most-sent spelling),
    campaigns, clients, variants (step variants using it), sent, replies, interested, rate,
    ci_low, ci_high, and the test of this subject against the other subjects of the same email
    kind pooled: lift (vs their pooled rate), z, p, p_adj (corrected across the subjects of that
    kind), significant, small_sample, sends_needed_for_80pct_power, verdict (plain words: "Gets
    more interested replies than the other first emails; we are confident") and test_result
    ("beats the other first emails on interested rate, p = …"). Sorted first emails first, then by
    rank. `emails` ("first" or "follow-up") keeps one kind only.
    """
    _check_metric(metric)
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {CORRECTIONS}.")
    if emails is not None and emails not in EMAILS:
        raise ValueError(f"Unknown email kind {emails!r}; use one of {sorted(EMAILS)}.")
    counts = (
        variant_counts(
            db, scope, start=start, end=end, campaign_id=campaign_id, workspace_id=workspace_id
        )
        .with_columns(pl.col("subject").fill_null(""))
        .with_columns(
            email=pl.when(
                pl.col("step") == pl.col("step").min().over("workspace_id", "campaign_id")
            )
            .then(pl.lit("first"))
            .otherwise(pl.lit("follow-up"))
        )
    )
    if emails is not None:
        counts = counts.filter(pl.col("email") == emails)
    spellings = counts.select("subject").unique()
    counts = counts.join(
        spellings.with_columns(subject_key=normalise_subject(spellings["subject"])),
        on="subject",
        how="left",
    )
    key = ["email", "subject_key"]
    by_spelling = (
        counts.group_by(*key, "subject")
        .agg(pl.col("sent").sum().alias("_spelling_sent"))
        .sort([*key, "_spelling_sent", "subject"], descending=[False, False, True, False])
        .group_by(key, maintain_order=True)
        .agg(pl.col("subject").first())
    )
    df = (
        counts.group_by(key)
        .agg(
            pl.struct("workspace_id", "campaign_id").n_unique().alias("campaigns"),
            pl.col("workspace_id").n_unique().alias("clients"),
            pl.len().alias("variants"),
            pl.col("sent").sum(),
            pl.col("replies").sum(),
            pl.col("interested").sum(),
        )
        .join(by_spelling, on=key, how="left")
        .sort(key)
    )
    kind = (df["email"] == "follow-up").to_numpy().astype(np.int64)
    x = df[metric].to_numpy().astype(np.float64)
    n = df["sent"].to_numpy().astype(np.float64)
    kx = np.bincount(kind, weights=x, minlength=2)[kind]
    kn = np.bincount(kind, weights=n, minlength=2)[kind]
    cols = _comparison_columns(x, n, kx - x, kn - n, np.zeros(df.height, dtype=bool))
    cols["p_adj"] = _adjust(cols["p"], kind, correction)
    others = ["the other first emails", "the other follow-ups"]
    parts = []
    d = df.with_columns(_frame_columns(cols)).with_columns(
        significant=(pl.col("p_adj") < ALPHA).fill_null(False)
    )
    for k, versus in enumerate(others):
        part = d.filter(pl.Series(kind == k))
        if part.height == 0:
            continue
        alone = "The only one so far: nothing to compare it with"
        parts.append(
            part.with_columns(
                verdicts(part, None, versus, METRICS[metric], correction).alias("test_result"),
                plain_verdicts(part, None, versus, metric)
                if part.height > 1
                else pl.Series("verdict", [alone], dtype=pl.Utf8),
            )
            .sort(["ci_low", "rate", "sent", "subject_key"], descending=[True, True, True, False])
            .with_row_index("rank", offset=1)
            .with_columns(pl.col("rank").cast(pl.Int64))
        )
    if not parts:
        return (
            pl.DataFrame(
                schema={c: d.schema.get(c, pl.Utf8) for c in SUBJECT_COLUMNS if c != "rank"}
            )
            .with_row_index("rank", offset=1)
            .with_columns(pl.col("rank").cast(pl.Int64))
            .select(SUBJECT_COLUMNS)
        )
    return pl.concat(parts).select(SUBJECT_COLUMNS)


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
    None without sends), variants (step variants with sends), min_sends, and, comparing like with
    like, the first-email subject lines (`subject_stats`, emails="first") with at least
    `min_sends` sends: best (highest Wilson lower bound of interested rate) and worst (lowest
    Wilson upper bound among the other subjects, so never the same subject as best), dicts with
    subject, subject_key, campaigns, clients, sent, interested, rate, ci_low, ci_high; or None.
    verdict compares the two in plain words ("“X” gets more interested replies than “Y”; we are
    confident", or "No clear winner yet: about N more sends each"); None without both.
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

    keep = ["subject", "subject_key", "campaigns", "clients", "sent", "interested"]
    keep += ["rate", "ci_low", "ci_high"]
    subjects = subject_stats(
        db,
        scope,
        start=start,
        end=end,
        campaign_id=campaign_id,
        workspace_id=workspace_id,
        emails="first",
    )
    eligible = subjects.filter(pl.col("sent") >= min_sends).select(keep)
    best = worst = verdict = None
    if eligible.height:
        best = eligible.sort(["ci_low", "sent"], descending=True).row(0, named=True)
        rest = eligible.filter(pl.col("subject_key") != best["subject_key"])
        if rest.height:
            worst = rest.sort(["ci_high", "sent"], descending=[False, True]).row(0, named=True)
            verdict = compare_two(best, worst)
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
        "verdict": verdict,
    }


def compare_two(a: dict[str, Any], b: dict[str, Any], metric: str = "interested") -> str:
    """Whether copy `a` gets more of the metric than copy `b` (dicts with subject, sent and the
    metric's count), in plain words, from the pooled z-test at 5% and the power calculation."""
    x1, n1, x2, n2 = a[metric], a["sent"], b[metric], b["sent"]
    frame = pl.DataFrame(
        {
            "sent": [n1],
            "significant": [False],
            "small_sample": [False],
            "z": [0.0],
            "lift": [0.0],
            "sends_needed_for_80pct_power": [0],
        }
    )
    cols = _comparison_columns(
        np.array([x1], dtype=np.float64),
        np.array([n1], dtype=np.float64),
        np.array([x2], dtype=np.float64),
        np.array([n2], dtype=np.float64),
        np.zeros(1, dtype=bool),
    )
    frame = frame.with_columns(_frame_columns({k: cols[k] for k in ("z", "lift", "small_sample")}))
    frame = frame.with_columns(
        _frame_columns({"sends_needed_for_80pct_power": cols["sends_needed_for_80pct_power"]}),
        significant=pl.lit(bool(cols["p"][0] < ALPHA)),
    )
    names = (np.zeros(1, dtype=np.int64), [f"“{a['subject']}” "])
    return plain_verdicts(frame, names, f"“{b['subject']}”", metric)[0]


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
