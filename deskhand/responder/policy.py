"""Per-account responder policy: thresholds, categories allowed to auto-reply, where humans sit.

Values come from the account's stored settings (`deskhand connect … --setting key=value`); the
defaults are the seed's: ≥ 0.85 auto-reply, 0.60–0.85 internal draft, < 0.60 human.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from deskhand.errors import ConfigError

DEFAULT_AUTO_CATEGORIES = ("how_to", "account_access", "billing")


@dataclass(frozen=True, slots=True)
class Policy:
    auto_threshold: float = 0.85
    draft_threshold: float = 0.60
    auto_categories: tuple[str, ...] = DEFAULT_AUTO_CATEGORIES
    escalation_team: str = "Escalations"  # a team's name or id in the helpdesk
    escalation_tag: str = "deskhand_escalated"
    # Retrieval similarity (all-MiniLM-L6-v2 cosine: unrelated text ≲ 0.3, the right article for a
    # question ≳ 0.6). How well the evidence supports an answer is deskhand.ai.support's calibrated
    # probability (cosine and margin over the runner-up document), not these two bars.
    min_source_score: float = 0.30  # below this a source is not evidence at all
    full_support_score: float = 0.65  # a source at least this similar is a close match (knowledge gaps)
    angry_threshold: float = -0.6  # compound sentiment at or below which a human takes over
    extra_outage_terms: tuple[str, ...] = field(default=())

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Policy:
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in settings.items():
            if key not in known:
                continue
            default = getattr(cls(), key)
            try:
                if isinstance(default, tuple):
                    items = raw.split(",") if isinstance(raw, str) else list(raw)
                    values[key] = tuple(str(x).strip() for x in items if str(x).strip())
                elif isinstance(default, float):
                    values[key] = float(raw)
                else:
                    values[key] = str(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"account setting {key}={raw!r} is not a valid {type(default).__name__}") from exc
        policy = cls(**values)
        if not 0 <= policy.min_source_score < policy.full_support_score <= 1:
            raise ConfigError("source scores must satisfy 0 ≤ min_source_score < full_support_score ≤ 1")
        if not 0 <= policy.draft_threshold <= policy.auto_threshold <= 1:
            raise ConfigError(
                f"thresholds must satisfy 0 ≤ draft_threshold ({policy.draft_threshold}) ≤ "
                f"auto_threshold ({policy.auto_threshold}) ≤ 1"
            )
        return policy

    @staticmethod
    def setting_names() -> list[str]:
        return [f.name for f in fields(Policy)]
