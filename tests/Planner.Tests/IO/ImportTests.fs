/// Importing allocation logs and PyTorch memory snapshots (AllocationLog, Snapshot, Recording): exact lifetimes on
/// small recordings, every bad input with its line or event, an independent reading of every recorded log of
/// datasets/pytorch, the snapshot fixture against its log, and seeded mutations of both formats.
module Pgmo.Planner.Tests.ImportTests

open System
open System.Collections
open System.IO
open System.IO.Compression
open System.Text.RegularExpressions
open Expecto
open Pgmo.Planner

let private pytorchFolder () = Path.Combine(Reference.repositoryRoot (), "datasets", "pytorch")

/// The text of a file, gunzipped when its name ends in .gz.
let readText (path: string) : string =
    if path.EndsWith ".gz" then
        use z = new GZipStream(File.OpenRead path, CompressionMode.Decompress)
        use r = new StreamReader(z)
        r.ReadToEnd()
    else File.ReadAllText path

let private readBytes (path: string) : byte[] =
    if path.EndsWith ".gz" then
        use z = new GZipStream(File.OpenRead path, CompressionMode.Decompress)
        use m = new MemoryStream()
        z.CopyTo m
        m.ToArray()
    else File.ReadAllBytes path

let private importLog (iteration: int option) (text: string) =
    AllocationLog.parse "t.log" text |> Result.bind (Recording.toProblem iteration 1L)

