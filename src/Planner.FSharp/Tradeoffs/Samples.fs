namespace Pgmo.Planner

/// Seeded random trade-off problems for tests and scripts (the planner's property tests and
/// scripts/tradeoffs-vs-exact.fsx draw the same ones).
[<RequireQualifiedAccess>]
module TradeoffSamples =

    /// Seed `seed`: `n` buffers on a horizon of 2-11 steps (sizes 8-64 B, one in four aligned to 16), candidates on
    /// two in three of the buffers of at least two steps (a random idle window inside the lifetime; recompute costs
    /// none, 0, 0.5 or 3 us; a recomputable one needs 0-2 other buffers, drawn from a second stream of the seed so that
    /// the rest is what it was before needs were drawn), and a limit between the lower bound with every candidate traded
    /// and the untraded best-fit peak.
    let draw (seed: int) (n: int) : Problem * Candidate[] * int64 =
        let rnd = System.Random(seed)
        let horizon = rnd.Next(2, 12)
        let p =
            Problem.ofBuffers [ for i in 0 .. n - 1 ->
                                    let s = rnd.Next(0, horizon - 1)
                                    let e = rnd.Next(s + 1, horizon + 1)
                                    { Buffer.create (string i) (int64 s) (int64 e) (int64 (8 * rnd.Next(1, 9))) with Alignment = (if rnd.Next 4 = 0 then 16L else 1L) } ]
        let candidates =
            [| for i in 0 .. n - 1 do
                let b = p.Buffers.[i]
                if rnd.Next 3 > 0 && b.Lifetime.End - b.Lifetime.Start >= 2L then
                    let a = rnd.Next(int b.Lifetime.Start, int b.Lifetime.End - 1)
                    let z = rnd.Next(a + 1, int b.Lifetime.End + 1)
                    let us = [| None; Some 0.0; Some 0.5; Some 3.0 |].[rnd.Next 4]
                    yield { Buffer = i; Idle = { Start = int64 a; End = int64 z }; RecomputeUs = us; Needs = [||] } |]
        let needs = System.Random(seed ^^^ 0x5eed)
        let candidates =
            candidates |> Array.map (fun c ->
                if c.RecomputeUs.IsNone || n < 2 then c
                else { c with Needs = Array.init (needs.Next 3) (fun _ -> (c.Buffer + 1 + needs.Next(n - 1)) % n) |> Array.distinct })
        let all = Tradeoffs.apply p (candidates |> Array.map (fun c -> c, Trade.Offload))
        let low, high = Bounds.lowerBound all, Plan.peak p (BestFit.plan p)
        p, candidates, low + int64 (rnd.NextDouble() * float (max 0L (high - low)))
