package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Notification sends what happens to Applications to where people already
// look: a chat room, a mailbox, Alertmanager, any HTTP endpoint, or the Git
// server's commit statuses (so a reviewer sees in the pull request what the
// merge did). It subscribes to the Applications of its own namespace, chosen
// by name, Project and labels; one in the controller's own namespace
// subscribes to every namespace's.
//
// Delivery runs in the background with retries: a receiver that hangs or
// fails never slows reconciliation.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ntf,categories=lockstep
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Sent",type=date,JSONPath=`.status.lastDelivery.time`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Notification struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NotificationSpec   `json:"spec"`
	Status NotificationStatus `json:"status,omitempty"`
}

// NotificationList is a list of Notifications.
//
// +kubebuilder:object:root=true
type NotificationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Notification `json:"items"`
}

// NotificationSpec is a receiver and a subscription.
type NotificationSpec struct {
	// Type is the receiver: webhook (JSON), webhook-hmac (JSON signed with
	// HMAC-SHA256), slack (Slack-compatible: Mattermost, Rocket.Chat), matrix,
	// teams (Microsoft Teams-compatible incoming webhook), smtp (mail),
	// alertmanager, or a commit status on gitea (and Forgejo), gitlab or
	// github (and GitHub Enterprise Server).
	// +kubebuilder:validation:Enum=webhook;webhook-hmac;slack;matrix;teams;smtp;alertmanager;gitea;forgejo;gitlab;github
	Type string `json:"type"`
	// Address is the receiver's URL: the webhook's URL, the Matrix
	// homeserver, smtp://host:587 (STARTTLS) or smtps://host:465, the
	// Alertmanager, or the Git server's API for commit statuses
	// (https://git.example; required, so that the token goes to that server
	// only, whatever an Application's repository URL says). An address that
	// carries a token
	// (Slack, Teams and Mattermost webhook URLs do) belongs in the Secret's
	// "address" entry instead: spec fields are readable by everyone who may
	// read the Notification.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Address string `json:"address,omitempty"`
	// SecretRef names a Secret in the Notification's namespace holding what
	// must stay secret: "address" (overrides spec.address), "token" (Matrix
	// access token, Git server API token), "username" and "password" (SMTP),
	// "hmacKey" (webhook-hmac). The Secret must be labelled
	// lockstep.dev/secret-use=notification: a Notification sends what it
	// holds, so it may name only Secrets marked for that.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// CASecretRef names a Secret whose ca.crt holds the CA bundle that signed
	// the receiver's certificate, for receivers behind an internal CA.
	// +optional
	CASecretRef *LocalObjectReference `json:"caSecretRef,omitempty"`
	// Room is the Matrix room ID (!abc:example.org).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Room string `json:"room,omitempty"`
	// From and To are the mail's sender and recipients (smtp).
	// +optional
	// +kubebuilder:validation:MaxLength=320
	From string `json:"from,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=50
	To []string `json:"to,omitempty"`

	// Triggers are what is sent: SyncSucceeded, SyncFailed, Deployed (a
	// commit applied and healthy, once per commit), HealthDegraded,
	// DriftDetected, DriftReverted, PolicyDenied, VerificationFailed,
	// ApprovalMissing, Recovered (Ready again after a failure, at the same
	// commit). Empty: every failure (SyncFailed, HealthDegraded,
	// DriftDetected, PolicyDenied, VerificationFailed, ApprovalMissing) and
	// Recovered; for commit statuses, every trigger.
	// +optional
	Triggers []NotificationTrigger `json:"triggers,omitempty"`
	// Applications are the names (globs: web-*) of the Applications
	// subscribed to; empty is all of them.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Applications []string `json:"applications,omitempty"`
	// Projects limits the subscription to the Applications of these
	// Projects; empty is any Project.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Projects []string `json:"projects,omitempty"`
	// Selector limits it to the Applications whose labels match.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Suspend stops sending without deleting the Notification.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// NotificationTrigger is what a notification is sent for.
// +kubebuilder:validation:Enum=SyncSucceeded;SyncFailed;Deployed;HealthDegraded;DriftDetected;DriftReverted;PolicyDenied;VerificationFailed;ApprovalMissing;Recovered
type NotificationTrigger string

// NotificationStatus says whether the Notification can send and what it
// sent last.
type NotificationStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (the configuration is valid and its Secrets are
	// there).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastDelivery is the last message delivered, LastFailure the last one
	// given up on (with why, never a secret).
	// +optional
	LastDelivery *NotificationDelivery `json:"lastDelivery,omitempty"`
	// +optional
	LastFailure *NotificationDelivery `json:"lastFailure,omitempty"`
}

// NotificationDelivery is one message's fate.
type NotificationDelivery struct {
	Time        metav1.Time `json:"time"`
	Trigger     string      `json:"trigger"`
	Application string      `json:"application"`
	Revision    string      `json:"revision,omitempty"`
	// Message says why a delivery failed.
	// +optional
	Message string `json:"message,omitempty"`
}
