"""The ingestion benchmark times the data library, as the rest of bench/ does: no
pipeline module is imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from resnet_finetune.bench import ingestion_cache
ingestion_cache.main(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("resnet_finetune.pipelines"))))
"""


def test_ingestion_benchmark_times_the_library_twice(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--images", "12", "--side", "8", "--folder", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=300,
    )
    result, pipelines = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert pipelines == []
    assert result["images"] == 12 and result["first_s"] > 0 and result["second_s"] > 0
    assert len(list(tmp_path.glob("class_*/*.png"))) == 12
