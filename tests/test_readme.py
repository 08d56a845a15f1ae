"""The README's usage examples run as written and give the shapes they promise."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_usage_example_runs():
    namespace: dict[str, object] = {}
    exec(compile(_python_blocks()[0], str(README), "exec"), namespace)
    assert namespace["maps"].shape == (4, 1, 224, 224)
    assert namespace["pmi"].shape == (4, 1, 7, 7)


def test_readme_1d_and_3d_example_runs():
    (block,) = [block for block in _python_blocks() if "make_series_data" in block]
    namespace: dict[str, object] = {}
    exec(compile(block, str(README), "exec"), namespace)
    assert namespace["maps"].shape == (8, 1, 384)
    assert namespace["video_maps"].shape == (2, 1, 2, 4, 4)
    for name in ("maps", "video_maps"):
        assert namespace[name].isfinite().all(), name
