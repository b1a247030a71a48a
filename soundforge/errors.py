"""Errors raised by SoundForge.

Every error SoundForge raises on purpose derives from :class:`SoundforgeError`.
Each one names the input it is about and says what to do next; the
``transient`` class attribute tells the runner whether retrying can help.

::

    SoundforgeError
    ├── ConfigError                  bad setting or argument value
    │   ├── InvalidArgument          an argument of the wrong type or out of range (also a TypeError)
    │   └── TrackNotFound            a track id this workspace does not know
    ├── InvalidIdError               a track id or name that cannot become a path
    ├── StorageError                 a file in the workspace cannot be written/read
    ├── CatalogError                 the SQLite catalog cannot be opened/migrated/written
    ├── AudioError                   unreadable, empty, corrupt, NaN or too long audio
    │   └── DecoderNotFound          ffmpeg is needed but missing
    ├── StageError                   a stage item failed in the runner
    │   ├── ItemTimeout              an item ran past its time limit (transient)
    │   ├── ItemCancelled            the run stopped before the item finished
    │   ├── WorkerCrashed            the worker process died while running the item
    │   └── CircuitOpen              a service's breaker is open (fail fast)
    ├── SpotifyError                 the Spotify Web API refused or failed
    │   ├── SpotifyURLError          a URL/URI that is not a supported Spotify link
    │   ├── SpotifyAuthError         missing/invalid credentials
    │   ├── SpotifyNotFound          404 for an id
    │   ├── SpotifyForbidden         403 for an id (not allowed for this app)
    │   │   └── PremiumRequired      403 "premium required"
    │   ├── RateLimited              429 with a Retry-After beyond the cap
    │   ├── SpotifyBadResponse       a malformed answer, or one about another object than asked for
    │   └── SpotifyUnavailable       5xx, timeouts, connection errors (transient)
    ├── DownloadError                spotdl failed or produced no valid file
    │   ├── DownloaderNotFound       spotdl or ffmpeg missing
    │   ├── NoMatch                  spotdl found no audio for the song
    │   └── DownloadUnavailable      network/provider failure, truncated file (transient)
    ├── AnalysisError                feature extraction failed
    ├── SeparationError              source separation failed
    │   └── ModelNotAvailable        demucs weights not present locally
    ├── BatchError                   a papermill batch could not run
    │   └── SecretParameterError     a parameter name looks like a secret
    └── WebhookError                 webhook delivery failed (transient)
        ├── UnsafeDestination        an endpoint resolves to a loopback/private/link-local/metadata address
        └── WebhookSignatureError    a received webhook's signature or timestamp does not verify
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "AnalysisError",
    "AudioError",
    "BatchError",
    "CatalogError",
    "CircuitOpen",
    "ConfigError",
    "DecoderNotFound",
    "DownloadError",
    "DownloadUnavailable",
    "DownloaderNotFound",
    "InvalidArgument",
    "InvalidIdError",
    "ItemCancelled",
    "ItemTimeout",
    "ModelNotAvailable",
    "NoMatch",
    "PremiumRequired",
    "RateLimited",
    "SecretParameterError",
    "SeparationError",
    "SoundforgeError",
    "SpotifyAuthError",
    "SpotifyBadResponse",
    "SpotifyError",
    "SpotifyForbidden",
    "SpotifyNotFound",
    "SpotifyURLError",
    "SpotifyUnavailable",
    "StageError",
    "StorageError",
    "TrackNotFound",
    "UnsafeDestination",
    "WebhookError",
    "WebhookSignatureError",
    "WorkerCrashed",
    "is_transient",
]


class SoundforgeError(Exception):
    """Root of all SoundForge errors.

    Parameters
    ----------
    message : str
        What went wrong and what to do about it.
    **context
        Extra facts about the failure (``path=``, ``track_id=``, ``url=``...),
        kept in :attr:`context` and shown by :func:`repr`.

    Attributes
    ----------
    transient : bool
        Class attribute: ``True`` when retrying the same work may succeed.
    """

    transient: bool = False

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.context.items())
        return f"{type(self).__name__}({self.message!r}{extra})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep context when errors travel between processes (pickling).
        return (_rebuild, (type(self), self.message, self.context))


def _rebuild(cls: type[SoundforgeError], message: str, context: dict[str, Any]) -> SoundforgeError:
    # Every subclass accepts its context back as keyword arguments.
    return cls(message, **context)


def is_transient(exc: BaseException) -> bool:
    """Tell whether retrying the work that raised ``exc`` may succeed.

    Parameters
    ----------
    exc : BaseException
        Any exception.

    Returns
    -------
    bool
        ``exc.transient`` for SoundForge errors; ``True`` for OS-level
        timeouts and connection errors; ``False`` otherwise.
    """
    if isinstance(exc, SoundforgeError):
        return bool(exc.transient)
    return isinstance(exc, (TimeoutError, ConnectionError))


class ConfigError(SoundforgeError, ValueError):
    """A setting or argument has a value SoundForge cannot use."""


class InvalidArgument(ConfigError, TypeError):
    """An argument of a public function has the wrong type or an unusable value.

    Raised before any work by the checks of :mod:`soundforge.validate`; the message names
    the call, the argument (``name=value``) and what it expects. It is both a
    :class:`ValueError` (through :class:`ConfigError`) and a :class:`TypeError`, so code
    catching either keeps working. The command line exits with status 2 on it.
    """


class TrackNotFound(ConfigError):
    """A track id that is not in this workspace's catalog (a typo, or another workspace's id)."""


class InvalidIdError(SoundforgeError, ValueError):
    """An identifier cannot be used to name a file (unsafe characters, too long...)."""


class StorageError(SoundforgeError, OSError):
    """A file in the workspace could not be written, moved or read."""


class CatalogError(SoundforgeError):
    """The SQLite catalog could not be opened, migrated or written."""


class AudioError(SoundforgeError):
    """Audio that cannot be used: missing, empty, not audio, corrupt, NaN/Inf or too long.

    Attributes
    ----------
    path : pathlib.Path or None
        The file concerned, when there is one.
    reason : str
        A short machine-friendly reason (``"missing"``, ``"empty"``, ``"not_audio"``,
        ``"corrupt"``, ``"non_finite"``, ``"too_long"``, ``"too_short"``, ``"out_of_range"``, ``"chained"``,
        ``"decoder"``).
    """

    def __init__(self, message: str, *, path: str | Path | None = None, reason: str = "invalid",
                 **context: Any) -> None:
        super().__init__(message, path=str(path) if path is not None else None, reason=reason, **context)
        self.path = Path(path) if path is not None else None
        self.reason = reason


class DecoderNotFound(AudioError):
    """ffmpeg is needed to decode this file but is not installed."""


class StageError(SoundforgeError):
    """An item of a stage failed inside the runner."""


class ItemTimeout(StageError):
    """An item ran past its time limit and was stopped."""

    transient = True


class ItemCancelled(StageError):
    """The run stopped (interrupt, ``errors="raise"``) before this item finished."""


class WorkerCrashed(StageError):
    """The worker process running an item died (crash, out of memory, killed from outside)."""


class CircuitOpen(StageError):
    """A service's circuit breaker is open: calls fail fast until it half-opens.

    Attributes
    ----------
    service : str
        The service whose breaker is open (``"spotify"``, ``"spotdl"``...).
    retry_at : float
        Wall-clock time (``time.time()``) when a probe call will be allowed.
    """

    def __init__(self, message: str, *, service: str, retry_at: float, **context: Any) -> None:
        super().__init__(message, service=service, retry_at=retry_at, **context)
        self.service = service
        self.retry_at = retry_at


class SpotifyError(SoundforgeError):
    """The Spotify Web API refused or failed a request."""


class SpotifyURLError(SpotifyError, ValueError):
    """A string that is not a supported Spotify URL, URI or id."""


class SpotifyAuthError(SpotifyError):
    """Credentials are missing or refused by the token endpoint."""


class SpotifyNotFound(SpotifyError):
    """The API answered 404 for an id."""


class SpotifyForbidden(SpotifyError):
    """The API answered 403: this app may not read the item (private playlist, restricted endpoint...)."""


class PremiumRequired(SpotifyForbidden):
    """The API answered 403: the app owner's account needs Spotify Premium."""


