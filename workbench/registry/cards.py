"""Model cards: what a model version is for, what it was trained on, how it scored, its limits.

A card has five sections. :func:`generate_sections` fills them from what the
store knows (the model's description, the run's datasets and metrics); the
user edits any of them with ``Registry.update_card``; an edited section is
kept as written. A card is *complete* when no section is empty.

>>> card = ModelCard("churn", 1, {"intended_use": "Rank customers by churn risk."})
>>> card.missing_sections()
['training_data', 'metrics', 'limitations', 'ethical_considerations']
>>> print(card.to_markdown().splitlines()[0])
# Model card: churn version 1
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import InvalidInputError

SECTIONS: tuple[str, ...] = (
    "intended_use",
    "training_data",
    "metrics",
    "limitations",
    "ethical_considerations",
)
TITLES: dict[str, str] = {
    "intended_use": "Intended use",
    "training_data": "Training data",
    "metrics": "Metrics",
    "limitations": "Limitations",
    "ethical_considerations": "Ethical considerations",
}


@dataclass
class ModelCard:
    """A version's model card: ``sections`` maps each of :data:`SECTIONS` to text."""

    name: str
    version: int
    sections: dict[str, str] = field(default_factory=dict)
    updated_by: str | None = None
    updated_at: Any = None

    def __getattr__(self, item: str) -> str:
        if item in SECTIONS:
            return self.sections.get(item, "") or ""
        raise AttributeError(item)

    def missing_sections(self) -> list[str]:
        """The sections that are still empty."""
        return [s for s in SECTIONS if not (self.sections.get(s) or "").strip()]

    @property
    def is_complete(self) -> bool:
        """True when every section has text."""
        return not self.missing_sections()

    def to_markdown(self) -> str:
        """The card as a Markdown document."""
        lines = [f"# Model card: {self.name} version {self.version}", ""]
        for key in SECTIONS:
            lines += [
                f"## {TITLES[key]}",
                "",
                (self.sections.get(key) or "_(not filled in)_").strip(),
                "",
            ]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The card as a standalone HTML fragment (all text escaped)."""
        parts = [
            f"<article class='model-card'><h1>Model card: {html.escape(self.name)} "
            f"version {self.version}</h1>"
        ]
        for key in SECTIONS:
            text = (self.sections.get(key) or "").strip()
            body = (
                "".join(
                    f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n")
                )
                if text
                else "<p><em>(not filled in)</em></p>"
            )
            parts.append(f"<section><h2>{TITLES[key]}</h2>{body}</section>")
        parts.append("</article>")
        return "".join(parts)


def check_sections(sections: dict[str, Any]) -> dict[str, str]:
    """Refuse unknown section names and non-string text."""
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise InvalidInputError(
            f"unknown model card section(s) {unknown}; the sections are {', '.join(SECTIONS)}"
        )
    out = {}
    for key, value in sections.items():
        if not isinstance(value, str):
            raise InvalidInputError(
                f"card section {key!r} must be text, got {type(value).__name__}"
            )
        out[key] = value
    return out


def generate_sections(version: dict[str, Any], model_description: str | None) -> dict[str, str]:
    """Sections filled from the store: intended use, training data and metrics."""
    datasets = version.get("datasets") or []
    data_lines = [
        f"- {d.get('name')} ({d.get('role')}): digest {str(d.get('digest'))[:12]}, "
        f"{d.get('n_rows')} rows x {d.get('n_cols')} columns"
        for d in datasets
    ]
    metrics = version.get("metrics") or {}
    metric_lines = [
        f"- {k}: {v:.6g}" if isinstance(v, (int, float)) else f"- {k}: {v}"
        for k, v in sorted(metrics.items())
    ]
    intended = (version.get("description") or model_description or "").strip()
    return {
        "intended_use": intended,
        "training_data": "\n".join(data_lines),
        "metrics": "\n".join(metric_lines),
        "limitations": "",
        "ethical_considerations": "",
    }
