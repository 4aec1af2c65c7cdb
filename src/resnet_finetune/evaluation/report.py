"""A one-page HTML report: figures embedded as PNG data URIs, so the file opens anywhere,
offline, on its own."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import matplotlib.pyplot as plt
import pandas as pd

from resnet_finetune.checks import check_count
from resnet_finetune.errors import ParameterError


@dataclass(frozen=True)
class ReportCounts:
    """How many images the report shows: ``misclassified`` (the most confidently wrong
    held-out images), ``grad_cam`` (heat maps, classes taking turns) and
    ``label_suspects`` (the likeliest mislabelled images); 0 shows none."""

    misclassified: int = 24
    grad_cam: int = 8
    label_suspects: int = 16

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        for name in ("misclassified", "grad_cam", "label_suspects"):
            check_count(name, getattr(self, name), minimum=0)


@dataclass(frozen=True)
class EvaluateOptions:
    """The ``evaluate`` parameter block: ``top_k`` (a prediction counts as right in
    ``top_k_accuracy`` when the true class is among its ``top_k`` likeliest), ``title``
    (of the confusion matrix; the scored split is added) and ``report``
    (``ReportCounts``)."""

    top_k: int = 2
    title: str = "Confusion matrix"
    report: ReportCounts = ReportCounts()

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_count("top_k", self.top_k, minimum=1)
        if isinstance(self.report, dict):  # a mapping, as the YAML gives it
            try:
                object.__setattr__(self, "report", ReportCounts(**self.report))
            except ParameterError as error:
                raise ParameterError(f"report.{error}") from None


# Content of a section: a paragraph, a figure, a table, or a dict shown as key/value rows.
Block = str | plt.Figure | pd.DataFrame | dict

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.8em 0; }
.generated { color: #777; font-size: 0.85em; }
"""


def figure_data_uri(figure: plt.Figure, dpi: int = 110) -> str:
    """A figure as a ``data:image/png;base64,…`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """Nested dicts and lists as ``a.b[0].c`` keys and their leaf values."""
    leaves = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            leaves.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                leaves.update(flatten({f"{name}[{index}]": item}))
        else:
            leaves[name] = value
    return leaves


def _block_html(block: Block) -> str:
    if isinstance(block, plt.Figure):
        alt = html.escape(block.get_suptitle() or "figure", quote=True)
        return f'<img alt="{alt}" src="{figure_data_uri(block)}">'
    if isinstance(block, pd.DataFrame):
        return block.to_html(index=False, border=0, float_format=lambda value: f"{value:.3f}")
    if isinstance(block, dict):
        rows = [
            (key, f"{value:.4g}" if isinstance(value, float) else str(value))
            for key, value in flatten(block).items()
        ]
        return pd.DataFrame(rows, columns=["key", "value"]).to_html(index=False, border=0)
    return f"<p>{html.escape(block)}</p>"


def html_report(title: str, sections: list[tuple[str, list[Block]]]) -> str:
    """One self-contained HTML page: ``title``, then each (heading, blocks) section."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(
        f"<section><h2>{html.escape(heading)}</h2>\n"
        + "\n".join(_block_html(block) for block in blocks)
        + "\n</section>"
        for heading, blocks in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="generated">generated {generated}</p>\n'
        f"{body}\n</body>\n</html>\n"
    )


def _provenance(metrics: dict) -> str:
    """Where the scores come from, in a sentence: the scored split and its origin, the
    split that chose the best epoch and its origin."""
    split, selection = metrics["evaluated_split"], metrics.get("selection_split", "val")
    origin = metrics.get("split_origin", {})

    def named(name: str) -> str:
        return f"{name} ({origin[name]})" if name in origin else name

    if split == selection:
        return (
            f"Scored on the {named(split)} split, which also chose the best epoch: the data "
            "has no test split, so these scores are optimistic."
        )
    return (
        f"Scored once, at the end, on the {named(split)} split: images the model never "
        f"trained on nor was selected on. The best epoch was chosen on the {named(selection)} "
        "split."
    )


def data_quality_blocks(
    ingestion_summary: dict,
    suspects: pd.DataFrame | None,
    suspects_grid: plt.Figure | None,
    shown: int,
) -> list[Block]:
    """The report's "Data quality" section: what ingestion found (leakage headline, counts
    of conflicts, copies and corrections) and the most likely mislabelled images."""
    quality = dict(ingestion_summary.get("data_quality", {}))
    if not quality:
        blocks: list[Block] = ["This model's data was ingested without data-quality checks."]
    else:
        leaked = int(quality.get("test_images_with_near_copy_in_train", 0))
        val = int(quality.get("val_images_with_near_copy_in_train", 0))
        blocks = [
            f"{leaked} test images have a near-copy in train"
            + (f" (and {val} validation images)" if val else "")
            + (": the test score is inflated." if leaked else "."),
            quality,
        ]
    if suspects is None:
        return [*blocks, "Likely mislabelled images were not ranked for this model."]
    if suspects.empty:
        return [
            *blocks,
            "Likely mislabelled images were not ranked (label_suspects.enabled: false).",
        ]
    flagged = int(suspects["flagged"].astype(bool).sum())
    splits = sorted(set(suspects["split"]))  # one: the model's manifest was unavailable
    scope = "all splits" if len(splits) > 1 else f"the {splits[0]} split only"
    blocks.append(
        f"Likely mislabelled: {flagged} of {len(suspects)} labelled images ({scope}) are "
        f"flagged by confident learning, an estimated label error rate of "
        f"{flagged / len(suspects):.1%}. Each image was scored by a classifier on the "
        "fine-tuned backbone's embeddings that never saw it (cross-validation). The full "
        "ranking is label_suspects.csv; to fix labels, turn rows of it into a corrections "
        "CSV for the next run (docs/DATA_QUALITY.md)."
    )
    top = suspects.head(shown)
    if suspects_grid is not None:
        blocks.append(suspects_grid)
    blocks.append(
        top[["rank", "path", "split", "given_label", "suggested_label", "score", "flagged"]]
    )
    return blocks


