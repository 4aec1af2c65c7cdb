"""The recipe: every ``auto`` parameter replaced by a value chosen for the data.

``resolve_recipe`` is called once, before any work (``resnet_finetune.context``), on the
parameters after Kedro has merged base, environment and ``--params``: a value a user
gave is never ``auto``, so it always wins; what is left ``auto`` is chosen here.

- The digits demo (``target.data_dir`` null) gets its few-shot recipe, ``DEMO``, the
  values its measured results were made with: 16x16, ResNet-20 pretrained on digits 0-4.
- A user's folder gets every image (fraction splits), augmentation for photographs
  (horizontal flips, random resized crops) and a start from ImageNet: ResNet-50 V1 at
  224x224 with "caffe" preprocessing, what keras.applications' weights expect. Where the
  weights cannot be obtained the run says why and how to give them, in one line, and
  trains ``SCRATCH``: a half-width ResNet-18 at up to 112x112 with AdamW, a cosine
  schedule and as many epochs as a few minutes of two CPU cores allow on that many images.
  ``backbone.weights: synthetic`` trains that network and recipe too, from weights
  pretrained on generated fractals (``data.synthetic``) instead of random ones.

The chosen values are returned in place of ``auto`` together with a ``recipe`` block
(the start, the data facts and why each choice was made), which travels with the
parameters into every model card, report and MLflow run.

Library code: no Kedro here.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

from resnet_finetune.errors import ParameterError
from resnet_finetune.trees import get_path, leaves, set_path

logger = logging.getLogger(__name__)

AUTO = "auto"
# The blocks whose `auto` values the recipe chooses (compute.* has `auto` values of its
# own, which resnet_finetune.training.Compute resolves for the hardware).
RECIPE_BLOCKS = ("backbone", "source", "target", "finetune", "baseline")

# The demo's recipe, as measured (README, "Results"); applies only with target.data_dir null.
DEMO = {
    "backbone": {
        "weights": "pretrain",
        "architecture": "resnet20",
        "width": 1.0,
        "preprocessing": "tf",
    },
    "source": {"input": {"image_size": [16, 16]}},
    "target": {
        "split": {"train_per_class": 20, "val_per_class": 10},
        "input": {"image_size": [16, 16], "batch_size": 16, "cache": "memory"},
        "augmentation": {
            "flip": "none",
            "rotation": 0.04,
            "zoom": 0.1,
            "translation": 0.1,
            "random_resized_crop": None,
        },
    },
    "finetune": {
        "time_budget_minutes": None,
        "training": {"early_stopping_patience": 8},
        "phases": [
            {"name": "frozen backbone", "unfreeze_stages": 0, "epochs": 10, "learning_rate": 0.01},
            {
                "name": "backbone unfrozen",
                "unfreeze_stages": "all",
                "epochs": 30,
                "learning_rate": 0.001,
                "train_batchnorm": True,
            },
        ],
    },
    "baseline": {"learning_rate": 0.003},
}

# Photographs: flips (left and right look alike) and random resized crops (objects at
# many scales and places); no rotation (photos are taken upright).
PHOTO_AUGMENTATION = {
    "flip": "horizontal",
    "rotation": 0.0,
    "zoom": 0.0,
    "translation": 0.0,
    "random_resized_crop": [0.35, 1.0],
}
# ImageNet-pretrained ResNet-50 V1: the weights keras.applications publishes.
IMAGENET_NETWORK = ("resnet50", "v1")
# From scratch: a ResNet-18 at half width: 4x fewer operations than the full width, the
# difference between minutes and a quarter of an hour on two CPU cores.
SCRATCH_ARCHITECTURE = "resnet18"
SCRATCH_WIDTH = 0.5
SCRATCH_MAX_SIDE = 112
SCRATCH_IMAGES_SEEN = 8000  # epochs x training images: about 3 minutes on 2 CPU cores
SCRATCH_LEARNING_RATE = 0.002
SCRATCH_TRAINING = {"warmup_epochs": 2, "label_smoothing": 0.1, "weight_decay": 0.05}
IMAGENET_IMAGES_SEEN = 20000
# finetune.time_budget_minutes: auto on a CPU (a GPU runs the full recipe): a run a person
# waits for on a laptop. Three minutes: on 2 CPU cores a pretrained ResNet-50's run on
# 245 photos costs about that much before any epoch of an unfrozen stage (its fixed costs,
# the feature pass and the label suspects' pass), so the budget buys the head on cached
# features there and unfrozen epochs on faster machines.
CPU_BUDGET_MINUTES = 3
# What a run spends besides the passes the estimate counts (start-up and this timing,
# ingestion, building and saving models, calibration, label suspects' cross-validation,
# Grad-CAM, plots and reports): about 90 s on 2 idle CPU cores. From the log of
# `transfer` on hymenoptera (245 photos, ResNet-50, 2026-12-03, idle): 34 s to the
# recipe, 6 s to fine-tuning, 20 s after its epochs, 10 s of the suspects beyond their
# pass, 18 s of reports and exit; the passes' set-ups are measured, not counted here.
RUN_OVERHEAD_SECONDS = 90
# The share of finetune.time_budget_minutes the baseline may take when it runs: the
# fine-tuning phases (and the run's fixed costs) get the rest. Without a baseline (the
# `transfer` pipeline, `baseline: none`) the phases get the whole budget.
BASELINE_BUDGET_SHARE = 0.25
# input.cache: auto keeps decoded images in memory below this share of available memory.
MEMORY_SHARE = 0.25


def auto_keys(tree, prefix: str = "") -> list[str]:
    """Dotted keys whose value is ``auto``."""
    return [path for path, value in leaves(tree, prefix) if value == AUTO]


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable``), or 0 if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def data_facts(data_dir: str, sample: int = 24) -> dict:
    """What the recipe needs to know of a folder: images per class, declared splits, and
    the median short side of a sample of its images (read from headers, not decoded)."""
    from PIL import Image

    from resnet_finetune.data.listing import list_images

    files, _ = list_images(Path(data_dir).expanduser())
    per_class = files["label"].value_counts().sort_index()
    splits = sorted(files["split"].dropna().unique()) if "split" in files else []
    sides = []
    for path in files["path"].sample(min(sample, len(files)), random_state=0):
        try:
            with Image.open(path) as image:
                sides.append(min(image.size))
        except OSError:
            continue
    return {
        "images": len(files),
        "classes": len(per_class),
        "smallest_class": [str(per_class.idxmin()), int(per_class.min())] if len(files) else None,
        "declared_splits": [str(s) for s in splits if s],
        "train_images": int((files["split"] == "train").sum()) if splits else None,
        "median_short_side": int(sorted(sides)[len(sides) // 2]) if sides else None,
    }


def _batch_size(training_images: int) -> int:
    """32 images a batch, fewer for a small folder: at least 4 batches an epoch."""
    return max(1, min(32, training_images // 4))


def _training_images(facts: dict, split: dict) -> int:
    """About how many images will train: declared train split or what fractions leave."""
    held_out = float(split.get("val_fraction") or 0) + (
        0.0 if facts["declared_splits"] else float(split.get("test_fraction") or 0)
    )
    images = facts.get("train_images") or facts["images"]
    return max(1, int(images * (1 - held_out)))


def _validation_images(facts: dict, split: dict) -> int:
    """About how many images validate each epoch: ``val_fraction`` of the declared train
    split, or of every image."""
    images = facts.get("train_images") or facts["images"]
    return int(images * float(split.get("val_fraction") or 0))


class Recipe:
    """Fills ``auto`` values of one parameter tree, remembering why."""

    def __init__(self, parameters: dict):
        self.parameters = parameters
        self.why: dict[str, str] = {}
        self.estimate: dict | None = None  # the run's duration on this machine, once measured

    def choose(self, path: str, value, why: str) -> None:
        """Set ``path`` to ``value`` if it is ``auto``; a user's value is kept."""
        if get_path(self.parameters, path) == AUTO:
            set_path(self.parameters, path, copy.deepcopy(value))
            self.why[path] = why

    def value(self, path: str):
        return get_path(self.parameters, path)


