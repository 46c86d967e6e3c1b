package registry

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Small validation helpers shared by the kinds. Each returns the errors
// upstream reports for the same rule.

// invalidEach turns the messages of a syntax check into Invalid errors.
func invalidEach(path *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

func validateDNS1123Label(value string, path *field.Path) field.ErrorList {
	return invalidEach(path, value, utilvalidation.IsDNS1123Label(value))
}

func validateDNS1123Subdomain(value string, path *field.Path) field.ErrorList {
	return invalidEach(path, value, utilvalidation.IsDNS1123Subdomain(value))
}

// validateQualifiedName checks "name" or "prefix.example.com/name".
func validateQualifiedName(value string, path *field.Path) field.ErrorList {
	return invalidEach(path, value, content.IsLabelKey(value))
}

func validateLabelValue(value string, path *field.Path) field.ErrorList {
	return invalidEach(path, value, content.IsLabelValue(value))
}

// nonNegative reports "must be greater than or equal to 0".
func nonNegative(value int64, path *field.Path) field.ErrorList {
	return validation.ValidateNonnegativeField(value, path)
}

// positive reports "must be greater than 0".
func positive(value int64, path *field.Path) field.ErrorList {
	if value <= 0 {
		return field.ErrorList{field.Invalid(path, value, "must be greater than 0")}
	}
	return nil
}

// immutable reports "field is immutable" when value changed.
func immutable(value, old any, path *field.Path) field.ErrorList {
	return validation.ValidateImmutableField(value, old, path)
}

// supported checks an enumerated string field: Required when empty,
// NotSupported when not one of valid.
func supported[T ~string](value T, path *field.Path, valid ...T) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	for _, v := range valid {
		if value == v {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, value, valid)}
}

// oneOfOptional is supported for fields that may be left empty.
func oneOfOptional[T ~string](value T, path *field.Path, valid ...T) field.ErrorList {
	if value == "" {
		return nil
	}
	return supported(value, path, valid...)
}

func validateLabelSelector(s *metav1.LabelSelector, path *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, path)
}

// validatePortNumber checks 1-65535.
func validatePortNumber(port int32, path *field.Path) field.ErrorList {
	return invalidEach(path, port, utilvalidation.IsValidPortNum(int(port)))
}

// validatePortNumOrName checks a port given as a number (1-65535) or as an
// IANA_SVC_NAME.
func validatePortNumOrName(port intstr.IntOrString, path *field.Path) field.ErrorList {
	if port.Type == intstr.String {
		return invalidEach(path, port.StrVal, utilvalidation.IsValidPortName(port.StrVal))
	}
	return invalidEach(path, port.IntValue(), utilvalidation.IsValidPortNum(port.IntValue()))
}

// validateProtocol checks TCP, UDP or SCTP.
func validateProtocol(p corev1.Protocol, path *field.Path) field.ErrorList {
	return supported(p, path, corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP)
}

// validateEndpointIP checks a strict, canonical IP address that is not
// unspecified, loopback or link-local: addresses traffic can be sent to.
func validateEndpointIP(ip string, path *field.Path) field.ErrorList {
	if errs := utilvalidation.IsValidIP(path, ip); len(errs) > 0 {
		return errs
	}
	return validateNonSpecialIP(ip, path)
}

func validateNonSpecialIP(ip string, path *field.Path) field.ErrorList {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return field.ErrorList{field.Invalid(path, ip, "must be a valid IP address")}
	}
	switch {
	case addr.IsUnspecified():
		return field.ErrorList{field.Invalid(path, ip, fmt.Sprintf("may not be unspecified (%v)", ip))}
	case addr.IsLoopback():
		return field.ErrorList{field.Invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case addr.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(path, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case addr.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(path, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

// validateIntOrPercent checks a non-negative count or a percentage
// ("25%"), as used by rolling update parameters.
func validateIntOrPercent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		return invalidEach(path, v.StrVal, utilvalidation.IsValidPercent(v.StrVal))
	}
	return nonNegative(int64(v.IntValue()), path)
}

// notMoreThan100Percent rejects percentages above 100%.
func notMoreThan100Percent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if v != nil && v.Type == intstr.String && intOrPercentValue(v) > 100 {
		return field.ErrorList{field.Invalid(path, v.StrVal, "must not be greater than 100%")}
	}
	return nil
}

// intOrPercentValue returns the number in "25%" or 25; 0 for nil or garbage.
func intOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if v.Type == intstr.Int {
		return v.IntValue()
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0
	}
	return n
}

// validateInt32Range checks lo <= value <= hi.
func validateInt32Range(value int64, lo, hi int64, path *field.Path) field.ErrorList {
	if value < lo || value > hi {
		return field.ErrorList{field.Invalid(path, value, utilvalidation.InclusiveRangeError(int(lo), int(hi)))}
	}
	return nil
}

const maxInt32 = math.MaxInt32

// semanticEqual compares API values the way upstream does: quantities by
// value, nil and empty collections alike.
func semanticEqual(a, b any) bool {
	return apiequality.Semantic.DeepEqual(a, b)
}

// jsonName returns the JSON name of a struct field.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// setPointerFields returns the JSON names of the non-nil pointer fields of
// the struct *v: the members set in a one-of such as a VolumeSource.
func setPointerFields(v any) []string {
	rv := reflect.ValueOf(v).Elem()
	var names []string
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			names = append(names, jsonName(rv.Type().Field(i)))
		}
	}
	return names
}

// changedFields returns the JSON names of the top-level fields of the
// structs *a and *b (same type) whose values differ.
func changedFields(a, b any) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var names []string
	for i := 0; i < va.NumField(); i++ {
		if !semanticEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			names = append(names, jsonName(va.Type().Field(i)))
		}
	}
	return names
}

func ptrTo[T any](v T) *T { return &v }

// sortedKeys returns the keys of m in order, for deterministic errors.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
