package rotate

import (
	"context"

	"github.com/rackctl/rackctl/bmc"
)

// Accounts is what a rotation needs of a BMC's account management, per
// protocol: *bmc.Client does it over IPMI (RMCP+ and ipmitool),
// *bmc.Redfish through the AccountService, *bmc.Drivers for a mixed rack.
// Accounts live in numbered slots (IPMI user IDs, Redfish account IDs).
type Accounts interface {
	// Users lists the named accounts.
	Users(ctx context.Context, t bmc.Target) ([]bmc.User, error)
	// AccountSlots is the range of slots a new account may take.
	AccountSlots(ctx context.Context, t bmc.Target) (first, last int, err error)
	// WriteAccount sets name and password (with administrator rights
	// where the protocol sets them with the account) of slot and returns
	// the slot the account has (a Redfish BMC numbers a new one itself).
	WriteAccount(ctx context.Context, t bmc.Target, slot int, creds bmc.Credentials) (int, error)
	// EnableAccount enables slot with administrator access.
	EnableAccount(ctx context.Context, t bmc.Target, slot int) error
	// DisableUser disables slot.
	DisableUser(ctx context.Context, t bmc.Target, slot int) error
	// DeleteAccount removes slot's account (clears its name); a BMC that
	// refuses answers bmc.ErrCommand.
	DeleteAccount(ctx context.Context, t bmc.Target, slot int) error
	// TestLogin proves creds log in at administrator level.
	TestLogin(ctx context.Context, t bmc.Target, creds bmc.Credentials) error
	// Config gives the parallelism.
	Config() bmc.Config
}

var (
	_ Accounts = (*bmc.Client)(nil)
	_ Accounts = (*bmc.Redfish)(nil)
	_ Accounts = (*bmc.Drivers)(nil)
)
