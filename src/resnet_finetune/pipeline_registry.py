"""Project pipelines.

``finetune`` is the whole job (pretrain → fine-tune → evaluate, with the from-scratch
baseline); ``transfer`` re-runs fine-tuning and evaluation on the latest versioned
pretrained model without retraining it; ``predict`` labels a folder of new images;
``export`` writes the fine-tuned model for other runtimes and checks each export;
``label_suspects`` ranks the likely mislabelled images of the latest fine-tuned model's
data. ``evaluate`` ranks them too, so that its report's data-quality section always
describes the model it evaluates, never another run's table.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from resnet_finetune.pipelines import (
    BASELINE_TAG,
    data_quality,
    degradation,
    evaluate,
    export,
    finetune,
    ingestion,
    predict,
    pretrain,
)


def register_pipelines() -> dict[str, Pipeline]:
    target = ingestion.pipeline.create_pipeline("target")
    pretraining = pretrain.pipeline.create_pipeline()
    suspects = data_quality.pipeline.create_pipeline()
    evaluation = suspects + evaluate.pipeline.create_pipeline()
    # Untagged, outside the baseline's nodes: fine-tuning needs it without a baseline.
    cards = finetune.pipeline.create_card_pipeline()
    transfer = target + cards + finetune.pipeline.create_pipeline() + evaluation
    # Tagged: `baseline: none` leaves these nodes out of a run (hooks.NoBaselineHook).
    baseline = (
        target
        + cards
        + Pipeline(
            finetune.pipeline.create_baseline_pipeline()
            + evaluate.pipeline.create_baseline_pipeline(),
            tags=BASELINE_TAG,
        )
    )
    full = pretraining + transfer + baseline
    return {
        "pretrain": pretraining,
        "transfer": transfer,
        "baseline": baseline,
        "evaluate": evaluation,
        "label_suspects": suspects,
        "degradation": degradation.pipeline.create_pipeline(),
        "predict": predict.pipeline.create_pipeline(),
        "export": export.pipeline.create_pipeline(),
        "finetune": full,
        "__default__": full,
    }
