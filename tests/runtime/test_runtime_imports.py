"""What a step process imports: cloudpickle only when a value or the step's code needs it.

``import cloudpickle`` costs tens of milliseconds, paid by every step process that loads it; a step
shipped by import path whose values are all JSON has no use for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import runpy, sys
    sys.argv = ["runtime", "spec.json"]
    try:
        runpy.run_module("mlopsdsl.runtime", run_name="__main__")
    except SystemExit as exc:
        assert exc.code == 0, exc.code
    import json
    print(json.dumps(sorted(m for m in ("cloudpickle", "mlopsdsl.runtime.payload") if m in sys.modules)))
    """
)


def _loaded(tmp_path: Path, outputs: list[dict[str, str]]) -> list[str]:
    spec = {
        "version": 1,
        "step": "dumps",
        "code": {"mode": "import", "module": "json", "qualname": "dumps"},
        "inputs": [{"name": "obj", "kind": "json", "value": [2, 3]}],
        "outputs": outputs,
        "returns": "single",
        "result": str(tmp_path / "result.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "result.json").read_text())["ok"]
    loaded: list[str] = json.loads(done.stdout.strip())
    return loaded


def test_a_json_only_step_by_import_does_not_load_cloudpickle(tmp_path: Path) -> None:
    assert _loaded(tmp_path, [{"name": "output", "kind": "json"}]) == []


def test_a_stored_object_output_does_load_it(tmp_path: Path) -> None:
    """The same probe sees cloudpickle when a value needs it, so the check above can fail."""
    out = {"name": "output", "kind": "object", "file": str(tmp_path / "out")}
    assert "cloudpickle" in _loaded(tmp_path, [out])
