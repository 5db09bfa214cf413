namespace Pgmo.Planner

open System
open System.Threading

/// Settings of the exact search. Every rule can be switched off (for tests and benchmarks); the defaults are the fast ones.
type ExactOptions =
    { /// Most search nodes over all restarts before giving up with Unknown (Int64.MaxValue: no limit).
      NodeLimit: int64
      /// Cancels the search; it then returns Unknown (or the best plan found by minimize).
      Cancellation: CancellationToken
      /// Static preorders tried round robin with a doubling node budget; letters of descending keys:
      /// W width (lifetime length), A area, T largest section total, Z size, S start, E end, O overlaps, C sections.
      Preorders: string list
      /// Only canonical placements: offsets never decrease along a branch (ties by preorder).
      CanonicalOnly: bool
      /// Prunes when, in some time section, the floor plus the unplaced sizes exceed the capacity.
      SectionInference: bool
      /// Prunes a placement that leaves a gap below it where an unplaced buffer fits entirely.
      Dominance: bool
      /// Solves independently the parts of the time axis that no unplaced buffer crosses.
      Decomposition: bool
      /// Also prunes when, in a section whose buffers' lowest offsets changed, the unplaced buffers whose lowest offset
      /// is at least h do not fit between h and the capacity, for some h (stronger than SectionInference, costlier).
      StaircaseInference: bool
      /// The first round-robin budget is 2 n times this (placements tried); it doubles after every round.
      InitialBudgetFactor: int64
      /// 0: the preorders' keys as they are. Otherwise the seed of a random factor in [1 - Jitter, 1 + Jitter] per
      /// buffer on every key, so that restarts with different seeds explore different orders (any order is sound).
      Seed: int
      /// The relative size of the random factor on the keys when Seed is not 0.
      Jitter: float }

/// The answer of the exact decision procedure at one capacity.
type ExactResult =
    /// A valid plan whose peak is at most the capacity.
    | Fits of Plan
    /// Proven: no valid plan has a peak at most the capacity.
    | DoesNotFit
    /// The node limit or the cancellation stopped the search first.
    | Unknown

/// The answer of the exact minimization.
type ExactMinimum =
    { /// The best plan found (always at least the upper-bound plan).
      Best: Plan
      /// Its peak in bytes.
      Peak: int64
      /// A proven lower bound on every valid plan's peak (at least the max-load lower bound).
      LowerBound: int64
      /// True when Peak = LowerBound, i.e. Best is proven optimal.
      Optimal: bool
      /// Search nodes used.
      Nodes: int64 }

