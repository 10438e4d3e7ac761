"""LLM adapters over real loopback HTTP against deskhand.testing.fake_llm (OpenAI, Azure, Anthropic)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest

from deskhand.ai.llm import LLM, ChatLLM, LLMError, Message, Request, llms_from_env, open_llm
from deskhand.ai.llm_spec import parse_spec
from deskhand.ai.pricing import Price, PriceTable, load_prices
from deskhand.errors import ConfigError
from deskhand.testing.fake_llm import Fail, FakeLLMServer, Reply

FLAVOURS = ["openai", "azure", "anthropic"]
KEY = "sk-test-secret-123"


class Triage(pydantic.BaseModel):
    category: Literal["billing", "bug", "other"]
    confidence: float


GOOD: dict[str, Any] = {"category": "billing", "confidence": 0.9}
ASK = [Message("user", "I was charged twice")]


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def llm_for(flavour: str, fake: FakeLLMServer, **overrides: Any) -> ChatLLM:
    overrides.setdefault("sleep", lambda s: None)
    overrides.setdefault("api_key", KEY)
    spec = {
        "openai": f"openai:gpt-4o-mini@{fake.openai_base_url}",
        "azure": f"azure:gpt-4o-mini@{fake.azure_endpoint}",
        "anthropic": f"anthropic:claude-3-5-haiku-latest@{fake.anthropic_base_url}",
    }[flavour]
    llm = open_llm(spec, env={}, **overrides)
    assert isinstance(llm, ChatLLM)
    return llm


def classify(llm: LLM) -> Any:
    return llm.complete(system="Classify the ticket.", messages=ASK, schema=Triage, task="classify")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_structured_answer_is_parsed_with_usage_and_cost(flavour: str, fake: FakeLLMServer) -> None:
    fake.add(Reply(json=GOOD, input_tokens=1000, output_tokens=200))
    done = classify(llm_for(flavour, fake))
    assert done.parsed == Triage(**GOOD)
    assert json.loads(done.text) == GOOD
    assert (done.usage.input_tokens, done.usage.output_tokens, done.calls) == (1000, 200, 1)
    price = PriceTable().price(done.model)
    assert price is not None
    assert done.cost_usd == pytest.approx((1000 * price.input + 200 * price.output) / 1e6)
    assert done.latency_ms > 0 and done.task == "classify"
    [sent] = fake.requests
    assert sent.system is not None and "Classify the ticket." in sent.system
    assert sent.messages[-1] == {"role": "user", "content": "I was charged twice"}


@pytest.mark.parametrize(
    ("flavour", "asked_for"),
    [
        ("openai", "response_format json_schema strict"),
        ("azure", "response_format json_schema strict"),
        ("anthropic", "forced tool use"),
    ],
    ids=FLAVOURS,
)
def test_schema_is_requested_natively(flavour: str, asked_for: str, fake: FakeLLMServer) -> None:
    fake.add(Reply(json=GOOD))
    classify(llm_for(flavour, fake))
    body = fake.requests[0].body
    if flavour == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "Triage"}
        assert body["tools"][0]["input_schema"]["required"] == ["category", "confidence"]
    else:
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"]["additionalProperties"] is False


BAD_ANSWERS = {
    "broken_json": Reply(text='{"category": "billing", '),
    "wrong_schema": Reply(json={"category": "refund", "confidence": "high"}),
}


@pytest.mark.parametrize("bad", list(BAD_ANSWERS), ids=list(BAD_ANSWERS))
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_invalid_answer_is_repaired_with_the_error_sent_back(flavour: str, bad: str, fake: FakeLLMServer) -> None:
    fake.add(BAD_ANSWERS[bad], Reply(json=GOOD, input_tokens=50, output_tokens=10))
    done = classify(llm_for(flavour, fake))
    assert done.parsed == Triage(**GOOD)
    assert done.calls == 2
    assert done.usage.input_tokens > 50  # both calls counted
    first, second = fake.requests
    assert len(second.messages) == len(first.messages) + 2
    feedback = json.dumps(second.messages[-1]["content"])
    assert "not a valid Triage" in feedback or "Invalid Triage" in feedback
    assert ("category" in feedback) if bad == "wrong_schema" else ("JSON" in feedback)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_two_invalid_answers_raise_invalid_output(flavour: str, fake: FakeLLMServer) -> None:
    fake.add(Reply(text="Sure! It's billing."), Reply(json={"category": "refund"}))
    with pytest.raises(LLMError, match="did not return a valid Triage after one repair") as err:
        classify(llm_for(flavour, fake))
    assert err.value.kind == "invalid_output" and not err.value.retryable
    assert len(fake.requests) == 2


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rate_limit_waits_as_long_as_retry_after_says(flavour: str, fake: FakeLLMServer) -> None:
    waits: list[float] = []
    fake.add(Fail(429, retry_after=7), Reply(json=GOOD))
    done = classify(llm_for(flavour, fake, sleep=waits.append))
    assert done.parsed == Triage(**GOOD)
    assert waits == [7.0]
    assert len(fake.requests) == 2


def test_retry_after_ms_is_honoured(fake: FakeLLMServer) -> None:
    waits: list[float] = []
    fake.add(Fail(429, headers={"retry-after-ms": "1500"}), Reply(json=GOOD))
    classify(llm_for("openai", fake, sleep=waits.append))
    assert waits == [1.5]


def test_rate_limit_with_real_sleep_spaces_the_requests(fake: FakeLLMServer) -> None:
    fake.add(Fail(429, retry_after=1), Reply(json=GOOD))
    classify(llm_for("openai", fake, sleep=time.sleep))
    first, second = fake.requests
    assert second.at - first.at >= 1.0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_retry_after_longer_than_max_wait_is_raised_for_the_queue(flavour: str, fake: FakeLLMServer) -> None:
    waits: list[float] = []
    fake.add(Fail(429, retry_after=3600))
    with pytest.raises(LLMError) as err:
        classify(llm_for(flavour, fake, sleep=waits.append, max_wait_s=30))
    assert (err.value.kind, err.value.status, err.value.retry_after) == ("rate_limited", 429, 3600)
    assert err.value.retryable
    assert waits == [] and len(fake.requests) == 1


@pytest.mark.parametrize(
    ("flavour", "status"),
    [("openai", 500), ("openai", 503), ("azure", 500), ("anthropic", 500), ("anthropic", 529)],
)
def test_server_errors_are_retried_with_backoff(flavour: str, status: int, fake: FakeLLMServer) -> None:
    waits: list[float] = []
    fake.add(Fail(status), Reply(json=GOOD))
    done = classify(llm_for(flavour, fake, sleep=waits.append))
    assert done.parsed == Triage(**GOOD)
    assert len(waits) == 1 and 0 < waits[0] <= 8
    assert len(fake.requests) == 2


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_retries_stop_after_max_retries(max_retries: int, fake: FakeLLMServer) -> None:
    fake.add(*[Fail(500)] * (max_retries + 1), Reply(json=GOOD))
    with pytest.raises(LLMError, match="HTTP 500") as err:
        classify(llm_for("openai", fake, max_retries=max_retries))
    assert err.value.kind == "unavailable" and err.value.status == 500
    assert len(fake.requests) == max_retries + 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_auth_error_is_not_retried_and_never_shows_the_key(
    flavour: str, fake: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add(Fail(401, message="invalid x-api-key"))
    llm = llm_for(flavour, fake)
    with pytest.raises(LLMError, match="check the API key") as err:
        classify(llm)
    assert err.value.kind == "auth" and len(fake.requests) == 1
    assert KEY not in str(err.value) and KEY not in caplog.text and KEY not in repr(llm)
    sent = fake.requests[0].headers
    assert KEY in (sent.get("authorization", "") + sent.get("api-key", "") + sent.get("x-api-key", ""))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_timeout_is_a_clear_error(flavour: str, fake: FakeLLMServer) -> None:
    fake.add(Reply(json=GOOD, delay_s=3))
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"did not answer within 0\.3 s") as err:
        classify(llm_for(flavour, fake, timeout_s=0.3, max_retries=0))
    assert err.value.kind == "timeout" and err.value.retryable
    assert time.monotonic() - started < 2.5


def test_timeout_is_retried_then_succeeds(fake: FakeLLMServer) -> None:
    fake.add(Reply(json=GOOD, delay_s=3), Reply(json=GOOD))
    done = classify(llm_for("openai", fake, timeout_s=0.3, max_retries=1))
    assert done.parsed == Triage(**GOOD) and len(fake.requests) == 2


def test_schema_rejected_by_server_falls_back_to_json_object(fake: FakeLLMServer) -> None:
    refusal = "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
    fake.add(Fail(400, message=refusal), Reply(json=GOOD), Reply(json=GOOD))
    llm = llm_for("openai", fake)
    assert classify(llm).parsed == Triage(**GOOD)
    classify(llm)  # the downgrade is remembered
    first, second, third = (r.body for r in fake.requests)
    assert first["response_format"]["type"] == "json_schema"
    # a self-hosted server gets the schema with json_object (llama.cpp constrains decoding to it)
    assert second["response_format"] == {"type": "json_object", "schema": Triage.model_json_schema()}
    assert third["response_format"] == second["response_format"]
    assert "JSON schema" in second["messages"][0]["content"]


def test_llama_cpp_500_on_json_schema_is_recognised_by_its_words_not_retried() -> None:
    """llama-cpp-python's server answers json_schema with HTTP 500 "Input should be 'text' or
    'json_object'": one refused request, then json_object with the schema, remembered."""
    with FakeLLMServer(response_formats={"text", "json_object"}) as fake:
        fake.add(Reply(json=GOOD), Reply(json=GOOD))
        llm = llm_for("openai", fake, max_retries=3)
        assert classify(llm).parsed == Triage(**GOOD)
        assert classify(llm).parsed == Triage(**GOOD)
    kinds = [r.body["response_format"]["type"] for r in fake.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert fake.requests[1].body["response_format"]["schema"] == Triage.model_json_schema()


def test_a_plain_500_is_still_a_server_error() -> None:
    with FakeLLMServer(default=Fail(500)) as fake, pytest.raises(LLMError) as caught:
        classify(llm_for("openai", fake, max_retries=1))
    assert caught.value.kind == "unavailable" and len(fake.requests) == 2
    assert all(r.body["response_format"]["type"] == "json_schema" for r in fake.requests)


@pytest.mark.parametrize("how", ["spec", "env"])
def test_format_is_configurable_without_code(how: str) -> None:
    with FakeLLMServer(response_formats={"text", "json_object"}) as fake:
        fake.add(Reply(json=GOOD))
        spec = f"openai:smollm2@{fake.openai_base_url}" + ("?format=json_object" if how == "spec" else "")
        env = {"DESKHAND_LLM_FORMAT": "json_object"} if how == "env" else {}
        llm = open_llm(spec, env=env, sleep=lambda s: None)
        assert llm is not None and classify(llm).parsed == Triage(**GOOD)
    assert [r.body["response_format"]["type"] for r in fake.requests] == ["json_object"]
    assert parse_spec(spec) == ("openai", "smollm2", fake.openai_base_url)


def test_openai_tool_format_forces_one_function_call(fake: FakeLLMServer) -> None:
    fake.add(Reply(json=GOOD))
    llm = llm_for("openai", fake, json_mode="tool")
    assert classify(llm).parsed == Triage(**GOOD)
    body = fake.requests[0].body
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Triage"}}
    assert body["tools"][0]["function"]["parameters"]["properties"]["category"]["enum"] == ["billing", "bug", "other"]


def test_openai_hosted_json_object_carries_no_schema() -> None:
    llm = open_llm("openai:gpt-4o-mini?format=json_object", env={"OPENAI_API_KEY": KEY})
    assert isinstance(llm, ChatLLM)
    params = llm._params(Request("s", [], Triage, 0.0, None, 10), "json_object")  # type: ignore[attr-defined]
    assert params["response_format"] == {"type": "json_object"}


def test_anthropic_prompt_format_sends_no_tool(fake: FakeLLMServer) -> None:
    fake.add(Reply(text=json.dumps(GOOD)))
    llm = open_llm(f"anthropic:claude-3-5-haiku-latest@{fake.anthropic_base_url}?format=prompt", env={},
                   api_key=KEY, sleep=lambda s: None)
    assert llm is not None and classify(llm).parsed == Triage(**GOOD)
    body = fake.requests[0].body
    assert "tools" not in body and "JSON schema" in body["system"]


def test_anthropic_server_refusing_tools_is_asked_with_the_prompt(fake: FakeLLMServer) -> None:
    fake.add(Fail(400, message="tools: Extra inputs are not permitted"), Reply(text=json.dumps(GOOD)))
    llm = llm_for("anthropic", fake)
    assert classify(llm).parsed == Triage(**GOOD)
    assert ["tools" in r.body for r in fake.requests] == [True, False]


@pytest.mark.parametrize(("spec", "message"), [
    ("openai:m@http://h/v1?format=xml", "format 'xml' is not one of"),
    ("anthropic:c@http://h?format=json_schema", "format 'json_schema' is not one of"),
    ("openai:m@http://h/v1?colour=red", "unknown option 'colour'"),
])
def test_bad_formats_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_llm(spec, env={})


@pytest.mark.parametrize(
    ("flavour", "model", "temperature", "top_p", "sent"),
    [
        ("openai", "gpt-4o-mini", 0.2, 0.9, {"temperature": 0.2, "top_p": 0.9, "max_tokens": 321}),
        ("openai", "gpt-5-mini", 0.2, None, {"max_tokens": 321}),
        ("azure", "gpt-4o-mini", 0.0, None, {"temperature": 0.0, "max_completion_tokens": 321}),
        ("anthropic", "claude-3-5-haiku-latest", 0.7, 0.9, {"max_tokens": 321}),
    ],
    ids=["openai", "reasoning-model", "azure", "anthropic-2026-10-21"],
)
def test_sampling_and_token_limit_parameters(
    flavour: str, model: str, temperature: float, top_p: float | None, sent: dict[str, Any], fake: FakeLLMServer
) -> None:
    fake.add(Reply(text="Hello! A refund is on its way."))
    llm = llm_for(flavour, fake)
    llm.model = model
    done = llm.complete(system="Be kind.", messages=ASK, temperature=temperature, top_p=top_p, max_tokens=321)
    assert done.text == "Hello! A refund is on its way." and done.parsed is None
    body = fake.requests[0].body
    keys = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens")
    assert {k: body[k] for k in keys if k in body} == sent


def test_classify_and_generate_models_are_configured_separately(fake: FakeLLMServer) -> None:
    env = {
        "DESKHAND_LLM": "none",
        "DESKHAND_LLM_CLASSIFY": f"openai:gpt-4o-mini@{fake.openai_base_url}",
        "DESKHAND_LLM_GENERATE": f"anthropic:claude-sonnet-4-6@{fake.anthropic_base_url}",
        "ANTHROPIC_API_KEY": KEY,
    }
    classifier, generator = llms_from_env(env)
    assert classifier is not None and generator is not None
    fake.add(Reply(json=GOOD), Reply(text="We refunded the duplicate charge."))
    classify(classifier)
    generator.complete(system="Draft a reply.", messages=ASK, max_tokens=500)
    assert [(r.api, r.model) for r in fake.requests] == [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-6"),
    ]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, (None, None)),
        ({"DESKHAND_LLM": "none"}, (None, None)),
        ({"DESKHAND_LLM": "openai:m@http://h/v1"}, ("openai:m@http://h/v1", "openai:m@http://h/v1")),
        (
            {"DESKHAND_LLM": "openai:m@http://h/v1", "DESKHAND_LLM_CLASSIFY": "openai:small@http://h/v1"},
            ("openai:small@http://h/v1", "openai:m@http://h/v1"),
        ),
        ({"DESKHAND_LLM_GENERATE": "anthropic:c@http://h"}, (None, "anthropic:c@http://h")),
    ],
    ids=["unset", "none", "one-for-both", "classify-overrides", "generate-only"],
)
def test_llms_from_env_falls_back_to_deskhand_llm(env: dict[str, str], names: tuple[Any, Any]) -> None:
    pair = llms_from_env(env)
    assert tuple(llm.name if llm else None for llm in pair) == names


