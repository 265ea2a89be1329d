"""cnnexplain: a thin, tested library behind notebooks that reproduce four papers on how CNNs decide.

Layers (each only imports the ones before it; tests/test_layers.py checks it):

- small utilities: :mod:`seeding`, :mod:`device`, :mod:`progress`, :mod:`train`, :mod:`compat`, :mod:`claims`;
- :mod:`cnnexplain.methods` — methods usable on any CNN (influence functions, influential scores,
  NeuroView, attribution, style transfer);
- :mod:`cnnexplain.models` and :mod:`cnnexplain.data`;
- :mod:`cnnexplain.papers` — one package per paper: presets, analyses, figures, claims;
- :mod:`cnnexplain.notebook` — setup, results, profiles, the batch runner, the report, widgets.

The public entry points are re-exported here: :class:`LayerwiseInfluence` / :func:`layerwise_influence`
(influence functions), :func:`influential_scores` (Jung et al.), :class:`NeuroView`, :func:`explain`
(attribution methods) and :func:`setup_notebook`.
"""

from cnnexplain.device import choose_device
from cnnexplain.methods.attribution.explain import explain
from cnnexplain.methods.influence_functions.layerwise import InfluenceScores, LayerwiseInfluence, layerwise_influence
from cnnexplain.methods.influential_scores.fast import influential_scores
from cnnexplain.methods.neuroview import NeuroView
from cnnexplain.notebook.results import PROFILES, Results
from cnnexplain.notebook.setup import setup_notebook
from cnnexplain.seeding import seed_everything

__all__ = ["LayerwiseInfluence", "layerwise_influence", "InfluenceScores", "influential_scores", "NeuroView",
           "explain", "setup_notebook", "Results", "PROFILES", "seed_everything", "choose_device"]
__version__ = "0.1.0"
