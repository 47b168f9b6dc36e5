"""The web dashboard, served by the HTTP service at ``/`` (see ``pages``; the overview and
memory pages register on the same router)."""

from tether.dashboard import memory, overview
from tether.dashboard.pages import router

__all__ = ["memory", "overview", "router"]
