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

/// A named planning algorithm: a function from a problem (its time axis) to a plan and its charged peak.
type Algorithm =
    { /// The name on the command line (`plan --algorithm`, `train --algorithm`).
      Name: string
      /// One line saying what it does.
      Summary: string
      /// Plans the problem of a time axis (built once per problem and shared by the algorithms run on it).
      Run: PlanSettings -> TimeAxis -> Planned }
    /// Plans a problem under the settings.
    member a.Plan(problem: Problem, settings: PlanSettings) : Planned = a.Run settings (TimeAxis problem)
    /// Plans the problem of a time axis under the settings.
    member a.PlanOn(axis: TimeAxis, settings: PlanSettings) : Planned = a.Run settings axis
    override a.ToString() = a.Name

/// The registry of planning algorithms, by the names the command line uses.
[<RequireQualifiedAccess>]
module Algorithms =

    /// Settings from a time limit, a seed and a cancellation token.
    let settings (timeLimit: TimeSpan) (seed: int) (cancellation: CancellationToken) =
        { TimeLimit = timeLimit; Seed = seed; Cancellation = cancellation }

    /// Default settings: 5 s time limit, seed 1, no cancellation.
    let defaults = settings (TimeSpan.FromSeconds 5.0) 1 CancellationToken.None

    let private placement name summary (f: TimeAxis -> Plan) =
        { Name = name; Summary = summary; Run = fun _ axis -> let plan = f axis in { Plan = plan; Peak = Plan.peak axis.Problem plan } }

    let private pool summary (policy: PoolPolicy) =
        { Name = PoolPolicy.name policy; Summary = summary
          Run = fun _ axis ->
            let r = Pool.simulate policy axis.Problem
            // an online pool holds a buffer's bytes over its whole lifetime (its gaps live) and knows no pins: the
            // pinned buffers go to their pins and the others around them, charged at least the pool's bytes
            let plan = Placement.keepPins axis r.Plan
            { Plan = plan; Peak = max r.Reserved (Plan.peak axis.Problem plan) } }

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
    /// Heuristic search within the time limit.
    let search =
        { Name = "search"; Summary = "best of many orderings and local search within --time-limit, stops at the lower bound"
          Run = fun s axis ->
            let plan = Search.planOn { Search.defaults with TimeLimit = s.TimeLimit; Seed = s.Seed; Cancellation = s.Cancellation } axis
            { Plan = plan; Peak = Plan.peak axis.Problem plan } }

    /// Every algorithm, the paper's best-fit first.
    let all : Algorithm list = [ bestFit; greedySize; xlaSpatial; xlaTemporal; firstFit; cupyPool; torchPool; search ]

    /// The names of all algorithms.
    let names = all |> List.map (fun a -> a.Name)

    /// The algorithm with that name, if any.
    let tryFind (name: string) = all |> List.tryFind (fun a -> a.Name = name)

    /// The algorithm simulating a pool policy.
    let ofPool (policy: PoolPolicy) = match policy with PoolPolicy.CuPy -> cupyPool | PoolPolicy.Torch -> torchPool

    /// Runs an algorithm on a problem.
    let run (algorithm: Algorithm) (settings: PlanSettings) (problem: Problem) : Planned = algorithm.Run settings (TimeAxis problem)
