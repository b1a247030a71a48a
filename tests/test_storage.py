from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soundforge.errors import InvalidIdError, StorageError
from soundforge.storage import AREAS, Storage, validate_id


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "ws")


def test_layout_is_created(storage: Storage) -> None:
    for area in AREAS:
        assert (storage.root / area).is_dir()
    assert storage.catalog_path == storage.root / "catalog.sqlite"


@pytest.mark.parametrize("good", ["4uLU6hMCjMI75M1A2tKUQC", "local-0123abcd", "a", "A_b-9", "x" * 128])
def test_valid_ids(good: str) -> None:
    assert validate_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", "../etc", "..", "a/b", "a\\b", "/abs/path", "C:\\x", "a\x00b", "x" * 129, "with space", "dot.name",
     "ünïcode", "a\nb", "~", "$(rm)", None, 42],
)
def test_invalid_ids_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidIdError, match=r"Invalid track id|must be a string"):
        validate_id(bad)


def test_paths_never_escape_the_root(storage: Storage) -> None:
    with pytest.raises(InvalidIdError):
        storage.download_path("../../etc/passwd", "mp3")
    with pytest.raises(InvalidIdError):
        storage.stem_path("ok", "../model", "vocals")
    with pytest.raises(InvalidIdError, match="extension"):
        storage.download_path("ok", "mp3/../../x")
    with pytest.raises(StorageError, match="escapes the workspace"):
        storage.resolve("../outside.txt")
    with pytest.raises(StorageError, match="escapes the workspace"):
        storage.resolve("/etc/passwd")
    with pytest.raises(StorageError, match="outside the workspace"):
        storage.relative("/etc/passwd")


def test_layout_paths(storage: Storage) -> None:
    assert storage.download_path("abc", "MP3") == storage.root / "downloads" / "abc.mp3"
    assert storage.analysis_path("abc", "v1", "json") == storage.root / "analysis" / "abc" / "v1.json"
    assert storage.stem_path("abc", "htdemucs", "vocals") == storage.root / "stems/abc/htdemucs/vocals.flac"
    assert storage.run_dir("run-1").is_dir()


def test_atomic_write_commits_on_success(storage: Storage) -> None:
    final = storage.download_path("t1", "bin")
    storage.write_bytes(final, b"hello")
    assert final.read_bytes() == b"hello"
    assert list((storage.root / "tmp").iterdir()) == []


def test_interrupted_write_leaves_no_file(storage: Storage) -> None:
    final = storage.download_path("t1", "bin")
    with pytest.raises(RuntimeError, match="boom"), storage.atomic_path(final) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert not final.exists()
    assert list((storage.root / "tmp").iterdir()) == []


def test_killed_writer_leaves_no_file_at_final_path(storage: Storage, tmp_path: Path) -> None:
    final = storage.download_path("killed", "bin")
    script = (
        "import sys, time\n"
        "from soundforge.storage import Storage\n"
        "s = Storage(sys.argv[1])\n"
        "with s.atomic_path(s.download_path('killed', 'bin')) as tmp:\n"
        "    with open(tmp, 'wb') as h:\n"
        "        h.write(b'x' * 1000); h.flush()\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", script, str(storage.root)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not final.exists()
    # the orphaned partial file stays in tmp/ only, where clean_tmp removes it
    leftovers = list((storage.root / "tmp").iterdir())
    assert len(leftovers) == 1
    old = time.time() - 3 * 86400
    os.utime(leftovers[0], (old, old))
    assert storage.clean_tmp() == 1


def test_delete_is_idempotent(storage: Storage) -> None:
    final = storage.write_bytes(storage.download_path("t1", "bin"), b"x")
    assert storage.delete(final) is True
    assert storage.delete(final) is False
    folder = storage.stem_path("t1", "dsp", "vocals").parent
    folder.mkdir(parents=True)
    (folder / "vocals.flac").write_bytes(b"1")
    assert storage.delete(storage.root / "stems" / "t1") is True
    assert storage.delete("stems/t1") is False
    with pytest.raises(StorageError, match="root"):
        storage.delete(storage.root)
    with pytest.raises(StorageError, match="escapes"):
        storage.delete("../x")


def test_stats_counts_files_and_bytes(storage: Storage) -> None:
    storage.write_bytes(storage.download_path("a", "bin"), b"x" * 10)
    storage.write_bytes(storage.download_path("b", "bin"), b"x" * 5)
    storage.write_json(storage.analysis_path("a", "v1", "json"), {"k": 1})
    stats = storage.stats()
    assert stats.areas["downloads"] == (2, 15)
    assert stats.areas["analysis"][0] == 1
    df = stats.to_dataframe()
    assert list(df.columns) == ["area", "files", "bytes"]
    assert df.loc[df["area"] == "total", "files"].item() == stats.files == 3


def test_unwritable_root_gives_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="Cannot create the workspace"):
        Storage(blocker / "ws")


def test_clean_stale_removes_scratch_of_dead_processes_only(tmp_path: Path) -> None:
    store = Storage(tmp_path / "ws")
    mine = store.tmp_dir("separate-")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True, timeout=60)
    pid = int(dead.stdout)
    orphan = store.root / "tmp" / f"separate-{pid}-abcd"
    orphan.mkdir()
    (orphan / f".vocals-{pid}.flac.part").write_bytes(b"x" * 10)
    stray = store.root / "tmp" / f".{pid}-track-xyz.flac"
    stray.write_bytes(b"y")
    assert store.clean_stale() == 2
    assert not orphan.exists()
    assert not stray.exists()
    assert mine.is_dir()  # ours: this process is alive
