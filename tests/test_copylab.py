"""Copy Lab: the statistics against textbook values and statsmodels/scipy, and the queries."""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from unittest import mock

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests as _multipletests
from statsmodels.stats.proportion import (
    proportion_confint,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from core.copylab import report as copylab
from core.copylab.copy_checks import normalise_subject, score_copy
from core.copylab.stats import (
    adjust_pvalues,
    benjamini_hochberg,
    holm,
    normal_approx_ok,
    normal_two_sided_p,
    sends_for_power,
    two_proportion_ztest,
    wilson_interval,
)
from core.platform.scope import Scope

TOL = 1e-9


def multipletests(p, method):
    """statsmodels' multipletests without the full garbage collection it runs on every call
    (seconds per test in a process holding a large heap)."""
    with mock.patch("gc.collect"):
        return _multipletests(p, method=method)


# -- Wilson interval --------------------------------------------------------------------------


def test_wilson_textbook_8_of_10():
    # z = 1.959964: centre = (0.8 + z²/20)/(1 + z²/10), half = z·√(0.016 + z²/400)/(1 + z²/10)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4901625, abs=1e-6)
    assert high == pytest.approx(0.9433178, abs=1e-6)
    assert isinstance(low, float)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and 0 < high < 0.3
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and 0.7 < low < 1
    lo, hi = wilson_interval(np.array([0, 5, 0]), np.array([0, 10, 20]))
    assert lo.tolist()[0] == 0.0 and hi.tolist()[0] == 1.0


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(confidence):
    rng = np.random.default_rng(1)
    n = rng.integers(1, 100_000, size=2000)
    n[:20] = 1
    x = rng.binomial(n, rng.uniform(0, 1, size=n.size))
    x[20:40] = 0
    x[40:60] = n[40:60]
    low, high = wilson_interval(x, n, confidence)
    ref_low, ref_high = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    np.testing.assert_allclose(low, np.clip(ref_low, 0, 1), rtol=0, atol=TOL)
    np.testing.assert_allclose(high, np.clip(ref_high, 0, 1), rtol=0, atol=TOL)


# -- z-test -------------------------------------------------------------------------------------


def test_ztest_textbook():
    # 45/100 vs 35/100: pooled 0.4, SE = √(0.4·0.6·(1/100 + 1/100)) = 0.0692820, z = 1.443376
    z, p = two_proportion_ztest(45, 100, 35, 100)
    assert z == pytest.approx(0.1 / math.sqrt(0.0048), abs=1e-12)
    assert z == pytest.approx(1.443376, abs=1e-6)
    assert p == pytest.approx(0.148915, abs=1e-6)


def test_ztest_matches_statsmodels():
    rng = np.random.default_rng(2)
    n1 = rng.integers(1, 50_000, size=400)
    n2 = rng.integers(1, 50_000, size=400)
    x1 = rng.binomial(n1, rng.uniform(0, 0.2, size=400))
    x2 = rng.binomial(n2, rng.uniform(0, 0.2, size=400))
    x1[:10], x2[:10] = 0, 3  # 0% against a few
    x1[10:20], x2[10:20] = n1[10:20], n2[10:20] - 1  # 100% against almost 100%
    x1[20:30], n1[20:30] = x2[20:30], n2[20:30]  # identical arms
    z, p = two_proportion_ztest(x1, n1, x2, n2)
    for i in range(n1.size):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rz, rp = proportions_ztest([x1[i], x2[i]], [n1[i], n2[i]])
        if np.isnan(rz):  # statsmodels has no answer when the pooled SE is 0
            assert (z[i], p[i]) == (0.0, 1.0)
            continue
        assert z[i] == pytest.approx(rz, abs=TOL, rel=TOL)
        assert p[i] == pytest.approx(rp, abs=TOL, rel=TOL)
    assert np.all(z[20:30] == 0) and np.all(p[20:30] == 1)


def test_ztest_degenerate_cases():
    assert two_proportion_ztest(0, 0, 5, 100) == (0.0, 1.0)
    assert two_proportion_ztest(5, 100, 0, 0) == (0.0, 1.0)
    assert two_proportion_ztest(0, 100, 0, 100) == (0.0, 1.0)
    assert two_proportion_ztest(100, 100, 50, 50) == (0.0, 1.0)
    z, p = two_proportion_ztest(0, 100, 10, 100)
    assert z < 0 and 0 < p < 0.01


def test_normal_p_matches_scipy():
    z = np.r_[np.linspace(-40, 40, 8001), 1.959963984540054, -2.5758293035489]
    np.testing.assert_allclose(
        normal_two_sided_p(z), 2 * sps.norm.sf(np.abs(z)), rtol=TOL, atol=1e-300
    )
    assert normal_two_sided_p(1.959963984540054) == pytest.approx(0.05, abs=1e-12)


# -- corrections --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_corrections_match_statsmodels(ours, method):
    rng = np.random.default_rng(3)
    for size in [1, 2, 3, 4, 7, 12]:
        for _ in range(50):
            p = rng.uniform(size=size) ** rng.uniform(0.3, 4)
            if rng.uniform() < 0.3:
                p[: size // 2 + 1] = p[0]  # ties / identical variants
            adj = ours(p)
            np.testing.assert_allclose(adj, multipletests(p, method=method)[1], rtol=0, atol=TOL)
            assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
            order = np.argsort(p, kind="stable")
            assert np.all(np.diff(adj[order]) >= -1e-15)  # monotone in p


def test_corrections_single_identical_and_nan():
    assert holm([0.03]).tolist() == [0.03]
    assert benjamini_hochberg([0.2, 0.2, 0.2]).tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert holm([0.2, 0.2, 0.2]).tolist() == pytest.approx([0.6, 0.6, 0.6])
    out = holm([np.nan, 0.01, 0.04])
    assert np.isnan(out[0]) and out[1:].tolist() == pytest.approx([0.02, 0.04])
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]
    assert np.isnan(holm([np.nan])).all() and holm([]).size == 0


def test_grouped_corrections_match_per_group():
    rng = np.random.default_rng(4)
    groups = rng.permutation(np.repeat(np.arange(300), rng.integers(1, 6, size=300)))
    p = rng.uniform(size=groups.size) ** 2
    p[rng.uniform(size=p.size) < 0.1] = np.nan
    for method, sm in [("holm", "holm"), ("bh", "fdr_bh")]:
        adj = adjust_pvalues(p, groups, method)
        for g in np.unique(groups):
            sel = (groups == g) & ~np.isnan(p)
            if sel.any():
                ref = multipletests(p[sel], method=sm)[1]
                np.testing.assert_allclose(adj[sel], ref, rtol=0, atol=TOL)
        assert np.isnan(adj[np.isnan(p)]).all()


def test_grouped_corrections_with_one_large_family_among_small_ones():
    """A family far larger than the rest takes the sorted path; results are the same."""
    rng = np.random.default_rng(5)
    groups = rng.permutation(np.r_[np.zeros(500, dtype=int), np.arange(1, 1001)])
    p = rng.uniform(size=groups.size)
    for method, sm in [("holm", "holm"), ("bh", "fdr_bh")]:
        adj = adjust_pvalues(p, groups, method)
        big = groups == 0
        ref = multipletests(p[big], method=sm)[1]
        np.testing.assert_allclose(adj[big], ref, rtol=0, atol=TOL)
        np.testing.assert_allclose(adj[~big], p[~big], rtol=0, atol=TOL)


# -- power --------------------------------------------------------------------------------------


def test_power_matches_statsmodels_and_scipy():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.001, 0.5, size=300)
    var = np.clip(base * rng.uniform(0.5, 1.8, size=300), 0.0005, 0.99)
    for alpha, power in [(0.05, 0.8), (0.01, 0.9), (0.1, 0.5)]:
        n = sends_for_power(base, var, alpha, power, ceil=False)
        ref = np.array(
            [
                samplesize_proportions_2indep_onetail(v - b, b, power, alpha=alpha)
                for b, v in zip(base, var, strict=True)
            ]
        )
        np.testing.assert_allclose(n, ref, rtol=TOL)
        za, zb = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
        pbar = (base + var) / 2
        hand = (
            (
                za * np.sqrt(2 * pbar * (1 - pbar))
                + zb * np.sqrt(base * (1 - base) + var * (1 - var))
            )
            / (var - base)
        ) ** 2
        np.testing.assert_allclose(n, hand, rtol=TOL)
        assert np.array_equal(sends_for_power(base, var, alpha, power), np.ceil(n))


