"""Settings are merged in a fixed order and validated once, naming source, key and reason."""

from pathlib import Path

import pytest

from portal.config import load_settings
from portal.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portal.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_source(tmp_path):
    settings = load_settings(environ={}, config_file=None) if not Path("config/portal.toml").exists() else None
    if settings is None:
        pytest.skip("a local config/portal.toml exists")
    assert settings.lookup_deadline_s == 3.0
    assert settings.session_cookie_secure is True
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_file_then_environment_then_overrides(tmp_path):
    path = write(tmp_path, 'data_dir = "/srv/portal"\n[lookup]\ndeadline_s = 5\n[session]\nidle_minutes = 10\n')
    settings = load_settings(environ={"PORTAL_SESSION_IDLE_MINUTES": "15"}, config_file=path)
    assert settings.data_dir == Path("/srv/portal")
    assert settings.lookup_deadline_s == 5.0
    assert settings.session_idle_minutes == 15  # the environment wins over the file
    settings = load_settings({"session_idle_minutes": 20}, environ={"PORTAL_SESSION_IDLE_MINUTES": "15"}, config_file=path)
    assert settings.session_idle_minutes == 20  # and the test mapping over both


def test_portal_config_variable_points_at_the_file(tmp_path):
    path = write(tmp_path, "fanout_workers = 7\n")
    assert load_settings(environ={"PORTAL_CONFIG": str(path)}).fanout_workers == 7


@pytest.mark.parametrize(
    ("text", "environ", "source", "key", "reason"),
    [
        ("[lookup]\ndeadlin_s = 3\n", {}, "portal.toml", "lookup_deadlin_s", "unknown setting"),
        ("[lookup]\ndeadline_s = -1\n", {}, "portal.toml", "lookup_deadline_s", "greater than 0"),
        ("", {"PORTAL_FANOUT_WORKERS": "many"}, "environment PORTAL_FANOUT_WORKERS", "fanout_workers", "valid integer"),
        ('customer_number_pattern = "(["\n', {}, "portal.toml", "customer_number_pattern", "not a regular expression"),
        ('[database]\nurl = "mysql://x"\n', {}, "portal.toml", "database_url", "only sqlite"),
        ("data_dir = \n", {}, "portal.toml", None, "not valid TOML"),
        ('[alerts]\ntext_down = "{system.__class__} down"\n', {}, "portal.toml", "alerts_text_down",
         "unknown placeholder {system.__class__}"),
        ('[alerts]\nsms_body = { to = "{phone}", text = "{password}" }\n', {}, "portal.toml", "alerts_sms_body",
         "unknown placeholder {password}"),
        ('[alerts]\nsms_url = "ftp://gateway"\n', {}, "portal.toml", "alerts_sms_url", "should match pattern"),
        ("", {"PORTAL_ALERTS_SMS_BODY": "{to: phone}"}, "environment PORTAL_ALERTS_SMS_BODY", "alerts_sms_body",
         "not valid JSON"),
        ("[monitor]\ndown_after = 0\n", {}, "portal.toml", "monitor_down_after", "greater than or equal to 1"),
    ],
)
def test_bad_settings_name_source_key_and_reason(tmp_path, text, environ, source, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ, config_file=path)
    error = caught.value
    assert error.source.endswith(source)
    assert error.key == key
    assert reason in error.reason


def test_missing_explicit_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"PORTAL_CONFIG": str(tmp_path / "nope.toml")})


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    from portal.config import ensure_secret_key

    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    first = ensure_secret_key(settings)
    assert first == ensure_secret_key(settings)
    assert len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_the_annotated_example_file_loads_as_it_ships():
    settings = load_settings(environ={}, config_file=REPO / "config" / "portal.example.toml")
    assert settings.alerts_sms_body == {"to": "{phone}", "text": "{text}"}
    assert settings.monitor_down_after == 3 and settings.alerts_roles == ["admin"]


def test_alert_lists_and_sms_body_come_from_the_environment():
    settings = load_settings(environ={
        "PORTAL_ALERTS_EXTRA_EMAILS": "noc@example.internal, duty@example.internal",
        "PORTAL_ALERTS_SMS_BODY": '{"msisdn": "{phone}", "content": "{text}"}',
    })
    assert settings.alerts_extra_emails == ["noc@example.internal", "duty@example.internal"]
    assert settings.alerts_sms_body == {"msisdn": "{phone}", "content": "{text}"}


def test_templates_fill_only_known_names_and_never_reach_attributes():
    from portal.config import fill_template

    assert fill_template("{system_name} is {state}", {"system_name": "BOSS", "state": "down"}) == "BOSS is down"
    assert fill_template("{other} {0}", {}) == "{other} {0}"
