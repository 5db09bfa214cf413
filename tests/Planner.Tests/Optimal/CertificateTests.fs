/// Re-validates every committed certificate in proofs/certificates without trusting any solver.
module Pgmo.Planner.Tests.CertificateTests

open System.IO
open System.Text.Json
open Expecto
open Pgmo.Planner

let private read (path: string) = File.ReadAllText path

/// (problems, their certificates): the MiniMalloc instances and the network traces (proofs/traces.md).
let private sets (root: string) =
    [ Path.Combine(root, "datasets", "minimalloc"), Path.Combine(root, "proofs", "certificates")
      Path.Combine(root, "datasets", "traces"), Path.Combine(root, "proofs", "certificates", "traces") ]

let tests =
    testList "Certificates" [
        testCase "every dataset instance and network trace has a certificate" <| fun () ->
            let root = Reference.repositoryRoot ()
            for data, certs in sets root do
                for file in Directory.GetFiles(data, "*.csv") do
                    let name = Path.GetFileNameWithoutExtension file
                    Expect.isTrue (File.Exists(Path.Combine(certs, name + ".csv"))) (sprintf "%s.csv exists" name)
                    Expect.isTrue (File.Exists(Path.Combine(certs, name + ".json"))) (sprintf "%s.json exists" name)

        testCase "every certificate is a valid plan whose peak matches its json" <| fun () ->
            let root = Reference.repositoryRoot ()
            for data, certDir in sets root do
                let certs = Directory.GetFiles(certDir, "*.json")
                Expect.isNonEmpty certs "certificates exist"
                for json in certs do
                    let name = Path.GetFileNameWithoutExtension json
                    use doc = JsonDocument.Parse(read json)
                    let field (n: string) = doc.RootElement.GetProperty n
                    Expect.equal ((field "instance").GetString()) name "the json names its instance"
                    // the commands that regenerate and check it, with paths that exist from the repository root
                    let command = (field "command").GetString()
                    Expect.isTrue (command.StartsWith "dotnet fsi scripts/certificates.fsx " && command.EndsWith(" " + name))
                        (sprintf "%s: the json records the command that regenerates it: %s" name command)
                    let check = (field "check").GetString().Split ' '
                    Expect.equal check.[.. 1] [| "pgmo"; "check" |] (sprintf "%s: the json records the command that checks it" name)
                    for relative in check.[2 ..] do
                        Expect.isTrue (File.Exists(Path.Combine(root, relative))) (sprintf "%s: %s exists" name relative)
                    let problemFile = Path.Combine(data, name + ".csv")
                    let planFile = Path.ChangeExtension(json, ".csv")
                    let problem =
                        match Csv.parseProblem problemFile (read problemFile) with
                        | Ok p -> p
                        | Error e -> failtestf "%s: %s" name e.Message
                    let planned, offsets =
                        match Csv.parsePlan planFile (read planFile) with
                        | Ok x -> x
                        | Error e -> failtestf "%s: %s" name e.Message
                    let plan =
                        match Validate.assign problem planned offsets with
                        | Ok plan -> plan
                        | Error v -> failtestf "%s: rows do not match the instance: %A" name v
                    Expect.isEmpty (Validate.plan problem None plan) (sprintf "%s: the plan is valid" name)
                    let peak = Plan.peak problem plan
                    let lower = bruteLowerBound problem // the definition, not the sweep
                    Expect.equal peak ((field "peak").GetInt64()) (sprintf "%s: peak matches the json" name)
                    Expect.equal lower ((field "lowerBound").GetInt64()) (sprintf "%s: lower bound matches the json" name)
                    Expect.isGreaterThanOrEqual peak lower (sprintf "%s: peak >= lower bound" name)
                    let status = (field "status").GetString()
                    let bound = (field "provenBound").GetInt64()
                    Expect.isLessThanOrEqual bound peak (sprintf "%s: proven bound <= peak" name)
                    Expect.isGreaterThanOrEqual bound lower (sprintf "%s: proven bound >= lower bound" name)
                    if peak = lower then
                        // Theorem 1 of proofs/lower-bound.md: no valid plan goes below the max load, so this plan is optimal
                        Expect.equal status "optimal" (sprintf "%s: peak = lower bound proves optimality" name)
                    else
                        Expect.isTrue (status = "optimal" || status = "feasible") (sprintf "%s: status %s" name status)
                        if status = "optimal" then Expect.equal bound peak (sprintf "%s: optimal means bound = peak" name)
    ]
