"""cnnexplain.notebook.widgets.explore: one static figure headless, live redraws driven by the controls, clear errors,
and (in a real kernel) exactly one output per call, with no figures left open."""

import os
from pathlib import Path

import ipywidgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnexplain.notebook import widgets  # noqa: E402
from cnnexplain.notebook.widgets import HEADLESS_ENV, explore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class RecordingPlot:
    """A plotting function that remembers every call and titles its figure with the values it got."""

    def __init__(self):
        self.calls = []

    def __call__(self, index=0, colour="red"):
        self.calls.append({"index": index, "colour": colour})
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, index], color=colour)
        ax.set_title(f"index={index} colour={colour}")
        return fig


@pytest.fixture(autouse=True)
def no_leftover_figures():
    plt.close("all")
    yield
    plt.close("all")


@pytest.fixture
def headless(monkeypatch):
    monkeypatch.setenv(HEADLESS_ENV, "1")


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv(HEADLESS_ENV, raising=False)


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("", False), ("0", False),
                                             ("false", False)])
def test_is_headless_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(HEADLESS_ENV, value)
    assert widgets.is_headless() is expected


def test_headless_draws_one_figure_from_the_defaults(headless):
    plot = RecordingPlot()
    fig = explore(plot, index=range(3, 10), colour=["blue", "green"])
    assert isinstance(fig, Figure)
    assert plot.calls == [{"index": 3, "colour": "blue"}]
    assert fig.axes[0].get_title() == "index=3 colour=blue"
    assert plt.get_fignums() == [], "the static figure must be closed in pyplot (shown once, no leak)"


def test_headless_uses_a_given_widgets_value(headless):
    plot = RecordingPlot()
    explore(plot, index=ipywidgets.IntSlider(value=7, min=0, max=9))
    assert plot.calls == [{"index": 7, "colour": "red"}]


def test_headless_accepts_a_plot_that_returns_nothing(headless):
    def draw_only(index=0):
        plt.figure()
        plt.title(f"drawn {index}")

    fig = explore(draw_only, index=range(2, 4))
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "drawn 2"


def _shown_png(box) -> bytes:
    images = box.children[2].children
    assert len(images) == 1 and isinstance(images[0], ipywidgets.Image)
    png = bytes(images[0].value)
    assert png.startswith(b"\x89PNG"), "the Image widget should hold a PNG"
    return png


def test_live_returns_a_box_whose_controls_drive_redraws(live):
    plot = RecordingPlot()
    box = explore(plot, index=range(0, 50), colour=["red", "blue"])
    assert isinstance(box, ipywidgets.VBox)
    controls = {c.description: c for c in box.children[0].children}
    assert isinstance(controls["index"], ipywidgets.IntSlider)
    assert (controls["index"].min, controls["index"].max) == (0, 49)
    assert isinstance(controls["colour"], ipywidgets.Dropdown)
    assert plot.calls == [{"index": 0, "colour": "red"}], "the first figure is drawn at once"
    first = _shown_png(box)

    controls["index"].value = 17
    assert plot.calls[-1] == {"index": 17, "colour": "red"}
    after_slider = _shown_png(box)
    assert after_slider != first, "moving the slider must change the picture"
    controls["colour"].value = "blue"
    assert plot.calls[-1] == {"index": 17, "colour": "blue"}
    assert _shown_png(box) != after_slider
    for value in range(20, 25):
        controls["index"].value = value
    assert [c["index"] for c in plot.calls] == [0, 17, 17, 20, 21, 22, 23, 24]
    assert box.children[1].value == "", "no error shown"
    assert plt.get_fignums() == [], "every redraw must close its figure (no pile-up in pyplot)"


def test_live_shows_an_error_of_a_later_value_and_recovers(live):
    def fragile(index=0):
        if index == 3:
            raise ZeroDivisionError("no digit 3 here")
        return RecordingPlot()(index=index)

    box = explore(fragile, index=range(5))
    slider = box.children[0].children[0]
    slider.value = 3
    assert "ZeroDivisionError: no digit 3 here" in box.children[1].value
    assert "fragile(index=3) failed" in box.children[1].value
    assert box.children[2].children == ()
    slider.value = 4
    assert box.children[1].value == "" and _shown_png(box)


def test_live_fails_the_cell_when_the_defaults_fail(live):
    def broken(index=0):
        raise RuntimeError("broken at the default")

    with pytest.raises(RuntimeError, match="broken at the default"):
        explore(broken, index=range(3))


