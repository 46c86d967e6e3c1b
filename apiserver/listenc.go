package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/apiserver/storage"
)

// encodeListFast writes a list served by the watch cache from the items'
// memoized encodings: the list envelope is written here and each item's
// bytes are computed once per object version. The output is byte for byte
// what encoding the typed list would give.
func (s *server) encodeListFast(res *resource, result *storage.ListResult, lm metav1.ListMeta, mediaType string) ([]byte, error) {
	kind := res.Kind + "List"
	apiVersion := res.GVK().GroupVersion().String()
	switch mediaType {
	case mediaJSON:
		meta, err := json.Marshal(lm)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		buf.Grow(len(result.Items) * 512)
		fmt.Fprintf(&buf, `{"kind":%q,"apiVersion":%q,"metadata":`, kind, apiVersion)
		buf.Write(meta)
		buf.WriteString(`,"items":[`)
		for i, it := range result.Items {
			b, err := result.Encodings[i].Get("json", func() ([]byte, error) { return json.Marshal(it) })
			if err != nil {
				return nil, err
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(b)
		}
		buf.WriteString("]}\n")
		return buf.Bytes(), nil
	case mediaProtobuf:
		meta, err := lm.Marshal()
		if err != nil {
			return nil, err
		}
		raw := make([]byte, 0, len(result.Items)*512+len(meta)+8)
		// Every Kubernetes list message is {ListMeta metadata = 1; repeated
		// T items = 2}.
		raw = append(raw, 0x0a)
		raw = binary.AppendUvarint(raw, uint64(len(meta)))
		raw = append(raw, meta...)
		for i, it := range result.Items {
			b, err := result.Encodings[i].Get("proto", func() ([]byte, error) {
				pm, ok := it.(protoMarshaler)
				if !ok {
					return nil, fmt.Errorf("%T cannot be encoded as protobuf", it)
				}
				return pm.Marshal()
			})
			if err != nil {
				return nil, err
			}
			raw = append(raw, 0x12)
			raw = binary.AppendUvarint(raw, uint64(len(b)))
			raw = append(raw, b...)
		}
		unk := &runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}, Raw: raw}
		var buf bytes.Buffer
		if err := s.codecs.proto.Encode(unk, &buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("no fast list encoding for %s", mediaType)
}
