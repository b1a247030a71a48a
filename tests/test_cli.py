from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from soundforge.cli import build_parser, main

from .download.conftest import FakeSpotdl, track_row
from .download.conftest import fake_spotdl as fake_spotdl  # the stub spotdl fixture

REPO = Path(__file__).resolve().parents[1]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: soundforge" in capsys.readouterr().out


def test_import_then_status(tmp_path: Path, make_audio, bad_files, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_audio("good.flac")
    code = main(["--root", str(tmp_path / "ws"), "import", str(good), str(bad_files["text"])])
    out = capsys.readouterr().out
    assert code == 1  # one file failed
    assert "1 imported or already present, 1 failed" in out
    assert "not a readable audio file" in out
    assert main(["--root", str(tmp_path / "ws"), "status"]) == 0
    out = capsys.readouterr().out
    assert "good" in out
    assert "downloads" in out


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--root", str(blocker / "ws"), "analyze"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot create the workspace")


def test_read_only_commands_never_create_a_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOUNDFORGE_HOME", str(tmp_path / "home-ws"))
    for argv in (["status"], ["export", "out"], ["webhooks", "list"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: No workspace at {tmp_path / 'home-ws'} (no catalog.sqlite there)")
        assert "Pass --root DIR" in err
    assert not (tmp_path / "home-ws").exists()
    assert not (tmp_path / "out").exists()
    (tmp_path / "soundforge-demo").mkdir()
    (tmp_path / "soundforge-demo" / "catalog.sqlite").touch()
    assert main(["status"]) == 1
    assert "The demo's workspace is ./soundforge-demo: add --root soundforge-demo." in capsys.readouterr().err


def test_titles_alias_unknown_ids_and_export(tmp_path: Path, make_audio, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    root = str(tmp_path / "ws")
    assert main(["--root", root, "import", str(make_audio("My Song.flac"))]) == 0
    assert "My Song" in capsys.readouterr().out
    assert main(["--root", root, "status"]) == 0
    out = capsys.readouterr().out
    assert "title" in out
    assert "My Song" in out
    assert main(["--root", root, "analyse", "local-deadbeef"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown track id(s) in the workspace")
    assert "local-deadbeef. soundforge status lists the track ids" in err
    assert "ws." not in err
    assert main(["--root", root, "analyse", "--features", "loudness"]) == 0
    out = capsys.readouterr().out
    assert "My Song" in out
    assert "1 analysed" in out
    assert main(["--root", root, "export", str(tmp_path / "out")]) == 0
    assert "tables of the workspace" in capsys.readouterr().out
    assert pd.read_parquet(tmp_path / "out" / "tracks.parquet")["name"].tolist() == ["My Song"]


def test_mistyped_command_and_choice_get_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["separat"])
    assert info.value.code == 2
    assert "invalid choice: 'separat'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analize"])
    assert "did you mean 'analyze'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["download", "--format", "flak"])
    assert "did you mean 'flac'?" in capsys.readouterr().err


def test_python_words_become_flags() -> None:
    from soundforge.cli import to_shell

    assert to_shell("pass allow_download=True when online. model='dsp' needs no weights") == \
        "pass --allow-download when online. --model dsp needs no weights"
    assert to_shell("run ws.separate('abc') first; ws.import_audio / ws.download") == \
        "run soundforge separate abc first; soundforge import PATH / soundforge download"
    assert to_shell("force=True analyses again") == "--force analyses again"
    assert to_shell("use ws.analyze(concert_pitch_prior=False) for off-speed tapes") == \
        "use soundforge analyze --no-concert-pitch-prior for off-speed tapes"


def test_python_dash_m_and_demo(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "soundforge", "--root", str(tmp_path / "demo"), "demo"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("demo_00") >= 3
    assert (tmp_path / "demo" / "catalog.sqlite").exists()
    # The main job ends with a batch run of the track report notebook, and says where its results are.
    summary = Path(proc.stdout.split("summary table:")[1].split()[0])
    assert summary.is_file()
    assert summary.parent.parent == tmp_path / "demo" / "runs"
    assert len(list(summary.parent.glob("*.ipynb"))) == 3


def test_download_command(tmp_path: Path, fake_spotdl: FakeSpotdl, capsys: pytest.CaptureFixture[str]) -> None:
    from soundforge.catalog import utcnow
    from soundforge.download.spotdl import FORMATS
    from soundforge.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    good, bad = "4uLU6hMCjMI75M1A2tKUQC", "1uLU6hMCjMI75M1A2tKUQC"
    with ws.catalog.transaction() as conn:
        for track_id in (good, bad):
            now = utcnow()
            ws.catalog.upsert(conn, "tracks", {**track_row(track_id), "created_at": now, "updated_at": now},
                              key=["track_id"])
    fake_spotdl.modes({bad: "nomatch"})
    root = ["--root", str(ws.root)]
    assert main([*root, "download", "--timeout", "60"]) == 1  # all fetched tracks without audio; one fails
    out = capsys.readouterr().out
    assert "1 downloaded, 0 already present, 1 failed" in out
    assert "No results found for song" in out
    assert main([*root, "download", good, "--format", "flac"]) == 0
    assert "0 downloaded, 1 already present, 0 failed" in capsys.readouterr().out
    fake_spotdl.modes({})
    assert main([*root, "download"]) == 0
    assert main([*root, "download"]) == 0
    assert "Nothing to download" in capsys.readouterr().out
    choices = next(a for a in build_parser()._actions if a.dest == "command").choices["download"]  # type: ignore
    assert tuple(next(a for a in choices._actions if a.dest == "format").choices) == FORMATS


def test_webhooks_commands(tmp_path: Path, make_audio, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    from standardwebhooks.webhooks import Webhook

    from .events.receiver import Answer, Receiver

    root = ["--root", str(tmp_path / "ws")]
    monkeypatch.setenv("SOUNDFORGE_WEBHOOK_BACKOFF_S", "0.05")
    with Receiver() as rx:
        assert main([*root, "webhooks", "add", rx.url]) == 1
        assert "pass --allow-private" in capsys.readouterr().err
        assert main([*root, "webhooks", "add", rx.url, "--allow-private", "--events", "track.downloaded"]) == 0
        out = capsys.readouterr().out
        webhook_id = out.split()[1]
        secret = out.split("it is never printed again): ")[1].split()[0]
        assert secret.startswith("whsec_")
        monkeypatch.setenv("MY_HOOK_SECRET", "whsec_" + "QUFB" * 8)
        assert main([*root, "webhooks", "add", rx.url + "?b", "--allow-private", "--events", "batch.finished",
                     "--secret-env", "MY_HOOK_SECRET"]) == 0
        assert "QUFB" not in capsys.readouterr().out
        assert main([*root, "webhooks", "test", webhook_id]) == 0
        assert "delivered (HTTP 200" in capsys.readouterr().out
        rx.script(Answer(503), Answer(503), Answer(503), Answer(503), Answer(503))
        assert main([*root, "import", str(make_audio("a.wav", seconds=0.3))]) == 0
        capsys.readouterr()
        assert main([*root, "webhooks", "deliver", "--now", "--retry-failed"]) == 0
        assert "1 delivered" in capsys.readouterr().out
        assert Webhook(secret).verify(rx.requests[-1].body, rx.requests[-1].headers)["type"] == "track.downloaded"
        assert main([*root, "webhooks", "disable", webhook_id]) == 0
        assert main([*root, "webhooks", "list"]) == 0
        listed = capsys.readouterr().out
        assert "disabled by hand" in listed
        assert secret not in listed
        assert main([*root, "webhooks", "enable", webhook_id]) == 0
        assert main([*root, "webhooks", "remove", webhook_id]) == 0
        capsys.readouterr()
        assert main([*root, "webhooks", "test", webhook_id]) == 1
        assert f"No webhook {webhook_id!r}" in capsys.readouterr().err
