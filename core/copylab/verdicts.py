"""The words of Copy Lab's verdicts: the statistical test as a statistician reads it ("B beats A
on interested rate, p = 0.003 after correction") and the same in plain words for ops staff ("B gets
more interested replies than A; we are confident", "No clear winner yet: about 12,000 more sends
each").

Both are worded once per distinct outcome and gathered back by code, so 50,000 variants cost a few
hundred string builds.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# what the metric counts, in the words of a verdict: "B gets more interested replies than A"
OUTCOMES = {"interested": "interested replies", "replies": "replies"}


def _p_text(p: float) -> str:
    """'< 0.001', '= 0.003' or '= 0.41' (3 decimals under 0.1, else 2)."""
    if p < 0.001:
        return "< 0.001"
    return f"= {round(p, 3) if p < 0.1 else round(p, 2)!r}"


_NO_DATA, _NO_DIFFERENCE, _BEATS, _TRAILS, _ORIGINAL = range(5)


def verdicts(
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


def _round_sends(n: np.ndarray) -> np.ndarray:
    """More sends to a plain figure: two significant digits, at least 100 (12,345 → 12,000)."""
    n = np.maximum(n, 100.0)
    scale = 10.0 ** np.maximum(np.floor(np.log10(n)) - 1, 0)
    return (np.round(n / scale) * scale).astype(np.int64)


def plain_verdicts(
    df: pl.DataFrame,
    names: tuple[np.ndarray, list[str]] | None,
    versus: str,
    metric: str,
    original: np.ndarray | None = None,
) -> pl.Series:
    """The verdict of every row of `df` in plain words, for people who do not read p-values.

    "B gets more interested replies than A; we are confident" when the corrected test says so
    (fewer when it trails); otherwise "No clear winner yet: about 12,000 more sends each" from the
    power calculation (rounded to two digits), "No clear winner yet: they do about the same so
    far" when the rates are equal, "Too close to call: about 2,600,000 more sends each to tell
    them apart" when they differ by less than 5%, or "No sends yet". `names` is (index of each row's name, the
    names) as in `_verdicts`; None names nobody ("Gets more … than the other subjects").
    Worded once per distinct (name, outcome, sends) and gathered back, like `_verdicts`.
    """
    sent = df["sent"].to_numpy()
    sig = df["significant"].to_numpy() & ~df["small_sample"].to_numpy()
    up = np.nan_to_num(df["z"].to_numpy().astype(np.float64, copy=False)) > 0
    need = df["sends_needed_for_80pct_power"].to_numpy().astype(np.float64, copy=False)
    lift = df["lift"].to_numpy().astype(np.float64, copy=False)
    known = np.isfinite(need) & (need > 0)
    # 0 original, 1 no sends, 2 more, 3 fewer, 4 no clear winner (+ sends), 5 about the same,
    # 6 too close to call (+ sends: the rates differ by less than 5% of each other)
    close = known & (np.abs(np.nan_to_num(lift, nan=1.0)) < 0.05)
    outcome = np.where(
        sent <= 0,
        1,
        np.where(
            sig,
            np.where(up, 2, 3),
            np.where(known, np.where(close, 6, 4), np.where(lift == 0, 5, 4)),
        ),
    )
    if original is not None:
        outcome = np.where(original, 0, outcome)
    rounded = _round_sends(np.where(known, need, 1))
    sends = np.where(((outcome == 4) | (outcome == 6)) & known, rounded, 0)
    who = np.zeros(df.height, dtype=np.int64) if names is None else names[0].astype(np.int64)
    who = np.where((outcome == 2) | (outcome == 3), who, 0)
    code = (who * 7 + outcome) * (1 << 40) + sends
    distinct, back = np.unique(code, return_inverse=True)
    what = OUTCOMES[metric]
    words = []
    for c in distinct.tolist():
        rest, more = divmod(c, 1 << 40)
        w, kind = divmod(rest, 7)
        if kind == 0:
            words.append("Original")
        elif kind == 1:
            words.append("No sends yet")
        elif kind in (2, 3):
            name = "" if names is None else names[1][w]
            verb = "gets more" if kind == 2 else "gets fewer"
            text = f"{name}{verb} {what} than {versus}; we are confident"
            words.append(text[0].upper() + text[1:])
        elif kind == 5:
            words.append("No clear winner yet: they do about the same so far")
        elif kind == 6:
            words.append(f"Too close to call: about {more:,} more sends each to tell them apart")
        else:
            words.append(
                f"No clear winner yet: about {more:,} more sends each"
                if more
                else "No clear winner yet"
            )
    return pl.Series("verdict", words, dtype=pl.Utf8).gather(back.reshape(-1))
