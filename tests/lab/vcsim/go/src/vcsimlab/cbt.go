// QueryChangedDiskAreas as ESXi answers it: one window per call, 64 KiB
// aligned extents, "*" for allocated areas, faults for unusable changeIds.
package main

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/vmware/govmomi/vim25/types"
)

var changeIDRe = regexp.MustCompile(`^((?:[0-9a-f]{2} ){15}[0-9a-f]{2})/(\d+)$`)

// queryFault is the vSphere fault a query answers with.
type queryFault struct {
	fault types.BaseMethodFault
	msg   string
}

func invalidArg(prop, msg string) *queryFault {
	return &queryFault{fault: &types.InvalidArgument{InvalidProperty: prop}, msg: msg}
}

// QueryChanged answers one window starting at start for the view frozen by
// snap ("" = current state, for a powered-off VM).
func (d *Disk) QueryChanged(snap string, start int64, changeID string, window int64, maxExtents int) (*types.DiskChangeInfo, *queryFault) {
	d.mu.Lock()
	defer d.mu.Unlock()

	levels, at, ok := d.chainFor(snap)
	if !ok {
		return nil, invalidArg("snapshot", "snapshot does not cover this disk")
	}
	fileFault := func(msg string) *queryFault {
		return &queryFault{fault: &types.FileFault{File: d.abs(d.levels[0].Descriptor)}, msg: msg}
	}
	if !d.cbtOn {
		return nil, fileFault("change tracking is not enabled for this disk")
	}
	if start < 0 || start >= d.Capacity {
		return nil, invalidArg("startOffset", fmt.Sprintf("startOffset %d outside disk of %d bytes", start, d.Capacity))
	}
	if window < BlockSize {
		window = BlockSize
	}
	window -= window % BlockSize
	end := start + window
	if end > d.Capacity {
		end = d.Capacity
	}
	firstBlock, endBlock := start/BlockSize, (end+BlockSize-1)/BlockSize

	var blocks []int64
	if changeID == "*" && d.nfs {
		for b := firstBlock; b < endBlock; b++ {
			blocks = append(blocks, b)
		}
	} else if changeID == "*" {
		blocks = d.allocatedLocked(levels).sorted(firstBlock, endBlock)
	} else {
		m := changeIDRe.FindStringSubmatch(changeID)
		if m == nil {
			return nil, invalidArg("changeId", "malformed changeId "+strconv.Quote(changeID))
		}
		from, _ := strconv.Atoi(m[2])
		upTo := d.seq + 1 // current state: every epoch so far
		if at != nil {
			if at.seq == 0 || at.ctkUUID != d.ctkUUID {
				return nil, fileFault("change tracking was reset after this snapshot was taken")
			}
			upTo = at.seq
		}
		if m[1] != d.ctkUUID || from > upTo {
			return nil, fileFault("changeId " + changeID + " is not valid for this disk (tracking reset or unknown)")
		}
		changed := blockSet{}
		for e := from; e < upTo; e++ {
			if s := d.epochs[e]; s != nil {
				changed.union(s)
			}
		}
		blocks = changed.sorted(firstBlock, endBlock)
	}

	info := &types.DiskChangeInfo{StartOffset: start, Length: end - start}
	for _, b := range blocks {
		s, e := b*BlockSize, (b+1)*BlockSize
		if s < start {
			s = start
		}
		if e > end {
			e = end
		}
		n := len(info.ChangedArea)
		if n > 0 && info.ChangedArea[n-1].Start+info.ChangedArea[n-1].Length == s {
			info.ChangedArea[n-1].Length += e - s
			continue
		}
		if maxExtents > 0 && n == maxExtents {
			// Like ESXi, a long answer is cut short: length then ends at the
			// last extent returned and the client must continue from there.
			last := info.ChangedArea[n-1]
			info.Length = last.Start + last.Length - start
			break
		}
		info.ChangedArea = append(info.ChangedArea, types.DiskChangeExtent{Start: s, Length: e - s})
	}
	return info, nil
}
