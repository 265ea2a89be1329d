"""The check every paper's claim tests share: constructed inputs drive each rule to each of its verdicts."""

from __future__ import annotations

from cnnexplain.claims import NOT_CHECKED, NOT_REPRODUCED, REPRODUCED, ClaimBook


def check_rule_examples(book: ClaimBook, examples: dict[str, dict[str, dict]]) -> None:
    """``examples[claim_id][verdict]`` are keyword arguments that must make the rule say ``verdict``.

    Every rule of the book needs examples, covering every verdict the rule declares (so each rule can be
    shown to say 'reproduced' AND 'not reproduced'), and no example may name a rule the book lacks.
    """
    ids = {rule.claim_id for rule in book}
    assert set(examples) == ids, (f"{book.paper}: rules without examples {sorted(ids - set(examples))}, "
                                  f"examples without a rule {sorted(set(examples) - ids)}")
    for rule in book:
        cases = examples[rule.claim_id]
        missing = set(rule.verdicts) - set(cases)
        assert not missing, f"{rule.claim_id}: no example gives {sorted(missing)}"
        assert {REPRODUCED, NOT_REPRODUCED} <= set(cases)
        for verdict, measured in cases.items():
            outcome = rule.evaluate(**measured)
            assert outcome.verdict == verdict, (f"{rule.claim_id}: {measured} gave {outcome.verdict!r}, "
                                                f"expected {verdict!r} ({outcome.note})")
            if verdict == NOT_CHECKED:
                assert outcome.note, f"{rule.claim_id}: 'not checked' must say why"
