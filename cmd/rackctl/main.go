// Command rackctl keeps a bare-metal rack in the state rack.yaml describes.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:]))
}
