// Command gen writes a seeded, realistic Venus log for benchmarks: go-log
// console lines from the wallet's gateway client, the messager, the miner
// and the node, with about 0.1% lines that shipped rules care about. The
// same seed gives the same file.
//
//	go run ./bench/gen -lines 1000000 -seed 1 > /tmp/venus.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"
)

var benign = []string{
	"INFO\tservice\tservice/message_service.go:481\treceive new head from chain",
	"INFO\tmsg-select\tservice/message_selector.go:313\tselect message result | SelectMsg: 3 | ToPushMsg: 3 | ErrMsg: 0 | took: 12.3ms\t{\"address\": \"f3wylwd6pclppme4qmbgwled5xpsbgwgqbn2alxa7yahg2gnbfkipsdv6m764xm5coizujmwdmkxeugplmorha\"}",
	"INFO\tmsg-state\tservice/message_state_refresh.go:76\tprocess block 3512345, revert 0 message, apply 4 message, replaced 0 message",
	"INFO\tminer\tminer/multiminer.go:821\tattempting to mine a block\t{\"tipset\": [\"bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2\"], \"miner\": \"f01234\"}",
	"INFO\tminer\tminer/multiminer.go:919\tnot to be winner\t{\"miner\": \"f01234\"}",
	"INFO\tchain.store\tchain/store.go:570\tSetHead bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2 3512345",
	"INFO\tchainsync.dispatcher\tdispatcher/dispatcher.go:186\treceived new tipset\t{\"height\": 3512345, \"blocks\": 4, \"from\": \"12D3KooWEiBN8jBX8EBoM3M47pVRLRWV812gDRUJhMxgyVkUoR48\", \"current work len\": 0, \"incoming channel len\": 0}",
	"INFO\tsync.module\tsyncer/syncer_submodule.go:186\treceived new block bafy2bzacea3kg2uvqx3dmgdcxlp6btxxzgpiqgmmiwsk4iaqzfxoqvmwn5gy height 3512345 from peer 12D3KooWEiBN8jBX8EBoM3M47pVRLRWV812gDRUJhMxgyVkUoR48 age 2.1s",
	"DEBUG\tminer\tminer/multiminer.go:301\tsync status\t{\"HeightDiff\": 0, \"err:\": null}",
	"INFO\twallet_event\twalletevent/wallet_client.go:107\t\t{\"api hub\": \"/dns/gateway.filincubator.com/tcp/83/wss\", \"rand sign byte\": \"TCzGneQnvI2N6LqBVf0AHwaEr+NueDnk1aCSo+1G3SA=\"}",
}

var interesting = []string{
	"ERROR\twallet_event\twalletevent/wallet_client.go:160\tWalletSign error password not set\t{\"api hub\": \"/dns/gateway.filincubator.com/tcp/83/wss\"}",
	"WARN\twallet_event\twalletevent/wallet_client.go:75\tlistenWalletRequestOnce quit, try again\t{\"api hub\": \"/dns/gateway.filincubator.com/tcp/83/wss\"}",
	"ERROR\tmsg-select\tservice/message_selector.go:446\tmsg: 9b5f1a2c-3f1e-4a6b-9d5e-0f1e2d3c4b5a, error: sign message failed: password not set\t{\"address\": \"f3wylwd6pclppme4qmbgwled5xpsbgwgqbn2alxa7yahg2gnbfkipsdv6m764xm5coizujmwdmkxeugplmorha\"}",
	"ERROR\tminer\tminer/multiminer.go:889\tscratching ticket for f01234 failed: wallet sign failed:password not set (1)",
}

func main() {
	lines := flag.Int("lines", 1_000_000, "number of lines")
	seed := flag.Int64("seed", 1, "random seed")
	rate := flag.Float64("interesting", 0.001, "fraction of interesting lines")
	flag.Parse()
	rng := rand.New(rand.NewSource(*seed))
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	t := time.Date(2026, 11, 24, 0, 0, 0, 0, time.FixedZone("", 8*3600))
	for i := 0; i < *lines; i++ {
		t = t.Add(time.Duration(rng.Intn(40)) * time.Millisecond)
		msg := benign[rng.Intn(len(benign))]
		if rng.Float64() < *rate {
			msg = interesting[rng.Intn(len(interesting))]
		}
		fmt.Fprintf(w, "%s\t%s\n", t.Format("2006-01-02T15:04:05.000-0700"), msg)
	}
}
