/// Runs every Expecto test as one xunit theory case, so `dotnet test` runs the Expecto suite
/// (no Expecto test adapter is served here) and fails when any Expecto test fails; a pending one is skipped.
/// `dotnet run --project tests/Planner.Tests` runs the same tests with Expecto's own runner.
module Pgmo.Planner.Tests.ExpectoUnderXunit

open System.Threading
open Expecto
open Xunit

let private flat =
    lazy (Test.toTestCodeList AllTests.all
          |> List.map (fun t -> String.concat "/" t.name, t)
          |> Map.ofList)

/// The names of all Expecto tests, as xunit theory data.
let names () : seq<obj[]> = flat.Force() |> Map.keys |> Seq.map (fun n -> [| box n |])

let private run (code: TestCode) =
    match code with
    | Sync f -> f ()
    | SyncWithCancel f -> f CancellationToken.None
    | Async a -> Async.RunSynchronously a
    | AsyncFsCheck (config, _, f) -> Async.RunSynchronously (f (defaultArg config FsCheckConfig.defaultConfig))

/// Runs one flattened Expecto test; a pending one (ptestCase) is reported as skipped, never as passed.
let runOne (t: FlatTest) =
    Skip.If(t.state = Pending, "pending in Expecto (ptestCase)")
    run t.test

[<SkippableTheory>]
[<MemberData(nameof names)>]
let ``expecto`` (name: string) = runOne (flat.Force().[name])

[<Fact>]
let ``a pending Expecto test is skipped, not passed`` () =
    let pending = Test.toTestCodeList (testList "x" [ ptestCase "pending" <| fun () -> failwith "never run" ]) |> List.exactlyOne
    Assert.Throws<SkipException>(fun () -> runOne pending) |> ignore
    let normal = Test.toTestCodeList (testList "x" [ testCase "runs" <| fun () -> failwith "ran" ]) |> List.exactlyOne
    Assert.Throws<exn>(fun () -> runOne normal) |> ignore

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv AllTests.all
