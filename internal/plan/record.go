package plan

import "fmt"

// MaxInventoryBytes bounds how much of an Application's status the names of
// the objects it manages may take. The status is stored in etcd with the
// rest of the Application, and etcd refuses an object over 1.5 MiB: an
// inventory it cannot store would leave applied objects unrecorded, never
// pruned and claimable by other Applications.
const MaxInventoryBytes = 1 << 20

// inventoryGroupBytes is about what one kind in one namespace costs in
// status.managed beside its names.
const inventoryGroupBytes = 96

// CheckRecordable fails when the objects the plan leaves under management
// would not fit in the Application's status: it is checked before anything
// is applied.
func (p Plan) CheckRecordable() error {
	size, n := 0, 0
	groups := map[[4]string]bool{}
	for _, e := range p.Inventory() {
		g := [4]string{e.Group, e.Version, e.Kind, e.Namespace}
		if !groups[g] {
			groups[g] = true
			size += inventoryGroupBytes + len(e.Group) + len(e.Version) + len(e.Kind) + len(e.Namespace)
		}
		size += len(e.Name) + 3 // quoted, and a comma
		n++
	}
	if size > MaxInventoryBytes {
		return fmt.Errorf("the Application would manage %d objects whose names take %d KiB of its status, over the %d KiB it can record "+
			"(etcd refuses larger objects): split the folder into several Applications (objects kept with prune off count too: turn prune on to drop them)", n, size>>10, MaxInventoryBytes>>10)
	}
	return nil
}
