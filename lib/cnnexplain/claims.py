"""Paper claims as rules written before the data.

A claim of a paper becomes a :class:`ClaimRule`: a statement, the quantity we measure, a two-sided
criterion that can come out ``reproduced``, ``partly reproduced`` or ``not reproduced``, and ``not
checked`` when a precondition fails (a network below its accuracy floor, data missing, a smoke-profile
run). Each paper keeps its rules in one :class:`ClaimBook` (``cnnexplain.papers.<paper>.claims``) and
each rule names the ONE notebook that records it (its owner); :meth:`cnnexplain.notebook.results.Results.judge`
refuses a rule recorded by another notebook.

Writing a rule::

    BOOK = ClaimBook("jung")

    @BOOK.rule("fig3_rank_share", owner="10_influential_synthetic", source="Fig. 3",
               statement="the two relevant features rank first in most samples",
               paper="> 0.9 of samples", quantity="share of samples whose top-2 ranks are the relevant features",
               criterion="reproduced if share >= 0.9; partly if >= 0.5; not reproduced below 0.5")
    def fig3_rank_share(share: float) -> Outcome:
        return graded(share, reproduced=share >= 0.9, partly=share >= 0.5)

The rule's test (tests/claims/) feeds it constructed inputs that give each verdict it declares; a rule
whose ``verdicts`` lack ``not reproduced`` is refused here, so a rule that cannot fail cannot be written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "not checked")
REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_CHECKED = VERDICTS
THREE_WAY = (REPRODUCED, PARTLY, NOT_REPRODUCED)
TWO_WAY = (REPRODUCED, NOT_REPRODUCED)


@dataclass(frozen=True)
class Outcome:
    """What a rule says about measured values: the verdict, our value (as shown in the report), and why."""

    verdict: str
    ours: Any
    note: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


def graded(ours: Any, *, reproduced: bool, partly: bool = False, note: str = "") -> Outcome:
    """The usual three-way verdict: ``reproduced`` if ``reproduced``, else ``partly reproduced`` if
    ``partly``, else ``not reproduced``."""
    verdict = REPRODUCED if reproduced else PARTLY if partly else NOT_REPRODUCED
    return Outcome(verdict, ours, note)


def not_checked(reason: str, ours: Any = None) -> Outcome:
    """The precondition of a rule failed: no verdict, and the reason says which and by how much."""
    return Outcome(NOT_CHECKED, ours, reason)


def below_floor(name: str, value: float, floor: float) -> Outcome | None:
    """``not checked`` when a precondition value (e.g. a network's test accuracy) is below its floor or not
    a finite number; ``None`` when it holds. Use as ``if (o := below_floor(...)): return o``."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < floor:
        return not_checked(f"precondition failed: {name} = {value:.4g} is below the floor {floor:.4g}"
                           if isinstance(value, (int, float)) and math.isfinite(value)
                           else f"precondition failed: {name} = {value!r} is not a finite number")
    return None


@dataclass(frozen=True)
class ClaimRule:
    """One paper claim and the rule that judges it. ``judge(**measured) -> Outcome``."""

    claim_id: str
    paper: str  # the ClaimBook's paper key, e.g. "jung"
    owner: str  # the notebook that records the claim, e.g. "10_influential_synthetic"
    source: str  # where the paper says it, e.g. "Fig. 3"
    statement: str  # the claim in words
    paper_value: Any  # the paper's value (number or text)
    quantity: str  # what we measure
    criterion: str  # the rule in words: when reproduced, partly, not reproduced, not checked
    judge: Callable[..., Outcome] = field(repr=False)
    verdicts: tuple[str, ...] = THREE_WAY + (NOT_CHECKED,)
    paper_title: str = ""  # the paper in words, e.g. "Jung, Shin & Kwon, influential scores"

    def __post_init__(self):
        unknown = set(self.verdicts) - set(VERDICTS)
        if unknown:
            raise ValueError(f"rule {self.claim_id!r}: unknown verdicts {sorted(unknown)}")
        if REPRODUCED not in self.verdicts or NOT_REPRODUCED not in self.verdicts:
            raise ValueError(f"rule {self.claim_id!r} must be able to say both 'reproduced' and 'not reproduced' "
                             f"(declared {self.verdicts}): a rule that cannot fail is not a test of the claim")

    def evaluate(self, **measured) -> Outcome:
        """Apply the rule to measured values; refuses an outcome outside the declared verdicts."""
        outcome = self.judge(**measured)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"rule {self.claim_id!r} returned {type(outcome).__name__}, not an Outcome")
        if outcome.verdict not in self.verdicts:
            raise ValueError(f"rule {self.claim_id!r} gave {outcome.verdict!r}, which it does not declare "
                             f"({self.verdicts})")
        return outcome


