"""Every parameter block of conf/base against the class that declares it: the YAML names
no key the class does not know, gives every key the class requires, and where both
carry a default they agree — a notebook calling the library gets what a run gets."""

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from resnet_finetune.errors import ParameterError
from resnet_finetune.schema import Parameters, as_built, validate_parameters

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = object()

# The YAML block that documents each class in full (its keys are the class's fields);
# other blocks of the same class give only what differs for their task.
FULL_BLOCKS = (
    "compute",
    "checkpoints",
    "label_suspects",
    "evaluate",
    "evaluate.report",
    "predict",
    "export",
    "backbone",
    "synthetic",
    "target.validation",
    "target.split",
    "target.quality",
    "target.input",
    "target.augmentation",
)


def yaml_parameters() -> dict:
    merged = {}
    for path in sorted((ROOT / "conf/base").glob("parameters*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def block_class(annotation):
    """The class (pydantic model or dataclass) a field's annotation declares, if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and (
            issubclass(candidate, BaseModel) or dataclasses.is_dataclass(candidate)
        ):
            return candidate
    return None


def fields(block: type) -> dict[str, tuple]:
    """``name: (annotation, default or REQUIRED)`` of a block class."""
    if issubclass(block, BaseModel):
        return {
            name: (f.annotation, REQUIRED if f.default is PydanticUndefined else f.default)
            for name, f in block.model_fields.items()
        }
    return {
        f.name: (f.type, REQUIRED if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(block)
    }


def blocks(tree: dict, block: type, path: str = ""):
    """``(path, YAML mapping, class)`` of every block of the YAML, nested ones included."""
    yield path, tree, block
    declared = fields(block)
    for key, value in tree.items():
        inner = block_class(typing.get_type_hints(block).get(key, declared.get(key, [None])[0]))
        if isinstance(value, dict) and inner is not None:
            yield from blocks(value, inner, f"{path}.{key}" if path else key)


ALL = list(blocks(yaml_parameters(), Parameters))[1:]


def test_every_full_block_is_walked():
    assert set(FULL_BLOCKS) <= {path for path, _, _ in ALL}


@pytest.mark.parametrize(("path", "given", "block"), ALL, ids=[p for p, _, _ in ALL])
def test_a_yaml_block_and_its_class_name_the_same_keys_and_defaults(path, given, block):
    declared = fields(block)
    assert set(given) <= set(declared), f"{path}: keys the class does not know"
    required = {name for name, (_, default) in declared.items() if default is REQUIRED}
    assert required <= set(given), f"{path}: required keys missing"
    if path in FULL_BLOCKS:
        assert set(given) == set(declared), f"{path}: not every field documented"
        for key, value in given.items():
            default = declared[key][1]
            if default is REQUIRED or value == "auto" or isinstance(value, dict):
                continue  # the YAML is the only default, or the recipe chooses it
            if dataclasses.is_dataclass(default) or isinstance(default, BaseModel):
                continue  # a nested block: walked on its own
            assert value == (list(default) if isinstance(default, tuple) else default), (
                f"{path}.{key}: YAML {value!r}, class {default!r}"
            )


def test_a_split_takes_the_runs_seed_and_names_none_of_its_own():
    """One seed per run (``seed``): ``SplitSpec`` has no field for it, so a split block
    that names one is refused as a typo instead of being silently overruled."""
    with pytest.raises(ParameterError, match=r"target.split.seed: unknown key"):
        validate_parameters({"target": {"input": {}, "split": {"seed": 7}}})


MIXUP_TRUE = {"mixup": True}


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (  # a key of a library class nested in another: its own keys are listed
            {"evaluate": {"report": {"grad_cam": 8, "gradcam": 8}}},
            "evaluate.report.gradcam: unknown key (a typo?); allowed: "
            "['grad_cam', 'label_suspects', 'misclassified']",
        ),
        (  # null is allowed, though pydantic names no branch for it
            {"finetune": {"time_budget_minutes": 0}},
            "finetune.time_budget_minutes=0: input should be greater than 0, or input should "
            "be 'auto', or null",
        ),
        (
            {"label_suspects": {"max_images": "all"}},
            "label_suspects.max_images='all': input should be a valid integer, unable to parse "
            "string as an integer, or null",
        ),
        (  # converted by pydantic (true → 1.0), refused by the class as Kedro will build it
            {
                "target": {
                    "input": {"image_size": [8, 8], "batch_size": 2},
                    "augmentation": {"mixup": True},
                }
            },
            "target.augmentation.mixup=True must lie in [0, inf)",
        ),
        (
            {"target": {"input": {"image_size": [8, 8], "batch_size": "8"}}},
            "target.input.batch_size='8' must be an integer >= 1",
        ),
        ({"compute": {"deterministic": "no"}}, "compute.deterministic='no' must be true or false"),
        (  # a string crashed the class's check, true was read as width 1
            {"backbone": {"architecture": "resnet20", "width": "0.5"}},
            "backbone.width='0.5' must lie in (0, inf)",
        ),
        (
            {"backbone": {"architecture": "resnet20", "width": True}},
            "backbone.width=True must lie in (0, inf)",
        ),
        (  # a block inside a block: the whole key
            {"evaluate": {"report": {"grad_cam": True}}},
            "evaluate.report.grad_cam=True must be an integer >= 0",
        ),
        (  # not nullable: no "or null"
            {"seed": "x"},
            "seed='x': input should be a valid integer\n",
        ),
    ],
)
def test_a_bad_value_is_told_with_every_value_the_key_takes(given, said):
    with pytest.raises(ParameterError) as error:
        validate_parameters(given)
    assert said in str(error.value) + "\n"


def test_a_value_pydantic_would_convert_is_refused_where_the_class_checks_nothing():
    """What a node receives is the block Kedro builds from the values as given: where a
    class would take a converted value without a check of its own, the schema refuses it."""

    @dataclasses.dataclass(frozen=True)
    class Flags:
        on: bool = False
        __pydantic_config__ = {"extra": "forbid"}

    adapter = TypeAdapter(as_built(Flags))
    assert adapter.validate_python({"on": True}) == Flags(on=True)
    assert Flags(on="no").on == "no"  # what Kedro would build: truthy
    with pytest.raises(ValidationError, match=r"on='no' must be a bool, not a str"):
        adapter.validate_python({"on": "no"})
