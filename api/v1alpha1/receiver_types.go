package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Receiver takes the push events of a Git server (its webhooks) so that a
// commit is applied in under a second instead of at the next interval. It
// lists no Applications: a push refreshes those that follow the pushed
// repository and ref and, when the payload lists the changed files, only
// those whose path changed. A Receiver refreshes the Applications of its own
// namespace; one in the controller's own namespace refreshes every
// namespace's.
//
// A push is only a hint to look now: the refreshed Applications fetch from
// Git as always, and nothing in the payload (its commit, its files) is
// applied or trusted beyond choosing whom to refresh.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=rcv,categories=lockstep
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.status.path`
// +kubebuilder:printcolumn:name="Last Push",type=date,JSONPath=`.status.lastEvent.time`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Receiver struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReceiverSpec   `json:"spec"`
	Status ReceiverStatus `json:"status,omitempty"`
}

// ReceiverList is a list of Receivers.
//
// +kubebuilder:object:root=true
type ReceiverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Receiver `json:"items"`
}

// ReceiverSpec says which Git server sends the events and the secret they are
// signed with.
type ReceiverSpec struct {
	// Type is the Git server: github (and GitHub Enterprise Server), gitea
	// (and Forgejo), gitlab, bitbucketserver (Bitbucket Server and Data
	// Center), or generic (GitHub's signature and payload shape, sent by any
	// tool).
	// +kubebuilder:validation:Enum=github;gitea;gitlab;bitbucketserver;generic
	Type string `json:"type"`
	// SecretRef names a Secret in the Receiver's namespace whose "token"
	// entry is the webhook's secret, as entered in the Git server's webhook
	// settings: the key of its HMAC signature, or GitLab's secret token. A
	// request whose signature does not match is refused. The Secret must be
	// labelled lockstep.dev/secret-use=receiver.
	SecretRef LocalObjectReference `json:"secretRef"`
	// Suspend refuses every event (answered 503) without deleting the
	// Receiver.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ReceiverSecretKey is the entry of a Receiver's Secret that holds its secret.
const ReceiverSecretKey = "token"

// LabelSecretUse marks a Secret that Receivers (value "receiver") or
// Notifications (value "notification") may read. The controller may read
// every Secret; without the mark, whoever may create a Notification could
// have it send out a Secret they may not read themselves (a token, another
// team's password).
const (
	LabelSecretUse        = "lockstep.dev/secret-use"
	SecretUseReceiver     = "receiver"
	SecretUseNotification = "notification"
)

// ReceiverPathPrefix begins every Receiver's path on the API server.
const ReceiverPathPrefix = "/hooks/"

// ReceiverStatus is where the Git server should send its events and what
// the last one did.
type ReceiverStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Path is the path on Lockstep's API server to give the Git server as the
	// webhook's URL (after the server's address): /hooks/ and a random token
	// chosen when the Receiver is first seen. It is not a secret (the
	// signature is what is checked) but is unguessable, so that a stranger's
	// requests cannot even reach the signature check.
	// +optional
	Path string `json:"path,omitempty"`
	// URL is the whole webhook URL, when the controller knows its public
	// address (--api-public-url).
	// +optional
	URL string `json:"url,omitempty"`
	// Conditions: Ready (the Secret is there and holds a token).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastEvent is the last push accepted.
	// +optional
	LastEvent *ReceiverEvent `json:"lastEvent,omitempty"`
}

// ReceiverEvent is one accepted push.
type ReceiverEvent struct {
	Time metav1.Time `json:"time"`
	// Ref is the pushed ref (refs/heads/main) and Commit its new commit, as
	// the payload said.
	Ref    string `json:"ref,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Refreshed is how many Applications the push refreshed.
	Refreshed int `json:"refreshed"`
}