let private ok (r: Result<'a, InputError>) =
    match r with
    | Ok x -> x
    | Error e -> failtestf "expected a problem, got %s:%d: %s" e.File e.Line e.Message

/// The buffers as (lower, upper, size), in problem order.
let private shape (p: Problem) = p.Buffers |> Array.map (fun b -> b.Lifetime.Start, b.Lifetime.End, b.Size) |> List.ofArray

let private expectLogError (iteration: int option) (text: string) (line: int) (fragment: string) =
    match importLog iteration text with
    | Ok _ -> failtestf "expected an error containing '%s' for:\n%s" fragment text
    | Error e ->
        Expect.equal e.File "t.log" "the error names the file"
        Expect.equal e.Line line "the error names the line"
        Expect.stringContains e.Message fragment "the error says what is wrong"

/// An independent reading of an allocation log, written from the format's description alone (no code shared with
/// AllocationLog or Recording): the buffers (lower, upper, size) of the whole log or of its k-th iteration, in the
/// importer's order (step k is the k-th alloc or free kept, from 1; blocks live when the window begins are live
/// from 0, sorted by end, size, address; blocks live at its end stay to the last step + 1).
let referenceLog (text: string) (iteration: int option) : (int64 * int64 * int64) list * int =
    let line = Regex(@"^\s*(?:(alloc)\s+(\S+)\s+(\S+)|(free)\s+(\S+)|(iteration))\s*$")
    let address (s: string) = if s.StartsWith "0x" then Convert.ToInt64(s.Substring 2, 16) else Int64.Parse s
    let events =
        [ for raw in text.Split '\n' do
            let l = (match raw.IndexOf '#' with -1 -> raw | k -> raw.Substring(0, k)).TrimEnd('\r')
            if l.Trim() <> "" then
                let m = line.Match l
                if not m.Success then failwithf "reference: bad line %s" l
                if m.Groups.[1].Success then yield "alloc", address m.Groups.[2].Value, Int64.Parse m.Groups.[3].Value
                elif m.Groups.[4].Success then yield "free", address m.Groups.[5].Value, 0L
                else yield "iteration", 0L, 0L ]
    let marks = events |> List.indexed |> List.filter (fun (_, (a, _, _)) -> a = "iteration") |> List.map fst
    let first, last =
        match iteration with
        | None -> 0, events.Length
        | Some k -> marks.[k - 1] + 1, (if k < marks.Length then marks.[k] else events.Length)
    // before the window: which addresses are live, with their sizes
    let before =
        events |> List.take first
        |> List.fold (fun (live: Map<int64, int64>) (a, addr, size) ->
            match a with
            | "alloc" -> live.Add(addr, size)
            | "free" -> live.Remove addr
            | _ -> live) Map.empty
    let mutable step = 0L
    let mutable skipped = 0
    let mutable open' = before |> Map.map (fun _ size -> (0L, size))
    let closed = ResizeArray<int64 * int64 * int64 * int64>()     // lower, upper, size, address
    for (a, addr, size) in events |> List.skip first |> List.take (last - first) do
        match a with
        | "alloc" ->
            step <- step + 1L
            open' <- open'.Add(addr, (step, size))
        | "free" ->
            match open'.TryFind addr with
            | Some (lower, size) ->
                step <- step + 1L
                closed.Add((lower, step, size, addr))
                open' <- open'.Remove addr
            | None -> skipped <- skipped + 1
        | _ -> ()
    for KeyValue (addr, (lower, size)) in open' do closed.Add((lower, step + 1L, size, addr))
    let fromStart, later = closed |> List.ofSeq |> List.partition (fun (l, _, _, _) -> l = 0L)
    (fromStart |> List.sortBy (fun (_, u, s, a) -> u, s, a)) @ (later |> List.sortBy (fun (l, _, _, _) -> l))
    |> List.map (fun (l, u, s, _) -> l, u, s), skipped

// ---- pickles built in the tests (Razorvine's pickler), in the structure of torch/cuda/memory.py

let private dict (pairs: (string * obj) list) : obj =
    let h = Hashtable()
    for k, v in pairs do h.[k] <- v
    box h

let private list (xs: obj list) : obj = box (ArrayList(Array.ofList xs))

let private entry (action: string) (addr: int64) (size: int64) =
    dict [ "action", box action; "addr", box addr; "size", box size; "stream", box 7L; "frames", list [] ]

let private pickle (o: obj) : byte[] =
    use p = new Razorvine.Pickle.Pickler()
    p.dumps o

let private snapshotOf (segments: obj list) (traces: obj list list) =
    pickle (dict [ "segments", list segments; "device_traces", list (traces |> List.map list) ])

let private importSnapshot (device: int option) (bytes: byte[]) =
    Snapshot.parse "s.pickle" device bytes |> Result.bind (Recording.toProblem None 1L)

let private expectSnapshotError (device: int option) (bytes: byte[]) (fragment: string) =
    match importSnapshot device bytes with
    | Ok _ -> failtestf "expected an error containing '%s'" fragment
    | Error e ->
        Expect.equal e.File "s.pickle" "the error names the file"
        Expect.stringContains e.Message fragment "the error says what is wrong and where"

/// Checks an imported problem the way every planner test ends: its plan by best-fit validates and its peak is at
/// least the lower bound; the recorded layout has one offset per buffer.
let private expectUsable (imported: Imported) =
    let p = imported.Problem
    Expect.isGreaterThan p.Buffers.Length 0 "at least one buffer"
    for b in p.Buffers do
        Expect.isGreaterThan b.Size 0L "sizes are positive"
        Expect.isLessThan b.Lifetime.Start b.Lifetime.End "lifetimes are non-empty and half-open"
    expectValid "best-fit" p (BestFit.plan p) |> ignore
    Expect.equal (Recording.layout imported).Plan.Offsets.Length p.Buffers.Length "one recorded offset per buffer"

let tests =
    testList "Import" [
        testList "allocation log" [
            testCase "steps, lifetimes and the buffers live across an iteration" <| fun () ->
                // line:  1 alloc a   2 iteration   3 alloc b   4 free a   5 alloc c   6 free b   7 iteration   8 free c
                // iteration 1 (lines 3-6), steps 1..4:  a = [0, 2) (live when it began), b = [1, 4), c = [3, 5)
                let text = "alloc 0x100 16\niteration\nalloc 0x200 32\nfree 0x100\nalloc 4096 8\nfree 512\niteration\nfree 0x1000\n"
                let one = ok (importLog (Some 1) text)
                Expect.equal (shape one.Problem) [ 0L, 2L, 16L; 1L, 4L, 32L; 3L, 5L, 8L ] "a, b and c as drawn"
                Expect.equal one.Addresses [| 0x100L; 0x200L; 0x1000L |] "the recorded addresses"
                Expect.equal one.Origins [| "line 1"; "line 3"; "line 5" |] "where each was allocated"
                Expect.equal (one.Events, one.Iterations, one.SkippedFrees) (4, 2, 0) "four events of two iterations"
                let two = ok (importLog (Some 2) text)
                Expect.equal (shape two.Problem) [ 0L, 1L, 8L ] "iteration 2: c, live when it began, freed at step 1"
                let whole = ok (importLog None text)
                Expect.equal (shape whole.Problem) [ 1L, 3L, 16L; 2L, 5L, 32L; 4L, 6L, 8L ] "the whole log"
                expectUsable whole

            testCase "comments, blank lines, decimal and hex, and a free of an earlier allocation" <| fun () ->
                let text = "# a hook's log\n\n  alloc 0xA0 100   # inline\nfree 1234\r\nfree 0xa0\nalloc 160 7\n"
                let r = ok (importLog None text)
                Expect.equal (shape r.Problem) [ 1L, 2L, 100L; 3L, 4L, 7L ] "0xA0 = 160 is reused after its free (the skipped free is no step)"
                Expect.equal (r.SkippedFrees, r.FirstSkipped) (1, Some "line 4") "the free of 1234 is skipped and counted"

            testCase "alignment is given to every buffer" <| fun () ->
                let r = AllocationLog.parse "t.log" "alloc 0x10 3\n" |> Result.bind (Recording.toProblem None 512L) |> ok
                Expect.equal r.Problem.Buffers.[0].Alignment 512L "alignment 512"

            testList "bad input names the line" [
                testCase "a line that is no event" <| fun () -> expectLogError None "alloc 0x10 8\nallocate 0x20 8\n" 2 "expected 'alloc ADDRESS SIZE'"
                testCase "a word too many" <| fun () -> expectLogError None "free 0x10 8\n" 1 "expected 'alloc ADDRESS SIZE'"
                testCase "an unparsable size" <| fun () -> expectLogError None "alloc 0x10 12.5\n" 1 "size '12.5' is not an integer"
                testCase "a negative size" <| fun () -> expectLogError None "\nalloc 0x10 -5\n" 2 "size -5 must be positive"
                testCase "a zero size" <| fun () -> expectLogError None "alloc 16 0\n" 1 "size 0 must be positive"
                testCase "an unparsable address" <| fun () -> expectLogError None "alloc 0xZZ 8\n" 1 "'0xZZ' is not an address"
                testCase "a negative address" <| fun () -> expectLogError None "free -8\n" 1 "'-8' is not an address"
                testCase "a block past 64 bits" <| fun () -> expectLogError None "alloc 0x7ffffffffffffff0 32\n" 1 "past the 64-bit address space"
                testCase "a double alloc of a live address" <| fun () ->
                    expectLogError None "alloc 0x10 8\nalloc 0x20 8\nalloc 0x10 4\n" 3 "alloc at 0x10, which is live (allocated at line 1)"
                testCase "an alloc overlapping a live block" <| fun () ->
                    expectLogError None "alloc 0x100 64\nalloc 0x120 8\n" 2 "overlaps the live block [0x100, 0x140) allocated at line 1"
                testCase "a free of a block already freed" <| fun () ->
                    expectLogError None "alloc 0x10 8\nfree 0x10\nfree 0x10\n" 3 "freed at line 2"
                testCase "sizes past 64 bits in all" <| fun () ->
                    expectLogError None "alloc 0 9000000000000000000\nfree 0\nalloc 0 9000000000000000000\n" 3 "past the 64-bit limit"
                testCase "no allocations" <| fun () -> expectLogError None "# nothing\n" 0 "no allocations"
                testCase "an iteration that is not marked" <| fun () -> expectLogError (Some 3) "iteration\nalloc 1 1\niteration\n" 0 "marks 2 iterations"
                testCase "an iteration of a log without markers" <| fun () -> expectLogError (Some 1) "alloc 1 1\n" 0 "marks no iterations"
            ]
        ]

        testList "recorded logs (datasets/pytorch)" [
            for file in Directory.GetFiles(pytorchFolder (), "*.log.gz") |> Array.sort do
                testCase (Path.GetFileName file + " against an independent reading") <| fun () ->
                    let text = readText file
                    for iteration in [ None; Some 1; Some 2 ] do
                        let r = ok (importLog iteration text)
                        let expected, skipped = referenceLog text iteration
                        Expect.equal (shape r.Problem) expected (sprintf "%A: the same buffers, in the same order" iteration)
                        Expect.equal r.SkippedFrees skipped (sprintf "%A: the same skipped frees" iteration)
                        expectUsable r
        ]

        testList "snapshot" [
            testCase "alloc, free_completed, free_requested without completion, blocks live before the trace" <| fun () ->
                // trace: 0 alloc A, 1 free_requested A, 2 alloc B, 3 free_completed A, 4 free_requested B, 5 free_completed P
                // steps:   1                          2          3                    4                    5
                // A = [1, 3) closes at its completion, B = [2, 4) at its request (no completion follows), P (an unknown
                // address, 48 B) was live from the start: [0, 5); W is active in the segments and never in the trace:
                // live throughout, [0, 6).
                let trace = [ entry "alloc" 0x1000L 100L; entry "free_requested" 0x1000L 100L; entry "alloc" 0x2000L 200L
                              entry "free_completed" 0x1000L 100L; entry "free_requested" 0x2000L 200L
                              entry "free_completed" 0x3000L 48L; entry "snapshot" 0L 0L ]
                let block = dict [ "address", box 0x9000L; "size", box 1024L; "requested_size", box 1000; "state", box "active_allocated" ]
                let idle = dict [ "address", box 0x9400L; "size", box 1024L; "requested_size", box 0; "state", box "inactive" ]
                let segment = dict [ "device", box 0; "address", box 0x9000L; "total_size", box 2048L; "stream", box 7L; "blocks", list [ block; idle ] ]
                let r = ok (importSnapshot None (snapshotOf [ segment ] [ trace ]))
                Expect.equal (shape r.Problem) [ 0L, 5L, 48L; 0L, 6L, 1000L; 1L, 3L, 100L; 2L, 4L, 200L ] "P, W, A, B"
                Expect.equal r.Streams [| 7L; 7L; 7L; 7L |] "streams kept"
                Expect.equal r.PeakReserved (Some 2048L) "the segment held throughout"
                expectUsable r

            testCase "segment events give PyTorch's reserved bytes over the trace" <| fun () ->
                // a 2 MiB segment is made for A, a 20 MiB one for B and given back after B's free: at most 22 MiB
                let mib = 1048576L
                let trace = [ entry "segment_alloc" 0x100000L (2L * mib); entry "alloc" 0x100000L 4096L
                              entry "segment_alloc" 0x800000L (20L * mib); entry "alloc" 0x800000L (3L * mib)
                              entry "free_completed" 0x800000L (3L * mib); entry "segment_free" 0x800000L (20L * mib)
                              entry "free_completed" 0x100000L 4096L ]
                let seg = dict [ "device", box 0; "address", box 0x100000L; "total_size", box (2L * mib); "stream", box 7L; "blocks", list [] ]
                let r = ok (importSnapshot None (snapshotOf [ seg ] [ trace ]))
                Expect.equal (shape r.Problem) [ 1L, 4L, 4096L; 2L, 3L, 3L * mib ] "two buffers"
                Expect.equal r.PeakReserved (Some (22L * mib)) "2 + 20 MiB while B is live"
                let ranges = r.Reserved.Value |> Array.map (fun x -> x.Hi - x.Lo, x.Steps.Start, x.Steps.End)
                Expect.equal ranges [| 2L * mib, 1L, 5L; 20L * mib, 2L, 4L |] "each segment over the steps it was held"

            testCase "expandable segments: mapped and unmapped ranges, one segment per contiguous mapped range" <| fun () ->
                // pages [0, 20 MiB) and [20, 40 MiB) mapped for A (30 MiB); after A's free the second page is unmapped;
                // at the end the snapshot reports the one mapped range [0, 20 MiB) as a segment, with B in it
                let mib = 1048576L
                let trace = [ entry "segment_map" 0L (20L * mib); entry "segment_map" (20L * mib) (20L * mib); entry "alloc" 0L (30L * mib)
                              entry "free_completed" 0L (30L * mib); entry "segment_unmap" (20L * mib) (20L * mib); entry "alloc" 0L mib ]
                let b = dict [ "address", box 0L; "size", box mib; "requested_size", box mib; "state", box "active_allocated" ]
                let seg = dict [ "device", box 0; "address", box 0L; "total_size", box (20L * mib); "stream", box 7L; "blocks", list [ b ] ]
                let r = ok (importSnapshot None (snapshotOf [ seg ] [ trace ]))
                Expect.equal (shape r.Problem) [ 1L, 2L, 30L * mib; 3L, 4L, mib ] "A, then B live to the end"
                Expect.equal r.PeakReserved (Some (40L * mib)) "two pages while A is live"
                let ranges = r.Reserved.Value |> Array.map (fun x -> x.Lo / mib, x.Hi / mib, x.Steps.Start, x.Steps.End)
                Expect.equal ranges [| 0L, 20L, 1L, 4L; 20L, 40L, 1L, 3L |] "the first page to the end, the second until its unmap"
                expectUsable r

            testCase "the device is chosen, or the one with events" <| fun () ->
                let two = snapshotOf [] [ [ entry "alloc" 16L 8L ]; [ entry "alloc" 32L 4L; entry "alloc" 64L 4L ] ]
                expectSnapshotError None two "devices 0, 1 have traces: choose one with --device"
                Expect.equal (ok (importSnapshot (Some 1) two)).Problem.Buffers.Length 2 "device 1"
                Expect.equal (ok (importSnapshot None (snapshotOf [] [ []; [ entry "alloc" 32L 4L ] ]))).Problem.Buffers.Length 1 "the one device with events"

            testList "bad input names the event" [
                let good = snapshotOf [] [ [ entry "alloc" 16L 8L; entry "free_completed" 16L 8L ] ]
                testCase "a truncated pickle" <| fun () -> expectSnapshotError None good.[.. good.Length / 2] "not a pickle, or a truncated one"
                testCase "a file that is no pickle" <| fun () -> expectSnapshotError None "alloc 0x10 8\n"B "not a pickle"
                testCase "an empty file" <| fun () -> expectSnapshotError None [||] "empty"
                testCase "a foreign pickle" <| fun () -> expectSnapshotError None (pickle (list [ box 1; box "x" ])) "the pickle holds a list, not a PyTorch memory snapshot"
                testCase "no device_traces" <| fun () -> expectSnapshotError None (pickle (dict [ "segments", list [] ])) "no 'device_traces'"
                testCase "no events on any device" <| fun () -> expectSnapshotError None (snapshotOf [] [ [] ]) "every device trace is empty"
                testCase "an unknown device" <| fun () -> expectSnapshotError (Some 2) good "--device 2: the snapshot has device_traces for 1 device"
                testCase "an entry that is no dict" <| fun () -> expectSnapshotError None (snapshotOf [] [ [ entry "alloc" 16L 8L; box "alloc" ] ]) "device_traces[0][1] is a str"
                testCase "a negative size" <| fun () -> expectSnapshotError None (snapshotOf [] [ [ entry "alloc" 16L -8L ] ]) "device_traces[0][0] (alloc): 'size' is -8"
                testCase "a size that is no integer" <| fun () ->
                    let e = dict [ "action", box "alloc"; "addr", box 16L; "size", box "eight" ]
                    expectSnapshotError None (snapshotOf [] [ [ e ] ]) "device_traces[0][0] (alloc): 'size' is a str, not an integer"
                testCase "a double alloc of a live address" <| fun () ->
                    expectSnapshotError None (snapshotOf [] [ [ entry "alloc" 16L 8L; entry "alloc" 16L 8L ] ]) "device_traces[0][1]: alloc at 0x10, which is live (allocated at device_traces[0][0])"
            ]
        ]

        testList "snapshot fixtures (datasets/pytorch/snapshots)" [
            for file in Directory.GetFiles(Path.Combine(pytorchFolder (), "snapshots"), "*.pickle*") |> Array.sort do
                testCase (Path.GetFileName file + " gives the problem of its log") <| fun () ->
                    // NAME.iterationK[.expandable].pickle[.gz] was written from iteration K of datasets/pytorch/NAME.log.gz
                    let m = Regex.Match(Path.GetFileName file, @"^(.+)\.iteration(\d+)(\.expandable)?\.pickle")
                    let log = Path.Combine(pytorchFolder (), m.Groups.[1].Value + ".log.gz")
                    let k = int m.Groups.[2].Value
                    let fromSnapshot = Snapshot.parse file None (readBytes file) |> Result.bind (Recording.toProblem None 512L) |> ok
                    let fromLog = AllocationLog.parse log (readText log) |> Result.bind (Recording.toProblem (Some k) 512L) |> ok
                    Expect.equal fromSnapshot.Problem fromLog.Problem "the same problem"
                    // the fixture's allocator is PyTorch's, default or with expandable segments, simulated in the script
                    // that wrote it
                    let policy = if m.Groups.[3].Success then PoolPolicy.TorchExpandable else PoolPolicy.Torch
                    let pool = Pool.simulate policy fromSnapshot.Problem
                    Expect.equal fromSnapshot.PeakReserved (Some pool.Reserved) (sprintf "its reserved bytes are %s's on the same requests" policy.Name)
                    expectUsable fromSnapshot
        ]

        testList "seeded mutations" [
            testCase "300 mutated allocation logs: a problem or an error with its line, never an exception" <| fun () ->
                let text = readText (Path.Combine(pytorchFolder (), "alexnet-b2-96.log.gz"))
                let rng = Random 16
                let mutable errors = 0
                for case in 1 .. 300 do
                    let mutated = Mutations.mutated Mutations.logAlphabet rng text
                    let iteration = if rng.Next 2 = 0 then None else Some (1 + rng.Next 3)
                    match (try importLog iteration mutated with e -> failtestf "case %d threw %O" case e) with
                    | Ok r -> expectUsable r
                    | Error e ->
                        errors <- errors + 1
                        Expect.isTrue (e.Line > 0 || e.Message.Contains "iteration" || e.Message.Contains "no allocations" || e.Message.Contains "line ")
                            (sprintf "case %d: the error names a line: %s" case e.Message)
                printfn "allocation log: 300 mutated cases, %d rejected with their line" errors

            testCase "300 mutated snapshot pickles: a problem or an error naming the file, never an exception" <| fun () ->
                let bytes = readBytes (Directory.GetFiles(Path.Combine(pytorchFolder (), "snapshots"), "*.pickle*") |> Array.sort |> Array.head)
                let rng = Random 16
                let mutable errors = 0
                for case in 1 .. 300 do
                    let mutated = Mutations.mutateBytes rng bytes
                    match (try importSnapshot None mutated with e -> failtestf "case %d threw %O" case e) with
                    | Ok r -> expectUsable r
                    | Error e ->
                        errors <- errors + 1
                        Expect.equal e.File "s.pickle" (sprintf "case %d: the error names the file" case)
                printfn "snapshot: 300 mutated cases, %d rejected" errors
        ]
    ]
