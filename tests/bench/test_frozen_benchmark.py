"""The frozen-phase benchmark times both routes and reports their ratio."""

import argparse
import re

from resnet_finetune.bench import common, frozen_phase


def options(**changes) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    frozen_phase.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in changes.items():
        setattr(args, key, value)
    return args


def test_a_case_times_one_finetune_call():
    result = frozen_phase.run_case(
        "cached_features", options(images=8, image_size=16, batch_size=4, epochs=1)
    )
    assert result["seconds"] > 0


def test_the_section_gives_each_route_and_the_speed_up(monkeypatch):
    seconds = {"through_model": [30.0, 20.0], "cached_features": [10.0, 12.0]}

    def child(command, case, opts):
        assert command == "frozen" and opts["--images"] == 200
        return {"seconds": seconds[case].pop(0), "keras": "3.x"}

    monkeypatch.setattr(common, "run_child", child)
    text, (start, end) = frozen_phase.section(options(), "python -m resnet_finetune.bench frozen")
    assert text.startswith(start) and text.endswith(end)
    rows = re.findall(r"^\| (\w+): .+? \| ([\d.]+) \| ([\d.]+)× \| (.+) \|$", text, re.M)
    assert rows == [
        ("through_model", "25.0", "1.00", "30.0, 20.0"),
        ("cached_features", "11.0", "2.27", "10.0, 12.0"),
    ]
