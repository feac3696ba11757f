"""How much work a run of the default method does: its scales, tiles and Adam steps.

Structure where it is cheap, texture where it shows: scales up to STRUCTURE_SIZE
run the whole network (composition, large strokes); larger ones, a factor of 2
apart up to the detail asked for, are texture scales, which run only the
network's first blocks (brush texture at the scale of single pixels) and cost a
fraction of a step per pixel.  Large scales are optimized in overlapping tiles
(the engine's tiles.py blends them back) so that memory stays bounded whatever
the layer's size.

Standard library only, in the client package: the plug-in estimates a job's time
from it and the worker's measured speed (seconds per megapixel-step) before the
job runs (estimate.py), the socket process checks requests with it, and the
engine runs its plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Preset:
    """Adam steps per scale: ``steps`` at scales up to ``reference`` px, then falling as
    (reference / size) ** falloff, never below ``min_steps``; the finest scale is
    ``finest_fraction`` of the requested size (the rest is upsampled)."""

    steps: int
    reference: int
    falloff: float
    finest_fraction: float = 1.0
    min_steps: int = 8
    texture_steps: int = 12  # at each texture scale

    def steps_at(self, size: int) -> int:
        return max(self.min_steps, round(self.steps * min(1.0, (self.reference / size) ** self.falloff)))


# Measured on the anchor pairs (bench/scales.py, bench/anchors.py): each scale gains most of its style
# in its first ~25 steps, and the finest scale alone sets the fine brush texture (cut its steps and
# the finest held-out style layer's distance triples), so every scale gets at least min_steps.
# Above ``reference`` a step costs in proportion to the pixels, so steps fall with the area
# (falloff 2): each larger scale then costs about the same and the run grows with the number of
# scales, not with the layer's area.  high keeps more steps at the fine scales (falloff 1.5).
# Texture scales at balanced take 8 steps: on a 4096 px layer at 2048 px detail, 12 took 3.54x a 512 px run's
# time and 8 took 2.70x for the same effective detail (1572 and 1541 px) and look at 512 px (style 0.91x and 0.90x,
# content 1.21x and 1.18x the 512 px run's; bench/detail.py's measures).
# balanced at 100/20 rather than 60/10: 1.8x the time at 512 px for a style distance 0.50 -> 0.40 on
# starry_scale2 and 0.63 -> 0.46 on seated, still well inside its time target at 1024 px.  Then 50/32 rather than
# 100/20 (issue 16): the steps moved from the coarsest scales to the finer ones, 1.07x the time at 512 px; held-out
# style distance lower on all seven anchor pairs (starry_scale2 0.556 -> 0.511, seated 0.488 -> 0.450, escher 0.496
# -> 0.474), content lower or equal on all seven: the classic wins on the middle layers (block2-3), which the fine
# scales' steps make.
PRESETS: dict[str, Preset] = {
    "preview": Preset(32, reference=181, falloff=2.0, finest_fraction=0.5, min_steps=8, texture_steps=6),
    "balanced": Preset(50, reference=181, falloff=2.0, min_steps=32, texture_steps=8),
    "high": Preset(150, reference=181, falloff=1.5, min_steps=30, texture_steps=24),
}
COARSEST = 128  # px, long side of the first scale
STRUCTURE_SIZE = 512  # px: the whole network up to this long side; larger scales are texture scales
SCALE_FACTOR = math.sqrt(2)
TILE_SIZE = 1024  # px: larger scales are optimized in overlapping tiles of this size
TILE_OVERLAP = 128
# Texture scales see only the first blocks (receptive fields of a few dozen pixels), so their tiles need less
# overlap.  Their size bounds the worker's memory: a texture step holds about 2 KB per tile pixel (block1's 64
# channels and their gradients): a 4096 px layer at 2048 px detail, float32, peaked at 3.73 GB in one process with
# tiles of 1024 + overlap and at 3.14 GB with 768 + overlap (issue 17: at most 4 GB for the server), for 6% more
# texture work.
TEXTURE_TILE_OVERLAP = 64
TEXTURE_TILE_SIZE = 768 + TEXTURE_TILE_OVERLAP
NETWORK_MIN_SIDE = 16  # px: VGG pools four times before block5_conv1; a shorter side vanishes there (measured: 15 fails)
ALIGN = 16  # tile corners on multiples of the deepest VGG stride, so feature grids line up


@dataclass(frozen=True)
class Tile:
    """A rectangle of the image, optimized on its own at a scale too large to do at once."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: evenly spread, aligned, each tile ``tile`` long (the last one may
    be shorter only when the whole axis is), neighbours overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))  # ceil
    last = length - tile
    inner = {min(last, round(i * last / (count - 1) / ALIGN) * ALIGN) for i in range(1, count - 1)}
    return sorted({0, last} | inner)


