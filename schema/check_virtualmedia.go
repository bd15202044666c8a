package schema

import "fmt"

// checkVirtualMedia: a node installed via virtual media needs a BMC that
// can insert it (Redfish; IPMI has no virtual media), an image to insert,
// and rackctl to boot it (install.pxeCommands hands the boot to lokoctl,
// which only PXE-boots). Each error sits where the node asks for virtual
// media: its installVia, else install.via.
func checkVirtualMedia(ix *index, nodes []string) {
	rackVia, _ := ix.str("install.via")
	rackProto, _ := ix.str("bmc.protocol")
	_, haveImage := ix.entries["install.virtualMediaImage"]
	_, pxeCommands := ix.entries["install.pxeCommands"]
	imageAsked, pxeCommandsAsked := false, false
	for _, p := range nodes {
		via, set := ix.str(p + ".installVia")
		at := p + ".installVia"
		if !set {
			via, at = rackVia, "install.via"
		}
		if via != InstallViaVirtualMedia {
			continue
		}
		name, _ := ix.str(p + ".name")
		proto, ok := ix.str(p + ".bmcProtocol")
		if !ok {
			proto = rackProto
		}
		if proto != ProtocolRedfish {
			if proto == "" {
				proto = ProtocolIPMI
			}
			ix.addAt(at, fmt.Sprintf("node %s installs via virtual media, but its BMC speaks %s, which has no virtual media: set %s.bmcProtocol: redfish if its BMC speaks Redfish, or %s.installVia: pxe", name, proto, p, p))
		}
		if !haveImage && !imageAsked {
			imageAsked = true
			ix.addAt(at, fmt.Sprintf("node %s installs via virtual media, but install.virtualMediaImage is not set: set it to the URL of the boot image its BMC inserts (e.g. an iPXE ISO chaining to matchbox)", name))
		}
		if pxeCommands && !pxeCommandsAsked {
			pxeCommandsAsked = true
			ix.addAt(at, fmt.Sprintf("node %s installs via virtual media, but install.pxeCommands makes the provisioner PXE-boot the nodes itself: drop install.pxeCommands, or set %s.installVia: pxe", name, p))
		}
	}
}
