"""Paper A's figures and tables (``eyes_*`` of PROTOCOL.md section 5), from its summary.

Each ``make_<id>(s, out)`` draws from an ``EyesSummary`` into ``out``
(a ``tfadv.outputs.Output``: the folder and the preset, shown on every item)
and returns the files it wrote.
"""

from __future__ import annotations

import numpy as np

from tfadv.analysis import mean_sd, nanmean, wilson_interval
from tfadv.verdicts import verdict
from tfadv.config import BASELINE
from tfadv.papers.eyes import claims as ea
from tfadv.papers.eyes.summary import DEEP, GROUPS, RELU, SHALLOW, TRAINED, UNTRAINED, EyesSummary
from tfadv.figures import heatmap, image_grid, new_figure, plot_eyes_fig1, plot_eyes_fig4, save_figure
from tfadv.outputs import Output
from tfadv.tables import Table, write_table

DIGITS = [str(d) for d in range(10)]


def _first_round(s: EyesSummary, group, net) -> int | None:
    rounds = ea.used_rounds(s, group, net)
    return rounds[0] if rounds else None


def _take(s, key, group, net, digit):
    r = _first_round(s, group, net)
    values = getattr(s, key)
    return values[group, net, r, digit] if r is not None else np.full(values.shape[4:], np.nan)


def make_eyes_fig1(s, out: Output):
    """(a) one adversarial for 2, shallow; (b) the average for 2; (c), (d) the same for 4, deep."""
    panels = []
    for net, digit in ((SHALLOW, 2), (DEEP, 4)):
        name = ("shallow", "deep")[net]
        panels.append(dict(image=_take(s, "single", TRAINED, net, digit), label=digit,
                           confidence=float(_take(s, "single_confidence", TRAINED, net, digit)),
                           caption=f"median-confidence example for {digit}, {name} net"))
        r = _first_round(s, TRAINED, net)
        label = int(s.avg_predicted[TRAINED, net, r, digit]) if r is not None else -1
        found = int(s.found[TRAINED, net, r, digit]) if r is not None else 0
        panels.append(dict(image=_take(s, "average", TRAINED, net, digit), label=label,
                           confidence=float(_take(s, "avg_confidence", TRAINED, net, digit)),
                           caption=f"average of {found} adversarial examples for {digit}, {name} net",
                           full_range=False))
    fig = new_figure(7.0, 7.0)
    plot_eyes_fig1(fig, panels)
    fig.suptitle("Paper A, figure 1 (round 0): single adversarial examples and their averages\n"
                 "(a), (c): the success whose confidence is nearest the median,\n"
                 "titled with the median confidence over all successes", fontsize=9)
    return save_figure(fig, out, "eyes_fig1")


def _average_rows(s, group):
    rows = []
    for net in range(2):
        r = _first_round(s, group, net)
        if r is None:
            continue
        conf = s.avg_confidence[group, net, r]
        caps = [f"{c:.0%}" if not np.isnan(c) else "" for c in conf]
        name = s.net_name(group, net).replace("mlp_", "")
        rows.append((f"{name}\n({GROUPS[group]}, round {r})", s.average[group, net, r], caps, None))
    return rows


def make_eyes_fig2(s, out: Output):
    """Averaged adversarial image of every digit per net, with MNIST class means below."""
    rows = _average_rows(s, TRAINED) + _average_rows(s, UNTRAINED)
    rows.append(("MNIST class\nmean", s.class_means, None, None))
    fig = new_figure(12.0, 1.35 * len(rows) + 0.6)
    image_grid(fig, rows, DIGITS)
    fig.suptitle("Averaged adversarial images per digit (caption: the net's confidence in the digit; "
                 "each row has its own grey scale)", fontsize=9)
    return save_figure(fig, out, "eyes_fig2")


