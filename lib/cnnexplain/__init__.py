"""cnnexplain: a thin, tested library behind notebooks that reproduce four papers on how CNNs decide.

Every notebook starts with :func:`setup_notebook`, which checks the profile, seeds everything, applies
the figure style and returns the :class:`~cnnexplain.results.Results` object that saves figures,
tables and paper claims where the batch runner (``python -m cnnexplain.reproduce``) expects them.
"""

from cnnexplain.seeding import seed_everything
from cnnexplain.device import choose_device
from cnnexplain.results import Results, setup_notebook, PROFILES

__all__ = ["seed_everything", "choose_device", "Results", "setup_notebook", "PROFILES"]
__version__ = "0.1.0"
