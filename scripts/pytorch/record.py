"""Trains a network for a few steps under the alloc-log.so shim and marks each step in the allocation log.

Run through record-all.sh (which preloads the shim), or by hand:

    PGMO_ALLOC_LOG=out.log LD_PRELOAD=scripts/pytorch/alloc-log.so /usr/bin/python3 scripts/pytorch/record.py \
        --model resnet50 --batch 2 --size 96

One step = the input batch made, zero_grad(set_to_none=True), forward, cross-entropy, backward and an SGD step
(momentum 0.9, weight decay 5e-4): the same iteration pgmo's runtime traces. Each step starts with an `iteration`
line; the log is closed right after the last step, so `pgmo import LOG --iteration K` keeps step K (step 1 is the
warm-up: it creates the momentum buffers and PyTorch's lazy state).
"""
import argparse
import ctypes
import platform
import sys

import torch
import torch.nn as nn
import torchvision

log = ctypes.CDLL(None)
if not hasattr(log, "pgmo_log_mark"):
    sys.exit("record.py: the alloc-log.so shim is not preloaded (LD_PRELOAD=scripts/pytorch/alloc-log.so)")


def note(text: str) -> None:
    log.pgmo_log_mark(text.encode())


class Gpt(nn.Module):
    """A GPT-style decoder: token and position embeddings, pre-norm TransformerEncoder layers under a causal mask,
    a final LayerNorm and a linear head over the vocabulary."""

    def __init__(self, vocab: int, width: int, heads: int, layers: int, context: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=0.1,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        mask = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        x = self.tokens(ids) + self.positions(torch.arange(n))
        return self.head(self.norm(self.blocks(x, mask=mask)))


GPT_SIZES = {
    # name: (vocab, width, heads, layers)
    "gpt-small": (1000, 128, 4, 2),
    "gpt-medium": (4000, 256, 8, 4),
}


def build(model: str, size: int) -> nn.Module:
    m = torchvision.models
    if model == "alexnet":
        return m.alexnet(weights=None)
    if model == "vgg16":
        return m.vgg16(weights=None)
    if model == "googlenet":
        # as pgmo's GoogLeNet: no auxiliary heads
        return m.googlenet(weights=None, aux_logits=False, init_weights=True)
    if model == "resnet50":
        return m.resnet50(weights=None)
    if model == "inception_v3":
        # as pgmo's Inception-v3: without the auxiliary classifier
        return m.inception_v3(weights=None, aux_logits=False, init_weights=True)
    if model in GPT_SIZES:
        vocab, width, heads, layers = GPT_SIZES[model]
        return Gpt(vocab, width, heads, layers, size)
    raise SystemExit(f"record.py: unknown model {model}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--size", type=int, required=True, help="image side in pixels, or context length in tokens")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    note(f"command: record.py --model {args.model} --batch {args.batch} --size {args.size} --steps {args.steps}")
    note(f"torch {torch.__version__}, torchvision {torchvision.__version__}, python {platform.python_version()}, "
         f"{torch.get_num_threads()} threads, {platform.machine()}")
    model = build(args.model, args.size)
    model.train()
    gpt = args.model in GPT_SIZES
    vocab = GPT_SIZES[args.model][0] if gpt else 1000
    params = sum(p.numel() for p in model.parameters())
    note(f"model built: {params} parameters")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(1, args.steps + 1):
        log.pgmo_log_mark(None)
        note(f"step {step}")
        if gpt:
            ids = torch.randint(0, vocab, (args.batch, args.size + 1))
            inputs, targets = ids[:, :-1], ids[:, 1:]
        else:
            inputs = torch.randn(args.batch, 3, args.size, args.size)
            targets = torch.randint(0, vocab, (args.batch,))
        optimizer.zero_grad(set_to_none=True)
        out = model(inputs)
        if gpt:
            loss = loss_fn(out.reshape(-1, vocab), targets.reshape(-1))
        else:
            loss = loss_fn(out, targets)
        loss.backward()
        optimizer.step()
        del inputs, targets, out, loss
        if gpt:
            del ids
    log.pgmo_log_stop()


if __name__ == "__main__":
    main()
