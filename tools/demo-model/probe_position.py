"""Where the visual rows lose position: a linear probe of each patch token's own 3x3 cell.

    /usr/bin/python3 probe_position.py --model out/hf [--answers answers.jsonl --data ../../models/demo-eval]

For shape scenes of a seed the training never uses, every patch token of the vision tower's output V and of the
projector's output V' is labelled with the 3x3 cell it lies in; a softmax-regression probe is fit on 70 % of the tokens
and scored on the rest (chance 1/9). A high score after the tower and chance after the projector means the decoder is
given rows without position, so "where" questions cannot beat chance however the decoder is trained. With
`--answers` (written by `score_eval.py --answers`) it also prints the VQA accuracy per question type. With
`--attention N` it asks the first N "which shape is at <place>?" questions of the training script's evaluation stream and
prints how much of each fusion layer's attention (mean over heads, at the position that predicts the answer) lies on the
named cell, how often the first answer token is right, and which shapes it names.
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
            cells += [world.patch_cell(i, g) for i in range(g * g)]
    return {k: torch.cat(v) for k, v in feats.items()}, torch.tensor(cells)


def attention_on_cell(model, tok, count):
    """Fusion attention on the named cell and first-token answers for `count` "which shape is at" questions."""
    import infer
    import train
    fusion = [layer.cross_attn for layer in model.model.layers if layer.fusion]
    d = model.config["text_config"]["hidden_size"]
    exs = []
    for i in range(100 * count):
        if len(exs) == count:
            break
        e = world.example(train.EVAL_SEED, i, kind="shapes")
        if e.task == "shape_at":
            exs.append(e)
    mass, right, named = np.zeros(len(fusion)), 0, collections.Counter()
    with torch.no_grad():
        rows = infer.image_rows(model, infer.prepare_images(model, [e.image for e in exs]))
        for e, r in zip(exs, rows):
            ids = infer.prompt_ids(tok, e.question)
            for x in fusion:
                x.keep_weights = True
            logits = model.forward_lm(torch.tensor([ids]), model.visual_context([r], d))
            on_cell = train.patch_cells(r.shape[0]) == train.object_cell(e)
            mass += [float(x.weights[0, :, len(ids) - 1, : r.shape[0]].mean(0)[on_cell].sum()) for x in fusion]
            for x in fusion:
                x.keep_weights, x.weights = False, None
            first = int(logits[0, -1].argmax())
            right += first == tok.encode(e.answer, add_special_tokens=False)[0]
            named[tok.decode([first]).strip()] += 1
    return mass / len(exs), right / len(exs), named, len(exs)


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
    ap.add_argument("--attention", type=int, default=0, metavar="N",
                    help="also measure the fusion attention of N 'which shape is at' questions")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = load_hf(a.model)
    if a.attention:
        from tokenizer import Tokenizer
        tok = Tokenizer.load(os.path.join(a.model, "tokenizer.json"))
        mass, right, named, n = attention_on_cell(model, tok, a.attention)
        print(f"'which shape is at' ({n} questions): attention on the named cell per fusion layer "
              f"{' '.join(f'{m:.3f}' for m in mass)}; first answer token right {right:.3f}; named {dict(named.most_common())}")
    feats, cells = token_features(model, a.images, a.resolution)
    print(f"linear probe of a patch token's 3x3 cell ({len(cells)} tokens, chance 0.11):")
    for name, x in feats.items():
        print(f"  {name:18s} {probe(x, cells):.3f}")
    if a.answers:
        print("VQA accuracy per question type:")
        by_question_type(a.answers, a.data)


if __name__ == "__main__":
    main()
