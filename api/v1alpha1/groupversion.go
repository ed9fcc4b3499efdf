// Package v1alpha1 holds the lockstep.dev/v1alpha1 API: Application (a path in a Git
// repository kept in sync with a namespace of a cluster) and Project (the
// guardrails of the Applications that name it).
//
// +kubebuilder:object:generate=true
// +groupName=lockstep.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of every type in this package.
var GroupVersion = schema.GroupVersion{Group: "lockstep.dev", Version: "v1alpha1"}

var (
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers the types of this package with a scheme.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Application{}, &ApplicationList{}, &Project{}, &ProjectList{}, &Receiver{}, &ReceiverList{}, &Notification{}, &NotificationList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
