"""Parameters from the command line and from environments: lists, brackets, one nested key."""

import re

import click
import pytest
import yaml
from click.testing import CliRunner

import resnet_finetune.cli as cli
from resnet_finetune.cli import parse_parameters, split_parameters
from resnet_finetune.context import _apply_items, _take_pending_items
from resnet_finetune.errors import ParameterError
from resnet_finetune.recipe import resolve_recipe
from resnet_finetune.settings import CONFIG_LOADER_ARGS, PENDING_ITEMS, ConfigLoader, override
from tests.cli.conftest import ROOT


def test_params_split_on_commas_between_parameters_only():
    text = "target.input.image_size=[64,64], seed=1,finetune.phases=[{name: a, epochs: 2}],x='a,b'"
    assert split_parameters(text) == [
        "target.input.image_size=[64,64]",
        "seed=1",
        "finetune.phases=[{name: a, epochs: 2}]",
        "x='a,b'",
    ]


# A quote, bracket or parenthesis inside a value, as a user types a title.
ODD_TITLES = ["Tom's matrix", 'the "best" run', "matrix (v2", "matrix v2)", "a [b", "a ]b", "a {x"]


@pytest.mark.parametrize("title", ODD_TITLES)
def test_a_quote_or_bracket_inside_a_value_never_swallows_the_next_key(title):
    parameters = parse_parameters(
        click.Context(cli.run), None, f"evaluate.title={title},evaluate.top_k=1,seed=3"
    )
    assert parameters == {"evaluate": {"title": title, "top_k": 1}, "seed": 3}


def test_quoted_values_keep_their_commas_and_escaped_quotes():
    text = """a='Tom''s, matrix',b="say \\"hi\\", twice",c=[it's, 'x,y'],d={k: 'v,w'},e=1"""
    assert parse_parameters(click.Context(cli.run), None, text) == {
        "a": "Tom's, matrix",
        "b": 'say "hi", twice',
        "c": ["it's", "x,y"],
        "d": {"k": "v,w"},
        "e": 1,
    }


@pytest.mark.parametrize(
    "text", ["evaluate.title='Tom,evaluate.top_k=1", "evaluate.class_names=[a, b,evaluate.top_k=1"]
)
def test_an_unclosed_quote_or_bracket_is_refused_naming_the_item(text):
    with pytest.raises(click.UsageError, match=re.escape(f"--params: {text!r} has an unclosed")):
        parse_parameters(click.Context(cli.run), None, text)


def test_an_unquoted_comma_in_a_value_is_refused_with_the_quoting_that_works():
    """A folder named with a comma, unquoted, would split into two items: refused, and
    the message's own example, typed as it says, gives the folder whole."""
    with pytest.raises(click.UsageError) as error:
        parse_parameters(click.Context(cli.run), None, "target.data_dir=photos, 2024")
    example = re.search(r"--params '([^']+)'", str(error.value)).group(1)
    assert "'2024' is not key=value" in str(error.value)
    parsed = parse_parameters(click.Context(cli.run), None, example)
    assert parsed == {"target": {"data_dir": "photos, 2024"}}


def test_the_run_command_passes_each_key_of_an_odd_value_on(monkeypatch):
    received = {}
    fake = click.Command(
        "run", params=cli._kedro_run().params, callback=lambda **o: received.update(o)
    )
    monkeypatch.setattr(cli, "_kedro_run", lambda: fake)
    arguments = ["--pipeline", "evaluate", "--params", "evaluate.title=Tom's (v2],evaluate.top_k=1"]
    result = CliRunner().invoke(cli._make_run(), arguments)
    assert result.exit_code == 0, result.output
    assert received["params"] == {"evaluate": {"title": "Tom's (v2]", "top_k": 1}}


