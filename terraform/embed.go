// Package terraform embeds the Terraform modules that rendered flatcar.tf
// files call; render copies them next to flatcar.tf so the management node
// needs nothing but rackctl and terraform.
package terraform

import "embed"

// Modules holds flatcar-baremetal/*.tf.
//
//go:embed flatcar-baremetal/*.tf
var Modules embed.FS
