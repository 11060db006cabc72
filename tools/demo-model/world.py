"""A seeded miniature world of images and the text about them.

Three scene families, each with prompts of up to four instruction classes:

* shapes  - 1-3 shapes (circle, square, triangle, star, diamond) in several colours and two
            sizes on plain or textured backgrounds; captions and short-answer questions.
* plate   - a metal-like plate with or without a defect (scratch, dent, stain) in one of nine
            regions; "is there a defect?"-style questions and a one-line inspection report.
* chart   - a bar or line chart of 3-6 labelled values; questions and a JSON summary.

Plus `blank` frames (almost uniform colour) that the preprocessing treats as missing images.

Every example is a pure function of (seed, index): `example(seed, i)` draws from
numpy.random.default_rng([seed, i]), so data streams are reproducible and need no storage.
Images are uint8 H x W x 3 arrays, drawn with numpy; only the chart tick labels use PIL.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

INSTRUCTION_CLASSES = ["caption", "vqa", "inspection", "chart_json"]

COLOURS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
    "yellow": (235, 210, 40), "purple": (140, 60, 180), "orange": (240, 130, 30),
    "black": (20, 20, 20), "white": (245, 245, 245),
}
SHAPES = ["circle", "square", "triangle", "star", "diamond"]
SIZES = ["small", "large"]
# 3 x 3 regions, row-major; the phrase used in text for each
REGIONS = ["top left", "top", "top right", "left", "center", "right",
           "bottom left", "bottom", "bottom right"]
DEFECTS = ["scratch", "dent", "stain"]


def patch_cell(index, g):
    """The region (index into REGIONS) that patch `index` of a row-major g x g grid lies in."""
    return (index // g * 3 // g) * 3 + (index % g * 3 // g)
BAR_LABELS = ["a", "b", "c", "d", "e", "f"]
LINE_LABELS = ["jan", "feb", "mar", "apr", "may", "jun"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six"]


@dataclass
class Example:
    kind: str                 # shapes | plate | chart | blank
    image: np.ndarray         # uint8 [H, W, 3]
    instruction: str          # one of INSTRUCTION_CLASSES
    task: str                 # finer task type (caption, colour, count, defect_report, ...)
    question: str
    answer: str
    description: str          # the text paired with the image for retrieval
    meta: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- drawing

def _grid(h, w):
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    return np.meshgrid(xs, ys)  # X, Y in [0, 1], shape [h, w]


def _shape_mask(shape, X, Y, cx, cy, r, sx, sy):
    # (sx, sy) = (w, h) / min(w, h): distances in units of the shorter side, so shapes stay round
    dx = (X - cx) * sx
    dy = (Y - cy) * sy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if shape == "triangle":
        # apex up: inside when below the two slanted edges and above the base
        top, base = -r, r * 0.8
        t = (dy - top) / (base - top)
        return (dy >= top) & (dy <= base) & (np.abs(dx) <= t * r)
    if shape == "star":
        ang = np.arctan2(dy, dx)
        rad = np.sqrt(dx * dx + dy * dy)
        spike = 0.5 + 0.5 * np.cos(5 * (ang + np.pi / 2))
        return rad <= r * (0.45 + 0.55 * spike ** 2)
    raise ValueError(shape)


def _plain_background(rng, h, w):
    base = np.array(rng.choice([(250, 250, 250), (200, 200, 200), (235, 225, 200),
                                (200, 220, 240), (60, 60, 70), (215, 240, 215)]), np.float32)
    img = np.broadcast_to(base, (h, w, 3)).copy()
    return img + rng.normal(0, 1.0, (h, w, 1)).astype(np.float32), tuple(base)


def _textured_background(rng, h, w):
    X, Y = _grid(h, w)
    c1 = np.array(rng.integers(90, 230, 3), np.float32)
    c2 = np.clip(c1 + rng.choice([-1, 1]) * rng.uniform(60, 110), 0, 255).astype(np.float32)
    kind = rng.integers(0, 4)
    if kind == 0:    # checker
        n = rng.integers(5, 12)
        t = ((np.floor(X * n) + np.floor(Y * n)) % 2)[..., None]
    elif kind == 1:  # stripes at an angle
        a = rng.uniform(0, np.pi)
        n = rng.uniform(6, 14)
        t = (0.5 + 0.5 * np.sin(2 * np.pi * n * (X * np.cos(a) + Y * np.sin(a))))[..., None]
    elif kind == 2:  # coarse noise
        k = int(rng.integers(4, 10))
        small = rng.uniform(0, 1, (k, k)).astype(np.float32)
        t = small[(Y * k).astype(int).clip(0, k - 1), (X * k).astype(int).clip(0, k - 1)][..., None]
    else:            # fine grain
        t = rng.uniform(0, 1, (h, w, 1)).astype(np.float32)
    img = c1 * (1 - t) + c2 * t
    return img, tuple(c1)


def _resize_nearest(img, h, w):
    ih, iw = img.shape[:2]
    yi = (np.arange(h) * ih // h).clip(0, ih - 1)
    xi = (np.arange(w) * iw // w).clip(0, iw - 1)
    return img[yi][:, xi]


def _to_uint8(img):
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- shapes

def _shape_scene(rng, h=None, w=None, textured=None):
    if textured is None:
        textured = rng.random() < 0.45
    if h is None:
        lo, hi = (48, 128) if textured else (40, 96)
        h = int(rng.integers(lo, hi + 1))
        w = h if rng.random() < 0.7 else int(rng.integers(lo, hi + 1))
    img, bg = _textured_background(rng, h, w) if textured else _plain_background(rng, h, w)
    X, Y = _grid(h, w)
    n = int(rng.choice([1, 2, 3], p=[0.35, 0.35, 0.3]))
    cells = sorted(rng.choice(9, size=n, replace=False).tolist())
    objs = []
    for cell in cells:
        shape = SHAPES[rng.integers(len(SHAPES))]
        colours = [c for c in COLOURS if np.abs(np.array(COLOURS[c]) - np.array(bg)).sum() > 120]
        colour = colours[rng.integers(len(colours))]
        size = SIZES[rng.integers(2)]
        r = (0.09 if size == "small" else 0.15) * rng.uniform(0.9, 1.1)
        cy = (cell // 3 + 0.5) / 3 + rng.uniform(-0.03, 0.03)
        cx = (cell % 3 + 0.5) / 3 + rng.uniform(-0.03, 0.03)
        m = _shape_mask(shape, X, Y, cx, cy, r, w / min(h, w), h / min(h, w))
        img[m] = np.array(COLOURS[colour], np.float32)
        objs.append({"shape": shape, "colour": colour, "size": size, "region": REGIONS[cell]})
    return _to_uint8(img), objs, textured


def _phrase(o, with_size=True):
    return f"a {o['size'] + ' ' if with_size else ''}{o['colour']} {o['shape']}"


def _caption(objs):
    parts = [f"{_phrase(o)} at the {o['region']}" for o in objs]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


CAPTION_PROMPTS = ["Describe the image.", "What is in the picture?", "Write a caption.",
                   "Describe this scene briefly.", "Caption the image."]


def _shape_example(rng, scene=None):
    img, objs, textured = scene or _shape_scene(rng)
    desc = _caption(objs)
    meta = {"objects": objs, "textured": textured}
    if rng.random() < 0.3:
        q = CAPTION_PROMPTS[rng.integers(len(CAPTION_PROMPTS))]
        return Example("shapes", img, "caption", "caption", q, desc, desc, meta)
    shapes = [o["shape"] for o in objs]
    unique = [o for o in objs if shapes.count(o["shape"]) == 1]
    task = rng.choice(["colour", "shape_at", "count", "where", "exists", "count_shape"])
    if task == "colour" and unique:
        o = unique[rng.integers(len(unique))]
        q = rng.choice([f"What colour is the {o['shape']}?", f"Which colour does the {o['shape']} have?"])
        a = o["colour"]
    elif task == "shape_at":
        o = objs[rng.integers(len(objs))]
        q = rng.choice([f"What shape is at the {o['region']}?", f"Which shape is at the {o['region']}?"])
        a = o["shape"]
    elif task == "where":
        o = objs[rng.integers(len(objs))]
        q = f"Where is the {o['colour']} {o['shape']}?"
        a = o["region"]
    elif task == "exists":
        if rng.random() < 0.5:
            o = objs[rng.integers(len(objs))]
            colour, shape, a = o["colour"], o["shape"], "yes"
        else:
            while True:
                colour = list(COLOURS)[rng.integers(len(COLOURS))]
                shape = SHAPES[rng.integers(len(SHAPES))]
                if not any(o["colour"] == colour and o["shape"] == shape for o in objs):
                    break
            a = "no"
        q = f"Is there a {colour} {shape}?"
    elif task == "count_shape":
        shape = SHAPES[rng.integers(len(SHAPES))] if rng.random() < 0.4 else shapes[rng.integers(len(shapes))]
        q = f"How many {shape}s are there?"
        a = str(shapes.count(shape))
    else:
        task = "count"
        q = rng.choice(["How many shapes are there?", "How many objects are in the image?"])
        a = str(len(objs))
    return Example("shapes", img, "vqa", str(task), str(q), a, desc, meta)


# ----------------------------------------------------------------------------- plates

def _plate_scene(rng, h=None, w=None):
    if h is None:
        h = int(rng.integers(64, 161))
        w = h if rng.random() < 0.7 else int(rng.integers(64, 161))
    X, Y = _grid(h, w)
    base = rng.uniform(120, 190)
    tint = np.array([1.0, 1.0, rng.uniform(1.0, 1.08)], np.float32)
    # brushed metal: per-row streaks, smooth shading, fine grain
    streak = rng.normal(0, 14, (h, 1)).astype(np.float32) + rng.normal(0, 6, (h, w)).astype(np.float32)
    shade = 25 * (X * rng.uniform(-1, 1) + Y * rng.uniform(-1, 1))
    img = (base + streak + shade)[..., None] * tint
    defect = None if rng.random() < 0.4 else DEFECTS[rng.integers(len(DEFECTS))]
    region = None
    if defect:
        cell = int(rng.integers(9))
        region = REGIONS[cell]
        cy = (cell // 3 + 0.5) / 3 + rng.uniform(-0.05, 0.05)
        cx = (cell % 3 + 0.5) / 3 + rng.uniform(-0.05, 0.05)
        if defect == "scratch":
            a = rng.uniform(0, np.pi)
            length = rng.uniform(0.12, 0.2)
            ux, uy = np.cos(a), np.sin(a)
            along = (X - cx) * ux + (Y - cy) * uy
            across = -(X - cx) * uy + (Y - cy) * ux
            m = (np.abs(along) <= length) & (np.abs(across) <= max(0.012, 1.2 / min(h, w)))
            img[m] = img[m] * 0.35
        elif defect == "dent":
            r = rng.uniform(0.07, 0.11)
            d2 = ((X - cx) ** 2 + (Y - cy) ** 2) / (r * r)
            ring = np.exp(-d2) * (-(X - cx) - (Y - cy)) / r
            img += (70 * ring)[..., None]
        else:
            r = rng.uniform(0.07, 0.12)
            d2 = ((X - cx) ** 2 + (Y - cy) ** 2 * rng.uniform(0.6, 1.6)) / (r * r)
            alpha = (np.clip(1.4 - d2, 0, 1) * 0.8)[..., None]
            img = img * (1 - alpha) + np.array([110, 70, 30], np.float32) * alpha
    return _to_uint8(img), defect, region


def _report(defect, region):
    if defect is None:
        return "no defect found. status: pass"
    return f"{defect} at the {region}. status: fail"


def _plate_example(rng):
    img, defect, region = _plate_scene(rng)
    report = _report(defect, region)
    meta = {"defect": defect, "region": region}
    desc = "a metal plate with " + (f"a {defect} at the {region}" if defect else "no defect")
    task = rng.choice(["report", "has_defect", "defect_type", "defect_where"], p=[0.4, 0.25, 0.2, 0.15])
    if task == "report":
        q = rng.choice(["Inspect the plate and write a report.", "Write an inspection report.",
                        "Inspect this part."])
        a = report
    elif task == "has_defect":
        q = rng.choice(["Is there a defect?", "Is the plate damaged?", "Does this part have a defect?"])
        a = "yes" if defect else "no"
    elif task == "defect_type":
        q = rng.choice(["What kind of defect is it?", "Which defect does the plate have?"])
        a = defect or "none"
    else:
        q = rng.choice(["Where is the defect?", "Where is the plate damaged?"])
        a = region or "none"
    return Example("plate", img, "inspection", str(task), str(q), a, desc, meta)


# ----------------------------------------------------------------------------- charts

def _trend(values):
    v = np.asarray(values, np.float64)
    x = np.arange(len(v)) - (len(v) - 1) / 2
    slope = (x * (v - v.mean())).sum() / (x * x).sum()
    if slope > 0.5:
        return "up"
    if slope < -0.5:
        return "down"
    return "flat"


CHART_LEFT, CHART_RIGHT = 0.12, 0.96  # the plot area's x extent, as fractions of the width
BAR_FROM, BAR_TO = 0.18, 0.82          # a bar's extent within its slot


def chart_bar_extent(i, n):
    """x extent (fractions of the width) of bar i of n; a line chart's point i sits at its middle."""
    slot = (CHART_RIGHT - CHART_LEFT) / n
    return CHART_LEFT + slot * (i + BAR_FROM), CHART_LEFT + slot * (i + BAR_TO)


