"""How well `deskhand.ai.generalise` keeps other customers' specifics out of knowledge (issue 14).

A labelled set is JSON lines, one solved ticket's resolution each: ``text`` (as an agent wrote it),
``secrets`` (every string specific to that customer: passwords, codes, keys, names, hosts, amounts),
``useful`` (the sentences a knowledge-base article could say word for word) and ``names`` (people the
replica knows). Optional per line: ``allowed_hosts`` and ``vocabulary`` (else the set's defaults).

- **secret recall**: share of planted secrets absent from the generalised text (target 1.0);
- **kept share**: share of the useful sentences still in it, word for word (what removal cost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskhand.ai.generalise import generalise
from deskhand.errors import ConfigError

# the labelled set's tenant: its help centre and helpdesk domains, its product's name
DEFAULT_ALLOWED_HOSTS = ("skyward.example", "skyward.zendesk.com")
DEFAULT_VOCABULARY = ("Skyward", "Labs", "License", "Filters", "Outgoing", "Merge", "Allowed", "IPs", "Jira")


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    text: str
    secrets: tuple[str, ...]
    useful: tuple[str, ...]
    names: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY


@dataclass
class ScrubReport:
    resolutions: int = 0
    secrets: int = 0
    secrets_removed: int = 0
    useful: int = 0
    useful_kept: int = 0
    leaks: list[dict[str, str]] = field(default_factory=list)  # (id, secret) that survived
    lost: list[dict[str, str]] = field(default_factory=list)  # useful sentences dropped, with why

    @property
    def recall(self) -> float:
        return self.secrets_removed / self.secrets if self.secrets else 1.0

    @property
    def kept_share(self) -> float:
        return self.useful_kept / self.useful if self.useful else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "resolutions": self.resolutions, "secrets": self.secrets, "secret_recall": round(self.recall, 4),
            "useful_sentences": self.useful, "kept_share": round(self.kept_share, 4), "leaks": self.leaks,
            "lost": self.lost,
        }


def load(path: Path) -> list[Labelled]:
    if not path.is_file():
        raise ConfigError(f"{path} is not a labelled set (JSON lines with text, secrets, useful)")
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(
                Labelled(
                    id=str(raw.get("id", n)), text=raw["text"], secrets=tuple(raw["secrets"]),
                    useful=tuple(raw["useful"]), names=tuple(raw.get("names", ())),
                    allowed_hosts=tuple(raw.get("allowed_hosts", DEFAULT_ALLOWED_HOSTS)),
                    vocabulary=tuple(raw.get("vocabulary", DEFAULT_VOCABULARY)),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: not a labelled resolution ({exc})") from exc
    return items


def evaluate(items: list[Labelled]) -> ScrubReport:
    report = ScrubReport(resolutions=len(items))
    for item in items:
        out = generalise(item.text, names=item.names, allowed_hosts=item.allowed_hosts, vocabulary=item.vocabulary)
        lowered = out.text.lower()
        for secret in item.secrets:
            report.secrets += 1
            if secret.lower() in lowered:
                report.leaks.append({"id": item.id, "secret": secret})
            else:
                report.secrets_removed += 1
        why = dict(out.dropped)
        for sentence in item.useful:
            report.useful += 1
            if sentence in out.kept:
                report.useful_kept += 1
            else:
                report.lost.append({"id": item.id, "sentence": sentence, "why": why.get(sentence, "not kept whole")})
    return report
