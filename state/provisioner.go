package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// ProvisionerFile records the provisioner's inputs as they were when its
// last run succeeded (provisioner-inputs.json).
const ProvisionerFile = "provisioner-inputs.json"

// ProvisionerInputsVersion is the version of provisioner-inputs.json.
const ProvisionerInputsVersion = 1

// ProvisionerInputs says that the provisioner's working directory held
// exactly the inputs of Digest when a run of the provisioner succeeded at
// At: the provisioner had nothing left to do with them then. A plan whose
// inputs still have that digest need not start the provisioner to learn
// it. The record is removed before every run, so a run that fails or is
// killed leaves none.
type ProvisionerInputs struct {
	Version     int       `json:"version"`
	Provisioner string    `json:"provisioner"`
	Dir         string    `json:"dir"` // relative to the root
	Digest      string    `json:"digest"`
	At          time.Time `json:"at"`
}

// LoadProvisionerInputs reads provisioner-inputs.json; found is false
// when there is none.
func (d Dir) LoadProvisionerInputs() (in ProvisionerInputs, found bool, err error) {
	p := d.File(ProvisionerFile)
	found, err = d.readJSON(ProvisionerFile, "provisioner inputs", "remove it: the next plan runs the provisioner's own plan", &in)
	if !found || err != nil {
		return ProvisionerInputs{}, false, err
	}
	if in.Version != ProvisionerInputsVersion {
		return ProvisionerInputs{}, false, fmt.Errorf("provisioner inputs %s: version %d, want %d (remove it: the next plan runs the provisioner's own plan)", p, in.Version, ProvisionerInputsVersion)
	}
	return in, true, nil
}

// SaveProvisionerInputs writes in atomically.
func (d Dir) SaveProvisionerInputs(in ProvisionerInputs) error {
	in.Version = ProvisionerInputsVersion
	data, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return fmt.Errorf("provisioner inputs: %w", err)
	}
	if err := d.Ensure(); err != nil {
		return err
	}
	if err := atomicfile.Write(d.File(ProvisionerFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("provisioner inputs: %w", err)
	}
	return nil
}

// ForgetProvisionerInputs removes the record, durably, before a run of the
// provisioner: until it succeeds, nothing says its inputs are done with.
func (d Dir) ForgetProvisionerInputs() error {
	err := os.Remove(d.File(ProvisionerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("provisioner inputs: %w", err)
	}
	// The removal must be on disk before the run changes anything, or a
	// crash could bring the record back beside half-changed inputs.
	dir, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("provisioner inputs: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("provisioner inputs: sync %s: %w", d.path, err)
	}
	return nil
}
