package render

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	"github.com/rackctl/rackctl/schema"
)

// LeaseTime is the lease of every dnsmasq reservation (dhcp-host). Racker
// used "infinite" there, which pins an address to a MAC in the lease file
// forever: a replaced server with the old IP reserved for its new MAC is
// refused it while the old lease lives. Racker's own 2m (its dynamic range)
// frees a replaced server's address quickly but drops every BMC's address
// two minutes into an outage of the management node. One hour is the
// middle: a replacement waits at most an hour (the dhcp driver can also
// drop the stale lease), and BMCs survive a management node reboot.
// network.internal.dhcp.reservationLease changes it per rack.
const LeaseTime = schema.DefaultReservationLease

// DynamicLeaseTime is the lease of the dynamic range, Racker's 2 minutes:
// it only serves servers in their first PXE boot before they are in rack.yaml.
const DynamicLeaseTime = "2m"

// DnsmasqConf renders the dnsmasq configuration of the internal network.
func DnsmasqConf(in Input) ([]byte, error) {
	r, err := resolve(in)
	if err != nil {
		return nil, err
	}
	return dnsmasqConf(r)
}

// dnsmasqConf follows Racker's dnsmasq.conf.template line by line, with two
// changes: the router and DNS options carry the spec's gateway and DNS
// servers (Racker sent them empty, leaving BMCs without a gateway), and the
// reservations name their host. network.internal.dhcp turns each change
// off; fileFormat racker also leaves out rackctl's comments, so that a rack
// configured as Racker's gives Racker's file byte for byte.
func dnsmasqConf(r *rack) ([]byte, error) {
	dhcp := r.Network.Internal.DHCP
	dr := r.Network.Internal.DynamicRange
	mask := net.IP(net.CIDRMask(r.subnet.Bits(), r.subnet.Addr().BitLen())).String()
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# dnsmasq.conf")
	if !r.Racker() {
		p("# %s", Header)
	}
	p("")
	p("no-daemon")
	if dr.Start != "" && dr.End != "" {
		p("dhcp-range=%s,%s,%s,%s", dr.Start, dr.End, mask, DynamicLeaseTime)
	}
	p("dhcp-ignore-clid")
	p("dhcp-authoritative")
	if dhcp.SendsRouter() {
		p("dhcp-option=option:router,%s", r.gateway)
	} else {
		p("dhcp-option=3")
	}
	if dns := r.Network.Internal.DNS; len(dns) > 0 {
		p("dhcp-option=option:dns-server,%s", strings.Join(dns, ","))
	} else {
		p("dhcp-option=6")
	}
	p("")
	p("enable-tftp")
	p("tftp-root=/var/lib/tftpboot")
	p("")
	p("# Legacy PXE")
	p("dhcp-match=set:bios,option:client-arch,0")
	p("dhcp-boot=tag:bios,undionly.kpxe")
	p("")
	p("# UEFI")
	p("dhcp-match=set:efi32,option:client-arch,6")
	p("dhcp-boot=tag:efi32,ipxe.efi")
	p("")
	p("dhcp-match=set:efibc,option:client-arch,7")
	p("dhcp-boot=tag:efibc,ipxe.efi")
	p("")
	p("dhcp-match=set:efi64,option:client-arch,9")
	p("dhcp-boot=tag:efi64,ipxe.efi")
	p("")
	p("# iPXE")
	p("dhcp-userclass=set:ipxe,iPXE")
	p("dhcp-boot=tag:ipxe,%s", r.bootIPXE)
	p("")
	p("log-queries")
	p("log-dhcp")
	if iface := r.Network.Internal.Interface; iface != "" {
		p("")
		p("except-interface=lo")
		p("interface=%s", iface)
		p("bind-interfaces")
	}
	if !r.Racker() {
		p("")
		p("# Reservations: the primary NIC of every node in the cluster, the BMC of")
		p("# every node (excluded ones too, so they stay reachable for repair).")
	}
	lease := dhcp.Lease()
	host := func(mac string, ip fmt.Stringer, name string) {
		if dhcp.NamesHosts() {
			p("dhcp-host=%s,%s,%s,%s", mac, ip, name, lease)
		} else {
			p("dhcp-host=%s,%s,%s", mac, ip, lease)
		}
	}
	for _, n := range r.nodes {
		if n.active || dhcp.ReserveExcludedPrimary {
			host(n.MAC, n.ip, n.Name)
		}
		host(n.BMCMAC, n.bmcIP, n.Name+"-bmc")
	}
	return b.Bytes(), nil
}
