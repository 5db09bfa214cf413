// What the scripts share for writing their results: `#load "Output.fsx"` and call Output.writeAtomically.
module Output

open System
open System.IO

/// Writes text to a temporary file beside the path with a name no other write uses, flushed to disk, then renames it
/// over the path: the path holds the old or the whole new text, never part of it; a failure removes the temporary file.
let writeAtomically (path: string) (text: string) =
    let full = Path.GetFullPath path
    let tmp = Path.Combine(Path.GetDirectoryName full, sprintf ".%s.%d.%s.tmp" (Path.GetFileName full) Environment.ProcessId (Guid.NewGuid().ToString "N"))
    try
        do
            use stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write)
            let bytes = Text.UTF8Encoding(false).GetBytes text
            stream.Write(bytes, 0, bytes.Length)
            stream.Flush true
        File.Move(tmp, full, true)
    with _ ->
        (try File.Delete tmp with _ -> ())
        reraise ()
