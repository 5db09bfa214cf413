"""Writes a PyTorch memory snapshot pickle, without CUDA, from one iteration of a recorded allocation log.

    /usr/bin/python3 scripts/pytorch/snapshot-fixture.py [--expandable] datasets/pytorch/alexnet-b2-96.log.gz 2 OUT.pickle

A real snapshot needs a CUDA build of PyTorch (torch.cuda.memory._dump_snapshot). This one is written by Python's
pickle in the structure torch/cuda/memory.py documents for `_snapshot()`:

    {"segments": [Segment], "device_traces": [[TraceEntry]]}      (one device)

from the requests of iteration K of the log, served by a simulation of PyTorch's CUDA caching allocator with its
default settings (the `torch-pool` rules of docs/cli.md, written here again, independently of pgmo's CachingPool):
the blocks live when the iteration begins are allocated first, before the trace; then each
alloc of the iteration is an `alloc` entry (with `segment_alloc` before it when it needs a new segment) and each
free is `free_requested` followed by `free_completed`. With --expandable the simulated allocator is PyTorch's with
`expandable_segments:True` (ExpandableAllocator, written here again, independently of pgmo's CachingPool), whose
page mappings are `segment_map` entries and whose `segments` are its contiguous mapped ranges. Addresses are the
simulation's (segments at made-up device addresses), not the log's; sizes are the log's requests. `segments` is the
state after the iteration.
"""
import gzip
import os
import pickle
import sys

MIB = 1 << 20


def read_log(path):
    opener = gzip.open if path.endswith(".gz") else open
    events = []
    with opener(path, "rt") as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "alloc":
                events.append(("alloc", int(words[1], 0), int(words[2])))
            elif words[0] == "free":
                events.append(("free", int(words[1], 0), 0))
            elif words == ["iteration"]:
                events.append(("iteration", 0, 0))
            else:
                raise SystemExit(f"{path}: bad line {line!r}")
    return events