def test_llms_from_env_applies_timeout_and_retries() -> None:
    env = {"DESKHAND_LLM": "openai:m@http://h/v1", "DESKHAND_LLM_TIMEOUT_S": "12", "DESKHAND_LLM_MAX_RETRIES": "5"}
    classifier, generator = llms_from_env(env)
    assert classifier is generator
    assert isinstance(classifier, ChatLLM) and (classifier.timeout_s, classifier.max_retries) == (12.0, 5)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("none", None),
        ("", None),
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini", None)),
        ("openai:llama3.1@http://127.0.0.1:11434/v1", ("openai", "llama3.1", "http://127.0.0.1:11434/v1")),
        ("azure:dep@https://x.openai.azure.com", ("azure", "dep", "https://x.openai.azure.com")),
        ("anthropic:claude-3-5-haiku-latest", ("anthropic", "claude-3-5-haiku-latest", None)),
    ],
)
def test_spec_is_parsed(spec: str, parsed: Any) -> None:
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "env", "overrides", "message"),
    [
        ("gpt-4o", {}, {}, "not understood"),
        ("mistral:large", {}, {}, "not understood"),
        ("openai:m@localhost:11434", {}, {}, "must be an http"),
        ("openai:gpt-4o-mini", {}, {}, "export OPENAI_API_KEY"),
        ("anthropic:claude-3-5-haiku-latest", {}, {}, "export ANTHROPIC_API_KEY"),
        ("azure:dep@https://x.openai.azure.com", {}, {}, "export AZURE_OPENAI_API_KEY"),
        ("azure:dep", {"AZURE_OPENAI_API_KEY": "k"}, {}, "needs an endpoint"),
        ("openai:m@http://h/v1", {}, {"temprature": 1}, "unknown option"),
    ],
    ids=[
        "no-provider",
        "unknown-provider",
        "bad-url",
        "openai-key",
        "anthropic-key",
        "azure-key",
        "azure-endpoint",
        "unknown-option",
    ],
)
def test_bad_specs_say_what_to_do(spec: str, env: dict[str, str], overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_llm(spec, env=env, **overrides)


def test_keys_come_from_env_and_stay_out_of_repr() -> None:
    llm = open_llm("openai:gpt-4o-mini", env={"OPENAI_API_KEY": KEY})
    assert llm is not None and llm.name == "openai:gpt-4o-mini"
    assert KEY not in repr(llm)


@pytest.mark.parametrize(
    ("model", "cost"),
    [
        ("gpt-4o-mini", 0.15 + 0.60),
        ("gpt-4o-mini-2024-07-18", 0.15 + 0.60),
        ("gpt-4o", 2.50 + 10.00),
        ("claude-3-5-haiku-latest", 0.80 + 4.00),
        ("llama3.1", None),
    ],
)
def test_price_lookup_uses_longest_known_prefix(model: str, cost: float | None) -> None:
    got = PriceTable().cost_usd(model, 1_000_000, 1_000_000)
    assert got == (pytest.approx(cost) if cost is not None else None)


@pytest.mark.parametrize("form", ["inline", "json", "yaml"])
def test_prices_are_overridable(form: str, tmp_path: Path) -> None:
    data = {"llama3.1": {"input": 0, "output": 0}, "gpt-4o-mini": {"input": 1, "output": 2}}
    value = json.dumps(data)
    if form != "inline":
        path = tmp_path / f"prices.{form}"
        path.write_text(
            value if form == "json" else "llama3.1: {input: 0, output: 0}\ngpt-4o-mini: {input: 1, output: 2}\n"
        )
        value = str(path)
    table = PriceTable.from_env({"DESKHAND_LLM_PRICES": value})
    assert table.cost_usd("llama3.1", 500, 500) == 0
    assert table.cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.price("gpt-4o") == Price(input=2.50, output=10.00)


@pytest.mark.parametrize(
    "value", ['{"m": {"input": -1, "output": 0}}', '{"m": {"in": 1}}', "[1]", "/nope/prices.yaml", "{bad"]
)
def test_bad_price_overrides_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match=r"DESKHAND_LLM_PRICES|LLM prices"):
        load_prices(value)


def test_fake_server_lists_models_and_embeds(fake: FakeLLMServer) -> None:
    import openai

    client = openai.OpenAI(api_key=KEY, base_url=fake.openai_base_url, max_retries=0)
    assert [m.id for m in client.models.list()] == ["fake-model"]
    vectors = client.embeddings.create(model="fake-embed", input=["a", "b", "a"]).data
    assert vectors[0].embedding == vectors[2].embedding != vectors[1].embedding


def test_the_log_line_itself_names_the_cause(fake: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    """The default log format prints the message only (no extra fields): the cause must be in it."""
    caplog.set_level(logging.INFO)
    fake.add(Fail(503, message="model is loading"), Reply(text="not json"), Reply(json=GOOD))
    classify(llm_for("openai", fake))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("deskhand.ai")]
    assert any("retry 1" in line and "HTTP 503" in line and "model is loading" in line for line in lines), lines
    assert any("asking for a repair" in line and "Invalid JSON" in line for line in lines), lines
