namespace Pgmo.Planner

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks

/// The best plan and the best proven lower bound of one minimization, shared by the solvers that race on it.
/// Thread-safe. The peak only goes down, the bound only goes up and never above the peak; every change is reported
/// (under the lock, so reports come in order) with the name of the solver that made it.
type Incumbent(problem: Problem, start: Plan, report: string -> int64 -> int64 -> unit) =
    let gate = obj ()
    let g = Exact.granularity problem
    let roundUp v = ((v + g - 1L) / g) * g
    let mutable best = start
    let mutable bestBy = "start"
    let mutable peak = Plan.peak problem start
    // the optimum is a multiple of g (proofs/exact-search.md, Lemma 1), so a bound may be rounded up to one
    let mutable bound = min peak (roundUp (Bounds.lowerBound problem))
    let listeners = ResizeArray<unit -> unit>()
    let changed () = for f in lock gate (fun () -> listeners.ToArray()) do f ()

    /// The granularity of the problem's canonical peaks (Exact.granularity).
    member _.Granularity = g
    /// The best plan so far (valid).
    member _.Best = lock gate (fun () -> best)
    /// The solver that offered the best plan ("start" for the start plan).
    member _.BestBy = lock gate (fun () -> bestBy)
    /// The best plan's peak in bytes.
    member _.Peak = lock gate (fun () -> peak)
    /// The proven lower bound on every valid plan's peak in bytes (a multiple of the granularity, or the peak).
    member _.Bound = lock gate (fun () -> bound)
    /// True when the bound meets the peak: the best plan is optimal.
    member _.Optimal = lock gate (fun () -> bound >= peak)
    /// Calls f (outside the lock) after every change of the peak or the bound.
    member _.Subscribe(f: unit -> unit) = lock gate (fun () -> listeners.Add f)

    /// Keeps a valid plan when its peak is below the best; true when it did.
    member _.Offer(solver: string, plan: Plan) : bool =
        let p = Plan.peak problem plan
        let improved =
            lock gate (fun () ->
                if p < peak then
                    best <- plan
                    bestBy <- solver
                    peak <- p
                    bound <- min bound p
                    report solver peak bound
                    true
                else false)
        if improved then changed ()
        improved

    /// Raises the bound to a proven lower bound on the optimum (rounded up to the granularity); true when it rose.
    member _.Raise(solver: string, proven: int64) : bool =
        let raised =
            lock gate (fun () ->
                let b = min peak (roundUp proven)
                if b > bound then
                    bound <- b
                    report solver peak bound
                    true
                else false)
        if raised then changed ()
        raised

/// Settings of the descent (Descent.minimize); copy `Descent.defaults` with `{ Descent.defaults with … }`.
type DescentOptions =
    { /// Probes run at the same time (threads).
      Workers: int
      /// The exact search's preorders; each capacity is probed once per preorder (Exact.ExactOptions.Preorders).
      Preorders: string list
      /// Capacities probed strictly between the bound and the capacity just below the peak.
      Points: int
      /// Before the descent, the bound's capacity is decided for this long with one long search per preorder (in
      /// parallel with two workers or more, else interleaved): the bound is the optimum of most instances and
      /// a long search there beats short restarts (TimeSpan.Zero: no such phase; with a finite NodeLimit, a quarter of
      /// it instead of a time).
      BoundTime: TimeSpan
      /// The share of the search nodes spent on the bound's capacity (the optimum of most instances); the rest goes
      /// to the capacities above it.
      BoundShare: float
      /// Node budget of the first probe of a (capacity, preorder) pair per buffer (a plan takes at least one node per
      /// buffer); it doubles after every probe of the pair that ran out.
      FirstNodes: int64
      /// Search nodes over all probes (Int64.MaxValue: no limit; a finite limit with one worker is deterministic).
      NodeLimit: int64
      /// The first key-jitter seed of the jittered sweeps (randomShare of the nodes above the bound: every capacity and
      /// preorder of the upper half of the band with Exact's Seed, one seed per sweep, a Luby budget); equal seeds with
      /// one worker and a node limit give equal answers.
      Seed: int
      /// Stops the descent; the best plan so far is returned.
      Cancellation: CancellationToken }

