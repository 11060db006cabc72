"""Where the visual rows lose position: a linear probe of each patch token's own 3x3 cell.

    /usr/bin/python3 probe_position.py --model out/hf [--answers answers.jsonl --data ../../models/demo-eval]

For shape scenes of a seed the training never uses, every patch token of the vision tower's output V and of the
projector's output V' is labelled with the 3x3 cell it lies in; a softmax-regression probe is fit on 70 % of the tokens
and scored on the rest (chance 1/9). A high score after the tower and chance after the projector means the decoder is
given rows without position, so "where" questions cannot beat chance however the decoder is trained. With
`--answers` (written by `score_eval.py --answers`) it also prints the VQA accuracy per question type.
"""
from __future__ import annotations

import argparse
import collections
import json
import os

import numpy as np
import torch

import preprocess
import world
from export import load_hf

PROBE_SEED = 777          # not the training seed (1234) nor the held-out set's (5150)


def token_features(model, count, resolution):
    c = model.config
    feats = {"vision tower (V)": [], "projector (V')": []}
    cells = []
    with torch.no_grad():
        for i in range(count):
            ex = world.example(PROBE_SEED, i, kind="shapes")
            p = preprocess.prepare(ex.image, c["vision_config"], c, resolution)
            g = int(round(p.patches.shape[0] ** 0.5))
            v = model.vision(p.patches[None])[0]
            feats["vision tower (V)"].append(v)
            feats["projector (V')"].append(model.projector(v))
            cells += [(r * 3 // g) * 3 + (q * 3 // g) for r in range(g) for q in range(g)]
    return {k: torch.cat(v) for k, v in feats.items()}, torch.tensor(cells)


def probe(x, y, steps=300):
    train = torch.arange(len(y)) < int(0.7 * len(y))
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
    w = torch.zeros(x.shape[1], 9, requires_grad=True)
    b = torch.zeros(9, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x[train] @ w + b, y[train]).backward()
        opt.step()
    with torch.no_grad():
        return float(((x[~train] @ w + b).argmax(1) == y[~train]).float().mean())


def by_question_type(answers_path, data_dir):
    with open(os.path.join(data_dir, "questions.jsonl")) as f:
        questions = [json.loads(line) for line in f]
    with open(answers_path) as f:
        answers = {a["index"]: a for a in map(json.loads, f)}
    total, right = collections.Counter(), collections.Counter()
    for i, q in enumerate(questions):
        if q["instruction"] == "vqa" and i in answers:
            total[q["task"]] += 1
            right[q["task"]] += answers[i]["answer"].strip() == q["answer"].strip()
    for task in sorted(total):
        print(f"  {task:14s} {right[task]:3d}/{total[task]:3d} = {right[task] / total[task]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="out/hf", help="exported Hugging Face-layout directory")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--resolution", type=int, default=48, help="pinned R (48: the base grid, no resize of the table)")
    ap.add_argument("--answers", help="score_eval.py --answers output, for the per-type VQA table")
    ap.add_argument("--data", default="../../models/demo-eval")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = load_hf(a.model)
    feats, cells = token_features(model, a.images, a.resolution)
    print(f"linear probe of a patch token's 3x3 cell ({len(cells)} tokens, chance 0.11):")
    for name, x in feats.items():
        print(f"  {name:18s} {probe(x, cells):.3f}")
    if a.answers:
        print("VQA accuracy per question type:")
        by_question_type(a.answers, a.data)


if __name__ == "__main__":
    main()
