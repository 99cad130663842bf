"""Paper A as the pipeline sees it: its items, claims and stages (a ``tfadv.paper.Paper``)."""

from tfadv.paper import Item, Paper
from tfadv.papers.eyes import claims, items, stages
from tfadv.papers.eyes.readings import setting_readings
from tfadv.papers.eyes.summary import EyesSummary

PAPER = Paper(
    id="eyes",
    title='Paper A: "Through Neural Nets\' Eyes"',
    items=(
        Item("eyes_fig1", "eyes", "figure", "Paper A's figure: one adversarial example and the average of all "
             "for 2 (shallow net) and for 4 (deep net), with label and confidence.", ("A1",), items.make_eyes_fig1),
        Item("eyes_fig2", "eyes", "figure", "Averaged adversarial image of every digit for each net, with "
             "MNIST's class means as a reference row.", ("A2", "A1"), items.make_eyes_fig2),
        Item("eyes_fig3", "eyes", "figure", "Persistence: r between averaged images across rounds, across nets, "
             "against class means and against untrained controls.", ("A3", "A4", "A2"), items.make_eyes_fig3),
        Item("eyes_fig4", "eyes", "figure", "Success rate against step budget, per digit, per net.", ("A5",),
             items.make_eyes_fig4),
        Item("eyes_tab1", "eyes", "table", "Success rate per digit and net (mean and sd over rounds).", ("A5",),
             items.make_eyes_tab1),
        Item("eyes_tab2", "eyes", "table", "Confidence of each averaged image, and of a typical single "
             "adversarial example.", ("A1",), items.make_eyes_tab2),
        Item("eyes_tab3", "eyes", "table", "The persistence numbers behind eyes_fig3.", ("A4", "A3", "A2"),
             items.make_eyes_tab3),
        Item("eyes_tab4", "eyes", "table", "Sensitivity of claims A1 and A5 to the attack's settings.",
             ("A1", "A5"), items.make_eyes_tab4),
        Item("eyes_act", "eyes", "figure+table", "The same analyses for the ReLU variants (the activation study "
             "paper A calls for).", ("A1", "A2", "A3", "A4", "A5"), items.make_eyes_act),
    ),
    claim_ids=tuple(claims.CLAIMS),
    version=stages.VERSION,
    config=lambda preset: preset.eyes,
    models_needed=stages.models_needed,
    summarize=stages.summarize,
    load_summary=EyesSummary.load,
    claims=claims.claims,
    readings=setting_readings,
    reading_items=("eyes_fig1", "eyes_fig2", "eyes_fig3", "eyes_fig4", "eyes_tab1", "eyes_tab2", "eyes_tab3"),
    prepare=stages.run_every_search,
    attack_units=stages.attack_units,
)
