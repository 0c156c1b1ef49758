#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS — builds the libFuzzer targets tests/fuzz/fuzz_*.c with clang
# (ASan + UBSan + libFuzzer) against protocol/ and router/ compiled with clang into
# build-fuzz/ (never the gcc objects of build/), replays tests/fuzz/regressions/<name>/, then
# runs each target for SECONDS over a copy of its seed corpus in build-fuzz/corpus/<name>.
# Called by `make fuzz` (FUZZ_SECONDS, default 60), which passes the Makefile's CSTD, WARN
# and INC. FUZZ_TARGETS="walker classify" limits the run to those targets.
# Exit status: 0 when every target ran clean; 1 if a build failed or any target found a
# crash, leak, timeout or out-of-memory (the artifact path is printed in the summary).
set -uo pipefail

SECS="${1:-60}"
cd "$(dirname "$0")/../.."

CC="${FUZZ_CC:-clang}"
OUT=build-fuzz
CSTD="${CSTD:--std=c11 -D_GNU_SOURCE}"
INC="${INC:--I. -I/usr/include/mariadb}"
WARN="${WARN:--Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers}"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
OPT="-g -O1"
LIBS="-lcrypto -lpcre2-8"

# max_len per target (bytes of one input)
declare -A MAXLEN=(
  [handshake_response]=1024 [change_user]=1024 [greeting]=512 [response]=1024 [walker]=8192
  [frame]=4096 [resultset]=2048 [auth]=128 [classify]=4096 [digest]=8192 [gtid]=512
  [rules]=1024 [sha2]=1024
)

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "make fuzz: $CC not found (scripts/deps.sh all installs clang)" >&2
  exit 1
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
  TARGETS=()
  for f in tests/fuzz/fuzz_*.c; do
    n="$(basename "$f" .c)"
    TARGETS+=("${n#fuzz_}")
  done
fi

mkdir -p "$OUT/obj" "$OUT/logs"

# ---- library objects: protocol/ and router/ with coverage instrumentation (no libFuzzer main)
OBJS=()
newest_header="$(ls -t protocol/*.h router/*.h | head -1)"
for src in protocol/*.c router/*.c; do
  obj="$OUT/obj/${src%.c}.o"
  mkdir -p "$(dirname "$obj")"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
    echo "CC  $src"
    # shellcheck disable=SC2086
    if ! $CC $CSTD $OPT $WARN $SAN -fsanitize=fuzzer-no-link $INC -c "$src" -o "$obj"; then
      echo "make fuzz: building $src failed" >&2
      exit 1
    fi
  fi
  OBJS+=("$obj")
done

# ---- targets
for t in "${TARGETS[@]}"; do
  src="tests/fuzz/fuzz_$t.c"
  bin="$OUT/fuzz_$t"
  if [ ! -f "$src" ]; then
    echo "make fuzz: no target $t ($src)" >&2
    exit 1
  fi
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ tests/fuzz/fuzz_common.h -nt "$bin" ] ||
     [ -n "$(find "${OBJS[@]}" -newer "$bin" 2>/dev/null | head -1)" ]; then
    echo "LD  $bin"
    # shellcheck disable=SC2086
    if ! $CC $CSTD $OPT $WARN $SAN -fsanitize=fuzzer $INC -Itests/fuzz -o "$bin" "$src" \
         "${OBJS[@]}" $LIBS; then
      echo "make fuzz: building $bin failed" >&2
      exit 1
    fi
  fi
done

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

FAILED=()
SUMMARY=()
for t in "${TARGETS[@]}"; do
  bin="$OUT/fuzz_$t"
  corpus="$OUT/corpus/$t"
  art="$OUT/artifacts/$t/"
  log="$OUT/logs/$t.log"
  mkdir -p "$corpus" "$art"
  # seeds: copied (never overwritten) so that runs write only into build-fuzz/
  if [ -d "tests/fuzz/corpus/$t" ]; then
    cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  fi
  # known crashers must stay fixed
  if [ -d "tests/fuzz/regressions/$t" ] && ls tests/fuzz/regressions/"$t"/* >/dev/null 2>&1; then
    for r in tests/fuzz/regressions/"$t"/*; do
      case "$r" in *.md|*.txt) continue ;; esac
      if ! "$bin" "$r" >"$OUT/logs/$t.regression.log" 2>&1; then
        echo "== $t: regression input $r still fails (log: $OUT/logs/$t.regression.log)"
        tail -40 "$OUT/logs/$t.regression.log"
        FAILED+=("$t (regression $r)")
      fi
    done
  fi
  maxlen="${MAXLEN[$t]:-4096}"
  echo "== fuzz_$t: ${SECS}s, max_len $maxlen, corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
  "$bin" -max_total_time="$SECS" -max_len="$maxlen" -timeout=25 -rss_limit_mb=2560 \
         -print_final_stats=1 -artifact_prefix="$art" "$corpus" >"$log" 2>&1
  rc=$?
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)"
  [ -n "$done_line" ] || done_line="$(grep -E '^#[0-9]+' "$log" | tail -1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  SUMMARY+=("fuzz_$t: ${SECS}s, ${execs:-?} execs, ${done_line:-no stats}")
  if [ "$rc" -ne 0 ]; then
    echo "== fuzz_$t FAILED (exit $rc); log $log"
    grep -E 'ERROR: |FUZZ_CHECK|runtime error|SUMMARY' "$log" | head -5
    grep -A40 -E '^==[0-9]+==ERROR|FUZZ_CHECK failed|runtime error' "$log" | grep -E '^ +#[0-9]+' | head -25
    path="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    echo "== crash input: ${path:-(none written; see $log)}"
    FAILED+=("$t: ${path:-see $log}")
  fi
done

echo
echo "== make fuzz summary (${SECS}s per target)"
for s in "${SUMMARY[@]}"; do echo "  $s"; done
if [ "${#FAILED[@]}" -ne 0 ]; then
  echo "== FAILED:"
  for f in "${FAILED[@]}"; do echo "  $f"; done
  echo "   reproduce: build-fuzz/fuzz_<target> <crash file>"
  exit 1
fi
echo "== all fuzz targets clean"
