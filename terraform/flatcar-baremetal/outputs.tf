output "profile_kinds" {
  description = "Per node name: \"install\" (PXE install profile) or \"ignition-only\" (flag file present, no PXE reinstall)."
  value       = { for name, done in local.installed : name => done ? "ignition-only" : "install" }
}

output "installed_ignition_urls" {
  description = "Per node name: the URL the installer passes to flatcar-install -i (final-OS Ignition)."
  value       = { for name, mac in local.nodes : name => "${var.matchbox_http_endpoint}/ignition?mac=${mac}&os=${var.installed_selector}" }
}
