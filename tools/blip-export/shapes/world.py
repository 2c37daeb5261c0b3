"""A seeded synthetic "shapes world": scenes, rendering, captions, questions,
a noisy web corpus for CapFilt, and a strict caption parser / matcher.

Everything is deterministic given a ``random.Random`` (scene sampling, text
sampling) and, for rendering, the scene itself (noise comes from
``numpy.random.default_rng(scene.noise_seed)``).

Geometry conventions
--------------------
* ``Obj.cx``/``Obj.cy`` is the centre of the object's bounding box, in pixel
  coordinates of a 256x256 canvas (y grows downward). Centres are multiples
  of 0.5 so they survive a JSON round trip exactly.
* ``Obj.extent`` is the side of the square / diameter of the circle / side of
  the (upright, equilateral) triangle. The bounding box is ``extent`` wide and
  ``extent`` high, except for triangles whose height is ``extent*sqrt(3)/2``.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------
CANVAS = 256
SHAPES = ("circle", "square", "triangle")
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 40),
    "purple": (140, 60, 180),
}
SIZES = {"small": (40, 56), "large": (88, 112)}
COLOR_JITTER = 15
BACKGROUND_RANGE = (225, 255)
NOISE_SIGMA_RANGE = (1.0, 6.0)
NOISE_PROB = 0.3
MIN_GAP = 4.0
RELATION_RATIO = 1.5

LEFT, RIGHT, ABOVE, BELOW = "to the left of", "to the right of", "above", "below"
RELATIONS = (LEFT, RIGHT, ABOVE, BELOW)
FLIP = {LEFT: RIGHT, RIGHT: LEFT, ABOVE: BELOW, BELOW: ABOVE}
ORTHOGONAL = {LEFT: (ABOVE, BELOW), RIGHT: (ABOVE, BELOW), ABOVE: (LEFT, RIGHT), BELOW: (LEFT, RIGHT)}

_SQRT3_2 = math.sqrt(3.0) / 2.0

# Unrelated web noise.
SLOGANS = (
    "free shipping on all orders",
    "buy one get one free",
    "best price guaranteed",
    "limited time offer",
    "click here for more details",
    "new arrivals every week",
    "sale ends soon",
    "shop now and save",
    "order today",
    "high quality at low prices",
    "subscribe to our newsletter",
    "all rights reserved",
)
_FILENAME_WORDS = ("img", "dsc", "image", "photo", "screenshot", "untitled", "jpg", "png", "jpeg")

# Question templates (the words are listed in world_words()).
_Q_COLOR = "what color is the {shape}?"
_Q_SHAPE = "what shape is the {color} object?"
_Q_SIZE = "what size is the {color} {shape}?"
_Q_COUNT = "how many shapes are there?"
_Q_EXISTS = "is there a {color} {shape}?"
_NUMBER_WORDS = {1: "one", 2: "two"}


# --------------------------------------------------------------------------
# Scene data
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    size: str
    cx: float
    cy: float
    extent: int
    rgb: tuple  # tuple[int, int, int]

    @property
    def width(self) -> float:
        return float(self.extent)

    @property
    def height(self) -> float:
        return _bbox_height(self.shape, self.extent)

    def bbox(self) -> tuple:
        """(x0, y0, x1, y1) of the bounding box, float pixel coordinates."""
        w, h = self.width, self.height
        return (self.cx - w / 2, self.cy - h / 2, self.cx + w / 2, self.cy + h / 2)

    def to_json(self) -> dict:
        return {
            "shape": self.shape,
            "color": self.color,
            "size": self.size,
            "cx": self.cx,
            "cy": self.cy,
            "extent": self.extent,
            "rgb": list(self.rgb),
        }

    @staticmethod
    def from_json(d: dict) -> "Obj":
        return Obj(
            shape=d["shape"],
            color=d["color"],
            size=d["size"],
            cx=float(d["cx"]),
            cy=float(d["cy"]),
            extent=int(d["extent"]),
            rgb=tuple(int(v) for v in d["rgb"]),
        )


@dataclass(frozen=True)
class Scene:
    objects: tuple  # tuple[Obj, ...]
    background: int
    noise_sigma: float
    noise_seed: int

    def to_json(self) -> dict:
        return {
            "objects": [o.to_json() for o in self.objects],
            "background": self.background,
            "noise_sigma": self.noise_sigma,
            "noise_seed": self.noise_seed,
        }

    @staticmethod
    def from_json(d: dict) -> "Scene":
        return Scene(
            objects=tuple(Obj.from_json(o) for o in d["objects"]),
            background=int(d["background"]),
            noise_sigma=float(d["noise_sigma"]),
            noise_seed=int(d["noise_seed"]),
        )


def _bbox_height(shape: str, extent: int) -> float:
    return extent * _SQRT3_2 if shape == "triangle" else float(extent)


def _gap(a: Obj, b: Obj) -> float:
    """Largest axis-aligned gap between two bounding boxes (negative = intersect)."""
    ax0, ay0, ax1, ay1 = a.bbox()
    bx0, by0, bx1, by1 = b.bbox()
    gx = max(bx0 - ax1, ax0 - bx1)
    gy = max(by0 - ay1, ay0 - by1)
    return max(gx, gy)


def _relation_of(a: Obj, b: Obj) -> Optional[str]:
    dx = a.cx - b.cx
    dy = a.cy - b.cy
    if dx == 0 and dy == 0:
        return None
    if abs(dx) >= RELATION_RATIO * abs(dy):
        return LEFT if dx < 0 else RIGHT
    if abs(dy) >= RELATION_RATIO * abs(dx):
        return ABOVE if dy < 0 else BELOW
    return None


def relation(scene: Scene) -> Optional[str]:
    """Relation of objects[0] to objects[1] ("A {relation} B"); None for one object."""
    if len(scene.objects) != 2:
        return None
    return _relation_of(scene.objects[0], scene.objects[1])


# --------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------
def _sample_position(rng: random.Random, shape: str, extent: int) -> tuple:
    w = float(extent)
    h = _bbox_height(shape, extent)
    # centres on a 0.5 px grid, bounding box fully inside the canvas
    cx = rng.randint(math.ceil(w), math.floor(2 * CANVAS - w)) / 2.0
    cy = rng.randint(math.ceil(h), math.floor(2 * CANVAS - h)) / 2.0
    return cx, cy


def _sample_attrs(rng: random.Random) -> tuple:
    shape = rng.choice(SHAPES)
    color = rng.choice(sorted(COLORS))
    size = rng.choice(sorted(SIZES))
    lo, hi = SIZES[size]
    extent = rng.randint(lo, hi)
    base = COLORS[color]
    rgb = tuple(min(255, max(0, c + rng.randint(-COLOR_JITTER, COLOR_JITTER))) for c in base)
    return shape, color, size, extent, rgb


def sample_scene(rng: random.Random, num_objects: Optional[int] = None, noise: Optional[bool] = None) -> Scene:
    """Sample a scene. num_objects None -> 1 or 2 (p=0.5 each); noise None -> p=0.3.

    For two objects the target relation of objects[0] to objects[1] is drawn
    uniformly from the four relations, then positions are rejection-sampled
    (every size combination admits every relation, so this terminates).
    """
    if num_objects is None:
        num_objects = 1 if rng.random() < 0.5 else 2
    if num_objects not in (1, 2):
        raise ValueError("num_objects must be 1 or 2")
    if noise is None:
        noise = rng.random() < NOISE_PROB
    background = rng.randint(*BACKGROUND_RANGE)

    attrs = [_sample_attrs(rng)]
    if num_objects == 2:
        while True:
            a2 = _sample_attrs(rng)
            if (a2[0], a2[1]) != (attrs[0][0], attrs[0][1]):
                break
        attrs.append(a2)

    if num_objects == 1:
        shape, color, size, extent, rgb = attrs[0]
        cx, cy = _sample_position(rng, shape, extent)
        objects = (Obj(shape, color, size, cx, cy, extent, rgb),)
    else:
        target = rng.choice(RELATIONS)
        while True:
            objs = []
            for shape, color, size, extent, rgb in attrs:
                cx, cy = _sample_position(rng, shape, extent)
                objs.append(Obj(shape, color, size, cx, cy, extent, rgb))
            if _gap(objs[0], objs[1]) >= MIN_GAP and _relation_of(objs[0], objs[1]) == target:
                break
        objects = tuple(objs)

    if noise:
        sigma = round(rng.uniform(*NOISE_SIGMA_RANGE), 4)
        noise_seed = rng.getrandbits(32)
    else:
        sigma = 0.0
        noise_seed = 0
    return Scene(objects=objects, background=background, noise_sigma=sigma, noise_seed=noise_seed)


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
def _draw_obj(draw: ImageDraw.ImageDraw, o: Obj) -> None:
    e = o.extent
    x0 = int(round(o.cx - e / 2.0))
    x1 = x0 + e - 1
    fill = tuple(o.rgb)
    if o.shape == "square":
        y0 = int(round(o.cy - e / 2.0))
        draw.rectangle((x0, y0, x1, y0 + e - 1), fill=fill)
    elif o.shape == "circle":
        y0 = int(round(o.cy - e / 2.0))
        draw.ellipse((x0, y0, x1, y0 + e - 1), fill=fill)
    elif o.shape == "triangle":
        h = e * _SQRT3_2
        top = o.cy - h / 2.0
        bottom = o.cy + h / 2.0
        draw.polygon(((o.cx, top), (o.cx - e / 2.0, bottom), (o.cx + e / 2.0, bottom)), fill=fill)
    else:  # pragma: no cover
        raise ValueError(f"unknown shape {o.shape!r}")


def render(scene: Scene) -> Image.Image:
    """256x256 RGB image, deterministic from the scene."""
    bg = int(scene.background)
    img = Image.new("RGB", (CANVAS, CANVAS), (bg, bg, bg))
    draw = ImageDraw.Draw(img)
    for o in scene.objects:
        _draw_obj(draw, o)
    if scene.noise_sigma > 0:
        nrng = np.random.default_rng(scene.noise_seed)
        noise = nrng.standard_normal((CANVAS, CANVAS, 3), dtype=np.float32)
        arr = np.asarray(img, dtype=np.float32) + noise * np.float32(scene.noise_sigma)
        np.rint(arr, out=arr)
        np.clip(arr, 0, 255, out=arr)
        img = Image.fromarray(arr.astype(np.uint8), "RGB")
    return img


# --------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------
def _phrase(o, with_size: bool = True, article: bool = True) -> str:
    """o: Obj or (size, color, shape) tuple."""
    size, color, shape = (o.size, o.color, o.shape) if isinstance(o, Obj) else o
    words = ([size] if with_size else []) + [color, shape]
    return ("a " if article else "") + " ".join(words)


def _attrs(o: Obj) -> tuple:
    return (o.size, o.color, o.shape)


def _ordered(scene: Scene, first: int) -> tuple:
    """(attrs of first object, relation first->second, attrs of second object)."""
    a = scene.objects[first]
    b = scene.objects[1 - first]
    return _attrs(a), _relation_of(a, b), _attrs(b)


def caption(scene: Scene, first: int = 0) -> str:
    """Caption with objects[first] mentioned first (relation word adapted)."""
    if len(scene.objects) == 1:
        return _phrase(scene.objects[0])
    if first not in (0, 1):
        raise ValueError("first must be 0 or 1")
    a, rel, b = _ordered(scene, first)
    return f"{_phrase(a)} {rel} {_phrase(b)}"


def canonical_first(scene: Scene) -> int:
    """Index of the object the canonical caption names first (the left or upper one)."""
    if len(scene.objects) == 1:
        return 0
    return 0 if relation(scene) in (LEFT, ABOVE) else 1


def canonical_caption(scene: Scene) -> str:
    """Left object first (horizontal) / upper object first (vertical)."""
    return caption(scene, canonical_first(scene))


# Caption templates. Each takes (a, rel, b) attribute triples (b/rel None for
# one object) and returns text. "size" says whether the template states sizes.
def _t_canonical(a, rel, b):
    return _phrase(a) if b is None else f"{_phrase(a)} {rel} {_phrase(b)}"


def _t_there_is(a, rel, b):
    if b is None:
        return f"there is {_phrase(a, with_size=False)}"
    return f"there is {_phrase(a, with_size=False)} {rel} {_phrase(b, with_size=False)}"


def _t_there_is_sized(a, rel, b):
    return f"there is {_t_canonical(a, rel, b)}"


def _t_picture_of(a, rel, b):
    return f"a picture of {_t_canonical(a, rel, b)}"


def _t_photo_of(a, rel, b):
    return f"a photo of {_t_canonical(a, rel, b)}"


def _t_white_background(a, rel, b):
    if b is None:
        return f"{_phrase(a, with_size=False)} on a white background"
    return f"{_phrase(a, with_size=False)} {rel} {_phrase(b, with_size=False)} on a white background"


def _t_bare(a, rel, b):
    if b is None:
        return _phrase(a, article=False)
    return f"{_phrase(a, article=False)} {rel} {_phrase(b, article=False)}"


# name -> (function, states sizes)
TEMPLATES = {
    "canonical": (_t_canonical, True),
    "there_is": (_t_there_is, False),
    "there_is_sized": (_t_there_is_sized, True),
    "picture_of": (_t_picture_of, True),
    "photo_of": (_t_photo_of, True),
    "white_background": (_t_white_background, False),
    "bare": (_t_bare, True),
}
PARAPHRASE_TEMPLATES = tuple(k for k in TEMPLATES if k != "canonical")


def render_template(name: str, scene: Scene, first: int = 0) -> str:
    """A paraphrase of the scene using template `name` with objects[first] first."""
    fn, _ = TEMPLATES[name]
    if len(scene.objects) == 1:
        return fn(_attrs(scene.objects[0]), None, None)
    a, rel, b = _ordered(scene, first)
    return fn(a, rel, b)


def clean_texts(scene: Scene) -> list:
    """Every clean text the generator can produce for this scene (all templates, both orders)."""
    out = []
    orders = (0,) if len(scene.objects) == 1 else (0, 1)
    for name in TEMPLATES:
        for first in orders:
            t = render_template(name, scene, first)
            if t not in out:
                out.append(t)
    return out


def _other(rng: random.Random, options, current):
    return rng.choice([v for v in options if v != current])


def _corrupt(scene: Scene, rng: random.Random, kind: str, template: str = "canonical", first: Optional[int] = None) -> str:
    """Text for the scene with exactly one thing wrong.

    kind in {"wrong_color","wrong_shape","wrong_size","flipped_relation","wrong_relation"}.
    """
    n = len(scene.objects)
    if first is None:
        first = canonical_first(scene) if n == 2 else 0
    fn, _ = TEMPLATES[template]
    if n == 1:
        a, rel, b = _attrs(scene.objects[0]), None, None
    else:
        a, rel, b = _ordered(scene, first)
    objs = [list(a)] + ([list(b)] if b is not None else [])
    if kind in ("wrong_color", "wrong_shape", "wrong_size"):
        i = rng.randrange(len(objs))
        slot = {"wrong_size": 0, "wrong_color": 1, "wrong_shape": 2}[kind]
        options = {0: sorted(SIZES), 1: sorted(COLORS), 2: SHAPES}[slot]
        objs[i][slot] = _other(rng, options, objs[i][slot])
    elif kind == "flipped_relation":
        rel = FLIP[rel]
    elif kind == "wrong_relation":
        rel = rng.choice(ORTHOGONAL[rel])
    else:
        raise ValueError(kind)
    a = tuple(objs[0])
    b = tuple(objs[1]) if len(objs) == 2 else None
    return fn(a, rel, b)


def negative_caption(scene: Scene, rng: random.Random) -> str:
    """Canonical-style caption with exactly one thing wrong (one attribute of
    one object, or the relation flipped). Never a correct description."""
    kinds = ["wrong_color", "wrong_shape", "wrong_size"]
    if len(scene.objects) == 2:
        kinds.append("flipped_relation")
    for _ in range(100):
        text = _corrupt(scene, rng, rng.choice(kinds))
        if not caption_matches_scene(text, scene):
            return text
    raise RuntimeError("could not build a negative caption")  # pragma: no cover


def _filename(rng: random.Random) -> str:
    k = rng.randrange(5)
    if k == 0:
        return f"img_{rng.randrange(10000):04d}.{rng.choice(('jpg', 'png', 'jpeg'))}"
    if k == 1:
        return f"dsc{rng.randrange(100000):05d}.{rng.choice(('jpg', 'png'))}"
    if k == 2:
        return f"screenshot {rng.randint(2015, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if k == 3:
        return f"image-{rng.randrange(1000)}.png"
    return f"untitled_{rng.randrange(100)}.{rng.choice(('jpg', 'png'))}"


def web_text(scene: Scene, rng: random.Random) -> tuple:
    """(text, clean, kind). About half clean (kind = template name, or
    "reversed" for the non-canonical order of the canonical caption), half
    noise (kind in wrong_color / wrong_shape / wrong_size / flipped_relation /
    wrong_relation / slogan / filename)."""
    n = len(scene.objects)
    if rng.random() < 0.5:
        # clean
        kinds = ["canonical", "canonical"] + list(PARAPHRASE_TEMPLATES)
        if n == 2:
            kinds.append("reversed")
        kind = rng.choice(kinds)
        if kind == "reversed":
            return caption(scene, 1 - canonical_first(scene)), True, "reversed"
        first = rng.randrange(n) if (n == 2 and kind != "canonical") else canonical_first(scene)
        return render_template(kind, scene, first), True, kind
    kinds = ["wrong_color", "wrong_shape", "wrong_size", "slogan", "filename"]
    if n == 2:
        kinds += ["flipped_relation", "wrong_relation"]
    kind = rng.choice(kinds)
    if kind == "slogan":
        return rng.choice(SLOGANS), False, kind
    if kind == "filename":
        return _filename(rng), False, kind
    templates = [t for t, (_, sized) in TEMPLATES.items() if sized or kind != "wrong_size"]
    for _ in range(100):
        template = rng.choice(templates)
        first = rng.randrange(n)
        text = _corrupt(scene, rng, kind, template, first)
        if not caption_matches_scene(text, scene):
            return text, False, kind
    raise RuntimeError("could not corrupt web text")  # pragma: no cover


# --------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------
def _q_color(scene):
    shapes = [o.shape for o in scene.objects]
    return [(_Q_COLOR.format(shape=o.shape), o.color) for o in scene.objects if shapes.count(o.shape) == 1]


def _q_shape(scene):
    colors = [o.color for o in scene.objects]
    return [(_Q_SHAPE.format(color=o.color), o.shape) for o in scene.objects if colors.count(o.color) == 1]


def _q_size(scene):
    return [(_Q_SIZE.format(color=o.color, shape=o.shape), o.size) for o in scene.objects]


def _q_count(scene):
    return [(_Q_COUNT, _NUMBER_WORDS[len(scene.objects)])]


def _q_exists_yes(scene, rng):
    o = rng.choice(scene.objects)
    return (_Q_EXISTS.format(color=o.color, shape=o.shape), "yes")


def _q_exists_no(scene, rng):
    present = {(o.color, o.shape) for o in scene.objects}
    if rng.random() < 0.5:
        # hard negative: same shape other colour, or same colour other shape
        o = rng.choice(scene.objects)
        if rng.random() < 0.5:
            cands = [(c, o.shape) for c in sorted(COLORS) if (c, o.shape) not in present]
        else:
            cands = [(o.color, s) for s in SHAPES if (o.color, s) not in present]
    else:
        cands = [(c, s) for c in sorted(COLORS) for s in SHAPES if (c, s) not in present]
    c, s = rng.choice(cands)
    return (_Q_EXISTS.format(color=c, shape=s), "no")


def _question_kinds(scene):
    kinds = []
    if _q_color(scene):
        kinds.append("color")
    if _q_shape(scene):
        kinds.append("shape")
    kinds += ["size", "count", "exists"]
    return kinds


def questions(scene: Scene, rng: random.Random) -> list:
    """All applicable questions: colour (per unique shape), shape (per unique
    colour), size (per object), count, and one yes + one no existence question."""
    out = []
    out += _q_color(scene)
    out += _q_shape(scene)
    out += _q_size(scene)
    out += _q_count(scene)
    out.append(_q_exists_yes(scene, rng))
    out.append(_q_exists_no(scene, rng))
    return out


def sample_question(scene: Scene, rng: random.Random) -> tuple:
    """One question; kind uniform among applicable kinds, yes/no balanced."""
    kind = rng.choice(_question_kinds(scene))
    if kind == "color":
        return rng.choice(_q_color(scene))
    if kind == "shape":
        return rng.choice(_q_shape(scene))
    if kind == "size":
        return rng.choice(_q_size(scene))
    if kind == "count":
        return _q_count(scene)[0]
    return _q_exists_yes(scene, rng) if rng.random() < 0.5 else _q_exists_no(scene, rng)


def answer_vocabulary() -> list:
    return sorted(set(SHAPES) | set(COLORS) | set(SIZES) | {"one", "two", "yes", "no"})


# --------------------------------------------------------------------------
# Parsing and matching
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedObject:
    size: Optional[str]
    color: Optional[str]
    shape: Optional[str]


@dataclass(frozen=True)
class ParsedCaption:
    objects: tuple  # tuple[ParsedObject, ...]
    relation: Optional[str]  # relation of objects[0] to objects[1], canonical wording


_PREFIXES = ("a picture of ", "a photo of ", "an image of ", "a photograph of ", "there is ", "there's ")
_SUFFIXES = (" on a white background", " on white background", " on a plain background")
_REL_RE = re.compile(r" (to the left of|to the right of|left of|right of|above|below) ")
_REL_NORM = {"to the left of": LEFT, "left of": LEFT, "to the right of": RIGHT, "right of": RIGHT,
             "above": ABOVE, "below": BELOW}
_GENERIC_NOUNS = ("object", "shape", "thing")
_TRAILING = " \t\n.,!?;:"


def _normalize(text: str) -> str:
    t = " ".join(str(text).lower().split())
    return t.strip(_TRAILING)


def _parse_object(phrase: str) -> Optional[ParsedObject]:
    toks = phrase.split()
    if toks and toks[0] in ("a", "an", "the"):
        toks = toks[1:]
    if not toks:
        return None
    size = color = None
    noun = toks[-1]
    if noun in SHAPES:
        shape = noun
    elif noun in _GENERIC_NOUNS:
        shape = None
    else:
        return None
    mods = toks[:-1]
    if mods and mods[0] in SIZES:
        size = mods.pop(0)
    if mods and mods[0] in COLORS:
        color = mods.pop(0)
    if mods:
        return None
    return ParsedObject(size=size, color=color, shape=shape)


def parse_caption(text: str) -> Optional[ParsedCaption]:
    """Parse a caption back to objects + relation; None if unparseable.

    Tolerates any case / extra whitespace / trailing punctuation, one prompt
    prefix (``a picture of``, ``a photo of``, ``there is`` ...) and the suffix
    ``on a white background``. Grammar: ``[a] [size] [color] shape`` optionally
    followed by ``{relation} [a] [size] [color] shape``.
    """
    if text is None:
        return None
    t = _normalize(text)
    for p in _PREFIXES:
        if t.startswith(p):
            t = t[len(p):]
            break
    for s in _SUFFIXES:
        if t.endswith(s):
            t = t[: -len(s)]
            break
    t = t.strip()
    if not t:
        return None
    parts = _REL_RE.split(t)
    if len(parts) == 1:
        o = _parse_object(parts[0])
        return None if o is None else ParsedCaption(objects=(o,), relation=None)
    if len(parts) == 3:
        a = _parse_object(parts[0])
        b = _parse_object(parts[2])
        if a is None or b is None:
            return None
        return ParsedCaption(objects=(a, b), relation=_REL_NORM[parts[1]])
    return None


def _obj_ok(p: ParsedObject, o: Obj) -> bool:
    # colour and shape must be stated; size may be omitted
    if p.shape is None or p.color is None:
        return False
    if p.shape != o.shape or p.color != o.color:
        return False
    return p.size is None or p.size == o.size


def caption_matches_scene(text: str, scene: Scene) -> bool:
    """True iff text describes exactly the scene's objects (colour + shape of
    each, size if stated) with a correct relation, in either order."""
    p = parse_caption(text)
    if p is None or len(p.objects) != len(scene.objects):
        return False
    if len(scene.objects) == 1:
        return p.relation is None and _obj_ok(p.objects[0], scene.objects[0])
    if p.relation is None:
        return False
    a, b = scene.objects
    for x, y in ((a, b), (b, a)):
        if _obj_ok(p.objects[0], x) and _obj_ok(p.objects[1], y) and p.relation == _relation_of(x, y):
            return True
    return False


def exact_caption_match(text: str, scene: Scene) -> bool:
    """True iff text.strip().lower() equals the full caption in either order."""
    t = str(text).strip().lower()
    if len(scene.objects) == 1:
        return t == caption(scene, 0)
    return t == caption(scene, 0) or t == caption(scene, 1)


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------
WORLD_PUNCTUATION = ("?", ".", "_", "-")


def world_words() -> list:
    """Every lowercase alphabetic word any generated text can contain, plus the
    punctuation characters used (digits in file names are not included)."""
    texts = [
        " ".join(SHAPES), " ".join(COLORS), " ".join(SIZES), " ".join(RELATIONS), "a",
        " ".join(_NUMBER_WORDS.values()), "yes no",
        _Q_COLOR, _Q_SHAPE, _Q_SIZE, _Q_COUNT, _Q_EXISTS,
        " ".join(SLOGANS), " ".join(_FILENAME_WORDS),
    ]
    texts += [fn(("small", "red", "circle"), LEFT, ("large", "blue", "square")) for fn, _ in TEMPLATES.values()]
    texts += [fn(("small", "red", "circle"), None, None) for fn, _ in TEMPLATES.values()]
    words = set()
    for t in texts:
        words.update(re.findall(r"[a-z]+", t))
    return sorted(words) + list(WORLD_PUNCTUATION)
