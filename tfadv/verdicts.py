"""Claims and their verdicts (PROTOCOL.md sections 6 and 8; numpy only).

Each claim's pre-registered rule becomes a list of ``Check``s whose outcomes
give the ``Claim``'s verdict; a ``Reading`` is the same rule under one reading
of a setting the papers leave open. ``Claim.to_dict`` is what claims.json holds.
"""

from __future__ import annotations

import dataclasses

from tfadv import artifacts

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
PARTLY = "partly"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED)


@dataclasses.dataclass(frozen=True)
class Check:
    """One pre-registered condition of a claim's rule (PROTOCOL.md section 6).

    Attributes:
      name: what is checked, e.g. ``"confidence(shallow, 2) >= 0.90"``.
      passed: whether it holds (coerced to a plain bool).
      numbers: the measured numbers the outcome rests on.
    """

    name: str
    passed: bool
    numbers: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "passed", bool(self.passed))


def verdict(checks) -> str:
    """The verdict of a claim from its checks (PROTOCOL.md section 6).

    Returns:
      ``"reproduced"`` when every check passes, ``"not reproduced"`` when none
      does (or there are no checks), ``"partly"`` otherwise.
    """
    outcomes = [check.passed for check in checks]
    if outcomes and all(outcomes):
        return REPRODUCED
    if not any(outcomes):
        return NOT_REPRODUCED
    return PARTLY


@dataclasses.dataclass(frozen=True)
class Reading:
    """A claim's rule judged under one reading of a setting the papers leave open (PROTOCOL.md section 8).

    Attributes:
      name: the reading's id, e.g. ``"primary"`` or ``"A4 control: no evidence"``.
      settings: what it changes from the pre-registered protocol, setting ->
        value (empty for the primary reading).
      checks: the rule's checks under this reading.
      headline: the rule's key numbers under this reading, in one line.
      measured: the claim's measured numbers under this reading.
    """

    name: str
    settings: dict
    checks: tuple[Check, ...]
    headline: str = ""
    measured: dict = dataclasses.field(default_factory=dict)

    @property
    def primary(self) -> bool:
        return not self.settings

    @property
    def verdict(self) -> str:
        return verdict(self.checks)

    def to_dict(self) -> dict:
        return {"name": self.name, "settings": dict(self.settings), "verdict": self.verdict,
                "numbers": {**{c.name: {"passed": c.passed, **c.numbers} for c in self.checks}, **self.measured},
                "headline": self.headline}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A paper's claim, its rule, and what the results say (``claims.json``).

    Attributes:
      id: the claim id of PROTOCOL.md section 6, e.g. ``"A3"``.
      paper: the paper id, ``"eyes"`` or ``"dough"``.
      claim: the claim in words.
      rule: the pre-registered rule in words.
      checks: the rule's checks, evaluated on the results.
      measured: the numbers measured for the claim.
      paper_numbers: the numbers the paper reports, for comparison.
      headline: the rule's key numbers in one line (README and report tables).
      readings: the same rule under each reading of PROTOCOL.md section 8
        that bears on the claim, the primary one (``checks``) first.
    """

    id: str
    paper: str
    claim: str
    rule: str
    checks: tuple[Check, ...]
    measured: dict = dataclasses.field(default_factory=dict)
    paper_numbers: dict = dataclasses.field(default_factory=dict)
    headline: str = ""
    readings: tuple[Reading, ...] = ()

    def __post_init__(self):
        if self.readings and (not self.readings[0].primary or self.readings[0].checks is not self.checks):
            raise ValueError(f"{self.id}: the first reading must be the primary one, with the claim's checks.")

    @property
    def verdict(self) -> str:
        return verdict(self.checks)

    @property
    def robust(self) -> bool:
        """True when every reading gives the primary verdict."""
        return all(r.verdict == self.verdict for r in self.readings)

    def to_dict(self) -> dict:
        """A JSON-ready dict: plain Python values, non-finite floats as None."""
        return artifacts.jsonable({
            "id": self.id,
            "paper": self.paper,
            "claim": self.claim,
            "rule": self.rule,
            "verdict": self.verdict,
            "checks": [dataclasses.asdict(check) for check in self.checks],
            "measured": self.measured,
            "paper_numbers": self.paper_numbers,
            "headline": self.headline,
            "readings": [r.to_dict() for r in self.readings],
            "robust": self.robust,
        })
