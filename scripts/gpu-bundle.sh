#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has no .NET SDK and no network: the .NET runtime of this
# machine, the Release build of pgmo and of the runtime tests (Linux x64 native libraries only), and the xUnit console
# runner. The result is one archive, .gpu/pgmo-gpu-bundle.tar.xz (ignored by git), that gpu-check.sh unpacks and uses
# when `dotnet` is missing there or PGMO_BUNDLE names the archive.
# Run from anywhere on a machine with the .NET 10 SDK and NuGet access:   bash scripts/gpu-bundle.sh
set -euo pipefail
trap 'echo "gpu-bundle: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
die() { echo "gpu-bundle: $*" >&2; exit 1; }
command -v dotnet >/dev/null || die "dotnet not found: install the .NET SDK 10"
[ "$(uname -m)" = x86_64 ] || die "the GPU machines are x86-64; build the bundle on an x86-64 machine (this is $(uname -m))"

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" && $2 ~ /^10\./ { v = $2 } END { print v }')
[ -n "$runtime" ] || die "no Microsoft.NETCore.App 10.x runtime under $dotnet_root"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/bundle

echo "gpu-bundle: building Release (pgmo and Runtime.Tests)" >&2
dotnet build -c Release tests/Runtime.Tests -v q -nologo
app=tests/Runtime.Tests/bin/Release/net10.0
[ -f "$app/pgmo.dll" ] && [ -f "$app/Runtime.Tests.dll" ] || die "the build left no pgmo.dll / Runtime.Tests.dll in $app"

echo "gpu-bundle: fetching the xUnit console runner 2.4.1" >&2
mkdir -p "$work/xr"
cat > "$work/xr/xr.csproj" <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageDownload Include="xunit.runner.console" Version="[2.4.1]" /></ItemGroup>
</Project>
EOF
dotnet restore "$work/xr/xr.csproj" -v q --packages "$work/packages" >/dev/null
xunit=$work/packages/xunit.runner.console/2.4.1/tools/netcoreapp2.0
[ -f "$xunit/xunit.console.dll" ] || die "xunit.runner.console 2.4.1 has no netcoreapp2.0 runner"

echo "gpu-bundle: staging" >&2
mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App" "$stage/app" "$stage/xunit"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$stage/dotnet/"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App/$runtime" "$stage/dotnet/shared/Microsoft.NETCore.App/"
tar -C "$app" --exclude='./runtimes/*' -cf - . | tar -C "$stage/app" -xf -
mkdir -p "$stage/app/runtimes"
cp -a "$app/runtimes/linux-x64" "$stage/app/runtimes/"
cp -a "$xunit/." "$stage/xunit/"
git rev-parse --short HEAD > "$stage/COMMIT" 2>/dev/null || echo unknown > "$stage/COMMIT"

mkdir -p .gpu
bundle_tmp=$(mktemp .gpu/.pgmo-gpu-bundle.tar.xz.XXXXXXXX.tmp)   # a name no other run uses, removed on any failure
trap 'rm -rf "$work"; rm -f "$bundle_tmp"' EXIT   # keeps the removal of the work folder
tar -C "$stage" -cf - . | xz -T0 -6 > "$bundle_tmp"
sync "$bundle_tmp"
mv "$bundle_tmp" .gpu/pgmo-gpu-bundle.tar.xz
echo "gpu-bundle: wrote .gpu/pgmo-gpu-bundle.tar.xz ($(du -h .gpu/pgmo-gpu-bundle.tar.xz | cut -f1), runtime $runtime, commit $(cat "$stage/COMMIT"))" >&2
