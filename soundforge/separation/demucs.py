"""The ``demucs`` backend: demucs 4 models with local weights, live progress and bounded memory.

Weights come from a local folder or a pre-filled cache, never implicitly from
the network (see :mod:`soundforge.separation.demucs_weights`); a missing model
raises :class:`~soundforge.errors.ModelNotAvailable` before torch is even
imported. ``allow_download=True`` lets demucs fetch a model when the workspace
is online.

How a track is separated, compared with ``demucs.api.Separator``:

* the same normalisation (mean and standard deviation of the mono mix over the
  whole track, from a first decoding pass) and the same ``apply_model`` call
  (``segment``, ``overlap``, ``shifts``, ``jobs`` -> ``num_workers``, device);
* but the track is fed in windows of ``chunk_s`` seconds (default 60) with
  context on both sides and a 1 s crossfade, and finished stretches are written
  to the stem files at once, so memory does not grow with the track length
  (demucs on a whole track needs ~4-5 MB per second of audio);
* progress is the fraction of model segments done, from ``apply_model``'s
  per-segment callback; the same callback raises to stop the work on
  cancellation or timeout (at most one segment later);
* ``SystemExit`` raised by demucs's loaders (``fatal()``) becomes a
  :class:`~soundforge.errors.SeparationError`;
* mono mixes are fed as two identical channels and the stems averaged back;
  mixes with more than two channels are separated pair by pair; mixes at
  another sample rate are resampled to the model's (44.1 kHz) and the stems back.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelNotAvailable, SeparationError
from .demucs_weights import KNOWN_MODELS, Location, locate
from .streaming import (
    AudioSource,
    ChunkPlan,
    Control,
    Resampler,
    Stems,
    StemWriter,
    check_finite,
    iter_windows,
    join_windows,
    release_memory,
)

__all__ = ["DEFAULT_CHUNK_S", "DemucsSeparator", "load_model", "resolve_device"]

DEFAULT_CHUNK_S = 60.0
"""Seconds of audio per window (memory grows with it, not with the track)."""

def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into ``"cuda"``, ``"mps"`` or ``"cpu"`` (what is available); check explicit devices."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but torch sees no CUDA GPU (torch {torch.__version__}). "
                          "Use device='auto' or 'cpu'.")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device='mps' but Apple's Metal backend is not available. Use 'auto' or 'cpu'.")
    return device


@contextlib.contextmanager
def _hf_offline(offline: bool) -> Iterator[None]:
    """Make huggingface_hub offline for the duration (env var, and its constant if already imported)."""
    if not offline:
        yield
        return
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants: Any = sys.modules.get("huggingface_hub.constants")
    old_const = getattr(constants, "HF_HUB_OFFLINE", None)
    try:
        if constants is not None:
            constants.HF_HUB_OFFLINE = True
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


def _load_location(location: Location) -> Any:
    """Build the model (or bag of models) from files found by :func:`locate`."""
    from demucs.apply import BagOfModels
    from demucs.repo import check_checksum
    from demucs.states import load_model as demucs_load

    models: list[Any] = []
    for sig in map(str, location.bag["models"]):
        path = location.files[sig]
        if location.kind == "huggingface":
            from demucs.hf import load_safetensors_model

            models.append(load_safetensors_model(path))
            continue
        if sig in location.checksums:
            check_checksum(path, location.checksums[sig])
        models.append(demucs_load(path))
    model: Any
    if len(models) == 1 and location.bag.get("weights") is None and location.bag.get("segment") is None \
            and location.bag["models"] == [location.name]:
        model = models[0]
    else:
        model = BagOfModels(models, location.bag.get("weights"), location.bag.get("segment"))
    model.eval()
    return model


def load_model(name: str, *, repo: Path | None = None, offline: bool = False, allow_download: bool = False) -> Any:
    """Load a demucs model (or bag) from local files, or download it when explicitly allowed.

    Parameters
    ----------
    name : str
        Model name (``"htdemucs"``...) or signature in the local repo.
    repo : pathlib.Path, optional
        Local repo folder (demucs's ``--repo`` layout).
    offline : bool
        Never use the network (``HF_HUB_OFFLINE`` is set while loading).
    allow_download : bool
        When the weights are not on disk and not ``offline``, let demucs download them.

    Returns
    -------
    torch.nn.Module
        A demucs model or ``BagOfModels`` in eval mode.

    Raises
    ------
    ModelNotAvailable
        The weights are not on disk (and downloading is not allowed or failed).
    SeparationError
        The files exist but cannot be loaded (corrupt, wrong checksum, missing ``diffq``...).
    """
    try:
        location = locate(name, repo=repo)
    except ModelNotAvailable as exc:
        if allow_download and offline:
            raise ModelNotAvailable(f"{exc.message} (allow_download=True has no effect: the workspace is offline.)",
                                    **exc.context) from exc
        if not allow_download:
            raise
        return _download(name)
    try:
        with _hf_offline(True):
            return _load_location(location)
    except SystemExit as exc:  # demucs.utils.fatal()
        raise SeparationError(f"demucs refused to load model {name!r} from {location.root} (it tried to exit "
                              f"with {exc.code!r}); see the message printed above.", model=name) from None
    except ImportError as exc:
        raise SeparationError(f"Loading demucs model {name!r} needs a missing package: {exc}. Quantized models "
                              "need 'pip install diffq'.", model=name) from exc
    except Exception as exc:
        raise SeparationError(f"The demucs weights of {name!r} in {location.root} cannot be loaded "
                              f"({type(exc).__name__}: {exc}). Replace the files (a download may have been cut).",
                              model=name, path=str(location.root)) from exc


def _download(name: str) -> Any:
    from demucs.pretrained import get_model

    try:
        with _hf_offline(False):
            model = get_model(name)
    except SystemExit as exc:
        raise ModelNotAvailable(f"demucs could not download model {name!r} (it tried to exit with {exc.code!r}).",
                                model=name) from None
    except Exception as exc:
        raise ModelNotAvailable(f"demucs could not download model {name!r}: {type(exc).__name__}: {exc}. Check "
                                "the connection, or provide the weights locally (SOUNDFORGE_DEMUCS_REPO).",
                                model=name) from exc
    model.eval()
    return model


@dataclass
class _Progress:
    """Turns ``apply_model`` callbacks into a percentage of the whole track.

    Each window (weight = its share of the track) runs ``calls`` model passes
    (bag members x max(1, shifts) x channel groups) of ``per_pass`` segments.
    """

    control: Control
    per_pass: int = 1
    passes: int = 1
    done_before: float = 0.0
    weight: float = 1.0
    ended: int = 0
    current_pass: int = -1
    passes_done: int = 0

    def window(self, *, weight: float, per_pass: int, passes: int) -> None:
        self.weight, self.per_pass, self.passes = weight, max(1, per_pass), max(1, passes)
        self.ended, self.current_pass, self.passes_done = 0, -1, 0

    def callback(self, info: Mapping[str, Any]) -> None:
        self.control.check()  # raises ItemCancelled / ItemTimeout inside apply_model: the work stops
        key = int(info.get("model_idx_in_bag", 0)) * 1000 + int(info.get("shift_idx", 0))
        if key != self.current_pass:
            if self.current_pass != -1:
                self.passes_done += 1
                self.ended = 0
            self.current_pass = key
        if info.get("state") == "end":
            self.ended += 1
            within = min(1.0, (self.passes_done + min(1.0, self.ended / self.per_pass)) / self.passes)
            self.control.report(99.0 * min(1.0, self.done_before + self.weight * within))

    def group_done(self) -> None:
        self.passes_done = min(self.passes, self.passes_done + 1)
        self.current_pass = -1
        self.ended = 0

    def window_done(self) -> None:
        self.done_before = min(1.0, self.done_before + self.weight)
        self.control.report(99.0 * self.done_before)


def _channel_groups(channels: int) -> list[tuple[int, ...]]:
    """Channel pairs fed to a stereo model: mono -> (0,), stereo -> (0, 1), 5 -> (0,1), (2,3), (4,)."""
    return [tuple(range(i, min(i + 2, channels))) for i in range(0, channels, 2)]


def _stats(source: AudioSource, control: Control) -> tuple[float, float, int]:
    """Mean and standard deviation of the mono mix (as demucs normalises) and the frame count, in one pass."""
    total = total_sq = 0.0
    frames = 0
    for block in source.blocks(block_s=30.0):
        control.check()
        mono = block.mean(axis=0, dtype=np.float64)
        total += float(mono.sum())
        total_sq += float(np.dot(mono, mono))
        frames += mono.shape[0]
    if frames == 0:
        from ..errors import AudioError

        raise AudioError(f"Audio file {source.path} decodes to zero samples.", path=source.path, reason="empty")
    mean = total / frames
    var = max(0.0, (total_sq - frames * mean * mean) / max(1, frames - 1))
    return mean, math.sqrt(var), frames


class DemucsSeparator:
    """The ``demucs`` backend (see the module docstring). Claims every model name except ``"dsp"``."""

    name = "demucs"

    def models(self) -> tuple[str, ...]:
        """The pretrained demucs 4 models: ``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``hdemucs_mmi``."""
        return tuple(KNOWN_MODELS)

    def claims(self, model: str) -> bool:
        """Any name other than ``"dsp"`` (custom models in a local repo have free names)."""
        return model != "dsp"

    def stems(self, model: str) -> tuple[str, ...]:
        """Stems of a pretrained model; custom models are assumed to have demucs's four."""
        return KNOWN_MODELS.get(model, KNOWN_MODELS["htdemucs"])

    def options(self, model: str, **opts: Any) -> dict[str, Any]:
        """Validate and complete the options.

        ``device`` (``"auto"``), ``segment`` (seconds or ``None`` = the model's), ``overlap``
        (0.25), ``shifts`` (1), ``jobs`` (0 = no extra threads), ``chunk_s`` (60),
        ``repo`` (default ``$SOUNDFORGE_DEMUCS_REPO``), ``offline`` (default
        ``$SOUNDFORGE_OFFLINE`` or ``$HF_HUB_OFFLINE``), ``allow_download`` (``False``).
        """
        allowed = {"device", "segment", "overlap", "shifts", "jobs", "chunk_s", "repo", "offline", "allow_download"}
        unknown = set(opts) - allowed
        if unknown:
            raise ConfigError(f"Unknown option(s) {sorted(unknown)} for demucs model {model!r}; it accepts "
                              f"{sorted(allowed)}.")
        device = str(opts.get("device") or "auto")
        if not (device in ("auto", "cpu", "mps") or device == "cuda" or
                (device.startswith("cuda:") and device[5:].isdigit())):
            raise ConfigError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}.")
        segment = opts.get("segment")
        if segment is not None and (not isinstance(segment, (int, float)) or not 0.5 <= segment <= 60):
            raise ConfigError(f"segment must be None or seconds in [0.5, 60], got {segment!r}.")
        overlap = opts.get("overlap", 0.25)
        if not isinstance(overlap, (int, float)) or not 0 <= overlap < 1:
            raise ConfigError(f"overlap must be in [0, 1), got {overlap!r}.")
        shifts, jobs = opts.get("shifts", 1), opts.get("jobs", 0)
        for label, value, top in (("shifts", shifts, 20), ("jobs", jobs, 256)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ConfigError(f"{label} must be an integer in [0, {top}], got {value!r}.")
        chunk_s = opts.get("chunk_s", DEFAULT_CHUNK_S)
        if not isinstance(chunk_s, (int, float)) or not 10 <= chunk_s <= 3600:
            raise ConfigError(f"chunk_s must be between 10 and 3600 seconds, got {chunk_s!r}.")
        repo = opts.get("repo") or os.environ.get("SOUNDFORGE_DEMUCS_REPO") or None
        offline = opts.get("offline")
        if offline is None:
            offline = _truthy(os.environ.get("SOUNDFORGE_OFFLINE")) or _truthy(os.environ.get("HF_HUB_OFFLINE"))
        return {"device": device, "segment": None if segment is None else float(segment),
                "overlap": float(overlap), "shifts": shifts, "jobs": jobs, "chunk_s": float(chunk_s),
                "repo": None if repo is None else str(Path(repo).expanduser()), "offline": bool(offline),
                "allow_download": bool(opts.get("allow_download", False))}

    def separate(self, source: AudioSource, *, model: str, out_dir: Path, options: Mapping[str, Any],
                 control: Control, tmp_dir: Path | None = None) -> dict[str, Path]:
        """Load the model, then separate window by window, streaming the stems to ``out_dir``."""
        repo = Path(options["repo"]) if options.get("repo") else None
        net = load_model(model, repo=repo, offline=bool(options["offline"]),
                         allow_download=bool(options["allow_download"]))
        control.check()
        device = resolve_device(str(options["device"]))
        segment = options.get("segment")
        limit = getattr(net, "max_allowed_segment", None) or _htdemucs_segment(net)
        if segment is not None and limit is not None and segment > float(limit):
            raise ConfigError(f"segment={segment} s is longer than model {model!r} allows ({float(limit):g} s).")
        mean, std, frames = _stats(source, control)
        info = source.info
        model_sr = int(net.samplerate)
        sources = tuple(net.sources)
        plan = ChunkPlan.from_seconds(chunk_s=float(options["chunk_s"]), crossfade_s=1.0, context_s=2.0,
                                      sample_rate=model_sr)
        model_frames = max(1, round(frames * model_sr / info.sample_rate))
        progress = _Progress(control)
        seg_s = float(segment if segment is not None else _model_segment(net))
        groups = _channel_groups(info.channels)
        runner = _WindowRunner(net=net, device=device, options=options, mean=mean, std=std, groups=groups,
                               channels=info.channels, sources=sources, progress=progress, segment_s=seg_s,
                               model_sr=model_sr)

        def separated() -> Iterator[tuple[Any, Stems]]:
            for window in iter_windows(source.blocks(sr=model_sr, block_s=10.0), plan):
                control.check()
                progress.window(weight=(window.keep_stop - window.keep_start) / model_frames,
                                per_pass=runner.segments(window.samples.shape[1]),
                                passes=runner.passes_per_group() * len(groups))
                stems = runner(window.samples)
                check_finite(stems, what=str(source.path))
                release_memory()
                progress.window_done()
                yield window, stems

        resample = Resampler(sources, channels=info.channels, from_sr=model_sr, to_sr=info.sample_rate)
        with StemWriter(out_dir, sources, sample_rate=info.sample_rate, channels=info.channels, frames=frames,
                        tmp_dir=tmp_dir) as writer:
            for part in join_windows(separated(), plan):
                writer.write(resample(part))
            tail = resample({s: np.zeros((info.channels, 0), dtype=np.float32) for s in sources}, last=True)
            writer.write(tail)
            control.check()
            paths = writer.commit()
            control.clipping(writer)
            return paths


def _model_segment(net: Any) -> float:
    """The segment length (s) apply_model will use: the model's (the first bag member's for a bag)."""
    inner = net.models[0] if hasattr(net, "models") else net
    return float(inner.segment)


def _htdemucs_segment(net: Any) -> float | None:
    from demucs.htdemucs import HTDemucs

    return float(net.segment) if isinstance(net, HTDemucs) else None


@dataclass
class _WindowRunner:
    """Runs ``apply_model`` on one window, channel group by channel group."""

    net: Any
    device: str
    options: Mapping[str, Any]
    mean: float
    std: float
    groups: list[tuple[int, ...]]
    channels: int
    sources: tuple[str, ...]
    progress: _Progress
    segment_s: float
    model_sr: int

    def passes_per_group(self) -> int:
        members = len(self.net.models) if hasattr(self.net, "models") else 1
        return members * max(1, int(self.options["shifts"]))

    def segments(self, length: int) -> int:
        """Model segments per pass over ``length`` frames (as apply_model strides them)."""
        seg = int(self.model_sr * self.segment_s)
        stride = max(1, int((1 - float(self.options["overlap"])) * seg))
        extra = int(0.5 * self.model_sr) if int(self.options["shifts"]) else 0
        return max(1, -(-(length + extra // 2) // stride))

    def __call__(self, samples: np.ndarray) -> Stems:
        scale = self.std + 1e-8
        if self.groups == [(0, 1)]:  # stereo: the common case, without extra copies
            return dict(zip(self.sources, self._run(samples, scale), strict=True))
        out = {s: np.zeros((self.channels, samples.shape[1]), dtype=np.float32) for s in self.sources}
        for group in self.groups:
            pair = samples[list(group)]
            result = self._run(np.repeat(pair, 2, axis=0) if pair.shape[0] == 1 else pair, scale)
            for k, name in enumerate(self.sources):
                if len(group) == 1:
                    out[name][group[0]] = result[k].mean(axis=0)
                else:
                    out[name][list(group)] = result[k]
            del result
        return out

    def _run(self, pair: np.ndarray, scale: float) -> np.ndarray:
        """``apply_model`` on one ``(2, n)`` window: returns ``(sources, 2, n)`` float32, denormalised."""
        import torch
        from demucs.apply import apply_model

        # a fresh, normalised copy: demucs may work in place on what it is given
        mix = torch.from_numpy(((pair - self.mean) / scale).astype(np.float32))[None]
        try:
            with torch.inference_mode():
                est = apply_model(self.net, mix, shifts=int(self.options["shifts"]), split=True,
                                  overlap=float(self.options["overlap"]), device=self.device,
                                  num_workers=int(self.options["jobs"]), segment=self.options.get("segment"),
                                  progress=False, callback=self.progress.callback)
        except SystemExit as exc:
            raise SeparationError(f"demucs tried to exit ({exc.code!r}) while separating.") from None
        except RuntimeError as exc:
            raise SeparationError(f"demucs failed on {self.device}: {exc}. Try device='cpu' or a smaller "
                                  "segment/chunk_s.", device=self.device) from exc
        del mix
        result = est[0].to("cpu").numpy()  # shares memory with est: scaled in place
        result *= scale
        result += self.mean
        self.progress.group_done()
        return result

