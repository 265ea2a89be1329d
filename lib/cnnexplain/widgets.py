"""Interactive figures that update live in JupyterLab and degrade to one static figure under papermill.

Every notebook saves its figures with static calls first; a widget only lets a reader explore around
them (a layer, a class, a texture dose). Headless runs (the batch runner sets ``CNNEXPLAIN_HEADLESS=1``
for its kernels) render the plot once from the controls' default values.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import matplotlib.pyplot as plt

HEADLESS_ENV = "CNNEXPLAIN_HEADLESS"


def is_headless() -> bool:
    """True under the batch runner / papermill, where no frontend can render a widget."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0", "false", "False")


def _as_widget(name: str, control: Any):
    import ipywidgets as w

    if isinstance(control, w.ValueWidget):
        return control
    if isinstance(control, range):
        return w.IntSlider(value=control.start, min=control.start, max=control.stop - 1, step=control.step,
                           description=name, continuous_update=False)
    if isinstance(control, (list, tuple)) and control:
        return w.Dropdown(options=list(control), value=list(control)[0], description=name)
    raise TypeError(f"control {name!r} must be an ipywidgets widget, a range (slider) or a non-empty "
                    f"list (dropdown); got {type(control).__name__}")


def explore(plot: Callable[..., Any], **controls: Any):
    """Bind ``controls`` (name → widget, ``range`` for a slider, list for a dropdown) to ``plot``.

    ``plot(**values)`` draws a matplotlib figure. Live (JupyterLab): shows the controls and redraws on
    every change; returns the widget box. Headless: draws once with the controls' current values,
    shows it, and returns the figure.
    """
    widgets = {name: _as_widget(name, control) for name, control in controls.items()}
    if not widgets:
        raise ValueError("explore() needs at least one control")
    if is_headless():
        fig = plot(**{name: widget.value for name, widget in widgets.items()})
        plt.show()
        return fig

    import ipywidgets as w
    from IPython.display import display

    def redraw(**values):
        plot(**values)
        plt.show()

    output = w.interactive_output(redraw, widgets)
    box = w.VBox([w.HBox(list(widgets.values())), output])
    display(box)
    return box
