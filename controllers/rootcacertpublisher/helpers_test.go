package rootcacertpublisher

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// forbiddenTerminating is the API server's refusal of new content in a
// terminating namespace.
func forbiddenTerminating(ns string) error {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, ConfigMapName,
		fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: corev1.NamespaceTerminatingCause})
	return err
}
