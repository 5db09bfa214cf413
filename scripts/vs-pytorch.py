#!/usr/bin/python3
"""pgmo against PyTorch on this CPU, side by side in one run: writes docs/vs-pytorch.md.

For each of torchvision's five networks (alexnet, vgg16, googlenet, resnet50, inception3), at batch 2 with 96x96
inputs and at batch 8 with 224x224, for a training step and for inference, it runs pgmo and PyTorch alternately
(the order flips every round, so both see the same machine load), each as its own process with the same thread
count, and compares the same statistic: the median of the warm steps (every step after the first of a process).

  pgmo:    pgmo train --model M --batch B --image-size S --steps K+1 --allocator planned --op-times --json
           pgmo infer --model M --batch B --image-size S --steps K --allocator planned --op-times --json
           with DOTNET_PROCESSOR_COUNT=N (the host kernels use that many threads)
  PyTorch: scripts/pytorch-steps.py (Debian's python3-torch, torch.set_num_threads(N), OMP_NUM_THREADS=N), with the
           system BLAS and, when libopenblas0-pthread is installed, also with OpenBLAS (LD_LIBRARY_PATH, no system change)

The ratio is pgmo / PyTorch (below 1: pgmo is faster). Every cell where pgmo is slower gets pgmo's op-times table.
Needs a Release build of pgmo (dotnet build -c Release src/Runtime.CSharp). Never run in CI.

    /usr/bin/python3 scripts/vs-pytorch.py                      # the whole table (about an hour on 2 busy cores)
    /usr/bin/python3 scripts/vs-pytorch.py --models resnet50 --configs 2x96 --modes train --rounds 1 --out /tmp/x.md
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGMO = os.path.join(ROOT, "src", "Runtime.CSharp", "bin", "Release", "net10.0", "pgmo")
TORCH = [sys.executable, os.path.join(ROOT, "scripts", "pytorch-steps.py")]
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
MODELS = ["alexnet", "vgg16", "googlenet", "resnet50", "inception3"]

# Why the cells that miss miss, and what each speed change gave: kept here so that the generated page carries them.
NOTES = """\
## Notes

- **What is compared.** pgmo builds the networks from their published architectures (`pgmo models`); PyTorch runs
  torchvision's definitions. GoogLeNet differs: torchvision's has batch norm after every convolution, pgmo's follows
  the paper (no batch norm), so PyTorch does more work there. Neither side has auxiliary heads.
- **PyTorch's libraries.** Convolutions run in oneDNN (MKL-DNN 2.6.3, JIT-compiled AVX2 direct convolutions) and the
  fully connected layers in the system BLAS: Debian's reference netlib BLAS unless another alternative is selected
  (the header names the library the process loaded). With netlib, AlexNet's and VGG-16's classifiers are slow in
  PyTorch; the OpenBLAS column shows PyTorch with an optimized BLAS, which is the fair baseline for those two. Where
  OpenBLAS is already the system BLAS (after `apt-get install libopenblas0-pthread`, the header then names
  `openblas-pthread`), `--openblas no` leaves the second column out: it would load the same library.
- **Where pgmo is still slower** (the quiet run of 2026-12-07: alexnet at batch 8, 224 px, and resnet50 and
  inception3 at batch 2, 96 px, all three inference, 1.14-1.30x). These are the cells with the least work per op:
  a batch-2 inference step of ResNet-50 or Inception-v3 is 53 or 94 convolutions of 20-30 ms in all, and there the
  convolution is the gap. pgmo lowers each convolution to im2col and a GEMM: the im2col copy is 18-31 % of those
  steps (the op-times tables above), and its GEMMs at these shapes (a few hundred output positions per sample) reach
  48-125 GFLOP/s, where the host GEMM reaches 117+ at 512^3. oneDNN's direct convolutions read the input in place
  and need no copy. AlexNet at batch 8 is close to the line (115 against 99 ms here; 84 ms in an earlier run at
  load 2): its first convolution (11x11, stride 4) has the largest im2col of the five networks per output, and its
  classifier reads 233 MB of weights per batch either way. Every training cell, and inference at batch 8 for the
  other four networks, is at or below PyTorch. Closing the last cells needs a direct (im2col-free) convolution for
  small spatial sizes, or an implicit-GEMM packing of the input inside the GEMM; not done yet.
- **pgmo's CPU path.** Every op is vectorized host code over the CPU accelerator's memory, on as many threads as
  `DOTNET_PROCESSOR_COUNT` says; a convolution is im2col and GEMMs in tiles of whole samples within its 8 MiB
  workspace (the GEMM lays the samples of a tile side by side), its backward pass recomputes the columns.
