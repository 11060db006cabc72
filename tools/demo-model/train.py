"""Train the demo Open-AutoGLM model on the synthetic world.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 19 /usr/bin/python3 train.py --steps 5000 --threads 1 --out out

Losses: next-token cross-entropy on answer tokens (+ <|eos|>); symmetric contrastive loss
between z_img and z_txt of the image's description; MSE of the imputer output v̂ against the
mean of the image's projected rows V' (detached); cross-entropy of the instruction classifier.
A fraction of the images is dropped each step (as if missing): those requests decode with
Vall = [v̂] exactly as the engine does for a missing image.

Writes OUT/ckpt.pt ({config, state_dict, step}), OUT/tokenizer.json, OUT/train_log.jsonl and
OUT/eval.json. Deterministic for a given --seed and --threads.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import infer
import preprocess
import world
from model import OpenAutoGlm, default_config
from tokenizer import Tokenizer, build as build_tokenizer

EVAL_SEED = 99991


def batch(model, tok, seed, step, size, p_drop):
    """One training batch as tensors; examples are world.example(seed, step * size + j)."""
    exs = [world.example(seed, step * size + j) for j in range(size)]
    prepared = infer.prepare_images(model, [e.image for e in exs])
    drop = np.random.default_rng([seed, 7, step]).random(size) < p_drop
    drop |= np.array([not p.valid for p in prepared])
    prompts = [infer.prompt_ids(tok, e.question) for e in exs]
    answers = [tok.encode(e.answer, add_special_tokens=False) + [tok.eos_id] for e in exs]
    t = max(len(p) + len(a) for p, a in zip(prompts, answers)) - 1
    ids = torch.full((size, t), tok.pad_id, dtype=torch.long)
    tgt = torch.full((size, t), -100, dtype=torch.long)
    pl = max(len(p) for p in prompts)
    pids = torch.full((size, pl), tok.pad_id, dtype=torch.long)
    pmask = torch.zeros(size, pl)
    for i, (p, a) in enumerate(zip(prompts, answers)):
        s = p + a
        ids[i, : len(s) - 1] = torch.tensor(s[:-1])
        tgt[i, len(p) - 1: len(s) - 1] = torch.tensor(a)
        pids[i, : len(p)] = torch.tensor(p)
        pmask[i, : len(p)] = 1.0
    descs = [e.description for e in exs]
    dids = [tok.encode(d) for d in descs]
    dl = max(len(d) for d in dids)
    did = torch.full((size, dl), tok.pad_id, dtype=torch.long)
    dmask = torch.zeros(size, dl)
    for i, d in enumerate(dids):
        did[i, : len(d)] = torch.tensor(d)
        dmask[i, : len(d)] = 1.0
    same = torch.tensor([[float(a == b) for b in descs] for a in descs])
    cls = torch.tensor([world.INSTRUCTION_CLASSES.index(e.instruction) for e in exs])
    return dict(prepared=prepared, drop=torch.from_numpy(drop), ids=ids, tgt=tgt, pids=pids,
                pmask=pmask, did=did, dmask=dmask, same=same, cls=cls,
                cell=[object_cell(e) for e in exs], slot=[chart_slot(e) for e in exs], qpos=[len(p) - 1 for p in prompts],
                objects=[e.meta["objects"] if e.kind == "shapes" else None for e in exs])


def object_cell(e):
    """The 3x3 cell of the one object a shapes question is about (-1 when it is about no single object)."""
    if e.kind != "shapes" or e.task not in ("shape_at", "where", "colour"):
        return -1
    if e.task == "shape_at":                                 # "Which shape is at the <region>?"
        region = e.question.split(" at the ")[1].rstrip("?")
    elif e.task == "where":                                  # the answer is the region
        region = e.answer
    else:                                                    # "What colour is the <shape>?": that shape is unique
        words = e.question.rstrip("?").split()
        region = next(o["region"] for o in e.meta["objects"] if o["shape"] in words)
    return world.REGIONS.index(region)


def chart_slot(e):
    """(bar index, bar count) of a chart question about one bar or point (its value, the highest, the lowest), else None."""
    if e.kind != "chart" or e.task not in ("chart_value", "chart_highest", "chart_lowest"):
        return None
    labels, values = e.meta["labels"], e.meta["values"]
    if e.task == "chart_value":
        i = labels.index(e.question.split(" of ")[1].rstrip("?"))
    else:
        i = int(np.argmax(values) if e.task == "chart_highest" else np.argmin(values))
    return i, len(values)


def slot_mask(i, n, m):
    """The patch rows (g x g, row-major) whose column centre lies on bar i of n; at least the nearest column."""
    g = int(round(m ** 0.5))
    x0, x1 = world.chart_bar_extent(i, n)
    centres = (torch.arange(g) + 0.5) / g
    cols = (centres >= x0) & (centres <= x1)
    if not cols.any():
        cols[int(torch.argmin((centres - (x0 + x1) / 2).abs()))] = True
    return cols.repeat(g)


def losses(model, b, position_head=None, attention_loss=False, chart_attention_loss=False, shape_head=None):
    d = model.config["text_config"]["hidden_size"]
    rows = infer.image_rows(model, b["prepared"])           # V' per image
    ebar = model.prompt_mean_embedding(b["pids"], b["pmask"])
    vhat = model.impute(ebar)
    ctx = [vhat[i].detach()[None] if b["drop"][i] else rows[i] for i in range(len(rows))]
    fusion = [layer.cross_attn for layer in model.model.layers if layer.fusion]
    for x in fusion:
        x.keep_weights = attention_loss or chart_attention_loss
    logits = model.forward_lm(b["ids"], model.visual_context(ctx, d))
    lm = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["tgt"].reshape(-1), ignore_index=-100)
    target = torch.stack([r.mean(0) for r in rows]).detach()
    imp = F.mse_loss(vhat, target)
    task = F.cross_entropy(model.classify(ebar), b["cls"])
    z_img = torch.cat([model.image_embedding(r[None]) for r in rows])
    z_txt = model.text_embedding(b["did"], b["dmask"])
    sim = model.retrieval_scale() * z_img @ z_txt.t()
    soft = b["same"] / b["same"].sum(1, keepdim=True)
    ret = 0.5 * (torch.sum(-soft * F.log_softmax(sim, 1), 1).mean()
                 + torch.sum(-soft * F.log_softmax(sim.t(), 1), 1).mean())
    out = {"lm": lm, "retrieval": ret, "imputer": imp, "task": task}
    if position_head is not None:
        out["position"] = position_loss(position_head, rows)
    if shape_head is not None:
        out["shape"] = shape_loss(shape_head, rows, b["objects"])
    weights = [x.weights for x in fusion]
    if attention_loss:
        out["attention"] = focus_loss(weights, b, rows, [None if c < 0 else patch_cells(r.shape[0]) == c
                                                         for c, r in zip(b["cell"], rows)])
    if chart_attention_loss:
        out["chart_attention"] = focus_loss(weights, b, rows, [None if s is None else slot_mask(*s, r.shape[0])
                                                               for s, r in zip(b["slot"], rows)])
    for x in fusion:
        x.keep_weights, x.weights = False, None
    return out


WEIGHTS = {"lm": 1.0, "retrieval": 0.5, "imputer": 1.0, "task": 1.0}


def position_loss(head, rows):
    """Training-only: each projected patch row must predict its own 3x3 cell through a linear head that is not part
    of the model (nothing is exported). Without it the projector drops position (probe_position.py shows it)."""
    total = 0.0
    for r in rows:
        total = total + F.cross_entropy(head(r), patch_cells(r.shape[0]))
    return total / len(rows)


def shape_loss(head, rows, objects):
    """Training-only: each projected patch row of a shapes scene names the shape in its 3x3 cell (or none) through a
    linear head that is not part of the model. The attention loss alone put the fusion attention on the right cell but the
    rows there did not tell a circle from a star (answers collapsed to one shape)."""
    total, n = 0.0, 0
    for r, objs in zip(rows, objects):
        if objs is None or r.shape[0] == 0:
            continue
        by_cell = {world.REGIONS.index(o["region"]): world.SHAPES.index(o["shape"]) for o in objs}
        target = torch.tensor([by_cell.get(int(c), len(world.SHAPES)) for c in patch_cells(r.shape[0])])
        total, n = total + F.cross_entropy(head(r), target), n + 1
    return total / max(n, 1)


def patch_cells(m):
    """The 3x3 cell (row-major, as world.REGIONS) of each of the m = g x g patch rows of an image."""
    g = int(round(m ** 0.5))
    return torch.tensor([world.patch_cell(i, g) for i in range(g * g)])


def focus_loss(weights, b, rows, masks):
    """Training-only: at the position that predicts the first answer token, the fusion attention (mean over heads) of a
    question about one thing must land on it (masks[i]: its patch rows, None for other questions): -log of the attention
    mass there. Without it the text side does not learn to address a named place ("which shape is at the top left?"
    answered from the prior)."""
    total, n = 0.0, 0
    for i, mask in enumerate(masks):
        if mask is None or b["drop"][i] or rows[i].shape[0] == 0:
            continue
        m = rows[i].shape[0]
        for a in weights:
            mass = a[i, :, b["qpos"][i], :m].mean(0)[mask].sum()
            total, n = total - torch.log(mass + 1e-6), n + 1
    return total / max(n, 1)


@torch.no_grad()
def image_use(model, tok, seed, size=48, batches=2):
    """Answer loss with the right images, with images rotated by one within the batch, and with
    no images: the gap shows how much the answers depend on the pictures."""
    d = model.config["text_config"]["hidden_size"]
    tot = {"right_images": 0.0, "wrong_images": 0.0, "no_images": 0.0}
    for s in range(batches):
        b = batch(model, tok, seed + 1, s, size, 0.0)
        rows = infer.image_rows(model, b["prepared"])
        for key, ctx in (("right_images", rows), ("wrong_images", rows[1:] + rows[:1]),
                         ("no_images", [torch.zeros(0, d)] * size)):
            lg = model.forward_lm(b["ids"], model.visual_context(ctx, d))
            tot[key] += float(F.cross_entropy(lg.reshape(-1, lg.shape[-1]), b["tgt"].reshape(-1))) / batches
    return {k: round(v, 4) for k, v in tot.items()}


@torch.no_grad()
def evaluate(model, tok, count=96, seed=EVAL_SEED, batch_size=32):
    """Exact-match accuracy of greedy answers per task family, instruction-class accuracy,
    and image->text retrieval top-1 within groups of `batch_size`."""
    model.eval()
    exs = [world.example(seed, i) for i in range(count)]
    correct, total, cls_ok, ret_ok = {}, {}, 0, 0
    for s in range(0, count, batch_size):
        part = exs[s: s + batch_size]
        prepared = infer.prepare_images(model, [e.image for e in part])
        rows = infer.image_rows(model, prepared)
        prompts = [infer.prompt_ids(tok, e.question) for e in part]
        ctxs = [infer.request_context(model, p, [pp], [r]) for p, pp, r in zip(prompts, prepared, rows)]
        out = infer.greedy(model, tok, prompts, ctxs, 40)
        for e, p, o in zip(part, prompts, out):
            text = tok.decode(infer.strip_eos(o, tok.eos_id))
            key = e.instruction if e.instruction != "vqa" else f"vqa_{e.kind}"
            total[key] = total.get(key, 0) + 1
            correct[key] = correct.get(key, 0) + int(text.strip() == e.answer)
            probs = infer.instruction_probs(model, p)
            cls_ok += int(world.INSTRUCTION_CLASSES[int(probs.argmax())] == e.instruction)
        z_img = torch.cat([model.image_embedding(r[None]) for r in rows])
        dids = [tok.encode(e.description) for e in part]
        z_txt = torch.cat([model.text_embedding(torch.tensor([d]), torch.ones(1, len(d))) for d in dids])
        best = (z_img @ z_txt.t()).argmax(1)
        ret_ok += sum(int(part[int(j)].description == part[i].description) for i, j in enumerate(best))
    use = image_use(model, tok, seed)
    model.train()
    acc = {k: correct[k] / total[k] for k in sorted(total)}
    acc["all"] = sum(correct.values()) / count
    return {"answer_exact_match": acc, "instruction_accuracy": cls_ok / count,
            "retrieval_top1": ret_ok / count, "count": count, "answer_loss_by_images": use}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="out")
    ap.add_argument("--batch-size", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--drop-image", type=float, default=0.1, help="fraction of images treated as missing")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--eval-count", type=int, default=192)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--save-every", type=int, default=500, help="also write ckpt.pt every N steps (0: only at the end)")
    ap.add_argument("--tokenizer", help="existing tokenizer.json (default: train one)")
    ap.add_argument("--init", help="start from the weights of this ckpt.pt (fresh optimizer and schedule; needs its tokenizer)")
    ap.add_argument("--data-offset", type=int, default=0, help="first training batch index (continue a run on unseen batches)")
    ap.add_argument("--attention-loss", type=float, default=0.0,
                    help="weight of the training-only loss that points the fusion attention of a question about one "
                         "object at that object's cell")
    ap.add_argument("--chart-attention-loss", type=float, default=0.0,
                    help="the same for a chart question about one bar or point (its value, the highest, the lowest)")
    ap.add_argument("--shape-loss", type=float, default=0.0,
                    help="weight of the training-only loss that makes each projected patch row of a shapes scene name the "
                         "shape in its 3x3 cell")
    ap.add_argument("--position-loss", type=float, default=0.0,
                    help="weight of the training-only loss that makes each projected patch row predict its 3x3 cell")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.out, exist_ok=True)

    tok = Tokenizer.load(a.tokenizer) if a.tokenizer else build_tokenizer(a.seed)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    config = default_config(tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id)
    model = OpenAutoGlm(config)
    if a.init:
        init = torch.load(a.init, map_location="cpu", weights_only=False)
        if init["config"] != config:
            raise SystemExit(f"{a.init}: its config differs from this run's (pass its --tokenizer)")
        model.load_state_dict(init["state_dict"])
        print(f"initialized from {a.init} (step {init['step']})")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"vocab {tok.vocab_size}, parameters {n_params:,}")

    d = config["text_config"]["hidden_size"]
    head = torch.nn.Linear(d, 9) if a.position_loss > 0 else None
    shape_head = torch.nn.Linear(d, len(world.SHAPES) + 1) if a.shape_loss > 0 else None
    heads = [h for h in (head, shape_head) if h is not None]
    weights = dict(WEIGHTS, position=a.position_loss, attention=a.attention_loss, chart_attention=a.chart_attention_loss,
                   shape=a.shape_loss)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "pos_embed" not in n] + [h.weight for h in heads]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "pos_embed" not in n)] + [h.bias for h in heads]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.98))
    warm = max(1, min(200, a.steps // 10))

    def lr_at(step):
        if step < warm:
            return a.lr * (step + 1) / warm
        t = (step - warm) / max(1, a.steps - warm)
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    log = open(os.path.join(a.out, "train_log.jsonl"), "w")
    t0, c0 = time.time(), time.process_time()
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        b = batch(model, tok, a.seed, a.data_offset + step, a.batch_size, a.drop_image)
        ls = losses(model, b, head, a.attention_loss > 0, a.chart_attention_loss > 0, shape_head)
        loss = sum(weights[k] * v for k, v in ls.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.retrieval.logit_scale.clamp_(0.0, math.log(100.0))
        if step % a.log_every == 0 or step == a.steps - 1:
            rec = {"step": step, "lr": round(lr_at(step), 6), "loss": round(float(loss), 4),
                   **{k: round(float(v), 4) for k, v in ls.items()}, "elapsed_s": round(time.time() - t0, 1),
                   "cpu_s": round(time.process_time() - c0, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if a.save_every and (step + 1) % a.save_every == 0 and step + 1 < a.steps:
            # a partial checkpoint lets a long run be inspected (or used) before it ends
            torch.save({"config": config, "state_dict": model.state_dict(), "step": step + 1},
                       os.path.join(a.out, "ckpt.pt"))
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    torch.save({"config": config, "state_dict": model.state_dict(), "step": a.steps},
               os.path.join(a.out, "ckpt.pt"))
    t1 = time.time()
    ev = evaluate(model, tok, a.eval_count)
    ev.update(steps=a.steps, train_seconds=round(train_s, 1), seconds_per_step=round(train_s / a.steps, 3),
              cpu_seconds_per_step=round(train_cpu / a.steps, 3),
              eval_seconds=round(time.time() - t1, 1), parameters=n_params)
    print(json.dumps(ev, indent=1))
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump(ev, f, indent=1)


if __name__ == "__main__":
    main()
