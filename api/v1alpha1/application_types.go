package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Application keeps the objects rendered from a path of a Git repository in sync
// with a namespace of a cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=app;apps,categories=lockstep
// +kubebuilder:printcolumn:name="Sync",type=string,JSONPath=`.status.sync.status`
// +kubebuilder:printcolumn:name="Newest",type=string,JSONPath=`.status.sync.revision`,description="Newest commit of the followed ref"
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.lastAppliedRevision.commit`,description="Commit last applied to the cluster"
// +kubebuilder:printcolumn:name="Health",type=string,JSONPath=`.status.health.status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Sync Reason",type=string,JSONPath=`.status.sync.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.dependsOn) || !self.spec.dependsOn.exists(d, d.name == self.metadata.name)",message="an Application cannot depend on itself"
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApplicationSpec   `json:"spec"`
	Status ApplicationStatus `json:"status,omitempty"`
}

// ApplicationList is a list of Applications.
//
// +kubebuilder:object:root=true
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Application `json:"items"`
}

// ApplicationSpec is what the Application should keep in sync.
type ApplicationSpec struct {
	// Project whose rules the Application follows; "default" when empty.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Project string `json:"project,omitempty"`
	// Source is where the desired state comes from.
	Source Source `json:"source"`
	// Destination is where it is applied.
	Destination Destination `json:"destination"`
	// Sync says when and how changes are applied.
	// +kubebuilder:default={}
	// +optional
	Sync SyncPolicy `json:"sync,omitempty"`
	// DependsOn names Applications in the same namespace that must be Ready
	// before this one syncs. It starts the moment they are.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	DependsOn []LocalObjectReference `json:"dependsOn,omitempty"`
	// Suspend stops all reconciliation, including drift correction, until unset.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// Promotion says where this environment's versions come from (another
	// Application, say stage for prod), what a promotion copies, and the
	// gates it must pass: lockstep promote writes the copy as a commit.
	// +optional
	Promotion *Promotion `json:"promotion,omitempty"`
}

// Source is a path in a Git repository and how to render it.
type Source struct {
	// Git is the repository and the ref to follow.
	Git GitSource `json:"git"`
	// Path is the folder in the repository to render, relative to its root.
	// The renderer is chosen by what the folder holds: kustomization.yaml →
	// Kustomize, Chart.yaml → Helm, *.jsonnet → Jsonnet, otherwise every YAML and
	// JSON file under it.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="path must be relative to the repository root and must not contain '..'"
	// +optional
	Path string `json:"path,omitempty"`
	// Helm options, used when the path holds a chart.
	// +optional
	Helm *HelmOptions `json:"helm,omitempty"`
	// Jsonnet options, used when the path holds *.jsonnet files.
	// +optional
	Jsonnet *JsonnetOptions `json:"jsonnet,omitempty"`
	// Substitute replaces ${NAME} in rendered manifests with these values. A
	// reference to a name not listed is an error; write $${NAME} for a literal.
	// Unset, nothing is replaced ({} checks that no ${NAME} is left).
	// +optional
	Substitute map[string]string `json:"substitute,omitempty"`
	// Decryption decrypts SOPS-encrypted YAML and JSON files in memory while
	// rendering (plain YAML and Kustomize). Decrypted values never reach logs,
	// events, the status, diffs or the ledger.
	// +optional
	Decryption *Decryption `json:"decryption,omitempty"`
}

// Decryption names the age keys that decrypt SOPS files.
type Decryption struct {
	// SecretRef names a Secret in the Application's namespace whose entries
	// ending in .agekey hold age identities (AGE-SECRET-KEY-1...).
	SecretRef LocalObjectReference `json:"secretRef"`
}

// GitSource is a Git repository and the ref to follow.
type GitSource struct {
	// URL of the repository, https:// or ssh://.
	// +kubebuilder:validation:Pattern=`^(https|ssh)://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// Ref to follow; the default branch when empty.
	// +optional
	Ref GitRef `json:"ref,omitempty"`
	// SecretRef names a Secret in the Application's namespace with credentials:
	// username and password (or a token as password) for HTTPS; identity (a
	// private key) and known_hosts for SSH.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// CASecretRef names a Secret whose ca.crt holds the CA bundle that signed the
	// Git server's certificate.
	// +optional
	CASecretRef *LocalObjectReference `json:"caSecretRef,omitempty"`
	// Verify requires signatures by trusted keys (in this namespace) when the
	// Project asks for none; a Project's verification replaces it.
	// +optional
	Verify *Verification `json:"verify,omitempty"`
}

