# Managed by rackctl from rack.yaml: edits here are overwritten.

asset_dir = "/home/core/flatcar-container-linux/assets"
node_macs = [
  "aa:bb:01:00:00:00",
  "aa:bb:01:00:00:01",
  "aa:bb:01:00:00:03",
]
node_names = [
  "node-0",
  "node-1",
  "node-3",
]
matchbox_addr = "172.24.213.1"
clc_snippets = {
  node-0 = ["cl/node-0.yaml", "cl/node-0-custom.yaml"]
  node-1 = ["cl/node-1.yaml", "cl/node-1-custom.yaml"]
  node-3 = ["cl/node-3.yaml", "cl/node-3-custom.yaml"]
}
installer_clc_snippets  = {}
kernel_console          = ["console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8"]
install_pre_reboot_cmds = "docker run --privileged --net host --rm quay.io/kinvolk/racker:latest sh -c 'ipmitool raw 0x0 0x8 0x3 0x1f && ipmitool raw 0x00 0x08 0x05 0xe0 0x08 0x00 0x00 0x00'"
pxe_commands            = "rackctl pxe-boot $mac $domain"
