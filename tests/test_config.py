"""Settings: defaults, environment, secrets.toml, readable errors, and the price table."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.config import DEFAULT_PRICES, Settings
from lib.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own environment must not leak into these tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def test_defaults(tmp_path: Path) -> None:
    s = Settings.load(secrets_file=None, imagegecko_home=tmp_path)
    assert s.home == tmp_path.resolve()
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'imagegecko.db'}"
    assert s.blob_dir == tmp_path.resolve() / "blobs" and s.vault_key_file == tmp_path.resolve() / "vault.key"
    assert s.worker_concurrency == 8 and s.max_attempts == 5
    assert s.rate_limit("gemini") == 60.0 and s.rate_limit("studio") == 0.0 and s.rate_limit("unknown") == 0.0
    assert s.gemini_api_key is None
    assert s.max_image_pixels == 60_000_000 and s.min_image_side == 256
    assert (s.output_format, s.output_quality, s.output_max_side) == ("jpeg", 90, 2048)


def test_default_home_is_data_in_the_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.load(secrets_file=None).home == tmp_path.resolve() / "data"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMAGEGECKO_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/gecko")
    monkeypatch.setenv("WORKER_CONCURRENCY", "3")
    monkeypatch.setenv("RATE_LIMITS", '{"gemini": 10}')
    monkeypatch.setenv("OUTPUT_FORMAT", "WEBP")
    s = Settings.load(secrets_file=None)
    assert s.home == (tmp_path / "elsewhere").resolve()
    assert s.db_url == "postgresql://db.internal/gecko"
    assert s.worker_concurrency == 3 and s.rate_limit("gemini") == 10.0
    assert s.output_format == "webp"
    # Explicit overrides (tests, CLI flags) win over the environment.
    assert Settings.load(secrets_file=None, worker_concurrency=5).worker_concurrency == 5


def test_secrets_toml_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        'GEMINI_API_KEY = "AIza-from-file"\n'
        "WORKER_CONCURRENCY = 4\n"
        "max_attempts = 7\n"
        'unrelated_app_key = "ignored"\n'
        "[RATE_LIMITS]\ngemini = 30\n"
    )
    s = Settings.load(secrets_file=secrets, imagegecko_home=tmp_path)
    assert s.gemini_api_key is not None and s.gemini_api_key.get_secret_value() == "AIza-from-file"
    assert "AIza-from-file" not in repr(s) and "AIza-from-file" not in str(s)  # SecretStr hides it
    assert (s.worker_concurrency, s.max_attempts, s.rate_limit("gemini")) == (4, 7, 30.0)

    # A missing secrets file is simply not there: defaults apply.
    assert Settings.load(secrets_file=tmp_path / "none.toml", imagegecko_home=tmp_path).worker_concurrency == 8
    monkeypatch.setenv("WORKER_CONCURRENCY", "2")
    assert Settings.load(secrets_file=secrets, imagegecko_home=tmp_path).worker_concurrency == 2


def test_the_secrets_file_does_not_stick_to_later_loads(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("WORKER_CONCURRENCY = 4\n")
    assert Settings.load(secrets_file=secrets, imagegecko_home=tmp_path).worker_concurrency == 4
    assert Settings.load(secrets_file=None, imagegecko_home=tmp_path).worker_concurrency == 8


def test_invalid_values_are_a_config_error_naming_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load(secrets_file=None, worker_concurrency=0)
    assert err.value.message.startswith("Invalid settings: worker_concurrency:")
    assert "greater than or equal to 1" in err.value.message

    with pytest.raises(ConfigError, match="output_format: .*jpeg or webp"):
        Settings.load(secrets_file=None, output_format="gif")

    monkeypatch.setenv("MAX_ATTEMPTS", "lots")
    with pytest.raises(ConfigError, match="max_attempts: .*integer"):
        Settings.load(secrets_file=None)


def test_malformed_json_in_the_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMITS", "{gemini: 60")
    with pytest.raises(ConfigError) as err:
        Settings.load(secrets_file=None)
    assert "rate_limits" in err.value.message and "JSON" in err.value.message


def test_broken_secrets_toml_is_a_config_error_without_its_contents(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('GEMINI_API_KEY = "AIza-unterminated\n')
    with pytest.raises(ConfigError) as err:
        Settings.load(secrets_file=secrets, imagegecko_home=tmp_path)
    assert "not valid TOML" in err.value.message
    assert "AIza" not in err.value.message


def test_a_bad_api_key_value_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("GEMINI_API_KEY = 12345678901234567890\nWORKER_CONCURRENCY = -1\n")
    with pytest.raises(ConfigError) as err:
        Settings.load(secrets_file=secrets, imagegecko_home=tmp_path)
    assert "12345678901234567890" not in err.value.message


def test_price_table_per_image() -> None:
    s = Settings.load(secrets_file=None)
    flash = s.price("gemini-2.5-flash-image")
    # 1290 output tokens at $30 / M = $0.0387 per image, plus the source image and prompt as input.
    assert flash.per_image() == pytest.approx(0.039, abs=0.0005)
    assert flash.per_image(batch=True) == pytest.approx(flash.per_image() / 2)
    pro = s.price("gemini-3-pro-image-preview")
    assert pro.per_image() == pytest.approx(0.134, abs=0.003)  # 1K/2K image: 1120 tokens at $120 / M
    assert s.price("studio").per_image() == 0.0
    assert s.price("not-a-model").per_image() == 0.0


def test_cost_from_usage() -> None:
    flash = Settings.load(secrets_file=None).price("gemini-2.5-flash-image")
    assert flash.from_usage(input_tokens=1_000_000, output_tokens=0) == pytest.approx(0.30)
    assert flash.from_usage(input_tokens=0, output_tokens=1290) == pytest.approx(0.0387)
    assert flash.from_usage(input_tokens=0, output_tokens=1290, batch=True) == pytest.approx(0.01935)


def test_overriding_one_price_keeps_the_others(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[PRICES."gemini-2.5-flash-image"]\noutput_per_mtok = 15.0\nimage_tokens = 1290\n')
    s = Settings.load(secrets_file=secrets, imagegecko_home=tmp_path)
    assert s.price("gemini-2.5-flash-image").per_image() == pytest.approx(1290 * 15.0 / 1e6)
    assert s.price("gemini-3-pro-image-preview") == DEFAULT_PRICES["gemini-3-pro-image-preview"]
