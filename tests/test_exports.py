"""The public API is curated: everything in ``__all__`` exists, and it is sorted."""

import tether


def test_all_is_sorted_and_importable() -> None:
    assert list(tether.__all__) == sorted(tether.__all__)
    for name in tether.__all__:
        assert getattr(tether, name) is not None


def test_no_accidental_public_names() -> None:
    public = {n for n in dir(tether) if not n.startswith("_")}
    modules = {
        "agent",
        "clock",
        "errors",
        "events",
        "models",
        "redact",
        "runtime",
        "settings",
        "store",
        "tools",
        "types",
        "testing",
        "cli",
        "durable",
        "observability",
        "governance",
        "costs",
        "secrets",
        "mcp_server",
        "memory",
        "plan",
        "evals",
        "privacy",
        "team",
        "service",
        "notify",
        "dashboard",
        "release",
        "flags",
        "versions",
    }
    assert public - modules == set(tether.__all__)
