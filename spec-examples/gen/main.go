// Command gen writes a large rack.yaml for benchmarks and scale tests:
// go run ./spec-examples/gen -n 1000 > spec-examples/rack-1000.yaml
// go run ./spec-examples/gen -n 10000 -provisioner flatcar > /tmp/rack-10000.yaml
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rackctl/rackctl/spec-examples/gen/rackgen"
)

func main() {
	n := flag.Int("n", 1000, "number of nodes")
	provisioner := flag.String("provisioner", "lokomotive", "lokomotive or flatcar")
	flag.Parse()
	if err := rackgen.Write(os.Stdout, *n, *provisioner); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
