"""Mutation testing of the training loop's modules, in a copy of the repository.

    .venv/bin/python scripts/mutation.py --seed 1 --per-module 20 --timeout 300  # docs/mutation.md
    .venv/bin/python scripts/mutation.py --seed 1 --per-module 20 --timeout 300 --rerun-survivors

What it does:

1. exports ``HEAD`` (``git archive``) into a fresh copy (``--copy``, default
   ``/tmp/lstmjax-mutation``): the working tree is never touched, other processes may run
   tests in it meanwhile; a rerun (``--rerun-survivors``, ``--only``) exports the first
   run's commit (from the results file) with the ``tests/`` of ``HEAD``, so its mutants
   are the first run's even when the modules changed since;
2. lists every mutant of the functions named in :data:`TARGETS` as committed (the copy's
   commit, never the working tree; AST level, one change at
   a time): comparison flips (``<`` <-> ``<=``, ``==`` <-> ``!=``, ...), arithmetic swaps
   (``+`` <-> ``-``, ``*`` <-> ``/``, ...), a dropped term (``a + b`` -> ``a``), a negated
   condition (``if c`` -> ``if not c``), ``and`` <-> ``or``, constants (0 <-> 1, ``n`` ->
   ``n + 1``, ``True`` <-> ``False``), off-by-one slice bounds; then samples
   ``--per-module`` of them per module with ``random.Random(seed)`` (reproducible);
3. for each mutant: writes the mutated file into the copy, runs that module's test subset
   (:data:`TESTS`, ``pytest -x``) with the copy first on ``sys.path`` (checked: ``import
   lstmjax`` must resolve into the copy), with a per-mutant timeout; a failing test, an
   error or a timeout kills the mutant; then restores the file;
4. writes the Markdown report: the score, every mutant, and for each survivor the
   verdict of :data:`VERDICTS` (why it is equivalent, or which test now kills it).

``LSTMJAX_NATIVE=0`` in the runs: the XLA drivers (``fused_scan.scan``) run, as they do on
every machine where the native kernel cannot build, so mutants of ``fused_scan.py`` are reached
by the training tests too. A shared persistent XLA cache keeps the unmutated programs'
compiles across mutants.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module -> the functions (qualified names; "Class.method") whose bodies are mutated:
# the loop's semantics (init, gates, the fast driver, the step, the optimizer, the data
# order, evaluation, the loop's bookkeeping); input validation is left out.
TARGETS = {
    "lstmjax/cells.py": ["_input_kernel", "_recurrent_kernel", "_fused_params", "chrono_bias",
                         "LSTMCell.init", "LSTMCell.step_with_gates", "GRUCell.init",
                         "GRUCell.step", "MinLSTMCell.init"],
    "lstmjax/fused_scan.py": ["_pointwise", "_forward_loop", "_recurrence_bwd", "scan"],
    "lstmjax/device_step.py": ["score", "metrics_from_sums", "class_counts", "_f1", "_present",
                        "train_step", "eval_step", "init_state"],
    "lstmjax/optim.py": ["_cosine", "_linear", "_exponential", "_momentum", "make_schedule",
                         "make_optimizer"],
    "lstmjax/data.py": ["_pad_to", "prepare_batch", "collate", "BatchPlan.__init__", "BatchPlan.epoch",
                        "BatchPlan.indices", "_EvalBatches.__len__",
                        "_EvalBatches.__getitem__"],
    "lstmjax/evaluation.py": ["sample_batches", "split_batches", "evaluate"],
    "lstmjax/train.py": ["_log_train", "_accumulate", "_train", "_better", "_out_of_patience",
                         "_validate", "_early_status"],
}

_T = "tests/"
# module -> pytest arguments of its fast test subset
TESTS = {
    "lstmjax/cells.py": [_T + "test_semantics_init.py", _T + "test_semantics_scan.py",
                         _T + "test_cells.py", "-k",
                         "matches_numpy or match_numpy or preset_init or chrono or min_lstm"
                         " or default_forget or cifg_forget or glorot"],
    "lstmjax/fused_scan.py": [_T + "test_fused_scan.py", _T + "test_semantics_scan.py", "-k",
                              "standard or vanilla or cifg or remat or padded"],
    "lstmjax/device_step.py": [_T + "test_semantics_step.py", "-k",
                        "updates_follow or unequal or filler or classify_and_regress or macro"
                        " or every_step or never_drops"],
    "lstmjax/optim.py": [_T + "test_semantics_optim.py", "-k", "not logged"],
    "lstmjax/data.py": [_T + "test_semantics_data.py"],
    "lstmjax/evaluation.py": [_T + "test_semantics_step.py", "-k", "whole_split or filler"],
    "lstmjax/train.py": [_T + "test_semantics_train.py", _T + "test_semantics_optim.py",
                         _T + "test_regularization.py", "-k", "logged or patience or tie"],
}

# mutant id -> why it survives harmlessly ("equivalent: ..."), read from NOTES_FILE and
# written after reading a run; a survivor killed by a rerun (--rerun-survivors, after tests
# were added) is reported with the test that kills it now.
VERDICTS: dict[str, str] = {}
NOTES_FILE = os.path.join(ROOT, "scripts", "mutation_verdicts.json")


@dataclasses.dataclass
class Mutant:
    path: str
    func: str
    line: int
    kind: str
    before: str
    after: str
    source: str = dataclasses.field(repr=False, default="")

    @property
    def id(self) -> str:
        return f"{os.path.basename(self.path)}:{self.line}:{self.kind}:{self.before}->{self.after}"


_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
             ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
             ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
             ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
             ast.MatMult: ast.Mult}


def _functions(tree):
    """(qualified name, node) of every function, methods as "Class.method"."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{sub.name}", sub


