#!/bin/sh
# Run a command with the background training paused, and resume the training afterwards, whatever the command's
# exit status: two torch jobs at full threads on a 2-core machine do not share the cores, they collapse (one conv
# backward 15 ms alone, 575 ms beside another job). The training is paused with SIGSTOP and resumed with SIGCONT,
# so it loses nothing (its step, its data order and its log go on as if no time had passed). With no training
# running it only runs the command.
#     scripts/exclusive.sh make test        (the Makefile's test, notebooks and bench targets use it)
# Only trainings that run now: one already stopped (by an outer exclusive.sh) is left for that one to resume.
pids=$(for p in $(pgrep -f 'scripts/(train_arm|train_demo_checkpoint)\.py' 2>/dev/null); do
  case "$(ps -o stat= -p "$p" 2>/dev/null)" in T*|"") ;; *) printf '%s ' "$p" ;; esac
done)
resume() { [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; true; }
if [ -n "$pids" ]; then
  kill -STOP $pids && echo "exclusive.sh: background training paused (pid $pids)" >&2
  trap resume EXIT INT TERM
fi
"$@"
