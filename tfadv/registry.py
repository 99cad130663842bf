"""The registered papers: what ``python -m tfadv.reproduce`` runs, in order.

Each paper lives in its own package under ``tfadv/papers/`` and defines one
``tfadv.paper.Paper`` in ``<id>/paper.py``; adding a paper means adding its
package and listing its id in ``tfadv.papers.IDS``.
"""

from __future__ import annotations

import importlib

from tfadv.paper import Item, Paper
from tfadv.papers import IDS

PAPERS: tuple[Paper, ...] = tuple(importlib.import_module(f"tfadv.papers.{i}.paper").PAPER for i in IDS)


def paper(paper_id: str) -> Paper:
    """The registered paper with this id; ValueError listing the known ids otherwise."""
    for p in PAPERS:
        if p.id == paper_id:
            return p
    raise ValueError(f"Unknown paper {paper_id!r}; known: {', '.join(p.id for p in PAPERS)}.")


def all_items() -> list[Item]:
    """Every figure and table of every registered paper, in protocol order."""
    return [i for p in PAPERS for i in p.items]


def item(item_id: str) -> Item:
    """The item with this id; ValueError listing the known ids otherwise."""
    for i in all_items():
        if i.id == item_id:
            return i
    raise ValueError(f"Unknown item {item_id!r}; known: {', '.join(i.id for i in all_items())}.")