def _weights_line(reason: str) -> str:
    return (
        f"ImageNet weights unavailable ({reason}): training from scratch instead. "
        "Alternatives: a downloaded weights file, --params backbone.weights=/path/to/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5, or say it: "
        "--params backbone.weights=none"
    )


def _choose_start(recipe: Recipe, fetch) -> tuple[str, str]:
    """``(start, reason)``: where the backbone starts for a user's folder — ImageNet
    (downloaded or a file), the user's own pretraining, or from scratch."""
    from resnet_finetune.models.resnet import (
        IMAGENET_MODELS,
        WeightsUnavailable,
        imagenet_network_of_file,
    )

    weights = recipe.value("backbone.weights")
    source_dir = recipe.value("source.data_dir")
    architecture = recipe.value("backbone.architecture")
    variant = recipe.value("backbone.variant") or "v1"
    network = (architecture if architecture != AUTO else IMAGENET_NETWORK[0], variant)
    if weights == "pretrain":
        if not source_dir:
            raise ParameterError(
                "backbone.weights='pretrain' with target.data_dir set pretrains on the digits "
                "demo, which does not help photographs: give your own pretraining images "
                "(source.data_dir=PATH), or set backbone.weights to auto (ImageNet), imagenet, "
                "none or a weights file"
            )
        return "pretrain", f"your own pretraining images ({source_dir})"
    if weights == "synthetic":
        return "synthetic", _synthetic_reason(recipe)
    if weights == AUTO and network not in IMAGENET_MODELS:
        reason = f"no ImageNet weights exist for {network[0]} {network[1]} (backbone.architecture)"
        recipe.choose("backbone.weights", "none", reason)
        return "scratch", reason
    if weights in (AUTO, "imagenet"):
        try:
            path = fetch(*network)
        except WeightsUnavailable as error:
            if weights == "imagenet":
                raise ParameterError(
                    f"backbone.weights='imagenet': {error.reason}. Alternatives: "
                    "--params backbone.weights=/path/to/"
                    f"{network[0]}_weights_tf_dim_ordering_tf_kernels_notop.h5 (a "
                    "keras.applications file downloaded elsewhere), or backbone.weights=none"
                ) from None
            logger.warning(_weights_line(error.reason))
            recipe.choose(
                "backbone.weights", "none", f"ImageNet weights unavailable: {error.reason}"
            )
            return "scratch", f"ImageNet weights unavailable: {error.reason}"
        recipe.choose(
            "backbone.weights", "imagenet", f"keras.applications ImageNet weights ({path})"
        )
        return "imagenet", f"keras.applications' ImageNet weights, {path}"
    if weights == "none":
        return "scratch", "backbone.weights=none (given)"
    found = imagenet_network_of_file(weights) if str(weights).endswith(".h5") else None
    if found is not None:
        recipe.choose("backbone.architecture", found[0], f"the network of {weights}")
        return "imagenet", f"ImageNet weights from the file {weights} ({found[0]} {found[1]})"
    return "file", f"weights from {weights}"


