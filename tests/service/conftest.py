"""The API fixture (a served app with objects of tenant "beta") for every service test."""

from tests.service.test_api import api, embedder

__all__ = ["api", "embedder"]
