"""LLM prices: US dollars per million input and output tokens, per model.

The built-in table holds list prices of common hosted models (as published by OpenAI and
Anthropic); it is a default, not a bill. Override or extend it with ``DESKHAND_LLM_PRICES``:
either a path to a JSON or YAML file, or inline JSON, mapping model names to prices::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60}, "llama3.1": {"input": 0, "output": 0}}

A model is looked up by exact name, then by the longest known name it starts with, so
``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini`` and ``claude-3-5-haiku-latest`` as
``claude-3-5-haiku``. An unknown model has no price: its cost is ``None``, never a guess.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from deskhand.errors import ConfigError

PRICES_ENV = "DESKHAND_LLM_PRICES"


class Price(pydantic.BaseModel):
    """Dollars per 1M tokens."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    input: float = pydantic.Field(ge=0)
    output: float = pydantic.Field(ge=0)


DEFAULT_PRICES: dict[str, Price] = {
    name: Price(input=i, output=o)
    for name, (i, o) in {
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4o": (2.50, 10.00),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1": (2.00, 8.00),
        "gpt-5-nano": (0.05, 0.40),
        "gpt-5-mini": (0.25, 2.00),
        "gpt-5": (1.25, 10.00),
        "o4-mini": (1.10, 4.40),
        "o3-mini": (1.10, 4.40),
        "o3": (2.00, 8.00),
        "claude-3-haiku": (0.25, 1.25),
        "claude-3-5-haiku": (0.80, 4.00),
        "claude-haiku-4-5": (1.00, 5.00),
        "claude-3-5-sonnet": (3.00, 15.00),
        "claude-3-7-sonnet": (3.00, 15.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-opus-4": (15.00, 75.00),
        "claude-opus-4-5": (5.00, 25.00),
    }.items()
}


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        known = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(known, key=len)] if known else None

    def cost_usd(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000

    def merged(self, overrides: Mapping[str, Price]) -> PriceTable:
        return PriceTable({**self.prices, **overrides})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PriceTable:
        """The default table, overridden by ``DESKHAND_LLM_PRICES`` (file path or inline JSON)."""
        value = (os.environ if env is None else env).get(PRICES_ENV, "").strip()
        if not value:
            return cls()
        return cls().merged(load_prices(value))


def load_prices(value: str | Path) -> dict[str, Price]:
    """Parse a price override: inline JSON (``{...}``) or a path to a .json/.yaml/.yml file."""
    text = str(value)
    if text.lstrip().startswith("{"):
        where, raw = "inline JSON", _parse(json.loads, text, "inline JSON")
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"{PRICES_ENV}={text!r}: no such file; give a JSON/YAML file or inline JSON")
        where = str(path)
        loader = json.loads if path.suffix == ".json" else yaml.safe_load
        raw = _parse(loader, path.read_text(encoding="utf-8"), where)
    if not isinstance(raw, dict):
        raise ConfigError(f"LLM prices in {where} must map model names to {{input, output}}")
    try:
        return {str(name): Price.model_validate(entry) for name, entry in raw.items()}
    except pydantic.ValidationError as exc:
        raise ConfigError(
            f"LLM prices in {where} are invalid (want {{model: {{input: $/1M, output: $/1M}}}}): {exc}"
        ) from exc


def _parse(loader: Any, text: str, where: str) -> Any:
    try:
        return loader(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"LLM prices in {where} cannot be parsed: {exc}") from exc