def _is_docstring(node, parents) -> bool:
    p = parents.get(id(node))
    return isinstance(p, ast.Expr) and isinstance(node, ast.Constant) and isinstance(
        node.value, str)


def _in_raise(node, parents) -> bool:
    while node is not None:
        if isinstance(node, ast.Raise):
            return True
        node = parents.get(id(node))
    return False


def _variants(node):
    """(kind, before, after, replacement node) for one AST node."""
    seg = ast.unparse(node)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP_SWAP:
        new = copy.deepcopy(node)
        new.ops = [_CMP_SWAP[type(node.ops[0])]()]
        yield "cmp", seg, new
    if isinstance(node, ast.BinOp):
        if type(node.op) in _BIN_SWAP:
            new = copy.deepcopy(node)
            new.op = _BIN_SWAP[type(node.op)]()
            yield "arith", seg, new
        if isinstance(node.op, (ast.Add, ast.Sub)):
            yield "drop-term", seg, copy.deepcopy(node.left)
    if isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "boolop", seg, new
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        yield "unary", seg, copy.deepcopy(node.operand)
    if isinstance(node, ast.Constant) and not isinstance(node.value, str):
        v = node.value
        if isinstance(v, bool):
            yield "const", seg, ast.Constant(not v)
        elif isinstance(v, (int, float)):
            yield "const", seg, ast.Constant(type(v)(1 if v == 0 else (0 if v == 1 else v + 1)))
    if isinstance(node, ast.Slice):
        for name in ("lower", "upper"):
            bound = getattr(node, name)
            if bound is not None:
                new = copy.deepcopy(node)
                setattr(new, name, ast.BinOp(copy.deepcopy(bound), ast.Add(), ast.Constant(1)))
                yield "slice", seg, new


def _negated_ifs(func):
    for node in ast.walk(func):
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            yield node


def committed_source(path: str, rev: str = "HEAD") -> str:
    """The file as committed in ``rev``: the mutants are changes of what the copy holds,
    never of the working tree (other engineers' uncommitted edits are not in the copy)."""
    return subprocess.check_output(["git", "-C", ROOT, "show", f"{rev}:{path}"], text=True)


