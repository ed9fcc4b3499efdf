package audit

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"

	"github.com/lockstep-dev/lockstep/internal/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Blame is, for each field of a live object that Lockstep manages (or once set),
// the ledger record that last set it, and whatever says the live value is no
// longer Git's.
type Blame struct {
	Object ObjectRef `json:"object"`
	// Created is the record of the sync that created the object; nil when that
	// is older than the ledger (or retention cut it).
	Created *Record      `json:"created,omitempty"`
	Fields  []FieldBlame `json:"fields"`
}

// FieldBlame answers "who set this field, and is it still what Git says".
type FieldBlame struct {
	Path string `json:"path"`
	// Value is the live value, as compact JSON; a Secret's reads "(secret)".
	Value string `json:"value,omitempty"`
	// Owners are the field managers that own the field now.
	Owners []Writer `json:"owners,omitempty"`
	// SetBy is the sync that last set the field (or created the object); nil when
	// no record in the ledger did.
	SetBy *Record `json:"setBy,omitempty"`
	// Flags say why the live value may not be Git's: another manager owns the
	// field, or a drift changed it after SetBy and was not reverted.
	Flags []string `json:"flags,omitempty"`
	// Reverted are the drifts that changed the field after SetBy and were
	// put back (self-heal), newest first: the live value is Git's, but
	// someone tried.
	Reverted []string `json:"reverted,omitempty"`
}

// BlameObject blames the fields of live. manager is Lockstep's field manager;
// records are the Sync and Drift records that name the object, newest first.
// The live object must carry its managedFields.
func BlameObject(live *unstructured.Unstructured, manager string, records []Record) (Blame, error) {
	gvk := live.GroupVersionKind()
	b := Blame{Object: ObjectRef{Group: gvk.Group, Kind: gvk.Kind, Namespace: live.GetNamespace(), Name: live.GetName()}}
	owners, err := fieldOwners(live)
	if err != nil {
		return Blame{}, err
	}
	changes := objectChanges(b.Object, records)
	for _, c := range changes {
		if c.rec.Event == EventSync && c.change.Action == Create && c.change.Error == "" {
			b.Created = c.rec
			break
		}
	}
	paths := map[string]bool{}
	for p, ws := range owners {
		for _, w := range ws {
			if w.Manager == manager {
				paths[p] = true
			}
		}
	}
	// Fields Lockstep set that another manager took over since.
	for _, c := range changes {
		if c.rec.Event != EventSync {
			continue
		}
		for _, f := range c.change.Fields {
			for p := range owners {
				if object.Within(p, f.Path) {
					paths[p] = true
				}
			}
		}
	}
	secret := IsSecret(live)
	for p := range paths {
		fb := FieldBlame{Path: p, Owners: owners[p], Value: "(secret)"}
		if !secret {
			fb.Value = valueAt(live, p)
		}
		fb.SetBy, fb.Flags, fb.Reverted = history(p, changes, fb.Value)
		for _, w := range fb.Owners {
			if w.Manager != manager {
				fb.Flags = append(fb.Flags, fmt.Sprintf("owned by %s (%s) since %s", w.Manager, w.Operation, w.Time))
			}
		}
		b.Fields = append(b.Fields, fb)
	}
	sort.Slice(b.Fields, func(i, j int) bool { return b.Fields[i].Path < b.Fields[j].Path })
	return b, nil
}

// objectChange is one record's change to the blamed object.
type objectChange struct {
	rec    *Record
	change Change
}

func objectChanges(ref ObjectRef, records []Record) []objectChange {
	var out []objectChange
	for i := range records {
		for _, c := range records[i].Changes {
			if c.Ref() == ref {
				out = append(out, objectChange{rec: &records[i], change: c})
			}
		}
	}
	return out
}

