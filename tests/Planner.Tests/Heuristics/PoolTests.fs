module Pgmo.Planner.Tests.PoolTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.PlacementTests

let private mib = 1024L * 1024L

/// The reference pools, written from the policy text alone (docs/cli.md): a plain list of chunks, searched and merged
/// naively. They define the semantics the incremental CachingPool (used by the planner and the runtime) must match:
/// same offsets, same reserved bytes.
let referencePool (policy: PoolPolicy) (events: MemoryEvent[]) : int64[] * int64 =
    let torch = (policy = PoolPolicy.Torch)
    // chunk: segment, offset inside it, size, owner (-1 = free)
    let chunks = ResizeArray<int * int64 * int64 * int>()
    let bases = ResizeArray<int64>()
    let small = ResizeArray<bool>()    // per segment: made for the small pool (PyTorch)
    let mutable reserved = 0L
    let offsets = Array.create events.Length -1L
    for e in 0 .. events.Length - 1 do
        match events.[e] with
        | Alloc (id, size) ->
            let need = max 512L ((size + 511L) / 512L * 512L)
            let isSmall = torch && need <= mib
            let candidates = [ for k in 0 .. chunks.Count - 1 do
                                let (s, o, l, owner) = chunks.[k]
                                if owner = -1 && l >= need && small.[s] = isSmall then (l, s, o, k) ]
            let (l, s, o, k) =
                match candidates with
                | [] ->
                    let bytes =
                        if not torch then need
                        elif isSmall then 2L * mib
                        elif need < 10L * mib then 20L * mib
                        else (need + 2L * mib - 1L) / (2L * mib) * (2L * mib)
                    bases.Add reserved
                    small.Add isSmall
                    reserved <- reserved + bytes
                    chunks.Add((bases.Count - 1, 0L, bytes, -1))
                    (bytes, bases.Count - 1, 0L, chunks.Count - 1)
                | _ -> List.min candidates
            let rest = l - need
            let split = if not torch then rest > 0L elif isSmall then rest >= 512L else rest > mib
            if split then
                chunks.[k] <- (s, o, need, id)
                chunks.Add((s, o + need, rest, -1))
            else chunks.[k] <- (s, o, l, id)
            offsets.[e] <- bases.[s] + o
        | Free id ->
            let k = chunks.FindIndex(fun (_, _, _, owner) -> owner = id)
            let (s, o, l, _) = chunks.[k]
            chunks.[k] <- (s, o, l, -1)
            // merge free neighbours until none are left
            let mutable merged = true
            while merged do
                merged <- false
                let free = chunks |> Seq.filter (fun (_, _, _, owner) -> owner = -1) |> Seq.toArray
                let pair =
                    free |> Array.tryPick (fun (s1, o1, l1, _) ->
                        free |> Array.tryPick (fun (s2, o2, l2, _) -> if s1 = s2 && o1 + l1 = o2 then Some((s1, o1, l1), (s2, o2, l2)) else None))
                match pair with
                | Some ((s1, o1, l1), (_, o2, l2)) ->
                    chunks.Remove((s1, o1, l1, -1)) |> ignore
                    chunks.Remove((s1, o2, l2, -1)) |> ignore
                    chunks.Add((s1, o1, l1 + l2, -1))
                    merged <- true
                | None -> ()
    offsets, reserved

/// A chunk of the reference expandable segments: its bytes and what holds them.
type private Piece = { mutable Size: int64; mutable Owner: int }   // Owner: a request id, -1 free, -2 unmapped

