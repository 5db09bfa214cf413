namespace Pgmo.Planner

open System
open System.Runtime.InteropServices
open System.Threading

/// What an algorithm of the registry gives for a problem: a plan and the peak it is charged for it (Plan.peak for a
/// placement, the reserved bytes for a pool, whose segments may hold free space above the last block), or only a
/// bound (the lower bound gives no plan: its peak is the bound, as XLA's no-fragmentation heap gives only a size),
/// and what a solver proves.
[<Sealed>]
type Planned(plan: Plan option, peak: int64, bound: int64 option, status: string option) =
    /// A plan charged `peak` bytes.
    new(plan: Plan, peak: int64) = Planned(Some plan, peak, None, None)
    /// Offsets in problem order, or null for an algorithm that only bounds the peak (the lower bound).
    member _.Plan : Plan = match plan with Some p -> p | None -> Unchecked.defaultof<Plan>
    /// The plan, if the algorithm gives one (for F# callers).
    member _.PlanIfAny : Plan option = plan
    /// True with the plan when the algorithm gives one (every algorithm but the lower bound).
    member _.TryGetPlan([<Out>] result: byref<Plan>) : bool =
        match plan with
        | Some x -> result <- x; true
        | None -> result <- Unchecked.defaultof<Plan>; false
    /// The peak charged, in bytes (for the lower bound: the bound).
    member _.Peak : int64 = peak
    /// A proven lower bound on every valid plan's peak in bytes, when the algorithm proves one (else null).
    member _.Bound : Nullable<int64> = Option.toNullable bound
    /// The proven bound, if any (for F# callers).
    member _.BoundIfAny : int64 option = bound
    /// How a solver's run ended ("optimal", "feasible", ...), null for the others.
    member _.Status : string = defaultArg status null

/// A named algorithm of the registry: from a problem (its time axis) and the run's options (time limit, node budget,
/// seed, cancellation, hint: only the algorithms that use them read them) to what it gives (Planned). `run` is a .NET
/// delegate, so C# callers see no F# function; an F# lambda converts to it.
[<Sealed>]
type Algorithm(name: string, summary: string, run: Func<SolveOptions, TimeAxis, Planned>) =
    do if isNull run then nullArg (nameof run)
    /// The name on the command line (`plan --algorithm`, `train --algorithm`, `compare`).
    member _.Name : string = name
    /// One line saying what it does.
    member _.Summary : string = summary
    /// Runs on a problem under the options.
    member _.Plan(problem: Problem, options: SolveOptions) : Planned = run.Invoke(options, TimeAxis problem)
    /// Runs on the problem of a time axis (built once per problem and shared by the algorithms run on it) under the options.
    member _.PlanOn(axis: TimeAxis, options: SolveOptions) : Planned = run.Invoke(options, axis)
    override _.ToString() = name

