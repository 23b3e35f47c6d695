#!/usr/bin/env bash
# A Mesos v1 scheduler in bash, with curl and the standard tools only (no jq).
#
#   examples/curl/scheduler.sh [HOST:PORT] [TASKS]       defaults: 127.0.0.1:5050 10
#
# It subscribes, reads the RecordIO event stream (`<length in bytes>\n<JSON event>`),
# launches TASKS command tasks (`echo hello-<i>`, 0.1 cpus and 32 MB each, at most
# PER_OFFER per offer) into the offers it gets, declines what it does not need,
# acknowledges every status update that carries a uuid, and once every task has
# reached TASK_FINISHED tears the framework down and exits 0. Any other terminal
# state, an ERROR event, a refused call, a stream that ends early or TIMEOUT seconds
# passing make it tear down and exit 1.
#
# Environment: PER_OFFER (5), TIMEOUT (60), TASK_CPUS (0.1), TASK_MEM (32),
# FRAMEWORK_NAME (curl-hello), VERBOSE=1 to print every event.
#
# Works against ratufa and Apache Mesos alike: it relies only on the v1 API's JSON
# (events as single-line JSON whose first key is "type", as both write them).
set -uo pipefail

MASTER="${1:-127.0.0.1:5050}"
TASKS="${2:-10}"
PER_OFFER="${PER_OFFER:-5}"
TIMEOUT="${TIMEOUT:-60}"
TASK_CPUS="${TASK_CPUS:-0.1}"
TASK_MEM="${TASK_MEM:-32}"
FRAMEWORK_NAME="${FRAMEWORK_NAME:-curl-hello}"
API="http://$MASTER/api/v1/scheduler"

say() { printf 'curl-scheduler: %s\n' "$*" >&2; }

# --- JSON without jq -----------------------------------------------------------------
# Events are small, single-line JSON objects; each helper takes the first match.

# json_id KEY TEXT: the value of `"KEY":{"value":"…"}`.
json_id() { grep -o "\"$1\":{\"value\":\"[^\"]*\"" <<<"$2" | head -n1 | sed 's/.*"value":"\([^"]*\)"/\1/'; }
# json_str KEY TEXT: the value of `"KEY":"…"`.
json_str() { grep -o "\"$1\":\"[^\"]*\"" <<<"$2" | head -n1 | sed 's/^[^:]*:"\([^"]*\)"/\1/'; }
# scalar NAME OFFER: the sum of the offer's scalar resources called NAME.
scalar() {
  grep -o "{\"name\":\"$1\"[^{}]*\"scalar\":{\"value\":[0-9.eE+-]*" <<<"$2" |
    sed 's/.*"value"://' | awk '{ s += $1 } END { printf "%g", s + 0 }'
}
# split_offers EVENT: one offer per line (offers are the objects of the "offers"
# array, each starting with its "id").
split_offers() { sed 's/"offers":{"offers":\[//; s/},{"id":{"value":/}\n{"id":{"value":/g' <<<"$1"; }

# --- calls -----------------------------------------------------------------------------
STREAM_ID=""
FRAMEWORK_ID=""

# call JSON: POST a call on our stream; anything but 202 is fatal.
call() {
  local response code
  response=$(curl -sS -w '\n%{http_code}' "$API" \
    -H 'Content-Type: application/json' \
    -H "Mesos-Stream-Id: $STREAM_ID" \
    -d "$1") || { say "could not POST $1"; return 1; }
  code="${response##*$'\n'}"
  if [ "$code" != 202 ]; then
    say "the master answered $code to $1: ${response%$'\n'*}"
    return 1
  fi
}

teardown() {
  [ -n "$FRAMEWORK_ID" ] || return 0
  call "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"$FRAMEWORK_ID\"}}" &&
    say "torn down framework $FRAMEWORK_ID"
  FRAMEWORK_ID=""
}

fail() {
  say "FAILED: $*"
  teardown
  exit 1
}

# --- the event stream ----------------------------------------------------------------
# curl writes the response head (-D -) and then the body, as it arrives (-N), into
# fd 3. `read` takes the length line a byte at a time; `head -c LENGTH` takes exactly
# the record (lengths count bytes, not characters), never more.
exec 3< <(exec curl -sSN -D - "$API" \
  -H 'Content-Type: application/json' -H 'Accept: application/json' \
  -d "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"$(id -un)\",\"name\":\"$FRAMEWORK_NAME\",\"hostname\":\"localhost\"}}}")
CURL_PID=$!
trap 'kill "$CURL_PID" 2>/dev/null' EXIT

deadline=$((SECONDS + TIMEOUT))
# Seconds left, at least 1 (`read -t 0` would only poll, reading nothing).
left() { local l=$((deadline - SECONDS)); ((l > 1)) && echo "$l" || echo 1; }

