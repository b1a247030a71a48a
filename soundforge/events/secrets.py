"""Endpoint secrets, kept outside the catalog: one owner-only file per endpoint.

``<workspace>/.secrets/webhooks/<webhook_id>`` (folder mode ``0700``, file mode
``0600``, written atomically). The catalog, its exports, the result tables and
the logs never hold a secret: the catalog is often shared or exported, the
secret is needed only by the process that signs. A file that others can read,
or that belongs to another user, is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from ..errors import ConfigError, StorageError
from ..storage import fsync_dir, validate_id

__all__ = ["SecretStore"]


class SecretStore:
    """The secrets of a workspace's webhook endpoints.

    Parameters
    ----------
    folder : str or pathlib.Path
        Where the files live (``<workspace>/.secrets/webhooks``); created ``0700`` on first write.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"SecretStore({str(self.folder)!r})"

    def path(self, webhook_id: str) -> Path:
        """The file of one endpoint's secret."""
        return self.folder / validate_id(webhook_id, kind="webhook id")

    def write(self, webhook_id: str, secret: str) -> Path:
        """Store a secret (mode ``0600``, atomic replace).

        Raises
        ------
        StorageError
            When the folder or file cannot be written.
        """
        target = self.path(webhook_id)
        tmp: str | None = None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for folder in (self.folder, self.folder.parent):
                if stat.S_IMODE(folder.stat().st_mode) & 0o077:
                    folder.chmod(0o700)
            fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=self.folder)  # mkstemp: mode 0600
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(secret)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            tmp = None
            fsync_dir(self.folder)
        except OSError as exc:
            raise StorageError(f"Cannot store the webhook secret in {self.folder}: {exc.strerror or exc}. "
                               "Check that the workspace folder is writable.", path=str(self.folder)) from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return target

    def read(self, webhook_id: str) -> str:
        """An endpoint's secret.

        Raises
        ------
        ConfigError
            When the file is missing, readable by others or owned by another user.
        """
        path = self.path(webhook_id)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise ConfigError(f"The secret of webhook {webhook_id} is missing ({path}: {exc.strerror or exc}); "
                              "remove the endpoint and add it again.", webhook_id=webhook_id) from exc
        try:
            info = os.fstat(fd)
            if info.st_mode & 0o077 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
                raise ConfigError(f"The secret file of webhook {webhook_id} ({path}) is readable by others or not "
                                  "yours; refusing to use it. Make it yours with mode 600 (chmod 600), or remove "
                                  "the endpoint and add it again with a new secret.", webhook_id=webhook_id)
            with os.fdopen(fd, "r", encoding="ascii", closefd=False) as handle:
                return handle.read(4096).strip()
        finally:
            os.close(fd)

    def delete(self, webhook_id: str) -> None:
        """Remove an endpoint's secret (nothing happens when it is already gone)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(webhook_id).unlink()
