"""``analyze()``: one pass over the audio, every feature from the shared front end."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import MIN_AUDIO_S, too_short
from ..errors import AudioError, ConfigError
from . import descriptors, frontend, rhythm, structure, tonal
from .result import FEATURES, Analysis, check_finite

__all__ = ["ANALYZER_VERSION", "DEFAULT_FEATURES", "FEATURE_GROUPS", "analyze", "analysis_params"]

ANALYZER_VERSION = "v14"
"""Version of the analysis algorithms; part of the saved file names and the catalog key."""

ProgressFn = Callable[[float | None, str | None], None]
"""``on_progress(percent, message)``: percent 0-100 (or ``None``), a short message (or ``None``)."""

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "loudness": ("loudness_lufs", "loudness_range_lu", "peak_dbfs"),
    "rhythm": ("tempo_bpm", "tempo_confidence", "tempo_alt_bpm", "tempo_alt_probability", "tempo_note", "beat_count",
               "time_signature", "downbeat_confidence", "onset_rate"),
    "tonal": ("key_tonic", "key_mode", "key_confidence", "key_note", "tuning_cents",
              *(f"chroma_{pc}_mean" for pc in tonal.PITCH_CLASSES)),
    "timbre": ("rms_mean", "spectral_centroid_mean", "spectral_bandwidth_mean", "spectral_rolloff_mean",
               "spectral_flatness_mean", "spectral_contrast_mean", "zcr_mean",
               *(f"mfcc_{i}_mean" for i in range(13)), *(f"mfcc_{i}_var" for i in range(13))),
    "structure": (),
    "descriptors": ("energy", "danceability"),
}
"""Feature groups accepted by ``analyze(features=...)`` and the scalars each one adds (plus ``duration_s``)."""

DEFAULT_FEATURES = tuple(FEATURE_GROUPS)
"""All groups: the default feature set."""

_NEEDS = {"structure": ("rhythm", "tonal", "timbre"), "descriptors": ("rhythm", "timbre", "loudness"),
          "rhythm": ("tonal",)}
SILENCE_DBFS = -70.0
"""Audio none of whose frames reaches this level (frame RMS), dBFS, is silent: it gets no tempo, beats or
key (a near-silent file's noise floor would otherwise read as a pulse). It is the absolute gate of
loudness measurement (ITU-R BS.1770-4: -70 LKFS), the level below which a programme is taken for silence."""
_GATE_BELOW_LOUD_DB = 50.0


def _silence(level_db: np.ndarray, *, loudest_channel_db: float = -200.0) -> tuple[str, np.ndarray]:
    """``(note, quiet)``: a note when the whole file is silent, and the frames too quiet to hold onsets:
    more than 50 dB under the loud frames (the 95th percentile of the frames above :data:`SILENCE_DBFS`:
    fades, gaps, the noise floor). Both are relative to the music, not to the file, so a quiet recording
    is analysed as it would be at any level (measured in docs/benchmarks.md: with an absolute -60 dBFS
    gate, a clip 40 dB quieter changed tempo on 10 of 24 real clips), and 20 s of music after ten
    minutes of silence (a hidden track) is music. A mono mix that is silent while a channel
    (``loudest_channel_db``) is not means that the channels cancel: one is the other polarity-inverted;
    the note says so rather than calling the file silent."""
    if level_db.size == 0:
        return "silent (no audio frames)", np.zeros(0, dtype=bool)
    audible = level_db >= SILENCE_DBFS
    if not audible.any():
        top = float(level_db.max())
        if loudest_channel_db >= SILENCE_DBFS:
            return (f"channels cancel out: a channel reaches {loudest_channel_db:.0f} dBFS but their mono mix only "
                    f"{top:.0f} dBFS, so one is the other polarity-inverted; analyse one channel (e.g. "
                    f"ffmpeg -i IN -af 'pan=mono|c0=c0' OUT.wav)"), np.ones(level_db.size, bool)
        return f"silent (loudest frame {top:.0f} dBFS, below {SILENCE_DBFS:.0f} dBFS)", np.ones(level_db.size, bool)
    loud = float(np.percentile(level_db[audible], 95))
    quiet = level_db < loud - _GATE_BELOW_LOUD_DB
    return "", quiet


def _resolve(features: Iterable[str] | None) -> tuple[str, ...]:
    if features is None:
        return DEFAULT_FEATURES
    if isinstance(features, str):
        features = [features]
    wanted = list(dict.fromkeys(features))
    unknown = [f for f in wanted if f not in FEATURE_GROUPS]
    if unknown:
        raise ConfigError(f"Unknown feature group(s) {unknown}; choose from {list(FEATURE_GROUPS)}.")
    if not wanted:
        raise ConfigError(f"features= is empty; choose from {list(FEATURE_GROUPS)} or pass None for all.")
    todo = list(wanted)
    while todo:
        for dep in _NEEDS.get(todo.pop(), ()):
            if dep not in wanted:
                wanted.append(dep)
                todo.append(dep)
    return tuple(g for g in FEATURE_GROUPS if g in wanted)


def analysis_params(features: Iterable[str] | None = None, *, concert_pitch_prior: bool = True) -> dict[str, Any]:
    """The parameters an analysis runs with (recorded with every result; their hash keys the catalog)."""
    return {"features": list(_resolve(features)), "sr": frontend.ANALYSIS_SR, "n_fft": frontend.N_FFT,
            "hop": frontend.HOP, "tonal_sr": frontend.TONAL_SR, "tonal_n_fft": frontend.TONAL_N_FFT,
            "tonal_hop": frontend.TONAL_HOP, "concert_pitch_prior": bool(concert_pitch_prior)}


def analyze(path_or_array: str | Path | np.ndarray, *, sr: int | None = None,
            features: Iterable[str] | None = None, max_duration_s: float | None = None,
            on_progress: ProgressFn | None = None, concert_pitch_prior: bool = True) -> Analysis:
    """Analyse a file or an array: tempo, beats, key, loudness, timbre, structure and descriptors.

    The audio is decoded once (block by block, so hour-long files stay within ~1 GB), one STFT
    and one long-window tonal spectrum are computed and shared by every feature.

    Parameters
    ----------
    path_or_array : path-like or numpy.ndarray
        An audio file (any format :mod:`soundforge.audio` reads) or samples shaped ``(n,)`` or
        ``(channels, n)``.
    sr : int, optional
        Sample rate of an array, Hz (required for arrays; files carry their own).
    features : iterable of str, optional
        Feature groups (:data:`FEATURE_GROUPS`); default all. Groups needed by the ones asked
        for are added.
    max_duration_s : float, optional
        Longest accepted file, seconds (default: :func:`soundforge.audio.probe`'s limit).
    on_progress : callable, optional
        ``on_progress(percent, message)`` after every decoded block and analysis step.
    concert_pitch_prior : bool
        Weigh the key's tuning references against the published range of concert pitch, A4 = 435-450 Hz
        (default; :func:`soundforge.analysis.tonal.concert_pitch_prior`). ``False`` weighs them by the
        tuning histogram alone: for recordings known to be played far from 440 Hz (tape transfers at the
        wrong speed, historical tunings), where the prior costs accuracy (docs/analysis.md, Key).

    Returns
    -------
    Analysis
        Scalars in ``to_row()``, series for ``.npz``, sections.

    Raises
    ------
    AudioError
        Unreadable, empty, corrupt, NaN/Inf or too long audio; a bad ``sr``.
    ConfigError
        Unknown feature group.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(22050 * 3) / 22050
    >>> a = analyze(0.1 * np.sin(2 * np.pi * 440 * t), sr=22050, features=["tonal"])
    >>> a.chroma_A_mean
    1.0
    """
    from .. import validate as check

    call = "soundforge.analysis.analyze"
    if not isinstance(path_or_array, np.ndarray):
        check.path_like(path_or_array, name="path_or_array", call=call,
                        what="an audio file path (str or pathlib.Path) or a numpy array of samples")
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise check.InvalidArgument(f"{call}: sr={check.shown(sr)} is not usable; give the sample rate in Hz as a "
                                    "whole number > 0.", argument="sr")
    if features is not None:
        features = check.strings(features, name="features", call=call,
                                 what="a feature group or a list of them (FEATURE_GROUPS)")
    check.seconds(max_duration_s, name="max_duration_s", call=call)
    check.callable_or_none(on_progress, name="on_progress", call=call)
    prior = check.boolean(concert_pitch_prior, name="concert_pitch_prior", call=call)
    groups = _resolve(features)
    report = on_progress or (lambda percent, message: None)
    src = frontend.blocks_from(path_or_array, sr=sr, max_duration_s=max_duration_s)
    path, rate = src.path, src.sample_rate
    source = str(path) if path is not None else None
    front = frontend.FrontEnd(sample_rate=rate, channels=src.channels, tonal="tonal" in groups,
                              timbre="timbre" in groups, loudness="loudness" in groups)
    report(0.0, "decoding")
    for block in src.blocks:
        front.push(block)
        report(min(90.0, 90.0 * front.frames_in / max(src.frames, 1)), "decoding")
    if front.frames_in == 0:
        raise AudioError(f"{source or 'The audio array'} has no samples.", path=path, reason="empty")
    if front.frames_in / rate < MIN_AUDIO_S:
        raise too_short(source or "The audio array", front.frames_in / rate, path=path)
    fe = front.finish()
    report(90.0, "rhythm, key and structure")
    feats, series, segments = _features(fe, groups, concert_pitch_prior=prior)
    report(100.0, "done")
    feats = {k: feats[k] for k in FEATURES if k in feats}
    check_finite(feats, source=source)
    return Analysis(features=feats, series=series, segments=tuple(segments), version=ANALYZER_VERSION,
                    params=analysis_params(groups, concert_pitch_prior=prior), source=source)


def _features(fe: frontend.FrontEndResult, groups: tuple[str, ...], *, concert_pitch_prior: bool = True
              ) -> tuple[dict[str, Any], dict[str, np.ndarray], list[structure.Segment]]:
    fps = frontend.ANALYSIS_SR / frontend.HOP
    tonal_s = frontend.TONAL_HOP / frontend.TONAL_SR
    feats: dict[str, Any] = {"duration_s": round(float(fe.duration_s), 6)}
    n_frames = fe.onset.shape[1]
    series: dict[str, np.ndarray] = {"frame_times": (np.arange(n_frames) / fps).astype(np.float32)}
    silent, quiet = _silence(fe.level_db, loudest_channel_db=fe.loudest_channel_db)
    tf = None
    if "tonal" in groups:
        tf = tonal.tonal_features(fe.pitch, fe.tuning_hist, frame_s=tonal_s, pcp_peaks=fe.pcp_peaks,
                                  concert_pitch_hz=tonal.CONCERT_PITCH_HZ if concert_pitch_prior else None)
        step = round(frontend.TONAL_HOP / frontend.TONAL_SR * fps)          # analysis frames per pitch frame
        centres = np.minimum(np.arange(fe.tonal_prominence.size) * step, max(quiet.size - 1, 0))
        quiet_pitch = quiet[centres] if quiet.size else None
        note = silent or tonal.tonal_centre_note(fe.tonal_prominence, quiet=quiet_pitch)
        key = tonal.estimate_key(tf) if not note else tonal.NO_KEY
        note = note or key.note
        feats.update(key_tonic=key.tonic if key.index >= 0 else None, key_mode=key.mode if key.index >= 0 else None,
                     key_confidence=round(key.confidence, 4), key_note=note, tuning_cents=round(100.0 * tf.tuning, 2))
        means = tf.chroma.mean(axis=0) if tf.chroma.shape[0] else np.zeros(12)
        feats.update({f"chroma_{pc}_mean": round(float(v), 5)
                      for pc, v in zip(tonal.PITCH_CLASSES, means, strict=True)})
        series["chroma"] = tf.chroma.T.astype(np.float32)
        series["chroma_times"] = (np.arange(tf.chroma.shape[0]) * tonal_s).astype(np.float32)
    beats = rhythm.Beats(times=np.zeros(0), tempo_bpm=0.0, confidence=0.0)
    met = None
    env = np.zeros(n_frames)
    if "rhythm" in groups:
        env, bands = rhythm.onset_envelope(fe.onset, fps=fps, quiet=quiet if quiet.size == n_frames else None)
        no_pulse = silent or rhythm.pulse_note(fe.onset, quiet=quiet, audible=fe.audible_onset)
        if no_pulse:
            beats = rhythm.Beats(times=np.zeros(0), tempo_bpm=0.0, confidence=0.0, note=no_pulse)
        else:
            energy = rhythm.energy_flux(fe.level_db) if fe.level_db.size == env.size else None
            if energy is not None and quiet.size == env.size:
                energy = np.where(quiet, 0.0, energy)
            beats = rhythm.beat_track(env, fps=fps, bands=bands, energy=energy,
                                      quiet=quiet if quiet.size == env.size else None)
        met = rhythm.meter(beats.times, bands=bands, fps=fps, chroma_frame_s=tonal_s,
                           treble=tf.treble if tf is not None else None, bass=tf.bass if tf is not None else None,
                           harmonic_change=tonal.harmonic_change(tf) if tf is not None else None)
        onsets = rhythm.onsets(env, fps=fps)
        feats.update(tempo_bpm=round(beats.tempo_bpm, 3) if beats.times.size else None,
                     tempo_confidence=round(beats.confidence, 4),
                     tempo_alt_bpm=round(beats.alt_tempo_bpm, 3) if beats.times.size and beats.alt_tempo_bpm else None,
                     tempo_alt_probability=round(beats.alt_probability, 4) if beats.times.size else 0.0,
                     tempo_note=beats.note,
                     beat_count=int(beats.times.size), time_signature=met.time_signature,
                     downbeat_confidence=round(met.confidence, 4),
                     onset_rate=round(onsets.size / max(fe.duration_s, 1e-9), 4))
        series.update(onset_env=env.astype(np.float32), beats=beats.times.astype(np.float64),
                      downbeats=met.downbeats.astype(np.float64))
    if "timbre" in groups:
        tb = fe.timbre
        feats["rms_mean"] = round(_mean(tb["rms"]), 6)
        for name in ("centroid", "bandwidth", "rolloff", "flatness", "contrast"):
            feats[f"spectral_{name}_mean"] = round(_mean(tb[name]), 6)
        feats["zcr_mean"] = round(_mean(tb["zcr"]), 6)
        mfcc = tb["mfcc"]
        for i in range(mfcc.shape[1]):
            feats[f"mfcc_{i}_mean"] = round(_mean(mfcc[:, i]), 5)
            feats[f"mfcc_{i}_var"] = round(float(np.var(mfcc[:, i])) if mfcc.shape[0] else 0.0, 5)
        series.update(rms=tb["rms"], mfcc=np.ascontiguousarray(mfcc.T), spectral_centroid=tb["centroid"])
    if "loudness" in groups:
        loud = fe.loudness
        feats.update(loudness_lufs=round(loud.loudness_lufs, 3), loudness_range_lu=round(loud.loudness_range_lu, 3),
                     peak_dbfs=round(loud.peak_dbfs, 3))
        series["short_term_lufs"] = loud.short_term_lufs
    if "descriptors" in groups:
        strength = rhythm.beat_strength(env, beats.times, fps=fps)
        feats["energy"] = round(descriptors.energy(
            loudness_lufs=feats["loudness_lufs"], onset_rate=feats["onset_rate"],
            spectral_centroid_mean=feats["spectral_centroid_mean"],
            spectral_flatness_mean=feats["spectral_flatness_mean"]), 4)
        feats["danceability"] = round(descriptors.danceability(
            tempo_bpm=beats.tempo_bpm if beats.times.size else 0.0, tempo_confidence=beats.confidence,
            beat_times=beats.times, beat_strength=strength), 4)
    segments: list[structure.Segment] = []
    if "structure" in groups and tf is not None and met is not None:
        segments = structure.segment(duration_s=fe.duration_s, downbeats=met.downbeats, beats=beats.times,
                                     chroma=tf.treble, chroma_times=series["chroma_times"],
                                     mfcc=fe.timbre["mfcc"], mfcc_times=series["frame_times"])
    return feats, series, segments


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else 0.0
