"""Shared pytest set-up: the ``slow`` tier and fixtures every test module may use.

``make test-fast`` runs ``pytest -m "not slow"``: everything but the tests
that start processes (TensorBoard, Chromium, workers, a venv) or train for
seconds. Those carry ``pytest.mark.slow`` (a module-level ``pytestmark`` in the
modules that are slow throughout). The numpy oracle the tests compare records
with is ``tests/oracle.py``.
"""

import os

import pytest

# TensorFlow's start-up log lines say nothing a test reader needs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts processes or trains for seconds; make test-fast leaves it out")