class RateLimited(SpotifyError):
    """429 Too Many Requests with a ``Retry-After`` longer than we are allowed to wait.

    Attributes
    ----------
    retry_after : float
        Seconds Spotify asked us to wait.
    """

    def __init__(self, message: str, *, retry_after: float, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


class SpotifyBadResponse(SpotifyError):
    """An answer that cannot be trusted: malformed (missing id, name or duration, wrong types) or
    describing another object than the one asked for (id or type mismatch). Never stored."""


class SpotifyUnavailable(SpotifyError):
    """5xx answers, timeouts and connection errors: worth retrying."""

    transient = True


class DownloadError(SoundforgeError):
    """spotdl failed or left no valid audio file."""


class DownloaderNotFound(DownloadError):
    """The ``spotdl`` executable or ffmpeg is missing."""


class NoMatch(DownloadError):
    """spotdl found no audio source for the song (``LookupError: No results found``)."""


class DownloadUnavailable(DownloadError):
    """The audio provider or network failed, or the file came out truncated: worth retrying."""

    transient = True


class AnalysisError(SoundforgeError):
    """Feature extraction failed for reasons other than bad audio."""


class SeparationError(SoundforgeError):
    """Source separation failed."""


class ModelNotAvailable(SeparationError):
    """The requested separation model's weights are not available locally."""


class BatchError(SoundforgeError):
    """A papermill batch run could not be started or summarised."""


class SecretParameterError(BatchError, ValueError):
    """A notebook parameter name looks like a secret; secrets come from the environment."""


class WebhookError(SoundforgeError):
    """A webhook delivery failed."""

    transient = True


class UnsafeDestination(WebhookError):
    """A webhook endpoint's host resolves to an address we refuse to send to (SSRF protection).

    Loopback, private, link-local (cloud metadata included), multicast and other
    non-public addresses are refused unless the endpoint was added with
    ``allow_private=True``. Retrying does not help: the DNS answer is the problem.
    """

    transient = False


class WebhookSignatureError(WebhookError, ValueError):
    """A received webhook does not verify: missing headers, a stale timestamp or no matching signature."""

    transient = False