class CachingAllocator:
    """PyTorch's default caching allocator: 512 B rounding, a small pool (<= 1 MiB, 2 MiB segments) and a large pool
    (20 MiB segments below 10 MiB, else the size rounded up to 2 MiB), best fit by (size, address), split when the
    rest is >= 512 B (small) or > 1 MiB (large), free blocks merged with free neighbours, segments never released."""

    def __init__(self):
        self.segments = []   # [address, size, small, blocks]; blocks: list of [address, size, requested or None]
        self.next_address = 0x7F0000000000
        self.trace = []

    def alloc(self, requested, record):
        size = max(512, (requested + 511) // 512 * 512)
        small = size <= MIB
        best = None
        for seg in self.segments:
            if seg[2] != small:
                continue
            for k, b in enumerate(seg[3]):
                if b[2] is None and b[1] >= size and (best is None or (b[1], b[0]) < (best[1][1], best[1][0])):
                    best = (seg, b, k)
        if best is None:
            total = 2 * MIB if small else (20 * MIB if size < 10 * MIB else (size + 2 * MIB - 1) // (2 * MIB) * (2 * MIB))
            seg = [self.next_address, total, small, [[self.next_address, total, None]]]
            self.next_address += (total + (1 << 30) - 1) // (1 << 30) * (1 << 30) + (1 << 30)
            self.segments.append(seg)
            if record:
                self.trace.append({"action": "segment_alloc", "addr": seg[0], "size": total, "stream": 0, "frames": []})
            best = (seg, seg[3][0], 0)
        seg, b, k = best
        rest = b[1] - size
        if (rest >= 512) if small else (rest > MIB):
            seg[3].insert(k + 1, [b[0] + size, rest, None])
            b[1] = size
        b[2] = requested
        if record:
            self.trace.append({"action": "alloc", "addr": b[0], "size": requested, "stream": 0, "frames": []})
        return b[0]

    def free(self, address, record):
        for seg in self.segments:
            for k, b in enumerate(seg[3]):
                if b[0] == address and b[2] is not None:
                    if record:
                        for action in ("free_requested", "free_completed"):
                            self.trace.append({"action": action, "addr": address, "size": b[2], "stream": 0, "frames": []})
                    b[2] = None
                    blocks = seg[3]
                    if k + 1 < len(blocks) and blocks[k + 1][2] is None:
                        b[1] += blocks.pop(k + 1)[1]
                    if k > 0 and blocks[k - 1][2] is None:
                        blocks[k - 1][1] += blocks.pop(k)[1]
                    return
        raise SystemExit(f"free of 0x{address:x}, which the simulation does not hold")

    def snapshot(self):
        segments = []
        for address, total, small, blocks in self.segments:
            allocated = sum(b[1] for b in blocks if b[2] is not None)
            segments.append({
                "device": 0, "address": address, "total_size": total, "stream": 0,
                "segment_type": "small" if small else "large", "segment_pool_id": (0, 0),
                "allocated_size": allocated, "active_size": allocated,
                "blocks": [{"address": b[0], "size": b[1], "requested_size": b[2] or 0,
                            "state": "active_allocated" if b[2] is not None else "inactive", "frames": []}
                           for b in blocks],
            })
        return {"segments": segments, "device_traces": [self.trace]}


FREE, UNMAPPED = -1, -2


class ExpandableAllocator:
    """The same allocator with expandable_segments:True (c10/cuda/CUDACachingAllocator.cpp, Note [Expandable
    Segments]): per pool one virtual segment, mapped in 2 MiB (small pool) or 20 MiB (large pool) pages; best fit by
    (size, address) among the free mapped blocks, passing over one next to unmapped space while the next larger one
    could hand out less; else pages are mapped at the lowest unmapped range whose run (with the free block before it)
    holds the request, only as many as it lacks; every rest of 512 B or more is split off. Nothing is unmapped here."""

    def __init__(self):
        # per pool: the segment's base address and its chunks [address, size, owner] in address order
        self.pools = {True: [1 << 58, [[1 << 58, (2 * MIB) << 35, UNMAPPED]]],
                      False: [1 << 60, [[1 << 60, (20 * MIB) << 35, UNMAPPED]]]}
        self.trace = []
        self.next_id = 0

    def alloc(self, requested, record):
        size = max(512, (requested + 511) // 512 * 512)
        small = size <= MIB
        page = 2 * MIB if small else 20 * MIB
        chunks = self.pools[small][1]

        def can_grow(k):
            return chunks[k][1] + (chunks[k + 1][1] if k + 1 < len(chunks) and chunks[k + 1][2] == UNMAPPED else 0)

        fits = sorted((c[1], c[0], k) for k, c in enumerate(chunks) if c[2] == FREE and c[1] >= size)
        if fits:
            k = fits[0][2]
            for _, _, j in fits[1:]:
                if can_grow(j) < can_grow(k):
                    k = j
                else:
                    break
        else:
            for u, c in enumerate(chunks):
                if c[2] != UNMAPPED:
                    continue
                start = u - 1 if u > 0 and chunks[u - 1][2] == FREE else u
                total, j = 0, start
                while total < size and j < len(chunks) and chunks[j][2] < 0:
                    total += chunks[j][1]
                    j += 1
                if total >= size:
                    break
            total, j = 0, start
            while total < size:
                c = chunks[j]
                if c[2] == UNMAPPED:
                    take = (min(c[1], size - total) + page - 1) // page * page
                    if take < c[1]:
                        chunks.insert(j + 1, [c[0] + take, c[1] - take, UNMAPPED])
                        c[1] = take
                    c[2] = FREE
                    if record:
                        self.trace.append({"action": "segment_map", "addr": c[0], "size": take, "stream": 0, "frames": []})
                total += c[1]
                j += 1
            # merge the run into one free block
            while start + 1 < len(chunks) and chunks[start][2] == FREE and chunks[start + 1][2] == FREE:
                chunks[start][1] += chunks.pop(start + 1)[1]
            k = start
        c = chunks[k]
        if c[1] - size >= 512:
            chunks.insert(k + 1, [c[0] + size, c[1] - size, FREE])
            c[1] = size
        self.next_id += 1
        c[2] = self.next_id
        c.append(requested)
        if record:
            self.trace.append({"action": "alloc", "addr": c[0], "size": requested, "stream": 0, "frames": []})
        return c[0]

    def free(self, address, record):
        for small in (True, False):
            chunks = self.pools[small][1]
            for k, c in enumerate(chunks):
                if c[0] == address and c[2] >= 0:
                    if record:
                        for action in ("free_requested", "free_completed"):
                            self.trace.append({"action": action, "addr": address, "size": c[3], "stream": 0, "frames": []})
                    del c[3:]
                    c[2] = FREE
                    if k + 1 < len(chunks) and chunks[k + 1][2] == FREE:
                        c[1] += chunks.pop(k + 1)[1]
                    if k > 0 and chunks[k - 1][2] == FREE:
                        chunks[k - 1][1] += chunks.pop(k)[1]
                    return
        raise SystemExit(f"free of 0x{address:x}, which the simulation does not hold")

    def snapshot(self):
        # one segment per contiguous mapped range, as torch.cuda.memory._snapshot() reports expandable segments
        segments = []
        for small in (True, False):
            run = []
            for c in self.pools[small][1] + [[0, 0, UNMAPPED]]:
                if c[2] != UNMAPPED:
                    run.append(c)
                    continue
                if run:
                    segments.append({
                        "device": 0, "address": run[0][0], "total_size": sum(b[1] for b in run), "stream": 0,
                        "segment_type": "small" if small else "large", "segment_pool_id": (0, 0), "is_expandable": True,
                        "allocated_size": sum(b[1] for b in run if b[2] >= 0), "active_size": sum(b[1] for b in run if b[2] >= 0),
                        "blocks": [{"address": b[0], "size": b[1], "requested_size": b[3] if b[2] >= 0 else 0,
                                    "state": "active_allocated" if b[2] >= 0 else "inactive", "frames": []} for b in run],
                    })
                run = []
        return {"segments": segments, "device_traces": [self.trace]}


def main():
    args = [a for a in sys.argv[1:] if a != "--expandable"]
    if len(args) != 3:
        raise SystemExit("usage: snapshot-fixture.py [--expandable] LOG ITERATION OUT.pickle")
    path, k, out = args[0], int(args[1]), args[2]
    expandable = "--expandable" in sys.argv
    events = read_log(path)
    marks = [i for i, e in enumerate(events) if e[0] == "iteration"]
    first = marks[k - 1] + 1
    last = marks[k] if k < len(marks) else len(events)
    live = {}
    for action, address, size in events[:first]:
        if action == "alloc":
            live[address] = size
        elif action == "free":
            live.pop(address, None)
    # the blocks live when the iteration begins, allocated before the trace in the order pgmo's import lists them
    # (by the step they are freed at, then size, then address), so that the fixture's reserved bytes can be
    # compared with pgmo's torch-pool simulation of the imported problem
    freed_at = {}
    for i, (action, address, _) in enumerate(events[first:last]):
        if action == "free" and address in live and address not in freed_at:
            freed_at[address] = i
    allocator = ExpandableAllocator() if expandable else CachingAllocator()
    where = {}   # log address -> simulated address
    for address in sorted(live, key=lambda a: (freed_at.get(a, len(events)), live[a], a)):
        where[address] = allocator.alloc(live[address], record=False)
    for action, address, size in events[first:last]:
        if action == "alloc":
            where[address] = allocator.alloc(size, record=True)
        elif action == "free" and address in where:
            allocator.free(where.pop(address), record=True)
    with open(out + ".tmp", "wb") as f:
        pickle.dump(allocator.snapshot(), f, protocol=4)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
