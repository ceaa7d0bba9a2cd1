"""Turns a model name into a LangChain chat model.

Model names:

* ``scripted`` — the offline :class:`ScriptedChatModel`, with delays from settings
  (``scripted_token_delay_ms``, ``scripted_step_delay_ms``).
* ``scripted:<n>`` — the same, streaming its final answer in ``n`` tokens (benchmarks).
* ``openai:<model>``, ``anthropic:<model>``, ``ollama:<model>`` — real providers, via the
  optional ``providers`` extra (``langchain-openai`` / ``-anthropic`` / ``-ollama``).
* empty — ``default_model`` from settings; if that is empty too, ``scripted`` when no
  provider is configured.

Provider packages are imported only when asked for, so the service runs without them.
"""

from __future__ import annotations

import importlib
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from domain.model_names import parse_model_name
from infra.settings import Settings
from runner.scripted_model import ScriptedChatModel

_PROVIDERS = {
    "openai": ("langchain_openai", "ChatOpenAI", "langchain-openai"),
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
    "ollama": ("langchain_ollama", "ChatOllama", "langchain-ollama"),
}


def make_chat_model(model_name: str, settings: Settings) -> BaseChatModel:
    """Build the chat model `model_name` names; raises ValueError when it cannot."""
    name = model_name.strip() or settings.default_model.strip()
    if not name:
        if _provider_configured(settings):
            raise ValueError(
                "no model selected: set the execution's model_name, the agent's model "
                "or DEFAULT_MODEL"
            )
        name = "scripted"
    provider, model = parse_model_name(name)
    if provider == "scripted":
        return _scripted(model, settings)
    return _provider_model(provider, model, settings)


def _scripted(tokens: str, settings: Settings) -> ScriptedChatModel:
    options: dict[str, Any] = {
        "token_delay_ms": settings.scripted_token_delay_ms,
        "step_delay_ms": settings.scripted_step_delay_ms,
    }
    if tokens:
        options["answer_tokens"] = int(tokens)  # checked by parse_model_name
    return ScriptedChatModel(**options)


def _provider_model(provider: str, model: str, settings: Settings) -> BaseChatModel:
    module_name, class_name, package = _PROVIDERS[provider]
    options: dict[str, Any] = {"model": model}
    if provider == "openai":
        options["api_key"] = _required_key(settings.openai_api_key, "OPENAI_API_KEY")
    elif provider == "anthropic":
        options["api_key"] = _required_key(settings.anthropic_api_key, "ANTHROPIC_API_KEY")
    elif settings.ollama_base_url:
        options["base_url"] = settings.ollama_base_url
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"model '{provider}:{model}' needs the {package} package "
            "(install the 'providers' extra)"
        ) from exc
    chat_model: BaseChatModel = getattr(module, class_name)(**options)
    return chat_model


def _required_key(secret: SecretStr, variable: str) -> str:
    if not secret.get_secret_value():
        raise ValueError(f"{variable} is not set")
    return secret.get_secret_value()


def _provider_configured(settings: Settings) -> bool:
    return bool(
        settings.openai_api_key.get_secret_value()
        or settings.anthropic_api_key.get_secret_value()
        or settings.ollama_base_url
    )
