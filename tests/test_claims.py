"""The claim-rule framework and what every paper's book must satisfy."""

import json
from pathlib import Path

import pytest

from cnnexplain.claims import (NOT_CHECKED, NOT_REPRODUCED, PARTLY, REPRODUCED, TWO_WAY, ClaimBook, Outcome,
                               below_floor, graded)
from cnnexplain.notebook.results import Results
from cnnexplain.papers import claim_books

NOTEBOOKS = {p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")}


def test_a_rule_that_cannot_fail_is_refused():
    book = ClaimBook("x")
    with pytest.raises(ValueError, match="cannot fail"):
        book.rule("always", owner="nb", source="", statement="", paper=1, quantity="", criterion="",
                  verdicts=(REPRODUCED, PARTLY))(lambda: Outcome(REPRODUCED, 1))


def test_a_rule_giving_an_undeclared_verdict_is_refused():
    book = ClaimBook("x")
    rule = book.rule("r", owner="nb", source="", statement="", paper=1, quantity="", criterion="",
                     verdicts=TWO_WAY)(lambda v: graded(v, reproduced=v > 1, partly=v > 0))
    assert rule.evaluate(v=2).verdict == REPRODUCED
    with pytest.raises(ValueError, match="does not declare"):
        rule.evaluate(v=0.5)


def test_graded_and_floor():
    assert graded(1, reproduced=False, partly=True).verdict == PARTLY
    assert graded(1, reproduced=False, partly=False).verdict == NOT_REPRODUCED
    assert below_floor("accuracy", 0.5, 0.9).verdict == NOT_CHECKED
    assert below_floor("accuracy", float("nan"), 0.9).verdict == NOT_CHECKED
    assert below_floor("accuracy", 0.95, 0.9) is None


def _rule(owner="nb_a"):
    book = ClaimBook("toy")
    return book.rule("acc", owner=owner, source="Table 1", statement="accurate", paper=0.9, quantity="accuracy",
                     criterion="reproduced if >= 0.9")(lambda acc: graded(acc, reproduced=acc >= 0.9))


def test_results_judge_records_the_rule_and_refuses_another_owner(tmp_path):
    out = Results("nb_a", profile="default", seed=0, output_dir=tmp_path)
    claim = out.judge(_rule(), acc=0.95)
    assert claim.verdict == REPRODUCED
    saved = json.loads((tmp_path / "claims.json").read_text())["acc"]
    assert saved["owner"] == "nb_a" and saved["paper_key"] == "toy" and saved["criterion"]
    with pytest.raises(ValueError, match="owned by notebook"):
        out.judge(_rule(owner="nb_b"), acc=0.95)


def test_smoke_profile_never_gives_a_verdict(tmp_path):
    out = Results("nb_a", profile="smoke", seed=0, output_dir=tmp_path)
    claim = out.judge(_rule(), acc=0.95)
    assert claim.verdict == NOT_CHECKED and "smoke" in claim.note and claim.ours == 0.95


def test_every_book_claim_has_one_existing_owner_and_a_unique_id():
    seen = {}
    for book in claim_books():
        for rule in book:
            assert rule.owner in NOTEBOOKS, f"{book.paper}:{rule.claim_id} names unknown notebook {rule.owner}"
            assert rule.claim_id not in seen, f"{rule.claim_id} in both {seen.get(rule.claim_id)} and {book.paper}"
            seen[rule.claim_id] = book.paper
            assert rule.statement and rule.quantity and rule.criterion and rule.source


def test_notebooks_record_claims_only_through_rules():
    """No inline verdicts: a notebook calls ``out.judge(claims.BOOK[...], ...)``, never ``out.claim(...)``."""
    offenders = []
    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and (".claim(" in src or '"reproduced" if' in src
                                                or "'reproduced' if" in src):
                offenders.append(path.stem)
    assert not offenders, f"inline claims or verdict rules in: {sorted(set(offenders))}"
