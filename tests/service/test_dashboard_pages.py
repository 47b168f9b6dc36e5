"""The overview and memory pages over a real server (httpx with the session cookie): charts
drawn as inline SVG, memory items with provenance, search, and forget guarded by its scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.service.test_api import B_MEMORY, B_SUBJECT, Api


@contextmanager
def _login(api: Api, tenant: str, *scopes: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base, timeout=30) as c:
        r = c.post("/login", data={"key": api.key(tenant, *scopes)})
        assert r.status_code == 303 and "tether_key" in r.cookies
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_overview_draws_costs_and_latencies(api: Api) -> None:
    with _login(api, "beta", "runs:read") as c:
        html = c.get("/overview").text
    assert 'id="kpis"' in html and "over the newest 2 runs" in html
    assert re.search(r'<svg id="cost-agent"[^>]*>.*?<rect ', html, re.S)  # support, echoer
    assert re.search(r'<svg id="latency-p50".*?model scripted', html, re.S)
    assert "<script" not in html and "http://" not in html.replace(api.base, "")


def test_the_memory_browser_lists_searches_and_forgets(api: Api) -> None:
    with _login(api, "beta", "memory:read") as c:
        html = c.get("/memory").text
        assert B_MEMORY in html and "fixture" in html and 'id="forget"' not in html
        found = c.get("/memory", params={"q": "harbour release"}).text
        assert B_MEMORY in found and "semantic" in found
        r = c.post("/memory/forget", data={"csrf": _csrf(html), "subject": B_SUBJECT})
        assert r.status_code == 403
    with _login(api, "alpha", "memory:read") as c:
        assert B_MEMORY not in c.get("/memory").text  # another tenant's items are not listed
        assert B_MEMORY not in c.get("/memory", params={"q": "harbour release"}).text
    with _login(api, "beta", "memory:read", "memory:forget") as c:
        html = c.get("/memory").text
        assert 'id="forget"' in html
        r = c.post("/memory/forget", data={"csrf": "wrong", "subject": B_SUBJECT})
        assert r.status_code == 403
        r = c.post(
            "/memory/forget",
            data={"csrf": _csrf(html), "subject": B_SUBJECT},
            follow_redirects=True,
        )
        assert re.search(r"forgot the subject: [1-9][0-9]* rows deleted", r.text)
        assert B_MEMORY not in r.text
    assert api.rt.store.runs.get(api.b_run) is not None