def test_power_textbook_and_edges():
    # 10% vs 12%, α = 0.05 two-sided, 80% power: about 3,841 per arm
    assert sends_for_power(0.10, 0.12) == 3841.0
    assert sends_for_power(0.10, 0.10) == math.inf
    assert sends_for_power(0.0, 0.0) == math.inf
    assert math.isnan(sends_for_power(-0.1, 0.2))
    assert sends_for_power(0.0, 0.02) > 0


def test_normal_approx_rule():
    assert normal_approx_ok(5, 10) is True
    assert normal_approx_ok(4, 100) is False
    assert normal_approx_ok(96, 100) is False
    assert normal_approx_ok(0, 0) is False
    assert normal_approx_ok(50, 1000, 3, 1000) is False
    assert normal_approx_ok(50, 1000, 30, 1000) is True
    assert normal_approx_ok(np.array([5, 1]), np.array([100, 100])).tolist() == [True, False]


def test_polars_expressions_match_numpy():
    rng = np.random.default_rng(6)
    n = rng.integers(0, 5000, size=500)
    x = rng.binomial(n, 0.05)
    df = pl.DataFrame({"x": x, "n": n, "bx": np.roll(x, 1), "bn": np.roll(n, 1)})
    lo, hi = wilson_interval(pl.col("x"), pl.col("n"))
    z, p = two_proportion_ztest(pl.col("x"), pl.col("n"), pl.col("bx"), pl.col("bn"))
    out = df.select(
        lo=lo,
        hi=hi,
        z=z,
        p=p,
        ok=normal_approx_ok(pl.col("x"), pl.col("n")),
        holm=holm(pl.col("x") / 5000),
    )
    nlo, nhi = wilson_interval(x, n)
    nz, np_ = two_proportion_ztest(x, n, np.roll(x, 1), np.roll(n, 1))
    np.testing.assert_allclose(out["lo"].to_numpy(), nlo, atol=1e-12)
    np.testing.assert_allclose(out["hi"].to_numpy(), nhi, atol=1e-12)
    np.testing.assert_allclose(out["z"].to_numpy(), nz, atol=1e-12)
    np.testing.assert_allclose(out["p"].to_numpy(), np_, atol=1e-12)
    assert out["ok"].to_list() == normal_approx_ok(x, n).tolist()
    np.testing.assert_allclose(out["holm"].to_numpy(), holm(x / 5000), atol=1e-12)
    pw = pl.select(sends_for_power(pl.lit(0.1), pl.lit(0.12))).item()
    assert pw == 3841.0


