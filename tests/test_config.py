from __future__ import annotations

from pathlib import Path

import pytest

from soundforge.config import load_settings
from soundforge.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert s.market == "US"
    assert s.spotify_api_url == "https://api.spotify.com/v1"
    assert s.offline is False
    assert s.home == Path("~/soundforge").expanduser().resolve()


def test_arguments_beat_environment_beat_defaults(tmp_path: Path) -> None:
    env = {"SOUNDFORGE_HOME": str(tmp_path / "env"), "SOUNDFORGE_MARKET": "de", "SOUNDFORGE_OFFLINE": "yes"}
    s = load_settings(env=env)
    assert (s.home, s.market, s.offline) == ((tmp_path / "env").resolve(), "DE", True)
    s = load_settings(env=env, home=tmp_path / "arg", market="FR", offline=False)
    assert (s.home, s.market, s.offline) == ((tmp_path / "arg").resolve(), "FR", False)


def test_replace_keeps_other_values(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, market="SE")
    t = s.replace(max_audio_s=10)
    assert (t.home, t.market, t.max_audio_s) == (tmp_path.resolve(), "SE", 10.0)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"SOUNDFORGE_MAX_AUDIO_S": "-1"}, r"max_audio_s.*SOUNDFORGE_MAX_AUDIO_S"),
        ({"SOUNDFORGE_OFFLINE": "maybe"}, "offline"),
        ({"SOUNDFORGE_MARKET": "USA"}, "two-letter"),
        ({"SOUNDFORGE_SPOTIFY_API_URL": "ftp://x"}, "http"),
    ],
)
def test_bad_values_name_their_source(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(env=env)


def test_unknown_setting() -> None:
    with pytest.raises(ConfigError, match="Unknown setting"):
        load_settings(env={}, colour="blue")
