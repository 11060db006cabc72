"""Ask the exported model about images, as the engine would answer.

    /usr/bin/python3 ask.py --model out/hf --image ../../examples/chart.png "Summarize the chart as JSON."

Prints the per-image preprocessing (confidence, complexity, resolution), the instruction class
and its preset, and the greedy answer (max_new_tokens from the preset unless given).
"""
from __future__ import annotations

import argparse
import os

import torch

import infer
import preprocess
from export import load_hf
from tokenizer import Tokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("question")
    ap.add_argument("--model", default="out/hf")
    ap.add_argument("--image", action="append", default=[], help="image file (repeatable)")
    ap.add_argument("--resolution", type=int, help="pin R instead of the adaptive choice")
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_hf(a.model)
    tok = Tokenizer.load(os.path.join(a.model, "tokenizer.json"))
    with torch.no_grad():
        prepared = infer.prepare_images(model, [preprocess.load_image(p) for p in a.image], a.resolution)
        rows = infer.image_rows(model, prepared)
        for path, p in zip(a.image, prepared):
            print(f"{path}: confidence {p.confidence:.3f} complexity {p.complexity:.3f} "
                  f"R {p.resolution} {'valid' if p.valid else 'missing'}")
        ids = infer.prompt_ids(tok, a.question)
        probs = infer.instruction_probs(model, ids)
        classes = model.config["instruction_classes"]
        cls = classes[int(probs.argmax())]
        preset = model.config["decoding_presets"].get(cls, {})
        print(f"class {cls} ({float(probs.max()):.2f}), preset {preset}")
        ctx = infer.request_context(model, ids, prepared, rows)
        n = a.max_new_tokens or preset.get("max_new_tokens", 40)
        out = infer.greedy(model, tok, [ids], [ctx], n)[0]
        print(tok.decode(infer.strip_eos(out, tok.eos_id)))


if __name__ == "__main__":
    main()