# -- subjects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Re: Your  renewal", "your renewal"),
        ("RE: re:your renewal ", "Your Renewal"),
        ("{Hi|Hello} {first_name}", "{hello | hi} {FIRST_NAME}"),
        ("Quick question about {ADDRESS}", "quick   question about { address }"),
    ],
)
def test_normalise_subject_merges(a, b):
    assert normalise_subject(a) == normalise_subject(b)


def test_normalise_subject_keeps_tokens_and_distinguishes():
    assert normalise_subject("Re: {b|A} for {first_name}") == "{a|b} for {FIRST_NAME}"
    assert normalise_subject("Your renewal") != normalise_subject("Your renewal date")
    assert normalise_subject(None) == ""
    s = normalise_subject(pl.Series("s", ["Re: X", "x"]))
    assert s.to_list() == ["x", "x"]


def test_score_copy_rates_spammy_copy_lower():
    df = score_copy(
        pl.DataFrame(
            {
                "subject": ["Your renewal, {FIRST_NAME}", "FREE QUOTE!!!"],
                "body": [
                    "Hi {FIRST_NAME}, I can compare {a few|several} carriers.\n\nReply 'stop' to opt out.",
                    "CLICK HERE http://x.co for the BEST RATES, guaranteed! <img src=a.png>",
                ],
            }
        )
    )
    good, bad = df.row(0, named=True), df.row(1, named=True)
    assert good["safety"] == 100 and good["reasons"] == [] and good["rating"] == "good"
    assert good["variables"] == ["FIRST_NAME"] and good["spintax"] == ["{a few|several}"]
    assert bad["safety"] < 40 and bad["rating"] == "risky"
    assert {"free", "click here", "best rates", "guaranteed"} <= set(bad["spam_words"])
    assert bad["links"] == 1 and bad["images"] == 1 and not bad["has_opt_out"]
    joined = " | ".join(bad["reasons"])
    for part in ("spam-trigger words", "link", "image", "exclamation", "opt-out"):
        assert part in joined