/// Minimization by capacity decisions: from a valid start plan, the exact search (Exact.Probe) probes capacities
/// below the best peak, each probe a single preorder with a short node budget that doubles when the pair is probed
/// again (its search kept and resumed where it stopped, on problems of at most keepBuffers buffers). The capacities probed are the bound, the largest multiple of the granularity below the peak and
/// `Points` capacities spread between them: a lower capacity can be easier to fit than a higher one, so the descent
/// does not bisect. The pair with the least budget spent, weighted towards the peak, goes next, so every pair
/// advances and a hard capacity never blocks an easy one; the jittered sweeps (randomShare of the nodes) restart short
/// searches in randomized orders over the upper half of the band. A fitting plan lowers the peak (probes at or above it are
/// cancelled), a proof of infeasibility at c raises the bound to c + granularity (probes below it are cancelled).
/// Other solvers may share the Incumbent (a CP-SAT bound, a plan) while it runs. Soundness: proofs/exact-search.md.
[<RequireQualifiedAccess>]
module Descent =

    /// One worker, Exact's preorders, 64 spread points (every multiple of the granularity in a band of up to 65 of them), no first phase at the bound, a quarter of the nodes on the bound, a first budget of 4 nodes per buffer, no limit, no cancellation.
    let defaults =
        { Workers = 1; Preorders = Exact.defaults.Preorders; Points = 64; BoundTime = TimeSpan.Zero; BoundShare = 0.25; FirstNodes = 4L; NodeLimit = Int64.MaxValue
          Seed = 1; Cancellation = CancellationToken.None }

    /// The largest problem the exact search handles: its setup is quadratic in the buffers and linear in the
    /// (buffer, time section) pairs, repeated for every probe.
    let maxBuffers = 5000

    /// The largest problem whose probes are kept between turns and resumed (a kept search holds its stack: up to
    /// about n^2 / 2 candidate entries).
    let keepBuffers = 1000

    /// The share of the nodes above the bound that goes to the jittered sweeps (short restarts with jittered keys): on
    /// D and J they fit capacities whose fixed-order searches all stall (docs/planner-results.md).
    let randomShare = 1.0 / 2.0

    /// True when the exact search's setup stays cheap on a time axis: at most maxBuffers buffers and 5 million
    /// (buffer, section) pairs (TimeAxis.Memberships). Larger problems keep their start plan (the descent returns at once).
    let tractableOn (axis: TimeAxis) : bool = axis.Buffers <= maxBuffers && axis.Memberships <= 5_000_000L

    /// True when the exact search's setup stays cheap on a problem (tractableOn its time axis).
    let tractable (problem: Problem) : bool = problem.Buffers.Length <= maxBuffers && tractableOn (TimeAxis problem)

    /// The Luby sequence 1 1 2 1 1 2 4 1 1 2 … (i >= 1): the restart budgets of Luby, Sinclair and Zuckerman (1993).
    let rec luby (i: int64) : int64 =
        let mutable k = 1
        while (1L <<< k) - 1L < i do k <- k + 1
        if i = (1L <<< k) - 1L then 1L <<< (k - 1) else luby (i - (1L <<< (k - 1)) + 1L)

    /// The capacities probed between a bound and a peak (multiples of g, in [bound, peak)), lowest first: the bound,
    /// the top (the largest below the peak) and top - (2^k - 1) g galloping down from it, and `points` spread evenly.
    let capacities (points: int) (g: int64) (bound: int64) (peak: int64) : int64[] =
        let top = ((peak - 1L) / g) * g
        let bottom = ((bound + g - 1L) / g) * g
        if top < bottom then [||]
        else
            let span = (top - bottom) / g
            [| yield bottom
               // galloping down from the top: top - (2^k - 1) g
               let mutable step = 0L
               while step <= span do
                   yield top - step * g
                   step <- 2L * step + 1L
               for k in 1 .. points -> bottom + (span * int64 k / int64 (points + 1)) * g |]
            |> Array.distinct |> Array.sort

    /// Descends from the incumbent's plan with capacity decisions until the bound meets the peak, the node limit is
    /// spent or the descent is cancelled (at once when the problem is not tractable); returns the incumbent's best plan and bound (which other solvers may
    /// have improved meanwhile) and the nodes used.
    let run (options: DescentOptions) (incumbent: Incumbent) (axis: TimeAxis) : ExactMinimum =
        let problem = axis.Problem
        let g = incumbent.Granularity
        let preorders = if options.Preorders.IsEmpty then Exact.defaults.Preorders else options.Preorders
        let gate = obj ()
        let next = Dictionary<struct (int64 * string), int64>()
        let running = Dictionary<struct (int64 * string), CancellationTokenSource>()
        let mutable used = 0L
        let fits = tractableOn axis
        let stop () =
            not fits || options.Cancellation.IsCancellationRequested || incumbent.Optimal || used >= options.NodeLimit
        // cancels the probes that a new peak or bound made pointless
        let randomRuns = ResizeArray<int64 * CancellationTokenSource>()
        let prune () =
            let peak, bound = incumbent.Peak, incumbent.Bound
            lock gate (fun () ->
                for KeyValue(struct (c, _), cts) in running do
                    if c >= peak || c < bound then cts.Cancel()
                for (c, cts) in randomRuns do
                    if c >= peak || c < bound then cts.Cancel())
        incumbent.Subscribe prune
        // the jittered sweeps: every (capacity, preorder) of the upper half of the band, one seed per sweep
        let sweep = ResizeArray<int64 * string>()
        let mutable sweepAt = 0
        let mutable sweepSeed = 0
        let first = options.FirstNodes * int64 (max 1 problem.Buffers.Length)
        let mutable randoms = 0L
        let mutable randomNodes = 0L
        let mutable boundNodes = 0L
        let mutable phaseNodes = 0L
        // the least-spent free pair among caps, if any; a pair d multiples of g below the highest of caps counts its
        // budget (1 + d / 4) times: every capacity advances, the ones just below the peak (likelier to fit) faster
        let leastSpent (caps: int64[]) =
            let mutable least = Double.MaxValue
            let mutable chosen = None
            let highest = if caps.Length = 0 then 0L else Array.max caps
            for c in caps do
                for p in preorders do
                    let key = struct (c, p)
                    if not (running.ContainsKey key) then
                        let budget = match next.TryGetValue key with | true, b -> b | _ -> first
                        let weighted = float budget * (1.0 + float ((highest - c) / g) / 4.0)
                        if weighted < least then
                            least <- weighted
                            chosen <- Some(c, p, 0, budget)
            chosen
        // the bound's pairs while they have had less than their share of the nodes; otherwise the
        // least-spent pair above the bound or the next probe of the jittered sweep, by their shares of the nodes
        let pick () =
            lock gate (fun () ->
                if stop () then None
                else
                    let bound, peak = incumbent.Bound, incumbent.Peak
                    let caps = capacities options.Points g bound peak
                    let mutable chosen = None
                    // the bound's share counts from the end of the first phase (which spent its nodes on the bound)
                    if caps.Length > 0 && float (boundNodes - phaseNodes) <= options.BoundShare * float (used - phaseNodes) then
                        chosen <- leastSpent [| caps.[0] |]
                    if chosen.IsNone && caps.Length > 1 then
                        // randomShare of the nodes above the bound on the sweeps (the pairs' budgets double, the
                        // sweeps' stay short: alternating by count would starve the sweeps)
                        if float randomNodes <= randomShare * float (used - boundNodes) then
                            // the next (capacity, preorder) of the sweep; a finished sweep starts the next seed over
                            // the upper half of the band, lowest capacity first (which capacities fit quickly is
                            // erratic, but far below the peak most are infeasible: the improvements on D and J were
                            // within 2 % of the peak)
                            let mutable next = None
                            while next.IsNone do
                                if sweepAt >= sweep.Count then
                                    randoms <- randoms + 1L
                                    sweepSeed <- if randoms = 1L then max 1 options.Seed else sweepSeed + 1
                                    let top = caps.[caps.Length - 1]
                                    let bottom = max caps.[1] (top - ((top - caps.[1]) / (2L * g)) * g)
                                    sweep.Clear()
                                    for c in bottom .. g .. top do
                                        for p in preorders do sweep.Add((c, p))
                                    sweepAt <- 0
                                let c, p = sweep.[sweepAt]
                                sweepAt <- sweepAt + 1
                                if c < peak && c >= bound then next <- Some(c, p)
                            let c, p = next.Value
                            chosen <- Some(c, p, sweepSeed, 2L * first * luby randoms)
                        else chosen <- leastSpent (Array.rev caps.[1..])
                    if chosen.IsNone && caps.Length > 0 then chosen <- leastSpent [| caps.[0] |]
                    match chosen with
                    | Some(c, p, seed, budget) ->
                        let cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
                        if seed = 0 then running.[struct (c, p)] <- cts else randomRuns.Add((c, cts))
                        let atBound = (c = caps.[0])
                        Some(c, p, seed, min budget (max 1L (options.NodeLimit - used)), atBound, cts)
                    | None -> None)
        // the searches of the (capacity, preorder) pairs, kept between their turns and resumed where they stopped
        // (only on problems small enough that the kept stacks stay small: at most keepBuffers buffers)
        let prepared = if fits then Some(Exact.Prepared axis) else None
        let kept = Dictionary<struct (int64 * string), Exact.Probe>()
        let keep = problem.Buffers.Length <= keepBuffers
        let probeOf (c: int64) (p: string) (seed: int) =
            let fresh () = Exact.Probe(prepared.Value, c, { Exact.defaults with Seed = seed }, p)
            if seed <> 0 || not keep then fresh ()
            else
                lock gate (fun () ->
                    match kept.TryGetValue(struct (c, p)) with
                    | true, probe -> probe
                    | _ ->
                        let probe = fresh ()
                        kept.[struct (c, p)] <- probe
                        probe)
        let forget (c: int64) (p: string) = lock gate (fun () -> kept.Remove(struct (c, p)) |> ignore)
        // drops the kept searches that a new peak or bound made pointless
        incumbent.Subscribe(fun () ->
            let peak, bound = incumbent.Peak, incumbent.Bound
            lock gate (fun () ->
                for key in Seq.toArray kept.Keys do
                    let struct (c, _) = key
                    if c >= peak || c < bound then kept.Remove key |> ignore))
        // "exact" for the kept probes, "exact-jitter" for the sweeps' (the progress lines name them)
        let conclude (name: string) (c: int64) (result: ExactResult) =
            match result with
            | Fits plan -> incumbent.Offer(name, plan) |> ignore
            | DoesNotFit -> incumbent.Raise(name, c + g) |> ignore
            | Unknown -> ()
        let worker () =
            let mutable go = true
            while go do
                match pick () with
                | None -> go <- false
                | Some(c, p, seed, budget, atBound, cts) ->
                    let probe = probeOf c p seed
                    let result, nodes = Exact.resume probe c budget cts.Token
                    let pruned = cts.IsCancellationRequested
                    lock gate (fun () ->
                        used <- used + nodes
                        if atBound then boundNodes <- boundNodes + nodes
                        if seed <> 0 then
                            randomNodes <- randomNodes + nodes
                            randomRuns.RemoveAll(fun (_, x) -> obj.ReferenceEquals(x, cts)) |> ignore
                        else
                            running.Remove(struct (c, p)) |> ignore
                            if not pruned then next.[struct (c, p)] <- (if budget > Int64.MaxValue / 2L then budget else 2L * budget))
                    cts.Dispose()
                    (match result with Unknown -> () | _ -> forget c p)
                    conclude (if seed = 0 then "exact" else "exact-jitter") c result
        // the first phase: a long decision at the bound, its probes kept for the descent
        if not (stop ()) && (options.BoundTime > TimeSpan.Zero || options.NodeLimit < Int64.MaxValue) then
            use phase = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
            if options.NodeLimit = Int64.MaxValue then phase.CancelAfter options.BoundTime
            let bound = incumbent.Bound
            let probes = preorders |> List.map (fun p -> p, probeOf bound p 0) |> Array.ofList
            let cap = if options.NodeLimit = Int64.MaxValue then Int64.MaxValue else options.NodeLimit / 4L
            let answer = ref Unknown
            if options.Workers >= 2 && options.NodeLimit = Int64.MaxValue then
                // one thread per preorder; the first decisive answer stops the others
                let tasks =
                    probes |> Array.map (fun (_, probe) ->
                        Task.Run(fun () ->
                            let r, nodes = Exact.resume probe bound Int64.MaxValue phase.Token
                            lock gate (fun () ->
                                used <- used + nodes
                                match r with
                                | Unknown -> ()
                                | r -> answer.Value <- r)
                            match r with
                            | Unknown -> ()
                            | _ -> phase.Cancel()))
                Task.WaitAll(tasks)
            else
                // one thread: the preorders' searches interleaved, Exact.defaults.Slice nodes per turn
                let mutable k = 0
                while (match answer.Value with Unknown -> true | _ -> false) && not phase.IsCancellationRequested && used < cap do
                    let _, probe = probes.[k % probes.Length]
                    let r, nodes = Exact.resume probe bound (min Exact.defaults.Slice (cap - used)) phase.Token
                    lock gate (fun () -> used <- used + nodes)
                    answer.Value <- r
                    k <- k + 1
            lock gate (fun () ->
                boundNodes <- used
                phaseNodes <- used
                for p, probe in probes do next.[struct (bound, p)] <- max first probe.Nodes)
            match answer.Value with
            | Unknown -> ()
            | r ->
                for p, _ in probes do forget bound p
                conclude "exact" bound r
        let helpers =
            [| for _ in 2 .. max 1 options.Workers -> Task.Factory.StartNew(worker, TaskCreationOptions.LongRunning) |]
        worker ()
        Task.WaitAll(helpers)
        let best = incumbent.Best
        { Best = best; Peak = incumbent.Peak; LowerBound = incumbent.Bound; Optimal = incumbent.Optimal; Nodes = used }

    /// Minimizes the peak of a time axis's problem from a valid start plan (see run), reporting (solver, best peak,
    /// bound) on every change.
    let minimizeOn (options: DescentOptions) (start: Plan) (report: string -> int64 -> int64 -> unit) (axis: TimeAxis) : ExactMinimum =
        run options (Incumbent(axis.Problem, start, report)) axis

    /// Minimizes the peak from a valid start plan (minimizeOn the problem's time axis).
    let minimize (options: DescentOptions) (start: Plan) (report: string -> int64 -> int64 -> unit) (problem: Problem) : ExactMinimum =
        minimizeOn options start report (TimeAxis problem)
