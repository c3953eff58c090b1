"""The open-file limit a process holds devices under: each connected device's socket is an open file."""

from __future__ import annotations

import resource

MACOS_OPEN_MAX = 10240
"""macOS refuses an unlimited soft limit even under an unlimited hard one; this is the most it allows a process."""


def raise_open_file_limit() -> int | None:
    """Lift the soft limit on open files as far as the hard one allows; the limit now in force, None if unlimited.

    Raising the soft limit needs no privilege, and the processes this one starts inherit it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (hard, MACOS_OPEN_MAX) if soft != resource.RLIM_INFINITY else ():
        if wanted != resource.RLIM_INFINITY and wanted <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            continue
        soft = wanted
        break
    return None if soft == resource.RLIM_INFINITY else soft
