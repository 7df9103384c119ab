"""Databases of their own, for tests that migrate from nothing: the shared test schema is left alone."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url

from tests.conftest import POSTGRES_URL, SHARED_POSTGRES_URL, beside, create_database, drop_database


@contextmanager
def postgres_database(suffix: str) -> Iterator[str]:
    """A new, empty database beside the test database, named after it and `suffix`; dropped afterwards."""
    scratch = beside(POSTGRES_URL, suffix)
    name = make_url(scratch).database or ""
    create_database(SHARED_POSTGRES_URL, name, replace=True)
    try:
        yield scratch
    finally:
        drop_database(SHARED_POSTGRES_URL, name)
