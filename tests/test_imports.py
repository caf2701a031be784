"""The serving path stays light: importing it must not pull in the heavy stack.

Each check runs in a fresh interpreter, so nothing imported by other tests can hide a leak.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("prefect", "mlflow", "evidently", "great_expectations", "pandas", "sklearn")

# Modules that serving apps, the HTTP service and CLI start-up import.
LIGHT_MODULES = [
    "modelsteward",
    "modelsteward.errors",
    "modelsteward.settings",
    "modelsteward.policy",
    "modelsteward.cli",
    "modelsteward.audit",
    "modelsteward.audit.store",
    "modelsteward.audit.seal",
    "modelsteward.audit.verify",
    "modelsteward.cli.audit",
    "modelsteward.guard",
    "modelsteward.killswitch",
    "modelsteward.killswitch._sqlite",
    "modelsteward.killswitch._redis",
    "modelsteward.killswitch.control",
    "modelsteward.service",
    "modelsteward.service.webhooks",
    "modelsteward.cli.killswitch",
    "modelsteward.alerts",
    "modelsteward.cli.alerts",
]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_module_imports_no_heavy_stack(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} imported {result.stdout.strip()}"


def test_cli_help_imports_no_heavy_stack() -> None:
    code = (
        "import sys\n"
        "from modelsteward.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    last = result.stdout.splitlines()[-1]
    assert last == "HEAVY=", last
