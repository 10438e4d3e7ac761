"""LLM spec strings → adapters, and the classify/generate pair from the environment.

Spec grammar: ``none`` (offline, no LLM), or ``<provider>:<model>[@<base URL>]``:

    openai:gpt-4o-mini                               OpenAI, key OPENAI_API_KEY
    openai:llama3.1@http://127.0.0.1:11434/v1        any OpenAI-compatible server (key optional)
    azure:<deployment>@https://x.openai.azure.com    Azure OpenAI, key AZURE_OPENAI_API_KEY,
                                                     api version OPENAI_API_VERSION (or default)
    anthropic:claude-3-5-haiku-latest                Anthropic, key ANTHROPIC_API_KEY

Options follow the spec as a query string: ``?format=json_object`` picks the structured-output format
(OpenAI and compatible servers: ``json_schema`` (default), ``json_object``, ``tool``, ``prompt``;
Anthropic: ``tool`` (default), ``prompt``); DESKHAND_LLM_FORMAT sets it for every spec without one.
A self-hosted server without ``json_schema`` (llama-cpp-python's server answers it with HTTP 500)::

    openai:smollm2@http://127.0.0.1:8000/v1?format=json_object

Keyword overrides set adapter fields (``api_key``, ``timeout_s``, ``max_retries``, ``max_wait_s``,
``prices``, ``sleep``, ``json_mode``, …). Keys come from the environment or ``api_key=``; they are
never logged and never part of an adapter's repr.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from deskhand.ai.llm import LLM
from deskhand.errors import ConfigError

OFFLINE = {"", "none", "off", "offline"}
KEY_ENV = {"openai": "OPENAI_API_KEY", "azure": "AZURE_OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
NO_KEY = "not-needed"  # compatible servers (Ollama, vLLM, llama.cpp) ignore the key
OPTIONS = {"format": "json_mode"}  # spec option → adapter field
FORMATS = {"openai": ("json_schema", "json_object", "tool", "prompt"), "azure": ("json_schema", "json_object",
           "tool", "prompt"), "anthropic": ("tool", "prompt")}


def spec_options(spec: str) -> tuple[str, dict[str, str]]:
    """``spec?key=value&…`` → (spec, {adapter field: value}); unknown keys are a ConfigError."""
    text, _, query = spec.strip().partition("?")
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in OPTIONS:
            raise ConfigError(f"LLM spec {spec!r}: unknown option {key!r}; known: {sorted(OPTIONS)}")
        options[OPTIONS[key]] = value
    return text, options


def parse_spec(spec: str) -> tuple[str, str, str | None] | None:
    """``provider:model[@url][?options]`` → (provider, model, url); None for an offline spec."""
    text, _ = spec_options(spec)
    if text.lower() in OFFLINE:
        return None
    provider, sep, rest = text.partition(":")
    provider = provider.lower()
    model, _, url = rest.partition("@")
    if not sep or not model or provider not in KEY_ENV:
        raise ConfigError(
            f"LLM spec {spec!r} is not understood: use none, openai:<model>[@<base url>], "
            "azure:<deployment>@<endpoint> or anthropic:<model>"
        )
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"LLM spec {spec!r}: the part after @ must be an http(s) URL")
    return provider, model, url or None


def open_llm(spec: str, *, env: Mapping[str, str] | None = None, **overrides: Any) -> LLM | None:
    parsed = parse_spec(spec)
    if parsed is None:
        return None
    e = os.environ if env is None else env
    provider, model, url = parsed
    _, options = spec_options(spec)
    mode = overrides.pop("json_mode", None) or options.get("json_mode") or e.get("DESKHAND_LLM_FORMAT") or None
    if mode is not None:
        if mode not in FORMATS[provider]:
            raise ConfigError(f"LLM spec {spec!r}: format {mode!r} is not one of {', '.join(FORMATS[provider])} "
                              f"(set by ?format= or DESKHAND_LLM_FORMAT)")
        overrides["json_mode"] = mode
    key = overrides.pop("api_key", None) or e.get(KEY_ENV[provider]) or None
    if provider == "azure":
        from deskhand.ai.llm_openai import OpenAIChat

        endpoint = url or e.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigError(f"LLM spec {spec!r} needs an endpoint: azure:{model}@https://<resource>.openai.azure.com")
        _need_key(key, provider, spec)
        version = e.get("OPENAI_API_VERSION") or e.get("AZURE_OPENAI_API_VERSION")
        fields = {"azure_endpoint": endpoint, "api_version": version, "api_key": key}
        return _build(OpenAIChat, model, fields, overrides, spec)
    if provider == "openai":
        from deskhand.ai.llm_openai import OpenAIChat

        base_url = url or e.get("OPENAI_BASE_URL") or None
        if base_url is None:
            _need_key(key, provider, spec)
        return _build(OpenAIChat, model, {"base_url": base_url, "api_key": key or NO_KEY}, overrides, spec)
    from deskhand.ai.llm_anthropic import AnthropicMessages

    if url is None:
        _need_key(key, provider, spec)
    return _build(AnthropicMessages, model, {"base_url": url, "api_key": key or NO_KEY}, overrides, spec)


def llms_from_env(env: Mapping[str, str] | None = None) -> tuple[LLM | None, LLM | None]:
    """(classify, generate): DESKHAND_LLM_CLASSIFY / DESKHAND_LLM_GENERATE, else DESKHAND_LLM.

    DESKHAND_LLM_TIMEOUT_S and DESKHAND_LLM_MAX_RETRIES apply to both. When both specs are the
    same string, one adapter (one connection pool) serves both.
    """
    e = os.environ if env is None else env
    default = e.get("DESKHAND_LLM") or "none"
    specs = (e.get("DESKHAND_LLM_CLASSIFY") or default, e.get("DESKHAND_LLM_GENERATE") or default)
    overrides: dict[str, Any] = {}
    try:
        if e.get("DESKHAND_LLM_TIMEOUT_S"):
            overrides["timeout_s"] = float(e["DESKHAND_LLM_TIMEOUT_S"])
        if e.get("DESKHAND_LLM_MAX_RETRIES"):
            overrides["max_retries"] = int(e["DESKHAND_LLM_MAX_RETRIES"])
    except ValueError as exc:
        raise ConfigError(f"DESKHAND_LLM_TIMEOUT_S / DESKHAND_LLM_MAX_RETRIES must be numbers: {exc}") from exc
    from deskhand.ai.pricing import PriceTable

    overrides["prices"] = PriceTable.from_env(e)
    classify = open_llm(specs[0], env=e, **overrides)
    generate = classify if specs[1] == specs[0] else open_llm(specs[1], env=e, **overrides)
    return classify, generate


def _need_key(key: str | None, provider: str, spec: str) -> None:
    if not key:
        raise ConfigError(
            f"LLM {spec!r} needs an API key: export {KEY_ENV[provider]}=… (or set DESKHAND_LLM=none to run offline)"
        )


def _build(cls: Any, model: str, fields: dict[str, Any], overrides: dict[str, Any], spec: str) -> LLM:
    known = {f.name for f in dataclasses.fields(cls)} - {"model", "client"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"LLM {spec!r}: unknown option(s) {unknown}; known: {sorted(known)}")
    return cls(model=model, **{**fields, **overrides})  # type: ignore[no-any-return]
