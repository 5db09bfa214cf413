namespace Pgmo.Planner

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks

/// One probe a descent runs next: a capacity, a preorder, its jitter seed (None: the pair's kept search, resumed
/// where it stopped; Some: a fresh search of a jittered sweep) and its node budget.
type DescentChoice =
    { /// The capacity decided, a multiple of the granularity in [bound, peak).
      Capacity: int64
      /// The exact search's preorder.
      Preorder: Preorder
      /// None for the pair's kept search, Some seed for a jittered sweep's fresh one.
      Jitter: int option
      /// The most nodes it may spend this turn.
      Budget: int64
      /// True when the capacity is the bound's (the bound's share counts it).
      AtBound: bool }

/// Which probe of a descent runs next (Descent.run). The capacities probed are the bound, the largest multiple of the
/// granularity below the peak, galloping down from it, and `points` spread between (Descent.capacities): a lower
/// capacity can be easier to fit than a higher one, so the descent does not bisect. Every (capacity, preorder) pair
/// has a node budget, first `first`, doubled after every turn that ran out; the pair with the least budget, weighted
/// towards the peak, goes next, so every pair advances and a hard capacity never blocks an easy one. The bound's
/// pairs get `boundShare` of the nodes (the bound is the optimum of most instances); of the rest, `randomShare`
/// goes to the jittered sweeps: every (capacity, preorder) of the upper half of the band with a fresh jittered
/// search, one seed per sweep, Luby budgets. Pure bookkeeping (no clock, no threads); the descent calls it under
/// its lock.
[<Sealed>]
type DescentSchedule(preorders: Preorder list, granularity: int64, first: int64, points: int, boundShare: float,
                     randomShare: float, seed: int) =
    let g = granularity
    let next = Dictionary<struct (int64 * Preorder), int64>()
    let running = HashSet<struct (int64 * Preorder)>()
    let ended = HashSet<struct (int64 * Preorder)>()
    let sweep = List<int64 * Preorder>()
    let mutable sweepAt = 0
    let mutable sweepSeed = 0
    let mutable sweeps = 0L
    let mutable used = 0L
    let mutable boundNodes = 0L
    let mutable phaseNodes = 0L
    let mutable randomNodes = 0L

    /// The most capacities a jittered sweep covers, the highest below the peak.
    static member SweepWidth = 16

    /// The Luby sequence 1 1 2 1 1 2 4 1 1 2 … (i >= 1): the restart budgets of Luby, Sinclair and Zuckerman (1993).
    static member Luby(i: int64) : int64 =
        let mutable k = 1
        while (1L <<< k) - 1L < i do k <- k + 1
        if i = (1L <<< k) - 1L then 1L <<< (k - 1) else DescentSchedule.Luby(i - (1L <<< (k - 1)) + 1L)

    /// The capacities probed between a bound and a peak (multiples of g, in [bound, peak)), lowest first: the bound,
    /// the top (the largest below the peak) and top - (2^k - 1) g galloping down from it, and `points` spread evenly.
    static member Capacities(points: int, g: int64, bound: int64, peak: int64) : int64[] =
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

    /// Nodes spent by every probe so far.
    member _.Used = used
    /// Nodes spent at the bound's capacity.
    member _.BoundNodes = boundNodes
    /// Nodes spent by the jittered sweeps.
    member _.RandomNodes = randomNodes
    /// The budget the pair's next turn gets.
    member _.BudgetOf(capacity: int64, preorder: Preorder) =
        match next.TryGetValue(struct (capacity, preorder)) with
        | true, b -> b
        | _ -> first

    /// The least-spent free pair among caps, if any; a pair d multiples of g below the highest of caps counts its
    /// budget (1 + d / 4) times: every capacity advances, the ones just below the peak (likelier to fit) faster.
    member private _.LeastSpent(caps: int64[]) =
        let mutable least = Double.MaxValue
        let mutable chosen = None
        let highest = if caps.Length = 0 then 0L else Array.max caps
        for c in caps do
            for p in preorders do
                let key = struct (c, p)
                if not (running.Contains key) && not (ended.Contains key) then
                    let budget = match next.TryGetValue key with | true, b -> b | _ -> first
                    let weighted = float budget * (1.0 + float ((highest - c) / g) / 4.0)
                    if weighted < least then
                        least <- weighted
                        chosen <- Some(c, p, budget)
            ()
        chosen

    /// The next probe under the bound and the peak, or None when no pair of the band can advance (every one running
    /// or ended without an answer); marks it running. The bound's pairs while they have had less than their share of
    /// the nodes; otherwise the least-spent pair above the bound or the next probe of the jittered sweep, by their
    /// shares of the nodes.
    member this.Pick(bound: int64, peak: int64) : DescentChoice option =
        let caps = DescentSchedule.Capacities(points, g, bound, peak)
        let kept (c, p, budget) = { Capacity = c; Preorder = p; Jitter = None; Budget = budget; AtBound = c = caps.[0] }
        let mutable chosen = None
        // the bound's share counts from the end of the first phase (which spent its nodes on the bound)
        if caps.Length > 0 && float (boundNodes - phaseNodes) <= boundShare * float (used - phaseNodes) then
            chosen <- this.LeastSpent [| caps.[0] |] |> Option.map kept
        let above = if caps.Length > 1 then caps.[1..] else [||]
        let alive = above |> Array.exists (fun c -> preorders |> List.exists (fun p -> not (ended.Contains(struct (c, p)))))
        if chosen.IsNone && caps.Length > 1 then
            // randomShare of the nodes above the bound on the sweeps (the pairs' budgets double, the sweeps' stay
            // short: alternating by count would starve the sweeps); the sweeps only while some pair above the bound
            // can still advance (they restart the same searches in other orders)
            if alive && float randomNodes <= randomShare * float (used - boundNodes) then
                // the next (capacity, preorder) of the sweep; a finished sweep starts the next seed over the upper
                // half of the band, lowest capacity first (which capacities fit quickly is erratic, but far below the
                // peak most are infeasible: the improvements on D and J were within 2 % of the peak)
                let mutable found = None
                while found.IsNone do
                    if sweepAt >= sweep.Count then
                        sweeps <- sweeps + 1L
                        if sweeps = 1L then sweepSeed <- max 1 seed - 1
                        let top = caps.[caps.Length - 1]
                        let bottom = max caps.[1] (max (top - ((top - caps.[1]) / (2L * g)) * g) (top - int64 (DescentSchedule.SweepWidth - 1) * g))
                        sweep.Clear()
                        for c in bottom .. g .. top do
                            for p in preorders do sweep.Add((c, p))
                        sweepAt <- 0
                    let c, p = sweep.[sweepAt]
                    sweepAt <- sweepAt + 1
                    if c < peak && c >= bound then found <- Some(c, p)
                let c, p = found.Value
                sweepSeed <- sweepSeed + 1
                chosen <- Some { Capacity = c; Preorder = p; Jitter = Some sweepSeed; Budget = 2L * first * DescentSchedule.Luby sweeps; AtBound = false }
            else chosen <- this.LeastSpent(Array.rev above) |> Option.map kept
        if chosen.IsNone && caps.Length > 0 then chosen <- this.LeastSpent [| caps.[0] |] |> Option.map kept
        match chosen with
        | Some c when c.Jitter.IsNone -> running.Add(struct (c.Capacity, c.Preorder)) |> ignore
        | _ -> ()
        chosen

    /// Records a finished turn: the nodes it spent, whether it was pruned (a new peak or bound made it pointless:
    /// its budget stays), and whether its search ended without an answer (never picked again).
    member _.Done(choice: DescentChoice, nodes: int64, pruned: bool, exhausted: bool) =
        used <- used + nodes
        if choice.AtBound then boundNodes <- boundNodes + nodes
        match choice.Jitter with
        | Some _ -> randomNodes <- randomNodes + nodes
        | None ->
            let key = struct (choice.Capacity, choice.Preorder)
            running.Remove key |> ignore
            if exhausted then ended.Add key |> ignore
            elif not pruned then next.[key] <- (if choice.Budget > Int64.MaxValue / 2L then choice.Budget else 2L * choice.Budget)

    /// Records the first phase: its nodes, all at the bound's capacity. The bound's pairs go on from the budget
    /// `first` (their searches are kept and resumed), so that after the phase the bound takes its share of the nodes
    /// in turns as short as any other pair's, not in one turn as long as the phase.
    member _.Phase(nodes: int64) =
        used <- used + nodes
        boundNodes <- boundNodes + nodes
        phaseNodes <- used

