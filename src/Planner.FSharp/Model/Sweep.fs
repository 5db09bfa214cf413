namespace Pgmo.Planner

/// The time axis of a problem, swept once: every planner, bound, validator and pool that walks lifetimes in time
/// order takes its order from here, so that "frees before allocations at one step" (half-open lifetimes) is decided
/// in one place.
///
/// ```
///  step:      0   1   2   3   4
///  a          [-------)               a = [0, 2)
///  b              [-----------)       b = [1, 4)
///  c                  [---)           c = [2, 3)
///  endpoints: s a, s b, e a, s c, e c, e b     (at step 2 a ends before c starts: a and c never overlap)
/// ```
[<RequireQualifiedAccess>]
module Sweep =

    /// The kind of an endpoint that ends a lifetime (sorts before `Starts` at the same step).
    [<Literal>]
    let Ends = 0

    /// The kind of an endpoint that starts a lifetime.
    [<Literal>]
    let Starts = 1

    let private byStep =
        System.Comparison(fun (struct (t1: int64, k1: int, i1: int)) (struct (t2: int64, k2: int, i2: int)) ->
            if t1 <> t2 then compare t1 t2 elif k1 <> k2 then compare k1 k2 else compare i1 i2)

    /// Every lifetime's two endpoints as (step, kind, buffer index), sorted by step, then ends before starts, then
    /// buffer index: the order in which a sweep over time meets them. O(n log n).
    let endpoints (problem: Problem) : struct (int64 * int * int)[] =
        let bs = problem.Buffers
        let keys = Array.zeroCreate (2 * bs.Length)
        for i in 0 .. bs.Length - 1 do
            keys.[2 * i] <- struct (bs.[i].Lifetime.Start, Starts, i)
            keys.[2 * i + 1] <- struct (bs.[i].Lifetime.End, Ends, i)
        // a typed comparison: F#'s structural comparison of struct tuples is several times slower here
        System.Array.Sort(keys, byStep)
        keys

    /// Every distinct lifetime endpoint, ascending: the compressed time coordinates (a step's rank is its index).
    let steps (problem: Problem) : int64[] =
        let bs = problem.Buffers
        let all = Array.zeroCreate (2 * bs.Length)
        for i in 0 .. bs.Length - 1 do
            all.[2 * i] <- bs.[i].Lifetime.Start
            all.[2 * i + 1] <- bs.[i].Lifetime.End
        Array.distinct (Array.sort all)

    /// The time axis cut at every lifetime endpoint. Section k is the step interval [Steps.[k], Steps.[k + 1]);
    /// buffer i is live exactly in sections Lo.[i] .. Hi.[i] - 1, and Members.[k] lists the buffers live in section k.
    type Sections =
        { /// The distinct endpoints, ascending.
          Steps: int64[]
          /// First section of each buffer.
          Lo: int[]
          /// One past the last section of each buffer.
          Hi: int[]
          /// The buffers live in each section, ascending.
          Members: int[][] }

    /// The sections of a problem with the time axis cut at `steps` (ascending, distinct, holding at least every
    /// lifetime endpoint; Gaps.windows adds the gap endpoints). O(n log n + total section memberships).
    let sectionsAt (steps: int64[]) (problem: Problem) : Sections =
        let bs = problem.Buffers
        let lo = bs |> Array.map (fun b -> System.Array.BinarySearch(steps, b.Lifetime.Start))
        let hi = bs |> Array.map (fun b -> System.Array.BinarySearch(steps, b.Lifetime.End))
        let members =
            let lists = Array.init (max 0 (steps.Length - 1)) (fun _ -> ResizeArray<int>())
            for i in 0 .. bs.Length - 1 do
                for s in lo.[i] .. hi.[i] - 1 do lists.[s].Add i
            lists |> Array.map (fun l -> l.ToArray())
        { Steps = steps; Lo = lo; Hi = hi; Members = members }

    /// The sections of a problem (see Sections), cut at every lifetime endpoint. O(n log n + total section memberships).
    let sections (problem: Problem) : Sections = sectionsAt (steps problem) problem

    /// For every buffer, the buffers whose lifetimes overlap its own (adjacency lists of the interval graph), or None
    /// when there are more than `cap` overlapping pairs or `stop` says the time is up (asked every 64 starts).
    /// O(n log n + pairs).
    let overlaps (problem: Problem) (cap: int64) (stop: unit -> bool) : int[][] option =
        let bs = problem.Buffers
        let lists = Array.init bs.Length (fun _ -> ResizeArray<int>())
        let live = System.Collections.Generic.HashSet<int>()
        let mutable pairs = 0L
        let mutable starts = 0
        let mutable ok = true
        for struct (_, kind, i) in endpoints problem do
            if ok then
                if kind = Ends then live.Remove i |> ignore
                else
                    pairs <- pairs + int64 live.Count
                    starts <- starts + 1
                    if pairs > cap || (starts &&& 63 = 0 && stop ()) then ok <- false
                    else
                        for j in live do
                            lists.[i].Add j
                            lists.[j].Add i
                        live.Add i |> ignore
        if ok then Some(lists |> Array.map (fun l -> l.ToArray())) else None

    /// The parts of the time axis that no lifetime crosses: groups of buffer indices, in time order, each ascending
    /// by start. Buffers of different parts never overlap, so the parts can be planned apart.
    let components (problem: Problem) : int[][] =
        let bs = problem.Buffers
        let groups = ResizeArray<int[]>()
        let current = ResizeArray<int>()
        let mutable live = 0
        for struct (_, kind, i) in endpoints problem do
            if kind = Ends then
                live <- live - 1
                if live = 0 then
                    groups.Add(current.ToArray())
                    current.Clear()
            else
                live <- live + 1
                current.Add i
        groups.ToArray()

    /// The maximal cliques of the interval graph: the sets of buffers live just before each end that follows a start,
    /// each ascending.
    let cliques (problem: Problem) : int[][] =
        let live = System.Collections.Generic.HashSet<int>()
        let result = ResizeArray<int[]>()
        let mutable grew = false
        for struct (_, kind, i) in endpoints problem do
            if kind = Ends then
                if grew then result.Add(Seq.toArray live |> Array.sort)
                grew <- false
                live.Remove i |> ignore
            else
                live.Add i |> ignore
                grew <- true
        result.ToArray()

    /// The live load as a step function: (step, total bytes live from that step until the next entry), ascending
    /// steps, one entry per distinct endpoint; frees at a step count before allocations.
    let load (problem: Problem) : (int64 * int64)[] =
        let bs = problem.Buffers
        let ends = endpoints problem
        let result = System.Collections.Generic.List<int64 * int64>()
        let mutable total = 0L
        let mutable k = 0
        while k < ends.Length do
            let struct (t, _, _) = ends.[k]
            while k < ends.Length && (let struct (t2, _, _) = ends.[k] in t2 = t) do
                let struct (_, kind, i) = ends.[k]
                total <- if kind = Ends then total - bs.[i].Size else total + bs.[i].Size
                k <- k + 1
            result.Add((t, total))
        result.ToArray()
