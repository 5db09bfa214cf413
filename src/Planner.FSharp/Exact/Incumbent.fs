namespace Pgmo.Planner

open System
open System.Collections.Concurrent
open System.Threading

/// The best plan and the best proven lower bound of one minimization, shared by the solvers that race on it (the
/// descent, CP-SAT, search). Thread-safe. The peak only goes down, the bound only goes up and never above the peak.
/// Every change is reported with the name of the solver that made it, in the order of the changes, never under a
/// lock: changes are queued under the lock and delivered after it, by one thread at a time.
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
    let pending = ConcurrentQueue<struct (string * int64 * int64)>()
    let mutable delivering = 0
    /// Delivers the queued reports in order on whichever thread gets there first; the others leave at once.
    let deliver () =
        let mutable go = true
        while go && Interlocked.CompareExchange(&delivering, 1, 0) = 0 do
            try
                let mutable item = Unchecked.defaultof<struct (string * int64 * int64)>
                while pending.TryDequeue(&item) do
                    let struct (solver, p, b) = item
                    report solver p b
            finally Volatile.Write(&delivering, 0)
            // a change queued after the last dequeue, before the flag dropped, is delivered now
            go <- not pending.IsEmpty
    let changed () =
        deliver ()
        for f in lock gate (fun () -> listeners.ToArray()) do f ()

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
    /// Calls f (outside the lock) after every change of the peak or the bound, until the subscription is disposed.
    member _.Subscribe(f: unit -> unit) : IDisposable =
        lock gate (fun () -> listeners.Add f)
        { new IDisposable with member _.Dispose() = lock gate (fun () -> listeners.Remove f |> ignore) }
    /// The number of subscriptions in force.
    member _.Subscriptions = lock gate (fun () -> listeners.Count)

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
                    pending.Enqueue(struct (solver, peak, bound))
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
                    pending.Enqueue(struct (solver, peak, bound))
                    true
                else false)
        if raised then changed ()
        raised
