"""A transparent, rule-based classifier of cold-email replies.

Every reply gets exactly one category and the name of the rule that decided it, so staff can see
why and override it (the override is stored with who and when; see `core/replies/inbox.py`).

Categories, checked in this order (the first rule that matches wins):

1. ``out_of_office`` — absence notices: "out of the office", "on leave", "on vacation",
   "away until", "limited access to email", "will return on".
2. ``auto_reply`` — other machine answers: "automatic reply", "this mailbox is not monitored",
   "do not reply", "your message has been received", "ticket #", "thank you for contacting".
   Email Bison's own `automated_reply` flag also lands here when no absence phrase is present.
3. ``unsubscribe`` — removal requests: "unsubscribe", "remove me", "take me off", "stop emailing",
   "opt out", "do not contact", a bare "stop", "reported as spam".
4. ``wrong_person`` — not the homeowner or not this address: "wrong person/email", "sold the house",
   "I rent", "don't own", "moved", "passed away", "no longer lives here".
5. ``not_interested`` — a clear no: "not interested", "no thanks", "happy with my agent",
   "just renewed", "already have/covered", "not at this time", "all set", "not looking".
6. ``interested`` — a buying signal: "yes", "sure", "interested", "quote", "call/text me",
   "how much", "what would it cost", "my premium", "send me the details", "sounds good",
   "my number is", "let's talk".
7. ``question`` — anything else with a question mark (who is this, which carriers, ...).
8. Fallback: ``question`` as well (rule ``fallback``) — an unclear reply needs a human read.

Why this order: absence and machine notices often contain words like "interested" in quoted text
or signatures, so they go first; a removal request is acted on even when it also says "not
interested"; "not interested" must be seen before the bare word "interested"; and a price
question ("what would it cost?") is a buying signal, not a plain question. Only the reply's own
text is read: quoted history (lines starting with ``>`` and everything after "On ... wrote:") is cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES: dict[str, str] = {
    "interested": "Interested",
    "not_interested": "Not interested",
    "out_of_office": "Out of office",
    "unsubscribe": "Unsubscribe request",
    "wrong_person": "Wrong person",
    "question": "Question",
    "auto_reply": "Auto-reply",
}
SENTIMENT: dict[str, str] = {
    "interested": "positive",
    "not_interested": "negative",
    "unsubscribe": "negative",
    "out_of_office": "neutral",
    "auto_reply": "neutral",
    "wrong_person": "neutral",
    "question": "neutral",
}


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    pattern: re.Pattern[str]


def _rule(name: str, category: str, *alternatives: str) -> Rule:
    return Rule(name, category, re.compile("|".join(f"(?:{a})" for a in alternatives), re.I))


RULES: list[Rule] = [
    _rule(
        "absence notice",
        "out_of_office",
        r"\bout of (?:the )?office\b",
        r"\bOOO\b",
        r"\bon (?:annual |maternity |paternity |medical )?leave\b",
        r"\b(?:on|from) (?:vacation|holiday)\b",
        r"\baway (?:from (?:the|my) (?:office|desk)|until|through|till)\b",
        r"\bi(?:'m| am) away\b",
        r"\blimited access to (?:my )?e-?mail\b",
        r"\bwill (?:be )?(?:return|back)(?:ing)? (?:on|to the office)\b",
        r"\breturning (?:on|to the office)\b",
    ),
    _rule(
        "machine notice",
        "auto_reply",
        r"\bauto(?:matic|mated)?[- ]?(?:reply|response)\b",
        r"\bmailbox (?:is )?(?:not|no longer) (?:monitored|active)\b",
        r"\bdo not reply\b",
        r"\bno-?reply\b",
        r"\b(?:your )?(?:message|email|e-mail) has been received\b",
        r"\bwe (?:have )?received your (?:message|email|e-mail|request)\b",
        r"\bticket (?:#|number|no\.?)",
        r"\bthank you for contacting\b",
        r"\bthis is an automated\b",
        r"\bdelivery (?:has )?failed\b",
    ),
    _rule(
        "removal request",
        "unsubscribe",
        r"\bun-?subscribe\b",
        r"\bremove (?:me|my (?:e-?mail|address|name))\b",
        r"\btake me off\b",
        r"\bstop (?:e-?mailing|contacting|sending|spamming)\b",
        r"^\W*stop\W*$",
        r"\bopt(?:ed)?[- ]out\b",
        r"\bopt (?:me|us) out\b",
        r"\bdo not (?:contact|email|e-mail) me\b",
        r"\bdon'?t (?:contact|email|e-mail) me\b",
        r"\b(?:report(?:ed|ing)?|mark(?:ed|ing)?) (?:you |this )?(?:as|for) spam\b",
        r"\blose my (?:e-?mail|address)\b",
    ),
    _rule(
        "not the homeowner",
        "wrong_person",
        r"\bwrong (?:person|e-?mail|address|guy|lady|contact)\b",
        r"\b(?:sold|selling) (?:that|the|this|my|our) (?:house|home|property|place)\b",
        r"\b(?:i|we) (?:only )?rent\b",
        r"\b(?:i|we) (?:am|are) (?:a )?renters?\b",
        r"\b(?:don'?t|do not|no longer) own\b",
        r"\b(?:i|we) (?:have )?moved\b",
        r"\bpassed away\b",
        r"\bdeceased\b",
        r"\bno longer (?:lives?|living|at this|with)\b",
        r"\bnot the (?:home ?owner|owner|right person)\b",
        r"\bdoesn'?t live here\b",
    ),
    _rule(
        "clear no",
        "not_interested",
        r"\bnot (?:really |at all )?interested\b",
        r"\bno,? thanks?(?: you)?\b",
        r"\bno thx\b",
        r"\bhappy with (?:my|our|the)\b",
        r"\b(?:just|already) renewed\b",
        r"\balready (?:have|got|covered|insured|taken care)\b",
        r"\bnot (?:right )?now\b",
        r"\bnot at this time\b",
        r"\b(?:i'?m|we'?re|we are|i am) (?:all )?set\b",
        r"\bnot looking\b",
        r"\bno need\b",
        r"\b(?:i'?ll|i will|we'?ll|we will) pass\b",
        r"\bplease don'?t (?:call|follow up)\b",
        r"^\W*(?:no|nope|nah)\W*$",
    ),
    _rule(
        "buying signal",
        "interested",
        r"^\W*(?:yes|yeah|yep|sure|ok(?:ay)?|absolutely|definitely|please do)\b",
        r"\b(?:i'?m|i am|we'?re|we are|i'?d be|we'?d be|would be) (?:very |definitely |possibly )?interested\b",
        r"^\W*interested\b",
        r"\bquotes?\b",
        r"\b(?:call|text|ring|phone) (?:me|us)\b",
        r"\bgive (?:me|us) a (?:call|ring)\b",
        r"\bhow much\b",
        r"\bwhat (?:would|will|does) (?:it|that|this) cost\b",
        r"\b(?:my|our) (?:premium|rate|renewal)\b",
        r"\bsend (?:me|us|over) (?:the |some |more )?(?:info|information|details|numbers|options)\b",
        r"\bsounds good\b",
        r"\bsend it (?:over|through)\b",
        r"\b(?:my|the best) (?:cell|number|phone)(?: number)? is\b",
        r"\blet'?s (?:talk|chat|do it|connect)\b",
        r"\b(?:can|could) you (?:beat|lower|do better)\b",
        r"\bworth a look\b",
        r"\bwhat do you need from me\b",
    ),
    _rule("asks something", "question", r"\?"),
]

_HISTORY = re.compile(r"^(?:on .{0,160} wrote:|-{2,} ?original message|from: .+@)", re.I)


@dataclass(frozen=True)
class Classification:
    category: str
    sentiment: str
    rule: str


def own_text(body: str | None) -> str:
    """The reply's own words: quoted history and everything after 'On … wrote:' removed."""
    kept = []
    for line in (body or "").splitlines():
        stripped = line.strip()
        if _HISTORY.match(stripped):
            break
        if not stripped.startswith(">"):
            kept.append(line)
    return "\n".join(kept).strip()


def classify(body: str | None, *, automated: bool = False) -> Classification:
    """Classify one reply body; `automated` is Email Bison's automated-reply flag."""
    text = own_text(body)
    for rule in RULES:
        if rule.category == "auto_reply" and automated and not RULES[0].pattern.search(text):
            return Classification("auto_reply", SENTIMENT["auto_reply"], "flagged automated")
        if rule.pattern.search(text):
            return Classification(rule.category, SENTIMENT[rule.category], rule.name)
    if automated:
        return Classification("auto_reply", SENTIMENT["auto_reply"], "flagged automated")
    return Classification("question", SENTIMENT["question"], "fallback")


def rules_table() -> list[dict[str, str]]:
    """The rules in order, for the page that explains them."""
    return [
        {
            "order": str(i + 1),
            "rule": r.name,
            "category": CATEGORIES[r.category],
            "patterns": " · ".join(
                p.removeprefix("(?:").removesuffix(")") for p in r.pattern.pattern.split("|(?:")
            ),
        }
        for i, r in enumerate(RULES)
    ]
