"""REMOTE = True offline fails within seconds, naming what it needs; it never hangs."""

import time

import pytest

from mi_widgets.remote import RemoteUnavailable, check_remote


def test_without_a_key_the_error_names_the_setting(monkeypatch):
    from nnsight import CONFIG

    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    with pytest.raises(RemoteUnavailable, match="NDIF_API_KEY") as error:
        check_remote()
    assert "network" in str(error.value)


def test_with_a_key_but_no_network_it_fails_fast(monkeypatch):
    """A host that never answers: the check gives up at its timeout. (The suite's network guard forbids a real
    attempt, so the connection is simulated: it hangs until the timeout it is given, as an unroutable host does.)"""
    from nnsight import CONFIG

    import mi_widgets.models as models

    asked = {}

    def hang(address, timeout=None):
        asked.update(address=address, timeout=timeout)
        time.sleep(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(CONFIG.API, "APIKEY", "a-key")
    monkeypatch.setattr(models.socket, "create_connection", hang)
    start = time.perf_counter()
    with pytest.raises(RemoteUnavailable, match="needs the network"):
        check_remote(timeout=1.0)
    assert time.perf_counter() - start < 5 and asked["timeout"] == 1.0
    assert asked["address"][0] == "api.ndif.us" and asked["address"][1] == 443
