#!/usr/bin/env bash
# venus-medic in one command, with no Venus component installed: builds
# venus-medic and a local notification receiver, runs the daemon on a demo
# venus-wallet log, appends the lines a wallet writes when it restarted
# without its password, and prints the notification venus-medic delivers.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building venus-medic and the demo receiver"
go build -o "$work/venus-medic" ./cmd/venus-medic
go build -o "$work/receiver" ./examples/quickstart/receiver
sed "s#@WORK@#$work#g" examples/quickstart/venus-medic.yaml >"$work/venus-medic.yaml"

"$work/receiver" -listen 127.0.0.1:9780 -until "password not set" &
recv=$!
pids+=("$recv")
echo "== starting venus-medic (config: $work/venus-medic.yaml)"
"$work/venus-medic" run --config "$work/venus-medic.yaml" &
pids+=("$!")
sleep 1

echo "== the wallet restarts without its password: appending its log lines to $work/wallet.log"
cat examples/quickstart/wallet.log >>"$work/wallet.log"

for _ in $(seq 1 300); do
	if ! kill -0 "$recv" 2>/dev/null; then
		echo "== done: venus-medic detected 'WalletSign error password not set' and delivered the notification above"
		exit 0
	fi
	sleep 0.1
done
echo "== no notification arrived within 30 s" >&2
exit 1
