module Pgmo.Planner.Tests.CsvTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

/// Parses a problem file p.csv that must fail at `line` with a message containing `fragment`.
let private expectError = Reference.expectError

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
                expectError "id,lower,upper,size\n1,0,4,9223372036854775000\n2,0,4,9223372036854775000\n" 3 "64-bit"
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
    ]
