namespace Pgmo.Planner

open System.Text

/// SVG pictures for people: a plan in space and time, and a bar chart of peak / lower bound. Pure: text in, text out.
[<RequireQualifiedAccess>]
module Svg =

    let private inv = System.Globalization.CultureInfo.InvariantCulture

    /// A number with at most one decimal, invariant culture (keeps large pictures small).
    let private num (x: float) = System.Math.Round(x, 1).ToString("0.#", inv)

    /// Text escaped for XML content and attributes.
    let private esc (s: string) =
        s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;")

    /// A byte count with a binary unit: "512 B", "1.5 KiB", "12 MiB", "2.25 GiB".
    let formatBytes (bytes: int64) : string =
        let units = [| "B"; "KiB"; "MiB"; "GiB"; "TiB" |]
        let mutable v = float bytes
        let mutable u = 0
        while abs v >= 1024.0 && u < units.Length - 1 do
            v <- v / 1024.0
            u <- u + 1
        if u = 0 then sprintf "%d B" bytes else v.ToString("0.##", inv) + " " + units.[u]

    /// Tick values 0, s, 2s, ... up to max, with s a 1-2-5 multiple of a power of ten in `unit` giving about `target` ticks.
    let private ticks (maxValue: float) (unit: float) (target: int) =
        let range = max (maxValue / unit) 1e-9
        let raw = range / float target
        let p = 10.0 ** floor (log10 raw)
        let step = [ 1.0; 2.0; 5.0; 10.0 ] |> List.map (fun m -> m * p) |> List.find (fun s -> s >= raw)
        [ for k in 0 .. int (range / step) -> float k * step * unit ]

    /// The byte unit (and its name) for an axis reaching maxBytes.
    let private byteUnit (maxBytes: float) =
        if maxBytes >= 1024.0 ** 3.0 then 1024.0 ** 3.0, "GiB"
        elif maxBytes >= 1024.0 ** 2.0 then 1024.0 ** 2.0, "MiB"
        elif maxBytes >= 1024.0 then 1024.0, "KiB"
        else 1.0, "B"

    /// A stable colour for an id (FNV-1a hash to a hue; string hashes differ between runs, this does not).
    let private colour (id: string) =
        let mutable h = 2166136261u
        for c in id do
            h <- (h ^^^ uint32 c) * 16777619u
        sprintf "hsl(%d,65%%,%d%%)" (int (h % 360u)) (55 + int ((h / 360u) % 15u))

    /// Buffers above this count are drawn without outlines; below `labelled` each gets its id when it has room.
    [<Literal>]
    let private Outlined = 300
    [<Literal>]
    let private Labelled = 60
    /// Above this count, rectangles smaller than a pixel both ways are merged into grey pixel runs.
    [<Literal>]
    let private Merged = 2000

    /// A horizontal dashed line across a panel at an address: its bytes, colour and label.
    type Line = { Value: int64; Colour: string; Label: string }

    /// One panel of a picture: a layout of a problem (offsets per buffer), light grey ranges behind it (memory held:
    /// steps [Start, End) by bytes [Lo, Hi) in the panel's addresses) and dashed lines.
    type Panel = { Title: string; Plan: Plan; Held: (Lifetime * Window)[]; Lines: Line list }

    /// Draws one panel into sb at (left, top), plotW by plotH pixels, address axis up to yMax bytes.
    let private drawPanel (sb: StringBuilder) (left: float) (top: float) (plotW: float) (plotH: float) (yMax: float)
                          (problem: Problem) (panel: Panel) =
        let out (s: string) = sb.Append(s) |> ignore
        let bs = problem.Buffers
        let n = bs.Length
        let plan = panel.Plan
        let t0 = if n = 0 then 0L else bs |> Array.minBy (fun b -> b.Lifetime.Start) |> fun b -> b.Lifetime.Start
        let t1 = if n = 0 then 1L else bs |> Array.maxBy (fun b -> b.Lifetime.End) |> fun b -> b.Lifetime.End
        let span = float (max 1L (t1 - t0))
        let xOf (t: int64) = left + float (t - t0) / span * plotW
        let yOf (a: float) = top + plotH - a / yMax * plotH
        if panel.Title <> "" then
            out (sprintf "<text x=\"%s\" y=\"%s\" font-weight=\"bold\">%s</text>\n" (num left) (num (top - 8.0)) (esc panel.Title))
        if panel.Held.Length > 0 then
            out "<g fill=\"#e4e4e4\" stroke=\"#b0b0b0\" stroke-width=\"0.5\">\n"
            for (steps, bytes) in panel.Held do
                let x = xOf (max t0 steps.Start)
                let y = yOf (float bytes.Hi)
                out (sprintf "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"/>\n"
                         (num x) (num y) (num (max 0.5 (xOf (min t1 steps.End) - x))) (num (max 0.5 (yOf (float bytes.Lo) - y))))
            out "</g>\n"
        // buffers
        let stroke = if n <= Outlined then " stroke=\"black\" stroke-width=\"0.5\"" else ""
        let cols, rows = int plotW, int plotH
        let pixels = if n > Merged then Array2D.zeroCreate<bool> rows cols else Array2D.zeroCreate<bool> 0 0
        out "<g>\n"
        for i in 0 .. n - 1 do
            let b = bs.[i]
            let x = xOf b.Lifetime.Start
            let w = xOf b.Lifetime.End - x
            let y = yOf (float (plan.Offsets.[i] + b.Size))
            let h = yOf (float plan.Offsets.[i]) - y
            if n > Merged && w < 1.0 && h < 1.0 then
                let c = min (cols - 1) (max 0 (int (x - left)))
                let r = min (rows - 1) (max 0 (int (y - top)))
                pixels.[r, c] <- true
            elif b.Gaps.Length > 0 then
                // a buffer with gaps (Gaps): one rectangle per piece, so what sits in its gaps shows
                for piece in Gaps.pieces b do
                    let px = xOf piece.Start
                    let py = yOf (float (plan.Offsets.[i] + piece.Hi))
                    out (sprintf "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"%s><title>%s [%d, %d) bytes [%d, %d) @ %d</title></rect>\n"
                             (num px) (num py) (num (max (xOf piece.End - px) 0.1)) (num (max (yOf (float (plan.Offsets.[i] + piece.Lo)) - py) 0.1))
                             (colour b.Id) stroke (esc b.Id) piece.Start piece.End piece.Lo piece.Hi plan.Offsets.[i])
            else
                out (sprintf "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"%s>" (num x) (num y) (num (max w 0.1)) (num (max h 0.1)) (colour b.Id) stroke)
                if n <= Outlined then out (sprintf "<title>%s [%d, %d) %s @ %d</title>" (esc b.Id) b.Lifetime.Start b.Lifetime.End (esc (formatBytes b.Size)) plan.Offsets.[i])
                out "</rect>\n"
                if n <= Labelled && w > 24.0 && h > 13.0 then
                    out (sprintf "<text x=\"%s\" y=\"%s\" font-size=\"10\" text-anchor=\"middle\" pointer-events=\"none\">%s</text>\n" (num (x + w / 2.0)) (num (y + h / 2.0 + 4.0)) (esc b.Id))
        out "</g>\n"
        if n > Merged then
            out "<g fill=\"#777\">\n"
            for r in 0 .. rows - 1 do
                let mutable c = 0
                while c < cols do
                    if pixels.[r, c] then
                        let start = c
                        while c < cols && pixels.[r, c] do c <- c + 1
                        out (sprintf "<rect x=\"%s\" y=\"%s\" width=\"%d\" height=\"1\"/>\n" (num (left + float start)) (num (top + float r)) (c - start))
                    else c <- c + 1
            out "</g>\n"
        // axes and ticks
        out (sprintf "<g stroke=\"black\"><line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/><line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/></g>\n"
                 (num left) (num (top + plotH)) (num (left + plotW)) (num (top + plotH)) (num left) (num top) (num left) (num (top + plotH)))
        for t in ticks span 1.0 10 do
            let x = left + t / span * plotW
            out (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>" (num x) (num (top + plotH)) (num x) (num (top + plotH + 5.0)))
            out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n" (num x) (num (top + plotH + 18.0)) (string (int64 t + t0)))
        out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">time (steps)</text>\n" (num (left + plotW / 2.0)) (num (top + plotH + 44.0)))
        let unit, unitName = byteUnit yMax
        for a in ticks yMax unit 8 do
            let y = yOf a
            out (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>" (num (left - 5.0)) (num y) (num left) (num y))
            out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>\n" (num (left - 8.0)) (num (y + 4.0)) ((a / unit).ToString("0.##", inv)))
        out (sprintf "<text transform=\"translate(%s %s) rotate(-90)\" text-anchor=\"middle\">address (%s)</text>\n" (num (left - 72.0)) (num (top + plotH / 2.0)) unitName)
        // dashed lines, from the top; a label goes above its line, or below it when the label above is too close
        let mutable lastY = -infinity
        for line in panel.Lines |> List.sortBy (fun l -> -l.Value) do
            let y = yOf (float line.Value)
            let at = if y - 4.0 - lastY < 13.0 then max (y + 14.0) (lastY + 13.0) else y - 4.0
            let dy = at - y
            lastY <- at
            out (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>" (num left) (num y) (num (left + plotW)) (num y) line.Colour)
            out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"end\" fill=\"%s\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">%s</text>\n" (num (left + plotW)) (num (y + dy)) line.Colour (esc line.Label))

    let private header (sb: StringBuilder) (width: float) (height: float) (title: string) (subtitle: string) =
        let out (s: string) = sb.Append(s) |> ignore
        out (sprintf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\" font-size=\"12\">\n" (num width) (num height) (num width) (num height))
        out (sprintf "<rect x=\"0\" y=\"0\" width=\"%s\" height=\"%s\" fill=\"white\"/>\n" (num width) (num height))
        out (sprintf "<text x=\"90\" y=\"24\" font-size=\"16\" font-weight=\"bold\">%s</text>\n" (esc title))
        out (sprintf "<text x=\"90\" y=\"42\">%s</text>\n" (esc subtitle))

    /// The peak and lower-bound lines of a plan.
    let private planLines (peak: int64) (lb: int64) =
        [ { Value = peak; Colour = "#c00000"; Label = "peak " + formatBytes peak }
          { Value = lb; Colour = "#0040c0"; Label = "lower bound " + formatBytes lb } ]

    /// An SVG picture of a plan: time (steps) across, address (bytes) up, one rectangle per buffer coloured by a hash
    /// of its id, dashed lines at the peak and at the lower bound, and the ratio in the title. Readable from 10 to
    /// 10k buffers: outlines and labels only for small problems; for large ones rectangles under a pixel are merged
    /// into pixel runs so the file stays small (about 1 MB for 10k buffers).
    let render (title: string) (problem: Problem) (plan: Plan) : string =
        let width, height = 1200.0, 640.0
        let left, right, top, bottom = 90.0, 30.0, 56.0, 56.0
        let peak = Plan.peak problem plan
        let lb = Bounds.lowerBound problem
        let ratio = if lb > 0L then sprintf "%.4f" (float peak / float lb) else "n/a"
        let sb = StringBuilder()
        header sb width height title (sprintf "%d buffers, peak %s, lower bound %s, peak / lower bound = %s"
                                          problem.Buffers.Length (formatBytes peak) (formatBytes lb) ratio)
        drawPanel sb left top (width - left - right) (height - top - bottom) (float (max 1L (max peak lb)) * 1.08) problem
                  { Title = ""; Plan = plan; Held = [||]; Lines = planLines peak lb }
        sb.Append("</svg>\n").ToString()

    /// Several layouts of one problem side by side, on one address scale (so their heights compare): e.g. the
    /// addresses an allocator gave the buffers, with the memory it held behind them, beside a plan.
    let sideBySide (title: string) (subtitle: string) (problem: Problem) (panels: Panel list) : string =
        let panelW, height = 640.0, 680.0
        let left, gap, top, bottom = 90.0, 110.0, 80.0, 60.0
        let width = left + float panels.Length * panelW + float (panels.Length - 1) * gap + 30.0
        let yMax =
            panels |> List.fold (fun m p ->
                let tops = [ yield Plan.peak problem p.Plan
                             for l in p.Lines -> l.Value
                             for (_, w) in p.Held -> w.Hi ]
                max m (List.max (1L :: tops))) 1L
        let sb = StringBuilder()
        header sb width height title subtitle
        panels |> List.iteri (fun k p ->
            drawPanel sb (left + float k * (panelW + gap)) top panelW (height - top - bottom) (float yMax * 1.08) problem p)
        sb.Append("</svg>\n").ToString()

    /// Bars of the chart are cut at this ratio (and labelled with their value).
    [<Literal>]
    let ClipRatio = 3.0

    let private palette = [| "#4e79a7"; "#f28e2b"; "#e15759"; "#76b7b2"; "#59a14f"; "#edc948"; "#b07aa1"; "#ff9da7"; "#9c755f"; "#bab0ac" |]

    /// An upper estimate of the width in pixels of `text` in a sans-serif font of `fontSize` px (DejaVu Sans digits are
    /// 0.64 em wide, its widest letters about 1 em): the chart spaces its labels by it so that none overlap.
    let textWidth (fontSize: float) (text: string) : float =
        text |> Seq.sumBy (fun c ->
            if c = 'm' || c = 'w' || c = 'M' || c = 'W' || c = '@' || c = '%' then 1.0
            elif System.Char.IsUpper c then 0.8
            elif c = '.' || c = ',' || c = ':' || c = 'i' || c = 'l' || c = 'j' || c = '\'' || c = '|' then 0.35
            else 0.68)
        |> (*) fontSize

    /// The label of a bar cut at ClipRatio: its ratio with at most three significant decimals ("3.01", "12.5", "174763").
    let private clippedLabel (r: float) =
        if r < 10.0 then r.ToString("0.00", inv) elif r < 100.0 then r.ToString("0.0", inv) else r.ToString("0", inv)

    /// A grouped bar chart of peak / lower bound: one group per instance, one bar per algorithm (in first-appearance
    /// order, one colour each, with a legend). The lower bound (ratio 1) is a dashed line; bars rise from a floor below
    /// it, so a bar at the bound keeps a visible stub under the line and every bar has a height. Bars above ClipRatio
    /// are cut there (a white notch) and labelled with their ratio, written upwards inside the bar's own column so that
    /// no two labels overlap; instance names and legend entries get the room their text needs. Rows are (instance,
    /// algorithm, ratio); non-finite ratios are left out.
    let chart (title: string) (rows: (string * string * float) seq) : string =
        let rows = rows |> Seq.filter (fun (_, _, r) -> System.Double.IsFinite r) |> Array.ofSeq
        let instances = rows |> Array.map (fun (i, _, _) -> i) |> Array.distinct
        let algorithms = rows |> Array.map (fun (_, a, _) -> a) |> Array.distinct
        let ratioOf = dict [ for (i, a, r) in rows -> (i, a), r ]   // the last row of a pair wins
        let fontSize, labelSize = 12.0, 10.0
        // each bar at least 12 px wide, so an upright label (one line of labelSize) fits in its column
        let barW = 12.0
        let groupW =
            let names = instances |> Array.fold (fun m i -> max m (textWidth fontSize i + 12.0)) 0.0
            max (float (max 1 algorithms.Length) * barW / 0.8) names
        let legendW = 36.0 + (algorithms |> Array.fold (fun m a -> max m (textWidth fontSize a)) (textWidth fontSize "lower bound")) + 16.0
        let clipped = rows |> Array.filter (fun (_, _, r) -> r > ClipRatio)
        let labelBand = 6.0 + (clipped |> Array.fold (fun m (_, _, r) -> max m (textWidth labelSize (clippedLabel r))) 0.0)
        let left, right, top, bottom = 70.0, legendW, 44.0 + (if clipped.Length > 0 then labelBand else 0.0), 60.0
        let plotW = max 500.0 (float (max 1 instances.Length) * groupW)
        let plotH = max 340.0 (30.0 + float algorithms.Length * 20.0)
        let width, height = left + plotW + right, top + plotH + bottom
        let maxRatio = rows |> Array.fold (fun m (_, _, r) -> max m r) 1.0 |> min ClipRatio
        let yTop = 1.0 + max 0.01 ((maxRatio - 1.0) * (if clipped.Length > 0 then 1.0 else 1.08))
        // the floor: the stub of a bar at the bound is 6 % of the plot's height
        let stub = 0.06
        let yFloor = 1.0 - stub / (1.0 - stub) * (yTop - 1.0)
        let yOf (r: float) = top + plotH - (r - yFloor) / (yTop - yFloor) * plotH
        let sb = StringBuilder()
        let out (s: string) = sb.Append(s) |> ignore
        out (sprintf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\" font-size=\"%s\">\n" (num width) (num height) (num width) (num height) (num fontSize))
        out (sprintf "<rect x=\"0\" y=\"0\" width=\"%s\" height=\"%s\" fill=\"white\"/>\n" (num width) (num height))
        out (sprintf "<text x=\"%s\" y=\"28\" font-size=\"16\" font-weight=\"bold\">%s</text>\n" (num left) (esc title))
        // grid and y ticks, from the bound up
        for t in ticks (yTop - 1.0) 1.0 8 do
            let y = yOf (1.0 + t)
            if t > 0.0 then out (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#ddd\"/>" (num left) (num y) (num (left + plotW)) (num y))
            out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>\n" (num (left - 6.0)) (num (y + 4.0)) ((1.0 + t).ToString("0.###", inv)))
        out (sprintf "<text transform=\"translate(16 %s) rotate(-90)\" text-anchor=\"middle\">peak / lower bound</text>\n" (num (top + plotH / 2.0)))
        // bars
        let baseY = top + plotH
        for gi in 0 .. instances.Length - 1 do
            let x0 = left + float gi * groupW + (groupW - float algorithms.Length * barW) / 2.0
            for ai in 0 .. algorithms.Length - 1 do
                match ratioOf.TryGetValue((instances.[gi], algorithms.[ai])) with
                | true, r ->
                    let x = x0 + float ai * barW
                    let y = yOf (min r ClipRatio)
                    out (sprintf "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"><title>%s, %s: %s</title></rect>\n"
                             (num x) (num y) (num (barW - 1.0)) (num (baseY - y))
                             palette.[ai % palette.Length] (esc instances.[gi]) (esc algorithms.[ai]) (r.ToString("0.0000", inv)))
                    if r > ClipRatio then
                        // the cut: a white notch near the top, and the ratio written upwards above the bar
                        out (sprintf "<path d=\"M%s %sl%s -4v3l-%s 4z\" fill=\"white\"/>" (num x) (num (y + 10.0)) (num (barW - 1.0)) (num (barW - 1.0)))
                        out (sprintf "<text transform=\"translate(%s %s) rotate(-90)\" font-size=\"%s\">%s</text>\n"
                                 (num (x + (barW - 1.0) / 2.0 + labelSize * 0.35)) (num (y - 4.0)) (num labelSize) (clippedLabel r))
                | _ -> ()
            out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n" (num (left + (float gi + 0.5) * groupW)) (num (baseY + 18.0)) (esc instances.[gi]))
        out (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>\n" (num left) (num baseY) (num (left + plotW)) (num baseY))
        // the lower bound, over the bars
        let lbY = yOf 1.0
        out (sprintf "<line class=\"lower-bound\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>\n" (num left) (num lbY) (num (left + plotW)) (num lbY))
        out (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">instance</text>\n" (num (left + plotW / 2.0)) (num (height - 16.0)))
        // legend: the bound, then one swatch per algorithm
        let lx = left + plotW + 16.0
        out (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/><text x=\"%s\" y=\"%s\">lower bound</text>\n"
                 (num lx) (num (top + 15.0)) (num (lx + 14.0)) (num (top + 15.0)) (num (lx + 20.0)) (num (top + 19.0)))
        for ai in 0 .. algorithms.Length - 1 do
            let y = top + 28.0 + float ai * 20.0
            out (sprintf "<rect x=\"%s\" y=\"%s\" width=\"14\" height=\"14\" fill=\"%s\"/><text x=\"%s\" y=\"%s\">%s</text>\n"
                     (num lx) (num y) palette.[ai % palette.Length] (num (lx + 20.0)) (num (y + 11.0)) (esc algorithms.[ai]))
        out "</svg>\n"
        sb.ToString()