/// The reference torch-expandable pool, written from PyTorch's documented behaviour and its source (Note [Expandable
/// Segments], get_free_block, find_expandable_block, try_allocate_expandable_block) alone: per pool a list of segments,
/// each a list of pieces in address order, searched and merged naively. Offsets are virtual: segments laid end to end
/// in creation order, each as long as its highest mapped byte. Returns (offsets, most bytes mapped at once).
let referenceExpandable (events: MemoryEvent[]) : int64[] * int64 =
    let segments = ResizeArray<int * ResizeArray<Piece>>()   // (pool, pieces), in creation order
    let mutable mappedNow, mappedPeak = 0L, 0L
    let spans = ResizeArray<int64>()
    let at = Array.create events.Length (-1, 0L)                // (segment, offset inside it) of each alloc
    let offsetOf (pieces: ResizeArray<Piece>) k = Seq.sumBy (fun (p: Piece) -> p.Size) (Seq.take k pieces)
    let mergeFree (pieces: ResizeArray<Piece>) =
        let mutable k = 0
        while k + 1 < pieces.Count do
            if pieces.[k].Owner = pieces.[k + 1].Owner && pieces.[k].Owner < 0 then
                pieces.[k].Size <- pieces.[k].Size + pieces.[k + 1].Size
                pieces.RemoveAt(k + 1)
            else k <- k + 1
    for e in 0 .. events.Length - 1 do
        match events.[e] with
        | Alloc (id, size) ->
            let need = max 512L ((size + 511L) / 512L * 512L)
            let pool = if need <= mib then 0 else 1
            let page = if pool = 0 then 2L * mib else 20L * mib
            let expandableSize (pieces: ResizeArray<Piece>) k =
                pieces.[k].Size + (if k + 1 < pieces.Count && pieces.[k + 1].Owner = -2 then pieces.[k + 1].Size else 0L)
            // best fit by (size, segment, offset); a piece next to unmapped space is passed over while the next one
            // in that order could hand out less
            let fits =
                [ for s in 0 .. segments.Count - 1 do
                    let (p, pieces) = segments.[s]
                    if p = pool then
                        for k in 0 .. pieces.Count - 1 do
                            if pieces.[k].Owner = -1 && pieces.[k].Size >= need then yield (pieces.[k].Size, s, offsetOf pieces k), k ]
                |> List.sortBy fst
            let chosen =
                match fits with
                | [] -> None
                | first :: rest ->
                    let size (((_, s, _), k)) = expandableSize (snd segments.[s]) k
                    let mutable best = first
                    let mutable rest = rest
                    while not rest.IsEmpty && size rest.Head < size best do
                        best <- rest.Head
                        rest <- rest.Tail
                    let ((_, s, _), k) = best
                    Some (s, k)
            let chosen =
                match chosen with
                | Some c -> c
                | None ->
                    // the lowest unmapped piece whose run (from the free piece before it) of free and unmapped pieces
                    // holds the request; with none, a new segment
                    let runFrom (pieces: ResizeArray<Piece>) k =
                        let mutable j, total = k, 0L
                        while total < need && j < pieces.Count && pieces.[j].Owner < 0 do
                            total <- total + pieces.[j].Size
                            j <- j + 1
                        total >= need
                    let candidate () =
                        [ for s in 0 .. segments.Count - 1 do
                            let (p, pieces) = segments.[s]
                            if p = pool then
                                for k in 0 .. pieces.Count - 1 do
                                    if pieces.[k].Owner = -2 then
                                        let start = if k > 0 && pieces.[k - 1].Owner = -1 then k - 1 else k
                                        if runFrom pieces start then yield s, start ] |> List.tryHead
                    let s, start =
                        match candidate () with
                        | Some c -> c
                        | None ->
                            segments.Add((pool, ResizeArray [ { Size = page <<< 35; Owner = -2 } ]))
                            spans.Add 0L
                            (candidate ()).Value
                    let pieces = snd segments.[s]
                    // map whole pages, piece by piece along the run, until it holds the request
                    let mutable k, total = start, 0L
                    while total < need do
                        if pieces.[k].Owner = -1 then total <- total + pieces.[k].Size
                        else
                            let bytes = (min pieces.[k].Size (need - total) + page - 1L) / page * page
                            if bytes < pieces.[k].Size then pieces.Insert(k + 1, { Size = pieces.[k].Size - bytes; Owner = -2 })
                            pieces.[k].Size <- bytes
                            pieces.[k].Owner <- -1
                            mappedNow <- mappedNow + bytes
                            spans.[s] <- max spans.[s] (offsetOf pieces (k + 1))
                            total <- total + bytes
                        k <- k + 1
                    mergeFree pieces
                    s, start
            let s, k = chosen
            let pieces = snd segments.[s]
            let rest = pieces.[k].Size - need
            if rest >= 512L then
                pieces.Insert(k + 1, { Size = rest; Owner = -1 })
                pieces.[k].Size <- need
            pieces.[k].Owner <- id
            at.[e] <- (s, offsetOf pieces k)
            mappedPeak <- max mappedPeak mappedNow
        | Free id ->
            for (_, pieces) in segments do
                for p in pieces do
                    if p.Owner = id then p.Owner <- -1
                mergeFree pieces
    let bases = Array.scan (+) 0L (spans.ToArray())
    at |> Array.map (fun (s, o) -> if s < 0 then -1L else bases.[s] + o), mappedPeak

