namespace Pgmo.Planner

open System
open System.Threading

/// What a static preorder of the exact search compares: one value per buffer, larger first (proofs/exact-search.md).
[<RequireQualifiedAccess>]
type PreorderKey =
    /// The lifetime's length in steps.
    | Width
    /// The size times the lifetime's length.
    | Area
    /// The largest total of bytes in one section of the buffer's lifetime.
    | Total
    /// The size in bytes.
    | Size
    /// The first step.
    | Start
    /// One past the last step.
    | End
    /// The number of buffers whose pieces meet the buffer's.
    | Overlaps
    /// The number of sections the lifetime spans.
    | Sections

/// A static preorder of the buffers for the exact search: its keys compared in turn, larger first, then the buffer
/// index. Printed as its keys' letters (W A T Z S E O C): `WAT` is width, then area, then total.
type Preorder =
    | Preorder of PreorderKey list
    /// The keys, compared in turn.
    member p.Keys = let (Preorder keys) = p in keys
    override p.ToString() =
        p.Keys |> List.map (function
            | PreorderKey.Width -> "W" | PreorderKey.Area -> "A" | PreorderKey.Total -> "T" | PreorderKey.Size -> "Z"
            | PreorderKey.Start -> "S" | PreorderKey.End -> "E" | PreorderKey.Overlaps -> "O" | PreorderKey.Sections -> "C")
        |> String.concat ""

/// The preorders the exact search runs by default.
[<RequireQualifiedAccess>]
module Preorder =
    /// Width, area, total.
    let wat = Preorder [ PreorderKey.Width; PreorderKey.Area; PreorderKey.Total ]
    /// Total, area, width.
    let taw = Preorder [ PreorderKey.Total; PreorderKey.Area; PreorderKey.Width ]
    /// Total, width, area.
    let twa = Preorder [ PreorderKey.Total; PreorderKey.Width; PreorderKey.Area ]
    /// The default preorders, in the order their searches take turns: WAT, TAW, TWA.
    let defaults = [ wat; taw; twa ]

    /// The preorder its letters name (W A T Z S E O C, as Preorder prints them), or the letter that names no key.
    let parse (letters: string) : Result<Preorder, string> =
        let key (c: char) =
            match c with
            | 'W' -> Ok PreorderKey.Width | 'A' -> Ok PreorderKey.Area | 'T' -> Ok PreorderKey.Total | 'Z' -> Ok PreorderKey.Size
            | 'S' -> Ok PreorderKey.Start | 'E' -> Ok PreorderKey.End | 'O' -> Ok PreorderKey.Overlaps | 'C' -> Ok PreorderKey.Sections
            | c -> Error (sprintf "'%c' in preorder '%s' names no key (W width, A area, T total, Z size, S start, E end, O overlaps, C sections)" c letters)
        if letters.Length = 0 then Error "an empty preorder"
        else
            letters |> Seq.fold (fun acc c ->
                match acc, key c with
                | Ok keys, Ok k -> Ok (k :: keys)
                | Error e, _ | _, Error e -> Error e) (Ok [])
            |> Result.map (List.rev >> Preorder)

/// The rules of the exact search (proofs/exact-search.md); each can be switched off for tests and benchmarks.
type ExactRules =
    { /// Only canonical placements: offsets never decrease along a branch (ties by preorder).
      CanonicalOnly: bool
      /// Prunes when, in some time section, the floor plus the unplaced bytes exceed the capacity.
      SectionInference: bool
      /// Prunes a placement that leaves a gap below it where an unplaced buffer fits entirely.
      Dominance: bool
      /// Solves independently the parts of the time axis that no unplaced buffer crosses.
      Decomposition: bool
      /// Also prunes when, in a section whose buffers' lowest offsets changed, the unplaced buffers whose lowest offset
      /// is at least h do not fit between h and the capacity, for some h (stronger than SectionInference, costlier).
      StaircaseInference: bool
      /// Prunes the later siblings of a buffer whose placement left no unplaced time-neighbour (hatless) when its
      /// subtree fails: in every completion it sits at the same offset, so it was the canonical next one.
      Hatless: bool }

[<RequireQualifiedAccess>]
module ExactRules =
    /// Every rule but the staircase (which costs more than it prunes on the benchmarks).
    let defaults =
        { CanonicalOnly = true; SectionInference = true; Dominance = true; Decomposition = true; StaircaseInference = false
          Hatless = true }

/// Which exact method a solve runs.
type SolverKind =
    /// OR-Tools CP-SAT alone.
    | CpSat
    /// The canonical-placement exact search alone.
    | ExactSearch
    /// Both on one deadline, the better answer kept.
    | Auto

/// One progress report of a solve: a solver improved the best peak or the proven bound.
type SolveProgress =
    { /// The solver that made the change ("exact", "cp-sat", a heuristic's name for the start plan).
      Solver: string
      /// The best peak so far in bytes (of the part solved so far, for CP-SAT on a problem in parts).
      Peak: int64
      /// The best proven lower bound on the optimal peak so far in bytes.
      Bound: int64 }

