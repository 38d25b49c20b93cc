"""The search's typed view of the DSL: which primitives take which types, with which parameters.

Types: `grid`, `objs` (a tuple of objects), `obj`, `parts` (a tuple of grids). A parameter domain is
either a fixed tuple of literals or a name the search fills in: `in_colour` (colours the argument
has on some train input), `hole` (colours the argument has on every train input), `out_colour`
(colours of the train outputs), `colour` (both). `bg` says the primitive takes
the task's background colour as `bg=` (rendered only when it is not 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arcforge_solver import dsl

Domain = tuple[Any, ...] | str


@dataclass(frozen=True)
class OpSpec:
    name: str
    inputs: tuple[str, ...]
    output: str
    params: tuple[Domain, ...] = ()
    cost: int = 1
    bg: bool = False
    max_arg_cost: int = 99
    """Applied only to arguments this cheap (whole-picture repairs belong near the input)."""

    @property
    def fn(self) -> Callable[..., Any]:
        function: Callable[..., Any] = getattr(dsl, self.name)
        return function


def _g(name: str, *params: Domain, cost: int = 1, bg: bool = False, max_arg_cost: int = 99) -> OpSpec:
    return OpSpec(name, ("grid",), "grid", params, cost, bg, max_arg_cost)


DIRECTIONS = ("down", "up", "left", "right")
SYMMETRIES = ("lr", "ud", "lr+ud", "rot180", "transpose", "lr+ud+transpose", "rot90")

GRID_OPS: tuple[OpSpec, ...] = (
    _g("rot90"),
    _g("rot180"),
    _g("rot270"),
    _g("flip_lr"),
    _g("flip_ud"),
    _g("transpose"),
    _g("antitranspose"),
    _g("crop_to_content", bg=True),
    _g("remove_bg_rows_cols", bg=True),
    _g("downscale_blocks"),
    _g("dedupe"),
    _g("dedupe_rows"),
    _g("dedupe_cols"),
    _g("mirror_extend_lr"),
    _g("mirror_extend_ud"),
    _g("mirror_extend_4"),
    _g("rotate_tile_4"),
    _g("self_kron", bg=True),
    _g("self_kron_inverse", bg=True),
    _g("top_half"),
    _g("bottom_half"),
    _g("left_half"),
    _g("right_half"),
    _g("crop_largest", bg=True),
    _g("crop_smallest", bg=True),
    _g("keep_largest_object", bg=True),
    _g("invert", bg=True),
    _g("keep_most_common", bg=True),
    _g("keep_least_common", bg=True),
    _g("remove_most_common", bg=True),
    _g("remove_least_common", bg=True),
    _g("recolour_all_to_most_common", bg=True),
    _g("recolour_all_to_least_common", bg=True),
    _g("hollow_objects", bg=True),
    _g("extend_rays_hv", bg=True),
    _g("connect_pairs", bg=True),
    _g("fill_rows_with_colour", bg=True),
    _g("fill_cols_with_colour", bg=True),
    _g("layout_summary", bg=True),
    _g("majority_colour_cell", bg=True),
    _g("count_cells_to_row", bg=True),
    _g("colour_histogram_grid", bg=True),
    _g("colours_by_frequency", bg=True),
    _g("majority_fill"),
    _g("connect_diagonal_pairs", bg=True),
    _g("diagonal_rays", bg=True),
    _g("crop_to_colour", "in_colour"),
    _g("crop_inside_colour", "in_colour"),
    _g("move_until_touch", "hole", bg=True),
    _g("restore_symmetry", "hole", max_arg_cost=1),
    _g("complete_diagonal_tiling", "hole", max_arg_cost=1),
    _g("scale_up", (2, 3, 4, 5)),
    _g("scale_down", (2, 3, 4, 5)),
    _g("tile", (1, 2, 3), (1, 2, 3)),
    _g("gravity", DIRECTIONS, bg=True),
    _g("gravity_objects", DIRECTIONS, bg=True),
    _g("move", (-1, 0, 1), (-1, 0, 1), bg=True, max_arg_cost=1),
    _g("extend_rays", DIRECTIONS, bg=True),
    _g("symmetrise", SYMMETRIES, bg=True, max_arg_cost=2),
    _g("remove_small_objects", (1, 2, 3), bg=True),
    _g("fill_enclosed", "out_colour", bg=True),
    _g("fill_enclosed_diag", "out_colour", bg=True),
    _g("complete_symmetry", SYMMETRIES, "hole", max_arg_cost=1),
    _g("extract_hole_fill", SYMMETRIES, "hole", max_arg_cost=1),
    _g("complete_tiling", "hole", max_arg_cost=1),
    _g("extract_tiling_fill", "hole", max_arg_cost=1),
    _g("keep_colour", "in_colour", bg=True),
    _g("remove_colour", "in_colour", bg=True),
    _g("paint_foreground", "out_colour", bg=True),
    _g("paint_background", "out_colour", bg=True),
    _g("outline_objects", "out_colour", bg=True),
    _g("bounding_boxes", "out_colour", bg=True),
    _g("draw_border", "out_colour"),
    _g("colour_count_bar", "in_colour", bg=True),
    _g("replace_colour", "in_colour", "out_colour", cost=2),
    _g("swap_colours", "in_colour", "in_colour", cost=2),
)

OBJECT_OPS: tuple[OpSpec, ...] = (
    OpSpec("objects", ("grid",), "objs", (), 1, True),
    OpSpec("objects_multi", ("grid",), "objs", (), 1, True),
    OpSpec("largest", ("objs",), "obj", (("size", "area", "height", "width", "colours", "density"),)),
    OpSpec("smallest", ("objs",), "obj", (("size", "area", "height", "width", "colours", "density"),)),
    OpSpec("by_colour", ("objs",), "obj", ("in_colour",)),
    OpSpec("unique_shape", ("objs",), "obj"),
    OpSpec("unique_colour", ("objs",), "obj"),
    OpSpec("most_common_shape", ("objs",), "obj"),
    OpSpec("symmetric_object", ("objs",), "obj"),
    OpSpec("asymmetric_object", ("objs",), "obj"),
    OpSpec("with_colour", ("objs",), "obj", ("in_colour",)),
    OpSpec("touching_border", ("objs",), "obj"),
    OpSpec("not_touching_border", ("objs",), "obj"),
    OpSpec("with_holes", ("objs",), "obj"),
    OpSpec("object_grid", ("obj",), "grid", (), 0, True),
    OpSpec("object_grids", ("objs",), "parts", (), 1, True),
)

PART_OPS: tuple[OpSpec, ...] = (
    OpSpec("split_by_lines", ("grid",), "parts"),
    OpSpec("split_rows", ("grid",), "parts", ((2, 3),)),
    OpSpec("split_cols", ("grid",), "parts", ((2, 3),)),
    OpSpec("combine_and", ("parts",), "grid", ("out_colour",), 1, True),
    OpSpec("combine_or", ("parts",), "grid", ("out_colour",), 1, True),
    OpSpec("combine_xor", ("parts",), "grid", ("out_colour",), 1, True),
    OpSpec("combine_nor", ("parts",), "grid", ("out_colour",), 1, True),
    OpSpec("combine_diff", ("parts",), "grid", ("out_colour",), 1, True),
    OpSpec("overlay_parts", ("parts",), "grid", (), 1, True),
    OpSpec("overlay_parts_reversed", ("parts",), "grid", (), 1, True),
    OpSpec("majority_part", ("parts",), "grid"),
    OpSpec("part_most_cells", ("parts",), "grid", (), 1, True),
    OpSpec("part_fewest_cells", ("parts",), "grid", (), 1, True),
    OpSpec("part_most_colours", ("parts",), "grid", (), 1, True),
    OpSpec("part_fewest_colours", ("parts",), "grid", (), 1, True),
    OpSpec("part_unique", ("parts",), "grid"),
    OpSpec("part_most_common", ("parts",), "grid"),
    OpSpec("part_symmetric", ("parts",), "grid"),
    OpSpec("part_at", ("parts",), "grid", ((0, 1, -1),)),
    OpSpec("parts_summary", ("parts",), "grid", (), 1, True),
)

BINARY_OPS: tuple[OpSpec, ...] = (
    OpSpec("overlay", ("grid", "grid"), "grid", (), 1, True),
    OpSpec("where_equal", ("grid", "grid"), "grid", (), 1, True),
    OpSpec("where_different", ("grid", "grid"), "grid", (), 1, True),
    OpSpec("cell_and", ("grid", "grid"), "grid", ("out_colour",), 1, True),
    OpSpec("cell_xor", ("grid", "grid"), "grid", ("out_colour",), 1, True),
)

LEARNED_OPS = ("map_colours", "apply_cell_rule", "recolour_objects")
"""Final steps whose parameters are fitted to the train outputs (see `learn`)."""

# structure first: the few objects and parts found early are expanded first at the next level
UNARY_OPS: tuple[OpSpec, ...] = PART_OPS + OBJECT_OPS + GRID_OPS
ALL_OPS: tuple[OpSpec, ...] = UNARY_OPS + BINARY_OPS
BY_NAME: dict[str, OpSpec] = {spec.name: spec for spec in ALL_OPS}
TYPE_ORDER = ("grid", "objs", "obj", "parts")


def ops_producing(kind: str, ops: Sequence[OpSpec] = ALL_OPS) -> list[OpSpec]:
    return [spec for spec in ops if spec.output == kind]
