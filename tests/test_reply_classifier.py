"""The rule-based reply classifier on a labelled set of insurance cold-email replies."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from core.replies.classifier import CATEGORIES, RULES, classify, own_text, rules_table

EXAMPLES = Path(__file__).parent / "data" / "reply_examples.csv"
ACCURACY_FLOOR = 0.92


def load() -> list[dict[str, str]]:
    with EXAMPLES.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_accuracy_on_the_labelled_set(capsys):
    rows = load()
    assert len(rows) >= 80
    assert {r["label"] for r in rows} == set(CATEGORIES)
    hits, per_label, misses = 0, Counter(), []
    for r in rows:
        got = classify(r["text"], automated=r["automated"] == "1").category
        per_label[(r["label"], got == r["label"])] += 1
        if got == r["label"]:
            hits += 1
        else:
            misses.append(f"  {r['label']} -> {got}: {r['text'][:60]!r}")
    accuracy = hits / len(rows)
    with capsys.disabled():
        print(f"\nreply classifier accuracy: {hits}/{len(rows)} = {accuracy:.1%}")
        for label in CATEGORIES:
            ok, bad = per_label[(label, True)], per_label[(label, False)]
            print(f"  {label}: {ok}/{ok + bad}")
        print("\n".join(misses))
    assert accuracy >= ACCURACY_FLOOR


def test_rule_order_and_quoted_text():
    assert classify("Not interested, thanks.").category == "not_interested"
    assert classify("I'm interested!").category == "interested"
    assert classify("Not interested. Remove me.").category == "unsubscribe"
    assert classify("What would it cost?").category == "interested"
    assert classify("Which carriers?").category == "question"
    assert classify("Thanks for the note.").rule == "fallback"
    assert classify("Thanks for the note.", automated=True).category == "auto_reply"
    reply = "Stop\n\nOn Mon, Nov 2 2026 Mark wrote:\n> Would you like a quote? Interested?"
    assert own_text(reply) == "Stop"
    assert classify(reply).category == "unsubscribe"
    assert classify("> yes quote\nno thanks").category == "not_interested"
    assert len(rules_table()) == len(RULES)