// GitRef selects a commit. At most one field may be set.
//
// +kubebuilder:validation:XValidation:rule="[has(self.branch), has(self.tag), has(self.semver), has(self.commit)].filter(x, x).size() <= 1",message="set at most one of branch, tag, semver and commit"
type GitRef struct {
	// Branch to follow.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tag to follow.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Tag string `json:"tag,omitempty"`
	// Semver range over the repository's tags (e.g. ">=1.2.0 <2.0.0"); the
	// highest matching tag is followed.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Semver string `json:"semver,omitempty"`
	// Commit pins a full 40-character commit hash.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{40}$`
	// +optional
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the Application's namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// HelmOptions control how a chart is rendered.
type HelmOptions struct {
	// ReleaseName is the Helm release name; the Application's name when empty.
	// +kubebuilder:validation:MaxLength=53
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
	// ValuesFiles are values files in the chart's folder, merged in order after
	// values.yaml.
	// +optional
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// ValuesFrom reads values from ConfigMaps or Secrets in the destination
	// namespace, merged in order after the values files.
	// +optional
	ValuesFrom []ValuesReference `json:"valuesFrom,omitempty"`
	// Values are merged last.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
}

// ValuesReference is a key of a ConfigMap or Secret holding Helm values.
type ValuesReference struct {
	// +kubebuilder:validation:Enum=ConfigMap;Secret
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key holding the values; values.yaml when empty.
	// +optional
	Key string `json:"key,omitempty"`
	// Optional makes a missing object or key no error.
	// +optional
	Optional bool `json:"optional,omitempty"`
}

// JsonnetOptions control how Jsonnet is evaluated.
type JsonnetOptions struct {
	// TLAs are top-level arguments, as strings.
	// +optional
	TLAs map[string]string `json:"tlas,omitempty"`
	// ExtVars are external variables, as strings.
	// +optional
	ExtVars map[string]string `json:"extVars,omitempty"`
}

// InCluster names the cluster the controller runs in.
const InCluster = "in-cluster"

// Destination is where rendered objects are applied.
type Destination struct {
	// Cluster to apply to; only in-cluster for now.
	// +kubebuilder:validation:Enum=in-cluster
	// +kubebuilder:default=in-cluster
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// Namespace for namespaced objects that name none.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`
	// ServiceAccountName is the service account, in the Application's
	// namespace, to apply, prune and read as; the Project's when empty, else
	// the install's default. A Project that names a service account allows
	// no other.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// SyncPolicy says when and how changes are applied.
type SyncPolicy struct {
	// Interval between checks of the source for new commits; at least 10s (a
	// webhook or `lockstep refresh` is the way to be faster).
	// +kubebuilder:default="3m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="interval must be at least 10s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Automated applies new commits as they are seen. When false, the
	// Application reports OutOfSync and its plan, and syncs when asked.
	// +kubebuilder:default=true
	// +optional
	Automated *bool `json:"automated,omitempty"`
	// Prune deletes objects this Application applied before and Git no longer
	// holds. Objects annotated lockstep.dev/prune: disabled are kept.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// CreateNamespace creates the destination namespace when missing.
	// +optional
	CreateNamespace bool `json:"createNamespace,omitempty"`
	// Retry after a failed sync.
	// +optional
	Retry *RetryPolicy `json:"retry,omitempty"`
	// SelfHeal reverts changes made in the cluster to what Lockstep applied (an
	// edit, a scale, a deleted object) as soon as the watch reports them. Without
	// it, such drift turns the Application OutOfSync and is shown, not reverted,
	// until the next change from Git or a manual sync.
	// +optional
	SelfHeal bool `json:"selfHeal,omitempty"`
	// Wait makes a sync wait until every object is Healthy, up to the timeout,
	// before the Application is Ready; a Degraded object fails it at once, and
	// the condition names the object and says why.
	// +optional
	Wait bool `json:"wait,omitempty"`
	// IgnoreDifferences lists fields that are not compared and that a sync leaves
	// as they are in the cluster (for example replicas owned by an autoscaler).
	// +kubebuilder:validation:MaxItems=100
	// +optional
	IgnoreDifferences []IgnoreDifference `json:"ignoreDifferences,omitempty"`
	// Timeout of one sync.
	// +kubebuilder:default="5m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// IgnoreDifference selects objects by group and kind (and optionally name and
// namespace) and names fields of them by JSON pointer (RFC 6901).
// +kubebuilder:validation:XValidation:rule="self.jsonPointers.all(p, p.startsWith('/'))",message="every jsonPointer starts with / (for example /spec/replicas)"
type IgnoreDifference struct {
	// Group of the kind; empty for the core group.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind, for example Deployment.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// Name of the object; every object of the kind when empty.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the object; every namespace when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// JSONPointers to ignore, for example /spec/replicas.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	JSONPointers []string `json:"jsonPointers"`
}

// RetryPolicy is an exponential backoff.
type RetryPolicy struct {
	// Limit of retries of one revision; 0 retries forever.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Limit int32 `json:"limit,omitempty"`
	// Backoff is the first delay; at least 1s.
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="backoff must be at least 1s"
	// +optional
	Backoff *metav1.Duration `json:"backoff,omitempty"`
	// MaxBackoff caps the delay; at least 1s.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="maxBackoff must be at least 1s"
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`
}
