// Planning time of registry algorithms on the generated layer chains (Traces.chainOfSize), in this process, with the
// same harness for any build of the planner: scripts/bench-before-after.sh --in-process loads it after a `#r` of a
// build's Pgmo.Planner.dll, so two builds are timed by identical code. Each algorithm runs once untimed (JIT), then
// PLAN_TIME_REPEATS times (default 7), each after a full garbage collection, so that no run pays for garbage another
// left. Prints one JSON object, {"rows": [...]}, with one row per algorithm and size: the least and the median time
// in ms and the peak charged, as `pgmo bench --json` names them (minMillis, millis, peak).
// Environment: PLAN_TIME_SIZES (comma-separated, default 10000), PLAN_TIME_ALGORITHMS (comma-separated registry
// names, default first-fit,best-fit), PLAN_TIME_REPEATS.
open System
open Pgmo.Planner

let env (name: string) (fallback: string) = match Environment.GetEnvironmentVariable name with null | "" -> fallback | v -> v
let sizes = (env "PLAN_TIME_SIZES" "10000").Split(',') |> Array.map int
let names = (env "PLAN_TIME_ALGORITHMS" "first-fit,best-fit").Split(',')
let repeats = int (env "PLAN_TIME_REPEATS" "7")
// the registry's entries by name (both the current registry and older builds name them so)
let registry =
    [ Algorithms.bestFit; Algorithms.greedySize; Algorithms.xlaSpatial; Algorithms.xlaTemporal; Algorithms.firstFit
      Algorithms.cupyPool; Algorithms.torchPool ]
let rows = ResizeArray<string>()
for n in sizes do
    let problem = Traces.chainOfSize 1 n
    for name in names do
        let algorithm =
            match registry |> List.tryFind (fun a -> a.Name = name) with
            | Some a -> a
            | None -> failwithf "plan-time.fsx: no algorithm '%s' (known: %s)" name (registry |> List.map (fun a -> a.Name) |> String.concat ", ")
        let peak = (algorithm.Plan(problem, Algorithms.defaults)).Peak
        let times =
            [| for _ in 1 .. repeats do
                 GC.Collect()
                 GC.WaitForPendingFinalizers()
                 GC.Collect()
                 let clock = Diagnostics.Stopwatch.StartNew()
                 algorithm.Plan(problem, Algorithms.defaults) |> ignore
                 clock.Elapsed.TotalMilliseconds |] |> Array.sort
        rows.Add(sprintf "{\"algorithm\": \"%s\", \"buffers\": %d, \"minMillis\": %.3f, \"millis\": %.3f, \"peak\": %d}"
                     name problem.Buffers.Length times.[0] times.[times.Length / 2] peak)
printfn "{\"rows\": [%s]}" (String.concat ", " rows)
