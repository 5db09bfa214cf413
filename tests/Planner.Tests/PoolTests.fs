module Pgmo.Planner.Tests.PoolTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators
open Pgmo.Planner.Tests.PlacementTests

/// The reference pool: a plain list of chunks, searched and merged naively. It defines the semantics the fast
/// simulation (and the C# runtime's pool) must match: same offsets, same reserved bytes.
let referencePool (events: PoolEvent[]) : int64[] * int64 =
    // chunk: device allocation, offset inside it, size, owner (-1 = free)
    let chunks = ResizeArray<int * int64 * int64 * int>()
    let bases = ResizeArray<int64>()
    let mutable reserved = 0L
    let offsets = Array.create events.Length -1L
    for e in 0 .. events.Length - 1 do
        match events.[e] with
        | Alloc (id, size) ->
            let need = (size + 511L) / 512L * 512L
            let candidates = [ for k in 0 .. chunks.Count - 1 do
                                let (s, o, l, owner) = chunks.[k]
                                if owner = -1 && l >= need then (l, s, o, k) ]
            match candidates with
            | [] ->
                bases.Add reserved
                chunks.Add((bases.Count - 1, 0L, need, id))
                offsets.[e] <- reserved
                reserved <- reserved + need
            | _ ->
                let (l, s, o, k) = List.min candidates
                chunks.[k] <- (s, o, need, id)
                if l > need then chunks.Add((s, o + need, l - need, -1))
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

