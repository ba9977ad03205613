"""The README is a short front door and the docs are current: links and images resolve,
the Quickstart is the two make commands, the API example runs, and the tables that
restate the code (task fields, config fields and defaults, resumable fields, exit codes,
module map) match it.

    python tests/test_docs.py --write-task-fields   # regenerate docs/data.md's field table
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
MAX_README_LINES = 210
RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"
FIELDS_BEGIN, FIELDS_END = "<!-- task-fields:begin -->", "<!-- task-fields:end -->"

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_SRC = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _prose(text: str, inline_code: bool = False) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed (or kept)."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line if inline_code else re.sub(r"`[^`]*`", "", line))
    return out


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(_read(path), inline_code=True):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            out.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
    return out


def _links(path: str) -> list[str]:
    targets = []
    for line in _prose(_read(path)):
        targets += _LINK.findall(line) + _HTML_SRC.findall(line)
    return targets


def _section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of level 1 or 2."""
    m = re.search(rf"^##\s+{re.escape(heading)}\s*$(.*?)(?=^#{{1,2}}\s|\Z)", text, re.M | re.S)
    assert m, f"README has no '## {heading}' section"
    return m.group(1)


def _code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\s*\n(.*?)^```", text, re.M | re.S)


def _readme_front_door_lines(text: str) -> int:
    """README lines, not counting a generated results block still waiting to move to
    docs/results.md (experiments/results_page.py decides where it lives)."""
    if RESULTS_BEGIN in text and RESULTS_END in text:
        text = text[:text.index(RESULTS_BEGIN)] + text[text.index(RESULTS_END) + len(RESULTS_END):]
    return len(text.splitlines())


# --------------------------------------------------------------------------- README


def test_readme_is_a_short_front_door():
    lines = _readme_front_door_lines(_read(README))
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines; keep it a front door of at most {MAX_README_LINES} "
        "and move reference material to docs/")


def test_readme_quickstart_is_exactly_the_two_make_commands():
    blocks = _code_blocks(_section(_read(README), "Quickstart"), "bash")
    assert len(blocks) == 1, "the Quickstart holds one bash block"
    commands = [line.split("#", 1)[0].strip() for line in blocks[0].splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]
    makefile = _read(os.path.join(ROOT, "Makefile"))
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


@pytest.mark.slow
def test_readme_api_example_runs():
    blocks = _code_blocks(_read(README), "python")
    assert blocks, "README has no python example"
    code = blocks[0]
    assert "lstmjax.LSTMConfig" in code and "lstmjax.apply" in code
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_readme_exit_codes_match_the_cli():
    from lstmjax import cli

    rows = re.findall(r"^\|\s*`?(\d+)`?\s*\|", _section(_read(README), "Exit codes"), re.M)
    assert sorted(int(r) for r in rows) == sorted(cli.EXIT_CODES)


def test_readme_code_map_names_every_module():
    text = _section(_read(README), "Map of the code")
    modules = sorted(os.path.splitext(os.path.basename(p))[0]
                     for p in glob.glob(os.path.join(ROOT, "lstmjax", "*.py"))
                     if not os.path.basename(p).startswith("__"))
    missing = [m for m in modules if not re.search(rf"\b{m}\b", text)]
    assert not missing, f"README 'Map of the code' does not mention lstmjax/{missing}"
    assert "tasks/" in text


# --------------------------------------------------------------------------- all pages


@pytest.mark.parametrize("path", [README] + DOCS, ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_and_images_resolve(path):
    bad = []
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = path if not file_part else os.path.normpath(
            os.path.join(os.path.dirname(path), file_part))
        if not os.path.exists(dest):
            bad.append(f"{target} (no such file)")
            continue
        if not os.path.realpath(dest).startswith(ROOT + os.sep):
            bad.append(f"{target} (outside the repository)")
        elif anchor and dest.endswith(".md") and anchor not in _anchors(dest):
            bad.append(f"{target} (no heading with anchor #{anchor})")
    assert not bad, f"{os.path.relpath(path, ROOT)}: broken links: {bad}"


def test_docs_pages_exist_and_say_what_they_cover():
    names = {os.path.basename(p) for p in DOCS}
    for page in ("api.md", "data.md", "training.md", "interop.md", "speed.md",
                 "experiments.md"):
        assert page in names, f"docs/{page} is missing"
    for path in DOCS:
        lines = _read(path).splitlines()
        assert lines and lines[0].startswith("# "), f"{path} starts with a title"
        body = next((l for l in lines[1:] if l.strip()), "")
        assert not body.startswith(("#", "|", "```", "-", "*")), (
            f"{path}: the title is followed by a paragraph saying what the page covers")


