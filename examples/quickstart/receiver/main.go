// Command receiver is the quickstart's notification receiver: it accepts
// webhook POSTs on a local address and prints each body, so venus-medic's
// notifications can be seen without a chat account.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9780", "address to listen on")
	until := flag.String("until", "", "exit once a notification containing this text arrived")
	flag.Parse()
	got := make(chan []byte, 16)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var pretty bytes.Buffer
		if json.Indent(&pretty, body, "  ", "  ") != nil {
			pretty.Reset()
			pretty.Write(body)
		}
		fmt.Printf("receiver: notification %s %s\n  %s\n", r.Method, r.URL.Path, pretty.String())
		w.Write([]byte(`{"ok":true}`))
		got <- body
	})
	go func() {
		log.Fatal(http.ListenAndServe(*listen, nil))
	}()
	for body := range got {
		if *until != "" && bytes.Contains(body, []byte(*until)) {
			os.Exit(0)
		}
	}
}
