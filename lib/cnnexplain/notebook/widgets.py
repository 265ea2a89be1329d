"""Interactive figures that update live in JupyterLab and degrade to one static figure under papermill.

Every notebook saves its figures with static calls first; a widget only lets a reader explore around
them (a layer, a class, a texture dose). Headless runs (the batch runner sets ``CNNEXPLAIN_HEADLESS=1``
for its kernels) render the plot once from the controls' default values.

Live, each redraw renders the plot's figure to PNG bytes, puts them into an ``ipywidgets.Image`` and
closes the figure, so nothing piles up in pyplot. Unlike ``interactive_output`` (``display()`` captured
by an ``Output`` widget from a widget callback, which the frontend routes by message hooks), the picture
is plain widget state: no flicker from clearing, and a test can check in-process that moving a control
changes the PNG. An exception of the plot function for a later value is shown as a traceback between
the controls and the figure; one for the default values fails the cell, as the headless run would.
"""

from __future__ import annotations

import html
import inspect
import io
import os
import traceback
from typing import Any, Callable

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from cnnexplain.progress import HEADLESS_ENV, is_headless  # noqa: F401  (re-exported)


def label_of(name: str) -> str:
    """A control's label in words: the parameter name with underscores as spaces (``test_index`` ->
    ``test index``), so a reader never sees a raw variable name."""
    return name.replace("_", " ").strip()


# labels are shown whole: ipywidgets' default description width cuts them ("white_bac")
_STYLE = {"description_width": "initial"}


def _as_widget(name: str, control: Any):
    import ipywidgets as w

    if isinstance(control, w.ValueWidget):
        if not getattr(control, "description", ""):
            control.description = label_of(name)
        control.style.description_width = "initial"
        return control
    name_label = label_of(name)
    if isinstance(control, range):
        if len(control) == 0:
            raise ValueError(f"control {name!r} is an empty range ({control}): give at least one value")
        return w.IntSlider(value=control[0], min=control[0], max=control[-1], step=abs(control.step),
                           description=name_label, continuous_update=False, style=_STYLE)
    if isinstance(control, (list, tuple)):
        if not control:
            raise ValueError(f"control {name!r} is an empty list: a dropdown needs at least one option")
        options = list(control)
        if all(isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) for o in options):
            # (label, value) pairs, as ipywidgets reads them: the reader sees labels, plot gets values
            return w.Dropdown(options=options, value=options[0][1], description=name_label, style=_STYLE)
        return w.Dropdown(options=options, value=options[0], description=name_label, style=_STYLE)
    raise TypeError(f"control {name!r} must be an ipywidgets widget (e.g. FloatSlider), a range (integer "
                    f"slider) or a non-empty list (dropdown); got {type(control).__name__}: {control!r}")


def _check_signature(plot: Callable[..., Any], names) -> None:
    if not callable(plot):
        raise TypeError(f"explore() needs a plotting function first; got {type(plot).__name__}")
    try:
        signature = inspect.signature(plot)
    except (TypeError, ValueError):  # builtins without a signature: let the call itself complain
        return
    try:
        signature.bind(**{name: None for name in names})
    except TypeError as error:
        raise TypeError(f"explore(): {getattr(plot, '__name__', plot)!r} cannot be called with the controls "
                        f"{sorted(names)}: {error}. Name each control after a parameter of the plotting "
                        f"function.") from None


def _draw(plot: Callable[..., Any], values: dict) -> list[Figure]:
    """Call ``plot(**values)`` and return the figures it drew (new pyplot figures, or the one it returned)."""
    before = set(plt.get_fignums())
    result = plot(**values)
    figures = [plt.figure(number) for number in plt.get_fignums() if number not in before]
    if isinstance(result, Figure) and result not in figures:
        figures.append(result)
    if not figures:
        raise ValueError(f"{getattr(plot, '__name__', plot)!r} drew no matplotlib figure: it should create "
                         f"one (plt.subplots) and preferably return it")
    return figures


def _display_once(obj: Any) -> None:
    """Display ``obj`` now, and swallow IPython's automatic re-display when it is also the cell's result.

    ``explore(...)`` is usually a cell's last expression; without this the figure (headless) or the
    widget (live) would appear twice. Displays in later cells work as usual.
    """
    from IPython import get_ipython
    from IPython.display import display

    display(obj)
    shell = get_ipython()
    if shell is None:
        return
    cell = shell.execution_count

    def _ipython_display_():
        del obj._ipython_display_  # one shot: from now on the object displays normally
        if shell.execution_count != cell:
            display(obj)

    obj._ipython_display_ = _ipython_display_


def explore(plot: Callable[..., Any], **controls: Any):
    """Bind ``controls`` (name → widget, ``range`` for an integer slider, list for a dropdown) to ``plot``.

    A list of ``(label, value)`` pairs makes a dropdown that shows the labels and passes the values.

    ``plot(**values)`` draws a matplotlib figure (and should return it); each control is named after
    one of its parameters. ``explore`` shows its output itself, wherever it stands in a cell.

    Live (JupyterLab): shows the controls above the figure and redraws on every change; returns the
    ``ipywidgets.VBox([HBox(controls), HTML(error), VBox(one Image per figure)])``. Headless
    (``CNNEXPLAIN_HEADLESS=1``, the batch runner): draws once with the controls' default values, shows
    it, and returns the figure (closed in pyplot, so it is not shown twice and does not leak).
    """
    if not controls:
        raise ValueError("explore() needs at least one control, e.g. explore(plot, index=range(10))")
    _check_signature(plot, controls)
    widgets = {name: _as_widget(name, control) for name, control in controls.items()}

    if is_headless():
        figures = _draw(plot, {name: widget.value for name, widget in widgets.items()})
        for fig in figures:
            plt.close(fig)
        if len(figures) > 1:
            for fig in figures:
                _display_once(fig)
            return figures
        _display_once(figures[0])
        return figures[0]

    import ipywidgets as w

    figures_box = w.VBox(layout=w.Layout(width="100%"))
    error = w.HTML()
    error.add_class("cnnexplain-explore-error")

    def redraw(change=None):
        values = {name: widget.value for name, widget in widgets.items()}
        try:
            figures = _draw(plot, values)
        except Exception:
            if change is None:  # the defaults fail: fail the cell, as the headless run would
                raise
            # A later value fails: show why under the controls; the reader can move on to other values.
            error.value = ("<pre style='color:#b00020; white-space:pre-wrap'>" + html.escape(
                f"explore: {getattr(plot, '__name__', 'plot')}({_format(values)}) failed\n" +
                traceback.format_exc()) + "</pre>")
            figures_box.children = ()
            return
        error.value = ""
        images = list(figures_box.children)
        while len(images) < len(figures):
            images.append(w.Image(format="png", layout=w.Layout(width="auto", max_width="100%")))
        for image, fig in zip(images, figures):
            image.value = _png(fig)
            plt.close(fig)
        figures_box.children = tuple(images[:len(figures)])

    for widget in widgets.values():
        widget.observe(redraw, names="value")
    redraw()
    box = w.VBox([w.HBox(list(widgets.values())), error, figures_box])
    box.add_class("cnnexplain-explore")
    _display_once(box)
    return box


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _format(values: dict) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())