def make_eyes_fig3(s, out: Output):
    """Persistence heatmaps: across rounds, across nets, against class means and controls."""
    p = ea.persistence(s, TRAINED)
    control = ea.cross_net_matrix(s, UNTRAINED)
    panels = [
        (p.round_matrices[0], "shallow: round A vs round B", "round B digit", "round A digit"),
        (p.round_matrices[1], "deep: round A vs round B", "round B digit", "round A digit"),
        (p.cross_net_matrix, "shallow vs deep (trained)", "deep digit", "shallow digit"),
        (p.class_matrices[0], "shallow vs MNIST class means", "class mean", "shallow digit"),
        (p.class_matrices[1], "deep vs MNIST class means", "class mean", "deep digit"),
        (control, "shallow vs deep (untrained controls)", "deep digit", "shallow digit"),
        (p.control_matrices[0], "shallow: trained vs untrained", "untrained digit", "trained digit"),
        (p.control_matrices[1], "deep: trained vs untrained", "untrained digit", "trained digit"),
    ]
    fig = new_figure(13.0, 7.0)
    axes = fig.subplots(2, 4)
    im = None
    for ax, (matrix, title, xl, yl) in zip(axes.ravel(), panels):
        im = heatmap(ax, matrix, title, xl, yl, DIGITS)
    fig.colorbar(im, ax=list(axes.ravel()), shrink=0.7, label="Pearson r of averaged images")
    fig.suptitle("Persistence of averaged adversarial images (r averaged over rounds; diagonal = same digit)",
                 fontsize=10)
    return save_figure(fig, out, "eyes_fig3")


def make_eyes_fig4(s, out: Output):
    """Success rate against step budget, per digit, per net (mean over rounds)."""
    curves = np.stack([nanmean(np.where(s.used[TRAINED, n][:, None, None],
                                            s.budget_curve[TRAINED, n], np.nan), axis=0)
                       for n in range(2)])
    fig = new_figure(10.0, 4.0)
    names = [s.net_name(TRAINED, n) for n in range(2)]
    plot_eyes_fig4(fig, s.budgets, curves, names)
    title = "Success of evolving uniform noise into each digit, against the step budget"
    if s.config.get("attack", {}).get("stop") == "budget":
        # Under the fixed-budget rule an example is judged only at its last step, so no smaller budget
        # has a success; say so rather than let the curves read as a sudden jump.
        title += (f"\n(stop rule: fixed budget; success is judged only after all "
                  f"{s.config['attack']['max_steps']} steps, so every smaller budget shows 0)")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out, "eyes_fig4")


def make_eyes_tab1(s, out: Output):
    """Success rate per digit and net: mean and sd over rounds, pooled Wilson 95% interval."""
    rate = ea.success_rates(s, TRAINED)
    rows = []
    for d in range(10):
        row = [d]
        for n in range(2):
            mean, sd = mean_sd(rate[n, :, d])
            used = s.used[TRAINED, n]
            found, tried = int(s.found[TRAINED, n, used, d].sum()), int(s.attempts[TRAINED, n, used, d].sum())
            lo, hi = wilson_interval(found, tried)
            row += [float(mean), float(sd), f"[{lo:.3f}, {hi:.3f}]", f"{found}/{tried}"]
        rows.append(tuple(row))
    cols = ["digit"] + [f"{net} {c}" for net in ("shallow", "deep")
                        for c in ("success mean", "sd over rounds", "Wilson 95% (pooled)", "found/attempts")]
    table = Table(tuple(cols), tuple(rows), "Paper A: success rate of evolving uniform noise into each digit "
                  "(trained sigmoid nets; mean and sd over training rounds).")
    return write_table(table, out, "eyes_tab1")


def make_eyes_tab2(s, out: Output):
    """Confidence of each averaged image, and of typical single adversarial examples."""
    rows = []
    for n, name in enumerate(("shallow", "deep")):
        conf_mean = ea.mean_over_rounds(s.avg_confidence[TRAINED], s, TRAINED)[n]
        for d in range(10):
            sd = mean_sd(np.where(s.used[TRAINED, n], s.avg_confidence[TRAINED, n, :, d], np.nan))[1]
            r = _first_round(s, TRAINED, n)
            label = int(s.avg_predicted[TRAINED, n, r, d]) if r is not None else -1
            paper_avg = {("shallow", 2): 0.9872, ("deep", 4): 0.9968}.get((name, d), np.nan)
            paper_single = {("shallow", 2): 0.0146, ("deep", 4): 0.8697}.get((name, d), np.nan)
            rows.append((name, d, float(conf_mean[d]), float(sd), label if label >= 0 else "\u2014",
                         float(ea.mean_over_rounds(s.single_confidence[TRAINED], s, TRAINED)[n, d]),
                         float(paper_avg), float(paper_single)))
    cols = ("net", "digit", "averaged image confidence (mean over rounds)", "sd", "label of averaged image (round 0)",
            "single-example confidence (median over successes, mean over rounds)", "paper: averaged",
            "paper: single example shown")
    table = Table(cols, tuple(rows), "Paper A: the net's confidence in the target digit for averaged "
                  "adversarial images and for single adversarial examples.")
    return write_table(table, out, "eyes_tab2")


