from __future__ import annotations

import pickle

import pytest

from soundforge import errors
from soundforge.errors import AudioError, CircuitOpen, RateLimited, SoundforgeError, is_transient


def test_every_error_derives_from_the_root_and_is_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, SoundforgeError)
            assert name in doc, f"{name} missing from the tree in soundforge.errors' docstring"


def test_context_and_repr() -> None:
    err = AudioError("bad file x.wav", path="x.wav", reason="corrupt")
    assert err.reason == "corrupt"
    assert str(err.path) == "x.wav"
    assert "corrupt" in repr(err)


@pytest.mark.parametrize(
    "err",
    [
        AudioError("m", path="/a.wav", reason="empty"),
        CircuitOpen("open", service="spotify", retry_at=12.5),
        RateLimited("slow down", retry_after=86400.0, url="u"),
        SoundforgeError("plain", track_id="t"),
    ],
)
def test_errors_survive_pickling(err: SoundforgeError) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert back.context == err.context


def test_transient_classification() -> None:
    assert is_transient(errors.SpotifyUnavailable("503"))
    assert is_transient(errors.ItemTimeout("late"))
    assert is_transient(TimeoutError())
    assert not is_transient(AudioError("bad"))
    assert not is_transient(ValueError("x"))
