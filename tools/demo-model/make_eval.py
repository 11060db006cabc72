"""Write an evaluation set: images (PNG) and questions.jsonl.

    /usr/bin/python3 make_eval.py --seed 5150 --count 300 --out ../../models/demo-eval   (the committed set)

Each line: {"image", "question", "answer", "task", "instruction", "kind", "description"}.
The seed must differ from the training seed (train.py default 1234) to be held out.
"""
from __future__ import annotations

import argparse
import json
import os

import world


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=5150)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--out", default="eval")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    with open(os.path.join(a.out, "questions.jsonl"), "w") as f:
        for i in range(a.count):
            ex = world.example(a.seed, i)
            name = f"images/{i:05d}.png"
            world.save_png(ex.image, os.path.join(a.out, name))
            f.write(json.dumps({"image": name, "question": ex.question, "answer": ex.answer,
                                "task": ex.task, "instruction": ex.instruction, "kind": ex.kind,
                                "description": ex.description}) + "\n")
    print(f"{a.count} examples -> {a.out}")


if __name__ == "__main__":
    main()
