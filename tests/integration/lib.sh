# Shared by the shell-driven integration tests: the pass/fail counters and checks, and a private
# redis-server on a free loopback port. Source it after `set -euo pipefail` and after setting
# `work` (the test's temporary folder).

fails=0
pass=0
check() { # check NAME COND...: counts COND's outcome, naming NAME when it fails
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
lacks() { ! grep -qF -- "$2" <<<"$1"; }

# sao_fails COMMAND EXPECTED_RC NEEDLE ARGS...: `$SAO COMMAND ARGS...` must exit with EXPECTED_RC
# and say NEEDLE (a fixed string) on stderr.
sao_fails() {
  local command="$1" want="$2" needle="$3"; shift 3
  set +e
  local text
  text=$("$SAO" "$command" "$@" 2>&1 >/dev/null)
  local rc=$?
  set -e
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$needle" <<<"$text"; then
    echo "FAIL: $command $* -> rc $rc (want $want): $text"; fails=$((fails + 1))
  else pass=$((pass + 1)); fi
}

# The summary line and the exit status of the test.
finish() { # finish TITLE
  echo "$1: $pass checks passed, $fails failed"
  [ "$fails" -eq 0 ]
}

# start_redis [--port P] [ARGS...]: a redis-server on 127.0.0.1 at a random free port (or at P,
# to restart one where its clients expect it), without persistence unless ARGS say otherwise;
# sets `port` and `redis_pid` (stop it in the test's cleanup).
redis_pid=""
start_redis() {
  command -v redis-server >/dev/null || { echo "FAIL: redis-server is not installed"; exit 1; }
  local fixed=""
  if [ "${1:-}" = --port ]; then fixed=$2; shift 2; fi
  for _ in 1 2 3 4 5; do
    port=${fixed:-$((20000 + RANDOM % 30000))}
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no "$@" \
      >"$work/redis.log" 2>&1 &
    redis_pid=$!
    local ok=0
    for _ in $(seq 50); do
      if grep -q "Ready to accept connections" "$work/redis.log"; then ok=1; break; fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    [ "$ok" = 1 ] && return 0
    kill "$redis_pid" 2>/dev/null || true
    redis_pid=""
    [ -n "$fixed" ] && sleep 0.5 # the old one may still hold the port
  done
  echo "FAIL: redis-server did not start"
  exit 1
}
