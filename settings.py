"""Configuration, read once from the environment (PARLEY_*); see the README's table."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.smtp import SmtpTarget, parse_smtp_url

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore",
                                      hide_input_in_errors=True)  # errors never echo a password

    data_dir: Path = ROOT / "var"
    database_url: str = ""  # default: sqlite in data_dir
    db_pool_size: int = Field(default=10, ge=1, le=200)  # store connections each process keeps open
    temporal_address: str | None = None  # unset: the embedded dev server
    temporal_namespace: str = "default"
    temporal_api_key: str | None = None
    temporal_tls: bool | None = None  # unset: TLS when an API key is set (Temporal Cloud), else plaintext
    # mTLS to a cluster that asks for client certificates (PEM files): the client's certificate and key, and
    # the CA that signed the server's certificate when it is not a public one
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
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
    # Seconds between two posts to one Slack channel (activities.slack.ChannelPacer): Slack allows about one
    # a second; tests against the local fake Slack set less
    slack_channel_interval_s: float = Field(default=1.0, ge=0)
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
    # Operations (DESIGN §10): "json" gives one JSON object per log line; the worker serves the Temporal
    # SDK's Prometheus metrics on this port (of http_host) when it is set
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "INFO"
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Worker tuning (README "Running in production"): how many workflow runs a worker keeps in memory (the SDK's
    # sticky cache: a run not in it is replayed from its history when it next wakes up; each cached dispute
    # holds ~0.25 MB, so the SDK's default of 1000 put a worker at 400 MB once 1000 disputes were open, while
    # past the cache's size every new dispute costs one eviction whatever the size: bench/scale.py), how many
    # workflow tasks and activities it runs at once (unset: the SDK's defaults; the activities' thread pool is
    # sized to match)
    worker_max_cached_workflows: int = Field(default=500, ge=0)
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    worker_max_concurrent_activities: int | None = Field(default=None, ge=1)
    # Task polls kept open per worker: a number keeps at most that many (the SDK's 5); "auto" scales them with the
    # server's backlog: bench/scale.py's burst of filings p99 2.5 -> 1.4 s, but its storm of 1,000 deadlines in one
    # second 32 -> 67 s (README "Worker tuning")
    worker_task_pollers: str = Field(default="5", pattern=r"^(auto|[1-9][0-9]{0,2})$")
    # The workflow sandbox re-imports each workflow's module per run and hooks every import: a quarter of the
    # worker's CPU per filing (bench/scale.py). The tests run every workflow path in the sandbox, which is where
    # a forbidden call (datetime.now, random, I/O) is caught; production runs them without it unless this is set.
    worker_sandbox: bool = False
    # Where the deliveries run (README "Running in production"): "all", in the worker that runs the workflows;
    # "workflows" leaves every event's notices and webhook first tries to the relay of workers run with
    # "deliveries" (`parley up --delivery-workers`; their retries on the task queue `<task_queue>-deliveries`), on
    # other machines or at a lower CPU priority (worker_nice): a filing then costs Temporal no delivery activity
    # and never waits for a core that an e-mail or a POST holds
    worker_role: Literal["all", "workflows", "deliveries"] = "all"
    worker_nice: int = Field(default=0, ge=0, le=19)  # added to the worker's CPU niceness as it starts
    # How long a deliveries worker's relay holds an event's notices before another may take them (activities.relay)
    worker_relay_lease_s: float = Field(default=300.0, gt=0)
    # E-mail (DESIGN §7): smtp://host:port, smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465
    smtp_url: str | None = Field(default=None, repr=False)  # may carry a password
    mail_from: str | None = None  # the From of every mail, "Parley <parley@corp.example>"; needed with smtp_url
    # Audit checkpoints (issue 12): an Ed25519 private key in PKCS#8 PEM, the PEM text itself or the path of a
    # file holding it (`openssl genpkey -algorithm ed25519`); unset: no checkpoint is signed. Never in the store.
    audit_signing_key: str | None = Field(default=None, repr=False)
    audit_checkpoint_every_s: float = Field(default=600.0, gt=0)  # the worker signs one this often, if events came
    # Processes that verify a trail of 200,000 events or more, chains split between them (unset: the CPU count, at
    # most 4; 1: one process)
    audit_verify_processes: int | None = Field(default=None, ge=1)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_is_usable(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parse_smtp_url(value)
        except ValueError as exc:
            raise ValueError(f"PARLEY_SMTP_URL is not usable: {exc}") from None
        return value.strip()

    @field_validator("audit_signing_key")
    @classmethod
    def _audit_key_is_usable(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from store.audit.signing import UnusableKey, load_private_key

        try:
            load_private_key(value)
        except UnusableKey as exc:
            raise ValueError(f"PARLEY_AUDIT_SIGNING_KEY is not usable: {exc}") from None
        return value.strip()

    @model_validator(mode="after")
    def _mail_from_with_smtp(self) -> Settings:
        if self.smtp_url and not self.mail_from:
            raise ValueError("PARLEY_MAIL_FROM must be set when PARLEY_SMTP_URL is (e.g. parley@corp.example)")
        if self.mail_from and "@" not in parseaddr(self.mail_from)[1]:
            raise ValueError(f"PARLEY_MAIL_FROM is not an e-mail address: {self.mail_from!r}")
        return self

    @property
    def smtp(self) -> SmtpTarget | None:
        """The SMTP server mail goes through, if any."""
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    @property
    def audit_key(self) -> Ed25519PrivateKey | None:
        """The key that signs audit checkpoints, if one is set."""
        if not self.audit_signing_key:
            return None
        from store.audit.signing import load_private_key

        return load_private_key(self.audit_signing_key)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'parley.db'}"

    @model_validator(mode="after")
    def _client_certificate_whole(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("PARLEY_TEMPORAL_TLS_CERT and PARLEY_TEMPORAL_TLS_KEY go together: set both or neither")
        return self

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_dev_port}"

    @property
    def delivery_task_queue(self) -> str:
        """The task queue of the deliveries when they run apart (worker_role)."""
        return f"{self.task_queue}-deliveries"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
