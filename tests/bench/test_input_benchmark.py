"""The input benchmark runs both pipelines on one folder and writes its section."""

import re

from resnet_finetune.bench.cli import main
from resnet_finetune.bench.common import write_section
from resnet_finetune.bench.input_pipeline import markers
from tests.conftest import write_image


def test_benchmark_compares_with_keras_and_replaces_its_section(tmp_path, capsys):
    for offset, label in enumerate(("ants", "bees")):
        for index in range(8):
            path = tmp_path / "data" / label / f"{index}.jpg"
            write_image(path, size=(40, 30), fmt="JPEG", seed=10 * offset + index)
    document = tmp_path / "PERFORMANCE.md"
    start, end = markers(16)
    document.write_text(f"# Performance\n\nintro\n\n{start}\nold\n{end}\n\nafter\n")
    main(
        [
            "input",
            "--data-dir",
            str(tmp_path / "data"),
            "--image-size",
            "16",
            "--batch-size",
            "4",
            "--repeats",
            "1",
            "--write",
            str(document),
        ]
    )
    text = document.read_text()
    assert text.startswith("# Performance\n\nintro\n\n") and text.endswith("\n\nafter\n")
    assert "old" not in text and text.count(start) == 1 and "### 16×16" in text
    rows = re.findall(
        r"^\| (.+?) \| ([\d,]+) \| ([\d.]+)× \| ([\d,]+) \| ([\d.]+) \| ([\d,]+) \|$", text, re.M
    )
    assert len(rows) == 7
    assert rows[0][0].startswith("`image_dataset_from_directory`") and rows[0][2] == "1.00"
    assert all(float(row[1].replace(",", "")) > 0 and float(row[4]) > 0 for row in rows)
    assert "16 images" in text and "16×16, batch 4" in text
    assert "--image-size 16" in capsys.readouterr().out


def test_a_section_written_adds_no_title(tmp_path):
    markers = ("<!-- s:start -->", "<!-- s:end -->")
    section = f"{markers[0]}\n### Case\n\n| a |\n{markers[1]}"
    new = tmp_path / "new.md"
    write_section(new, section, markers)
    assert new.read_text() == section + "\n"
    document = tmp_path / "PERFORMANCE.md"
    document.write_text("# Performance\n\nintro\n")
    write_section(document, section, markers)
    write_section(document, section.replace("| a |", "| b |"), markers)
    text = document.read_text()
    assert text == f"# Performance\n\nintro\n\n{section.replace('| a |', '| b |')}\n"
    assert text.count("# Performance") == 1
