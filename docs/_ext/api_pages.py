"""Sphinx extension that writes one API page per public module of ``captum_infocam``.

The pages are generated when the builder starts, from the package as it is, so every public
module gets a page, a module that is renamed or removed never breaks the build, and each page
documents exactly the module's ``__all__`` (through ``automodule`` and the ``members`` default
of ``autodoc_default_options``). The API index lists the names that ``captum_infocam`` itself
exports, each linked to the module that documents it.

A module is public when no part of its dotted name starts with an underscore and it has a
non-empty ``__all__``. A name that an enclosing public package re-exports is documented on the
package's page only, so ``captum_infocam.localization.box_iou`` has one entry, not two.
:data:`TITLES` gives the curated page titles and their order; public modules missing from it
are appended under their dotted name (``tests/test_docs.py`` asks for a title).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "captum_infocam"
OUTPUT = "api"  # relative to the documentation's source folder

TITLES: dict[str, str] = {
    "captum_infocam.attribution": "CAM-family attributions",
    "captum_infocam.gradient": "Gradient form",
    "captum_infocam.maps": "Maps as tensor functions",
    "captum_infocam.heads": "Classifier heads",
    "captum_infocam.targets": "Targets",
    "captum_infocam.information": "PC-softmax and information estimates",
    "captum_infocam.priors": "Class priors",
    "captum_infocam.input_space": "Maps in input space",
    "captum_infocam.quantus_adapter": "Quantus explanation functions",
    "captum_infocam.localization": "Localisation metrics",
    "captum_infocam.wsol_protocol": "WSOL protocol: choose on val, report on test",
    "captum_infocam.visualization": "Visualisation",
    "captum_infocam.models": "Reference model",
    "captum_infocam.backbones": "WSOL backbones (ResNet-50, VGG16-GAP, Inception-v3)",
    "captum_infocam.data": "Data sets",
    "captum_infocam.data.gaussians": "Gaussian mixtures",
    "captum_infocam.data.synthetic": "Synthetic localisation images",
    "captum_infocam.data.synthetic_series": "Synthetic time series",
    "captum_infocam.data.synthetic_textures": "Synthetic textured objects",
    "captum_infocam.data.cub": "CUB-200-2011",
    "captum_infocam.data.tiny_imagenet": "Tiny-ImageNet",
    "captum_infocam.data.wsol_metadata": "The wsolevaluation metadata layout",
}
"""Page title of each public module, in the order of the API index."""


def public_modules(package: str = PACKAGE) -> list[ModuleType]:
    """Every public module of ``package`` (see the module docstring), in :data:`TITLES` order.

    Args:
        package (str): the package's import name.

    Returns:
        *list[ModuleType]*: the modules, curated ones first, the others by name.
    """
    root = importlib.import_module(package)
    names = [
        info.name
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules = [importlib.import_module(name) for name in names]
    modules = [module for module in modules if getattr(module, "__all__", None)]
    order = {name: index for index, name in enumerate(TITLES)}
    return sorted(
        modules, key=lambda module: (order.get(module.__name__, len(order)), module.__name__)
    )


@dataclass(frozen=True)
class ApiPage:
    """One module's API page: the names it documents and those its parent package documents."""

    module: ModuleType
    names: tuple[str, ...]
    excluded: tuple[str, ...]

    @property
    def title(self) -> str:
        """The page title: the curated one and the module's dotted name."""
        name = self.module.__name__
        return f"{TITLES.get(name, name)} (``{name}``)"

    @property
    def stem(self) -> str:
        """The page's file name without suffix, relative to the API folder."""
        return self.module.__name__.removeprefix(PACKAGE + ".")