- See docs/speed-notes.md for what each change measured.
"""


def sh(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r.stdout


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def has_infer():
    """True when this build of pgmo has the infer command (`pgmo --help` lists it)."""
    listing = subprocess.run([PGMO, "--help"], capture_output=True, text=True).stdout
    return any(line.split()[:1] == ["infer"] for line in listing.splitlines())


def run_pgmo(model, batch, size, mode, steps, threads):
    env = dict(os.environ, DOTNET_PROCESSOR_COUNT=str(threads))
    common = ["--model", model, "--batch", str(batch), "--image-size", str(size), "--allocator", "planned",
              "--accelerator", "cpu", "--op-times", "--json"]
    if mode == "train":
        j = last_json(sh([PGMO, "train", *common, "--steps", str(steps + 1)], env))
    else:
        j = last_json(sh([PGMO, "infer", *common, "--steps", str(steps)], env))
    return j["opTimes"]["stepTimes"], j["opTimes"]


def run_torch(model, batch, size, mode, steps, threads, blas_dir=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if blas_dir:
        env["LD_LIBRARY_PATH"] = blas_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    j = last_json(sh([*TORCH, "--models", model, "--batch", str(batch), "--image-size", str(size), "--mode", mode,
                      "--threads", str(threads), "--steps", str(steps), "--warmup", "1"], env))
    return j["stepTimes"], j


def uptime():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def ms(v):
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"


def op_table(op):
    lines = ["| op | calls | forward | backward | other | total | share | GEMM GFLOP/s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    parts = op.get("parts", [])
    for r in op["rows"]:
        g = f"{r['gflops']:.1f}" if r.get("gflops") else ""
        lines.append(f"| {r['op']} | {r['calls']:g} | {ms(r['forwardMillis'])} | {ms(r['backwardMillis'])} | {ms(r['otherMillis'])} | {ms(r['totalMillis'])} | {100 * r['share']:.1f} % | {g} |")
        for p in parts:
            if p["part"].startswith(r["op"] + ": "):
                lines.append(f"| &nbsp;&nbsp;· {p['part'][len(r['op']) + 2:]} | {p['calls']:g} | {ms(p['forwardMillis'])} | {ms(p['backwardMillis'])} | | {ms(p['totalMillis'])} | {100 * p['share']:.1f} % | |")
    lines.append(f"| step (mean of {op['steps']}) | | | | | {ms(op['stepMillis'])} | 100 % | |")
    return "\n".join(lines)


def why(op):
    """One sentence from the op-times: the largest op, its share and its GEMM speed."""
    top = op["rows"][0]
    g = f" at {top['gflops']:.0f} GFLOP/s" if top.get("gflops") else ""
    parts = [p for p in op.get("parts", []) if p["part"].startswith(top["op"] + ": ")]
    detail = ""
    if parts:
        big = max(parts, key=lambda p: p["totalMillis"])
        detail = f"; its largest part is {big['part'][len(top['op']) + 2:]} ({100 * big['share']:.0f} % of the step)"
    return f"{top['op']} takes {100 * top['share']:.0f} % of pgmo's step{g}{detail}."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--configs", default="2x96,8x224", help="batch x image size, comma-separated")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="warm steps timed per process")
    ap.add_argument("--rounds", type=int, default=2, help="processes per side and cell, order alternating")
    ap.add_argument("--openblas", choices=["auto", "yes", "no"], default="auto", help="also time PyTorch with OpenBLAS (auto: when installed)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "vs-pytorch.md"))
    a = ap.parse_args()
    if not os.path.exists(PGMO):
        sys.exit(f"vs-pytorch.py: {PGMO} not found: run `dotnet build -c Release src/Runtime.CSharp` first")
    openblas = a.openblas == "yes" or (a.openblas == "auto" and os.path.isdir(OPENBLAS))
    modes = a.modes.split(",")
    infer = has_infer()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    loads = [uptime()]
    started = datetime.datetime.now(datetime.timezone.utc)
    cells, torch_info = [], {}
    for model in a.models.split(","):
        for cfg in a.configs.split(","):
            batch, size = (int(v) for v in cfg.split("x"))
            for mode in modes:
                if mode == "infer" and not infer:
                    cells.append(dict(model=model, batch=batch, size=size, mode=mode, missing="`pgmo infer` is not in this build"))
                    continue
                pg, pt, pto, op = [], [], [], None
                for r in range(a.rounds):
                    sides = ["pgmo", "torch", "openblas"] if openblas else ["pgmo", "torch"]
                    for side in (sides if r % 2 == 0 else sides[::-1]):
                        print(f"  {model} batch {batch} {size}px {mode} round {r + 1}: {side}  (load {uptime()})", file=sys.stderr, flush=True)
                        if side == "pgmo":
                            t, op = run_pgmo(model, batch, size, mode, a.steps, a.threads)
                            pg += t
                        elif side == "torch":
                            t, info = run_torch(model, batch, size, mode, a.steps, a.threads)
                            pt += t
                            torch_info["system"] = info
                        else:
                            t, info = run_torch(model, batch, size, mode, a.steps, a.threads, OPENBLAS)
                            pto += t
                            torch_info["openblas"] = info
                loads.append(uptime())
                cells.append(dict(model=model, batch=batch, size=size, mode=mode, pgmo=statistics.median(pg),
                                  torch=statistics.median(pt), openblas=statistics.median(pto) if pto else None, op=op))
    finished = datetime.datetime.now(datetime.timezone.utc)
    out = []
    out.append("# pgmo against PyTorch on the CPU\n")
    out.append(f"Written by `/usr/bin/python3 scripts/vs-pytorch.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
               f"from commit {commit}{' (with uncommitted changes)' if dirty else ''}, {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC.\n")
    out.append(f"- Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}.")
    out.append(f"- Load (1, 5, 15-minute averages from /proc/loadavg) at the start, after each cell: {'; '.join(loads)}. "
               "The cores are shared: a load above the core count slows both sides, and PyTorch's OpenMP threads, which "
               "spin at their barriers, more than pgmo's.")
    out.append(f"- Threads: {a.threads} on both sides (pgmo: `DOTNET_PROCESSOR_COUNT={a.threads}`; PyTorch: `torch.set_num_threads({a.threads})`, "
               f"`OMP_NUM_THREADS={a.threads}`).")
    if "system" in torch_info:
        ti = torch_info["system"]
        out.append(f"- PyTorch {ti['version']}, oneDNN {'on' if ti['mkldnn'] else 'off'} (convolutions); BLAS (linear layers): `{ti['blas']}`"
                   + (f"; the OpenBLAS column: `{torch_info['openblas']['blas']}`" if "openblas" in torch_info else "") + ".")
    out.append(f"- Statistic: the median of the warm steps, {a.steps} per process (after one untimed step), {a.rounds} processes per side and cell, "
               "the order of the sides alternating. pgmo trains with the planned allocator and 8 MiB convolution workspaces.")
    out.append("")
    head = "| network | batch, size | step | pgmo | PyTorch | pgmo / PyTorch |" + (" PyTorch + OpenBLAS | pgmo / that |" if openblas else "")
    out.append(head)
    out.append("|---|---|---|---:|---:|---:|" + ("---:|---:|" if openblas else ""))
    for c in cells:
        label = f"| {c['model']} | {c['batch']}, {c['size']} px | {'training' if c['mode'] == 'train' else 'inference'} |"
        if "missing" in c:
            out.append(label + f" n/a | | {c['missing']} |" + (" | |" if openblas else ""))
            continue
        row = label + f" {ms(c['pgmo'])} | {ms(c['torch'])} | **{c['pgmo'] / c['torch']:.2f}** |"
        if openblas:
            row += f" {ms(c['openblas'])} | **{c['pgmo'] / c['openblas']:.2f}** |"
        out.append(row)
    missed = [c for c in cells if "missing" not in c and (c["pgmo"] > c["torch"] or (c["openblas"] and c["pgmo"] > c["openblas"]))]
    out.append("")
    if missed:
        out.append("## Where pgmo is slower: its op times\n")
        out.append("Milliseconds per step of each op kind (`--op-times`, the mean of the warm steps of the last pgmo process), "
                   "with the parts of a convolution below it.\n")
        for c in missed:
            base = min(x for x in (c["torch"], c["openblas"]) if x)
            out.append(f"### {c['model']}, batch {c['batch']}, {c['size']} px, {'training' if c['mode'] == 'train' else 'inference'}: "
                       f"{c['pgmo'] / base:.2f}× PyTorch\n")
            out.append(why(c["op"]) + "\n")
            out.append(op_table(c["op"]) + "\n")
    out.append(NOTES)
    text = "\n".join(out) + "\n"
    tmp = f"{a.out}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)
    print(text)


if __name__ == "__main__":
    main()
