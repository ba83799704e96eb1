"""Settings: environment + `.streamlit/secrets.toml`, one typed object, built once and passed down."""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from lib.errors import ConfigError
from lib.file_modes import private_dir

SECRETS_FILE = Path(".streamlit/secrets.toml")


class ModelPrice(BaseModel):
    """USD prices of one model. Image output is billed as tokens; batch runs at a discount."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    image_tokens: int = 0  # output tokens one generated image costs (for estimates)
    input_tokens: int = 0  # typical input tokens per request: source image + prompt (for estimates)
    batch_discount: float = 0.5

    def per_image(self, *, batch: bool = False) -> float:
        cost = (self.image_tokens * self.output_per_mtok + self.input_tokens * self.input_per_mtok) / 1e6
        return cost * (self.batch_discount if batch else 1.0)

    def from_usage(self, *, input_tokens: int, output_tokens: int, batch: bool = False) -> float:
        cost = (output_tokens * self.output_per_mtok + input_tokens * self.input_per_mtok) / 1e6
        return cost * (self.batch_discount if batch else 1.0)


DEFAULT_PRICES: dict[str, ModelPrice] = {
    # ai.google.dev/gemini-api/docs/pricing (see reference/api-contracts.md §1e)
    "gemini-2.5-flash-image": ModelPrice(
        input_per_mtok=0.30, output_per_mtok=30.0, image_tokens=1290, input_tokens=560
    ),
    "gemini-3-pro-image-preview": ModelPrice(
        input_per_mtok=2.0, output_per_mtok=120.0, image_tokens=1120, input_tokens=560
    ),
    "gemini-2.5-flash": ModelPrice(input_per_mtok=0.30, output_per_mtok=2.50, image_tokens=0, input_tokens=300),
    "studio": ModelPrice(),
}


class AccessSettings(BaseModel):
    """Who may use the app when it signs people in with an identity provider (secrets.toml `[access]`)."""

    # E-mail addresses and/or whole domains ("corp.example" or "@corp.example"); empty: nobody from the provider.
    allowed: list[str] = Field(default_factory=list)
    # E-mail address or domain -> viewer | reviewer | publisher | admin; an address wins over its domain.
    roles: dict[str, str] = Field(default_factory=dict)
    default_role: str = "viewer"

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(r for r in value.values() if r not in ROLE_NAMES)
        if bad:
            raise ValueError(f"unknown roles {bad}: use {', '.join(ROLE_NAMES)}")
        return {k.strip().lower().lstrip("@"): v for k, v in value.items()}

    @field_validator("default_role")
    @classmethod
    def _default_role(cls, value: str) -> str:
        if value not in ROLE_NAMES:
            raise ValueError(f"unknown role {value!r}: use {', '.join(ROLE_NAMES)}")
        return value

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        return [v.strip().lower().lstrip("@") for v in value if v.strip()]


ROLE_NAMES = ("viewer", "reviewer", "publisher", "admin")


class _TomlSource(PydanticBaseSettingsSource):
    """Reads root-level keys of secrets.toml (Streamlit's format), case-insensitively."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None and path.is_file():
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
            fields = {name.lower() for name in settings_cls.model_fields}
            self._data = {k.lower(): v for k, v in raw.items() if k.lower() in fields}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """Everything configurable. Environment variables use the field name in upper case."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_nested_delimiter="__")

    imagegecko_home: Path = Path("data")
    database_url: str | None = None

    # Sign-in (see README "Sign-in and roles"): the allow-list for identity-provider accounts, and whether the app
    # may serve a non-loopback address with no sign-in at all (never by default).
    access: AccessSettings = Field(default_factory=AccessSettings)
    allow_public_without_auth: bool = False

    # Worker
    worker_concurrency: int = Field(8, ge=1, le=64)
    embedded_worker: bool = True
    lease_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    # Workers an item may see die under it before it is set aside. A storm of kills (a crash-looping node, an OOM
    # killer, a deploy gone wrong) hits the items at the head of the queue again and again; 10 keeps them, while a
    # poison item still stops after 10 restarts, not forever.
    max_crashes: int = Field(10, ge=1, le=100)
    backoff_base_seconds: float = Field(2.0, ge=0)
    backoff_max_seconds: float = Field(300.0, ge=0)
    poll_seconds: float = Field(0.5, gt=0)
    # The product-fidelity check of every stored image (lib/fidelity); off only to measure the pipeline alone
    # (bench/studio_worker.py) or where no one reviews verdicts.
    fidelity_check: bool = True
    # Requests per minute per provider; 0 or missing = unlimited.
    rate_limits: dict[str, float] = Field(default_factory=lambda: {"gemini": 60.0, "gemini_text": 60.0, "studio": 0.0})

    # Providers
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None  # tests point the SDK at a loopback emulator
    gemini_models: list[str] = Field(default_factory=lambda: ["gemini-2.5-flash-image", "gemini-3-pro-image-preview"])
    gemini_text_model: str = "gemini-2.5-flash"
    gemini_timeout_seconds: float = 120.0
    batch_threshold: int = Field(50, ge=1)  # jobs with at least this many items may go through the Batch API
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    # Image intake and output
    max_image_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 60_000_000
    min_image_side: int = 256
    output_format: str = "jpeg"
    output_quality: int = Field(90, ge=30, le=100)
    output_max_side: int = Field(2048, ge=256, le=8192)

    # Image store: a local folder by default; an S3-compatible bucket (s3://bucket/prefix) for several machines.
    # Credentials may also come from boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, a role).
    blob_store_url: str | None = None
    s3_endpoint_url: str | None = None  # MinIO, R2 or GCS; None = AWS
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # HTTP to stores and Drive
    http_timeout_seconds: float = 20.0
    http_retries: int = 3
    # Outbound policy (lib/outbound.py). Product images are fetched from the store's own host and these (a CDN;
    # "*.cdn.example.com" for its subdomains). Stores may live on a private or loopback address only when their host
    # is listed in private_store_hosts (a store on the office network, the tests' local emulator).
    image_hosts: list[str] = Field(default_factory=list)
    private_store_hosts: list[str] = Field(default_factory=list)
    # Google Drive: None = the real API; a loopback URL = an emulator (the discovery document's rootUrl is patched)
    drive_root_url: str | None = None

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        # Pricing one model in secrets.toml must not drop the others (their estimates would silently read $0).
        return {**DEFAULT_PRICES, **value}

    @field_validator("output_format")
    @classmethod
    def _format(cls, value: str) -> str:
        value = value.lower()
        if value not in {"jpeg", "webp"}:
            raise ValueError("output_format must be jpeg or webp")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls, _secrets_path.get()))

    @classmethod
    def load(cls, secrets_file: Path | None = SECRETS_FILE, **overrides: Any) -> Settings:
        """Build settings: explicit overrides > environment > secrets.toml > defaults."""
        token = _secrets_path.set(secrets_file)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"Invalid settings: {problems}") from exc
        except SettingsError as exc:  # e.g. RATE_LIMITS='{bad' in the environment: not JSON
            raise ConfigError(
                f"Invalid settings: {exc}. Tables and lists in environment variables are written as "
                """JSON, for example RATE_LIMITS='{"gemini": 60}'."""
            ) from exc
        finally:
            _secrets_path.reset(token)

    # Derived paths -------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self.imagegecko_home.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'imagegecko.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def vault_key_file(self) -> Path:
        return self.home / "vault.key"

    def price(self, model: str) -> ModelPrice:
        return self.prices.get(model) or ModelPrice()

    def rate_limit(self, provider: str) -> float:
        return float(self.rate_limits.get(provider, 0.0) or 0.0)

    def ensure_dirs(self) -> None:
        private_dir(self.home)
        private_dir(self.blob_dir)


# Which secrets file the settings being built read: pydantic-settings gives sources no argument for it, and a
# context variable keeps two threads loading settings at once apart.
_secrets_path: ContextVar[Path | None] = ContextVar("secrets_path", default=SECRETS_FILE)
