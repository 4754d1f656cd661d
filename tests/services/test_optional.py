"""The integrations' dependencies stay optional: the budget and ASGI modules
import nothing outside the standard library and unicancel, and a missing
httpx or grpcio is reported with the extra that installs it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_budget_and_asgi_need_no_third_party_package() -> None:
    result = _python(
        "import sys, unicancel.services.budget, unicancel.services.asgi\n"
        "bad = {'httpx', 'grpc', 'starlette', 'anyio', 'trio', 'uvicorn', 'hypercorn'}\n"
        "print(sorted(bad & {name.split('.')[0] for name in sys.modules}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [("httpx", "httpx", "httpx"), ("grpc", "grpc", "grpc")],
)
def test_missing_dependency_names_the_extra(module: str, blocked: str, extra: str) -> None:
    result = _python(
        f"import sys; sys.modules[{blocked!r}] = None\nimport unicancel.services.{module}"
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: unicancel: unicancel.services.{module} needs the ")
    assert last.endswith(f"install it with: pip install 'unicancel[{extra}]'")
