"""Where a device keeps its tokens, so a restarted till or kiosk continues the same customer and session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

import msgspec


class Credentials(msgspec.Struct, kw_only=True):
    """What a device holds: the customer token to resume the customer, the session token to act as this device."""

    customer_id: str | None = None
    customer_token: str | None = None
    session_id: str | None = None
    session_token: str | None = None


class TokenStore(Protocol):
    """Pluggable storage for Credentials (a keychain, a secure element, a file ...)."""

    def load(self) -> Credentials: ...

    def save(self, credentials: Credentials) -> None: ...


class MemoryTokenStore:
    """Forgets everything when the process ends; for tests and short-lived tools."""

    def __init__(self) -> None:
        self._credentials = Credentials()

    def load(self) -> Credentials:
        return msgspec.structs.replace(self._credentials)

    def save(self, credentials: Credentials) -> None:
        self._credentials = msgspec.structs.replace(credentials)


class FileTokenStore:
    """A JSON file readable only by its owner, replaced atomically so a crash never leaves half a file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> Credentials:
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=Credentials)
        except (FileNotFoundError, msgspec.DecodeError):
            return Credentials()

    def save(self, credentials: Credentials) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(msgspec.json.encode(credentials))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
