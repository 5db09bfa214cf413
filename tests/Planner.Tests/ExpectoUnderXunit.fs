/// Runs every Expecto test as one xunit theory case, so `dotnet test` runs the Expecto suite
/// (no Expecto test adapter is served here) and fails when any Expecto test fails.
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

[<Theory>]
[<MemberData(nameof names)>]
let ``expecto`` (name: string) =
    let t = flat.Force().[name]
    match t.state with
    | Pending -> ()
    | _ -> run t.test

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv AllTests.all
