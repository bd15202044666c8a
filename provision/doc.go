// Package provision runs the provisioners that install the operating system
// on a rack's nodes, after rackctl has rendered their configuration:
//
//   - Terraform: the Flatcar path. [Terraform] drives the terraform CLI
//     through terraform-exec in the rendered flatcar-container-linux
//     directory (flatcar.tf calling the flatcar-baremetal module embedded in
//     package github.com/rackctl/rackctl/terraform). A plan is saved to a file
//     and read back as data from `terraform show -json` ([TerraformPlan]),
//     with every resource change mapped to the node it belongs to; Apply runs
//     exactly that saved plan.
//   - Lokoctl: the Lokomotive path. [Lokoctl] runs `lokoctl cluster apply
//     --confirm` in the rendered lokomotive directory and streams its output
//     line by line. lokoctl no longer builds (Lokomotive is archived); its
//     tests use the recording stand-in in testdata/lokoctl-standin, which
//     scripts/build-tools.sh also installs as tools/bin/lokoctl-standin.
//
// The package renders nothing and decides nothing: reconcile chooses when to
// plan and apply. Tools are built with scripts/build-tools.sh (matchbox,
// terraform-provider-matchbox and a Terraform filesystem mirror for it, so
// terraform init needs no network).
package provision