let private A (id, size) = MemoryEvent.Alloc(id, size)
let private F id = MemoryEvent.Free id
let private cupy = Pool.simulateEvents PoolPolicy.CuPy
let private torch = Pool.simulateEvents PoolPolicy.Torch
let private expandable = Pool.simulateEvents PoolPolicy.TorchExpandable

/// The reference pool of a policy: offsets and reserved bytes.
let reference (policy: PoolPolicy) (events: MemoryEvent[]) : int64[] * int64 =
    if policy = PoolPolicy.TorchExpandable then referenceExpandable events else referencePool policy events

let tests =
    testList "Pool" [
        testList "CuPy" [
            testCase "rounds every request up to 512 bytes" <| fun () ->
                let t = cupy [| A(0, 1L); A(1, 513L); A(2, 512L) |]
                Expect.equal t.Reserved (512L + 1024L + 512L) "1 -> 512, 513 -> 1024, 512 stays"
                Expect.equal t.Offsets [| 0L; 512L; 1536L |] "device allocations lie end to end"
                Expect.equal t.Segments 3 "nothing was free: three device allocations"

            testCase "reuses a freed chunk and splits the rest off" <| fun () ->
                //  dev0: [0 ......... 2048)  freed, then 512 @0, 1024 @512, 512 @1536
                let t = cupy [| A(0, 2048L); F 0; A(1, 500L); A(2, 1024L); A(3, 512L) |]
                Expect.equal t.Offsets [| 0L; -1L; 0L; 512L; 1536L |] "each takes the split-off rest"
                Expect.equal (t.Reserved, t.Segments) (2048L, 1) "one device allocation is enough"

            testCase "takes the smallest free chunk, not the first" <| fun () ->
                //  dev0 2048 @0, dev1 512 @2048; both freed; a 512 request takes dev1's chunk
                let t = cupy [| A(0, 2048L); A(1, 512L); F 0; F 1; A(2, 512L) |]
                Expect.equal t.Offsets.[4] 2048L "the 512 chunk of dev1"
                Expect.equal t.SegmentOf.[4] 1 "device allocation 1"

            testCase "ties go to the earliest device allocation, then the lowest offset" <| fun () ->
                //  dev0 512 @0, dev1 512 @512: freed dev1 first, dev0 second; still dev0 wins
                let t = cupy [| A(0, 512L); A(1, 512L); F 1; F 0; A(2, 512L) |]
                Expect.equal t.Offsets.[4] 0L "dev0"
                //  dev0 1536 split in three; the two outer 512 chunks are freed (the middle one stays): lowest offset wins
                let t = cupy [| A(9, 1536L); F 9; A(0, 512L); A(1, 512L); A(2, 512L); F 2; F 0; A(3, 512L) |]
                Expect.equal t.Offsets.[7] 0L "offset 0 before offset 1024"

            testCase "coalesces free neighbours inside a device allocation" <| fun () ->
                //  dev0 [a 512][b 512][c 512]; free a, c, then b: one 1536 chunk that holds a 1536 request
                let t = cupy [| A(9, 1536L); F 9; A(0, 512L); A(1, 512L); A(2, 512L)
                                F 0; F 2; F 1; A(3, 1536L) |]
                Expect.equal (t.Offsets.[8], t.Reserved, t.Segments) (0L, 1536L, 1) "no new device allocation"

            testCase "never coalesces across device allocations and never gives memory back" <| fun () ->
                let t = cupy [| A(0, 512L); A(1, 512L); F 0; F 1; A(2, 1024L); F 2 |]
                Expect.equal t.Offsets.[4] 1024L "two adjacent 512 chunks of different device allocations do not make 1024"
                Expect.equal (t.Reserved, t.Segments, t.PeakInUse) (2048L, 3, 1024L) "reserved stays after every free"

            testCase "ids may be reused after their free; bad traces throw" <| fun () ->
                let t = cupy [| A(0, 512L); F 0; A(0, 512L) |]
                Expect.equal t.Offsets [| 0L; -1L; 0L |] "same chunk again"
                Expect.throws (fun () -> cupy [| F 3 |] |> ignore) "free of an unknown id"
                Expect.throws (fun () -> cupy [| A(0, 512L); A(0, 512L) |] |> ignore) "double alloc"
                Expect.throws (fun () -> cupy [| A(0, 0L) |] |> ignore) "zero size"

            testCase "on a problem, frees happen before allocations in one step" <| fun () ->
                //  step:  0 1 2
                //  a      aa          [0,1) 600 -> 1024, chunk [0,1024): at its top, 424
                //  b        bb        [1,2) 1000 -> 1024: takes a's chunk, at 24
                //  c      cccc        [0,2) 100 -> 512, chunk [1024,1536): at 1436
                let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 600L; Buffer.create "b" 1L 2L 1000L; Buffer.create "c" 0L 2L 100L ]
                let r = Pool.simulate PoolPolicy.CuPy p
                Expect.equal r.Plan.Offsets [| 424L; 24L; 1436L |] "b reuses a's chunk; each at the top of its chunk"
                Expect.equal (r.Reserved, r.Segments, r.PeakInUse) (1536L, 2, 1536L) "two device allocations"
                let peak = expectValid "pool" p r.Plan
                Expect.equal peak r.Reserved "plan peak = reserved"

            testCase "alignment above 512 pads the request and aligns inside the chunk" <| fun () ->
                let p = Problem.ofBuffers [ Buffer.create "x" 0L 1L 512L; { Buffer.create "y" 0L 1L 100L with Alignment = 2048L } ]
                Expect.equal (Pool.requestSize p.Buffers.[1]) (100L + 1536L) "alignment - 512 bytes of padding"
                let r = Pool.simulate PoolPolicy.CuPy p
                Expect.equal r.Plan.Offsets [| 0L; 2048L |] "y's chunk is [512, 2560); the highest multiple of 2048 that fits is 2048"
                Expect.equal r.Reserved (512L + 2048L) "1636 rounds to 2048"
                expectValid "aligned" p r.Plan |> ignore

            testPropertyWithConfig config "valid, reserved >= peak in use >= lower bound" <| fun (SmallProblem p) ->
                let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * 97L }))
                let r = Pool.simulate PoolPolicy.CuPy p
                let peak = expectValid "pool" p r.Plan
                let maxAlignment = p.Buffers |> Array.map (fun b -> b.Alignment) |> Array.max
                Expect.isLessThanOrEqual peak r.Reserved "plan peak <= reserved"
                Expect.isLessThan (r.Reserved - peak) maxAlignment "the top buffer sits at the top of its chunk, up to alignment"
                let whole = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * b.Alignment }))
                Expect.equal (Plan.peak whole (Pool.plan PoolPolicy.CuPy whole)) (Pool.simulate PoolPolicy.CuPy whole).Reserved "sizes multiple of alignment: plan peak = reserved"
                Expect.isGreaterThanOrEqual r.Reserved r.PeakInUse "reserved >= peak in use"
                Expect.isGreaterThanOrEqual r.PeakInUse (Bounds.lowerBound p) "rounded in-use peak >= lower bound"

            testPropertyWithConfig config "identical lifetimes and 512-multiple sizes: reserved = lower bound" <| fun (SmallProblem p) ->
                let same = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Lifetime = { Start = 0L; End = 3L }; Size = 512L * b.Size; Alignment = 1L }))
                let r = Pool.simulate PoolPolicy.CuPy same
                expectValid "pool" same r.Plan |> ignore
                Expect.equal r.Reserved (Bounds.lowerBound same) "one device allocation per buffer, nothing wasted"
                Expect.equal (Plan.peak same r.Plan) r.Reserved "the plan's peak is the reserved bytes"

        ]

        testList "PyTorch" [
            testCase "segment sizes per request size" <| fun () ->
                //  request          block        pool   segment
                //  1 B              512 B        small  2 MiB
                //  1 MiB            1 MiB        small  2 MiB
                //  1 MiB + 1 B      1 MiB + 512  large  20 MiB
                //  10 MiB - 512     10 MiB - 512 large  20 MiB
                //  10 MiB           10 MiB       large  10 MiB (the request rounded up to 2 MiB)
                //  11 MiB           11 MiB       large  12 MiB
                for request, segment in [ 1L, 2L * mib; mib, 2L * mib; mib + 1L, 20L * mib; 10L * mib - 512L, 20L * mib
                                          10L * mib, 10L * mib; 11L * mib, 12L * mib ] do
                    let t = torch [| A(0, request) |]
                    Expect.equal (t.Reserved, t.Segments) (segment, 1) (sprintf "a first request of %d B opens a segment of %d B" request segment)
                let pool = CachingPool(PoolPolicy.Torch)
                Expect.equal (pool.NewSegmentBytes 1L, pool.NewSegmentBytes (mib + 1L)) (2L * mib, 20L * mib) "NewSegmentBytes says so before"

            testCase "small and large pools split at 1 MiB and never share a segment" <| fun () ->
                //  small segment 0 [1 MiB used | 1 MiB free]; a 1 MiB + 512 request cannot use that free MiB
                let t = torch [| A(0, mib); A(1, mib + 512L); A(2, mib) |]
                Expect.equal t.SegmentOf [| 0; 1; 0 |] "1 MiB is small; 1 MiB + 512 opens a large segment; the next 1 MiB fills the small one"
                Expect.equal t.Reserved (22L * mib) "2 MiB + 20 MiB"

            testCase "the small pool splits off a rest of 512 B" <| fun () ->
                //  segment 0: [a 1 MiB][b 1 MiB]; free a; c = 1 MiB - 512 splits a's block; d = 512 takes the rest
                let t = torch [| A(0, mib); A(1, mib); F 0; A(2, mib - 512L); A(3, 512L) |]
                Expect.equal (t.Offsets.[3], t.Lengths.[3]) (0L, mib - 512L) "c is split to its size"
                Expect.equal (t.Offsets.[4], t.Segments) (mib - 512L, 1) "d in the 512 B rest, no new segment"

            testCase "the large pool splits only a rest above 1 MiB" <| fun () ->
                //  20 MiB segment: a = 9 MiB leaves 11 MiB (split); b = 10.5 MiB leaves 0.5 MiB: b takes the whole 11 MiB
                let t = torch [| A(0, 9L * mib); A(1, 10L * mib + 512L * 1024L); A(2, 2L * mib) |]
                Expect.equal t.Lengths.[0] (9L * mib) "rest 11 MiB > 1 MiB: split"
                Expect.equal (t.Offsets.[1], t.Lengths.[1]) (9L * mib, 11L * mib) "rest 0.5 MiB: the whole block"
                Expect.equal (t.SegmentOf.[2], t.Reserved) (1, 40L * mib) "nothing left in segment 0: a new 20 MiB segment"
                //  a rest of exactly 1 MiB is not split either
                let t = torch [| A(0, 9L * mib); A(1, 10L * mib) |]
                Expect.equal t.Lengths.[1] (11L * mib) "rest 1 MiB: the whole block"

            testCase "best fit: the smallest free block that is large enough" <| fun () ->
                //  small segment: [a 512][x 512][b 1 MiB][c 512][rest 1 MiB - 1536]; free a and b
                //  1024 B: b and the rest fit, the rest is smaller; 512 B: a's block
                let t = torch [| A(0, 512L); A(1, 512L); A(2, mib); A(3, 512L); F 0; F 2; A(4, 1024L); A(5, 512L) |]
                Expect.equal t.Offsets.[6] (mib + 1536L) "the rest, not b's larger block at 1024"
                Expect.equal t.Offsets.[7] 0L "a's block"

            testCase "a freed block merges with its free neighbours in the same segment" <| fun () ->
                //  segment 0: [a 512][b 512][c 512][rest]; free a, c, b: one block up to the end of the segment
                let t = torch [| A(0, 512L); A(1, 512L); A(2, 512L); F 0; F 2; F 1; A(3, mib) |]
                Expect.equal (t.Offsets.[6], t.Segments) (0L, 1) "1 MiB from offset 0 in the merged block"

            testCase "segments are given back only when released, and only wholly free ones" <| fun () ->
                let pool = CachingPool(PoolPolicy.Torch)
                let a = pool.Allocate 512L
                let b = pool.Allocate(2L * mib)
                Expect.equal pool.Reserved (22L * mib) "2 MiB small + 20 MiB large"
                pool.Free b
                Expect.equal pool.Reserved (22L * mib) "freeing keeps the segment cached"
                Expect.equal (pool.ReleaseCached()) [| 1 |] "the wholly free large segment goes; the small one holds a"
                Expect.equal (pool.Reserved, pool.IsReleased 1, pool.InUse) (2L * mib, true, 512L) "reserved drops by 20 MiB"
                pool.Free a
                Expect.equal (pool.ReleaseCached(), pool.Reserved) ([| 0 |], 0L) "now the small one too"
                let c = pool.Allocate 512L
                Expect.equal c.Segment 2 "segments keep their numbers; a new one is number 2"
        ]

        testList "PyTorch with expandable segments" [
            testCase "one segment per pool grows by pages where torch-pool opens a segment per size" <| fun () ->
                //  12 MiB maps one 20 MiB page; after its free a 13 MiB request fits in it (torch-pool: 12 + 14 MiB)
                let t = expandable [| A(0, 12L * mib); F 0; A(1, 13L * mib) |]
                Expect.equal (t.Reserved, t.Segments, t.Offsets.[2]) (20L * mib, 1, 0L) "one page, the same place"
                Expect.equal (torch [| A(0, 12L * mib); F 0; A(1, 13L * mib) |]).Reserved (26L * mib) "torch-pool: two segments"
                //  8 MiB maps a page (12 MiB free at its end); 30 MiB maps one more page after it: 40 MiB, contiguous
                let t = expandable [| A(0, 8L * mib); A(1, 30L * mib) |]
                Expect.equal (t.Reserved, t.Segments, t.Offsets.[1]) (40L * mib, 1, 8L * mib) "the 30 MiB block starts in the first page"
                Expect.equal (torch [| A(0, 8L * mib); A(1, 30L * mib) |]).Reserved (50L * mib) "torch-pool: 20 + 30 MiB"

            testCase "the small pool maps 2 MiB pages and a block may cross them" <| fun () ->
                let k600 = 600L * 1024L
                let t = expandable [| A(0, k600); A(1, k600); A(2, k600); A(3, k600) |]
                Expect.equal t.Offsets [| 0L; k600; 2L * k600; 3L * k600 |] "end to end in one segment"
                Expect.equal t.Reserved (4L * mib) "two pages"
                Expect.equal (torch [| A(0, k600); A(1, k600); A(2, k600); A(3, k600) |]).Offsets.[3] (2L * mib) "torch-pool: a second segment"

            testCase "every rest of 512 B or more is split off, in the large pool too" <| fun () ->
                //  one page: a = 9 MiB leaves 11 MiB; b = 10.5 MiB takes 10.5 MiB of it (torch-pool: the whole 11 MiB)
                let t = expandable [| A(0, 9L * mib); A(1, 10L * mib + 512L * 1024L) |]
                Expect.equal (t.Offsets.[1], t.Lengths.[1]) (9L * mib, 10L * mib + 512L * 1024L) "split"
                Expect.equal t.Reserved (20L * mib) "still one page"

            testCase "best fit passes over the free block next to unmapped space" <| fun () ->
                //  page 0: [a 8 MiB][x 3 MiB][b 7.5 MiB][free 1.5 MiB | unmapped ...]; x freed
                //  1.25 MiB fits both free blocks; the smaller one borders unmapped space and could grow: x is chosen
                let half = 512L * 1024L
                let t = expandable [| A(0, 8L * mib); A(1, 3L * mib); A(2, 7L * mib + half); F 1; A(3, mib + half / 2L) |]
                Expect.equal t.Offsets.[4] (8L * mib) "in x, not at 18.5 MiB"
                //  with x gone the tail block is the only fit and takes the request
                let t = expandable [| A(0, 8L * mib); A(1, 3L * mib); A(2, 7L * mib + half); A(3, mib + half / 2L) |]
                Expect.equal (t.Offsets.[3], t.Reserved) (18L * mib + half, 20L * mib) "in the tail, no new page"

            testCase "NewSegmentBytes is the pages a request would map" <| fun () ->
                let pool = CachingPool(PoolPolicy.TorchExpandable)
                Expect.equal (pool.NewSegmentBytes 1L, pool.NewSegmentBytes (mib + 1L), pool.NewSegmentBytes (30L * mib))
                             (2L * mib, 20L * mib, 40L * mib) "a first page of each pool, or two"
                pool.Allocate(8L * mib) |> ignore
                Expect.equal (pool.NewSegmentBytes (30L * mib), pool.NewSegmentBytes (12L * mib)) (20L * mib, 0L) "the 12 MiB tail fits 12 MiB; 30 MiB needs one more page"

            testCase "a request beyond a segment's address space (2^35 pages) gets a segment of its own" <| fun () ->
                // 2^62 bytes is more than 2^35 pages of 20 MiB: found by the CSV fuzz tests (alignment 2^62), it used to
                // throw NullReferenceException
                let pool = CachingPool(PoolPolicy.TorchExpandable)
                let block = pool.Allocate(1L <<< 62)
                Expect.equal (block.Segment, block.Offset) (0, 0L) "at the start of its segment"
                Expect.equal pool.Reserved (Numbers.alignUp (20L * mib) (1L <<< 62)) "2^62 bytes mapped, rounded up to the 20 MiB page"
                let p = Csv.parseProblem "p.csv" "id,lower,upper,size,alignment\na,0,2,10,1\nb,0,2,10,4611686018427387904\n" |> Result.defaultWith (fun e -> failwith e.Message)
                let r = (Algorithms.ofPool PoolPolicy.TorchExpandable).Plan(p, Algorithms.defaults)
                expectValid "torch-expandable" p r.Plan |> ignore

            testCase "pages are unmapped only when the cache is emptied; growth fills the lowest hole first" <| fun () ->
                let pool = CachingPool(PoolPolicy.TorchExpandable)
                let a = pool.Allocate(mib + 512L)                          // page 0: [0, 1 MiB + 512)
                let b = pool.Allocate(50L * mib)                           // [1 MiB + 512, 51 MiB + 512): pages 0 to 2
                let c = pool.Allocate(10L * mib)                           // [51 MiB + 512, 61 MiB + 512): page 3
                Expect.equal (pool.Reserved, c.Offset) (80L * mib, 51L * mib + 512L) "four pages"
                pool.Free b
                Expect.equal pool.Reserved (80L * mib) "freeing keeps the pages mapped"
                Expect.equal (pool.ReleaseCached(), pool.Reserved) ([||], 60L * mib) "only page 1 lies wholly in the free block"
                let d = pool.Allocate(25L * mib)
                Expect.equal (d.Offset, pool.Reserved) (mib + 512L, 80L * mib) "the hole is mapped again and d starts below c"
                pool.Free a
                pool.Free c
                pool.Free d
                Expect.equal (pool.ReleaseCached(), pool.Reserved, pool.IsReleased 0) ([| 0 |], 0L, true) "no page left: the segment is given back"
                Expect.equal (pool.Allocate 512L).Segment 1 "a new segment, number 1"

        ]

        testPropertyWithConfig config "every policy matches its reference pool on every request sequence" <| fun (SmallProblem p) ->
            for policy in PoolPolicy.all do
                // sizes from bytes to MiB, so that both of PyTorch's pools and its split rules are reached
                let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * b.Size * b.Size * 97L; Alignment = 1L }))
                let evs = Pool.events p
                let t = Pool.simulateEvents policy evs
                let offsets, reserved = reference policy evs
                Expect.equal t.Offsets offsets (sprintf "%A: same offsets as the reference" policy)
                Expect.equal t.Reserved reserved (sprintf "%A: same reserved bytes as the reference" policy)

        testPropertyWithConfig config "simulate is the replay of the problem's events, each buffer at the top of its block" <| fun (SmallProblem p) ->
            for policy in PoolPolicy.all do
                let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * b.Size * b.Size * 97L }))
                let evs = Pool.events p
                let t = Pool.simulateEvents policy evs
                let r = Pool.simulate policy p
                Expect.equal (r.Reserved, r.Segments, r.PeakInUse) (t.Reserved, t.Segments, t.PeakInUse) (sprintf "%A: the same pool" policy)
                evs |> Array.iteri (fun e ev ->
                    match ev with
                    | Alloc (i, _) ->
                        let b = p.Buffers.[i]
                        let a = max 1L b.Alignment
                        let top = (t.Offsets.[e] + t.Lengths.[e] - b.Size) / a * a
                        Expect.equal r.Plan.Offsets.[i] top (sprintf "%A: buffer %d at the top of its block" policy i)
                    | Free _ -> ())

        testPropertyWithConfig config "torch-pool and torch-expandable: valid plan, reserved >= peak in use >= lower bound" <| fun (SmallProblem p) ->
            // sizes up to a few MiB (torch-pool) and tens of MiB (torch-expandable: several 20 MiB pages)
            for policy, scale in [ PoolPolicy.Torch, 4099L; PoolPolicy.TorchExpandable, 40099L ] do
                let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * b.Size * scale }))
                let r = Pool.simulate policy p
                let peak = expectValid policy.Name p r.Plan
                Expect.isLessThanOrEqual peak r.Reserved "plan peak <= reserved"
                Expect.isGreaterThanOrEqual r.Reserved r.PeakInUse "reserved >= peak in use"
                Expect.isGreaterThanOrEqual r.PeakInUse (Bounds.lowerBound p) "in-use peak >= lower bound"
    ]