def api_pages(package: str = PACKAGE) -> list[ApiPage]:
    """The API pages: each public module documents the names of its ``__all__`` that no
    enclosing public package re-exports; a module left with none gets no page.

    Args:
        package (str): the package's import name.

    Returns:
        *list[ApiPage]*: the pages in index order.
    """
    modules = public_modules(package)
    pages = []
    for module in modules:
        parents = [
            parent for parent in modules if module.__name__.startswith(parent.__name__ + ".")
        ]
        excluded = tuple(
            name
            for name in module.__all__
            if any(
                name in parent.__all__ and getattr(parent, name) is getattr(module, name)
                for parent in parents
            )
        )
        names = tuple(name for name in module.__all__ if name not in excluded)
        if names:
            pages.append(ApiPage(module, names, excluded))
    return pages


def documenting_page(name: str, value: Any, pages: list[ApiPage]) -> ApiPage | None:
    """The page that documents ``value``, exported under ``name``.

    Args:
        name (str): the name the object is exported under.
        value (Any): the object.
        pages (list[ApiPage]): the API pages.

    Returns:
        *ApiPage or None*: the page of the module that defines the object if it documents
        it, else the first page that does; ``None`` when no page documents it.
    """
    listing = [page for page in pages if name in page.names and getattr(page.module, name) is value]
    home = getattr(value, "__module__", None)
    defining = [page for page in listing if page.module.__name__ == home]
    return (defining or listing or [None])[0]


def _heading(text: str, underline: str) -> str:
    return f"{text}\n{underline * len(text)}\n"


def _summary(value: Any) -> str:
    doc = inspect.getdoc(value) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _role(value: Any) -> str:
    if inspect.isclass(value):
        return "class"
    if callable(value):
        return "func"
    return "data"


def _defining_module(name: str, value: Any, package: str = PACKAGE) -> ModuleType | None:
    """The module of ``package`` whose source assigns ``name`` (found by its attribute
    docstring or, failing that, by being the first module that holds ``value`` under it)."""
    from sphinx.pycode import ModuleAnalyzer

    root = importlib.import_module(package)
    names = [package] + [
        info.name for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    ]
    holders = [
        module
        for module in map(importlib.import_module, names)
        if module.__dict__.get(name, _MISSING) is value
    ]
    for module in holders:
        if ("", name) in ModuleAnalyzer.for_module(module.__name__).find_attr_docs():
            return module
    return holders[-1] if holders else None


_MISSING = object()


def imported_data(page: ApiPage) -> list[tuple[str, Any, list[str]]]:
    """The data names (neither classes nor callables) that ``page`` documents but its module
    imports: autodoc finds no source for them, so the page declares them itself.

    Args:
        page (ApiPage): the page.

    Returns:
        *list[tuple]*: ``(name, value, docstring lines)`` for each such name.
    """
    from sphinx.pycode import ModuleAnalyzer

    found = []
    for name in page.names:
        value = getattr(page.module, name)
        if inspect.isclass(value) or callable(value) or inspect.ismodule(value):
            continue
        home = _defining_module(name, value)
        if home is None or home is page.module:
            continue
        docs = ModuleAnalyzer.for_module(home.__name__).find_attr_docs().get(("", name), [])
        found.append((name, value, list(docs)))
    return found


def module_page(page: ApiPage) -> str:
    """The reStructuredText of a module's API page.

    Args:
        page (ApiPage): the page.

    Returns:
        *str*: a title, an ``automodule`` directive and a ``py:data`` entry for each
        constant the module re-exports (autodoc documents only the ones it defines).
    """
    data = imported_data(page)
    lines = [_heading(page.title, "="), f".. automodule:: {page.module.__name__}"]
    excluded = [*page.excluded, *(name for name, _, _ in data)]
    if excluded:
        lines.append(f"   :exclude-members: {', '.join(excluded)}")
    for name, value, docs in data:
        lines += ["", f".. py:data:: {name}", f"   :module: {page.module.__name__}"]
        lines += [f"   :value: {value!r}", ""]
        lines += [f"   {line}".rstrip() for line in docs]
    return "\n".join(lines) + "\n"


