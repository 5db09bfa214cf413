namespace Pgmo.Planner.Optimal

open Pgmo.Planner

/// The registry of every algorithm: the planner's (Algorithms.all: the heuristics, the pools, the lower bound) and
/// the exact solver, by the names the command line uses.
[<RequireQualifiedAccess>]
module Registry =

    /// The exact solver (Solver.solve: the exact search and CP-SAT on one deadline) as an algorithm: it starts from
    /// the best of the options' hint and the heuristics, proves optimality or a lower bound, and gives its plan with
    /// the bound and how it ended. Minimizes (a capacity in the options is ignored).
    let solver : Algorithm =
        Algorithm("solver", "the exact solver (solve): our exact search and CP-SAT from the best of the hint and the heuristics; proves optimality or a lower bound",
                  fun options axis ->
                    let r = Solver.solveOn { options with Capacity = None } axis
                    Planned(r.Plan, defaultArg r.Peak r.Bound, Some r.Bound, Some (SolveStatus.name r.Status)))

    /// Every algorithm: the planner's, then the solver.
    let all : Algorithm list = Algorithms.all @ [ solver ]

    /// The names of every algorithm.
    let names = all |> List.map (fun a -> a.Name)

    /// The algorithm with that name, if any.
    let tryFind (name: string) = all |> List.tryFind (fun a -> a.Name = name)
