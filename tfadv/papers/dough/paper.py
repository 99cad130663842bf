"""Paper B as the pipeline sees it: its items, claims and stages (a ``tfadv.paper.Paper``)."""

from tfadv.paper import Item, Paper
from tfadv.papers.dough import claims, items, stages, units
from tfadv.papers.dough.plan import VERSION, models_needed
from tfadv.papers.dough.readings import setting_readings
from tfadv.papers.dough.summary import DoughSummary

PAPER = Paper(
    id="dough",
    title='Paper B: "Neural Networks Playing Dough"',
    items=(
        Item("dough_fig1", "dough", "figure", "Class patterns (mean abstraction) for each class, FC and CNN, "
             "MNIST and Fashion-MNIST.", ("B1",), items.make_dough_fig1),
        Item("dough_fig2", "dough", "figure", "The class patterns under every abstraction method and "
             "parameter.", ("B2",), items.make_dough_fig2),
        Item("dough_fig3", "dough", "figure", "Dataset-derived patterns beside the class patterns, with r.",
             ("B4",), items.make_dough_fig3),
        Item("dough_tab1", "dough", "table", "r between abstraction variants.", ("B2",), items.make_dough_tab1),
        Item("dough_tab2", "dough", "table", "r across architectures and training configurations: same class "
             "vs other classes.", ("B3",), items.make_dough_tab2),
        Item("dough_tab3", "dough", "table", "r between class patterns and dataset-derived patterns, trained "
             "vs controls.", ("B4",), items.make_dough_tab3),
        Item("dough_tab4", "dough", "table", "Attack statistics per class (success rate, steps, L2 and Linf "
             "of the perturbation) and B1's split-half identification per class.", ("B1",), items.make_dough_tab4),
        Item("dough_tab5", "dough", "table", "Transfer of class patterns across models against a "
             "norm-matched random pattern.", ("B5",), items.make_dough_tab5),
        Item("dough_tab6", "dough", "table", "A classifier trained only on adversarial examples evolved from "
             "noise, tested on the real test set.", ("B6",), items.make_dough_tab6),
    ),
    claim_ids=tuple(claims.CLAIMS),
    version=VERSION,
    config=lambda preset: preset.dough,
    models_needed=models_needed,
    summarize=stages.summarize,
    load_summary=DoughSummary.load,
    claims=claims.claims,
    readings=setting_readings,
    reading_items=("dough_fig1", "dough_tab4"),
    attack_units=units.attack_units,
)
