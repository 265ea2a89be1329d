"""Notebook plumbing: :func:`~cnnexplain.notebook.setup.setup_notebook`, the results folder, the
profiles, the batch runner (``python -m cnnexplain.notebook.reproduce``), the report, widgets and the
figure style. It imports no method and no paper."""
