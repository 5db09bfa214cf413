namespace Pgmo.Planner

open System
open System.Threading

/// How the decisions on one relaxation ended.
type RelaxationOutcome =
    /// A plan fits under the capacity: this relaxation cannot raise the bound further.
    | FitsAt of capacity: int64
    /// The node limit or the cancellation stopped the decision at this capacity.
    | UnknownAt of capacity: int64
    /// Not tried: the cancellation came first.
    | Skipped

/// One relaxation tried by the strong lower bound: the problem seen only at the steps whose load reaches a level.
type RelaxationAttempt =
    { /// The load level (fraction of the max load) of its steps; 0.0 is every step.
      Level: float
      /// The steps it keeps, ascending.
      Steps: int64[]
      /// The problem's buffers it keeps (indices into the problem), ascending.
      Buffers: int[]
      /// The largest capacity (bytes) at which the exact search proved that it does not fit (None: no proof).
      Refuted: int64 option
      /// How its last decision ended.
      Outcome: RelaxationOutcome
      /// Search nodes its decisions used.
      Nodes: int64 }
    /// The largest capacity (bytes) at which it was proven not to fit, or null (Refuted for C# callers).
    member a.RefutedCapacity : System.Nullable<int64> = Option.toNullable a.Refuted

/// The strong lower bound of a problem and the evidence for it.
type StrongBound =
    { /// The max-load lower bound (Bounds.lowerBound).
      MaxLoad: int64
      /// The granularity: every optimal peak is a multiple of it (Exact.granularity).
      Granularity: int64
      /// A proven lower bound on every valid plan's peak in bytes: the max load rounded up to the granularity, or the
      /// next multiple of the granularity above the largest capacity at which some relaxation was proven not to fit.
      Bound: int64
      /// Every relaxation tried, in order.
      Attempts: RelaxationAttempt list
      /// True when the relaxation at every step, which is the whole problem renumbered, fits under Bound: then Bound
      /// is the optimum.
      Optimal: bool }