/// An exact search over canonical placements in the spirit of MiniMalloc (Moffitt, ASPLOS 2023): depth-first,
/// each buffer at the lowest offset its placed time-neighbours allow, offsets non-decreasing along a branch,
/// with section inference, a gap dominance rule and decomposition at steps no unplaced buffer crosses.
/// Pure from outside: the only effect is reading the cancellation token. Soundness: proofs/exact-search.md.
[<RequireQualifiedAccess>]
module Exact =

    /// All rules on, three preorders, no node limit, no cancellation.
    let defaults =
        { NodeLimit = Int64.MaxValue
          Cancellation = CancellationToken.None
          Preorders = [ "WAT"; "TAW"; "TWA" ]
          CanonicalOnly = true
          SectionInference = true
          Dominance = true
          Decomposition = true
          StaircaseInference = false
          InitialBudgetFactor = 1L
          Seed = 0
          Jitter = 0.1 }

    [<Struct>]
    type private Status =
        | Found
        | NotFound
        | Aborted
        | Cancelled

    /// The mutable search state of one decision; used by one thread inside one call.
    type private Decision(problem: Problem, capacity: int64, options: ExactOptions) =
        let bs = problem.Buffers
        // gaps (Gaps): a placed buffer pushes a neighbour up by their distance, not its size, and the sections (cut
        // also at gap endpoints) count windows, not sizes; the staircase rule counts sizes, so it is off. A distance
        // <= 0 lets a buffer sit below one of lower offset, which canonical placements miss: then NotFound proves
        // nothing (proofs/gaps.md, G3)
        let gapped = Gaps.hasGaps problem
        let pieces = if gapped then Some (Gaps.neighbours problem) else None
        let incomplete = pieces |> Option.exists (fun g -> g.Above |> Array.exists (Array.exists (fun d -> d <= 0L)))
        let opts = if gapped then { options with StaircaseInference = false } else options
        let pinned = bs |> Array.exists (fun b -> b.Pinned.IsSome)
        let n = bs.Length
        let windows = if gapped then Some (Gaps.windows problem) else None
        let sections = match windows with Some w -> w.Sections | None -> Sweep.sections problem
        let nSec = max 0 (sections.Steps.Length - 1)
        let sLo = sections.Lo
        let sHi = sections.Hi
        let size = bs |> Array.map (fun b -> b.Size)
        let align = bs |> Array.map (fun b -> max 1L b.Alignment)
        let secBuffers = sections.Members
        let overlaps =
            match pieces with
            | Some g -> g.Of
            | None -> (Sweep.overlaps problem Int64.MaxValue (fun () -> false)).Value
        let offset = Array.create n -1L
        let solution = Array.create n -1L
        // a pinned buffer's only offset is its pin: a branch that pushes it above is dead
        let minOff = bs |> Array.map (fun b -> defaultArg b.Pinned 0L)
        let floor = Array.zeroCreate<int64> nSec
        // bytes of a buffer in the k-th section of its span, and their top relative to its offset
        let width = match windows with Some w -> w.Width | None -> null
        let wtop = match windows with Some w -> w.Top | None -> null
        let total =
            match windows with
            | Some w -> secBuffers |> Array.mapi (fun s members -> members |> Array.sumBy (fun i -> w.Width.[i].[s - sLo.[i]]))
            | None -> secBuffers |> Array.map (Array.sumBy (fun i -> size.[i]))
        // cuts.[k]: unplaced buffers live in both section k and section k + 1
        let cuts =
            let c = Array.zeroCreate<int> (max 0 (nSec - 1))
            for i in 0 .. n - 1 do
                for k in sLo.[i] .. sHi.[i] - 2 do c.[k] <- c.[k] + 1
            c
        let offTrail = ResizeArray<struct (int * int64)>()
        let secTrail = ResizeArray<struct (int * int64)>()
        let stamp = Array.zeroCreate<int> nSec
        let mutable stampNow = 0
        let affected = ResizeArray<int>()
        let lows = Array.zeroCreate<int64> (max 1 n)
        let sizes = Array.zeroCreate<int64> (max 1 n)
        let mutable staircaseFail = false
        let mutable nodes = 0L
        let mutable budget = 0L

        /// The sort keys of one preorder letter for buffer i (larger first).
        let keyOf (c: char) (i: int) : float =
            let width = float (bs.[i].Lifetime.End - bs.[i].Lifetime.Start)
            match c with
            | 'W' | 'L' -> width
            | 'A' -> width * float size.[i]
            | 'T' -> (let mutable m = 0L in (for s in sLo.[i] .. sHi.[i] - 1 do m <- max m total.[s]); float m)
            | 'Z' -> float size.[i]
            | 'S' -> float bs.[i].Lifetime.Start
            | 'E' -> float bs.[i].Lifetime.End
            | 'O' -> float overlaps.[i].Length
            | 'C' -> float (sHi.[i] - sLo.[i])
            | _ -> 0.0

        let factor =
            if opts.Seed = 0 then Array.create n 1.0
            else
                let rnd = Random(opts.Seed)
                Array.init n (fun _ -> 1.0 + opts.Jitter * (2.0 * rnd.NextDouble() - 1.0))

        /// keyOf times the buffer's random factor (1 without a seed).
        let key (c: char) (i: int) : float = factor.[i] * keyOf c i

        /// True when some section's total is above the capacity (no plan at all).
        member _.Overloaded = total |> Array.exists (fun t -> t > capacity)

        /// The zero-cut parts of sections [lo, hi): (lo, hi, unplaced buffers in it).
        member _.Parts(lo: int, hi: int, candidates: int[]) : (int * int * int[]) list =
            let bounds = ResizeArray<int>([ lo ])
            for k in lo .. hi - 2 do
                if cuts.[k] = 0 then bounds.Add(k + 1)
            bounds.Add hi
            [ for p in 0 .. bounds.Count - 2 do
                let a, b = bounds.[p], bounds.[p + 1]
                let inside = candidates |> Array.filter (fun i -> offset.[i] < 0L && sLo.[i] < b && a < sHi.[i])
                if inside.Length > 0 then a, b, inside ]

        /// Solves one part from scratch (fresh canonical order) under a preorder.
        member s.SubSolve(preorder: string, lo: int, hi: int, buffers: int[]) : Status =
            let keys = buffers |> Array.map (fun i -> struct (i, preorder |> Seq.map (fun ch -> key ch i) |> Array.ofSeq))
            let order =
                keys |> Array.sortWith (fun (struct (a, ka)) (struct (b, kb)) ->
                    let mutable c = 0
                    for q in 0 .. ka.Length - 1 do
                        if c = 0 then c <- compare kb.[q] ka.[q]
                    if c <> 0 then c else compare a b)
                |> Array.map (fun (struct (i, _)) -> i)
            let pre = Array.zeroCreate<int> n
            order |> Array.iteri (fun r i -> pre.[i] <- r)
            s.Dfs(preorder, lo, hi, order, pre, 0L, -1)

        member s.Dfs(preorder, lo, hi, order: int[], pre: int[], lastOff: int64, lastPre: int) : Status =
            if nodes > budget then Aborted
            elif opts.Cancellation.IsCancellationRequested then Cancelled
            else
            let cand = order |> Array.filter (fun i -> offset.[i] < 0L)
            if cand.Length = 0 then Found
            elif pinned && cand |> Array.exists (fun i -> match bs.[i].Pinned with Some p -> minOff.[i] > p | None -> false) then NotFound
            else
            Array.sortInPlaceWith (fun a b -> let c = compare minOff.[a] minOff.[b] in if c <> 0 then c else compare pre.[a] pre.[b]) cand
            let mutable minHeight = Int64.MaxValue
            for i in cand do minHeight <- min minHeight (minOff.[i] + size.[i])
            let mutable status = NotFound
            let mutable k = 0
            while status = NotFound && k < cand.Length do
                let b = cand.[k]
                let off = minOff.[b]
                k <- k + 1
                if opts.Dominance && off >= minHeight then k <- cand.Length // sorted by offset: all the rest are dominated too
                elif opts.CanonicalOnly && (off < lastOff || (off = lastOff && pre.[b] < lastPre)) then ()
                elif off + size.[b] > capacity then ()
                elif (nodes <- nodes + 1L; (nodes &&& 255L) = 0L && opts.Cancellation.IsCancellationRequested) then
                    status <- Cancelled
                else
                    let offMark, secMark = offTrail.Count, secTrail.Count
                    s.Place(b, off)
                    if s.Check(lo, hi, off) then
                        status <-
                            if opts.Decomposition then s.Decompose(preorder, lo, hi, order, pre, b, off)
                            else s.Dfs(preorder, lo, hi, order, pre, off, pre.[b])
                    s.Unplace(b, offMark, secMark)
            status

        member _.Place(b: int, off: int64) =
            staircaseFail <- false
            offset.[b] <- off
            solution.[b] <- off
            let top = off + size.[b]
            stampNow <- stampNow + 1
            affected.Clear()
            let js = overlaps.[b]
            let above = match pieces with Some g -> g.Above.[b] | None -> null
            for q in 0 .. js.Length - 1 do
                let j = js.[q]
                let top = if isNull above then top else off + above.[q]
                if offset.[j] < 0L && minOff.[j] < top then
                    offTrail.Add(struct (j, minOff.[j]))
                    minOff.[j] <- Numbers.alignUp align.[j] top
                    if opts.SectionInference || opts.StaircaseInference then
                        for sct in sLo.[j] .. sHi.[j] - 1 do
                            if stamp.[sct] <> stampNow then
                                stamp.[sct] <- stampNow
                                affected.Add sct
            if isNull width then
                for sct in sLo.[b] .. sHi.[b] - 1 do
                    secTrail.Add(struct (sct, floor.[sct]))
                    floor.[sct] <- top
                    total.[sct] <- total.[sct] - size.[b]
            else
                // gaps: later buffers' windows in a section lie above b's window there (proofs/gaps.md, G3)
                for sct in sLo.[b] .. sHi.[b] - 1 do
                    let k = sct - sLo.[b]
                    if width.[b].[k] > 0L then
                        secTrail.Add(struct (sct, floor.[sct]))
                        floor.[sct] <- off + wtop.[b].[k]
                        total.[sct] <- total.[sct] - width.[b].[k]
            // a section's floor is at least the lowest offset any of its unplaced buffers can take
            for sct in affected do
                let mutable m = Int64.MaxValue
                for j in secBuffers.[sct] do
                    if offset.[j] < 0L && minOff.[j] < m then m <- minOff.[j]
                if m <> Int64.MaxValue && floor.[sct] < m then
                    secTrail.Add(struct (sct, floor.[sct]))
                    floor.[sct] <- m
                // staircase: the unplaced buffers whose lowest offset is >= h lie disjointly in [h, capacity)
                if opts.StaircaseInference && not staircaseFail then
                    let f = max off floor.[sct]
                    let mutable count = 0
                    for j in secBuffers.[sct] do
                        if offset.[j] < 0L then
                            lows.[count] <- max f minOff.[j]
                            sizes.[count] <- size.[j]
                            count <- count + 1
                    if count > 1 then
                        Array.Sort(lows, sizes, 0, count)
                        let mutable sum = 0L
                        let mutable q = count - 1
                        while q >= 0 && not staircaseFail do
                            sum <- sum + sizes.[q]
                            if lows.[q] + sum > capacity then staircaseFail <- true
                            q <- q - 1

        member _.Unplace(b: int, offMark: int, secMark: int) =
            for t in secTrail.Count - 1 .. -1 .. secMark do
                let struct (sct, v) = secTrail.[t]
                floor.[sct] <- v
            secTrail.RemoveRange(secMark, secTrail.Count - secMark)
            for t in offTrail.Count - 1 .. -1 .. offMark do
                let struct (j, v) = offTrail.[t]
                minOff.[j] <- v
            offTrail.RemoveRange(offMark, offTrail.Count - offMark)
            for sct in sLo.[b] .. sHi.[b] - 1 do
                total.[sct] <- total.[sct] + (if isNull width then size.[b] else width.[b].[sct - sLo.[b]])
            offset.[b] <- -1L

        member _.Check(lo: int, hi: int, off: int64) : bool =
            let mutable ok = not staircaseFail
            let mutable sct = lo
            while ok && sct < hi do
                let f = max off floor.[sct]
                let need = if opts.SectionInference then f + total.[sct] else f
                if total.[sct] > 0L && need > capacity then ok <- false
                sct <- sct + 1
            ok

        member s.Decompose(preorder, lo, hi, order, pre, b, off) : Status =
            let mutable split = false
            for k in sLo.[b] .. sHi.[b] - 2 do
                cuts.[k] <- cuts.[k] - 1
                if cuts.[k] = 0 then split <- true
            let status =
                if not split then s.Dfs(preorder, lo, hi, order, pre, off, pre.[b])
                else
                    let mutable st = Found
                    for (a, z, inside) in s.Parts(lo, hi, order) do
                        if st = Found then st <- s.SubSolve(preorder, a, z, inside)
                    st
            for k in sLo.[b] .. sHi.[b] - 2 do cuts.[k] <- cuts.[k] + 1
            status

        /// Round robin over the preorders with a doubling node budget, as MiniMalloc does.
        member s.Run() : ExactResult * int64 =
            if n = 0 then Fits { Offsets = [||] }, 0L
            elif s.Overloaded then DoesNotFit, 0L
            else
                let all = Array.init n id
                let parts =
                    if opts.Decomposition then s.Parts(0, nSec, all) else [ 0, nSec, all ]
                let preorders = if opts.Preorders.IsEmpty then [ "WAT" ] else opts.Preorders
                let mutable used = 0L
                // one preorder: one pass with the whole budget (a restart would repeat the same deterministic search)
                let single = preorders.Length = 1
                let mutable limit = if single then opts.NodeLimit / 2L + 1L else int64 (max 2 n) * opts.InitialBudgetFactor
                let mutable result = None
                while result.IsNone do
                    limit <- if limit > Int64.MaxValue / 2L then Int64.MaxValue else limit * 2L
                    let mutable ps = preorders
                    while result.IsNone && not ps.IsEmpty do
                        let room = opts.NodeLimit - used
                        if room <= 0L then result <- Some Unknown
                        else
                            nodes <- 0L
                            budget <- min limit room
                            let mutable st = Found
                            for (a, z, inside) in parts do
                                if st = Found then st <- s.SubSolve(ps.Head, a, z, inside)
                            used <- used + min nodes budget
                            match st with
                            | Found -> result <- Some(Fits { Offsets = Array.copy solution })
                            | NotFound -> result <- Some(if incomplete then Unknown else DoesNotFit)
                            | Cancelled -> result <- Some Unknown
                            | Aborted -> ()
                            ps <- ps.Tail
                result.Value, used

    /// The plan the minimization starts from when given no hint: each buffer, largest first, at the lowest aligned
    /// offset free among its placed time neighbours (Placement.placeInOrder with Fit.First). Valid, O(n log n).
    let initialPlan (problem: Problem) : Plan =
        let order = problem |> Placement.orderBy (fun a b -> let c = compare b.Size a.Size in if c <> 0 then c else compare a.Lifetime.Start b.Lifetime.Start)
        Placement.placeInOrder Fit.First order problem

    let private checkPlan (problem: Problem) (capacity: int64) (plan: Plan) =
        match Validate.plan problem (Some capacity) plan with
        | [] -> plan
        | v :: _ -> failwithf "Exact search produced an invalid plan: %s" (Violation.describe v)

    /// Decides whether the buffers fit under the capacity (bytes): Fits with a validated plan, DoesNotFit (proven), or Unknown.
    let decide (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult =
        match fst (Decision(problem, capacity, options).Run()) with
        | Fits plan -> Fits (checkPlan problem capacity plan)
        | r -> r

    /// Like decide, also returning the search nodes used.
    let decideCounting (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult * int64 =
        let r, nodes = Decision(problem, capacity, options).Run()
        (match r with Fits plan -> Fits (checkPlan problem capacity plan) | r -> r), nodes

    /// Decides a capacity with one search per preorder in parallel threads (a portfolio: the first decisive answer
    /// cancels the others); with one preorder, the sequential search. Sound like decide; which plan wins a race between
    /// two fitting searches may vary from run to run.
    let decideParallel (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult =
        if options.Preorders.Length <= 1 then decide options capacity problem
        else
            use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
            let tasks =
                options.Preorders
                |> List.map (fun preorder ->
                    System.Threading.Tasks.Task.Run(fun () ->
                        let r = decide { options with Preorders = [ preorder ]; Cancellation = cts.Token } capacity problem
                        (match r with
                         | Unknown -> ()
                         | _ -> cts.Cancel())
                        r))
                |> Array.ofList
            System.Threading.Tasks.Task.WaitAll(tasks |> Array.map (fun t -> t :> System.Threading.Tasks.Task))
            tasks |> Array.map (fun t -> t.Result)
            |> Array.tryFind (function Unknown -> false | _ -> true)
            |> Option.defaultValue Unknown

    /// The granularity of canonical peaks: every canonical offset and peak is a multiple of the gcd of all sizes and
    /// alignments, and with gaps and pins (Gaps) of the windows' bounds and the pinned offsets.
    let granularity (problem: Problem) : int64 =
        problem.Buffers
        |> Array.fold (fun g b ->
            let g = Numbers.gcd (Numbers.gcd g b.Size) (if b.Alignment > 1L then b.Alignment else 0L)
            let g = match b.Pinned with Some p -> Numbers.gcd g p | None -> g
            b.Gaps |> Array.fold (fun g gap -> match gap.Window with Some w -> Numbers.gcd (Numbers.gcd g w.Lo) w.Hi | None -> g) g) 0L
        |> max 1L

    /// Minimizes the peak, reporting (best peak, proven bound) after every decision: the lower bound first, then bisection
    /// on the capacity between the proven lower bound and the best peak (from the hint or first fit). Rounds with a doubling
    /// node budget per decision (options.NodeLimit when finite: one round). Stops when optimal or cancelled.
    /// The decision procedure is a parameter (decide: options -> capacity -> problem -> result and nodes used), so that a
    /// caller can run a parallel portfolio; it must be sound (Fits only with a valid plan, DoesNotFit only with a proof).
    let minimizeWith (decide: ExactOptions -> int64 -> Problem -> ExactResult * int64) (options: ExactOptions) (hint: Plan option)
                     (progress: int64 -> int64 -> unit) (problem: Problem) : ExactMinimum =
        let start =
            match hint with
            | Some h when Validate.isValid problem h -> h
            | _ -> initialPlan problem
        let g = granularity problem
        let roundUp v = ((v + g - 1L) / g) * g
        // every canonical peak, hence the optimum, is a multiple of g: below a peak p the next candidate is the largest
        // multiple of g under p (not p - g, which misses it when p is off the grid), and a proof that c does not fit
        // moves the bound to the next multiple of g above c, `above c` (proofs/exact-search.md, Lemma 1)
        let below p = ((p - 1L) / g) * g
        let above c = (c / g) * g + g
        let mutable best = start
        let mutable peak = Plan.peak problem start
        let mutable lower = roundUp (Bounds.lowerBound problem)
        let mutable nodes = 0L
        let finite = options.NodeLimit <> Int64.MaxValue
        let mutable limit = if finite then options.NodeLimit else 100_000L
        let mutable rounds = true
        progress peak (min lower peak)
        while rounds && lower < peak && not options.Cancellation.IsCancellationRequested do
            // bisection on [lo, peak): lo only moves up; a proof of DoesNotFit also moves the proven lower bound
            let mutable lo = lower
            let mutable first = true
            // a round where no decision ran out of nodes cannot gain from a larger budget (an exhausted search that
            // proves nothing, as with gaps whose distances are <= 0, answers Unknown every time)
            let mutable cut = false
            while lo < peak && not options.Cancellation.IsCancellationRequested do
                let cap = if first then lo else min (below peak) (roundUp (lo + (below peak - lo) / 2L))
                first <- false
                // the lower bound is the usual optimum: it gets four times the budget of a bisection step
                let budget = if cap = lower && limit < Int64.MaxValue / 4L then 4L * limit else limit
                let r, used = decide { options with NodeLimit = budget } cap problem
                nodes <- nodes + used
                match r with
                | Fits plan ->
                    best <- plan
                    peak <- Plan.peak problem plan
                | DoesNotFit ->
                    lower <- max lower (above cap)
                    lo <- above cap
                | Unknown ->
                    if used >= budget then cut <- true
                    lo <- above cap
                progress peak (min lower peak)
            if finite || not cut then rounds <- false else limit <- limit * 4L
        { Best = best; Peak = peak; LowerBound = min lower peak; Optimal = lower >= peak; Nodes = nodes }

    /// Minimizes the peak with the sequential decision procedure (see minimizeWith).
    let minimizeWithProgress (options: ExactOptions) (hint: Plan option) (progress: int64 -> int64 -> unit) (problem: Problem) : ExactMinimum =
        minimizeWith decideCounting options hint progress problem

    /// Minimizes the peak (see minimizeWith) without progress reports.
    let minimize (options: ExactOptions) (hint: Plan option) (problem: Problem) : ExactMinimum =
        minimizeWithProgress options hint (fun _ _ -> ()) problem
