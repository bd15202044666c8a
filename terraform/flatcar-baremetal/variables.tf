# Interface of the flatcar-baremetal module (see provision helper task).
variable "matchbox_http_endpoint" {
  type = string
}
variable "asset_dir" {
  type = string
}
variable "node_names" {
  type = list(string)
}
variable "node_macs" {
  type = list(string)
}
variable "ignition" {
  type = map(string)
}
variable "installer_ignition" {
  type = map(string)
}
variable "kernel_console" {
  type    = list(string)
  default = []
}
variable "kernel_args" {
  type    = list(string)
  default = []
}
variable "install_to_smallest_disk" {
  type    = bool
  default = true
}
variable "cached_install" {
  type    = bool
  default = false
}
variable "flatcar_channel" {
  type    = string
  default = "stable"
}
variable "flatcar_version" {
  type    = string
  default = "current"
}
