"""The schema of the run's parameters: every key, its type and its range.

A typo in a key, a string where a number belongs, a fraction above 1: each is refused
before any work with the key's full name, the value given and what is allowed. Blocks
that a library function takes as an object are the library's own classes
(``TrainingOptions``, ``Compute``, ``ImageChecks``...): their defaults and checks live
there, and pydantic validates the YAML with them. Values whose allowed set lives in the
library (network names) and facts outside the parameters (a folder's images, a weights
file) are checked by ``config.check_parameters``.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WrapValidator,
    model_validator,
)

from resnet_finetune.data.augment import Augmentation
from resnet_finetune.data.class_weights import CLASS_WEIGHTS
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import InputOptions
from resnet_finetune.data.quality import QualitySpec
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.data.synthetic import SyntheticImages
from resnet_finetune.errors import ParameterError
from resnet_finetune.evaluation.inference import PredictOptions
from resnet_finetune.evaluation.label_issues import LabelIssueSpec
from resnet_finetune.evaluation.report import EvaluateOptions
from resnet_finetune.export.formats import ExportOptions
from resnet_finetune.models.classifier import BackboneSpec
from resnet_finetune.training.checkpoints import CheckpointOptions
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.engine import TrainingOptions
from resnet_finetune.training.finetune import baseline_options, make_phases

Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]
# "auto": chosen for the data by resnet_finetune.recipe before any work (the digits demo
# gets its measured recipe, a user's folder one fit for it); a value given always wins.
Auto = Literal["auto"]


def as_built(block: type):
    """A library block, validated by pydantic (each mistake with its key), then built as
    Kedro's typed parameters will build it for the nodes: ``block(**mapping)``, from the
    values as given. A value pydantic would convert (``true`` or ``"0.1"`` for a number,
    ``"no"`` for a flag) is refused here, before any work, instead of failing when Kedro
    builds the block or reaching a node as given."""

    def build(value, validate):
        validated = validate(value)
        if not isinstance(value, dict):
            return validated
        built = block(**value)  # the block's own checks, on the values as given
        for field in dataclasses.fields(block):
            read = getattr(validated, field.name)
            if field.name in value and read != getattr(built, field.name):  # 1 == 1.0
                raise ParameterError(
                    f"{field.name}={value[field.name]!r} must be a {type(read).__name__}, "
                    f"not a {type(value[field.name]).__name__} (YAML: no quotes)"
                )
        return built

    return Annotated[block, WrapValidator(build)]


class Block(BaseModel):
    """A parameter block: unknown keys are typos; YAML's types are taken as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Finetune(Block):
    head_dropout: Fraction = 0.0
    calibrate: bool = True
    training: as_built(TrainingOptions) = TrainingOptions()
    # Each phase: a phase's keys (resnet_finetune.training.finetune.Phase) and training
    # options overriding `training`; checked with both by `Parameters`.
    phases: Annotated[list[dict[str, Any]], Field(min_length=1)] | Auto = "auto"
    # auto: recipe.CPU_BUDGET_MINUTES on a CPU, no limit on a GPU or for the
    # demo; null: the full recipe. Shortens only what the recipe chose.
    time_budget_minutes: Annotated[float, Field(gt=0)] | None | Auto = "auto"


class Embedded(Block):
    dir: str
    digits: Annotated[list[Annotated[int, Field(ge=0, le=9)]], Field(min_length=2)]


class Task(Block):
    """An image-folder task: source, target or degradation."""

    data_dir: str | None = None
    embedded: Embedded | None = None
    validation: as_built(ImageChecks) = ImageChecks()
    split: as_built(SplitSpec) = SplitSpec()
    class_weights: Literal[CLASS_WEIGHTS] = "none"
    quality: as_built(QualitySpec) = QualitySpec()
    input: as_built(InputOptions)
    augmentation: as_built(Augmentation) = Augmentation()


class Degradation(Task):
    networks: Annotated[list[str], Field(min_length=1)]
    width: Annotated[float, Field(gt=0)] = 1.0
    training: as_built(TrainingOptions)


class FromScratch(Block):
    """Notebook 02's settings."""

    architecture: str
    networks: Annotated[list[str], Field(min_length=1)]
    images: Positive
    image_size: tuple[Positive, Positive]
    width: Annotated[float, Field(gt=0)] = 1.0
    batch_size: Positive
    training: as_built(TrainingOptions)

    model_config = ConfigDict(extra="forbid", strict=False)  # YAML gives lists