// history walks the object's changes newest first to the sync that set path,
// flagging drifts met on the way that were not reverted and listing those
// that were.
func history(path string, changes []objectChange, live string) (setBy *Record, flags, reverted []string) {
	// A self-heal's sync (trigger Drift) puts back the value an earlier sync
	// set: that earlier sync answers "who set it"; the revert is the fallback
	// when retention has cut the earlier one.
	var revert *Record
	for _, c := range changes {
		if c.change.Error != "" {
			continue
		}
		switch c.rec.Event {
		case EventDrift:
			if !touches(c.change, path) {
				continue
			}
			by := "someone"
			if w := c.change.ChangedBy; w != nil {
				by = w.Manager
				if w.Time != "" {
					by += " at " + w.Time
				}
			}
			if c.rec.Result == Reverted {
				reverted = append(reverted, fmt.Sprintf("changed by %s, reverted (drift record #%d)", by, c.rec.Seq))
				continue
			}
			flags = append(flags, fmt.Sprintf("differs from Git: changed by %s (drift record #%d, not reverted)", by, c.rec.Seq))
		case EventSync:
			if c.change.Action == Create {
				return c.rec, flags, reverted
			}
			for _, f := range c.change.Fields {
				if !object.Within(path, f.Path) && !object.Within(f.Path, path) {
					continue
				}
				if c.rec.Trigger == triggerDrift {
					if revert == nil {
						revert = c.rec
					}
					break
				}
				if len(flags) == 0 && f.Path == path && f.To != "" && f.To != SecretValue && len(f.To) <= MaxValueLen && live != f.To {
					flags = append(flags, fmt.Sprintf("differs from Git: live %s, record #%d set %s", live, c.rec.Seq, f.To))
				}
				return c.rec, flags, reverted
			}
		}
	}
	return revert, flags, reverted
}

// triggerDrift is the trigger of a self-heal's sync (v1alpha1.TriggerDrift;
// the ledger does not import the API).
const triggerDrift = "Drift"

func touches(c Change, path string) bool {
	if c.Action == Deleted {
		return true
	}
	for _, f := range c.Fields {
		if object.Within(path, f.Path) || object.Within(f.Path, path) {
			return true
		}
	}
	return false
}

// fieldOwners maps each leaf field of live (plan's path syntax) to the managers
// that own it, from the object's managedFields. Status is left out.
func fieldOwners(live *unstructured.Unstructured) (map[string][]Writer, error) {
	owners := map[string][]Writer{}
	for _, e := range live.GetManagedFields() {
		if e.Subresource == "status" || e.FieldsV1 == nil {
			continue
		}
		var set fieldpath.Set
		if err := set.FromJSON(bytes.NewReader(e.FieldsV1.GetRawBytes())); err != nil {
			return nil, fmt.Errorf("reading the managed fields of %s: %w", e.Manager, err)
		}
		w := writerOf(e)
		set.Leaves().Iterate(func(p fieldpath.Path) {
			if path, ok := planPath(live.Object, p); ok && !object.Within(path, "status") {
				owners[path] = append(owners[path], w)
			}
		})
	}
	return owners, nil
}

func writerOf(e metav1.ManagedFieldsEntry) Writer {
	w := Writer{Manager: e.Manager, Operation: string(e.Operation)}
	if e.Time != nil {
		w.Time = e.Time.UTC().Format("2006-01-02T15:04:05Z")
	}
	return w
}

// planPath turns a managed-fields path into plan's syntax by finding, in the
// live object, the index of each list item that the path names by key or value.
// ok is false when the live object has no such item.
func planPath(obj map[string]any, p fieldpath.Path) (string, bool) {
	var cur any = obj
	path := ""
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, _ := cur.(map[string]any)
			path, cur = object.JoinPath(path, *pe.FieldName), m[*pe.FieldName]
		case pe.Index != nil:
			l, _ := cur.([]any)
			if *pe.Index >= len(l) {
				return "", false
			}
			path, cur = fmt.Sprintf("%s[%d]", path, *pe.Index), l[*pe.Index]
		default:
			l, _ := cur.([]any)
			i := indexOf(l, pe)
			if i < 0 {
				return "", false
			}
			path, cur = fmt.Sprintf("%s[%d]", path, i), l[i]
		}
	}
	return path, path != ""
}

// indexOf finds the list item a key (associative lists) or value (sets) names.
func indexOf(l []any, pe fieldpath.PathElement) int {
	for i, item := range l {
		switch {
		case pe.Key != nil:
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			match := true
			for _, f := range *pe.Key {
				if !sameScalar(m[f.Name], f.Value.Unstructured()) {
					match = false
					break
				}
			}
			if match {
				return i
			}
		case pe.Value != nil:
			if sameScalar(item, (*pe.Value).Unstructured()) {
				return i
			}
		}
	}
	return -1
}

// sameScalar compares values that may differ only in numeric type (int64 from
// JSON decoding into unstructured, float64 or int from elsewhere).
func sameScalar(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}
