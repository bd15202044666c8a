package bmc

import (
	"crypto/x509"
	"fmt"

	"github.com/rackctl/rackctl/schema"
)

// maxCAFile bounds bmc.redfish.caFile: a bundle of a few CAs.
const maxCAFile = 1 << 20

// RedfishOptionsFor turns the spec's bmc.redfish into driver options.
// caFile is where bmc.redfish.caFile resolves (read beneath its root
// without following links, like the credential files); it is only read
// when the spec names one. nil spec: the system's CA pool.
func RedfishOptionsFor(spec *schema.RedfishTLS, caFile SecretFile) (RedfishOptions, error) {
	if spec == nil {
		return RedfishOptions{}, nil
	}
	switch {
	case spec.CAFile != "":
		if caFile.Root == nil {
			return RedfishOptions{}, fmt.Errorf("%s %s: no directory to read it beneath", caFile.Field, caFile.Name)
		}
		b, _, err := caFile.Root.ReadFile(caFile.Rel, maxCAFile)
		if err != nil {
			return RedfishOptions{}, fmt.Errorf("%s %s: %w", caFile.Field, caFile.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return RedfishOptions{}, fmt.Errorf("%s %s: no PEM certificate in it (want the CA that signed the BMCs' certificates)", caFile.Field, caFile.Name)
		}
		return RedfishOptions{RootCAs: pool}, nil
	case spec.Fingerprint != "":
		if _, err := parseFingerprint(spec.Fingerprint); err != nil {
			return RedfishOptions{}, fmt.Errorf("bmc.redfish.fingerprint: %w", err)
		}
		return RedfishOptions{Fingerprint: spec.Fingerprint}, nil
	case spec.InsecureSkipVerify:
		return RedfishOptions{InsecureSkipVerify: true}, nil
	}
	return RedfishOptions{}, nil
}
