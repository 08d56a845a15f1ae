"""The documentation covers every public name, in Captum's docstring style, and its code runs.

The Sphinx build itself (``make docs``, warnings as errors) runs in CI after the tests; these
checks need no Sphinx and catch what a clean build does not: a name left undocumented, a
docstring without its Args / Returns / Examples, a code block on a page that no longer runs.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path
from types import FunctionType

import pytest
import torch

import captum_infocam

from conftest import load_script

DOCS = Path(__file__).resolve().parent.parent / "docs"


api_pages = load_script(DOCS / "_ext" / "api_pages.py")
markdown_tables = load_script(DOCS / "_ext" / "markdown_tables.py")
PAGES = api_pages.api_pages()
DOCUMENTED = [
    pytest.param(getattr(page.module, name), id=f"{page.module.__name__}.{name}")
    for page in PAGES
    for name in page.names
    if inspect.isclass(getattr(page.module, name))
    or isinstance(getattr(page.module, name), FunctionType)
]


# --------------------------------------------------------------------------- coverage


def test_public_modules_are_found_and_private_ones_skipped():
    names = {module.__name__ for module in api_pages.public_modules()}
    assert {"captum_infocam.attribution", "captum_infocam.maps", "captum_infocam.heads"} <= names
    assert not any(part.startswith("_") for name in names for part in name.split("."))


def test_every_api_page_has_a_curated_title():
    untitled = [
        page.module.__name__ for page in PAGES if page.module.__name__ not in api_pages.TITLES
    ]
    assert not untitled, f"add a page title to TITLES in docs/_ext/api_pages.py for {untitled}"


@pytest.mark.parametrize("name", captum_infocam.__all__)
def test_every_package_export_is_documented_once(name):
    value = getattr(captum_infocam, name)
    homes = [page for page in PAGES if name in page.names and getattr(page.module, name) is value]
    assert len(homes) == 1, f"{name} is documented on {len(homes)} API pages"
    assert f"~{homes[0].module.__name__}.{name}`" in api_pages.index_page(PAGES)


def test_every_name_of_every_public_module_is_on_one_page():
    for module in api_pages.public_modules():
        for name in module.__all__:
            value = getattr(module, name)
            homes = [
                page for page in PAGES if name in page.names and getattr(page.module, name) is value
            ]
            assert homes, f"{module.__name__}.{name} is on no API page"


def test_a_re_exported_name_is_documented_on_the_package_page_only():
    by_module = {page.module.__name__: page for page in PAGES}
    package = by_module["captum_infocam.localization"]
    assert "box_iou" in package.names
    for page in PAGES:
        if page.module.__name__.startswith("captum_infocam.localization."):
            assert "box_iou" not in page.names
            assert "box_iou" in page.excluded or "box_iou" not in page.module.__all__
            assert ":exclude-members:" in api_pages.module_page(page) or not page.excluded


def test_re_exported_constants_get_an_entry_of_their_own():
    """autodoc documents only the constants a module defines: the package page declares the
    ones it re-exports (MI_BENCHMARK_*, CLASS_NAMES) with their docstrings."""
    by_module = {page.module.__name__: page for page in PAGES}
    text = api_pages.module_page(by_module["captum_infocam.data"])
    for name in ("MI_BENCHMARK_BALANCED_COUNTS", "MI_BENCHMARK_IMBALANCED_COUNTS", "CLASS_NAMES"):
        assert f".. py:data:: {name}\n   :module: captum_infocam.data\n" in text
    assert "   Training-set class counts of the imbalanced benchmark" in text
    assert "(5000, 10000, 15000, 20000, 25000)" in text


def test_written_pages_replace_stale_ones(tmp_path):
    (tmp_path / "api").mkdir()
    stale = tmp_path / "api" / "removed_module.rst"
    stale.write_text("Removed\n=======\n\n.. automodule:: captum_infocam.removed_module\n")
    written = api_pages.write_pages(tmp_path)
    assert not stale.exists()
    assert written[0].name == "index.rst"
    index = written[0].read_text()
    for page in PAGES:
        assert f"   {page.stem}\n" in index
        assert (
            f".. automodule:: {page.module.__name__}"
            in (tmp_path / "api" / f"{page.stem}.rst").read_text()
        )


# --------------------------------------------------------------------------- docstrings


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^(Args|Returns|Yields|Raises|Attributes|Examples?)::?\s*$", doc, re.M))


def _parameters(function: object) -> list[str]:
    signature = inspect.signature(function)
    return [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.name not in ("self", "cls")
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]


def _returns_something(function: object) -> bool:
    annotation = inspect.signature(function).return_annotation
    return annotation not in (None, "None", inspect.Signature.empty)


def _overrides_outside_package(cls: type, name: str) -> bool:
    return any(
        name in base.__dict__ and not base.__module__.startswith("captum_infocam")
        for base in cls.__mro__[1:]
    )


@pytest.mark.parametrize("value", DOCUMENTED)
def test_public_docstrings_have_args_returns_and_examples(value):
    doc = inspect.getdoc(value)
    assert doc, "no docstring"
    sections = _sections(doc)
    assert sections & {"Example", "Examples"}, "no Examples:: section"
    if inspect.isclass(value):
        if "__init__" in value.__dict__ and _parameters(value.__init__):
            assert sections & {"Args", "Attributes"}, "the constructor's parameters: no Args"
        methods = {
            name: member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            for name, member in value.__dict__.items()
            if not name.startswith("_")
        }
        for name, method in methods.items():
            if isinstance(method, property):
                assert method.__doc__, f"property {name}: no docstring"
                continue
            if not callable(method):
                continue
            method_doc = inspect.getdoc(method)
            assert method_doc, f"method {name}: no docstring"
            if _overrides_outside_package(value, name):
                continue  # e.g. nn.Module.extra_repr: the base class documents the contract
            method_sections = _sections(method_doc)
            if _parameters(method):
                assert "Args" in method_sections, f"method {name}: no Args"
            if _returns_something(method):
                assert "Returns" in method_sections, f"method {name}: no Returns"
    else:
        if _parameters(value):
            assert "Args" in sections, "no Args section"
        if _returns_something(value):
            assert sections & {"Returns", "Yields"}, "no Returns section"


# --------------------------------------------------------------------------- theory page


def test_the_identities_of_the_theory_page_hold():
    """Every row of the identities table of docs/theory.rst, on random activations and heads
    (the gradient-form row is checked on models in tests/test_gradient.py)."""
    from captum_infocam import maps

    generator = torch.Generator().manual_seed(0)
    n, c, k, h, w = 3, 5, 4, 6, 7
    activations = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
    weight = torch.randn(k, c, generator=generator, dtype=torch.float64)
    bias = torch.randn(k, generator=generator, dtype=torch.float64)
    target = torch.tensor([0, 3, 1])
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    logits = activations.mean((2, 3)) @ weight.T + bias
    z_y = logits.gather(1, target[:, None])[:, :, None, None]
    others = (logits.sum(1, keepdim=True) - z_y[:, :, 0, 0]) / (k - 1)

    def close(a, b):
        torch.testing.assert_close(a, torch.as_tensor(b).expand_as(a), rtol=1e-10, atol=1e-10)

    cams = maps.class_activation_maps(activations, weight)
    close(cams.mean((2, 3)) + bias, logits)  # CAM
    close(maps.info_cam(activations, weight, bias, target, "none", None), z_y)  # s, whole map
    cam_y = maps.class_activation_map(activations, weight, target)
    close(
        maps.info_cam(activations, weight, bias, target, "none", 1),
        cam_y + bias[target, None, None, None],
    )
    pmi_whole = maps.pmi_maps(activations, weight, bias, prior, None)
    log_q_pc = logits - torch.logsumexp(logits + prior.log(), dim=1, keepdim=True)
    close(pmi_whole, log_q_pc[:, :, None, None])  # PMI, whole map
    uniform = maps.pmi_maps(activations, weight, bias, None, None)
    close(uniform, (logits.log_softmax(1) + math.log(k))[:, :, None, None])
    whole = maps.info_cam(activations, weight, bias, target, "mean", None)
    close(whole, (z_y[:, :, 0, 0] - others)[:, :, None, None])  # infoCAM, whole map
    most = maps.info_cam(
        activations, weight, bias, target, "most_likely", None, logits, contrast_weight=0.5
    )
    highest_other = logits.scatter(1, target[:, None], -math.inf).amax(1, keepdim=True)
    close(most, (z_y[:, :, 0, 0] - 0.5 * highest_other)[:, :, None, None])  # most likely, alpha
    pmi = maps.pmi_maps(activations, weight, bias, prior, 3)  # infoCAM = PMI contrast, any prior
    pmi_y = pmi.gather(1, target[:, None, None, None].expand(-1, 1, h, w))
    pmi_others = (pmi.sum(1, keepdim=True) - pmi_y) / (k - 1)
    close(maps.info_cam(activations, weight, bias, target, "mean", 3), pmi_y - pmi_others)
    regional = maps.region_mean(cam_y, 3) + bias[target, None, None, None]
    close(maps.info_cam(activations, weight, bias, target, "none", 3), regional)  # s_y


# --------------------------------------------------------------------------- pages


def _python_blocks(page: Path) -> list[str]:
    """The ``.. code-block:: python`` blocks of a page, dedented."""
    blocks, lines = [], page.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and not following.startswith("   "):
                break
            body.append(following[3:])
        blocks.append("\n".join(body).strip("\n"))
    return blocks


def test_getting_started_code_runs():
    blocks = _python_blocks(DOCS / "getting_started.rst")
    assert len(blocks) >= 2
    torch.manual_seed(0)
    namespace: dict[str, object] = {}
    for block in blocks:  # later blocks use the names of earlier ones, as a reader would
        exec(compile(block, "getting_started.rst", "exec"), namespace)
    assert namespace["maps"].shape == (2, 1, 224, 224)
    assert torch.isfinite(namespace["maps"]).all()


@pytest.mark.parametrize(
    "page", sorted((DOCS / "tutorials").glob("*.rst")), ids=lambda page: page.stem
)
def test_tutorial_code_blocks_run(page):
    if "import quantus" in page.read_text():
        pytest.importorskip("quantus")  # an optional extra
    torch.manual_seed(0)
    namespace: dict[str, object] = {}
    for block in _python_blocks(page):
        exec(compile(block, page.name, "exec"), namespace)


@pytest.mark.parametrize("imbalanced", [True, False])
def test_mutual_information_tutorial_snippet_estimates_the_truth(imbalanced):
    """The snippet's estimate agrees with the truth, and so does its commented alternative."""
    (block,) = _python_blocks(DOCS / "tutorials" / "mutual_information.rst")
    assert "imbalanced=True)  # or False" in block
    block = block.replace("imbalanced=True", f"imbalanced={imbalanced}")
    namespace: dict[str, object] = {"print": lambda *args: None}
    exec(compile(block, "mutual_information.rst", "exec"), namespace)
    mixture, x, y = namespace["mixture"], namespace["x"], namespace["y"]
    pmi = mixture.pointwise_mutual_information(x.double(), y)  # the exact PMI of each pair
    standard_error = float(pmi.std()) / math.sqrt(len(pmi))
    estimate, truth = float(namespace["estimate"]), namespace["truth"]
    assert abs(estimate - float(pmi.mean())) < 1e-4  # the Bayes logits give the exact PMI
    assert abs(estimate - truth.value) < 4 * math.hypot(standard_error, truth.standard_error)


