"""Network definitions: the papers' small CNNs (:mod:`~cnnexplain.models.cnns`) and the NeuroView
backbones (:mod:`~cnnexplain.models.neuroview_backbones`)."""
