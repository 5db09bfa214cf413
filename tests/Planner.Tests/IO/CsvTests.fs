/// Reading and writing problems, plans and traces in the minimalloc CSV format: the format's rules one by one, bad
/// input named by file and line, round trips, and seeded mutations of a problem with gaps, pins and hints, of a plan
/// and of a runtime trace (`pgmo profile --out`).
module Pgmo.Planner.Tests.CsvTests

open System
open System.IO
open Expecto
open Pgmo.Planner

/// Parses a problem file p.csv that must fail at `line` with a message containing `fragment`.
let private expectError = Reference.expectError

/// A problem with every column of the format: alignment, hints, gaps (plain and with a window), pins, quoted fields
/// and an unknown column.
let private richProblem =
    "id,lower,upper,size,alignment,hint,gaps,offset,tag\n\
     a,0,10,64,8,-1,3-7,-1,\"x, y\"\n\
     b,3,7,32,1,0,,-1,b\n\
     c,0,10,16,4,-1,2-8@0:8,128,c\n\
     d,2,8,8,1,40,,,d\n\
     e,5,12,24,8,16,6-9 10-11@8:24,-1,\"e \"\"q\"\"\"\n\
     f,1,4,16,16,-1,,0,f\n\
     g,4,12,40,1,200,,-1,g\n"

/// The lines of a text as the reader counts them.
let private lineCount (text: string) = text.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n').Length

/// A rejection as the command line reports it (exit 2, "file:line: message"): it names the file and a line of it
/// (line 0 only for an empty file).
let private expectRejection (case: int) (file: string) (text: string) (e: InputError) =
    Expect.equal e.File file (sprintf "case %d: the error names the file" case)
    Expect.isTrue ((e.Line >= 1 && e.Line <= lineCount text) || (e.Line = 0 && e.Message.StartsWith "file is empty"))
        (sprintf "case %d: the error names a line of the file: %d: %s" case e.Line e.Message)
    Expect.isNotEmpty e.Message (sprintf "case %d: the error says what is wrong" case)

/// Every planner but the time-limited search (fast on small problems).
let private everyFastPlanner = Algorithms.planners |> List.filter (fun a -> a.Name <> "search")

/// A problem the reader accepted obeys the format's rules, reads back the same after writing, and each of
/// `algorithms` plans it validly (pins kept) at or above its lower bound.
let private expectUsable (algorithms: Algorithm list) (case: int) (p: Problem) =
    for b in p.Buffers do
        Expect.isTrue (b.Size > 0L && b.Lifetime.Start >= 0L && b.Lifetime.Start < b.Lifetime.End && b.Alignment >= 1L)
            (sprintf "case %d: buffer %s has a positive size and a non-empty half-open lifetime" case b.Id)
        for g in b.Gaps do
            Expect.isTrue (b.Lifetime.Start <= g.Steps.Start && g.Steps.Start < g.Steps.End && g.Steps.End <= b.Lifetime.End)
                (sprintf "case %d: buffer %s's gaps lie inside its lifetime" case b.Id)
    Expect.equal (Csv.writeProblem p |> Csv.parseProblem "rt.csv") (Ok p) (sprintf "case %d: the problem round-trips" case)
    for a in algorithms do
        let r = a.Plan(p, Algorithms.defaults)
        expectValid (sprintf "case %d: %s" case a.Name) p r.Plan |> ignore
        p.Buffers |> Array.iteri (fun i b ->
            if b.Pinned.IsSome then Expect.equal r.Plan.Offsets.[i] b.Pinned.Value (sprintf "case %d: %s keeps %s at its pin" case a.Name b.Id))

/// Runs `cases` seeded mutations of `seeds` (file name, text) through `read`, which checks an accepted input itself;
/// every case is a result or a rejection naming the file and a line, never an exception. Returns the rejections.
let private fuzz (seed: int) (cases: int) (seeds: (string * string) list) (read: int -> string -> string -> Result<unit, InputError>) =
    let rng = Random seed
    let seeds = Array.ofList seeds
    let mutable rejected = 0
    for case in 1 .. cases do
        let file, text = seeds.[case % seeds.Length]
        let mutant = Mutations.mutated Mutations.csvAlphabet rng text
        match (try read case file mutant with e -> failtestf "case %d threw %O\non:\n%s" case e mutant) with
        | Ok () -> ()
        | Error e ->
            rejected <- rejected + 1
            expectRejection case file mutant e
    printfn "%d mutated cases, %d rejected with their file and line" cases rejected
    rejected

