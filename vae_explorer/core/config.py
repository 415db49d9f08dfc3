"""Frozen run configuration that validates itself and round-trips through JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

OPTIMIZERS = ("adamax", "adam", "adamw", "sgd", "rmsprop")
DATASETS = ("mnist", "fashion-mnist")
ARCHS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "categorical", "gaussian")
DEVICES = ("auto", "cpu", "cuda")
MIXTURE_WEIGHTS = ("learnable", "uniform")
PRIOR_INITS = ("random", "kmeans")
SCHEDULES = ("constant", "cosine", "plateau")
MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed takes as a non-negative int64
MAX_EPOCHS = 10_000_000
MAX_IMAGES = 10**9


# What runs saved before a setting existed did: the mixture's means were drawn from N(0, I) before
# the k-means placement became the default, and the rate was constant, every epoch validated and
# every epoch's state saved before those settings existed (listed so that a later default leaves
# old runs as they ran).
LEGACY: dict[str, dict[str, Any]] = {
    "train": {
        "prior_init": "random",
        "schedule": "constant",
        "warmup_epochs": 0,
        "val_every": 1,
        "checkpoint_seconds": 0.0,
    }
}


def check_new_run(config: RunConfig) -> RunConfig:
    """What a run about to train must hold beyond `validate`, which also reads saved runs: settings
    that run but defeat themselves, refused when asked for, never when a saved run is read (runs
    saved before a rule must still open)."""
    train = config.train
    if train.warmup_epochs and train.warmup_epochs >= train.epochs:
        # the rate would never reach the one set, nor decay
        raise ConfigError(
            f"the learning-rate warm-up ({train.warmup_epochs} epochs) must be shorter than the run "
            f"({train.epochs} epochs): lower the warm-up or raise the max epochs"
        )
    return config


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class PriorKind:
    """A prior the app offers: its name in settings, its label, what builds it, and which of the
    mixture's settings apply to it. The class `factory` names (or is) must implement
    core.priors.LatentPrior; `build(model_config)` makes the module."""

    name: str
    label: str
    factory: str | Callable[[ModelConfig], Any]  # "module:attribute", or the callable itself
    components: bool = False  # it has K components: the K setting and the component views apply
    placeable: bool = False  # it can be placed on k-means clusters of codes (prior_init="kmeans")
    weights_option: bool = False  # its weights can be fixed (mixture_weights="uniform")


PRIOR_KINDS: dict[str, PriorKind] = {}


def register_prior(kind: PriorKind) -> PriorKind:
    """Offer a prior everywhere (settings, the CLI's --prior, the dialog, model building)."""
    PRIOR_KINDS[kind.name] = kind
    return kind


def prior_kind(name: str) -> PriorKind:
    if name not in PRIOR_KINDS:
        raise ConfigError(f"prior must be one of {', '.join(PRIOR_KINDS)}, not {_shown(name)}")
    return PRIOR_KINDS[name]


register_prior(
    PriorKind(
        "mog",
        "Mixture of Gaussians (learnable)",
        "vae_explorer.core.priors:MixtureOfGaussiansPrior.from_config",
        components=True,
        placeable=True,
        weights_option=True,
    )
)
register_prior(
    PriorKind("standard", "Standard Gaussian", "vae_explorer.core.priors:StandardNormalPrior.from_config")
)
# Tomczak & Welling 2018: the encoder's posteriors at K learned pseudo-inputs (K = `components`)
register_prior(
    PriorKind(
        "vampprior",
        "VampPrior (learned pseudo-inputs)",
        "vae_explorer.core.vampprior:VampPrior.from_config",
        components=True,
    )
)


@dataclass(frozen=True)
class DataConfig:
    """Which images, from where, and how many of each split (None = all)."""

    dataset: str = "mnist"
    root: str | None = None  # None: the bundled copy (MNIST only)
    download: bool = False
    limit_train: int | None = None
    limit_val: int | None = None
    limit_test: int | None = None

    def test_only(self, limit_test: int | None = None) -> DataConfig:
        """The same source, read for its test set alone (no download, one train/validation image)."""
        return replace(self, limit_train=1, limit_val=1, limit_test=limit_test, download=False)

    def validate(self) -> None:
        _choice("dataset", self.dataset, DATASETS)
        if self.root is not None and not isinstance(self.root, str):
            raise ConfigError(f"data root must be a folder name or null, not {_shown(self.root)}")
        _flag("download", self.download)
        for name in ("limit_train", "limit_val", "limit_test"):
            value = getattr(self, name)
            if value is not None:
                _whole(name, value, 1, MAX_IMAGES)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the encoder/decoder pair and of the prior."""

    arch: str = "mlp"
    hidden: int = 500
    latent_dim: int = 40
    prior: str = "mog"
    components: int = 16
    likelihood: str = "bernoulli"
    image_size: int = 28
    # learnable: softmax of free logits (the course); uniform: fixed equal weights, means and
    # variances still learned (the weights cannot drift towards the components already in use)
    mixture_weights: str = "learnable"

    def validate(self) -> None:
        _choice("arch", self.arch, ARCHS)
        _choice("prior", self.prior, tuple(PRIOR_KINDS))
        _choice("likelihood", self.likelihood, LIKELIHOODS)
        _choice("mixture_weights", self.mixture_weights, MIXTURE_WEIGHTS)
        _whole("hidden units", self.hidden, 1)
        _whole("latent dimension", self.latent_dim, 1)
        _whole("number of mixture components", self.components, 1)
        _whole("image size", self.image_size, 4, 4096)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule; defaults follow the course protocol."""

    optimizer: str = "adamax"
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 1000
    patience: int = 20
    seed: int = 0
    device: str = "auto"
    # epochs over which the weight of log q(z|x) - log p(z) in the training loss rises linearly
    # from 0 to 1 (KL warm-up); 0: the full negative ELBO from the start. Validation and test
    # figures are always the full negative ELBO.
    kl_warmup: int = 0
    # random: the mixture's means drawn from N(0, I) (the course); kmeans (the default): after the
    # first epoch the means, variances (and learnable weights) are refitted to k-means clusters of
    # encoder means of training images, so that every component starts where data lies. The
    # mixture study in the README measured it keeping all 16 components in use where the course's
    # placement kept 3, at a better test bound. Nothing to place for the standard prior.
    prior_init: str = "kmeans"
    # the learning rate's course over the run (core.schedule): constant (the course), cosine (a
    # warm-up over warmup_epochs, then down to 2% at the maximum epoch) or plateau (halved after 5
    # epochs without improvement)
    schedule: str = "constant"
    warmup_epochs: int = 0
    # validate (and so consider a new best, early stopping and last.pt) every this many epochs;
    # the run's last epoch is always validated. Patience still counts epochs.
    val_every: int = 1
    # write last.pt (the state to resume from) at most this often, in seconds of wall-clock time
    # (validation and pauses included); 0: after every validated epoch. The run's last state is
    # always written.
    checkpoint_seconds: float = 0.0

    def validate(self) -> None:
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("device", self.device, DEVICES)
        _choice("prior_init", self.prior_init, PRIOR_INITS)
        check_lr(self.lr)
        _whole("batch size", self.batch_size, 1)
        _whole("max epochs", self.epochs, 1, MAX_EPOCHS)
        _whole("patience", self.patience, 1)
        _whole("seed", self.seed, 0, MAX_SEED)
        _whole("KL warm-up (epochs)", self.kl_warmup, 0, MAX_EPOCHS)
        _choice("schedule", self.schedule, SCHEDULES)
        _whole("learning-rate warm-up (epochs)", self.warmup_epochs, 0, MAX_EPOCHS)
        if self.schedule != "cosine" and self.warmup_epochs:
            raise ConfigError(f"a learning-rate warm-up needs the cosine schedule, not {self.schedule!r}")
        _whole("validation interval (epochs)", self.val_every, 1, MAX_EPOCHS)
        if (
            isinstance(self.checkpoint_seconds, bool)
            or not isinstance(self.checkpoint_seconds, (int, float))
            or not 0 <= self.checkpoint_seconds <= 86_400
        ):
            raise ConfigError(
                f"checkpoint interval must be 0 to 86,400 seconds, not {_shown(self.checkpoint_seconds)}"
            )


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> RunConfig:
        self.data.validate()
        self.model.validate()
        self.train.validate()
        return self

    def with_lr(self, lr: float) -> RunConfig:
        return replace(self, train=replace(self.train, lr=lr))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Settings saved by this or an earlier version: a setting that did not exist yet takes
        the value the earlier version used, not today's default (see LEGACY)."""
        try:
            parts = {
                name: {**LEGACY.get(name, {}), **raw.get(name, {})} for name in ("data", "model", "train")
            }
            return cls(
                data=_build(DataConfig, parts["data"]),
                model=_build(ModelConfig, parts["model"]),
                train=_build(TrainConfig, parts["train"]),
            )
        except (TypeError, AttributeError) as exc:
            raise ConfigError(f"not a vae-explorer configuration: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"configuration is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError("configuration JSON must be an object")
        return cls.from_dict(raw)


# Named sets of model and training settings. "course" is the course protocol, spelled out here so
# that its numbers stay reproducible whatever the app's defaults become; "recommended" is the
# app's default: the course with the mixture placed by k-means after the first epoch.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "course": {
        "model": {
            "arch": "mlp",
            "hidden": 500,
            "latent_dim": 40,
            "prior": "mog",
            "components": 16,
            "likelihood": "bernoulli",
            "image_size": 28,
            "mixture_weights": "learnable",
        },
        "train": {
            "optimizer": "adamax",
            "lr": 1e-3,
            "batch_size": 32,
            "epochs": 1000,
            "patience": 20,
            "kl_warmup": 0,
            "prior_init": "random",
            "schedule": "constant",
            "warmup_epochs": 0,
            "val_every": 1,
            "checkpoint_seconds": 0.0,
        },
    },
}
PRESETS["recommended"] = {
    "model": dict(PRESETS["course"]["model"]),
    "train": {**PRESETS["course"]["train"], "prior_init": "kmeans"},
}
# the recommended model in a fraction of the time on a CPU (the time-to-quality study in the
# README): batches of 256 at 3x the rate, warmed up over 2 epochs and then decayed by a cosine to
# 2% at epoch 150; last.pt at most once a minute
PRESETS["fast"] = {
    "model": dict(PRESETS["recommended"]["model"]),
    "train": {
        **PRESETS["recommended"]["train"],
        "lr": 3e-3,
        "batch_size": 256,
        "epochs": 150,
        "schedule": "cosine",
        "warmup_epochs": 2,
        "checkpoint_seconds": 60.0,
    },
}

