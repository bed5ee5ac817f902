import re
from pathlib import Path

import typer

from koodari import __version__
from koodari.cli import app

COMMANDS = {"init", "import", "assign", "reductions", "tree", "units", "lemmatise", "analyse", "train", "suggest",
            "search", "group", "evaluate", "review", "serve", "agree", "history", "export", "demo", "rescue"}


def test_help_lists_the_commands(cli):
    registered = typer.main.get_command(app).commands
    assert set(registered) == COMMANDS  # a command added or gone: update this list and README.md
    assert set(registered["reductions"].commands) == {"import"}
    result = cli("--help")
    assert result.exit_code == 0
    listed = set(re.findall(r"^│ (\w+) ", result.output, flags=re.MULTILINE))
    assert listed == COMMANDS
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert {c for c in COMMANDS if f"koodari {c}" not in readme} == set()  # each one documented


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"koodari {__version__}"


def test_console_script_is_installed():
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("koodari")  # installed beside this venv's python
    assert exe.is_file(), "the koodari console script is not installed"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("koodari ")


def test_an_unknown_export_format_lists_every_format(study_path, cli, tmp_path):
    result = cli("export", study_path, "pdf", tmp_path / "x.pdf")
    assert result.exit_code != 0
    for kind in ("qdpx", "qdc", "csv", "xlsx", "tree-md", "tree-docx"):
        assert kind in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_suggest_for_an_empty_text_is_refused_in_one_line(study_path, cli):
    for text in ("", "   \t"):
        result = cli("suggest", study_path, "--text", text)
        assert result.exit_code != 0
        assert result.output.strip() == "error: --text is empty: give the utterance to suggest categories for"


def test_code_that_walks_sys_modules_imports_no_lazily_bound_module():
    """The CLI binds the scikit-learn-heavy core lazily; code that reads every module's attributes in sys.modules
    (inspect.getmodule, which importing torch runs hundreds of times) must not import them: that cost every
    `koodari analyse` about a second of CPU."""
    import subprocess
    import sys

    code = ("import inspect, sys, koodari.cli; inspect.getmodule(inspect.currentframe()); "
            "from koodari.app import model; "
            "print(sorted(m for m in ('sklearn', 'koodari.suggest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = ("import sys, koodari.cli; from koodari.app import model; model._suggest.Tree; "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # ...and the first use imports it