/// The settings of every run of the planner, from a heuristic's to a solve: one budget (a wall-clock time limit and a
/// budget of work, whichever ends first, and a cancellation) from which every inner phase's budget derives, and what
/// the solvers take. Copy `SolveOptions.defaults` with `{ SolveOptions.defaults with … }`.
type SolveOptions =
    { /// With Some c: decide whether the buffers fit under c bytes. With None: minimize the peak.
      Capacity: int64 option
      /// The wall-clock budget of the whole run (TimeSpan.MaxValue: none).
      TimeLimit: TimeSpan
      /// The budget of work in search nodes (None: none). A run that a node budget ends on one worker gives the same
      /// plan on any machine; a time-bounded one depends on the machine's speed.
      Nodes: int64 option
      /// Threads the exact search and CP-SAT may use (1: one thread, deterministic under a node budget).
      Workers: int
      /// The seed of every random choice (the search's moves, the jittered sweeps, CP-SAT).
      Seed: int
      /// Stops the run early; it then returns its best answer so far.
      Cancellation: CancellationToken
      /// Called on every improvement of the best peak or the proven bound, in order, never under a lock.
      Progress: (SolveProgress -> unit) option
      /// A valid plan to start from (a heuristic's): the start of a minimization, CP-SAT's hint.
      Hint: Plan option
      /// Which exact method(s) a solve runs.
      Kind: SolverKind
      /// The exact search's static preorders, one search each.
      Preorders: Preorder list
      /// The exact search's rules.
      Rules: ExactRules }

[<RequireQualifiedAccess>]
module SolveOptions =
    /// Minimize; 5 s, no node budget, 2 workers, seed 1, no cancellation, no progress, no hint, both solvers, the
    /// default preorders and rules.
    let defaults =
        { Capacity = None; TimeLimit = TimeSpan.FromSeconds 5.0; Nodes = None; Workers = 2; Seed = 1
          Cancellation = CancellationToken.None; Progress = None; Hint = None; Kind = Auto; Preorders = Preorder.defaults
          Rules = ExactRules.defaults }

    /// The nodes left of a budget after `spent` (Int64.MaxValue without a node budget).
    let nodesLeft (options: SolveOptions) (spent: int64) : int64 =
        match options.Nodes with
        | Some n -> max 0L (n - spent)
        | None -> Int64.MaxValue

/// The clock of one run against its SolveOptions: started when the run starts, it says when the time limit, the
/// node budget (nodes spent are reported to it) or the cancellation ends the run, and gives inner phases their
/// budgets as shares of what is left. Thread-safe. The only impure thing the planner reads (a Stopwatch).
[<Sealed>]
type Deadline(options: SolveOptions) =
    let clock = Diagnostics.Stopwatch.StartNew()
    let mutable spent = 0L
    /// The options it runs against.
    member _.Options = options
    /// The time since the run started.
    member _.Elapsed = clock.Elapsed
    /// The time left (zero when spent; TimeSpan.MaxValue without a time limit).
    member _.Remaining =
        if options.TimeLimit = TimeSpan.MaxValue then TimeSpan.MaxValue
        else max TimeSpan.Zero (options.TimeLimit - clock.Elapsed)
    /// Nodes spent so far.
    member _.Spent = Interlocked.Read &spent
    /// Nodes left of the node budget (Int64.MaxValue without one).
    member this.NodesLeft = SolveOptions.nodesLeft options this.Spent
    /// Counts nodes spent.
    member _.Spend(nodes: int64) = Interlocked.Add(&spent, nodes) |> ignore
    /// True when the time limit or the node budget is spent, or the run is cancelled.
    member this.Expired =
        options.Cancellation.IsCancellationRequested || this.NodesLeft = 0L
        || (options.TimeLimit <> TimeSpan.MaxValue && clock.Elapsed >= options.TimeLimit)
    /// A cancellation source that fires when the run's time is up or it is cancelled (node budgets are counted by
    /// the caller): dispose it when the phase ends.
    member this.Source() : CancellationTokenSource =
        let cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
        if this.Remaining <> TimeSpan.MaxValue then cts.CancelAfter(this.Remaining)
        cts
    /// The options of an inner phase given `share` of the time and of the nodes left (TimeSpan.MaxValue and None
    /// stay so), cancelled with `cancellation`.
    member this.Share(share: float, cancellation: CancellationToken) : SolveOptions =
        let time = if this.Remaining = TimeSpan.MaxValue then TimeSpan.MaxValue else TimeSpan.FromTicks(int64 (float this.Remaining.Ticks * share))
        let nodes = options.Nodes |> Option.map (fun _ -> int64 (float this.NodesLeft * share))
        { options with TimeLimit = time; Nodes = nodes; Cancellation = cancellation }
