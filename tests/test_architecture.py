"""The shape of the package, enforced: the pure core and the model import no I/O module,
and only the CLI and the UI import typer or rich."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "beanagent"
IO_PACKAGES = ("beanagent.files", "beanagent.ui", "beanagent.sandbox", "beanagent.runlog",
               "beanagent.cli", "beanagent.workflow", "beanagent.commands")
UI_LIBRARIES = ("typer", "rich", "click")


def imports(source: str) -> list[str]:
    """Every module a source imports, at any depth (imports inside functions count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def forbidden(source: str, banned: tuple[str, ...]) -> list[str]:
    return sorted({name for name in imports(source)
                   if any(name == b or name.startswith(b + ".") for b in banned)})


def pure_modules() -> list[Path]:
    return [PACKAGE / "model.py", *sorted((PACKAGE / "core").glob("*.py"))]


def test_the_core_and_the_model_import_no_io_module() -> None:
    offenders = {str(path.relative_to(PACKAGE)): bad for path in pure_modules()
                 if (bad := forbidden(path.read_text(encoding="utf-8"), IO_PACKAGES))}
    assert offenders == {}
    assert len(pure_modules()) >= 10  # the core is where it should be


def test_only_the_cli_and_the_ui_import_terminal_libraries() -> None:
    allowed = {PACKAGE / "cli.py", PACKAGE / "commands.py", *(PACKAGE / "ui").glob("*.py")}
    offenders = {str(path.relative_to(PACKAGE)): bad
                 for path in sorted(PACKAGE.rglob("*.py")) if path not in allowed
                 if (bad := forbidden(path.read_text(encoding="utf-8"), UI_LIBRARIES))}
    assert offenders == {}


def test_the_checker_catches_a_core_module_that_imports_io() -> None:
    """The rule can fail: an import inside a function is found, and so is `import x.y`."""
    source = ("from beanagent.model import Proposal\n"
              "def f():\n    from beanagent.files.stage import stage_items\n"
              "import beanagent.ui.console\n")
    assert forbidden(source, IO_PACKAGES) == ["beanagent.files.stage",
                                              "beanagent.files.stage.stage_items",
                                              "beanagent.ui.console"]
    assert forbidden("import rich.text\n", UI_LIBRARIES) == ["rich.text"]
    assert forbidden("from beanagent.core.match import match_statement\n", IO_PACKAGES) == []