def test_an_item_of_a_list_is_overridden_by_its_index_and_the_rest_is_kept():
    base = {"finetune": {"phases": [{"epochs": 10, "name": "a"}, {"epochs": 30, "name": "b"}]}}
    merged = override(base, {"finetune": {"phases": {"1": {"epochs": 5}}}})
    assert merged["finetune"]["phases"] == [{"epochs": 10, "name": "a"}, {"epochs": 5, "name": "b"}]
    assert base["finetune"]["phases"][1]["epochs"] == 30  # not modified in place
    whole = override(base, {"finetune": {"phases": [{"epochs": 1}]}})
    assert whole["finetune"]["phases"] == [{"epochs": 1}]  # a list value replaces the list


def test_an_index_past_the_end_of_a_list_is_refused_by_name():
    base = {"finetune": {"phases": [{}, {}]}}
    with pytest.raises(ValueError, match=r"finetune.phases.2: finetune.phases is a list of 2"):
        override(base, {"finetune": {"phases": {"2": {"epochs": 1}}}})


def loader(conf, env, runtime=None):
    return ConfigLoader(str(conf), env=env, runtime_params=runtime, **CONFIG_LOADER_ARGS)


@pytest.mark.parametrize("env", ["local", "small_images"])
def test_an_environment_setting_one_nested_key_changes_that_key_only(tmp_path, env):
    conf = tmp_path / "conf"
    (conf / env).mkdir(parents=True)
    (conf / "base").symlink_to(ROOT / "conf/base")
    (conf / env / "parameters.yml").write_text("target:\n  input:\n    image_size: [48, 48]\n")
    base = loader(ROOT / "conf", "local")["parameters"]  # the repository's conf/local is empty
    parameters = loader(conf, env)["parameters"]
    assert parameters["target"]["input"]["image_size"] == [48, 48]
    parameters["target"]["input"]["image_size"] = base["target"]["input"]["image_size"]
    assert parameters == base  # every other key, nested or not, as in conf/base


def test_command_line_parameters_apply_over_an_environment(tmp_path):
    conf = tmp_path / "conf"
    (conf / "local").mkdir(parents=True)
    (conf / "base").symlink_to(ROOT / "conf/base")
    (conf / "local/parameters.yml").write_text(yaml.safe_dump({"finetune": {"head_dropout": 0.5}}))
    runtime = {"finetune": {"phases": {"0": {"epochs": 2}}}, "seed": 7}
    parameters = loader(conf, "local", runtime)["parameters"]
    assert parameters["finetune"]["head_dropout"] == 0.5
    assert parameters["seed"] == 7
    # The phases are `auto` (the recipe chooses them): the item waits for the recipe.
    assert parameters["finetune"]["phases"] == {PENDING_ITEMS: {"0": {"epochs": 2}}}
    pending = _take_pending_items(parameters)
    resolved = resolve_recipe(parameters)
    for path, items in pending.items():
        _apply_items(resolved, path, items)
    assert resolved["finetune"]["phases"][0]["epochs"] == 2
    assert resolved["finetune"]["phases"][1]["epochs"] == 30


@pytest.mark.parametrize(
    ("raised", "exit_code"), [(ParameterError("seed='x': not a number"), 2), (ValueError("x"), 1)]
)
def test_a_parameter_error_is_told_apart_by_its_type(monkeypatch, raised, exit_code):
    def failing_run(**options):
        raise raised

    fake = click.Command("run", params=cli._kedro_run().params, callback=failing_run)
    monkeypatch.setattr(cli, "_kedro_run", lambda: fake)
    result = CliRunner().invoke(cli._make_run(), ["--pipeline", "evaluate"])
    assert result.exit_code == exit_code
    if exit_code == 2:
        assert result.output == "Error: Parameters: seed='x': not a number\n"
    else:
        assert result.exception is raised  # not a parameter: the traceback helps


def test_an_environment_merging_a_mapping_over_a_list_is_a_parameter_error(tmp_path):
    conf = tmp_path / "conf"
    (conf / "local").mkdir(parents=True)
    (conf / "base").symlink_to(ROOT / "conf/base")
    (conf / "local/parameters.yml").write_text("export:\n  formats: {onnx: true}\n")
    with pytest.raises(ParameterError, match="Cannot merge incompatible container types"):
        loader(conf, "local")["parameters"]