def _chart_scene(rng, h=None, w=None):
    from PIL import Image, ImageDraw
    if h is None:
        h = int(rng.integers(64, 161))
        w = h if rng.random() < 0.6 else int(rng.integers(64, 161))
    chart_type = "bar" if rng.random() < 0.55 else "line"
    n = int(rng.integers(3, 7))
    style = rng.integers(3)
    if style == 0:
        values = rng.integers(1, 10, n)
    else:  # a clear trend, up or down
        start, step = rng.integers(1, 4), rng.uniform(0.9, 1.6)
        values = np.clip(np.rint(start + step * np.arange(n) + rng.normal(0, 0.6, n)), 1, 9).astype(int)
        if style == 2:
            values = values[::-1]
    values = [int(v) for v in values]
    # keep the maximum unique so "highest" has one answer
    top = int(np.argmax(values))
    if values.count(values[top]) > 1:
        values[top] = min(9, values[top] + 1)
        if values.count(max(values)) > 1:
            values = [v - 1 if (v == max(values) and i != top) else v for i, v in enumerate(values)]
    labels = (BAR_LABELS if chart_type == "bar" else LINE_LABELS)[:n]
    # draw at a fixed 2x supersampled canvas, then downsample to the target size
    S = 2
    W, H = w * S, h * S
    im = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(im)
    left, right, top_y, bottom = int(CHART_LEFT * W), int(CHART_RIGHT * W), int(0.06 * H), int(0.84 * H)
    for k in range(0, 11, 2):
        y = bottom - (bottom - top_y) * k / 10
        d.line([(left, y), (right, y)], fill=(215, 215, 215), width=1)
    d.line([(left, top_y), (left, bottom), (right, bottom)], fill=(40, 40, 40), width=S)
    slot = (right - left) / n
    colour = tuple(int(c) for c in rng.choice([(60, 110, 200), (210, 90, 50), (70, 160, 90)]))
    pts = []
    for i, v in enumerate(values):
        x0 = left + slot * i
        y = bottom - (bottom - top_y) * v / 10
        if chart_type == "bar":
            d.rectangle([x0 + slot * BAR_FROM, y, x0 + slot * BAR_TO, bottom], fill=colour)
        pts.append((x0 + slot / 2, y))
        d.text((x0 + slot / 2 - 3 * len(labels[i]), bottom + 2), labels[i], fill=(30, 30, 30))
    if chart_type == "line":
        d.line(pts, fill=colour, width=2 * S)
        for x, y in pts:
            d.ellipse([x - 2 * S, y - 2 * S, x + 2 * S, y + 2 * S], fill=colour)
    im = im.resize((w, h), Image.BOX)
    return np.asarray(im, np.uint8).copy(), chart_type, labels, values