def calibration_blocks(calibration: dict, diagram: plt.Figure) -> list[Block]:
    """The report's "Confidence" section: the temperature, the expected calibration error
    (ECE) of the scored images before and after it, and the reliability diagram."""
    temperature, bins = calibration["temperature"], calibration["bins"]
    ece = {
        "ECE before temperature scaling": calibration["ece_before"],
        "ECE after": calibration["ece_after"],
    }
    if temperature is None:
        return [
            "This model was not calibrated (finetune.calibrate: false): its probabilities "
            f"are the softmax's. Expected calibration error ({bins} bins): "
            f"{calibration['ece_after']:.3f}.",
            diagram,
        ]
    return [
        f"Temperature scaling divides the log-probabilities by T = {temperature:.3f}, "
        f"fitted on {calibration['validation_images']} validation images; the top class "
        "never changes. The expected calibration error (ECE: in equal-width bins of "
        f"top-1 confidence, {bins} bins, the mean gap between confidence and accuracy, "
        "weighted by images) of the scored images, before and after:",
        {"temperature": temperature, **ece},
        diagram,
    ]


def _start(parameters: dict) -> dict:
    """Where the backbone started (ImageNet, pretraining, scratch) and why, from the recipe."""
    recipe = parameters.get("recipe") or {}
    if not recipe:
        return {}
    return {"backbone start": f"{recipe.get('start')}: {recipe.get('start_reason')}"}


def _baseline(parameters: dict) -> dict:
    """Which from-scratch baseline the run trained, with its estimated cost, or none."""
    if "baseline" not in parameters:
        return {}
    from resnet_finetune.recipe import describe_baseline

    seconds = ((parameters.get("recipe") or {}).get("estimate") or {}).get("baseline_seconds")
    cost = "" if seconds is None else f", about {seconds} s estimated"
    trained = parameters["baseline"] != "none" and (parameters.get("recipe") or {}).get(
        "baseline_runs", True
    )
    compared = " (scores: scratch_comparison.json)" if trained else ""
    return {"from-scratch baseline": f"{describe_baseline(parameters)}{cost}{compared}"}


def evaluation_report(
    *,
    metrics: dict,
    per_class: pd.DataFrame,
    ingestion_summary: dict,
    learning_curves: plt.Figure,
    confusion: plt.Figure,
    mistakes: plt.Figure,
    mistaken_rows: pd.DataFrame,
    grad_cams: plt.Figure,
    parameters: dict,
    data_quality: list[Block] | None = None,
    calibration: list[Block] | None = None,
) -> str:
    """The evaluation of a fine-tuned model on one page: scores, data, data quality
    (``data_quality_blocks``), learning curves,
    confusion matrix, per-class scores, calibration (``calibration_blocks``),
    the most confidently wrong images (and their
    files), Grad-CAM heat maps and the parameters of the run."""
    split = metrics["evaluated_split"]
    counts = pd.DataFrame(ingestion_summary["images_per_class_and_split"]).fillna(0).astype(int)
    data = {k: v for k, v in ingestion_summary.items() if k != "images_per_class_and_split"}
    mistaken = mistaken_rows[["path", "true_label", "predicted_label", "confidence"]]
    return html_report(
        "Fine-tuned ResNet: evaluation",
        [
            (
                "Scores",
                [
                    {
                        "evaluated split": split,
                        "images": metrics["num_test_images"],
                        "accuracy": metrics["accuracy"],
                        f"top-{metrics['top_k']} accuracy": metrics["top_k_accuracy"],
                        "macro F1": metrics["macro_f1"],
                        **_start(parameters),
                        **_baseline(parameters),
                    },
                    _provenance(metrics),
                ],
            ),
            ("Data", [counts.rename_axis("label").reset_index(), data]),
            ("Data quality", data_quality or ["Not recorded."]),
            ("Learning curves", [learning_curves]),
            ("Confusion matrix", [confusion]),
            ("Precision, recall and F1 per class", [per_class]),
            ("Confidence", calibration or ["Not recorded."]),
            (
                f"Most confidently wrong ({split} split)",
                [mistakes, mistaken]
                if len(mistaken)
                else ["No image was misclassified." if metrics["accuracy"] == 1 else "None shown."],
            ),
            (
                "Grad-CAM",
                [
                    "Where the model found the evidence for the class it predicted: red is "
                    "strong, blue none (Grad-CAM over the last residual block's output).",
                    grad_cams,
                ],
            ),
            ("Parameters", [parameters]),
        ],
    )
