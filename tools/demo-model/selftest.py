"""Checks of the reference against the spec's definitions, on a random untrained model.

    OMP_NUM_THREADS=1 /usr/bin/python3 selftest.py
"""
from __future__ import annotations

import copy
import os
import re
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import infer
import preprocess
import safetensors_io
import world
from model import OpenAutoGlm, default_config
from tokenizer import Tokenizer, train as train_bpe

SECTION7 = [
    r"vision\.patch_embed\.(weight|bias)", r"vision\.pos_embed",
    r"vision\.layers\.\d+\.(norm1|norm2)\.(weight|bias)",
    r"vision\.layers\.\d+\.attn\.(qkv|proj)\.(weight|bias)",
    r"vision\.layers\.\d+\.mlp\.(fc1|fc2)\.(weight|bias)", r"vision\.post_norm\.(weight|bias)",
    r"projector\.(fc1|fc2)\.(weight|bias)", r"model\.embed_tokens\.weight",
    r"model\.layers\.\d+\.(input_layernorm|post_attention_layernorm)\.weight",
    r"model\.layers\.\d+\.self_attn\.[qkvo]_proj\.weight",
    r"model\.layers\.\d+\.mlp\.(gate|up|down)_proj\.weight",
    r"model\.layers\.\d+\.cross_attn_norm\.weight", r"model\.layers\.\d+\.cross_attn\.[qkvo]_proj\.weight",
    r"model\.layers\.\d+\.fusion_gate\.(weight|bias)", r"model\.norm\.weight", r"lm_head\.weight",
    r"imputer\.(fc1|fc2)\.(weight|bias)", r"retrieval\.(image_proj|text_proj)\.weight",
    r"retrieval\.logit_scale", r"task_head\.(weight|bias)",
]


