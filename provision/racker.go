package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// RackerModule is the module call of Racker's flatcar.tf: one instance per
// node, indexed by count.
const RackerModule = "module.flatcar-provisioning"

// RackerStateMoves returns the terraform state commands a flatcar directory
// taken over from Racker needs before its first apply, or nil when the
// plan destroys nothing of Racker's module.
//
// Racker's module and rackctl's (call name module) create matchbox objects
// with the same IDs: the final-OS profile node-NAME and the group NAME.
// Left to terraform, the destroy of Racker's object and the create of
// rackctl's run in no set order, and the destroy can delete the object
// just created. Moving the two into rackctl's addresses makes terraform
// update (or replace, destroy first) each in place. Racker's reprovision
// null_resource is dropped from the state (it has no real object, and its
// provider may be gone); Racker's install profiles and install-NAME group
// are left to terraform to destroy — kept, that group would select the
// node's MAC like rackctl's and could send a PXE boot into a reinstall.
func RackerStateMoves(tp *TerraformPlan, module string) []string {
	var cmds []string
	for _, c := range tp.Changes {
		if !strings.HasPrefix(c.Address, RackerModule+"[") || !slices.Contains(c.Actions, "delete") {
			continue
		}
		res := c.Address[strings.Index(c.Address, "].")+2:]
		switch {
		case strings.HasPrefix(res, "null_resource."):
			cmds = append(cmds, "terraform state rm "+shellQuote(c.Address))
		case res == "matchbox_profile.node" && strings.HasPrefix(c.Name, "node-"):
			to := fmt.Sprintf("%s.matchbox_profile.node[%s]", module, strconv.Quote(strings.TrimPrefix(c.Name, "node-")))
			cmds = append(cmds, "terraform state mv "+shellQuote(c.Address)+" "+shellQuote(to))
		case res == "matchbox_group.node" && c.Name != "":
			to := fmt.Sprintf("%s.matchbox_group.node[%s]", module, strconv.Quote(c.Name))
			cmds = append(cmds, "terraform state mv "+shellQuote(c.Address)+" "+shellQuote(to))
		}
	}
	return cmds
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
