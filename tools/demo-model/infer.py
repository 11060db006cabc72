"""The reference request pipeline: images -> Vall (sections 1, 3, 4), prompt -> ē, instruction
class (section 6), retrieval embeddings (section 5) and batched greedy decoding."""
from __future__ import annotations

import torch

import preprocess

PROMPT_TEMPLATE = "<|user|>{question}<|assistant|>"


def prompt_ids(tok, question):
    """All prompt ids as given to the decoder: <|bos|> (post-processor), <|user|>, text, <|assistant|>."""
    return tok.encode(PROMPT_TEMPLATE.format(question=question))


def prepare_images(model, images, pin_resolution=None):
    c = model.config
    return [preprocess.prepare(img, c["vision_config"], c, pin_resolution) for img in images]


def image_rows(model, prepared):
    """V' of each prepared image ([g*g, d] each), grouping images of equal resolution."""
    out = [None] * len(prepared)
    by_res = {}
    for i, p in enumerate(prepared):
        by_res.setdefault(p.resolution, []).append(i)
    for idx in by_res.values():
        rows = model.image_rows(torch.stack([prepared[i].patches for i in idx]))
        for k, i in enumerate(idx):
            out[i] = rows[k]
    return out


def request_context(model, ids, prepared, rows):
    """Vall of one request: rows of valid images in order, else [v̂] (imputer), else empty."""
    valid = [r for p, r in zip(prepared, rows) if p.valid]
    d = model.config["text_config"]["hidden_size"]
    if valid:
        return torch.cat(valid, 0)
    ids_t = torch.tensor([ids])
    ebar = model.prompt_mean_embedding(ids_t, torch.ones_like(ids_t, dtype=torch.float32))
    if hasattr(model, "imputer"):
        return model.impute(ebar)
    return torch.zeros(0, d)


def instruction_probs(model, ids):
    ids_t = torch.tensor([ids])
    ebar = model.prompt_mean_embedding(ids_t, torch.ones_like(ids_t, dtype=torch.float32))
    return torch.softmax(model.classify(ebar), -1)[0]


@torch.no_grad()
def greedy(model, tok, prompts, contexts, max_new_tokens):
    """Batched greedy decoding. prompts: list of id lists; contexts: list of Vall [M, d].
    Right padding is harmless here: causal attention, logits read at each row's last position."""
    d = model.config["text_config"]["hidden_size"]
    vis = model.visual_context(contexts, d)
    seqs = [list(p) for p in prompts]
    done = [False] * len(seqs)
    for _ in range(max_new_tokens):
        t = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), t), tok.pad_id, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        logits = model.forward_lm(ids, vis)
        for i, s in enumerate(seqs):
            if done[i]:
                continue
            nxt = int(logits[i, len(s) - 1].argmax())
            s.append(nxt)
            done[i] = nxt == tok.eos_id
        if all(done):
            break
    return [s[len(p):] for s, p in zip(seqs, prompts)]


def strip_eos(ids, eos):
    return ids[: ids.index(eos)] if eos in ids else ids
