"""Paper A's readings of the settings it leaves open (PROTOCOL.md section 8).

Each reading changes one setting from the pre-registered protocol (the
primary reading), plus the combination the paper's text supports best
(classic training with the fixed budget). A reading is a whole ``EyesConfig``:
its searches and summary are made like the primary ones, on the trained nets
and their untrained controls only (no ReLU variants, no ``eyes_tab4``), and
every claim is judged on it. The stop-rule readings share their attacks with
the primary searches (``stages.search_families``).
"""

from __future__ import annotations

import dataclasses

from tfadv.config import EyesConfig, get_train_config
from tfadv.paper import SettingReading

# The settings a reading changes, as reported in claims.json ("settings").
STOP_RULE = "A stop rule"
TRAINING = "A training"
ZERO_STEP = "zero-step successes"


def training_text(nets) -> str:
    """How the nets of a training reading are trained, in words (every round, MSE as in the protocol)."""
    c = get_train_config(nets[0][1])
    return (f"{c.name}: plain SGD, learning rate {c.learning_rate:g}, mini-batches of {c.batch_size}, "
            f"{c.epochs} epochs, MSE, every round")


def setting_readings(cfg: EyesConfig) -> list[SettingReading]:
    """The readings of paper A's settings under ``cfg`` (none when ``cfg.readings`` is off)."""
    if not cfg.readings:
        return []
    base = dataclasses.replace(cfg, relu_nets=(), sensitivity=False, readings=False)
    a = cfg.attack
    kappa = cfg.confidence_reading
    confidence = dataclasses.replace(a, stop="confidence", kappa=kappa)
    budget = dataclasses.replace(a, stop="budget", kappa=None)
    budget_text = f"fixed budget of {a.max_steps} steps (success: the label at the end)"
    classic = training_text(cfg.classic_nets)
    return [
        SettingReading("stop: confidence", {STOP_RULE: f"confidence >= {kappa:g}"},
                       dataclasses.replace(base, attack=confidence)),
        SettingReading("stop: fixed budget", {STOP_RULE: budget_text}, dataclasses.replace(base, attack=budget)),
        SettingReading("zero-step excluded", {ZERO_STEP: "excluded: a start the net already labels as the "
                                                         "digit is no attempt"},
                       dataclasses.replace(base, zero_step="excluded")),
        SettingReading("training: classic", {TRAINING: classic}, dataclasses.replace(base, nets=cfg.classic_nets)),
        SettingReading("classic + fixed budget", {TRAINING: classic, STOP_RULE: budget_text},
                       dataclasses.replace(base, nets=cfg.classic_nets, attack=budget)),
    ]
