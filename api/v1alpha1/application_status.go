package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types, following the conventions kstatus and `kubectl wait` understand.
const (
	// ConditionReady is True when the last sync of the wanted revision succeeded.
	ConditionReady = "Ready"
	// ConditionReconciling is True while a sync is in progress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the Application cannot progress without a
	// change (a bad spec, a render error, a denied policy).
	ConditionStalled = "Stalled"
)

// Reasons of the Ready condition; each pipeline stage has its own failure reason.
const (
	ReasonSucceeded          = "Succeeded"
	ReasonProgressing        = "Progressing"
	ReasonSuspended          = "Suspended"
	ReasonOutOfSync          = "OutOfSync"
	ReasonDriftDetected      = "DriftDetected"
	ReasonDriftReverted      = "DriftReverted"
	ReasonHealthCheckFailed  = "HealthCheckFailed"
	ReasonHookFailed         = "HookFailed"
	ReasonSourceFailed       = "SourceFailed"
	ReasonRenderFailed       = "RenderFailed"
	ReasonPlanFailed         = "PlanFailed"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonPruneFailed        = "PruneFailed"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonPolicyDenied       = "PolicyDenied"
	ReasonVerificationFailed = "VerificationFailed"
	ReasonDependencyWait     = "DependencyNotReady"
	// ReasonLedgerUnavailable: the audit ledger cannot be written (its disk
	// is full, its database down); nothing is applied until it can be, so
	// that nothing applied goes unrecorded.
	ReasonLedgerUnavailable = "LedgerUnavailable"
	// ReasonRevisionChanged refuses a manual sync pinned to a commit that is
	// no longer the newest of the followed ref.
	ReasonRevisionChanged = "RevisionChanged"
	// ReasonSpecChanged refuses a manual sync pinned to a generation of the
	// Application's spec that is no longer its own.
	ReasonSpecChanged = "SpecChanged"
)

// SyncState says whether the cluster matches Git.
// +kubebuilder:validation:Enum=Synced;OutOfSync;Unknown
type SyncState string

// Sync states.
const (
	Synced    SyncState = "Synced"
	OutOfSync SyncState = "OutOfSync"
	Unknown   SyncState = "Unknown"
)