# -- queries on a hand-built dataset -------------------------------------------------------------

DAY = dt.date(2026, 11, 2)


def _tiny(db) -> None:
    """Two clients. Client 1, campaign 10: step 1 A 10/1000, B 30/1000, C 11/1000 interested;
    step 2 A 2/200, B 3/200 (small); B of step 2 is split over two days. Client 2, campaign 20:
    one step with A only, subject 'your renewal'."""
    db.execute(
        "INSERT INTO workspaces (id, name) VALUES (1, 'Alpha Insurance'), (2, 'Beta Agency')"
    )
    db.execute(
        "INSERT INTO bison_campaigns (workspace_id, id, name, status) VALUES"
        " (1, 10, 'Renewals', 'active'), (2, 20, 'Evergreen', 'active')"
    )
    steps = [
        (1, 101, 10, 1, "Re: Your  renewal", False, None),
        (1, 102, 10, 1, "Quick {question|note}", True, 101),
        (1, 103, 10, 1, "Quick {note|question}", True, 101),
        (1, 201, 10, 2, "Follow up", False, None),
        (1, 202, 10, 2, "Follow up", True, 201),
        (2, 301, 20, 1, "your renewal", False, None),
    ]
    for ws, sid, cid, order, subj, is_var, of in steps:
        db.execute(
            "INSERT INTO bison_sequence_steps (workspace_id, id, campaign_id, step_order,"
            " email_subject, email_body, variant, variant_of_step_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [ws, sid, cid, order, subj, "Hi {FIRST_NAME}. Reply 'stop' to opt out.", is_var, of],
        )
    stats = [
        (1, 10, 101, DAY, 1000, 40, 10, 12),
        (1, 10, 102, DAY, 1000, 60, 30, 9),
        (1, 10, 103, DAY, 1000, 41, 11, 10),
        (1, 10, 201, DAY, 200, 5, 2, 1),
        (1, 10, 202, DAY, 100, 2, 1, 0),
        (1, 10, 202, DAY + dt.timedelta(days=1), 100, 3, 2, 1),
        (2, 20, 301, DAY, 500, 20, 5, 4),
    ]
    for ws, cid, sid, day, sent, rep, inte, bnc in stats:
        db.execute(
            "INSERT INTO bison_step_stats (workspace_id, campaign_id, step_id, day, sent, replied,"
            " interested, bounced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [ws, cid, sid, day, sent, rep, inte, bnc],
        )


