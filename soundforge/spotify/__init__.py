"""Spotify Web API metadata: parse links, authenticate, fetch track rows.

>>> from soundforge.spotify import parse_url
>>> parse_url("https://open.spotify.com/intl-de/track/4uLU6hMCjMI75M1A2tKUQC?si=abc").uri
'spotify:track:4uLU6hMCjMI75M1A2tKUQC'

Modules: :mod:`.urls` (parse links), :mod:`.auth` (credentials, shared token cache),
:mod:`.client` (``SpotifyClient`` Protocol, httpx implementation, retries, rate limits),
:mod:`.http` (retry policy, counters, ``Retry-After``, error bodies),
:mod:`.models` (JSON -> rows), :mod:`.fetch` (one link -> rows).
"""

from __future__ import annotations

from .auth import Credentials, Secret, Token, TokenCache, TokenProvider
from .client import PAGE_SIZES, Breaker, HttpSpotifyClient, NullBreaker, Page, RequestStats, RetryPolicy, SpotifyClient
from .fetch import FetchProgress, FetchResult, fetch_ref, results_dataframe
from .models import SKIP_COLUMNS, TRACK_COLUMNS, Skip, TrackRow, track_row
from .urls import SpotifyRef, is_spotify_id, parse_url, parse_urls

__all__ = [
    "PAGE_SIZES",
    "SKIP_COLUMNS",
    "TRACK_COLUMNS",
    "Breaker",
    "Credentials",
    "FetchProgress",
    "FetchResult",
    "HttpSpotifyClient",
    "NullBreaker",
    "Page",
    "RequestStats",
    "RetryPolicy",
    "Secret",
    "Skip",
    "SpotifyClient",
    "SpotifyRef",
    "Token",
    "TokenCache",
    "TokenProvider",
    "TrackRow",
    "fetch_ref",
    "is_spotify_id",
    "parse_url",
    "parse_urls",
    "results_dataframe",
    "track_row",
]