def mutants_of(path: str, funcs: list[str], rev: str = "HEAD") -> list[Mutant]:
    src = committed_source(path, rev)
    tree = ast.parse(src)
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    lines = src.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def replace(node, text):
        a = offsets[node.lineno - 1] + len(lines[node.lineno - 1][:node.col_offset].encode()
                                            .decode())
        b = offsets[node.end_lineno - 1] + node.end_col_offset
        return src[:a] + text + src[b:]

    out, wanted = [], set(funcs)
    for name, func in _functions(tree):
        if name not in wanted:
            continue
        wanted.discard(name)
        body = [n for stmt in func.body for n in ast.walk(stmt)]
        if body and isinstance(func.body[0], ast.Expr):  # skip the docstring's nodes
            body = [n for stmt in func.body[1:] for n in ast.walk(stmt)]
        for node in body:
            if not hasattr(node, "lineno") or _is_docstring(node, parents) \
                    or _in_raise(node, parents) or isinstance(node, ast.JoinedStr):
                continue
            if isinstance(parents.get(id(node)), ast.JoinedStr) or isinstance(
                    parents.get(id(node)), ast.FormattedValue):
                continue
            for kind, before, new in _variants(node):
                text = ast.unparse(new)
                if not isinstance(node, ast.Slice):
                    text = f"({text})"
                out.append(Mutant(path, name, node.lineno, kind, before, ast.unparse(new),
                                  replace(node, text)))
            if isinstance(node, (ast.If, ast.While)):
                test = node.test
                seg = ast.unparse(test)
                out.append(Mutant(path, name, test.lineno, "negate", seg, f"not ({seg})",
                                  replace(test, f"(not ({seg}))")))
    if wanted:
        raise SystemExit(f"{path}: no function(s) {sorted(wanted)}")
    good = []
    for m in out:  # only mutants that still parse (a slice bound in odd syntax may not)
        try:
            ast.parse(m.source)
        except SyntaxError:
            continue
        if m.source != src:
            good.append(m)
    return good


def sample(per_module: int, seed: int, rev: str = "HEAD") -> list[Mutant]:
    rng = random.Random(seed)
    chosen = []
    for path, funcs in TARGETS.items():
        ms = mutants_of(path, funcs, rev)
        # one mutant per (line, kind, before, after): no duplicates of one change
        uniq = {m.id: m for m in ms}
        ms = [uniq[k] for k in sorted(uniq)]
        chosen += sorted(rng.sample(ms, min(per_module, len(ms))), key=lambda m: m.line)
    return chosen


def _rev_parse(rev: str) -> str:
    return subprocess.check_output(["git", "-C", ROOT, "rev-parse", rev], text=True).strip()


def _extract(rev: str, copy_dir: str, *paths: str) -> None:
    archive = subprocess.Popen(["git", "-C", ROOT, "archive", rev, *paths],
                               stdout=subprocess.PIPE)
    subprocess.check_call(["tar", "-x", "-C", copy_dir], stdin=archive.stdout)
    if archive.wait():
        raise SystemExit(f"git archive {rev} {' '.join(paths)} failed")


def export(copy_dir: str, rev: str = "HEAD") -> tuple[str, str]:
    """A fresh copy of ``rev`` with the ``tests/`` of HEAD; returns (its commit, HEAD's).

    A rerun mutates the library of the first run's commit (the mutants and their ids are
    that commit's, even when other work has changed the modules since) and runs the tests
    of now: the tests added against the survivors."""
    if os.path.exists(copy_dir):
        shutil.rmtree(copy_dir)
    os.makedirs(copy_dir)
    commit, head = _rev_parse(rev), _rev_parse("HEAD")
    _extract(commit, copy_dir)
    if head != commit:
        shutil.rmtree(os.path.join(copy_dir, "tests"))
        _extract(head, copy_dir, "tests")
    return commit, head


