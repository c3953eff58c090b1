"""A private, throwaway PostgreSQL cluster on a free port, which tests may crash and restart.

The machine's shared server is never touched. `initdb` makes the cluster in a temp dir of its own with trust
authentication; it runs as the `postgres` user when the tests run as root, since PostgreSQL refuses to run as root
(and so cannot reach pytest's private tmp_path). Durability settings stay at their defaults (fsync on), so a crash
(`pg_ctl stop -m immediate`) keeps every committed transaction, as a real crash would.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.server import HOST, free_port

SERVICE_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The directory of `initdb` and `pg_ctl` (on PATH, or Debian's /usr/lib/postgresql/<version>/bin), or None."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def unavailable_reason() -> str | None:
    """None when a private cluster can be made here, else why not."""
    if postgres_bin_dir() is None:
        return "PostgreSQL's initdb and pg_ctl are not installed (Debian: postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root, and there is no {SERVICE_USER!r} user to run a private PostgreSQL as"
    return None


class PrivatePostgres:
    """One cluster in a new temp dir, listening on 127.0.0.1:<free port> only, with trust authentication."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None, unavailable_reason()
        self._bin = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="omnicart-pg-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.port = free_port()

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVICE_USER}@{HOST}:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The server's SQLAlchemy URL of `database`."""
        return f"postgresql+asyncpg://{SERVICE_USER}@{HOST}:{self.port}/{database}"

    def init(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.directory, SERVICE_USER)
        self._run(["initdb", "-D", str(self.data), "-U", SERVICE_USER, "--auth=trust", "--no-instructions"])
        return self

    def start(self) -> PrivatePostgres:
        """Start on the same port as before; returns once it accepts connections."""
        options = f"-p {self.port} -c listen_addresses={HOST} -k {self.directory}"
        self._run(["pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log_path), "-o", options])
        return self

    def crash(self) -> None:
        """Stop at once without a checkpoint, as a crash or power loss would; recovery replays the WAL."""
        self._run(["pg_ctl", "stop", "-m", "immediate", "-D", str(self.data)])

    def remove(self) -> None:
        """Stop the cluster if it runs and delete its directory."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(["pg_ctl", "stop", "-m", "fast", "-D", str(self.data)])
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        executable = [str(self._bin / command[0]), *command[1:]]
        if os.geteuid() == 0:
            executable = ["runuser", "-u", SERVICE_USER, "--", *executable]
        result = subprocess.run(executable, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise subprocess.CalledProcessError(
                result.returncode, executable, result.stdout, f"{result.stderr}\n--- postgres.log ---\n{log}"
            )
