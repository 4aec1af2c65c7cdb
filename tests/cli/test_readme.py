"""README is for people: short, and every command it shows runs as written.

Each fenced ``bash`` block of README.md is either a line of ``.ci/run`` (the two set-up
commands: CI runs them verbatim) or one of ``RUN_BY_TESTS``, which
``test_commands.py`` runs in a fresh clone, verbatim but for the placeholder path of
your images. Each ``$ command`` shown in a ``text`` block is run there too, and the
lines README shows after it must be what it prints."""

import re

from tests.cli.conftest import ROOT

README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci/run").read_text().splitlines()

# README's commands that test_commands.py runs, as written (IMAGES: a folder of images).
IMAGES = "/path/to/images"
OWN_IMAGES = f"kedro run --pipeline finetune --params target.data_dir={IMAGES}"
REFINETUNE = (
    'kedro run --pipeline transfer --params "finetune.phases.1.epochs=5,'
    'finetune.phases.1.learning_rate=0.0005"'
)
BAD_PARAMETER = "kedro run --pipeline finetune --params pretrain.epochs=0"
RUN_BY_TESTS = {OWN_IMAGES, REFINETUNE}


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.M | re.S)


def shown_commands() -> dict[str, list[str]]:
    """``$ command`` lines of the text blocks, each with the lines shown after it."""
    shown = {}
    for block in fenced("text"):
        lines = block.rstrip("\n").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ "):
                output = []
                for after in lines[i + 1 :]:
                    if after.startswith("$ "):
                        break
                    output.append(after)
                shown[line[2:]] = output
    return shown


def test_readme_is_short():
    assert len(README.splitlines()) <= 170
    assert len(README.split()) <= 1300


def test_every_bash_block_is_run_by_ci_or_by_a_test_as_written():
    blocks = [block.strip() for block in fenced("bash")]
    assert len(blocks) == 4
    for block in blocks:
        assert "\n" not in block, f"one command per block, please: {block!r}"
        assert block in CI or block in RUN_BY_TESTS, f"nothing runs README's {block!r}"
    # the set-up commands: the main job, then the tests, in CI, verbatim
    # ... installed at the lock file's exact versions (docs/PACKAGING.md)
    assert blocks[0].endswith(
        "pip install -e . -c constraints.txt && kedro run --pipeline finetune"
    )
    assert 'pip install -e ".[test]" -c constraints.txt &&' in blocks[1]
    assert blocks[1].endswith("&& pytest") and blocks[0] in CI and blocks[1] in CI
    assert CI.index(blocks[0]) < CI.index(blocks[1])


def test_every_command_shown_with_its_output_is_run_by_a_test():
    assert set(shown_commands()) == {BAD_PARAMETER}


def test_every_link_of_readme_leads_to_a_file():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