IFS= read -r -t "$(left)" status_line <&3 || fail "no response from $API"
status_line="${status_line%$'\r'}"
while IFS= read -r -t "$(left)" header <&3; do
  header="${header%$'\r'}"
  [ -z "$header" ] && break
  case "${header,,}" in
  mesos-stream-id:*) STREAM_ID="${header#*:}"; STREAM_ID="${STREAM_ID# }" ;;
  esac
done
case "$status_line" in
HTTP/*' 200'*) ;;
*) fail "SUBSCRIBE answered '$status_line': $(timeout 5 cat <&3)" ;;
esac
[ -n "$STREAM_ID" ] || fail "SUBSCRIBE's response had no Mesos-Stream-Id"

next_task=0  # tasks hello-0 … hello-(next_task-1) have been launched
finished=0
declare -A state=()

while ((finished < TASKS)); do
  ((SECONDS < deadline)) || fail "timed out after ${TIMEOUT}s with $finished of $TASKS tasks finished"
  if ! IFS= read -r -t "$(left)" length <&3; then
    ((SECONDS < deadline)) && fail "the event stream ended"
    continue
  fi
  [[ "$length" =~ ^[1-9][0-9]*$ ]] || fail "not a RecordIO length: '$length'"
  event=$(head -c "$length" <&3)
  ((${#event} > 0)) || fail "the event stream ended inside a record"
  type=$(json_str type "$event")
  [ "${VERBOSE:-0}" = 1 ] && say "event: $event"

  case "$type" in
  SUBSCRIBED)
    FRAMEWORK_ID=$(json_id framework_id "$event")
    say "subscribed as $FRAMEWORK_ID (stream $STREAM_ID)"
    ;;

  OFFERS)
    while IFS= read -r offer; do
      offer_id=$(json_id id "$offer")
      agent_id=$(json_id agent_id "$offer")
      [ -n "$offer_id" ] || continue
      fits=$(awk -v c="$(scalar cpus "$offer")" -v m="$(scalar mem "$offer")" \
        -v tc="$TASK_CPUS" -v tm="$TASK_MEM" -v cap="$PER_OFFER" -v want=$((TASKS - next_task)) \
        'BEGIN { n = int(c / tc + 1e-9); k = int(m / tm + 1e-9); if (k < n) n = k;
                 if (cap < n) n = cap; if (want < n) n = want; print (n > 0 ? n : 0) }')
      if ((fits == 0)); then
        call "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"$FRAMEWORK_ID\"},\"decline\":{\"offer_ids\":[{\"value\":\"$offer_id\"}],\"filters\":{\"refuse_seconds\":5}}}" ||
          fail "DECLINE refused"
        continue
      fi
      tasks="" names=""
      for ((i = 0; i < fits; i++)); do
        task_id="hello-$next_task"
        next_task=$((next_task + 1))
        state[$task_id]=LAUNCHED
        tasks+="${tasks:+,}{\"name\":\"$task_id\",\"task_id\":{\"value\":\"$task_id\"},\"agent_id\":{\"value\":\"$agent_id\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":$TASK_CPUS}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":$TASK_MEM}}],\"command\":{\"value\":\"echo $task_id\"}}"
        names+=" $task_id"
      done
      say "launching$names on agent $agent_id"
      call "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"$FRAMEWORK_ID\"},\"accept\":{\"offer_ids\":[{\"value\":\"$offer_id\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[$tasks]}}],\"filters\":{\"refuse_seconds\":1}}}" ||
        fail "ACCEPT refused"
    done < <(split_offers "$event")
    ;;

  UPDATE)
    task_id=$(json_id task_id "$event")
    agent_id=$(json_id agent_id "$event")
    task_state=$(json_str state "$event")
    uuid=$(json_str uuid "$event")
    say "$task_id is $task_state"
    [ -n "${state[$task_id]:-}" ] || fail "an update for a task never launched: $event"
    if [ -n "$uuid" ]; then
      call "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"$FRAMEWORK_ID\"},\"acknowledge\":{\"agent_id\":{\"value\":\"$agent_id\"},\"task_id\":{\"value\":\"$task_id\"},\"uuid\":\"$uuid\"}}" ||
        fail "ACKNOWLEDGE refused"
    fi
    case "$task_state" in
    TASK_FINISHED)
      [ "${state[$task_id]}" = TASK_FINISHED ] || finished=$((finished + 1))
      echo "finished $task_id on $agent_id"
      ;;
    TASK_FAILED | TASK_KILLED | TASK_LOST | TASK_ERROR | TASK_DROPPED | TASK_GONE | TASK_GONE_BY_OPERATOR | TASK_UNKNOWN)
      fail "$task_id reached $task_state: $(json_str message "$event")"
      ;;
    esac
    state[$task_id]=$task_state
    ;;

  ERROR) fail "the master sent ERROR: $(json_str message "$event")" ;;
  HEARTBEAT | RESCIND | MESSAGE | FAILURE | INVERSE_OFFERS | RESCIND_INVERSE_OFFER) ;;
  *) say "ignoring a $type event" ;;
  esac
done

teardown
echo "all $finished tasks finished"
