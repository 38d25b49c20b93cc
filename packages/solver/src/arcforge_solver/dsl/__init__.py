"""The arcforge DSL: typed numpy primitives over ARC grids.

Programs, whether our search wrote them or an LLM did, start with `from arcforge_solver.dsl import *`,
which gives every primitive and numpy as `np`. Grids are 2-D int8 arrays of colours 0-9; primitives
never change their inputs and raise `DSLError` when they do not apply.

Each primitive is declared once, with `@primitive` where it is defined (see `dsl.primitive`); this
package exports every registered one, beside the DSL's types and constants named below.
"""

from __future__ import annotations

import re

import numpy as np  # noqa: F401  (exported: programs get numpy as np)

# Importing each module registers its primitives.
from arcforge_solver.dsl import (  # noqa: F401
    colour,
    core,
    counting,
    fill,
    geometry,
    masks,
    objects,
    parts,
    rules,
    symmetry,
)
from arcforge_solver.dsl.core import MAX_SIDE as MAX_SIDE
from arcforge_solver.dsl.core import DSLError as DSLError
from arcforge_solver.dsl.core import Grid as Grid
from arcforge_solver.dsl.core import Mask as Mask
from arcforge_solver.dsl.geometry import TRANSFORMS as TRANSFORMS
from arcforge_solver.dsl.objects import PROPERTIES as PROPERTIES
from arcforge_solver.dsl.objects import Obj as Obj
from arcforge_solver.dsl.objects import Objects as Objects
from arcforge_solver.dsl.objects import ObjKey as ObjKey
from arcforge_solver.dsl.parts import Grids as Grids
from arcforge_solver.dsl.primitive import PRIMITIVES
from arcforge_solver.dsl.rules import FEATURES as FEATURES
from arcforge_solver.dsl.rules import OBJECT_PROPERTIES as OBJECT_PROPERTIES
from arcforge_solver.dsl.rules import OUTSIDE as OUTSIDE
from arcforge_solver.dsl.rules import Codes as Codes

TYPES_AND_CONSTANTS = (
    "FEATURES",
    "MAX_SIDE",
    "OBJECT_PROPERTIES",
    "OUTSIDE",
    "PROPERTIES",
    "TRANSFORMS",
    "Codes",
    "DSLError",
    "Grid",
    "Grids",
    "Mask",
    "Obj",
    "ObjKey",
    "Objects",
    "np",
)
"""What the DSL exports besides its primitives."""

# The registered primitives become this package's names (`objects` the function, not the module).
globals().update({name: declared.function for name, declared in PRIMITIVES.items()})


def _export_order(name: str) -> tuple[int, list[str | int]]:
    """CONSTANTS, then Types, then functions; in natural order within each (rot90 before rot180)."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", name)]


__all__ = sorted([*TYPES_AND_CONSTANTS, *PRIMITIVES], key=_export_order)  # noqa: PLE0605  (built, not written)