# the teaching lab's model (the Lab tab): a 2-D latent space, where log p(x), the true posterior
# and the aggregate posterior can be computed exactly on a grid; 300 hidden units and batches of
# 128 at a cosine-decayed rate train it on a CPU in minutes, ten components placed by k-means
PRESETS["lab2d"] = {
    "model": {**PRESETS["recommended"]["model"], "hidden": 300, "latent_dim": 2, "components": 10},
    "train": {
        **PRESETS["recommended"]["train"],
        "lr": 3e-3,
        "batch_size": 128,
        "epochs": 20,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "checkpoint_seconds": 60.0,
    },
}


def apply_preset(name: str, config: RunConfig) -> RunConfig:
    """`config` with the model and training settings of the preset `name` (data, seed and device kept)."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, not {name!r}")
    preset = PRESETS[name]
    return replace(
        config,
        model=replace(config.model, **preset["model"]),
        train=replace(config.train, **preset["train"]),
    )


def preset_of(config: RunConfig) -> str | None:
    """The name of the preset whose settings `config` has, or None."""
    for name in PRESETS:
        if apply_preset(name, config) == config:
            return name
    return None


def nll_label(likelihood: str) -> str:
    """The axis label of a model's nll. A Gaussian model's nll is a density of continuous
    intensities: its numbers cannot be compared with a binarised model's nats."""
    if likelihood == "gaussian":
        return "nll (continuous density, nats; not comparable with binarised)"
    if likelihood == "categorical":
        return "nll (nats, 256 grey levels)"
    return "nll (nats)"


def check_lr(lr: float) -> float:
    """Raise ConfigError unless `lr` is a positive finite number."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"learning rate must be a positive finite number, not {_shown(lr)}")
    return float(lr)


def format_lr(lr: float) -> str:
    """`lr` as `:g` writes it (1e-3 -> '0.001', 1e6 -> '1e+06') when that reads back as `lr`, else
    in full, so that different rates never share a run folder, a legend entry or a settings field."""
    short = f"{lr:g}"
    return short if float(short) == lr else repr(float(lr))


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {_shown(value)}")


def _whole(name: str, value: int, low: int, high: int | None = None) -> None:
    """A whole number (never a bool, a float or text) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, not {_shown(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low:,}" if high is None else f"from {low:,} to {high:,}"
        raise ConfigError(f"{name} must be {bounds}, not {_shown(value)}")


def _flag(name: str, value: bool) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {_shown(value)}")


def _shown(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it: its repr, cut to `limit` characters."""
    text = (
        repr(value)
        if not isinstance(value, int) or abs(value) < 10**30
        else f"a {len(str(value))}-digit number"
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _build(kind: type, raw: dict[str, Any]):
    known = {f.name for f in fields(kind)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} settings: {', '.join(sorted(unknown))}")
    return kind(**raw)
