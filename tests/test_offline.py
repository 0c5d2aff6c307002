"""The test suite runs with the network switched off (tests/run_offline.sh): check that it really is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _interfaces() -> list[str]:
    # /proc/self/net follows this process's network namespace (/sys/class/net follows the mount's).
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def test_suite_runs_without_a_network():
    if os.environ.get("MI_NETWORK_ISOLATED") != "1":
        if os.environ.get("CI"):
            pytest.fail("CI must run the suite through tests/run_offline.sh (network namespace unavailable?)")
        pytest.skip("not started through tests/run_offline.sh (make test does that)")
    assert _interfaces() == ["lo"], f"only loopback may exist, found {_interfaces()}"
    routes = Path("/proc/self/net/route").read_text().splitlines()[1:]
    assert routes == [], f"no IPv4 route may exist, found {routes}"


def test_offline_variables_are_set_by_make():
    if os.environ.get("MI_NETWORK_ISOLATED") != "1":
        pytest.skip("not started through make test")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        assert os.environ.get(name) == "1", f"{name} must be 1 in make test"
