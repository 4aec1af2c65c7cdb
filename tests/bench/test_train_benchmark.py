"""The training benchmark runs both cases and writes its section."""

import re

import pytest

from resnet_finetune.bench.cli import main


def test_benchmark_compares_our_step_with_keras_fit_and_writes_its_section(tmp_path, capsys):
    start = "<!-- train-benchmark resnet50-v1 32px batch2 auto tensorflow:start -->"
    end = start.replace(":start", ":end")
    document = tmp_path / "PERFORMANCE.md"
    document.write_text(f"# Performance\n\nintro\n\n{start}\nold\n{end}\n\nafter\n")
    arguments = [
        "train",
        "--image-size",
        "32",
        "--batch-size",
        "2",
        "--classes",
        "3",
        "--steps",
        "2",
        "--batches-per-epoch",
        "2",
        "--repeats",
        "1",
        "--write",
        str(document),
    ]
    main(arguments)
    text = document.read_text()
    assert text.startswith("# Performance\n\nintro\n\n") and text.endswith("\n\nafter\n")
    assert "old" not in text and text.count(start) == 1
    assert "### resnet50 v1, 32×32, batch 2, float32" in text
    number = r"([\d,.]+)"
    row = rf"^\| (\w+): .+? \| {number} \| {number}× \| {number} \| {number} \| {number} \|$"
    rows = re.findall(row, text, re.M)
    assert [row[0] for row in rows] == ["keras_fit", "ours"]
    assert rows[0][2] == "1.00"
    assert all(float(row[1].replace(",", "")) > 0 and float(row[5]) > 0 for row in rows)
    assert all(float(row[4].replace(",", "")) > 0 for row in rows)  # CPU ms per image
    assert "--image-size 32" in capsys.readouterr().out


def test_a_network_without_keras_applications_peer_is_refused_by_name():
    with pytest.raises(
        ValueError, match="--network resnet18 --variant v1 has no keras.applications peer"
    ):
        main(["train", "--network", "resnet18"])
