"""Every ```python block of README.md and docs/*.md runs, so the docs cannot rot.

Each block runs as it is shown, in a fresh Python process whose working
directory is an empty temporary folder; it must exit with 0, and every
``logs/...`` folder it names must hold at least one event file afterwards.

A block that cannot run here (two machines, a running server) is preceded by

    <!-- docs-test: skip (reason; tests/test_X.py::test_Y runs the same code) -->

and the named test must exist, so the exemption cannot rot either. Shell,
console and plain blocks are not run; other spellings of a Python fence
(```py, ```python3, ...) are refused, so no example slips past this test.
"""

import ast
import dataclasses
import glob
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
FENCE = re.compile(r"^\s*```+\s*([\w+-]*)\s*$")
PYTHON_SPELLINGS = {"py", "py3", "python3", "pycon", "ipython", "Python"}
SKIP = re.compile(r"^\s*<!-- docs-test: skip \((?P<reason>[^;()]+); (?P<path>tests/[\w/]+\.py)::(?P<test>\w+) runs the same code\) -->\s*$")
LOG_DIR = re.compile(r"""["'](logs/[\w./-]+)["']""")  # a folder, not a glob pattern
TIMEOUT = 300


@dataclasses.dataclass(frozen=True)
class Block:
    doc: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: object  # the SKIP match of the comment before the fence, or None

    @property
    def id(self):
        return "%s:%d" % (self.doc, self.line)


def python_blocks(doc):
    """The ```python blocks of ``doc`` (a path relative to the repo), in order."""
    lines = open(os.path.join(REPO, doc), encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        language, start = match.group(1), i
        assert language not in PYTHON_SPELLINGS, "%s:%d: write Python fences as ```python" % (doc, i + 1)
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            i += 1
        assert i < len(lines), "%s:%d: unclosed code fence" % (doc, start + 1)
        if language == "python":
            before = lines[start - 1] if start else ""
            skip = SKIP.match(before)
            assert skip or "docs-test" not in before, "%s:%d: malformed docs-test comment: %s" % (doc, start, before)
            blocks.append(Block(doc, start + 1, "\n".join(lines[start + 1 : i]) + "\n", skip))
        i += 1
    return blocks


BLOCKS = [block for doc in DOCS for block in python_blocks(doc)]
RUN = [block for block in BLOCKS if block.skip is None]
SKIPPED = [block for block in BLOCKS if block.skip is not None]


def test_the_docs_have_examples_and_every_page_is_found():
    assert "docs/keras.md" in DOCS and "docs/pytorch.md" in DOCS
    assert len(RUN) >= 10
    assert all(block.code.strip() for block in BLOCKS)


@pytest.mark.parametrize("block", SKIPPED, ids=[block.id for block in SKIPPED])
def test_a_skipped_block_names_a_test_that_exists(block):
    path = os.path.join(REPO, block.skip.group("path"))
    assert os.path.isfile(path), "%s names %s, which does not exist" % (block.id, block.skip.group("path"))
    tree = ast.parse(open(path, encoding="utf-8").read())
    tests = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert block.skip.group("test") in tests, "%s names %s::%s, which does not exist" % (
        block.id,
        block.skip.group("path"),
        block.skip.group("test"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[block.id for block in RUN])
def test_the_example_runs(block, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    # The examples choose their own Keras backend (the default, or os.environ first).
    env.pop("KERAS_BACKEND", None)
    try:
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=str(tmp_path),
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not finish within %d s" % (block.id, TIMEOUT))
    assert result.returncode == 0, "%s failed (exit %d):\n%s\n--- stderr ---\n%s" % (
        block.id,
        result.returncode,
        block.code,
        result.stderr[-4000:],
    )
    for log_dir in sorted(set(LOG_DIR.findall(block.code))):
        events = glob.glob(str(tmp_path / log_dir / "**" / "events.out.tfevents.*"), recursive=True)
        assert events, "%s names %s but left no event file there" % (block.id, log_dir)
