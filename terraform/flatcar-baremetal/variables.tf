# Interface of the flatcar-baremetal module; see README.md.
variable "matchbox_http_endpoint" {
  type        = string
  description = "matchbox HTTP endpoint as nodes reach it, e.g. http://172.24.213.1:8080."
}
variable "asset_dir" {
  type        = string
  description = "Directory (relative to the root module) holding the <mac> flag files of installed nodes."
}
variable "node_names" {
  type        = list(string)
  description = "Node names (FQDNs); the for_each key of every per-node resource."
  validation {
    condition     = length(distinct(var.node_names)) == length(var.node_names)
    error_message = "node_names must not repeat a name."
  }
}
variable "node_macs" {
  type        = list(string)
  description = "Primary MAC of each node, aligned by position with node_names."
  validation {
    condition     = length(distinct([for m in var.node_macs : lower(m)])) == length(var.node_macs)
    error_message = "node_macs must not repeat a MAC."
  }
}
variable "ignition" {
  type        = map(string)
  description = "Node name => path (relative to the root module) of the node's final-OS Ignition JSON."
}
variable "installer_ignition" {
  type        = map(string)
  description = "Node name => path (relative to the root module) of the node's installer Ignition JSON (runs flatcar-install)."
}
variable "kernel_console" {
  type        = list(string)
  description = "Kernel console arguments for the PXE install boot, e.g. [\"console=ttyS1,57600n8\"]."
  default     = []
}
variable "kernel_args" {
  type        = list(string)
  description = "Extra kernel arguments for the PXE install boot."
  default     = []
}
variable "install_to_smallest_disk" {
  type        = bool
  description = "Kept for Racker terraform.tfvars compatibility; the installer Ignition rendered by rackctl carries the flatcar-install disk choice."
  default     = true
}
variable "cached_install" {
  type        = bool
  description = "PXE-boot from matchbox assets (/assets/flatcar/<flatcar_version>/) instead of the Flatcar release server."
  default     = false
}
variable "flatcar_channel" {
  type        = string
  description = "Flatcar release channel of the PXE image (stable, beta, alpha)."
  default     = "stable"
}
variable "flatcar_version" {
  type        = string
  description = "Flatcar version of the PXE image, or \"current\"."
  default     = "current"
}

# Added by the module itself (defaults keep the interface above unchanged).

variable "download_protocol" {
  type        = string
  default     = "https"
  description = "Protocol of the Flatcar release server URLs used for PXE when cached_install is false (iPXE builds without TLS need \"http\")."
}

variable "installed_selector" {
  type        = string
  default     = "installed"
  description = "Value of the os selector that returns the final-OS Ignition: the installer fetches <matchbox_http_endpoint>/ignition?mac=<mac>&os=<installed_selector>."
}
