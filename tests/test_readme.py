"""The README's first usage example runs as written and gives the shapes it promises."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_usage_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["maps"].shape == (4, 1, 224, 224)
    assert namespace["pmi"].shape == (4, 1, 7, 7)
