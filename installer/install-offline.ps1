# Install CVOps Workbench from a wheelhouse (make wheelhouse PLATFORM=win_amd64) with no network on Windows:
#   powershell -ExecutionPolicy Bypass -File install-offline.ps1 [-Wheelhouse DIR] [-Prefix DIR] [-Python py]
# pip reads only the folder's wheels (--no-index --find-links) and no pip configuration. The environment goes to
# PREFIX\venv (default %LOCALAPPDATA%\cvops-workbench\venv); the commands are PREFIX\venv\Scripts\cvops.exe and
# cvops-workbench.exe.
param(
    [string]$Wheelhouse = $PSScriptRoot,
    [string]$Prefix = (Join-Path $env:LOCALAPPDATA "cvops-workbench"),
    [string]$Python = "py"
)
$ErrorActionPreference = "Stop"
foreach ($f in "requirements.txt", "constraints.txt") {
    if (-not (Test-Path (Join-Path $Wheelhouse $f))) {
        throw "install-offline: $Wheelhouse\$f is missing: is $Wheelhouse a wheelhouse (make wheelhouse)?"
    }
}
$project = Get-ChildItem -Path $Wheelhouse -Filter "cvops_workbench-*.whl" | Sort-Object Name | Select-Object -Last 1
if (-not $project) { throw "install-offline: no cvops_workbench-*.whl in $Wheelhouse" }
$env:PIP_CONFIG_FILE = "NUL"
$env:PIP_NO_INDEX = "1"
$venv = Join-Path $Prefix "venv"
& $Python -m venv $venv
if ($LASTEXITCODE) { throw "install-offline: could not create $venv" }
$py = Join-Path $venv "Scripts\python.exe"
& $py -m pip install --no-index --find-links $Wheelhouse -r (Join-Path $Wheelhouse "requirements.txt") `
    -c (Join-Path $Wheelhouse "constraints.txt")
if ($LASTEXITCODE) { throw "install-offline: installing the dependencies failed" }
& $py -m pip install --no-index --find-links $Wheelhouse --no-deps $project.FullName
if ($LASTEXITCODE) { throw "install-offline: installing the project failed" }
& (Join-Path $venv "Scripts\cvops.exe") --version
Write-Output "installed into $venv"
