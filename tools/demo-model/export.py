"""Write the Hugging Face-layout checkpoint (ARCHITECTURE.md section 7) from a trained state dict.

    /usr/bin/python3 export.py --ckpt out/ckpt.pt --out out/hf

OUT/config.json, OUT/model.safetensors (F32, section 7 tensor names), OUT/tokenizer.json and
OUT/tokenizer_config.json (the chat template of the training prompts, infer.PROMPT_TEMPLATE).
Every weight is rounded to the nearest float16 value before it is written (still stored as F32),
so the engine's F16 conversion is lossless and PyTorch, golden.py and the engine all run the
very same weights. --no-round writes the raw float32 training weights instead.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

import torch

import safetensors_io
from model import OpenAutoGlm

# One user turn renders exactly as infer.PROMPT_TEMPLATE after the BOS the tokenizer adds; an image part renders as
# nothing, because this model fuses images by cross-attention instead of placeholder tokens.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|user|>{% elif message['role'] == 'assistant' %}<|assistant|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def export(ckpt_path, out, tokenizer_path=None, round_fp16=True):
    ck = torch.load(ckpt_path, map_location="cpu")
    config, sd = ck["config"], ck["state_dict"]
    model = OpenAutoGlm(config)
    model.load_state_dict(sd)                               # checks every name and shape
    os.makedirs(out, exist_ok=True)
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().float()
        tensors[name] = t.half().float() if round_fp16 else t
    safetensors_io.save(tensors, os.path.join(out, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tokenizer_path = tokenizer_path or os.path.join(os.path.dirname(ckpt_path), "tokenizer.json")
    shutil.copyfile(tokenizer_path, os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": CHAT_TEMPLATE, "bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>"}, f, indent=2)
    return len(tensors)


def load_hf(directory):
    """Build the PyTorch model from an exported directory (config.json + model.safetensors)."""
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    model = OpenAutoGlm(config)
    model.load_state_dict(safetensors_io.load(os.path.join(directory, "model.safetensors")))
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="out/ckpt.pt")
    ap.add_argument("--out", default="out/hf")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: beside the checkpoint)")
    ap.add_argument("--no-round", action="store_true", help="keep float32 weights (no float16 rounding)")
    a = ap.parse_args()
    n = export(a.ckpt, a.out, a.tokenizer, not a.no_round)
    print(f"{n} tensors -> {a.out}")


if __name__ == "__main__":
    main()
