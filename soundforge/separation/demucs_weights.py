"""Finding demucs weights on this machine, without the network and without importing torch.

demucs 4 looks for a model in three places; :func:`locate` checks the same
places by looking at files only, so a missing model is reported in
milliseconds (an offline ``demucs.pretrained.get_model`` spends ~23 s in
network timeouts before failing):

1. a **local repo** (demucs's ``--repo`` layout): a folder with one
   ``<signature>.th`` or ``<signature>-<checksum>.th`` file per model and a
   ``<name>.yaml`` per bag of models (``models: [<signature>, ...]``, optional
   ``weights`` and ``segment``; for the pretrained models the bag files shipped
   with demucs are used when the folder has none); set by ``repo=``,
   ``Workspace(demucs_repo=...)`` or ``$SOUNDFORGE_DEMUCS_REPO``;
2. the **Hugging Face cache** (``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``)
   filled by demucs >= 4.1 (``adefossez/HTDemucs``... with ``<name>.yaml`` and
   ``<signature>.safetensors``);
3. the **torch hub cache** (``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch/hub/checkpoints``)
   filled by older demucs (``<signature>-<checksum>.th`` from ``dl.fbaipublicfiles.com``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelNotAvailable

__all__ = ["KNOWN_MODELS", "Location", "demucs_remote_dir", "hf_cache_dir", "locate", "torch_hub_dir"]

KNOWN_MODELS: dict[str, tuple[str, ...]] = {
    "htdemucs": ("drums", "bass", "other", "vocals"),
    "htdemucs_ft": ("drums", "bass", "other", "vocals"),
    "htdemucs_6s": ("drums", "bass", "other", "vocals", "guitar", "piano"),
    "hdemucs_mmi": ("drums", "bass", "other", "vocals"),
}
"""The pretrained demucs 4 models SoundForge documents, with their stems in demucs's order."""

ROOT_URL = "https://dl.fbaipublicfiles.com/demucs/"
HF_NAMESPACE = "adefossez"


@dataclass(frozen=True)
class Location:
    """Where a model's files were found.

    Attributes
    ----------
    kind : {"repo", "huggingface", "torch_hub"}
        Which of the three places.
    name : str
        Model (bag) name or signature.
    bag : dict
        The bag definition (``models``, optional ``weights`` and ``segment``).
    files : dict[str, pathlib.Path]
        Signature -> weight file.
    root : pathlib.Path
        The folder searched.
    """

    kind: str
    name: str
    bag: Mapping[str, Any]
    files: Mapping[str, Path]
    root: Path
    checksums: Mapping[str, str] = field(default_factory=dict)


def demucs_remote_dir() -> Path | None:
    """demucs's ``remote/`` folder (bag yaml files and ``files.txt``), found without importing demucs."""
    spec = importlib.util.find_spec("demucs")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "remote"
    return path if path.is_dir() else None


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path("~/.cache").expanduser()) / "huggingface" / "hub"


def torch_hub_dir() -> Path:
    """torch hub's checkpoint folder (``torch.hub.get_dir()/checkpoints``) without importing torch."""
    if os.environ.get("TORCH_HOME"):
        base = Path(os.environ["TORCH_HOME"]).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path("~/.cache").expanduser()) / "torch"
    return base / "hub" / "checkpoints"


def hf_repo_name(name: str) -> str:
    """demucs's Hugging Face repository name for a model (``htdemucs_ft`` -> ``HTDemucs-ft``)."""
    if name == "htdemucs":
        return "HTDemucs"
    if name.startswith("htdemucs_"):
        return "HTDemucs-" + name[len("htdemucs_"):]
    return "Demucs-" + name


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        bag = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelNotAvailable(f"The demucs bag file {path} cannot be read ({exc}). Fix or remove it.",
                                path=str(path)) from exc
    if not isinstance(bag, dict) or not isinstance(bag.get("models"), list) or not bag["models"]:
        raise ModelNotAvailable(f"The demucs bag file {path} has no 'models:' list of signatures. It should read "
                                "like: models: ['955717e8'].", path=str(path))
    return bag