def chart_summary(chart_type, labels, values):
    return json.dumps({"chart_type": chart_type, "max_label": labels[int(np.argmax(values))],
                       "trend": _trend(values)})


def _chart_example(rng):
    img, chart_type, labels, values = _chart_scene(rng)
    summary = chart_summary(chart_type, labels, values)
    meta = {"chart_type": chart_type, "labels": labels, "values": values}
    unit = "bar" if chart_type == "bar" else "point"
    desc = f"a {chart_type} chart of {len(values)} values, highest at {labels[int(np.argmax(values))]}, trend {_trend(values)}"
    if rng.random() < 0.35:
        q = rng.choice(["Summarize the chart as JSON.", "Return the chart summary in JSON.",
                        "Give a JSON summary of this chart."])
        return Example("chart", img, "chart_json", "chart_json", str(q), summary, desc, meta)
    task = rng.choice(["highest", "lowest", "count", "value", "type", "trend"])
    if task == "highest":
        q, a = f"Which {unit} is highest?", labels[int(np.argmax(values))]
    elif task == "lowest":
        q, a = f"Which {unit} is lowest?", labels[int(np.argmin(values))]
    elif task == "count":
        q, a = f"How many {unit}s are there?", str(len(values))
    elif task == "value":
        i = int(rng.integers(len(values)))
        q, a = f"What is the value of {labels[i]}?", str(values[i])
    elif task == "type":
        q, a = "What kind of chart is this?", f"a {chart_type} chart"
    else:
        q, a = "Is the trend going up or down?", _trend(values)
    return Example("chart", img, "vqa", "chart_" + str(task), q, a, desc, meta)


