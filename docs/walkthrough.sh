#!/usr/bin/env bash
# One call through ctibridge with the CLI, against a hub started with `make run`.
# The README shows this script's output.  Usage: docs/walkthrough.sh [ctibridge-binary]
set -euo pipefail
cti=${1:-.venv/bin/ctibridge}
a=(--agent agent1 --brief)
step() {
  local shown=() arg
  for arg in "${@:2}"; do [[ $arg == *'{'* ]] && shown+=("'$arg'") || shown+=("$arg"); done
  printf '\n$ ctibridge %s\n' "${shown[*]}"
  "$@"
}

step "$cti" sim "${a[@]}" reset
step "$cti" sim "${a[@]}" incoming +15551234567 --queue Sales
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"Answer"}'
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"Hold"}'
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"Resume"}'
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"Consult","data":"+15557654321"}'
step "$cti" sim "${a[@]}" third-answer
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"Conference"}'
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"Disconnect"}'
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"ClearContact"}'
step "$cti" send "${a[@]}" '{"topic":"InboundCall","subtopic":"ClearContact"}' || echo "(exit $?)"
