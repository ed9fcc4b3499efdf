package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultProject is the Project an Application belongs to when it names none.
// When no Project of that name exists, the install's built-in default applies:
// every repository, destination and kind is allowed, nothing is verified.
const DefaultProject = "default"

// Project is a set of guardrails for the Applications that name it: which
// repositories, destinations and kinds they may use, the identity they apply
// as, which signatures and approvals a commit needs, and which images and
// Secrets may reach the cluster. A violation stops the sync before anything is
// applied. Projects are cluster-scoped: the platform team owns them, the teams
// whose Applications they constrain do not.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=proj,categories=lockstep
// +kubebuilder:printcolumn:name="Service Account",type=string,JSONPath=`.spec.serviceAccountName`
// +kubebuilder:printcolumn:name="Approvals",type=integer,JSONPath=`.spec.approvals.required`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Project struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ProjectSpec `json:"spec"`
}

// ProjectList is a list of Projects.
//
// +kubebuilder:object:root=true
type ProjectList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Project `json:"items"`
}

// AdoptionPolicy is a Project's answer to taking over existing objects.
type AdoptionPolicy string

// Adoption policies.
const (
	AdoptionAllow  AdoptionPolicy = "Allow"
	AdoptionRefuse AdoptionPolicy = "Refuse"
)

// RollbackPolicy is a Project's answer to revisions that do not descend
// from the applied one.
type RollbackPolicy string

// Rollback policies.
const (
	RollbacksAllow  RollbackPolicy = "Allow"
	RollbacksRefuse RollbackPolicy = "Refuse"
)

// ProjectSpec holds a Project's rules. Lists that say what is allowed allow
// nothing when empty: a new Project is closed until it is opened.
type ProjectSpec struct {
	// Description for people.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`
	// SourceNamespaces are the namespaces (globs: team-a-*) whose Applications
	// may name this Project; none when empty. spec.project is written by the
	// team, so without this a team could pick whichever Project is loosest.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	SourceNamespaces []string `json:"sourceNamespaces,omitempty"`
	// SourceRepos are the repository URLs the Project's Applications may use, as
	// globs: * matches within one path segment, ** across segments
	// (https://git.internal/team-a/**). A trailing .git and / are ignored.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	SourceRepos []string `json:"sourceRepos,omitempty"`
	// Destinations are the clusters and namespaces the Project's objects may
	// land in. Every namespaced object is checked, not only the Application's
	// destination namespace.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Destinations []ProjectDestination `json:"destinations,omitempty"`
	// ClusterResources are the cluster-scoped kinds allowed; none when empty.
	// +optional
	ClusterResources ResourceRules `json:"clusterResources,omitempty"`
	// NamespacedResources are the namespaced kinds allowed (every kind when
	// allow is empty) and denied (for example RoleBindings).
	// +optional
	NamespacedResources ResourceRules `json:"namespacedResources,omitempty"`
	// MaxSyncTimeout caps spec.sync.timeout of the Project's Applications: how
	// long one sync (hooks and health waits included) may hold a worker of the
	// controller, which the controller's --max-sync-timeout caps too.
	// +optional
	MaxSyncTimeout *metav1.Duration `json:"maxSyncTimeout,omitempty"`
	// Adoption says whether the Project's Applications may take over objects
	// that exist in the cluster but no Application manages (created by hand,
	// by kubectl or by another tool): Allow (the default) takes them over and
	// records an adoption with the values they had; Refuse denies the sync,
	// naming them. An object another Application manages is always refused.
	// +kubebuilder:validation:Enum=Allow;Refuse
	// +optional
	Adoption AdoptionPolicy `json:"adoption,omitempty"`
	// Rollbacks says whether the Project's Applications may sync a revision
	// that does not descend from the one they last applied (an older commit
	// pinned in spec.source, a branch force-pushed back): Allow (the default)
	// syncs it like any commit (signatures and approvals as for a new one) and
	// records it as a rollback; Refuse denies it: roll back with git revert,
	// which keeps the history. Unknown descent (a shallow cache) counts as a
	// rollback when refused.
	// +kubebuilder:validation:Enum=Allow;Refuse
	// +optional
	Rollbacks RollbackPolicy `json:"rollbacks,omitempty"`
	// PodSecurityLabels lets the Project's Namespace objects set
	// pod-security.kubernetes.io/ labels, which decide what Pods may do there.
	// Off by default: a team must not loosen its own namespace's pod security.
	// (A Namespace object is also checked against destinations, by its name.)
	// +optional
	PodSecurityLabels bool `json:"podSecurityLabels,omitempty"`
	// ServiceAccountName is the service account, in each Application's
	// namespace, that the Project's Applications apply, prune and read as.
	// Kubernetes RBAC then decides what they may touch. When it is set, an
	// Application may not name another (spec.destination.serviceAccountName):
	// the Project, not the team, chooses the identity.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Verification requires every synced revision to be signed by one of its
	// trusted keys. It replaces any verification the Application asks for.
	// +optional
	Verification *Verification `json:"verification,omitempty"`
	// Approvals requires a number of distinct approvers on every synced commit.
	// +optional
	Approvals *ApprovalPolicy `json:"approvals,omitempty"`
	// Images restricts the container images workloads may run.
	// +optional
	Images *ImagePolicy `json:"images,omitempty"`
	// Secrets restricts Secret manifests.
	// +optional
	Secrets *SecretPolicy `json:"secrets,omitempty"`
	// GitWrite lets Lockstep write the rollbacks (and promotions) of the
	// Project's Applications as commits: without it, a rollback is a revert
	// you push yourself.
	// +optional
	GitWrite *GitWrite `json:"gitWrite,omitempty"`
}

