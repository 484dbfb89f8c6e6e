"""Just enough of Argo to run a compiled Workflow on this machine: DAG order, parameter and artifact
passing, ``{{...}}`` substitution as Argo does it (one pass, unknown tags are errors), Kubernetes' ``$(VAR)``
expansion of ``args`` and ``env``, and each container's exact command as a local subprocess with the real
step runtime. Each "pod" gets its own folder standing in for the container's ``/tmp/mlopsdsl``.

It is a test helper, not an orchestrator: no retries, timeouts, conditions or loops.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlopsdsl_argo._launch import WORK

TAG = re.compile(r"{{\s*([^{}]*?)\s*}}")


def substitute(text: str, scope: dict[str, str]) -> str:
    """Argo's simple template substitution: one pass, the inserted values are not scanned again."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in scope:
            raise KeyError(f"failed to resolve {{{{{match.group(1)}}}}}")
        return scope[match.group(1)]

    return TAG.sub(one, text)


def kube_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of ``$(VAR)`` in a container's args and env; ``$$`` is a literal ``$``."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            name = text[i + 2 : text.index(")", i)]
            out.append(env.get(name, text[i : text.index(")", i) + 1]))
            i = text.index(")", i) + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class Emulator:
    def __init__(self, manifest: dict[str, Any], root: Path) -> None:
        self.spec = manifest["spec"]
        self.templates = {t["name"]: t for t in self.spec["templates"]}
        self.root = root
        self.globals = {
            f"workflow.parameters.{p['name']}": p["value"] for p in self.spec["arguments"]["parameters"]
        }
        self.pods = 0
        self.stderr: list[str] = []

    def run(self) -> dict[str, Any]:
        """The entrypoint's outputs: ``{"parameters": {...}, "artifacts": {...}}``."""
        for value in self.globals.values():
            assert "{{" not in value  # Argo substitutes global variables into these: nothing to find
        args = {"parameters": {k.split(".")[-1]: v for k, v in self.globals.items()}, "artifacts": {}}
        return self.template(self.spec["entrypoint"], args)

    def template(self, name: str, args: dict[str, dict[str, Any]]) -> dict[str, Any]:
        template = self.templates[name]
        inputs = template.get("inputs", {})
        scope = dict(self.globals)
        for p in inputs.get("parameters", []):
            scope[f"inputs.parameters.{p['name']}"] = args["parameters"][p["name"]]
        artifacts = {a["name"]: args["artifacts"][a["name"]] for a in inputs.get("artifacts", [])}
        if "dag" in template:
            return self.dag(template, scope, artifacts)
        return self.container(template, scope, artifacts)

    def dag(
        self, template: dict[str, Any], scope: dict[str, str], artifacts: dict[str, Path]
    ) -> dict[str, Any]:
        done: dict[str, dict[str, Any]] = {}
        tasks = list(template["dag"]["tasks"])
        while tasks:
            ready = [
                t for t in tasks if all(d in done for d in re.findall(r"[a-z0-9-]+", t.get("depends", "")))
            ]
            assert ready, "no task can run: a cycle or a missing dependency"
            for task in ready:
                tasks.remove(task)
                local = dict(scope)
                for tname, outs in done.items():
                    for pname, value in outs["parameters"].items():
                        local[f"tasks.{tname}.outputs.parameters.{pname}"] = value
                arguments = task.get("arguments", {})
                params = {p["name"]: substitute(p["value"], local) for p in arguments.get("parameters", [])}
                arts = {
                    a["name"]: self.artifact(a["from"], done, artifacts)
                    for a in arguments.get("artifacts", [])
                }
                done[task["name"]] = self.template(
                    task["template"], {"parameters": params, "artifacts": arts}
                )
        outputs: dict[str, Any] = {"parameters": {}, "artifacts": {}}
        local = dict(scope)
        for tname, outs in done.items():
            for pname, value in outs["parameters"].items():
                local[f"tasks.{tname}.outputs.parameters.{pname}"] = value
        for p in template.get("outputs", {}).get("parameters", []):
            outputs["parameters"][p["name"]] = substitute(p["valueFrom"]["parameter"], local)
        for a in template.get("outputs", {}).get("artifacts", []):
            outputs["artifacts"][a["name"]] = self.artifact(a["from"], done, artifacts)
        return outputs

    @staticmethod
    def artifact(ref: str, done: dict[str, dict[str, Any]], inputs: dict[str, Path]) -> Path:
        parts = TAG.fullmatch(ref).group(1).split(".")  # type: ignore[union-attr]
        if parts[0] == "inputs":
            return inputs[parts[2]]
        return done[parts[1]]["artifacts"][parts[4]]  # type: ignore[no-any-return]

    def container(
        self, template: dict[str, Any], scope: dict[str, str], artifacts: dict[str, Path]
    ) -> dict[str, Any]:
        self.pods += 1
        pod = self.root / f"pod-{self.pods}"

        def local_path(path: str) -> Path:
            assert path.startswith(WORK + "/")
            return pod / path[len(WORK) + 1 :]

        for a in template.get("inputs", {}).get("artifacts", []):
            target = local_path(a["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifacts[a["name"]], target)
        container = template["container"]
        env: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = kube_expand(substitute(item["value"], scope), env)
            else:
                env[item["name"]] = "secret-value"
        command = [substitute(c, scope).replace(WORK, str(pod)) for c in container["command"]]
        args = [
            kube_expand(substitute(a, scope), env).replace(WORK, str(pod)) for a in container.get("args", [])
        ]
        assert command[:2] == ["python", "-c"]
        # -I -S: no site-packages and no PYTHON* variables, as in a stock python image.
        done = subprocess.run(
            [sys.executable, "-I", "-S", *command[1:], *args],
            env={**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.stderr.append(done.stderr)
        assert done.returncode == 0, done.stderr
        outputs: dict[str, Any] = {"parameters": {}, "artifacts": {}}
        for p in template.get("outputs", {}).get("parameters", []):
            outputs["parameters"][p["name"]] = local_path(p["valueFrom"]["path"]).read_text(encoding="ascii")
        for a in template.get("outputs", {}).get("artifacts", []):
            outputs["artifacts"][a["name"]] = local_path(a["path"])
        return outputs