def check(name, ok):
    print(("ok    " if ok else "FAIL  ") + name)
    if not ok:
        raise SystemExit(1)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    texts = list(world.corpus(1234, 300))
    tok = Tokenizer(train_bpe(texts, 400))
    cfg = default_config(tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id)
    model = OpenAutoGlm(cfg).eval()
    for p in model.parameters():                            # non-trivial values everywhere
        p.data.add_(torch.randn_like(p) * 0.05)
    sd = model.state_dict()

    check("state_dict names are the section 7 names",
          all(any(re.fullmatch(pat, k) for pat in SECTION7) for k in sd))
    fusion = {int(k.split(".")[2]) for k in sd if "fusion_gate" in k}
    check("fusion tensors only in fusion layers", fusion == set(cfg["text_config"]["fusion_layers"]))
    d, dv, p = 128, cfg["vision_config"]["hidden_size"], cfg["vision_config"]["patch_size"]
    check("fusion_gate is [d, 2d]", tuple(sd["model.layers.1.fusion_gate.weight"].shape) == (d, 2 * d))
    check("logit_scale is [1]", tuple(sd["retrieval.logit_scale"].shape) == (1,))

    # tokenizer: round trip, file round trip, BOS
    tj = os.path.join(tempfile.mkdtemp(), "tokenizer.json")
    tok.save(tj)
    tok2 = Tokenizer.load(tj)
    ok = all(tok.decode(tok.encode(t)) == t and tok2.encode(t) == tok.encode(t) for t in texts[:200])
    check("tokenizer encode/decode and tokenizer.json round trip", ok)
    check("post-processor adds <|bos|>", tok.encode("a")[0] == tok.bos_id)
    check("special tokens matched in text", tok.encode("<|user|>hi<|assistant|>", False)[0] == tok.vocab["<|user|>"])

    # safetensors round trip
    st = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    safetensors_io.save(sd, st)
    back = safetensors_io.load(st)
    check("safetensors round trip", all(torch.equal(sd[k], back[k]) for k in sd))
    with open(st, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
    check("safetensors header padded to 8", n % 8 == 0)

    # patchify == Conv2d weight flattening
    img = world.example(3, 1).image
    x = preprocess.resize(img, 32)
    patches = preprocess.patchify(x, p, cfg["vision_config"]["image_mean"], cfg["vision_config"]["image_std"])
    w = model.vision.patch_embed.weight.reshape(dv, 3, p, p)
    t = torch.from_numpy(np.array(x)).permute(2, 0, 1).float() / 255
    t = (t - torch.tensor(cfg["vision_config"]["image_mean"])[:, None, None]) / torch.tensor(cfg["vision_config"]["image_std"])[:, None, None]
    conv = F.conv2d(t[None], w, model.vision.patch_embed.bias, stride=p)[0].flatten(1).t()
    check("patch vector index ch*p*p + i*p + j (Conv2d flattening)",
          torch.allclose(model.vision.patch_embed(patches), conv, atol=1e-4))

    # position table: identity at g = G; corners of the upsampled grid
    G = model.vision.G
    check("PE(G) is the table", torch.equal(model.vision.position_table(G), model.vision.pos_embed))
    check("PE(g) shape", tuple(model.vision.position_table(8).shape) == (64, dv))

    # thumbnail / confidence / complexity on known images
    flat = np.full((50, 70, 3), 128, np.uint8)
    y = preprocess.luma_thumbnail(flat)
    check("flat image: confidence 0, complexity 0", preprocess.confidence(y) < 1e-5 and preprocess.complexity(y) < 1e-5)
    ramp = np.repeat(np.repeat(np.arange(64, dtype=np.uint8)[None, :, None] * 4, 64, 0), 3, 2)
    y = preprocess.luma_thumbnail(ramp)
    expect = 8 * 4 / 255                                    # gx = 8 * step for a linear ramp
    check("ramp complexity = 8 * step", abs(preprocess.complexity(y) - expect) < 1e-4)

    # decoder: a request without images equals a batch row without images
    q1, q2 = infer.prompt_ids(tok, "Describe the image."), infer.prompt_ids(tok, "How many shapes are there?")
    prep = infer.prepare_images(model, [world.example(3, 2).image])
    rows = infer.image_rows(model, prep)
    with torch.no_grad():
        alone = model.forward_lm(torch.tensor([q1]), None)
        mixed = model.forward_lm(torch.tensor([q1, q1]), model.visual_context([torch.zeros(0, d), rows[0]], d))
        check("M = 0 skips fusion (mixed batch)", torch.allclose(alone[0], mixed[0], atol=1e-5))
        with_img = model.forward_lm(torch.tensor([q1]), model.visual_context([rows[0]], d))
        check("batched rows equal single requests", torch.allclose(with_img[0], mixed[1], atol=1e-5))
        a = infer.greedy(model, tok, [q1, q2], [rows[0], rows[0]], 6)
        b = [infer.greedy(model, tok, [q], [rows[0]], 6)[0] for q in (q1, q2)]
        check("batched greedy equals one by one", a == b)

    # GQA + RoPE against a direct per-head computation
    attn = model.model.layers[0].self_attn
    xs = torch.randn(1, 5, d)
    cos, sin = __import__("model").rope_tables(5, 32, 10000.0)
    with torch.no_grad():
        got = attn(xs, cos, sin, torch.full((5, 5), float("-inf")).triu(1))
        q = attn.q_proj(xs)[0].reshape(5, 4, 32)
        k = attn.k_proj(xs)[0].reshape(5, 2, 32)
        v = attn.v_proj(xs)[0].reshape(5, 2, 32)
        outs = []
        for h in range(4):
            kh = h // 2
            def rot(z, pos):
                i = torch.arange(16, dtype=torch.float32)
                ang = pos * 10000.0 ** (-2 * i / 32)
                z1, z2 = z[:16], z[16:]
                return torch.cat([z1 * ang.cos() - z2 * ang.sin(), z2 * ang.cos() + z1 * ang.sin()])
            qs = torch.stack([rot(q[t, h], t) for t in range(5)])
            ks = torch.stack([rot(k[t, kh], t) for t in range(5)])
            s = qs @ ks.t() / 32 ** 0.5 + torch.full((5, 5), float("-inf")).triu(1)
            outs.append(torch.softmax(s, -1) @ v[:, kh])
        want = attn.o_proj(torch.cat(outs, -1))[None]
    check("GQA (head h uses KV head h // (H/H_kv)) and rotate-half RoPE", torch.allclose(got, want, atol=1e-5))

    # partial rotary: dims past r pass through
    c2 = copy.deepcopy(cfg)
    c2["text_config"]["partial_rotary_factor"] = 0.5
    m2 = OpenAutoGlm(c2)
    check("partial_rotary_factor 0.5 rotates 16 of 32 dims", m2.model.rot == 16)
    print("all checks passed")


if __name__ == "__main__":
    main()
