module Pgmo.Planner.Tests.SvgTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

let private parse (svg: string) =
    let doc = System.Xml.XmlDocument()
    doc.LoadXml svg
    doc

let private count (doc: System.Xml.XmlDocument) (name: string) =
    doc.GetElementsByTagName(name).Count

let tests =
    testList "Svg" [
        testCase "formats bytes with binary units" <| fun () ->
            Expect.equal [ Svg.formatBytes 512L; Svg.formatBytes 1536L; Svg.formatBytes (12L <<< 20); Svg.formatBytes (9L <<< 29) ]
                         [ "512 B"; "1.5 KiB"; "12 MiB"; "4.5 GiB" ] "B, KiB, MiB, GiB"

        testCase "escapes ids and titles" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "a<&>\"" 0L 4L 64L ]
            let doc = parse (Svg.render "x & y < z" p { Offsets = [| 0L |] })
            Expect.stringContains doc.DocumentElement.InnerText "x & y < z" "the title survives escaping"

        testPropertyWithConfig config "well-formed XML with one rect per buffer (plus the background)" <| fun (SmallProblem p) ->
            let plan = Greedy.plan p
            Expect.isTrue (Validate.isValid p plan) "the pictured plan is valid"
            Expect.isGreaterThanOrEqual (Plan.peak p plan) (Bounds.lowerBound p) "peak >= lower bound"
            let doc = parse (Svg.render "greedy" p plan)
            Expect.equal (count doc "rect") (p.Buffers.Length + 1) "one rect per buffer"
            Expect.equal doc.DocumentElement.Name "svg" "an svg root"

        testCase "large plans stay light" <| fun () ->
            let p = Traces.chainOfSize 3 10_000
            let plan = Xla.plan XlaStrategy.Temporal p
            let svg = Svg.render "10k" p plan
            parse svg |> ignore
            Expect.isLessThan svg.Length 2_000_000 "under 2 MB for 10k buffers"

        testCase "the chart has one bar per row and a legend entry per algorithm" <| fun () ->
            let rows = [ "A", "greedy-size", 1.31; "A", "pool", 2.37; "B", "greedy-size", 1.35; "B", "pool", nan ]
            let doc = parse (Svg.chart "ratios & more" rows)
            // background + 3 finite bars + 2 legend swatches
            Expect.equal (count doc "rect") 6 "three bars, two swatches, one background"
            Expect.stringContains doc.DocumentElement.InnerText "pool" "legend names the algorithm"
    ]