def test_live_keeps_a_passed_widget(live):
    slider = ipywidgets.FloatSlider(value=0.5, min=0, max=1, description="dose")
    plot = RecordingPlot()
    box = explore(lambda dose: plot(index=dose), dose=slider)
    assert box.children[0].children[0] is slider
    slider.value = 0.25
    assert plot.calls[-1]["index"] == 0.25


def test_range_with_a_step_makes_a_stepped_slider(live):
    box = explore(RecordingPlot(), index=range(0, 10, 3))
    slider = box.children[0].children[0]
    assert (slider.min, slider.max, slider.step, slider.value) == (0, 9, 3, 0)


@pytest.mark.parametrize("control", [3, 2.5, "abc", {"a": 1}, None])
def test_bad_control_types_give_a_clear_error(live, control):
    with pytest.raises(TypeError, match=r"control 'index' must be an ipywidgets widget.*range.*list"):
        explore(RecordingPlot(), index=control)


@pytest.mark.parametrize("control, message", [(range(0), "empty range"), ([], "empty list")])
def test_empty_controls_are_refused(live, control, message):
    with pytest.raises(ValueError, match=message):
        explore(RecordingPlot(), index=control)


def test_a_control_must_name_a_parameter_of_the_plot(live):
    with pytest.raises(TypeError, match=r"cannot be called with the controls \['layer'\]"):
        explore(RecordingPlot(), layer=range(3))


def test_no_controls_and_no_function_are_refused():
    with pytest.raises(ValueError, match="at least one control"):
        explore(RecordingPlot())
    with pytest.raises(TypeError, match="plotting function"):
        explore("not a function", index=range(3))


def test_a_plot_that_draws_nothing_is_reported(headless):
    with pytest.raises(ValueError, match="drew no matplotlib figure"):
        explore(lambda index: None, index=range(3))


@pytest.mark.slow
def test_in_a_real_kernel_each_call_shows_exactly_one_output(tmp_path, monkeypatch):
    """explore() as a cell's last expression must not be shown twice (display + execute_result), moving
    the slider must change the PNG in the Image widget, and no figure may stay open in the kernel."""
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "lib"),
                                                                   os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv(HEADLESS_ENV, raising=False)
    sources = [
        "import os\nimport matplotlib.pyplot as plt\nfrom cnnexplain.notebook.widgets import explore\n"
        "def plot(index=0):\n    fig, ax = plt.subplots()\n    ax.plot([0, index])\n    return fig",
        "os.environ['CNNEXPLAIN_HEADLESS'] = '1'\nexplore(plot, index=range(3))",
        "os.environ['CNNEXPLAIN_HEADLESS'] = '0'\nbox = explore(plot, index=range(3))\nbox",
        "before = bytes(box.children[2].children[0].value)\nbox.children[0].children[0].value = 2\n"
        "(before != bytes(box.children[2].children[0].value), len(plt.get_fignums()))",
        "box",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   store_widget_state=True).execute()

    def kinds(cell):
        return [(o.output_type, "image/png" in o.get("data", {}),
                 "application/vnd.jupyter.widget-view+json" in o.get("data", {})) for o in cell.outputs]

    assert kinds(nb.cells[1]) == [("display_data", True, False)], "headless: exactly one static figure"
    assert kinds(nb.cells[2]) == [("display_data", False, True)], "live: exactly one widget view"
    assert nb.cells[3].outputs[0].data["text/plain"] == "(True, 0)", "no redraw, or figures left open"
    assert kinds(nb.cells[4]) == [("execute_result", False, True)], "a later cell can show the box again"


def test_labelled_pairs_make_a_dropdown_that_passes_values(live):
    plot = RecordingPlot()
    box = explore(plot, colour=[("warm", "red"), ("cold", "blue")])
    dropdown = box.children[0].children[0]
    assert isinstance(dropdown, ipywidgets.Dropdown) and dropdown.label == "warm"
    assert plot.calls == [{"index": 0, "colour": "red"}]
    dropdown.label = "cold"
    assert plot.calls[-1] == {"index": 0, "colour": "blue"}


def test_labelled_pairs_headless_use_the_first_value(headless):
    plot = RecordingPlot()
    explore(plot, colour=[("warm", "red"), ("cold", "blue")])
    assert plot.calls == [{"index": 0, "colour": "red"}]


def test_controls_are_labelled_in_words_and_never_cut(live):
    def plot(test_index, output_class):
        fig, ax = plt.subplots()
        ax.set_title(f"{test_index} {output_class}")
        return fig

    box = explore(plot, test_index=range(0, 3), output_class=["a", "b"])
    labels = {c.description: c for c in box.children[0].children}
    assert set(labels) == {"test index", "output class"}
    assert all(c.style.description_width == "initial" for c in labels.values())
