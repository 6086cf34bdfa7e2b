"""Fault tests (docs/durability.md): the engine fixtures."""

from tests.engine_fixtures import shared_engine, start_engine

__all__ = ["shared_engine", "start_engine"]