/// Lower bounds above the max load, each proven by the exact search on a relaxation: the problem seen only at some of
/// its steps (those whose load reaches a level). Every valid plan of the problem is a valid plan of the relaxation
/// with the same peak, so a capacity under which the relaxation does not fit is below the optimum. Pure from outside:
/// the only effect is reading the cancellation token. Soundness: proofs/stronger-bounds.md.
[<RequireQualifiedAccess>]
module StrongBounds =

    /// The load levels, as fractions of the max load, whose steps make the relaxations tried, in this order: from
    /// 99 % of the max load down to every step (0.0, the whole problem). Levels that keep the same steps as an earlier
    /// one are skipped.
    let levels = [ 0.99; 0.98; 0.97; 0.96; 0.95; 0.94; 0.93; 0.92; 0.9; 0.85; 0.8; 0.0 ]

    /// The default node budget of each decision on a relaxation.
    let nodesPerDecision = 1_000_000L

    /// The options of the strong bound by default: a million nodes per decision (options.Nodes is per decision), no
    /// cancellation, the exact search's default preorders and rules.
    let defaults = { SolveOptions.defaults with Nodes = Some nodesPerDecision; TimeLimit = TimeSpan.MaxValue }

    /// A short description of how a relaxation's decisions ended ("fits at 1031168", "unknown at 987136", "skipped").
    let describe (outcome: RelaxationOutcome) : string =
        match outcome with
        | FitsAt c -> sprintf "fits at %d" c
        | UnknownAt c -> sprintf "unknown at %d" c
        | Skipped -> "skipped"

    /// The first index of the ascending array whose value is >= v (the length when none is).
    let private firstAtLeast (sorted: int64[]) (v: int64) =
        let mutable lo = 0
        let mutable hi = sorted.Length
        while lo < hi do
            let mid = lo + (hi - lo) / 2
            if sorted.[mid] < v then lo <- mid + 1 else hi <- mid
        lo

    /// The problem seen only at `steps` (ascending, distinct): a buffer live at k of them, consecutive in `steps`
    /// from index i on, gets the lifetime [i, i + k); a buffer live at none is dropped. Its gaps are renumbered the
    /// same way (a gap that holds none of the steps is dropped), so at each kept step a buffer holds exactly the bytes
    /// it holds in the problem. Sizes, alignments, pins and hints are kept. Returns the relaxation and the indices
    /// (ascending) of the buffers it keeps.
    let atSteps (steps: int64[]) (problem: Problem) : Problem * int[] =
        let renumber (l: Lifetime) = { Start = int64 (firstAtLeast steps l.Start); End = int64 (firstAtLeast steps l.End) }
        let kept =
            problem.Buffers
            |> Array.mapi (fun i b ->
                let lifetime = renumber b.Lifetime
                if lifetime.Start < lifetime.End then
                    let gaps =
                        b.Gaps
                        |> Array.map (fun g -> { g with Steps = renumber g.Steps })
                        |> Array.filter (fun g -> g.Steps.Start < g.Steps.End)
                    Some (i, { b with Lifetime = lifetime; Gaps = gaps })
                else None)
            |> Array.choose id
        { problem with Buffers = kept |> Array.map snd }, kept |> Array.map fst

    /// The steps at which the load is at least `level` times the max load, ascending (every step of the load
    /// profile for level <= 0; none for an empty problem).
    let stepsAtLevel (level: float) (problem: Problem) : int64[] =
        let profile = Bounds.loadProfile problem
        let top = profile |> Array.fold (fun m (_, load) -> max m load) 0L
        if top = 0L then [||]
        elif level <= 0.0 then profile |> Array.map fst
        else profile |> Array.filter (fun (_, load) -> float load >= level * float top) |> Array.map fst

    /// The strong lower bound: for each of `levels` in turn, the relaxation at that level's steps is decided with the
    /// exact search at the bound so far (options.Nodes nodes per decision, options' preorders and rules); each proof
    /// that it does not fit raises the bound by the granularity and the same relaxation is decided again there, until
    /// it fits, the node budget stops a decision, or the cancellation comes. Deterministic for a given node budget
    /// when the cancellation never comes.
    let computeAt (levels: float list) (options: SolveOptions) (problem: Problem) : StrongBound =
        let maxLoad = Bounds.lowerBound problem
        let g = Exact.granularity problem
        let mutable bound = ((maxLoad + g - 1L) / g) * g
        let cancelled () = options.Cancellation.IsCancellationRequested
        let exact = { options with Workers = 1; Capacity = None }
        let attempts = Collections.Generic.List<RelaxationAttempt>()
        let seen = Collections.Generic.HashSet<string>()
        for level in levels do
            let steps = stepsAtLevel level problem
            let key = String.Join(",", steps)
            if steps.Length > 0 && seen.Add key then
                let relaxation, kept = atSteps steps problem
                if cancelled () then
                    attempts.Add { Level = level; Steps = steps; Buffers = kept; Refuted = None; Outcome = Skipped; Nodes = 0L }
                else
                    let mutable refuted = None
                    let mutable outcome = Skipped
                    let mutable nodes = 0L
                    let mutable go = true
                    while go do
                        let capacity = bound
                        let result, used = Exact.decideOn exact capacity (ExactProblem relaxation)
                        nodes <- nodes + used
                        match result with
                        | DoesNotFit ->
                            // no plan of the relaxation, hence none of the problem, has a peak <= capacity; the
                            // optimum is a multiple of g, so it is at least the next multiple of g
                            refuted <- Some capacity
                            bound <- capacity + g
                            go <- not (cancelled ())
                            if not go then outcome <- UnknownAt bound
                        | Fits _ ->
                            outcome <- FitsAt capacity
                            go <- false
                        | Unknown ->
                            outcome <- UnknownAt capacity
                            go <- false
                    attempts.Add { Level = level; Steps = steps; Buffers = kept; Refuted = refuted; Outcome = outcome; Nodes = nodes }
        let optimal = attempts |> Seq.exists (fun a -> a.Level <= 0.0 && a.Outcome = FitsAt bound)
        { MaxLoad = maxLoad; Granularity = g; Bound = bound; Attempts = List.ofSeq attempts; Optimal = optimal }

    /// The strong lower bound at the default levels (computeAt levels).
    let compute (options: SolveOptions) (problem: Problem) : StrongBound = computeAt levels options problem
