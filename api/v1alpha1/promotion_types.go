package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Promotion makes an Application the next environment after another: a
// promotion copies what the other runs (its last applied revision) into this
// one's folder, as a commit on the branch this one follows. Nothing in the
// cluster changes except by that commit.
type Promotion struct {
	// From is the Application (same namespace) this one is promoted from.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	From string `json:"from"`
	// Copy says what a promotion copies.
	Copy PromotionCopy `json:"copy"`
	// Gates must all pass before a promotion is written.
	// +optional
	Gates PromotionGates `json:"gates,omitempty"`
}

// PromotionCopy is what a promotion copies from the source's folder, at the
// revision it runs, into this Application's folder. At least one is set.
type PromotionCopy struct {
	// KustomizeImages copies the images entries (newName, newTag, digest)
	// of the source's kustomization.yaml into this one's, by name.
	// +optional
	KustomizeImages bool `json:"kustomizeImages,omitempty"`
	// Values copies single values between YAML files: a Helm values path
	// (values.yaml, image.tag), a chart version (Chart.yaml, version, or
	// dependencies[0].version).
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Values []PromotedValue `json:"values,omitempty"`
}

// PromotedValue is one value a promotion copies.
type PromotedValue struct {
	// File, relative to each Application's path.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	File string `json:"file"`
	// Path of the value in it: keys joined by dots, [N] for a list's item
	// (image.tag, dependencies[0].version).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path"`
	// TargetFile and TargetPath, when set, name where the value goes in this
	// Application's folder, when it differs from where it comes from.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	TargetFile string `json:"targetFile,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	TargetPath string `json:"targetPath,omitempty"`
}

// PromotionGates must all pass before a promotion is written.
type PromotionGates struct {
	// Soak is how long the source must have been Synced and Healthy at the
	// revision it runs.
	// +optional
	Soak *metav1.Duration `json:"soak,omitempty"`
	// Approvals is how many people other than the author must approve the
	// promotion: it then always goes to a branch for review, and this
	// Application's Project must enforce at least as many (spec.approvals),
	// which the two-person rule counts on the merge.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	Approvals int32 `json:"approvals,omitempty"`
	// Window is when promotions may be written.
	// +optional
	Window *TimeWindow `json:"window,omitempty"`
}

// TimeWindow is a weekly window: on Days, from Start to End (24-hour
// "15:04" in TimeZone; End before Start spans midnight).
type TimeWindow struct {
	// Days of the week, as Mon, Tue, ... Sun; every day when empty.
	// +kubebuilder:validation:MaxItems=7
	// +optional
	Days []string `json:"days,omitempty"`
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	End string `json:"end"`
	// TimeZone is an IANA name (Europe/Berlin); UTC when empty.
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}
