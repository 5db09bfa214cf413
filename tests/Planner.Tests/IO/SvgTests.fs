module Pgmo.Planner.Tests.SvgTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Pgmo.Planner

let private parse (svg: string) =
    let doc = System.Xml.XmlDocument()
    doc.LoadXml svg
    doc

let private count (doc: System.Xml.XmlDocument) (name: string) =
    doc.GetElementsByTagName(name).Count

let private attr (e: System.Xml.XmlElement) (name: string) = e.GetAttribute name
let private float' (s: string) = System.Double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)

/// The bars of a chart: every rect that has a title (the background and the legend swatches have none).
let private bars (doc: System.Xml.XmlDocument) =
    [ for e in doc.GetElementsByTagName "rect" |> Seq.cast<System.Xml.XmlElement> do
        if e.HasChildNodes then yield e.InnerText, float' (attr e "y"), float' (attr e "height") ]

/// A box (x0, y0, x1, y1) around each text of the picture, from its position, anchor, rotation and Svg.textWidth:
/// the glyphs rise 0.8 em above the baseline and fall 0.25 em below it.
let private textBoxes (doc: System.Xml.XmlDocument) =
    let rootSize = float' (attr doc.DocumentElement "font-size")
    [ for e in doc.GetElementsByTagName "text" |> Seq.cast<System.Xml.XmlElement> do
        let fs = if attr e "font-size" = "" then rootSize else float' (attr e "font-size")
        let w = Svg.textWidth fs e.InnerText * (if attr e "font-weight" = "bold" then 1.15 else 1.0)
        let shift = match attr e "text-anchor" with "middle" -> w / 2.0 | "end" -> w | _ -> 0.0
        let transform = attr e "transform"
        if transform.StartsWith "translate(" then
            // translate(x y) rotate(-90): the text reads upwards from (x, y)
            let xy = transform.Substring(10, transform.IndexOf ')' - 10).Split ' '
            let x, y = float' xy.[0], float' xy.[1]
            yield e.InnerText, (x - 0.8 * fs, y - w + shift, x + 0.25 * fs, y + shift)
        else
            let x, y = float' (attr e "x") - shift, float' (attr e "y")
            yield e.InnerText, (x, y - 0.8 * fs, x + w, y + 0.25 * fs) ]

let private overlaps (ax0, ay0, ax1, ay1) (bx0, by0, bx1, by1) = ax0 < bx1 && bx0 < ax1 && ay0 < by1 && by0 < ay1

/// Rows of a compare chart: a few instances and algorithms with names of any length, ratios at the bound, near it,
/// at and above the clip, and huge.
type ChartRows = ChartRows of (string * string * float) list

type ChartArbitraries =
    static member ChartRows() : Arbitrary<ChartRows> =
        let name prefix = gen { let! k = Gen.choose (0, 14) in return prefix + String.replicate k "x" }
        gen {
            let! instances = Gen.choose (1, 6)
            let! algorithms = Gen.choose (1, 12)
            let! iNames = [ for i in 1 .. instances -> name (sprintf "I%d." i) ] |> Gen.sequenceToList
            let! aNames = [ for a in 1 .. algorithms -> name (sprintf "a%d-" a) ] |> Gen.sequenceToList
            let ratio = Gen.frequency [ 4, Gen.constant 1.0; 2, Gen.map (fun k -> 1.0 + float k / 1000.0) (Gen.choose (1, 100))
                                        2, Gen.map (fun k -> 1.0 + float k / 100.0) (Gen.choose (1, 300)); 1, Gen.constant Svg.ClipRatio
                                        2, Gen.map (fun k -> 10.0 ** (float k / 10.0)) (Gen.choose (5, 60)); 1, Gen.constant nan ]
            let! rows = [ for i in iNames do for a in aNames -> Gen.map (fun r -> i, a, r) ratio ] |> Gen.sequenceToList
            return ChartRows rows
        } |> Arb.fromGen

let private chartConfig = { config with arbitrary = typeof<ChartArbitraries> :: config.arbitrary; maxTest = 100 }

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

        testCase "the lower bound is a line, and a bar at the bound reaches it from a visible stub" <| fun () ->
            let rows = [ "A", "search", 1.0; "A", "best-fit", 1.25; "B", "search", 1.0; "B", "best-fit", 1.5 ]
            let doc = parse (Svg.chart "bound" rows)
            let line = doc.GetElementsByTagName "line" |> Seq.cast<System.Xml.XmlElement> |> Seq.find (fun e -> attr e "class" = "lower-bound")
            let lbY = float' (attr line "y1")
            let atBound = bars doc |> List.filter (fun (t, _, _) -> t.EndsWith ": 1.0000")
            Expect.hasLength atBound 2 "both bars at the bound are drawn"
            for (t, y, h) in atBound do
                Expect.floatClose { absolute = 0.11; relative = 0.0 } y lbY (sprintf "%s rises to the bound's line" t)
                Expect.isGreaterThan h 15.0 (sprintf "%s has a visible height (%.1f px)" t h)
            let _, y125, _ = bars doc |> List.find (fun (t, _, _) -> t = "A, best-fit: 1.2500")
            let _, y150, _ = bars doc |> List.find (fun (t, _, _) -> t = "B, best-fit: 1.5000")
            Expect.floatClose { absolute = 0.2; relative = 0.0 } (lbY - y150) (2.0 * (lbY - y125)) "heights above the bound are linear in the ratio (coordinates to 0.1 px)"

        testCase "bars cut at the clip ratio are labelled with their value, side by side without overlap" <| fun () ->
            // the two pools on input.12: 128 and 174762.7 times the bound, in adjacent bars
            let rows = [ "input.12", "first-fit", 1.0; "input.12", "pool", 128.0; "input.12", "torch-pool", 174762.67; "A", "pool", 3.0078 ]
            let doc = parse (Svg.chart "clip" rows)
            let texts = doc.GetElementsByTagName "text" |> Seq.cast<System.Xml.XmlElement> |> Seq.map (fun e -> e.InnerText) |> Set.ofSeq
            for label in [ "128"; "174763"; "3.01" ] do Expect.isTrue (texts.Contains label) (sprintf "a label %s" label)
            let boxes = textBoxes doc
            for i in 0 .. boxes.Length - 1 do
                for j in i + 1 .. boxes.Length - 1 do
                    Expect.isFalse (overlaps (snd boxes.[i]) (snd boxes.[j])) (sprintf "'%s' and '%s' overlap" (fst boxes.[i]) (fst boxes.[j]))

        testPropertyWithConfig chartConfig "every bar has a height, and no two texts of the chart overlap" <| fun (ChartRows rows) ->
            let doc = parse (Svg.chart "peak / lower bound by algorithm" rows)
            let finite = rows |> List.filter (fun (_, _, r) -> System.Double.IsFinite r)
            Expect.equal (bars doc).Length finite.Length "one bar per finite row"
            for (t, _, h) in bars doc do Expect.isGreaterThan h 15.0 (sprintf "%s has a visible height" t)
            let boxes = textBoxes doc
            for i in 0 .. boxes.Length - 1 do
                for j in i + 1 .. boxes.Length - 1 do
                    Expect.isFalse (overlaps (snd boxes.[i]) (snd boxes.[j])) (sprintf "'%s' and '%s' overlap" (fst boxes.[i]) (fst boxes.[j]))
    ]
