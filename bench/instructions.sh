#!/usr/bin/env bash
# Instructions per send, counted by valgrind's callgrind: repeatable on a shared, noisy machine,
# where wall-clock rates move by ±30 % between runs. Usage: bench/instructions.sh [TREE] [N]
# (TREE: a checkout with a compiled lib/wecom/wecom_native.so, default this one; N sends, 2000).
# The client runs under callgrind twice, with 0 and with N sends after a 200-send warm-up, against
# an emulator in another process; the difference divided by N is what one send costs the client.
set -euo pipefail
tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}
n=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
count() {
  local port=$((20000 + RANDOM % 20000)) out
  ruby -I"$tree/lib" -e "require 'wecom'; WeCom::Emulator.start(port: $port); sleep" &
  local emulator=$!
  sleep 2
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out.cg" \
    ruby -I"$tree/lib" "$here/instructions_client.rb" "http://127.0.0.1:$port" "$1" >/dev/null 2>"$out"
  kill "$emulator"; wait "$emulator" 2>/dev/null || true
  awk '/Collected/ { print $4 }' "$out"
  rm -f "$out" "$out.cg"
}
base=$(count 0)
with=$(count "$n")
echo "$tree: $(( (with - base) / n )) instructions per send (client process, $n sends)"