def test_variant_stats_on_known_counts(empty_db):
    _tiny(empty_db)
    v = copylab.variant_stats(empty_db, Scope.all())
    assert v.columns == copylab.VARIANT_COLUMNS
    assert v.select("workspace_id", "step", "variant").rows() == [
        (1, 1, "A"),
        (1, 1, "B"),
        (1, 1, "C"),
        (1, 2, "A"),
        (1, 2, "B"),
        (2, 1, "A"),
    ]
    a, b, c, a2, b2, solo = v.iter_rows(named=True)
    assert (a["sent"], a["interested"], a["replies"]) == (1000, 10, 40)
    assert a["lift"] is None and a["z"] is None and a["p"] is None and a["p_adj"] is None
    assert a["test_result"] == "original" and a["verdict"] == "Original"
    assert a["client"] == "Alpha Insurance"
    assert a["campaign"] == "Renewals" and a["subject"] == "Re: Your  renewal"
    z = 0.02 / math.sqrt(0.02 * 0.98 * 2 / 1000)
    assert b["z"] == pytest.approx(z, rel=1e-12)
    assert b["p"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert b["lift"] == pytest.approx(2.0)
    assert b["rate"] == pytest.approx(0.03)
    assert (b["ci_low"], b["ci_high"]) == pytest.approx(wilson_interval(30, 1000))
    # Holm over B and C: B has the smaller p, ×2; C ×1 but never below B's
    assert b["p_adj"] == pytest.approx(min(1, 2 * b["p"]))
    assert c["p_adj"] == pytest.approx(max(c["p"], b["p_adj"]))
    assert b["significant"] and not c["significant"]
    assert re.fullmatch(
        r"B beats A on interested rate, p = 0\.00\d after correction", b["test_result"]
    )
    assert re.fullmatch(r"no clear difference yet \(p = \d\.\d+\)", c["test_result"])
    # in plain words: B wins; C needs more sends, from the power calculation, rounded
    assert b["verdict"] == "B gets more interested replies than A; we are confident"
    more = sends_for_power(0.01, 0.011) - 1000
    digits = 10 ** (len(str(int(more))) - 2)
    assert (
        c["verdict"]
        == f"No clear winner yet: about {round(more / digits) * digits:,} more sends each"
    )
    assert b["sends_needed_for_80pct_power"] == 0
    assert c["sends_needed_for_80pct_power"] == sends_for_power(0.01, 0.011) - 1000
    # step 2 is small (2 and 3 interested) and sums both days
    assert b2["sent"] == 200 and b2["interested"] == 3
    assert b2["small_sample"] and b2["test_result"] == "not enough data"
    assert b2["verdict"].startswith("No clear winner yet")
    assert a2["small_sample"] and a2["test_result"] == "original"
    assert solo["verdict"] == "Original" and solo["client"] == "Beta Agency"

    bh = copylab.variant_stats(empty_db, Scope.all(), correction="bh").row(1, named=True)
    assert bh["p_adj"] == pytest.approx(min(1, 2 * b["p"]))
    none = copylab.variant_stats(empty_db, Scope.all(), correction="none").row(1, named=True)
    assert none["p_adj"] == none["p"] and "after correction" not in none["test_result"]

    replies = copylab.variant_stats(empty_db, Scope.all(), metric="replies").row(1, named=True)
    assert replies["rate"] == pytest.approx(0.06)
    assert replies["test_result"].startswith("no clear")
    assert replies["verdict"].startswith("No clear winner yet: about ")
    with pytest.raises(ValueError):
        copylab.variant_stats(empty_db, Scope.all(), metric="opens")


def test_step_totals_and_variant_summary(empty_db):
    """The Copy Lab's per-step chart and its caption's counts come from core."""
    from core.campaigns import campaigns

    _tiny(empty_db)
    steps = campaigns.campaign_steps(empty_db, Scope.all(), 1, 10)
    totals = copylab.step_totals(steps)
    assert totals.columns == ["step", "sent", "replies", "interested"]
    assert totals.rows() == [(1, 3000, 141, 51), (2, 400, 10, 5)]
    v = copylab.variant_stats(empty_db, Scope.all())
    assert copylab.variant_summary(v) == {
        "variants": 6,
        "winners": 1,  # B of step 1; C is not significant
        "small_samples": int(v["small_sample"].fill_null(False).sum()),
    }
    assert copylab.variant_summary(v)["small_samples"] >= 2  # step 2's A and B


def test_trailing_variant_and_date_range(empty_db):
    _tiny(empty_db)
    # B trails when it is the original that is strong
    empty_db.execute("UPDATE bison_step_stats SET interested = 60 WHERE step_id = 101")
    b = copylab.variant_stats(empty_db, Scope.all()).row(1, named=True)
    assert b["z"] < 0 and b["test_result"].startswith("B trails A on interested rate, p ")
    assert b["verdict"] == "B gets fewer interested replies than A; we are confident"
    # only the second day: step 2's B has 100 sends, everything else none
    v = copylab.variant_stats(
        empty_db, Scope.all(), start=DAY + dt.timedelta(days=1), end=DAY + dt.timedelta(days=1)
    )
    assert v["sent"].to_list() == [0, 0, 0, 0, 100, 0]
    assert v.filter(pl.col("sent") == 0)["rate"].null_count() == 5
    assert set(v.filter(pl.col("variant") != "A")["test_result"]) == {"not enough data"}
    assert set(v.filter((pl.col("variant") != "A") & (pl.col("sent") == 0))["verdict"]) == {
        "No sends yet"
    }
    assert (
        copylab.variant_stats(empty_db, Scope.all(), end=DAY - dt.timedelta(days=1))["sent"].sum()
        == 0
    )


def test_scope_and_filters_on_tiny(empty_db):
    _tiny(empty_db)
    only2 = copylab.variant_stats(empty_db, Scope.only([2]))
    assert only2["workspace_id"].to_list() == [2]
    assert copylab.variant_stats(empty_db, Scope.only([]))["sent"].len() == 0
    assert copylab.variant_stats(empty_db, Scope.all(), workspace_id=1).height == 5
    assert copylab.variant_stats(empty_db, Scope.only([2]), workspace_id=1).height == 0
    assert copylab.variant_stats(empty_db, Scope.all(), campaign_id=20).height == 1
    assert copylab.subject_stats(empty_db, Scope.only([2]))["clients"].to_list() == [1]
    t = copylab.templates(empty_db, Scope.only([2]))
    assert t["subject"].to_list() == ["your renewal"]


def test_subject_stats_merge_and_rank(empty_db):
    _tiny(empty_db)
    s = copylab.subject_stats(empty_db, Scope.all())
    assert s.columns == copylab.SUBJECT_COLUMNS
    renewal = s.filter(pl.col("subject_key") == "your renewal").row(0, named=True)
    # "Re: Your  renewal" (client 1) and "your renewal" (client 2) are one first-email subject
    assert renewal["email"] == "first"
    assert (renewal["variants"], renewal["clients"], renewal["campaigns"]) == (2, 2, 2)
    assert (renewal["sent"], renewal["interested"]) == (1500, 15)
    assert renewal["subject"] == "Re: Your  renewal"  # the most-sent spelling
    quick = s.filter(pl.col("subject_key") == "quick {note|question}").row(0, named=True)
    assert (quick["variants"], quick["sent"], quick["interested"]) == (2, 2000, 41)
    assert s.height == 3
    # first emails first, ranked among themselves; the follow-up is alone in its kind
    assert s.select("email", "rank").rows() == [("first", 1), ("first", 2), ("follow-up", 1)]
    firsts = s.filter(pl.col("email") == "first")
    assert firsts["ci_low"].to_list() == sorted(firsts["ci_low"].to_list(), reverse=True)
    # like with like: vs the other first emails only (15/1500), not the follow-up's 5/400
    z, p = two_proportion_ztest(41, 2000, 15, 1500)
    assert quick["z"] == pytest.approx(z) and quick["p"] == pytest.approx(p)
    assert np.all(s["p_adj"].to_numpy() >= s["p"].to_numpy() - 1e-15)
    follow = s.row(2, named=True)
    assert follow["subject"] == "Follow up" and (follow["sent"], follow["interested"]) == (400, 5)
    assert follow["verdict"] == "The only one so far: nothing to compare it with"
    only = copylab.subject_stats(empty_db, Scope.all(), emails="follow-up")
    assert only["subject"].to_list() == ["Follow up"]
    assert copylab.subject_stats(empty_db, Scope.all(), emails="first").height == 2
    with pytest.raises(ValueError, match="email kind"):
        copylab.subject_stats(empty_db, Scope.all(), emails="second")
    none = copylab.subject_stats(empty_db, Scope.only([]))
    assert none.height == 0 and none.columns == copylab.SUBJECT_COLUMNS


def test_copy_overview_on_tiny(empty_db):
    _tiny(empty_db)
    o = copylab.copy_overview(empty_db, Scope.all(), min_sends=500)
    assert (o["sent"], o["replies"], o["interested"], o["bounced"]) == (3900, 171, 61, 37)
    assert o["interested_rate"] == pytest.approx(61 / 3900)
    assert o["bounce_rate"] == pytest.approx(37 / 3900)
    # best and weakest are first-email subject lines, never the same one
    assert o["best"]["subject_key"] == "quick {note|question}"
    assert o["worst"]["subject_key"] == "your renewal"
    assert (o["worst"]["sent"], o["worst"]["interested"]) == (1500, 15)
    z, p = two_proportion_ztest(41, 2000, 15, 1500)
    assert p < 0.05
    assert o["verdict"] == (
        f"“{o['best']['subject']}” gets more interested replies than “Re: Your  renewal”; "
        "we are confident"
    )
    # with more sends required, the follow-up (400 sent) never qualifies
    assert copylab.copy_overview(empty_db, Scope.all(), min_sends=1600)["worst"] is None
    one = copylab.copy_overview(empty_db, Scope.only([2]), min_sends=500)
    assert one["best"]["subject_key"] == "your renewal" and one["worst"] is None
    assert one["verdict"] is None
    empty = copylab.copy_overview(empty_db, Scope.only([]))
    assert empty["sent"] == 0 and empty["reply_rate"] is None and empty["best"] is None


def test_close_rates_are_too_close_to_call(empty_db):
    _tiny(empty_db)
    empty_db.execute(
        "UPDATE bison_step_stats SET interested = 102, sent = 10000 WHERE step_id = 103"
    )
    empty_db.execute(
        "UPDATE bison_step_stats SET interested = 100, sent = 10000 WHERE step_id = 101"
    )
    c = copylab.variant_stats(empty_db, Scope.all()).row(2, named=True)
    assert abs(c["lift"]) < 0.05 and not c["significant"]
    assert re.fullmatch(
        r"Too close to call: about [\d,]+ more sends each to tell them apart", c["verdict"]
    )


def test_compare_two_in_plain_words():
    a = {"subject": "A line", "sent": 5000, "interested": 25}
    b = {"subject": "B line", "sent": 5000, "interested": 20}
    words = copylab.compare_two(a, b)
    assert re.fullmatch(r"No clear winner yet: about [\d,]+ more sends each", words)
    more = sends_for_power(20 / 5000, 25 / 5000) - 5000
    assert f"{round(more / 1000) * 1000:,}" in words
    big = {"subject": "A line", "sent": 50_000, "interested": 250}
    small = {"subject": "B line", "sent": 50_000, "interested": 100}
    assert copylab.compare_two(big, small) == (
        "“A line” gets more interested replies than “B line”; we are confident"
    )
    assert copylab.compare_two(small, big).startswith("“B line” gets fewer")


# -- queries on the demo ------------------------------------------------------------------------


def test_demo_variant_stats(demo_db):
    v = copylab.variant_stats(demo_db, Scope.all())
    assert v.height == demo_db.scalar("SELECT count(*) FROM bison_sequence_steps")
    per_step = v.group_by("workspace_id", "campaign_id", "step").agg(
        (pl.col("variant") == "A").sum().alias("originals"), pl.len().alias("n")
    )
    assert per_step["originals"].to_list() == [1] * per_step.height
    originals = v.filter(pl.col("variant") == "A")
    assert set(originals["verdict"]) == {"Original"}
    assert set(originals["test_result"]) == {"original"}
    assert originals["p"].null_count() == originals.height
    variants = v.filter(pl.col("variant") != "A")
    tested = variants.filter(pl.col("p").is_not_null())
    assert tested.height == variants.height
    assert (tested["p_adj"] >= tested["p"] - 1e-15).all()
    assert (tested["p_adj"] <= 1).all()
    assert (v["ci_low"] <= v["ci_high"]).all()
    pattern = re.compile(
        r"[B-Z] (beats|trails) A on interested rate, p (= [\d.]+|< 0\.001) after correction"
        r"|no clear difference yet \(p (= [\d.]+|< 0\.001)\)|not enough data"
    )
    assert all(pattern.fullmatch(t) for t in variants["test_result"])
    plain = re.compile(
        r"[B-Z] gets (more|fewer) interested replies than A; we are confident"
        r"|No clear winner yet(: about [\d,]+ more sends each)?"
        r"|Too close to call: about [\d,]+ more sends each to tell them apart"
        r"|No clear winner yet: they do about the same so far"
    )
    assert all(plain.fullmatch(t) for t in variants["verdict"])
    # a confident plain verdict exactly when the corrected test is significant
    confident = variants["verdict"].str.ends_with("we are confident")
    assert confident.to_list() == (variants["significant"] & ~variants["small_sample"]).to_list()
    assert v["sent"].sum() == demo_db.scalar("SELECT sum(sent) FROM bison_step_stats")


def test_demo_scope_limits_rows(demo_db):
    wid = demo_db.scalar("SELECT min(id) FROM workspaces")
    name = demo_db.scalar("SELECT name FROM workspaces WHERE id = ?", [wid])
    one = copylab.variant_stats(demo_db, Scope.only([wid]))
    assert one.height > 0 and set(one["workspace_id"]) == {wid} and set(one["client"]) == {name}
    every = copylab.variant_stats(demo_db, Scope.all()).filter(pl.col("workspace_id") == wid)
    assert one.drop("p_adj", "verdict", "test_result").equals(
        every.drop("p_adj", "verdict", "test_result")
    )
    s = copylab.subject_stats(demo_db, Scope.only([wid]))
    assert s["clients"].max() == 1
    assert copylab.copy_overview(demo_db, Scope.only([wid]))["sent"] == one["sent"].sum()
    assert set(copylab.templates(demo_db, Scope.only([wid]))["clients"]) == {1}


def test_demo_subject_stats_merges_threaded_replies(demo_db):
    s = copylab.subject_stats(demo_db, Scope.all(), metric="replies")
    keys = s.select("email", "subject_key").rows()
    assert ("follow-up", "your renewal") in keys and len(keys) == len(set(keys))
    renewal = s.filter(pl.col("subject_key") == "your renewal").row(0, named=True)
    raw = demo_db.scalar(
        "SELECT count(*) FROM bison_sequence_steps WHERE lower(email_subject) = 're: your renewal'"
    )
    assert renewal["variants"] == raw and renewal["email"] == "follow-up"
    for kind in ("first", "follow-up"):
        ranks = s.filter(pl.col("email") == kind)["rank"].to_list()
        assert ranks == list(range(1, len(ranks) + 1))
    # first emails are the campaigns' first steps
    firsts = s.filter(pl.col("email") == "first")["sent"].sum()
    assert firsts == demo_db.scalar(
        "SELECT sum(t.sent) FROM bison_step_stats t JOIN bison_sequence_steps s"
        " ON s.workspace_id = t.workspace_id AND s.id = t.step_id WHERE s.step_order = 1"
    )


def test_demo_overview_and_templates(demo_db):
    o = copylab.copy_overview(demo_db, Scope.all())
    assert o["sent"] == demo_db.scalar("SELECT sum(sent) FROM bison_step_stats")
    assert o["best"]["ci_low"] >= o["worst"]["ci_low"]
    assert o["best"]["subject_key"] != o["worst"]["subject_key"]
    firsts = set(
        demo_db.query(
            "SELECT DISTINCT email_subject FROM bison_sequence_steps WHERE step_order = 1"
        )["email_subject"]
    )
    assert {o["best"]["subject"], o["worst"]["subject"]} <= firsts
    assert o["verdict"].endswith("we are confident") or o["verdict"].startswith("No clear")
    assert o["best"]["sent"] >= o["min_sends"] and o["worst"]["sent"] >= o["min_sends"]
    t = copylab.templates(demo_db, Scope.all())
    assert t.height == demo_db.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT email_subject, email_body FROM bison_sequence_steps)"
    )
    assert t["safety"].is_between(0, 100).all()
    spammy = t.filter(pl.col("body").str.contains("Click here")).row(0, named=True)
    assert spammy["rating"] == "risky" and "click here" in spammy["spam_words"]
    first = t.filter(pl.col("body").str.contains("a few|several", literal=True)).row(0, named=True)
    assert first["spintax"] == ["{a few|several}"]
    assert {"FIRST_NAME", "ADDRESS", "SENDER_FIRST_NAME"} <= set(first["variables"])


