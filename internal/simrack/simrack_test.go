package simrack

import (
	"net"
	"os"
	"os/exec"
	"strings"
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
