"""Container images for steps: what each step needs installed, whether its image has it, and the images
``mlopsdsl build`` writes.

Every compile for a backend that runs steps in containers checks, through :func:`check`, that each step's
image will have the third-party distributions its code imports (found by :func:`needs_of` from the same
code walk as the step's digest) and, for code shipped by value, the Python minor that pickled it; problems
are reported at the step's line before anything is written. :func:`plan` groups steps by what they need
into images, named by a digest of their content, which ``mlopsdsl build`` writes build contexts for and
``compile --image-repo`` references. See ``docs/images.md``.
"""

from __future__ import annotations

from mlopsdsl.images._plan import (
    Finding,
    Image,
    Needs,
    Plan,
    check,
    compiling_python,
    needs_of,
    plan,
    stock_python,
    with_images,
)

__all__ = [
    "Finding",
    "Image",
    "Needs",
    "Plan",
    "check",
    "compiling_python",
    "needs_of",
    "plan",
    "stock_python",
    "with_images",
]
