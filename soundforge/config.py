"""Settings: explicit arguments win over environment variables, which win over defaults.

==============================  ==========================================  =============================
setting                         environment variable                        default
==============================  ==========================================  =============================
``home``                        ``SOUNDFORGE_HOME``                         ``~/soundforge``
``max_audio_s``                 ``SOUNDFORGE_MAX_AUDIO_S``                  ``14400`` (4 hours)
``ffmpeg``                      ``SOUNDFORGE_FFMPEG``                       ``ffmpeg`` on ``PATH``
``ffmpeg_timeout_s``            ``SOUNDFORGE_FFMPEG_TIMEOUT_S``             ``600``
``market``                      ``SOUNDFORGE_MARKET``                       ``US``
``spotify_api_url``             ``SOUNDFORGE_SPOTIFY_API_URL``              ``https://api.spotify.com/v1``
``spotify_token_url``           ``SOUNDFORGE_SPOTIFY_TOKEN_URL``            ``https://accounts.spotify.com/api/token``
``offline``                     ``SOUNDFORGE_OFFLINE``                      ``False``
``demucs_repo``                 ``SOUNDFORGE_DEMUCS_REPO``                  ``None``
``spotdl``                      ``SOUNDFORGE_SPOTDL``                       ``spotdl`` on ``PATH``
``webhook_timeout_s``           ``SOUNDFORGE_WEBHOOK_TIMEOUT_S``            ``10``
``webhook_backoff_s``           ``SOUNDFORGE_WEBHOOK_BACKOFF_S``            ``5`` (then x4 per attempt)
``webhook_drain_s``             ``SOUNDFORGE_WEBHOOK_DRAIN_S``              ``10``
``executor``                    ``SOUNDFORGE_EXECUTOR``                     ``None`` (each stage's own)
==============================  ==========================================  =============================
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Settings", "load_settings"]

_ENV = {
    "home": "SOUNDFORGE_HOME",
    "max_audio_s": "SOUNDFORGE_MAX_AUDIO_S",
    "ffmpeg": "SOUNDFORGE_FFMPEG",
    "ffmpeg_timeout_s": "SOUNDFORGE_FFMPEG_TIMEOUT_S",
    "market": "SOUNDFORGE_MARKET",
    "spotify_api_url": "SOUNDFORGE_SPOTIFY_API_URL",
    "spotify_token_url": "SOUNDFORGE_SPOTIFY_TOKEN_URL",
    "offline": "SOUNDFORGE_OFFLINE",
    "demucs_repo": "SOUNDFORGE_DEMUCS_REPO",
    "spotdl": "SOUNDFORGE_SPOTDL",
    "webhook_timeout_s": "SOUNDFORGE_WEBHOOK_TIMEOUT_S",
    "webhook_backoff_s": "SOUNDFORGE_WEBHOOK_BACKOFF_S",
    "webhook_drain_s": "SOUNDFORGE_WEBHOOK_DRAIN_S",
    "executor": "SOUNDFORGE_EXECUTOR",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workspace.

    Attributes
    ----------
    home : pathlib.Path
        Storage root (catalog, downloads, analysis, stems, runs).
    max_audio_s : float
        Longest audio accepted, in seconds; longer files raise ``AudioError``.
    ffmpeg : str
        ffmpeg executable used to decode formats soundfile cannot read.
    ffmpeg_timeout_s : float
        Time limit of one ffmpeg decode, in seconds.
    market : str
        ISO 3166-1 alpha-2 country passed to the Spotify API.
    spotify_api_url, spotify_token_url : str
        Base URL of the Web API and URL of the token endpoint.
    offline : bool
        Never reach the network (model hubs included).
    demucs_repo : pathlib.Path or None
        Local folder holding demucs weights (demucs's ``--repo`` layout).
    spotdl : str
        spotdl executable.
    webhook_timeout_s : float
        Time limit of one webhook delivery attempt (connect, send, answer), in seconds.
    webhook_backoff_s : float
        Delay before a webhook delivery's second attempt, in seconds; each later one waits 4 times longer.
    webhook_drain_s : float
        At most how long a stage keeps sending webhook deliveries after its last item, in seconds
        (what is left is sent by the next stage run or ``ws.webhooks.deliver()``).
    executor : str or None
        Executor every stage uses unless a call names one (``"thread"``, ``"process"``, ``"dask"``...);
        ``None``: each stage's own. Batch kernels get ``thread`` (no worker pool inside a worker).
    """

    home: Path = field(default_factory=lambda: Path("~/soundforge").expanduser())
    max_audio_s: float = 4 * 3600.0
    ffmpeg: str = "ffmpeg"
    ffmpeg_timeout_s: float = 600.0
    market: str = "US"
    spotify_api_url: str = "https://api.spotify.com/v1"
    spotify_token_url: str = "https://accounts.spotify.com/api/token"
    offline: bool = False
    demucs_repo: Path | None = None
    spotdl: str = "spotdl"
    webhook_timeout_s: float = 10.0
    webhook_backoff_s: float = 5.0
    webhook_drain_s: float = 10.0
    executor: str | None = None

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some settings changed (validated like :func:`load_settings`)."""
        return load_settings(env={}, **{**dataclasses.asdict(self), **changes})


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert one raw value (argument or environment string) to the field's type."""
    try:
        if name in {"max_audio_s", "ffmpeg_timeout_s", "webhook_timeout_s"}:
            number = float(value)
            if not number > 0:
                raise ValueError("must be > 0")
            return number
        if name in {"webhook_backoff_s", "webhook_drain_s"}:
            number = float(value)
            if not number >= 0 or number == float("inf"):
                raise ValueError("must be a number of seconds >= 0")
            return number
        if name == "offline":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError("expected one of 1/0, true/false, yes/no, on/off")
        if name == "home":
            return Path(value).expanduser().resolve()
        if name == "executor":
            chosen = None if value in (None, "") else str(value).strip()
            if chosen is not None and not chosen.isidentifier():
                raise ValueError("expected an executor name such as thread, process or dask")
            return chosen
        if name == "demucs_repo":
            return None if value in (None, "") else Path(value).expanduser()
        if name == "market":
            text = str(value).strip().upper()
            if len(text) != 2 or not text.isalpha():
                raise ValueError("expected a two-letter country code such as US or DE")
            return text
        if name in {"spotify_api_url", "spotify_token_url"}:
            text = str(value).rstrip("/")
            if not text.startswith(("http://", "https://")):
                raise ValueError("expected an http(s) URL")
            return text
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Setting {name!r} from {source} has an unusable value {value!r}: {exc}.",
                          setting=name) from exc


def load_settings(*, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings from keyword arguments, then environment variables, then defaults.

    Parameters
    ----------
    env : Mapping[str, str], optional
        Environment to read (default: ``os.environ``).
    **overrides
        Settings given explicitly; ``None`` means "not given".

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        For unknown setting names or unusable values (naming the source).
    """
    environ = os.environ if env is None else env
    names = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"Unknown setting(s) {sorted(unknown)}; known settings are {sorted(names)}.")
    values: dict[str, Any] = {}
    for name in names:
        if overrides.get(name) is not None:
            values[name] = _coerce(name, overrides[name], "the arguments")
        elif environ.get(_ENV[name]) not in (None, ""):
            values[name] = _coerce(name, environ[_ENV[name]], f"${_ENV[name]}")
    if "home" not in values:
        values["home"] = Path("~/soundforge").expanduser().resolve()
    return Settings(**values)
