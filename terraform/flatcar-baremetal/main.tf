# Flatcar bare-metal provisioning through matchbox: one set of resources per
# node, keyed by node name (for_each), so adding or excluding a node never
# touches another node's resources (Racker's module used count, where removing
# a node shifted every later index and replaced their profiles and groups).

locals {
  # node name => primary MAC (lowercase, as matchbox normalizes selectors).
  nodes = zipmap(var.node_names, [for m in var.node_macs : lower(m)])

  # A node is installed when its flag file <asset_dir>/<mac> exists (the file
  # rackctl, like Racker, touches once the OS is on disk). Installed nodes are
  # not PXE-installed again: they get an Ignition-only profile.
  installed = { for name, mac in local.nodes : name => fileexists("${var.asset_dir}/${mac}") }

  install_nodes = { for name, mac in local.nodes : name => mac if !local.installed[name] }

  pxe_base = (var.cached_install
    ? "/assets/flatcar/${var.flatcar_version}"
    : "${var.download_protocol}://${var.flatcar_channel}.release.flatcar-linux.net/amd64-usr/${var.flatcar_version}"
  )
}

# PXE install profile: boots the Flatcar PXE image, which runs the installer
# Ignition (rendered by rackctl; it embeds the final-OS Ignition and calls
# flatcar-install -i with it).
resource "matchbox_profile" "install" {
  for_each = local.install_nodes

  name   = "install-${each.key}"
  kernel = "${local.pxe_base}/flatcar_production_pxe.vmlinuz"
  initrd = ["${local.pxe_base}/flatcar_production_pxe_image.cpio.gz"]
  args = flatten([
    "initrd=flatcar_production_pxe_image.cpio.gz",
    "flatcar.config.url=${var.matchbox_http_endpoint}/ignition?uuid=$${uuid}&mac=$${mac:hexhyp}",
    "flatcar.first_boot=yes",
    var.kernel_console,
    var.kernel_args,
  ])
  raw_ignition = file(var.installer_ignition[each.key])

  lifecycle {
    precondition {
      condition     = can(regex("^3\\.", jsondecode(file(var.installer_ignition[each.key])).ignition.version))
      error_message = "${var.installer_ignition[each.key]}: matchbox v0.11 serves raw Ignition only in spec 3.x (an Ignition 2.x config is served empty)."
    }
  }
}

# Final-OS profile: Ignition only, no kernel. Installed nodes select it with
# their MAC alone (reprovision without PXE: a node that reruns Ignition gets
# the current config); every node selects it with os=installed.
resource "matchbox_profile" "node" {
  for_each = local.nodes

  name         = "node-${each.key}"
  raw_ignition = file(var.ignition[each.key])

  lifecycle {
    precondition {
      condition     = can(regex("^3\\.", jsondecode(file(var.ignition[each.key])).ignition.version))
      error_message = "${var.ignition[each.key]}: matchbox v0.11 serves raw Ignition only in spec 3.x (an Ignition 2.x config is served empty)."
    }
  }
}

# What a node gets when it PXE-boots or asks for Ignition by MAC alone:
# the install profile until the flag file exists, then its final-OS profile.
resource "matchbox_group" "node" {
  for_each = local.nodes

  name    = each.key
  profile = local.installed[each.key] ? matchbox_profile.node[each.key].name : matchbox_profile.install[each.key].name
  selector = {
    mac = each.value
  }
}

# The final-OS Ignition, for an installed node re-fetching its config and for tools.
# matchbox prefers the group with more matching selectors, so
# /ignition?mac=<mac>&os=installed always lands here.
resource "matchbox_group" "installed" {
  for_each = local.nodes

  name    = "installed-${each.key}"
  profile = matchbox_profile.node[each.key].name
  selector = {
    mac = each.value
    os  = var.installed_selector
  }
}