class Parameters(Block):
    seed: Count = 42
    intermediate_dir: str = "data/02_intermediate"
    compute: as_built(Compute) = Compute()
    checkpoints: as_built(CheckpointOptions) = CheckpointOptions()
    backbone: as_built(BackboneSpec) | None = None
    pretrain: as_built(TrainingOptions) | None = None
    # What backbone.weights: synthetic pretrains on.
    synthetic: as_built(SyntheticImages) | None = None
    finetune: Finetune | None = None
    # Training options overriding finetune.training (checked with them by `Parameters`)
    # and the network trained (training.finetune.BASELINE_NETWORK_KEYS); "none": no baseline.
    baseline: dict[str, Any] | Literal["none"] | None = None
    source: Task | None = None
    target: Task | None = None
    degradation: Degradation | None = None
    evaluate: as_built(EvaluateOptions) | None = None
    label_suspects: as_built(LabelIssueSpec) | None = None
    predict: as_built(PredictOptions) | None = None
    export: as_built(ExportOptions) | None = None
    from_scratch: FromScratch | None = None
    # Written by resnet_finetune.recipe (the start and why each auto value was chosen):
    # a record, not a setting.
    recipe: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _phases_and_baseline(self) -> Parameters:
        """Phases and the baseline are training options merged over
        ``finetune.training``: checked merged, as ``train`` will receive them."""
        if self.finetune is not None:
            phases = self.finetune.phases
            phases = [] if phases == "auto" else make_phases(self.finetune.training, phases)
            if isinstance(self.baseline, dict):
                baseline_options(self.finetune.training, phases, self.baseline)
        return self


# How pydantic names one branch of a union in an error's location: not a key.
_BRANCHES = ("int", "str", "float", "bool", "none")


def _keys(loc: tuple) -> tuple:
    """An error's location without pydantic's names of union branches: keys and indices."""
    return tuple(
        part
        for part in loc
        if isinstance(part, int)
        or (part not in _BRANCHES and "[" not in part and not part.startswith("constrained"))
    )


def _location(loc: tuple) -> str:
    """``('finetune', 'phases', 0, 'epochs')`` → ``finetune.phases[0].epochs``."""
    text = ""
    for part in _keys(loc):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _annotation(block: type, key: str):
    """A block's field's type: a library dataclass's evaluated, as its module postpones them."""
    if issubclass(block, BaseModel):
        field = block.model_fields.get(key)
        return field and field.annotation
    return typing.get_type_hints(block).get(key)


def _block_of(loc: tuple) -> type | None:
    """The block (a schema model or a library class) whose key ends ``loc``."""
    model: type = Parameters
    for part in _keys(loc)[:-1]:
        if isinstance(part, int):
            continue
        annotation = _annotation(model, part)
        candidates = getattr(annotation, "__args__", (annotation,))
        inner = [c for c in candidates for c in (c, *getattr(c, "__args__", ()))]
        models = [c for c in inner if isinstance(c, type) and _fields(c)]
        if not models:
            return None
        model = models[0]
    return model


def _allowed_keys(loc: tuple) -> list[str]:
    block = _block_of(loc)
    return sorted(_fields(block)) if block else []


def _takes_null(loc: tuple) -> bool:
    """Whether the key at ``loc`` may be null: pydantic names no branch for it."""
    block, key = _block_of(loc), _keys(loc)[-1]
    return bool(block) and type(None) in typing.get_args(_annotation(block, key))


def _fields(block: type) -> dict:
    """The keys of a parameter block: a schema model's or a library dataclass's."""
    if isinstance(block, type) and issubclass(block, BaseModel):
        return block.model_fields
    return getattr(block, "__dataclass_fields__", {})


def validate_parameters(parameters: dict) -> Parameters:
    """The parameters as typed blocks, or a ``ValueError`` listing every problem, one line
    each: the key, the value given and what is allowed."""
    try:
        return Parameters.model_validate(parameters)
    except ValidationError as error:
        problems: dict[str, list[str]] = {}
        nullable: set[str] = set()
        for problem in error.errors():
            key = _location(problem["loc"])
            if problem["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
                allowed = _allowed_keys(problem["loc"])
                problems[key] = [f"{key}: unknown key (a typo?); allowed: {allowed}"]
            elif problem["type"] == "missing":
                problems[key] = [f"{key}: missing"]
            elif problem["type"] == "value_error":  # a library class's own check
                said = problem["msg"].removeprefix("Value error, ")
                if key and not said.startswith(key):  # a field's own check: key.field=value
                    said = f"{key}{'.' if re.match(r'[a-z_.]+=', said) else ': '}{said}"
                problems[said] = [said]
            else:
                said = problems.setdefault(key, [f"{key}={problem['input']!r}: "])
                said[0] += ("" if said[0].endswith(": ") else ", or ") + problem["msg"].lower()
                if _takes_null(problem["loc"]):
                    nullable.add(key)
        for key in nullable:
            problems[key][0] += ", or null"
        lines = [text for said in problems.values() for text in said]
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(lines)) from None
