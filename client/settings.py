"""Where the client finds the server, from the environment."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientSettings(BaseSettings):
    """Where the client finds the server: `STIGMER_URL`, `STIGMER_API_KEY`."""

    model_config = SettingsConfigDict(env_prefix="STIGMER_", env_file=None, extra="ignore")

    url: str = DEFAULT_URL
    api_key: SecretStr = SecretStr("")
