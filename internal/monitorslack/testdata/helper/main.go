// Command helper calls monitorslack.Apply at package initialization, as
// vault does, prints the thread it set, and keeps busy until its standard
// input closes (TestApplyReachesTheMonitor attaches gdb meanwhile).
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/vaultd/vault/internal/monitorslack"
)

var tid, err = monitorslack.Apply(monitorslack.Slack)

func main() {
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(tid)
	go func() {
		for {
			time.Sleep(50 * time.Microsecond)
		}
	}()
	bufio.NewReader(os.Stdin).ReadString('\n')
}
