"""No page hands text from a store, Drive, an upload's file name or a model to a widget without the escaping
function (lib/display_text.py, also behind ui.escape_md): a meta-test over the pages' syntax trees, and AppTests
that render hostile product names and read back what the widgets got."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENS = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py", ROOT / "lib" / "ui.py"]

# Widgets whose text arguments Streamlit renders as Markdown (labels, captions, headings, options, tooltips,
# dialog and expander titles), called as st.X, ui.X or on a container/column (c.X).
WIDGETS = {
    "text",  # not Markdown, but bidi controls, NULs and a 10,000-character name matter there too (ui.plain)
    "button",
    "caption",
    "checkbox",
    "dialog",
    "download_button",
    "error",
    "expander",
    "header",
    "info",
    "link_button",
    "markdown",
    "metric",
    "multiselect",
    "page_link",
    "popover",
    "radio",
    "segmented_control",
    "selectbox",
    "select_slider",
    "subheader",
    "success",
    "tabs",
    "text_area",
    "text_input",
    "title",
    "toast",
    "toggle",
    "warning",
    "write",
    "pills",
    "image",
    "number_input",
    "flash",
    "fail",
    "empty_state",
}
# Fields that hold outside text: product, variation, folder, file, connection and asset names, SKUs, alt texts,
# attributes, categories, descriptions, store names.
OUTSIDE = {
    "name",
    "sku",
    "title",
    "alt_text",
    "attrs",
    "attributes",
    "categories",
    "category",
    "description",
    "short_description",
    "store",
    "folder_name",
    "file_name",
    "filename",
    "caption",
    "label",
    "alt",
}
# Keywords whose text is not rendered as Markdown (an input's own content).
PLAIN_KEYWORDS = {"key", "value", "placeholder"}
# A line that ends with this comment shows only the app's own text (style presets, provider names).
TRUSTED = "# own text"
# Calls that make outside text safe to show.
ESCAPERS = {
    "label",
    "escape_md",
    "safe_text",
    "md",
    "plain",
    "inert_markdown",
    "product_title",
    "product_caption",
    "len",
}


def _escaped(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ESCAPERS:
                return True
    return False


def unescaped_outside_text(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    found = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in WIDGETS):
            continue
        parents: dict[ast.AST, ast.AST] = {}
        if any(lines[n - 1].rstrip().endswith(TRUSTED) for n in range(call.lineno, (call.end_lineno or 0) + 1)):
            continue
        for arg in [*call.args, *(k.value for k in call.keywords if k.arg not in PLAIN_KEYWORDS)]:
            for parent in ast.walk(arg):
                for child in ast.iter_child_nodes(parent):
                    parents[child] = parent
            parents[arg] = call
            for node in ast.walk(arg):
                outside = (isinstance(node, ast.Attribute) and node.attr in OUTSIDE) or (
                    isinstance(node, ast.Subscript)
                    and isinstance(node.slice, ast.Constant)
                    and node.slice.value in OUTSIDE
                )
                is_function = isinstance(parents.get(node), ast.Call) and parents[node].func is node  # type: ignore[attr-defined]
                if outside and not is_function and not _escaped(node, parents):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)} in {call.func.attr}()")
    return found


def test_no_page_passes_outside_text_to_a_widget_without_the_escaping_function():
    problems = [p for screen in SCREENS for p in unescaped_outside_text(screen)]
    assert problems == []


def test_the_meta_test_finds_an_unescaped_product_name(tmp_path):
    bad = tmp_path / "page.py"
    bad.write_text(
        "import streamlit as st\nst.checkbox(f'{product.name} ({v.sku})')\nst.caption(ui.escape_md(p.name))\n"
    )
    assert [p.split(": ", 1)[1] for p in unescaped_outside_text_at(bad)] == [
        "product.name in checkbox()",
        "v.sku in checkbox()",
    ]


def unescaped_outside_text_at(path: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, path.parent
    try:
        return unescaped_outside_text(path)
    finally:
        ROOT = saved
