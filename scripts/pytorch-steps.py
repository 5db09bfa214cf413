#!/usr/bin/python3
"""Step times of torchvision's networks in PyTorch on the CPU: the baseline pgmo is timed against.

Runs with Debian's python3-torch and python3-torchvision (/usr/bin/python3; never in CI). For each network it times
a training step (forward, cross-entropy, backward, SGD with momentum 0.9 and weight decay 1e-4, gradients set to
None) or an inference step (eval mode, torch.inference_mode), on seeded random inputs and labels, after warm-up
steps, and prints one JSON object per network and mode: the per-step milliseconds, their median, the thread count,
and which BLAS and convolution backend this torch uses.

    /usr/bin/python3 scripts/pytorch-steps.py --models resnet50 --batch 2 --image-size 96 --threads 2 --mode train
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torchvision

NETWORKS = {
    # pgmo's names -> torchvision constructors (no auxiliary heads, as pgmo's networks have none)
    "alexnet": lambda: torchvision.models.alexnet(),
    "vgg16": lambda: torchvision.models.vgg16(),
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True),
    "resnet50": lambda: torchvision.models.resnet50(),
    "inception3": lambda: torchvision.models.inception_v3(aux_logits=False, init_weights=True),
}


def blas_name():
    """The BLAS library torch's linear layers call: the one the dynamic linker resolved for libblas.so.3."""
    try:
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps if line.split()[-1].startswith("/") and "blas" in os.path.basename(line.split()[-1])}
        return ", ".join(sorted(libs)) or "unknown"
    except OSError:
        return "unknown"


def time_steps(model, batch, size, mode, steps, warmup, seed):
    torch.manual_seed(seed)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    times = []
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss()
        for i in range(warmup + steps):
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            float(loss)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    else:
        model.eval()
        with torch.inference_mode():
            for i in range(warmup + steps):
                start = time.perf_counter()
                model(x).sum().item()
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1000)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(NETWORKS), help="comma-separated: " + ", ".join(NETWORKS))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (torch.get_num_threads() is 1 here unless set)")
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.models.split(","):
        if name not in NETWORKS:
            print(f"pytorch-steps.py: unknown model '{name}' (known: {', '.join(NETWORKS)})", file=sys.stderr)
            sys.exit(2)
        torch.manual_seed(a.seed)
        model = NETWORKS[name]()
        times = time_steps(model, a.batch, a.image_size, a.mode, a.steps, a.warmup, a.seed)
        print(json.dumps({
            "framework": "pytorch", "version": torch.__version__, "model": name, "mode": a.mode, "batch": a.batch,
            "imageSize": a.image_size, "threads": torch.get_num_threads(), "stepTimes": times,
            "medianStepMillis": statistics.median(times), "blas": blas_name(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        }), flush=True)


if __name__ == "__main__":
    main()
