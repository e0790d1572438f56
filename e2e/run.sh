#!/usr/bin/env bash
# The explorer's end-to-end test: start a devnet from scratch, open its explorer in
# headless Chromium (Debian's package, driven by playwright-core), and check the overview,
# a map hex's devices, a dishonest device's reason code, an epoch and governance.
# Screenshots land in $E2E_OUT (default target/e2e-screenshots).
#
#   e2e/run.sh [path/to/cairn]      (default: target/debug/cairn, as `cargo test` builds it)
#
# Needs: chromium (apt-get install chromium), node >= 20, and `npm ci` in e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN=${1:-${CARGO_TARGET_DIR:-target}/debug/cairn}
OUT=${E2E_OUT:-${CARGO_TARGET_DIR:-target}/e2e-screenshots}
RPC=127.0.0.1:${E2E_RPC_PORT:-7580}
INGEST=127.0.0.1:${E2E_INGEST_PORT:-7581}
DATA=$(mktemp -d)
mkdir -p "$OUT"
LOG="$OUT/devnet.log"

"$CAIRN" devnet --data-dir "$DATA" --fresh --rpc "$RPC" --ingest "$INGEST" \
    --devices "${E2E_DEVICES:-40}" >"$LOG" 2>&1 &
DEVNET=$!
stop() {
    kill -INT "$DEVNET" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DEVNET" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DEVNET" 2>/dev/null || true
    rm -rf "$DATA"
}
trap stop EXIT

for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/${RPC%:*}/${RPC#*:}") 2>/dev/null; then break; fi
    if ! kill -0 "$DEVNET" 2>/dev/null; then echo "the devnet exited:"; cat "$LOG"; exit 1; fi
    sleep 0.5
done

if ! node e2e/explorer.mjs --url "http://$RPC" --out "$OUT" --wait "${E2E_WAIT:-420}"; then
    echo "== devnet log (last 60 lines)"
    tail -60 "$LOG"
    exit 1
fi
echo "screenshots in $OUT"
