"""The encoder candidate of scripts/safety_model.py: all-MiniLM-L6-v2 embeddings beside hashed n-grams, measured, never shipped.

Reads a local sentence-transformers folder (config.json, model.safetensors,
tokenizer.json) with transformers, local files only, safetensors only; no hub
and no remote code. Imported only with ``--encoder``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Encoder:
    """A small sentence encoder's embeddings beside the hashed n-grams: measured, not shipped (see --encoder)."""

    name = "hashed n-grams 2^18 + all-MiniLM-L6-v2 embeddings"

    def __init__(self, folder: Path, hashed) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(2)
        self.torch, self.folder, self.hashed = torch, folder, hashed
        # a local folder of safetensors weights; no hub, no remote code
        self.tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True).eval()
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts, batch: int = 32) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self.cache}, key=len)
        with self.torch.inference_mode():
            for i in range(0, len(todo), batch):
                part = todo[i:i + batch]
                enc = self.tok(part, padding=True, truncation=True, max_length=256, return_tensors="pt")
                mask = enc["attention_mask"].unsqueeze(-1).float()
                mean = (self.model(**enc).last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                for text, v in zip(part, self.torch.nn.functional.normalize(mean, dim=-1).numpy()):
                    self.cache[text] = v
        return np.stack([self.cache[t] for t in texts])

    def fit(self, texts):
        from scipy.sparse import csr_matrix, hstack

        return hstack([self.hashed.fit(texts), csr_matrix(self.embed(texts))]).tocsr()

    def transform(self, texts):
        from scipy.sparse import csr_matrix, hstack

        return hstack([self.hashed.transform(texts), csr_matrix(self.embed(texts))]).tocsr()

    def file_bytes(self, n_classes: int) -> int:
        return (self.folder / "model.safetensors").stat().st_size + self.hashed.file_bytes(n_classes)
