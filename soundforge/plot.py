"""Figures of analysed tracks and of a whole library (matplotlib).

>>> import soundforge as sf
>>> fig = sf.plot.track(ws, track_id)          # doctest: +SKIP
>>> fig = sf.plot.library(ws)                  # doctest: +SKIP
>>> fig = sf.plot.stems(ws, track_id)          # doctest: +SKIP
>>> fig.savefig("library.png")                 # doctest: +SKIP

Figures are built with :class:`matplotlib.figure.Figure` directly (never
through ``pyplot``), so they work with any backend, including ``Agg`` on a
server, leave no global state behind and are returned to the caller; Jupyter
displays a returned figure inline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AnalysisError, ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .analysis import Analysis

__all__ = ["CIRCLE_OF_FIFTHS", "library", "stems", "track"]

CIRCLE_OF_FIFTHS = ("C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#", "F")
"""Major keys clockwise from the top; the relative minor of each sits on the inner ring."""

_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_SECTION_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
_MAX_SPEC_COLUMNS = 3000
_MAX_WAVE_POINTS = 4000


def _resolve_track(source: Any, track_id: str | None) -> tuple[Analysis, Path | None, str]:
    """The analysis, the audio file (if any) and a title for ``track``."""
    from .analysis import Analysis

    if isinstance(source, Analysis):
        path = Path(source.source) if source.source else None
        return source, path if path is not None and path.is_file() else None, path.name if path else "audio"
    if track_id is None:
        raise ConfigError("plot.track(ws, track_id): give the track id (e.g. from ws.features()['track_id']).")
    analysis = source.analysis(track_id)
    audio = source.audio()
    found = audio[audio["track_id"] == track_id]
    path = Path(str(found["path"].iloc[0])) if len(found) else None
    tracks = source.tracks()
    names = tracks.loc[tracks["track_id"] == track_id, "name"]
    title = str(names.iloc[0]) if len(names) and isinstance(names.iloc[0], str) else track_id
    return analysis, path if path is not None and path.is_file() else None, title


def _mono(path: Path | None) -> tuple[np.ndarray, int] | None:
    """The audio at 11,025 Hz mono, or ``None`` when unavailable."""
    if path is None:
        return None
    from . import audio

    sr = 11025
    return audio.load(path, sr=sr, mono=True).samples[0], sr


def _sections(ax: Axes, analysis: Analysis, *, labels: bool) -> None:
    groups = sorted({s.label for s in analysis.segments})
    colour = {g: _SECTION_COLOURS[i % len(_SECTION_COLOURS)] for i, g in enumerate(groups)}
    for seg in analysis.segments:
        ax.axvspan(seg.start_s, seg.end_s, color=colour[seg.label], alpha=0.12, lw=0)
        if labels:
            ax.text((seg.start_s + seg.end_s) / 2, 0.97, seg.label, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=9, fontweight="bold", color=colour[seg.label])


def _waveform(ax: Axes, analysis: Analysis, mono: tuple[np.ndarray, int] | None) -> None:
    duration = float(analysis.features.get("duration_s", 0.0))
    if mono is not None and mono[0].size:
        y, sr = mono
        step = max(1, y.size // _MAX_WAVE_POINTS)
        n = y.size // step * step
        blocks = y[:n].reshape(-1, step)
        t = (np.arange(blocks.shape[0]) + 0.5) * step / sr
        ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="#333333", lw=0)
        ax.set_ylabel("amplitude")
        top = max(1e-6, float(np.abs(blocks).max()))
    else:
        rms = analysis.series.get("rms", np.zeros(0))
        t = analysis.series.get("frame_times", np.arange(rms.size))
        ax.fill_between(t, -rms, rms, color="#333333", lw=0)
        ax.set_ylabel("RMS")
        top = max(1e-6, float(rms.max()) if rms.size else 1.0)
    ax.set_ylim(-1.15 * top, 1.3 * top)
    _sections(ax, analysis, labels=True)
    for b in analysis.beats:
        ax.axvline(b, color="#1f77b4", lw=0.4, alpha=0.45)
    for b in analysis.downbeats:
        ax.axvline(b, color="#d62728", lw=0.9, alpha=0.8)
    ax.set_xlim(0, duration)
    ax.set_title("waveform · beats (blue) · downbeats (red) · sections (letters = repetitions)", fontsize=9,
                 loc="left")


def _mel_db(y: np.ndarray, sr: int, *, n_fft: int = 2048, n_mels: int = 96) -> tuple[np.ndarray, int, np.ndarray]:
    """Mel power spectrogram of mono ``y`` in dB (``(n_mels, frames)``), its hop (samples) and band edges (Hz).

    The hop grows with the length so that at most ``_MAX_SPEC_COLUMNS`` frames are drawn.
    """
    from .analysis.frontend import _window, power_spectrum
    from .analysis.timbre import mel_filterbank, mel_frequencies

    hop = max(256, int(np.ceil(y.size / _MAX_SPEC_COLUMNS / 256)) * 256)
    padded = np.pad(y.astype(np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    mel = power_spectrum(frames, _window(n_fft)) @ mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels).T
    db = 10.0 * np.log10(np.maximum(mel.T, 1e-10))
    return db, hop, np.concatenate([[0.0], mel_frequencies(n_mels=n_mels, fmax=sr / 2)])


def _hz_axis(ax: Axes, sr: int) -> None:
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.set_yscale("symlog", linthresh=200, linscale=0.4)
    ax.set_ylim(30, sr / 2)
    ax.yaxis.set_major_locator(FixedLocator([100, 250, 500, 1000, 2000, 4000]))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("Hz")


def _spectrogram(fig: Figure, ax: Axes, analysis: Analysis, mono: tuple[np.ndarray, int] | None) -> None:
    duration = float(analysis.features.get("duration_s", 0.0))
    if mono is None or mono[0].size < 2048:
        mfcc = analysis.series.get("mfcc")
        if mfcc is None or not mfcc.size:
            ax.text(0.5, 0.5, "no audio or MFCC to show", ha="center", va="center", transform=ax.transAxes)
            return
        coeffs = ax.imshow(mfcc[1:], origin="lower", aspect="auto", cmap="coolwarm",
                           extent=(0, duration, 0.5, mfcc.shape[0] - 0.5))
        ax.set_ylabel("MFCC")
        fig.colorbar(coeffs, ax=ax, pad=0.01, label="coefficient")
        return
    y, sr = mono
    db, hop, freqs = _mel_db(y, sr)
    db = np.maximum(db - db.max(), -80.0)
    image = ax.pcolormesh(np.arange(db.shape[1] + 1) * hop / sr, freqs, db, shading="flat", cmap="magma",
                          rasterized=True)
    _hz_axis(ax, sr)
    ax.set_xlim(0, duration)
    fig.colorbar(image, ax=ax, pad=0.01, label="dB")
    ax.set_title("mel spectrogram", fontsize=9, loc="left")


def _chromagram(fig: Figure, ax: Axes, analysis: Analysis) -> None:
    chroma = analysis.series.get("chroma")
    duration = float(analysis.features.get("duration_s", 0.0))
    if chroma is None or not chroma.size:
        ax.text(0.5, 0.5, "no chroma (tonal features not computed)", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_yticks([])
        return
    from matplotlib.colors import PowerNorm

    # A power norm (display only; the colour bar shows true values) separates the strong pitch classes.
    image = ax.imshow(chroma, origin="lower", aspect="auto", cmap="Greens", norm=PowerNorm(gamma=2.5, vmin=0, vmax=1),
                      extent=(0, duration, -0.5, 11.5), interpolation="nearest")
    ax.set_yticks(range(12), _PITCH_CLASSES, fontsize=8)
    tonic = analysis.features.get("key_tonic")
    mode = analysis.features.get("key_mode")
    if tonic in _PITCH_CLASSES:
        t = _PITCH_CLASSES.index(tonic)
        steps = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
        for label in ax.get_yticklabels():
            pc = _PITCH_CLASSES.index(label.get_text())
            if (pc - t) % 12 in steps:
                label.set_fontweight("bold")
            if pc == t:
                label.set_color("#d62728")
        ax.axhspan(t - 0.5, t + 0.5, fill=False, edgecolor="#d62728", lw=1.5)
        confidence = analysis.features.get("key_confidence", 0.0)
        ax.set_title(f"chroma · key {tonic} {mode} (red: tonic, bold: its scale; confidence {confidence:.2f})",
                     fontsize=9, loc="left")
    for b in analysis.downbeats:
        ax.axvline(b, color="white", lw=0.5, alpha=0.6)
    ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=ax, pad=0.01, label="salience", ticks=[0.4, 0.6, 0.8, 1.0])


def track(source: Any, track_id: str | None = None, *, figsize: tuple[float, float] = (12.0, 8.0)) -> Figure:
    """One track: waveform with beats and sections, mel spectrogram, chromagram with the key.

    Parameters
    ----------
    source : Workspace or Analysis
        A workspace (with ``track_id``) or an :class:`~soundforge.analysis.Analysis`
        (its ``source`` file, if it still exists, gives the waveform and spectrogram;
        otherwise the RMS envelope and MFCC are shown).
    track_id : str, optional
        The track to show, for a workspace.
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    AnalysisError
        The track has not been analysed.
    ConfigError
        A workspace without ``track_id``.
    """
    from matplotlib.figure import Figure

    analysis, path, title = _resolve_track(source, track_id)
    mono = _mono(path)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 1.4, 1.0])
    _waveform(axes[0], analysis, mono)
    _spectrogram(fig, axes[1], analysis, mono)
    _chromagram(fig, axes[2], analysis)
    f = analysis.features
    facts = [f"{f['tempo_bpm']:.1f} BPM" if f.get("tempo_bpm") is not None
             else f"no tempo ({f['tempo_note']})" if f.get("tempo_note") else None,
             f"{f.get('time_signature')}" if "time_signature" in f else None,
             f"{f['key_tonic']} {f['key_mode']}" if f.get("key_tonic") is not None
             else f"no key ({f['key_note']})" if f.get("key_note") else None,
             f"{f['loudness_lufs']:.1f} LUFS" if "loudness_lufs" in f else None,
             f"{f['duration_s']:.1f} s" if "duration_s" in f else None]
    fig.suptitle(f"{title} — " + " · ".join(x for x in facts if x), fontsize=12, fontweight="bold")
    return fig


def _key_wheel(ax: Axes, table: Any) -> None:
    counts: dict[tuple[str, str], int] = {}
    for tonic, mode in zip(table["key_tonic"], table["key_mode"], strict=True):
        if isinstance(tonic, str) and isinstance(mode, str):
            counts[(tonic, mode)] = counts.get((tonic, mode), 0) + 1
    top = max(counts.values(), default=1)
    angles = np.pi / 2 - 2 * np.pi * np.arange(12) / 12
    ax.set_aspect("equal")
    ax.axis("off")
    for r in (1.0, 0.62):
        ax.add_patch(_circle(r))
    for i, major in enumerate(CIRCLE_OF_FIFTHS):
        minor = _PITCH_CLASSES[(_PITCH_CLASSES.index(major) + 9) % 12]
        for radius, tonic, mode, name, colour in ((1.0, major, "major", major, "#4C72B0"),
                                                  (0.62, minor, "minor", minor + "m", "#C44E52")):
            x, y = radius * np.cos(angles[i]), radius * np.sin(angles[i])
            n = counts.get((tonic, mode), 0)
            if n:
                ax.scatter([x], [y], s=150 + 900 * n / top, color=colour, alpha=0.55, lw=0, zorder=2)
            ax.text(x, y, name, ha="center", va="center", fontsize=9, zorder=3,
                    fontweight="bold" if n else "normal", color="black" if n else "#888888")
            if n:
                ax.text(x, y - 0.13, str(n), ha="center", va="center", fontsize=7, color="#333333", zorder=3)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_title("keys on the circle of fifths\n(outer: major, inner: relative minor; size = tracks)", fontsize=9)


def _circle(radius: float) -> Any:
    from matplotlib.patches import Circle

    return Circle((0, 0), radius, fill=False, color="#cccccc", lw=1)


def library(ws: Any, *, x: str = "danceability", y: str = "energy",
            figsize: tuple[float, float] = (15.0, 4.8)) -> Figure:
    """The analysed library: tempo histogram, key wheel on the circle of fifths, feature scatter.

    Parameters
    ----------
    ws : Workspace
        Its :meth:`~soundforge.workspace.Workspace.features` table is plotted.
    x, y : str
        Numeric feature columns for the scatter (default danceability against energy); points are
        coloured by mode.
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    AnalysisError
        Nothing has been analysed yet.
    ConfigError
        ``x`` or ``y`` is not a numeric feature column.
    """
    from matplotlib.figure import Figure

    table = ws.features() if hasattr(ws, "features") and callable(ws.features) else ws
    if not len(table):
        raise AnalysisError("Nothing has been analysed yet; run ws.analyze() first.")
    for col in (x, y):
        if col not in table.columns or str(table[col].dtype) not in ("float64", "Int64", "int64"):
            raise ConfigError(f"{col!r} is not a numeric feature column; choose e.g. 'tempo_bpm', 'energy', "
                              "'danceability', 'loudness_lufs', 'spectral_centroid_mean'.")
    fig = Figure(figsize=figsize, layout="constrained")
    ax_t, ax_k, ax_s = fig.subplots(1, 3, width_ratios=[1.2, 1.0, 1.2])
    tempi = table["tempo_bpm"].astype("float64").dropna()
    tempi = tempi[tempi > 0]
    bins = np.arange(40, 225, 5)
    ax_t.hist(tempi, bins=bins, color="#4C72B0", edgecolor="white")
    from matplotlib.ticker import MaxNLocator

    ax_t.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_t.set_xlabel("tempo (BPM)")
    ax_t.set_ylabel("tracks")
    ax_t.set_title(f"tempo ({len(tempi)} tracks, median {np.median(tempi):.0f} BPM)" if len(tempi) else "tempo",
                   fontsize=10)
    _key_wheel(ax_k, table)
    colours = {"major": "#4C72B0", "minor": "#C44E52"}
    for mode, colour in colours.items():
        part = table[table["key_mode"] == mode]
        ax_s.scatter(part[x].astype("float64"), part[y].astype("float64"), s=40, color=colour, alpha=0.75,
                     label=mode, edgecolor="white", lw=0.5)
    if {x, y} <= {"energy", "danceability"}:
        ax_s.set_xlim(-0.02, 1.02)
        ax_s.set_ylim(-0.02, 1.02)
    ax_s.set_xlabel(x)
    ax_s.set_ylabel(y)
    ax_s.legend(title="mode", fontsize=8, title_fontsize=8, loc="best")
    ax_s.grid(alpha=0.3)
    ax_s.set_title(f"{y} vs {x}", fontsize=10)
    fig.suptitle(f"Library: {len(table)} analysed tracks", fontsize=12, fontweight="bold")
    return fig


def _stem_files(ws: Any, track_id: str, model: str | None) -> tuple[str, list[tuple[str, Path]], Path]:
    """The model, its ``(stem, path)`` pairs and the mix file of a separated track."""
    table = ws.stems(track_id, model=model)
    if not len(table):
        what = f"with model {model!r} " if model else ""
        raise ConfigError(f"Track {track_id} has no stems {what}in this workspace; run "
                          f"ws.separate({track_id!r}, model=...) first.")
    if model is None:
        model = str(table.sort_values("created_at")["model"].iloc[-1])
        table = table[table["model"] == model]
    audio = ws.audio()
    mix = audio.loc[audio["track_id"] == track_id, "path"]
    if not len(mix):
        raise ConfigError(f"Track {track_id} has no audio in this workspace; import or download it first.")
    return model, [(str(r.stem), Path(str(r.path))) for r in table.itertuples()], Path(str(mix.iloc[0]))


def stems(source: Any, track_id: str | None = None, *, model: str | None = None,
          mix: str | os.PathLike[str] | None = None, title: str | None = None, sr: int = 11025,
          figsize: tuple[float, float] | None = None) -> Figure:
    """A separated track: the mix and each stem as mel spectrograms on one time axis and one dB scale.

    Each row is labelled with the stem's share of the mix's energy (``sum(stem**2) / sum(mix**2)``,
    in %). Stems that add up to the mix do not add up in energy: with soft masks the shares sum
    to less than 100 %.

    Parameters
    ----------
    source : Workspace or mapping of str to path
        A workspace (with ``track_id``), or stem files ``{stem: path}`` such as
        :func:`soundforge.separation.separate` returns.
    track_id : str, optional
        The separated track, for a workspace.
    model : str, optional
        Which separation to show, for a workspace (default: the most recent one).
    mix : path, optional
        The mix, for a mapping of stems (default: no mix row, shares of the stems' sum).
    title : str, optional
        Figure title (default: the track and model).
    sr : int
        Sample rate (Hz) the audio is resampled to for display, mono.
    figsize : (float, float), optional
        Inches (default: 12 wide, 1.7 per row).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ConfigError
        No track id for a workspace, or the track has no audio or no stems (of ``model``).
    AudioError
        A stem or mix file cannot be read.
    """
    from matplotlib.figure import Figure

    from . import audio

    if isinstance(source, Mapping):
        files = [(str(name), Path(path)) for name, path in source.items()]
        rows = ([("mix", Path(mix))] if mix is not None else []) + files
        heading = title or "Stems"
    else:
        if track_id is None:
            raise ConfigError("plot.stems(ws, track_id): give the track id (e.g. from ws.stems()['track_id']).")
        model, files, mix_path = _stem_files(source, track_id, model)
        rows = [("mix", mix_path), *files]
        heading = title or f"Stems of {track_id} ({model})"
    if not files:
        raise ConfigError("plot.stems: no stem files to show.")
    signals = [(name, audio.load(path, sr=sr, mono=True).samples[0]) for name, path in rows]
    if rows[0][0] == "mix":
        reference = signals[0][1]
    else:
        reference = np.sum([y[: min(len(z) for _, z in signals)] for _, y in signals], axis=0)
    total = float(np.sum(np.square(reference, dtype=np.float64))) or 1.0
    spectra = [(name, y, *_mel_db(y, sr)) for name, y in signals]
    top = max(float(db.max()) for _, _, db, _, _ in spectra)
    fig = Figure(figsize=figsize or (12.0, 1.7 * len(rows) + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(rows), 1, sharex=True, sharey=True))
    image = None
    for ax, (name, y, db, hop, freqs) in zip(axes, spectra, strict=True):
        image = ax.pcolormesh(np.arange(db.shape[1] + 1) * hop / sr, freqs, np.maximum(db - top, -80.0),
                              shading="flat", cmap="magma", vmin=-80.0, vmax=0.0, rasterized=True)
        _hz_axis(ax, sr)
        energy = float(np.sum(np.square(y, dtype=np.float64)))
        share = "" if name == "mix" else f" · {100.0 * energy / total:.0f} % of the mix energy"
        ax.set_title(f"{name}{share}", fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, signals[0][1].size / sr)
    if image is not None:
        fig.colorbar(image, ax=list(axes), pad=0.01, label="dB (re. loudest)")
    fig.suptitle(heading, fontsize=12, fontweight="bold")
    return fig
