"""The web dashboard, served by the HTTP service at ``/`` (see ``pages``)."""

from tether.dashboard.pages import router

__all__ = ["router"]