# ----------------------------------------------------------------------------- blank frames

def blank_frame(rng, h=64, w=64):
    base = np.array(rng.integers(0, 256, 3), np.float32)
    img = base + rng.normal(0, 0.6, (h, w, 1)).astype(np.float32)
    return _to_uint8(np.broadcast_to(img, (h, w, 3)))


# ----------------------------------------------------------------------------- API

KIND_WEIGHTS = {"shapes": 0.5, "plate": 0.25, "chart": 0.25}


def example(seed: int, index: int, kind: str | None = None) -> Example:
    """The example number `index` of the stream `seed` (optionally forced to one kind)."""
    rng = np.random.default_rng([seed, index])
    if kind is None:
        kind = rng.choice(list(KIND_WEIGHTS), p=list(KIND_WEIGHTS.values()))
    if kind == "shapes":
        return _shape_example(rng)
    if kind == "plate":
        return _plate_example(rng)
    if kind == "chart":
        return _chart_example(rng)
    raise ValueError(kind)


def corpus(seed: int, count: int):
    """Text of `count` examples (prompts, answers, descriptions) for tokenizer training."""
    for i in range(count):
        ex = example(seed, i)
        yield ex.question
        yield ex.answer
        yield ex.description


def save_png(img: np.ndarray, path: str):
    from PIL import Image
    Image.fromarray(img).save(path)


def scene(kind: str, seed: int, h: int, w: int, textured: bool | None = None):
    """One scene of `kind` at an exact size: (image, description, meta). For fixed examples."""
    rng = np.random.default_rng([seed, h, w])
    if kind == "shapes":
        img, objs, tex = _shape_scene(rng, h, w, textured)
        return img, _caption(objs), {"objects": objs, "textured": tex}
    if kind == "plate":
        img, defect, region = _plate_scene(rng, h, w)
        desc = "a metal plate with " + (f"a {defect} at the {region}" if defect else "no defect")
        return img, desc, {"defect": defect, "region": region, "report": _report(defect, region)}
    if kind == "chart":
        img, chart_type, labels, values = _chart_scene(rng, h, w)
        desc = f"a {chart_type} chart of {len(values)} values, highest at {labels[int(np.argmax(values))]}, trend {_trend(values)}"
        return img, desc, {"chart_type": chart_type, "labels": labels, "values": values,
                           "summary": chart_summary(chart_type, labels, values)}
    if kind == "blank":
        return blank_frame(rng, h, w), "a blank frame", {}
    raise ValueError(kind)
