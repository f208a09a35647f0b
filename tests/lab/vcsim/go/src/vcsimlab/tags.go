// vSphere tags for the tier, through the vSphere Automation REST API that
// vcsim's vapi simulator serves under /rest, as sites tag VMs today.
package main

import (
	"context"
	"net/url"

	"github.com/vmware/govmomi/vapi/rest"
	_ "github.com/vmware/govmomi/vapi/simulator" // registers the /rest endpoints
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// tagTiers creates the category reforge.tier with tags tier1..3 and attaches
// each VM's tier. It talks to the running server over HTTPS like any client.
func tagTiers(ctx context.Context, sdk *url.URL, caFile, user, pass string, tiers map[types.ManagedObjectReference]string) error {
	sc := soap.NewClient(sdk, false)
	if err := sc.SetRootCAs(caFile); err != nil {
		return err
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return err
	}
	rc := rest.NewClient(vc)
	if err := rc.Login(ctx, url.UserPassword(user, pass)); err != nil {
		return err
	}
	defer func() { _ = rc.Logout(ctx) }()
	m := tags.NewManager(rc)
	cat, err := m.CreateCategory(ctx, &tags.Category{
		Name: "reforge.tier", Description: "migration tier (tier1 = warm, tier3 = batch)",
		Cardinality: "SINGLE", AssociableTypes: []string{"VirtualMachine"},
	})
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, tier := range []string{"tier1", "tier2", "tier3"} {
		id, err := m.CreateTag(ctx, &tags.Tag{Name: tier, CategoryID: cat})
		if err != nil {
			return err
		}
		ids[tier] = id
	}
	for ref, tier := range tiers {
		if err := m.AttachTag(ctx, ids[tier], ref); err != nil {
			return err
		}
	}
	return nil
}
