package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
			b, err := memoJSON(result.Encodings[i], it)
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
			b, err := memoProto(result.Encodings[i], it)
			if err != nil {
				return nil, err
			}
			raw = append(raw, 0x12)
			raw = binary.AppendUvarint(raw, uint64(len(b)))
			raw = append(raw, b...)
		}
		return s.codecs.wrapProto(raw, res.GVK().GroupVersion().WithKind(kind))
	}
	return nil, fmt.Errorf("no fast list encoding for %s", mediaType)
}
