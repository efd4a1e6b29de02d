"""The documentation cannot drift from the code.

* docs/cli.md is regenerated in memory from the CLI's help and must equal the committed page.
* Every ```python block of docs/*.md runs, unless it starts with the explicit marker
  ``# not run in tests`` (the convention of docs/README.md); blocks naming a placeholder that
  cannot exist here (HEAD_IP, my_problem) must carry the marker.
* Every page links where docs/README.md says, and relative links point at files that exist.
"""
import importlib.util
import re

import pytest

from conftest import NOT_RUN, ROOT, python_blocks

DOCS = sorted((ROOT / "docs").glob("*.md"))
PLACEHOLDERS = ("HEAD_IP", "my_problem")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", ROOT / "docs" / "gen_cli_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_is_current():
    text = _generator().render()
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == text, "docs/cli.md is out of date: run python docs/gen_cli_reference.py"


def test_cli_reference_covers_every_command_and_problem():
    from blackbox.registry import problem_names
    text = (ROOT / "docs" / "cli.md").read_text()
    for head in ["## blackbox list", "## blackbox solve", "## blackbox compare"]:
        assert head in text
    for name in problem_names():
        assert f"### blackbox solve {name}\n" in text
    assert str(ROOT) not in text and "/tmp" not in text


def _all_blocks():
    return [(page, line, code, runnable) for page in DOCS for line, code, runnable in python_blocks(page)]


def test_placeholder_blocks_are_marked():
    blocks = _all_blocks()
    assert any(not runnable for *_, runnable in blocks), "expected the marked Ray-cluster block of distributed.md"
    for page, line, code, runnable in blocks:
        if any(p in code for p in PLACEHOLDERS):
            assert not runnable, f"{page.name}:{line} names a placeholder; start it with '{NOT_RUN}'"


RUNNABLE = [(p, ln, c) for p, ln, c, run in _all_blocks() if run]


@pytest.mark.parametrize("page,line,code", RUNNABLE, ids=[f"{p.name}:{ln}" for p, ln, _ in RUNNABLE])
def test_docs_python_blocks_run(page, line, code, tmp_path, monkeypatch, shared_data, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BLACKBOX_DATA", str(shared_data))
    exec(compile("\n" * (line - 1) + code, str(page.relative_to(ROOT)), "exec"), {"__name__": "__docs__"})


def test_docs_index_links_every_page_and_links_resolve():
    index = (ROOT / "docs" / "README.md").read_text()
    for page in DOCS:
        if page.name != "README.md":
            assert f"({page.name})" in index, f"docs/README.md does not link {page.name}"
    assert "(benchmarks.md)" in index  # written by the lead; linked already
    for page in DOCS + [ROOT / "README.md", ROOT / "examples" / "README.md"]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if target.endswith("benchmarks.md"):
                continue  # the lead's page; may land after this test
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links a missing {target}"
