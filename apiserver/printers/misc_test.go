package printers_test

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestEventColumns(t *testing.T) {
	involved := corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{web}"}
	tests := []struct {
		name  string
		gr    schema.GroupResource
		obj   runtime.Object
		cells map[string]interface{}
	}{
		{"an old-style event shows last and first seen, count and source",
			gr("", "events"),
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web-1.abc"}, InvolvedObject: involved, Type: "Warning", Reason: "BackOff",
				Message: " Back-off restarting failed container\n", Source: corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: ago(time.Hour), LastTimestamp: ago(time.Minute), Count: 12},
			map[string]interface{}{"Last Seen": "60s", "Type": "Warning", "Reason": "BackOff", "Object": "pod/web-1",
				"Subobject": "spec.containers{web}", "Source": "kubelet, node-1", "Message": "Back-off restarting failed container",
				"First Seen": "60m", "Count": int64(12), "Name": "web-1.abc"}},
		{"a new-style core event uses eventTime, counts as one and names the reporting controller",
			gr("", "events"),
			&corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Node"}, Type: "Normal", Reason: "Starting",
				EventTime: metav1.NewMicroTime(now.Add(-3 * time.Minute)), ReportingController: "skiff-kubelet"},
			map[string]interface{}{"Last Seen": "3m", "First Seen": "3m", "Object": "node", "Count": int64(1), "Source": "skiff-kubelet"}},
		{"an events.k8s.io event with a series shows the series' last time and count",
			gr("events.k8s.io", "events"),
			&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1"}, Regarding: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
				Type: "Normal", Reason: "ScalingReplicaSet", Note: "Scaled up replica set web-5d to 3",
				EventTime:           metav1.NewMicroTime(now.Add(-2 * time.Hour)),
				Series:              &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(now.Add(-5 * time.Second))},
				ReportingController: "deployment-controller", ReportingInstance: "cp-1"},
			map[string]interface{}{"Last Seen": "5s", "First Seen": "120m", "Object": "deployment/web", "Message": "Scaled up replica set web-5d to 3",
				"Count": int64(4), "Source": "deployment-controller, cp-1", "Name": "web.1"}},
		{"an event with neither timestamp is <unknown>",
			gr("", "events"),
			&corev1.Event{InvolvedObject: involved},
			map[string]interface{}{"Last Seen": "<unknown>", "First Seen": "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, tt.gr, tt.obj)
			for col, want := range tt.cells {
				if got[col] != want {
					t.Errorf("%s = %#v, want %#v", col, got[col], want)
				}
			}
		})
	}
}

func TestClusterAndConfigColumns(t *testing.T) {
	holder := "cp-1_4f2a"
	never := corev1.PreemptNever
	expiry := int32(3600)
	meta := metav1.ObjectMeta{Name: "x", CreationTimestamp: ago(25 * time.Hour)}
	tests := []struct {
		name  string
		gr    schema.GroupResource
		obj   runtime.Object
		cells map[string]interface{}
	}{
		{"a namespace shows its phase",
			gr("", "namespaces"), &corev1.Namespace{ObjectMeta: meta, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			map[string]interface{}{"Name": "x", "Status": "Terminating", "Age": "25h"}},
		{"a configmap counts data and binary data keys",
			gr("", "configmaps"), &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
			map[string]interface{}{"Data": int64(3)}},
		{"a secret shows its type and counts data and string data keys once",
			gr("", "secrets"), &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}, StringData: map[string]string{"tls.key": "k", "ca.crt": "c"}},
			map[string]interface{}{"Type": "kubernetes.io/tls", "Data": int64(3)}},
		{"a service account shows name and age",
			gr("", "serviceaccounts"), &corev1.ServiceAccount{ObjectMeta: meta},
			map[string]interface{}{"Name": "x", "Age": "25h"}},
		{"a lease shows its holder",
			gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{ObjectMeta: meta, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}},
			map[string]interface{}{"Holder": "cp-1_4f2a"}},
		{"a lease without holder shows an empty holder",
			gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{ObjectMeta: meta},
			map[string]interface{}{"Holder": ""}},
		{"a priority class shows value, global default and preemption policy",
			gr("scheduling.k8s.io", "priorityclasses"), &schedulingv1.PriorityClass{ObjectMeta: meta, Value: 2000001000, GlobalDefault: true, PreemptionPolicy: &never},
			map[string]interface{}{"Value": int64(2000001000), "Global-Default": true, "PreemptionPolicy": "Never"}},
		{"a role binding names its role kind and subjects by kind",
			gr("rbac.authorization.k8s.io", "rolebindings"), &rbacv1.RoleBinding{ObjectMeta: meta,
				RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"},
				Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "User", Name: "bob"}, {Kind: "Group", Name: "devs"},
					{Kind: "ServiceAccount", Namespace: "ci", Name: "deployer"}}},
			map[string]interface{}{"Role": "ClusterRole/edit", "Users": "alice, bob", "Groups": "devs", "ServiceAccounts": "ci/deployer"}},
		{"a cluster role binding without subjects has empty subject columns",
			gr("rbac.authorization.k8s.io", "clusterrolebindings"), &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}},
			map[string]interface{}{"Role": "ClusterRole/view", "Users": "", "Groups": "", "ServiceAccounts": ""}},
		{"a pending csr shows signer, requestor and duration",
			gr("certificates.k8s.io", "certificatesigningrequests"), &certificatesv1.CertificateSigningRequest{ObjectMeta: meta,
				Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: "kubernetes.io/kube-apiserver-client-kubelet", Username: "system:bootstrap:abcdef", ExpirationSeconds: &expiry}},
			map[string]interface{}{"Age": "25h", "SignerName": "kubernetes.io/kube-apiserver-client-kubelet", "Requestor": "system:bootstrap:abcdef", "RequestedDuration": "60m", "Condition": "Pending"}},
		{"an approved and issued csr is Approved,Issued",
			gr("certificates.k8s.io", "certificatesigningrequests"), &certificatesv1.CertificateSigningRequest{ObjectMeta: meta,
				Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved}}, Certificate: []byte("pem")}},
			map[string]interface{}{"SignerName": "<none>", "RequestedDuration": "<none>", "Condition": "Approved,Issued"}},
		{"a denied csr that also failed is Denied,Failed",
			gr("certificates.k8s.io", "certificatesigningrequests"), &certificatesv1.CertificateSigningRequest{ObjectMeta: meta,
				Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved}, {Type: certificatesv1.CertificateDenied}, {Type: certificatesv1.CertificateFailed}}}},
			map[string]interface{}{"Condition": "Denied,Failed"}},
		{"a role has upstream's default columns with the creation time",
			gr("rbac.authorization.k8s.io", "roles"), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", CreationTimestamp: metav1.NewTime(time.Date(2026, 11, 1, 8, 30, 0, 0, time.FixedZone("CET", 3600)))}},
			map[string]interface{}{"Name": "reader", "Created At": "2026-11-01T07:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, tt.gr, tt.obj)
			for col, want := range tt.cells {
				if got[col] != want {
					t.Errorf("%s = %#v, want %#v", col, got[col], want)
				}
			}
		})
	}
}
