package simrack

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStartStopAgain(t *testing.T) {
	if _, err := exec.LookPath("ipmitool"); err != nil {
		t.Fatalf("ipmitool is required: %v", err)
	}
	r := StartT(t, Options{N: 2, Password: "shared-pw"})
	if len(r.BMCs) != 2 || r.BMCs[0].Addr == r.BMCs[1].Addr || r.BMCs[0].MAC == r.BMCs[1].MAC {
		t.Fatalf("bmcs = %+v", r.BMCs)
	}
	status := func(b BMC) (string, error) {
		host, port, _ := net.SplitHostPort(b.Addr)
		cmd := exec.Command("ipmitool", "-C", "3", "-I", "lanplus", "-N", "1", "-R", "1", "-H", host, "-p", port, "-U", b.User, "-E", "chassis", "power", "status")
		cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+b.Password)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, b := range r.BMCs {
		if out, err := status(b); err != nil || !strings.Contains(out, "Chassis Power is off") {
			t.Fatalf("%s: %q %v", b.Name, out, err)
		}
	}
	if err := r.Stop(1); err != nil {
		t.Fatal(err)
	}
	if _, err := status(r.BMCs[1]); err == nil {
		t.Fatal("stopped BMC answered")
	}
	if err := r.StartAgain(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if out, err := status(r.BMCs[1]); err != nil {
		t.Fatalf("restarted BMC: %q %v", out, err)
	}
}

func TestDistinctPasswords(t *testing.T) {
	r := StartT(t, Options{N: 2})
	if r.BMCs[0].Password == r.BMCs[1].Password || r.BMCs[0].Password == "" {
		t.Fatal("passwords not distinct")
	}
	info, err := os.Stat(r.BMCs[0].Dir + "/lan.conf")
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("lan.conf (holds the password) mode %v %v", info.Mode(), err)
	}
}

func TestDelayProxy(t *testing.T) {
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:n], from)
		}
	}()
	const delay = 50 * time.Millisecond
	p, err := NewDelayProxy(echo.LocalAddr().String(), delay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("udp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	if rtt := time.Since(start); rtt < 2*delay {
		t.Errorf("round trip %s, want at least %s", rtt, 2*delay)
	}
	if _, err := NewDelayProxy("192.0.2.1:623", delay); err == nil {
		t.Error("non-loopback target accepted")
	}
}

// TestDelayProxyOrderAndCounts: datagrams sent back to back come out in
// the order they went in (a pipelined RMCP+ client relies on it), and
// Counts tells datagrams from exchanges: three datagrams sent without
// waiting, then one after the answers, are four datagrams in two
// exchanges.
func TestDelayProxyOrderAndCounts(t *testing.T) {
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:n], from)
		}
	}()
	p, err := NewDelayProxy(echo.LocalAddr().String(), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("udp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	const burst = 100
	for i := range burst {
		c.Write([]byte{byte(i)})
	}
	for i := range burst {
		n, err := c.Read(buf)
		if err != nil || n != 1 {
			t.Fatalf("answer %d: %v", i, err)
		}
		if buf[0] != byte(i) {
			t.Fatalf("answer %d is datagram %d: the proxy reordered them", i, buf[0])
		}
	}
	c.Write([]byte("again"))
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Counts(), (Counts{Datagrams: burst + 1, Exchanges: 2}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	p.ResetCounts()
	if got := p.Counts(); got != (Counts{}) {
		t.Errorf("counts after reset %+v, want zero", got)
	}
}

// TestSerialConsole runs a real ipmitool SOL session against a simulator
// whose serial port is this test: console output reaches ipmitool's stdout,
// what is typed reaches the serial port, and a restarted simulator
// connects again.
func TestSerialConsole(t *testing.T) {
	if _, err := exec.LookPath("ipmitool"); err != nil {
		t.Fatalf("ipmitool is required: %v", err)
	}
	r := StartT(t, Options{N: 1, SOL: true})
	b := r.BMCs[0]
	data, _ := os.ReadFile(b.Dir + "/lan.conf")
	if want := `sol "tcp:` + b.SerialAddr + `" 115200`; !strings.Contains(string(data), want) {
		t.Fatalf("lan.conf lacks %q:\n%s", want, data)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	serial, err := b.Serial(ctx)
	if err != nil {
		t.Fatal(err)
	}

	host, port, _ := net.SplitHostPort(b.Addr)
	cmd := exec.CommandContext(ctx, "ipmitool", "-C", "3", "-I", "lanplus", "-H", host, "-p", port, "-U", b.User, "-E", "sol", "activate")
	cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+b.Password)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	out := bufio.NewReader(stdout)
	readUntil := func(want string) {
		t.Helper()
		var got []byte
		for !strings.Contains(string(got), want) {
			c, err := out.ReadByte()
			if err != nil {
				t.Fatalf("ipmitool stdout: %q, then %v; want %q", got, err, want)
			}
			got = append(got, c)
		}
	}
	// ipmitool's banner sits in its stdout buffer (a pipe, not a terminal)
	// until console output arrives, and output sent before the session is
	// active is dropped: send newlines until the banner shows.
	banner := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-banner:
				return
			case <-time.After(100 * time.Millisecond):
				serial.Write([]byte("\r\n"))
			}
		}
	})
	readUntil("SOL Session operational")
	close(banner)
	wg.Wait()
	if _, err := serial.Write([]byte("login: ")); err != nil {
		t.Fatal(err)
	}
	readUntil("login: ")
	io.WriteString(stdin, "root\n")
	serial.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 5)
	if _, err := io.ReadFull(serial, got); err != nil || string(got) != "root\n" {
		t.Fatalf("serial port read %q %v, want %q", got, err, "root\n")
	}
	io.WriteString(stdin, "~.")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ipmitool after ~.: %v", err)
	}

	if err := r.Stop(0); err != nil {
		t.Fatal(err)
	}
	if err := r.StartAgain(ctx, 0); err != nil {
		t.Fatal(err)
	}
	again, err := b.Serial(ctx)
	if err != nil || again == serial {
		t.Fatalf("serial after restart: same connection %v, %v", again == serial, err)
	}
}
