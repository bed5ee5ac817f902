from koodari import __version__


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("init", "import", "reductions", "tree", "demo"):
        assert command in result.output


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"koodari {__version__}"


def test_console_script_is_installed():
    import shutil
    import subprocess

    exe = shutil.which("koodari")
    assert exe, "the koodari console script is not on PATH"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("koodari ")
