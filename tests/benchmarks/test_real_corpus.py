"""The real-audio set builder takes the music of unpacked Debian packages as unannotated clips, with
each file's package, version and licence in the manifest."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .loader import load_benchmark

SR = 48000


def _unpack(root: Path, package: str, rel: str, *, subtype: str) -> None:
    """A package unpacked under ``root``: one 3-second tone at ``rel`` and its Debian changelog."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(3 * SR) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), SR, format="OGG", subtype=subtype)
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "changelog.Debian.gz").write_bytes(gzip.compress(f"{package} (1.2-3) unstable; urgency=medium\n".encode()))


def test_debian_music_becomes_unannotated_clips_with_source_and_licence(tmp_path: Path) -> None:
    bench = load_benchmark("real_corpus")
    root = tmp_path / "deb-root"
    _unpack(root, "supertux-data", "usr/share/games/supertux2/music/forest/theme.ogg", subtype="VORBIS")
    _unpack(root, "warzone2100-music", "usr/share/games/warzone2100/music/albums/a/track1.opus", subtype="OPUS")
    _unpack(root, "frozen-bubble-data", "usr/share/games/frozen-bubble/snd/applause.ogg", subtype="VORBIS")
    rows = bench.build(roots=[], explicit={}, debs=[root], out=tmp_path / "real", min_duration=10.0, max_bytes=0)
    by_id = {r["clip_id"]: r for r in rows}
    assert set(by_id) == {"supertux_forest_theme", "warzone_a_track1"}   # a sound effect is not music
    tux, wz = by_id["supertux_forest_theme"], by_id["warzone_a_track1"]
    assert tux["source_repo"] == "debian:supertux-data"
    assert tux["commit"] == "1.2-3"
    assert tux["source_path"] == "usr/share/games/supertux2/music/forest/theme.ogg"
    assert tux["licence"].startswith("GPL-2.0-or-later")
    assert tux["collection"] == "unannotated:supertux"
    assert wz["file"] == "unannotated/warzone_a_track1.opus"
    assert float(wz["duration_s"]) == pytest.approx(3.0, abs=0.05)   # shorter than min_duration: unannotated stays
    assert (tmp_path / "real" / wz["file"]).read_bytes() == (root / wz["source_path"]).read_bytes()
    with (tmp_path / "real" / "manifest.csv").open() as fh:
        assert {r["clip_id"] for r in csv.DictReader(fh)} == set(by_id)
