"""The grammar of a model name, shared by the server (checked at create) and the runner
(which builds the model; the provider registry is runner/models.py)."""

from __future__ import annotations

PROVIDERS = ("openai", "anthropic", "ollama")
KNOWN_FORMS = "'scripted', 'scripted:<tokens>', 'openai:<model>', 'anthropic:<model>', 'ollama:<model>'"


def parse_model_name(name: str) -> tuple[str, str]:
    """(provider, model) of a non-empty model name; ValueError saying what is available."""
    provider, _, model = name.strip().partition(":")
    if provider == "scripted":
        if model and (not model.isdigit() or int(model) < 1):
            raise ValueError(f"'scripted:{model}': the answer token count must be a positive integer")
        return provider, model
    if provider not in PROVIDERS:
        raise ValueError(f"unknown model {name!r}: expected one of {KNOWN_FORMS}")
    if not model:
        raise ValueError(f"model {name!r} names no model: use '{provider}:<model>'")
    return provider, model
