"""The public API of tether.tools is curated and sorted."""

from __future__ import annotations

import tether.tools


def test_all_is_sorted_and_complete() -> None:
    exported = tether.tools.__all__
    assert exported == sorted(exported)
    assert len(exported) == len(set(exported))
    for name in exported:
        assert hasattr(tether.tools, name), name
    public = {
        name
        for name, value in vars(tether.tools).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("tether.tools")
    }
    assert public <= set(exported)


def test_http_all_is_sorted_and_complete() -> None:
    import tether.tools.http as http

    assert http.__all__ == sorted(http.__all__)
    for name in http.__all__:
        assert hasattr(http, name), name