# -- the page -----------------------------------------------------------------------------------


def test_copy_lab_page_plain_words_and_advanced_statistics(demo_db):
    from tests.test_pages import run_page

    at = run_page("pages/copy_lab.py")
    o = copylab.copy_overview(
        demo_db,
        Scope.all(),
        start=at.date_input[0].value[0],
        end=at.date_input[0].value[1],
    )
    from pages import ui

    assert any(ui.md(o["best"]["subject"]) in s.value and "Best" in s.value for s in at.success)
    assert any(ui.md(o["worst"]["subject"]) in w.value and "Weakest" in w.value for w in at.warning)
    assert o["best"]["subject"] != o["worst"]["subject"]
    assert any(ui.md(o["verdict"]) in i.value for i in at.info)
    subjects = at.dataframe[0].value
    assert "verdict" in subjects.columns and "p" not in subjects.columns
    assert "test_result" not in subjects.columns
    firsts = set(
        demo_db.query(
            "SELECT DISTINCT email_subject FROM bison_sequence_steps WHERE step_order = 1"
        )["email_subject"]
    )
    assert set(subjects["subject"]) <= firsts  # first emails only by default
    # rates shown as percentages: 0.21 for 0.21%
    assert subjects["rate"].max() < 5 and subjects["rate"].min() > 0.01
    assert not [r for r in at.radio if r.label.startswith("Correction")]
    at.toggle(key="copy-advanced").set_value(True).run()
    assert not at.exception
    advanced = at.dataframe[0].value
    assert {"p", "p_adj", "ci_low", "test_result"} <= set(advanced.columns)
    assert [r for r in at.radio if r.label.startswith("Correction")]
    at.radio(key="copy-emails").set_value("follow-up").run()
    follow = at.dataframe[0].value
    assert set(follow["subject"]).isdisjoint(firsts)
