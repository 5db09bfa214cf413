/// Size-controlled FsCheck generators for problems: equal sizes, nested and identical lifetimes, alignment. Every
/// test module (namespace Pgmo.Planner.Tests) has them open.
[<AutoOpen>]
module Pgmo.Planner.Tests.Generators

open FsCheck
open FsCheck.FSharp
open Pgmo.Planner

/// A random problem with a handful of buffers; grows with FsCheck's size.
type SmallProblem = SmallProblem of Problem

let private buffer (i: int) (horizon: int) (shape: int) : Gen<Buffer> =
    gen {
        let! start = Gen.choose (0, horizon - 1)
        let! length = Gen.choose (1, max 1 (horizon - start))
        let! size =
            match shape with
            | 0 -> Gen.elements [ 8; 8; 16; 32 ]            // many equal sizes
            | _ -> Gen.choose (1, 64)
        let! alignment = Gen.frequency [ 6, Gen.constant 1; 1, Gen.elements [ 2; 4; 8; 16 ] ]
        return { Buffer.create (string i) (int64 start) (int64 (start + length)) (int64 size) with Alignment = int64 alignment }
    }

/// Problems whose shape is one of: random, identical lifetimes, nested lifetimes, disjoint lifetimes.
let problem : Gen<Problem> =
    Gen.sized (fun size ->
        gen {
            let! n = Gen.choose (1, max 1 (min 40 (size + 1)))
            let! horizon = Gen.choose (1, max 1 (min 30 (size + 2)))
            let! shape = Gen.choose (0, 4)
            let! buffers = [ for i in 0 .. n - 1 -> buffer i horizon shape ] |> Gen.sequenceToList
            let buffers =
                match shape with
                | 2 -> buffers |> List.map (fun b -> { b with Lifetime = { Start = 0L; End = 5L } })                    // identical
                | 3 -> buffers |> List.mapi (fun i b -> { b with Lifetime = { Start = int64 i; End = int64 (2 * n - i) } }) // nested
                | 4 -> buffers |> List.mapi (fun i b -> { b with Lifetime = { Start = int64 (2 * i); End = int64 (2 * i + 1) } }) // disjoint
                | _ -> buffers
            return Problem.ofBuffers buffers
        })

/// A random problem at DNN scale: sizes from 256 B up to 4 GiB in multiples of 256 B, alignment 256 (what the runtime
/// records), lifetimes over a training iteration's worth of steps; a handful of buffers, growing with FsCheck's size.
type DnnProblem = DnnProblem of Problem

/// DNN-scale problems: mostly KiB-to-MiB activations and gradients, some GiB-sized tensors.
let dnnProblem : Gen<Problem> =
    Gen.sized (fun size ->
        gen {
            let! n = Gen.choose (1, max 1 (min 40 (size + 1)))
            let! horizon = Gen.choose (2, max 2 (min 400 (10 * size + 2)))
            let! buffers =
                [ for i in 0 .. n - 1 ->
                    gen {
                        let! start = Gen.choose (0, horizon - 1)
                        let! length = Gen.choose (1, horizon - start)
                        // 256 B units: up to 4 KiB, 4 MiB or 4 GiB
                        let! units = Gen.frequency [ 3, Gen.choose (1, 16); 4, Gen.choose (1, 16384); 1, Gen.choose (1, 16777216) ]
                        return { Buffer.create (string i) (int64 start) (int64 (start + length)) (256L * int64 units) with Alignment = 256L }
                    } ] |> Gen.sequenceToList
            return Problem.ofBuffers buffers
        })

/// A problem and offsets for it that may be wrong: random multiples of small steps near the stacked plan, so that
/// overlaps, misalignments and valid plans all occur.
type RandomPlan = RandomPlan of Problem * Plan

let randomPlan : Gen<Problem * Plan> =
    gen {
        let! p = problem
        let total = p.Buffers |> Array.sumBy (fun b -> b.Size)
        let! offsets = [ for _ in p.Buffers -> Gen.choose (0, int (max 1L (total / 2L))) ] |> Gen.sequenceToList
        return p, { Offsets = offsets |> List.map int64 |> Array.ofList }
    }

