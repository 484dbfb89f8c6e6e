"""A pipeline whose steps return rich outputs: Markdown, HTML and classification metrics."""

from __future__ import annotations

import mlopsdsl as ml


@ml.step
def summary(accuracy: float) -> ml.Markdown:
    return ml.Markdown.from_text(f"# Results\n\naccuracy **{accuracy:.0%}**")


@ml.step
def page() -> ml.HTML:
    return ml.HTML.from_text("<h1>Hello</h1>")


@ml.step
def evaluate() -> ml.ClassificationMetrics:
    return ml.ClassificationMetrics.build(
        labels=["cat", "dog"],
        matrix=[[8, 2], [1, 9]],
        roc=[(0.0, 0.0, 1.0), (0.2, 0.9, 0.5), (1.0, 1.0, 0.0)],
    )


@ml.step
def count(text: ml.Artifact, scores: ml.ClassificationMetrics) -> int:
    with open(text.path, encoding="utf-8") as handle:
        return len(handle.read()) + sum(map(sum, scores.matrix))


@ml.pipeline
def rich(accuracy: float = 0.9) -> int:
    page()
    return count(text=summary(accuracy=accuracy), scores=evaluate())
