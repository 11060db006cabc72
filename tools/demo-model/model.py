"""The native Open-AutoGLM model (ARCHITECTURE.md sections 2-6) in PyTorch: the reference
implementation. Module attribute names are chosen so that `state_dict()` keys are exactly the
section 7 tensor names; `export.py` writes them unchanged."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "silu": F.silu,
}


def default_config(vocab_size: int, bos: int, eos: int, pad: int) -> dict:
    """config.json of the demo model (all section 7 fields)."""
    return {
        "model_type": "open_autoglm",
        "architectures": ["OpenAutoGlmForConditionalGeneration"],
        "text_config": {
            "vocab_size": vocab_size, "hidden_size": 128, "intermediate_size": 352,
            "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 32, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "partial_rotary_factor": 1.0, "attention_bias": False, "tie_word_embeddings": False,
            "max_position_embeddings": 256, "bos_token_id": bos, "eos_token_id": eos,
            "pad_token_id": pad, "fusion_layers": [1, 3], "cross_attention_heads": 4,
        },
        "vision_config": {
            "hidden_size": 96, "intermediate_size": 384, "num_hidden_layers": 3,
            "num_attention_heads": 3, "patch_size": 8, "base_image_size": 48,
            "layer_norm_eps": 1e-5, "hidden_act": "gelu",
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711],
        },
        "projector_hidden_act": "gelu",
        "adaptive_resolution": {"sizes": [32, 48, 64], "thresholds": [0.12, 0.24], "gradient_scale": 1.0},
        "min_image_confidence": 0.1,
        "instruction_classes": ["caption", "vqa", "inspection", "chart_json"],
        "decoding_presets": {
            "caption": {"temperature": 0.5, "top_p": 0.9, "top_k": 20, "max_new_tokens": 48},
            "vqa": {"temperature": 0.0, "max_new_tokens": 8},
            "inspection": {"temperature": 0.0, "max_new_tokens": 24},
            "chart_json": {"temperature": 0.0, "num_beams": 1, "repetition_penalty": 1.0,
                           "max_new_tokens": 40},
        },
        "imputer_hidden_size": 128,
        "retrieval_embed_dim": 64,
        "tie_word_embeddings": False,
    }


# ----------------------------------------------------------------------------- vision

class VisionAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):                                   # x [B, N, d_v]
        b, n, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).split(d, dim=-1)              # [q | k | v], heads contiguous
        q, k, v = (t.reshape(b, n, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class VisionMlp(nn.Module):
    def __init__(self, d, f, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(d, f), nn.Linear(f, d), ACTS[act]

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class VisionBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.attn = VisionAttention(d, c["num_attention_heads"])
        self.norm2 = nn.LayerNorm(d, eps=eps)
        self.mlp = VisionMlp(d, c["intermediate_size"], c.get("hidden_act", "gelu"))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.p, self.G = p, c["base_image_size"] // p
        self.patch_embed = nn.Linear(3 * p * p, d)          # a Conv2d weight [d_v, 3, p, p], flattened
        self.pos_embed = nn.Parameter(torch.randn(self.G * self.G, d) * 0.02)
        self.layers = nn.ModuleList(VisionBlock(c) for _ in range(c["num_hidden_layers"]))
        self.post_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def position_table(self, g):
        """PE(g): the G x G table bilinearly resized to g x g (align_corners=False, no antialias)."""
        if g == self.G:
            return self.pos_embed
        d = self.pos_embed.shape[1]
        t = self.pos_embed.reshape(self.G, self.G, d).permute(2, 0, 1)[None]
        t = F.interpolate(t, size=(g, g), mode="bilinear", align_corners=False)
        return t[0].permute(1, 2, 0).reshape(g * g, d)

    def forward(self, patches):                             # [B, g*g, 3p^2] -> V [B, g*g, d_v]
        g = int(round(math.sqrt(patches.shape[1])))
        x = self.patch_embed(patches) + self.position_table(g)
        for blk in self.layers:
            x = blk(x)
        return self.post_norm(x)


class Projector(nn.Module):
    def __init__(self, d_v, d, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(d_v, d), nn.Linear(d, d), ACTS[act]

    def forward(self, v):
        return self.fc2(self.act(self.fc1(v)))


# ----------------------------------------------------------------------------- decoder

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(t, rot, theta, device=None):
    """cos/sin [t, rot] for the rotate-half layout: dim i pairs with i + rot/2."""
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float32, device=device) / rot))
    f = torch.arange(t, dtype=torch.float32, device=device)[:, None] * inv[None]
    e = torch.cat([f, f], dim=-1)
    return e.cos(), e.sin()


def apply_rope(x, cos, sin):                                # x [B, H, T, hd]; rotates first `rot` dims
    rot = cos.shape[-1]
    xr, xp = x[..., :rot], x[..., rot:]
    x1, x2 = xr[..., : rot // 2], xr[..., rot // 2:]
    rotated = torch.cat([-x2, x1], dim=-1)
    return torch.cat([xr * cos + rotated * sin, xp], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.h, self.hkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or d // self.h
        bias = c.get("attention_bias", False)
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=bias)
        self.k_proj = nn.Linear(d, self.hkv * self.hd, bias=bias)
        self.v_proj = nn.Linear(d, self.hkv * self.hd, bias=bias)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=bias)

    def forward(self, x, cos, sin, mask):                   # mask [T, T] additive (causal)
        b, t, _ = x.shape
        q = self.q_proj(x).reshape(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).reshape(b, t, self.hkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).reshape(b, t, self.hkv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.h // self.hkv                            # query head h uses KV head h // rep
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd) + mask, dim=-1)
        return self.o_proj((a @ v).transpose(1, 2).reshape(b, t, self.h * self.hd))


class CrossAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.keep_weights, self.weights = False, None
        self.q_proj, self.k_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.v_proj, self.o_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)

    def kv(self, vall):                                     # [B, M, d] -> K, V [B, H_x, M, d/H_x]
        b, m, d = vall.shape
        hd = d // self.h
        k = self.k_proj(vall).reshape(b, m, self.h, hd).transpose(1, 2)
        v = self.v_proj(vall).reshape(b, m, self.h, hd).transpose(1, 2)
        return k, v

    def forward(self, u, k, v, key_mask):                   # key_mask [B, 1, 1, M] additive
        b, t, d = u.shape
        hd = d // self.h
        q = self.q_proj(u).reshape(b, t, self.h, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + key_mask, dim=-1)
        if self.keep_weights:                               # training-only: the attention loss reads them
            self.weights = a
        return self.o_proj((a @ v).transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c, fusion: bool):
        super().__init__()
        d, eps = c["hidden_size"], c["rms_norm_eps"]
        self.input_layernorm = RMSNorm(d, eps)
        self.self_attn = SelfAttention(c)
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.mlp = Mlp(d, c["intermediate_size"])
        self.fusion = fusion
        if fusion:
            self.cross_attn_norm = RMSNorm(d, eps)
            self.cross_attn = CrossAttention(d, c["cross_attention_heads"])
            self.fusion_gate = nn.Linear(2 * d, d)          # input [f_v ; h]

    def forward(self, h, cos, sin, mask, vis):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        if self.fusion and vis is not None:
            vall, key_mask, has_vis = vis                   # has_vis [B, 1, 1]: rows with M > 0
            k, v = self.cross_attn.kv(vall)
            f_v = self.cross_attn(self.cross_attn_norm(h), k, v, key_mask)
            g = torch.sigmoid(self.fusion_gate(torch.cat([f_v, h], dim=-1)))
            h = torch.where(has_vis, g * f_v + (1 - g) * h, h)
        return h + self.mlp(self.post_attention_layernorm(h))


class TextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        fusion = set(c["fusion_layers"])
        self.layers = nn.ModuleList(DecoderLayer(c, i in fusion) for i in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.rot = int(hd * c.get("partial_rotary_factor", 1.0))

    def forward(self, ids, vis=None):                       # -> RMSNorm_final(h_L) [B, T, d]
        t = ids.shape[1]
        h = self.embed_tokens(ids)
        cos, sin = rope_tables(t, self.rot, self.c["rope_theta"], ids.device)
        mask = torch.full((t, t), float("-inf"), device=ids.device).triu(1)
        for layer in self.layers:
            h = layer(h, cos, sin, mask, vis)
        return self.norm(h)


# ----------------------------------------------------------------------------- heads

class Imputer(nn.Module):
    def __init__(self, d, di):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, di), nn.Linear(di, d)

    def forward(self, e):
        return self.fc2(F.relu(self.fc1(e)))


class Retrieval(nn.Module):
    def __init__(self, d, e):
        super().__init__()
        self.image_proj = nn.Linear(d, e, bias=False)
        self.text_proj = nn.Linear(d, e, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor([math.log(10.0)]))


GATE_BIAS_INIT = 0.0


def normalize(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class OpenAutoGlm(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        tc, vc = config["text_config"], config["vision_config"]
        d = tc["hidden_size"]
        self.vision = VisionEncoder(vc)
        self.projector = Projector(vc["hidden_size"], d, config.get("projector_hidden_act", "gelu"))
        self.model = TextModel(tc)
        if not tc.get("tie_word_embeddings", config.get("tie_word_embeddings", False)):
            self.lm_head = nn.Linear(d, tc["vocab_size"], bias=False)
        self.imputer = Imputer(d, config["imputer_hidden_size"])
        self.retrieval = Retrieval(d, config["retrieval_embed_dim"])
        self.task_head = nn.Linear(d, len(config["instruction_classes"]))
        self._init()

    def _init(self):
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2 and "pos_embed" not in name:
                nn.init.normal_(p, std=0.02)
        for layer in self.model.layers:                     # gates start half open: g ~ 0.5
            if layer.fusion:
                nn.init.constant_(layer.fusion_gate.bias, GATE_BIAS_INIT)

    # -- pieces, each one formula of the spec

    def image_rows(self, patches):                          # [B, N, 3p^2] -> V' [B, N, d]
        return self.projector(self.vision(patches))

    def prompt_mean_embedding(self, ids, mask):             # ē: mean embed over prompt ids [B, d]
        e = self.model.embed_tokens(ids) * mask[..., None]
        return e.sum(1) / mask.sum(1, keepdim=True)

    def impute(self, ebar):                                 # v̂ [B, d]
        return self.imputer(ebar)

    def classify(self, ebar):                               # task logits [B, C]
        return self.task_head(ebar)

    def logits(self, hidden):
        w = self.lm_head.weight if hasattr(self, "lm_head") else self.model.embed_tokens.weight
        return hidden @ w.t()

    def image_embedding(self, rows):                        # z_img from V' [B, N, d] (all rows valid)
        return normalize(self.retrieval.image_proj(rows.mean(1)))

    def text_embedding(self, ids, mask):                    # z_txt: text alone, no fusion
        h = self.model(ids, None)
        m = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return normalize(self.retrieval.text_proj(m))

    def retrieval_scale(self):
        return self.retrieval.logit_scale.reshape(()).exp()

    @staticmethod
    def visual_context(rows_list, d):
        """Pack per-request rows (each [M_b, d], possibly M_b = 0) into (Vall, key_mask, has_vis)."""
        m = max(1, max(r.shape[0] for r in rows_list))
        b = len(rows_list)
        vall = torch.zeros(b, m, d)
        key_mask = torch.full((b, 1, 1, m), float("-inf"))
        for i, r in enumerate(rows_list):
            vall[i, : r.shape[0]] = r
            key_mask[i, :, :, : r.shape[0]] = 0.0
        has = torch.tensor([r.shape[0] > 0 for r in rows_list]).reshape(b, 1, 1)
        key_mask = torch.where(has.reshape(b, 1, 1, 1), key_mask, torch.zeros_like(key_mask))
        return vall, key_mask, has

    def forward_lm(self, ids, vis):                         # -> logits [B, T, V]
        return self.logits(self.model(ids, vis))
