"""The workspace: a notebook's entry point that wires settings, storage, catalog and stages.

>>> import soundforge as sf
>>> ws = sf.Workspace("~/music-lab")                  # doctest: +SKIP
>>> ws.import_audio("~/Music/*.flac")                 # doctest: +SKIP
>>> ws.tracks(); ws.audio(); ws.stats()               # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import validate as check
from .catalog import Catalog
from .config import Settings, load_settings
from .stages import analyze as analyses
from .stages import download as downloads
from .stages import imports
from .stages.base import RunOptions, Stage, StageEnv, require_tracks
from .storage import Storage

if TYPE_CHECKING:
    from .runner import Existing, Record, StageSpec, WorkItem
    from .runner.executors import Executor
    from .runner.resilience import BreakerBoard, RetryPolicy
    from .webhooks import Webhooks

__all__ = ["ANALYZE_COLUMNS", "DOWNLOAD_COLUMNS", "IMPORT_COLUMNS", "Workspace"]

IMPORT_COLUMNS = imports.IMPORT.result_columns()
"""Columns and dtypes of the DataFrame returned by :meth:`Workspace.import_audio`."""

DOWNLOAD_COLUMNS = downloads.DOWNLOAD.result_columns()
"""Columns and dtypes of the DataFrame returned by :meth:`Workspace.download`."""

ANALYZE_COLUMNS = analyses.ANALYZE.result_columns()
"""Columns and dtypes of the DataFrame returned by :meth:`Workspace.analyze`."""

Progress = Any
"""``"auto"``, ``"widget"``, ``"text"``, ``"log"``, ``None`` or a callable taking a ProgressEvent."""


class Workspace:
    """Managed storage plus catalog, and the stages that fill them.

    Parameters
    ----------
    root : str or pathlib.Path, optional
        Storage root; default ``$SOUNDFORGE_HOME``, else ``~/soundforge``.
    executor : str, Executor or distributed.Client, optional
        Where every stage of this workspace runs unless a call says otherwise (``executor=`` of
        :class:`~soundforge.stages.base.RunOptions`); default ``$SOUNDFORGE_EXECUTOR``, else each
        stage's own (threads for I/O, processes for analysis and separation).
    **settings
        Any :class:`~soundforge.config.Settings` field (``max_audio_s=``, ``market=``...),
        overriding environment variables.

    Notes
    -----
    Every stage method (:meth:`import_audio`, :meth:`fetch`, :meth:`download`, :meth:`analyze`,
    :meth:`separate`) takes the same run keywords, documented once in
    :class:`~soundforge.stages.base.RunOptions`: ``workers``, ``timeout``, ``force``, ``progress``,
    ``errors``, ``executor``.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, executor: Any = None,
                 **settings: Any) -> None:
        if root is not None:
            check.path_like(root, name="root", call="Workspace", what="a folder path (str or pathlib.Path), or "
                            "None for $SOUNDFORGE_HOME")
        self.settings: Settings = load_settings(home=root, **settings)
        self.storage = Storage(self.settings.home)
        self.catalog = Catalog(self.storage.catalog_path)
        self.executor: Any = executor if executor is not None else self.settings.executor

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def root(self) -> Path:
        """The storage root."""
        return self.storage.root

    @functools.cached_property
    def webhooks(self) -> Webhooks:
        """This workspace's webhook endpoints and deliveries (see :class:`soundforge.webhooks.Webhooks`).

        Secrets live in ``<root>/.secrets/webhooks/`` (owner-only files); delivery time limit,
        backoff and drain come from the ``webhook_*`` settings.
        """
        from .events.delivery import Backoff
        from .webhooks import Webhooks

        return Webhooks(self.catalog, self.root / ".secrets" / "webhooks", root=self.root,
                        timeout_s=self.settings.webhook_timeout_s,
                        backoff=Backoff(initial_s=self.settings.webhook_backoff_s),
                        drain_s=self.settings.webhook_drain_s)

    # -- stages --------------------------------------------------------------------
    def _run_stage(self, spec: StageSpec, items: Iterable[WorkItem | str], *,
                   params: Mapping[str, Any] | None = None, workers: int | None = None,
                   timeout: float | None = None, force: bool = False, progress: Progress = "auto",
                   errors: str = "record", record: Record | None = None, existing: Existing | None = None,
                   executor: str | Executor | None = None, breakers: BreakerBoard | None = None,
                   retry: RetryPolicy | None = None) -> Any:
        """Run a stage over items against this workspace's catalog (see :func:`soundforge.runner.run_stage`).

        Every public stage method passes its ``workers=``, ``timeout=``, ``force=``,
        ``progress=`` and ``errors=`` keywords through here unchanged. Webhook deliveries of
        the events the stage writes run in the background meanwhile and are drained at its end
        (:meth:`soundforge.webhooks.Webhooks.delivering`).
        """
        from .runner import run_stage

        with self.webhooks.delivering():
            return run_stage(spec, items, catalog=self.catalog, params=params, workers=workers, timeout=timeout,
                             force=force, progress=progress, errors=errors, record=record, existing=existing,
                             executor=executor if executor is not None else self.executor, breakers=breakers,
                             retry=retry)

    @property
    def env(self) -> StageEnv:
        """What stages see of this workspace: catalog, storage, settings."""
        return StageEnv(catalog=self.catalog, storage=self.storage, settings=self.settings)

    def run(self, stage: Stage, options: RunOptions | None = None, /, **request: Any) -> Any:
        """Plan ``stage`` for ``request`` (its method's own keywords) and run it on the runner.

        Parameters
        ----------
        stage : Stage
            A stage object (``soundforge.stages.STAGES``).
        options : RunOptions, optional
            How to run it (workers, timeout, force, progress, errors, executor).
        **request
            The stage's own keywords (``tracks=``, ``model=``...).

        Returns
        -------
        pandas.DataFrame
            The stage's result table.
        """
        opts = options if options is not None else RunOptions()
        plan = stage.plan(self.env, opts, **request)
        self.storage.clean_stale()  # scratch of runs killed mid-stage (never a live process's)
        try:
            result = self._run_stage(stage.spec, plan.items, params=plan.params, workers=opts.workers,
                                     timeout=opts.timeout, force=opts.force, progress=opts.progress,
                                     errors=opts.errors, record=plan.record, existing=plan.existing,
                                     executor=opts.executor)
        finally:
            if plan.close is not None:
                plan.close()
        return plan.finish(result)

    def import_audio(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                     max_duration_s: float | None = None, workers: int | None = None,
                     timeout: float | None = None, force: bool = False, progress: Progress = "auto",
                     errors: str = "record", executor: Any = None) -> Any:
        """Import the user's own audio files (files, folders, glob patterns).

        Each file is fully decoded and checked, copied into ``downloads/`` and
        recorded in the ``tracks`` and ``audio`` tables in one transaction. A bad
        file becomes a ``failed`` row; the others still import. A file already
        imported (same path, size and time) or whose bytes are already in the
        workspace is ``skipped``.

        Parameters
        ----------
        paths : path-like or iterable of path-likes
            Files, folders (walked for audio extensions) and glob patterns.
        max_duration_s : float, optional
            Longest accepted duration in seconds (default: the workspace's ``max_audio_s``).
        workers : int, optional
            Files processed at once (default: up to 4 threads).
        timeout : float, optional
            Seconds per file (default: 120 + 10 per MB, :mod:`soundforge.stages.limits`; ``math.inf``: none).
        force : bool
            Re-validate and re-copy files already imported.
        progress : {"auto", "widget", "text", "log", None} or callable
            How to show progress (see :mod:`soundforge.progress`).
        errors : {"record", "raise"}
            Record failures as rows (default) or raise the first one.
        executor : str, Executor or distributed.Client, optional
            Where the work runs (default: the workspace's, else the stage's own); see
            :class:`~soundforge.stages.base.RunOptions`.

        Returns
        -------
        pandas.DataFrame
            One row per file, columns :data:`IMPORT_COLUMNS`: ``source_path``, ``status``, ``error``,
            ``attempts``, ``seconds_taken``, ``track_id``, ``path``, ``duration_s`` (audio length, s),
            ``sample_rate``, ``channels``, ``format``, ``is_silent``.
        """
        call = "ws.import_audio"
        paths = check.paths(paths, name="paths", call=call)
        check.seconds(max_duration_s, name="max_duration_s", call=call)
        check.run_options(call=call, workers=workers, timeout=timeout, force=force, progress_=progress, errors=errors)
        return self.run(imports.STAGE, RunOptions(workers=workers, timeout=timeout, force=force, progress=progress,
                                                  errors=errors, executor=executor),
                        paths=paths, max_duration_s=max_duration_s)

    def spotify_client(self, **options: Any) -> Any:
        """An :class:`~soundforge.spotify.HttpSpotifyClient` set up for this workspace.

        It uses the workspace's settings (API and token URLs, market) and its token
        cache ``<root>/.cache/spotify/``, shared by every process using the workspace.

        Parameters
        ----------
        **options
            Any ``HttpSpotifyClient`` keyword (``client_id=``, ``client_secret=``,
            ``read_timeout_s=``, ``retry=``...); credentials default to
            ``$SPOTIFY_CLIENT_ID`` / ``$SPOTIFY_CLIENT_SECRET``.
        """
        from .spotify import HttpSpotifyClient

        options.setdefault("settings", self.settings)
        options.setdefault("token_cache", self.root / ".cache" / "spotify")
        return HttpSpotifyClient(**options)

    def fetch(self, url_or_urls: str | Iterable[str], *, market: str | None = None,
              include_groups: Iterable[str] = ("album", "single"), client: Any = None, workers: int | None = None,
              timeout: float | None = None, force: bool = False, progress: Progress = "auto",
              errors: str = "record", executor: Any = None) -> Any:
        """Fetch track metadata from Spotify links into the ``tracks`` table.

        Links: ``https://open.spotify.com/{track,album,playlist,artist}/<id>`` (``intl-xx/``
        and ``?si=`` allowed) or ``spotify:<kind>:<id>`` URIs. A playlist gives its tracks
        (null entries, local files and episodes are skipped), an album its tracks, an
        artist every track of their albums and singles (Spotify no longer offers
        development-mode apps an artist's top tracks). Each track is upserted into
        ``tracks`` (a re-fetch updates the row, never duplicates it, and keeps
        ``created_at``); each link's ordered track list goes to ``track_sources``.
        Credentials come from ``$SPOTIFY_CLIENT_ID`` and ``$SPOTIFY_CLIENT_SECRET``
        (see :meth:`spotify_client`); they are only needed when something is fetched.

        Parameters
        ----------
        url_or_urls : str or iterable of str
            One link or several; all are checked before anything is fetched.
        market : str, optional
            ISO 3166-1 alpha-2 market (default: the ``market`` setting, ``US``).
        include_groups : iterable of str
            For artist links: ``album``, ``single``, ``appears_on``, ``compilation``.
        client : SpotifyClient, optional
            Client to use instead of :meth:`spotify_client` (not closed here).
        workers : int, optional
            Links fetched at once (default 4 threads; pages of one link are sequential).
        timeout : float, optional
            Seconds per link (default: track 60, album 180, playlist/artist 600; ``math.inf``: none;
            every request also has its own 5 s connect / 30 s read limits).
        force : bool
            Fetch links again even if they were fetched before with the same market and groups
            (default: those are ``skipped`` and their rows come from the catalog).
        progress : {"auto", "widget", "text", "log", None} or callable
            How to show progress: per link, the pages and tracks fetched so far.
        errors : {"record", "raise"}
            Record failed links as rows (default) or raise the first error.
        executor : str, Executor or distributed.Client, optional
            Where the work runs (default: the workspace's, else threads); see
            :class:`~soundforge.stages.base.RunOptions`.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`soundforge.stages.fetch.FETCH_COLUMNS`: ``track_id``, ``status``
            (``done``, ``skipped`` = fetched before, ``failed``), ``error``, ``name``, ``artists``,
            ``artist_ids``, ``album``, ``album_id``, ``release_date``, ``duration_ms``,
            ``track_number``, ``disc_number``, ``explicit``, ``isrc``, ``spotify_url``,
            ``source_url`` (the link), ``fetched_at``. One row per track of each link, one row
            per failed link. ``df.attrs["links"]`` holds one dict per link (status, tracks,
            pages, time) and ``df.attrs["skipped_entries"]`` the entries that gave no track.

        Raises
        ------
        SpotifyURLError
            For a link that is not a supported Spotify link (before any request).
        """
        from .stages import fetch as stage

        call = "ws.fetch"
        links = check.strings(url_or_urls, name="url_or_urls", call=call,
                              what="a Spotify link (str) or a list of links")
        check.optional_string(market, name="market", call=call, what="a two-letter market code such as 'US'")
        include_groups = check.strings(include_groups, name="include_groups", call=call,
                                       what="a list of 'album', 'single', 'appears_on', 'compilation'")
        check.run_options(call=call, workers=workers, timeout=timeout, force=force, progress_=progress, errors=errors)
        return self.run(stage.STAGE, RunOptions(workers=workers, timeout=timeout, force=force, progress=progress,
                                                errors=errors, executor=executor),
                        urls=links, market=market, include_groups=include_groups, client=client)

    def download(self, tracks: Any = None, *, format: str = "mp3", bitrate: str = "320k",
                 workers: int | None = None, timeout: float | None = None, force: bool = False,
                 progress: Progress = "auto", errors: str = "record", executor: Any = None) -> Any:
        """Download the audio of Spotify tracks with spotdl (needs network access to YouTube).

        spotdl is given the metadata already in the catalog, so it does not ask
        Spotify again; each file is verified (decodes completely, lasts as long
        as the track) and moved to ``downloads/<track_id>.<format>``, and an
        ``audio`` row (``origin='spotdl'``) is recorded. Tracks that already have
        audio (downloaded in any format, or imported) are ``skipped``. Transient
        failures (network, provider, truncated file, timeout) are retried up to 3
        attempts; a ``spotdl`` circuit breaker stops hammering a failing service.
        See ``docs/download.md``.

        Parameters
        ----------
        tracks : DataFrame, str or iterable of str, optional
            A DataFrame with a ``track_id`` column (e.g. from ``ws.fetch``/``ws.tracks()``),
            one track id, or track ids. Default: every Spotify track in the catalog without audio.
        format : {"mp3", "flac", "ogg", "opus", "m4a", "wav"}
            Output format.
        bitrate : str
            ``"320k"``, ``"192k"``..., ``"auto"``, ``"disable"`` or a VBR quality ``"0"``-``"9"``
            (ignored for flac and wav).
        workers : int, optional
            Downloads at once (default 3).
        timeout : float, optional
            Seconds per attempt (default 600); spotdl and its child processes are killed past it.
        force : bool
            Download again tracks that already have audio (the old file is replaced).
        progress : {"auto", "widget", "text", "log", None} or callable
            How to show progress (see :mod:`soundforge.progress`).
        errors : {"record", "raise"}
            Record failures as rows (default) or raise the first one.
        executor : str, Executor or distributed.Client, optional
            Where the work runs (default: the workspace's, else the stage's own); see
            :class:`~soundforge.stages.base.RunOptions`.

        Returns
        -------
        pandas.DataFrame
            One row per track, columns :data:`DOWNLOAD_COLUMNS`: ``track_id``, ``status``
            (done/skipped/failed), ``error``, ``attempts``, ``seconds_taken``, ``path``,
            ``format``, ``size_bytes``, ``duration_s`` (audio length, s), ``source_url`` (where spotdl found the audio).

        Raises
        ------
        ConfigError
            Unsupported format or bitrate, or ``tracks`` without a ``track_id`` column.
        InvalidIdError
            A track id that cannot name a file.
        DownloaderNotFound
            spotdl or ffmpeg is missing (says how to install them), checked before anything runs.
        """
        call = "ws.download"
        tracks = check.tracks(tracks, call=call)
        check.string(format, name="format", call=call, what="an audio format such as 'mp3' or 'flac'")
        check.string(bitrate, name="bitrate", call=call, what="a bitrate such as '320k', 'auto' or '0'")
        check.run_options(call=call, workers=workers, timeout=timeout, force=force, progress_=progress, errors=errors)
        return self.run(downloads.STAGE, RunOptions(workers=workers, timeout=timeout, force=force,
                                                    progress=progress, errors=errors, executor=executor),
                        tracks=tracks, format=format, bitrate=bitrate)

    def analyze(self, tracks: Any = None, *, features: Iterable[str] | None = None, workers: int | None = None,
                timeout: float | None = None, force: bool = False, progress: Progress = "auto",
                errors: str = "record", executor: Any = None, concert_pitch_prior: bool = True) -> Any:
        """Analyse tracks: tempo, beats, key, loudness, timbre, structure and descriptors.

        Each track's audio is analysed in a worker process with
        :func:`soundforge.analysis.analyze`; its scalars go to the ``analyses``
        table (JSON object ``features``, analyzer version, parameters and their
        hash) and to ``analysis/<track_id>/v1.json``, its frame-level series to
        ``v1.npz`` (``v1-<hash>`` for non-default parameters). Tracks already
        analysed with the same parameters and the same audio are ``skipped``.

        Parameters
        ----------
        tracks : DataFrame, str or iterable of str, optional
            A DataFrame with a ``track_id`` column (e.g. from ``ws.import_audio``/``ws.audio()``),
            one track id, or track ids. Default: every track with audio.
        features : iterable of str, optional
            Feature groups (``soundforge.analysis.FEATURE_GROUPS``); default all.
        workers : int, optional
            Tracks analysed at once, each in its own process (default: the number of CPUs).
        timeout : float, optional
            Seconds per track (default: 120 + 2 x its duration, :mod:`soundforge.stages.limits`;
            ``math.inf``: none); the worker process is killed past it.
        force : bool
            Analyse again tracks already analysed with these parameters.
        progress : {"auto", "widget", "text", "log", None} or callable
            How to show progress (see :mod:`soundforge.progress`).
        errors : {"record", "raise"}
            Record failures as rows (default) or raise the first one.
        executor : str, Executor or distributed.Client, optional
            Where the work runs (default: the workspace's, else the stage's own); see
            :class:`~soundforge.stages.base.RunOptions`.
        concert_pitch_prior : bool
            Weigh the key's tuning references against the published range of concert pitch
            (A4 = 435-450 Hz; default). ``False`` for recordings known to be far from 440 Hz (tape
            transfers at the wrong speed, historical tunings); a different parameter set, saved as
            ``<version>-<hash>`` beside the default analysis.

        Returns
        -------
        pandas.DataFrame
            One row per track, columns :data:`ANALYZE_COLUMNS`: ``track_id``, ``status``, ``error``,
            ``attempts``, ``seconds_taken``, every scalar feature (``duration_s`` = audio length, s;
            ``tempo_bpm``, ``key_tonic``...), ``version``, ``params_hash``, ``json_path``, ``npz_path``.

        Raises
        ------
        ConfigError
            Unknown feature group, a DataFrame without ``track_id``, or tracks without audio.
        TrackNotFound
            A track id this workspace does not know.
        """
        call = "ws.analyze"
        tracks = check.tracks(tracks, call=call)
        if features is not None:
            features = check.strings(features, name="features", call=call,
                                     what="a feature group or a list of them (soundforge.analysis.FEATURE_GROUPS)")
        prior = check.boolean(concert_pitch_prior, name="concert_pitch_prior", call=call)
        check.run_options(call=call, workers=workers, timeout=timeout, force=force, progress_=progress, errors=errors)
        return self.run(analyses.STAGE, RunOptions(workers=workers, timeout=timeout, force=force,
                                                   progress=progress, errors=errors, executor=executor),
                        tracks=tracks, features=features, concert_pitch_prior=prior)

    def separate(self, tracks: Any = None, *, model: str = "auto", device: str = "auto",
                 workers: int | None = None, timeout: float | None = None, force: bool = False,
                 progress: Progress = "auto", errors: str = "record", executor: Any = None,
                 **options: Any) -> Any:
        """Separate tracks into stems: ``stems/<track_id>/<model>/<stem>.flac`` plus ``stems`` rows.

        Each track runs in a worker process (bounded memory: chunked, streamed to
        disk); stems have the mix's sample rate, channels and length. A track
        already separated with the same model, options and audio is ``skipped``.

        Parameters
        ----------
        tracks : DataFrame, str, iterable of str, or None
            Tracks to separate: a frame with ``track_id`` (``ws.audio()``, a stage's result...),
            one id, ids, or ``None`` for every track with audio.
        model : str
            ``"auto"`` (default: the best demucs model whose weights are on this machine, else
            ``"dsp"``; ``result.attrs["model"]`` and the ``model`` column say which ran),
            ``"htdemucs"``, ``"htdemucs_ft"``, ``"htdemucs_6s"``, ``"hdemucs_mmi"`` (demucs; weights
            from ``demucs_repo`` / ``$SOUNDFORGE_DEMUCS_REPO`` or a pre-filled cache) or ``"dsp"``
            (signal processing, no weights).
        device : str
            demucs device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
        workers : int, optional
            Tracks separated at once, one process each (default 1).
        timeout : float, optional
            Seconds per track; the worker is stopped past it (default: dsp 120 + 2 x duration, demucs
            300 + 8 x duration on a CPU or 300 + 2 x on a GPU; ``math.inf``: none).
        force : bool
            Separate again even when done with the same parameters.
        progress : {"auto", "widget", "text", "log", None} or callable
            How to show progress (per-track percentages come from the separator).
        errors : {"record", "raise"}
            Record failures as rows (default) or raise the first one.
        executor : str, Executor or distributed.Client, optional
            Where the work runs (default: the workspace's, else the stage's own); see
            :class:`~soundforge.stages.base.RunOptions`.
        **options
            Backend options: demucs ``segment``, ``overlap``, ``shifts``, ``jobs``, ``chunk_s``,
            ``allow_download``; dsp ``chunk_s``.

        Returns
        -------
        pandas.DataFrame
            One row per stem: ``track_id``, ``model``, ``stem``, ``path``, ``status``, ``error``,
            ``duration_s`` (audio length, s), ``seconds_taken`` (separation time of the track, s),
            ``sample_rate``, ``channels``, ``params_hash``, ``attempts``. ``attrs["model"]``: the model
            that ran; ``attrs["model_reason"]``: why, when ``model="auto"`` chose it.

        Raises
        ------
        ConfigError
            Unknown model (the message lists the known ones) or bad options (before any work).
        TrackNotFound
            A track id this workspace does not know.
        ModelNotAvailable
            demucs weights not found (before any work), with instructions.
        """
        from .stages import separate as sep

        call = "ws.separate"
        tracks = check.tracks(tracks, call=call)
        check.string(model, name="model", call=call, what="a model name such as 'auto', 'dsp' or 'htdemucs'")
        check.string(device, name="device", call=call, what="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        check.run_options(call=call, workers=workers, timeout=timeout, force=force, progress_=progress, errors=errors)
        return self.run(sep.STAGE, RunOptions(workers=workers, timeout=timeout, force=force, progress=progress,
                                              errors=errors, executor=executor),
                        tracks=tracks, model=model, device=device, **options)

    def require_tracks(self, track_ids: Iterable[str]) -> None:
        """Check that every id names a track of this workspace.

        Raises
        ------
        TrackNotFound
            Some ids are unknown here: the message lists them and says where known ids are.
        """
        require_tracks(self.catalog, track_ids, root=self.root)

    # -- readers -------------------------------------------------------------------
    def tracks(self) -> Any:
        """The ``tracks`` table (see :data:`soundforge.catalog.COLUMNS`)."""
        return self.catalog.table("tracks")

    def audio(self) -> Any:
        """The ``audio`` table, with ``path`` made absolute."""
        df = self.catalog.table("audio")
        df["path"] = df["path"].map(lambda p: str(self.storage.resolve(p)), na_action="ignore").astype("string")
        return df

    def features(self) -> Any:
        """Analysed tracks, one row each (latest analysis), with every scalar feature as a column.

        Columns: ``track_id``, ``name``, ``artists``, the features of
        :data:`soundforge.analysis.FEATURES` (``tempo_bpm`` float64, ``key_tonic`` string,
        ``beat_count`` Int64...), ``version``, ``params_hash``, ``analyzed_at`` (UTC),
        ``json_path``, ``npz_path``.
        """
        return analyses.features_table(self.catalog, self.storage)

    def analysis(self, track_id: str) -> Any:
        """The saved :class:`~soundforge.analysis.Analysis` of a track, series included: the latest one with
        the default feature set, else the latest of any.

        Raises
        ------
        AnalysisError
            The track has not been analysed (run ``ws.analyze``) or its files are gone.
        """
        from .analysis import Analysis
        from .errors import AnalysisError
        from .runner.jobs import params_hash
        from .storage import validate_id

        check.string(track_id, name="track_id", call="ws.analysis", what="a track id (see ws.tracks())")
        default = params_hash(analyses.stage_params(None))
        rows = self.catalog.query("SELECT json_path, npz_path FROM analyses WHERE track_id = ? "
                                  "ORDER BY params_hash = ? DESC, created_at DESC LIMIT 1",
                                  (validate_id(track_id), default))
        if not rows:
            raise AnalysisError(f"Track {track_id} has not been analysed; run ws.analyze({track_id!r}) first.",
                                track_id=track_id)
        return Analysis.load(self.storage.resolve(rows[0]["json_path"]), self.storage.resolve(rows[0]["npz_path"]))

    def stems(self, track_id: str | None = None, *, model: str | None = None) -> Any:
        """The ``stems`` table (one row per track, model and stem), with ``path`` made absolute.

        Rows are sorted by track, model and the model's own stem order (``vocals, drums, bass, other``).

        Parameters
        ----------
        track_id : str, optional
            Only this track's stems.
        model : str, optional
            Only this model's stems.
        """
        from .stages.separate import stem_order

        check.optional_string(track_id, name="track_id", call="ws.stems", what="a track id (see ws.tracks())")
        check.optional_string(model, name="model", call="ws.stems", what="a model name such as 'dsp'")
        where = " AND ".join(c for c, v in (("track_id = ?", track_id), ("model = ?", model)) if v is not None)
        df = self.catalog.table("stems", where=where, params=[v for v in (track_id, model) if v is not None])
        df["path"] = df["path"].map(lambda p: str(self.storage.resolve(p)), na_action="ignore").astype("string")
        return stem_order(df)

    def play(self, track_id: str, stem: str | None = None, *, model: str | None = None, start_s: float = 0.0,
             duration_s: float | None = None) -> Any:
        """An audio player (``IPython.display.Audio``) for a track's mix or one of its stems.

        Parameters
        ----------
        track_id : str
            The track.
        stem : str, optional
            ``"vocals"``, ``"drums"``... (default: the mix).
        model : str, optional
            Which separation's stem when several models made one (default: the newest).
        start_s, duration_s : float
            Play only this excerpt, in seconds (decoded and embedded as WAV); by default
            the whole file is embedded as it is.
        """
        from .stages.separate import player

        call = "ws.play"
        check.string(track_id, name="track_id", call=call, what="a track id (see ws.tracks())")
        check.optional_string(stem, name="stem", call=call, what="a stem name such as 'vocals'")
        check.optional_string(model, name="model", call=call, what="a model name such as 'dsp'")
        check.seconds(start_s, name="start_s", call=call, allow_none=False, allow_zero=True)
        check.seconds(duration_s, name="duration_s", call=call)
        self.require_tracks([track_id])
        if stem is None:
            rows = self.catalog.query("SELECT path FROM audio WHERE track_id = ?", (track_id,))
            what = f"track {track_id}"
        else:
            sql = "SELECT path FROM stems WHERE track_id = ? AND stem = ?" + (" AND model = ?" if model else "")
            rows = self.catalog.query(sql + " ORDER BY created_at DESC", (track_id, stem, *([model] if model else [])))
            what = f"stem {stem!r} of track {track_id}" + (f" (model {model!r})" if model else "")
        if not rows:
            from .errors import ConfigError

            if stem is None:
                raise ConfigError(f"No audio of {what} in this workspace; import or download it first.",
                                  track_id=track_id)
            by_model: dict[str, list[str]] = {}
            for m, st in zip(*(self.stems(track_id)[c].tolist() for c in ("model", "stem")), strict=True):
                by_model.setdefault(m, []).append(st)
            if by_model:
                listed = "; ".join(f"{', '.join(map(repr, s))} (model={m!r})" for m, s in by_model.items())
                hint = f"its stems are {listed}"
            else:
                hint = f"it has no stems yet: ws.separate({track_id!r}) first"
            raise ConfigError(f"No {what} in this workspace; {hint}.", track_id=track_id, stem=stem)
        return player(self.storage.resolve(rows[0]["path"]), start_s=start_s, duration_s=duration_s,
                      max_duration_s=self.settings.max_audio_s)

    def browse(self) -> Any:
        """The library browser (a notebook widget): the catalog as a table to filter and sort, and for a
        selected track its players, links and plot (see :mod:`soundforge.browse`)."""
        from .browse import browse

        return browse(self)

    def jobs(self) -> Any:
        """The ``jobs`` table: one row per attempt of a stage item."""
        return self.catalog.table("jobs")

    def stats(self) -> Any:
        """Files and bytes per storage area, plus catalog row counts, as a DataFrame.

        Columns: ``area`` (string), ``files`` (int64), ``bytes`` (int64), ``rows`` (Int64: catalog
        rows for the matching table, missing for areas without one). The ``tmp`` area is scratch space:
        work in progress, and leftovers of runs killed mid-stage until the next stage run removes them.
        """
        df = self.storage.stats().to_dataframe()
        counts = {r["name"]: r["n"] for r in self.catalog.query(
            "SELECT 'tracks' AS name, COUNT(*) AS n FROM tracks UNION ALL SELECT 'audio', COUNT(*) FROM audio "
            "UNION ALL SELECT 'analyses', COUNT(*) FROM analyses UNION ALL SELECT 'stems', COUNT(*) FROM stems "
            "UNION ALL SELECT 'jobs', COUNT(*) FROM jobs")}
        table_of = {"downloads": "audio", "analysis": "analyses", "stems": "stems", "runs": None, "tmp": None,
                    "catalog": "tracks", "total": None}
        df["rows"] = [counts.get(table_of.get(a) or "") for a in df["area"]]
        df["rows"] = df["rows"].astype("Int64")
        return df

    def export(self, path: str | os.PathLike[str]) -> dict[str, Path]:
        """Write every catalog table as ``<path>/<table>.parquet``; returns table -> file."""
        check.path_like(path, name="path", call="ws.export", what="a folder path (str or pathlib.Path)")
        return self.catalog.export(path)

