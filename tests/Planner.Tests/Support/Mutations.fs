/// Seeded mutations of a reader's input, shared by the fuzz tests of every reader (CSV problems, plans and traces,
/// allocation logs, snapshot pickles): a few edits of a valid text, drawn from one `Random`, so a failing case is
/// replayed from its seed and case number.
module Pgmo.Planner.Tests.Mutations

open System
open System.Text.RegularExpressions

/// The characters a mutation writes: `Replace` for a replaced character, `Insert` for an inserted one.
type Alphabet = { Replace: string; Insert: string }

/// For line-oriented logs: hex digits, signs, comments, tabs and letters.
let logAlphabet = { Replace = "0x-9 #a\tfz"; Insert = "1f -x" }

/// For CSV: the separators of fields, quotes, gaps (`l-u@wl:wu`) and a stray carriage return.
let csvAlphabet = { Replace = "0,-9\" @:a\r "; Insert = "1,-\"@ :x" }

/// One seeded mutation of a text: a line deleted, duplicated or swapped with the next, a character replaced,
/// inserted or deleted, or the numbers of a line changed (to 0, negated, to Int64.MaxValue or to a random value).
let mutateText (alphabet: Alphabet) (rng: Random) (text: string) : string =
    let lines = text.Split '\n' |> ResizeArray
    let k = rng.Next lines.Count
    match rng.Next 6 with
    | 0 -> lines.RemoveAt k
    | 1 -> lines.Insert(k, lines.[k])
    | 2 when k + 1 < lines.Count -> let t = lines.[k] in lines.[k] <- lines.[k + 1]; lines.[k + 1] <- t
    | 3 when lines.[k].Length > 0 ->
        let c = rng.Next lines.[k].Length
        lines.[k] <- lines.[k].Remove(c, 1).Insert(c, string alphabet.Replace.[rng.Next alphabet.Replace.Length])
    | 4 -> lines.[k] <- lines.[k].Insert(rng.Next(lines.[k].Length + 1), string alphabet.Insert.[rng.Next alphabet.Insert.Length])
    | _ ->
        lines.[k] <- Regex.Replace(lines.[k], @"\d+", (fun (m: Match) ->
            match rng.Next 4 with
            | 0 -> "0"
            | 1 -> "-" + m.Value
            | 2 -> "9223372036854775807"
            | _ -> string (rng.Next 100000)), RegexOptions.None)
    String.Join("\n", lines)

/// One to three seeded mutations of a text.
let mutated (alphabet: Alphabet) (rng: Random) (text: string) : string =
    Seq.fold (fun t _ -> mutateText alphabet rng t) text [ 1 .. 1 + rng.Next 3 ]

/// A seeded mutation of bytes: one byte replaced, the bytes cut after a random point, or up to 8 bytes deleted.
let mutateBytes (rng: Random) (bytes: byte[]) : byte[] =
    let b = Array.copy bytes
    match rng.Next 3 with
    | 0 -> b.[rng.Next b.Length] <- byte (rng.Next 256); b
    | 1 -> b.[.. rng.Next b.Length]
    | _ -> let k = rng.Next b.Length in Array.append b.[.. k] b.[k + 1 + rng.Next 8 ..]
