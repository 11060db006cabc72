"""Golden outputs of the PyTorch reference for fixed inputs, to compare the C# engine against.

    /usr/bin/python3 golden.py --write-examples            # (re)create ../../examples/*.png (committed)
    /usr/bin/python3 golden.py --model out/hf --out out/golden.json

The model is loaded from the exported directory, whose weights export.py already rounded to
float16 values; all arithmetic is float32, as in the engine. For each image: confidence,
complexity, resolution, validity, z_img and the first projected row. For each request:
prompt ids, instruction-class probabilities, the imputed row (when no valid image), logits
at a few positions (teacher-forced over prompt + greedy answer), the greedy answer (ids and
text). Retrieval: z_txt of fixed texts and the score matrix exp(logit_scale) z_img . z_txt.

Examples are chosen so that each image's size already equals its adaptive resolution (no
resize, exact parity expected), except `chart_wide.png`, which exercises the bicubic resize
(parity not required there), and `blank.png`, which is below the confidence threshold.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

import infer
import preprocess
import world
from export import load_hf
from model import default_config

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")

# name: (kind, size h, size w, textured, expected resolution or None for "must resize")
EXAMPLE_SPECS = {
    "shapes_plain": ("shapes", 32, 32, False, 32),
    "shapes_textured": ("shapes", 64, 64, True, 64),
    "plate": ("plate", 48, 48, None, 48),
    "chart": ("chart", 64, 64, None, 64),
    "chart_wide": ("chart", 72, 120, None, None),
    "blank": ("blank", 64, 64, None, None),
}


def write_examples(seed=2024):
    cfg = default_config(600, 1, 2, 0)
    os.makedirs(EXAMPLES, exist_ok=True)
    meta = {}
    for name, (kind, h, w, tex, want) in EXAMPLE_SPECS.items():
        for s in range(seed, seed + 1000):
            img, desc, m = world.scene(kind, s, h, w, tex)
            p = preprocess.prepare(img, cfg["vision_config"], cfg)
            ok = (p.resolution == want) if want else (kind == "blank" and not p.valid) or \
                 (kind != "blank" and p.valid and p.resolution != h)
            if kind == "shapes" and len(m["objects"]) < 2:
                ok = False
            if kind == "plate" and m["defect"] is None:
                ok = False
            if ok:
                break
        else:
            raise RuntimeError(f"no seed gives {name}")
        world.save_png(img, os.path.join(EXAMPLES, name + ".png"))
        meta[name] = {"seed": s, "kind": kind, "description": desc, **m}
    with open(os.path.join(EXAMPLES, "examples.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def requests(meta):
    objs = meta["shapes_plain"]["objects"]
    unit = {name: "bar" if meta[name]["chart_type"] == "bar" else "point" for name in ("chart", "chart_wide")}
    return [
        {"images": ["shapes_plain.png"], "question": "Describe the image."},
        {"images": ["shapes_plain.png"], "question": f"What shape is at the {objs[0]['region']}?"},
        {"images": ["shapes_textured.png"], "question": "How many shapes are there?"},
        {"images": ["plate.png"], "question": "Inspect the plate and write a report."},
        {"images": ["chart.png"], "question": "Summarize the chart as JSON."},
        {"images": ["chart.png", "shapes_plain.png"], "question": f"Which {unit['chart']} is highest?"},
        {"images": ["blank.png"], "question": "Is there a defect?"},
        {"images": [], "question": "Describe the image."},
        {"images": ["chart_wide.png"], "question": f"Which {unit['chart_wide']} is highest?"},
    ]


def vec(t):
    return [float(x) for x in t.reshape(-1)]


@torch.no_grad()
def golden(model_dir, max_new_tokens=40):
    from tokenizer import Tokenizer
    with open(os.path.join(EXAMPLES, "examples.json")) as f:
        meta = json.load(f)
    model = load_hf(model_dir)
    tok = Tokenizer.load(os.path.join(model_dir, "tokenizer.json"))
    names = list(EXAMPLE_SPECS)
    imgs = {n: preprocess.load_image(os.path.join(EXAMPLES, n + ".png")) for n in names}
    prepared = dict(zip(names, infer.prepare_images(model, [imgs[n] for n in names])))
    rows = dict(zip(names, infer.image_rows(model, [prepared[n] for n in names])))
    out = {"model": os.path.abspath(model_dir), "numerics": "float32 activations, float16-rounded weights",
           "images": {}, "requests": [], "retrieval": {}}
    for n in names:
        p = prepared[n]
        out["images"][n + ".png"] = {
            "confidence": p.confidence, "complexity": p.complexity, "resolution": p.resolution,
            "valid": p.valid, "resized": p.resolution != imgs[n].shape[0] or p.resolution != imgs[n].shape[1],
            "z_img": vec(model.image_embedding(rows[n][None])), "projected_row0": vec(rows[n][0])}
    classes = model.config["instruction_classes"]
    for r in requests(meta):
        ids = infer.prompt_ids(tok, r["question"])
        ps = [prepared[i[:-4]] for i in r["images"]]
        ctx = infer.request_context(model, ids, ps, [rows[i[:-4]] for i in r["images"]])
        gen = infer.greedy(model, tok, [ids], [ctx], max_new_tokens)[0]
        full = ids + gen
        logits = model.forward_lm(torch.tensor([full]), model.visual_context([ctx], model.config["text_config"]["hidden_size"]))[0]
        positions = sorted({0, len(ids) // 2, len(ids) - 1, len(full) - 1})
        probs = infer.instruction_probs(model, ids)
        imputed = not any(p.valid for p in ps)
        out["requests"].append({
            **r, "prompt_ids": ids, "instruction_probs": dict(zip(classes, vec(probs))),
            "instruction_class": classes[int(probs.argmax())],
            "imputed": vec(ctx[0]) if imputed else None,
            "visual_rows": int(ctx.shape[0]),
            "logits": {str(i): vec(logits[i]) for i in positions},
            "greedy_ids": gen, "greedy_text": tok.decode(infer.strip_eos(gen, tok.eos_id)),
            "exact_parity": all(not out["images"][i]["resized"] for i in r["images"]
                                if out["images"][i]["valid"])})
    texts = [meta[n]["description"] for n in names if n != "blank"] + ["a large red star at the center"]
    z_txt = torch.cat([model.text_embedding(torch.tensor([d]), torch.ones(1, len(d)))
                       for d in (tok.encode(t) for t in texts)])
    z_img = torch.cat([model.image_embedding(rows[n][None]) for n in names])
    scale = model.retrieval_scale()
    out["retrieval"] = {"texts": texts, "text_ids": [tok.encode(t) for t in texts],
                        "images": [n + ".png" for n in names], "logit_scale_exp": float(scale),
                        "z_txt": [vec(z) for z in z_txt],
                        "scores": [vec(row) for row in scale * z_img @ z_txt.t()]}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-examples", action="store_true")
    ap.add_argument("--model", default="out/hf")
    ap.add_argument("--out", default="out/golden.json")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.write_examples:
        meta = write_examples()
        print(json.dumps({k: v["description"] for k, v in meta.items()}, indent=1))
        return
    g = golden(a.model)
    with open(a.out, "w") as f:
        json.dump(g, f)
    for r in g["requests"]:
        print(f"{r['images']} {r['question']!r} -> [{r['instruction_class']}] {r['greedy_text']!r}")


if __name__ == "__main__":
    main()
