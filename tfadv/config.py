"""Frozen settings: training configurations (PROTOCOL.md section 2).

Every setting that changes a result lives in a frozen dataclass here, so a
result can be keyed by the settings that made it (``to_dict``).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Attributes:
      name: registry name; part of the model's file name.
      optimizer: ``"adam"`` or ``"sgd"``.
      learning_rate: optimizer step size.
      momentum: SGD momentum (ignored by Adam).
      batch_size: examples per step.
      epochs: passes over the training set; 0 leaves the model untrained.
      shuffle_labels: train on a fixed random permutation of the labels (the
        shuffled-label control of PROTOCOL.md section 2).
    """

    name: str
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    batch_size: int = 128
    epochs: int = 5
    shuffle_labels: bool = False

    def __post_init__(self):
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}.")
        if self.epochs < 0 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(f"invalid training configuration {self}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def trained(self) -> bool:
        """False for the untrained control (no training steps)."""
        return self.epochs > 0


TRAIN_CONFIGS: dict[str, TrainConfig] = {
    c.name: c
    for c in (
        # PROTOCOL.md section 2, paper B's three configurations.
        TrainConfig("default"),
        TrainConfig("sgd", optimizer="sgd", learning_rate=0.05, momentum=0.9,
                    batch_size=32, epochs=3),
        TrainConfig("short", epochs=1),
        # Controls: the same number of steps as `default` on shuffled labels,
        # and no training at all.
        TrainConfig("shuffled", shuffle_labels=True),
        TrainConfig("untrained", epochs=0),
        # The MLPs need longer training than `default` to clear their floors
        # (sigmoid 95%/97%, ReLU 97.5%): measured in BUILD_NOTES.md.
        TrainConfig("long", batch_size=32, epochs=20),
        # The smoke preset's brief training (models are used below their floors).
        TrainConfig("brief", epochs=2),
    )
}


def get_train_config(name: str) -> TrainConfig:
    """Returns the training configuration registered under ``name``."""
    try:
        return TRAIN_CONFIGS[name]
    except KeyError:
        raise ValueError(
            f"Unknown training configuration {name!r}; known: {', '.join(TRAIN_CONFIGS)}."
        ) from None


# The model zoo: every (model, dataset) of PROTOCOL.md section 2 with its main
# training configuration, the one its accuracy floor is checked at.
ZOO: tuple[tuple[str, str, str], ...] = (
    ("mlp_shallow_sigmoid", "mnist", "long"),
    ("mlp_deep_sigmoid", "mnist", "long"),
    ("mlp_shallow_relu", "mnist", "long"),
    ("mlp_deep_relu", "mnist", "long"),
    ("mlp_deep_relu", "fashion_mnist", "long"),
    ("cnn_relu", "mnist", "default"),
    ("cnn_relu", "fashion_mnist", "default"),
    ("cnn_sigmoid", "mnist", "default"),
    ("cnn_sigmoid", "fashion_mnist", "default"),
)


@dataclasses.dataclass(frozen=True)
class AttackSettings:
    """One setting of the evolution (PROTOCOL.md section 3).

    ``loss``, ``lr``, ``max_steps``, ``stop``, ``kappa`` and ``clip`` go to
    ``tfadv.attack.evolve``; ``start`` (with ``start_mean``/``start_sd`` for
    ``"normal"``) names the start distribution.
    """

    loss: str = "mse"
    lr: float = 100.0
    max_steps: int = 1000
    stop: str = "argmax"
    kappa: float | None = None
    clip: tuple[float, float] | None = (0.0, 1.0)
    start: str = "uniform"
    start_mean: float = 0.5
    start_sd: float = 0.5

    def evolve_options(self) -> dict:
        return dict(loss=self.loss, lr=self.lr, max_steps=self.max_steps, stop=self.stop,
                    kappa=self.kappa, clip=self.clip)

    def start_options(self) -> dict:
        return dict(mean=self.start_mean, sd=self.start_sd) if self.start == "normal" else {}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class EyesConfig:
    """Paper A's experiment ("Through Neural Nets' Eyes", PROTOCOL.md sections 3-6).

    Attributes:
      nets: the two sigmoid MLPs (shallow, deep).
      relu_nets: their ReLU variants (``eyes_act``).
      train_config: training configuration of every net.
      rounds: training rounds R (seeds 0..R-1) of each net, and of the
        untrained controls.
      n_success: adversarial examples wanted per digit.
      max_attempts: the attempt cap per digit.
      attack: the evolution's settings.
      sensitivity_n_success, sensitivity_max_attempts: the smaller search of
        each ``eyes_tab4`` variant (round 0 only).
      budgets: step budgets of the success-against-budget curve (``eyes_fig4``).
      enforce_floors: drop models below their accuracy floor (the protocol);
        False only for the smoke preset, whose models train briefly.
    """

    nets: tuple[str, ...] = ("mlp_shallow_sigmoid", "mlp_deep_sigmoid")
    relu_nets: tuple[str, ...] = ("mlp_shallow_relu", "mlp_deep_relu")
    train_config: str = "long"
    rounds: int = 5
    n_success: int = 1000
    max_attempts: int = 20000
    attack: AttackSettings = AttackSettings()
    sensitivity_n_success: int = 200
    sensitivity_max_attempts: int = 4000
    budgets: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    enforce_floors: bool = True

    def sensitivity_variants(self) -> tuple[tuple[str, AttackSettings], ...]:
        """``eyes_tab4``: one setting changed at a time from ``attack``."""
        a = self.attack
        return (
            ("no clipping", dataclasses.replace(a, clip=None)),
            ("start N(0.5, 0.5)", dataclasses.replace(a, start="normal", start_mean=0.5, start_sd=0.5)),
            ("start N(0, 1)", dataclasses.replace(a, start="normal", start_mean=0.0, start_sd=1.0)),
            (f"lr {a.lr / 10:g}", dataclasses.replace(a, lr=a.lr / 10)),
            (f"lr {a.lr * 10:g}", dataclasses.replace(a, lr=a.lr * 10)),
            ("stop confidence >= 0.5", dataclasses.replace(a, stop="confidence", kappa=0.5)),
        )


@dataclasses.dataclass(frozen=True)
class Preset:
    """A whole reproduction's settings: paper A's and paper B's."""

    name: str
    eyes: EyesConfig


PRESETS: dict[str, Preset] = {
    "paper": Preset("paper", EyesConfig()),
    # Small but real: every stage runs on real data with real models, in minutes.
    "quick": Preset("quick", EyesConfig(
        train_config="brief", rounds=2, n_success=100, max_attempts=1000,
        attack=AttackSettings(max_steps=200), sensitivity_n_success=20,
        sensitivity_max_attempts=200, budgets=(0, 1, 2, 5, 10, 20, 50, 100, 200),
        enforce_floors=False)),
}


def get_preset(name: str) -> Preset:
    """Returns the preset registered under ``name``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown preset {name!r}; known: {', '.join(PRESETS)}.") from None
