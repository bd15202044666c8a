package bmc

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Address sources of a BMC's LAN channel, as LANAddressSource reports them
// (IPMI LAN configuration parameter 4, `ipmitool lan print`).
const (
	AddrSourceUnspecified = "unspecified"
	AddrSourceStatic      = "static"
	AddrSourceDHCP        = "dhcp"
	AddrSourceBIOS        = "bios"
	AddrSourceOther       = "other"
)

// LANAddressSource reads where the BMC's LAN channel takes its IP address
// from (`lan print 1`, "IP Address Source"; with kept sessions the same
// parameter read over RMCP+): one of the AddrSource* constants.
func (c *Client) LANAddressSource(ctx context.Context, t Target) (string, error) {
	var src string
	err := c.do(ctx, t, "lan print", func(ctx context.Context, cn *conn) error {
		if c.pool != nil {
			var err error
			src, err = newRMCPDriver(cn, c.pool).lanAddressSource(ctx)
			return err
		}
		out, err := cn.run.run(ctx, "lan", "print", strconv.Itoa(LANChannel))
		if err != nil {
			return err
		}
		src, err = ParseLANAddressSource(string(out))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCommand, err)
		}
		return nil
	})
	return src, err
}

// ParseLANAddressSource finds "IP Address Source : ..." in the output of
// `ipmitool lan print` and returns one of the AddrSource* constants.
func ParseLANAddressSource(out string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "IP Address Source" {
			continue
		}
		v = strings.ToLower(strings.TrimSpace(v))
		switch {
		case strings.HasPrefix(v, "static"):
			return AddrSourceStatic, nil
		case strings.HasPrefix(v, "dhcp"):
			return AddrSourceDHCP, nil
		case strings.HasPrefix(v, "bios"):
			return AddrSourceBIOS, nil
		case strings.HasPrefix(v, "unspecified"):
			return AddrSourceUnspecified, nil
		default:
			return AddrSourceOther, nil
		}
	}
	return "", fmt.Errorf("no \"IP Address Source\" in the lan print output")
}
