"""Comparing a run's claims with a reference run's (``reproduce --check``)."""

from __future__ import annotations

import math


def _flatten(value, prefix=""):
    """Yields (path, number-or-text) for every leaf of a nested claim number."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _differs(a, b, rel: float, abs_: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a != b
    if a is None or b is None:
        return a is not b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    return abs(a - b) > max(abs_, rel * max(abs(a), abs(b)))


def compare_claims(reference: list[dict], new: list[dict], *, rel: float = 1e-6,
                   abs_: float = 1e-9) -> tuple[list[str], bool]:
    """Lists how ``new`` claims differ from ``reference`` ones.

    Returns:
      ``(differences, verdict_changed)``: one line per changed verdict,
      missing claim or changed number, and whether any verdict changed (or a
      claim is missing on either side).
    """
    lines, changed = [], False
    ref, cur = {c["id"]: c for c in reference}, {c["id"]: c for c in new}
    for cid in sorted(set(ref) | set(cur)):
        if cid not in cur or cid not in ref:
            lines.append(f"{cid}: only in the {'reference' if cid in ref else 'new run'}")
            changed = True
            continue
        a, b = ref[cid], cur[cid]
        if a["verdict"] != b["verdict"]:
            lines.append(f"{cid}: verdict {a['verdict']} -> {b['verdict']}")
            changed = True
        checks_a = {c["name"]: c for c in a["checks"]}
        for check in b["checks"]:
            old = checks_a.get(check["name"])
            if old is None:
                lines.append(f"{cid}: new check {check['name']!r}")
                continue
            if old["passed"] != check["passed"]:
                lines.append(f"{cid}: check {check['name']!r} passed {old['passed']} -> {check['passed']}")
            before = dict(_flatten(old["numbers"]))
            for path, value in _flatten(check["numbers"]):
                if path not in before or _differs(before[path], value, rel, abs_):
                    lines.append(f"{cid}: {check['name']!r} {path}: {before.get(path)} -> {value}")
        reading_lines, reading_changed = _compare_readings(cid, a.get("readings") or [], b.get("readings") or [])
        lines += reading_lines
        changed = changed or reading_changed
    return lines, changed


def _compare_readings(cid: str, reference: list[dict], new: list[dict]) -> tuple[list[str], bool]:
    """A claim's readings (PROTOCOL.md section 8): a changed verdict counts as a change; a reading on
    one side only is listed (a reference made before a reading existed does not fail the check)."""
    lines, changed = [], False
    ref, cur = {r["name"]: r for r in reference}, {r["name"]: r for r in new}
    for name in [n for n in ref if n != "primary"] + [n for n in cur if n not in ref and n != "primary"]:
        if name not in cur or name not in ref:
            lines.append(f"{cid} [{name}]: reading only in the {'reference' if name in ref else 'new run'}")
        elif ref[name]["verdict"] != cur[name]["verdict"]:
            lines.append(f"{cid} [{name}]: verdict {ref[name]['verdict']} -> {cur[name]['verdict']}")
            changed = True
    return lines, changed
