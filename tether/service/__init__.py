"""The HTTP service: ``tether serve`` (FastAPI + uvicorn), API keys, and the routes of
DESIGN §3. ``create_app(Service(runtime=...))`` builds the app for tests and embedding."""

from tether.service.app import create_app
from tether.service.keys import SCOPES, ApiKey, KeyStore
from tether.service.state import Service

__all__ = ["SCOPES", "ApiKey", "KeyStore", "Service", "create_app"]
