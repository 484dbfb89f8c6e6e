"""The Argo Workflows backend of mlopsdsl (``mlopsdsl-argo``).

Installed, it registers as the backend ``argo``: ``mlopsdsl compile flow.py --backend argo [--kind
workflow|template|cron]``, ``mlopsdsl validate --backend argo``, ``mlopsdsl submit`` and ``mlopsdsl
publish``. It reads only the IR, and imports the Argo Server client only to submit or publish. See
``docs/argo.md`` for how steps, values, code and the runtime map onto Argo.
"""

from __future__ import annotations

from mlopsdsl_argo._backend import ArgoBackend
from mlopsdsl_argo._options import S3Repository, SecretKey

__all__ = ["ArgoBackend", "S3Repository", "SecretKey"]