def env_for(copy_dir: str, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=copy_dir, JAX_PLATFORMS="cpu", LSTMJAX_NATIVE="0",
               JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def check_copy(copy_dir: str, env: dict) -> None:
    where = subprocess.check_output([sys.executable, "-c", "import lstmjax; print(lstmjax.__file__)"],
                                    cwd=copy_dir, env=env, text=True, stdin=subprocess.DEVNULL).strip()
    if not os.path.realpath(where).startswith(os.path.realpath(copy_dir)):
        raise SystemExit(f"import lstmjax resolves to {where}, not into the copy {copy_dir}")


def run_tests(copy_dir: str, env: dict, args: list[str], timeout: float) -> tuple[str, float, str]:
    t = time.time()
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           "-o", "addopts=", *args]
    try:
        r = subprocess.run(cmd, cwd=copy_dir, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "killed (timeout)", time.time() - t, ""
    tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or [""]
    failed = next((ln.split(" ")[1] for ln in (r.stdout).splitlines()
                   if ln.startswith(("FAILED ", "ERROR "))), tail[0])
    return ("survived" if r.returncode == 0 else "killed"), time.time() - t, failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-module", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    ap.add_argument("--copy", default="/tmp/lstmjax-mutation")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "mutation.md"))
    ap.add_argument("--results", default=None,
                    help="JSON of results (default <copy>-results.json): mutants already in "
                         "it are not rerun; a rerun (--only) keeps the first outcome beside "
                         "the new one")
    ap.add_argument("--only", nargs="*", default=None, help="rerun only these mutant ids")
    ap.add_argument("--rerun-survivors", action="store_true",
                    help="rerun every mutant whose last outcome was 'survived' (after adding "
                         "tests)")
    ap.add_argument("--report-only", action="store_true",
                    help="write the report from the results file; run nothing")
    ap.add_argument("--list", action="store_true", help="list the sampled mutants and stop")
    ap.add_argument("--rev", default=None,
                    help="the commit whose modules are mutated (default: HEAD for a first "
                         "run; the first run's commit, from the results file, for a rerun "
                         "and the report); the tests are always HEAD's")
    args = ap.parse_args(argv)

    if args.list:
        chosen = sample(args.per_module, args.seed)
        for m in chosen:
            print(m.id, f"({m.func})")
        print(len(chosen), "mutants")
        return 0
    verdicts = dict(VERDICTS)
    if os.path.exists(NOTES_FILE):
        verdicts.update(json.load(open(NOTES_FILE)))
    results_path = args.results or os.path.join(args.copy + "-results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    meta = results.pop("_meta", {"runs": []})
    if args.rerun_survivors:
        args.only = [k for k, r in results.items() if r["outcome"] == "survived"
                     and not verdicts.get(k, "").startswith("equivalent")]
    # the mutants of the first run's commit: the ids in the results file are theirs
    rev = args.rev or (meta["runs"][0]["commit"] if meta["runs"] and (
        args.report_only or args.only is not None) else "HEAD")
    if args.report_only:
        chosen = sample(args.per_module, args.seed, rev)
    else:
        commit, tests_commit = export(args.copy, rev)
        chosen = sample(args.per_module, args.seed, commit)  # what the copy holds
        missing = sorted(set(args.only or ()) - {m.id for m in chosen})
        if missing:
            print(f"not among the mutants of {commit[:12]} (the module changed?): {missing}",
                  flush=True)
        cache = args.copy + "-xla-cache"
        env = env_for(args.copy, cache)
        check_copy(args.copy, env)
        baseline = {}
        for path, tests in TESTS.items():
            if args.only is not None and not any(m.path == path and m.id in args.only
                                                 for m in chosen):
                continue
            outcome, secs, detail = run_tests(args.copy, env, tests, args.timeout * 3)
            if outcome != "survived":
                raise SystemExit(f"the unmutated copy fails {tests}: {detail}")
            baseline[path] = round(secs, 1)
            print(f"baseline {path}: {secs:.0f} s", flush=True)
        t0, ran = time.time(), 0
        for k, m in enumerate(chosen):
            if args.only is not None and m.id not in args.only:
                continue
            if args.only is None and m.id in results:
                continue
            target = os.path.join(args.copy, m.path)
            original = open(target).read()
            try:
                open(target, "w").write(m.source)
                # a mutant may loop forever: 3x the unmutated subset's time, at most --timeout
                limit = min(args.timeout, max(60.0, 3 * baseline[m.path]))
                outcome, secs, detail = run_tests(args.copy, env, TESTS[m.path], limit)
            finally:
                open(target, "w").write(original)
            new = {"outcome": outcome, "seconds": round(secs, 1), "detail": detail,
                   "commit": commit[:12], "tests": tests_commit[:12]}
            if m.id in results:
                new["first"] = results[m.id].get("first", results[m.id])
            results[m.id] = new
            ran += 1
            json.dump({**results, "_meta": meta}, open(results_path, "w"), indent=1)
            print(f"[{k + 1}/{len(chosen)}] {outcome:17s} {secs:5.0f}s {m.id}", flush=True)
        meta["runs"].append({"commit": commit[:12], "tests": tests_commit[:12],
                             "rerun": args.only is not None, "mutants": ran,
                             "minutes": round((time.time() - t0) / 60, 1),
                             "baseline_s": baseline,
                             "argv": " ".join(argv if argv is not None else sys.argv[1:])})
        json.dump({**results, "_meta": meta}, open(results_path, "w"), indent=1)
    report(chosen, results, verdicts, meta, args)
    return 0


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def _first(r: dict) -> dict:
    return r.get("first", r)


def report(chosen, results, verdicts, meta, args) -> None:
    done = [(m, results[m.id]) for m in chosen if m.id in results]
    first_killed = [m for m, r in done if _first(r)["outcome"].startswith("killed")]
    survivors = [(m, r) for m, r in done if _first(r)["outcome"] == "survived"]
    equivalent = [m for m, r in survivors if verdicts.get(m.id, "").startswith("equivalent")]
    now_killed = [m for m, r in survivors if r["outcome"].startswith("killed")]
    non_eq = len(done) - len(equivalent)
    score = len(first_killed) / non_eq if non_eq else 1.0
    score_now = (len(first_killed) + len(now_killed)) / non_eq if non_eq else 1.0
    cmd = (f".venv/bin/python scripts/mutation.py --seed {args.seed} --per-module "
           f"{args.per_module} --timeout {args.timeout:g}")
    runs = meta.get("runs", [])
    first_commits = sorted({_first(r).get("commit", "?") for _, r in done})
    first_minutes = sum(_first(r)["seconds"] for _, r in done) / 60
    out = ["# Mutation testing of the training loop", "",
           "Generated by `scripts/mutation.py` (do not edit by hand). Reproduce with:", "",
           "```bash", cmd, "            # every sampled mutant, against HEAD",
           cmd + " --rerun-survivors   # after adding tests: the survivors again",
           "```", "",
           "Each run exports `HEAD` with `git archive` into a copy (`--copy`; a rerun: the "
           "first run's commit with the `tests/` of `HEAD`); the working "
           "tree is never mutated, and `import lstmjax` is checked to resolve into the copy. "
           "Each mutant is one AST-level change in one function of the loop's modules "
           "(`TARGETS` in the script; input validation left out), sampled with "
           f"`random.Random({args.seed})`, {args.per_module} per module; each runs its "
           "module's test subset (`TESTS`) with `pytest -x`, `LSTMJAX_NATIVE=0` (the XLA "
           f"drivers) and a timeout of 3x the unmutated subset's time (60 s to {args.timeout:g} s; "
           "a timeout counts as killed).", "",
           f"First run: commit `{', '.join(first_commits)}`, {len(done)} mutants, "
           f"{first_minutes:.0f} min of tests. Reruns: " + ("; ".join(
               f"commit `{r['commit']}` with the tests of `{r.get('tests', r['commit'])}`: "
               f"{r['mutants']} mutants in {r['minutes']} min"
               for r in runs if r["mutants"] and r.get("rerun", r["commit"] not in first_commits))
               or "none")
           + ". (2 shared, busy cores.)", "",
           "## Score", "",
           "| mutants | killed by the first run | survived it | equivalent | "
           "score of the first run (killed / non-equivalent) | killed since by added tests | "
           "score now |",
           "|---|---|---|---|---|---|---|",
           f"| {len(done)} | {len(first_killed)} | {len(survivors)} | {len(equivalent)} | "
           f"{score:.1%} | {len(now_killed)} | {score_now:.1%} |", "",
           "## Surviving mutants of the first run", ""]
    if survivors:
        out += ["| mutant | function | now | verdict |", "|---|---|---|---|"]
        for m, r in survivors:
            verdict = verdicts.get(m.id)
            if verdict is None and r["outcome"].startswith("killed"):
                verdict = (f"killed by `{r['detail']}` (a test added, or brought into the "
                           "module's subset, after the first run)")
            out.append(f"| {_cell(m.id)} | `{m.func}` | {r['outcome']} | "
                       f"{(verdict or 'NOT YET JUDGED').replace('|', '/')} |")
    else:
        out.append("None.")
    out += ["", "## Per module (first run)", "",
            "| module | mutants | killed | survived | test subset |", "|---|---|---|---|---|"]
    for path in TARGETS:
        ms = [(m, r) for m, r in done if m.path == path]
        k = sum(_first(r)["outcome"].startswith("killed") for _, r in ms)
        out.append(f"| `{path}` | {len(ms)} | {k} | {len(ms) - k} | "
                   f"`{' '.join(TESTS[path])}` |")
    out += ["", "## Every mutant (first run)", "",
            "| mutant | function | outcome | s | first failure |", "|---|---|---|---|---|"]
    for m, r in done:
        f = _first(r)
        out.append(f"| {_cell(m.id)} | `{m.func}` | {f['outcome']} | {f['seconds']:g} | "
                   f"{_cell(f['detail'][:90]) if f['detail'] else ''} |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"wrote {args.out}: first run {len(first_killed)} killed, {len(survivors)} survived "
          f"({score:.1%}); now {score_now:.1%}")


if __name__ == "__main__":
    sys.exit(main())
