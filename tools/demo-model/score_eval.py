"""Score an exported model on an evaluation set with the PyTorch reference: the numbers
`autoglm eval` must reproduce.

    /usr/bin/python3 score_eval.py --model out/hf --data ../../models/demo-eval [--json] [--limit N]

Same examples, same definitions and the same JSON keys as the engine's `autoglm eval`
(src/Cli/Evaluation/DemoEvaluation.cs, EvalScoring.cs): every answer is greedy with the
max_new_tokens of the set's instruction class (presets otherwise off); VQA is also run with no
image (the imputer supplies the visual row) and with every image pinned to the largest adaptive
size; retrieval ranks the first 200 images for each distinct description. `tokens_per_s` is the
PyTorch rate. `--answers FILE` writes every answer as JSON lines, to compare with the engine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time

MAX_GALLERY = 200           # DemoEvaluation.MaxGallery
FALLBACK_MAX_NEW_TOKENS = 48  # for a class without a max_new_tokens preset

# .NET's string.Trim() set (char.IsWhiteSpace); Python's str.strip() would also drop U+001C-U+001F.
_WS = "".join(map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                        0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))
_WORD = re.compile(r"[a-z0-9]+")


# ---- scoring: EvalScoring.cs ----

def normalize_answer(text):
    """Lower case, trimmed, one final period dropped."""
    s = text.strip(_WS).lower()
    return s[:-1].rstrip(_WS) if s.endswith(".") else s


def exact_match(predicted, expected):
    return normalize_answer(predicted) == normalize_answer(expected)


def words(text):
    """Lower-case runs of ASCII letters and digits; anything else separates words."""
    return _WORD.findall(text.lower())


def token_f1(predicted, expected):
    """SQuAD-style F1 of the word multisets; 1 when both are empty, 0 when only one is."""
    p, e = words(predicted), words(expected)
    if not p or not e:
        return 1.0 if len(p) == len(e) else 0.0
    left = {}
    for w in e:
        left[w] = left.get(w, 0) + 1
    common = 0
    for w in p:
        if left.get(w, 0) > 0:
            left[w] -= 1
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(e)
    return 2 * precision * recall / (precision + recall)


def parse_defect(answer):
    """True/False when the answer says defective or not ("status: fail/pass", else a leading
    yes / no / none), None when it says neither."""
    s = normalize_answer(answer)
    if "status: fail" in s:
        return True
    if "status: pass" in s:
        return False
    w = words(s)
    if not w:
        return None
    return {"yes": True, "no": False, "none": False}.get(w[0])


def _reject_constant(name):
    raise ValueError(f"not JSON: {name}")  # System.Text.Json rejects NaN / Infinity


def parse_chart_summary(text):
    """(chart_type, max_label, trend) of one JSON object (a field is None unless a string);
    None when the text is not one JSON object."""
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    return tuple(obj.get(k) if isinstance(obj.get(k), str) else None
                 for k in ("chart_type", "max_label", "trend"))


def chart_fields_correct(predicted, expected):
    if predicted is None:
        return 0
    return sum(p is not None and p == e for p, e in zip(predicted, expected))


def recall_at_k(scores, positive, k):
    """Text-to-image Recall@k; ties rank the lower gallery index first."""
    hits = 0
    for q, row in enumerate(scores):
        ranked = sorted(range(len(row)), key=lambda g: (-row[g], g))[:k]
        hits += any(positive(q, g) for g in ranked)
    return hits / len(scores)


class Mean:
    def __init__(self):
        self.sum, self.count = 0.0, 0

    def add(self, value):
        self.sum += float(value)
        self.count += 1

    @property
    def value(self):
        return self.sum / self.count if self.count else None


# ---- the evaluation: DemoEvaluation.cs ----

def load_set(folder):
    items = []
    with open(os.path.join(folder, "questions.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                r["path"] = os.path.join(folder, r["image"])
                items.append(r)
    if not items:
        raise SystemExit(f"{folder}/questions.jsonl has no examples")
    return items


def is_defect_task(item):
    return item["kind"] == "plate" and item["task"] in ("has_defect", "report")


def evaluate(model, tok, items, answers_file=None, progress=None):
    import torch
    import infer
    import preprocess

    cfg = model.config
    fixed = max(cfg["adaptive_resolution"]["sizes"])
    presets = cfg.get("decoding_presets", {})
    classes = cfg["instruction_classes"]
    m = {k: Mean() for k in ("vqa", "caption_exact", "caption_f1", "defect", "json_valid", "chart_fields",
                             "instruction", "vqa_no_image", "vqa_fixed")}
    generated, seconds = 0, 0.0

    def answer(ids, paths, n, resolution):
        prepared = infer.prepare_images(model, [preprocess.load_image(p) for p in paths], resolution)
        rows = infer.image_rows(model, prepared)
        ctx = infer.request_context(model, ids, prepared, rows)
        out = infer.strip_eos(infer.greedy(model, tok, [ids], [ctx], n)[0], tok.eos_id)
        return out, tok.decode(out)

    with torch.no_grad():
        for i, item in enumerate(items):
            ids = infer.prompt_ids(tok, item["question"])
            predicted_class = classes[int(infer.instruction_probs(model, ids).argmax())]
            m["instruction"].add(predicted_class == item["instruction"])
            n = presets.get(item["instruction"], {}).get("max_new_tokens") or FALLBACK_MAX_NEW_TOKENS
            t0 = time.perf_counter()
            out, text = answer(ids, [item["path"]], n, None)
            seconds += time.perf_counter() - t0
            generated += len(out)
            record = {"index": i, "image": item["image"], "question": item["question"], "class": predicted_class,
                      "answer": text}
            cls = item["instruction"]
            if cls == "vqa":
                m["vqa"].add(exact_match(text, item["answer"]))
                no_image = answer(ids, [], n, None)[1]
                fixed_res = answer(ids, [item["path"]], n, fixed)[1]
                m["vqa_no_image"].add(exact_match(no_image, item["answer"]))
                m["vqa_fixed"].add(exact_match(fixed_res, item["answer"]))
                record.update(no_image=no_image, fixed_resolution=fixed_res)
            elif cls == "caption":
                m["caption_exact"].add(exact_match(text, item["answer"]))
                m["caption_f1"].add(token_f1(text, item["answer"]))
            elif cls == "chart_json":
                predicted = parse_chart_summary(text)
                m["json_valid"].add(predicted is not None)
                m["chart_fields"].add(chart_fields_correct(predicted, parse_chart_summary(item["answer"])) / 3.0)
            if is_defect_task(item):
                said = parse_defect(text)
                m["defect"].add(said is not None and said == parse_defect(item["answer"]))
            if answers_file:
                answers_file.write(json.dumps(record) + "\n")
            if progress:
                progress(f"{i + 1}/{len(items)}")

        r1, r5, queries = retrieval(model, tok, items[:MAX_GALLERY])

    def metric(key, label, mean):
        return key, label, mean.value, mean.count

    return [
        metric("vqa_accuracy", "VQA exact match", m["vqa"]),
        metric("caption_exact", "caption exact match", m["caption_exact"]),
        metric("caption_token_f1", "caption token F1", m["caption_f1"]),
        metric("defect_accuracy", "defect yes/no (pass/fail) accuracy", m["defect"]),
        metric("json_valid_rate", "chart JSON valid rate", m["json_valid"]),
        metric("chart_field_accuracy", "chart JSON field accuracy", m["chart_fields"]),
        ("retrieval_r1", "retrieval Recall@1 (text to image)", r1, queries),
        ("retrieval_r5", "retrieval Recall@5 (text to image)", r5, queries),
        metric("instruction_accuracy", "instruction class accuracy", m["instruction"]),
        metric("vqa_accuracy_no_image", "VQA exact match, images removed", m["vqa_no_image"]),
        metric("vqa_accuracy_fixed_resolution", f"VQA exact match, every image at R={fixed}", m["vqa_fixed"]),
        ("tokens_per_s", "generated tokens/s (vision + prefill + decode)", generated / seconds if seconds > 0 else None,
         generated),
    ]


def retrieval(model, tok, gallery):
    """Recall@1 and @5 of each distinct description (first-occurrence order) against the gallery's
    images (adaptive resolution, valid or not); identical descriptions are all positives."""
    import torch
    import infer
    import preprocess

    if not gallery:
        return None, None, 0
    z_img = []
    for g in gallery:
        prepared = infer.prepare_images(model, [preprocess.load_image(g["path"])])
        z_img.append(model.image_embedding(infer.image_rows(model, prepared)[0][None])[0])
    z_img = torch.stack(z_img)
    queries = list(dict.fromkeys(g["description"] for g in gallery))
    scale = model.retrieval_scale()
    scores = []
    for q in queries:
        ids = tok.encode(q)
        z_txt = model.text_embedding(torch.tensor([ids]), torch.ones(1, len(ids)))[0]
        scores.append((scale * (z_img @ z_txt)).tolist())

    def positive(q, g):
        return gallery[g]["description"] == queries[q]

    return recall_at_k(scores, positive, 1), recall_at_k(scores, positive, 5), len(queries)


def _number(v):
    """As System.Text.Json writes Math.Round(v, 6): shortest round-trip, integers without '.0'."""
    v = round(v, 6)
    return str(int(v)) if v == int(v) else repr(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="out/hf", help="exported Hugging Face-layout directory")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "demo-eval"))
    ap.add_argument("--limit", type=int, help="score only the first N examples")
    ap.add_argument("--json", action="store_true", help="one JSON object with the keys of `autoglm eval --json`")
    ap.add_argument("--answers", help="write every answer as JSON lines to this file")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.limit is not None and a.limit <= 0:
        ap.error("--limit must be positive")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(a.threads))

    import torch
    from export import load_hf
    from tokenizer import Tokenizer

    torch.set_num_threads(a.threads)
    model = load_hf(a.model)
    tok = Tokenizer.load(os.path.join(a.model, "tokenizer.json"))
    items = load_set(a.data)[: a.limit]
    answers = open(a.answers, "w", encoding="utf-8") if a.answers else None
    try:
        report = evaluate(model, tok, items, answers, lambda p: print(f"\r{p} examples", end="", file=sys.stderr))
    finally:
        if answers:
            answers.close()
    print(file=sys.stderr)
    if a.json:
        print("{" + ",".join(f'"{k}":' + ("null" if v is None or math.isnan(v) else _number(v))
                             for k, _, v, _ in report) + "}")
        return
    print(f"model {a.model}, set {a.data}")
    print(f"{'metric':<32} {'value':>9} {'n':>6}  what")
    for key, label, v, n in report:
        value = "-" if v is None else f"{v:.1f}" if key == "tokens_per_s" else f"{v:.4f}"
        print(f"{key:<32} {value:>9} {n:>6}  {label}")


if __name__ == "__main__":
    main()