let tests =
    testList "Pool" [
        testCase "rounds every request up to 512 bytes" <| fun () ->
            let t = Pool.simulateEvents [| Alloc(0, 1L); Alloc(1, 513L); Alloc(2, 512L) |]
            Expect.equal t.Reserved (512L + 1024L + 512L) "1 -> 512, 513 -> 1024, 512 stays"
            Expect.equal t.Offsets [| 0L; 512L; 1536L |] "device allocations lie end to end"
            Expect.equal t.DeviceAllocations 3 "nothing was free: three device allocations"

        testCase "reuses a freed chunk and splits the rest off" <| fun () ->
            //  dev0: [0 ......... 2048)  freed, then 512 @0, 1024 @512, 512 @1536
            let t = Pool.simulateEvents [| Alloc(0, 2048L); Free 0; Alloc(1, 500L); Alloc(2, 1024L); Alloc(3, 512L) |]
            Expect.equal t.Offsets [| 0L; -1L; 0L; 512L; 1536L |] "each takes the split-off rest"
            Expect.equal (t.Reserved, t.DeviceAllocations) (2048L, 1) "one device allocation is enough"

        testCase "takes the smallest free chunk, not the first" <| fun () ->
            //  dev0 2048 @0, dev1 512 @2048; both freed; a 512 request takes dev1's chunk
            let t = Pool.simulateEvents [| Alloc(0, 2048L); Alloc(1, 512L); Free 0; Free 1; Alloc(2, 512L) |]
            Expect.equal t.Offsets.[4] 2048L "the 512 chunk of dev1"
            Expect.equal t.DeviceAllocationOf.[4] 1 "device allocation 1"

        testCase "ties go to the earliest device allocation, then the lowest offset" <| fun () ->
            //  dev0 512 @0, dev1 512 @512: freed dev1 first, dev0 second; still dev0 wins
            let t = Pool.simulateEvents [| Alloc(0, 512L); Alloc(1, 512L); Free 1; Free 0; Alloc(2, 512L) |]
            Expect.equal t.Offsets.[4] 0L "dev0"
            //  dev0 1536 split in three; the two outer 512 chunks are freed (the middle one stays): lowest offset wins
            let t = Pool.simulateEvents [| Alloc(9, 1536L); Free 9; Alloc(0, 512L); Alloc(1, 512L); Alloc(2, 512L); Free 2; Free 0; Alloc(3, 512L) |]
            Expect.equal t.Offsets.[7] 0L "offset 0 before offset 1024"

        testCase "coalesces free neighbours inside a device allocation" <| fun () ->
            //  dev0 [a 512][b 512][c 512]; free a, c, then b: one 1536 chunk that holds a 1536 request
            let t = Pool.simulateEvents [| Alloc(9, 1536L); Free 9; Alloc(0, 512L); Alloc(1, 512L); Alloc(2, 512L)
                                           Free 0; Free 2; Free 1; Alloc(3, 1536L) |]
            Expect.equal (t.Offsets.[8], t.Reserved, t.DeviceAllocations) (0L, 1536L, 1) "no new device allocation"

        testCase "never coalesces across device allocations and never gives memory back" <| fun () ->
            let t = Pool.simulateEvents [| Alloc(0, 512L); Alloc(1, 512L); Free 0; Free 1; Alloc(2, 1024L); Free 2 |]
            Expect.equal t.Offsets.[4] 1024L "two adjacent 512 chunks of different device allocations do not make 1024"
            Expect.equal (t.Reserved, t.DeviceAllocations, t.PeakInUse) (2048L, 3, 1024L) "reserved stays after every free"

        testCase "ids may be reused after their free; bad traces throw" <| fun () ->
            let t = Pool.simulateEvents [| Alloc(0, 512L); Free 0; Alloc(0, 512L) |]
            Expect.equal t.Offsets [| 0L; -1L; 0L |] "same chunk again"
            Expect.throws (fun () -> Pool.simulateEvents [| Free 3 |] |> ignore) "free of an unknown id"
            Expect.throws (fun () -> Pool.simulateEvents [| Alloc(0, 512L); Alloc(0, 512L) |] |> ignore) "double alloc"
            Expect.throws (fun () -> Pool.simulateEvents [| Alloc(0, 0L) |] |> ignore) "zero size"

        testCase "on a problem, frees happen before allocations in one step" <| fun () ->
            //  step:  0 1 2
            //  a      aa          [0,1) 600 -> 1024, chunk [0,1024): at its top, 424
            //  b        bb        [1,2) 1000 -> 1024: takes a's chunk, at 24
            //  c      cccc        [0,2) 100 -> 512, chunk [1024,1536): at 1436
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 600L; Buffer.create "b" 1L 2L 1000L; Buffer.create "c" 0L 2L 100L ]
            let r = Pool.simulate p
            Expect.equal r.Plan.Offsets [| 424L; 24L; 1436L |] "b reuses a's chunk; each at the top of its chunk"
            Expect.equal (r.Reserved, r.DeviceAllocations, r.PeakInUse) (1536L, 2, 1536L) "two device allocations"
            let peak = expectValid "pool" p r.Plan
            Expect.equal peak r.Reserved "plan peak = reserved"

        testCase "alignment above 512 pads the request and aligns inside the chunk" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 1L 512L; { Buffer.create "y" 0L 1L 100L with Alignment = 2048L } ]
            Expect.equal (Pool.requestSize p.Buffers.[1]) (100L + 1536L) "alignment - 512 bytes of padding"
            let r = Pool.simulate p
            Expect.equal r.Plan.Offsets [| 0L; 2048L |] "y's chunk is [512, 2560); the highest multiple of 2048 that fits is 2048"
            Expect.equal r.Reserved (512L + 2048L) "1636 rounds to 2048"
            expectValid "aligned" p r.Plan |> ignore

        testPropertyWithConfig config "valid, reserved >= peak in use >= lower bound" <| fun (SmallProblem p) ->
            let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * 97L }))
            let r = Pool.simulate p
            let peak = expectValid "pool" p r.Plan
            let maxAlignment = p.Buffers |> Array.map (fun b -> b.Alignment) |> Array.max
            Expect.isLessThanOrEqual peak r.Reserved "plan peak <= reserved"
            Expect.isLessThan (r.Reserved - peak) maxAlignment "the top buffer sits at the top of its chunk, up to alignment"
            let whole = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * b.Alignment }))
            Expect.equal (Plan.peak whole (Pool.plan whole)) (Pool.simulate whole).Reserved "sizes multiple of alignment: plan peak = reserved"
            Expect.isGreaterThanOrEqual r.Reserved r.PeakInUse "reserved >= peak in use"
            Expect.isGreaterThanOrEqual r.PeakInUse (Bounds.lowerBound p) "rounded in-use peak >= lower bound"

        testPropertyWithConfig config "identical lifetimes and 512-multiple sizes: reserved = lower bound" <| fun (SmallProblem p) ->
            let same = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Lifetime = { Start = 0L; End = 3L }; Size = 512L * b.Size; Alignment = 1L }))
            let r = Pool.simulate same
            expectValid "pool" same r.Plan |> ignore
            Expect.equal r.Reserved (Bounds.lowerBound same) "one device allocation per buffer, nothing wasted"
            Expect.equal (Plan.peak same r.Plan) r.Reserved "the plan's peak is the reserved bytes"

        testPropertyWithConfig config "matches the reference pool on every request sequence" <| fun (SmallProblem p) ->
            let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Size = b.Size * 97L; Alignment = 1L }))
            let evs = Pool.events p
            let t = Pool.simulateEvents evs
            let offsets, reserved = referencePool evs
            Expect.equal t.Offsets offsets "same offsets as the reference"
            Expect.equal t.Reserved reserved "same reserved bytes as the reference"
    ]
