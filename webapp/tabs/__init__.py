"""One module per tab of the web app. Each builds its own ``gr.Blocks`` and wires its events to
the actions of ``webapp/handlers.py``; ``webapp/server.py`` renders them, in order, each inside
its ``gr.Tab`` (Gradio's ``Blocks.render()``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component


@dataclass(frozen=True)
class BuiltTab:
    """A tab's own Blocks, and what "Delete my files now" (on the Privacy tab) empties in it."""

    blocks: gr.Blocks
    files: tuple[Component, ...] = ()  # uploads and results on show: set to None
    downloads: tuple[Component, ...] = ()  # download buttons: emptied and hidden
    # (model choice, run button, reason) of a feature that waits for weights: refreshed as they
    # arrive, with the tab's label (the page adds its gr.Tab, see webapp/weights_banner.py)
    weights_gated: tuple[Component, ...] = ()
    gate_inputs: tuple[Component, ...] = ()  # the run button also waits for these (the photo)
    # (component, its value) whose words the server writes with values: written again in the
    # language the page picks (webapp/ui.py wire_spoken; a third item: the inputs ``make`` reads)
    spoken: tuple[tuple[Any, ...], ...] = ()
