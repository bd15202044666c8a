# Managed by rackctl from rack.yaml: edits here are overwritten.

module "flatcar" {
  source = "./modules/flatcar-baremetal"

  matchbox_http_endpoint   = var.matchbox_http_endpoint
  asset_dir                = var.asset_dir
  node_names               = var.node_names
  node_macs                = var.node_macs
  ignition                 = { for name in var.node_names : name => "ignition/${name}.ign" }
  installer_ignition       = { for name in var.node_names : name => "ignition/${name}-installer.ign" }
  kernel_console           = var.kernel_console
  kernel_args              = ["flatcar.autologin"]
  install_to_smallest_disk = true
  cached_install           = true
}

provider "matchbox" {
  endpoint    = var.matchbox_addr
  client_cert = file("/opt/racker-state/matchbox-client/client.crt")
  client_key  = file("/opt/racker-state/matchbox-client/client.key")
  ca          = file("/opt/racker-state/matchbox-client/ca.crt")
}