def test_results_block_lives_in_one_place():
    """The generated results block exists once: in the README until
    experiments/results_page.py targets docs/results.md, then only there."""
    holders = [p for p in [README] + DOCS if RESULTS_BEGIN in _read(p)]
    assert len(holders) == 1, f"results block in {holders}"


# --------------------------------------------------------------------------- generated


def task_fields_block() -> str:
    """docs/data.md's table of every registered task's fields, from the registry."""
    from lstmjax import tasks
    from lstmjax.tasks import synthetic

    common = synthetic.COMMON_DEFAULTS
    lines = [FIELDS_BEGIN,
             "<!-- generated from lstmjax.tasks.fields_of by `python tests/test_docs.py "
             "--write-task-fields`; do not edit by hand -->", "",
             "| task | fields (defaults) |", "|---|---|"]
    for name in tasks.NAMES:
        fields = tasks.fields_of(name)
        own = {k: v for k, v in fields.items()
               if not (name in synthetic.TASKS and k in common)}
        cells = ", ".join(f"`{k}={v!r}`" for k, v in own.items())
        if name in synthetic.TASKS:
            cells += " + the synthetic fields below"
        lines.append(f"| `{name}` | {cells} |")
    lines += ["", "Synthetic fields (every synthetic task): "
              + ", ".join(f"`{k}={v!r}`" for k, v in common.items()) + ".", FIELDS_END]
    return "\n".join(lines)


def _data_md() -> str:
    return os.path.join(ROOT, "docs", "data.md")


def test_data_md_task_fields_match_the_registry():
    text = _read(_data_md())
    assert FIELDS_BEGIN in text and FIELDS_END in text
    got = text[text.index(FIELDS_BEGIN):text.index(FIELDS_END) + len(FIELDS_END)]
    assert got == task_fields_block(), (
        "docs/data.md's task fields differ from lstmjax.tasks.fields_of; run "
        "`python tests/test_docs.py --write-task-fields`")


def _schema_rows() -> dict[str, str]:
    """docs/training.md's config tables: dotted field name -> the default as written."""
    text = _read(os.path.join(ROOT, "docs", "training.md"))
    m = re.search(r"^## The config schema\s*$(.*?)(?=^## )", text, re.M | re.S)
    assert m, "docs/training.md has no '## The config schema' section"
    rows, prefix = {}, None
    for line in m.group(1).splitlines():
        section = re.match(r"^\*\*(?:`(\w+)`|Top level)\*\*", line)
        if section:
            prefix = f"{section.group(1)}." if section.group(1) else ""
        row = re.match(r"^\|\s*`(\w+)`\s*\|\s*`([^`]*)`\s*\|", line)
        if row and prefix is not None:
            rows[prefix + row.group(1)] = row.group(2)
    return rows


def _flat_defaults():
    from lstmjax import schema

    def walk(tree, prefix=""):
        for k, v in tree.items():
            if isinstance(v, dict) and k != "data":
                yield from walk(v, f"{prefix}{k}.")
            elif k != "data":
                yield f"{prefix}{k}", v

    return dict(walk(schema.DEFAULTS))


def test_training_md_config_tables_match_the_schema():
    """Every field of lstmjax.schema.DEFAULTS is described, with its current default."""
    import ast

    rows, defaults = _schema_rows(), _flat_defaults()
    assert sorted(rows) == sorted(defaults), (
        f"docs/training.md config tables: missing {sorted(set(defaults) - set(rows))}, "
        f"unknown {sorted(set(rows) - set(defaults))}")
    written = {k: ast.literal_eval(rows[k]) for k in defaults}
    wrong = {k: (rows[k], v) for k, v in defaults.items()
             if written[k] != v or type(written[k]) is not type(v)}
    assert not wrong, f"docs/training.md defaults differ from lstmjax.schema.DEFAULTS: {wrong}"


def test_training_md_resumable_fields_match_the_schema():
    from lstmjax import schema

    text = _read(os.path.join(ROOT, "docs", "training.md"))
    m = re.search(r"Fields that may change between resumes(.*?)Everything else may not", text, re.S)
    assert m, "docs/training.md does not list the fields that may change on resume"
    listed = set(re.findall(r"`(\w+)`", m.group(1))) - {"RESUMABLE"}
    assert listed == set(schema.RESUMABLE), (listed ^ set(schema.RESUMABLE))


def _write_task_fields() -> None:
    path = _data_md()
    text = _read(path)
    new = (text[:text.index(FIELDS_BEGIN)] + task_fields_block()
           + text[text.index(FIELDS_END) + len(FIELDS_END):])
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    print(f"wrote the task fields of {path}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-task-fields"]:
        _write_task_fields()
    else:
        print(__doc__)
