// Package object is the small vocabulary every stage shares about Kubernetes
// objects: how one is named (Key), how Lockstep marks the objects it applies
// (tracking label and owner annotation), how a field inside one is written (field
// paths), and who last wrote one (managedFields). It is a leaf: it imports
// nothing of Lockstep, so source, render, plan, kube, audit and cli can all use it
// without one stage reaching into another.
package object
