"""Byte-level BPE: training, encoding, decoding, and the Hugging Face tokenizer.json file.

Semantics follow the Hugging Face `tokenizers` BPE model with a ByteLevel pre-tokenizer
(add_prefix_space=false, use_regex=true), a ByteLevel decoder and a TemplateProcessing
post-processor that prepends <|bos|>. Special tokens are matched in the raw text first
(added_tokens), then each remaining span is split by the GPT-2 regex, mapped byte -> unicode
(bytes_to_unicode) and merged by merge rank.

Ids: the special tokens first (0..5), then the 256 byte symbols in bytes_to_unicode order of
byte value, then one id per merge in merge order.

    /usr/bin/python3 tokenizer.py --out tokenizer.json [--merges 400] [--seed 1234]
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|image|>", "<|user|>", "<|assistant|>"]

# GPT-2 pattern. Python's `re` has no \p{..}: [^\W\d_] is "a letter" and \d "a digit" here, which
# equals \p{L} / \p{N} on the ASCII text this world produces.
_L, _N = r"[^\W\d_]", r"\d"
PRETOKENIZE = re.compile(
    rf"""'s|'t|'re|'ve|'m|'ll|'d| ?{_L}+| ?{_N}+| ?(?:(?!{_L}|{_N})[^\s])+|\s+(?!\S)|\s+""")
SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def _word_symbols(word: str):
    return [BYTE_TO_CHAR[b] for b in word.encode("utf-8")]


def train(texts, num_merges: int):
    """Greedy BPE: repeatedly merge the most frequent adjacent pair (ties: lexicographic)."""
    words = Counter()
    for t in texts:
        for span in SPECIAL_SPLIT.split(t):
            if span in SPECIAL_TOKENS or not span:
                continue
            words.update(PRETOKENIZE.findall(span))
    seqs = {w: _word_symbols(w) for w in words}
    merges = []
    for _ in range(num_merges):
        pairs = Counter()
        for w, f in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        for w in seqs:
            s = seqs[w]
            i, out = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.vocab = {}
        for t in SPECIAL_TOKENS:
            self.vocab[t] = len(self.vocab)
        for b in range(256):
            self.vocab[BYTE_TO_CHAR[b]] = len(self.vocab)
        for a, b in self.merges:
            if a + b not in self.vocab:
                self.vocab[a + b] = len(self.vocab)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.special_ids = {self.vocab[t] for t in SPECIAL_TOKENS}
        self.pad_id, self.bos_id, self.eos_id = (self.vocab[t] for t in SPECIAL_TOKENS[:3])
        self._cache = {}

    @property
    def vocab_size(self):
        return len(self.vocab)

    def _bpe(self, word):
        if word in self._cache:
            return self._cache[word]
        s = _word_symbols(word)
        while len(s) > 1:
            best, best_rank = None, None
            for i in range(len(s) - 1):
                r = self.ranks.get((s[i], s[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            pair = (s[best], s[best + 1])
            i, out = 0, []
            while i < len(s):  # merge every occurrence of the best pair, left to right
                if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            s = out
        ids = [self.vocab[t] for t in s]
        self._cache[word] = ids
        return ids

    def encode(self, text: str, add_special_tokens: bool = True):
        ids = [self.bos_id] if add_special_tokens else []
        for span in SPECIAL_SPLIT.split(text):
            if not span:
                continue
            if span in SPECIAL_TOKENS:
                ids.append(self.vocab[span])
                continue
            for w in PRETOKENIZE.findall(span):
                ids.extend(self._bpe(w))
        return ids

    def decode(self, ids, skip_special_tokens: bool = True):
        out, buf = [], []
        for i in ids:
            i = int(i)
            if i in self.special_ids:
                if buf:
                    out.append(bytes(buf).decode("utf-8", errors="replace"))
                    buf = []
                if not skip_special_tokens:
                    out.append(self.id_to_token[i])
                continue
            buf.extend(CHAR_TO_BYTE[c] for c in self.id_to_token[i])
        if buf:
            out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)

    # ------------------------------------------------------------------ tokenizer.json

    def to_hf_json(self):
        added = [{"id": self.vocab[t], "content": t, "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": False, "special": True} for t in SPECIAL_TOKENS]
        model_vocab = {t: i for t, i in self.vocab.items() if t not in SPECIAL_TOKENS}
        bos = SPECIAL_TOKENS[1]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                              "use_regex": True},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos: {"id": bos, "ids": [self.vocab[bos]], "tokens": [bos]}},
            },
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                        "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": model_vocab,
                      "merges": [f"{a} {b}" for a, b in self.merges]},
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_hf_json(), f, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        tok = cls(merges)
        assert tok.vocab_size == len(j["model"]["vocab"]) + len(j["added_tokens"]), "vocab mismatch"
        return tok


def build(seed: int = 1234, count: int = 5000, num_merges: int = 400) -> Tokenizer:
    import world
    texts = list(world.corpus(seed, count))
    return Tokenizer(train(texts, num_merges))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tokenizer.json")
    ap.add_argument("--merges", type=int, default=400)
    ap.add_argument("--count", type=int, default=5000, help="examples of text to train on")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    tok = build(a.seed, a.count, a.merges)
    tok.save(a.out)
    print(f"vocab {tok.vocab_size} ({len(tok.merges)} merges) -> {a.out}")


if __name__ == "__main__":
    main()
