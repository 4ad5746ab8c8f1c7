#!/usr/bin/env bash
# Runs switchboard's benchmark comparison.
#
# switchboard's pubsub_server is measured with its own transport (`switchboard`) and with
# the websocketpp adapter (`adapter`, --transport websocketpp), side by side with two
# peers that implement the same protocol subset (subscribe, publish, message): a naive
# websocketpp server
# (one send() per recipient) and a Node `ws` server (each publish serialized once).
# Every server is pinned to one core and the load generator to the other. Each
# scenario runs RUNS times per server, servers interleaved within a repetition, each
# run against a freshly started server, so the ratios compare like with like.
#
# Scenarios (all on 127.0.0.1):
#   fanout    1 publisher, 1000 subscribers, 1000 msgs/s of 64 bytes (1,000,000 deliveries/s offered)
#   rtt       publish on one connection -> message on another, 1000 msgs/s
#   idle      10,000 connections, each subscribed to its own topic; server memory per connection
#   overload  8 publishers as fast as the sockets take, 10 healthy and 10 never-reading subscribers;
#             server memory during and after
#   sweep     fan-out rate raised until < 99% delivered or p99 >= 50 ms; highest passing deliveries/s
#   persist   4 publishers, each with 100 publishes unacknowledged, on topics of their own;
#             acknowledged publishes/s and the send-to-ack latency (the storage comparison)
#
# Besides the four servers above, `sqlite` and `sqlite_buffered` are pubsub_server with
# `--store sqlite` (acknowledged and buffered durability) on a fresh database file each
# run: SERVERS="switchboard sqlite sqlite_buffered" SCENARIOS="persist fanout" compares
# the stores in one run.
#
# Build first (this script builds nothing):
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BUILD_BENCHMARKS=ON \
#         -DSWITCHBOARD_WITH_WEBSOCKETPP=ON
#   cmake --build build-bench -j2
#   benchmarks/run.sh
#
# Environment:
#   BUILD=build-bench      build directory (absolute, or relative to the repository root)
#   RUNS=5                 repetitions of every scenario (about 12 minutes in all)
#   SWEEP_RUNS=$RUNS       repetitions of the sweep, the longest scenario
#   SERVERS="switchboard adapter naive node"
#   SCENARIOS="fanout rtt idle overload sweep"
#   RESULTS=FILE           raw results, one JSON line per run
#                          (default: $BUILD/benchmark-results-<date>.jsonl)
#   SERVER_CPU=0 LOADGEN_CPU=1
#   RSS_CAP_MB=3072        overload: stop publishing once a server's RSS passes this
#   PYTHON=python3         for the summary (standard library only)
#   EXTRA_ARGS=            appended to every load generator command line, e.g. for a
#                          quick trial: EXTRA_ARGS="--seconds 1 --connections 1000" RUNS=1
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-build-bench}
[[ $BUILD == /* ]] || BUILD="$ROOT/$BUILD"
RUNS=${RUNS:-5}
SWEEP_RUNS=${SWEEP_RUNS:-$RUNS}
SERVERS=${SERVERS:-"switchboard adapter naive node"}
SCENARIOS=${SCENARIOS:-"fanout rtt idle overload sweep"}
RESULTS=${RESULTS:-"$BUILD/benchmark-results-$(date +%Y%m%d-%H%M%S).jsonl"}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
RSS_CAP_MB=${RSS_CAP_MB:-3072}
PYTHON=${PYTHON:-python3}
read -r -a extra_args <<<"${EXTRA_ARGS:-}"

LOADGEN="$BUILD/benchmarks/loadgen"
NAIVE="$BUILD/benchmarks/naive_server"
PUBSUB="$BUILD/examples/pubsub_server/pubsub_server"

die() { echo "run.sh: $*" >&2; exit 1; }

[[ -x $LOADGEN ]] || die "$LOADGEN not found: build with -DSWITCHBOARD_BUILD_BENCHMARKS=ON first"
command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin processes"
command -v "$PYTHON" >/dev/null || die "$PYTHON is needed for the summary"

# Load generator arguments per scenario, and how long a run may take at most.
scenario_args() {
  case $1 in
    fanout) echo "--mode fanout --subscribers 1000 --rate 1000 --seconds 5 --payload-bytes 64" ;;
    rtt) echo "--mode rtt --rate 1000 --seconds 5 --payload-bytes 64" ;;
    idle) echo "--mode idle --connections 10000 --hold 3" ;;
    overload) echo "--mode overload --publishers 8 --subscribers 10 --slow 10 --seconds 5 --hold 5 --rss-cap-mb $RSS_CAP_MB" ;;
    persist) echo "--mode persist --publishers 4 --window 100 --seconds 5 --payload-bytes 64" ;;
    sweep) echo "--mode fanout --sweep --subscribers 1000 --seconds 2 --warmup 0.5 --drain 2 --payload-bytes 64 --sweep-start 10 --sweep-factor 2 --sweep-refine 2" ;;
    *) die "unknown scenario $1" ;;
  esac
}
scenario_timeout() {
  case $1 in
    fanout | rtt | persist) echo 60 ;;
    idle) echo 240 ;;
    overload) echo 120 ;;
    sweep) echo 300 ;;
  esac
}

# Servers that can run here.
available=()
for server in $SERVERS; do
  case $server in
    switchboard | adapter | sqlite | sqlite_buffered)
      if [[ -x $PUBSUB ]]; then available+=("$server"); else echo "skipping $server: $PUBSUB not built"; fi ;;
    naive)
      if [[ -x $NAIVE ]]; then available+=(naive); else echo "skipping naive: $NAIVE not built"; fi ;;
    node)
      if ! command -v node >/dev/null; then
        echo "skipping node: node not installed"
      elif [[ -d $HERE/peers/node_modules/ws ]] ||
        (cd "$HERE/peers" && echo "installing the Node peer's dependency (npm ci)" && npm ci --no-audit --no-fund >/dev/null); then
        available+=(node)
      else
        echo "skipping node: npm ci failed in $HERE/peers"
      fi ;;
    *) die "unknown server $server" ;;
  esac
done
((${#available[@]})) || die "no server to benchmark"

# Thousands of connections need thousands of descriptors, in every process started here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 10100)); then
  echo "warning: only $(ulimit -n) file descriptors; the idle scenario needs 10,000+ per process"
fi
cpus=$(nproc)
if ((cpus < 2)); then
  echo "warning: one CPU only; server and load generator share it"
  SERVER_CPU=0 LOADGEN_CPU=0
fi

# Benchmarks on a busy machine measure the other work: say so up front.
idle_fraction() {
  local a b
  read -r -a a < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  sleep 1
  read -r -a b < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  awk -v busy=$((b[0] - a[0])) -v idle=$((b[1] - a[1])) 'BEGIN { t = busy + idle; printf "%d", t ? 100 * idle / t : 100 }'
}
idle_now=$(idle_fraction)
if ((idle_now < 85)); then
  echo "warning: the machine is only ${idle_now}% idle before starting; other work will distort the results"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
  if [[ -n $SAMPLER_PID ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  if [[ -n $SERVER_PID ]]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: starts it pinned, sets SERVER_PID and SERVER_PORT.
start_server() {
  local log="$WORK/server.log" cmd i
  case $1 in
    switchboard) cmd=("$PUBSUB" --port 0 --rate-limit 0) ;;
    adapter) cmd=("$PUBSUB" --port 0 --rate-limit 0 --transport websocketpp) ;;
    sqlite | sqlite_buffered)
      rm -f "$WORK"/bench.db*
      cmd=("$PUBSUB" --port 0 --rate-limit 0 --store sqlite --db "$WORK/bench.db" --durability)
      if [[ $1 == sqlite ]]; then cmd+=(acknowledged); else cmd+=(buffered); fi ;;
    naive) cmd=("$NAIVE" --port 0) ;;
    node) cmd=(node "$HERE/peers/node_ws_server.js" --port 0) ;;
  esac
  : >"$log"
  taskset -c "$SERVER_CPU" "${cmd[@]}" >"$log" 2>&1 &
  SERVER_PID=$!
  SERVER_PORT=""
  for ((i = 0; i < 100; i++)); do
    SERVER_PORT=$(grep -o 'ws://[^ /]*' "$log" | head -n1 | sed 's/.*://' || true)
    [[ -n $SERVER_PORT ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: $1 did not start:" >&2
  cat "$log" >&2
  return 1
}

stop_server() {
  local i
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# The largest VmRSS seen every 0.2 s, kept in a file (the loadgen samples finer
# itself; this also covers the time around it).
# Shell builtins only, so sampling costs the measured cores next to nothing.
sample_rss() {
  local pid=$1 out=$2 max=0 key value rest
  echo 0 >"$out"
  while [[ -r /proc/$pid/status ]]; do
    while read -r key value rest; do
      if [[ $key == VmRSS: ]] && ((value > max)); then
        max=$value
        echo "$max" >"$out"
      fi
    done <"/proc/$pid/status" 2>/dev/null || true
    sleep 0.2
  done
}

status_kb() { awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status" 2>/dev/null || true; }

# CPU time in clock ticks: of the whole machine (busy, not idle), and of one process.
# Interrupt and softirq time is left out: loopback traffic spends it on behalf of the
# measured processes without being charged to them. Steal (hypervisor) stays in.
machine_busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $9}' /proc/stat; }
process_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
TICKS=$(getconf CLK_TCK)

echo "servers: ${available[*]}; scenarios: $SCENARIOS; $RUNS runs (sweep: $SWEEP_RUNS)"
echo "server on CPU $SERVER_CPU, load generator on CPU $LOADGEN_CPU; raw results: $RESULTS"
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
started=$SECONDS

for ((run = 1; run <= RUNS || run <= SWEEP_RUNS; run++)); do
  for scenario in $SCENARIOS; do
    if [[ $scenario == sweep ]]; then ((run <= SWEEP_RUNS)) || continue; else ((run <= RUNS)) || continue; fi
    read -r -a args <<<"$(scenario_args "$scenario")"
    for server in "${available[@]}"; do
      echo "== run $run, $scenario, $server"
      run_started=$SECONDS
      busy_before=$(machine_busy_ticks)
      wall_before=$(date +%s.%N)
      if ! start_server "$server"; then
        SERVER_PID=""
        continue
      fi
      sample_rss "$SERVER_PID" "$WORK/rss_max" &
      SAMPLER_PID=$!
      rc=0
      timeout "$(scenario_timeout "$scenario")" taskset -c "$LOADGEN_CPU" "$LOADGEN" \
        --port "$SERVER_PORT" --server-pid "$SERVER_PID" "${args[@]}" ${extra_args[@]+"${extra_args[@]}"} >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" || rc=$?
      rss_now=$(status_kb "$SERVER_PID" VmRSS)
      hwm=$(status_kb "$SERVER_PID" VmHWM)
      server_ticks=$(process_ticks "$SERVER_PID")
      busy_after=$(machine_busy_ticks)
      wall_after=$(date +%s.%N)
      kill "$SAMPLER_PID" 2>/dev/null || true
      wait "$SAMPLER_PID" 2>/dev/null || true
      SAMPLER_PID=""
      rss_max=$(cat "$WORK/rss_max" 2>/dev/null || echo 0)
      alive=true
      kill -0 "$SERVER_PID" 2>/dev/null || alive=false
      stop_server
      sed '$d' "$WORK/loadgen.out" | sed 's/^/   /'
      sed 's/^/   stderr: /' "$WORK/loadgen.err"
      json=$(tail -n1 "$WORK/loadgen.out")
      [[ $json == \{* ]] || json=null
      # What other processes used meanwhile, in cores: a busy machine distorts the run.
      client_seconds=$(sed -n 's/.*"client_cpu_seconds":\([0-9.e+-]*\).*/\1/p' <<<"$json")
      foreign=$(awk -v busy=$((busy_after - busy_before)) -v server="${server_ticks:-0}" -v client="${client_seconds:-0}" \
        -v hz="$TICKS" -v t0="$wall_before" -v t1="$wall_after" \
        'BEGIN { f = (busy - server - client * hz) / hz / (t1 - t0); printf "%.2f", f < 0 ? 0 : f }')
      ((rc == 124)) && echo "   (load generator timed out)"
      [[ $alive == true ]] || echo "   (the server was no longer running at the end)"
      echo "   ($((SECONDS - run_started)) s; other processes used $foreign cores meanwhile)"
      printf '{"server":"%s","scenario":"%s","run":%d,"exit":%d,"server_alive":%s,"server_vmrss_kb":%s,"server_vmhwm_kb":%s,"server_rss_max_sampled_kb":%s,"server_cpu_seconds":%s,"foreign_cpu_cores":%s,"loadgen":%s}\n' \
        "$server" "$scenario" "$run" "$rc" "$alive" "${rss_now:-null}" "${hwm:-null}" "${rss_max:-null}" \
        "$(awk -v t="${server_ticks:-0}" -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }')" "$foreign" "$json" >>"$RESULTS"
    done
  done
done

echo
echo "finished in $((SECONDS - started)) s; raw results in $RESULTS"
echo
"$PYTHON" - "$RESULTS" <<'EOF'
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]

# (scenario, label, path into the record, True when higher is better)
METRICS = [
    ("fanout", "delivered deliveries/s", ("loadgen", "result", "delivered_deliveries_per_s"), True),
    ("fanout", "delivery ratio", ("loadgen", "result", "delivery_ratio"), True),
    ("fanout", "latency p50 ms", ("loadgen", "result", "p50_ms"), False),
    ("fanout", "latency p99 ms", ("loadgen", "result", "p99_ms"), False),
    ("sweep", "best deliveries/s (>=99%, p99<50ms)", ("loadgen", "best_delivered_deliveries_per_s"), True),
    ("sweep", "best publish rate msgs/s", ("loadgen", "best_rate"), True),
    ("rtt", "round trip p50 ms", ("loadgen", "result", "p50_ms"), False),
    ("rtt", "round trip p99 ms", ("loadgen", "result", "p99_ms"), False),
    ("idle", "connections established", ("loadgen", "established"), True),
    ("idle", "server bytes per connection", ("loadgen", "server_bytes_per_connection"), False),
    ("overload", "server RSS peak MB", ("loadgen", "server_rss_peak_kb"), False),
    ("overload", "server RSS after quiet MB", ("loadgen", "server_rss_after_hold_kb"), False),
    ("overload", "publishes accepted/s", ("loadgen", "publish_rate"), True),
    ("overload", "reading subscriber msgs (min)", ("loadgen", "healthy_delivered_min"), True),
    ("overload", "reading subscribers still connected", ("loadgen", "healthy_alive"), True),
    ("overload", "slow subscribers cut", ("loadgen", "slow_disconnected"), True),
    ("persist", "acknowledged publishes/s", ("loadgen", "acknowledged_per_s"), True),
    ("persist", "ack latency p50 ms", ("loadgen", "ack_p50_ms"), False),
    ("persist", "ack latency p99 ms", ("loadgen", "ack_p99_ms"), False),
    ("persist", "publishes refused", ("loadgen", "refused"), False),
]

def get(row, path):
    for key in path:
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row if isinstance(row, (int, float)) and not isinstance(row, bool) else None

servers = []
for r in rows:
    if r["server"] not in servers:
        servers.append(r["server"])
base = "switchboard" if "switchboard" in servers else servers[0] if servers else None

def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"

print("medians over runs; 'x' columns: how many times better " + str(base) + " is (>1: " + str(base) + " ahead)")
header = f"{'scenario':9} {'metric':37}" + "".join(f"{s:>14}" for s in servers) + "".join(
    f"{'x vs ' + s:>14}" for s in servers if s != base)
print(header)
print("-" * len(header))
for scenario, label, path, higher in METRICS:
    medians = {}
    for s in servers:
        values = [get(r, path) for r in rows if r["server"] == s and r["scenario"] == scenario]
        values = [v for v in values if v is not None]
        if values:
            m = statistics.median(values)
            medians[s] = m / 1024 if label.endswith(" MB") else m
    if not medians:
        continue
    line = f"{scenario:9} {label:37}" + "".join(f"{fmt(medians.get(s)):>14}" for s in servers)
    for s in servers:
        if s == base:
            continue
        b, p = medians.get(base), medians.get(s)
        ratio = None
        if b is not None and p is not None:
            if higher and p > 0:
                ratio = b / p
            elif not higher and b > 0:
                ratio = p / b
        line += f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>14}"
    print(line)
for s in servers:
    overload = [r for r in rows if r["server"] == s and r["scenario"] == "overload" and r.get("loadgen")]
    capped = [r for r in overload if r["loadgen"].get("rss_cap_hit")]
    if capped:
        print(f"\nnote: {s} reached the RSS cap in {len(capped)} of {len(overload)} overload run(s); the generator "
              "then reset its publishers, so its memory figures are lower bounds")
noisy = [r for r in rows if (r.get("foreign_cpu_cores") or 0) > 0.15]
if noisy:
    print(f"\nwarning: other processes used more than 0.15 cores during {len(noisy)} run(s): " +
          ", ".join(f"{r['server']}/{r['scenario']}#{r['run']} ({r['foreign_cpu_cores']:.2f})" for r in noisy) +
          "; rerun on a quiet machine for figures to publish")
failed = [r for r in rows if r.get("loadgen") is None or r.get("exit") not in (0, 1)]
if failed:
    print(f"\n{len(failed)} run(s) without a result (load generator crashed or timed out): " +
          ", ".join(f"{r['server']}/{r['scenario']}#{r['run']}" for r in failed))
EOF