def _th_files(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    files: dict[str, Path] = {}
    checksums: dict[str, str] = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return files, checksums
    for entry in entries:
        if entry.suffix == ".th" and entry.is_file():
            sig, _, checksum = entry.stem.partition("-")
            files[sig] = entry
            if checksum:
                checksums[sig] = checksum
    return files, checksums


def _in_repo(name: str, repo: Path) -> Location | None:
    files, checksums = _th_files(repo)
    if name in files:
        return Location("repo", name, {"models": [name]}, {name: files[name]}, repo, checksums)
    yaml_path = repo / f"{name}.yaml"
    if not yaml_path.is_file():  # the .th files alone are enough for a model demucs ships a bag file for
        remote = demucs_remote_dir()
        if remote is None or not (remote / f"{name}.yaml").is_file():
            return None
        bag = _read_yaml(remote / f"{name}.yaml")
        if not all(str(sig) in files for sig in bag["models"]):
            return None
        return Location("repo", name, bag, {str(s): files[str(s)] for s in bag["models"]}, repo, checksums)
    bag = _read_yaml(yaml_path)
    missing = [str(sig) for sig in bag["models"] if str(sig) not in files]
    if missing:
        raise ModelNotAvailable(
            f"demucs model {name!r}: {yaml_path} lists signature(s) {missing} but {repo} has no matching "
            f"'<signature>.th' or '<signature>-<checksum>.th' file. {_download_hint(name, missing)}",
            model=name, path=str(repo))
    return Location("repo", name, bag, {str(s): files[str(s)] for s in bag["models"]}, repo, checksums)


def _hf_snapshot_file(repo_dir: Path, filename: str) -> Path | None:
    ref = repo_dir / "refs" / "main"
    snapshots = repo_dir / "snapshots"
    candidates: list[Path] = []
    if ref.is_file():
        candidates.append(snapshots / ref.read_text().strip() / filename)
    if snapshots.is_dir():
        candidates.extend(sorted(snapshots.glob(f"*/{filename}")))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _in_hf_cache(name: str) -> Location | None:
    namespace, model = (name.split("/", 1) if "/" in name else (HF_NAMESPACE, name))
    repo_dir = hf_cache_dir() / f"models--{namespace}--{hf_repo_name(model)}"
    if not repo_dir.is_dir():
        return None
    yaml_path = _hf_snapshot_file(repo_dir, f"{model}.yaml")
    if yaml_path is None:
        return None
    bag = _read_yaml(yaml_path)
    files = {str(sig): _hf_snapshot_file(repo_dir, f"{sig}.safetensors") for sig in bag["models"]}
    if any(p is None for p in files.values()):
        return None
    return Location("huggingface", name, bag, {k: v for k, v in files.items() if v is not None}, repo_dir)


def remote_urls() -> dict[str, str]:
    """Signature -> download URL of demucs's legacy repository (from its ``remote/files.txt``)."""
    remote = demucs_remote_dir()
    urls: dict[str, str] = {}
    if remote is None or not (remote / "files.txt").is_file():
        return urls
    root = ""
    for line in (remote / "files.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("root:"):
            root = line.split(":", 1)[1].strip()
        else:
            urls[line.split("-", 1)[0]] = ROOT_URL + root + line
    return urls


def _in_torch_hub(name: str) -> Location | None:
    remote = demucs_remote_dir()
    folder = torch_hub_dir()
    if remote is None or not folder.is_dir():
        return None
    urls = remote_urls()
    if (remote / f"{name}.yaml").is_file():
        bag = _read_yaml(remote / f"{name}.yaml")
    elif name in urls:
        bag = {"models": [name]}
    else:
        return None
    files: dict[str, Path] = {}
    checksums: dict[str, str] = {}
    for sig in map(str, bag["models"]):
        if sig not in urls:
            return None
        filename = urls[sig].rsplit("/", 1)[1]
        if not (folder / filename).is_file():
            return None
        files[sig] = folder / filename
        checksums[sig] = Path(filename).stem.partition("-")[2]
    return Location("torch_hub", name, bag, files, folder, checksums)


def _download_hint(name: str, signatures: list[str] | None = None) -> str:
    urls = remote_urls()
    remote = demucs_remote_dir()
    if signatures is None and remote is not None and (remote / f"{name}.yaml").is_file():
        signatures = [str(s) for s in _read_yaml(remote / f"{name}.yaml")["models"]]
    listed = [urls[s] for s in signatures or [] if s in urls]
    if listed:
        files = " ".join(listed)
        return (f"Download {files} and put the file(s) in a folder together with {name}.yaml (a copy of "
                f"demucs/remote/{name}.yaml, i.e. models: {signatures}), then point SOUNDFORGE_DEMUCS_REPO (or "
                "Workspace(demucs_repo=...) / repo=...) at that folder.")
    return ("Put the model's '<signature>.th' file(s) and a '<name>.yaml' bag file (models: [<signature>, ...]) "
            "in a folder and point SOUNDFORGE_DEMUCS_REPO (or Workspace(demucs_repo=...) / repo=...) at it.")


def locate(name: str, *, repo: Path | None = None) -> Location:
    """Find a demucs model's weights on disk (local repo, then Hugging Face cache, then torch hub cache).

    Parameters
    ----------
    name : str
        Model (bag) name such as ``"htdemucs"``, or a single model's signature.
    repo : pathlib.Path, optional
        Local repo folder (demucs's ``--repo`` layout).

    Returns
    -------
    Location

    Raises
    ------
    ModelNotAvailable
        Nothing found (the message lists where we looked and how to provide the
        weights), or a local repo that is not a folder / lists missing files.
    """
    looked: list[str] = []
    if repo is not None:
        repo = Path(repo).expanduser()
        if not repo.is_dir():
            raise ModelNotAvailable(
                f"The demucs repo {repo} (repo= / SOUNDFORGE_DEMUCS_REPO / Workspace(demucs_repo=...)) is not a "
                "folder. Point it at the folder holding the model's .th and .yaml files.",
                model=name, path=str(repo))
        found = _in_repo(name, repo)
        if found is not None:
            return found
        looked.append(f"local repo {repo}")
    for finder, label in ((_in_hf_cache, f"Hugging Face cache {hf_cache_dir()}"),
                          (_in_torch_hub, f"torch hub cache {torch_hub_dir()}")):
        found = finder(name)
        if found is not None:
            return found
        looked.append(label)
    known = "" if name in KNOWN_MODELS else f" (the pretrained models are {sorted(KNOWN_MODELS)})"
    raise ModelNotAvailable(
        f"The weights of demucs model {name!r}{known} are not on this machine; looked in: {'; '.join(looked)}. "
        f"{_download_hint(name)} Or run 'python -m demucs -n {name} any.wav' once on a machine with internet "
        "access and copy its cache (~/.cache/huggingface/hub or ~/.cache/torch/hub) here, or pass "
        "allow_download=True when online. model='dsp' needs no weights at all.",
        model=name)