def _even_length(length: int, tile: int, overlap: int) -> int:
    """The shortest tile length (aligned) that covers ``length`` with as many tiles as ``tile`` would."""
    if length <= tile:
        return length
    count = -(-(length - overlap) // (tile - overlap))
    return min(tile, -(-(length + (count - 1) * overlap) // count // ALIGN) * ALIGN + ALIGN)


def layout(height: int, width: int, tile: int, overlap: int, even: bool = False) -> list[Tile]:
    """Tiles covering (height, width), row by row: each ``tile`` long on both axes (the network sees as much
    context everywhere), or with ``even`` as short as the same number of tiles allows on each axis (texture
    scales, whose receptive fields are small: a 1280 px side takes two tiles of 688, not two of 832)."""
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap {overlap} must be below half the tile size {tile}")
    tile_y, tile_x = (_even_length(height, tile, overlap), _even_length(width, tile, overlap)) if even else (tile, tile)
    return [Tile(y, x, min(height, y + tile_y), min(width, x + tile_x))
            for y in _starts(height, tile_y, overlap) for x in _starts(width, tile_x, overlap)]


def scale_sizes(size: int) -> list[int]:
    """Long sides of the whole-network scales: from COARSEST up to ``size`` (at most STRUCTURE_SIZE) in steps of
    sqrt(2), coarse to fine."""
    sizes = [min(size, STRUCTURE_SIZE)]
    while sizes[-1] / SCALE_FACTOR >= COARSEST:
        sizes.append(round(sizes[-1] / SCALE_FACTOR))
    return sizes[::-1]


def texture_sizes(size: int) -> list[int]:
    """Long sides of the texture scales, coarse to fine: ``size`` and its halves while above STRUCTURE_SIZE."""
    sizes = []
    while size > STRUCTURE_SIZE:
        sizes.append(size)
        size //= 2
    return sizes[::-1]


def finest_size(preset: str, size: int) -> int:
    """Long side of the finest optimized scale (preview works below the requested size and upsamples)."""
    return max(32, round(size * PRESETS[preset].finest_fraction))


def iterations(preset: str, sizes: list[int], steps: int = 0) -> list[int]:
    """Iterations per scale, coarse to fine; ``steps`` (when not 0) overrides the preset's total."""
    per_scale = [PRESETS[preset].steps_at(size) for size in sizes]
    if steps:
        total = sum(per_scale)
        per_scale = [max(1, round(n * steps / total)) for n in per_scale]
    return per_scale


def style_side(size: int, style_scale: float) -> int:
    """The style's long side at a scale whose long side is ``size``: ``style_scale`` times it, at least
    NETWORK_MIN_SIDE."""
    return max(NETWORK_MIN_SIDE, round(size * style_scale))


def network_long_sides(method: str, preset: str, size: int, style_scale: float) -> tuple[int, int]:
    """Long sides (layer, style) of the smallest images the network sees in a run: the seed method works at
    ``size``; multiscale's first scale is the smallest, every later one larger."""
    if method == "seed":
        return size, size
    coarsest = scale_sizes(finest_size(preset, size))[0]
    return coarsest, style_side(coarsest, style_scale)


def long_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is ``size`` pixels, keeping the aspect ratio."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


@dataclass(frozen=True)
class Scale:
    """One scale of a run: its long side, image shape, steps per tile, tiles, and whether it is a texture scale
    (the network's first blocks only) or a whole-network one."""

    size: int
    shape: tuple[int, int]
    steps: int
    tiles: list[Tile]
    texture: bool = False


def plan(height: int, width: int, size: int, preset: str = "balanced", steps: int = 0,
         tile_size: int = TILE_SIZE, tile_overlap: int = TILE_OVERLAP) -> list[Scale]:
    """The scales a ``height`` x ``width`` image goes through to come out at long side ``size``: whole-network
    scales up to STRUCTURE_SIZE, then texture scales.  ``steps`` (when not 0) sets the total over all scales."""
    finest = finest_size(preset, size)
    structure, texture = scale_sizes(finest), texture_sizes(finest)
    counts = [*iterations(preset, structure), *[PRESETS[preset].texture_steps] * len(texture)]
    if steps:
        total = sum(counts)
        counts = [max(1, round(n * steps / total)) for n in counts]
    scales = []
    for i, (s, n) in enumerate(zip([*structure, *texture], counts, strict=True)):
        shape, is_texture = long_side_shape(height, width, s), i >= len(structure)
        tiles = (layout(*shape, TEXTURE_TILE_SIZE, TEXTURE_TILE_OVERLAP, even=True) if is_texture
                 else layout(*shape, tile_size, tile_overlap))
        scales.append(Scale(s, shape, n, tiles, texture=is_texture))
    return scales


FOLLOWUP_SHARE = 0.5  # of a run's work, at most, for an animation's frames after the first (see plan_followup)
FOLLOWUP_MIN_TEXTURE_STEPS = 4


def plan_followup(height: int, width: int, size: int, preset: str = "balanced", steps: int = 0,
                  tile_size: int = TILE_SIZE, tile_overlap: int = TILE_OVERLAP) -> list[Scale]:
    """The scales of an animation's frame after the first (issue 20): it starts from the previous frame's result
    carried along the motion, whose composition the coarse scales would only redo, so only the finest
    whole-network scale (its steps as in ``plan``, but at most FOLLOWUP_SHARE of the whole-network scales' work)
    and the texture scales (that share of their steps) run."""
    scales = plan(height, width, size, preset, steps, tile_size, tile_overlap)
    structure = [scale for scale in scales if not scale.texture]
    finest = structure[-1]
    affordable = FOLLOWUP_SHARE * megapixel_steps(structure) / megapixel_steps([replace(finest, steps=1)])
    finest = replace(finest, steps=max(1, min(finest.steps, math.floor(affordable))))
    textures = [replace(scale, steps=min(scale.steps, max(FOLLOWUP_MIN_TEXTURE_STEPS,
                                                          math.ceil(scale.steps * FOLLOWUP_SHARE))))
                for scale in scales if scale.texture]  # never more than the full plan's (a few steps asked)
    return [finest, *textures]


def megapixel_steps(scales: list[Scale], texture: bool | None = None) -> float:
    """The work of a run (a Stop only shortens it): steps times pixels, over scales and tiles; only the texture
    scales' or only the whole-network ones' when ``texture`` says which."""
    return sum(scale.steps * tile.shape[0] * tile.shape[1] for scale in scales for tile in scale.tiles
               if texture is None or scale.texture == texture) / 1e6