/// The FsCheck arbitraries of this test suite.
type Arbitraries =
    static member SmallProblem() : Arbitrary<SmallProblem> =
        problem |> Gen.map SmallProblem |> Arb.fromGen
    static member DnnProblem() : Arbitrary<DnnProblem> =
        dnnProblem |> Gen.map DnnProblem |> Arb.fromGen
    static member RandomPlan() : Arbitrary<RandomPlan> =
        randomPlan |> Gen.map RandomPlan |> Arb.fromGen

/// Expecto's FsCheck configuration with these arbitraries; fixed replay-friendly settings.
let config = { Expecto.FsCheckConfig.defaultConfig with arbitrary = [ typeof<Arbitraries> ]; maxTest = 200 }

/// A plan that stacks every buffer on top of the previous one (always valid, rarely good): the tests' reference layout.
let stackPlan (problem: Problem) : Plan =
    let mutable top = 0L
    { Offsets = problem.Buffers |> Array.map (fun b -> let o = Numbers.alignUp b.Alignment top in top <- o + b.Size; o) }

/// The largest live load by brute force over every step (the definition of the lower bound).
let bruteLowerBound (problem: Problem) : int64 =
    if problem.Buffers.Length = 0 then 0L
    else
        let steps = problem.Buffers |> Array.collect (fun b -> [| b.Lifetime.Start; b.Lifetime.End |]) |> Array.distinct
        steps |> Array.map (fun t ->
            problem.Buffers |> Array.sumBy (fun b -> if b.Lifetime.Start <= t && t < b.Lifetime.End then b.Size else 0L))
        |> Array.max

/// Validates a plan and checks its peak against the lower bound; returns the peak.
let expectValid (name: string) (p: Problem) (plan: Plan) =
    let violations = Validate.plan p None plan
    Expecto.Expect.isEmpty violations (sprintf "%s: the plan is valid: %A" name (violations |> List.map Violation.describe))
    let peak = Plan.peak p plan
    Expecto.Expect.isGreaterThanOrEqual peak (Bounds.lowerBound p) (sprintf "%s: peak >= lower bound" name)
    peak

/// Validates a plan (every planner test ends this way) and returns its peak and the lower bound.
let checkPlan (p: Problem) (plan: Plan) = expectValid "plan" p plan, Bounds.lowerBound p

/// The same buffers, all live on [start, finish) and unaligned: every valid stacking meets the lower bound.
let identicalLifetimes (start: int64) (finish: int64) (p: Problem) =
    Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Lifetime = { Start = start; End = finish }; Alignment = 1L }))

/// The same buffers, each alone in time: the optimum is the largest size, every buffer at offset 0.
let disjointLifetimes (p: Problem) =
    Problem.ofBuffers (p.Buffers |> Array.mapi (fun i b -> { b with Lifetime = { Start = int64 i; End = int64 i + 1L } }))

/// The properties every offline baseline shares, as Expecto tests: a valid plan at or above the lower bound on small
/// random problems, and exactly the lower bound on identical lifetimes (a stack) and on disjoint ones (all at 0).
let baselineProperties (name: string) (plan: Problem -> Plan) : Expecto.Test list =
    [ Expecto.ExpectoFsCheck.testPropertyWithConfig config "valid and above the lower bound" <| fun (SmallProblem p) ->
        expectValid name p (plan p) |> ignore
      Expecto.ExpectoFsCheck.testPropertyWithConfig config "hits the lower bound on identical or disjoint lifetimes" <| fun (SmallProblem p) ->
        let same = identicalLifetimes 0L 1L p
        Expecto.Expect.equal (expectValid "same" same (plan same)) (Bounds.lowerBound same) (sprintf "%s: identical lifetimes make a stack" name)
        let apart = disjointLifetimes p
        Expecto.Expect.equal (expectValid "apart" apart (plan apart)) (Bounds.lowerBound apart) (sprintf "%s: disjoint lifetimes all at 0" name) ]