// ApplicationStatus is what the controller observed and did.
type ApplicationStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Sync compares the cluster with the wanted revision.
	// +optional
	Sync SyncStatus `json:"sync,omitempty"`
	// Health is the worst health of the Application's objects.
	// +optional
	Health *HealthStatus `json:"health,omitempty"`
	// LastAppliedRevision is the last revision applied successfully.
	// +optional
	LastAppliedRevision *Revision `json:"lastAppliedRevision,omitempty"`
	// Hold is the hold on the Application as the ledger recorded it (see
	// AnnotationHold); nil when there is none.
	// +optional
	Hold *Hold `json:"hold,omitempty"`
	// HealthySince is when the Application became Synced and Healthy at the
	// revision it runs; nil while it is not. Promotion gates' soak reads it.
	// +optional
	HealthySince *metav1.Time `json:"healthySince,omitempty"`
	// LastDeployedRevision is the last commit applied that the cluster then
	// ran in sync and healthy: deployed. Notifications of Deployed are sent
	// when it changes, so once per commit.
	// +optional
	LastDeployedRevision string `json:"lastDeployedRevision,omitempty"`
	// LastAttemptedRevision is the last revision a sync was attempted for.
	// +optional
	LastAttemptedRevision *Revision `json:"lastAttemptedRevision,omitempty"`
	// LastAppliedDigest is the SHA-256 of everything the last successful sync
	// applied. While a render still gives the same digest, a difference in the
	// cluster is drift, not a change from Git or from the spec.
	// +optional
	LastAppliedDigest string `json:"lastAppliedDigest,omitempty"`
	// Managed lists every object the last successful sync applied or kept,
	// by kind and namespace: pruning works from it, and other Applications
	// read it to know whose an object is. Names share one entry per kind and
	// namespace, so that an Application of 10,000 objects fits in its status
	// with room to spare (etcd refuses an object over 1.5 MiB).
	// +optional
	Managed []ManagedObjects `json:"managed,omitempty"`
	// Inventory is what Lockstep kept before Managed, one entry per object.
	// It is read only when Managed is empty (a status an older version
	// wrote), and cleared by the next sync.
	// +optional
	//
	// Deprecated: read ManagedRefs.
	Inventory []ObjectReference `json:"inventory,omitempty"`
	// Resources is the state of each desired object after the last sync or
	// plan. Beyond MaxResources objects, objects Unchanged and Healthy are
	// left out first, and ResourcesOmitted counts what is left out: the
	// status of a large Application stays small, and what needs a look
	// stays in it.
	// +optional
	Resources []ResourceStatus `json:"resources,omitempty"`
	// ResourcesOmitted is how many desired objects resources does not list.
	// +optional
	ResourcesOmitted int32 `json:"resourcesOmitted,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile-requested-at
	// annotation last acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// LastHandledSyncRequest is the value of the sync-requested-by annotation
	// last acted on.
	// +optional
	LastHandledSyncRequest string `json:"lastHandledSyncRequest,omitempty"`
	// LastHandledActionRequest is the value of the action-requested-by
	// annotation last recorded in the audit ledger.
	// +optional
	LastHandledActionRequest string `json:"lastHandledActionRequest,omitempty"`
	// History holds the last 10 syncs, newest first.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	History []SyncRecord `json:"history,omitempty"`
}

// SyncStatus compares the cluster with Git.
type SyncStatus struct {
	// +optional
	Status SyncState `json:"status,omitempty"`
	// Revision is the newest commit of the followed ref: the one the comparison
	// was made against. The commit applied is lastAppliedRevision.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Reason says why the cluster is not Synced with Revision: the stage that
	// failed or refused it (RenderFailed, PolicyDenied, ...), or DriftDetected.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// Revision is a commit and what Git says about it.
type Revision struct {
	// Commit hash.
	Commit string `json:"commit"`
	// Ref that resolved to it (refs/heads/main, refs/tags/v1.2.0).
	// +optional
	Ref string `json:"ref,omitempty"`
	// Author and Committer as "Name <email>".
	// +optional
	Author string `json:"author,omitempty"`
	// +optional
	Committer string `json:"committer,omitempty"`
	// CommitTime is the committer's time.
	// +optional
	CommitTime *metav1.Time `json:"commitTime,omitempty"`
	// Subject is the first line of the message.
	// +optional
	Subject string `json:"subject,omitempty"`
	// Trailers of the message (Approved-by, Reviewed-by, ...).
	// +optional
	Trailers []Trailer `json:"trailers,omitempty"`
	// VerifiedBy is the trusted key that verified the revision's signature
	// (PGP:<fingerprint> or SSH:SHA256:<fingerprint>, and whose it is); empty
	// when the Application needs no signature.
	// +optional
	VerifiedBy string `json:"verifiedBy,omitempty"`
}

// Trailer is one "Key: value" line at the end of a commit message.
type Trailer struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ObjectReference identifies an object.
type ObjectReference struct {
	// +optional
	Group   string `json:"group,omitempty"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ManagedObjects are the objects of one kind in one namespace (none for
// cluster-scoped kinds) that an Application manages.
type ManagedObjects struct {
	// +optional
	Group   string `json:"group,omitempty"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Names, sorted.
	Names []string `json:"names"`
}

// Action is what a sync does, or would do, to an object.
// +kubebuilder:validation:Enum=Create;Update;Prune;Unchanged;Keep
type Action string

// Actions of a plan.
const (
	ActionCreate    Action = "Create"
	ActionUpdate    Action = "Update"
	ActionPrune     Action = "Prune"
	ActionUnchanged Action = "Unchanged"
	// ActionKeep is an object no longer in Git that is kept: prune is off, or the
	// object opts out with lockstep.dev/prune: disabled.
	ActionKeep Action = "Keep"
)

// ResourceStatus is one object's part in the last sync or plan.
type ResourceStatus struct {
	ObjectReference `json:",inline"`
	// Action taken (or planned, when not automated).
	// +optional
	Action Action `json:"action,omitempty"`
	// ChangedFields are the field paths an update changes.
	// +optional
	ChangedFields []string `json:"changedFields,omitempty"`
	// Message explains a failure or a kept object.
	// +optional
	Message string `json:"message,omitempty"`
	// Health of the object in the cluster.
	// +optional
	Health string `json:"health,omitempty"`
	// HealthMessage says why the object is not Healthy.
	// +optional
	HealthMessage string `json:"healthMessage,omitempty"`
	// DriftedBy is, for an object changed or deleted in the cluster while Git
	// stayed the same, the last other writer its managedFields name.
	// +optional
	DriftedBy *Writer `json:"driftedBy,omitempty"`
}

// HealthStatus is an Application's health.
type HealthStatus struct {
	// Status is Healthy, Suspended, Progressing, Missing or Degraded: the worst of
	// the Application's objects.
	// +kubebuilder:validation:Enum=Healthy;Suspended;Progressing;Missing;Degraded
	Status string `json:"status"`
	// Object is the first object at that status (Kind/namespace/name).
	// +optional
	Object string `json:"object,omitempty"`
	// Message says why that object is not Healthy.
	// +optional
	Message string `json:"message,omitempty"`
}

// Writer is a field manager that wrote an object.
type Writer struct {
	// Manager is the field manager (kubectl-edit, kubectl-scale, a controller).
	Manager string `json:"manager"`
	// Operation is Apply or Update.
	// +optional
	Operation string `json:"operation,omitempty"`
	// Subresource is set when the write went to one (scale).
	// +optional
	Subresource string `json:"subresource,omitempty"`
	// Time of the write, to the second.
	// +optional
	Time string `json:"time,omitempty"`
}

// SyncResult is how a sync ended.
// +kubebuilder:validation:Enum=Succeeded;Failed
type SyncResult string

// Sync results.
const (
	SyncSucceeded SyncResult = "Succeeded"
	SyncFailed    SyncResult = "Failed"
)

// Triggers of a sync, as the history records them.
const (
	TriggerGit    = "Git"
	TriggerDrift  = "Drift"
	TriggerManual = "Manual"
)

// SyncRecord is one entry of the history.
type SyncRecord struct {
	Revision   string      `json:"revision"`
	StartedAt  metav1.Time `json:"startedAt"`
	FinishedAt metav1.Time `json:"finishedAt"`
	Result     SyncResult  `json:"result"`
	// Initiator is "controller" for automated syncs, else who asked.
	// +optional
	Initiator string `json:"initiator,omitempty"`
	// Trigger is why the sync ran: Git (a new revision or spec), Drift (self-heal
	// reverting a change made in the cluster) or Manual.
	// +optional
	Trigger string `json:"trigger,omitempty"`
	// Counts of created, updated and pruned objects.
	// +optional
	Created int32 `json:"created,omitempty"`
	// +optional
	Updated int32 `json:"updated,omitempty"`
	// +optional
	Pruned int32 `json:"pruned,omitempty"`
	// Message of a failed sync.
	// +optional
	Message string `json:"message,omitempty"`
}

// Annotations Lockstep reads on Applications and on managed objects.
const (
	// AnnotationReconcileRequestedAt on an Application asks for an immediate
	// reconcile (any new value triggers one).
	AnnotationReconcileRequestedAt = "lockstep.dev/reconcile-requested-at"
	// AnnotationSyncRequestedBy on an Application asks for a manual sync and
	// records who asked; `lockstep sync` sets it.
	AnnotationSyncRequestedBy = "lockstep.dev/sync-requested-by"
	// AnnotationActionRequestedBy records who asked for a manual action
	// ("refresh by alice at 2026-11-23T10:00:00Z"; also suspend, resume) so
	// that the audit ledger names them; `lockstep refresh|suspend|resume` set it.
	AnnotationActionRequestedBy = "lockstep.dev/action-requested-by"
	// AnnotationPrune set to "disabled" on a managed object keeps it when it is
	// removed from Git.
	AnnotationPrune = "lockstep.dev/prune"
	// AnnotationHold on an Application holds Lockstep's own automation out of
	// it (promotions into it) until it is removed: a Hold as JSON, set by
	// `lockstep rollback` and `lockstep hold`. The controller records each
	// hold and its release in the ledger, and shows it in status.hold.
	AnnotationHold = "lockstep.dev/hold"
)

// Hold keeps Lockstep's automation (promotions) from writing into an
// Application, typically after a rollback, until someone clears it: the
// automation must not undo the rollback with the version it rolled back.
type Hold struct {
	// Reason says why, as whoever set it wrote it.
	Reason string `json:"reason"`
	// By is the user who set it.
	By string `json:"by"`
	// At is when.
	At metav1.Time `json:"at"`
	// RollbackTo is the revision a rollback returned to, and RollbackCommit
	// the commit it wrote (on Branch, when it went for review).
	// +optional
	RollbackTo string `json:"rollbackTo,omitempty"`
	// +optional
	RollbackCommit string `json:"rollbackCommit,omitempty"`
	// +optional
	Branch string `json:"branch,omitempty"`
}
