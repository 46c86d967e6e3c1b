package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"sigs.k8s.io/yaml"

	"github.com/skiffk8s/skiff/apiserver/storage"
)

// Media types the server speaks.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// codecs encodes responses and decodes request bodies. Encoding never
// mutates the object: objects may be shared with the watch cache.
type codecs struct {
	scheme      *runtime.Scheme
	proto       *protobuf.Serializer
	rawProto    *protobuf.RawSerializer
	jsonStrict  *kjson.Serializer
	yamlStrict  *kjson.Serializer
	protoDecode *protobuf.Serializer
}

func newCodecs(scheme *runtime.Scheme) *codecs {
	return &codecs{
		scheme:      scheme,
		proto:       protobuf.NewSerializer(scheme, scheme),
		rawProto:    protobuf.NewRawSerializer(scheme, scheme),
		jsonStrict:  kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true}),
		yamlStrict:  kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true}),
		protoDecode: protobuf.NewSerializer(scheme, scheme),
	}
}

// output is the negotiated form of a response.
type output struct {
	mediaType string
	// as is "", "Table", "PartialObjectMetadata" or
	// "PartialObjectMetadataList" (from the Accept parameters).
	as            string
	pretty        bool
	includeObject metav1.IncludeObjectPolicy
}

// negotiate picks the first acceptable media type in the Accept header.
func negotiate(accept string, pretty bool) (output, bool) {
	if strings.TrimSpace(accept) == "" {
		return output{mediaType: mediaJSON, pretty: pretty}, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		out := output{pretty: pretty}
		switch mt {
		case mediaJSON, "application/*", "*/*", "application/json-patch+json":
			out.mediaType = mediaJSON
		case mediaYAML:
			out.mediaType = mediaYAML
		case mediaProtobuf:
			out.mediaType = mediaProtobuf
		default:
			continue
		}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
				out.as = as
			default:
				continue
			}
		}
		return out, true
	}
	return output{}, false
}

// encode writes obj as gvk in the negotiated media type.
func (c *codecs) encode(obj runtime.Object, gvk schema.GroupVersionKind, mediaType string, pretty bool) ([]byte, error) {
	switch mediaType {
	case mediaProtobuf:
		return c.encodeProto(obj, gvk)
	case mediaYAML:
		b, err := encodeJSON(obj, gvk)
		if err != nil {
			return nil, err
		}
		return yaml.JSONToYAML(b)
	default:
		b, err := encodeJSON(obj, gvk)
		if err != nil {
			return nil, err
		}
		if pretty {
			var buf bytes.Buffer
			if err := json.Indent(&buf, b, "", "  "); err == nil {
				buf.WriteByte('\n')
				return buf.Bytes(), nil
			}
		}
		return append(b, '\n'), nil
	}
}

// encodeJSON marshals obj with kind and apiVersion first, without touching
// the object's own TypeMeta.
func encodeJSON(obj runtime.Object, gvk schema.GroupVersionKind) ([]byte, error) {
	if u, ok := obj.(*runtime.Unknown); ok {
		return u.Raw, nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", gvk.Kind, err)
	}
	if !obj.GetObjectKind().GroupVersionKind().Empty() || gvk.Empty() {
		return b, nil
	}
	return withTypeMeta(b, gvk), nil
}

// withTypeMeta puts kind and apiVersion first into b, the JSON of an object
// whose TypeMeta is empty.
func withTypeMeta(b []byte, gvk schema.GroupVersionKind) []byte {
	head := fmt.Sprintf(`{"kind":%q,"apiVersion":%q`, gvk.Kind, gvk.GroupVersion().String())
	if len(b) <= 2 {
		return []byte(head + "}")
	}
	out := make([]byte, 0, len(head)+len(b)+1)
	out = append(out, head...)
	out = append(out, ',')
	return append(out, b[1:]...)
}

// memoJSON is obj's JSON without kind and apiVersion (a list item), from
// and into its memo.
func memoJSON(enc *storage.Encodings, obj runtime.Object) ([]byte, error) {
	return enc.Get("json", func() ([]byte, error) { return json.Marshal(obj) })
}

// memoProto is obj's bare protobuf (a list item), from and into its memo.
func memoProto(enc *storage.Encodings, obj runtime.Object) ([]byte, error) {
	return enc.Get("proto", func() ([]byte, error) {
		pm, ok := obj.(protoMarshaler)
		if !ok {
			return nil, fmt.Errorf("%T cannot be encoded as protobuf", obj)
		}
		return pm.Marshal()
	})
}

// encodeMemoized encodes a cached object (empty TypeMeta) as gvk through
// its memo: the object itself is encoded once for every list and watcher.
func (c *codecs) encodeMemoized(obj runtime.Object, enc *storage.Encodings, gvk schema.GroupVersionKind, mediaType string) ([]byte, error) {
	switch mediaType {
	case mediaJSON:
		b, err := memoJSON(enc, obj)
		if err != nil {
			return nil, err
		}
		return withTypeMeta(b, gvk), nil
	case mediaProtobuf:
		raw, err := memoProto(enc, obj)
		if err != nil {
			return nil, err
		}
		return c.wrapProto(raw, gvk)
	}
	return c.encode(obj, gvk, mediaType, false)
}

type protoMarshaler interface {
	Marshal() ([]byte, error)
}

func (c *codecs) encodeProto(obj runtime.Object, gvk schema.GroupVersionKind) ([]byte, error) {
	pm, ok := obj.(protoMarshaler)
	if !ok {
		return nil, fmt.Errorf("%s cannot be encoded as protobuf", gvk.Kind)
	}
	raw, err := pm.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", gvk.Kind, err)
	}
	if gvk.Empty() {
		gvk = obj.GetObjectKind().GroupVersionKind()
	}
	return c.wrapProto(raw, gvk)
}

// wrapProto puts an object's bare protobuf into upstream's envelope.
func (c *codecs) wrapProto(raw []byte, gvk schema.GroupVersionKind) ([]byte, error) {
	unk := &runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, Raw: raw}
	var buf bytes.Buffer
	if err := c.proto.Encode(unk, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeBody decodes a request body of contentType into into. strictErr is a
// strict-decoding problem (unknown or duplicate fields) that did not stop
// decoding; err means the body could not be decoded at all (gvk is then the
// body's kind if it could be read, else nil).
func (c *codecs) decodeBody(body []byte, contentType string, into runtime.Object) (gvk *schema.GroupVersionKind, strictErr, err error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	var obj runtime.Object
	switch mt {
	case mediaProtobuf:
		obj, gvk, err = c.protoDecode.Decode(body, nil, into)
	case mediaYAML, "application/x-yaml", "text/yaml":
		obj, gvk, err = c.yamlStrict.Decode(body, nil, into)
	case mediaJSON, "":
		obj, gvk, err = c.jsonStrict.Decode(body, nil, into)
	default:
		return nil, nil, fmt.Errorf("unsupported media type %q", contentType)
	}
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		return gvk, err, nil
	}
	if err != nil {
		return gvk, nil, err // gvk, when known, words the error
	}
	if obj != into {
		return gvk, nil, fmt.Errorf("decoded %T, expected %T", obj, into)
	}
	return gvk, nil, nil
}
