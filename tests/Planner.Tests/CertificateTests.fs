/// Re-validates every committed certificate in proofs/certificates without trusting any solver.
module Pgmo.Planner.Tests.CertificateTests

open System.IO
open System.Text.Json
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

let private read (path: string) = File.ReadAllText path

let tests =
    testList "Certificates" [
        testCase "every dataset instance has a certificate" <| fun () ->
            let root = OptimalTests.repositoryRoot ()
            for file in Directory.GetFiles(Path.Combine(root, "datasets", "minimalloc"), "*.csv") do
                let name = Path.GetFileNameWithoutExtension file
                Expect.isTrue (File.Exists(Path.Combine(root, "proofs", "certificates", name + ".csv"))) (sprintf "%s.csv exists" name)
                Expect.isTrue (File.Exists(Path.Combine(root, "proofs", "certificates", name + ".json"))) (sprintf "%s.json exists" name)

        testCase "every certificate is a valid plan whose peak matches its json" <| fun () ->
            let root = OptimalTests.repositoryRoot ()
            let certs = Directory.GetFiles(Path.Combine(root, "proofs", "certificates"), "*.json")
            Expect.isNonEmpty certs "certificates exist"
            for json in certs do
                let name = Path.GetFileNameWithoutExtension json
                use doc = JsonDocument.Parse(read json)
                let field (n: string) = doc.RootElement.GetProperty n
                Expect.equal ((field "instance").GetString()) name "the json names its instance"
                let problemFile = Path.Combine(root, "datasets", "minimalloc", name + ".csv")
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