// ProjectDestination is a cluster and a namespace, as globs.
type ProjectDestination struct {
	// Cluster glob; in-cluster when empty.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// Namespace glob, for example team-a-*.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Namespace string `json:"namespace"`
}

// ResourceRules allow and deny kinds. A kind is allowed when it matches an
// allow entry and no deny entry.
type ResourceRules struct {
	// Allow lists kinds allowed.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Allow []GroupKind `json:"allow,omitempty"`
	// Deny lists kinds refused even when allowed.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Deny []GroupKind `json:"deny,omitempty"`
}

// GroupKind names kinds by API group and kind; * matches any.
type GroupKind struct {
	// Group, empty for the core group, * for any.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Group string `json:"group"`
	// Kind, for example RoleBinding, * for any.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
}

// VerificationMode says what must carry a trusted signature.
// +kubebuilder:validation:Enum=HEAD;Tag;TagAndHEAD
type VerificationMode string

// Verification modes.
const (
	// VerifyHead checks the commit being synced.
	VerifyHead VerificationMode = "HEAD"
	// VerifyTag checks the annotated tag being followed (tag or semver refs).
	VerifyTag VerificationMode = "Tag"
	// VerifyTagAndHead checks both.
	VerifyTagAndHead VerificationMode = "TagAndHEAD"
)

// Verification requires signatures by trusted keys.
type Verification struct {
	// Mode says what must be signed; HEAD (the commit) by default.
	// +kubebuilder:default=HEAD
	// +optional
	Mode VerificationMode `json:"mode,omitempty"`
	// KeysFrom are Secrets or ConfigMaps holding the trusted public keys. Each
	// entry may be an ASCII-armored PGP public key block (any number of keys),
	// or an allowed_signers file for SSH signatures, as `git` uses.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	KeysFrom []KeySource `json:"keysFrom"`
}

// KeySource is a Secret or ConfigMap holding public keys.
type KeySource struct {
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	// +kubebuilder:default=Secret
	// +optional
	Kind string `json:"kind,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the object. For a Project, the controller's namespace when
	// empty; an Application may only read its own namespace.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// ApprovalPolicy is the two-person rule: a commit needs approvals from people
// other than its author, recorded as trailers of a commit signed by a key that
// only the merge process holds, so that an author cannot write them.
type ApprovalPolicy struct {
	// Required is the number of distinct approvers, none of them the author.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Required int32 `json:"required"`
	// Trailer is the commit-message trailer naming an approver.
	// +kubebuilder:default=Approved-by
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9-]*$`
	// +optional
	Trailer string `json:"trailer,omitempty"`
	// KeysFrom are the keys that may sign a commit carrying approvals (for
	// example the Git server's merge key). Trailers on a commit not signed by
	// one of them are ignored. They are never the verification keys: a
	// developer who may sign commits could otherwise sign trailers naming
	// anyone.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	KeysFrom []KeySource `json:"keysFrom"`
}

// ImagePolicy restricts container images.
type ImagePolicy struct {
	// Registries are the registries (host[:port], optionally with a path
	// prefix: registry.internal/team-a) images may come from. Images without a
	// registry are docker.io's.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Registries []string `json:"registries"`
	// RequireDigest refuses images not pinned by digest (image@sha256:...).
	// +optional
	RequireDigest bool `json:"requireDigest,omitempty"`
}

// SecretPolicy restricts Secret manifests.
type SecretPolicy struct {
	// RefusePlain refuses Secrets that were not SOPS-encrypted in Git.
	// +optional
	RefusePlain bool `json:"refusePlain,omitempty"`
}

// GitWrite is how Lockstep writes commits for a Project's Applications.
type GitWrite struct {
	// SecretRef names a Secret in the controller's namespace with credentials
	// that may push to the Project's repositories: username and password
	// (HTTPS) or identity and known_hosts (SSH), and ca.crt when the server's
	// CA is private. The Secret must be labelled
	// lockstep.dev/secret-use=git-write.
	SecretRef LocalObjectReference `json:"secretRef"`
	// SigningKeySecretRef names a Secret (same namespace, same label) whose
	// signing.key holds the SSH or OpenPGP private key commits are signed
	// with. Needed when the Project or its Applications require signatures:
	// trust its public key there.
	// +optional
	SigningKeySecretRef *LocalObjectReference `json:"signingKeySecretRef,omitempty"`
	// Push says where commits go: Branch (the default) pushes a new branch
	// to merge through review, so the change gets the approvals any change
	// needs; Direct commits on the branch the Application follows.
	// +optional
	Push GitPush `json:"push,omitempty"`
	// AuthorName and AuthorEmail sign commits as their author; "Lockstep"
	// <lockstep@localhost> by default. Who asked is named in a trailer.
	// +optional
	AuthorName string `json:"authorName,omitempty"`
	// +optional
	AuthorEmail string `json:"authorEmail,omitempty"`
}

// GitPush is where Lockstep's commits go.
// +kubebuilder:validation:Enum=Branch;Direct
type GitPush string

const (
	// GitPushBranch pushes a new branch, to merge through review.
	GitPushBranch GitPush = "Branch"
	// GitPushDirect commits on the followed branch.
	GitPushDirect GitPush = "Direct"
)

// SecretUseGitWrite labels the Secrets a Project's gitWrite may name.
const SecretUseGitWrite = "git-write"
