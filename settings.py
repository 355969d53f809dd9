"""Configuration, read once from the environment (PARLEY_*); see the README's table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore")

    data_dir: Path = ROOT / "var"
    database_url: str = ""  # default: sqlite in data_dir
    temporal_address: str | None = None  # unset: the embedded dev server
    temporal_namespace: str = "default"
    temporal_api_key: str | None = None
    temporal_tls: bool = False
    temporal_dev_port: int = 7233
    task_queue: str = "parley"
    charter: Path = ROOT / "charters" / "default.toml"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    public_url: str = ""  # links in Slack messages; default http://host:port
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str | None = None  # overrides the charter's conflicts channel
    secret_key: str = "dev-insecure-change-me"
    # Behind a single-sign-on proxy: the request header that names the signed-in user's e-mail
    # (e.g. "X-Forwarded-Email"). Off unless set; only set it when the proxy strips the header from
    # what clients send.
    sso_header: str | None = None
    admin_token: str | None = None
    max_body_bytes: int = 256 * 1024
    # How long a filing or an action waits for its workflow's answer before it is answered 503
    # (it may still be applied: a retry with the same Idempotency-Key gets its result).
    answer_within_s: float = Field(default=20.0, gt=0)
    # Webhooks may point at loopback, link-local and private addresses (tests, a receiver on the same network)
    webhook_allow_private: bool = False

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'parley.db'}"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_dev_port}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
