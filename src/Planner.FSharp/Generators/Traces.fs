namespace Pgmo.Planner

/// Deterministic generators of DNN-like training traces (one iteration: forward, backward, optimizer step).
/// Pure: the same seed and shape always give the same problem. Sizes are multiples of 256 bytes, from 256 B to a
/// few MiB. Step 0 allocates the weights; layer i runs forward at step 1 + i and backward at step 1 + 2L - 1 - i
/// (L layers); the optimizer runs at step 1 + 2L; every buffer is freed by step 2 + 2L.
[<RequireQualifiedAccess>]
module Traces =

    let private kib = 1024L

    /// A size in bytes drawn uniformly between lo and hi bytes (inclusive), rounded to a multiple of 256, >= 256.
    let private draw (rng: System.Random) (lo: int64) (hi: int64) =
        let units = rng.NextInt64(max 1L (lo / 256L), max 1L (hi / 256L) + 1L)
        units * 256L

    /// A chain of `layers` layers, possibly with residual blocks of `block` layers (0 = none), as buffers.
    let private build (seed: int) (layers: int) (block: int) : Problem =
        if layers < 1 then invalidArg (nameof layers) "at least one layer"
        let rng = System.Random(seed)
        let l = int64 layers
        let fwd i = 1L + int64 i
        let bwd i = 1L + 2L * l - 1L - int64 i
        let finish = 2L + 2L * l
        let buffers = ResizeArray<Buffer>(6 * layers)
        let add (name: string) (i: int) start stop size =
            buffers.Add(Buffer.create (string i + "." + name) start stop size)
        // activation sizes shrink and grow like feature maps: a few MiB down to KiB
        let act = Array.init layers (fun _ -> draw rng (16L * kib) (4096L * kib))
        for i in 0 .. layers - 1 do
            add "weight" i 0L finish (draw rng (1L * kib) (1024L * kib))
        for i in 0 .. layers - 1 do
            // the output activation is kept for the backward pass of this layer
            add "activation" i (fwd i) (bwd i + 1L) act.[i]
            if rng.Next(2) = 0 then add "workspace" i (fwd i) (fwd i + 1L) (draw rng (1L * kib) (2048L * kib))
            // a residual block ends at layer i: the sum output, kept until its own backward
            if block > 0 && i % block = block - 1 && i >= block then
                add "residual" i (fwd i) (bwd i + 1L) act.[i]
        add "loss" 0 (fwd (layers - 1)) (bwd (layers - 1) + 1L) 256L
        for i in layers - 1 .. -1 .. 0 do
            // the gradient of the layer's input lives until the next backward op consumed it
            add "grad" i (bwd i) (min finish (bwd i + 2L)) act.[max 0 (i - 1)]
            if rng.Next(2) = 0 then add "bworkspace" i (bwd i) (bwd i + 1L) (draw rng (1L * kib) (2048L * kib))
            add "wgrad" i (bwd i) finish (draw rng (1L * kib) (1024L * kib))
            // the skip connection's gradient waits from the block's end to the block's input
            if block > 0 && i % block = block - 1 && i >= block then
                add "skipgrad" i (bwd i) (bwd (i - block + 1) + 1L) act.[i - block]
        Problem.ofBuffers buffers

    /// A plain chain of `layers` layers: weights and weight gradients alive to the end, activations until their
    /// backward use, short-lived input gradients and (for half the layers) workspaces. About 5 buffers per layer.
    let chain (seed: int) (layers: int) : Problem = build seed layers 0

    /// A residual network: the chain plus, every `block` layers (block >= 1), a residual sum kept until its backward
    /// use and a skip gradient alive across the block's backward pass. About 5 + 2 / block buffers per layer.
    let residual (seed: int) (layers: int) (block: int) : Problem =
        if block < 1 then invalidArg (nameof block) "a block has at least one layer"
        build seed layers block

    /// A chain with about `buffers` buffers (at least one layer), for benchmarks by size.
    let chainOfSize (seed: int) (buffers: int) : Problem = chain seed (max 1 (buffers / 5))

    /// The same problem with a one-step gap without window (the buffer frees its bytes on that step) in about
    /// `share` of its buffers: each buffer whose lifetime spans at least three steps gets, with probability `share`
    /// times the buffers per such buffer, the gap [s, s + 1) at a step s strictly inside its lifetime. Deterministic
    /// given the seed. `withGaps 1 0.15 (chainOfSize 1 100000)` has 15,019 gapped buffers of 99,946.
    let withGaps (seed: int) (share: float) (problem: Problem) : Problem =
        let rng = System.Random(seed)
        let bs = problem.Buffers
        let eligible = bs |> Array.filter (fun b -> b.Lifetime.End - b.Lifetime.Start >= 3L) |> Array.length
        let chance = if eligible = 0 then 0.0 else share * float bs.Length / float eligible
        Problem.ofBuffers (bs |> Array.map (fun b ->
            if b.Lifetime.End - b.Lifetime.Start >= 3L && rng.NextDouble() < chance then
                let s = rng.NextInt64(b.Lifetime.Start + 1L, b.Lifetime.End - 1L)
                { b with Gaps = [| { Steps = { Start = s; End = s + 1L }; Window = None } |] }
            else b))
