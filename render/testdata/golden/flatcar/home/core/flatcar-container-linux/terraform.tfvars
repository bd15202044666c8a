# Managed by rackctl from rack.yaml: edits here are overwritten.

asset_dir = "assets"
node_macs = [
  "aa:bb:01:00:00:00",
  "aa:bb:01:00:00:01",
  "aa:bb:01:00:00:02",
  "aa:bb:01:00:00:03",
]
node_names = [
  "node-0.k8s.localdomain",
  "node-1.k8s.localdomain",
  "node-2.k8s.localdomain",
  "node-3.k8s.localdomain",
]
matchbox_addr          = "172.24.213.1:8081"
matchbox_http_endpoint = "http://172.24.213.1:8080"
clc_snippets = {
  "node-0.k8s.localdomain" = ["cl/node-0.k8s.localdomain.yaml", "cl/node-0.k8s.localdomain-custom.yaml"]
  "node-1.k8s.localdomain" = ["cl/node-1.k8s.localdomain.yaml", "cl/node-1.k8s.localdomain-custom.yaml"]
  "node-2.k8s.localdomain" = ["cl/node-2.k8s.localdomain.yaml", "cl/node-2.k8s.localdomain-custom.yaml", "cl/node-2.k8s.localdomain-extra.yaml"]
  "node-3.k8s.localdomain" = ["cl/node-3.k8s.localdomain.yaml", "cl/node-3.k8s.localdomain-custom.yaml"]
}
installer_clc_snippets = {
  "node-1.k8s.localdomain" = ["cl/node-1.k8s.localdomain-custom.yaml"]
}
kernel_console          = ["console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8"]
install_pre_reboot_cmds = "docker run --privileged --net host --rm quay.io/kinvolk/racker:latest sh -c 'ipmitool raw 0x0 0x8 0x3 0x1f && ipmitool raw 0x00 0x08 0x05 0xe0 0x08 0x00 0x00 0x00'"
pxe_commands            = "rackctl pxe-boot $mac $domain"
ssh_keys                = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk4 ops@example"]
