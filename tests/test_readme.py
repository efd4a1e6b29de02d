"""The README's set-up commands are the real ones: .ci/run runs exactly the README's test command."""
import re

from conftest import ROOT, python_blocks


def readme_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line for b in blocks for line in b.splitlines() if line.startswith("python3 -m venv")]


def test_ci_runs_exactly_the_readme_test_command():
    cmds = readme_commands()
    assert len(cmds) == 2, cmds
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3")]
    assert ci == [cmds[1]]
    assert "pytest" in cmds[1] and "blackbox solve maxsat --vars 1e6" in cmds[0]


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    """Every README python block runs (docs/*.md blocks: tests/test_docs.py, same convention)."""
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(ROOT / "README.md")
    assert blocks and all(runnable for _, _, runnable in blocks), "README blocks must all run"
    for line, block, _ in blocks:
        exec(compile("\n" * (line - 1) + block, "README.md", "exec"), {})
