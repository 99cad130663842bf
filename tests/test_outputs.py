"""Every figure and table says which preset made it; dough_fig2 shows every abstraction variant.

Items are drawn from the hand-built summaries of the claim tests (numpy side,
no training).
"""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from test_dough_claims import summary as dough_summary
from test_eyes_claims import summary as eyes_summary
from tfadv import figures
from tfadv.data import CLASS_NAMES
from tfadv.outputs import Output
from tfadv.papers.dough import claims as dc
from tfadv.papers.dough import items as dough_items
from tfadv.papers.dough.paper import PAPER as DOUGH
from tfadv.papers.eyes.paper import PAPER as EYES

SMOKE = "Preset quick: a smoke-size run whose numbers say nothing about the papers"


def test_the_note_names_the_preset_and_marks_every_preset_but_paper_as_smoke():
    assert Output(Path("x"), "paper").note() == "Preset paper."
    assert Output(Path("x"), "quick").note() == f"{SMOKE} (preset paper is the paper-scale run)."
    assert Output(Path("x"), "tiny").note().startswith("Preset tiny: a smoke-size run")


def test_save_figure_writes_the_item_and_preset_in_the_footer(tmp_path):
    fig = figures.new_figure(2, 2)
    fig.subplots().plot([0, 1])
    paths = figures.save_figure(fig, Output(tmp_path, "quick"), "eyes_fig4")
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["figures/eyes_fig4.png", "figures/eyes_fig4.pdf"]
    # Wrapped to the figure's width: a 2-inch figure's footer takes several lines, each within it.
    lines = fig.get_supxlabel().splitlines()
    assert " ".join(lines) == f"eyes_fig4. {Output(tmp_path, 'quick').note()}"
    assert len(lines) > 1 and max(map(len, lines)) <= 2 * 72 / (0.55 * 7)


def test_a_readings_footer_is_wrapped_to_the_figure_and_keeps_every_word(tmp_path):
    fig = figures.new_figure(7, 7)
    out = Output(tmp_path, "paper", reading="stop: fixed budget (A stop rule: fixed budget of 1000 steps "
                                             "(success: the label at the end)), and a few more words to wrap")
    figures.save_figure(fig, out, "eyes_fig1")
    lines = fig.get_supxlabel().splitlines()
    assert len(lines) == 2 and " ".join(lines) == f"eyes_fig1. {out.note()}"


@pytest.fixture
def footers(monkeypatch):
    """The footer of every figure saved, in order (the files get a stub: no rendering)."""
    seen = []

    def savefig(fig, fname, **kwargs):
        seen.append(" ".join(fig.get_supxlabel().splitlines()))
        Path(fname).write_bytes(b"stub")

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


@pytest.mark.parametrize("paper, build", [(EYES, eyes_summary), (DOUGH, dough_summary)], ids=["eyes", "dough"])
def test_every_item_of_a_quick_run_names_its_preset(paper, build, tmp_path, footers):
    s, out = build(), Output(tmp_path, "quick")
    for item in paper.items:
        made = {p.suffix: p for p in item.make(s, out)}
        assert footers == ([f"{item.id}. {out.note()}"] * 2 if "figure" in item.kind else []), item.id  # png, pdf
        footers.clear()
        if "table" in item.kind:
            assert out.note() in made[".md"].read_text().splitlines()[0], item.id  # the bold caption line
            assert out.note() in made[".tex"].read_text(), item.id
            assert "Preset" not in made[".csv"].read_text(), item.id  # cells only


def test_dough_fig2_shows_every_abstraction_variant_of_the_fc_and_the_cnn(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(dough_items, "save_figure", lambda fig, out, item_id: drawn.append(fig) or [])
    s = dough_summary()
    dough_items.make_dough_fig2(s, Output(tmp_path, "paper"))
    (fig,) = drawn
    # PROTOCOL.md section 4: every method, every K below the whole bank, every kappa.
    columns = ["mean", "median", "sign", "top-1", "top-5", "top-20", "K = 10", "K = 30", "K = 100",
               "\u03ba = 0.5", "\u03ba = 0.9"]
    assert len(fig.subfigs) == len(s.datasets) == 2
    for block, d in zip(fig.subfigs, s.datasets):
        grid = np.array([ax for ax in block.axes if ax.get_label() != "<colorbar>"]).reshape(-1, len(columns))
        assert [ax.get_title() for ax in grid[0]] == columns
        labels = [ax.get_ylabel().split("\n")[0] for ax in grid[:, 0]]
        assert labels == [f"{arch}: {CLASS_NAMES[d][c]}" for arch in ("FC", "CNN")
                          for c in dough_items.FIG2_CLASSES]
        # Under each variant: r with the same class's mean pattern, as dough_tab1 averages it.
        for row, ((arch, config), c) in zip(grid, [(a, c) for a in s.archs for c in dough_items.FIG2_CLASSES]):
            r = [dc.variant_r(s, d, arch, 0, v)[c] for _, v in dc.abstraction_variants(s)]
            assert [ax.get_xlabel() for ax in row] == [""] + [f"r = {x:.2f}" for x in r]
            image = row[0].get_images()[0].get_array()
            pattern = dc.pattern(s, d, arch, config, 0)[c]
            np.testing.assert_allclose(image, (pattern / np.abs(pattern).max()).reshape(28, 28), rtol=1e-6)


def test_eyes_fig4_says_when_success_is_judged_only_at_the_end_of_a_fixed_budget(tmp_path, monkeypatch):
    from tfadv.papers.eyes import items as eyes_items

    titles = []
    monkeypatch.setattr(eyes_items, "save_figure", lambda fig, out, item_id: titles.append(fig.get_suptitle()))
    for stop in ("argmax", "budget"):
        s = eyes_summary()
        s.config.update(attack={"stop": stop, "max_steps": 1000})
        eyes_items.make_eyes_fig4(s, Output(tmp_path, "paper"))
    assert "fixed budget" not in titles[0]
    assert "judged only after all 1000 steps" in titles[1]
