"""The registered item ``frameworks``: table, figure and ``frameworks.json``, from what the workers wrote.

Per backend and model (paper A's trained nets, their untrained controls and
ReLU variants): example-steps per second and wall time, success rate, and
agreement with the reference engine; per claim, its verdict on each backend.
Drawn with numpy and matplotlib only, so the parent process loads no framework.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tfadv import artifacts
from tfadv.analysis import nanmedian, pearson, wilson_interval
from tfadv.figures import image_grid, new_figure, save_figure
from tfadv.frameworks import ITEM_ID, REFERENCE
from tfadv.frameworks.agreement import combine, pair, rates_agree
from tfadv.frameworks.plan import CLAIMS, RECORD, SUMMARY, backend_dir, judged
from tfadv.outputs import Output
from tfadv.papers.eyes.search import SearchResult
from tfadv.papers.eyes.summary import GROUPS, EyesSummary
from tfadv.tables import Table, write_table

VERDICTS_ID = f"{ITEM_ID}_verdicts"
LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def _load(output_dir: Path, backend: str) -> dict:
    folder = backend_dir(output_dir, backend)
    missing = [name for name in (RECORD, SUMMARY, CLAIMS) if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} has no {', '.join(missing)}: the {backend} worker did not finish; "
                                "run python -m tfadv.frameworks again (it resumes).")
    return {"folder": folder, "record": artifacts.read_json(folder / RECORD),
            "summary": EyesSummary.load(folder / SUMMARY), "claims": artifacts.read_json(folder / CLAIMS)["claims"]}


def _by_job(run: dict) -> dict:
    return {(r["group"], r["net"], r["round"], r["digit"]): r for r in run["record"]["searches"]}


def _model_rows(backend: str, run: dict, ref: dict) -> list[dict]:
    """One row per (group, net): speed, success and agreement with the reference backend."""
    mine, theirs = _by_job(run), _by_job(ref)
    rows = []
    for g, group in enumerate(GROUPS):
        for n in range(2):
            jobs = sorted(k for k in mine if k[:2] == (group, n))
            if not jobs:
                continue
            records = [mine[k] for k in jobs]
            seconds = [r["seconds"] for r in records]
            total_s = math.nan if any(s is None for s in seconds) else float(sum(seconds))
            steps = sum(r["example_steps"] for r in records)
            loads = [r["load"] for r in records if r.get("load") is not None]
            found, attempts = sum(r["found"] for r in records), sum(r["attempts"] for r in records)
            both = [k for k in jobs if k in theirs]
            pairs = [pair(SearchResult.load(ref["folder"] / theirs[k]["file"]),
                          SearchResult.load(run["folder"] / mine[k]["file"])) for k in both]
            agree = [rates_agree(mine[k]["found"], mine[k]["attempts"], theirs[k]["found"], theirs[k]["attempts"])
                     for k in both]
            r_avg = [pearson(run["summary"].average[g, n, k[2], k[3]], ref["summary"].average[g, n, k[2], k[3]])
                     for k in both]
            rows.append({
                "backend": backend, "group": group, "net": n, "model": records[0]["model"],
                "config": records[0]["config"], "searches": len(records), "seconds": total_s,
                "load_average": float(np.mean(loads)) if loads else math.nan,
                "example_steps": int(steps), "example_steps_per_s": steps / total_s if total_s else math.nan,
                "found": int(found), "attempts": int(attempts),
                "success_rate": found / attempts if attempts else math.nan,
                "rates_agree": int(sum(agree)), "rates_compared": len(agree),
                "r_average_median": nanmedian(r_avg) if r_avg else math.nan,
                "r_average_min": float(np.nanmin(r_avg)) if r_avg and not np.all(np.isnan(r_avg)) else math.nan,
                **combine(pairs)})
    return rows


def _verdicts(runs: dict, rounds: int) -> dict:
    """claim id -> backend -> verdict (or why it is not judged on this many rounds)."""
    out: dict = {}
    for backend, run in runs.items():
        for c in run["claims"]:
            verdict = c["verdict"] if judged(c["id"], rounds) else "not judged (needs >= 2 rounds)"
            out.setdefault(c["id"], {})[backend] = verdict
    return out


def load_runs(output_dir, backends: list[str]) -> dict:
    """backend -> what its worker wrote (record, summary, claims); the reference engine must be there."""
    if REFERENCE not in backends:
        raise ValueError(f"the comparison needs the reference engine ({REFERENCE}) among the backends.")
    return {b: _load(Path(output_dir), b) for b in backends}


def compare(runs: dict, rounds: int, preset: str) -> dict:
    """Everything the item shows (what ``frameworks.json`` holds), from the workers' results."""
    backends = list(runs)
    verdicts = _verdicts(runs, rounds)
    result = {
        "reference": REFERENCE, "preset": preset, "rounds": rounds,
        "backends": [{"name": b, **{k: run["record"][k] for k in ("device", "versions", "stages_s")}}
                     for b, run in runs.items()],  # in run order (the JSON file sorts keys)
        "models": [row for b in backends for row in _model_rows(b, runs[b], runs[REFERENCE])],
        "verdicts": verdicts,
        "same_verdict_everywhere": {cid: len(set(v.values())) == 1 for cid, v in verdicts.items()},
    }
    return result


def _g(value: float) -> str:
    """A number in 3 significant figures, as a table cell ("-" for NaN)."""
    return "\u2014" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _rate(value: float) -> str:
    return "\u2014" if math.isnan(value) else f"{value / 1e6:.3g}M"


