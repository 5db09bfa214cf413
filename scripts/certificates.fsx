// Generates proofs/certificates/<instance>.csv (the plan, minimalloc CSV with offsets) and <instance>.json (what was
// proven, by which solver, with which settings) for every instance in datasets/minimalloc; with --set=traces, the same
// in proofs/certificates/traces/ for every network trace in datasets/traces.
//
//   dotnet build -c Release src/Planner.Optimal
//   dotnet fsi scripts/certificates.fsx [--set=minimalloc|traces] [--kind=auto|exact|cp-sat] [--fresh] [time-limit-seconds (default 60)] [instance names...]
//
// A committed certificate that is still valid is the hint (starting plan) of the next run, so rerunning never makes
// a certificate worse; a worse answer than the committed plan cannot happen because the hint is always a candidate.
//
// Every plan is validated before it is written; tests/Planner.Tests/Optimal/CertificateTests.fs re-validates the files.
#load "OrTools.fsx"
#load "Output.fsx"

open System
open System.IO
open System.Text.Json
open Pgmo.Planner
open Pgmo.Planner.Optimal

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))

let allArgs = fsi.CommandLineArgs |> Array.tail
// --kind=auto|exact|cp-sat picks the method (default auto)
let kind, kindName =
    match allArgs |> Array.tryFind (fun a -> a.StartsWith "--kind=") |> Option.map (fun a -> a.Substring 7) with
    | Some "exact" -> ExactSearch, "exact"
    | Some "cp-sat" -> CpSat, "cp-sat"
    | _ -> Auto, "auto"
// --fresh starts without the committed plan as a hint; the certificate is then only replaced by a better plan
let fresh = allArgs |> Array.contains "--fresh"
let args = allArgs |> Array.filter (fun a -> not (a.StartsWith "--"))
let seconds = if args.Length > 0 then float args.[0] else 60.0
let wanted = if args.Length > 1 then Set.ofArray args.[1..] else Set.empty
// --set=traces certifies the network traces instead of the MiniMalloc instances
let inDir, outDir =
    match allArgs |> Array.tryFind (fun a -> a.StartsWith "--set=") |> Option.map (fun a -> a.Substring 6) with
    | Some "traces" -> Path.Combine(root, "datasets", "traces"), Path.Combine(root, "proofs", "certificates", "traces")
    | _ -> Path.Combine(root, "datasets", "minimalloc"), Path.Combine(root, "proofs", "certificates")
Directory.CreateDirectory outDir |> ignore

let statusName = function
    | Optimal -> "optimal"
    | Feasible -> "feasible"
    | Infeasible -> "infeasible"
    | SolveStatus.Unknown -> "unknown"


for file in Directory.GetFiles(inDir, "*.csv") |> Array.sort do
    let name = Path.GetFileNameWithoutExtension file
    if wanted.IsEmpty || wanted.Contains name || wanted.Contains(name.Split('.').[0]) then
        let problem =
            match Csv.parseProblem file (File.ReadAllText file) with
            | Ok p -> p
            | Error e -> failwithf "%s:%d %s" e.File e.Line e.Message
        // the committed certificate, when valid, is the starting point: a regeneration never gets worse
        let previous = Path.Combine(outDir, name + ".csv")
        let hint =
            if not (File.Exists previous) then None
            else
                match Csv.parsePlan previous (File.ReadAllText previous) with
                | Ok (planned, offsets) ->
                    match Validate.assign problem planned offsets with
                    | Ok plan when Validate.isValid problem plan -> Some plan
                    | _ -> None
                | Error _ -> None
        let options =
            { SolveOptions.defaults with
                TimeLimit = TimeSpan.FromSeconds seconds; Workers = 2; Seed = 0; Kind = kind; Hint = (if fresh then None else hint) }
        let r = Solver.solve options problem
        let plan = r.Plan |> Option.defaultWith (fun () -> failwithf "%s: no plan (%A)" name r.Status)
        match Validate.plan problem None plan with
        | [] -> ()
        | v :: _ -> failwithf "%s: invalid plan: %s" name (Violation.describe v)
        let peak = Plan.peak problem plan
        let previousPeak = hint |> Option.map (Plan.peak problem)
        if fresh && previousPeak.IsSome && peak >= previousPeak.Value && r.Status <> Optimal then
            printfn "%-12s kept the committed certificate (peak %d); this run reached %d" name previousPeak.Value peak
        else
        Output.writeAtomically (Path.Combine(outDir, name + ".csv")) (Csv.writePlan problem plan)
        // the commands that regenerate this certificate (from the committed plan when that was the hint) and check it
        let setName = if outDir.EndsWith "traces" then "traces" else "minimalloc"
        let command =
            String.Join(" ", [ yield "dotnet fsi scripts/certificates.fsx"
                               if setName = "traces" then yield "--set=traces"
                               if kindName <> "auto" then yield "--kind=" + kindName
                               if options.Hint.IsNone then yield "--fresh"
                               yield string seconds
                               yield name ])
        let check = sprintf "pgmo check datasets/%s/%s.csv %s/%s.csv" setName name (Path.GetRelativePath(root, outDir).Replace('\\', '/')) name
        let json =
            {| instance = name
               command = command
               check = check
               buffers = problem.Buffers.Length
               peak = peak
               lowerBound = Bounds.lowerBound problem
               status = statusName r.Status
               provenBound = r.Bound
               solver = r.Solver
               settings = {| mode = "minimize"; kind = kindName; timeLimitSeconds = seconds; workers = options.Workers; seed = options.Seed
                             hint = (if options.Hint.IsSome then "previous certificate" else "none") |}
               millis = r.Millis
               date = DateTime.UtcNow.ToString("yyyy-MM-dd") |}
        Output.writeAtomically (Path.Combine(outDir, name + ".json")) (JsonSerializer.Serialize(json, JsonSerializerOptions(WriteIndented = true)) + "\n")
        printfn "%-12s %-9s peak %8d  bound %8d  lower bound %8d  %6.1f s  %s" name (statusName r.Status) peak r.Bound (Bounds.lowerBound problem) (float r.Millis / 1000.0) r.Solver
