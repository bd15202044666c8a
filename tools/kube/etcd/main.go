// Command etcd is a single-member etcd v3.7.0 for the cluster tests: the same
// server code as the release binary (go.etcd.io/etcd/server/v3/embed), with
// only the few flags a throw-away test store needs. It exits when the server
// stops or on SIGINT/SIGTERM, after closing the store cleanly.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dataDir := flag.String("data-dir", "", "directory for the store (required)")
	client := flag.String("listen-client-url", "http://127.0.0.1:2379", "URL to serve clients on")
	peer := flag.String("listen-peer-url", "http://127.0.0.1:2380", "URL for the (single) member's peer port")
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("etcd: -data-dir is required")
	}

	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = *dataDir
	cfg.LogLevel = "error"
	cu, err := url.Parse(*client)
	if err != nil {
		log.Fatalf("etcd: -listen-client-url: %v", err)
	}
	pu, err := url.Parse(*peer)
	if err != nil {
		log.Fatalf("etcd: -listen-peer-url: %v", err)
	}
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, pu.String())

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd: start: %v", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintln(os.Stderr, "etcd: ready on", cu.String())
	case err := <-e.Err():
		log.Fatalf("etcd: %v", err)
	case <-sig:
		e.Close()
		return
	}
	select {
	case err := <-e.Err():
		e.Close()
		log.Fatalf("etcd: %v", err)
	case <-sig:
		e.Close()
	}
}
