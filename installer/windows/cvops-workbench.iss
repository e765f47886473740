; Inno Setup script: the Windows installer of the one-folder build (dist\cvops-workbench).
;   iscc /DVariant=cpu /DAppVersion=0.1.0 /DDistDir=..\..\build\installer\cpu\dist\cvops-workbench
;        /DIconFile=..\..\build\installer\icons\cvops-workbench.ico installer\windows\cvops-workbench.iss
; The CI workflow (.github/workflows/installers.yml) builds it. Installs per user (no administrator rights),
; with a Start menu entry, the icon, "Open with CVOps Workbench" on folders, the cvops command line beside it and
; an uninstaller (Settings > Apps, or the Start menu's "Uninstall CVOps Workbench").
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef DistDir
  #define DistDir "..\..\build\installer\" + Variant + "\dist\cvops-workbench"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\installer\icons\cvops-workbench.ico"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\build\installer\out"
#endif

[Setup]
AppId={{6C1F3E52-8C0B-4E0F-9F4E-2B7A41C0D9A1}
AppName=CVOps Workbench
AppVersion={#AppVersion}
AppPublisher=CVOps Workbench developers
DefaultDirName={localappdata}\Programs\CVOps Workbench
DefaultGroupName=CVOps Workbench
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=cvops-workbench-{#AppVersion}-windows-x64-{#Variant}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\cvops-workbench.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the cvops command line to PATH"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\CVOps Workbench"; Filename: "{app}\cvops-workbench.exe"; IconFilename: "{app}\cvops-workbench.exe"
Name: "{group}\Uninstall CVOps Workbench"; Filename: "{uninstallexe}"
Name: "{autodesktop}\CVOps Workbench"; Filename: "{app}\cvops-workbench.exe"; Tasks: desktopicon

[Registry]
; "Open with CVOps Workbench" on folders (Explorer's context menu), removed by the uninstaller. HKA: the user's
; classes in a per-user install, the machine's when installed for all users.
Root: HKA; Subkey: "Software\Classes\Directory\shell\CVOpsWorkbench"; ValueType: string; ValueName: ""; ValueData: "Open with CVOps Workbench"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Directory\shell\CVOpsWorkbench"; ValueType: string; ValueName: "Icon"; ValueData: """{app}\cvops-workbench.exe"",0"
Root: HKA; Subkey: "Software\Classes\Directory\shell\CVOpsWorkbench\command"; ValueType: string; ValueName: ""; ValueData: """{app}\cvops-workbench.exe"" ""%1"""
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\cvops-workbench.exe"; Description: "{cm:LaunchProgram,CVOps Workbench}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
    Path := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Path, Dir: string;
  P: Integer;
begin
  { the uninstaller takes the folder out of the user's PATH again (the "addtopath" task put it there) }
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
    exit;
  Dir := ';' + ExpandConstant('{app}');
  P := Pos(Uppercase(Dir), Uppercase(Path));
  if P > 0 then
  begin
    Delete(Path, P, Length(Dir));
    RegWriteExpandStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path);
  end;
end;