@pytest.mark.parametrize(
    "example", sorted((DOCS.parent / "examples").glob("*.py")), ids=lambda path: path.stem
)
def test_every_example_has_out_and_fast_a_smoke_test_and_a_tutorial(example):
    source = example.read_text()
    assert '"--out"' in source, "examples take --out DIR for their figures"
    assert '"--fast"' in source, "examples have a --fast mode for the smoke tests"
    smoke_tests = [
        path
        for path in (DOCS.parent / "tests").glob("test_*.py")
        if path.name != "test_docs.py" and example.name in path.read_text()
    ]
    assert smoke_tests, f"no test in tests/ runs examples/{example.name}"
    tutorials = [
        page
        for page in (DOCS / "tutorials").glob("*.rst")
        if f"examples/{example.name}" in page.read_text()
    ]
    assert tutorials, f"no page of docs/tutorials/ presents examples/{example.name}"


def test_pages_reference_only_existing_files():
    root = DOCS.parent
    for page in DOCS.rglob("*.rst"):
        if "_build" in page.parts:
            continue
        text = page.read_text()
        for directive, target in re.findall(
            r"^\s*\.\. (literalinclude|include|image|figure|markdown-include):: (\S+)",
            text,
            re.M,
        ):
            base = DOCS if target.startswith("/") else page.parent
            path = (base / target.lstrip("/")).resolve()
            assert path.exists(), f"{page.relative_to(root)}: {directive} of missing {target}"


def test_markdown_tables_become_list_tables_and_comments_vanish():
    markdown = (
        "<!-- written by a benchmark -->\n"
        "| T | metric | time (`ms`) |\n"
        "|---|:---|---:|\n"
        "| 100 | MaxBoxAcc | 2.44 |\n"
        "| 1000 | MaxBoxAccV2 | 3.29 |\n"
        "\n"
        "Maps: 224 x 224, `bicubic`;\n"
        "medians of 5 repeats.\n"
    )
    assert markdown_tables.markdown_to_rst(markdown) == [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - T",
        "     - metric",
        "     - time (``ms``)",
        "   * - 100",
        "     - MaxBoxAcc",
        "     - 2.44",
        "   * - 1000",
        "     - MaxBoxAccV2",
        "     - 3.29",
        "",
        "Maps: 224 x 224, ``bicubic``;",
        "medians of 5 repeats.",
        "",
    ]
