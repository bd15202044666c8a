# Managed by rackctl from rack.yaml: edits here are overwritten.

terraform {
  required_providers {
    matchbox = {
      source  = "poseidon/matchbox"
      version = "0.5.4"
    }
  }
}
