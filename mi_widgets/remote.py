"""Running past one machine: nnsight traces executed on NDIF (the National Deep Inference Fabric).

    check_remote()                                     # raises at once, with what to do, if NDIF cannot be used
    with model.trace(prompt, remote=True): ...         # model = hf_export.language_model("gpt2", remote=True)

A remote trace needs two things this module checks before any trace is sent, so that a notebook with
``REMOTE = True`` fails in seconds with a clear message instead of hanging on a connection: an NDIF API
key (the environment variable ``NDIF_API_KEY``, or ``nnsight.CONFIG.set_default_api_key(...)``) and a
network path to the NDIF host (``nnsight.CONFIG.API.HOST``, overridden by ``NDIF_HOST``).
"""

from __future__ import annotations

from mi_widgets.models import connection_error


class RemoteUnavailable(RuntimeError):
    """NDIF cannot be used from here; the message says why and what to set."""


def check_remote(timeout: float = 3.0) -> str:
    """The NDIF host, if a remote trace can be sent from here; else `RemoteUnavailable`, within ``timeout`` seconds.

        try:
            check_remote()
        except RemoteUnavailable as error:
            print(error)   # names NDIF_API_KEY, and says a remote trace needs the network
    """
    from nnsight import CONFIG

    host = CONFIG.API.HOST
    if not CONFIG.API.APIKEY:
        raise RemoteUnavailable(
            "REMOTE = True sends the trace to NDIF, which needs an API key: set the environment variable "
            "NDIF_API_KEY (or call nnsight.CONFIG.set_default_api_key('...')); keys are free at "
            f"https://login.ndif.us. It also needs the network, to reach {host}.")
    error = connection_error(host, timeout)
    if error is not None:
        raise RemoteUnavailable(
            f"REMOTE = True needs the network: NDIF's host {host} cannot be reached from here ({error}). Run with "
            "REMOTE = False on this machine, or from one that is online (the API key is read from NDIF_API_KEY).")
    return host
