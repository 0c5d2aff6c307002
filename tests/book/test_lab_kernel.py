"""The widgets are live in JupyterLab: a real kernel (the venv's, as `make lab` starts it) sends their models
to the front end, and a change made in the front end comes back as a redraw.

The test speaks the Jupyter messaging protocol the way JupyterLab does: it reads the ``comm_open`` messages
that create the widget models, sends a ``comm_msg`` update for the prompt box (what typing does), and
waits for the kernel's update of the HTML output; for the attention view, whose circuitsvis script only runs
as a real output, it waits for the layer's view to be displayed into the Output widget.
"""

from __future__ import annotations

import queue

import pytest
from jupyter_client.manager import start_new_kernel

from mi_widgets.book.build import kernel_name

CODE = """
import mi_widgets as mw
from mi_widgets.widgets import logit_lens_view
box = logit_lens_view(mw.load_model("stories-attn-1l"), "Once upon a time").widget()
box
"""
NEW_PROMPT = "The cat sat <b>"


def _iopub(client, msg_id: str, timeout: float = 60) -> list[dict]:
    """iopub messages until the kernel is idle after request ``msg_id`` (earlier requests' messages skipped)."""
    messages = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        messages.append(msg)
        if (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id):
            return messages


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name=kernel_name(), startup_timeout=60)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def test_widget_models_reach_the_front_end_and_redraw_on_input(kernel):
    request = kernel.execute(CODE)
    opened = {m["content"]["comm_id"]: m["content"]["data"]["state"]
              for m in _iopub(kernel, request) if m["msg_type"] == "comm_open"}
    by_name = {state["_model_name"]: comm for comm, state in opened.items()}
    assert {"TextModel", "DropdownModel", "HTMLModel", "VBoxModel"} <= set(by_name), sorted(by_name)
    assert "mi-lens" in opened[by_name["HTMLModel"]]["value"], "the output starts as the lens view"

    # Typing in the prompt box: JupyterLab sends the new value of the Text model to the kernel.
    update = {"comm_id": by_name["TextModel"],
              "data": {"method": "update", "state": {"value": NEW_PROMPT}, "buffer_paths": []}}
    kernel.shell_channel.send(kernel.session.msg("comm_msg", update))
    redrawn = None
    try:
        while redrawn is None:
            msg = kernel.get_iopub_msg(timeout=60)
            data = msg["content"].get("data", {})
            if (msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == by_name["HTMLModel"]
                    and "value" in data.get("state", {})):
                redrawn = data["state"]["value"]
    except queue.Empty:
        pytest.fail("the kernel never redrew the lens view after the prompt changed")
    assert redrawn != opened[by_name["HTMLModel"]]["value"] and "sat" in redrawn, "the new prompt is drawn"
    assert "&lt;" in redrawn and "<b" not in redrawn, "the prompt's '<b>' stays text"


def test_attention_layer_picker_redraws_through_the_output_widget(kernel):
    request = kernel.execute('import mi_widgets as mw\nfrom mi_widgets.widgets import attention_by_layer\n'
                             'attention_by_layer(mw.load_model("stories-attn-2l"), "Once upon a time").widget()')
    opened = {m["content"]["comm_id"]: m["content"]["data"]["state"]
              for m in _iopub(kernel, request) if m["msg_type"] == "comm_open"}
    by_name = {state["_model_name"]: comm for comm, state in opened.items()}
    assert {"DropdownModel", "OutputModel"} <= set(by_name), sorted(by_name)
    update = {"comm_id": by_name["DropdownModel"],
              "data": {"method": "update", "state": {"index": 1}, "buffer_paths": []}}
    kernel.shell_channel.send(kernel.session.msg("comm_msg", update))
    try:
        while True:
            msg = kernel.get_iopub_msg(timeout=60)
            html = msg["content"].get("data", {}).get("text/html", "")
            if msg["msg_type"] == "display_data" and "mi-attention" in html:
                break
    except queue.Empty:
        pytest.fail("choosing layer 1 drew no attention view")
    assert '"L1H0"' in html and '"L0H0"' not in html, "the view redrawn is layer 1's"
