"""The SDK's public surface is exactly what `__all__` says, sorted (as httpx checks its own)."""

from __future__ import annotations

import types

import omnicart
import omnicart.protocol


def test_sdk_all_is_sorted_and_complete() -> None:
    """omnicart.__all__ lists every public name of the package (submodules aside, but protocol), in sorted order."""
    exported = omnicart.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(omnicart).items()
        if not name.startswith("_") and (not isinstance(value, types.ModuleType) or name == "protocol")
    }
    assert set(exported) == public


def test_protocol_all_names_exist() -> None:
    """omnicart.protocol.__all__ names only things the protocol package defines."""
    missing = [name for name in omnicart.protocol.__all__ if not hasattr(omnicart.protocol, name)]
    assert missing == []