let private dataset (relative: string) =
    let path = Path.Combine(Reference.repositoryRoot (), "datasets", relative)
    path, File.ReadAllText path

/// A plan the reader accepted is matched to the problem by id (`pgmo check`): rows that do not match are reported,
/// matched offsets are validated (violations or none), never an exception.
let private checkPlan (problem: Problem) (planned: Problem, offsets: Plan) =
    match Validate.assign problem planned offsets with
    | Error mismatches -> Expect.isNonEmpty mismatches "a mismatch is reported"
    | Ok plan ->
        let violations = Validate.plan problem None plan
        if violations.IsEmpty then
            Expect.isGreaterThanOrEqual (Plan.peak problem plan) (Bounds.lowerBound problem) "a valid plan's peak is at least the lower bound"

let tests =
    testList "Csv" [
        testCase "reads the minimalloc example" <| fun () ->
            let text = "id,lower,upper,size\n0,0,3,4\n1,3,9,4\n2,0,9,4\n3,9,21,4\n4,0,21,4\n"
            let p = Csv.parseProblem "input.12.csv" text |> Result.defaultWith (fun e -> failwith e.Message)
            Expect.equal p.Buffers.Length 5 "five buffers"
            Expect.equal p.Buffers.[1] (Buffer.create "1" 3L 9L 4L) "row 1 as written"

        testCase "ignores unknown columns, column order and blank lines, honours quotes" <| fun () ->
            let text = "size,tag,id,upper,lower\r\n\r\n10,\"conv1, out\",a,5,1\r\n"
            let p = Csv.parseProblem "t.csv" text |> Result.defaultWith (fun e -> failwith e.Message)
            Expect.equal p.Buffers.[0] (Buffer.create "a" 1L 5L 10L) "columns found by name"

        testCase "reads alignment and offsets of a plan" <| fun () ->
            let text = "id,lower,upper,size,alignment,offset\nx,0,2,3,4,8\n"
            let p, plan = Csv.parsePlan "plan.csv" text |> Result.defaultWith (fun e -> failwith e.Message)
            Expect.equal p.Buffers.[0].Alignment 4L "alignment"
            Expect.equal plan.Offsets [| 8L |] "offset"

        testList "bad input" [
            testCase "empty file" <| fun () -> expectError "" 0 "empty"
            testCase "header only" <| fun () -> expectError "id,lower,upper,size\n" 1 "no buffers"
            testCase "missing column" <| fun () -> expectError "id,lower,size\n1,0,4\n" 1 "missing column upper"
            testCase "non-integer" <| fun () -> expectError "id,lower,upper,size\n1,0,4,12.5\n" 2 "'12.5' is not a 64-bit integer"
            testCase "too few fields" <| fun () -> expectError "id,lower,upper,size\n1,0,4\n" 2 "expected 4 fields"
            testCase "zero size" <| fun () -> expectError "id,lower,upper,size\n1,0,4,1\n2,0,4,0\n" 3 "size 0 must be positive"
            testCase "negative size" <| fun () -> expectError "id,lower,upper,size\n1,0,4,-3\n" 2 "size -3 must be positive"
            testCase "upper equal to lower" <| fun () -> expectError "id,lower,upper,size\n1,4,4,1\n" 2 "upper 4 must be greater than lower 4"
            testCase "upper below lower" <| fun () -> expectError "id,lower,upper,size\n1,5,4,1\n" 2 "must be greater"
            testCase "negative lower" <| fun () -> expectError "id,lower,upper,size\n1,-1,4,1\n" 2 "negative"
            testCase "duplicate id" <| fun () -> expectError "id,lower,upper,size\n7,0,4,1\n7,1,2,1\n" 3 "duplicate id '7' (first on line 2)"
            testCase "sizes overflow int64" <| fun () ->
                expectError "id,lower,upper,size\n1,0,4,5000000000000000000\n2,0,4,5000000000000000000\n" 3 "64-bit"
            testCase "a pin below a buffer that cannot fit under it" <| fun () ->
                // b (2^62 + 2^61 bytes) cannot go below a (pinned at 2^62, live at the same steps): above it, its top
                // would pass 64 bits
                expectError "id,lower,upper,size,offset\na,0,2,10,4611686018427387904\nb,0,2,6917529027641081856,-1\n" 3
                    "above the highest pinned or hinted offset 4611686018427387904 pass the 64-bit limit"
            testCase "size beyond int64" <| fun () -> expectError "id,lower,upper,size\n1,0,4,9223372036854775808\n" 2 "not a 64-bit integer"
            testCase "plan offset that overflows" <| fun () ->
                match Csv.parsePlan "q.csv" "id,lower,upper,size,offset\n1,0,4,10,9223372036854775800\n" with
                | Ok _ -> failtest "expected an overflow error"
                | Error e -> Expect.stringContains e.Message "overflows" "offset + size overflow is bad input"
            testCase "plan without offset column" <| fun () ->
                match Csv.parsePlan "q.csv" "id,lower,upper,size\n1,0,4,10\n" with
                | Ok _ -> failtest "expected a missing column error"
                | Error e -> Expect.stringContains e.Message "offset" "names the missing column"
        ]

        testPropertyWithConfig config "problems round-trip through CSV" <| fun (SmallProblem p) ->
            let back = Csv.writeProblem p |> Csv.parseProblem "rt.csv"
            Expect.equal back (Ok p) "write then parse gives the same problem"

        testPropertyWithConfig config "plans round-trip through CSV" <| fun (SmallProblem p) ->
            let plan = stackPlan p
            let back = Csv.writePlan p plan |> Csv.parsePlan "rt.csv"
            Expect.equal back (Ok (p, plan)) "write then parse gives the same plan"
    
        testList "seeded mutations" [
            testCase "300 mutated problems with gaps, pins and hints: a problem every planner but search plans validly, or file:line" <| fun () ->
                let seeds = [ "rich.csv", richProblem; dataset "minimalloc-format/gaps-inclusive.csv"; dataset "minimalloc-format/gaps.csv"
                              dataset "minimalloc/input.12.csv" ]
                let rejected = fuzz 19 300 seeds (fun case file text -> Csv.parseProblem file text |> Result.map (expectUsable everyFastPlanner case))
                Expect.isTrue (rejected > 30 && rejected < 290) (sprintf "the mutations reach both outcomes (%d of 300 rejected)" rejected)

            testCase "300 mutated traces of pgmo profile (alexnet, batch 32): a problem best-fit plans validly, or file:line" <| fun () ->
                let file, text = dataset "traces/alexnet-b32.csv"
                let rejected = fuzz 20 300 [ file, text ] (fun case file text -> Csv.parseProblem file text |> Result.map (expectUsable [ Algorithms.bestFit ] case))
                Expect.isTrue (rejected > 30 && rejected < 290) (sprintf "the mutations reach both outcomes (%d of 300 rejected)" rejected)

            testCase "300 mutated plans: rows matched and validated as pgmo check does, or file:line" <| fun () ->
                let problem = Csv.parseProblem "rich.csv" richProblem |> Result.defaultWith (fun e -> failwith e.Message)
                let plan = BestFit.plan problem
                expectValid "the seed plan" problem plan |> ignore
                let small = Csv.parseProblem "input.12.csv" (snd (dataset "minimalloc/input.12.csv")) |> Result.defaultWith (fun e -> failwith e.Message)
                let seeds = [ "plan.csv", Csv.writePlan problem plan; "plan12.csv", Csv.writePlan small (BestFit.plan small) ]
                let rejected =
                    fuzz 21 300 seeds (fun _ file text ->
                        Csv.parsePlan file text |> Result.map (checkPlan (if file = "plan.csv" then problem else small)))
                Expect.isTrue (rejected > 30 && rejected < 290) (sprintf "the mutations reach both outcomes (%d of 300 rejected)" rejected)
        ]
    ]