def _synthetic_reason(recipe: Recipe) -> str:
    from resnet_finetune.data.synthetic import SyntheticImages

    spec = SyntheticImages(**(recipe.value("synthetic") or {}))
    return (
        f"pretrained on generated fractals, {spec.categories} categories x "
        f"{spec.images_per_category} images{' with shuffled labels' if spec.shuffle_labels else ''}"
        " (synthetic.*): made on first use, then reused"
    )


def _imagenet_recipe(recipe: Recipe, training_images: int) -> None:
    from resnet_finetune.models.resnet import IMAGENET_INPUT

    architecture = recipe.value("backbone.architecture")
    if architecture == AUTO:
        recipe.choose("backbone.architecture", IMAGENET_NETWORK[0], "the ImageNet network")
    variant = recipe.value("backbone.variant") or "v1"
    side, preprocessing = IMAGENET_INPUT.get(variant, (224, "tf"))
    recipe.choose("backbone.preprocessing", preprocessing, f"what the {variant} weights expect")
    recipe.choose("backbone.width", 1.0, "the width the ImageNet weights have")
    recipe.choose("target.input.image_size", [side, side], "the size the ImageNet weights saw")
    recipe.choose(
        "target.input.batch_size",
        _batch_size(training_images),
        "photographs: 32, or fewer to keep 4 batches an epoch",
    )
    epochs = max(4, min(30, round(IMAGENET_IMAGES_SEEN / training_images)))
    head = max(2, epochs // 4)
    recipe.choose(
        "finetune.phases",
        [
            {
                "name": "frozen backbone",
                "unfreeze_stages": 0,
                "epochs": head,
                "learning_rate": 0.001,
            },
            {
                "name": "top stages unfrozen",
                "unfreeze_stages": 2,
                "epochs": epochs - head,
                "learning_rate": 0.0001,
            },
        ],
        f"{training_images} training images: {epochs} epochs in all, head first, then the "
        "top two stages at a tenth of the rate (BatchNorm frozen)",
    )
    recipe.choose("finetune.training.early_stopping_patience", 5, "on validation loss")
    recipe.choose("baseline.learning_rate", SCRATCH_LEARNING_RATE, "AdamW from scratch")


def _scratch_side(facts: dict) -> int:
    side = facts.get("median_short_side") or SCRATCH_MAX_SIDE
    return max(32, min(SCRATCH_MAX_SIDE, side // 16 * 16))


def _scratch_epochs(training_images: int) -> int:
    return max(10, min(60, round(SCRATCH_IMAGES_SEEN / training_images)))


def _scratch_baseline(recipe: Recipe, facts: dict, training_images: int) -> None:
    """For a pretrained start, the baseline is the from-scratch recipe (``SCRATCH_*``):
    what the user would get without the pretrained weights, in minutes, instead of a
    second copy of the big network. The images arrive at the fine-tuned size and are
    resized inside the baseline model. A key the user gave is kept."""
    baseline = recipe.value("baseline")
    if not isinstance(baseline, dict):
        return
    side = _scratch_side(facts)
    epochs = _scratch_epochs(training_images)
    why = (
        f"the from-scratch recipe as baseline: {SCRATCH_ARCHITECTURE} at width {SCRATCH_WIDTH}, "
        f"{side} px, {epochs} epochs (about {SCRATCH_IMAGES_SEEN} images seen), not a second "
        "copy of the pretrained network"
    )
    chosen = {
        "architecture": SCRATCH_ARCHITECTURE,
        "width": SCRATCH_WIDTH,
        "image_size": [side, side],
        "preprocessing": "tf",
        "epochs": epochs,
        "learning_rate": SCRATCH_LEARNING_RATE,
        "early_stopping_patience": None,
        **SCRATCH_TRAINING,
    }
    for key, value in chosen.items():
        if baseline.get(key, AUTO) == AUTO:
            baseline[key] = value
            recipe.why[f"baseline.{key}"] = why


def _scratch_recipe(recipe: Recipe, facts: dict, training_images: int, why: str) -> None:
    recipe.choose("backbone.architecture", SCRATCH_ARCHITECTURE, "from scratch: small and fast")
    recipe.choose("backbone.preprocessing", "tf", "no pretrained weights to match")
    recipe.choose(
        "backbone.width",
        SCRATCH_WIDTH,
        "half the channels: minutes, not a quarter hour, on 2 CPU cores",
    )
    side = _scratch_side(facts)
    recipe.choose(
        "target.input.image_size",
        [side, side],
        f"median short side {facts.get('median_short_side')} px, at most {SCRATCH_MAX_SIDE} "
        "for minutes on a CPU",
    )
    recipe.choose(
        "target.input.batch_size",
        _batch_size(training_images),
        "photographs: 32, or fewer to keep 4 batches an epoch",
    )
    epochs = _scratch_epochs(training_images)
    recipe.choose(
        "finetune.phases",
        [
            {
                "name": "from scratch",
                "unfreeze_stages": "all",
                "epochs": epochs,
                "learning_rate": SCRATCH_LEARNING_RATE,
                "train_batchnorm": True,
                **SCRATCH_TRAINING,
            },
        ],
        f"{training_images} training images: {epochs} epochs (about {SCRATCH_IMAGES_SEEN} "
        f"images seen), AdamW {SCRATCH_LEARNING_RATE}, cosine schedule, every layer learning",
    )
    recipe.choose("finetune.training.early_stopping_patience", None, "the cosine schedule runs out")
    recipe.choose(
        "baseline.learning_rate", SCRATCH_LEARNING_RATE, "the same recipe as the fine-tuning"
    )
    baseline = recipe.value("baseline")
    if isinstance(baseline, dict):
        for key, value in SCRATCH_TRAINING.items():
            if key not in baseline:
                baseline[key] = value
                recipe.why[f"baseline.{key}"] = "the same recipe as the fine-tuning"


def measure_speed(parameters: dict):
    """Seconds per image on this machine of the fine-tuned network (forward pass, training
    step with every layer learning) and of the baseline's training step, at their sizes
    (0 when ``baseline`` is not a block: none, or not run), with each pass's set-up."""
    import dataclasses

    import keras

    from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
    from resnet_finetune.training.budget import measure
    from resnet_finetune.training.finetune import baseline_network

    size = tuple(parameters["target"]["input"]["image_size"])
    network = BackboneSpec(**{**parameters["backbone"], "weights": "none"})
    speed = measure(build_classifier(build_backbone(network), 2, image_size=size), size)
    baseline = parameters.get("baseline")
    if isinstance(baseline, dict):
        small_network, resize_to = baseline_network(network, baseline)
        small = build_classifier(
            build_backbone(small_network), 2, image_size=size, resize_to=resize_to
        )
        timed = measure(small, size, forward=False)
        speed = dataclasses.replace(
            speed, baseline_train=timed.train, baseline_setup=timed.train_setup
        )
    keras.backend.clear_session()
    return speed


def _size_to_budget(
    recipe: Recipe, facts: dict, training_images: int, speed, baseline_runs: bool
) -> None:
    """Time the networks on this machine, estimate the run and, within
    ``finetune.time_budget_minutes``, shorten the phases and the baseline the recipe chose
    (a list or epochs the user gave are kept): when the baseline runs, it gets at most
    ``BASELINE_BUDGET_SHARE`` of the budget and the phases the rest; when it does not, the
    phases get the whole budget and the baseline is neither timed nor counted. The
    estimate goes into the recipe."""
    from resnet_finetune.training.budget import (
        baseline_epoch_seconds,
        baseline_seconds,
        epochs_within,
        fit_budget,
        run_seconds,
    )
    from resnet_finetune.training.compute import accelerators

    device = accelerators()[0]
    recipe.choose(
        "finetune.time_budget_minutes",
        CPU_BUDGET_MINUTES if device == "cpu" else None,
        f"{CPU_BUDGET_MINUTES} min on a CPU" if device == "cpu" else f"{device}: the full recipe",
    )
    budget = recipe.value("finetune.time_budget_minutes")
    if (recipe.value("compute") or {}).get("distribution") == "multi_worker":
        return  # no TensorFlow operation may run before that strategy exists: not timed
    baseline = recipe.value("baseline") if baseline_runs else "none"
    measured = speed({**recipe.parameters, "baseline": baseline})
    validation = _validation_images(facts, recipe.value("target.split") or {})
    test = max(0, int(facts["images"]) - training_images - validation)
    suspects = (recipe.value("label_suspects") or {}).get("enabled", False)

    def estimate(phases: list[dict], baseline_epochs: int) -> float:
        return RUN_OVERHEAD_SECONDS + run_seconds(
            measured,
            train_images=training_images,
            validation_images=validation,
            test_images=test,
            phases=phases,
            baseline_epochs=baseline_epochs,
            ranked_images=int(facts["images"]) if suspects else 0,
        )

    baseline_epochs = baseline.get("epochs", 0) if isinstance(baseline, dict) else 0
    phases = recipe.value("finetune.phases")
    if budget is not None:
        share = BASELINE_BUDGET_SHARE if baseline_epochs else 0.0
        fitted = fit_budget(budget * 60 * (1 - share), estimate, phases, 0)[0]
        sized = f"; sized to the {budget:g}-min budget at this machine's measured speed"
        if fitted != phases and "finetune.phases" in recipe.why:
            recipe.parameters["finetune"]["phases"] = phases = fitted
            recipe.why["finetune.phases"] += sized
        fitted_epochs = epochs_within(
            budget * 60 * share - measured.baseline_setup,
            baseline_epoch_seconds(measured, training_images, validation),
            baseline_epochs,
        )
        if fitted_epochs != baseline_epochs and "baseline.epochs" in recipe.why:
            baseline["epochs"] = baseline_epochs = fitted_epochs
            recipe.why["baseline.epochs"] += (
                f"; at most {BASELINE_BUDGET_SHARE:.0%} of the {budget:g}-min budget at this "
                "machine's measured speed"
            )
    recipe.estimate = {
        "seconds": round(estimate(phases, baseline_epochs)),
        **(
            {
                "baseline_seconds": round(
                    baseline_seconds(measured, training_images, validation, baseline_epochs)
                )
            }
            if baseline_epochs
            else {}
        ),
        "device": device,
        "budget_minutes": budget,
        "seconds_per_image": {
            "forward": measured.forward,
            "train": measured.train,
            "baseline_train": measured.baseline_train,
        },
        "setup_seconds": {
            "forward": measured.forward_setup,
            "train": measured.train_setup,
            "baseline_train": measured.baseline_setup,
        },
    }


def _cache(recipe: Recipe, images: int, memory: int) -> None:
    size = recipe.value("target.input.image_size")
    if recipe.value("target.input.cache") != AUTO or not isinstance(size, list):
        return
    needed = images * size[0] * size[1] * 3
    fits = memory > 0 and needed < MEMORY_SHARE * memory
    recipe.choose(
        "target.input.cache",
        "memory" if fits else "disk",
        f"{images} images x {size[0]}x{size[1]}x3 = {needed / 2**20:.0f} MiB "
        f"{'<' if fits else '>='} {MEMORY_SHARE:.0%} of {memory / 2**30:.1f} GiB available",
    )


def resolve_recipe(
    parameters: dict,
    *,
    fetch=None,
    memory: int | None = None,
    speed=None,
    baseline_runs: bool = True,
    trains: bool = True,
) -> dict:
    """The parameters with every ``auto`` value chosen, and a ``recipe`` block saying
    which start the backbone has and why each value was chosen. ``fetch(architecture,
    variant)`` obtains ImageNet weights (default: download once into the Keras cache);
    ``speed(parameters)`` measures this machine (default: ``measure_speed``);
    ``baseline_runs``: whether the pipelines run train the baseline (``finetune`` does,
    ``transfer`` does not), which decides how the time budget is shared; ``trains``:
    whether they train at all (``predict``, ``evaluate`` and ``export`` do not, so the
    machine is not timed for them)."""
    from resnet_finetune.models.resnet import fetch_imagenet_weights

    resolved = copy.deepcopy(parameters)
    if not _recipe_autos(resolved):
        return resolved
    recipe = Recipe(resolved)
    target_dir = recipe.value("target.data_dir")
    if not target_dir:
        for path, value in leaves(DEMO):
            recipe.choose(path, value, "the digits demo's measured recipe")
        facts, start, reason = {"images": "embedded digits"}, "pretrain", "the digits demo"
        if recipe.value("backbone.weights") == "synthetic":
            start, reason = "synthetic", _synthetic_reason(recipe)
        elif recipe.value("backbone.weights") != "pretrain":
            start, reason = str(recipe.value("backbone.weights")), "given"
    else:
        from resnet_finetune.config import check_image_folder

        check_image_folder("target.data_dir", target_dir)  # a folder of classes, or why not
        facts = data_facts(str(target_dir))
        start, reason = _choose_start(recipe, fetch or fetch_imagenet_weights)
        recipe.choose("target.split.train_per_class", None, "every image is used")
        recipe.choose("target.split.val_per_class", None, "every image is used")
        for key, value in PHOTO_AUGMENTATION.items():
            recipe.choose(f"target.augmentation.{key}", value, "photographs")
        training = _training_images(facts, recipe.value("target.split") or {})
        if start == "imagenet":
            _imagenet_recipe(recipe, training)
        else:
            _scratch_recipe(recipe, facts, training, reason)
        if start in ("scratch", "synthetic"):  # synthetic: the same network and training
            recipe.choose(
                "finetune.time_budget_minutes", None, "the from-scratch recipe is sized already"
            )
        else:
            _scratch_baseline(recipe, facts, training)
            if trains:
                _size_to_budget(recipe, facts, training, speed or measure_speed, baseline_runs)
            else:
                recipe.choose("finetune.time_budget_minutes", None, "this run trains nothing")
        recipe.choose(
            "source.input.image_size",
            recipe.value("target.input.image_size"),
            "the target's size (the backbone sees one size)",
        )
        _cache(recipe, int(facts["images"]), available_memory() if memory is None else memory)
    left = _recipe_autos(resolved)
    if left:
        raise ParameterError(f"no recipe chooses {left}: give them a value")
    resolved["recipe"] = {
        "start": start,
        "start_reason": reason,
        "data": facts,
        "chosen": recipe.why,
        "baseline_runs": baseline_runs,
        **({"estimate": recipe.estimate} if recipe.estimate else {}),
    }
    return resolved


def _recipe_autos(parameters: dict) -> list[str]:
    return [key for block in RECIPE_BLOCKS for key in auto_keys(parameters.get(block), f"{block}.")]


def _by_reason(recipe: dict) -> dict[str, list[str]]:
    """The chosen keys grouped by the reason they were chosen for (one line each)."""
    reasons: dict[str, list[str]] = {}
    for key, why in (recipe.get("chosen") or {}).items():
        reasons.setdefault(why, []).append(key)
    return reasons


def describe_baseline(parameters: dict) -> str:
    """Which baseline a run trains: network, size and epochs, ``none``, or that the run's
    pipelines train none (``transfer``)."""
    from resnet_finetune.training.engine import TrainingOptions
    from resnet_finetune.training.finetune import baseline_options, make_phases

    baseline = parameters.get("baseline")
    if not isinstance(baseline, dict):
        return "none (baseline: none): no from-scratch comparison"
    if not (parameters.get("recipe") or {}).get("baseline_runs", True):
        return "not trained by this run (its pipeline has none; `--pipeline finetune` trains one)"
    backbone, finetune = parameters.get("backbone") or {}, parameters.get("finetune") or {}
    size = baseline.get("image_size") or (parameters.get("target") or {}).get("input", {}).get(
        "image_size"
    )
    shared = TrainingOptions(**finetune.get("training", {}))
    phases = finetune.get("phases")
    epochs = baseline_options(
        shared, make_phases(shared, phases) if isinstance(phases, list) else [], baseline
    ).epochs
    return (
        f"{baseline.get('architecture', backbone.get('architecture'))} width "
        f"{baseline.get('width', backbone.get('width', 1.0))} from scratch at {size} px, "
        f"{epochs} epochs"
    )


def _estimate_line(estimate: dict) -> str:
    from resnet_finetune.training.budget import format_minutes

    device = "CPU" if estimate["device"] == "cpu" else estimate["device"].upper()
    budget = estimate.get("budget_minutes")
    return f"{format_minutes(estimate['seconds'])} on this {device}" + (
        f" (budget {budget:g} min: finetune.time_budget_minutes)" if budget else " (no budget)"
    )


def describe(parameters: dict) -> str:
    """The recipe of resolved ``parameters`` as a short block a person reads."""
    recipe = parameters.get("recipe") or {}
    backbone, target = parameters.get("backbone", {}), parameters.get("target", {})
    facts = recipe.get("data", {})
    phases = (parameters.get("finetune") or {}).get("phases") or []
    augmentation = {
        k: v
        for k, v in (target.get("augmentation") or {}).items()
        if v not in (0, 0.0, None, "none")
    }
    lines = [
        "Recipe for this run:",
        f"  data:         {facts}",
        f"  start:        {recipe.get('start')} ({recipe.get('start_reason')})",
        f"  backbone:     {backbone.get('architecture')} {backbone.get('variant', 'v1')} "
        f"width {backbone.get('width', 1.0)}, weights={backbone.get('weights')}, "
        f"preprocessing {backbone.get('preprocessing')}",
        f"  input:        {target.get('input', {}).get('image_size')} px, batch "
        f"{target.get('input', {}).get('batch_size')}, cache {target.get('input', {}).get('cache')}"
        f", split {target.get('split')}",
        f"  augmentation: {augmentation}",
        *(
            f"  phase {i + 1}:      {p.get('name')}: {p.get('epochs')} epochs at lr "
            f"{p.get('learning_rate')}, unfrozen {p.get('unfreeze_stages')}"
            for i, p in enumerate(phases)
        ),
        f"  baseline:     {describe_baseline(parameters)}",
        *(f"  estimate:     {_estimate_line(e)}" for e in [recipe.get("estimate")] if e),
        "  why:",
        *(f"    {why}: {', '.join(keys)}" for why, keys in _by_reason(recipe).items()),
        "  (every value above can be set with the same key, e.g. "
        "--params target.input.image_size=[160,160])",
    ]
    return "\n".join(lines)
