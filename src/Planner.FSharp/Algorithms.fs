namespace Pgmo.Planner

open System
open System.Threading

/// Settings of one planning run; only time-bounded algorithms (search) use the budget, seed and cancellation.
type PlanSettings = { TimeLimit: TimeSpan; Seed: int; Cancellation: CancellationToken }

/// A named planning algorithm: a function from a problem to a plan.
type Algorithm = { Name: string; Summary: string; Run: PlanSettings -> Problem -> Plan }

/// The registry of planning algorithms, by the names the command line uses.
[<RequireQualifiedAccess>]
module Algorithms =

    /// Settings from a budget, a seed and a cancellation token.
    let settings (timeLimit: TimeSpan) (seed: int) (cancellation: CancellationToken) =
        { TimeLimit = timeLimit; Seed = seed; Cancellation = cancellation }

    /// Default settings: 5 s budget, seed 1, no cancellation.
    let defaults = settings (TimeSpan.FromSeconds 5.0) 1 CancellationToken.None

    let private fixedPlan name summary (f: Problem -> Plan) = { Name = name; Summary = summary; Run = fun _ p -> f p }

    /// Every algorithm, the paper's best-fit first.
    let all : Algorithm list =
        [ fixedPlan "best-fit" "the paper's skyline best-fit: lowest segment first, longest lifetime then largest size" BestFit.plan
          fixedPlan "greedy-size" "TFLite's greedy by size: largest first into the smallest fitting gap" Greedy.plan
          fixedPlan "xla-spatial" "XLA heap simulator best-fit, ordered by size then duration" (Xla.plan XlaStrategy.Spatial)
          fixedPlan "xla-temporal" "XLA heap simulator best-fit, ordered by duration then size" (Xla.plan XlaStrategy.Temporal)
          fixedPlan "first-fit" "online in allocation order, lowest free address (malloc)" FirstFit.plan
          fixedPlan "pool" "CuPy/PyTorch caching pool: 512 B rounding, best-fit chunks, never released; peak = reserved bytes" Pool.plan
          { Name = "search"; Summary = "best of many orderings and local search within --time-limit, stops at the lower bound"
            Run = fun s p -> Search.plan { Search.defaults with TimeLimit = s.TimeLimit; Seed = s.Seed; Cancellation = s.Cancellation } p } ]

    /// The names of all algorithms.
    let names = all |> List.map (fun a -> a.Name)

    /// The algorithm with that name, if any.
    let tryFind (name: string) = all |> List.tryFind (fun a -> a.Name = name)

    /// Runs an algorithm on a problem.
    let run (algorithm: Algorithm) (settings: PlanSettings) (problem: Problem) : Plan = algorithm.Run settings problem
