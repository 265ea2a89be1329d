"""Teaching layer: exercises with checked answers for every notebook, the cells that insert them and the
student edition.

- :mod:`cnnexplain.teaching.exercises` builds each exercise's own small, seeded objects (the "given");
- :mod:`cnnexplain.teaching.checks` holds one ``check_<exercise>(answer)`` per exercise: it prints right
  or wrong and why (never the solution) and returns a :class:`~cnnexplain.teaching.grading.Result`;
- :mod:`cnnexplain.teaching.cells` holds, per notebook, the objectives, the equation cell and the
  exercises (prompt, given code, reference solution, wrong answers used by the tests);
- ``python -m cnnexplain.teaching.insert notebooks/`` inserts those cells (idempotent);
- ``python -m cnnexplain.teaching.student notebooks/ student/`` writes the student edition.

This layer may import utilities, methods, models, data, papers and notebook plumbing; nothing imports it.
"""