/// Minimization by capacity decisions: from a valid start plan, the exact search (Exact.Probe) probes capacities
/// below the best peak, each probe a single preorder with a node budget (DescentSchedule says which probe goes next
/// and with how many nodes), its search kept and resumed where it stopped on problems of at most keepBuffers
/// buffers. A fitting plan lowers the peak (probes at or above it are cancelled), a proof of infeasibility at c
/// raises the bound to c + granularity (probes below it are cancelled). Other solvers may share the Incumbent (a
/// CP-SAT bound, a plan) while it runs. Soundness: proofs/exact-search.md.
[<RequireQualifiedAccess>]
module Descent =

    /// The largest problem the exact search handles: its setup is quadratic in the buffers and linear in the
    /// (buffer, time section) pairs, repeated for every probe.
    let maxBuffers = 5000

    /// The largest problem whose probes are kept between turns and resumed (a kept search holds its stack: up to
    /// about n^2 / 2 candidate entries).
    let keepBuffers = 1000

    /// Capacities spread between the bound and the top (every multiple of the granularity in a band of up to 65).
    let points = 64

    /// The share of the nodes spent on the bound's capacity (the optimum of most instances) after the first phase.
    let boundShare = 0.25

    /// The share of the nodes above the bound that goes to the jittered sweeps (short restarts with jittered keys): on
    /// D and J they fit capacities whose fixed-order searches all stall (docs/planner-results.md).
    let randomShare = 1.0 / 2.0

    /// The first node budget of a (capacity, preorder) pair, per buffer (a plan takes at least one node per buffer).
    let firstNodes = 4L

    /// The nodes per buffer that the first phase gives each preorder's search at the bound's capacity: one long search
    /// per preorder (the bound is the optimum of most instances and a long search there beats short restarts). A
    /// number of nodes, not a share of the budget, so that the descent does the same work in its first seconds
    /// whatever its budget: a short run finds what a long one finds by then (docs/planner-results.md, "search against
    /// its budget"). On A–K the bound's fitting searches take 20k–511k nodes (E: TWA, 511k; 215 buffers).
    let firstPhaseNodesPerBuffer = 3000L

    /// True when the exact search's setup stays cheap on a time axis: at most maxBuffers buffers and 5 million
    /// (buffer, section) pairs (TimeAxis.Memberships). Larger problems keep their start plan (the descent returns at once).
    let tractableOn (axis: TimeAxis) : bool = axis.Buffers <= maxBuffers && axis.Memberships <= 5_000_000L

    /// True when the exact search's setup stays cheap on a problem (tractableOn its time axis).
    let tractable (problem: Problem) : bool = problem.Buffers.Length <= maxBuffers && tractableOn (TimeAxis problem)

    /// The Luby sequence (DescentSchedule.Luby).
    let luby (i: int64) : int64 = DescentSchedule.Luby i

    /// The capacities probed between a bound and a peak (DescentSchedule.Capacities).
    let capacities (points: int) (g: int64) (bound: int64) (peak: int64) : int64[] = DescentSchedule.Capacities(points, g, bound, peak)

    /// Descends from the incumbent's plan with capacity decisions until the bound meets the peak, the options' budget
    /// (time, nodes, cancellation) is spent, or no probe can advance (at once when the problem is not tractable);
    /// returns the incumbent's best plan and bound (which other solvers may have improved meanwhile) and the nodes
    /// used. First a phase at the bound: firstPhaseNodesPerBuffer nodes per buffer for each preorder's search, whatever
    /// the budget, through Exact.drive (with two workers or more one thread per preorder, whatever options.Workers is;
    /// else the preorders take turns on this thread); then options.Workers threads each running the probe the schedule
    /// picks.
    /// One worker and a node budget: the same answer on any machine.
    let run (options: SolveOptions) (incumbent: Incumbent) (axis: TimeAxis) : ExactMinimum =
        let problem = axis.Problem
        let g = incumbent.Granularity
        let preorders = if options.Preorders.IsEmpty then Preorder.defaults else options.Preorders
        let deadline = Deadline(options)
        let gate = obj ()
        let first = firstNodes * int64 (max 1 problem.Buffers.Length)
        let schedule = DescentSchedule(preorders, g, first, points, boundShare, randomShare, options.Seed)
        let running = Dictionary<DescentChoice, CancellationTokenSource>(HashIdentity.Reference)
        let fits = tractableOn axis
        use stopAll = deadline.Source()
        let stop () = not fits || stopAll.IsCancellationRequested || incumbent.Optimal || deadline.NodesLeft = 0L
        // the searches of the (capacity, preorder) pairs, kept between their turns and resumed where they stopped
        // (only on problems small enough that the kept stacks stay small: at most keepBuffers buffers)
        let exact = if fits then Some(ExactProblem axis) else None
        let kept = Dictionary<struct (int64 * Preorder), Exact.Probe>()
        let keep = problem.Buffers.Length <= keepBuffers
        let probeOf (c: int64) (p: Preorder) (jitter: int option) =
            let fresh () = Exact.Probe(exact.Value, c, options.Rules, p, jitter)
            if jitter.IsSome || not keep then fresh ()
            else
                lock gate (fun () ->
                    match kept.TryGetValue(struct (c, p)) with
                    | true, probe -> probe
                    | _ ->
                        let probe = fresh ()
                        kept.[struct (c, p)] <- probe
                        probe)
        let forget (c: int64) (p: Preorder) = lock gate (fun () -> kept.Remove(struct (c, p)) |> ignore)
        // a new peak or bound cancels the probes it made pointless and drops their kept searches
        let prune () =
            let peak, bound = incumbent.Peak, incumbent.Bound
            lock gate (fun () ->
                for KeyValue(choice, cts) in running do
                    if choice.Capacity >= peak || choice.Capacity < bound then cts.Cancel()
                for key in Seq.toArray kept.Keys do
                    let struct (c, _) = key
                    if c >= peak || c < bound then kept.Remove key |> ignore)
        use _subscription = incumbent.Subscribe prune
        // "exact" for the kept probes, "exact-jitter" for the sweeps' (the progress lines name them)
        let conclude (name: string) (c: int64) (result: ExactResult) =
            match result with
            | Fits plan -> incumbent.Offer(name, plan) |> ignore
            | DoesNotFit -> incumbent.Raise(name, c + g) |> ignore
            | Unknown -> ()
        let pick () =
            lock gate (fun () ->
                if stop () then None
                else
                    match schedule.Pick(incumbent.Bound, incumbent.Peak) with
                    | Some choice ->
                        let choice = { choice with Budget = min choice.Budget (max 1L deadline.NodesLeft) }
                        let cts = CancellationTokenSource.CreateLinkedTokenSource(stopAll.Token)
                        running.[choice] <- cts
                        Some(choice, cts)
                    | None -> None)
        let worker () =
            let mutable go = true
            while go do
                match pick () with
                | None -> go <- false
                | Some(choice, cts) ->
                    let c, p = choice.Capacity, choice.Preorder
                    let probe = probeOf c p choice.Jitter
                    let result, nodes =
                        try Exact.resume probe choice.Budget cts.Token
                        finally
                            lock gate (fun () -> running.Remove choice |> ignore)
                    let exhausted = (match result with Unknown -> probe.Answer.IsSome | _ -> false)
                    deadline.Spend nodes
                    lock gate (fun () -> schedule.Done(choice, nodes, cts.IsCancellationRequested, exhausted))
                    cts.Dispose()
                    (match result with Unknown -> () | _ -> forget c p)
                    conclude (if choice.Jitter.IsNone then "exact" else "exact-jitter") c result
        // the first phase: a long decision at the bound through the one driver, its probes kept for the descent
        if not (stop ()) && (options.TimeLimit <> TimeSpan.MaxValue || options.Nodes.IsSome) then
            use phase = CancellationTokenSource.CreateLinkedTokenSource(stopAll.Token)
            let phaseNodes = min deadline.NodesLeft (firstPhaseNodesPerBuffer * int64 (max 1 problem.Buffers.Length) * int64 preorders.Length)
            let bound = incumbent.Bound
            let probes = preorders |> List.map (fun p -> p, probeOf bound p None)
            let answer, nodes = Exact.drive options.Workers phaseNodes phase.Token (probes |> List.map snd |> Array.ofList)
            deadline.Spend nodes
            lock gate (fun () -> schedule.Phase nodes)
            match answer with
            | Unknown -> ()
            | r ->
                for p, _ in probes do forget bound p
                conclude "exact" bound r
        let helpers =
            [| for _ in 2 .. max 1 options.Workers -> Task.Factory.StartNew(worker, TaskCreationOptions.LongRunning) |]
        try worker ()
        finally
            // the helpers end with the main worker, whatever ended it
            stopAll.Cancel()
            Task.WaitAll(helpers)
        { Best = incumbent.Best; Peak = incumbent.Peak; LowerBound = incumbent.Bound; Optimal = incumbent.Optimal
          Nodes = deadline.Spent }

    /// Minimizes the peak of a time axis's problem from the options' hint when it is valid, else from
    /// Exact.initialPlan (see run), reporting every change through options.Progress.
    let minimizeOn (options: SolveOptions) (axis: TimeAxis) : ExactMinimum =
        let start =
            match options.Hint with
            | Some h when Validate.isValidOn axis h -> h
            | _ -> Exact.initialPlan axis
        let report solver peak bound = options.Progress |> Option.iter (fun f -> f { Solver = solver; Peak = peak; Bound = bound })
        run options (Incumbent(axis.Problem, start, report)) axis

    /// Minimizes the peak of a problem (minimizeOn its time axis).
    let minimize (options: SolveOptions) (problem: Problem) : ExactMinimum = minimizeOn options (TimeAxis problem)
