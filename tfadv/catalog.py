"""What each protocol item is and which claims it serves (PROTOCOL.md sections 5-6)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Entry:
    """A figure or table of the protocol.

    Attributes:
      id: the protocol id, e.g. ``"eyes_fig1"``.
      paper: ``"eyes"`` (paper A) or ``"dough"`` (paper B).
      kind: ``"figure"`` or ``"table"`` (``eyes_act`` makes both).
      what: the protocol's description.
      claims: the claim ids it serves; the report shows the item under the
        first of them.
    """

    id: str
    paper: str
    kind: str
    what: str
    claims: tuple[str, ...]


ENTRIES = (
    Entry("eyes_fig1", "eyes", "figure", "Paper A's figure: one adversarial example and the average of all "
          "for 2 (shallow net) and for 4 (deep net), with label and confidence.", ("A1",)),
    Entry("eyes_fig2", "eyes", "figure", "Averaged adversarial image of every digit for each net, with "
          "MNIST's class means as a reference row.", ("A2", "A1")),
    Entry("eyes_fig3", "eyes", "figure", "Persistence: r between averaged images across rounds, across "
          "nets, against class means and against untrained controls.", ("A3", "A4", "A2")),
    Entry("eyes_fig4", "eyes", "figure", "Success rate against step budget, per digit, per net.", ("A5",)),
    Entry("eyes_tab1", "eyes", "table", "Success rate per digit and net (mean and sd over rounds).", ("A5",)),
    Entry("eyes_tab2", "eyes", "table", "Confidence of each averaged image, and of a typical single "
          "adversarial example.", ("A1",)),
    Entry("eyes_tab3", "eyes", "table", "The persistence numbers behind eyes_fig3.", ("A4", "A3", "A2")),
    Entry("eyes_tab4", "eyes", "table", "Sensitivity of claims A1 and A5 to the attack's settings.",
          ("A1", "A5")),
    Entry("eyes_act", "eyes", "figure+table", "The same analyses for the ReLU variants (the activation "
          "study paper A calls for).", ("A1", "A2", "A3", "A4", "A5")),
    Entry("dough_fig1", "dough", "figure", "Class patterns (mean abstraction) for each class, FC and CNN, "
          "MNIST and Fashion-MNIST.", ("B1",)),
    Entry("dough_fig2", "dough", "figure", "The class patterns under every abstraction method and "
          "parameter.", ("B2",)),
    Entry("dough_fig3", "dough", "figure", "Dataset-derived patterns beside the class patterns, with r.",
          ("B4",)),
    Entry("dough_tab1", "dough", "table", "r between abstraction variants.", ("B2",)),
    Entry("dough_tab2", "dough", "table", "r across architectures and training configurations: same class "
          "vs other classes.", ("B3",)),
    Entry("dough_tab3", "dough", "table", "r between class patterns and dataset-derived patterns, trained "
          "vs controls.", ("B4",)),
    Entry("dough_tab4", "dough", "table", "Attack statistics per class (success rate, steps, L2 and Linf "
          "of the perturbation) and B1's split-half identification per class.", ("B1",)),
    Entry("dough_tab5", "dough", "table", "Transfer of class patterns across models against a "
          "norm-matched random pattern.", ("B5",)),
    Entry("dough_tab6", "dough", "table", "A classifier trained only on adversarial examples evolved from "
          "noise, tested on the real test set.", ("B6",)),
)
BY_ID = {e.id: e for e in ENTRIES}


def entry(item_id: str) -> Entry:
    """The catalogue entry of ``item_id``; ValueError listing the known ids otherwise."""
    try:
        return BY_ID[item_id]
    except KeyError:
        raise ValueError(f"Unknown item {item_id!r}; known: {', '.join(BY_ID)}.") from None
