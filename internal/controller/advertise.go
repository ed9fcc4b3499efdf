package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// advertiseFieldManager owns the API Service's EndpointSlice.
const advertiseFieldManager = "lockstep-controller"

// advertiseAPI points the API's Service (which has no selector) at this
// replica, the leader: only the leader serves the API, so a Service that
// selected every replica would send every other request to one that
// refuses it. The slice is applied until it holds, and withdrawn when the
// replica stops (it exits when it loses the lease); the next leader applies
// its own address.
func advertiseAPI(ctx context.Context, cs kubernetes.Interface, namespace, service, podIP, podName, apiAddress string, log logr.Logger) error {
	_, portText, err := net.SplitHostPort(apiAddress)
	if err != nil {
		return fmt.Errorf("--api-address %q: %w", apiAddress, err)
	}
	port, err := strconv.ParseInt(portText, 10, 32)
	if err != nil {
		return fmt.Errorf("--api-address %q: the port is not a number", apiAddress)
	}
	ip := net.ParseIP(podIP)
	if ip == nil {
		return fmt.Errorf("--pod-ip %q is not an IP address (the Deployment sets POD_IP from status.podIP)", podIP)
	}
	family := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name: service, Namespace: namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: service,
				discoveryv1.LabelManagedBy:   "lockstep-controller",
			},
		},
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  targetRef(namespace, podName),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	data, err := json.Marshal(slice)
	if err != nil {
		return err
	}
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Cap: 30 * time.Second, Steps: 1 << 30}
	err = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		_, err := cs.DiscoveryV1().EndpointSlices(namespace).Patch(ctx, service, types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: advertiseFieldManager, Force: ptr.To(true)})
		if err != nil {
			log.Error(err, "pointing the API's Service at this replica; retrying", "service", service)
			return false, nil
		}
		log.Info("the API's Service points at this replica", "service", service, "address", net.JoinHostPort(ip.String(), portText))
		return true, nil
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	withdrawAPI(cs, namespace, service, ip.String(), log)
	return nil
}

// withdrawAPI takes this replica's address out of the Service as it stops:
// clients are refused at once, instead of waiting on an address that may
// soon be another Pod's, until the next leader points the Service at
// itself. A slice the next leader already rewrote is left alone.
func withdrawAPI(cs kubernetes.Interface, namespace, service, ip string, log logr.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slices := cs.DiscoveryV1().EndpointSlices(namespace)
	slice, err := slices.Get(ctx, service, metav1.GetOptions{})
	if err != nil || len(slice.Endpoints) != 1 || len(slice.Endpoints[0].Addresses) != 1 || slice.Endpoints[0].Addresses[0] != ip {
		return
	}
	err = slices.Delete(ctx, service, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &slice.ResourceVersion}})
	if err != nil {
		log.Error(err, "taking this replica out of the API's Service", "service", service)
	}
}

func targetRef(namespace, pod string) *corev1.ObjectReference {
	if pod == "" {
		return nil
	}
	return &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: pod}
}
