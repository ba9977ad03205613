"""A thin command line (issue 25 item 3, issue 27 item 5): ``lstmjax/cli.py`` parses
arguments and maps exceptions to exit codes; the work is done by the library's public
functions, and the heavy libraries a command may need load only when it needs them.
"""

import ast
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = ROOT / "lstmjax" / "cli.py"

# what the command line needs: the exit-code table, the trained-run API (evaluate,
# predict), the training loop, the run directory (output files) and the config schema
# (train --help lists its fields)
MUST = {"lstmjax.errors", "lstmjax.inference", "lstmjax.train", "lstmjax.runs",
        "lstmjax.schema"}

# libraries no command needs before its first line of output
LAZY = ("orbax", "grain", "tensorboardX", "tensorflow_datasets", "matplotlib", "tensorflow",
        "torch", "flax")


def _lstmjax_imports() -> tuple[set, dict]:
    tree = ast.parse(CLI.read_text())
    modules, aliases = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstmjax"):
            for a in node.names:
                name = f"{node.module}.{a.name}" if node.module == "lstmjax" else node.module
                modules.add(name)
                aliases[a.asname or a.name] = name
        elif isinstance(node, ast.Import):
            modules |= {a.name for a in node.names if a.name.startswith("lstmjax")}
    return modules, aliases


def test_the_cli_imports_only_the_modules_it_must():
    modules, _ = _lstmjax_imports()
    assert modules == MUST, f"lstmjax.cli imports {sorted(modules - MUST)} beyond what it must"


def test_the_cli_reaches_no_private_name_of_the_library():
    """No ``train._tree``, ``train.BEST``-style internals, no half-made ``train.Job``."""
    _, aliases = _lstmjax_imports()
    used = {(n.value.id, n.attr) for n in ast.walk(ast.parse(CLI.read_text()))
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            and n.value.id in aliases}
    private = sorted(f"{m}.{a}" for m, a in used if a.startswith("_"))
    assert not private, private
    assert ("train", "Job") not in used and ("train", "BEST") not in used
    assert {a for m, a in used if m == "train"} == {"run"}  # train runs, nothing else


def test_importing_the_cli_loads_no_heavy_library():
    code = ("import sys, json; import lstmjax.cli; "
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({LAZY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_train_help_is_printed_without_loading_them():
    code = ("import sys, json\nfrom lstmjax import cli\nsys.stdout = open('/dev/null', 'w')\n"
            "code = cli.main(['lstmjax', 'train', '--help'])\nsys.stdout = sys.__stdout__\n"
            f"print(json.dumps([code, sorted({{m.split('.')[0] for m in sys.modules}} & "
            f"set({LAZY!r}))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, []]
