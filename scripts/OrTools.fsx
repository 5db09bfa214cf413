// What the scripts that call the exact solvers share: `#load "OrTools.fsx"` references the Release build of
// src/Planner.Optimal (`dotnet build -c Release src/Planner.Optimal`: the planner, OR-Tools and Pgmo.Planner.Optimal)
// and points OR-Tools' P/Invoke at its native library, which fsi does not probe in runtimes/<rid>/native.
#r "../src/Planner.Optimal/bin/Release/net10.0/Google.Protobuf.dll"
#r "../src/Planner.Optimal/bin/Release/net10.0/Google.OrTools.dll"
#r "../src/Planner.Optimal/bin/Release/net10.0/Pgmo.Planner.dll"
#r "../src/Planner.Optimal/bin/Release/net10.0/Pgmo.Planner.Optimal.dll"

open System
open System.IO

let private bin = Path.Combine(__SOURCE_DIRECTORY__, "..", "src", "Planner.Optimal", "bin", "Release", "net10.0")
System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(
    typeof<Google.OrTools.Sat.CpModel>.Assembly,
    fun name _ _ ->
        let rid = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier
        let candidates =
            [ for dir in Directory.GetDirectories(Path.Combine(bin, "runtimes")) do
                let native = Path.Combine(dir, "native")
                if Directory.Exists native && (Path.GetFileName dir = rid || rid.StartsWith(Path.GetFileName dir)) then
                    yield! Directory.GetFiles(native, name + "*") ]
        match candidates with
        | path :: _ -> System.Runtime.InteropServices.NativeLibrary.Load path
        | [] -> IntPtr.Zero)
