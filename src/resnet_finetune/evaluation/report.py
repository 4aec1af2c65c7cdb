"""A one-page HTML report: figures embedded as PNG data URIs, so the file opens anywhere,
offline, on its own."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime

import matplotlib.pyplot as plt
import pandas as pd

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


def _start(parameters: dict) -> dict:
    """Where the backbone started (ImageNet, pretraining, scratch) and why, from the recipe."""
    recipe = parameters.get("recipe") or {}
    if not recipe:
        return {}
    return {"backbone start": f"{recipe.get('start')}: {recipe.get('start_reason')}"}


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
) -> str:
    """The evaluation of a fine-tuned model on one page: scores, data, learning curves,
    confusion matrix, per-class scores, the most confidently wrong images (and their
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
                    }
                ],
            ),
            ("Data", [counts.rename_axis("label").reset_index(), data]),
            ("Learning curves", [learning_curves]),
            ("Confusion matrix", [confusion]),
            ("Precision, recall and F1 per class", [per_class]),
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
