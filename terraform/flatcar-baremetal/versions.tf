terraform {
  # Keep the floor low: a terraform built from the Go module proxy is
  # v1.5.7 (see scripts/build-tools.sh); v1.11 is what tests run.
  required_version = ">= 1.3"

  required_providers {
    matchbox = {
      source = "poseidon/matchbox"
    }
  }
}
