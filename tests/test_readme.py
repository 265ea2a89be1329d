"""The README's "Use it on your own CNN" examples run as written, in a fresh interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_examples() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it on your own CNN", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 5, "the README's 'Use it on your own CNN' section lost its examples"
    return "\n".join(blocks)


@pytest.mark.slow
def test_readme_examples_run(tmp_path):
    script = tmp_path / "readme_examples.py"
    script.write_text(readme_examples())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "OMP_NUM_THREADS": "1", "CNNEXPLAIN_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(4, 32, 2)" in proc.stdout and "(2, 10, 3, 64, 64)" in proc.stdout and "2752" in proc.stdout
