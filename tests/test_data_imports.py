"""lstmjax.tasks and lstmjax.data import lstmjax modules at module level only, and
importing them does not import TensorFlow Datasets (it loads when a TFDS task is used)."""

import ast
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(ROOT, "lstmjax", "tasks", "*.py"))) + [os.path.join(ROOT, "lstmjax", "data.py")]


def test_no_function_level_imports_of_lstmjax_modules():
    offenders = []
    for path in FILES:
        tree = ast.parse(open(path, encoding="utf-8").read())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for node in ast.walk(fn):
                    names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                             [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                    if any(n == "lstmjax" or n.startswith("lstmjax.") for n in names) or \
                            (isinstance(node, ast.ImportFrom) and node.level):
                        offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_importing_tasks_and_data_does_not_import_tfds():
    code = "import sys, lstmjax.data, lstmjax.tasks; print('tensorflow_datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
