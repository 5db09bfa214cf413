namespace Pgmo.Planner

open System
open System.Threading

/// Settings of one planning run; only time-bounded algorithms (search) use the time limit, seed and cancellation.
type PlanSettings =
    { /// Wall-clock budget of time-bounded algorithms.
      TimeLimit: TimeSpan
      /// Seed of randomized algorithms.
      Seed: int
      /// Stops time-bounded algorithms early (they return their best plan so far).
      Cancellation: CancellationToken }

/// A plan and the peak its algorithm is charged for it: Plan.peak for placement algorithms, the reserved bytes for
/// a pool (whose segments may hold free space above the last block).
type Planned =
    { /// Offsets in problem order.
      Plan: Plan
      /// The peak charged, in bytes.
      Peak: int64 }

/// A named planning algorithm: a function from a problem to a plan and its charged peak.
type Algorithm =
    { /// The name on the command line (`plan --algorithm`, `train --algorithm`).
      Name: string
      /// One line saying what it does.
      Summary: string
      /// Plans a problem.
      Run: PlanSettings -> Problem -> Planned }
    /// Plans a problem under the settings.
    member a.Plan(problem: Problem, settings: PlanSettings) : Planned = a.Run settings problem
    override a.ToString() = a.Name

/// The registry of planning algorithms, by the names the command line uses.
[<RequireQualifiedAccess>]
module Algorithms =

    /// Settings from a time limit, a seed and a cancellation token.
    let settings (timeLimit: TimeSpan) (seed: int) (cancellation: CancellationToken) =
        { TimeLimit = timeLimit; Seed = seed; Cancellation = cancellation }

    /// Default settings: 5 s time limit, seed 1, no cancellation.
    let defaults = settings (TimeSpan.FromSeconds 5.0) 1 CancellationToken.None

    let private placement name summary (f: Problem -> Plan) =
        { Name = name; Summary = summary; Run = fun _ p -> let plan = f p in { Plan = plan; Peak = Plan.peak p plan } }

    let private pool summary (policy: PoolPolicy) =
        { Name = PoolPolicy.name policy; Summary = summary
          Run = fun _ p ->
            let r = Pool.simulate policy p
            // an online pool knows no pins or gaps: its plan repaired to honour them, charged at least the pool's bytes
            if Gaps.special p then
                let plan = Placement.repair p r.Plan
                { Plan = plan; Peak = max r.Reserved (Plan.peak p plan) }
            else { Plan = r.Plan; Peak = r.Reserved } }

    /// The paper's skyline best-fit.
    let bestFit = placement "best-fit" "the paper's skyline best-fit: lowest segment first, longest lifetime then largest size" BestFit.plan
    /// TFLite's greedy by size.
    let greedySize = placement "greedy-size" "TFLite's greedy by size: largest first into the smallest fitting gap" Greedy.plan
    /// XLA's heap simulator, spatial order.
    let xlaSpatial = placement (Xla.name XlaStrategy.Spatial) "XLA heap simulator best-fit, ordered by size then duration" (Xla.plan XlaStrategy.Spatial)
    /// XLA's heap simulator, temporal order.
    let xlaTemporal = placement (Xla.name XlaStrategy.Temporal) "XLA heap simulator best-fit, ordered by duration then size" (Xla.plan XlaStrategy.Temporal)
    /// An online first-fit malloc.
    let firstFit = placement "first-fit" "online in allocation order, lowest free address (malloc)" FirstFit.plan
    /// CuPy's caching pool, the paper's baseline.
    let cupyPool = pool "CuPy's caching pool: 512 B rounding, best-fit blocks, new segments of the request's size, never released; peak = reserved bytes" PoolPolicy.CuPy
    /// PyTorch's CUDA caching allocator with its default settings.
    let torchPool = pool "PyTorch's caching allocator: 512 B rounding, small (<= 1 MiB, 2 MiB segments) and large (20 MiB segments) pools, best fit; peak = reserved bytes" PoolPolicy.Torch
    /// PyTorch's CUDA caching allocator with expandable segments.
    let torchExpandable = pool "PyTorch's caching allocator with expandable_segments:True: per pool one segment growing by 2 MiB (small) or 20 MiB (large) pages, best fit, rests >= 512 B split; peak = pages mapped" PoolPolicy.TorchExpandable
    /// Heuristic search within the time limit.
    let search =
        { Name = "search"; Summary = "best of many orderings and local search within --time-limit, stops at the lower bound"
          Run = fun s p ->
            let plan = Search.plan { Search.defaults with TimeLimit = s.TimeLimit; Seed = s.Seed; Cancellation = s.Cancellation } p
            { Plan = plan; Peak = Plan.peak p plan } }

    /// Every algorithm, the paper's best-fit first.
    let all : Algorithm list = [ bestFit; greedySize; xlaSpatial; xlaTemporal; firstFit; cupyPool; torchPool; torchExpandable; search ]

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
    let run (algorithm: Algorithm) (settings: PlanSettings) (problem: Problem) : Planned = algorithm.Run settings problem
