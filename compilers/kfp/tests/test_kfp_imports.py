"""What compiling to KFP imports: the schema's generated modules, never ``kfp/__init__`` and its clients.

``kfp/__init__`` imports ``kfp.client`` and the whole Kubernetes client (most of a second), which a compile
does not use; ``mlopsdsl_kfp._protos`` loads the generated modules without it. Each check runs in a fresh
interpreter, since this test process has imported kfp long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
HEAVY = ("kfp", "kfp.client", "kfp.dsl", "kubernetes", "kfp_server_api", "yaml")


def _fresh(code: str, cwd: Path) -> dict[str, object]:
    """Run ``code`` in a new interpreter (this folder on ``sys.path``); it prints one JSON value. A file,
    not ``-c``: kfp reads its components' source."""
    script = cwd / "script.py"
    script.write_text(f"import sys, json\nsys.path.insert(0, {str(HERE)!r})\n{code}\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_compile_command_does_not_import_kfp_or_the_kubernetes_client(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(
        "import mlopsdsl as ml\n\n@ml.step\ndef inc(x: int) -> int:\n    return x + 1\n\n"
        "@ml.pipeline\ndef flow(x: int = 0) -> int:\n    return inc(x=inc(x=x))\n"
    )
    seen = _fresh(
        "from mlopsdsl.cli import main\n"
        "sys.argv = ['mlopsdsl', 'compile', 'flow.py', '--backend', 'kfp', '-o', 'flow.yaml']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))",
        tmp_path,
    )
    assert seen == {m: False for m in HEAVY}
    assert (tmp_path / "flow.yaml").read_text().startswith("# PIPELINE DEFINITION")


def test_kubernetes_settings_compile_without_kfp_too(tmp_path: Path) -> None:
    seen = _fresh(
        "import mlopsdsl as ml, kfp_pipelines as p\n"
        "text = ml.compile(p.configured, backend='kfp')\n"
        "assert 'PlatformSpec' in text or 'platforms:' in text, text[-500:]\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))",
        tmp_path,
    )
    assert seen == {m: False for m in HEAVY}


def test_kfp_imported_later_shares_the_loaded_modules(tmp_path: Path) -> None:
    """After a compile, kfp's own imports find the same module objects: one descriptor pool entry per
    file, the same message classes, and kfp's compiler still works in that process."""
    seen = _fresh(
        "import mlopsdsl as ml, kfp_pipelines as p\n"
        "ml.compile(p.configured, backend='kfp')\n"
        "ours = {n: sys.modules[n] for n in ('kfp.pipeline_spec.pipeline_spec_pb2',\n"
        "        'kfp.kubernetes.kubernetes_executor_config_pb2')}\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "from kfp import compiler, dsl, kubernetes\n"
        "from kfp.pipeline_spec import pipeline_spec_pb2\n"
        "from kfp.kubernetes import kubernetes_executor_config_pb2\n"
        "@dsl.component\ndef one() -> int:\n    return 1\n"
        "@dsl.pipeline\ndef flow() -> int:\n    t = one()\n    kubernetes.add_node_selector(t, 'a', 'b')\n"
        "    return t.output\n"
        "compiler.Compiler().compile(flow, 'kfp.yaml')\n"
        "print(json.dumps({'same': [pipeline_spec_pb2 is ours['kfp.pipeline_spec.pipeline_spec_pb2'],\n"
        "    kubernetes_executor_config_pb2 is ours['kfp.kubernetes.kubernetes_executor_config_pb2']]}))",
        tmp_path,
    )
    assert seen == {"same": [True, True]}
    assert "nodeSelector" in (tmp_path / "kfp.yaml").read_text()
