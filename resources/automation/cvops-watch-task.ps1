# Windows: run `cvops pipeline watch` as a scheduled task that starts when you log on and restarts if it fails
# (docs/pipelines.md). Run this script once in PowerShell; edit the paths and the triggers first.
#
#   powershell -ExecutionPolicy Bypass -File cvops-watch-task.ps1
#   Start-ScheduledTask -TaskName "CVOps watch"          # start it now
#   Stop-ScheduledTask -TaskName "CVOps watch"           # stop it (the next start resumes an unfinished run)
#   Unregister-ScheduledTask -TaskName "CVOps watch"     # remove it
#
# Without a watch, a task can instead run the pipeline on a schedule: replace the action's arguments with
# "-w $Workspace pipeline run $Pipeline --json" and the trigger with New-ScheduledTaskTrigger -Daily -At 2am.

$Cvops     = "$env:USERPROFILE\cvops\.venv\Scripts\cvops.exe"
$Workspace = "$env:USERPROFILE\cvops\workspace"
$Pipeline  = "$Workspace\pipeline.yaml"
$Log       = "$Workspace\pipelines\watch.log"

$action = New-ScheduledTaskAction -Execute "cmd.exe" `
    -Argument "/c `"`"$Cvops`" -w `"$Workspace`" pipeline watch `"$Pipeline`" --min-new 100 --every 1d --poll 60 >> `"$Log`" 2>&1`""
$trigger = New-ScheduledTaskTrigger -AtLogOn -User $env:USERNAME
$settings = New-ScheduledTaskSettingsSet -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1) `
    -ExecutionTimeLimit (New-TimeSpan -Days 365) -StartWhenAvailable -DontStopIfGoingOnBatteries
Register-ScheduledTask -TaskName "CVOps watch" -Action $action -Trigger $trigger -Settings $settings `
    -Description "CVOps Workbench: continuous training (cvops pipeline watch)" -Force
