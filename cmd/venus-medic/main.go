// Command venus-medic watches the logs of a Venus storage provider's
// components, recognises trouble with rules and acts on it. See SPEC §2
// for the commands.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"
)

func main() {
	app := &cli.Command{
		Name:    "venus-medic",
		Usage:   "watch Venus component logs, recognise trouble, notify and remediate",
		Version: versionString(),
		Commands: []*cli.Command{
			runCmd, checkCmd, testCmd, versionCmd,
		},
		EnableShellCompletion: true,
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		if ec, ok := err.(cli.ExitCoder); ok {
			if msg := ec.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "venus-medic:", err)
		os.Exit(1)
	}
}