def index_page(pages: list[ApiPage], package: str = PACKAGE) -> str:
    """The reStructuredText of the API index: the package's exports and the module pages.

    Args:
        pages (list[ApiPage]): the API pages, in order.
        package (str): the package's import name.

    Returns:
        *str*: the page.
    """
    root = importlib.import_module(package)
    rows = []
    for name in root.__all__:
        value = getattr(root, name)
        home = documenting_page(name, value, pages)
        target = f"{home.module.__name__}.{name}" if home is not None else f"{package}.{name}"
        rows.append(f"   * - :{_role(value)}:`~{target}`\n     - {_summary(value) or ' '}")
    lines = [
        ".. This page is generated by docs/_ext/api_pages.py; edit that file instead.",
        "",
        _heading("API reference", "="),
        f"Everything a user needs is importable from ``{package}`` itself; each name is "
        "documented on the page of the module that defines it.",
        "",
        ".. code-block:: python",
        "",
        f"   from {package} import InfoCAM, LayerPMI, ClassActivationMap",
        "",
        _heading(f"Names exported by ``{package}``", "-"),
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 30 70",
        "",
        "   * - name",
        "     - summary",
        *rows,
        "",
        _heading("Modules", "-"),
        ".. toctree::",
        "   :maxdepth: 1",
        "",
        *(f"   {page.stem}" for page in pages),
        "",
    ]
    return "\n".join(lines)


def write_pages(source_dir: Path, package: str = PACKAGE) -> list[Path]:
    """Write the API index and one page per public module under ``source_dir / OUTPUT``.

    Files are rewritten only when their text changes, and pages of modules that no longer
    exist are removed, so incremental builds stay incremental and never see stale modules.

    Args:
        source_dir (Path): the documentation's source folder.
        package (str): the package's import name.

    Returns:
        *list[Path]*: the pages, index first.
    """
    folder = source_dir / OUTPUT
    folder.mkdir(parents=True, exist_ok=True)
    pages = api_pages(package)
    texts = {folder / "index.rst": index_page(pages, package)}
    texts.update({folder / f"{page.stem}.rst": module_page(page) for page in pages})
    for stale in set(folder.glob("*.rst")) - set(texts):
        stale.unlink()
    for path, text in texts.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return list(texts)


def _on_builder_inited(app: Any) -> None:
    write_pages(Path(app.srcdir))


def public_bases(bases: list[Any]) -> list[Any]:
    """The bases to show for a class: private ones replaced by their own bases, recursively,
    and classes that a public package re-exports named by that package.

    Args:
        bases (list): the class's bases, classes or already formatted strings.

    Returns:
        *list*: classes and reStructuredText strings, without duplicates.
    """
    shown: list[Any] = []
    for base in bases:
        if inspect.isclass(base) and base.__name__.startswith("_"):
            candidates = public_bases(list(base.__bases__))
        elif inspect.isclass(base):
            public = _public_name(base)
            hidden = public is base and _in_private_module(base)
            candidates = public_bases(list(base.__bases__)) if hidden else [public]
        else:
            candidates = [base]
        shown.extend(candidate for candidate in candidates if candidate not in shown)
    return shown


def _in_private_module(cls: type) -> bool:
    return any(part.startswith("_") for part in cls.__module__.split(".")[1:])


def _public_name(cls: type) -> Any:
    """``:class:`captum.attr.X``` when ``cls`` lives in a private module of a package that
    re-exports it, else ``cls`` itself."""
    parts = cls.__module__.split(".")
    private = next((index for index, part in enumerate(parts) if part.startswith("_")), None)
    if private is None or private == 0:
        return cls
    package = ".".join(parts[:private])
    try:
        exported = getattr(importlib.import_module(package), cls.__qualname__, None)
    except ImportError:
        return cls
    return f":class:`{package}.{cls.__qualname__}`" if exported is cls else cls


def _on_process_bases(app: Any, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    bases[:] = public_bases(bases)


def setup(app: Any) -> dict[str, Any]:
    """Register the page generator with Sphinx.

    Args:
        app (sphinx.application.Sphinx): the application.

    Returns:
        *dict*: the extension's metadata.
    """
    app.connect("builder-inited", _on_builder_inited)
    app.connect("autodoc-process-bases", _on_process_bases)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
