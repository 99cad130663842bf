"""Stop rules observed together in one pass (PROTOCOL.md sections 3 and 8); numpy only.

Paper A's stop-rule readings share one attack: every example evolves to the
largest budget while the engine records, per rule, the first step at which
the rule held and the input at that step. The rules of one pass resolve in a
fixed order: ``argmax`` holds no later than any ``confidence`` rule (which
needs the argmax too), a lower ``kappa`` no later than a higher one, and
``budget`` resolves last, at ``max_steps``. The engine relies on that order:
the last rule decides when an example stops, and only the earlier ones need
their input stored.
"""

from __future__ import annotations

import dataclasses

RULE_KINDS = ("argmax", "confidence", "budget")


@dataclasses.dataclass(frozen=True)
class StopRule:
    """One named stop rule of ``evolve_observing``.

    Attributes:
      name: the key of its result.
      kind: ``"argmax"`` (stop the first step the label is the target),
        ``"confidence"`` (that, and the target's confidence >= ``kappa``), or
        ``"budget"`` (never stop early; success = the label at ``max_steps``).
      kappa: the threshold of a ``"confidence"`` rule, else None.
    """

    name: str
    kind: str
    kappa: float | None = None

    @classmethod
    def argmax(cls, name: str = "argmax") -> "StopRule":
        return cls(name, "argmax")

    @classmethod
    def confidence(cls, kappa: float, name: str | None = None) -> "StopRule":
        return cls(name or f"confidence>={kappa:g}", "confidence", float(kappa))

    @classmethod
    def budget(cls, name: str = "budget") -> "StopRule":
        return cls(name, "budget")

    @property
    def order(self) -> tuple[int, float]:
        """Sort key: rules that resolve earlier come first."""
        return RULE_KINDS.index(self.kind), self.kappa or 0.0


def check_rules(rules) -> tuple[StopRule, ...]:
    """The rules as a tuple, or ``ValueError`` naming what is wrong.

    Every rule must be a ``StopRule`` with a known kind, a ``"confidence"``
    rule needs ``kappa`` in (0, 1) and the others none, and names are unique.
    """
    rules = tuple(rules)
    if not rules:
        raise ValueError("rules must name at least one StopRule.")
    for rule in rules:
        if not isinstance(rule, StopRule):
            raise ValueError(f"rules must be StopRule objects, got {rule!r}.")
        if rule.kind not in RULE_KINDS:
            raise ValueError(f"Rule {rule.name!r} has unknown kind {rule.kind!r}; choose one of {RULE_KINDS}.")
        if rule.kind == "confidence" and (rule.kappa is None or not 0.0 < rule.kappa < 1.0):
            raise ValueError(f"Rule {rule.name!r}: kind 'confidence' needs kappa in (0, 1), got {rule.kappa!r}.")
        if rule.kind != "confidence" and rule.kappa is not None:
            raise ValueError(f"Rule {rule.name!r}: kappa is only used with kind 'confidence' (kind is {rule.kind!r}).")
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"Rule names must be unique, got {names}.")
    return rules


def plan(rules: tuple[StopRule, ...]) -> tuple[tuple[str, ...], tuple[float, ...], dict[str, int]]:
    """What the engine observes for these rules: distinct (kind, kappa) pairs in resolution order.

    Returns:
      ``(kinds, kappas, position)``: the kinds in resolution order (the last
      decides when an example stops), their thresholds (0.0 where a kind has
      none), and each rule name's position in them (equal rules share one).
    """
    distinct = sorted({(r.kind, r.kappa) for r in rules}, key=lambda kk: StopRule("", *kk).order)
    position = {r.name: distinct.index((r.kind, r.kappa)) for r in rules}
    return tuple(k for k, _ in distinct), tuple(float(kappa or 0.0) for _, kappa in distinct), position


def settings(rule: StopRule) -> dict:
    """The ``stop``/``kappa`` entries of a result's settings, as ``evolve`` writes them."""
    return dict(stop=rule.kind, kappa=rule.kappa)
