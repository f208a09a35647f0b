// Paged property collection: RetrievePropertiesEx honours RetrieveOptions.maxObjects and
// answers the rest through ContinueRetrievePropertiesEx tokens, as vCenter does.
//
// vcsim 0.24 ignores maxObjects and returns every object in one answer, so a client's
// token loop never runs against it. vCenter returns at most maxObjects objects and a
// token; the token belongs to the session and is gone after the last page or a
// CancelRetrievePropertiesEx. The simulator supports wrapping its PropertyCollector
// (each session gets its own zero value of the registered type), so this is a type
// embedding the stock one, registered in its place.
package main

import (
	"strconv"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type pendingPages struct {
	rest []types.ObjectContent
	size int
}

type pagingCollector struct {
	simulator.PropertyCollector

	pageMu sync.Mutex
	pages  map[string]*pendingPages
	seq    int
}

// installPagingCollector replaces the root PropertyCollector (before any session exists).
func installPagingCollector() {
	si := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	pc := &pagingCollector{}
	pc.Self = si.Content.PropertyCollector
	simulator.Map.Put(pc)
}

// page cuts objects to size and keeps the rest under a new token.
func (pc *pagingCollector) page(objects []types.ObjectContent, size int) types.RetrieveResult {
	if size <= 0 || len(objects) <= size {
		return types.RetrieveResult{Objects: objects}
	}
	pc.pageMu.Lock()
	defer pc.pageMu.Unlock()
	if pc.pages == nil {
		pc.pages = make(map[string]*pendingPages)
	}
	pc.seq++
	token := "lab-page-" + strconv.Itoa(pc.seq)
	pc.pages[token] = &pendingPages{rest: objects[size:], size: size}
	return types.RetrieveResult{Objects: objects[:size], Token: token}
}

func (pc *pagingCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	out := pc.page(body.Res.Returnval.Objects, int(r.Options.MaxObjects))
	body.Res.Returnval = &out
	return body
}

func (pc *pagingCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := &methods.ContinueRetrievePropertiesExBody{}
	pc.pageMu.Lock()
	pending, ok := pc.pages[r.Token]
	delete(pc.pages, r.Token)
	pc.pageMu.Unlock()
	if !ok {
		body.Fault_ = simulator.Fault("unknown or finished token", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: pc.page(pending.rest, pending.size)}
	return body
}

func (pc *pagingCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, r *types.CancelRetrievePropertiesEx) soap.HasFault {
	pc.pageMu.Lock()
	delete(pc.pages, r.Token)
	pc.pageMu.Unlock()
	return &methods.CancelRetrievePropertiesExBody{Res: &types.CancelRetrievePropertiesExResponse{}}
}