/// The registry of algorithms, by the names the command line uses: the heuristics, the pools and the lower bound
/// (Pgmo.Planner.Optimal's Registry adds the exact solver).
[<RequireQualifiedAccess>]
module Algorithms =

    /// Options with a time limit, a seed and a cancellation token (the rest as SolveOptions.defaults).
    let settings (timeLimit: TimeSpan) (seed: int) (cancellation: CancellationToken) : SolveOptions =
        { SolveOptions.defaults with TimeLimit = timeLimit; Seed = seed; Cancellation = cancellation }

    /// Default options: 5 s, seed 1, no cancellation (SolveOptions.defaults).
    let defaults = SolveOptions.defaults

    /// What a placement algorithm gives: its plan, charged its peak.
    let planned (axis: TimeAxis) (plan: Plan) : Planned =
        Planned(plan, Plan.peak axis.Problem plan)

    /// The best of several named results: the valid plan of lowest charged peak (the first on ties), with its
    /// name. Results without a plan or with an invalid one are passed over; None when none is left.
    let lowest (axis: TimeAxis) (results: (string * Planned) seq) : (string * Planned) option =
        results
        |> Seq.filter (fun (_, r: Planned) -> match r.PlanIfAny with Some plan -> Validate.isValidOn axis plan | None -> false)
        |> Seq.fold (fun best (name, r) ->
            match best with
            | Some (_, b: Planned) when b.Peak <= r.Peak -> best
            | _ -> Some (name, r)) None

    /// The best of several algorithms as one: each runs on the problem, and the valid plan of lowest charged peak
    /// wins (the first on ties; see lowest).
    let bestOf (name: string) (summary: string) (algorithms: Algorithm list) : Algorithm =
        Algorithm(name, summary, fun options axis ->
            match lowest axis (algorithms |> Seq.map (fun a -> a.Name, a.PlanOn(axis, options))) with
            | Some (_, r) -> r
            | None -> failwithf "%s: no algorithm gave a valid plan" name)

    let private placement name summary (f: TimeAxis -> Plan) =
        Algorithm(name, summary, fun _ axis -> planned axis (f axis))

    let private pool summary (policy: PoolPolicy) =
        Algorithm(PoolPolicy.name policy, summary, fun _ axis ->
            let r = Pool.simulate policy axis.Problem
            // an online pool holds a buffer's bytes over its whole lifetime (its gaps live) and knows no pins: the
            // pinned buffers go to their pins and the others around them, charged at least the pool's bytes
            let plan = Placement.keepPins axis r.Plan
            Planned(plan, max r.Reserved (Plan.peak axis.Problem plan)))

    /// The max-load lower bound: no plan, its peak is the bound (Bounds.lowerBound).
    let lowerBound =
        Algorithm("lower-bound", "the largest total of bytes live at one step, and pinned tops: no plan is lower (no plan of its own)",
                  fun _ axis -> let lb = Bounds.lowerBoundOn axis in Planned(None, lb, Some lb, None))
    /// The paper's skyline best-fit.
    let bestFit = placement "best-fit" "the paper's skyline best-fit: lowest segment first, longest lifetime then largest size" BestFit.planOn
    /// TFLite's greedy by size.
    let greedySize = placement "greedy-size" "TFLite's greedy by size: largest first into the smallest fitting gap" Greedy.planOn
    /// XLA's heap simulator, spatial order.
    let xlaSpatial = placement (Xla.name XlaStrategy.Spatial) "XLA heap simulator best-fit, ordered by size then duration" (Xla.planOn XlaStrategy.Spatial)
    /// XLA's heap simulator, temporal order.
    let xlaTemporal = placement (Xla.name XlaStrategy.Temporal) "XLA heap simulator best-fit, ordered by duration then size" (Xla.planOn XlaStrategy.Temporal)
    /// An online first-fit malloc.
    let firstFit = placement "first-fit" "online in allocation order, lowest free address (malloc)" FirstFit.planOn
    /// CuPy's caching pool, the paper's baseline.
    let cupyPool = pool "CuPy's caching pool: 512 B rounding, best-fit blocks, new segments of the request's size, never released; peak = reserved bytes" PoolPolicy.CuPy
    /// PyTorch's CUDA caching allocator with its default settings.
    let torchPool = pool "PyTorch's caching allocator: 512 B rounding, small (<= 1 MiB, 2 MiB segments) and large (20 MiB segments) pools, best fit; peak = reserved bytes" PoolPolicy.Torch
    /// PyTorch's CUDA caching allocator with expandable segments.
    let torchExpandable = pool "PyTorch's caching allocator with expandable_segments:True: per pool one segment growing by 2 MiB (small) or 20 MiB (large) pages, best fit, rests >= 512 B split; peak = pages mapped" PoolPolicy.TorchExpandable
    /// Heuristic search within the time limit or the node budget.
    let search =
        Algorithm("search", "best of many orderings, the exact descent and local search within --time-limit (or --nodes), stops at the lower bound",
                  fun options axis -> planned axis (Search.planOn options axis))

    /// Every algorithm that gives a plan, the paper's best-fit first.
    let planners : Algorithm list = [ bestFit; greedySize; xlaSpatial; xlaTemporal; firstFit; cupyPool; torchPool; torchExpandable; search ]

    /// Every algorithm of this assembly: the planners, then the lower bound.
    let all : Algorithm list = planners @ [ lowerBound ]

    /// The names of all algorithms.
    let names = all |> List.map (fun a -> a.Name)

    /// The algorithm with that name, if any.
    let tryFind (name: string) = all |> List.tryFind (fun a -> a.Name = name)

    /// The algorithm simulating a pool policy.
    let ofPool (policy: PoolPolicy) =
        match policy with
        | PoolPolicy.CuPy -> cupyPool
        | PoolPolicy.Torch -> torchPool
        | PoolPolicy.TorchExpandable -> torchExpandable

    /// Runs an algorithm on a problem.
    let run (algorithm: Algorithm) (options: SolveOptions) (problem: Problem) : Planned = algorithm.Plan(problem, options)
