"""Copy checks: subject lines merged across spellings, and a deliverability score for templates
(spam trigger words, links, images, length, capitals, opt-out wording)."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

# -- subject lines ------------------------------------------------------------------------------

_TOKEN_RE = r"\{[^{}]*\}|[^{}]+|[{}]"


def _normalise_expr(text: pl.Expr) -> pl.Expr:
    el = pl.element()
    is_brace = el.str.starts_with("{") & el.str.ends_with("}") & (el.str.len_chars() > 1)
    options = (
        el.str.strip_chars("{}")
        .str.split("|")
        .list.eval(pl.element().str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars())
        .list.unique()
        .list.sort()
        .list.join("|")
    )
    token = (
        pl.when(is_brace & el.str.contains("|", literal=True))
        .then(pl.concat_str(pl.lit("{"), options, pl.lit("}")))
        .when(is_brace)
        .then(el.str.to_uppercase().str.replace_all(r"\s+", ""))
        .otherwise(el.str.to_lowercase())
    )
    joined = text.fill_null("").str.extract_all(_TOKEN_RE).list.eval(token).list.join("")
    return (
        joined.str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.replace(r"^(?:re\s*:\s*)+", "")
        .str.strip_chars()
    )


def normalise_subject(text: Any) -> Any:
    """A case-, whitespace- and spintax-insensitive key for a subject line.

    * text outside braces is lower-cased and runs of whitespace become one space;
    * spintax `{a|B| c}` becomes its distinct options, lower-cased, trimmed, sorted and joined:
      `{a|b|c}`, so `{b|a}` and `{A | b}` give the same key;
    * variables such as `{first_name}` are kept as upper-case tokens: `{FIRST_NAME}`;
    * leading "Re:" prefixes (any number, any case) are removed.

    Accepts a str (returns a str; None gives ""), a polars Series (returns a Series) or a polars
    expression (returns an expression).
    """
    if isinstance(text, pl.Expr):
        return _normalise_expr(text)
    if isinstance(text, pl.Series):
        return pl.select(_normalise_expr(pl.lit(text.cast(pl.Utf8)))).to_series().alias(text.name)
    s = pl.Series("s", [text], dtype=pl.Utf8)
    return pl.select(_normalise_expr(pl.lit(s))).item()


# -- templates and deliverability ---------------------------------------------------------------

# Words and phrases that spam filters and recipients associate with unsolicited offers. Matched
# case-insensitively as whole words in the subject and body.
SPAM_TRIGGER_WORDS = (
    "free",
    "100% free",
    "no obligation",
    "no cost",
    "no fees",
    "risk-free",
    "risk free",
    "guarantee",
    "guaranteed",
    "act now",
    "call now",
    "apply now",
    "buy now",
    "order now",
    "click here",
    "click below",
    "limited time",
    "urgent",
    "winner",
    "congratulations",
    "best rates",
    "best price",
    "lowest price",
    "cheapest",
    "save big",
    "cash",
    "earn money",
    "extra income",
    "double your",
    "once in a lifetime",
    "special promotion",
    "offer expires",
    "this isn't spam",
    "not spam",
    "dear friend",
    "100%",
    "$$$",
)

# Deductions from 100 (each capped): (points each, cap).
PENALTIES = {
    "spam_words": (10, 40),
    "links": (10, 30),
    "images": (15, 30),
    "exclamations": (5, 20),
    "long_body": (10, 10),  # body over LONG_BODY_WORDS words
    "long_subject": (5, 5),  # subject over LONG_SUBJECT_CHARS characters
    "capitals": (15, 15),  # over CAPS_SHARE of letters are capitals (with 20+ letters)
    "shouting": (10, 10),  # two or more ALL-CAPS words of 2+ letters
    "no_opt_out": (10, 10),
}
LONG_BODY_WORDS = 150
LONG_SUBJECT_CHARS = 60
CAPS_SHARE = 0.30
SAFE_SCORE, FAIR_SCORE = 80, 60

_VAR_RE = r"\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}"
_SPIN_RE = r"\{[^{}]*\|[^{}]*\}"
_LINK_RE = r"(?i)https?://|www\.|\]\("
_IMAGE_RE = r"(?i)<img\b|!\[[^\]]*\]\("
_OPT_OUT_RE = r"(?i)unsubscribe|opt[\s-]?out|reply\s*['\"‘’“”]?\s*stop\b|remove me"


def _spam_regex() -> str:
    parts = []
    for w in SPAM_TRIGGER_WORDS:
        body = re.sub(r"\s+", r"\\s+", w.replace("$", r"\$"))
        start = r"\b" if w[0].isalnum() else ""
        end = r"\b" if w[-1].isalnum() else ""
        parts.append(f"{start}{body}{end}")
    parts.sort(key=len, reverse=True)
    return "(?i)(?:" + "|".join(parts) + ")"


def _capped(count: pl.Expr, key: str) -> pl.Expr:
    each, cap = PENALTIES[key]
    return pl.min_horizontal(count.cast(pl.Int64) * each, pl.lit(cap))


def score_copy(df: pl.DataFrame) -> pl.DataFrame:
    """Add variables, spintax and a deliverability rating to a frame with `subject` and `body`.

    Added columns: variables (sorted names such as FIRST_NAME), spintax (the `{a|b}` groups as
    written), spam_words (from SPAM_TRIGGER_WORDS, whole words, any case), links, images, words
    (in the body), exclamations, caps_share (capitals among letters, variables excluded),
    has_opt_out ("reply 'stop'", "unsubscribe", "opt out", "remove me"), safety (100 minus the
    PENALTIES that apply, at least 0), rating ("good" ≥ 80, "fair" ≥ 60, else "risky") and
    reasons (a list with one line per deduction).
    """
    df = df.with_columns(pl.col("subject").fill_null(""), pl.col("body").fill_null(""))
    text = pl.concat_str(pl.col("subject"), pl.lit("\n"), pl.col("body"))
    plain = text.str.replace_all(_VAR_RE, "")
    letters = plain.str.count_matches(r"[A-Za-z]")
    capitals = plain.str.count_matches(r"[A-Z]")
    df = df.with_columns(
        variables=text.str.extract_all(_VAR_RE)
        .list.eval(pl.element().str.strip_chars("{} ").str.to_uppercase())
        .list.unique()
        .list.sort(),
        spintax=text.str.extract_all(_SPIN_RE).list.unique(maintain_order=True),
        spam_words=plain.str.extract_all(_spam_regex())
        .list.eval(pl.element().str.to_lowercase().str.replace_all(r"\s+", " "))
        .list.unique()
        .list.sort(),
        links=text.str.count_matches(_LINK_RE),
        images=text.str.count_matches(_IMAGE_RE),
        words=pl.col("body").str.replace_all(_VAR_RE, "x").str.count_matches(r"\S+"),
        exclamations=text.str.count_matches("!"),
        caps_share=pl.when(letters > 0).then(capitals / letters).otherwise(0.0),
        shouting=plain.str.count_matches(r"\b[A-Z]{2,}\b"),
        has_opt_out=text.str.contains(_OPT_OUT_RE),
        _letters=letters,
    )
    d = {
        "spam_words": _capped(pl.col("spam_words").list.len(), "spam_words"),
        "links": _capped(pl.col("links"), "links"),
        "images": _capped(pl.col("images"), "images"),
        "exclamations": _capped(pl.col("exclamations"), "exclamations"),
        "long_body": _capped((pl.col("words") > LONG_BODY_WORDS).cast(pl.Int64), "long_body"),
        "long_subject": _capped(
            (pl.col("subject").str.len_chars() > LONG_SUBJECT_CHARS).cast(pl.Int64), "long_subject"
        ),
        "capitals": _capped(
            ((pl.col("caps_share") > CAPS_SHARE) & (pl.col("_letters") >= 20)).cast(pl.Int64),
            "capitals",
        ),
        "shouting": _capped((pl.col("shouting") >= 2).cast(pl.Int64), "shouting"),
        "no_opt_out": _capped((~pl.col("has_opt_out")).cast(pl.Int64), "no_opt_out"),
    }

    def reason(key: str, text_expr: pl.Expr) -> pl.Expr:
        return pl.when(d[key] > 0).then(
            pl.concat_str(text_expr, pl.lit(" (−"), d[key].cast(pl.Utf8), pl.lit(")"))
        )

    reasons = pl.concat_list(
        reason(
            "spam_words",
            pl.concat_str(pl.lit("spam-trigger words: "), pl.col("spam_words").list.join(", ")),
        ),
        reason("links", pl.format("{} link(s)", pl.col("links"))),
        reason("images", pl.format("{} image(s)", pl.col("images"))),
        reason("exclamations", pl.format("{} exclamation mark(s)", pl.col("exclamations"))),
        reason("long_body", pl.format("long body ({} words)", pl.col("words"))),
        reason("long_subject", pl.lit(f"subject over {LONG_SUBJECT_CHARS} characters")),
        reason(
            "capitals",
            pl.format("{}% capital letters", (pl.col("caps_share") * 100).round(0).cast(pl.Int64)),
        ),
        reason("shouting", pl.format("{} ALL-CAPS words", pl.col("shouting"))),
        reason("no_opt_out", pl.lit('no opt-out line (e.g. "reply \'stop\'" or "unsubscribe")')),
    ).list.drop_nulls()
    safety = pl.max_horizontal(pl.lit(100) - pl.sum_horizontal(*d.values()), pl.lit(0))
    return df.with_columns(
        safety=safety.cast(pl.Int64),
        rating=pl.when(safety >= SAFE_SCORE)
        .then(pl.lit("good"))
        .when(safety >= FAIR_SCORE)
        .then(pl.lit("fair"))
        .otherwise(pl.lit("risky")),
        reasons=reasons,
    ).drop("_letters", "shouting")
