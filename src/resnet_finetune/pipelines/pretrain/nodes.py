"""Pretraining nodes: find or generate the source images, build a ResNet from scratch and
train it on the source task."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
from PIL import Image

from resnet_finetune.data.augment import Augmentation
from resnet_finetune.data.embedded import image_folder
from resnet_finetune.data.identity import data_identity
from resnet_finetune.data.input_pipeline import InputOptions
from resnet_finetune.data.listing import list_images
from resnet_finetune.data.synthetic import SyntheticImages, example_grid, write_fractal_folder
from resnet_finetune.data.training_set import TrainingSet
from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
from resnet_finetune.models.card import attach_card, make_card
from resnet_finetune.models.classifier import PRETRAINED_STARTS
from resnet_finetune.training import Compute, TrainingCheckpoint, train
from resnet_finetune.training.checkpoints import CheckpointOptions
from resnet_finetune.training.engine import TrainingOptions

logger = logging.getLogger(__name__)


def locate_source_images(
    data_dir: str | None,
    embedded: dict,
    weights: str,
    synthetic: SyntheticImages,
    input_options: InputOptions,
) -> str:
    """The pretraining images: with ``backbone.weights: synthetic`` the generated fractals
    (written once at the source's image size, then reused), else the source folder or
    the embedded digits."""
    if weights == "synthetic":
        size = input_options.image_size
        logger.info("synthetic images: %s", synthetic.folder(size))
        return str(write_fractal_folder(synthetic, size))
    return image_folder(data_dir, embedded)


def show_source_examples(image_root: str, classes: int = 8, per_class: int = 8) -> Image.Image:
    """The first ``per_class`` images of the first ``classes`` classes, a row each."""
    files, _ = list_images(image_root)
    chosen = files.groupby("label", sort=True).head(per_class)
    labels = sorted(chosen["label"].unique())[:classes]
    images = [
        np.asarray(Image.open(path).convert("RGB"))
        for label in labels
        for path in chosen.loc[chosen["label"] == label, "path"]
    ]
    return Image.fromarray(example_grid(images, columns=per_class))


def build_model(
    class_map: dict[str, int],
    backbone: BackboneSpec,
    input_options: InputOptions,
    augmentation: Augmentation,
    seed: int,
) -> keras.Model:
    """A freshly initialised classifier for the source classes."""
    keras.utils.set_random_seed(seed)
    return build_classifier(
        build_backbone(backbone),
        len(class_map),
        image_size=input_options.image_size,
        preprocessing=backbone.preprocessing,
        augmentation=augmentation.model_layers(seed),
    )


def train_model(
    model: keras.Model,
    data: TrainingSet,
    task: dict,
    training: TrainingOptions,
    compute: Compute,
    checkpoints: CheckpointOptions,
    seed: int,
    backbone: BackboneSpec,
    synthetic: SyntheticImages | None = None,
) -> tuple[keras.Model, pd.DataFrame]:
    """Train every layer of ``model``; return it with its per-epoch history. An
    interrupted run resumes from its checkpoint — only the same data, seed and settings
    (``task``: the ``source`` block, all of which is part of the checkpoint's identity).
    When ``backbone.weights`` is neither ``pretrain`` nor ``synthetic`` nothing will use a
    pretrained model: training is skipped, said in the log, and the untrained model and
    an empty history pass on (fine-tuning starts from what ``backbone.weights`` names; a
    run leaves these nodes out: ``hooks.PretrainingHook``). A model pretrained on
    generated images leaves with a card recording its settings (``synthetic`` among
    them), by which later runs find and reuse it."""
    weights = backbone.weights
    if weights not in PRETRAINED_STARTS:
        logger.info(
            "pretraining skipped: backbone.weights=%r, so fine-tuning starts from that, not "
            "from a model pretrained on the source task (pretraining runs with "
            "backbone.weights=pretrain and your own source.data_dir)",
            weights,
        )
        return model, pd.DataFrame(columns=["epoch", "loss", "accuracy"])
    keras.utils.set_random_seed(seed)
    identity = data_identity(data.manifest, task, seed)
    history = train(
        model,
        data.train,
        data.val,
        class_weight=data.class_weight,
        compute=compute,
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "pretrain", identity),
        options=training,
    )
    if weights == "synthetic":
        card = make_card(
            data.manifest,
            data.class_map,
            history,
            image_size=task["input"].image_size,
            resize=task["input"].resize,
            preprocessing=backbone.preprocessing,
            parameters={
                "seed": seed,
                "backbone": backbone,
                "source": task,
                "pretrain": training,
                "synthetic": synthetic,
            },
            dataset_sha256=identity["dataset_sha256"],
            summary=data.summary,
        )
        attach_card(model, card)
    return model, history
