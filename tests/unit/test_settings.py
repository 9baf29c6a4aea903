"""The settings: what each variable becomes, what is refused at start, and who may read the environment."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seats.settings import SettingsError, read_settings

ROOT = Path(__file__).resolve().parents[2]
SEATS = ROOT / "shared" / "seats"


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = read_settings({})

    assert (settings.table_name, settings.idempotency_table_name, settings.event_bus_name) == (
        "SeatsTable", "IdempotencyTable", "default")
    assert settings.payments == "sandbox"
    assert settings.fixed_now is None  # the real clock
    assert settings.stripe_timeout_s == 10.0
    assert (settings.renewal_queue_url, settings.stripe_api_key, settings.stripe_api_key_parameter,
            settings.stripe_api_base, settings.endpoint_url) == (None, None, None, None, None)


def test_every_variable_reaches_its_field() -> None:
    settings = read_settings({
        "TABLE_NAME": "T", "IDEMPOTENCY_TABLE_NAME": "I", "EVENT_BUS_NAME": "B",
        "RENEWAL_QUEUE_URL": "https://sqs/q", "SEATS_PAYMENTS": "stripe",
        "STRIPE_API_KEY_PARAMETER": "/seats/stripe/api-key", "STRIPE_API_BASE": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "SEATS_NOW": "2026-11-29T10:00:00Z",
        "STRIPE_API_KEY": "sk_test_local", "STRIPE_TIMEOUT_S": "2.5",
    })

    assert (settings.table_name, settings.idempotency_table_name, settings.event_bus_name) == ("T", "I", "B")
    assert settings.renewal_queue_url == "https://sqs/q"
    assert settings.payments == "stripe"
    assert settings.stripe_api_key_parameter == "/seats/stripe/api-key"
    assert settings.stripe_api_base == "http://127.0.0.1:9"
    assert settings.endpoint_url == "http://127.0.0.1:5000"
    assert settings.fixed_now == datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert settings.stripe_api_key == "sk_test_local"
    assert settings.stripe_timeout_s == 2.5


@pytest.mark.parametrize("name", ["RENEWAL_QUEUE_URL", "STRIPE_API_KEY_PARAMETER", "STRIPE_API_BASE",
                                  "AWS_ENDPOINT_URL", "STRIPE_API_KEY", "SEATS_NOW", "STRIPE_TIMEOUT_S"])
def test_an_empty_optional_variable_counts_as_unset(name: str) -> None:
    assert read_settings({name: ""}) == read_settings({})


@pytest.mark.parametrize(("text", "instant"), [
    ("2026-11-29T10:00:00Z", datetime(2026, 11, 29, 10, tzinfo=UTC)),
    ("2026-11-29T11:30:00+01:00", datetime(2026, 11, 29, 10, 30, tzinfo=UTC)),
    ("2026-11-29T10:00:00", datetime(2026, 11, 29, 10, tzinfo=UTC)),  # no offset: UTC
    ("2026-11-29T10:00:00.250Z", datetime(2026, 11, 29, 10, 0, 0, 250000, tzinfo=UTC)),
])
def test_seats_now_becomes_an_aware_utc_instant(text: str, instant: datetime) -> None:
    fixed = read_settings({"SEATS_NOW": text}).fixed_now

    assert fixed == instant
    assert fixed is not None and fixed.utcoffset() is not None and fixed.tzinfo == UTC


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SEATS_PAYMENTS", "paypal", "SEATS_PAYMENTS must be sandbox or stripe, not 'paypal'"),
    ("SEATS_PAYMENTS", "", "SEATS_PAYMENTS must be sandbox or stripe, not ''"),
    ("SEATS_PAYMENTS", "Stripe", "SEATS_PAYMENTS must be sandbox or stripe, not 'Stripe'"),
    ("SEATS_NOW", "tomorrow", "SEATS_NOW must be an ISO 8601 instant"),
    ("SEATS_NOW", "2026-13-01T00:00:00Z", "not '2026-13-01T00:00:00Z'"),
    ("STRIPE_TIMEOUT_S", "ten", "STRIPE_TIMEOUT_S must be a positive number of seconds, not 'ten'"),
    ("STRIPE_TIMEOUT_S", "0", "STRIPE_TIMEOUT_S must be a positive number"),
    ("STRIPE_TIMEOUT_S", "-1", "STRIPE_TIMEOUT_S must be a positive number"),
    ("STRIPE_TIMEOUT_S", "nan", "STRIPE_TIMEOUT_S must be a positive number"),
    ("STRIPE_TIMEOUT_S", "inf", "STRIPE_TIMEOUT_S must be a positive number"),
])
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        read_settings({name: value})

    assert message in str(refused.value)
    assert isinstance(refused.value, RuntimeError)  # `seats-local start` reports it as "cannot start: ..."


def test_the_stripe_key_is_never_shown() -> None:
    settings = read_settings({"STRIPE_API_KEY": "sk_test_never_shown", "SEATS_PAYMENTS": "stripe"})

    assert "sk_test_never_shown" not in repr(settings) and "sk_test_never_shown" not in str(settings)
    assert "payments='stripe'" in repr(settings)


# -- who reads what -----------------------------------------------------------------------------------


def _modules(folder: Path) -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(folder.rglob("*.py"))]


def _reads_environment(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv", "environb", "getenvb"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" \
                and any(alias.name in ("environ", "getenv", "environb", "getenvb") for alias in node.names):
            return True
    return False


def test_the_settings_are_the_only_reader_of_the_environment_in_the_seats_package() -> None:
    readers = [path.relative_to(SEATS).as_posix() for path, tree in _modules(SEATS)
               if _reads_environment(tree)]

    assert readers == ["settings.py"]


def test_adapters_are_given_what_they_need_and_import_neither_bootstrap_nor_settings() -> None:
    forbidden = {"seats.bootstrap", "seats.settings"}
    found = []
    for path, tree in _modules(SEATS / "adapters"):
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            found += [f"{path.relative_to(SEATS)}: {name}" for name in names if name in forbidden]

    assert found == []


def test_importing_the_composition_root_builds_and_reads_nothing() -> None:
    code = (
        "import sys\n"
        "import seats.bootstrap\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'stripe')\n"
        "          or m.startswith('seats.adapters')]\n"
        "print(sorted(loaded), seats.bootstrap.get_settings.cache_info().currsize)\n"
    )
    env = {**os.environ, "SEATS_PAYMENTS": "not-checked-yet"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            check=True, timeout=60, env=env)

    assert result.stdout.strip() == "[] 0"


def test_the_webhook_secret_comes_from_the_variable_or_the_ssm_parameter_never_by_default() -> None:
    assert read_settings({}).stripe_webhook_secret is None and read_settings({}).stripe_webhook_secret_parameter is None
    given = read_settings({"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_WEBHOOK_SECRET_PARAMETER": "/seats/w"})
    assert (given.stripe_webhook_secret, given.stripe_webhook_secret_parameter) == ("whsec_x", "/seats/w")
    assert "whsec_x" not in repr(given)


@pytest.mark.parametrize(("env", "secret"), [({"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "whsec_x"),
                                             ({"STRIPE_WEBHOOK_SECRET": "whsec_x",
                                               "STRIPE_WEBHOOK_SECRET_PARAMETER": "/seats/w"}, "whsec_x"),
                                             ({}, None)])
def test_without_any_webhook_secret_the_webhook_fails_closed(monkeypatch: pytest.MonkeyPatch, env, secret) -> None:
    from seats import bootstrap
    from seats.domain.errors import ServiceUnavailable

    for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    try:
        if secret is None:
            with pytest.raises(ServiceUnavailable):
                bootstrap.webhook_secret()
        else:
            assert bootstrap.webhook_secret() == secret
    finally:
        bootstrap.reset()
