"""Sphinx configuration of the captum-infocam documentation.

Built offline with warnings as errors: ``make docs`` runs
``sphinx -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

import captum_infocam  # noqa: E402  (after the path is set, for builds without an install)

project = "captum-infocam"
author = "captum-infocam developers"
copyright = "2026, captum-infocam developers"
release = captum_infocam.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Captum's Google-style Args / Returns / Examples sections
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "api_pages",  # _ext/api_pages.py: one API page per public module, written at build time
    "markdown_tables",  # _ext/markdown_tables.py: the benchmarks' Markdown tables in a page
]

# No network at build time: no intersphinx. Every reference is checked (nitpicky), and only
# third-party names (torch, torchvision, Captum, matplotlib, NumPy, the standard library) and
# the plain-words types of napoleon's "Args:" lines are allowed to stay unresolved plain text.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(torch|torchvision|torchmetrics|nn|F|captum|matplotlib|plt|numpy|np|PIL|pathlib|collections|typing)"
        r"(\..*)?",
    ),
    (r"py:class", r"Tensor|Path|Colormap|Figure|Axes|ProcessGroup|Attribution|Module|Dataset"),
    (r"py:class", r"optional|sequence|nested sequence|callable|sequence of .*|.* or None"),
]

exclude_patterns = ["_build", "benchmarks/*"]  # benchmarks/ holds tables that pages include
templates_path: list[str] = []
html_static_path = ["_static"]

# autodoc: each module page documents exactly the module's ``__all__``, in source order.
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
# Off: it re-parses each function's source and fails ("pop from empty list") on the decorated
# attribute() methods with keyword-only arguments; the defaults are plain literals anyway.
autodoc_preserve_defaults = False
autoclass_content = "class"

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = True  # "*Tensor* of shape ...: what it is" -> return type + description
napoleon_use_ivar = True

# Type hints go into the parameter and return descriptions, where a docstring did not give one,
# and stay out of the signatures, which remain short.
autodoc_typehints = "description"
autodoc_typehints_description_target = "all"
autodoc_typehints_format = "short"

html_theme = "furo"
html_title = f"captum-infocam {release}"
html_theme_options = {
    "source_repository": "",
    "navigation_with_keys": True,
}
pygments_style = "friendly"
pygments_dark_style = "monokai"
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


def _keep_data_docstrings_prose(app, what, name, obj, options, lines) -> None:
    """Napoleon reads the first line of a data docstring as ``type: description``, so
    "A class prior as accepted by the public API: ..." would render "A class prior ..." as a
    type. Our constants and aliases carry prose: ending the first line at its colon keeps it
    prose (the rest follows on the next line of the same paragraph)."""
    if what != "data" or not lines:
        return
    colon = lines[0].find(": ")
    if colon > 0 and "`" not in lines[0][:colon]:
        lines[0:1] = [lines[0][: colon + 1], lines[0][colon + 2 :]]


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _keep_data_docstrings_prose, priority=400)