class ClaimBook:
    """The claims of one paper, each registered once with :meth:`rule`."""

    def __init__(self, paper: str, title: str = ""):
        self.paper = paper
        self.title = title
        self._rules: dict[str, ClaimRule] = {}

    def rule(self, claim_id: str, *, owner: str, source: str, statement: str, paper: Any, quantity: str,
             criterion: str, verdicts: tuple[str, ...] = THREE_WAY + (NOT_CHECKED,)):
        """Decorator: register ``judge`` as the rule of ``claim_id``; returns the :class:`ClaimRule`."""
        if claim_id in self._rules:
            raise ValueError(f"claim {claim_id!r} is already registered in the {self.paper} book")

        def register(judge: Callable[..., Outcome]) -> ClaimRule:
            rule = ClaimRule(claim_id, self.paper, owner, source, statement, paper, quantity, criterion, judge,
                             tuple(verdicts), self.title or self.paper)
            self._rules[claim_id] = rule
            return rule

        return register

    def __getitem__(self, claim_id: str) -> ClaimRule:
        try:
            return self._rules[claim_id]
        except KeyError:
            raise KeyError(f"no claim {claim_id!r} in the {self.paper} book; it has: {', '.join(self._rules)}") from None

    def __iter__(self) -> Iterator[ClaimRule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def owned_by(self, notebook: str) -> list[ClaimRule]:
        return [r for r in self if r.owner == notebook]


def combine_grid(rule: ClaimRule, cells: dict[str, dict], **common) -> Outcome:
    """Judge ``rule`` on every cell of a sensitivity grid and combine: a claim about a measurement that
    depends on arbitrary settings (e.g. influence scores on the damping λ and the Hessian sample) counts as
    reproduced only if it holds whatever those settings are.

    ``cells`` maps a cell's name (e.g. ``"λ=0.01, sample A"``) to the measured values of that cell;
    ``common`` are arguments shared by every cell (e.g. an accuracy precondition). The combination:

    * ``reproduced`` if the rule says "reproduced" in every cell;
    * ``not reproduced`` if it says "not reproduced" in every cell;
    * ``partly reproduced`` otherwise (the note names the cells where it held and where not);
    * ``not checked`` if every cell is "not checked" (the first reason is kept); cells that are not checked
      while others are checked are left out, and the note says which.

    ``ours`` is the first cell's value followed by the count of cells that reproduce.
    """
    if not cells:
        raise ValueError(f"rule {rule.claim_id!r}: an empty grid has no cell to judge")
    outcomes = {name: rule.evaluate(**measured, **common) for name, measured in cells.items()}
    checked = {n: o for n, o in outcomes.items() if o.verdict != NOT_CHECKED}
    first = next(iter(outcomes.values()))
    if not checked:
        return not_checked(first.note, first.ours)
    by = {v: [n for n, o in checked.items() if o.verdict == v] for v in THREE_WAY}
    n_ok = len(by[REPRODUCED])
    ours = f"{first.ours}; reproduced on {n_ok} of {len(checked)} grid cells"
    parts = [f"{v} on {', '.join(names)}" for v, names in by.items() if names]
    skipped = [n for n in outcomes if n not in checked]
    if skipped:
        parts.append(f"not checked on {', '.join(skipped)} ({outcomes[skipped[0]].note})")
    note = "grid: " + "; ".join(parts)
    if n_ok == len(checked):
        return Outcome(REPRODUCED, ours, note)
    if len(by[NOT_REPRODUCED]) == len(checked):
        return Outcome(NOT_REPRODUCED, ours, note)
    return Outcome(PARTLY, ours, note)
