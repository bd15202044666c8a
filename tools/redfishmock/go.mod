// Module redfishmock builds the independent Redfish BMC the bmc package's
// contract tests run against. Separate from rackctl's go.mod on purpose:
// metal-operator pins a gofish bmclib v2.3.4 cannot compile with.
module github.com/rackctl/rackctl/tools/redfishmock

go 1.26.3

require (
	github.com/go-logr/logr v1.4.4
	github.com/ironcore-dev/metal-operator v0.6.1
)