def make_eyes_tab3(s, out: Output):
    """The persistence numbers behind eyes_fig3."""
    p = ea.persistence(s, TRAINED)
    rows = []
    for n, name in enumerate(("shallow", "deep")):
        for d in range(10):
            rows.append((name, d, float(p.cross_round[n, d]), float(p.class_mean[n, d]),
                         float(p.cross_net[d]), float(p.cross_net_largest_other[d]),
                         float(p.cross_net_control[d]), float(p.control_matrices[n][d, d])))
    cols = ("net", "digit", "cross-round r (mean over pairs)", "r vs MNIST class mean", "r shallow vs deep",
            "largest r shallow vs deep, other digit", "r shallow vs deep, untrained controls",
            "r trained vs untrained (same net)")
    table = Table(cols, tuple(rows), "Paper A: persistence of averaged adversarial images (Pearson r).")
    return write_table(table, out, "eyes_tab3")


def make_eyes_tab4(s, out: Output):
    """Sensitivity of claims A1 and A5 to the attack's settings (round 0)."""
    rows = []
    # The baseline first: every row is a search of the same size on round 0.
    order = sorted(range(len(s.variants)), key=lambda v: s.variants[v] != BASELINE)
    for v in order:
        label = s.variants[v]
        conf = s.sens_avg_confidence[v]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = s.sens_found[v] / s.sens_attempts[v]
        a1, a5 = ea.a1_checks(conf), ea.a5_checks(rate)
        rows.append((label, verdict(a1), float(conf[0, 2]), float(conf[1, 4]),
                     int(np.sum(conf[0] >= 0.9)), int(np.sum(conf[1] >= 0.9)), verdict(a5),
                     " ".join(f"{x:.2f}" for x in rate[0, [0, 1, 4, 8]]),
                     " ".join(f"{x:.2f}" for x in rate[1, [0, 1, 4, 8]])))
    cols = ("attack setting", "A1 verdict", "conf (shallow, 2)", "conf (deep, 4)", "shallow digits >= 0.9",
            "deep digits >= 0.9", "A5 verdict", "shallow success 0/1/4/8", "deep success 0/1/4/8")
    table = Table(cols, tuple(rows), "Paper A: sensitivity of claims A1 and A5 to the attack's settings "
                  "(round 0; one setting changed at a time from the baseline; every row is a search of the "
                  f"same size: {_sens_size(s)}; normal starts are clipped to [0, 1] like every start).")
    return write_table(table, out, "eyes_tab4")


def _sens_size(s) -> str:
    cfg = s.config
    return (f"up to {cfg.get('sensitivity_n_success')} successes per digit in at most "
            f"{cfg.get('sensitivity_max_attempts')} attempts")


def make_eyes_act(s, out: Output):
    """The same analyses for the ReLU variants (paper A's activation-function study)."""
    rows = _average_rows(s, RELU) + [("MNIST class\nmean", s.class_means, None, None)]
    fig = new_figure(12.0, 1.35 * len(rows) + 0.6)
    image_grid(fig, rows, DIGITS)
    fig.suptitle("ReLU variants: averaged adversarial images per digit (caption: confidence)", fontsize=9)
    paths = save_figure(fig, out, "eyes_act")

    relu_claims = ea.claims(s, RELU)
    sig_claims = {c.id: c for c in ea.claims(s, TRAINED)}
    p = ea.persistence(s, RELU)
    rate = ea.mean_over_rounds(ea.success_rates(s, RELU), s, RELU)
    conf = ea.mean_over_rounds(s.avg_confidence[RELU], s, RELU)
    rows = []
    for n, name in enumerate(("shallow ReLU", "deep ReLU")):
        for d in range(10):
            rows.append((name, str(d), float(rate[n, d]), float(conf[n, d]), float(p.cross_round[n, d]),
                         float(p.class_mean[n, d]), float(p.cross_net[d])))
    for c in relu_claims:
        rows.append((f"rule {c.id}", "verdict", c.verdict, f"sigmoid nets: {sig_claims[c.id].verdict}",
                     float("nan"), float("nan"), float("nan")))
    cols = ("net", "digit", "success rate", "averaged image confidence", "cross-round r", "r vs class mean",
            "r shallow vs deep")
    table = Table(cols, tuple(rows), "Paper A's analyses on the ReLU variants (softmax outputs; same attack). "
                  "A4 here omits the untrained-control comparison (the controls are sigmoid nets).")
    return paths + write_table(table, out, "eyes_act")