def tables(result: dict) -> tuple[Table, Table]:
    """The speed-and-agreement table and the verdicts table."""
    rows = []
    for m in result["models"]:
        ref = m["backend"] == result["reference"]
        rows.append((LABELS.get(m["backend"], m["backend"]), f"{m['model']} ({m['group']})",
                     _rate(m["example_steps_per_s"]), _g(m["seconds"]), _g(m["load_average"]),
                     f"{m['success_rate']:.4f}",
                     f"{m['rates_agree']}/{m['rates_compared']}", _g(m["same_success"]), _g(m["same_steps"]),
                     _g(m["median_step_difference"]), _g(m["max_x_difference"]),
                     "1 (itself)" if ref else _g(m["r_average_median"])))
    speed = Table(
        ("backend", "model", "example-steps/s", "searches (s)", "load average", "success rate", "rates agree (digits)",
         "same outcome", "same outcome and steps", "median |step diff|", "max |x diff| (same steps)",
         "r(averaged images), median"), tuple(rows),
        f"Paper A's searches ({result['rounds']} round(s)) of the same saved models on each engine, compared "
        f"with {LABELS[result['reference']]}'s attempt by attempt (the same start noise). Gradient descent at "
        "lr 100 is chaotic: attempts whose step counts differ have diverged, and there the success rates "
        "(agreeing when their Wilson 95% intervals overlap), the averaged images and the verdicts are what "
        "should agree, not bits. Speed: example-steps of the attempts kept per second of search wall time, on "
        + "; ".join(f"{LABELS.get(b['name'], b['name'])} {b['device']}" for b in result["backends"])
        + "; the load average is the machine's (1 minute, as each search ended): above its core count, other "
        "work shared the cores and the speeds are not the engines' (benchmarks/ measures those).")
    backends = [b["name"] for b in result["backends"]]
    verdict_rows = tuple((cid, *[v.get(b, "\u2014") for b in backends],
                          result["same_verdict_everywhere"][cid]) for cid, v in result["verdicts"].items())
    verdicts = Table(("claim", *[LABELS.get(b, b) for b in backends], "same on every backend"), verdict_rows,
                     "Each claim of paper A judged by its pre-registered rule on each engine's results.")
    return speed, verdicts


def _speed_panel(ax, result: dict) -> None:
    backends = [b["name"] for b in result["backends"]]
    models = list(dict.fromkeys((m["model"], m["group"]) for m in result["models"]))
    width = 0.8 / len(backends)
    for i, b in enumerate(backends):
        rate = {(m["model"], m["group"]): m["example_steps_per_s"] for m in result["models"] if m["backend"] == b}
        ax.bar(np.arange(len(models)) + (i - (len(backends) - 1) / 2) * width,
               [rate.get(k, math.nan) / 1e6 for k in models], width, label=LABELS.get(b, b), color=f"C{i}")
    ax.set_xticks(range(len(models)), [f"{m.replace('mlp_', '')}\n({g})" for m, g in models], fontsize=6.5)
    ax.set_ylabel("million example-steps/s", fontsize=8)
    ax.set_title("Speed of the searches", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def _success_panel(ax, runs: dict, net: int) -> None:
    backends = list(runs)
    for i, b in enumerate(backends):
        s = runs[b]["summary"]
        found, tried = s.found[0, net].sum(axis=0), s.attempts[0, net].sum(axis=0)
        rate = np.where(tried > 0, found / np.maximum(tried, 1), np.nan)
        lo, hi = wilson_interval(found, tried)
        x = np.arange(10) + (i - (len(backends) - 1) / 2) * 0.2
        ax.errorbar(x, rate, yerr=[rate - lo, hi - rate], fmt="o", ms=3, capsize=2, color=f"C{i}",
                    label=LABELS.get(b, b))
    ax.set_xticks(range(10))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("digit", fontsize=8)
    ax.set_ylabel("success rate (95% interval)", fontsize=8)
    ax.set_title(f"Success per digit: {runs[backends[0]]['summary'].net_name(0, net)} (trained)", fontsize=9)
    ax.grid(alpha=0.3)


def make_frameworks(output_dir, backends: list[str], rounds: int, preset: str) -> list[Path]:
    """Writes ``frameworks.json``, the two tables and the figure into ``output_dir``; returns the files."""
    output_dir = Path(output_dir)
    runs = load_runs(output_dir, backends)
    result = compare(runs, rounds, preset)
    out = Output(output_dir, preset)
    speed, verdicts = tables(result)
    made = [artifacts.write_json(output_dir / f"{ITEM_ID}.json", artifacts.jsonable(result)),
            *write_table(speed, out, ITEM_ID), *write_table(verdicts, out, VERDICTS_ID)]
    fig = new_figure(13.0, 3.2 + 1.25 * 2 * len(backends) + 0.6)
    top, bottom = fig.subfigures(2, 1, height_ratios=(3.2, 1.25 * 2 * len(backends) + 0.6))
    axes = top.subplots(1, 3, width_ratios=(1.3, 1, 1))
    _speed_panel(axes[0], result)
    for net in range(2):
        _success_panel(axes[1 + net], runs, net)
    rows = [(f"{LABELS.get(b, b)}\n{runs[b]['summary'].net_name(0, net).replace('mlp_', '')}",
             runs[b]["summary"].average[0, net, 0], None, None) for net in range(2) for b in backends]
    image_grid(bottom, rows, [str(d) for d in range(10)])
    bottom.suptitle("Averaged adversarial images of round 0 (trained nets), per engine "
                    "(each row has its own grey scale)", fontsize=9)
    made += save_figure(fig, out, ITEM_ID)
    return made
