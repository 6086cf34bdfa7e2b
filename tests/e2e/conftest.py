"""End-to-end tests: the engine fixtures."""

from tests.engine_fixtures import shared_engine, start_engine

__all__ = ["shared_engine", "start_engine"]
